//! The fleet, through the compiled binary: every active account of an
//! organization in every guarded region, at a cost that does not grow with
//! the clusters' history, and waits longer than one invocation. Organizations,
//! STS, SNS and SQS from `moto_server`; EKS from the double, which tells
//! accounts apart by the signing key (resolved through moto's STS) and regions
//! by the signature's region; Lambda `Invoke` from the testkit's stand-in.

mod common;

use std::collections::BTreeSet;
use std::time::Duration;

use common::{GuardProcess, finding_of, sample};
use guard_testkit::eks::{
    ClusterSpec, EksDouble, EksOptions, EndpointChange, Finish, UpdateBehaviour,
};
use guard_testkit::moto::{self, Moto};
use guard_testkit::runtime::Invocation;
use serde_json::Value;

const REGIONS: [&str; 2] = ["eu-west-1", "eu-central-1"];

fn function_arn(account: &str) -> String {
    format!("arn:aws:lambda:eu-west-1:{account}:function:eks-endpoint-guard")
}

/// A sweep of the organization: exactly the open clusters of active accounts,
/// in every guarded region, are reverted, each alert naming its account and
/// region; no role is assumed in a closed account or in the function's own.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_organization_sweep_reverts_open_clusters_of_active_accounts_in_every_region() {
    let moto = Moto::start().await.expect("moto_server");
    let organization = moto.organization(2, 1).await;
    let own = moto::ACCOUNT.to_string();
    assert_eq!(organization.management, own);
    let (topic, inbox) = moto.topic_with_inbox("fleet").await;
    let eks = EksDouble::start(EksOptions {
        account: own.clone(),
        ..EksOptions::default()
    })
    .await
    .expect("EKS double");
    eks.resolve_keys_through_sts(&moto.endpoint_url());
    let mut accounts = organization.active_accounts();
    accounts.extend(organization.closed.iter().cloned());
    for account in &accounts {
        for region in REGIONS {
            let here = eks.in_account(account).in_region(region);
            here.add_cluster(ClusterSpec::new("open").public(true));
            here.add_cluster(ClusterSpec::new("private").public(false).private(true));
        }
    }
    let guard = GuardProcess::start_as(
        &function_arn(&own),
        &[
            ("ALERT_TOPIC_ARN", topic),
            ("AWS_ENDPOINT_URL_SNS", moto.endpoint_url()),
            ("AWS_ENDPOINT_URL_STS", moto.endpoint_url()),
            ("AWS_ENDPOINT_URL_ORGANIZATIONS", moto.endpoint_url()),
            ("AWS_ENDPOINT_URL_EKS", eks.endpoint_url()),
            (
                "REMEDIATION_ROLE_NAME",
                "eks-endpoint-guard-remediation".into(),
            ),
            ("SWEEP_ORGANIZATION", "true".into()),
            ("GUARD_REGIONS", REGIONS[1].into()),
        ],
    )
    .await;
    let sweep = sample("scheduled-sweep.json", &[("111122223333", moto::ACCOUNT)]);

    let answer = guard
        .invoke_with_deadline(&sweep, Duration::from_secs(900))
        .await
        .expect_response();

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
    let alerts = moto
        .receive(&inbox, expected.len(), Duration::from_secs(20))
        .await;
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
    let moto = Moto::start().await.expect("moto_server");
    let (topic, _inbox) = moto.topic_with_inbox("history").await;
    let eks = EksDouble::start(EksOptions::default())
        .await
        .expect("EKS double");
    let clusters = 40;
    for i in 0..clusters {
        let name = format!("old-{i:02}");
        eks.add_cluster(ClusterSpec::new(&name).public(false).private(true));
        for _ in 0..60 {
            let id = eks.start_other_update(
                &name,
                "VersionUpdate",
                UpdateBehaviour::staying_active(Finish::Manual),
            );
            assert!(eks.finish_update(&name, &id));
        }
    }
    let guard = GuardProcess::start(&[
        ("ALERT_TOPIC_ARN", topic),
        ("AWS_ENDPOINT_URL_SNS", moto.endpoint_url()),
        ("AWS_ENDPOINT_URL_EKS", eks.endpoint_url()),
    ])
    .await;

    for sweep in 1..=2 {
        let before = eks.requests().len();
        let answer = guard
            .invoke_with_deadline(
                &sample("scheduled-sweep.json", &[]),
                Duration::from_secs(900),
            )
            .await
            .expect_response();
        assert_eq!(answer["sweep"]["compliant"], clusters, "{answer}");
        let calls = eks.requests().len() - before;
        // ListClusters once, then the clusters.
        let per_cluster = (calls - 1) as f64 / clusters as f64;
        println!(
            "sweep {sweep}: {calls} EKS calls for {clusters} compliant clusters with 60 updates each ({per_cluster:.2} per cluster)"
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
    let moto = Moto::start().await.expect("moto_server");
    let (topic, inbox) = moto.topic_with_inbox("revert-first").await;
    let eks = EksDouble::start(EksOptions::default())
        .await
        .expect("EKS double");
    let name = "open-old";
    eks.add_cluster(ClusterSpec::new(name));
    for _ in 0..40 {
        let id = eks.start_other_update(
            name,
            "VersionUpdate",
            UpdateBehaviour::staying_active(Finish::Manual),
        );
        assert!(eks.finish_update(name, &id));
    }
    for _ in 0..2 {
        let id = eks.start_update(
            name,
            EndpointChange {
                public: Some(true),
                private: None,
                cidrs: Some(vec!["0.0.0.0/0".to_string()]),
            },
            UpdateBehaviour::staying_active(Finish::Manual),
        );
        assert!(eks.finish_update(name, &id));
    }
    let guard = GuardProcess::start(&[
        ("ALERT_TOPIC_ARN", topic),
        ("AWS_ENDPOINT_URL_SNS", moto.endpoint_url()),
        ("AWS_ENDPOINT_URL_EKS", eks.endpoint_url()),
    ])
    .await;

    let answer = guard
        .invoke_with_deadline(
            &sample("scheduled-sweep.json", &[]),
            Duration::from_secs(900),
        )
        .await
        .expect_response();

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
    let alerts = moto.receive(&inbox, 1, Duration::from_secs(30)).await;
    let finding = finding_of(&alerts[0]);
    assert_eq!(finding["history"]["openedLast24h"], 2, "{finding}");
}

/// A new cluster stays CREATING past the invocation's deadline: the guard
/// hands the event on to a fresh invocation of itself instead of failing,
/// and the fresh one reverts once the cluster is ACTIVE. No invocation fails.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_creation_longer_than_an_invocation_is_handed_on_and_reverted() {
    let moto = Moto::start().await.expect("moto_server");
    let (topic, inbox) = moto.topic_with_inbox("hand-off").await;
    let eks = EksDouble::start(EksOptions {
        api_updates: UpdateBehaviour::staying_active(Finish::After(Duration::from_millis(500))),
        ..EksOptions::default()
    })
    .await
    .expect("EKS double");
    eks.add_cluster(ClusterSpec::new("my-cluster").creating_for(Duration::from_secs(5)));
    let deadline = Duration::from_secs(4);
    let guard = GuardProcess::start_handing_off(
        &function_arn("111122223333"),
        &[
            ("ALERT_TOPIC_ARN", topic),
            ("AWS_ENDPOINT_URL_SNS", moto.endpoint_url()),
            ("AWS_ENDPOINT_URL_EKS", eks.endpoint_url()),
            // Short calls, so that a 4 s invocation has time to wait.
            ("GUARD_CALL_TIMEOUT_SECONDS", "0.2".into()),
        ],
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
    // revert it follows already told does not tell it again.
    let alerts = moto.receive(&inbox, 2, Duration::from_secs(3)).await;
    assert_eq!(alerts.len(), 1, "{alerts:?}");
    assert_eq!(
        finding_of(&alerts[0])["trigger"]["apiCall"],
        "CreateCluster"
    );
    let reads: Vec<Value> = guard.log_records("decision");
    assert!(
        reads
            .iter()
            .any(|r| r["fields"]["action"] == "handed-off" || r["action"] == "handed-off"),
        "the hand-off is logged as a decision"
    );
}
