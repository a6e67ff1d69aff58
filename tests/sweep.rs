//! The scheduled sweep against the EKS double holding clusters in every state.

mod common;

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use common::{Stage, finding_of, private_cluster, sweep, sweep_event};
use eks_endpoint_guard::config::Config;
use eks_endpoint_guard::guard::{Deadline, Guard, Invocation};
use guard_testkit::eks::{
    ClusterSpec, ClusterStatus, EksDouble, EksOptions, EndpointChange, Finish, UpdateBehaviour,
    UpdateEnd, UpdateError, UpdateErrorCode,
};
use serde_json::Value;

const ALLOWED: &str = "203.0.113.0/24";

/// The kinds of cluster a real account holds, and what the sweep must do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Private,
    NarrowPublic,
    OpenPublic,
    Widened,
    Exempt,
    Creating,
    Updating,
}

const KINDS: [Kind; 7] = [
    Kind::Private,
    Kind::NarrowPublic,
    Kind::OpenPublic,
    Kind::Widened,
    Kind::Exempt,
    Kind::Creating,
    Kind::Updating,
];

/// Seeds `count` clusters, cycling through the kinds; returns (name, kind).
fn seed(eks: &EksDouble, count: usize) -> Vec<(String, Kind)> {
    (0..count)
        .map(|i| {
            let kind = KINDS[i % KINDS.len()];
            let name = format!("c{i:03}-{kind:?}").to_lowercase();
            let spec = ClusterSpec::new(&name);
            let spec = match kind {
                Kind::Private => private_cluster(&name),
                Kind::NarrowPublic => spec.cidrs([ALLOWED]),
                Kind::OpenPublic => spec,
                Kind::Widened => spec.cidrs([ALLOWED, "0.0.0.0/0"]),
                Kind::Exempt => spec.tag("eks-endpoint-guard/exempt", "true"),
                Kind::Creating => spec.status(ClusterStatus::Creating),
                Kind::Updating => spec,
            };
            eks.add_cluster(spec);
            if kind == Kind::Updating {
                // Someone's update runs; the cluster stays ACTIVE meanwhile.
                eks.start_update(
                    &name,
                    EndpointChange {
                        public: None,
                        private: Some(true),
                        cidrs: None,
                    },
                    UpdateBehaviour::staying_active(Finish::Manual),
                );
            }
            (name, kind)
        })
        .collect()
}

fn names(clusters: &[(String, Kind)], kinds: &[Kind]) -> BTreeSet<String> {
    clusters
        .iter()
        .filter(|(_, k)| kinds.contains(k))
        .map(|(n, _)| n.clone())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sweep_reverts_exactly_the_non_compliant_clusters_and_leaves_busy_ones_pending() {
    let stage = Stage::start("sweep", EksOptions::default()).await;
    let eks = &stage.eks;
    let clusters = seed(eks, 200);
    let guard = stage.guard(&[("ALLOWED_PUBLIC_CIDRS", ALLOWED)]).await;

    // A long deadline: see `common::sweep`.
    let answer = sweep(&guard, &sweep_event()).await;

    assert_eq!(answer["outcome"], "swept", "{answer}");
    let summary = &answer["sweep"];
    let must_revert = names(&clusters, &[Kind::OpenPublic, Kind::Widened]);
    assert_eq!(
        changed(eks),
        must_revert,
        "exactly the non-compliant clusters"
    );
    // An open cluster with an update running is tried once and refused
    // (ResourceInUseException): that is how the sweep learns it is busy
    // without reading its history. A CREATING cluster is never tried.
    let tried: BTreeSet<String> = eks
        .requests_for("UpdateClusterConfig")
        .iter()
        .filter_map(|r| r.cluster.clone())
        .collect();
    let updating = names(&clusters, &[Kind::Updating]);
    assert_eq!(
        tried,
        must_revert.union(&updating).cloned().collect(),
        "tried: the open ones"
    );
    assert_eq!(
        eks.requests_for("UpdateClusterConfig").len(),
        tried.len(),
        "once each"
    );
    for request in eks.requests_for("UpdateClusterConfig") {
        let name = request.cluster.clone().unwrap();
        if updating.contains(&name) {
            continue;
        }
        let vpc = &request.body["resourcesVpcConfig"];
        if name.ends_with("widened") {
            assert_eq!(
                vpc,
                &serde_json::json!({"publicAccessCidrs": [ALLOWED]}),
                "{name}"
            );
        } else {
            assert_eq!(
                vpc,
                &serde_json::json!({"endpointPublicAccess": false, "endpointPrivateAccess": true}),
                "{name}"
            );
        }
    }

    assert_eq!(summary["seen"], 200);
    assert_eq!(summary["reverted"], must_revert.len());
    assert_eq!(summary["exempt"], names(&clusters, &[Kind::Exempt]).len());
    assert_eq!(
        summary["compliant"],
        names(&clusters, &[Kind::Private, Kind::NarrowPublic]).len()
    );
    let pending: BTreeSet<String> = summary["pending"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            let text = p.as_str().unwrap();
            // "<account>/<region>/<cluster>: <why>"
            let label = text.split_once(':').unwrap().0;
            label.rsplit('/').next().unwrap().to_string()
        })
        .collect();
    assert_eq!(pending, names(&clusters, &[Kind::Creating, Kind::Updating]));
    assert_eq!(summary["failed"], serde_json::json!([]));

    // One alert per revert, saying the sweep found it (no actor).
    let alerts = stage
        .alerts(must_revert.len(), Duration::from_secs(30))
        .await;
    assert_eq!(alerts.len(), must_revert.len());
    let alerted: BTreeSet<String> = alerts
        .iter()
        .map(|a| {
            let finding = finding_of(a);
            assert_eq!(finding["trigger"]["source"], "sweep");
            assert_eq!(finding["actor"]["principalArn"], Value::Null);
            finding["cluster"]["name"].as_str().unwrap().to_string()
        })
        .collect();
    assert_eq!(alerted, must_revert);

    let summaries = guard.log_records("sweep");
    assert_eq!(summaries.len(), 1, "one summary line per sweep");
}

/// A sweep that cannot finish in time reports what it did not reach as
/// pending and returns before the deadline; it never waits on or changes a
/// busy cluster.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sweep_stops_starting_clusters_before_the_deadline() {
    let stage = Stage::start(
        "sweep-deadline",
        EksOptions {
            latency: Duration::from_millis(20),
            ..EksOptions::default()
        },
    )
    .await;
    let eks = &stage.eks;
    let clusters = seed(eks, 200);
    let mut config = Config::from_lookup(|key| match key {
        "ALERT_TOPIC_ARN" => Some(stage.topic.clone()),
        "SWEEP_CONCURRENCY" => Some("4".to_string()),
        _ => None,
    })
    .unwrap();
    // What is measured here is the budget, not the per-cluster pacing.
    config.eks_calls_per_second = 100.0;
    config.deadline_margin = Duration::from_millis(200);
    let guard = Guard::new(
        config,
        aws_sdk_eks::Client::new(&eks.sdk_config()),
        aws_sdk_sns::Client::new(&stage.moto.sdk_config()),
    );
    let payload: Value = serde_json::from_slice(&sweep_event()).unwrap();

    let started = Instant::now();
    let deadline = Duration::from_millis(1500);
    let answer = guard
        .handle(&payload, &Invocation::until(Deadline::after(deadline)))
        .await
        .expect("a sweep with pending clusters succeeds");

    assert!(
        started.elapsed() < deadline,
        "ran past the deadline: {:?}",
        started.elapsed()
    );
    let summary = answer.sweep.expect("a sweep summary");
    assert_eq!(summary.seen, 200);
    let not_reached = summary
        .pending
        .iter()
        .filter(|p| p.contains("not reached"))
        .count();
    assert!(
        not_reached > 0,
        "200 clusters at 20 ms a call cannot all be judged in 1 s"
    );
    assert_eq!(
        summary.compliant + summary.reverted + summary.exempt + summary.pending.len(),
        200,
        "every cluster is accounted for: {summary:?}"
    );
    assert!(summary.failed.is_empty());
    // The double refuses any update on a busy cluster, so what is checked is
    // what the guard asked: nothing of a CREATING cluster, and of an open one
    // with an update running one try at most (refused: pending).
    let tries = |name: &String| {
        eks.requests_for("UpdateClusterConfig")
            .iter()
            .filter(|r| r.cluster.as_ref() == Some(name))
            .count()
    };
    for name in names(&clusters, &[Kind::Creating]) {
        assert_eq!(tries(&name), 0, "{name} is CREATING: never tried");
    }
    for name in names(&clusters, &[Kind::Updating]) {
        assert!(
            tries(&name) <= 1,
            "{name} has an update running: tried at most once"
        );
    }
}

/// The clusters that have an update the guard started.
fn changed(eks: &EksDouble) -> BTreeSet<String> {
    eks.clusters()
        .into_iter()
        .filter(|c| eks.updates(&c.name).iter().any(|u| u.started_through_api))
        .map(|c| c.name)
        .collect()
}

/// The sweep does not wait for its reverts; a later sweep that finds the last
/// attempt to close a cluster's endpoint ended `Failed` in the cluster's own
/// update history says so in its alert, with EKS's errors, and reverts again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_later_sweep_says_that_the_last_revert_failed() {
    let stage = Stage::start("sweep-failed-revert", EksOptions::default()).await;
    let eks = &stage.eks;
    eks.add_cluster(ClusterSpec::new("still-open"));
    let close = EndpointChange {
        public: Some(false),
        private: Some(true),
        cidrs: None,
    };
    let failed = eks.start_update(
        "still-open",
        close,
        UpdateBehaviour::staying_active(Finish::Manual),
    );
    assert!(eks.finish_update_with(
        "still-open",
        &failed,
        UpdateEnd::failed(vec![UpdateError::new(
            UpdateErrorCode::AccessDenied,
            "The cluster role may not change the endpoint",
        )]),
    ));
    let guard = stage.guard(&[]).await;

    let answer = sweep(&guard, &sweep_event()).await;

    assert_eq!(answer["sweep"]["reverted"], 1, "{answer}");
    let finding = stage.finding().await;
    let description = finding["action"]["description"].as_str().unwrap();
    for needle in [
        failed.as_str(),
        "ended Failed",
        "AccessDenied",
        "last attempt to close",
    ] {
        assert!(description.contains(needle), "{description} lacks {needle}");
    }
}
