//! The Runtime API emulator against the real poller: `lambda_runtime` 1.5 in a child process,
//! as the guard's `bootstrap` will run.
//!
//! The child is this test binary run again with only `echo_function` selected and
//! `GUARD_TESTKIT_ECHO_FUNCTION` set. Without that variable `echo_function` returns at once,
//! so in a normal run it is an empty test.

use std::process::Stdio;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use guard_testkit::runtime::{DEFAULT_FUNCTION_ARN, RuntimeApi};
use lambda_runtime::{Diagnostic, LambdaEvent, service_fn};
use serde_json::{Value, json};
use tokio::process::Command;

mod child_function;
use child_function::serve_as_child;

const CHILD_MARKER: &str = "GUARD_TESTKIT_ECHO_FUNCTION";

/// The Lambda function, when this binary runs as the child.
#[test]
fn echo_function() {
    serve_as_child(CHILD_MARKER, lambda_runtime::run(service_fn(echo)));
}

#[derive(Debug)]
struct EchoFailed(String);

impl From<EchoFailed> for Diagnostic {
    fn from(error: EchoFailed) -> Diagnostic {
        Diagnostic {
            error_type: "EchoFailed".to_owned(),
            error_message: error.0,
        }
    }
}

/// Echoes the event with its context; fails when the event says `{"fail": message}`.
async fn echo(event: LambdaEvent<Value>) -> Result<Value, EchoFailed> {
    if let Some(message) = event.payload.get("fail").and_then(Value::as_str) {
        return Err(EchoFailed(message.to_owned()));
    }
    Ok(json!({
        "event": event.payload,
        "request_id": event.context.request_id,
        "deadline_ms": event.context.deadline,
        "function_arn": event.context.invoked_function_arn,
    }))
}

#[tokio::test]
async fn lambda_runtime_polls_answers_and_reports_errors() {
    let api = RuntimeApi::start().await.expect("emulator starts");
    let spawned = Instant::now();
    let mut function = Command::new(std::env::current_exe().expect("path of this test binary"))
        .args([
            "echo_function",
            "--exact",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_MARKER, "1")
        .env("AWS_LAMBDA_RUNTIME_API", api.address())
        .env("AWS_LAMBDA_FUNCTION_NAME", "echo")
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
        .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        .stdout(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("spawn the echo function");

    let first_poll = tokio::select! {
        first_poll = api.wait_for_first_poll() => first_poll,
        exit = function.wait() => panic!("the echo function exited before polling: {exit:?}"),
        _ = tokio::time::sleep(Duration::from_secs(20)) => panic!("no poll within 20 s"),
    };
    assert!(first_poll >= spawned);
    assert_eq!(api.init_error().await, None);

    let deadline = UNIX_EPOCH + Duration::from_millis(4_000_000_000_000);
    for n in 0..5 {
        let answer = api
            .invoke(json!({ "n": n }).to_string().into_bytes(), deadline)
            .await
            .expect_response();
        assert_eq!(answer["event"], json!({ "n": n }));
        assert_eq!(answer["deadline_ms"], json!(4_000_000_000_000u64));
        assert_eq!(answer["function_arn"], DEFAULT_FUNCTION_ARN);
        assert_eq!(answer["request_id"].as_str().map(str::len), Some(36));
    }

    let in_a_minute = SystemTime::now() + Duration::from_secs(60);
    let (error_type, error_message) = api
        .invoke(br#"{"fail": "boom"}"#.to_vec(), in_a_minute)
        .await
        .expect_error();
    assert_eq!(
        (error_type.as_str(), error_message.as_str()),
        ("EchoFailed", "boom")
    );

    // A body that is not JSON never reaches the handler: lambda_runtime reports it itself.
    let (error_type, error_message) = api
        .invoke(b"{not json".to_vec(), in_a_minute)
        .await
        .expect_error();
    assert_eq!(
        error_type,
        "&lambda_runtime::deserializer::DeserializeError"
    );
    assert!(
        error_message.starts_with("failed to deserialize"),
        "{error_message}"
    );

    // Errors do not stop the loop.
    let answer = api
        .invoke(b"{}".to_vec(), in_a_minute)
        .await
        .expect_response();
    assert_eq!(answer["event"], json!({}));
    // After 8 invocations the function comes back for a 9th event.
    tokio::time::timeout(Duration::from_secs(10), api.wait_for_polls(9))
        .await
        .expect("the function polls again after answering");
    assert_eq!(api.polls(), 9);
}
