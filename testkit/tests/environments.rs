//! Several execution environments of one function side by side
//! (`FunctionProcess::start_environments`), as Lambda runs them when events arrive together:
//! each process takes one event at a time from the one Runtime API, and hands work on through
//! the one `Invoke` stand-in.
//!
//! The function is this test binary run again with `GUARD_TESTKIT_ENVIRONMENT_FUNCTION` set
//! (see `child_function`): `environment_function` then serves invocations.

use std::collections::BTreeMap;
use std::io::Write;
use std::time::{Duration, Instant};

use guard_testkit::function::{Fleet, FunctionProcess};
use guard_testkit::runtime::{DEFAULT_FUNCTION_ARN, Invocation};
use lambda_runtime::{Diagnostic, LambdaEvent};
use serde_json::{Value, json};

mod child_function;
mod self_invoking;
use child_function::is_child;
use self_invoking::{child_settings, invoke_self, serve_with_lambda, this_binary};

const CHILD_MARKER: &str = "GUARD_TESTKIT_ENVIRONMENT_FUNCTION";

/// The Lambda function, when this binary runs as the child.
#[test]
fn environment_function() {
    serve_with_lambda(CHILD_MARKER, handle);
}

/// `{"sleep_ms": N}` sleeps N ms and answers with this process's id; `{"hand_off": next}`
/// invokes this function asynchronously with `next`. Each event is logged on stdout.
async fn handle(
    lambda: &aws_sdk_lambda::Client,
    event: LambdaEvent<Value>,
) -> Result<Value, Diagnostic> {
    // Straight to the stream: the test harness captures `println!` of the child's tests.
    let _ = writeln!(std::io::stdout(), "handling {}", event.payload);
    if let Some(next) = event.payload.get("hand_off") {
        invoke_self(lambda, &event, next).await?;
    }
    let sleep = event.payload["sleep_ms"].as_u64().unwrap_or(0);
    tokio::time::sleep(Duration::from_millis(sleep)).await;
    Ok(json!({ "pid": std::process::id() }))
}

fn sleeping(ms: u64, count: usize) -> Vec<Vec<u8>> {
    (0..count)
        .map(|_| json!({ "sleep_ms": ms }).to_string().into_bytes())
        .collect()
}

/// The process ids that answered, and how many invocations each answered.
fn answered_by(outcomes: Vec<Invocation>) -> BTreeMap<u64, usize> {
    let mut by_pid = BTreeMap::new();
    for outcome in outcomes {
        let pid = outcome.expect_response()["pid"].as_u64().expect("pid");
        *by_pid.entry(pid).or_default() += 1;
    }
    by_pid
}

/// `environments` processes of the child function side by side, each polling for events.
async fn ready_fleet(environments: usize) -> Fleet {
    let fleet = FunctionProcess::start_environments(
        &this_binary(),
        DEFAULT_FUNCTION_ARN,
        &child_settings(CHILD_MARKER),
        environments,
        Duration::from_secs(30),
    )
    .await;
    fleet.wait_until_ready(Duration::from_secs(30)).await;
    fleet
}

#[tokio::test]
async fn a_burst_is_shared_by_environments_side_by_side() {
    if is_child(CHILD_MARKER) {
        return;
    }
    let fleet = ready_fleet(3).await;
    assert_eq!(fleet.len(), 3);

    // Six events of 400 ms on three environments: two rounds, not six.
    let started = Instant::now();
    let outcomes = fleet.invoke_all(sleeping(400, 6)).await;
    let took = started.elapsed();
    assert!(
        took >= Duration::from_millis(800) && took < Duration::from_millis(2000),
        "6 x 400 ms on 3 environments took {took:?}"
    );
    let by_pid = answered_by(outcomes);
    assert_eq!(by_pid.len(), 3, "every environment took events: {by_pid:?}");
    assert!(by_pid.values().all(|&count| count == 2), "{by_pid:?}");

    for index in 0..fleet.len() {
        let handled = fleet
            .logs(index)
            .iter()
            .filter(|line| line.starts_with("handling"))
            .count();
        assert_eq!(handled, 2, "environment {index}: {:?}", fleet.logs(index));
    }
    let peaks = fleet.peak_rss_kib();
    assert_eq!(peaks.len(), 3);
    assert!(
        peaks.iter().all(|peak| peak.is_some_and(|kib| kib > 0)),
        "{peaks:?}"
    );

    // Work handed on by one environment runs in the fleet, through the one stand-in.
    let outcomes = fleet
        .invoke_all(vec![br#"{"hand_off": {"sleep_ms": 1}}"#.to_vec()])
        .await;
    assert!(
        matches!(outcomes[..], [Invocation::Response(_)]),
        "{outcomes:?}"
    );
    let handed_on = fleet
        .lambda()
        .wait_for_outcomes(1, Duration::from_secs(30))
        .await
        .unwrap_or_else(|error| panic!("{error}\nlogs:\n{}", fleet.all_logs().join("\n")));
    assert_eq!(handed_on[0].0, json!({"sleep_ms": 1}));
    assert!(matches!(handed_on[0].1, Invocation::Response(_)));
}

/// Reserved concurrency: fewer environments than events, and the rest wait their turn.
#[tokio::test]
async fn fewer_environments_than_events_take_them_in_turn() {
    if is_child(CHILD_MARKER) {
        return;
    }
    let fleet = ready_fleet(2).await;
    let started = Instant::now();
    let outcomes = fleet.invoke_all(sleeping(300, 5)).await;
    let took = started.elapsed();
    assert!(
        took >= Duration::from_millis(900),
        "5 x 300 ms on 2 environments need three rounds, took {took:?}"
    );
    let by_pid = answered_by(outcomes);
    assert_eq!(by_pid.len(), 2, "{by_pid:?}");
    assert_eq!(by_pid.values().sum::<usize>(), 5);
}
