//! Issue 16, through the compiled binary against moto's SNS: a sweep tells
//! people once (one summary) and machines per cluster (one finding each, in
//! `PublishBatch` calls), told apart by the `audience` attribute and the
//! subscriptions' filter policies; an event still alerts people at once.
//!
//! Three subscribers, as a deployment has them: an email-like one (an SQS
//! queue with the template's email filter policy; moto delivers email
//! nowhere, and which messages pass the filter is what is tested here: the
//! email text itself is unit-tested), a chat-like one (an `https`
//! subscription, with the same filter, to a local HTTP server: moto POSTs it
//! the `https` view, the Chatbot card) and the machine queue (the stage's
//! inbox, filter `{"audience": ["machines"]}`).

mod common;

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use common::{
    GuardProcessInner, PEOPLE, Stage, field, finding_of, open_event, private_cluster,
    quick_updates, sample, someone_opened, sweep,
};
use eks_endpoint_guard::policy::rfc3339;
use guard_testkit::eks::{ClusterSpec, EksOptions};
use guard_testkit::webhook;
use serde_json::Value;

/// SNS's message limit.
const MAX_PUBLISH_BYTES: u64 = 262_144;

/// A local HTTP endpoint that records every POST body, as a chat
/// application's webhook would receive them.
#[derive(Clone, Default)]
struct ChatEndpoint(Arc<Mutex<Vec<Value>>>);

impl ChatEndpoint {
    async fn start() -> (ChatEndpoint, String) {
        let chat = ChatEndpoint::default();
        let bodies = chat.0.clone();
        let url = webhook::serve("/chat", move |body| {
            let bodies = bodies.clone();
            async move {
                bodies
                    .lock()
                    .unwrap()
                    .push(serde_json::from_slice(&body).unwrap_or(Value::Null));
            }
        })
        .await
        .unwrap();
        (chat, url)
    }

    /// The envelopes received so far.
    fn received(&self) -> Vec<Value> {
        self.0.lock().unwrap().clone()
    }
}

/// The stage, with the email-like and the chat-like subscribers.
struct Audiences {
    stage: Stage,
    people: String,
    chat: ChatEndpoint,
}

impl Audiences {
    async fn start(topic: &str, eks: EksOptions) -> Audiences {
        let stage = Stage::start(topic, eks).await;
        let people = stage
            .moto
            .subscribe_queue(&stage.topic, &format!("{topic}-people"), Some(PEOPLE))
            .await;
        let (chat, url) = ChatEndpoint::start().await;
        stage
            .moto
            .subscribe(&stage.topic, "https", &url, Some(PEOPLE))
            .await;
        Audiences {
            stage,
            people,
            chat,
        }
    }

    /// What reached the email-like subscriber: `expected`, or what came in
    /// `wait` (ask for one more than expected to see that no more came).
    async fn people(&self, expected: usize, wait: Duration) -> Vec<Value> {
        self.stage.moto.receive(&self.people, expected, wait).await
    }

    /// What reached the machine queue.
    async fn machines(&self, expected: usize, wait: Duration) -> Vec<Value> {
        self.stage.alerts(expected, wait).await
    }
}

/// The sweep sample, scheduled at `at`.
fn sweep_at(at: SystemTime) -> Vec<u8> {
    let seconds = at.duration_since(SystemTime::UNIX_EPOCH).unwrap().as_secs() as i64;
    sample(
        "scheduled-sweep.json",
        &[("2026-11-23T07:00:00Z", &rfc3339(seconds))],
    )
}

/// The guard's "sweep told" log record of its latest sweep.
fn told(guard: &GuardProcessInner) -> Value {
    let records = guard.log_records("sweep told");
    records.last().cloned().expect("a sweep told line")
}

fn open_clusters(stage: &Stage, count: usize, name: impl Fn(usize) -> String) -> BTreeSet<String> {
    (0..count)
        .map(|i| {
            stage.eks.add_cluster(ClusterSpec::new(&name(i)));
            name(i)
        })
        .collect()
}

fn print_figures(label: &str, record: &Value) {
    println!(
        "figures: {label}: {} message(s) to people, {} to machines in {} PublishBatch call(s), largest publish {} bytes",
        field(record, "people_messages"),
        field(record, "machine_messages"),
        field(record, "publish_batch_calls"),
        field(record, "largest_publish_bytes"),
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_report_mode_sweep_tells_people_once_and_machines_per_cluster_and_an_hour_later_nothing_is_new()
 {
    let audiences = Audiences::start("tell-report", EksOptions::default()).await;
    let stage = &audiences.stage;
    let open = open_clusters(stage, 25, |i| format!("open-{i:02}"));
    let guard = stage.guard(&[("GUARD_MODE", "report")]).await;
    let now = SystemTime::now();

    let answer = sweep(&guard, &sweep_at(now)).await;

    assert_eq!(answer["sweep"]["reported"], 25, "{answer}");
    let people = audiences.people(2, Duration::from_secs(5)).await;
    assert_eq!(people.len(), 1, "one message to people: {people:?}");
    assert_eq!(
        people[0]["MessageAttributes"]["audience"]["Value"],
        r#"["people"]"#
    );
    let summary = finding_of(&people[0]);
    assert_eq!(summary["schema"], "eks-endpoint-guard/sweep-summary/v1");
    assert_eq!(
        (summary["open"].as_u64(), summary["new"].as_u64()),
        (Some(25), Some(25)),
        "{summary}"
    );
    let listed: BTreeSet<String> = summary["clusters"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            assert_eq!(c["done"], "would-revert", "{c}");
            assert!(
                c["openSince"].is_string(),
                "the creation time says since when: {c}"
            );
            c["cluster"].as_str().unwrap().to_string()
        })
        .collect();
    assert_eq!(listed, open);
    let subject = people[0]["Subject"].as_str().unwrap();
    assert!(
        subject.len() <= 100 && subject.contains("25 public endpoint(s), 25 new"),
        "{subject}"
    );

    let chat = audiences.chat.received();
    assert_eq!(chat.len(), 1, "one card: {chat:?}");
    let card: Value = serde_json::from_str(chat[0]["Message"].as_str().unwrap()).unwrap();
    assert_eq!(card["source"], "custom");
    assert!(
        card["content"]["title"]
            .as_str()
            .unwrap()
            .contains("25 public endpoint(s), 25 new"),
        "{card}"
    );
    // The card lists what fits its text and says how many it left out.
    let description = card["content"]["description"].as_str().unwrap();
    let shown = description.matches("\n• NEW open-").count();
    assert!(shown >= 10, "{description}");
    if shown < 25 {
        let more = format!(
            "... and {} more: every cluster has its own finding",
            25 - shown
        );
        assert!(description.contains(&more), "{description}");
    }

    let machines = audiences.machines(25, Duration::from_secs(30)).await;
    assert_eq!(machines.len(), 25, "one finding per cluster");
    assert!(
        audiences
            .machines(1, Duration::from_secs(2))
            .await
            .is_empty(),
        "only 25"
    );
    let found: BTreeSet<String> = machines
        .iter()
        .map(|m| {
            assert_eq!(
                m["MessageAttributes"]["audience"]["Value"],
                r#"["machines"]"#
            );
            let finding = finding_of(m);
            assert_eq!(finding["outcome"], "would-revert");
            assert!(finding["history"]["openSince"].is_string(), "{finding}");
            finding["cluster"]["name"].as_str().unwrap().to_string()
        })
        .collect();
    assert_eq!(found, open);
    print_figures("report-mode sweep, 25 findings", &told(&guard));

    // The same sweep an hour later: the same clusters, none new.
    let answer = sweep(&guard, &sweep_at(now + Duration::from_secs(3600))).await;
    assert_eq!(answer["sweep"]["reported"], 25, "{answer}");
    let people = audiences.people(2, Duration::from_secs(5)).await;
    assert_eq!(people.len(), 1, "{people:?}");
    let summary = finding_of(&people[0]);
    assert_eq!(
        (summary["open"].as_u64(), summary["new"].as_u64()),
        (Some(25), Some(0)),
        "{summary}"
    );
    assert!(
        summary["clusters"]
            .as_array()
            .unwrap()
            .iter()
            .all(|c| c["new"] == false)
    );
    assert_eq!(
        audiences.machines(25, Duration::from_secs(30)).await.len(),
        25
    );

    // An alarm (no attributes) reaches people, not machines.
    stage
        .moto
        .sns()
        .publish()
        .topic_arn(&stage.topic)
        .message("ALARM: GuardErrors")
        .send()
        .await
        .unwrap();
    assert_eq!(audiences.people(1, Duration::from_secs(5)).await.len(), 1);
    assert!(
        audiences
            .machines(1, Duration::from_secs(2))
            .await
            .is_empty()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_enforce_sweep_over_300_open_clusters_sends_every_finding_in_publishes_that_fit() {
    let audiences = Audiences::start("tell-enforce", EksOptions::default()).await;
    let stage = &audiences.stage;
    // EKS's longest names (100 characters): the largest lines and findings.
    let open = open_clusters(stage, 300, |i| format!("{i:03}-{}", "n".repeat(96)));
    let guard = stage
        .guard(&[
            ("SWEEP_CONCURRENCY", "8"),
            ("GUARD_EKS_CALLS_PER_SECOND", "100"),
        ])
        .await;

    let answer = sweep(&guard, &sweep_at(SystemTime::now())).await;

    assert_eq!(answer["sweep"]["reverted"], 300, "{answer}");
    let record = told(&guard);
    print_figures("enforce sweep, 300 findings", &record);
    assert!(
        field(&record, "largest_publish_bytes").as_u64().unwrap() < MAX_PUBLISH_BYTES,
        "{record}"
    );
    assert_eq!(
        field(&record, "publish_batch_calls"),
        30,
        "10 findings a call"
    );

    let machines = audiences.machines(300, Duration::from_secs(60)).await;
    assert!(
        audiences
            .machines(1, Duration::from_secs(2))
            .await
            .is_empty(),
        "only 300"
    );
    let found: BTreeSet<String> = machines
        .iter()
        .map(|m| {
            let finding = finding_of(m);
            assert_eq!(finding["outcome"], "reverted");
            finding["cluster"]["name"].as_str().unwrap().to_string()
        })
        .collect();
    assert_eq!(found, open, "every cluster reaches the queue once");
    assert_eq!(machines.len(), 300);

    let people = audiences.people(2, Duration::from_secs(5)).await;
    assert_eq!(people.len(), 1, "{people:?}");
    let summary = finding_of(&people[0]);
    let listed = summary["clusters"].as_array().unwrap().len() as u64;
    let omitted = summary["omittedClusters"].as_u64().unwrap();
    assert!(omitted > 0, "300 long lines do not all fit: {summary}");
    assert_eq!(
        (listed + omitted, summary["open"].as_u64()),
        (300, Some(300))
    );
    let chat = audiences.chat.received();
    let card: Value = serde_json::from_str(chat[0]["Message"].as_str().unwrap()).unwrap();
    let description = card["content"]["description"].as_str().unwrap();
    let shown = description.matches("\n• ").count();
    assert!(
        description.contains(&format!(
            "... and {} more: every cluster has its own finding",
            300 - shown
        )),
        "{description}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_event_still_alerts_people_at_once() {
    let audiences = Audiences::start("tell-event", quick_updates()).await;
    let stage = &audiences.stage;
    let their_update = someone_opened(&stage.eks, private_cluster("prod-eu"));
    let guard = stage.guard(&[]).await;

    let answer = guard
        .invoke(&open_event(&their_update))
        .await
        .expect_response();

    assert_eq!(answer["outcome"], "reverted", "{answer}");
    let people = audiences.people(2, Duration::from_secs(5)).await;
    assert_eq!(people.len(), 1, "{people:?}");
    assert_eq!(
        people[0]["MessageAttributes"]["audience"]["Value"],
        r#"["people","machines"]"#
    );
    assert_eq!(finding_of(&people[0])["cluster"]["name"], "prod-eu");
    let chat = audiences.chat.received();
    assert_eq!(chat.len(), 1, "{chat:?}");
    let card: Value = serde_json::from_str(chat[0]["Message"].as_str().unwrap()).unwrap();
    assert_eq!(
        card["content"]["title"],
        ":rotating_light: Public EKS endpoint reverted on prod-eu"
    );
    let machines = audiences.machines(2, Duration::from_secs(3)).await;
    assert_eq!(machines.len(), 1);
    assert_eq!(finding_of(&machines[0])["outcome"], "reverted");
}
