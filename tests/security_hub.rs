//! Findings in Security Hub (`SECURITY_HUB=true`).
//!
//! First against `aws-smithy-mocks` on the real clients: what is imported
//! when, and what a Security Hub outage does (nothing to the revert or the
//! alert; the invocation fails after both). Then through the compiled
//! binary, with Security Hub, SNS and SQS served by `moto_server` and EKS by
//! the double, reading the findings back with `GetFindings` and checking
//! them against what Security Hub requires (moto accepts any shape).

mod asff_check;
mod common;
mod mocks;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use asff_check::problems;
use aws_sdk_eks::config::retry::RetryConfig;
use aws_sdk_eks::operation::describe_update::DescribeUpdateOutput;
use aws_sdk_eks::types::{ErrorCode, ErrorDetail, Update, UpdateStatus};
use aws_sdk_securityhub::operation::batch_import_findings::{
    BatchImportFindingsInput, BatchImportFindingsOutput,
};
use aws_sdk_securityhub::types::{AwsSecurityFinding, ImportFindingsError};
use aws_sdk_sns::operation::publish::PublishOutput;
use aws_smithy_mocks::{Rule, RuleMode, mock, mock_client};
use common::{
    EVENT_UPDATE_ID, Stage, open_event, open_event_in, own_updates, private_cluster, someone_opened,
};
use eks_endpoint_guard::clock::parse_rfc3339;
use eks_endpoint_guard::config::Config;
use eks_endpoint_guard::error::GuardError;
use eks_endpoint_guard::guard::{Deadline, Guard, Invocation};
use eks_endpoint_guard::securityhub::SecurityHub;
use guard_testkit::eks::{ClusterSpec, EksOptions, Finish};
use guard_testkit::moto::Moto;
use mocks::{CLUSTER_ARN, started};
use serde_json::Value;

const OPEN_EVENT: &str = include_str!("../events/updateclusterconfig-open-public.json");
const FINDING_ID: &str =
    "arn:aws:eks:eu-west-1:111122223333:cluster/prod-eu/eks-endpoint-guard/public-endpoint";

// ------------------------------------------------------------------ mocks

/// The mocks' configuration with Security Hub on, and `extra`.
fn config(extra: &[(&str, &str)]) -> Config {
    let mut pairs = vec![("SECURITY_HUB", "true")];
    pairs.extend_from_slice(extra);
    mocks::config(&pairs)
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
        started("revert-1")
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

/// The EKS and SNS side of every test here: `prod-eu` open to the
/// internet; the event's update finished, the guard's revert `InProgress`
/// when first described and then ending so; each revert and alert noted in
/// the journal; every import answered and kept.
struct Mocked {
    journal: Journal,
    imports: Imports,
    cluster: Rule,
    updates: Rule,
    revert: Rule,
    publish: Rule,
}

impl Mocked {
    /// The cluster tagged `tags`, the revert ending `ending`.
    fn new(tags: &[(&str, &str)], ending: UpdateStatus) -> Mocked {
        let journal = Journal::default();
        Mocked {
            cluster: mocks::open_cluster(&["0.0.0.0/0"], tags),
            updates: updates(ending),
            revert: revert(&journal),
            publish: publish(&journal),
            journal,
            imports: Imports::default(),
        }
    }

    /// A guard with `config` on these mocks, its imports kept in `imports`.
    fn guard_importing(&self, config: Config) -> Guard {
        self.guard(config, &[&self.imports.rule(&self.journal)])
    }

    /// A guard with `config` on these mocks, importing into `security_hub`.
    fn guard(&self, config: Config, security_hub: &[&Rule]) -> Guard {
        let retries = || {
            RetryConfig::standard()
                .with_max_attempts(3)
                .with_initial_backoff(Duration::from_millis(1))
        };
        // The history read before an alert (repeat openings): nothing listed.
        let history = mocks::no_updates();
        let eks = [&self.cluster, &self.updates, &self.revert, &history];
        let eks = mock_client!(aws_sdk_eks, RuleMode::MatchAny, &eks, |c| c
            .retry_config(retries()));
        let sns = mock_client!(aws_sdk_sns, RuleMode::MatchAny, [&self.publish], |c| c
            .retry_config(RetryConfig::disabled()));
        let hub = mock_client!(aws_sdk_securityhub, RuleMode::MatchAny, security_hub, |c| c
            .retry_config(retries()));
        Guard::new(config, eks, sns).with_security_hub(SecurityHub::new(hub))
    }
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
    let mocked = Mocked::new(&[], UpdateStatus::Successful);
    let guard = mocked.guard_importing(config(&[]));

    let answer = run(&guard, OPEN_EVENT).await.unwrap();

    assert_eq!(answer["outcome"], "reverted");
    assert_eq!(answer["revertConfirmed"], true);
    assert_eq!(
        mocked.journal.entries(),
        ["revert", "alert", "import", "import"],
        "revert, alert, then the finding and its resolution"
    );
    let findings = mocked.imports.all();
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
    let mocked = Mocked::new(&[], UpdateStatus::Successful);
    let down = security_hub_down(&mocked.journal);
    let guard = mocked.guard(config(&[]), &[&down]);

    let err = run(&guard, OPEN_EVENT).await.unwrap_err();

    assert_eq!(err.error_type(), "SecurityHubImportFailed", "{err}");
    let message = err.to_string();
    assert!(message.contains(FINDING_ID), "{message}");
    assert!(
        message.contains("the alert is out (and any revert before it)"),
        "{message}"
    );
    // (The journal notes each import once, however often the SDK tries it.)
    let entries = mocked.journal.entries();
    assert_eq!(
        entries,
        ["revert", "alert", "import", "import", "import", "import"],
        "the violation and the resolution, each tried twice"
    );
    assert_eq!(down.num_calls(), 2 * 2 * 3, "and each try 3 SDK attempts");
    assert_eq!(mocked.revert.num_calls(), 1);
    assert_eq!(mocked.publish.num_calls(), 1, "the alert is out");
}

/// The SDK's attempts all fail, the guard's second try gets through.
#[tokio::test]
async fn the_guards_second_try_imports_the_finding() {
    let mocked = Mocked::new(&[], UpdateStatus::Successful);
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
    let later = mocked.imports.rule(&mocked.journal);
    // Report mode: one import, nothing to follow.
    let guard = mocked.guard(config(&[("GUARD_MODE", "report")]), &[&flaky, &later]);

    let answer = run(&guard, OPEN_EVENT).await.unwrap();

    assert_eq!(answer["outcome"], "would-revert");
    assert_eq!(flaky.num_calls(), 4, "3 SDK attempts, then the guard's try");
    assert_eq!(mocked.revert.num_calls(), 0);
}

/// Security Hub answers 200 and lists the finding as failed (e.g. Security
/// Hub not enabled in the account): an error too, with Security Hub's reason.
#[tokio::test]
async fn a_finding_security_hub_refuses_fails_the_invocation_with_the_reason() {
    let mocked = Mocked::new(&[], UpdateStatus::Successful);
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
    let guard = mocked.guard(config(&[("GUARD_MODE", "report")]), &[&refused]);

    let err = run(&guard, OPEN_EVENT).await.unwrap_err();

    assert_eq!(err.error_type(), "SecurityHubImportFailed");
    assert!(err.to_string().contains("InvalidAccess"), "{err}");
    assert!(err.to_string().contains("not subscribed"), "{err}");
    assert_eq!(refused.num_calls(), 2, "tried twice");
    assert_eq!(mocked.publish.num_calls(), 1);
}

/// The revert ends `Failed`: the finding stays FAILED/NEW and says why; the
/// failed revert, not the import, is the invocation's error.
#[tokio::test]
async fn a_failed_revert_keeps_the_finding_open_with_the_reason() {
    let mocked = Mocked::new(&[], UpdateStatus::Failed);
    let guard = mocked.guard_importing(config(&[]));

    let err = run(&guard, OPEN_EVENT).await.unwrap_err();

    assert_eq!(err.error_type(), "RevertFailed");
    assert_eq!(
        mocked.journal.entries(),
        ["revert", "alert", "import", "alert", "import"]
    );
    let findings = mocked.imports.all();
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
    let mocked = Mocked::new(
        &[("eks-endpoint-guard/exempt", "True")],
        UpdateStatus::Successful,
    );
    let guard = mocked.guard_importing(config(&[]));

    let answer = run(&guard, OPEN_EVENT).await.unwrap();

    assert_eq!(answer["outcome"], "exempt");
    assert_eq!(mocked.journal.entries(), ["alert", "import"]);
    let findings = mocked.imports.all();
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
    /// The guard's settings for Security Hub (on, served here), and `extra`.
    fn settings_with<'a>(
        &'a self,
        extra: &[(&'static str, &'a str)],
    ) -> Vec<(&'static str, &'a str)> {
        let mut settings = vec![
            ("AWS_ENDPOINT_URL_SECURITYHUB", self.endpoint_url.as_str()),
            ("SECURITY_HUB", "true"),
        ];
        settings.extend_from_slice(extra);
        settings
    }

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

fn assert_valid(finding: &Value) {
    let problems = problems(finding);
    assert!(problems.is_empty(), "{problems:#?}\n{finding:#}");
}

/// The one finding in `hub` (`what`, if not), valid.
async fn the_finding(hub: &Hub, what: &str) -> Value {
    let found = hub.findings().await;
    assert_eq!(found.len(), 1, "{what}: {found:#?}");
    assert_valid(&found[0]);
    found.into_iter().next().unwrap()
}

/// The CloudTrail event id of a sample.
fn event_id(event: &[u8]) -> String {
    serde_json::from_slice::<Value>(event).unwrap()["detail"]["eventID"]
        .as_str()
        .unwrap()
        .to_string()
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
    // The guard's revert runs until the test finishes it.
    let stage = Stage::start("hub-revert", own_updates(Finish::Manual)).await;
    let (hub, eks) = (Hub::enable(&stage.moto).await, &stage.eks);
    let their_update = someone_opened(eks, private_cluster("prod-eu"));
    let guard = stage.guard(&hub.settings_with(&[])).await;
    let event = open_event(&their_update);

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
    let event_id = event_id(&event);
    assert!(
        open["SourceUrl"].as_str().unwrap().ends_with(&event_id),
        "{open:#}"
    );
    assert!(open["Description"].as_str().unwrap().contains(&revert_id));

    let resolved = &the_finding(&hub, "the same finding").await;
    println!("{resolved:#}");
    assert_eq!(resolved["Id"], open["Id"]);
    assert_eq!(resolved["Compliance"]["Status"], "PASSED");
    assert_eq!(resolved["Workflow"]["Status"], "RESOLVED");
    assert_eq!(resolved["CreatedAt"], open["CreatedAt"]);
    assert!(resolved["UpdatedAt"].as_str() > open["UpdatedAt"].as_str());
    // And the alert is out, once.
    assert_eq!(stage.alerts(1, Duration::from_secs(10)).await.len(), 1);
}

/// Report mode, the same cluster reported by three events (one of them a
/// duplicate delivery): still one finding, updated in place.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn through_the_binary_a_repeat_updates_the_finding_instead_of_adding_one() {
    let stage = Stage::start("hub-repeat", EksOptions::default()).await;
    let (hub, eks) = (Hub::enable(&stage.moto).await, &stage.eks);
    let their_update = someone_opened(eks, private_cluster("prod-eu"));
    let guard = stage
        .guard(&hub.settings_with(&[("GUARD_MODE", "report")]))
        .await;
    let event = open_event(&their_update);
    let event_id = event_id(&event);
    let another = common::sample(
        common::OPEN_PUBLIC,
        &[
            (EVENT_UPDATE_ID, &their_update),
            (&event_id, "0b5c7d3e-1111-4a2b-9c3d-5e6f7a8b9c0d"),
        ],
    );

    let mut updated = Vec::new();
    for payload in [&event, &event, &another] {
        let answer = guard.invoke(payload).await.expect_response();
        assert_eq!(answer["outcome"], "would-revert", "{answer}");
        let now = the_finding(&hub, "one finding per cluster").await;
        assert_eq!(now["Compliance"]["Status"], "FAILED");
        assert_eq!(now["Workflow"]["Status"], "NEW");
        updated.push(now["UpdatedAt"].as_str().unwrap().to_string());
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
    let stage = Stage::start("hub-exempt", EksOptions::default()).await;
    let (hub, eks) = (Hub::enable(&stage.moto).await, &stage.eks);
    let their_update = someone_opened(
        eks,
        private_cluster("prod-eu").tag("eks-endpoint-guard/exempt", "true"),
    );
    let guard = stage.guard(&hub.settings_with(&[])).await;

    let answer = guard
        .invoke(&open_event(&their_update))
        .await
        .expect_response();

    assert_eq!(answer["outcome"], "exempt", "{answer}");
    assert!(eks.requests_for("UpdateClusterConfig").is_empty());
    let found = the_finding(&hub, "one finding").await;
    assert_eq!(found["Compliance"]["Status"], "FAILED");
    assert_eq!(found["Workflow"]["Status"], "SUPPRESSED");
    assert!(
        found["Description"]
            .as_str()
            .unwrap()
            .contains("eks-endpoint-guard/exempt=true"),
        "{found:#}"
    );
}

/// A sweep's findings go in together: 120 open clusters are two
/// `BatchImportFindings` calls (100 and 20), each finding its own, valid.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn through_the_binary_a_sweeps_findings_are_imported_a_hundred_a_call() {
    let stage = Stage::start("hub-sweep", EksOptions::default()).await;
    let (hub, eks) = (Hub::enable(&stage.moto).await, &stage.eks);
    for i in 0..120 {
        eks.add_cluster(ClusterSpec::new(&format!("open-{i:03}")));
    }
    let guard = stage
        .guard(&hub.settings_with(&[
            ("GUARD_MODE", "report"),
            ("SWEEP_CONCURRENCY", "8"),
            ("GUARD_EKS_CALLS_PER_SECOND", "100"),
        ]))
        .await;

    let answer = common::sweep(&guard, &common::sweep_event()).await;

    assert_eq!(answer["sweep"]["reported"], 120, "{answer}");
    let record = guard
        .log_records("security hub findings of the sweep")
        .pop()
        .expect("the import's log line");
    assert_eq!(
        (
            common::field(&record, "imported"),
            common::field(&record, "calls"),
            common::field(&record, "failed")
        ),
        (&Value::from(120), &Value::from(2), &Value::from(0)),
        "{record}"
    );
    // GetFindings answers a page of 100: the first page, all distinct.
    let found = hub.findings().await;
    let ids: std::collections::BTreeSet<&str> =
        found.iter().map(|f| f["Id"].as_str().unwrap()).collect();
    assert_eq!((found.len(), ids.len()), (100, 100));
    for finding in &found {
        assert_valid(finding);
        assert_eq!(finding["Workflow"]["Status"], "NEW");
    }
}

/// Central layout: a member account's cluster. Only the finding's own
/// account may import it, so the guard imports through the member's
/// remediation role, into the member's product; the central account's
/// Security Hub gets nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn through_the_binary_a_member_accounts_finding_goes_into_the_members_security_hub() {
    let stage = Stage::start(
        "hub-central",
        own_updates(Finish::After(Duration::from_millis(200))),
    )
    .await;
    let central = Hub::enable(&stage.moto).await;
    let member = Hub {
        role_arn: Some(format!(
            "arn:aws:iam::444455556666:role/{}",
            common::REMEDIATION_ROLE
        )),
        ..central.clone()
    };
    stage
        .eks
        .add_cluster(ClusterSpec::new("member-cluster").public(true));
    let guard = stage.central_guard(&central.settings_with(&[])).await;

    let answer = guard
        .invoke(&open_event_in("444455556666", "member-cluster"))
        .await
        .expect_response();

    assert_eq!(answer["outcome"], "reverted", "{answer}");
    assert_eq!(answer["revertConfirmed"], true);
    let found = the_finding(&member, "one finding").await;
    assert_eq!(found["AwsAccountId"], "444455556666");
    assert_eq!(
        found["ProductArn"],
        "arn:aws:securityhub:eu-west-1:444455556666:product/444455556666/default"
    );
    assert_eq!(found["Compliance"]["Status"], "PASSED");
    assert!(
        central.findings().await.is_empty(),
        "nothing in the central account's Security Hub"
    );
}
