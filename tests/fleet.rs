//! The fleet, through the compiled binary: every active account of an
//! organization in every guarded region, at a cost that does not grow with
//! the clusters' history, and waits longer than one invocation. Organizations,
//! STS, SNS and SQS from `moto_server`; EKS from the double, which tells
//! accounts apart by the signing key (resolved through moto's STS) and regions
//! by the signature's region; Lambda `Invoke` from the testkit's stand-in.

mod common;

use std::collections::BTreeSet;
use std::time::Duration;

use common::{
    GuardProcess, Stage, add_history, field, finding_of, function_arn, own_updates,
    private_cluster, sample, sweep, sweep_event,
};
use guard_testkit::eks::{ClusterSpec, EksOptions, EndpointChange, Finish, UpdateBehaviour};
use guard_testkit::moto;
use guard_testkit::runtime::Invocation;
use serde_json::Value;

const REGIONS: [&str; 2] = ["eu-west-1", "eu-central-1"];

/// A sweep of the organization: exactly the open clusters of active accounts,
/// in every guarded region, are reverted, each alert naming its account and
/// region; no role is assumed in a closed account or in the function's own.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_organization_sweep_reverts_open_clusters_of_active_accounts_in_every_region() {
    let own = moto::ACCOUNT.to_string();
    let stage = Stage::start(
        "fleet",
        EksOptions {
            account: own.clone(),
            ..EksOptions::default()
        },
    )
    .await;
    let (moto, eks) = (&stage.moto, &stage.eks);
    let organization = moto.organization(2, 1).await;
    assert_eq!(organization.management, own);
    eks.resolve_keys_through_sts(&moto.endpoint_url());
    let mut accounts = organization.active_accounts();
    accounts.extend(organization.closed.iter().cloned());
    for account in &accounts {
        for region in REGIONS {
            let here = eks.in_account(account).in_region(region);
            here.add_cluster(ClusterSpec::new("open").public(true));
            here.add_cluster(private_cluster("private"));
        }
    }
    // The function runs in the management account.
    let guard = stage
        .central_guard(&[
            ("AWS_ENDPOINT_URL_ORGANIZATIONS", &moto.endpoint_url()),
            ("SWEEP_ORGANIZATION", "true"),
            ("GUARD_REGIONS", REGIONS[1]),
        ])
        .await;
    let event = sample("scheduled-sweep.json", &[("111122223333", moto::ACCOUNT)]);

    let answer = sweep(&guard, &event).await;

    let active: BTreeSet<String> = organization.active_accounts().into_iter().collect();
    assert_eq!(answer["sweep"]["accounts"], active.len(), "{answer}");
    assert_eq!(answer["sweep"]["regions"], 2);
    assert_eq!(answer["sweep"]["reverted"], active.len() * 2, "{answer}");
    let mut expected = BTreeSet::new();
    for account in &active {
        for region in REGIONS {
            expected.insert((account.clone(), region.to_string()));
        }
    }
    // The sweep does not wait for its reverts: the requests say what it did.
    let reverted: BTreeSet<(String, String)> = eks
        .requests_for("UpdateClusterConfig")
        .iter()
        .map(|r| {
            assert_eq!(r.cluster.as_deref(), Some("open"));
            (
                r.account.clone(),
                r.signing_region.clone().unwrap_or_default(),
            )
        })
        .collect();
    assert_eq!(
        reverted, expected,
        "exactly the open clusters of active accounts"
    );
    let requests = eks.requests();
    assert!(
        requests
            .iter()
            .all(|r| !organization.closed.contains(&r.account)),
        "no call into a closed account"
    );
    for request in requests.iter().filter(|r| r.account == own) {
        assert_eq!(
            request.access_key_id.as_deref(),
            Some(guard_testkit::TEST_ACCESS_KEY_ID),
            "the function's own account is reached without assuming a role"
        );
    }
    let alerts = stage.alerts(expected.len(), Duration::from_secs(20)).await;
    let alerted: BTreeSet<(String, String)> = alerts
        .iter()
        .map(|a| {
            let finding = finding_of(a);
            assert_eq!(finding["cluster"]["name"], "open");
            (
                finding["cluster"]["account"].as_str().unwrap().to_string(),
                finding["cluster"]["region"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(alerted, expected);
}

/// Compliant clusters with years of finished updates cost one EKS call each
/// per sweep (`DescribeCluster`), however long their history.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sweep_over_long_histories_costs_at_most_two_calls_per_compliant_cluster() {
    let stage = Stage::start("history", EksOptions::default()).await;
    let eks = &stage.eks;
    let clusters = 40;
    for i in 0..clusters {
        let name = format!("old-{i:02}");
        eks.add_cluster(private_cluster(&name));
        add_history(eks, &name, 60);
    }
    let guard = stage.guard(&[]).await;

    for round in 1..=2 {
        let before = eks.requests().len();
        let answer = sweep(&guard, &sweep_event()).await;
        assert_eq!(answer["sweep"]["compliant"], clusters, "{answer}");
        let calls = eks.requests().len() - before;
        // ListClusters once, then the clusters.
        let per_cluster = (calls - 1) as f64 / clusters as f64;
        println!(
            "sweep {round}: {calls} EKS calls for {clusters} compliant clusters with 60 updates each ({per_cluster:.2} per cluster)"
        );
        assert!(
            per_cluster <= 2.0,
            "{per_cluster} calls per compliant cluster"
        );
    }
    assert!(eks.requests_for("DescribeUpdate").is_empty());
}

/// An open cluster with a long history is reverted first, one call after it
/// was read; its updates are read afterwards, for the alert, which still
/// counts the recent openings. The revert just sent is not read back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_open_cluster_is_reverted_before_its_history_is_read() {
    let stage = Stage::start("revert-first", EksOptions::default()).await;
    let eks = &stage.eks;
    let name = "open-old";
    eks.add_cluster(ClusterSpec::new(name));
    add_history(eks, name, 40);
    for _ in 0..2 {
        let id = eks.start_update(
            name,
            EndpointChange::open_to_internet(),
            UpdateBehaviour::staying_active(Finish::Manual),
        );
        assert!(eks.finish_update(name, &id));
    }
    let guard = stage.guard(&[]).await;

    let answer = sweep(&guard, &sweep_event()).await;

    assert_eq!(answer["sweep"]["reverted"], 1, "{answer}");
    let operations: Vec<&str> = eks
        .requests()
        .iter()
        .filter(|r| r.cluster.as_deref() == Some(name))
        .map(|r| r.operation)
        .collect();
    assert_eq!(
        operations[..2],
        ["DescribeCluster", "UpdateClusterConfig"],
        "{operations:?}"
    );
    assert_eq!(
        eks.requests_for("DescribeUpdate").len(),
        42 + 1,
        "every earlier update once, and the revert only once (its token check), not again for the history"
    );
    let alerts = stage.alerts(1, Duration::from_secs(30)).await;
    let finding = finding_of(&alerts[0]);
    assert_eq!(finding["history"]["openedLast24h"], 2, "{finding}");
}

/// A new cluster stays CREATING past the invocation's deadline: the guard
/// hands the event on to a fresh invocation of itself instead of failing,
/// and the fresh one reverts once the cluster is ACTIVE. No invocation fails.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_creation_longer_than_an_invocation_is_handed_on_and_reverted() {
    let stage = Stage::start(
        "hand-off",
        own_updates(Finish::After(Duration::from_millis(500))),
    )
    .await;
    let eks = &stage.eks;
    eks.add_cluster(ClusterSpec::new("my-cluster").creating_for(Duration::from_secs(5)));
    let deadline = Duration::from_secs(4);
    let guard = GuardProcess::start_handing_off(
        &function_arn("111122223333"),
        // Short calls, so that a 4 s invocation has time to wait.
        &stage.settings_with(&[("GUARD_CALL_TIMEOUT_SECONDS", "0.2")]),
        deadline,
    )
    .await;
    let created = sample(
        "createcluster-console-public.json",
        &[
            ("\"amazon-eks\"", "\"my-cluster\""),
            ("999999999999", "111122223333"),
            ("ap-northeast-2", "eu-west-1"),
        ],
    );

    let first = guard
        .invoke_with_deadline(&created, deadline)
        .await
        .expect_response();
    assert_eq!(first["outcome"], "handed-off", "{first}");

    // Each fresh invocation either hands on again or reverts; none fails.
    let mut hops = 0;
    let last = loop {
        hops += 1;
        assert!(hops <= 6, "too many hand-offs");
        let outcomes = guard
            .lambda()
            .wait_for_outcomes(hops, Duration::from_secs(30))
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let (payload, outcome) = outcomes.last().unwrap().clone();
        assert_eq!(
            payload["eks-endpoint-guard/hand-off"]["hop"], hops,
            "{payload}"
        );
        let Invocation::Response(answer) = outcome else {
            panic!("hand-off {hops} failed: {outcome:?}");
        };
        if answer["outcome"] != "handed-off" {
            break answer;
        }
    };
    assert_eq!(last["outcome"], "reverted", "{last}");
    assert_eq!(last["revertConfirmed"], true);
    assert!(!eks.cluster("my-cluster").unwrap().public);
    // One alert: the revert's start. A fresh invocation that finds the
    // revert it follows already told does not tell it again. Counted as the
    // guard's sends: with 0.2 s call time-outs a loaded moto can answer a
    // Publish late, and the SDK's retry then delivers it twice (SNS's
    // at-least-once), which is not the guard telling twice.
    assert_eq!(guard.log_records("alert sent").len(), 1);
    let alerts = stage.alerts(1, Duration::from_secs(3)).await;
    assert_eq!(
        finding_of(&alerts[0])["trigger"]["apiCall"],
        "CreateCluster"
    );
    let reads: Vec<Value> = guard.log_records("decision");
    assert!(
        reads.iter().any(|r| field(r, "action") == "handed-off"),
        "the hand-off is logged as a decision"
    );
}
