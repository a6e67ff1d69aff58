//! `make bench`, organization part (issue 15): the sweep at the size of a
//! real organization, measured on the release binary. Nothing is asserted:
//! it measures and prints, the aims beside the figures.
//!
//! 1. Peak RSS of one invocation sweeping about 500 and about 2,000
//!    account-regions (30 and 118 accounts in 17 regions), to show that
//!    memory does not grow with the organization.
//! 2. An organization of 1,000 accounts in 17 regions (17,000
//!    account-regions), 0.1 s per EKS, STS and Organizations call, 3,000
//!    clusters of which 30 are open: time until every open cluster is
//!    reverted, invocations used (the slices run in 8 environments side by
//!    side, as Lambda runs them), `AssumeRole` calls, EKS calls per
//!    account-region, peak RSS of any environment.

use std::time::{Duration, Instant};

use guard_testkit::delayed::DelayedEndpoint;
use guard_testkit::eks::{ClusterSpec, EksDouble, EksOptions};
use guard_testkit::function::{FunctionProcess, sample, sibling_binary};
use guard_testkit::moto::{self, Moto};
use guard_testkit::organizations::Organization;
use guard_testkit::runtime::Invocation;

/// The commercial regions EKS serves (17, as the issue counts them).
const REGIONS: [&str; 17] = [
    "us-east-1",
    "us-east-2",
    "us-west-1",
    "us-west-2",
    "ca-central-1",
    "eu-west-1",
    "eu-west-2",
    "eu-west-3",
    "eu-central-1",
    "eu-north-1",
    "ap-south-1",
    "ap-northeast-1",
    "ap-northeast-2",
    "ap-northeast-3",
    "ap-southeast-1",
    "ap-southeast-2",
    "sa-east-1",
];
const LATENCY: Duration = Duration::from_millis(100);
const ACCOUNTS: usize = 1000;

/// Everything one run talks to.
struct World {
    moto: Moto,
    topic: String,
    organization: Organization,
    eks: EksDouble,
    sts: DelayedEndpoint,
    organizations: DelayedEndpoint,
    /// (account, region) of each open cluster.
    open: Vec<(String, String)>,
}

#[tokio::main]
async fn main() -> Result<(), String> {
    let binary = sibling_binary("eks-endpoint-guard")?;
    let started = Instant::now();
    let world = world().await?;
    println!(
        "organization of {} accounts with {} clusters ({} open) set up in {:.0} s",
        ACCOUNTS,
        world.eks.clusters().len(),
        world.open.len(),
        started.elapsed().as_secs_f64()
    );
    for accounts in [30, 118] {
        peak_rss_of_one_invocation(&binary, &world, accounts).await;
    }
    whole_organization(&binary, &world).await
}

/// moto's organization, clusters spread over every region (three per
/// account, in one region each, the first of every 34th account open), and
/// the slow fronts.
async fn world() -> Result<World, String> {
    let moto = Moto::start().await?;
    let organization = moto.organization(ACCOUNTS - 1, 0).await;
    let (topic, _inbox) = moto.topic_with_inbox("bench-organization").await;
    let eks = EksDouble::start(EksOptions {
        latency: LATENCY,
        account: moto::ACCOUNT.to_string(),
        ..EksOptions::default()
    })
    .await
    .map_err(|e| e.to_string())?;
    eks.resolve_keys_through_sts(&moto.endpoint_url());
    let upstream = moto.endpoint_url();
    let sts = DelayedEndpoint::start(&upstream, LATENCY)
        .await
        .map_err(|e| e.to_string())?;
    let organizations = DelayedEndpoint::start(&upstream, LATENCY)
        .await
        .map_err(|e| e.to_string())?;
    let mut open = Vec::new();
    for (i, account) in organization.active_accounts().iter().enumerate() {
        // Spread over every region, the open ones too.
        let region = REGIONS[(i + i / 34) % REGIONS.len()];
        let place = eks.in_account(account).in_region(region);
        for c in 0..3 {
            let spec = ClusterSpec::new(&format!("c{c}"));
            if c == 0 && i % 34 == 0 {
                place.add_cluster(spec.public(true));
                open.push((account.clone(), region.to_string()));
            } else {
                place.add_cluster(spec.public(false).private(true));
            }
        }
    }
    Ok(World {
        moto,
        topic,
        organization,
        eks,
        sts,
        organizations,
        open,
    })
}

/// The central guard's settings in every region; `extra` after them.
fn settings(world: &World, extra: &[(&'static str, String)]) -> Vec<(&'static str, String)> {
    let mut settings = vec![
        ("ALERT_TOPIC_ARN", world.topic.clone()),
        ("AWS_ENDPOINT_URL_SNS", world.moto.endpoint_url()),
        ("AWS_ENDPOINT_URL_STS", world.sts.endpoint_url()),
        (
            "AWS_ENDPOINT_URL_ORGANIZATIONS",
            world.organizations.endpoint_url(),
        ),
        ("AWS_ENDPOINT_URL_EKS", world.eks.endpoint_url()),
        (
            "REMEDIATION_ROLE_NAME",
            "eks-endpoint-guard-remediation".to_string(),
        ),
        (
            "GUARD_REGIONS",
            REGIONS
                .iter()
                .filter(|r| **r != "eu-west-1")
                .copied()
                .collect::<Vec<_>>()
                .join(","),
        ),
        // Calls take 0.1 s here: room for a slow answer.
        ("GUARD_CALL_TIMEOUT_SECONDS", "2".to_string()),
    ];
    settings.extend(extra.iter().cloned());
    settings
}

fn function_arn() -> String {
    format!(
        "arn:aws:lambda:eu-west-1:{}:function:eks-endpoint-guard",
        moto::ACCOUNT
    )
}

fn sweep_event() -> Vec<u8> {
    sample("scheduled-sweep.json", &[("111122223333", moto::ACCOUNT)])
}

/// One invocation over `accounts` accounts in all 17 regions, no slices.
async fn peak_rss_of_one_invocation(binary: &std::path::Path, world: &World, accounts: usize) {
    let members: Vec<String> = world.organization.active[..accounts - 1].to_vec();
    let guard = FunctionProcess::start(
        binary,
        &function_arn(),
        &settings(
            world,
            &[
                ("SWEEP_ACCOUNTS", members.join(",")),
                ("SWEEP_SLICE_ACCOUNTS", "1000".to_string()),
                // Report mode: the open clusters stay open for the next run.
                ("GUARD_MODE", "report".to_string()),
            ],
        ),
    )
    .await;
    let started = Instant::now();
    let answer = guard
        .invoke_with_deadline(&sweep_event(), Duration::from_secs(900))
        .await;
    let elapsed = started.elapsed().as_secs_f64();
    let summary = match answer {
        Invocation::Response(answer) => answer["sweep"].clone(),
        other => serde_json::json!(format!("{other:?}")),
    };
    println!(
        "one invocation over {} account-regions ({accounts} accounts x 17 regions, 0.1 s a call): {elapsed:.1} s, peak RSS {} KiB (aim: flat, under 64 MiB); placesListed {} seen {} reported {} failed {}",
        accounts * REGIONS.len(),
        guard.peak_rss_kib().unwrap_or(0),
        summary["placesListed"],
        summary["seen"],
        summary["reported"],
        summary["failed"].as_array().map_or(0, Vec::len),
    );
}

/// Execution environments Lambda runs the slices in, side by side.
const ENVIRONMENTS: usize = 8;

/// The whole organization, handed out in slices to environments side by
/// side.
async fn whole_organization(binary: &std::path::Path, world: &World) -> Result<(), String> {
    let assumed_before = world.sts.count("AssumeRole");
    let calls_before = world.eks.requests().len();
    let fleet = FunctionProcess::start_environments(
        binary,
        &function_arn(),
        &settings(world, &[("SWEEP_ORGANIZATION", "true".to_string())]),
        ENVIRONMENTS,
        Duration::from_secs(900),
    )
    .await;
    fleet.wait_until_ready(Duration::from_secs(60)).await;
    let started = Instant::now();
    let answer = fleet
        .invoke_all(vec![sweep_event()])
        .await
        .remove(0)
        .expect_response();
    let slices = answer["sweep"]["slicesHandedOut"].as_u64().unwrap_or(0) as usize;
    let outcomes = fleet
        .lambda()
        .wait_for_outcomes(slices, Duration::from_secs(1200))
        .await
        .map_err(|e| e.to_string())?;
    let elapsed = started.elapsed().as_secs_f64();
    let (reverted, failed) = tally(&outcomes);
    let last_revert = world
        .eks
        .requests_for("UpdateClusterConfig")
        .iter()
        .map(|r| r.at)
        .max()
        .map_or(f64::NAN, |at| at.duration_since(started).as_secs_f64());
    let calls = world.eks.requests().len() - calls_before;
    let places = ACCOUNTS * REGIONS.len();
    let peak = fleet.highest_peak_rss_kib();
    println!(
        "organization sweep, {ACCOUNTS} accounts x 17 regions, 0.1 s per EKS/STS/Organizations call, 3,000 clusters ({} open): the last open cluster reverted after {last_revert:.0} s (aim: 5 min), every slice done after {elapsed:.0} s, {} invocations (1 + {slices} slices in {ENVIRONMENTS} environments, {failed} failed, {} answered after their deadline), {reverted} reverted; AssumeRole {} (aim: one per member account, {}); {calls} EKS calls, {:.2} per account-region; peak RSS of any environment {peak} KiB (aim: under 64 MiB)",
        world.open.len(),
        1 + outcomes.len(),
        fleet.api.late_answers(),
        world.sts.count("AssumeRole") - assumed_before,
        ACCOUNTS - 1,
        calls as f64 / places as f64,
    );
    Ok(())
}

/// Clusters reverted by the slices, and slices failed.
fn tally(outcomes: &[(serde_json::Value, Invocation)]) -> (u64, usize) {
    let mut reverted = 0;
    let mut failed = 0;
    for (_, outcome) in outcomes {
        match outcome {
            Invocation::Response(answer) => {
                reverted += answer["sweep"]["reverted"].as_u64().unwrap_or(0)
            }
            _ => failed += 1,
        }
    }
    (reverted, failed)
}
