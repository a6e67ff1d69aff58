//! The compiled guard as Lambda runs it (see `guard_testkit::function`), and
//! the stage the tests through the binary set up for it: moto, a topic with
//! an inbox, the EKS double, the guard's usual settings.

#![allow(dead_code, unused_imports)] // each test file uses its own part of this module

use std::path::Path;
use std::time::Duration;

use guard_testkit::eks::{
    ClusterSpec, EksDouble, EksOptions, EndpointChange, Finish, UpdateBehaviour,
};
pub use guard_testkit::function::{
    FunctionProcess as GuardProcessInner, SECRET_ACCESS_KEY, finding_of, sample,
};
use guard_testkit::moto::{self, Moto};
use serde_json::Value;

/// The sample event that opens `prod-eu`'s endpoint (account 111122223333,
/// eu-west-1), and the update it names.
pub const OPEN_PUBLIC: &str = "updateclusterconfig-open-public.json";
pub const EVENT_UPDATE_ID: &str = "3f9d2c1e-8b7a-4c55-9e21-6f0d5a4b3c2a";

/// The role a central guard assumes in the other accounts.
pub const REMEDIATION_ROLE: &str = "eks-endpoint-guard-remediation";

/// A guard's settings: `(variable, value)`.
pub type Settings = Vec<(&'static str, String)>;

/// The guard binary under test, under the Runtime API emulator.
pub struct GuardProcess;

impl GuardProcess {
    pub async fn start(settings: &[(&str, String)]) -> GuardProcessInner {
        GuardProcess::start_as(guard_testkit::runtime::DEFAULT_FUNCTION_ARN, settings).await
    }

    /// With a Lambda `Invoke` stand-in that feeds the guard's hand-offs back
    /// to it, each with `deadline` to run.
    pub async fn start_handing_off(
        function_arn: &str,
        settings: &[(&str, String)],
        deadline: std::time::Duration,
    ) -> GuardProcessInner {
        GuardProcessInner::start_with_lambda(
            Path::new(env!("CARGO_BIN_EXE_eks-endpoint-guard")),
            function_arn,
            settings,
            deadline,
        )
        .await
    }

    pub async fn start_as(function_arn: &str, settings: &[(&str, String)]) -> GuardProcessInner {
        GuardProcessInner::start(
            Path::new(env!("CARGO_BIN_EXE_eks-endpoint-guard")),
            function_arn,
            settings,
        )
        .await
    }
}

/// A field of a JSON log record, whether `tracing` nested it under `fields`
/// or put it at the top.
pub fn field<'a>(record: &'a Value, name: &str) -> &'a Value {
    if record["fields"].is_object() {
        &record["fields"][name]
    } else {
        &record[name]
    }
}

/// The guard's function in `account`, in eu-west-1.
pub fn function_arn(account: &str) -> String {
    format!("arn:aws:lambda:eu-west-1:{account}:function:eks-endpoint-guard")
}

/// The usual settings: alerts to `topic`; SNS and STS from `moto`, EKS from
/// the double.
pub fn settings(topic: &str, moto: &Moto, eks: &EksDouble) -> Settings {
    vec![
        ("ALERT_TOPIC_ARN", topic.to_string()),
        ("AWS_ENDPOINT_URL_SNS", moto.endpoint_url()),
        ("AWS_ENDPOINT_URL_STS", moto.endpoint_url()),
        ("AWS_ENDPOINT_URL_EKS", eks.endpoint_url()),
    ]
}

/// The guard's own updates end as `finish` says; the cluster stays ACTIVE
/// meanwhile (seen for endpoint updates).
pub fn own_updates(finish: Finish) -> EksOptions {
    EksOptions {
        api_updates: UpdateBehaviour::staying_active(finish),
        ..EksOptions::default()
    }
}

/// The guard's own updates finish shortly after they start, as real ones do
/// minutes later; the cluster stays ACTIVE meanwhile (seen for endpoint updates).
pub fn quick_updates() -> EksOptions {
    own_updates(Finish::After(Duration::from_millis(300)))
}

/// The filter policy of a machine subscriber (README, "What alerts look
/// like"): event alerts and the sweep's findings, not its summary.
pub const MACHINES: &str = r#"{"audience": ["machines"]}"#;
/// The filter policy of the template's email and HTTPS subscriptions:
/// people's messages, and messages without the attribute (alarms). With
/// `$or`: moto 5.2 stops at the first value of `["people", {"exists":
/// false}]` when the attribute is missing.
pub const PEOPLE: &str =
    r#"{"$or": [{"audience": ["people"]}, {"audience": [{"exists": false}]}]}"#;

/// What a test through the binary runs against: `moto_server` (SNS, SQS,
/// STS, ...), an SNS topic with an SQS queue subscribed as its inbox (a
/// machine subscriber: [`MACHINES`]), and the EKS double.
pub struct Stage {
    pub moto: Moto,
    pub topic: String,
    pub inbox: String,
    pub eks: EksDouble,
}

impl Stage {
    /// moto, the topic `topic` with its inbox, and the double with `eks`.
    pub async fn start(topic: &str, eks: EksOptions) -> Stage {
        let moto = Moto::start().await.expect("moto_server");
        let name = topic;
        let topic = moto.topic(name).await;
        let inbox = moto
            .subscribe_queue(&topic, &format!("{name}-inbox"), Some(MACHINES))
            .await;
        let eks = EksDouble::start(eks).await.expect("EKS double");
        Stage {
            moto,
            topic,
            inbox,
            eks,
        }
    }

    /// The usual [`settings`] for this stage.
    pub fn settings(&self) -> Settings {
        settings(&self.topic, &self.moto, &self.eks)
    }

    /// The usual settings, and `extra` after them.
    pub fn settings_with(&self, extra: &[(&'static str, &str)]) -> Settings {
        let mut settings = self.settings();
        settings.extend(extra.iter().map(|(k, v)| (*k, v.to_string())));
        settings
    }

    /// The guard with the usual settings and `extra`.
    pub async fn guard(&self, extra: &[(&'static str, &str)]) -> GuardProcessInner {
        GuardProcess::start(&self.settings_with(extra)).await
    }

    /// A central deployment's guard: the function in moto's own account,
    /// reaching other accounts through [`REMEDIATION_ROLE`] (assumed through
    /// moto's STS); the usual settings and `extra`.
    pub async fn central_guard(&self, extra: &[(&'static str, &str)]) -> GuardProcessInner {
        let mut settings = self.settings_with(&[("REMEDIATION_ROLE_NAME", REMEDIATION_ROLE)]);
        settings.extend(extra.iter().map(|(k, v)| (*k, v.to_string())));
        GuardProcess::start_as(&function_arn(moto::ACCOUNT), &settings).await
    }

    /// The alerts in the inbox: `expected` of them, or those that came
    /// within `timeout`.
    pub async fn alerts(&self, expected: usize, timeout: Duration) -> Vec<Value> {
        self.moto.receive(&self.inbox, expected, timeout).await
    }

    /// The finding of the next alert, which must come within 10 s.
    pub async fn finding(&self) -> Value {
        let alerts = self.alerts(1, Duration::from_secs(10)).await;
        finding_of(alerts.first().expect("an alert within 10 s"))
    }
}

/// `name`, with only its private endpoint: a cluster before someone opens it.
pub fn private_cluster(name: &str) -> ClusterSpec {
    ClusterSpec::new(name).public(false).private(true)
}

/// Someone's update that opens the endpoint of `cluster` (added to the
/// double), still InProgress with the cluster ACTIVE and describing its old
/// settings: its id.
pub fn someone_opens(eks: &EksDouble, cluster: ClusterSpec) -> String {
    let name = cluster.name.clone();
    eks.add_cluster(cluster);
    eks.start_update(
        &name,
        EndpointChange::open_to_internet(),
        UpdateBehaviour::staying_active(Finish::Manual),
    )
}

/// Someone's update that opened the endpoint of `cluster` (added to the
/// double), finished: its id.
pub fn someone_opened(eks: &EksDouble, cluster: ClusterSpec) -> String {
    let name = cluster.name.clone();
    let update = someone_opens(eks, cluster);
    assert!(eks.finish_update(&name, &update));
    update
}

/// `count` finished version updates in `cluster`'s history.
pub fn add_history(eks: &EksDouble, cluster: &str, count: usize) {
    for _ in 0..count {
        let id = eks.start_other_update(
            cluster,
            "VersionUpdate",
            UpdateBehaviour::staying_active(Finish::Manual),
        );
        assert!(eks.finish_update(cluster, &id));
    }
}

/// The open-public sample naming `update` as the update it started.
pub fn open_event(update: &str) -> Vec<u8> {
    sample(OPEN_PUBLIC, &[(EVENT_UPDATE_ID, update)])
}

/// The open-public sample, of `cluster` in `account` instead of `prod-eu`
/// in 111122223333.
pub fn open_event_in(account: &str, cluster: &str) -> Vec<u8> {
    sample(
        OPEN_PUBLIC,
        &[
            ("\"prod-eu\"", &format!("\"{cluster}\"")),
            (
                "\"account\": \"111122223333\"",
                &format!("\"account\": \"{account}\""),
            ),
        ],
    )
}

/// The scheduled sweep's answer. The emulator does not enforce deadlines:
/// a long one (900 s) leaves room for the per-cluster budget (150 s)
/// without making the test wait.
pub async fn sweep(guard: &GuardProcessInner, payload: &[u8]) -> Value {
    guard
        .invoke_with_deadline(payload, Duration::from_secs(900))
        .await
        .expect_response()
}

/// The scheduled-sweep sample, as it comes.
pub fn sweep_event() -> Vec<u8> {
    sample("scheduled-sweep.json", &[])
}
