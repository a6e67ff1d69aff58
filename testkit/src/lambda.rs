//! A stand-in for the AWS Lambda `Invoke` API that feeds asynchronous invocations back into a
//! [`RuntimeApi`], so a function under test can hand work on to a fresh invocation of itself
//! (`Invoke` on its own ARN with `InvocationType=Event`) and the same process serves it, as a
//! warm execution environment would.
//!
//! # What Lambda does with an asynchronous invoke
//!
//! `POST /2015-03-31/functions/{FunctionName}/invocations` with `X-Amz-Invocation-Type: Event`
//! puts the payload on the function's internal queue and answers `202 Accepted` with an empty
//! body at once; the caller never sees the function's result. Lambda then runs the event as an
//! ordinary invocation, whose deadline is the function's timeout counted from when the event
//! starts running, not from when it was queued. A function error is retried twice, with a delay;
//! delivery is at least once, so an event can also run twice without any error. Events can wait
//! in the queue (throttling, reserved concurrency) for up to six hours by default. The
//! `ClientContext` is passed for synchronous invokes only.
//!
//! Recursive loop detection covers direct `Invoke` calls too, so it applies to a function that
//! hands on to itself: Lambda counts the hops of one chain in the `Lineage` field of the X-Ray
//! trace header (`lambda_runtime` puts the invocation's trace id in `_X_AMZN_TRACE_ID`, and the
//! SDK's recursion-detection interceptor forwards it as `X-Amzn-Trace-Id`) and stops the chain
//! after 16 invocations, sending an async event to the dead-letter queue or on-failure destination
//! if there is one, unless the function's recursion config (`PutFunctionRecursionConfig`) is
//! `Allow`. (The Lambda Developer Guide's pages on asynchronous invocation, retries and recursive
//! loop detection, and the `Invoke` API reference.)
//!
//! # What the stand-in imitates
//!
//! - The wire format `aws-sdk-lambda` uses (REST-JSON; checked against `aws-sdk-lambda` 1.156,
//!   `operation/invoke.rs`): `FunctionName` is a path label the SDK percent-encodes, so `:` of an
//!   ARN arrives as `%3A` and `$LATEST` as `%24LATEST`; an optional `?Qualifier=`; the invocation
//!   type in `X-Amz-Invocation-Type` (absent means `RequestResponse`); the payload is the raw
//!   body. Set `AWS_ENDPOINT_URL_LAMBDA` to [`LambdaStandIn::endpoint_url`] to reach it.
//! - `FunctionName` as a name (`my-function`), a partial ARN (`123456789012:function:my-function`)
//!   or a full ARN, each with an optional `:qualifier`. It must name the function the
//!   [`RuntimeApi`] serves (name, and region, account and partition where given), else
//!   `404 ResourceNotFoundException` ("Function not found: ARN").
//! - `Event`: the payload must be JSON (else `400 InvalidRequestContentException`); it is queued
//!   into the `RuntimeApi` before the `202` goes out, so whatever the caller does next queues
//!   behind it. Its deadline is the configured per-invocation timeout counted from when the
//!   function takes the event. The answer's `x-amzn-RequestId` is the request id the function
//!   sees for that invocation, as with Lambda.
//! - `DryRun`: `204`, nothing queued.
//! - Errors carry the code in `x-amzn-errortype` and `{"Type": "User", "message": ...}` in the
//!   body, the shape Lambda sends, so the SDK yields its modeled error variants.
//!
//! # What it does not imitate
//!
//! No retries of failed invocations (each accepted event runs exactly once; a test that wants
//! the retry replays the payload from [`LambdaStandIn::outcomes`]), no duplicate deliveries, no
//! throttling or queueing delay, no recursion detection (a chain of hand-offs never stops here;
//! each invocation gets a fresh trace id), no payload size limit, no permissions
//! (any signature is accepted), no destinations or dead-letter queue, and no versions or aliases:
//! any qualifier is accepted and the invocation still reports the `RuntimeApi`'s function ARN.
//! `RequestResponse` is refused with `400 InvocationTypeNotSupportedByStandIn`: nothing in the
//! guard invokes synchronously, and a caller waiting on its own invocation would deadlock a
//! function that polls one event at a time.
//!
//! Guesses (not seen in the field): an empty `Event` body runs as `{}` (what the AWS CLI sends
//! without `--payload`); the wording of the validation errors.
//!
//! # Use
//!
//! [`FunctionProcess::start_with_lambda`](crate::function::FunctionProcess::start_with_lambda)
//! starts one beside the function's `RuntimeApi` and points the function at it; or, with a
//! `RuntimeApi` of your own:
//!
//! ```no_run
//! # async fn example() -> std::io::Result<()> {
//! use guard_testkit::lambda::LambdaStandIn;
//! use guard_testkit::runtime::RuntimeApi;
//! use std::time::Duration;
//!
//! let api = RuntimeApi::start().await?;
//! let lambda = LambdaStandIn::start(&api, Duration::from_secs(30)).await?;
//! // spawn the function with AWS_LAMBDA_RUNTIME_API = api.address() and
//! // AWS_ENDPOINT_URL_LAMBDA = lambda.endpoint_url(), invoke it, then:
//! let handed_on = lambda.wait_for_outcomes(1, Duration::from_secs(60)).await;
//! # let _ = handed_on; Ok(()) }
//! ```

use std::fmt;
use std::io;
use std::sync::Arc;
use std::time::{Duration, Instant};

use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::header::HeaderValue;
use hyper::{Method, Request, Response, StatusCode};
use serde_json::{Value, json};
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::{JoinHandle, JoinSet};

use crate::ids;
use crate::runtime::{Invocation, Invoker, RuntimeApi};
use crate::server::{HttpResponse, LoopbackServer, percent_decode, query_pairs, read_body};

const INVOKE_PREFIX: &str = "/2015-03-31/functions/";
const INVOKE_SUFFIX: &str = "/invocations";

/// An asynchronous invocation the stand-in accepted, and how the function finished it.
pub type Outcome = (Value, Invocation);

/// A running stand-in. Dropping it closes the port and stops following invocations still
/// running (the `RuntimeApi` keeps them queued).
pub struct LambdaStandIn {
    progress: Arc<watch::Sender<Progress>>,
    server: LoopbackServer,
    follower: JoinHandle<()>,
}

/// What tests wait on; a `watch` channel, so a waiter never misses a change.
#[derive(Debug, Default)]
struct Progress {
    accepted: usize,
    outcomes: Vec<Outcome>,
}

/// What the request handler needs.
struct Front {
    invoker: Invoker,
    /// The function the `RuntimeApi` serves.
    function: FunctionId,
    timeout: Duration,
    progress: Arc<watch::Sender<Progress>>,
    /// Accepted events whose outcome the follower task awaits.
    to_follow: mpsc::UnboundedSender<(Value, oneshot::Receiver<Invocation>)>,
}

impl LambdaStandIn {
    /// Starts the stand-in on `127.0.0.1` and a free port. Each accepted `Event` invoke is queued
    /// into `api` with `deadline_per_invocation` (the function's timeout) counted from when the
    /// function takes it.
    pub async fn start(
        api: &RuntimeApi,
        deadline_per_invocation: Duration,
    ) -> io::Result<LambdaStandIn> {
        let invoker = api.invoker();
        let progress = Arc::new(watch::Sender::new(Progress::default()));
        let (to_follow, accepted) = mpsc::unbounded_channel();
        let front = Arc::new(Front {
            function: FunctionId::served(invoker.function_arn()),
            invoker,
            timeout: deadline_per_invocation,
            progress: Arc::clone(&progress),
            to_follow,
        });
        let server = LoopbackServer::start(move |request| {
            let front = Arc::clone(&front);
            async move { handle(&front, request).await }
        })
        .await?;
        let follower = tokio::spawn(follow(accepted, Arc::clone(&progress)));
        Ok(LambdaStandIn {
            progress,
            server,
            follower,
        })
    }

    /// `http://127.0.0.1:PORT`, the value for `AWS_ENDPOINT_URL_LAMBDA`.
    pub fn endpoint_url(&self) -> String {
        format!("http://{}", self.server.address())
    }

    /// How many `Event` invokes were accepted (answered `202`) so far.
    pub fn accepted(&self) -> usize {
        self.progress.borrow().accepted
    }

    /// The accepted payloads whose invocation has finished, with their outcome, in the order
    /// they finished (for a function that takes one event at a time, the order they were
    /// accepted).
    pub fn outcomes(&self) -> Vec<Outcome> {
        self.progress.borrow().outcomes.clone()
    }

    /// Waits until at least `count` accepted invocations have finished and returns all outcomes
    /// so far, or, after `timeout`, an error that says what had happened by then.
    pub async fn wait_for_outcomes(
        &self,
        count: usize,
        timeout: Duration,
    ) -> Result<Vec<Outcome>, WaitTimedOut> {
        let started = Instant::now();
        let mut progress = self.progress.subscribe();
        let finished = tokio::time::timeout(
            timeout,
            progress.wait_for(|progress| progress.outcomes.len() >= count),
        )
        .await;
        match finished {
            Ok(progress) => Ok(progress
                .expect("the progress sender lives as long as the stand-in")
                .outcomes
                .clone()),
            Err(_) => {
                let progress = self.progress.borrow();
                Err(WaitTimedOut {
                    wanted: count,
                    waited: started.elapsed(),
                    accepted: progress.accepted,
                    outcomes: progress.outcomes.clone(),
                })
            }
        }
    }
}

impl Drop for LambdaStandIn {
    fn drop(&mut self) {
        // Aborting the follower drops its JoinSet, which aborts every wait with it.
        self.follower.abort();
    }
}

/// [`LambdaStandIn::wait_for_outcomes`] gave up: fewer invocations had finished than wanted.
#[derive(Debug, Clone, PartialEq)]
pub struct WaitTimedOut {
    pub wanted: usize,
    pub waited: Duration,
    /// `Event` invokes accepted by then.
    pub accepted: usize,
    /// The invocations that had finished by then.
    pub outcomes: Vec<Outcome>,
}

impl fmt::Display for WaitTimedOut {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "waited {:?} for {} asynchronous invocation(s) to finish: {} accepted, {} finished",
            self.waited,
            self.wanted,
            self.accepted,
            self.outcomes.len()
        )?;
        for (payload, outcome) in &self.outcomes {
            write!(f, "\n  {payload} -> {outcome:?}")?;
        }
        Ok(())
    }
}

impl std::error::Error for WaitTimedOut {}

/// Awaits the outcome of every accepted event and records it once it arrives.
async fn follow(
    mut accepted: mpsc::UnboundedReceiver<(Value, oneshot::Receiver<Invocation>)>,
    progress: Arc<watch::Sender<Progress>>,
) {
    let mut running = JoinSet::new();
    // An outcome the emulator dropped (never answered) has nothing to record.
    let record = |finished: Result<(Value, Result<Invocation, _>), _>| {
        if let Ok((payload, Ok(outcome))) = finished {
            progress.send_modify(|progress| progress.outcomes.push((payload, outcome)));
        }
    };
    loop {
        tokio::select! {
            event = accepted.recv() => match event {
                Some((payload, outcome)) => {
                    running.spawn(async move { (payload, outcome.await) });
                }
                // The request handler is gone with the server; nothing more can
                // arrive. Wait for the rest here: a closed channel answers
                // `None` at once, so going round the loop would spin.
                None => {
                    while let Some(finished) = running.join_next().await {
                        record(finished);
                    }
                    return;
                }
            },
            Some(finished) = running.join_next(), if !running.is_empty() => record(finished),
        }
    }
}

/// A function as a name or an ARN (`arn:PARTITION:lambda:REGION:ACCOUNT:function:NAME`) names
/// it; `None` for a part it leaves out.
#[derive(Debug, PartialEq)]
struct FunctionId {
    partition: Option<String>,
    region: Option<String>,
    account: Option<String>,
    name: String,
}

impl FunctionId {
    /// The function the `RuntimeApi` serves, from its ARN.
    fn served(arn: &str) -> FunctionId {
        let parts: Vec<&str> = arn.split(':').collect();
        match function_arn(&parts) {
            Some(([partition, region, account], [name])) => FunctionId {
                partition: Some(partition.to_owned()),
                region: Some(region.to_owned()),
                account: Some(account.to_owned()),
                name: (*name).to_owned(),
            },
            // Not an ARN: a test's own label; match the name only.
            _ => FunctionId {
                partition: None,
                region: None,
                account: None,
                name: arn.to_owned(),
            },
        }
    }

    /// Whether `other` names this function; a part either of them leaves out matches.
    fn is(&self, other: &FunctionId) -> bool {
        let agrees = |mine: &Option<String>, theirs: &Option<String>| match (mine, theirs) {
            (Some(mine), Some(theirs)) => mine == theirs,
            _ => true,
        };
        self.name == other.name
            && agrees(&self.partition, &other.partition)
            && agrees(&self.region, &other.region)
            && agrees(&self.account, &other.account)
    }
}

/// What an `Invoke` names.
#[derive(Debug, PartialEq)]
struct Target {
    function: FunctionId,
    qualifier: Option<String>,
}

impl Target {
    /// A name, a partial ARN (`ACCOUNT:function:NAME`) or a full ARN, each optionally followed
    /// by `:QUALIFIER`; `None` for anything else.
    fn parse(function_name: &str) -> Option<Target> {
        let target = Target::from_parts;
        let parts: Vec<&str> = function_name.split(':').collect();
        if let Some(([partition, region, account], rest)) = function_arn(&parts) {
            let arn = [Some(partition), Some(region), Some(account)];
            return match rest {
                [name] => target(arn, name, None),
                [name, qualifier] => target(arn, name, Some(qualifier)),
                _ => None,
            };
        }
        match parts.as_slice() {
            [account, "function", name] => target([None, None, Some(account)], name, None),
            [account, "function", name, qualifier] => {
                target([None, None, Some(account)], name, Some(qualifier))
            }
            ["arn", ..] => None,
            [name] => target([None; 3], name, None),
            [name, qualifier] => target([None; 3], name, Some(qualifier)),
            _ => None,
        }
    }

    /// The target with these parts; `None` if the name, or a qualifier that is there, is empty.
    fn from_parts(
        [partition, region, account]: [Option<&str>; 3],
        name: &str,
        qualifier: Option<&str>,
    ) -> Option<Target> {
        let part = |text: &str| (!text.is_empty()).then(|| text.to_owned());
        let qualifier = match qualifier {
            Some(qualifier) => Some(part(qualifier)?),
            None => None,
        };
        let function = FunctionId {
            partition: partition.and_then(part),
            region: region.and_then(part),
            account: account.and_then(part),
            name: part(name)?,
        };
        Some(Target {
            function,
            qualifier,
        })
    }
}

/// The partition, region and account of a function ARN split at `:`, and the parts after
/// `function` (the name, maybe a qualifier); `None` if it does not start like a function ARN.
fn function_arn<'a, 'p>(parts: &'p [&'a str]) -> Option<([&'a str; 3], &'p [&'a str])> {
    match parts {
        [
            "arn",
            partition,
            "lambda",
            region,
            account,
            "function",
            rest @ ..,
        ] => Some(([partition, region, account], rest)),
        _ => None,
    }
}

async fn handle(front: &Front, request: Request<Incoming>) -> HttpResponse {
    let path = request.uri().path().to_owned();
    let function_name = path
        .strip_prefix(INVOKE_PREFIX)
        .and_then(|rest| rest.strip_suffix(INVOKE_SUFFIX))
        .filter(|label| !label.contains('/'));
    let (Some(function_name), &Method::POST) = (function_name, request.method()) else {
        return LambdaError::new(
            StatusCode::NOT_FOUND,
            "UnknownOperationException",
            format!(
                "The Lambda stand-in implements only Invoke (POST {INVOKE_PREFIX}{{FunctionName}}{INVOKE_SUFFIX}), not {} {path}",
                request.method()
            ),
        )
        .into_response();
    };
    let Some(function_name) = percent_decode(function_name) else {
        return LambdaError::validation(format!(
            "FunctionName {function_name} is not well encoded"
        ))
        .into_response();
    };
    let qualifier = query_pairs(request.uri().query())
        .into_iter()
        .find_map(|(key, value)| (key == "Qualifier").then_some(value));
    let invocation_type = request
        .headers()
        .get("x-amz-invocation-type")
        .map(|value| value.to_str().unwrap_or_default().to_owned());
    let body = read_body(request.into_body()).await;
    match invoke(
        front,
        &function_name,
        qualifier,
        invocation_type.as_deref(),
        body,
    ) {
        Ok(response) => response,
        Err(error) => error.into_response(),
    }
}

fn invoke(
    front: &Front,
    function_name: &str,
    qualifier: Option<String>,
    invocation_type: Option<&str>,
    body: Bytes,
) -> Result<HttpResponse, LambdaError> {
    let target = Target::parse(function_name).ok_or_else(|| {
        LambdaError::validation(format!(
            "1 validation error detected: Value '{function_name}' at 'functionName' failed to satisfy constraint: Member must be a function name or ARN"
        ))
    })?;
    if let (Some(derived), Some(specified)) = (&target.qualifier, &qualifier)
        && derived != specified
    {
        return Err(LambdaError::new(
            StatusCode::BAD_REQUEST,
            "InvalidParameterValueException",
            "The derived qualifier from the function name does not match the specified qualifier.",
        ));
    }
    if !front.function.is(&target.function) {
        let qualifier = target.qualifier.as_ref().or(qualifier.as_ref());
        let suffix = qualifier.map(|q| format!(":{q}")).unwrap_or_default();
        return Err(LambdaError::new(
            StatusCode::NOT_FOUND,
            "ResourceNotFoundException",
            format!(
                "Function not found: {}{suffix}",
                requested_arn(front, &target.function)
            ),
        ));
    }
    match invocation_type.unwrap_or("RequestResponse") {
        "Event" => {
            let payload = if body.is_empty() {
                Bytes::from_static(b"{}")
            } else {
                body
            };
            let value: Value = serde_json::from_slice(&payload).map_err(|error| {
                LambdaError::new(
                    StatusCode::BAD_REQUEST,
                    "InvalidRequestContentException",
                    format!("Could not parse request body into json: {error}"),
                )
            })?;
            let request_id = ids::uuid_like();
            let outcome = front
                .invoker
                .queue(request_id.clone(), payload.to_vec(), front.timeout);
            front
                .progress
                .send_modify(|progress| progress.accepted += 1);
            // The follower lives until the stand-in is dropped, and so does this handler.
            let _ = front.to_follow.send((value, outcome));
            Ok(empty_response(StatusCode::ACCEPTED, &request_id))
        }
        "DryRun" => Ok(empty_response(StatusCode::NO_CONTENT, &ids::uuid_like())),
        "RequestResponse" => Err(LambdaError::new(
            StatusCode::BAD_REQUEST,
            "InvocationTypeNotSupportedByStandIn",
            "The Lambda stand-in runs only Event and DryRun invokes, not RequestResponse",
        )),
        other => Err(LambdaError::validation(format!(
            "1 validation error detected: Value '{other}' at 'invocationType' failed to satisfy constraint: Member must satisfy enum value set: [Event, RequestResponse, DryRun]"
        ))),
    }
}

/// The ARN a not-found message names: the request's parts, the served function's elsewhere.
fn requested_arn(front: &Front, target: &FunctionId) -> String {
    let served = &front.function;
    let pick = |theirs: &Option<String>, mine: &Option<String>| {
        theirs
            .clone()
            .or_else(|| mine.clone())
            .unwrap_or_else(|| "?".to_owned())
    };
    if served.partition.is_none() && target.partition.is_none() {
        return target.name.clone();
    }
    format!(
        "arn:{}:lambda:{}:{}:function:{}",
        pick(&target.partition, &served.partition),
        pick(&target.region, &served.region),
        pick(&target.account, &served.account),
        target.name
    )
}

fn empty_response(status: StatusCode, request_id: &str) -> HttpResponse {
    let mut response = Response::new(Full::new(Bytes::new()));
    *response.status_mut() = status;
    insert_request_id(&mut response, request_id);
    response
}

fn insert_request_id(response: &mut HttpResponse, request_id: &str) {
    let request_id = HeaderValue::from_str(request_id).expect("a uuid is a valid header");
    response
        .headers_mut()
        .insert("x-amzn-requestid", request_id);
}

/// A Lambda error answer.
#[derive(Debug)]
struct LambdaError {
    status: StatusCode,
    code: &'static str,
    message: String,
}

impl LambdaError {
    fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> LambdaError {
        LambdaError {
            status,
            code,
            message: message.into(),
        }
    }

    fn validation(message: impl Into<String>) -> LambdaError {
        LambdaError::new(StatusCode::BAD_REQUEST, "ValidationException", message)
    }

    fn into_response(self) -> HttpResponse {
        let body = json!({ "Type": "User", "message": self.message });
        let mut response = crate::server::json_response(self.status, &body);
        insert_request_id(&mut response, &ids::uuid_like());
        response
            .headers_mut()
            .insert("x-amzn-errortype", HeaderValue::from_static(self.code));
        response
    }
}

#[cfg(test)]
mod tests;
