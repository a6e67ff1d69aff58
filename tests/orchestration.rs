//! The use case against `aws-smithy-mocks` on the real SDK clients: the paths
//! real EKS takes (updates in progress with old settings, `CREATING`,
//! `ResourceInUseException`, throttling) and the failures no emulator produces.

mod mocks;

use mocks::{cluster, config, described, revert_starts, started, update};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_sdk_eks::config::retry::RetryConfig;
use aws_sdk_eks::operation::describe_cluster::DescribeClusterError;
use aws_sdk_eks::operation::describe_update::DescribeUpdateOutput;
use aws_sdk_eks::operation::list_updates::ListUpdatesOutput;
use aws_sdk_eks::operation::update_cluster_config::UpdateClusterConfigError;
use aws_sdk_eks::types::error::{
    InvalidParameterException, ResourceInUseException, ResourceNotFoundException,
};
use aws_sdk_eks::types::{ClusterStatus, Update, UpdateStatus};
use aws_sdk_sns::operation::publish::PublishOutput;
use aws_sdk_sns::operation::publish_batch::PublishBatchOutput;
use aws_smithy_mocks::{Rule, RuleMode, mock, mock_client};
use eks_endpoint_guard::clock::epoch_seconds;
use eks_endpoint_guard::config::Config;
use eks_endpoint_guard::error::GuardError;
use eks_endpoint_guard::guard::{Deadline, Guard, Invocation};
use eks_endpoint_guard::policy;
use serde_json::Value;

const OPEN_EVENT: &str = include_str!("../events/updateclusterconfig-open-public.json");
const CLOSE_EVENT: &str = include_str!("../events/updateclusterconfig-console-close-public.json");
const CREATE_EVENT: &str = include_str!("../events/createcluster-console-public.json");
const OWN_EVENT: &str = include_str!("../events/updateclusterconfig-guard-own-revert.json");
const EVENT_UPDATE_ID: &str = "3f9d2c1e-8b7a-4c55-9e21-6f0d5a4b3c2a";

/// Records every published message.
#[derive(Clone, Default)]
struct Inbox(Arc<Mutex<Vec<(String, String)>>>);

impl Inbox {
    fn rule(&self) -> Rule {
        let inbox = self.clone();
        mock!(aws_sdk_sns::Client::publish).then_compute_output(move |req| {
            let mut sent = inbox.0.lock().unwrap();
            sent.push((
                req.subject().unwrap_or_default().to_string(),
                req.message().unwrap_or_default().to_string(),
            ));
            PublishOutput::builder()
                .message_id(format!("m-{}", sent.len()))
                .build()
        })
    }

    /// `PublishBatch` (the sweep's findings for machines), into the same list.
    fn batch_rule(&self) -> Rule {
        let inbox = self.clone();
        mock!(aws_sdk_sns::Client::publish_batch).then_compute_output(move |req| {
            let mut sent = inbox.0.lock().unwrap();
            for entry in req.publish_batch_request_entries() {
                let subject = entry.subject().unwrap_or_default().to_string();
                sent.push((subject, entry.message().to_string()));
            }
            PublishBatchOutput::builder().build()
        })
    }

    /// The findings sent, one per cluster (not the sweep's summary): the
    /// machine view (`sqs`; a sweep's machine message has only `default`).
    fn findings(&self) -> Vec<Value> {
        self.0
            .lock()
            .unwrap()
            .iter()
            .map(|(_, message)| {
                let views: Value = serde_json::from_str(message).expect("message is JSON");
                let machine = views["sqs"].as_str().or(views["default"].as_str());
                serde_json::from_str::<Value>(machine.expect("machine view")).expect("finding")
            })
            .filter(|doc| doc["schema"] == "eks-endpoint-guard/finding/v1")
            .collect()
    }
}

fn eks_client(rules: &[&Rule]) -> aws_sdk_eks::Client {
    mock_client!(aws_sdk_eks, RuleMode::MatchAny, rules, |c| c.retry_config(
        RetryConfig::standard()
            .with_max_attempts(3)
            .with_initial_backoff(Duration::from_millis(1))
    ))
}

fn sns_client(rules: &[&Rule]) -> aws_sdk_sns::Client {
    mock_client!(aws_sdk_sns, RuleMode::MatchAny, rules, |c| c
        .retry_config(RetryConfig::disabled()))
}

/// A guard on these EKS rules (and, after them, [`reverts_run`]),
/// publishing into a recording inbox.
fn guard_with(config: Config, eks_rules: &[&Rule]) -> (Guard, Inbox) {
    let inbox = Inbox::default();
    let publish = inbox.rule();
    let (reverts, history) = (reverts_run(), mocks::no_updates());
    let mut rules = eks_rules.to_vec();
    rules.push(&reverts);
    rules.push(&history);
    let batch = inbox.batch_rule();
    let guard = Guard::new(config, eks_client(&rules), sns_client(&[&publish, &batch]));
    (guard, inbox)
}

/// The update the sample event started has finished.
fn event_update_finished() -> Rule {
    mock!(aws_sdk_eks::Client::describe_update)
        .match_requests(|r| r.update_id() == Some(EVENT_UPDATE_ID))
        .then_output(|| update(EVENT_UPDATE_ID, UpdateStatus::Successful))
}

/// Any other update (the guard's reverts) is `InProgress` when first
/// described, right after it started, and `Successful` from then on.
fn reverts_run() -> Rule {
    let seen = Arc::new(Mutex::new(std::collections::HashSet::new()));
    mock!(aws_sdk_eks::Client::describe_update)
        .match_requests(|r| r.update_id() != Some(EVENT_UPDATE_ID))
        .then_compute_output(move |r| {
            let id = r.update_id().unwrap_or_default().to_string();
            let first = seen.lock().unwrap().insert(id.clone());
            let status = if first {
                UpdateStatus::InProgress
            } else {
                UpdateStatus::Successful
            };
            update(&id, status)
        })
}

/// The cluster is ACTIVE and open to the internet.
fn open_cluster() -> Rule {
    mocks::open_cluster(&["0.0.0.0/0"], &[])
}

async fn run(guard: &Guard, event: &str, deadline: Duration) -> Result<Value, GuardError> {
    let payload: Value = serde_json::from_str(event).unwrap();
    guard
        .handle(&payload, &Invocation::until(Deadline::after(deadline)))
        .await
        .map(|answer| serde_json::to_value(answer).unwrap())
}

/// The guard's answer to `event`, given 10 s; not an error.
async fn answer_to(guard: &Guard, event: &str) -> Value {
    run(guard, event, Duration::from_secs(10)).await.unwrap()
}

/// The error the guard fails `event` with, given 10 s.
async fn error_from(guard: &Guard, event: &str) -> GuardError {
    run(guard, event, Duration::from_secs(10))
        .await
        .unwrap_err()
}

/// The update the event started is `InProgress` for a while and the cluster
/// stays `ACTIVE`, still describing its OLD (private) settings; the new public
/// settings appear only when the update is done. The guard must wait for the
/// update and only then read and revert.
#[tokio::test]
async fn waits_for_the_event_update_then_reads_and_reverts() {
    let update_done = Arc::new(AtomicBool::new(false));
    let polls = Arc::new(AtomicUsize::new(0));
    let describe_update = {
        let (done, polls) = (update_done.clone(), polls.clone());
        mock!(aws_sdk_eks::Client::describe_update)
            .match_requests(|r| r.update_id() == Some(EVENT_UPDATE_ID))
            .then_compute_output(move |_| {
                if polls.fetch_add(1, Ordering::SeqCst) >= 3 {
                    done.store(true, Ordering::SeqCst);
                    update(EVENT_UPDATE_ID, UpdateStatus::Successful)
                } else {
                    update(EVENT_UPDATE_ID, UpdateStatus::InProgress)
                }
            })
    };
    let describe_cluster = {
        let done = update_done.clone();
        mock!(aws_sdk_eks::Client::describe_cluster).then_compute_output(move |_| {
            if done.load(Ordering::SeqCst) {
                described(cluster(ClusterStatus::Active, true, &["0.0.0.0/0"], &[]))
            } else {
                described(cluster(ClusterStatus::Active, false, &["0.0.0.0/0"], &[]))
            }
        })
    };
    let revert = mock!(aws_sdk_eks::Client::update_cluster_config)
        .match_requests(|r| {
            let vpc = r.resources_vpc_config().expect("endpoint settings only");
            r.logging().is_none()
                && vpc.endpoint_public_access() == Some(false)
                && vpc.endpoint_private_access() == Some(true)
                && vpc.public_access_cidrs().is_empty()
        })
        .then_output(|| started("revert-1"));
    let (guard, inbox) = guard_with(config(&[]), &[&describe_update, &describe_cluster, &revert]);

    let answer = answer_to(&guard, OPEN_EVENT).await;

    assert_eq!(answer["outcome"], "reverted");
    assert_eq!(answer["updateId"], "revert-1");
    assert_eq!(describe_update.num_calls(), 4, "polled until Successful");
    assert_eq!(revert.num_calls(), 1);
    let findings = inbox.findings();
    assert_eq!(findings.len(), 1);
    assert_eq!(findings[0]["outcome"], "reverted");
    assert_eq!(findings[0]["found"]["endpointPublicAccess"], true);
    assert_eq!(findings[0]["action"]["updateId"], "revert-1");
    assert_eq!(findings[0]["actor"]["sessionName"], "jane.doe@example.com");
}

/// Someone closes the endpoint; while their update runs, EKS still describes
/// the old public settings. Reading early would revert a compliant change.
#[tokio::test]
async fn stale_settings_during_an_update_are_never_judged() {
    let update_done = Arc::new(AtomicBool::new(false));
    let polls = Arc::new(AtomicUsize::new(0));
    let describe_update = {
        let (done, polls) = (update_done.clone(), polls.clone());
        mock!(aws_sdk_eks::Client::describe_update).then_compute_output(move |r| {
            let id = r.update_id().unwrap_or_default().to_string();
            if polls.fetch_add(1, Ordering::SeqCst) >= 2 {
                done.store(true, Ordering::SeqCst);
                update(&id, UpdateStatus::Successful)
            } else {
                update(&id, UpdateStatus::InProgress)
            }
        })
    };
    let describe_cluster = {
        let done = update_done.clone();
        mock!(aws_sdk_eks::Client::describe_cluster).then_compute_output(move |_| {
            if done.load(Ordering::SeqCst) {
                described(cluster(ClusterStatus::Active, false, &["0.0.0.0/0"], &[]))
            } else {
                // UPDATING, still describing the old public settings.
                described(cluster(ClusterStatus::Updating, true, &["0.0.0.0/0"], &[]))
            }
        })
    };
    let revert = revert_starts("no");
    let (guard, inbox) = guard_with(config(&[]), &[&describe_update, &describe_cluster, &revert]);

    let answer = answer_to(&guard, CLOSE_EVENT).await;

    assert_eq!(answer["outcome"], "compliant");
    assert_eq!(revert.num_calls(), 0);
    assert!(
        inbox.findings().is_empty(),
        "no alert for a compliant change"
    );
}

/// A new cluster is `CREATING` for a long time; no update can be listed as
/// running, yet the guard must wait for `ACTIVE` before it can revert.
#[tokio::test]
async fn waits_out_creating_then_reverts() {
    let describe_cluster = mock!(aws_sdk_eks::Client::describe_cluster)
        .sequence()
        .output(|| described(cluster(ClusterStatus::Creating, true, &["0.0.0.0/0"], &[])))
        .times(4)
        .output(|| described(cluster(ClusterStatus::Active, true, &["0.0.0.0/0"], &[])))
        .repeatedly()
        .build();
    let list_updates = mocks::no_updates();
    let revert = revert_starts("revert-2");
    let (guard, inbox) = guard_with(config(&[]), &[&describe_cluster, &list_updates, &revert]);

    let answer = answer_to(&guard, CREATE_EVENT).await;

    assert_eq!(answer["outcome"], "reverted");
    assert_eq!(describe_cluster.num_calls(), 5);
    assert_eq!(
        list_updates.num_calls(),
        2,
        "an update check before the first read and the history for the alert; DescribeCluster alone while CREATING"
    );
    assert_eq!(revert.num_calls(), 1);
    assert_eq!(inbox.findings()[0]["trigger"]["apiCall"], "CreateCluster");
}

/// Between the read and the revert someone starts another update: EKS answers
/// `ResourceInUseException`. The guard waits for that update, re-reads,
/// re-decides and reverts.
#[tokio::test]
async fn resource_in_use_on_the_revert_waits_and_retries() {
    let describe_update = mock!(aws_sdk_eks::Client::describe_update)
        .match_requests(|r| r.update_id() != Some("revert-3"))
        .sequence()
        .output(|| update(EVENT_UPDATE_ID, UpdateStatus::Successful))
        .output(|| update("other", UpdateStatus::InProgress))
        .times(2)
        .output(|| update("other", UpdateStatus::Successful))
        .repeatedly()
        .build();
    let list_updates = mock!(aws_sdk_eks::Client::list_updates).then_output(|| {
        ListUpdatesOutput::builder()
            .update_ids(EVENT_UPDATE_ID)
            .update_ids("other")
            .build()
    });
    let describe_cluster = open_cluster();
    let revert = mock!(aws_sdk_eks::Client::update_cluster_config)
        .sequence()
        .error(|| {
            UpdateClusterConfigError::ResourceInUseException(
                ResourceInUseException::builder()
                    .message("Cannot EndpointAccessUpdate because cluster prod-eu currently has update other in progress")
                    .build(),
            )
        })
        .output(|| started("revert-3"))
        .build();
    let (guard, inbox) = guard_with(
        config(&[]),
        &[&describe_update, &list_updates, &describe_cluster, &revert],
    );

    let answer = answer_to(&guard, OPEN_EVENT).await;

    assert_eq!(answer["outcome"], "reverted");
    assert_eq!(answer["updateId"], "revert-3");
    assert_eq!(revert.num_calls(), 2);
    assert!(list_updates.num_calls() >= 2, "waited on the other update");
    assert_eq!(inbox.findings().len(), 1);
}

/// Throttling beyond the SDK's own retries: the guard keeps polling within
/// the deadline, and the revert still happens.
#[tokio::test]
async fn throttling_bursts_are_outlasted() {
    let throttled = r#"{"__type":"ThrottlingException","message":"Rate exceeded"}"#;
    let describe_cluster = mock!(aws_sdk_eks::Client::describe_cluster)
        .sequence()
        .http_status(429, Some(throttled.to_string()))
        .times(7)
        .output(|| described(cluster(ClusterStatus::Active, true, &["0.0.0.0/0"], &[])))
        .repeatedly()
        .build();
    let describe_update = mock!(aws_sdk_eks::Client::describe_update)
        .match_requests(|r| r.update_id() == Some(EVENT_UPDATE_ID))
        .sequence()
        .http_status(503, None)
        .times(4)
        .output(|| update(EVENT_UPDATE_ID, UpdateStatus::Successful))
        .repeatedly()
        .build();
    let revert = mock!(aws_sdk_eks::Client::update_cluster_config)
        .sequence()
        .http_status(
            500,
            Some(r#"{"__type":"ServerException","message":"boom"}"#.into()),
        )
        .times(2)
        .output(|| started("revert-4"))
        .build();
    let (guard, inbox) = guard_with(config(&[]), &[&describe_cluster, &describe_update, &revert]);

    let answer = answer_to(&guard, OPEN_EVENT).await;

    assert_eq!(answer["outcome"], "reverted");
    assert_eq!(describe_cluster.num_calls(), 8);
    assert_eq!(revert.num_calls(), 3, "SDK retried the 5xx");
    assert_eq!(inbox.findings().len(), 1);
}

/// An update that never ends: the guard gives up before the deadline with an
/// error saying so, without reverting or alerting, so Lambda retries later.
#[tokio::test]
async fn deadline_expiring_mid_wait_fails_the_invocation() {
    let describe_update = mock!(aws_sdk_eks::Client::describe_update)
        .then_output(|| update(EVENT_UPDATE_ID, UpdateStatus::InProgress));
    let describe_cluster = open_cluster();
    let revert = revert_starts("no");
    let (guard, inbox) = guard_with(config(&[]), &[&describe_update, &describe_cluster, &revert]);

    let err = run(&guard, OPEN_EVENT, Duration::from_secs(1))
        .await
        .unwrap_err();

    assert_eq!(err.error_type(), "DeadlineExceeded");
    assert!(err.to_string().contains("InProgress"), "{err}");
    assert!(describe_update.num_calls() > 1);
    assert_eq!(
        describe_cluster.num_calls(),
        0,
        "settings are never read while an update runs"
    );
    assert_eq!(revert.num_calls(), 0);
    assert!(inbox.findings().is_empty());
}

/// SNS down: the revert is done first, then the invocation fails so that
/// Lambda retries. The retry finds the cluster compliant and asks EKS with the
/// same token: EKS answers with the guard's own update, so the alert says
/// what the guard did (reverted, update revert-5), not "already compliant".
#[tokio::test]
async fn sns_outage_fails_after_the_revert_and_the_retry_says_what_was_done() {
    let describe_cluster = mock!(aws_sdk_eks::Client::describe_cluster)
        .sequence()
        .output(|| described(cluster(ClusterStatus::Active, true, &["0.0.0.0/0"], &[])))
        // On the retry the revert has taken effect.
        .output(|| described(cluster(ClusterStatus::Active, false, &["0.0.0.0/0"], &[])))
        .repeatedly()
        .build();
    let tokens = Arc::new(Mutex::new(Vec::new()));
    let revert = {
        let tokens = tokens.clone();
        mock!(aws_sdk_eks::Client::update_cluster_config).then_compute_output(move |r| {
            tokens
                .lock()
                .unwrap()
                .push(r.client_request_token().map(str::to_string));
            // EKS answers a token it knows with the update it started.
            started("revert-5")
        })
    };
    let sns_down = mock!(aws_sdk_sns::Client::publish)
        .sequence()
        .http_status(503, None)
        .build();
    let inbox = Inbox::default();
    let publish = inbox.rule();
    let (event_update, reverts) = (event_update_finished(), reverts_run());
    let history = mocks::no_updates();
    let eks = eks_client(&[
        &event_update,
        &describe_cluster,
        &revert,
        &reverts,
        &history,
    ]);

    let first = Guard::new(config(&[]), eks.clone(), sns_client(&[&sns_down]));
    let err = error_from(&first, OPEN_EVENT).await;
    assert_eq!(err.error_type(), "AlertNotSent");
    assert!(
        err.to_string().contains("revert-5"),
        "the error says what was done: {err}"
    );
    assert_eq!(revert.num_calls(), 1, "reverted before alerting");

    let retry = Guard::new(config(&[]), eks, sns_client(&[&publish]));
    let answer = answer_to(&retry, OPEN_EVENT).await;
    assert_eq!(answer["outcome"], "reverted", "{answer}");
    assert_eq!(answer["updateId"], "revert-5");
    assert_eq!(answer["revertConfirmed"], true);
    let tokens = tokens.lock().unwrap().clone();
    assert_eq!(tokens.len(), 2);
    assert!(tokens[0].is_some(), "the revert carries a token");
    assert_eq!(tokens[0], tokens[1], "the retry asks with the same token");
    let findings = inbox.findings();
    assert_eq!(findings.len(), 1);
    assert_eq!(findings[0]["outcome"], "reverted");
    assert_eq!(findings[0]["action"]["updateId"], "revert-5");
    assert_eq!(findings[0]["requested"]["endpointPublicAccess"], true);
}

#[tokio::test]
async fn exempt_cluster_is_reported_never_changed() {
    let describe_update = event_update_finished();
    let describe_cluster = open_cluster_tagged("true");
    let revert = revert_starts("no");
    let (guard, inbox) = guard_with(config(&[]), &[&describe_update, &describe_cluster, &revert]);

    let answer = answer_to(&guard, OPEN_EVENT).await;

    assert_eq!(answer["outcome"], "exempt");
    assert_eq!(revert.num_calls(), 0);
    assert_eq!(inbox.findings()[0]["outcome"], "exempt");
}

#[tokio::test]
async fn report_mode_alerts_what_it_would_do() {
    let describe_update = event_update_finished();
    let describe_cluster = mocks::open_cluster(&["203.0.113.0/24", "0.0.0.0/0"], &[]);
    let revert = revert_starts("no");
    let (guard, inbox) = guard_with(
        config(&[
            ("GUARD_MODE", "report"),
            ("ALLOWED_PUBLIC_CIDRS", "203.0.113.0/24"),
        ]),
        &[&describe_update, &describe_cluster, &revert],
    );

    let answer = answer_to(&guard, OPEN_EVENT).await;

    assert_eq!(answer["outcome"], "would-revert");
    assert_eq!(revert.num_calls(), 0);
    let finding = &inbox.findings()[0];
    assert_eq!(finding["action"]["fix"], "publicAccessCidrs=203.0.113.0/24");
    assert_eq!(finding["violation"]["disallowedCidrs"][0], "0.0.0.0/0");
}

/// With allowed ranges the revert sends only the CIDR list, cut back.
#[tokio::test]
async fn widened_cidrs_are_cut_back_to_the_allowed_ranges() {
    let describe_update = event_update_finished();
    let describe_cluster = mocks::open_cluster(&["203.0.113.0/24", "0.0.0.0/0"], &[]);
    let revert = mock!(aws_sdk_eks::Client::update_cluster_config)
        .match_requests(|r| {
            let vpc = r.resources_vpc_config().expect("endpoint settings");
            vpc.public_access_cidrs() == ["203.0.113.0/24"]
                && vpc.endpoint_public_access().is_none()
                && vpc.endpoint_private_access().is_none()
        })
        .then_output(|| started("revert-6"));
    let (guard, inbox) = guard_with(
        config(&[("ALLOWED_PUBLIC_CIDRS", "203.0.113.0/24")]),
        &[&describe_update, &describe_cluster, &revert],
    );

    let answer = answer_to(
        &guard,
        include_str!("../events/updateclusterconfig-widen-cidrs.json"),
    )
    .await;

    assert_eq!(answer["outcome"], "reverted");
    assert_eq!(revert.num_calls(), 1);
    assert_eq!(
        inbox.findings()[0]["action"]["resulting"]["publicAccessCidrs"][0],
        "203.0.113.0/24"
    );
}

/// EKS refuses the revert as a no-op: the cluster complied after all.
#[tokio::test]
async fn already_at_desired_configuration_is_success() {
    let describe_update = event_update_finished();
    let describe_cluster = open_cluster();
    let revert = mock!(aws_sdk_eks::Client::update_cluster_config).then_error(|| {
        UpdateClusterConfigError::InvalidParameterException(
            InvalidParameterException::builder()
                .message("Cluster is already at the desired configuration with endpointPrivateAccess: true , endpointPublicAccess: false, and Public Endpoint Restrictions: [0.0.0.0/0]")
                .build(),
        )
    });
    let (guard, inbox) = guard_with(config(&[]), &[&describe_update, &describe_cluster, &revert]);

    let answer = answer_to(&guard, OPEN_EVENT).await;

    assert_eq!(answer["outcome"], "already-compliant");
    assert_eq!(revert.num_calls(), 1);
    assert_eq!(inbox.findings()[0]["outcome"], "already-compliant");
}

#[tokio::test]
async fn deleted_cluster_is_logged_and_succeeds() {
    let describe_update = event_update_finished();
    let describe_cluster = mock!(aws_sdk_eks::Client::describe_cluster).then_error(|| {
        DescribeClusterError::ResourceNotFoundException(
            ResourceNotFoundException::builder()
                .message("No cluster found")
                .build(),
        )
    });
    let (guard, inbox) = guard_with(config(&[]), &[&describe_update, &describe_cluster]);

    let answer = answer_to(&guard, OPEN_EVENT).await;

    assert_eq!(answer["outcome"], "cluster-gone");
    assert!(inbox.findings().is_empty());
}

/// The guard's own revert comes back: no EKS call, no alert.
#[tokio::test]
async fn own_revert_causes_nothing() {
    let describe_cluster = open_cluster();
    let (guard, inbox) = guard_with(config(&[]), &[&describe_cluster]);

    let answer = answer_to(&guard, OWN_EVENT).await;

    assert_eq!(answer["outcome"], "own-change");
    assert_eq!(describe_cluster.num_calls(), 0);
    assert!(inbox.findings().is_empty());
}

/// An event that only looks like the guard's (same session name) but asks
/// for a public endpoint is judged like any other.
#[tokio::test]
async fn look_alike_session_opening_the_endpoint_is_not_skipped() {
    let event = OWN_EVENT
        .replace("\"value\": \"false\"", "\"value\": \"true\"")
        .replace(
            "\"endpointPublicAccess\": false",
            "\"endpointPublicAccess\": true",
        );
    let describe_update = event_update_finished();
    let describe_cluster = open_cluster();
    let revert = revert_starts("r");
    let (guard, inbox) = guard_with(config(&[]), &[&describe_update, &describe_cluster, &revert]);

    let answer = answer_to(&guard, &event).await;

    assert_eq!(answer["outcome"], "reverted");
    assert_eq!(revert.num_calls(), 1);
    assert_eq!(inbox.findings().len(), 1, "and alerted like any other");
}

#[tokio::test]
async fn access_denied_on_the_revert_fails_with_the_reason() {
    let describe_update = event_update_finished();
    let describe_cluster = open_cluster();
    let revert = mock!(aws_sdk_eks::Client::update_cluster_config)
        .sequence()
        .http_status(
            403,
            Some(r#"{"__type":"AccessDeniedException","message":"not authorized to perform eks:UpdateClusterConfig"}"#.into()),
        )
        .build();
    let (guard, inbox) = guard_with(config(&[]), &[&describe_update, &describe_cluster, &revert]);

    let err = error_from(&guard, OPEN_EVENT).await;

    assert_eq!(err.error_type(), "EksError");
    assert!(err.to_string().contains("AccessDenied"), "{err}");
    assert_eq!(revert.num_calls(), 1, "not retried");
    assert!(
        inbox.findings().is_empty(),
        "no alert claims a revert that failed"
    );
}

/// Granting an exemption is the quiet way around the guard: it must alert,
/// naming who, and change nothing.
#[tokio::test]
async fn exempt_tag_put_on_alerts_and_changes_nothing() {
    let describe_cluster = open_cluster();
    let revert = revert_starts("no");
    let (guard, inbox) = guard_with(config(&[]), &[&describe_cluster, &revert]);

    let answer = answer_to(
        &guard,
        include_str!("../events/tagresource-exempt-granted.json"),
    )
    .await;

    assert_eq!(answer["outcome"], "exemption-granted");
    assert_eq!(revert.num_calls(), 0);
    let findings = inbox.findings();
    assert_eq!(findings.len(), 1);
    assert_eq!(findings[0]["outcome"], "exemption-granted");
    assert_eq!(findings[0]["trigger"]["apiCall"], "TagResource");
    assert_eq!(findings[0]["actor"]["sessionName"], "jane.doe@example.com");
    assert_eq!(findings[0]["found"]["endpointPublicAccess"], true);
    assert!(inbox.0.lock().unwrap()[0].0.contains("Exemption GRANTED"));
}

/// Taking the exemption off alerts, then the cluster is judged and reverted.
#[tokio::test]
async fn exempt_tag_taken_off_alerts_then_reverts() {
    let describe_cluster = open_cluster();
    let revert = revert_starts("revert-7");
    let (guard, inbox) = guard_with(config(&[]), &[&describe_cluster, &revert]);

    let answer = answer_to(
        &guard,
        include_str!("../events/untagresource-exempt-removed.json"),
    )
    .await;

    assert_eq!(answer["outcome"], "exemption-revoked");
    assert_eq!(answer["updateId"], "revert-7");
    let outcomes: Vec<Value> = inbox
        .findings()
        .iter()
        .map(|f| f["outcome"].clone())
        .collect();
    assert_eq!(outcomes, vec!["exemption-revoked", "reverted"]);
}

#[tokio::test]
async fn other_tags_are_ignored() {
    let describe_cluster = open_cluster();
    let (guard, inbox) = guard_with(config(&[]), &[&describe_cluster]);

    let answer = answer_to(&guard, include_str!("../events/tagresource-other-tag.json")).await;

    assert_eq!(answer["outcome"], "ignored");
    assert_eq!(describe_cluster.num_calls(), 0);
    assert!(inbox.findings().is_empty());
}

/// Reverts whose updates end with the status `ending` gives their id (with
/// an error when not `Successful`), after being `InProgress` when first
/// described. One rule shared by several guards is one EKS.
fn reverts_end(ending: fn(&str) -> UpdateStatus) -> Rule {
    // When EKS created each update: when it was first described, right
    // after the revert that started it.
    let created = Arc::new(Mutex::new(std::collections::HashMap::new()));
    mock!(aws_sdk_eks::Client::describe_update)
        .match_requests(|r| r.update_id() != Some(EVENT_UPDATE_ID))
        .then_compute_output(move |r| {
            let id = r.update_id().unwrap_or_default().to_string();
            let now = aws_sdk_eks::primitives::DateTime::from(std::time::SystemTime::now());
            let mut created = created.lock().unwrap();
            let first = !created.contains_key(&id);
            let created_at = *created.entry(id.clone()).or_insert(now);
            let status = if first {
                UpdateStatus::InProgress
            } else {
                ending(&id)
            };
            let mut builder = Update::builder()
                .id(&id)
                .status(status.clone())
                .created_at(created_at);
            if matches!(status, UpdateStatus::Failed | UpdateStatus::Cancelled) {
                builder = builder.errors(
                    aws_sdk_eks::types::ErrorDetail::builder()
                        .error_code(aws_sdk_eks::types::ErrorCode::AccessDenied)
                        .error_message("The cluster role is not allowed to update the endpoint")
                        .build(),
                );
            }
            DescribeUpdateOutput::builder()
                .update(builder.build())
                .build()
        })
}

/// EKS accepts the revert and the update then ends `Failed`: the endpoint is
/// still open. A second alert says so with EKS's errors, and the invocation
/// fails so that Lambda retries it; the retry reverts again, under a new token
/// (EKS would answer the spent one with the failed update).
#[tokio::test]
async fn a_revert_that_ends_failed_is_alerted_fails_and_the_retry_reverts_again() {
    let tokens = Arc::new(Mutex::new(Vec::<String>::new()));
    let revert = {
        let tokens = tokens.clone();
        mock!(aws_sdk_eks::Client::update_cluster_config).then_compute_output(move |r| {
            let token = r.client_request_token().unwrap_or_default().to_string();
            let mut tokens = tokens.lock().unwrap();
            // EKS's idempotency: a known token answers with its own update.
            let n = match tokens.iter().position(|t| *t == token) {
                Some(n) => n,
                None => {
                    tokens.push(token);
                    tokens.len() - 1
                }
            };
            started(&format!("revert-{n}"))
        })
    };
    let (event_update, describe_cluster) = (event_update_finished(), open_cluster());
    let eks_updates = reverts_end(|id| {
        if id == "revert-0" {
            UpdateStatus::Failed
        } else {
            UpdateStatus::Successful
        }
    });
    let (guard, inbox) = guard_with(
        config(&[]),
        &[&event_update, &describe_cluster, &revert, &eks_updates],
    );

    let err = error_from(&guard, OPEN_EVENT).await;
    assert_eq!(err.error_type(), "RevertFailed");
    let message = err.to_string();
    assert!(
        message.contains("revert-0") && message.contains("still open"),
        "{message}"
    );
    assert!(message.contains("AccessDenied"), "{message}");
    let outcomes: Vec<Value> = inbox
        .findings()
        .iter()
        .map(|f| f["outcome"].clone())
        .collect();
    assert_eq!(
        outcomes,
        vec!["reverted", "revert-failed"],
        "started, then failed"
    );
    let failed = &inbox.findings()[1];
    assert_eq!(failed["action"]["errors"][0]["code"], "AccessDenied");
    assert!(inbox.0.lock().unwrap()[1].0.contains("REVERT FAILED"));

    // Lambda's retry: the same token is spent (its update failed), so the
    // next one in the chain starts a new update, which succeeds.
    let (event_update, describe_cluster) = (event_update_finished(), open_cluster());
    let (retry, retry_inbox) = guard_with(
        config(&[]),
        &[&event_update, &describe_cluster, &revert, &eks_updates],
    );
    let answer = answer_to(&retry, OPEN_EVENT).await;
    assert_eq!(answer["outcome"], "reverted");
    assert_eq!(answer["updateId"], "revert-1", "{answer}");
    assert_eq!(answer["revertConfirmed"], true);
    assert_eq!(
        tokens.lock().unwrap().len(),
        2,
        "one new update, not one per attempt"
    );
    assert_eq!(retry_inbox.findings().len(), 1);
}

/// A revert still running when the deadline comes fails the invocation with
/// an error that says so (after the alert that it started).
#[tokio::test]
async fn a_revert_still_running_at_the_deadline_fails_saying_so() {
    let (event_update, describe_cluster) = (event_update_finished(), open_cluster());
    let running = mock!(aws_sdk_eks::Client::describe_update)
        .match_requests(|r| r.update_id() == Some("revert-9"))
        .then_output(|| update("revert-9", UpdateStatus::InProgress));
    let revert = revert_starts("revert-9");
    let (guard, inbox) = guard_with(
        config(&[]),
        &[&event_update, &running, &describe_cluster, &revert],
    );

    let err = run(&guard, OPEN_EVENT, Duration::from_secs(1))
        .await
        .unwrap_err();

    assert_eq!(err.error_type(), "DeadlineExceeded");
    assert!(
        err.to_string()
            .contains("revert (update revert-9) is still InProgress"),
        "{err}"
    );
    assert!(running.num_calls() > 2, "followed the revert");
    assert_eq!(inbox.findings().len(), 1, "the start was alerted");
}

fn in_use() -> UpdateClusterConfigError {
    UpdateClusterConfigError::ResourceInUseException(
        ResourceInUseException::builder()
            .message("Cannot EndpointAccessUpdate because cluster prod-eu currently has update 7f0c in progress")
            .build(),
    )
}

/// EKS refuses the revert with `ResourceInUseException` while no update is
/// listed (AWS's own work, or `ListUpdates` lagging): the guard pauses before
/// every retry and stays at about 2 EKS calls per second for the cluster,
/// whatever EKS answers, then reverts once the lock lifts.
#[tokio::test]
async fn refusals_with_no_update_listed_are_retried_at_about_two_calls_a_second() {
    let (event_update, describe_cluster) = (event_update_finished(), open_cluster());
    let list_updates = mock!(aws_sdk_eks::Client::list_updates).then_output(|| {
        ListUpdatesOutput::builder()
            .update_ids(EVENT_UPDATE_ID)
            .build()
    });
    let calls = Arc::new(Mutex::new(Vec::<std::time::Instant>::new()));
    let lifted_after = Duration::from_secs(3);
    let started_at = std::time::Instant::now();
    let revert = {
        let calls = calls.clone();
        mock!(aws_sdk_eks::Client::update_cluster_config).then_compute_response(move |_| {
            calls.lock().unwrap().push(std::time::Instant::now());
            if started_at.elapsed() < lifted_after {
                aws_smithy_mocks::MockResponse::Error(in_use())
            } else {
                aws_smithy_mocks::MockResponse::Output(started("revert-10"))
            }
        })
    };
    // The real pace: 2 calls per second per cluster.
    let (guard, inbox) = guard_with(
        config(&[("GUARD_EKS_CALLS_PER_SECOND", "2")]),
        &[&event_update, &describe_cluster, &list_updates, &revert],
    );

    let answer = run(&guard, OPEN_EVENT, Duration::from_secs(20))
        .await
        .unwrap();

    assert_eq!(answer["outcome"], "reverted");
    let elapsed = started_at.elapsed().as_secs_f64();
    let eks_calls = describe_cluster.num_calls()
        + list_updates.num_calls()
        + revert.num_calls()
        + event_update.num_calls();
    // Bucket: a burst of 2, then 2 a second (and the revert's own follow-up).
    assert!(
        (eks_calls as f64) <= 2.0 + 2.0 * elapsed + 2.0,
        "{eks_calls} EKS calls in {elapsed:.1} s"
    );
    assert!(revert.num_calls() >= 2, "refused, then retried");
    let gaps: Vec<f64> = calls
        .lock()
        .unwrap()
        .windows(2)
        .map(|w| (w[1] - w[0]).as_secs_f64())
        .collect();
    assert!(
        gaps.iter().all(|g| *g >= 0.4),
        "a pause before every retry: {gaps:?}"
    );
    assert_eq!(inbox.findings().len(), 1);
}

/// A guard without a remediation role, or for another region, never reads or
/// changes a same-named cluster where it runs: it alerts that the change
/// could not be handled and fails naming what to configure.
#[tokio::test]
async fn a_change_out_of_reach_is_alerted_and_fails_before_any_eks_call() {
    let (event_update, describe_cluster) = (event_update_finished(), open_cluster());
    let revert = revert_starts("no");
    let cases = [
        (
            "arn:aws:lambda:eu-west-1:999988887777:function:guard",
            "REMEDIATION_ROLE_NAME",
        ),
        (
            "arn:aws:lambda:us-east-1:111122223333:function:guard",
            "GUARD_REGIONS",
        ),
    ];
    for (function_arn, what_to_set) in cases {
        let (guard, inbox) = guard_with(config(&[]), &[&event_update, &describe_cluster, &revert]);
        let payload: Value = serde_json::from_str(OPEN_EVENT).unwrap();
        let invocation = Invocation::new(Deadline::after(Duration::from_secs(10)), function_arn);
        let err = guard.handle(&payload, &invocation).await.unwrap_err();
        assert_eq!(err.error_type(), "OutOfReach");
        assert!(err.to_string().contains(what_to_set), "{err}");
        let findings = inbox.findings();
        assert_eq!(findings.len(), 1);
        assert_eq!(findings[0]["outcome"], "not-handled");
        assert_eq!(findings[0]["cluster"]["account"], "111122223333");
        assert_eq!(findings[0]["cluster"]["region"], "eu-west-1");
    }
    assert_eq!(
        event_update.num_calls() + describe_cluster.num_calls() + revert.num_calls(),
        0,
        "no EKS call at all"
    );
    // Listed in GUARD_REGIONS, the other region's change is handled there.
    let (guard, _inbox) = guard_with(
        config(&[("GUARD_REGIONS", "eu-west-1")]),
        &[&event_update, &describe_cluster, &revert],
    );
    let payload: Value = serde_json::from_str(OPEN_EVENT).unwrap();
    let invocation = Invocation::new(Deadline::after(Duration::from_secs(10)), cases[1].0);
    let answer = guard.handle(&payload, &invocation).await.unwrap();
    assert_eq!(answer.outcome.label(), "reverted");
}

/// Unreadable requested settings are advisory: the cluster's real state is
/// judged and reverted, and the alert says the request could not be read.
#[tokio::test]
async fn unreadable_requested_settings_do_not_stop_the_judgement() {
    let (event_update, describe_cluster) = (event_update_finished(), open_cluster());
    let revert = revert_starts("revert-11");
    let (guard, inbox) = guard_with(config(&[]), &[&event_update, &describe_cluster, &revert]);

    let answer = answer_to(
        &guard,
        include_str!("../events/updateclusterconfig-unreadable-params.json"),
    )
    .await;

    assert_eq!(answer["outcome"], "reverted");
    let finding = &inbox.findings()[0];
    assert_eq!(finding["requested"], Value::Null);
    assert!(
        finding["requestedUnreadable"]
            .as_str()
            .unwrap()
            .contains("PublicAccessCidrs"),
        "{finding}"
    );
}

/// Before the revert the guard keeps time for the revert's call and the
/// alert (each up to its time-out), not a fixed margin.
#[tokio::test]
async fn the_revert_keeps_time_for_its_call_and_the_alert() {
    let (event_update, describe_cluster) = (event_update_finished(), open_cluster());
    let revert = revert_starts("revert-12");
    // Calls of up to 3 x 1 s: a revert needs 6 s and the answer's margin.
    let slow_calls = config(&[("GUARD_CALL_TIMEOUT_SECONDS", "1")]);
    let (guard, inbox) = guard_with(
        slow_calls.clone(),
        &[&event_update, &describe_cluster, &revert],
    );
    let err = run(&guard, OPEN_EVENT, Duration::from_secs(5))
        .await
        .unwrap_err();
    assert_eq!(err.error_type(), "DeadlineExceeded");
    assert!(err.to_string().contains("no time left to revert"), "{err}");
    assert_eq!(revert.num_calls(), 0);
    assert!(inbox.findings().is_empty());

    let (guard, _inbox) = guard_with(slow_calls, &[&event_update, &describe_cluster, &revert]);
    let answer = run(&guard, OPEN_EVENT, Duration::from_secs(8))
        .await
        .unwrap();
    assert_eq!(answer["outcome"], "reverted");
}

/// The exemption is taken off but the cluster cannot be read: the change
/// is alerted, and the invocation fails so that Lambda's retry judges it.
#[tokio::test]
async fn an_exemption_removed_from_an_unreadable_cluster_fails_the_invocation() {
    let describe_cluster = mock!(aws_sdk_eks::Client::describe_cluster)
        .sequence()
        .http_status(
            403,
            Some(r#"{"__type":"AccessDeniedException","message":"not authorized to perform eks:DescribeCluster"}"#.into()),
        )
        .build();
    let (guard, inbox) = guard_with(config(&[]), &[&describe_cluster]);

    let err = error_from(
        &guard,
        include_str!("../events/untagresource-exempt-removed.json"),
    )
    .await;

    assert_eq!(err.error_type(), "EksError");
    assert!(err.to_string().contains("DescribeCluster"), "{err}");
    assert_eq!(inbox.findings()[0]["outcome"], "exemption-revoked");
}

// Exemptions that end: the exempt tag's value is `true` or an end.

const EXEMPT_TAG: &str = "eks-endpoint-guard/exempt";

/// RFC 3339 in UTC, `seconds` from now (negative: ago).
fn from_now(seconds: i64) -> String {
    policy::rfc3339(epoch_seconds() + seconds)
}

/// The cluster is ACTIVE, open to the internet, and carries the exempt tag
/// with `value`.
fn open_cluster_tagged(value: &str) -> Rule {
    mocks::open_cluster(&["0.0.0.0/0"], &[(EXEMPT_TAG, value)])
}

/// An event on a cluster whose exempt tag is `value`: the answer, how many
/// reverts were sent, and the findings.
async fn opened_with_exempt_tag(value: &str, extra: &[(&str, &str)]) -> (Value, usize, Vec<Value>) {
    let describe_update = event_update_finished();
    let describe_cluster = open_cluster_tagged(value);
    let revert = revert_starts("revert-x");
    let (guard, inbox) = guard_with(
        config(extra),
        &[&describe_update, &describe_cluster, &revert],
    );
    let answer = answer_to(&guard, OPEN_EVENT).await;
    (answer, revert.num_calls(), inbox.findings())
}

fn description(finding: &Value) -> &str {
    finding["action"]["description"]
        .as_str()
        .unwrap_or_default()
}

#[tokio::test]
async fn an_exemption_until_a_future_end_is_reported_never_changed() {
    let end = from_now(86_400);
    let (answer, reverts, findings) = opened_with_exempt_tag(&end, &[]).await;

    assert_eq!(answer["outcome"], "exempt");
    assert_eq!(reverts, 0);
    assert_eq!(findings.len(), 1);
    assert_eq!(findings[0]["outcome"], "exempt");
    assert_eq!(findings[0]["exemption"]["state"], "until");
    assert_eq!(findings[0]["exemption"]["end"], end.as_str());
    assert!(
        description(&findings[0]).ends_with(&format!("Exempt until {end}.")),
        "{}",
        description(&findings[0])
    );
}

#[tokio::test]
async fn an_ended_exemption_is_reverted_and_the_alert_says_it_ended() {
    let end = from_now(-3600);
    let (answer, reverts, findings) = opened_with_exempt_tag(&end, &[]).await;

    assert_eq!(answer["outcome"], "reverted");
    assert_eq!(reverts, 1);
    assert_eq!(findings.len(), 1);
    assert_eq!(findings[0]["outcome"], "reverted");
    assert_eq!(findings[0]["exemption"]["state"], "ended");
    assert_eq!(findings[0]["exemption"]["value"], end.as_str());
    assert!(
        description(&findings[0]).contains(&format!(
            "The exemption ended on {end}: the cluster is judged like any other."
        )),
        "{}",
        description(&findings[0])
    );
}

#[tokio::test]
async fn an_end_too_far_ahead_is_reverted_and_the_alert_says_why() {
    let (answer, reverts, findings) = opened_with_exempt_tag("2099-12-31", &[]).await;

    assert_eq!(answer["outcome"], "reverted");
    assert_eq!(reverts, 1);
    assert_eq!(findings[0]["exemption"]["state"], "too-far");
    assert_eq!(findings[0]["exemption"]["end"], "2100-01-01T00:00:00Z");
    let said = description(&findings[0]);
    assert!(
        said.contains("2100-01-01T00:00:00Z is more than 30 days ahead (MAX_EXEMPTION_DAYS)")
            && said.contains("not honoured"),
        "{said}"
    );

    // Without a limit the same end exempts.
    let (answer, reverts, _) =
        opened_with_exempt_tag("2099-12-31", &[("MAX_EXEMPTION_DAYS", "0")]).await;
    assert_eq!(answer["outcome"], "exempt");
    assert_eq!(reverts, 0);
    // A tighter limit refuses a nearer end.
    let (answer, reverts, findings) =
        opened_with_exempt_tag(&from_now(3 * 86_400), &[("MAX_EXEMPTION_DAYS", "2")]).await;
    assert_eq!(answer["outcome"], "reverted");
    assert_eq!(reverts, 1);
    assert!(description(&findings[0]).contains("more than 2 days ahead"));
}

#[tokio::test]
async fn a_value_not_understood_is_reverted_and_the_alert_says_so() {
    for value in ["yes", "1", "2026-12-24T18:00:00"] {
        let (answer, reverts, findings) = opened_with_exempt_tag(value, &[]).await;

        assert_eq!(answer["outcome"], "reverted", "{value}");
        assert_eq!(reverts, 1, "{value}");
        assert_eq!(findings[0]["exemption"]["state"], "not-understood");
        let said = description(&findings[0]);
        assert!(
            said.contains(&format!(
                "The exempt tag's value `{value}` was not understood"
            )),
            "{said}"
        );
    }
    // `false` is no exemption and needs no sentence.
    let (answer, reverts, findings) = opened_with_exempt_tag("false", &[]).await;
    assert_eq!(answer["outcome"], "reverted");
    assert_eq!(reverts, 1);
    assert_eq!(findings[0]["exemption"]["state"], "none");
    assert!(!description(&findings[0]).contains("xempt"));
}

/// The tamper alert for `TagResource` states the end it read, in the
/// description, the finding and the email; nothing is judged or changed.
#[tokio::test]
async fn the_tamper_alert_states_the_end_it_read() {
    let end = from_now(2 * 86_400);
    let event = include_str!("../events/tagresource-exempt-until.json")
        .replace("2026-12-24T18:00:00Z", &end);
    let describe_cluster = open_cluster_tagged(&end);
    let revert = revert_starts("no");
    let (guard, inbox) = guard_with(config(&[]), &[&describe_cluster, &revert]);

    let answer = answer_to(&guard, &event).await;

    assert_eq!(answer["outcome"], "exemption-granted");
    assert_eq!(revert.num_calls(), 0);
    let findings = inbox.findings();
    assert_eq!(findings.len(), 1);
    assert_eq!(findings[0]["exemption"]["state"], "until");
    assert_eq!(findings[0]["exemption"]["end"], end.as_str());
    assert!(
        description(&findings[0]).contains(&format!(
            "exempt tag {EXEMPT_TAG}={end} put on the cluster: exempt until {end}"
        )),
        "{}",
        description(&findings[0])
    );
    let (subject, message) = inbox.0.lock().unwrap()[0].clone();
    assert!(subject.contains("Exemption GRANTED"), "{subject}");
    let views: Value = serde_json::from_str(&message).unwrap();
    assert!(views["email"].as_str().unwrap().contains(&format!(
        "Exemption:    {EXEMPT_TAG}={end}: exempt until {end}"
    )));
}

/// A tag put on with an end already past, too far ahead, or a value not
/// understood: the tamper alert says why it does not count, then the cluster
/// is judged and reverted, and that alert says why too.
#[tokio::test]
async fn a_tag_that_does_not_exempt_is_alerted_then_the_cluster_reverted() {
    let cases = [
        (
            "tagresource-exempt-too-far.json",
            include_str!("../events/tagresource-exempt-too-far.json"),
            "2099-12-31",
            "is more than 30 days ahead",
            "too-far",
        ),
        (
            "tagresource-exempt-ended.json",
            include_str!("../events/tagresource-exempt-ended.json"),
            "2026-11-01T00:00:00Z",
            "2026-11-01T00:00:00Z has already passed",
            "ended",
        ),
        (
            "tagresource-exempt-not-understood.json",
            include_str!("../events/tagresource-exempt-not-understood.json"),
            "yes",
            "`yes` was not understood",
            "not-understood",
        ),
    ];
    for (file, event, value, why, state) in cases {
        let describe_cluster = open_cluster_tagged(value);
        let revert = revert_starts("revert-8");
        let (guard, inbox) = guard_with(config(&[]), &[&describe_cluster, &revert]);

        let answer = answer_to(&guard, event).await;

        assert_eq!(answer["outcome"], "exemption-revoked", "{file}");
        assert_eq!(answer["then"], "reverted", "{file}");
        assert_eq!(revert.num_calls(), 1, "{file}");
        let findings = inbox.findings();
        let outcomes: Vec<&Value> = findings.iter().map(|f| &f["outcome"]).collect();
        assert_eq!(outcomes, ["exemption-revoked", "reverted"], "{file}");
        assert!(
            description(&findings[0]).contains("but it does not exempt")
                && description(&findings[0]).contains(why),
            "{file}: {}",
            description(&findings[0])
        );
        assert!(
            inbox.0.lock().unwrap()[0]
                .0
                .contains("Exemption NOT honoured"),
            "{file}"
        );
        assert_eq!(findings[1]["exemption"]["state"], state, "{file}");
        assert!(
            description(&findings[1]).contains("the cluster is judged like any other"),
            "{file}: {}",
            description(&findings[1])
        );
    }
}

/// The sweep's payload (`events/scheduled-sweep.json`) over two open
/// clusters: the one whose exemption ended is reverted and alerted, saying
/// so; the one still exempt is left alone without an alert.
#[tokio::test]
async fn the_sweep_reverts_a_cluster_whose_exemption_ended() {
    let ended = from_now(-60);
    let still = from_now(86_400);
    let list_clusters = mock!(aws_sdk_eks::Client::list_clusters).then_output(|| {
        aws_sdk_eks::operation::list_clusters::ListClustersOutput::builder()
            .clusters("prod-eu")
            .clusters("still-exempt")
            .build()
    });
    let describe_cluster = {
        let (ended, still) = (ended.clone(), still.clone());
        mock!(aws_sdk_eks::Client::describe_cluster).then_compute_output(move |r| {
            let name = r.name().unwrap_or_default();
            let value = if name == "prod-eu" { &ended } else { &still };
            let mut c = cluster(
                ClusterStatus::Active,
                true,
                &["0.0.0.0/0"],
                &[(EXEMPT_TAG, value)],
            );
            c.name = Some(name.to_string());
            c.arn = Some(format!("arn:aws:eks:eu-west-1:111122223333:cluster/{name}"));
            described(c)
        })
    };
    let revert = mock!(aws_sdk_eks::Client::update_cluster_config)
        .match_requests(|r| r.name() == Some("prod-eu"))
        .then_output(|| started("revert-sweep"));
    let (guard, inbox) = guard_with(config(&[]), &[&list_clusters, &describe_cluster, &revert]);

    let answer = run(
        &guard,
        include_str!("../events/scheduled-sweep.json"),
        Duration::from_secs(30),
    )
    .await
    .unwrap();

    assert_eq!(answer["outcome"], "swept", "{answer}");
    assert_eq!(answer["sweep"]["seen"], 2);
    assert_eq!(answer["sweep"]["reverted"], 1, "{answer}");
    assert_eq!(answer["sweep"]["exempt"], 1, "{answer}");
    assert_eq!(revert.num_calls(), 1);
    let findings = inbox.findings();
    assert_eq!(findings.len(), 1, "the exempt cluster is not alerted");
    assert_eq!(findings[0]["cluster"]["name"], "prod-eu");
    assert_eq!(findings[0]["outcome"], "reverted");
    assert_eq!(findings[0]["trigger"]["source"], "sweep");
    assert_eq!(findings[0]["exemption"]["state"], "ended");
    assert!(
        description(&findings[0]).contains(&format!("The exemption ended on {ended}")),
        "{}",
        description(&findings[0])
    );
}

/// SNS refuses one finding of a sweep's `PublishBatch`: the summary still
/// goes to people, and the invocation fails naming the cluster whose
/// finding machines did not get (Lambda runs the sweep again).
#[tokio::test]
async fn a_sweep_finding_sns_refuses_fails_the_invocation_naming_it() {
    let list_clusters = mock!(aws_sdk_eks::Client::list_clusters).then_output(|| {
        aws_sdk_eks::operation::list_clusters::ListClustersOutput::builder()
            .clusters("prod-eu")
            .build()
    });
    let describe_cluster = mocks::open_cluster(&["0.0.0.0/0"], &[]);
    let revert = mocks::revert_starts("revert-sweep");
    let inbox = Inbox::default();
    let publish = inbox.rule();
    let refused = mock!(aws_sdk_sns::Client::publish_batch).then_output(|| {
        PublishBatchOutput::builder()
            .failed(
                aws_sdk_sns::types::BatchResultErrorEntry::builder()
                    .id("0")
                    .code("KMSAccessDenied")
                    .sender_fault(false)
                    .build()
                    .unwrap(),
            )
            .build()
    });
    let (reverts, history) = (reverts_run(), mocks::no_updates());
    let eks = eks_client(&[
        &list_clusters,
        &describe_cluster,
        &revert,
        &reverts,
        &history,
    ]);
    let guard = Guard::new(config(&[]), eks, sns_client(&[&publish, &refused]));

    let error = run(
        &guard,
        include_str!("../events/scheduled-sweep.json"),
        Duration::from_secs(30),
    )
    .await
    .expect_err("a finding not sent fails the sweep");

    let text = error.to_string();
    assert!(
        text.contains("0 of 1 findings sent to machines")
            && text.contains("111122223333/eu-west-1/prod-eu: KMSAccessDenied"),
        "{text}"
    );
    assert_eq!(refused.num_calls(), 1);
    let sent = inbox.0.lock().unwrap().clone();
    assert_eq!(sent.len(), 1, "the summary still went to people");
    assert!(
        sent[0]
            .0
            .starts_with("[EKS guard] Sweep: 1 public endpoint(s)"),
        "{}",
        sent[0].0
    );
}

/// Repeat openings: the alert counts, from the cluster's own update history,
/// the endpoint-access updates that opened it in the last 24 hours and 7 days.
#[tokio::test]
async fn the_alert_says_how_often_the_endpoint_was_opened_lately() {
    let now = std::time::SystemTime::now();
    let opened = move |id: &'static str, hours_ago: u64| {
        let at = now - Duration::from_secs(hours_ago * 3600);
        DescribeUpdateOutput::builder()
            .update(
                Update::builder()
                    .id(id)
                    .status(UpdateStatus::Successful)
                    .r#type(aws_sdk_eks::types::UpdateType::EndpointAccessUpdate)
                    .params(
                        aws_sdk_eks::types::UpdateParam::builder()
                            .r#type(aws_sdk_eks::types::UpdateParamType::EndpointPublicAccess)
                            .value("true")
                            .build(),
                    )
                    .created_at(aws_sdk_eks::primitives::DateTime::from(at))
                    .build(),
            )
            .build()
    };
    let recent = mock!(aws_sdk_eks::Client::describe_update)
        .match_requests(|r| r.update_id() == Some("opened-1h"))
        .then_output(move || opened("opened-1h", 1));
    let older = mock!(aws_sdk_eks::Client::describe_update)
        .match_requests(|r| r.update_id() == Some("opened-30h"))
        .then_output(move || opened("opened-30h", 30));
    let list_updates = mock!(aws_sdk_eks::Client::list_updates).then_output(|| {
        ListUpdatesOutput::builder()
            .update_ids("opened-30h")
            .update_ids("opened-1h")
            .build()
    });
    let (event_update, describe_cluster) = (event_update_finished(), open_cluster());
    let revert = revert_starts("revert-13");
    let (guard, inbox) = guard_with(
        config(&[]),
        &[
            &recent,
            &older,
            &list_updates,
            &event_update,
            &describe_cluster,
            &revert,
        ],
    );

    let answer = answer_to(&guard, OPEN_EVENT).await;

    assert_eq!(answer["outcome"], "reverted");
    let finding = &inbox.findings()[0];
    assert_eq!(finding["history"]["openedLast24h"], 1, "{finding}");
    assert_eq!(finding["history"]["openedLast7d"], 2);
    let email = inbox.0.lock().unwrap()[0].1.clone();
    assert!(
        email.contains("opened once in the last 24 hours, 2 times in the last 7 days"),
        "{email}"
    );
}
