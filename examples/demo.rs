//! `make demo`: the guard's main job, on a laptop, with no AWS account.
//!
//! - SNS and SQS: `moto_server` on loopback (the alert topic, with an SQS inbox
//!   and an HTTPS subscription standing in for AWS Chatbot).
//! - EKS: the testkit's double, because moto applies updates at once and has no
//!   `DescribeUpdate`; the double keeps an update `InProgress` while the
//!   cluster stays `ACTIVE` describing its old settings, as real EKS does.
//! - The guard: the release binary, under a Lambda Runtime API emulator.
//!
//! It prints the story and exits 0 only if the revert and the alert happened.

use std::process::ExitCode;
use std::time::{Duration, Instant};

use eks_endpoint_guard::alert::{Finding, email_text};
use eks_endpoint_guard::{clock, policy};
use guard_testkit::eks::{
    ClusterSnapshot, ClusterSpec, EksDouble, EksOptions, EndpointChange, Finish, UpdateBehaviour,
};
use guard_testkit::function::{FunctionProcess, finding_of, sample, sibling_binary};
use guard_testkit::moto::Moto;
use guard_testkit::runtime::{DEFAULT_FUNCTION_ARN, Invocation};
use guard_testkit::webhook;
use serde_json::Value;
use tokio::sync::mpsc;

const CLUSTER: &str = "payments-prod";
const SAMPLE: &str = "updateclusterconfig-open-public.json";
const SAMPLE_UPDATE_ID: &str = "3f9d2c1e-8b7a-4c55-9e21-6f0d5a4b3c2a";
/// The sample's `time` and `detail.eventTime`: the demo sets both to the
/// moment its update starts, so the answer's `eventToRevertSeconds` is this
/// run's, not the age of the sample file.
const SAMPLE_TIME: &str = "2026-11-23T06:00:01Z";

#[tokio::main]
async fn main() -> ExitCode {
    match run().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(problem) => {
            eprintln!("\ndemo FAILED: {problem}");
            ExitCode::FAILURE
        }
    }
}

async fn run() -> Result<(), String> {
    let guard_binary = sibling_binary("eks-endpoint-guard")?;
    println!("== eks-endpoint-guard demo: everything runs on loopback, no AWS account needed\n");

    let moto = Moto::start().await?;
    let (topic, inbox) = moto.topic_with_inbox("eks-endpoint-guard-alerts").await;
    let (chat_url, mut chat_cards) = chatbot_stand_in().await?;
    moto.sns()
        .subscribe()
        .topic_arn(&topic)
        .protocol("https")
        .endpoint(&chat_url)
        .send()
        .await
        .map_err(|e| format!("subscribing the Chatbot stand-in: {e:?}"))?;
    println!("moto_server:  SNS topic {topic}");
    println!(
        "              subscribed: an SQS inbox (machines) and an HTTPS endpoint playing AWS Chatbot (Slack)"
    );

    let eks = EksDouble::start(EksOptions {
        api_updates: UpdateBehaviour::staying_active(Finish::After(Duration::from_secs(2))),
        // The account and region of the sample event.
        region: "eu-west-1".to_string(),
        account: "111122223333".to_string(),
        ..EksOptions::default()
    })
    .await
    .map_err(|e| format!("EKS double: {e}"))?;
    eks.add_cluster(ClusterSpec::new(CLUSTER).public(false).private(true));
    println!("EKS double:   {}\n", eks.endpoint_url());
    println!("1. Before:  {CLUSTER}: {}", settings(&snapshot(&eks)?));

    let their_update = eks.start_update(
        CLUSTER,
        EndpointChange::open_to_internet(),
        UpdateBehaviour::staying_active(Finish::After(Duration::from_secs(3))),
    );
    // CloudTrail's eventTime: when EKS took the call.
    let event_time = policy::rfc3339(clock::epoch_seconds());
    println!(
        "2. jane.doe@example.com runs `aws eks update-cluster-config --resources-vpc-config endpointPublicAccess=true,publicAccessCidrs=0.0.0.0/0`"
    );
    println!(
        "   EKS answers: update {their_update} InProgress. The cluster stays ACTIVE and still describes: {}",
        settings(&snapshot(&eks)?)
    );

    let guard = FunctionProcess::start(
        &guard_binary,
        DEFAULT_FUNCTION_ARN,
        &[
            ("ALERT_TOPIC_ARN", topic.clone()),
            ("AWS_ENDPOINT_URL_SNS", moto.endpoint_url()),
            ("AWS_ENDPOINT_URL_EKS", eks.endpoint_url()),
            // The default, spelled out: look again every second.
            ("GUARD_POLL_SECONDS", "1".to_string()),
        ],
    )
    .await;
    let event = sample(
        SAMPLE,
        &[
            (SAMPLE_UPDATE_ID, &their_update),
            ("\"prod-eu\"", "\"payments-prod\""),
            // The record's `time` and `eventTime`, the only places it stands.
            (SAMPLE_TIME, &event_time),
        ],
    );
    println!(
        "3. CloudTrail -> EventBridge deliver the record (events/{SAMPLE}, eventTime {event_time}) to the guard ({})",
        guard_binary.display()
    );
    println!("   The guard waits for update {their_update} to finish before it reads anything...");
    let started = Instant::now();
    let answer = match guard.invoke(&event).await {
        Invocation::Response(answer) => answer,
        other => {
            guard.print_logs();
            return Err(format!("the guard did not revert: {other:?}"));
        }
    };
    println!(
        "   ...after {:.1} s it answered: {}",
        started.elapsed().as_secs_f64(),
        answer
    );
    if answer["outcome"] != "reverted" {
        return Err(format!("expected a revert, got {answer}"));
    }
    let revert_id = answer["updateId"].as_str().unwrap_or_default().to_string();
    let revert = eks
        .requests_for("UpdateClusterConfig")
        .into_iter()
        .next()
        .ok_or("no UpdateClusterConfig reached EKS")?;
    println!("4. The guard sent UpdateClusterConfig {}", revert.body);
    println!("   EKS started update {revert_id}; real EKS takes minutes, the double two seconds.");

    let after = wait_for(&eks, |c| !c.public, Duration::from_secs(30)).await?;
    println!("5. After:   {CLUSTER}: {}\n", settings(&after));

    let notifications = moto.receive(&inbox, 1, Duration::from_secs(10)).await;
    let notification = notifications
        .first()
        .ok_or("no alert reached the SQS inbox")?;
    let machine = finding_of(notification);
    let finding: Finding = serde_json::from_value(machine.clone())
        .map_err(|e| format!("the finding does not match its schema: {e}"))?;
    let card = tokio::time::timeout(Duration::from_secs(10), chat_cards.recv())
        .await
        .ok()
        .flatten()
        .ok_or("no alert reached the Chatbot stand-in")?;

    println!(
        "6. The alert, as an email reader sees it (Subject: {}):",
        notification["Subject"].as_str().unwrap_or("")
    );
    println!("{}", indent(&email_text(&finding)));
    println!("\n7. The alert, as the Slack channel sees it through AWS Chatbot:");
    println!(
        "   {}",
        card["content"]["title"].as_str().unwrap_or("(no title)")
    );
    println!(
        "{}",
        indent(
            card["content"]["description"]
                .as_str()
                .unwrap_or("(no description)")
        )
    );
    println!(
        "\n8. The alert for machines (SQS inbox, schema {}): outcome={}, action attribute={}",
        machine["schema"].as_str().unwrap_or(""),
        machine["outcome"].as_str().unwrap_or(""),
        notification["MessageAttributes"]["action"]["Value"]
            .as_str()
            .unwrap_or(""),
    );
    println!("\nDemo OK: the endpoint was closed and the alert was delivered.");
    Ok(())
}

fn snapshot(eks: &EksDouble) -> Result<ClusterSnapshot, String> {
    eks.cluster(CLUSTER)
        .ok_or_else(|| format!("{CLUSTER} vanished"))
}

fn settings(cluster: &ClusterSnapshot) -> String {
    if cluster.public {
        format!(
            "PUBLIC endpoint from {}, private endpoint {}",
            cluster.cidrs.join(", "),
            if cluster.private { "on" } else { "off" }
        )
    } else {
        format!(
            "public endpoint off, private endpoint {}",
            if cluster.private { "on" } else { "off" }
        )
    }
}

async fn wait_for(
    eks: &EksDouble,
    done: impl Fn(&ClusterSnapshot) -> bool,
    timeout: Duration,
) -> Result<ClusterSnapshot, String> {
    let deadline = Instant::now() + timeout;
    loop {
        let cluster = snapshot(eks)?;
        if done(&cluster) {
            return Ok(cluster);
        }
        if Instant::now() > deadline {
            return Err(format!("{CLUSTER} still {}", settings(&cluster)));
        }
        // The double applies an update when it is next looked at.
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn indent(text: &str) -> String {
    text.lines()
        .map(|l| format!("   | {l}"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// An HTTP endpoint that takes SNS HTTPS deliveries the way AWS Chatbot does
/// and hands over the Chatbot notification inside each.
async fn chatbot_stand_in() -> Result<(String, mpsc::Receiver<Value>), String> {
    let (sender, receiver) = mpsc::channel(8);
    let url = webhook::serve("/chatbot", move |body| {
        let sender = sender.clone();
        async move {
            // SNS wraps the `https` view in a notification envelope.
            let Ok(envelope) = serde_json::from_slice::<Value>(&body) else {
                return;
            };
            if let Some(card) = envelope["Message"]
                .as_str()
                .and_then(|m| serde_json::from_str::<Value>(m).ok())
            {
                let _ = sender.send(card).await;
            }
        }
    })
    .await
    .map_err(|e| e.to_string())?;
    Ok((url, receiver))
}
