//! `make bench`: the figures the README and the issue notes report, measured
//! on the release binary on this machine. Nothing here asserts a time: it
//! measures and prints (the aims are printed beside the figures).
//!
//! 1. Cold start: process start to its first poll of the Runtime API.
//! 2. Time per event: an opened endpoint, judged, reverted and alerted,
//!    against the EKS double and moto on loopback.
//! 3. Reaction time: from the end of the blocking update to the revert
//!    request, at the default 1 s poll interval.
//! 4. Peak RSS of the process after all of the above (VmHWM).
//! 5. Sweep: 500 clusters with 50 finished updates each, EKS answering after
//!    20 ms: time, and EKS calls per compliant and per open cluster.
//! 6. Organization sweep: 3 accounts x 2 regions.
//! 7. Burst (issue 15): one apply opens 12 clusters of one account-region at
//!    once, 12 execution environments handle the 12 events side by side, and
//!    EKS throttles the account-region at 8 calls a second: the share of the
//!    guard's EKS calls throttled, calls in all, time until every cluster is
//!    reverted and confirmed, how soon each revert follows the opening
//!    update's end, invocations failed; with the testkit's and the shipped
//!    settings, with Retry Behavior 2.1, and with 4 environments (reserved
//!    concurrency 4). The EKS clients retry in the SDK's adaptive mode.
//!
//! `bench burst` runs section 7 alone.

use std::time::{Duration, Instant};

use std::collections::BTreeMap;

use guard_testkit::eks::{
    ClusterSpec, EksDouble, EksOptions, EndpointChange, Finish, Rate, UpdateBehaviour, UpdateStatus,
};
use guard_testkit::function::{FunctionProcess, sample, sibling_binary};
use guard_testkit::moto::Moto;
use guard_testkit::runtime::{DEFAULT_FUNCTION_ARN, Invocation, RuntimeApi};

const SAMPLE_UPDATE_ID: &str = "3f9d2c1e-8b7a-4c55-9e21-6f0d5a4b3c2a";

#[tokio::main]
async fn main() -> Result<(), String> {
    let binary = sibling_binary("eks-endpoint-guard")?;
    if std::env::args().nth(1).as_deref() == Some("burst") {
        let moto = Moto::start().await?;
        let (topic, _inbox) = moto.topic_with_inbox("bench-burst").await;
        return bursts(&binary, &moto, &topic).await;
    }
    let size = std::fs::metadata(&binary).map_err(|e| e.to_string())?.len();
    println!(
        "binary: {} ({:.1} MiB, x86_64 release)",
        binary.display(),
        size as f64 / 1048576.0
    );

    // 1. Cold start.
    let mut starts = Vec::new();
    for _ in 0..30 {
        let api = RuntimeApi::start().await.map_err(|e| e.to_string())?;
        let spawned = Instant::now();
        let mut child = tokio::process::Command::new(&binary)
            .env_clear()
            .env("AWS_LAMBDA_RUNTIME_API", api.address())
            .env("AWS_LAMBDA_FUNCTION_NAME", "bench")
            .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
            .env("AWS_LAMBDA_FUNCTION_VERSION", "1")
            .env("AWS_REGION", "us-east-1")
            .env("AWS_ACCESS_KEY_ID", "testing")
            .env("AWS_SECRET_ACCESS_KEY", "testing")
            .env(
                "ALERT_TOPIC_ARN",
                "arn:aws:sns:us-east-1:123456789012:bench",
            )
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| e.to_string())?;
        let first_poll = api.wait_for_first_poll().await;
        starts.push(first_poll.duration_since(spawned));
        let _ = child.kill().await;
    }
    report(
        "cold start (spawn -> first poll)",
        &mut starts,
        "aim <= 10 ms",
    );

    // 2-4. Events through one warm process.
    let moto = Moto::start().await?;
    let (topic, _inbox) = moto.topic_with_inbox("bench").await;
    let eks = EksDouble::start(EksOptions {
        api_updates: UpdateBehaviour::staying_active(Finish::After(Duration::from_millis(50))),
        ..EksOptions::default()
    })
    .await
    .map_err(|e| e.to_string())?;
    let settings = [
        ("ALERT_TOPIC_ARN", topic.clone()),
        ("AWS_ENDPOINT_URL_SNS", moto.endpoint_url()),
        ("AWS_ENDPOINT_URL_EKS", eks.endpoint_url()),
        ("GUARD_POLL_SECONDS", "1".to_string()),
    ];
    let guard = FunctionProcess::start(&binary, DEFAULT_FUNCTION_ARN, &settings).await;
    let mut per_event = Vec::new();
    for i in 0..100 {
        let name = format!("bench-{i}");
        eks.add_cluster(ClusterSpec::new(&name));
        // An update id EKS does not know: nothing to wait for.
        let event = sample(
            "updateclusterconfig-open-public.json",
            &[
                ("\"prod-eu\"", &format!("\"{name}\"")),
                (SAMPLE_UPDATE_ID, "unknown-update"),
            ],
        );
        let started = Instant::now();
        let answer = guard.invoke(&event).await.expect_response();
        per_event.push(started.elapsed());
        if answer["outcome"] != "reverted" {
            return Err(format!("event {i}: {answer}"));
        }
    }
    report(
        "time per event (wait check, read, revert, SNS publish to moto, revert followed to Successful)",
        &mut per_event,
        "local endpoints; the 1 s poll before the revert is seen finished dominates",
    );

    let mut reactions = Vec::new();
    for i in 0..5 {
        let name = format!("react-{i}");
        eks.add_cluster(ClusterSpec::new(&name).public(false).private(true));
        let blocking = eks.start_update(
            &name,
            EndpointChange {
                public: Some(true),
                private: None,
                cidrs: None,
            },
            UpdateBehaviour::staying_active(Finish::Manual),
        );
        let event = sample(
            "updateclusterconfig-open-public.json",
            &[
                ("\"prod-eu\"", &format!("\"{name}\"")),
                (SAMPLE_UPDATE_ID, &blocking),
            ],
        );
        let finish = async {
            let seen = eks.requests_for("DescribeUpdate").len();
            eks.wait_for_requests("DescribeUpdate", seen + 2, Duration::from_secs(30))
                .await
                .map_err(|e| format!("{e:?}"))?;
            let finished = Instant::now();
            eks.finish_update(&name, &blocking);
            Ok::<_, String>(finished)
        };
        let (answer, finished) = tokio::join!(guard.invoke(&event), finish);
        let finished = finished?;
        answer.expect_response();
        let revert = eks
            .requests_for("UpdateClusterConfig")
            .into_iter()
            .find(|r| r.cluster.as_deref() == Some(name.as_str()))
            .ok_or("no revert")?;
        reactions.push(revert.at.saturating_duration_since(finished));
    }
    report(
        "reaction (blocking update done -> revert sent, 1 s poll)",
        &mut reactions,
        "aim <= 2 s",
    );
    let peak = guard
        .peak_rss_kib()
        .ok_or("no /proc status for the guard")?;
    println!(
        "peak RSS after 105 events: {:.1} MiB (aim <= 16 MB)",
        peak as f64 / 1024.0
    );
    drop(guard);

    // 5. Sweep of 500 clusters at 20 ms per EKS call, each with 50 finished
    // updates (years of version, add-on and logging updates): 450 comply
    // (private or narrow), 25 are open, 25 exempt; a fresh double (and a
    // fresh guard, so no memory of updates) for each concurrency.
    for concurrency in ["4", "8"] {
        let slow = EksDouble::start(EksOptions {
            latency: Duration::from_millis(20),
            ..EksOptions::default()
        })
        .await
        .map_err(|e| e.to_string())?;
        for i in 0..500 {
            let name = format!("sweep-{i:03}");
            let spec = ClusterSpec::new(&name);
            slow.add_cluster(match i % 20 {
                0 => spec,
                1 => spec.tag("eks-endpoint-guard/exempt", "true"),
                n if n % 2 == 0 => spec.public(false).private(true),
                _ => spec.cidrs(["203.0.113.0/24"]),
            });
            for _ in 0..50 {
                let id = slow.start_other_update(
                    &name,
                    "VersionUpdate",
                    UpdateBehaviour::staying_active(Finish::Manual),
                );
                slow.finish_update(&name, &id);
            }
        }
        let guard = FunctionProcess::start(
            &binary,
            DEFAULT_FUNCTION_ARN,
            &[
                ("ALERT_TOPIC_ARN", topic.clone()),
                ("AWS_ENDPOINT_URL_SNS", moto.endpoint_url()),
                ("AWS_ENDPOINT_URL_EKS", slow.endpoint_url()),
                ("SWEEP_CONCURRENCY", concurrency.to_string()),
                ("ALLOWED_PUBLIC_CIDRS", "203.0.113.0/24".to_string()),
            ],
        )
        .await;
        let started = Instant::now();
        let answer = sweep(&guard, sample("scheduled-sweep.json", &[])).await;
        let took = started.elapsed().as_secs_f64();
        let requests = slow.requests();
        let calls_on = |names: &dyn Fn(usize) -> bool| {
            requests
                .iter()
                .filter(|r| {
                    r.cluster
                        .as_deref()
                        .and_then(|c| c.strip_prefix("sweep-"))
                        .and_then(|n| n.parse::<usize>().ok())
                        .is_some_and(names)
                })
                .count()
        };
        let compliant = calls_on(&|n| n % 20 >= 2) as f64 / 450.0;
        let open = calls_on(&|n| n % 20 == 0) as f64 / 25.0;
        println!(
            "sweep of 500 clusters x 50 finished updates at 20 ms/call, concurrency {concurrency}: {took:.2} s (aim <= 10 s); EKS calls per compliant cluster {compliant:.2} (aim <= 2), per open cluster {open:.1} (its history read once per environment); {} EKS calls in all; {}",
            requests.len(),
            answer["sweep"]
                .as_object()
                .map(|s| format!(
                    "seen {} reverted {} exempt {} compliant {} pending {} failed {}",
                    s["seen"],
                    s["reverted"],
                    s["exempt"],
                    s["compliant"],
                    s["pending"].as_array().map_or(0, Vec::len),
                    s["failed"].as_array().map_or(0, Vec::len)
                ))
                .unwrap_or_else(|| answer.to_string())
        );
    }

    // 6. Organization sweep: 3 accounts (management + 2 members) x 2 regions,
    // 10 clusters in each place (1 open), 20 ms per EKS call.
    let org_moto = Moto::start().await?;
    let organization = org_moto.organization(2, 0).await;
    let (org_topic, _org_inbox) = org_moto.topic_with_inbox("bench-org").await;
    let org_eks = EksDouble::start(EksOptions {
        latency: Duration::from_millis(20),
        account: guard_testkit::moto::ACCOUNT.to_string(),
        ..EksOptions::default()
    })
    .await
    .map_err(|e| e.to_string())?;
    org_eks.resolve_keys_through_sts(&org_moto.endpoint_url());
    for account in organization.active_accounts() {
        for region in ["eu-west-1", "eu-central-1"] {
            let place = org_eks.in_account(&account).in_region(region);
            for i in 0..10 {
                let spec = ClusterSpec::new(&format!("c{i}"));
                place.add_cluster(if i == 0 {
                    spec
                } else {
                    spec.public(false).private(true)
                });
            }
        }
    }
    let org_guard = FunctionProcess::start(
        &binary,
        &format!(
            "arn:aws:lambda:eu-west-1:{}:function:eks-endpoint-guard",
            guard_testkit::moto::ACCOUNT
        ),
        &[
            ("ALERT_TOPIC_ARN", org_topic),
            ("AWS_ENDPOINT_URL_SNS", org_moto.endpoint_url()),
            ("AWS_ENDPOINT_URL_STS", org_moto.endpoint_url()),
            ("AWS_ENDPOINT_URL_ORGANIZATIONS", org_moto.endpoint_url()),
            ("AWS_ENDPOINT_URL_EKS", org_eks.endpoint_url()),
            (
                "REMEDIATION_ROLE_NAME",
                "eks-endpoint-guard-remediation".to_string(),
            ),
            ("SWEEP_ORGANIZATION", "true".to_string()),
            ("GUARD_REGIONS", "eu-central-1".to_string()),
        ],
    )
    .await;
    let started = Instant::now();
    let answer = sweep(
        &org_guard,
        sample(
            "scheduled-sweep.json",
            &[("111122223333", guard_testkit::moto::ACCOUNT)],
        ),
    )
    .await;
    println!(
        "organization sweep, 3 accounts x 2 regions x 10 clusters at 20 ms/call: {:.2} s; accounts {} regions {} seen {} reverted {} ({} EKS calls)",
        started.elapsed().as_secs_f64(),
        answer["sweep"]["accounts"],
        answer["sweep"]["regions"],
        answer["sweep"]["seen"],
        answer["sweep"]["reverted"],
        org_eks.requests().len()
    );
    // 7. The burst.
    let (burst_topic, _burst_inbox) = moto.topic_with_inbox("bench-burst").await;
    bursts(&binary, &moto, &burst_topic).await
}

/// Clusters one apply opens at once, all in one account-region.
const BURST_CLUSTERS: usize = 12;
/// EKS's rate for the account-region in the burst: 8 calls a second, and a
/// bucket of 8 (one second's worth). AWS publishes no EKS rates; where AWS
/// documents its API token buckets (EC2) they hold several seconds of refill,
/// so a bucket of one second is on the strict side, and the burst's opening
/// second (12 environments starting at once) meets it.
const BURST_RATE: Rate = Rate {
    per_second: 8.0,
    burst: 8.0,
};
/// How long the opening updates and the guard's reverts take. A real endpoint
/// update takes about five minutes; 5 s keeps the bench short and still has
/// every environment waiting, then following, through several polls.
const BURST_UPDATE_TAKES: Duration = Duration::from_secs(5);

/// One run of the burst: what the environments are started with.
struct BurstRun {
    label: &'static str,
    environments: usize,
    settings: Vec<(&'static str, String)>,
}

/// The guard's settings as it ships them (what `FunctionProcess` speeds up
/// for tests: the poll interval, the call time-outs, the `CREATING` poll).
fn shipped_settings() -> Vec<(&'static str, String)> {
    vec![
        ("GUARD_POLL_SECONDS", "1".to_string()),
        ("GUARD_CALL_TIMEOUT_SECONDS", "10".to_string()),
        ("GUARD_CREATING_POLL_SECONDS", "1.5".to_string()),
    ]
}

async fn bursts(binary: &std::path::Path, moto: &Moto, topic: &str) -> Result<(), String> {
    // The guard's EKS clients retry in the SDK's adaptive mode (src/startup.rs,
    // `eks_sdk_config`); AWS_NEW_RETRIES_2026=true switches the SDK to Retry
    // Behavior 2.1, where a retry after a throttle costs one token of the
    // client's bucket instead of ten.
    let retries_2_1 = || ("AWS_NEW_RETRIES_2026", "true".to_string());
    let with = |mut settings: Vec<(&'static str, String)>, extra: (&'static str, String)| {
        settings.push(extra);
        settings
    };
    let runs = [
        BurstRun {
            label: "testkit settings (poll 0.05 s, call time-out 1 s)",
            environments: BURST_CLUSTERS,
            settings: Vec::new(),
        },
        BurstRun {
            label: "shipped settings (poll 1 s, call time-out 10 s)",
            environments: BURST_CLUSTERS,
            settings: shipped_settings(),
        },
        BurstRun {
            label: "shipped settings, Retry Behavior 2.1 (AWS_NEW_RETRIES_2026=true)",
            environments: BURST_CLUSTERS,
            settings: with(shipped_settings(), retries_2_1()),
        },
        BurstRun {
            label: "shipped settings, reserved concurrency 4",
            environments: 4,
            settings: shipped_settings(),
        },
        BurstRun {
            label: "shipped settings, Retry Behavior 2.1, reserved concurrency 4",
            environments: 4,
            settings: with(shipped_settings(), retries_2_1()),
        },
    ];
    // BURST_SETTINGS="K=V,K=V" (and BURST_ENVIRONMENTS=n): one run with the
    // shipped settings and these, for trying settings out.
    if let Ok(extra) = std::env::var("BURST_SETTINGS") {
        let mut settings = shipped_settings();
        for pair in extra.split(',').filter(|pair| !pair.is_empty()) {
            let (key, value) = pair.split_once('=').ok_or("BURST_SETTINGS: K=V,K=V")?;
            settings.push((
                Box::leak(key.to_string().into_boxed_str()),
                value.to_string(),
            ));
        }
        let environments = std::env::var("BURST_ENVIRONMENTS")
            .ok()
            .and_then(|n| n.parse().ok())
            .unwrap_or(BURST_CLUSTERS);
        let label = Box::leak(format!("shipped settings and {extra}").into_boxed_str());
        let run = BurstRun {
            label,
            environments,
            settings,
        };
        return burst(binary, moto, topic, &run).await;
    }
    let only: Option<usize> = std::env::var("BURST_RUN").ok().and_then(|n| n.parse().ok());
    for (index, run) in runs.iter().enumerate() {
        if only.is_some_and(|only| only != index) {
            continue;
        }
        burst(binary, moto, topic, run).await?;
    }
    Ok(())
}

/// 12 clusters opened at once, the 12 events handled by `run.environments`
/// environments against EKS throttling the account-region at [`BURST_RATE`].
async fn burst(
    binary: &std::path::Path,
    moto: &Moto,
    topic: &str,
    run: &BurstRun,
) -> Result<(), String> {
    let eks = EksDouble::start(EksOptions {
        throttle: Some(BURST_RATE),
        api_updates: UpdateBehaviour::staying_active(Finish::After(BURST_UPDATE_TAKES)),
        ..EksOptions::default()
    })
    .await
    .map_err(|e| e.to_string())?;
    let mut settings = vec![
        ("ALERT_TOPIC_ARN", topic.to_string()),
        ("AWS_ENDPOINT_URL_SNS", moto.endpoint_url()),
        ("AWS_ENDPOINT_URL_EKS", eks.endpoint_url()),
    ];
    settings.extend(run.settings.iter().cloned());
    let fleet = FunctionProcess::start_environments(
        binary,
        DEFAULT_FUNCTION_ARN,
        &settings,
        run.environments,
        Duration::from_secs(900),
    )
    .await;
    fleet.wait_until_ready(Duration::from_secs(30)).await;

    // The apply: every cluster private, then opened to the internet at once.
    let names: Vec<String> = (0..BURST_CLUSTERS)
        .map(|i| format!("burst-{i:02}"))
        .collect();
    let mut events = Vec::new();
    for name in &names {
        eks.add_cluster(ClusterSpec::new(name).public(false).private(true));
        let opening = eks.start_update(
            name,
            EndpointChange::open_to_internet(),
            UpdateBehaviour::staying_active(Finish::After(BURST_UPDATE_TAKES)),
        );
        events.push(sample(
            "updateclusterconfig-open-public.json",
            &[
                ("\"prod-eu\"", &format!("\"{name}\"")),
                (SAMPLE_UPDATE_ID, &opening),
            ],
        ));
    }
    // The opening updates end BURST_UPDATE_TAKES after this.
    let opened = Instant::now();
    let started = Instant::now();
    let outcomes = fleet.invoke_all(events).await;
    let took = started.elapsed();

    let failed = outcomes
        .iter()
        .filter(|outcome| match outcome {
            Invocation::Response(answer) => answer["outcome"] != "reverted",
            _ => true,
        })
        .count();
    let confirmed = names
        .iter()
        .filter(|name| {
            let closed = eks.cluster(name).is_some_and(|cluster| !cluster.public);
            let reverts: Vec<_> = eks
                .updates(name)
                .into_iter()
                .filter(|update| update.started_through_api)
                .collect();
            closed
                && !reverts.is_empty()
                && reverts
                    .iter()
                    .all(|update| update.status == UpdateStatus::Successful)
        })
        .count();
    let requests = eks.requests();
    let throttled = eks.throttled_count();
    let mut by_operation: BTreeMap<&str, (usize, usize)> = BTreeMap::new();
    for request in &requests {
        let entry = by_operation.entry(request.operation).or_default();
        entry.0 += 1;
        entry.1 += usize::from(request.throttled);
    }
    // From the end of each opening update to the guard's accepted revert: the
    // figure the guard is built for (aim: within 2 s).
    let mut revert_delays: Vec<Duration> = names
        .iter()
        .filter_map(|name| {
            requests
                .iter()
                .find(|r| {
                    r.operation == "UpdateClusterConfig"
                        && r.cluster.as_deref() == Some(name.as_str())
                        && r.status == Some(200)
                })
                .map(|r| r.at.saturating_duration_since(opened + BURST_UPDATE_TAKES))
        })
        .collect();
    revert_delays.sort();
    let median_revert = revert_delays.get(revert_delays.len() / 2).copied();
    let slowest_revert = revert_delays.last().copied();
    let busiest = eks.max_requests_in_window(None, Duration::from_secs(1));
    let peak = fleet.highest_peak_rss_kib();
    println!(
        "burst, {} clusters, {} environments, EKS at {}/s (bucket {}), updates take {:.0} s; {}: \
         {throttled} of {} EKS calls throttled ({:.0}%, aim <= 20%); every cluster reverted and \
         confirmed after {:.1} s ({confirmed} of {} confirmed); revert sent {:.1} s after the \
         opening update ended (median; slowest {:.1} s); {failed} invocations failed \
         (aim 0); busiest second {busiest} calls; peak RSS {:.1} MiB; by operation (calls/throttled): {}",
        BURST_CLUSTERS,
        run.environments,
        BURST_RATE.per_second,
        BURST_RATE.burst,
        BURST_UPDATE_TAKES.as_secs_f64(),
        run.label,
        requests.len(),
        100.0 * throttled as f64 / requests.len().max(1) as f64,
        took.as_secs_f64(),
        names.len(),
        median_revert.unwrap_or_default().as_secs_f64(),
        slowest_revert.unwrap_or_default().as_secs_f64(),
        peak as f64 / 1024.0,
        by_operation
            .iter()
            .map(|(operation, (calls, throttled))| format!("{operation} {calls}/{throttled}"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    if std::env::var_os("BURST_TIMELINE").is_some() {
        // Calls and throttled calls in each second of the burst, by operation.
        let mut seconds: BTreeMap<u64, BTreeMap<&str, (usize, usize)>> = BTreeMap::new();
        for request in &requests {
            let second = request.at.saturating_duration_since(started).as_secs();
            let entry = seconds
                .entry(second)
                .or_default()
                .entry(request.operation)
                .or_default();
            entry.0 += 1;
            entry.1 += usize::from(request.throttled);
        }
        for (second, operations) in seconds {
            let line: Vec<String> = operations
                .iter()
                .map(|(operation, (calls, throttled))| format!("{operation} {calls}/{throttled}"))
                .collect();
            println!("  s{second:02}: {}", line.join(", "));
        }
    }
    if failed > 0 {
        for (index, outcome) in outcomes.iter().enumerate() {
            if !matches!(outcome, Invocation::Response(answer) if answer["outcome"] == "reverted") {
                println!("  event {index}: {outcome:?}");
            }
        }
    }
    Ok(())
}

/// The answer to a sweep event, given 900 s: time enough for every
/// cluster's budget (the emulator does not enforce deadlines).
async fn sweep(guard: &FunctionProcess, payload: Vec<u8>) -> serde_json::Value {
    guard
        .invoke_with_deadline(&payload, Duration::from_secs(900))
        .await
        .expect_response()
}

fn report(what: &str, samples: &mut [Duration], aim: &str) {
    samples.sort();
    let at = |q: f64| samples[((samples.len() - 1) as f64 * q).round() as usize];
    println!(
        "{what}: median {:.2} ms, p95 {:.2} ms, min {:.2} ms, max {:.2} ms over {} runs ({aim})",
        ms(at(0.5)),
        ms(at(0.95)),
        ms(samples[0]),
        ms(samples[samples.len() - 1]),
        samples.len()
    );
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}
