//! `make invoke EVENT=events/<file>.json`: one event through the local release
//! binary, under the Runtime API emulator, against moto (SNS/SQS) and the EKS
//! double. The cluster the event names is seeded as public and ACTIVE (a
//! sweep event gets three clusters), so the event has something to act on.
//! Prints the guard's answer, its log lines and the alerts it sent.

use std::process::ExitCode;
use std::time::Duration;

use eks_endpoint_guard::event::{Trigger, parse};
use guard_testkit::eks::{ClusterSpec, EksDouble, EksOptions, Finish, UpdateBehaviour};
use guard_testkit::function::{FunctionProcess, finding_of, sibling_binary};
use guard_testkit::moto::Moto;
use guard_testkit::runtime::{DEFAULT_FUNCTION_ARN, Invocation};

#[tokio::main]
async fn main() -> ExitCode {
    match run().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(problem) => {
            eprintln!("invoke failed: {problem}");
            ExitCode::FAILURE
        }
    }
}

async fn run() -> Result<(), String> {
    let event_path = std::env::args()
        .nth(1)
        .ok_or("usage: invoke events/<file>.json")?;
    let payload = std::fs::read(&event_path).map_err(|e| format!("{event_path}: {e}"))?;
    let guard_binary = sibling_binary("eks-endpoint-guard")?;

    let moto = Moto::start().await?;
    let (topic, inbox) = moto.topic_with_inbox("eks-endpoint-guard-alerts").await;
    let eks = EksDouble::start(EksOptions {
        api_updates: UpdateBehaviour {
            finish: Finish::After(Duration::from_secs(1)),
            ..UpdateBehaviour::default()
        },
        ..EksOptions::default()
    })
    .await
    .map_err(|e| e.to_string())?;
    match serde_json::from_slice(&payload).map(|value| parse(&value)) {
        Ok(Ok(Trigger::ClusterChange(change))) => {
            eks.add_cluster(ClusterSpec::new(&change.cluster_name));
            println!(
                "seeded EKS double: {} (ACTIVE, public to 0.0.0.0/0)",
                change.cluster_name
            );
        }
        Ok(Ok(Trigger::Sweep(_))) => {
            for (name, public) in [
                ("sweep-open", true),
                ("sweep-private", false),
                ("sweep-open-2", true),
            ] {
                eks.add_cluster(ClusterSpec::new(name).public(public).private(!public));
            }
            println!("seeded EKS double: sweep-open, sweep-private, sweep-open-2");
        }
        _ => println!("the event names no cluster: nothing seeded"),
    }

    let guard = FunctionProcess::start(
        &guard_binary,
        DEFAULT_FUNCTION_ARN,
        &[
            ("ALERT_TOPIC_ARN", topic),
            ("AWS_ENDPOINT_URL_SNS", moto.endpoint_url()),
            ("AWS_ENDPOINT_URL_EKS", eks.endpoint_url()),
            (
                "ALLOWED_PUBLIC_CIDRS",
                std::env::var("ALLOWED_PUBLIC_CIDRS").unwrap_or_default(),
            ),
            (
                "GUARD_MODE",
                std::env::var("GUARD_MODE").unwrap_or_default(),
            ),
        ],
    )
    .await;
    let invocation = guard.invoke(&payload).await;
    println!("\n--- guard log");
    guard.print_logs();
    println!("\n--- answer");
    match &invocation {
        Invocation::Response(answer) => println!("{answer:#}"),
        Invocation::RawResponse(bytes) => println!("{}", String::from_utf8_lossy(bytes)),
        Invocation::Error {
            error_type,
            error_message,
        } => println!("invocation error {error_type}: {error_message}"),
    }
    println!("\n--- alerts");
    let alerts = moto.receive(&inbox, 10, Duration::from_secs(2)).await;
    if alerts.is_empty() {
        println!("(none)");
    }
    for alert in &alerts {
        println!("Subject: {}", alert["Subject"].as_str().unwrap_or(""));
        println!("{:#}\n", finding_of(alert));
    }
    Ok(())
}
