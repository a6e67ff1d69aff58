//! Alerts that say what happens next: every sample tool's change, judged by
//! the guard on the real SDK clients (`aws-smithy-mocks`), is told with its
//! tool; a change from code says the next apply opens the endpoint again and
//! names the setting; a cluster that a CloudFormation stack manages (its
//! `aws:cloudformation:stack-name` tag, from `DescribeCluster`) is warned of
//! the drift, on the event path and in the sweep.

mod mocks;

use mocks::{config, open_cluster, revert_starts, update};
use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_sdk_eks::config::retry::RetryConfig;
use aws_sdk_eks::operation::list_clusters::ListClustersOutput;
use aws_sdk_eks::types::UpdateStatus;
use aws_sdk_sns::operation::publish::PublishOutput;
use aws_sdk_sns::operation::publish_batch::PublishBatchOutput;
use aws_smithy_mocks::{Rule, RuleMode, mock, mock_client};
use eks_endpoint_guard::config::Config;
use eks_endpoint_guard::guard::{Deadline, Guard, Invocation};
use serde_json::Value;

const STACK_TAG: &str = "aws:cloudformation:stack-name";
/// The updates the sample events started all begin so.
const SAMPLE_UPDATES: &str = "3f9d2c1e-8b7a-4c55-9e21-6f0d5a4b3c";

/// The sample's own update has finished; the guard's revert is
/// `InProgress` when first described and `Successful` after.
fn updates() -> Rule {
    let seen = Arc::new(Mutex::new(HashSet::new()));
    mock!(aws_sdk_eks::Client::describe_update).then_compute_output(move |r| {
        let id = r.update_id().unwrap_or_default().to_string();
        let first = seen.lock().unwrap().insert(id.clone());
        let status = if id.starts_with(SAMPLE_UPDATES) || !first {
            UpdateStatus::Successful
        } else {
            UpdateStatus::InProgress
        };
        update(&id, status)
    })
}

/// Records every published message's views.
#[derive(Clone, Default)]
struct Inbox(Arc<Mutex<Vec<Value>>>, Arc<Mutex<Vec<Value>>>);

impl Inbox {
    /// `PublishBatch` (the sweep's findings for machines), into the second list.
    fn batch_rule(&self) -> Rule {
        let batched = self.1.clone();
        mock!(aws_sdk_sns::Client::publish_batch).then_compute_output(move |req| {
            let mut sent = batched.lock().unwrap();
            for entry in req.publish_batch_request_entries() {
                sent.push(serde_json::from_str(entry.message()).expect("views are JSON"));
            }
            PublishBatchOutput::builder().build()
        })
    }

    /// The sweep's findings for machines (each message's only view).
    fn batched_findings(&self) -> Vec<Value> {
        let sent = self.1.lock().unwrap();
        sent.iter()
            .map(|views| serde_json::from_str(views["default"].as_str().unwrap()).unwrap())
            .collect()
    }

    fn rule(&self) -> Rule {
        let inbox = self.clone();
        mock!(aws_sdk_sns::Client::publish).then_compute_output(move |req| {
            let views: Value =
                serde_json::from_str(req.message().unwrap_or_default()).expect("views are JSON");
            let mut sent = inbox.0.lock().unwrap();
            sent.push(views);
            PublishOutput::builder()
                .message_id(format!("m-{}", sent.len()))
                .build()
        })
    }

    /// The only alert: its finding, its email, its Chatbot card.
    fn only(&self) -> (Value, String, Value) {
        let sent = self.0.lock().unwrap();
        assert_eq!(sent.len(), 1, "one alert");
        let views = &sent[0];
        let view = |key: &str| views[key].as_str().expect(key).to_string();
        (
            serde_json::from_str(&view("sqs")).expect("finding"),
            view("email"),
            serde_json::from_str(&view("https")).expect("card"),
        )
    }
}

fn guard_with(config: Config, eks_rules: &[&Rule]) -> (Guard, Inbox) {
    let inbox = Inbox::default();
    let publish = inbox.rule();
    let history = mocks::no_updates();
    let mut eks_rules = eks_rules.to_vec();
    eks_rules.push(&history);
    let eks = mock_client!(aws_sdk_eks, RuleMode::MatchAny, &eks_rules, |c| c
        .retry_config(RetryConfig::disabled()));
    let batch = inbox.batch_rule();
    let sns = mock_client!(aws_sdk_sns, RuleMode::MatchAny, [&publish, &batch], |c| c
        .retry_config(RetryConfig::disabled()));
    (Guard::new(config, eks, sns), inbox)
}

/// The guard's alert on a sample event, the cluster open to the internet
/// (and from `203.0.113.0/24`) and tagged so.
async fn judged(
    sample: &str,
    tags: &[(&str, &str)],
    extra: &[(&str, &str)],
    expected: &str,
) -> (Value, String, Value) {
    let path = format!("{}/events/{sample}", env!("CARGO_MANIFEST_DIR"));
    let payload: Value =
        serde_json::from_str(&std::fs::read_to_string(&path).expect(sample)).unwrap();
    let cidrs = ["203.0.113.0/24", "0.0.0.0/0"];
    let (describe, updates, revert) = (
        open_cluster(&cidrs, tags),
        updates(),
        revert_starts("revert-1"),
    );
    let (guard, inbox) = guard_with(config(extra), &[&describe, &updates, &revert]);
    let answer = guard
        .handle(
            &payload,
            &Invocation::until(Deadline::after(Duration::from_secs(10))),
        )
        .await
        .unwrap_or_else(|e| panic!("{sample}: {e}"));
    let outcome = serde_json::to_value(&answer).unwrap()["outcome"].clone();
    assert_eq!(outcome, expected, "{sample}");
    inbox.only()
}

fn card_steps(card: &Value) -> Vec<String> {
    card["content"]["nextSteps"]
        .as_array()
        .expect("nextSteps")
        .iter()
        .map(|s| s.as_str().unwrap().to_string())
        .collect()
}

/// Each tool's sample: the tool in every view, and the setting to change in
/// its terms; a console or CLI change names no code.
#[tokio::test]
async fn every_sample_tool_is_told_with_what_happens_next() {
    // (sample, tool id, text in the tool line, the setting named for closing)
    let table = [
        (
            "updateclusterconfig-open-public.json",
            "aws-cli",
            "AWS CLI",
            None,
        ),
        (
            "updateclusterconfig-console-close-public.json",
            "console",
            "AWS console",
            None,
        ),
        (
            "updateclusterconfig-widen-cidrs.json",
            "terraform",
            "Terraform",
            Some("vpc_config.endpoint_public_access = false"),
        ),
        (
            "updateclusterconfig-opentofu-open-public.json",
            "opentofu",
            "OpenTofu",
            Some("vpc_config.endpoint_public_access = false"),
        ),
        (
            "updateclusterconfig-cloudformation-open-public.json",
            "cloudformation",
            "CloudFormation",
            Some("ResourcesVpcConfig.EndpointPublicAccess: false"),
        ),
        (
            "updateclusterconfig-cdk-open-public.json",
            "cdk",
            "AWS CDK",
            Some("endpointAccess: eks.EndpointAccess.PRIVATE"),
        ),
        (
            "updateclusterconfig-eksctl-open-public.json",
            "eksctl",
            "eksctl",
            Some("vpc.clusterEndpoints.publicAccess: false"),
        ),
        (
            "updateclusterconfig-pulumi-open-public.json",
            "pulumi",
            "Pulumi",
            Some("vpcConfig.endpointPublicAccess: false"),
        ),
        (
            "updateclusterconfig-crossplane-open-public.json",
            "crossplane",
            "Crossplane",
            Some("spec.forProvider.vpcConfig[0].endpointPublicAccess: false"),
        ),
        (
            "updateclusterconfig-ack-open-public.json",
            "ack",
            "ACK",
            Some("spec.resourcesVPCConfig.endpointPublicAccess: false"),
        ),
        (
            "updateclusterconfig-sdk-python-open-public.json",
            "sdk",
            "AWS SDK for Python",
            None,
        ),
    ];
    for (sample, id, says, setting) in table {
        let (finding, email, card) = judged(sample, &[], &[], "reverted").await;
        assert_eq!(finding["actor"]["tool"]["id"], id, "{sample}");
        assert!(
            email.contains(&format!("Tool:         {says}")),
            "{sample}:\n{email}"
        );
        let description = card["content"]["description"].as_str().unwrap();
        assert!(
            description.contains(&format!("*Tool:* {says}")),
            "{sample}: {description}"
        );
        let steps = card_steps(&card);
        assert_eq!(
            serde_json::to_value(&steps).unwrap(),
            finding["nextSteps"],
            "{sample}: the card's steps are the finding's"
        );
        assert!(
            email.contains(&format!("Next:         {}", steps[0])),
            "{sample}:\n{email}"
        );
        match setting {
            Some(setting) => {
                assert_eq!(finding["iac"][0]["tool"], id, "{sample}");
                assert_eq!(finding["iac"][0]["settings"][0], setting, "{sample}");
                assert!(steps[0].contains(setting), "{sample}: {steps:?}");
                assert!(steps[0].contains("again"), "{sample}: {steps:?}");
            }
            None => {
                assert_eq!(finding["iac"], Value::Array(Vec::new()), "{sample}");
                assert!(!email.contains("apply`"), "{sample}:\n{email}");
            }
        }
    }
}

/// Terraform widened the CIDRs: the fix cuts them back, so the advice names
/// `public_access_cidrs`, not closing the endpoint.
#[tokio::test]
async fn cutting_cidrs_names_the_cidr_setting() {
    let (finding, email, _) = judged(
        "updateclusterconfig-widen-cidrs.json",
        &[],
        &[("ALLOWED_PUBLIC_CIDRS", "203.0.113.0/24")],
        "reverted",
    )
    .await;
    assert_eq!(
        finding["iac"][0]["settings"],
        serde_json::json!(["vpc_config.public_access_cidrs = [\"203.0.113.0/24\"]"])
    );
    assert!(!email.contains("endpoint_public_access = false"), "{email}");
}

/// A console change on a cluster of a CloudFormation stack: the revert
/// makes the stack drift, and every view says so.
#[tokio::test]
async fn a_stack_tagged_cluster_is_warned_of_drift() {
    let (finding, email, card) = judged(
        "updateclusterconfig-console-close-public.json",
        &[(STACK_TAG, "payments-prod"), ("team", "payments")],
        &[],
        "reverted",
    )
    .await;
    assert_eq!(finding["actor"]["tool"]["id"], "console");
    assert_eq!(finding["iac"][0]["source"], "stack-tag");
    assert_eq!(finding["iac"][0]["stack"], "payments-prod");
    let warning = "The revert makes CloudFormation stack payments-prod drift";
    assert!(email.contains(warning), "{email}");
    assert!(card_steps(&card)[0].starts_with(warning));

    // CloudFormation itself changed it: one warning, naming its stack.
    let (finding, _, _) = judged(
        "updateclusterconfig-cloudformation-open-public.json",
        &[(STACK_TAG, "payments-prod")],
        &[],
        "reverted",
    )
    .await;
    let iac = finding["iac"].as_array().unwrap();
    assert_eq!(iac.len(), 1, "{iac:?}");
    assert_eq!(iac[0]["source"], "actor");
    assert_eq!(iac[0]["stack"], "payments-prod");
}

/// The sweep has no record and no actor; the stack tag still tells.
#[tokio::test]
async fn the_sweep_warns_of_drift_from_the_stack_tag() {
    let list = mock!(aws_sdk_eks::Client::list_clusters)
        .then_output(|| ListClustersOutput::builder().clusters("prod-eu").build());
    let (describe, updates, revert) = (
        open_cluster(&["0.0.0.0/0"], &[(STACK_TAG, "eksctl-prod-eu-cluster")]),
        updates(),
        revert_starts("revert-1"),
    );
    let (guard, inbox) = guard_with(config(&[]), &[&list, &describe, &updates, &revert]);
    let payload: Value =
        serde_json::from_str(include_str!("../events/scheduled-sweep.json")).unwrap();
    guard
        .handle(
            &payload,
            &Invocation::until(Deadline::after(Duration::from_secs(10))),
        )
        .await
        .expect("swept");
    // People get the sweep's summary; machines the finding, whose email
    // view the event path would send.
    let (summary, summary_email, _) = inbox.only();
    assert_eq!(summary["schema"], "eks-endpoint-guard/sweep-summary/v1");
    assert!(
        summary_email
            .contains("prod-eu (111122223333 / eu-west-1): reverted (EKS update revert-1)"),
        "{summary_email}"
    );
    let findings = inbox.batched_findings();
    assert_eq!(findings.len(), 1, "{findings:?}");
    let finding = &findings[0];
    assert_eq!(finding["outcome"], "reverted");
    assert_eq!(finding["actor"]["tool"], Value::Null);
    let parsed: eks_endpoint_guard::alert::Finding =
        serde_json::from_value(finding.clone()).unwrap();
    let email = eks_endpoint_guard::alert::email_text(&parsed);
    assert!(
        email.contains("Tool:         unknown (found by the sweep"),
        "{email}"
    );
    // eksctl's stack: the setting is eksctl's.
    assert_eq!(finding["iac"][0]["tool"], "eksctl");
    assert_eq!(finding["iac"][0]["stack"], "eksctl-prod-eu-cluster");
    assert!(
        email.contains("vpc.clusterEndpoints.publicAccess: false"),
        "{email}"
    );
    assert!(email.contains("drift"), "{email}");
}
