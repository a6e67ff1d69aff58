//! The stand-in through the client the guard will use (`aws-sdk-lambda`), with a function
//! simulated by polling the `RuntimeApi` over HTTP the way a runtime does.

use super::*;
use crate::runtime::DEFAULT_FUNCTION_ARN;
use crate::test_client::{Connection, RuntimeClient};
use aws_sdk_lambda::error::ProvideErrorMetadata;
use aws_sdk_lambda::operation::RequestId;
use aws_sdk_lambda::operation::invoke::builders::InvokeFluentBuilder;
use aws_sdk_lambda::operation::invoke::{InvokeError, InvokeOutput};
use aws_sdk_lambda::primitives::Blob;
use aws_sdk_lambda::types::InvocationType;
use std::time::{SystemTime, UNIX_EPOCH};

const FUNCTION_TIMEOUT: Duration = Duration::from_secs(30);
const PATIENCE: Duration = Duration::from_secs(10);

/// A function that takes one event at a time from `api` and answers with the event and its
/// context, or reports an error when the event says `{"fail": message}`. Stops when dropped.
struct EchoFunction(tokio::task::JoinHandle<()>);

impl EchoFunction {
    async fn start(api: &RuntimeApi) -> EchoFunction {
        let mut runtime = RuntimeClient::open(api).await;
        EchoFunction(tokio::spawn(async move {
            loop {
                let next = runtime.next().await;
                let request_id = next.header("lambda-runtime-aws-request-id");
                let event: Value = serde_json::from_slice(&next.body).expect("JSON event");
                let status = match event.get("fail") {
                    Some(message) => {
                        let report = json!({"errorType": "EchoFailed", "errorMessage": message});
                        runtime
                            .report_error(request_id, report.to_string().as_bytes())
                            .await
                    }
                    None => {
                        let answer = json!({
                            "event": event,
                            "request_id": request_id,
                            "deadline_ms": next.header("lambda-runtime-deadline-ms").parse::<u64>().expect("ms"),
                        });
                        runtime
                            .respond(request_id, answer.to_string().as_bytes())
                            .await
                    }
                };
                assert_eq!(status, StatusCode::ACCEPTED);
            }
        }))
    }
}

impl Drop for EchoFunction {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// A client for the stand-in as the guard builds one (`AWS_ENDPOINT_URL_LAMBDA` has the same
/// effect as `endpoint_url`), without retries so refusals show at once.
fn client(lambda: &LambdaStandIn) -> aws_sdk_lambda::Client {
    let sdk = crate::sdk::local_sdk_config(&lambda.endpoint_url(), "eu-west-1");
    let config = aws_sdk_lambda::config::Builder::from(&sdk)
        .retry_config(aws_sdk_lambda::config::retry::RetryConfig::disabled())
        .build();
    aws_sdk_lambda::Client::from_conf(config)
}

/// An emulator, a stand-in that queues into it, and a client of the stand-in. No function polls
/// until a test starts one.
async fn stand_in() -> (RuntimeApi, LambdaStandIn, aws_sdk_lambda::Client) {
    let api = RuntimeApi::start().await.expect("emulator starts");
    let lambda = LambdaStandIn::start(&api, FUNCTION_TIMEOUT)
        .await
        .expect("stand-in starts");
    let client = client(&lambda);
    (api, lambda, client)
}

/// A plain HTTP connection to the stand-in, for requests in a form the SDK would not send.
async fn raw_connection(lambda: &LambdaStandIn) -> Connection {
    Connection::open(&lambda.endpoint_url()["http://".len()..]).await
}

/// An `Event` invoke of `function_name`, to send as it is or with more parameters.
fn event(client: &aws_sdk_lambda::Client, function_name: &str) -> InvokeFluentBuilder {
    client
        .invoke()
        .function_name(function_name)
        .invocation_type(InvocationType::Event)
}

/// The error the stand-in answers `request` with; `why` says why it must refuse it.
async fn refused(request: InvokeFluentBuilder, why: &str) -> InvokeError {
    request.send().await.expect_err(why).into_service_error()
}

async fn invoke_event(
    client: &aws_sdk_lambda::Client,
    function_name: &str,
    payload: Value,
) -> Result<InvokeOutput, InvokeError> {
    event(client, function_name)
        .payload(Blob::new(payload.to_string()))
        .send()
        .await
        .map_err(|error| error.into_service_error())
}

fn epoch_ms(time: SystemTime) -> u64 {
    let ms = time
        .duration_since(UNIX_EPOCH)
        .expect("after 1970")
        .as_millis();
    u64::try_from(ms).expect("fits")
}

#[tokio::test]
async fn an_event_invoke_is_answered_202_and_runs_as_a_fresh_invocation() {
    let (api, lambda, client) = stand_in().await;

    let output = invoke_event(&client, "eks-endpoint-guard", json!({"step": 2}))
        .await
        .expect("accepted");
    assert_eq!(output.status_code(), 202);
    assert!(
        output
            .payload()
            .is_none_or(|payload| payload.as_ref().is_empty())
    );
    assert_eq!(lambda.accepted(), 1);
    assert!(lambda.outcomes().is_empty(), "no function has polled yet");

    // The event waited in the queue; its deadline counts from when the function takes it.
    let taken = SystemTime::now();
    let _function = EchoFunction::start(&api).await;
    let outcomes = lambda
        .wait_for_outcomes(1, PATIENCE)
        .await
        .expect("the function runs the queued event");
    let finished = SystemTime::now();

    let (payload, outcome) = outcomes.into_iter().next().expect("one outcome");
    assert_eq!(payload, json!({"step": 2}));
    let answer = outcome.expect_response();
    assert_eq!(answer["event"], json!({"step": 2}));
    assert_eq!(
        answer["request_id"].as_str(),
        output.request_id(),
        "the invoke's request id is the invocation's"
    );
    let deadline_ms = answer["deadline_ms"].as_u64().expect("deadline");
    assert!(deadline_ms >= epoch_ms(taken + FUNCTION_TIMEOUT));
    assert!(deadline_ms <= epoch_ms(finished + FUNCTION_TIMEOUT));
}

#[tokio::test]
async fn names_arns_and_encoded_qualified_arns_all_reach_the_function() {
    let (api, lambda, client) = stand_in().await;
    let _function = EchoFunction::start(&api).await;

    let names = [
        "eks-endpoint-guard".to_owned(),
        DEFAULT_FUNCTION_ARN.to_owned(),
        format!("{DEFAULT_FUNCTION_ARN}:$LATEST"),
        "111122223333:function:eks-endpoint-guard".to_owned(),
        "eks-endpoint-guard:live".to_owned(),
    ];
    for (n, name) in names.iter().enumerate() {
        let output = invoke_event(&client, name, json!({ "n": n }))
            .await
            .unwrap_or_else(|e| panic!("{name}: {e:?}"));
        assert_eq!(output.status_code(), 202, "{name}");
    }
    let output = event(&client, "eks-endpoint-guard")
        .qualifier("$LATEST")
        .payload(Blob::new(json!({"n": 5}).to_string()))
        .send()
        .await
        .expect("a Qualifier parameter is accepted");
    assert_eq!(output.status_code(), 202);

    // Encoded by hand, to pin down the form on the wire whatever the SDK's encoder does.
    let mut http = raw_connection(&lambda).await;
    let path = "/2015-03-31/functions/arn%3Aaws%3Alambda%3Aeu-west-1%3A111122223333%3Afunction%3Aeks-endpoint-guard%3A%24LATEST/invocations";
    let request = Request::post(path).header("x-amz-invocation-type", "Event");
    let answer = http.send(request, br#"{"n": 6}"#).await;
    assert_eq!(answer.status, StatusCode::ACCEPTED);
    assert!(answer.body.is_empty());
    assert!(answer.headers.contains_key("x-amzn-requestid"));

    let outcomes = lambda
        .wait_for_outcomes(7, PATIENCE)
        .await
        .expect("every invoke runs");
    let payloads: Vec<Value> = outcomes
        .iter()
        .map(|(payload, _)| payload.clone())
        .collect();
    let expected: Vec<Value> = (0..7).map(|n| json!({ "n": n })).collect();
    assert_eq!(
        payloads, expected,
        "one function takes them in the order accepted"
    );
    for (payload, outcome) in outcomes {
        assert_eq!(outcome.expect_response()["event"], payload);
    }
    assert_eq!(lambda.accepted(), 7);
}

#[tokio::test]
async fn other_functions_are_not_found_and_nothing_is_queued() {
    let (_api, lambda, client) = stand_in().await;

    for (name, message) in [
        (
            "other-function",
            "Function not found: arn:aws:lambda:eu-west-1:111122223333:function:other-function",
        ),
        (
            "arn:aws:lambda:us-east-1:111122223333:function:eks-endpoint-guard",
            "Function not found: arn:aws:lambda:us-east-1:111122223333:function:eks-endpoint-guard",
        ),
        (
            "444455556666:function:eks-endpoint-guard:live",
            "Function not found: arn:aws:lambda:eu-west-1:444455556666:function:eks-endpoint-guard:live",
        ),
    ] {
        let error = invoke_event(&client, name, json!({}))
            .await
            .expect_err(name);
        assert!(
            matches!(error, InvokeError::ResourceNotFoundException(_)),
            "{name}: {error:?}"
        );
        assert_eq!(error.message(), Some(message));
    }
    let error = invoke_event(&client, "a:b:c:d:e", json!({}))
        .await
        .expect_err("not a name or an ARN");
    assert_eq!(error.code(), Some("ValidationException"));
    assert_eq!(lambda.accepted(), 0);
}

#[tokio::test]
async fn dry_runs_answer_204_and_other_requests_are_refused() {
    let (api, lambda, client) = stand_in().await;
    let invoke = || client.invoke().function_name("eks-endpoint-guard");

    let dry_run = invoke()
        .invocation_type(InvocationType::DryRun)
        .send()
        .await
        .expect("a dry run passes");
    assert_eq!(dry_run.status_code(), 204);

    let error = refused(
        invoke().payload(Blob::new("{}")),
        "RequestResponse (the default) is not supported",
    )
    .await;
    assert_eq!(error.code(), Some("InvocationTypeNotSupportedByStandIn"));

    let not_json = event(&client, "eks-endpoint-guard").payload(Blob::new("{not json"));
    let error = refused(not_json, "the payload must be JSON").await;
    assert!(
        matches!(error, InvokeError::InvalidRequestContentException(_)),
        "{error:?}"
    );

    let two_qualifiers = event(&client, "eks-endpoint-guard:live").qualifier("other");
    let error = refused(two_qualifiers, "two qualifiers that differ").await;
    assert!(
        matches!(error, InvokeError::InvalidParameterValueException(_)),
        "{error:?}"
    );
    assert_eq!(lambda.accepted(), 0);

    // Without a payload the event is `{}`.
    event(&client, "eks-endpoint-guard")
        .send()
        .await
        .expect("accepted");
    let _function = EchoFunction::start(&api).await;
    let outcomes = lambda.wait_for_outcomes(1, PATIENCE).await.expect("runs");
    assert_eq!(outcomes[0].0, json!({}));

    let mut http = raw_connection(&lambda).await;
    let answer = http.send(Request::get("/2015-03-31/functions"), b"").await;
    assert_eq!(answer.status, StatusCode::NOT_FOUND);
    assert_eq!(
        answer.headers["x-amzn-errortype"],
        "UnknownOperationException"
    );
}

#[tokio::test]
async fn a_function_error_is_recorded_as_the_outcome() {
    let (api, lambda, client) = stand_in().await;
    let _function = EchoFunction::start(&api).await;

    invoke_event(&client, "eks-endpoint-guard", json!({"fail": "boom"}))
        .await
        .expect("accepted: the caller of an async invoke never sees the function's error");
    let outcomes = lambda.wait_for_outcomes(1, PATIENCE).await.expect("runs");
    assert_eq!(
        outcomes,
        vec![(
            json!({"fail": "boom"}),
            Invocation::Error {
                error_type: "EchoFailed".to_owned(),
                error_message: "boom".to_owned(),
            }
        )]
    );
    // No retry: Lambda would run it twice more.
    assert_eq!(lambda.accepted(), 1);
}

#[tokio::test]
async fn waiting_in_vain_says_what_was_seen() {
    let (_api, lambda, client) = stand_in().await;
    invoke_event(&client, "eks-endpoint-guard", json!({"step": 2}))
        .await
        .expect("accepted");

    // No function polls, so the event stays queued.
    let error = lambda
        .wait_for_outcomes(1, Duration::from_millis(50))
        .await
        .expect_err("nothing can finish");
    assert_eq!((error.wanted, error.accepted), (1, 1));
    assert!(error.outcomes.is_empty());
    assert!(
        error
            .to_string()
            .contains("for 1 asynchronous invocation(s) to finish: 1 accepted, 0 finished"),
        "{error}"
    );
}

#[test]
fn function_names_parse_as_names_partial_and_full_arns() {
    let target = |partition: Option<&str>,
                  region: Option<&str>,
                  account: Option<&str>,
                  name: &str,
                  qualifier: Option<&str>| {
        Some(Target {
            function: FunctionId {
                partition: partition.map(str::to_owned),
                region: region.map(str::to_owned),
                account: account.map(str::to_owned),
                name: name.to_owned(),
            },
            qualifier: qualifier.map(str::to_owned),
        })
    };
    assert_eq!(Target::parse("f"), target(None, None, None, "f", None));
    assert_eq!(
        Target::parse("f:$LATEST"),
        target(None, None, None, "f", Some("$LATEST"))
    );
    assert_eq!(
        Target::parse("123:function:f:7"),
        target(None, None, Some("123"), "f", Some("7"))
    );
    assert_eq!(
        Target::parse("arn:aws-cn:lambda:cn-north-1:123:function:f:live"),
        target(
            Some("aws-cn"),
            Some("cn-north-1"),
            Some("123"),
            "f",
            Some("live")
        )
    );
    for bad in [
        "",
        "f:",
        "arn:aws:lambda:r:1:layer:f",
        "a:b:c:d",
        "arn:aws:lambda",
    ] {
        assert_eq!(Target::parse(bad), None, "{bad}");
    }
}
