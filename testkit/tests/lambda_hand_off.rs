//! A function that hands work on to a fresh invocation of itself, the way the guard will hand on
//! a long wait: `Invoke` on its own ARN with `InvocationType=Event` through `aws-sdk-lambda`,
//! its client built from the environment (`AWS_ENDPOINT_URL_LAMBDA`), run by
//! `FunctionProcess::start_with_lambda` with nothing else configured.
//!
//! The function is this test binary run again by `FunctionProcess` (no arguments, so every test
//! runs) with `GUARD_TESTKIT_HAND_OFF_FUNCTION` set: `hand_off_function` then serves invocations
//! and the other tests return at once. Without that variable `hand_off_function` returns at once.

use std::time::Duration;

use guard_testkit::function::FunctionProcess;
use guard_testkit::runtime::{DEFAULT_FUNCTION_ARN, Invocation};
use lambda_runtime::{Diagnostic, LambdaEvent};
use serde_json::{Value, json};

mod child_function;
mod self_invoking;
use child_function::is_child;
use self_invoking::{child_settings, invoke_self, serve_with_lambda, this_binary};

const CHILD_MARKER: &str = "GUARD_TESTKIT_HAND_OFF_FUNCTION";

/// The Lambda function, when this binary runs as the child.
#[test]
fn hand_off_function() {
    serve_with_lambda(CHILD_MARKER, hand_off);
}

/// `{"hand_off": next}` invokes this same function asynchronously with `next`; any other event
/// finishes with `{"finished": event}`.
async fn hand_off(
    lambda: &aws_sdk_lambda::Client,
    event: LambdaEvent<Value>,
) -> Result<Value, Diagnostic> {
    let Some(next) = event.payload.get("hand_off") else {
        return Ok(json!({ "finished": event.payload }));
    };
    let output = invoke_self(lambda, &event, next).await?;
    Ok(json!({ "handed_off": next, "status": output.status_code() }))
}

#[tokio::test]
async fn a_function_hands_work_on_to_itself_and_the_same_process_runs_it() {
    if is_child(CHILD_MARKER) {
        return;
    }
    let function = FunctionProcess::start_with_lambda(
        &this_binary(),
        DEFAULT_FUNCTION_ARN,
        &child_settings(CHILD_MARKER),
        Duration::from_secs(30),
    )
    .await;

    let first = function
        .invoke(br#"{"hand_off": {"hand_off": {"step": 3}}}"#)
        .await
        .expect_response();
    assert_eq!(
        first,
        json!({"handed_off": {"hand_off": {"step": 3}}, "status": 202})
    );

    let outcomes = function
        .lambda()
        .wait_for_outcomes(2, Duration::from_secs(30))
        .await
        .unwrap_or_else(|error| panic!("{error}\nlogs:\n{}", function.logs().join("\n")));
    assert_eq!(
        outcomes,
        vec![
            (
                json!({"hand_off": {"step": 3}}),
                Invocation::Response(json!({"handed_off": {"step": 3}, "status": 202})),
            ),
            (
                json!({"step": 3}),
                Invocation::Response(json!({"finished": {"step": 3}})),
            ),
        ]
    );
    assert_eq!(function.lambda().accepted(), 2);
    // The test's invocation and the two handed on, each followed by a poll for the next.
    tokio::time::timeout(Duration::from_secs(10), function.api.wait_for_polls(4))
        .await
        .expect("the function is idle again");
}
