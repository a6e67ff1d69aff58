//! Closing the loop, through the compiled binary: every revert is followed to
//! its end, duplicates end with one update, refusals are paced, and what the
//! guard cannot reach is refused loudly. SNS/SQS from `moto_server`, EKS from
//! the double (updates that end `Failed`, 409 with no update listed, requests
//! answered from the region their signature names).

mod common;

use std::time::Duration;

use common::{
    GuardProcess, OPEN_PUBLIC, Stage, finding_of, open_event, private_cluster, quick_updates,
    sample, someone_opened,
};
use guard_testkit::eks::{
    ClusterSpec, EksDouble, EndpointChange, Finish, UpdateBehaviour, UpdateError, UpdateErrorCode,
};
use serde_json::Value;

/// Someone opened `prod-eu`'s endpoint and their update has finished: the
/// event the guard gets names their update.
fn opened(eks: &EksDouble) -> Vec<u8> {
    open_event(&someone_opened(eks, private_cluster("prod-eu")))
}

fn outcomes(alerts: &[Value]) -> Vec<String> {
    alerts
        .iter()
        .map(|a| {
            finding_of(a)["outcome"]
                .as_str()
                .unwrap_or_default()
                .to_string()
        })
        .collect()
}

/// EventBridge delivers at least once and Lambda runs environments side by
/// side: two guard processes get the same event at the same moment. The
/// token derived from the event makes EKS answer both with one update; both
/// invocations succeed and say which update reverted it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_guards_with_the_same_event_end_with_one_revert() {
    let stage = Stage::start("duplicates", quick_updates()).await;
    let eks = &stage.eks;
    let event = opened(eks);
    let settings = stage.settings();
    let (a, b) = tokio::join!(
        GuardProcess::start(&settings),
        GuardProcess::start(&settings)
    );

    let (first, second) = tokio::join!(a.invoke(&event), b.invoke(&event));
    let (first, second) = (first.expect_response(), second.expect_response());

    let updates = eks.updates("prod-eu");
    assert_eq!(
        updates.len(),
        2,
        "theirs and exactly one revert: {updates:?}"
    );
    let revert = &updates[1].id;
    for answer in [&first, &second] {
        assert_eq!(answer["outcome"], "reverted", "{answer}");
        assert_eq!(answer["updateId"], revert.as_str(), "{answer}");
        assert_eq!(answer["revertConfirmed"], true, "{answer}");
    }
    let tokens: Vec<Value> = eks
        .requests_for("UpdateClusterConfig")
        .iter()
        .map(|r| r.body["clientRequestToken"].clone())
        .collect();
    assert_eq!(tokens.len(), 2, "each guard asked once");
    assert_eq!(tokens[0], tokens[1], "with the same token");
    assert!(!eks.cluster("prod-eu").unwrap().public);
    let alerts = stage.alerts(2, Duration::from_secs(10)).await;
    assert_eq!(outcomes(&alerts), ["reverted", "reverted"]);
}

/// EKS accepts the revert and the update then ends `Failed`: the guard says
/// plainly that the endpoint is still open, with EKS's errors, and fails the
/// invocation; Lambda's retry reverts again, and that revert holds.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_revert_is_told_and_fails_and_the_retry_reverts() {
    let stage = Stage::start("failed-revert", quick_updates()).await;
    let eks = &stage.eks;
    let event = opened(eks);
    eks.fail_next_api_updates(
        "prod-eu",
        1,
        vec![UpdateError::new(
            UpdateErrorCode::AccessDenied,
            "The cluster role may not change the endpoint",
        )],
    );
    let guard = stage.guard(&[]).await;

    let (error_type, message) = guard.invoke(&event).await.expect_error();
    assert_eq!(error_type, "RevertFailed", "{message}");
    assert!(message.contains("still open"), "{message}");
    assert!(message.contains("AccessDenied"), "{message}");
    assert!(
        eks.cluster("prod-eu").unwrap().public,
        "the endpoint is still open"
    );
    let alerts = stage.alerts(2, Duration::from_secs(10)).await;
    assert_eq!(outcomes(&alerts), ["reverted", "revert-failed"]);
    let failed = finding_of(&alerts[1]);
    assert_eq!(failed["action"]["errors"][0]["code"], "AccessDenied");
    assert!(
        alerts[1]["Subject"]
            .as_str()
            .unwrap()
            .contains("REVERT FAILED")
    );

    // Lambda's retry of the same event.
    let answer = guard.invoke(&event).await.expect_response();
    assert_eq!(answer["outcome"], "reverted", "{answer}");
    assert_eq!(answer["revertConfirmed"], true);
    let updates = eks.updates("prod-eu");
    assert_eq!(
        updates.len(),
        3,
        "theirs, the failed revert, the retry's: {updates:?}"
    );
    assert_eq!(answer["updateId"], updates[2].id.as_str());
    assert!(!eks.cluster("prod-eu").unwrap().public);
    let alerts = stage.alerts(1, Duration::from_secs(10)).await;
    assert_eq!(outcomes(&alerts), ["reverted"]);
}

/// EKS refuses the revert with `ResourceInUseException` while no update is
/// listed (work on AWS's side): the guard pauses before every retry and stays
/// at about 2 EKS calls per second for the cluster, then reverts once the
/// lock lifts.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_with_no_update_listed_the_guard_keeps_to_two_calls_a_second() {
    let stage = Stage::start("locked", quick_updates()).await;
    let eks = &stage.eks;
    let event = opened(eks);
    let locked_for = Duration::from_secs(6);
    eks.start_platform_update("prod-eu", Finish::After(locked_for));
    let guard = stage.guard(&[]).await;

    let answer = guard.invoke(&event).await.expect_response();

    assert_eq!(answer["outcome"], "reverted", "{answer}");
    let refused = eks
        .requests_for("UpdateClusterConfig")
        .iter()
        .filter(|r| r.status == Some(409))
        .count();
    assert!(refused >= 2, "refused, retried, refused: {refused}");
    let requests: Vec<_> = eks
        .requests()
        .into_iter()
        .filter(|r| r.cluster.as_deref() == Some("prod-eu"))
        .collect();
    let span = requests.last().unwrap().at - requests.first().unwrap().at;
    let per_second = requests.len() as f64 / span.as_secs_f64();
    println!(
        "while refused: {} EKS calls in {:.1} s = {per_second:.2} per second; busiest second {}",
        requests.len(),
        span.as_secs_f64(),
        eks.max_requests_in_window(Some("prod-eu"), Duration::from_secs(1))
    );
    // The pace is a bucket: a burst of 2, then 2 a second. With this test's
    // 50 ms poll interval the back-off starts small, so the pace is what
    // holds the guard back (at the default 1 s the back-off does).
    let beyond_the_burst = (requests.len() - 2) as f64 / span.as_secs_f64();
    assert!(
        beyond_the_burst <= 2.0,
        "{beyond_the_burst:.2} EKS calls a second"
    );
    assert!(
        eks.max_requests_in_window(Some("prod-eu"), Duration::from_secs(5)) <= 2 + 2 * 5,
        "a burst of 2, then 2 a second"
    );
    assert!(!eks.cluster("prod-eu").unwrap().public);
}

/// The function runs in eu-west-1 of account 111122223333 with no
/// remediation role. A change in another account, or in a region it does not
/// guard, is alerted as not handled and fails naming what to configure; the
/// same-named cluster where the guard runs is never read or changed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changes_out_of_reach_are_refused_before_any_eks_call() {
    let stage = Stage::start("out-of-reach", quick_updates()).await;
    let eks = &stage.eks;
    eks.add_cluster(ClusterSpec::new("prod-eu").public(true));
    let guard = stage.guard(&[]).await;

    let other_account = common::open_event_in("999988887777", "prod-eu");
    let other_region = sample(OPEN_PUBLIC, &[("\"eu-west-1\"", "\"eu-central-1\"")]);
    for (event, names) in [
        (&other_account, "REMEDIATION_ROLE_NAME"),
        (&other_region, "GUARD_REGIONS"),
    ] {
        let (error_type, message) = guard.invoke(event).await.expect_error();
        assert_eq!(error_type, "OutOfReach", "{message}");
        assert!(message.contains(names), "{message}");
    }
    assert!(eks.requests().is_empty(), "no EKS call at all");
    assert!(
        eks.cluster("prod-eu").unwrap().public,
        "the local namesake is untouched"
    );
    let alerts = stage.alerts(2, Duration::from_secs(10)).await;
    assert_eq!(outcomes(&alerts), ["not-handled", "not-handled"]);
    let regions: Vec<Value> = alerts
        .iter()
        .map(|a| finding_of(a)["cluster"]["region"].clone())
        .collect();
    assert!(
        regions.contains(&Value::from("eu-central-1")),
        "{regions:?}"
    );
}

/// With `GUARD_REGIONS` naming it, a change in another region is handled
/// there: the cluster of that name in that region is reverted, the namesake
/// in the function's own region is not touched.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_guarded_region_is_acted_on_in_that_region_only() {
    let stage = Stage::start("regions", quick_updates()).await;
    let eks = &stage.eks;
    eks.add_cluster(ClusterSpec::new("prod-eu").public(true));
    eks.add_cluster(
        ClusterSpec::new("prod-eu")
            .region("eu-central-1")
            .public(true),
    );
    let guard = stage.guard(&[("GUARD_REGIONS", "eu-central-1")]).await;
    let event = sample(
        OPEN_PUBLIC,
        &[
            ("\"eu-west-1\"", "\"eu-central-1\""),
            (common::EVENT_UPDATE_ID, "gone-update"),
        ],
    );

    let answer = guard.invoke(&event).await.expect_response();

    assert_eq!(answer["outcome"], "reverted", "{answer}");
    assert!(!eks.cluster_in("eu-central-1", "prod-eu").unwrap().public);
    assert!(
        eks.cluster("prod-eu").unwrap().public,
        "the eu-west-1 namesake is untouched"
    );
    assert!(
        eks.requests()
            .iter()
            .all(|r| r.signing_region.as_deref() == Some("eu-central-1")),
        "every call signed for the event's region"
    );
    let finding = stage.finding().await;
    assert_eq!(finding["cluster"]["region"], "eu-central-1");
    assert!(
        finding["cluster"]["arn"]
            .as_str()
            .unwrap()
            .contains(":eu-central-1:"),
        "{finding}"
    );
}

/// Waiting on someone's running update, the guard polls it at its poll
/// interval (50 ms here), yet the EKS calls for the cluster stay at about 2 a
/// second: the pace holds whatever the poll interval or EKS's answers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn polling_a_running_update_stays_at_two_calls_a_second() {
    let stage = Stage::start("paced-polls", quick_updates()).await;
    let eks = &stage.eks;
    eks.add_cluster(private_cluster("prod-eu"));
    let running = Duration::from_secs(3);
    let theirs = eks.start_update(
        "prod-eu",
        EndpointChange::open_to_internet(),
        UpdateBehaviour::staying_active(Finish::After(running)),
    );
    let guard = stage.guard(&[]).await;
    let event = open_event(&theirs);

    let answer = guard.invoke(&event).await.expect_response();

    assert_eq!(answer["outcome"], "reverted", "{answer}");
    // The polls are what came before the revert (after it come the one-off
    // read of the update the revert started and the history).
    let revert_at = eks.requests_for("UpdateClusterConfig")[0].at;
    let polls = eks
        .requests_for("DescribeUpdate")
        .iter()
        .filter(|r| r.at < revert_at)
        .count();
    // 3 s at 50 ms would be 60 polls; the bucket allows 2 + 2 a second.
    assert!(
        polls <= 2 + 2 * 4,
        "{polls} DescribeUpdate calls in about 3 s"
    );
    assert!(
        eks.max_requests_in_window_where(Duration::from_secs(2), |r| {
            r.cluster.as_deref() == Some("prod-eu") && r.at <= revert_at
        }) <= 2 + 2 * 2,
        "waiting and reverting: a burst of 2, then 2 a second"
    );
}
