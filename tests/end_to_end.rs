//! End to end: the compiled binary under a Lambda Runtime API emulator, SNS,
//! SQS and STS served by `moto_server` on loopback, and EKS by a double that
//! follows real EKS (moto applies updates at once and has no `DescribeUpdate`).
//! Alerts are read back from an SQS queue subscribed to the topic.

mod common;

use std::time::{Duration, Instant};

use common::{
    EVENT_UPDATE_ID, GuardProcess, SECRET_ACCESS_KEY, Stage, field, finding_of, open_event,
    open_event_in, private_cluster, quick_updates, sample, settings, someone_opened, someone_opens,
};
use guard_testkit::eks::{ClusterSpec, EksDouble, Fault};
use guard_testkit::moto::{self, Moto};
use guard_testkit::runtime::Invocation;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reverts_an_opened_endpoint_after_the_update_and_alerts_once() {
    let stage = Stage::start("e2e-revert", quick_updates()).await;
    let eks = &stage.eks;
    // Someone's update that opens the endpoint, still InProgress with the
    // cluster ACTIVE and describing its old private settings.
    let their_update = someone_opens(eks, private_cluster("prod-eu"));
    let guard = stage.guard(&[]).await;
    let event = open_event(&their_update);

    // While their update runs, the guard must only poll it: no read of the
    // (stale) settings, no revert. Then the update finishes.
    let finish_their_update = async {
        eks.wait_for_requests("DescribeUpdate", 3, Duration::from_secs(20))
            .await
            .expect("the guard polls the update");
        assert!(eks.requests_for("UpdateClusterConfig").is_empty());
        assert!(eks.requests_for("DescribeCluster").is_empty());
        let finished_at = Instant::now();
        assert!(eks.finish_update("prod-eu", &their_update));
        finished_at
    };
    let (answer, finished_at) = tokio::join!(guard.invoke(&event), finish_their_update);

    let answer = answer.expect_response();
    assert_eq!(answer["outcome"], "reverted", "{answer}");
    let reverts = eks.requests_for("UpdateClusterConfig");
    assert_eq!(reverts.len(), 1);
    assert_eq!(
        reverts[0].body["resourcesVpcConfig"],
        serde_json::json!({"endpointPublicAccess": false, "endpointPrivateAccess": true})
    );
    assert!(
        reverts[0].body.get("logging").is_none(),
        "only endpoint settings"
    );
    println!(
        "revert issued {:?} after the blocking update finished",
        reverts[0].at.saturating_duration_since(finished_at)
    );
    let revert_id = answer["updateId"].as_str().expect("update id").to_string();
    assert!(eks.updates("prod-eu").iter().any(|u| u.id == revert_id));

    let alerts = stage.alerts(1, Duration::from_secs(10)).await;
    assert_eq!(alerts.len(), 1);
    assert!(alerts[0]["Subject"].as_str().unwrap().contains("prod-eu"));
    assert_eq!(
        alerts[0]["MessageAttributes"]["action"]["Value"],
        "reverted"
    );
    assert_eq!(
        alerts[0]["MessageAttributes"]["cluster"]["Value"],
        "prod-eu"
    );
    let finding = finding_of(&alerts[0]);
    assert_eq!(finding["schema"], "eks-endpoint-guard/finding/v1");
    assert_eq!(finding["found"]["endpointPublicAccess"], true);
    assert_eq!(finding["action"]["updateId"], revert_id);
    assert_eq!(finding["actor"]["sourceIp"], "198.51.100.23", "{finding:#}");

    // One JSON log line for the decision, with what an operator filters on.
    let decisions = guard.log_records("decision");
    let decision = decisions
        .iter()
        .find(|r| field(r, "action") == "reverted")
        .unwrap_or_else(|| panic!("no decision line in {:#?}", guard.logs()));
    for name in ["cluster", "account", "region", "event_id", "reason"] {
        assert!(
            field(decision, name).is_string(),
            "decision line lacks {name}: {decision}"
        );
    }
    assert!(
        guard
            .logs()
            .iter()
            .all(|line| !line.contains(SECRET_ACCESS_KEY)),
        "credentials in the logs"
    );

    // The guard's own revert comes back: no second update, no alert.
    let own = sample(
        "updateclusterconfig-guard-own-revert.json",
        &[(EVENT_UPDATE_ID, &revert_id)],
    );
    let answer = guard.invoke(&own).await.expect_response();
    assert_eq!(answer["outcome"], "own-change");
    assert_eq!(eks.requests_for("UpdateClusterConfig").len(), 1);
    assert!(stage.alerts(1, Duration::from_secs(2)).await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_gets_a_clear_answer_and_the_process_keeps_serving() {
    let guard = GuardProcess::start(&[
        (
            "ALERT_TOPIC_ARN",
            "arn:aws:sns:us-east-1:123456789012:never-used".into(),
        ),
        // Nothing here may call AWS: unreachable endpoints prove it.
        ("AWS_ENDPOINT_URL", "http://127.0.0.1:9".into()),
    ])
    .await;

    let cases: Vec<(Vec<u8>, Result<&str, &str>)> = vec![
        (sample("malformed-json.json", &[]), Err("DeserializeError")),
        (b"not json at all".to_vec(), Err("DeserializeError")),
        (sample("empty-object.json", &[]), Ok("ignored")),
        (b"[]".to_vec(), Ok("ignored")),
        (sample("ec2-instance-state-change.json", &[]), Ok("ignored")),
        (
            sample("eks-describecluster-read-only.json", &[]),
            Ok("ignored"),
        ),
        (
            sample("updateclusterconfig-failed-access-denied.json", &[]),
            Ok("ignored"),
        ),
        (
            sample("updateclusterconfig-no-request-parameters.json", &[]),
            Err("InvalidEvent"),
        ),
        (sample("tagresource-nodegroup.json", &[]), Ok("ignored")),
    ];
    for (payload, expected) in cases {
        let shown = String::from_utf8_lossy(&payload[..payload.len().min(60)]).to_string();
        match (guard.invoke(&payload).await, expected) {
            (Invocation::Response(answer), Ok(outcome)) => {
                assert_eq!(answer["outcome"], outcome, "{shown}");
                assert!(
                    answer["reason"].as_str().is_some_and(|r| !r.is_empty()),
                    "{shown}"
                );
            }
            (
                Invocation::Error {
                    error_type,
                    error_message,
                },
                Err(kind),
            ) => {
                assert!(error_type.contains(kind), "{shown}: {error_type}");
                assert!(!error_message.is_empty(), "{shown}");
            }
            (other, _) => panic!("{shown}: unexpected {other:?}"),
        }
    }
    // Still serving: the process polls for the next event after all of them.
    tokio::time::timeout(Duration::from_secs(10), guard.api.wait_for_polls(10))
        .await
        .expect("the guard polls again after every bad input");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_configuration_that_cannot_work_is_an_init_error_naming_the_variable() {
    for (settings, variable) in [
        (vec![], "ALERT_TOPIC_ARN"),
        (
            vec![
                (
                    "ALERT_TOPIC_ARN",
                    "arn:aws:sns:us-east-1:123456789012:a".to_string(),
                ),
                ("GUARD_MODE", "fix-everything".to_string()),
            ],
            "GUARD_MODE",
        ),
        (
            vec![
                (
                    "ALERT_TOPIC_ARN",
                    "arn:aws:sns:us-east-1:123456789012:a".to_string(),
                ),
                ("ALLOWED_PUBLIC_CIDRS", "10.0.0.0/8,office".to_string()),
            ],
            "ALLOWED_PUBLIC_CIDRS",
        ),
    ] {
        let mut guard = GuardProcess::start(&settings).await;
        let (error_type, message) =
            tokio::time::timeout(Duration::from_secs(20), guard.api.init_error())
                .await
                .expect("an init error in time")
                .expect("an init error, not a poll");
        assert_eq!(error_type, "InvalidConfiguration");
        assert!(message.contains(variable), "{message}");
        assert!(!guard.exit_status().await.success());
        assert_eq!(guard.api.polls(), 0);
    }
}

/// SNS is unavailable (the topic does not exist yet): the revert is done, the
/// invocation fails so Lambda retries; the retry, with SNS back, sends the
/// alert. The cluster complies by then, and the retry asks EKS with the
/// event's token: EKS answers with the guard's own update, so the alert says
/// "reverted, update X", and no second update is started.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_alert_that_cannot_be_sent_fails_the_invocation_and_the_retry_sends_it() {
    let moto = Moto::start().await.expect("moto_server");
    let eks = EksDouble::start(quick_updates()).await.expect("EKS double");
    let their_update = someone_opened(&eks, private_cluster("prod-eu"));
    let topic = "arn:aws:sns:us-east-1:123456789012:late-alerts".to_string();
    let guard = GuardProcess::start(&settings(&topic, &moto, &eks)).await;
    let event = open_event(&their_update);

    let (error_type, message) = guard.invoke(&event).await.expect_error();
    assert_eq!(error_type, "AlertNotSent");
    assert!(message.contains("reverted"), "{message}");
    assert_eq!(
        eks.requests_for("UpdateClusterConfig").len(),
        1,
        "reverted first"
    );

    let (created, inbox) = moto.topic_with_inbox("late-alerts").await;
    assert_eq!(created, topic);
    let answer = guard.invoke(&event).await.expect_response();
    assert_eq!(answer["outcome"], "reverted", "{answer}");
    let updates = eks.updates("prod-eu");
    assert_eq!(updates.len(), 2, "theirs and one revert: {updates:?}");
    assert_eq!(answer["updateId"], updates[1].id.as_str());
    let alerts = moto.receive(&inbox, 1, Duration::from_secs(10)).await;
    assert_eq!(alerts.len(), 1);
    let finding = finding_of(&alerts[0]);
    assert_eq!(finding["outcome"], "reverted");
    assert_eq!(finding["action"]["updateId"], updates[1].id.as_str());
    assert_eq!(finding["requested"]["endpointPublicAccess"], true);
    assert!(!eks.cluster("prod-eu").unwrap().public);
}

/// Central layout: an event from another account is handled with the
/// remediation role assumed there (STS by moto); the double sees which access
/// key signed each EKS request. An event of the function's own account
/// assumes nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_accounts_cluster_is_reached_through_the_remediation_role() {
    let stage = Stage::start("central", quick_updates()).await;
    let eks = &stage.eks;
    eks.add_cluster(ClusterSpec::new("member-cluster").public(true));
    eks.add_cluster(ClusterSpec::new("home-cluster").public(true));
    let guard = stage.central_guard(&[]).await;

    let member_event = open_event_in("444455556666", "member-cluster");
    let answer = guard.invoke(&member_event).await.expect_response();
    assert_eq!(answer["outcome"], "reverted", "{answer}");
    let member_calls: Vec<_> = eks
        .requests()
        .into_iter()
        .filter(|r| r.cluster.as_deref() == Some("member-cluster"))
        .collect();
    assert!(!member_calls.is_empty());
    for call in &member_calls {
        let key = call.access_key_id.as_deref().unwrap_or_default();
        assert_ne!(
            key,
            guard_testkit::TEST_ACCESS_KEY_ID,
            "{} signed with the function's own key",
            call.operation
        );
        assert!(
            key.starts_with("ASIA"),
            "{}: {key} is not a temporary key",
            call.operation
        );
    }
    let finding = stage.finding().await;
    assert_eq!(finding["cluster"]["account"], "444455556666");

    let home_event = open_event_in(moto::ACCOUNT, "home-cluster");
    let answer = guard.invoke(&home_event).await.expect_response();
    assert_eq!(answer["outcome"], "reverted", "{answer}");
    for call in eks
        .requests()
        .iter()
        .filter(|r| r.cluster.as_deref() == Some("home-cluster"))
    {
        assert_eq!(
            call.access_key_id.as_deref(),
            Some(guard_testkit::TEST_ACCESS_KEY_ID)
        );
    }
}

/// An EKS endpoint that never answers: every call has a time-out, so the
/// guard gives up with a clear error before the invocation deadline instead
/// of hanging until Lambda kills it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hung_eks_endpoint_cannot_eat_the_deadline() {
    let stage = Stage::start("hung", quick_updates()).await;
    let eks = &stage.eks;
    eks.add_cluster(ClusterSpec::new("prod-eu"));
    eks.inject("DescribeUpdate", vec![Fault::Hang; 100]);
    let guard = stage.guard(&[("GUARD_CALL_TIMEOUT_SECONDS", "0.3")]).await;

    // The guard keeps 10 s for the alert: this leaves it 3 s to wait.
    let deadline = Duration::from_secs(13);
    let started = Instant::now();
    let (error_type, message) = guard
        .invoke_with_deadline(&sample(common::OPEN_PUBLIC, &[]), deadline)
        .await
        .expect_error();

    assert!(
        started.elapsed() < deadline,
        "answered after the deadline: {:?}",
        started.elapsed()
    );
    assert_eq!(error_type, "DeadlineExceeded", "{message}");
    assert!(message.contains("keeps failing"), "{message}");
    assert!(
        eks.requests_for("DescribeUpdate").len() >= 2,
        "timed out and tried again"
    );
    assert!(eks.requests_for("UpdateClusterConfig").is_empty());
    assert!(stage.alerts(1, Duration::from_secs(1)).await.is_empty());
}
