//! Findings in Security Hub (`SECURITY_HUB=true`).
//!
//! First against `aws-smithy-mocks` on the real clients: what is imported
//! when, and what a Security Hub outage does (nothing to the revert or the
//! alert; the invocation fails after both). Then through the compiled
//! binary, with Security Hub, SNS and SQS served by `moto_server` and EKS by
//! the double, reading the findings back with `GetFindings` and checking
//! them against what Security Hub requires (moto accepts any shape).

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_sdk_eks::config::retry::RetryConfig;
use aws_sdk_eks::operation::describe_cluster::DescribeClusterOutput;
use aws_sdk_eks::operation::describe_update::DescribeUpdateOutput;
use aws_sdk_eks::operation::update_cluster_config::UpdateClusterConfigOutput;
use aws_sdk_eks::types::{
    Cluster, ClusterStatus, ErrorCode, ErrorDetail, Update, UpdateStatus, VpcConfigResponse,
};
use aws_sdk_securityhub::operation::batch_import_findings::{
    BatchImportFindingsInput, BatchImportFindingsOutput,
};
use aws_sdk_securityhub::types::{AwsSecurityFinding, ImportFindingsError};
use aws_sdk_sns::operation::publish::PublishOutput;
use aws_smithy_mocks::{Rule, RuleMode, mock, mock_client};
use common::{GuardProcess, sample};
use eks_endpoint_guard::config::Config;
use eks_endpoint_guard::error::GuardError;
use eks_endpoint_guard::guard::{Deadline, Guard, Invocation};
use eks_endpoint_guard::securityhub::{SecurityHub, problems};
use guard_testkit::eks::{
    ClusterSpec, EksDouble, EksOptions, EndpointChange, Finish, UpdateBehaviour,
};
use guard_testkit::moto::Moto;
use serde_json::Value;

const TOPIC: &str = "arn:aws:sns:eu-west-1:111122223333:alerts";
const OPEN_EVENT: &str = include_str!("../events/updateclusterconfig-open-public.json");
const EVENT_UPDATE_ID: &str = "3f9d2c1e-8b7a-4c55-9e21-6f0d5a4b3c2a";
const CLUSTER_ARN: &str = "arn:aws:eks:eu-west-1:111122223333:cluster/prod-eu";
const FINDING_ID: &str =
    "arn:aws:eks:eu-west-1:111122223333:cluster/prod-eu/eks-endpoint-guard/public-endpoint";

// ------------------------------------------------------------------ mocks

fn config(extra: &[(&str, &str)]) -> Config {
    let mut pairs: Vec<(&str, &str)> = vec![
        ("ALERT_TOPIC_ARN", TOPIC),
        ("GUARD_POLL_SECONDS", "0.01"),
        ("GUARD_CALL_TIMEOUT_SECONDS", "0.1"),
        ("GUARD_EKS_CALLS_PER_SECOND", "100"),
        ("SECURITY_HUB", "true"),
    ];
    pairs.extend_from_slice(extra);
    let mut config = Config::from_lookup(|key| {
        pairs
            .iter()
            .rev()
            .find(|(k, _)| *k == key)
            .map(|(_, v)| v.to_string())
    })
    .expect("valid test config");
    config.deadline_margin = Duration::from_millis(50);
    config
}

/// What happened, in order: "revert", "alert", "import".
#[derive(Clone, Default)]
struct Journal(Arc<Mutex<Vec<&'static str>>>);

impl Journal {
    fn note(&self, what: &'static str) {
        self.0.lock().unwrap().push(what);
    }

    fn entries(&self) -> Vec<&'static str> {
        self.0.lock().unwrap().clone()
    }
}

fn open_cluster(tags: &[(&str, &str)]) -> Rule {
    let tags: Vec<(String, String)> = tags
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    mock!(aws_sdk_eks::Client::describe_cluster).then_compute_output(move |_| {
        let mut cluster = Cluster::builder()
            .name("prod-eu")
            .arn(CLUSTER_ARN)
            .status(ClusterStatus::Active)
            .resources_vpc_config(
                VpcConfigResponse::builder()
                    .endpoint_public_access(true)
                    .endpoint_private_access(false)
                    .public_access_cidrs("0.0.0.0/0")
                    .build(),
            );
        for (k, v) in &tags {
            cluster = cluster.tags(k, v);
        }
        DescribeClusterOutput::builder()
            .cluster(cluster.build())
            .build()
    })
}

fn update(id: &str, status: UpdateStatus) -> DescribeUpdateOutput {
    let mut update = Update::builder().id(id).status(status.clone());
    if status == UpdateStatus::Failed {
        update = update.errors(
            ErrorDetail::builder()
                .error_code(ErrorCode::AccessDenied)
                .error_message("the cluster role may not change the endpoint")
                .build(),
        );
    }
    DescribeUpdateOutput::builder()
        .update(update.build())
        .build()
}

/// The event's update has finished; the guard's revert is `InProgress`
/// when first described and then ends `ending`.
fn updates(ending: UpdateStatus) -> Rule {
    let seen = Arc::new(Mutex::new(std::collections::HashSet::new()));
    mock!(aws_sdk_eks::Client::describe_update).then_compute_output(move |r| {
        let id = r.update_id().unwrap_or_default().to_string();
        if id == EVENT_UPDATE_ID {
            return update(&id, UpdateStatus::Successful);
        }
        let first = seen.lock().unwrap().insert(id.clone());
        update(
            &id,
            if first {
                UpdateStatus::InProgress
            } else {
                ending.clone()
            },
        )
    })
}

fn revert(journal: &Journal) -> Rule {
    let journal = journal.clone();
    mock!(aws_sdk_eks::Client::update_cluster_config).then_compute_output(move |_| {
        journal.note("revert");
        UpdateClusterConfigOutput::builder()
            .update(
                Update::builder()
                    .id("revert-1")
                    .status(UpdateStatus::InProgress)
                    .build(),
            )
            .build()
    })
}

fn publish(journal: &Journal) -> Rule {
    let journal = journal.clone();
    mock!(aws_sdk_sns::Client::publish).then_compute_output(move |_| {
        journal.note("alert");
        PublishOutput::builder().message_id("m-1").build()
    })
}

/// Every import is answered (and kept, in order).
#[derive(Clone, Default)]
struct Imports(Arc<Mutex<Vec<AwsSecurityFinding>>>);

impl Imports {
    fn rule(&self, journal: &Journal) -> Rule {
        let (imports, journal) = (self.clone(), journal.clone());
        mock!(aws_sdk_securityhub::Client::batch_import_findings).then_compute_output(
            move |input: &BatchImportFindingsInput| {
                journal.note("import");
                imports
                    .0
                    .lock()
                    .unwrap()
                    .extend(input.findings().iter().cloned());
                BatchImportFindingsOutput::builder()
                    .success_count(input.findings().len() as i32)
                    .failed_count(0)
                    .build()
            },
        )
    }

    fn all(&self) -> Vec<AwsSecurityFinding> {
        self.0.lock().unwrap().clone()
    }
}

/// Security Hub down: every attempt answers 503.
fn security_hub_down(journal: &Journal) -> Rule {
    let journal = journal.clone();
    mock!(aws_sdk_securityhub::Client::batch_import_findings)
        .match_requests(move |_| {
            journal.note("import");
            true
        })
        .sequence()
        .http_status(503, None)
        .repeatedly()
        .build()
}

fn guard(config: Config, eks: &[&Rule], sns: &[&Rule], security_hub: &[&Rule]) -> Guard {
    let retries = || {
        RetryConfig::standard()
            .with_max_attempts(3)
            .with_initial_backoff(Duration::from_millis(1))
    };
    // The history read before an alert (repeat openings): nothing listed.
    let history = mock!(aws_sdk_eks::Client::list_updates)
        .then_output(|| aws_sdk_eks::operation::list_updates::ListUpdatesOutput::builder().build());
    let mut eks = eks.to_vec();
    eks.push(&history);
    let eks = mock_client!(aws_sdk_eks, RuleMode::MatchAny, &eks, |c| c
        .retry_config(retries()));
    let sns = mock_client!(aws_sdk_sns, RuleMode::MatchAny, sns, |c| c
        .retry_config(RetryConfig::disabled()));
    let hub = mock_client!(aws_sdk_securityhub, RuleMode::MatchAny, security_hub, |c| c
        .retry_config(retries()));
    Guard::new(config, eks, sns).with_security_hub(SecurityHub::new(hub))
}

async fn run(guard: &Guard, event: &str) -> Result<Value, GuardError> {
    let payload: Value = serde_json::from_str(event).unwrap();
    guard
        .handle(
            &payload,
            &Invocation::until(Deadline::after(Duration::from_secs(10))),
        )
        .await
        .map(|answer| serde_json::to_value(answer).unwrap())
}

fn states(findings: &[AwsSecurityFinding]) -> Vec<(String, String)> {
    findings
        .iter()
        .map(|f| {
            (
                f.compliance()
                    .and_then(|c| c.status())
                    .map(|s| s.as_str().to_string())
                    .unwrap_or_default(),
                f.workflow()
                    .and_then(|w| w.status())
                    .map(|s| s.as_str().to_string())
                    .unwrap_or_default(),
            )
        })
        .collect()
}

fn pair(compliance: &str, workflow: &str) -> (String, String) {
    (compliance.to_string(), workflow.to_string())
}

#[tokio::test]
async fn a_revert_is_imported_failed_and_once_confirmed_resolved_under_one_id() {
    let journal = Journal::default();
    let imports = Imports::default();
    let (cluster, updates, revert, publish, import) = (
        open_cluster(&[]),
        updates(UpdateStatus::Successful),
        revert(&journal),
        publish(&journal),
        imports.rule(&journal),
    );
    let guard = guard(
        config(&[]),
        &[&cluster, &updates, &revert],
        &[&publish],
        &[&import],
    );

    let answer = run(&guard, OPEN_EVENT).await.unwrap();

    assert_eq!(answer["outcome"], "reverted");
    assert_eq!(answer["revertConfirmed"], true);
    assert_eq!(
        journal.entries(),
        ["revert", "alert", "import", "import"],
        "revert, alert, then the finding and its resolution"
    );
    let findings = imports.all();
    assert_eq!(
        states(&findings),
        [pair("FAILED", "NEW"), pair("PASSED", "RESOLVED")]
    );
    let (open, resolved) = (&findings[0], &findings[1]);
    assert_eq!(open.id(), Some(FINDING_ID));
    assert_eq!(
        resolved.id(),
        open.id(),
        "one finding per cluster and policy"
    );
    assert_eq!(resolved.product_arn(), open.product_arn());
    assert_eq!(
        open.product_arn(),
        Some("arn:aws:securityhub:eu-west-1:111122223333:product/111122223333/default")
    );
    assert_eq!(open.aws_account_id(), Some("111122223333"));
    assert_eq!(
        resolved.created_at(),
        open.created_at(),
        "CreatedAt stays the event's time"
    );
    assert!(
        resolved.updated_at() > open.updated_at(),
        "UpdatedAt moves on"
    );
    assert_eq!(open.resources()[0].id(), Some(CLUSTER_ARN));
    assert!(open.description().unwrap().contains("revert-1"));
}

/// Security Hub answers 503 to every attempt. The revert and the alert are
/// not held up (both come before the first import), the import is tried
/// again (the SDK's attempts, then once more by the guard), and the
/// invocation fails only at the end, with `SecurityHubImportFailed`.
#[tokio::test]
async fn a_security_hub_outage_delays_neither_the_revert_nor_the_alert_and_fails_after_them() {
    let journal = Journal::default();
    let (cluster, updates, revert, publish, down) = (
        open_cluster(&[]),
        updates(UpdateStatus::Successful),
        revert(&journal),
        publish(&journal),
        security_hub_down(&journal),
    );
    let guard = guard(
        config(&[]),
        &[&cluster, &updates, &revert],
        &[&publish],
        &[&down],
    );

    let err = run(&guard, OPEN_EVENT).await.unwrap_err();

    assert_eq!(err.error_type(), "SecurityHubImportFailed", "{err}");
    let message = err.to_string();
    assert!(message.contains(FINDING_ID), "{message}");
    assert!(
        message.contains("the alert is out (and any revert before it)"),
        "{message}"
    );
    // (The journal notes each import once, however often the SDK tries it.)
    let entries = journal.entries();
    assert_eq!(
        entries,
        ["revert", "alert", "import", "import", "import", "import"],
        "the violation and the resolution, each tried twice"
    );
    assert_eq!(down.num_calls(), 2 * 2 * 3, "and each try 3 SDK attempts");
    assert_eq!(revert.num_calls(), 1);
    assert_eq!(publish.num_calls(), 1, "the alert is out");
}

/// The SDK's attempts all fail, the guard's second try gets through.
#[tokio::test]
async fn the_guards_second_try_imports_the_finding() {
    let journal = Journal::default();
    let imports = Imports::default();
    let flaky = mock!(aws_sdk_securityhub::Client::batch_import_findings)
        .sequence()
        .http_status(503, None)
        .times(3)
        .output(|| {
            BatchImportFindingsOutput::builder()
                .success_count(1)
                .failed_count(0)
                .build()
        })
        .build();
    let later = imports.rule(&journal);
    let (cluster, updates, revert, publish) = (
        open_cluster(&[]),
        updates(UpdateStatus::Successful),
        revert(&journal),
        publish(&journal),
    );
    // Report mode: one import, nothing to follow.
    let guard = guard(
        config(&[("GUARD_MODE", "report")]),
        &[&cluster, &updates, &revert],
        &[&publish],
        &[&flaky, &later],
    );

    let answer = run(&guard, OPEN_EVENT).await.unwrap();

    assert_eq!(answer["outcome"], "would-revert");
    assert_eq!(flaky.num_calls(), 4, "3 SDK attempts, then the guard's try");
    assert_eq!(revert.num_calls(), 0);
}

/// Security Hub answers 200 and lists the finding as failed (e.g. Security
/// Hub not enabled in the account): an error too, with Security Hub's reason.
#[tokio::test]
async fn a_finding_security_hub_refuses_fails_the_invocation_with_the_reason() {
    let journal = Journal::default();
    let refused = mock!(aws_sdk_securityhub::Client::batch_import_findings).then_output(|| {
        BatchImportFindingsOutput::builder()
            .success_count(0)
            .failed_count(1)
            .failed_findings(
                ImportFindingsError::builder()
                    .id(FINDING_ID)
                    .error_code("InvalidAccess")
                    .error_message("Account is not subscribed to AWS Security Hub")
                    .build(),
            )
            .build()
    });
    let (cluster, updates, revert, publish) = (
        open_cluster(&[]),
        updates(UpdateStatus::Successful),
        revert(&journal),
        publish(&journal),
    );
    let guard = guard(
        config(&[("GUARD_MODE", "report")]),
        &[&cluster, &updates, &revert],
        &[&publish],
        &[&refused],
    );

    let err = run(&guard, OPEN_EVENT).await.unwrap_err();

    assert_eq!(err.error_type(), "SecurityHubImportFailed");
    assert!(err.to_string().contains("InvalidAccess"), "{err}");
    assert!(err.to_string().contains("not subscribed"), "{err}");
    assert_eq!(refused.num_calls(), 2, "tried twice");
    assert_eq!(publish.num_calls(), 1);
}

/// The revert ends `Failed`: the finding stays FAILED/NEW and says why; the
/// failed revert, not the import, is the invocation's error.
#[tokio::test]
async fn a_failed_revert_keeps_the_finding_open_with_the_reason() {
    let journal = Journal::default();
    let imports = Imports::default();
    let (cluster, updates, revert, publish, import) = (
        open_cluster(&[]),
        updates(UpdateStatus::Failed),
        revert(&journal),
        publish(&journal),
        imports.rule(&journal),
    );
    let guard = guard(
        config(&[]),
        &[&cluster, &updates, &revert],
        &[&publish],
        &[&import],
    );

    let err = run(&guard, OPEN_EVENT).await.unwrap_err();

    assert_eq!(err.error_type(), "RevertFailed");
    assert_eq!(
        journal.entries(),
        ["revert", "alert", "import", "alert", "import"]
    );
    let findings = imports.all();
    assert_eq!(
        states(&findings),
        [pair("FAILED", "NEW"), pair("FAILED", "NEW")]
    );
    assert_eq!(findings[1].id(), findings[0].id());
    let why = findings[1].description().unwrap();
    assert!(
        why.contains("STILL OPEN") && why.contains("AccessDenied"),
        "{why}"
    );
}

/// An exempt cluster: never changed, the finding SUPPRESSED, naming the tag.
#[tokio::test]
async fn an_exempt_cluster_is_suppressed_naming_the_tag() {
    let journal = Journal::default();
    let imports = Imports::default();
    let (cluster, updates, revert, publish, import) = (
        open_cluster(&[("eks-endpoint-guard/exempt", "True")]),
        updates(UpdateStatus::Successful),
        revert(&journal),
        publish(&journal),
        imports.rule(&journal),
    );
    let guard = guard(
        config(&[]),
        &[&cluster, &updates, &revert],
        &[&publish],
        &[&import],
    );

    let answer = run(&guard, OPEN_EVENT).await.unwrap();

    assert_eq!(answer["outcome"], "exempt");
    assert_eq!(journal.entries(), ["alert", "import"]);
    let findings = imports.all();
    assert_eq!(states(&findings), [pair("FAILED", "SUPPRESSED")]);
    let description = findings[0].description().unwrap();
    assert!(
        description.contains("eks-endpoint-guard/exempt=True"),
        "{description}"
    );
}

// ---------------------------------------------- the binary, against moto

/// moto's Security Hub, as the guard sees it (eu-west-1, the function's
/// region, and the same test credentials), enabled.
#[derive(Clone)]
struct Hub {
    endpoint_url: String,
    /// Read as this role (a member account's), through moto's STS.
    role_arn: Option<String>,
}

impl Hub {
    async fn enable(moto: &Moto) -> Hub {
        let hub = Hub {
            endpoint_url: moto.endpoint_url(),
            role_arn: None,
        };
        hub.call(|client| async move {
            client
                .enable_security_hub()
                .send()
                .await
                .expect("EnableSecurityHub");
            Vec::new()
        })
        .await;
        hub
    }

    /// Every finding, as moto stored what the guard's SDK sent. (The SDK's
    /// output types do not serialise: the raw answer is kept instead.)
    async fn findings(&self) -> Vec<Value> {
        self.call(|client| async move {
            let raw = RawBody::default();
            client
                .get_findings()
                .customize()
                .interceptor(raw.clone())
                .send()
                .await
                .expect("GetFindings");
            let body = raw.0.lock().unwrap().take().expect("an answer body");
            serde_json::from_slice::<Value>(&body).expect("GetFindings answers JSON")["Findings"]
                .as_array()
                .cloned()
                .unwrap_or_default()
        })
        .await
    }

    /// Runs `call` on a thread of its own with a large stack: unoptimised,
    /// the SDK's deserialiser of findings (every resource type ASFF knows)
    /// needs more than a test thread's 2 MiB.
    async fn call<F, Fut>(&self, call: F) -> Vec<Value>
    where
        F: FnOnce(aws_sdk_securityhub::Client) -> Fut + Send + 'static,
        Fut: std::future::Future<Output = Vec<Value>>,
    {
        let (endpoint_url, role_arn) = (self.endpoint_url.clone(), self.role_arn.clone());
        let thread = std::thread::Builder::new()
            .stack_size(64 << 20)
            .spawn(move || {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("a runtime");
                runtime.block_on(async move {
                    // Everything named: nothing of the environment applies.
                    let sdk = aws_config::defaults(aws_config::BehaviorVersion::latest())
                        .region(aws_config::Region::new("eu-west-1"))
                        .credentials_provider(aws_sdk_securityhub::config::Credentials::new(
                            guard_testkit::TEST_ACCESS_KEY_ID,
                            guard_testkit::TEST_ACCESS_KEY_ID,
                            None,
                            None,
                            "test",
                        ))
                        .endpoint_url(endpoint_url)
                        .load()
                        .await;
                    let mut config = aws_sdk_securityhub::config::Builder::from(&sdk);
                    if let Some(role_arn) = role_arn {
                        let provider = aws_config::sts::AssumeRoleProvider::builder(role_arn)
                            .session_name("test")
                            .configure(&sdk)
                            .build()
                            .await;
                        config = config.credentials_provider(provider);
                    }
                    call(aws_sdk_securityhub::Client::from_conf(config.build())).await
                })
            })
            .expect("a thread");
        tokio::task::spawn_blocking(move || thread.join().expect("the call"))
            .await
            .expect("joined")
    }
}

/// Keeps the raw body of the answer.
#[derive(Clone, Debug, Default)]
struct RawBody(Arc<Mutex<Option<Vec<u8>>>>);

impl aws_sdk_securityhub::config::Intercept for RawBody {
    fn name(&self) -> &'static str {
        "RawBody"
    }

    // After: by then the orchestrator has read the whole body into memory.
    fn read_after_deserialization(
        &self,
        context: &aws_sdk_securityhub::config::interceptors::AfterDeserializationInterceptorContextRef<'_>,
        _: &aws_sdk_securityhub::config::RuntimeComponents,
        _: &mut aws_sdk_securityhub::config::ConfigBag,
    ) -> Result<(), aws_sdk_securityhub::error::BoxError> {
        *self.0.lock().unwrap() = context.response().body().bytes().map(<[u8]>::to_vec);
        Ok(())
    }
}

fn settings(topic: &str, moto: &Moto, eks: &EksDouble) -> Vec<(&'static str, String)> {
    vec![
        ("ALERT_TOPIC_ARN", topic.to_string()),
        ("AWS_ENDPOINT_URL_SNS", moto.endpoint_url()),
        ("AWS_ENDPOINT_URL_STS", moto.endpoint_url()),
        ("AWS_ENDPOINT_URL_SECURITYHUB", moto.endpoint_url()),
        ("AWS_ENDPOINT_URL_EKS", eks.endpoint_url()),
        ("SECURITY_HUB", "true".to_string()),
    ]
}

/// Someone's update opened the endpoint and has finished.
fn opened(eks: &EksDouble, cluster: &str) -> String {
    eks.add_cluster(ClusterSpec::new(cluster).public(false).private(true));
    let update = eks.start_update(
        cluster,
        EndpointChange::open_to_internet(),
        UpdateBehaviour::staying_active(Finish::Manual),
    );
    assert!(eks.finish_update(cluster, &update));
    update
}

fn assert_valid(finding: &Value) {
    let problems = problems(finding);
    assert!(problems.is_empty(), "{problems:#?}\n{finding:#}");
}

async fn wait_for_finding(hub: &Hub, check: impl Fn(&Value) -> bool) -> Vec<Value> {
    let started = std::time::Instant::now();
    loop {
        let found = hub.findings().await;
        if found.iter().any(&check) || started.elapsed() > Duration::from_secs(20) {
            return found;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn through_the_binary_a_revert_is_a_failed_finding_and_once_confirmed_the_same_id_resolved() {
    let moto = Moto::start().await.expect("moto_server");
    let (topic, inbox) = moto.topic_with_inbox("hub-revert").await;
    let hub = Hub::enable(&moto).await;
    // The guard's revert runs until the test finishes it.
    let eks = EksDouble::start(EksOptions {
        api_updates: UpdateBehaviour::staying_active(Finish::Manual),
        ..EksOptions::default()
    })
    .await
    .expect("EKS double");
    let their_update = opened(&eks, "prod-eu");
    let guard = GuardProcess::start(&settings(&topic, &moto, &eks)).await;
    let event = sample(
        "updateclusterconfig-open-public.json",
        &[(EVENT_UPDATE_ID, &their_update)],
    );

    let follow = async {
        // While the revert runs, the finding is open.
        let open = wait_for_finding(&hub, |f| f["Compliance"]["Status"] == "FAILED").await;
        let revert = eks
            .updates("prod-eu")
            .into_iter()
            .find(|u| u.started_through_api)
            .expect("the guard's revert");
        assert!(eks.finish_update("prod-eu", &revert.id));
        (open, revert.id)
    };
    let (answer, (open, revert_id)) = tokio::join!(guard.invoke(&event), follow);

    let answer = answer.expect_response();
    assert_eq!(answer["outcome"], "reverted", "{answer}");
    assert_eq!(answer["revertConfirmed"], true);
    assert_eq!(open.len(), 1, "{open:#?}");
    let open = &open[0];
    assert_valid(open);
    let arn = eks.cluster("prod-eu").unwrap().arn;
    assert_eq!(
        open["Id"],
        format!("{arn}/eks-endpoint-guard/public-endpoint")
    );
    assert_eq!(open["Compliance"]["Status"], "FAILED");
    assert_eq!(open["Workflow"]["Status"], "NEW");
    assert_eq!(open["Severity"]["Label"], "HIGH");
    assert_eq!(open["AwsAccountId"], "111122223333");
    assert_eq!(
        open["ProductArn"],
        "arn:aws:securityhub:eu-west-1:111122223333:product/111122223333/default"
    );
    assert_eq!(open["Resources"][0]["Type"], "AwsEksCluster");
    assert_eq!(open["Resources"][0]["Id"], arn.as_str());
    let event_id = serde_json::from_slice::<Value>(&event).unwrap()["detail"]["eventID"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        open["SourceUrl"].as_str().unwrap().ends_with(&event_id),
        "{open:#}"
    );
    assert!(open["Description"].as_str().unwrap().contains(&revert_id));

    let resolved = hub.findings().await;
    assert_eq!(resolved.len(), 1, "the same finding: {resolved:#?}");
    let resolved = &resolved[0];
    assert_valid(resolved);
    println!("{resolved:#}");
    assert_eq!(resolved["Id"], open["Id"]);
    assert_eq!(resolved["Compliance"]["Status"], "PASSED");
    assert_eq!(resolved["Workflow"]["Status"], "RESOLVED");
    assert_eq!(resolved["CreatedAt"], open["CreatedAt"]);
    assert!(resolved["UpdatedAt"].as_str() > open["UpdatedAt"].as_str());
    // And the alert is out, once.
    assert_eq!(
        moto.receive(&inbox, 1, Duration::from_secs(10)).await.len(),
        1
    );
}

/// Report mode, the same cluster reported by three events (one of them a
/// duplicate delivery): still one finding, updated in place.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn through_the_binary_a_repeat_updates_the_finding_instead_of_adding_one() {
    let moto = Moto::start().await.expect("moto_server");
    let (topic, _inbox) = moto.topic_with_inbox("hub-repeat").await;
    let hub = Hub::enable(&moto).await;
    let eks = EksDouble::start(EksOptions::default())
        .await
        .expect("EKS double");
    let their_update = opened(&eks, "prod-eu");
    let mut settings = settings(&topic, &moto, &eks);
    settings.push(("GUARD_MODE", "report".to_string()));
    let guard = GuardProcess::start(&settings).await;
    let event = sample(
        "updateclusterconfig-open-public.json",
        &[(EVENT_UPDATE_ID, &their_update)],
    );
    let event_id = serde_json::from_slice::<Value>(&event).unwrap()["detail"]["eventID"]
        .as_str()
        .unwrap()
        .to_string();
    let another = sample(
        "updateclusterconfig-open-public.json",
        &[
            (EVENT_UPDATE_ID, &their_update),
            (&event_id, "0b5c7d3e-1111-4a2b-9c3d-5e6f7a8b9c0d"),
        ],
    );

    let mut updated = Vec::new();
    for payload in [&event, &event, &another] {
        let answer = guard.invoke(payload).await.expect_response();
        assert_eq!(answer["outcome"], "would-revert", "{answer}");
        let now = hub.findings().await;
        assert_eq!(now.len(), 1, "one finding per cluster: {now:#?}");
        assert_valid(&now[0]);
        assert_eq!(now[0]["Compliance"]["Status"], "FAILED");
        assert_eq!(now[0]["Workflow"]["Status"], "NEW");
        updated.push(now[0]["UpdatedAt"].as_str().unwrap().to_string());
    }
    assert!(updated.windows(2).all(|w| w[1] > w[0]), "{updated:?}");
    assert_eq!(
        eks.requests_for("UpdateClusterConfig").len(),
        0,
        "report mode"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn through_the_binary_an_exempt_cluster_is_a_suppressed_finding() {
    let moto = Moto::start().await.expect("moto_server");
    let (topic, _inbox) = moto.topic_with_inbox("hub-exempt").await;
    let hub = Hub::enable(&moto).await;
    let eks = EksDouble::start(EksOptions::default())
        .await
        .expect("EKS double");
    eks.add_cluster(
        ClusterSpec::new("prod-eu")
            .public(false)
            .private(true)
            .tag("eks-endpoint-guard/exempt", "true"),
    );
    let their_update = eks.start_update(
        "prod-eu",
        EndpointChange::open_to_internet(),
        UpdateBehaviour::staying_active(Finish::Manual),
    );
    assert!(eks.finish_update("prod-eu", &their_update));
    let guard = GuardProcess::start(&settings(&topic, &moto, &eks)).await;

    let answer = guard
        .invoke(&sample(
            "updateclusterconfig-open-public.json",
            &[(EVENT_UPDATE_ID, &their_update)],
        ))
        .await
        .expect_response();

    assert_eq!(answer["outcome"], "exempt", "{answer}");
    assert!(eks.requests_for("UpdateClusterConfig").is_empty());
    let found = hub.findings().await;
    assert_eq!(found.len(), 1, "{found:#?}");
    assert_valid(&found[0]);
    assert_eq!(found[0]["Compliance"]["Status"], "FAILED");
    assert_eq!(found[0]["Workflow"]["Status"], "SUPPRESSED");
    assert!(
        found[0]["Description"]
            .as_str()
            .unwrap()
            .contains("eks-endpoint-guard/exempt=true"),
        "{:#}",
        found[0]
    );
}

/// Central layout: a member account's cluster. Only the finding's own
/// account may import it, so the guard imports through the member's
/// remediation role, into the member's product; the central account's
/// Security Hub gets nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn through_the_binary_a_member_accounts_finding_goes_into_the_members_security_hub() {
    let moto = Moto::start().await.expect("moto_server");
    let (topic, _inbox) = moto.topic_with_inbox("hub-central").await;
    let central = Hub::enable(&moto).await;
    let member = Hub {
        role_arn: Some("arn:aws:iam::444455556666:role/eks-endpoint-guard-remediation".into()),
        ..central.clone()
    };
    let eks = EksDouble::start(EksOptions {
        api_updates: UpdateBehaviour::staying_active(Finish::After(Duration::from_millis(200))),
        ..EksOptions::default()
    })
    .await
    .expect("EKS double");
    eks.add_cluster(ClusterSpec::new("member-cluster").public(true));
    let mut settings = settings(&topic, &moto, &eks);
    settings.push((
        "REMEDIATION_ROLE_NAME",
        "eks-endpoint-guard-remediation".to_string(),
    ));
    let guard = GuardProcess::start_as(
        "arn:aws:lambda:eu-west-1:123456789012:function:eks-endpoint-guard",
        &settings,
    )
    .await;

    let answer = guard
        .invoke(&sample(
            "updateclusterconfig-open-public.json",
            &[
                ("\"prod-eu\"", "\"member-cluster\""),
                (
                    "\"account\": \"111122223333\"",
                    "\"account\": \"444455556666\"",
                ),
            ],
        ))
        .await
        .expect_response();

    assert_eq!(answer["outcome"], "reverted", "{answer}");
    assert_eq!(answer["revertConfirmed"], true);
    let found = member.findings().await;
    assert_eq!(found.len(), 1, "{found:#?}");
    assert_valid(&found[0]);
    assert_eq!(found[0]["AwsAccountId"], "444455556666");
    assert_eq!(
        found[0]["ProductArn"],
        "arn:aws:securityhub:eu-west-1:444455556666:product/444455556666/default"
    );
    assert_eq!(found[0]["Compliance"]["Status"], "PASSED");
    assert!(
        central.findings().await.is_empty(),
        "nothing in the central account's Security Hub"
    );
}
