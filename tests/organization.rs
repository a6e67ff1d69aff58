//! An organization of a hundred member accounts in three regions, through
//! the compiled binary: Organizations from `moto_server`, STS from moto
//! behind a front that answers after a delay and counts `AssumeRole` per
//! role, EKS from the double (also slow), which tells accounts apart by the
//! signing key and regions by the signature. Sweep slices are fed back to the
//! function through the testkit's Lambda `Invoke` stand-in.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use common::{
    GuardProcess, REMEDIATION_ROLE, Settings, Stage, function_arn, private_cluster, sample,
};
use guard_testkit::delayed::DelayedEndpoint;
use guard_testkit::eks::{ClusterSpec, EksOptions, Fault};
use guard_testkit::moto;
use guard_testkit::organizations::Organization;
use guard_testkit::runtime::Invocation;
use serde_json::Value;

const MEMBERS: usize = 100;
const REGIONS: [&str; 3] = ["eu-west-1", "eu-central-1", "us-east-1"];
/// Every tenth account has a cluster open to the internet in each region.
const OPEN_EVERY: usize = 10;
/// A deadline one invocation cannot sweep 303 account-regions in, two at a
/// time, and a slice of five accounts (15 account-regions) can.
const SHORT: Duration = Duration::from_secs(6);
const SLICE: usize = 5;

/// The organization, its clusters, and the slow STS in front of moto.
struct Fleet {
    stage: Stage,
    organization: Organization,
    sts: DelayedEndpoint,
    /// (account, region) of every open cluster.
    open: BTreeSet<(String, String)>,
}

impl Fleet {
    /// 100 members and the management account, each with a private cluster
    /// in every region and every tenth with an open one too; EKS answers in
    /// 10 ms, STS in 50 ms.
    async fn start(topic: &str) -> Fleet {
        let stage = Stage::start(
            topic,
            EksOptions {
                account: moto::ACCOUNT.to_string(),
                latency: Duration::from_millis(10),
                ..EksOptions::default()
            },
        )
        .await;
        let organization = stage.moto.organization(MEMBERS, 0).await;
        stage
            .eks
            .resolve_keys_through_sts(&stage.moto.endpoint_url());
        let sts = DelayedEndpoint::start(&stage.moto.endpoint_url(), Duration::from_millis(50))
            .await
            .expect("the slow STS front");
        let mut open = BTreeSet::new();
        for (i, account) in organization.active_accounts().iter().enumerate() {
            for region in REGIONS {
                let here = stage.eks.in_account(account).in_region(region);
                here.add_cluster(private_cluster("private"));
                if i % OPEN_EVERY == 1 {
                    here.add_cluster(ClusterSpec::new("open").public(true));
                    open.insert((account.clone(), region.to_string()));
                }
            }
        }
        Fleet {
            stage,
            organization,
            sts,
            open,
        }
    }

    /// A central guard sweeping the organization in every region, slices
    /// of `slice_accounts` accounts, `places` account-regions in flight.
    fn settings(&self, slice_accounts: usize, places: usize) -> Settings {
        let mut settings = self.stage.settings_with(&[
            ("REMEDIATION_ROLE_NAME", REMEDIATION_ROLE),
            ("SWEEP_ORGANIZATION", "true"),
            ("GUARD_REGIONS", "eu-central-1,us-east-1"),
        ]);
        settings.extend([
            (
                "AWS_ENDPOINT_URL_ORGANIZATIONS",
                self.stage.moto.endpoint_url(),
            ),
            ("AWS_ENDPOINT_URL_STS", self.sts.endpoint_url()),
            ("SWEEP_SLICE_ACCOUNTS", slice_accounts.to_string()),
            ("SWEEP_PLACES_IN_FLIGHT", places.to_string()),
        ]);
        settings
    }

    /// Every (account, region) of the organization.
    fn places(&self) -> BTreeSet<(String, String)> {
        let mut places = BTreeSet::new();
        for account in self.organization.active_accounts() {
            for region in REGIONS {
                places.insert((account.clone(), region.to_string()));
            }
        }
        places
    }

    /// How often each (account, region) was listed.
    fn listings(&self) -> BTreeMap<(String, String), usize> {
        let mut listed = BTreeMap::new();
        for request in self.stage.eks.requests_for("ListClusters") {
            *listed.entry(place_of(&request)).or_default() += 1;
        }
        listed
    }

    /// The (account, region) of every revert the guard asked for.
    fn reverted(&self) -> BTreeSet<(String, String)> {
        self.stage
            .eks
            .requests_for("UpdateClusterConfig")
            .iter()
            .map(place_of)
            .collect()
    }

    /// Every account-region listed exactly once, every open cluster
    /// reverted, one role assumed in each member account.
    fn assert_swept_once(&self) {
        let listed = self.listings();
        assert_eq!(
            listed.keys().cloned().collect::<BTreeSet<_>>(),
            self.places()
        );
        assert!(listed.values().all(|&n| n == 1), "{listed:?}");
        assert_eq!(self.reverted(), self.open);
        self.assert_one_role_per_member();
    }

    /// One role assumed once in each member account, none in the
    /// function's own.
    fn assert_one_role_per_member(&self) {
        let expected: BTreeMap<String, usize> = self
            .organization
            .active
            .iter()
            .map(|account| (format!("arn:aws:iam::{account}:role/{REMEDIATION_ROLE}"), 1))
            .collect();
        assert_eq!(self.sts.assume_role_calls_by_role(), expected);
    }
}

fn place_of(request: &guard_testkit::eks::RecordedRequest) -> (String, String) {
    (
        request.account.clone(),
        request.signing_region.clone().unwrap_or_default(),
    )
}

fn sweep_event() -> Vec<u8> {
    sample("scheduled-sweep.json", &[("111122223333", moto::ACCOUNT)])
}

/// One invocation sweeps 303 account-regions: every open cluster reverted,
/// every account-region listed once, one `AssumeRole` per member account,
/// the answer well before the deadline.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_invocation_sweeps_a_hundred_accounts_with_one_role_each() {
    let fleet = Fleet::start("org-one").await;
    let guard =
        GuardProcess::start_as(&function_arn(moto::ACCOUNT), &fleet.settings(1000, 16)).await;
    let deadline = Duration::from_secs(120);

    let started = Instant::now();
    let answer = guard
        .invoke_with_deadline(&sweep_event(), deadline)
        .await
        .expect_response();

    assert!(started.elapsed() < deadline);
    assert_eq!(guard.api.late_answers(), 0);
    let sweep = &answer["sweep"];
    assert_eq!(sweep["accounts"], MEMBERS + 1, "{answer}");
    assert_eq!(sweep["regions"], REGIONS.len());
    assert_eq!(sweep["placesListed"], (MEMBERS + 1) * REGIONS.len());
    assert_eq!(sweep["reverted"], fleet.open.len());
    assert_eq!(sweep["failed"], Value::Array(vec![]));
    fleet.assert_swept_once();
    let alerts = fleet
        .stage
        .alerts(fleet.open.len(), Duration::from_secs(30))
        .await;
    assert_eq!(alerts.len(), fleet.open.len());
}

/// A deadline too short for the organization: the one invocation answers
/// before it, fails, and its alert names the account-regions it left.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invocation_out_of_time_answers_before_its_deadline_and_names_what_it_left() {
    let fleet = Fleet::start("org-short").await;
    let guard =
        GuardProcess::start_as(&function_arn(moto::ACCOUNT), &fleet.settings(1000, 2)).await;
    let deadline = SHORT;

    let started = Instant::now();
    let (error_type, message) = guard
        .invoke_with_deadline(&sweep_event(), deadline)
        .await
        .expect_error();

    assert!(started.elapsed() < deadline, "{:?}", started.elapsed());
    assert_eq!(guard.api.late_answers(), 0);
    assert_eq!(error_type, "SweepIncomplete", "{message}");
    let listed = fleet.listings();
    assert!(
        listed.len() < fleet.places().len(),
        "303 places cannot be listed in {SHORT:?}"
    );
    let reverts = fleet.stage.eks.requests_for("UpdateClusterConfig").len();
    let alerts = fleet
        .stage
        .alerts(reverts + 1, Duration::from_secs(20))
        .await;
    let incomplete: Vec<&Value> = alerts
        .iter()
        .filter(|a| {
            a["Subject"]
                .as_str()
                .unwrap_or_default()
                .contains("INCOMPLETE")
        })
        .collect();
    assert_eq!(incomplete.len(), 1, "one sweep alert: {alerts:?}");
    let text = incomplete[0]["Message"].to_string();
    let unlisted = fleet
        .places()
        .into_iter()
        .find(|place| !listed.contains_key(place))
        .expect("a place left");
    assert!(
        text.contains(&format!("{}/{}", unlisted.0, unlisted.1)) && text.contains("not reached"),
        "the alert names what was left: {text}"
    );
}

/// The same organization under the same short deadline, cut into slices of
/// five accounts: the coordinator hands out 21 slices, each finishes in
/// its own invocation, and together they revert every open cluster, list
/// every account-region once and assume one role per member account.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slices_finish_what_one_invocation_cannot() {
    let fleet = Fleet::start("org-slices").await;
    let deadline = SHORT;
    let guard = GuardProcess::start_handing_off(
        &function_arn(moto::ACCOUNT),
        &fleet.settings(SLICE, 2),
        deadline,
    )
    .await;

    let answer = guard
        .invoke_with_deadline(&sweep_event(), deadline)
        .await
        .expect_response();

    let slices = (MEMBERS + 1).div_ceil(SLICE);
    assert_eq!(answer["sweep"]["slicesHandedOut"], slices, "{answer}");
    let outcomes = guard
        .lambda()
        .wait_for_outcomes(slices, Duration::from_secs(120))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let mut names = BTreeSet::new();
    let mut reverted = 0;
    for (payload, outcome) in &outcomes {
        let Invocation::Response(answer) = outcome else {
            panic!("slice {payload} failed: {outcome:?}");
        };
        names.insert(answer["sweep"]["slice"].as_str().unwrap().to_string());
        reverted += answer["sweep"]["reverted"].as_u64().unwrap();
    }
    assert_eq!(names.len(), slices, "{names:?}");
    assert_eq!(
        guard.api.late_answers(),
        0,
        "an invocation answered after its deadline"
    );
    assert_eq!(reverted as usize, fleet.open.len());
    fleet.assert_swept_once();
}

/// A slice that fails (EKS denies one listing) fails alone, naming the
/// account-region; replayed, as Lambda retries it, it sweeps only its own
/// accounts and finishes them. The other slices are not run again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slice_that_fails_is_retried_alone() {
    let fleet = Fleet::start("org-retry").await;
    let eks = &fleet.stage.eks;
    // Room to spare: what is measured is which slice fails, not speed.
    let deadline = Duration::from_secs(30);
    let guard = GuardProcess::start_handing_off(
        &function_arn(moto::ACCOUNT),
        &fleet.settings(25, 8),
        deadline,
    )
    .await;
    // The first listing of all is denied: slice 1 runs first.
    eks.inject("ListClusters", vec![Fault::AccessDenied]);

    let answer = guard
        .invoke_with_deadline(&sweep_event(), deadline)
        .await
        .expect_response();
    let slices = answer["sweep"]["slicesHandedOut"].as_u64().unwrap() as usize;
    let outcomes = guard
        .lambda()
        .wait_for_outcomes(slices, Duration::from_secs(60))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let failed: Vec<&(Value, Invocation)> = outcomes
        .iter()
        .filter(|(_, outcome)| !matches!(outcome, Invocation::Response(_)))
        .collect();
    assert_eq!(failed.len(), 1, "{outcomes:?}");
    let (payload, outcome) = failed[0].clone();
    let Invocation::Error {
        error_type,
        error_message,
    } = outcome
    else {
        unreachable!()
    };
    assert_eq!(error_type, "SweepIncomplete");
    let denied: Vec<(String, String)> = eks
        .requests_for("ListClusters")
        .iter()
        .filter(|r| r.status == Some(403))
        .map(place_of)
        .collect();
    assert_eq!(denied.len(), 1, "one listing denied: {denied:?}");
    let denied = denied[0].clone();
    assert!(
        error_message.contains(&format!("{}/{}", denied.0, denied.1)),
        "{error_message}"
    );
    let accounts: BTreeSet<String> = payload["eks-endpoint-guard/sweep-slice"]["accounts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap().to_string())
        .collect();
    assert!(accounts.contains(&denied.0));

    let before = eks.requests().len();
    let retried = guard
        .invoke_with_deadline(payload.to_string().as_bytes(), deadline)
        .await
        .expect_response();

    assert_eq!(
        retried["sweep"]["failed"],
        Value::Array(vec![]),
        "{retried}"
    );
    let again = &eks.requests()[before..];
    assert!(again.iter().all(|r| accounts.contains(&r.account)));
    let listed: BTreeSet<(String, String)> = again
        .iter()
        .filter(|r| r.operation == "ListClusters")
        .map(place_of)
        .collect();
    assert!(listed.contains(&denied));
    assert_eq!(listed.len(), accounts.len() * REGIONS.len());
    assert_eq!(fleet.reverted(), fleet.open);
}
