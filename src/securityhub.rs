//! Findings in AWS Security Hub (CSPM): every violation the guard alerts is
//! also imported as an AWS Security Finding Format (ASFF) document through
//! `BatchImportFindings` (`SECURITY_HUB=true`).
//!
//! [`asff`] is pure: the alert's [`Finding`], a [`Standing`] and the time
//! give the document. [`SecurityHub::import`] sends it.
//!
//! What Security Hub does with an import, and what follows for this module
//! (Security Hub user guide, "BatchImportFindings for finding providers" and
//! "Required top-level ASFF attributes"; API reference, `AwsSecurityFinding`):
//!
//! - The same `ProductArn` and `Id` update a finding instead of adding one,
//!   and only when `UpdatedAt` is later than the finding's. So the
//!   [`finding_id`] is the cluster's ARN and the one policy the guard
//!   enforces (a repeat updates the finding), and
//!   [`SecurityHub::next_updated_at_ms`] never hands out a millisecond twice.
//! - An import replaces the provider's fields, `CreatedAt` among them. The
//!   guard does not read findings back (that would need read access to every
//!   finding of the hub), so `CreatedAt` is the time of the cause: the
//!   CloudTrail event's `eventTime` (or the sweep's), the same for every
//!   import one event leads to (the violation, the confirmed revert, Lambda's
//!   retries, duplicate deliveries). A later event or sweep that finds the
//!   cluster open again is a new occurrence, and moves it.
//! - `Workflow` is taken from an import only when it creates the finding;
//!   later changes come from `BatchUpdateFindings` (the customers' API). The
//!   guard still states the workflow it means in every import (moto, the
//!   local emulator, applies it); on real Security Hub a resolved finding
//!   shows `Compliance.Status` `PASSED` and keeps the workflow it had (the
//!   README shows an automation rule that sets `RESOLVED`). Security Hub
//!   itself resets `RESOLVED` to `NEW` when the status goes back to `FAILED`.
//! - `Severity` and `Types` are also sent in `FindingProviderFields`, where
//!   Security Hub takes a provider's later changes of them from.
//! - `BatchImportFindings` must be called by the account that the finding's
//!   `AwsAccountId` names (or by an allow-listed partner): a central account
//!   cannot import for a member, administrator or not. So a finding goes to
//!   the cluster's own account (through the remediation role in the central
//!   layout), into the Security Hub of the function's region.
//!
//! moto accepts any document: [`problems`] checks what Security Hub requires.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use aws_sdk_securityhub::error::DisplayErrorContext;
use aws_sdk_securityhub::primitives::{DateTime, DateTimeFormat};
use aws_sdk_securityhub::types as sh;
use serde::Serialize;
use serde_json::Value;

use crate::alert::Finding;
use crate::clock::{epoch_millis, parse_rfc3339};
use crate::config::GUARD_NAME;
use crate::eks::AccountRef;
use crate::outcome::Outcome;
use crate::policy::Mode;

pub const SCHEMA_VERSION: &str = "2018-10-08";
/// The finding's `GeneratorId` (and `ProductName`).
pub const GENERATOR_ID: &str = GUARD_NAME;
/// The one policy the guard enforces: the last part of every finding's `Id`.
pub const POLICY_ID: &str = "public-endpoint";
/// The ASFF type (namespace/category/classifier): a public endpoint is a
/// network reachability issue against AWS best practice.
pub const FINDING_TYPE: &str =
    "Software and Configuration Checks/AWS Security Best Practices/Network Reachability";
/// Security Hub's control for the same rule: "EKS cluster endpoints should
/// not be publicly accessible".
pub const CONTROL: &str = "AWS Foundational Security Best Practices v1.0.0/EKS.1";
pub const REMEDIATION_URL: &str =
    "https://docs.aws.amazon.com/eks/latest/userguide/cluster-endpoint.html";

pub const MAX_ID_CHARS: usize = 512;
pub const MAX_TITLE_CHARS: usize = 256;
pub const MAX_DESCRIPTION_CHARS: usize = 1024;
/// "The maximum allowed size for a finding is 240 Kb."
pub const MAX_FINDING_BYTES: usize = 240 * 1024;
const MAX_PRODUCT_FIELD_VALUE_CHARS: usize = 2048;
const MAX_RECOMMENDATION_CHARS: usize = 512;

/// Where a violation stands: its finding's `Compliance.Status` and
/// `Workflow.Status`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Standing {
    /// `FAILED`, `NEW`: the cluster is open (the revert just started, report
    /// mode, or the revert failed).
    Open,
    /// `FAILED`, `SUPPRESSED`: open, and exempt by tag.
    Exempt,
    /// `PASSED`, `RESOLVED`: the guard's revert ended `Successful`.
    Resolved,
}

impl Standing {
    /// The standing of what an alert told; `None` when the cluster, as read,
    /// complies (an earlier revert, a refused no-op) or the alert is not
    /// about a violation (exemption and not-handled alerts).
    pub fn of(finding: &Finding) -> Option<Standing> {
        finding.violation.as_ref()?;
        match finding.outcome {
            Outcome::Reverted | Outcome::WouldRevert | Outcome::RevertFailed => {
                Some(Standing::Open)
            }
            Outcome::Exempt => Some(Standing::Exempt),
            _ => None,
        }
    }

    pub fn compliance(self) -> &'static str {
        match self {
            Standing::Open | Standing::Exempt => "FAILED",
            Standing::Resolved => "PASSED",
        }
    }

    pub fn workflow(self) -> &'static str {
        match self {
            Standing::Open => "NEW",
            Standing::Exempt => "SUPPRESSED",
            Standing::Resolved => "RESOLVED",
        }
    }
}

/// The tag that exempts the cluster, as read from it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Exemption {
    pub tag_key: String,
    pub tag_value: String,
}

/// The ASFF document (field names as Security Hub spells them).
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Asff {
    pub schema_version: String,
    pub id: String,
    pub product_arn: String,
    pub product_name: String,
    pub generator_id: String,
    pub aws_account_id: String,
    /// The hub's region (the function's), where the finding lives.
    pub region: String,
    pub types: Vec<String>,
    pub first_observed_at: String,
    pub last_observed_at: String,
    pub created_at: String,
    pub updated_at: String,
    pub severity: Severity,
    pub title: String,
    pub description: String,
    pub remediation: Remediation,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source_url: Option<String>,
    pub product_fields: BTreeMap<String, String>,
    pub resources: Vec<Resource>,
    pub compliance: Compliance,
    pub workflow: Workflow,
    pub record_state: String,
    pub finding_provider_fields: FindingProviderFields,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Severity {
    /// `INFORMATIONAL`, `LOW`, `MEDIUM`, `HIGH` or `CRITICAL`.
    pub label: String,
    pub original: String,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Remediation {
    pub recommendation: Recommendation,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Recommendation {
    pub text: String,
    pub url: String,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Resource {
    /// `AwsEksCluster`.
    pub r#type: String,
    /// The cluster's ARN.
    pub id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub partition: Option<String>,
    /// The cluster's region.
    pub region: String,
    pub details: ResourceDetails,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ResourceDetails {
    #[serde(rename = "AwsEksCluster")]
    pub aws_eks_cluster: EksClusterDetails,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct EksClusterDetails {
    pub name: String,
    pub arn: String,
    pub cluster_status: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resources_vpc_config: Option<EksVpcConfig>,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct EksVpcConfig {
    /// As the fix leaves it for a resolved finding; as found otherwise.
    pub endpoint_public_access: bool,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Compliance {
    /// `FAILED` or `PASSED`.
    pub status: String,
    pub related_requirements: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Workflow {
    /// `NEW`, `SUPPRESSED` or `RESOLVED`.
    pub status: String,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct FindingProviderFields {
    pub severity: Severity,
    pub types: Vec<String>,
}

/// The finding's `Id`: one per cluster and policy, so a repeat updates it.
pub fn finding_id(cluster_arn: &str) -> String {
    format!("{cluster_arn}/{GENERATOR_ID}/{POLICY_ID}")
}

/// An account's own findings product in a region: the only product a custom
/// integration may import to.
pub fn product_arn(partition: &str, region: &str, account: &str) -> String {
    format!("arn:{partition}:securityhub:{region}:{account}:product/{account}/default")
}

/// An RFC 3339 time with three digits of milliseconds
/// (`2026-11-23T06:00:01.500Z`): always the same width, so that later times
/// also sort later as text.
pub fn timestamp(epoch_ms: u64) -> String {
    let seconds = DateTime::from_secs((epoch_ms / 1000) as i64)
        .fmt(DateTimeFormat::DateTime)
        .unwrap_or_else(|_| "1970-01-01T00:00:00Z".to_string());
    let whole = seconds.trim_end_matches('Z');
    format!("{whole}.{:03}Z", epoch_ms % 1000)
}

/// The ASFF document for `finding` (an alert the guard sent) as it now
/// `stands`, for the Security Hub of `hub` (the function's partition and
/// region), at `updated_at_ms`.
pub fn asff(
    finding: &Finding,
    standing: Standing,
    exemption: Option<&Exemption>,
    hub: &AccountRef,
    updated_at_ms: u64,
) -> Asff {
    let cluster = &finding.cluster;
    let updated_at = timestamp(updated_at_ms);
    // The cause's time; never later than the update (clocks differ).
    let created_at = finding
        .trigger
        .event_time
        .as_deref()
        .filter(|t| parse_rfc3339(t).is_some_and(|s| s * 1000.0 <= updated_at_ms as f64))
        .map(str::to_string)
        .unwrap_or_else(|| updated_at.clone());
    let exposure = Exposure::of(finding);
    let severity = match standing {
        Standing::Resolved => Severity {
            label: "INFORMATIONAL".to_string(),
            original: "closed".to_string(),
        },
        Standing::Open | Standing::Exempt => Severity {
            label: exposure.severity().to_string(),
            original: exposure.describe().to_string(),
        },
    };
    let types = vec![FINDING_TYPE.to_string()];
    let partition = AccountRef::from_arn(&cluster.arn)
        .map(|a| a.partition)
        .filter(|p| ASFF_PARTITIONS.contains(&p.as_str()));
    let public_now = match standing {
        Standing::Resolved => finding
            .action
            .resulting
            .as_ref()
            .map(|r| r.endpoint_public_access),
        Standing::Open | Standing::Exempt => {
            finding.found.as_ref().map(|f| f.endpoint_public_access)
        }
    };
    Asff {
        schema_version: SCHEMA_VERSION.to_string(),
        id: finding_id(&cluster.arn),
        product_arn: product_arn(&hub.partition, &hub.region, &cluster.account),
        product_name: GENERATOR_ID.to_string(),
        generator_id: GENERATOR_ID.to_string(),
        aws_account_id: cluster.account.clone(),
        region: hub.region.clone(),
        types: types.clone(),
        first_observed_at: created_at.clone(),
        last_observed_at: updated_at.clone(),
        created_at,
        updated_at,
        severity: severity.clone(),
        title: truncate(&title(finding, standing, exposure), MAX_TITLE_CHARS),
        description: truncate(
            &description(finding, standing, exemption),
            MAX_DESCRIPTION_CHARS,
        ),
        remediation: Remediation {
            recommendation: Recommendation {
                text: truncate(RECOMMENDATION, MAX_RECOMMENDATION_CHARS),
                url: REMEDIATION_URL.to_string(),
            },
        },
        source_url: finding
            .links
            .cloudtrail_event
            .clone()
            .or_else(|| finding.links.cluster_console.clone()),
        product_fields: product_fields(finding, exemption),
        resources: vec![Resource {
            r#type: "AwsEksCluster".to_string(),
            id: cluster.arn.clone(),
            partition,
            region: cluster.region.clone(),
            details: ResourceDetails {
                aws_eks_cluster: EksClusterDetails {
                    name: cluster.name.clone(),
                    arn: cluster.arn.clone(),
                    cluster_status: cluster.status.clone(),
                    resources_vpc_config: public_now.map(|public| EksVpcConfig {
                        endpoint_public_access: public,
                    }),
                },
            },
        }],
        compliance: Compliance {
            status: standing.compliance().to_string(),
            related_requirements: vec![CONTROL.to_string()],
        },
        workflow: Workflow {
            status: standing.workflow().to_string(),
        },
        record_state: "ACTIVE".to_string(),
        finding_provider_fields: FindingProviderFields { severity, types },
    }
}

const RECOMMENDATION: &str = "Keep the cluster's API endpoint private (endpointPublicAccess=false, endpointPrivateAccess=true), or reachable only from the ranges the guard allows (ALLOWED_PUBLIC_CIDRS). The guard reverts it unless it runs in report mode or the cluster is exempt.";

/// The values ASFF's `Resources[].Partition` takes.
const ASFF_PARTITIONS: [&str; 5] = ["aws", "aws-cn", "aws-us-gov", "aws-us-iso", "aws-us-iso-b"];

/// How far the public endpoint reaches, for the severity.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Exposure {
    /// A public range of length 0 (`0.0.0.0/0`, `::/0`, or EKS's empty list):
    /// anyone on the internet may try the API.
    Internet,
    /// Only some ranges, outside the allowed ones.
    Ranges,
}

impl Exposure {
    fn of(finding: &Finding) -> Exposure {
        let cidrs = match &finding.found {
            Some(found) if found.endpoint_public_access => found.public_cidrs(),
            _ => finding
                .violation
                .as_ref()
                .map(|v| v.disallowed_cidrs.clone())
                .unwrap_or_default(),
        };
        let everyone = cidrs.is_empty()
            || cidrs.iter().any(|cidr| {
                // What does not parse is judged the widest.
                cidr.trim()
                    .parse::<ipnet::IpNet>()
                    .map_or(true, |net| net.prefix_len() == 0)
            });
        if everyone {
            Exposure::Internet
        } else {
            Exposure::Ranges
        }
    }

    /// HIGH: open to the internet; MEDIUM: extra ranges.
    fn severity(self) -> &'static str {
        match self {
            Exposure::Internet => "HIGH",
            Exposure::Ranges => "MEDIUM",
        }
    }

    fn describe(self) -> &'static str {
        match self {
            Exposure::Internet => "open to the internet",
            Exposure::Ranges => "reachable from ranges outside the allowed ones",
        }
    }
}

fn title(finding: &Finding, standing: Standing, exposure: Exposure) -> String {
    let name = &finding.cluster.name;
    match standing {
        Standing::Resolved => format!("Public EKS API endpoint of {name} reverted"),
        Standing::Open | Standing::Exempt => {
            format!("Public EKS API endpoint on {name}: {}", exposure.describe())
        }
    }
}

/// Why, what the guard did, the exemption, and the cause; each part cut so
/// that a long one (forty CIDRs, a long ARN) leaves room for the others.
fn description(finding: &Finding, standing: Standing, exemption: Option<&Exemption>) -> String {
    let mut parts = Vec::new();
    let reason = finding.violation.as_ref().map(|v| truncate(&v.reason, 300));
    let reason = reason.as_deref();
    match standing {
        Standing::Resolved => {
            parts.push(format!(
                "The guard reverted this cluster ({}) and EKS reports the update {} Successful.",
                finding
                    .action
                    .fix
                    .as_deref()
                    .unwrap_or("closed the endpoint"),
                finding.action.update_id.as_deref().unwrap_or("unknown"),
            ));
            if let Some(reason) = reason {
                parts.push(sentence(&format!("Found before the revert: {reason}")));
            }
        }
        Standing::Open | Standing::Exempt => {
            if let Some(reason) = reason {
                parts.push(sentence(reason));
            }
            parts.push(truncate(&sentence(&finding.action.description), 450));
        }
    }
    if let Some(exemption) = exemption {
        parts.push(truncate(
            &format!(
                "Exempt by the tag {}={}: the guard only reports this cluster, and the finding is suppressed.",
                exemption.tag_key, exemption.tag_value
            ),
            200,
        ));
    }
    parts.push(cause(finding));
    parts.join(" ")
}

/// What led to the finding: the call and who made it, or the sweep.
fn cause(finding: &Finding) -> String {
    let trigger = &finding.trigger;
    let when = trigger.event_time.as_deref().unwrap_or("an unknown time");
    if trigger.source == "sweep" {
        return format!("Found by the guard's scheduled sweep at {when}.");
    }
    let who = finding
        .actor
        .principal_arn
        .as_deref()
        .unwrap_or("an unknown principal");
    let from = finding
        .actor
        .source_ip
        .as_deref()
        .map(|ip| format!(" from {ip}"))
        .unwrap_or_default();
    let event = trigger
        .event_id
        .as_deref()
        .map(|id| format!(" (CloudTrail event {id})"))
        .unwrap_or_default();
    format!(
        "Seen after {} by {who}{from} at {when}{event}.",
        trigger.api_call
    )
}

fn product_fields(finding: &Finding, exemption: Option<&Exemption>) -> BTreeMap<String, String> {
    let mut fields = BTreeMap::new();
    let mut put = |key: &str, value: Option<&str>| {
        if let Some(value) = value.filter(|v| !v.trim().is_empty()) {
            fields.insert(
                format!("{GENERATOR_ID}/{key}"),
                truncate(value, MAX_PRODUCT_FIELD_VALUE_CHARS),
            );
        }
    };
    put("Outcome", Some(finding.outcome.label()));
    put(
        "Mode",
        Some(match finding.mode {
            Mode::Enforce => "enforce",
            Mode::Report => "report",
        }),
    );
    put("ClusterName", Some(&finding.cluster.name));
    put("Trigger", Some(&finding.trigger.api_call));
    put("EventId", finding.trigger.event_id.as_deref());
    put("UpdateId", finding.action.update_id.as_deref());
    put("Fix", finding.action.fix.as_deref());
    put("Principal", finding.actor.principal_arn.as_deref());
    put("SourceIp", finding.actor.source_ip.as_deref());
    let tag = exemption.map(|e| format!("{}={}", e.tag_key, e.tag_value));
    put("ExemptTag", tag.as_deref());
    fields
}

/// Capitalised, and ending with a full stop.
fn sentence(text: &str) -> String {
    let text = text.trim();
    let mut chars = text.chars();
    let Some(first) = chars.next() else {
        return String::new();
    };
    let mut out: String = first.to_uppercase().chain(chars).collect();
    if !out.ends_with(['.', '!', '?']) {
        out.push('.');
    }
    out
}

/// At most `max` characters (an ellipsis marks a cut).
fn truncate(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_string();
    }
    let mut cut: String = text.chars().take(max - 1).collect();
    cut.push('…');
    cut
}

impl Asff {
    pub fn to_json(&self) -> Value {
        serde_json::to_value(self).expect("an ASFF document serialises")
    }

    /// The SDK's shape of the same document.
    pub fn to_sdk(&self) -> sh::AwsSecurityFinding {
        let severity = |s: &Severity| {
            sh::Severity::builder()
                .label(sh::SeverityLabel::from(s.label.as_str()))
                .original(&s.original)
                .build()
        };
        let resources = self.resources.iter().map(|r| {
            let eks = &r.details.aws_eks_cluster;
            let details = sh::AwsEksClusterDetails::builder()
                .name(&eks.name)
                .arn(&eks.arn)
                .cluster_status(&eks.cluster_status)
                .set_resources_vpc_config(eks.resources_vpc_config.as_ref().map(|vpc| {
                    sh::AwsEksClusterResourcesVpcConfigDetails::builder()
                        .endpoint_public_access(vpc.endpoint_public_access)
                        .build()
                }))
                .build();
            sh::Resource::builder()
                .r#type(&r.r#type)
                .id(&r.id)
                .set_partition(r.partition.as_deref().map(sh::Partition::from))
                .region(&r.region)
                .details(
                    sh::ResourceDetails::builder()
                        .aws_eks_cluster(details)
                        .build(),
                )
                .build()
        });
        let provider = &self.finding_provider_fields;
        sh::AwsSecurityFinding::builder()
            .schema_version(&self.schema_version)
            .id(&self.id)
            .product_arn(&self.product_arn)
            .product_name(&self.product_name)
            .generator_id(&self.generator_id)
            .aws_account_id(&self.aws_account_id)
            .region(&self.region)
            .set_types(Some(self.types.clone()))
            .first_observed_at(&self.first_observed_at)
            .last_observed_at(&self.last_observed_at)
            .created_at(&self.created_at)
            .updated_at(&self.updated_at)
            .severity(severity(&self.severity))
            .title(&self.title)
            .description(&self.description)
            .remediation(
                sh::Remediation::builder()
                    .recommendation(
                        sh::Recommendation::builder()
                            .text(&self.remediation.recommendation.text)
                            .url(&self.remediation.recommendation.url)
                            .build(),
                    )
                    .build(),
            )
            .set_source_url(self.source_url.clone())
            .set_product_fields(Some(
                self.product_fields
                    .iter()
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect::<HashMap<_, _>>(),
            ))
            .set_resources(Some(resources.collect()))
            .compliance(
                sh::Compliance::builder()
                    .status(sh::ComplianceStatus::from(self.compliance.status.as_str()))
                    .set_related_requirements(Some(self.compliance.related_requirements.clone()))
                    .build(),
            )
            .workflow(
                sh::Workflow::builder()
                    .status(sh::WorkflowStatus::from(self.workflow.status.as_str()))
                    .build(),
            )
            .record_state(sh::RecordState::from(self.record_state.as_str()))
            .finding_provider_fields(
                sh::FindingProviderFields::builder()
                    .severity(
                        sh::FindingProviderSeverity::builder()
                            .label(sh::SeverityLabel::from(provider.severity.label.as_str()))
                            .original(&provider.severity.original)
                            .build(),
                    )
                    .set_types(Some(provider.types.clone()))
                    .build(),
            )
            .build()
    }
}

/// What Security Hub requires of an imported finding, and moto does not
/// check (API reference, `AwsSecurityFinding` and the types it uses; user
/// guide, "Required top-level ASFF attributes"): the required fields, their
/// lengths and values, the timestamps, the product of the finding's own
/// account, and the 240 KB limit. Empty: nothing wrong.
pub fn problems(doc: &Value) -> Vec<String> {
    let mut found = Vec::new();
    let text = |path: &str| -> Option<&str> { pointer(doc, path).and_then(Value::as_str) };
    let lengths = [
        ("/SchemaVersion", 1, 128, true),
        ("/Id", 1, MAX_ID_CHARS, true),
        ("/ProductArn", 12, 2048, true),
        ("/GeneratorId", 1, 512, true),
        ("/AwsAccountId", 12, 12, true),
        ("/CreatedAt", 1, 64, true),
        ("/UpdatedAt", 1, 64, true),
        ("/Title", 1, MAX_TITLE_CHARS, true),
        ("/Description", 1, MAX_DESCRIPTION_CHARS, true),
        ("/Region", 1, 16, false),
        ("/ProductName", 1, 128, false),
        ("/SourceUrl", 1, 2048, false),
        ("/Severity/Original", 1, 64, false),
        (
            "/Remediation/Recommendation/Text",
            1,
            MAX_RECOMMENDATION_CHARS,
            false,
        ),
    ];
    for (path, min, max, required) in lengths {
        match text(path) {
            None if required => found.push(format!("{path} is missing")),
            None => {}
            Some(s) if s.trim().is_empty() => found.push(format!("{path} is blank")),
            Some(s) if !(min..=max).contains(&s.chars().count()) => found.push(format!(
                "{path} has {} characters (allowed: {min} to {max})",
                s.chars().count()
            )),
            Some(_) => {}
        }
    }
    if text("/SchemaVersion").is_some_and(|v| v != SCHEMA_VERSION) {
        found.push(format!("SchemaVersion must be {SCHEMA_VERSION}"));
    }
    let account = text("/AwsAccountId").unwrap_or_default();
    if !account.bytes().all(|b| b.is_ascii_digit()) {
        found.push("AwsAccountId is not a 12-digit account id".to_string());
    }
    if let Some(arn) = text("/ProductArn") {
        let parts: Vec<&str> = arn.split(':').collect();
        let own = format!("product/{account}/default");
        if parts.len() != 6
            || parts[0] != "arn"
            || parts[2] != "securityhub"
            || parts[3].is_empty()
            || parts[4] != account
            || parts[5] != own
        {
            found.push(format!(
                "ProductArn {arn} is not arn:<partition>:securityhub:<region>:{account}:{own}, the only product the finding's account may import to"
            ));
        }
    }
    for path in [
        "/CreatedAt",
        "/UpdatedAt",
        "/FirstObservedAt",
        "/LastObservedAt",
    ] {
        if let Some(time) = text(path).filter(|t| parse_rfc3339(t).is_none()) {
            found.push(format!("{path} `{time}` is not an RFC 3339 time"));
        }
    }
    if let (Some(created), Some(updated)) = (
        text("/CreatedAt").and_then(parse_rfc3339),
        text("/UpdatedAt").and_then(parse_rfc3339),
    ) && created > updated
    {
        found.push("CreatedAt is later than UpdatedAt".to_string());
    }
    for (path, required) in [("/Types", true), ("/FindingProviderFields/Types", false)] {
        match pointer(doc, path).and_then(Value::as_array) {
            None if required => found.push(format!("{path} is missing")),
            None => {}
            Some(types) if types.is_empty() || types.len() > 50 => {
                found.push(format!("{path} has {} entries (1 to 50)", types.len()))
            }
            Some(types) => {
                for t in types.iter().map(|t| t.as_str().unwrap_or_default()) {
                    let namespace = t.split('/').next().unwrap_or_default();
                    if !TYPE_NAMESPACES.contains(&namespace) || t.split('/').count() > 3 {
                        found.push(format!(
                            "{path}: `{t}` is not namespace/category/classifier in a known namespace"
                        ));
                    }
                }
            }
        }
    }
    for (path, required) in [
        ("/Severity", true),
        ("/FindingProviderFields/Severity", false),
    ] {
        let Some(severity) = pointer(doc, path) else {
            if required {
                found.push(format!("{path} is missing"));
            }
            continue;
        };
        let label = severity.get("Label").and_then(Value::as_str);
        let normalized = severity.get("Normalized").and_then(Value::as_i64);
        match (label, normalized) {
            (None, None) => found.push(format!("{path} has neither Label nor Normalized")),
            (Some(label), _) if !SEVERITY_LABELS.contains(&label) => {
                found.push(format!("{path}/Label `{label}` is not a severity label"))
            }
            (_, Some(n)) if !(0..=100).contains(&n) => {
                found.push(format!("{path}/Normalized {n} is not 0 to 100"))
            }
            _ => {}
        }
    }
    match pointer(doc, "/Resources").and_then(Value::as_array) {
        None => found.push("/Resources is missing".to_string()),
        Some(resources) if resources.is_empty() || resources.len() > 32 => found.push(format!(
            "/Resources has {} entries (1 to 32)",
            resources.len()
        )),
        Some(resources) => {
            for (i, resource) in resources.iter().enumerate() {
                for (field, max, required) in [
                    ("Type", 256, true),
                    ("Id", 256, true),
                    ("Region", 16, false),
                ] {
                    match resource.get(field).and_then(Value::as_str) {
                        None if required => {
                            found.push(format!("/Resources/{i}/{field} is missing"))
                        }
                        Some(s) if s.trim().is_empty() || s.chars().count() > max => found.push(
                            format!("/Resources/{i}/{field} is blank or longer than {max}"),
                        ),
                        _ => {}
                    }
                }
                if let Some(p) = resource.get("Partition").and_then(Value::as_str)
                    && !ASFF_PARTITIONS.contains(&p)
                {
                    found.push(format!(
                        "/Resources/{i}/Partition `{p}` is not one ASFF takes"
                    ));
                }
            }
        }
    }
    let enums: [(&str, &[&str]); 3] = [
        (
            "/Compliance/Status",
            &["PASSED", "WARNING", "FAILED", "NOT_AVAILABLE"],
        ),
        (
            "/Workflow/Status",
            &["NEW", "NOTIFIED", "RESOLVED", "SUPPRESSED"],
        ),
        ("/RecordState", &["ACTIVE", "ARCHIVED"]),
    ];
    for (path, allowed) in enums {
        if let Some(value) = text(path).filter(|v| !allowed.contains(v)) {
            found.push(format!(
                "{path} `{value}` is not one of {}",
                allowed.join(", ")
            ));
        }
    }
    if pointer(doc, "/Compliance/RelatedRequirements")
        .and_then(Value::as_array)
        .is_some_and(|r| r.len() > 32)
    {
        found.push("/Compliance/RelatedRequirements has more than 32 entries".to_string());
    }
    if let Some(fields) = pointer(doc, "/ProductFields").and_then(Value::as_object) {
        if fields.len() > 50 {
            found.push(format!(
                "/ProductFields has {} pairs (at most 50)",
                fields.len()
            ));
        }
        for (key, value) in fields {
            let value = value.as_str().unwrap_or_default();
            if key.chars().count() > 128 || value.chars().count() > MAX_PRODUCT_FIELD_VALUE_CHARS {
                found.push(format!("/ProductFields `{key}` is too long"));
            }
            if key.starts_with("aws/") {
                found.push(format!(
                    "/ProductFields `{key}`: aws/ keys are Security Hub's"
                ));
            }
        }
    }
    let size = doc.to_string().len();
    if size > MAX_FINDING_BYTES {
        found.push(format!("{size} bytes (at most {MAX_FINDING_BYTES})"));
    }
    found
}

const TYPE_NAMESPACES: [&str; 5] = [
    "Software and Configuration Checks",
    "TTPs",
    "Effects",
    "Unusual Behaviors",
    "Sensitive Data Identifications",
];
const SEVERITY_LABELS: [&str; 5] = ["INFORMATIONAL", "LOW", "MEDIUM", "HIGH", "CRITICAL"];

fn pointer<'a>(doc: &'a Value, path: &str) -> Option<&'a Value> {
    doc.pointer(path).filter(|v| !v.is_null())
}

/// `BatchImportFindings` clients per account (the function's own; a member
/// account's through the remediation role), all in the function's region,
/// and the clock that keeps `UpdatedAt` moving forward.
pub struct SecurityHub {
    home: aws_sdk_securityhub::Client,
    cross_account: Option<CrossAccount>,
    clients: Mutex<HashMap<String, aws_sdk_securityhub::Client>>,
    last_updated_ms: AtomicU64,
}

struct CrossAccount {
    sdk: aws_config::SdkConfig,
    role_name: String,
}

impl SecurityHub {
    /// Findings of the function's own account only.
    pub fn new(client: aws_sdk_securityhub::Client) -> SecurityHub {
        SecurityHub {
            home: client,
            cross_account: None,
            clients: Mutex::default(),
            last_updated_ms: AtomicU64::new(0),
        }
    }

    /// Findings of another account are imported by assuming `role_name`
    /// there (the member's remediation role, as for EKS), under the session
    /// name `eks-endpoint-guard`.
    pub fn cross_account(sdk: &aws_config::SdkConfig, role_name: &str) -> SecurityHub {
        SecurityHub {
            cross_account: Some(CrossAccount {
                sdk: sdk.clone(),
                role_name: role_name.to_string(),
            }),
            ..SecurityHub::new(aws_sdk_securityhub::Client::new(sdk))
        }
    }

    /// Now, in epoch milliseconds, and later than any time this process
    /// handed out before: Security Hub ignores an update whose `UpdatedAt`
    /// is not later than the finding's.
    pub fn next_updated_at_ms(&self) -> u64 {
        let now = epoch_millis();
        let mut last = self.last_updated_ms.load(Ordering::SeqCst);
        loop {
            let next = now.max(last + 1);
            match self.last_updated_ms.compare_exchange(
                last,
                next,
                Ordering::SeqCst,
                Ordering::SeqCst,
            ) {
                Ok(_) => return next,
                Err(current) => last = current,
            }
        }
    }

    /// Imports one finding into the Security Hub of its `AwsAccountId`;
    /// `home` is the function's own account. The SDK retries what is worth
    /// retrying; a finding that Security Hub lists as failed is an error too.
    pub async fn import(&self, finding: &Asff, home: &AccountRef) -> Result<(), String> {
        let client = self.client_for(&finding.aws_account_id, home).await?;
        let output = client
            .batch_import_findings()
            .findings(finding.to_sdk())
            .send()
            .await
            .map_err(|e| DisplayErrorContext(&e).to_string())?;
        if output.failed_count().unwrap_or(0) == 0 {
            return Ok(());
        }
        let why = output
            .failed_findings()
            .iter()
            .map(|f| {
                format!(
                    "{}: {}",
                    f.error_code().unwrap_or("unknown"),
                    f.error_message().unwrap_or("no message")
                )
            })
            .collect::<Vec<_>>()
            .join("; ");
        Err(format!("Security Hub refused the finding ({why})"))
    }

    async fn client_for(
        &self,
        account: &str,
        home: &AccountRef,
    ) -> Result<aws_sdk_securityhub::Client, String> {
        if account == home.account {
            return Ok(self.home.clone());
        }
        if let Some(client) = self.lock().get(account) {
            return Ok(client.clone());
        }
        let Some(cross) = &self.cross_account else {
            return Err(format!(
                "the finding belongs to account {account}, and only that account may import it (set REMEDIATION_ROLE_NAME)"
            ));
        };
        let role_arn = format!(
            "arn:{}:iam::{account}:role/{}",
            home.partition, cross.role_name
        );
        let provider = aws_config::sts::AssumeRoleProvider::builder(role_arn)
            .session_name(GUARD_NAME)
            .configure(&cross.sdk)
            .build()
            .await;
        let mut config =
            aws_sdk_securityhub::config::Builder::from(&cross.sdk).credentials_provider(provider);
        if let Some(region) = self.home.config().region() {
            config = config.region(region.clone());
        }
        let client = aws_sdk_securityhub::Client::from_conf(config.build());
        self.lock().insert(account.to_string(), client.clone());
        Ok(client)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, aws_sdk_securityhub::Client>> {
        // A poisoned map of clients is still a map of valid clients.
        self.clients.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alert::{self, Acted, Judged};
    use crate::config::Config;
    use crate::event::ClusterChange;
    use crate::fixtures::{self, open};
    use crate::policy::{EndpointAccess, Policy, decide};

    const ARN: &str = "arn:aws:eks:eu-west-1:111122223333:cluster/prod-eu";
    /// 2026-11-23T06:05:00Z, five minutes after the sample event.
    const LATER_MS: u64 = 1_795_413_900_000;

    fn hub() -> AccountRef {
        AccountRef {
            partition: "aws".into(),
            region: "eu-west-1".into(),
            account: "111122223333".into(),
        }
    }

    fn change() -> ClusterChange {
        fixtures::change("prod-eu")
    }

    /// A document's compliance and workflow statuses.
    fn statuses(json: &serde_json::Value) -> (&str, &str) {
        let status = |field: &str| json[field]["Status"].as_str().unwrap_or_default();
        (status("Compliance"), status("Workflow"))
    }

    /// The alert for a cluster found `found`, decided under `policy`.
    fn told(
        found: &EndpointAccess,
        policy: &Policy,
        mode: Mode,
        exempt: bool,
        acted: &Acted,
    ) -> Finding {
        let (action, verdict) = decide(policy, mode, exempt, Some(found), found);
        alert::finding(
            &change(),
            Judged {
                cluster_arn: ARN,
                status: "ACTIVE",
                found: Some(found),
                verdict: &verdict,
                stack: None,
                exemption: None,
                action: &action,
            },
            mode,
            acted,
        )
    }

    fn reverted() -> Acted {
        Acted {
            update_id: Some("rev-9".into()),
            ..Acted::default()
        }
    }

    fn internet_reverted() -> Finding {
        told(
            &open(&["0.0.0.0/0"]),
            &Policy::default(),
            Mode::Enforce,
            false,
            &reverted(),
        )
    }

    fn assert_valid(doc: &Asff) -> Value {
        let json = doc.to_json();
        let problems = problems(&json);
        assert!(problems.is_empty(), "{problems:#?}\n{json:#}");
        json
    }

    #[test]
    fn a_reverted_cluster_is_a_failed_new_high_finding_with_every_required_field() {
        let finding = internet_reverted();
        let standing = Standing::of(&finding).expect("a violation");
        assert_eq!(standing, Standing::Open);
        let doc = asff(&finding, standing, None, &hub(), LATER_MS);
        let json = assert_valid(&doc);
        assert_eq!(json["SchemaVersion"], "2018-10-08");
        assert_eq!(
            json["ProductArn"],
            "arn:aws:securityhub:eu-west-1:111122223333:product/111122223333/default"
        );
        assert_eq!(json["GeneratorId"], "eks-endpoint-guard");
        assert_eq!(json["AwsAccountId"], "111122223333");
        assert_eq!(json["Region"], "eu-west-1");
        assert_eq!(
            json["Id"],
            format!("{ARN}/eks-endpoint-guard/public-endpoint")
        );
        assert!(
            json["Types"][0]
                .as_str()
                .unwrap()
                .starts_with("Software and Configuration Checks/")
        );
        let resource = &json["Resources"][0];
        assert_eq!(resource["Type"], "AwsEksCluster");
        assert_eq!(resource["Id"], ARN);
        assert_eq!(resource["Partition"], "aws");
        assert_eq!(resource["Region"], "eu-west-1");
        assert_eq!(
            resource["Details"]["AwsEksCluster"]["ResourcesVpcConfig"]["EndpointPublicAccess"],
            true
        );
        assert_eq!(json["Compliance"]["Status"], "FAILED");
        assert!(
            json["Compliance"]["RelatedRequirements"][0]
                .as_str()
                .unwrap()
                .ends_with("/EKS.1")
        );
        assert_eq!(json["Workflow"]["Status"], "NEW");
        assert_eq!(json["RecordState"], "ACTIVE");
        assert_eq!(json["Severity"]["Label"], "HIGH");
        assert_eq!(json["FindingProviderFields"]["Severity"]["Label"], "HIGH");
        assert_eq!(json["FindingProviderFields"]["Types"], json["Types"]);
        assert_eq!(
            json["SourceUrl"],
            "https://eu-west-1.console.aws.amazon.com/cloudtrailv2/home?region=eu-west-1#/events/ev-1"
        );
        // CreatedAt is the event's time; UpdatedAt the import's.
        assert_eq!(json["CreatedAt"], "2026-11-23T06:00:01Z");
        assert_eq!(json["FirstObservedAt"], "2026-11-23T06:00:01Z");
        assert_eq!(json["UpdatedAt"], "2026-11-23T06:05:00.000Z");
        assert_eq!(json["LastObservedAt"], json["UpdatedAt"]);
        let description = json["Description"].as_str().unwrap();
        for needle in fixtures::NAMED_IN_EVERY_VIEW
            .into_iter()
            .chain(["rev-9", "UpdateClusterConfig"])
        {
            assert!(description.contains(needle), "{needle}: {description}");
        }
        assert_eq!(
            json["ProductFields"]["eks-endpoint-guard/UpdateId"],
            "rev-9"
        );
        assert_eq!(
            json["ProductFields"]["eks-endpoint-guard/Outcome"],
            "reverted"
        );
    }

    #[test]
    fn the_sdk_document_carries_the_same_fields() {
        let doc = asff(&internet_reverted(), Standing::Open, None, &hub(), LATER_MS);
        let sdk = doc.to_sdk();
        assert_eq!(sdk.id(), Some(doc.id.as_str()));
        assert_eq!(sdk.product_arn(), Some(doc.product_arn.as_str()));
        assert_eq!(sdk.aws_account_id(), Some("111122223333"));
        assert_eq!(sdk.types(), doc.types.as_slice());
        assert_eq!(sdk.created_at(), Some("2026-11-23T06:00:01Z"));
        assert_eq!(
            sdk.severity().and_then(|s| s.label()),
            Some(&sh::SeverityLabel::High)
        );
        assert_eq!(
            sdk.compliance().and_then(|c| c.status()),
            Some(&sh::ComplianceStatus::Failed)
        );
        assert_eq!(
            sdk.workflow().and_then(|w| w.status()),
            Some(&sh::WorkflowStatus::New)
        );
        let resource = &sdk.resources()[0];
        assert_eq!(resource.r#type(), Some("AwsEksCluster"));
        assert_eq!(resource.partition(), Some(&sh::Partition::Aws));
        assert_eq!(
            resource
                .details()
                .and_then(|d| d.aws_eks_cluster())
                .and_then(|e| e.name()),
            Some("prod-eu")
        );
        assert_eq!(
            sdk.product_fields().map(HashMap::len),
            Some(doc.product_fields.len())
        );
        assert_eq!(
            sdk.finding_provider_fields()
                .and_then(|f| f.severity())
                .and_then(|s| s.label()),
            Some(&sh::SeverityLabel::High)
        );
    }

    #[test]
    fn the_same_cluster_keeps_its_id_and_the_confirmed_revert_passes_and_resolves() {
        let first = internet_reverted();
        let open_doc = asff(&first, Standing::Open, None, &hub(), LATER_MS);
        let resolved = asff(&first, Standing::Resolved, None, &hub(), LATER_MS + 300_000);
        let json = assert_valid(&resolved);
        assert_eq!(resolved.id, open_doc.id);
        assert_eq!(
            resolved.created_at, open_doc.created_at,
            "CreatedAt stays the event's"
        );
        assert!(resolved.updated_at > open_doc.updated_at);
        assert_eq!(statuses(&json), ("PASSED", "RESOLVED"));
        assert_eq!(json["Severity"]["Label"], "INFORMATIONAL");
        assert_eq!(
            json["Resources"][0]["Details"]["AwsEksCluster"]["ResourcesVpcConfig"]["EndpointPublicAccess"],
            false,
            "as the fix leaves it"
        );
        assert!(json["Title"].as_str().unwrap().contains("reverted"));
        assert!(json["Description"].as_str().unwrap().contains("Successful"));
        // Report mode: the same Id.
        let report = told(
            &open(&["0.0.0.0/0"]),
            &Policy::default(),
            Mode::Report,
            false,
            &Acted::default(),
        );
        assert_eq!(Standing::of(&report), Some(Standing::Open));
        assert_eq!(
            asff(&report, Standing::Open, None, &hub(), LATER_MS).id,
            open_doc.id
        );
    }

    #[test]
    fn extra_ranges_are_medium_and_the_internet_high() {
        let policy = Policy {
            allowed_public_cidrs: vec!["203.0.113.0/24".parse().unwrap()],
        };
        let ranges = told(
            &open(&["203.0.113.0/24", "198.51.100.0/24"]),
            &policy,
            Mode::Enforce,
            false,
            &reverted(),
        );
        let doc = asff(&ranges, Standing::Open, None, &hub(), LATER_MS);
        assert_valid(&doc);
        assert_eq!(doc.severity.label, "MEDIUM");
        assert!(doc.title.contains("outside the allowed"), "{}", doc.title);
        for internet in [vec!["0.0.0.0/0"], vec!["203.0.113.0/24", "::/0"], vec![]] {
            let f = told(&open(&internet), &policy, Mode::Enforce, false, &reverted());
            let doc = asff(&f, Standing::Open, None, &hub(), LATER_MS);
            assert_eq!(doc.severity.label, "HIGH", "{internet:?}");
        }
        // A specific range while the policy allows none: still only ranges.
        let specific = told(
            &open(&["198.51.100.0/24"]),
            &Policy::default(),
            Mode::Enforce,
            false,
            &reverted(),
        );
        assert_eq!(
            asff(&specific, Standing::Open, None, &hub(), LATER_MS)
                .severity
                .label,
            "MEDIUM"
        );
    }

    #[test]
    fn an_exempt_cluster_is_suppressed_and_names_the_tag() {
        let finding = told(
            &open(&["0.0.0.0/0"]),
            &Policy::default(),
            Mode::Enforce,
            true,
            &Acted::default(),
        );
        let standing = Standing::of(&finding).unwrap();
        assert_eq!(standing, Standing::Exempt);
        let exemption = Exemption {
            tag_key: "eks-endpoint-guard/exempt".into(),
            tag_value: "true".into(),
        };
        let doc = asff(&finding, standing, Some(&exemption), &hub(), LATER_MS);
        let json = assert_valid(&doc);
        assert_eq!(statuses(&json), ("FAILED", "SUPPRESSED"));
        assert!(
            doc.description.contains("eks-endpoint-guard/exempt=true"),
            "{}",
            doc.description
        );
        assert_eq!(
            json["ProductFields"]["eks-endpoint-guard/ExemptTag"],
            "eks-endpoint-guard/exempt=true"
        );
    }

    #[test]
    fn a_failed_revert_stays_failed_and_new_with_the_reason() {
        let acted = Acted {
            failed: Some(fixtures::denied_revert()),
            ..reverted()
        };
        let finding = told(
            &open(&["0.0.0.0/0"]),
            &Policy::default(),
            Mode::Enforce,
            false,
            &acted,
        );
        assert_eq!(finding.outcome, Outcome::RevertFailed);
        let standing = Standing::of(&finding).unwrap();
        assert_eq!(standing, Standing::Open);
        let doc = asff(&finding, standing, None, &hub(), LATER_MS);
        let json = assert_valid(&doc);
        assert_eq!(statuses(&json), ("FAILED", "NEW"));
        assert!(
            doc.description.contains("STILL OPEN"),
            "{}",
            doc.description
        );
        assert!(
            doc.description.contains("AccessDenied"),
            "{}",
            doc.description
        );
    }

    #[test]
    fn nothing_is_recorded_for_a_cluster_that_complies_as_read() {
        let closed = EndpointAccess {
            endpoint_public_access: false,
            endpoint_private_access: true,
            public_access_cidrs: vec!["0.0.0.0/0".into()],
        };
        // The call asked to open it; the cluster complies (an earlier revert).
        let (action, verdict) = decide(
            &Policy::default(),
            Mode::Enforce,
            false,
            Some(&open(&["0.0.0.0/0"])),
            &closed,
        );
        let finding = alert::finding(
            &change(),
            Judged {
                cluster_arn: ARN,
                status: "ACTIVE",
                found: Some(&closed),
                verdict: &verdict,
                stack: None,
                exemption: None,
                action: &action,
            },
            Mode::Enforce,
            &Acted::default(),
        );
        assert_eq!(finding.outcome, Outcome::AlreadyCompliant);
        assert_eq!(Standing::of(&finding), None);
        // EKS refused the revert as a no-op: it complied by then.
        let refused = told(
            &open(&["0.0.0.0/0"]),
            &Policy::default(),
            Mode::Enforce,
            false,
            &Acted {
                was_already_desired: true,
                ..Acted::default()
            },
        );
        assert_eq!(Standing::of(&refused), None);
    }

    #[test]
    fn long_texts_are_cut_to_the_limits_and_odd_places_stay_valid() {
        let mut finding = internet_reverted();
        finding.cluster.name = "c".repeat(100);
        finding.action.description = "é".repeat(5000);
        finding.actor.who.principal_arn = Some("p".repeat(3000));
        let doc = asff(&finding, Standing::Open, None, &hub(), LATER_MS);
        assert_valid(&doc);
        assert_eq!(doc.description.chars().count(), MAX_DESCRIPTION_CHARS);
        assert!(doc.description.ends_with('…'), "the cause, cut last");
        assert!(
            doc.description
                .contains("Seen after UpdateClusterConfig by ppp")
        );
        assert!(doc.title.chars().count() <= MAX_TITLE_CHARS);
        // An ISO partition, the sweep (no event), a cause "in the future".
        let mut odd = finding.clone();
        odd.cluster.arn = "arn:aws-iso-b:eks:us-isob-east-1:111122223333:cluster/x".into();
        odd.cluster.region = "us-isob-east-1".into();
        odd.trigger.source = "sweep".into();
        odd.trigger.api_call = "sweep".into();
        odd.trigger.event_id = None;
        odd.trigger.event_time = Some("2099-01-01T00:00:00Z".into());
        odd.links.cloudtrail_event = None;
        odd.links.cluster_console = None;
        odd.actor.who.principal_arn = None;
        let iso = AccountRef {
            partition: "aws-iso-b".into(),
            region: "us-isob-east-1".into(),
            account: "111122223333".into(),
        };
        let doc = asff(&odd, Standing::Open, None, &iso, LATER_MS);
        let json = assert_valid(&doc);
        assert_eq!(
            json["CreatedAt"], json["UpdatedAt"],
            "never after the update"
        );
        assert!(
            json["Resources"][0].get("Partition").is_none(),
            "a partition ASFF does not name is left out"
        );
        assert!(json.get("SourceUrl").is_none());
        assert!(doc.description.contains("sweep"), "{}", doc.description);
    }

    #[test]
    fn the_checker_catches_what_moto_would_accept() {
        let good = asff(&internet_reverted(), Standing::Open, None, &hub(), LATER_MS).to_json();
        assert!(problems(&good).is_empty());
        let broken = |edit: &dyn Fn(&mut Value)| {
            let mut doc = good.clone();
            edit(&mut doc);
            problems(&doc)
        };
        type Edit = Box<dyn Fn(&mut Value)>;
        let cases: Vec<(&str, Edit)> = vec![
            (
                "no title",
                Box::new(|d| {
                    d.as_object_mut().unwrap().remove("Title");
                }),
            ),
            (
                "long description",
                Box::new(|d| d["Description"] = Value::from("x".repeat(1025))),
            ),
            (
                "unknown label",
                Box::new(|d| d["Severity"]["Label"] = Value::from("SEVERE")),
            ),
            (
                "type without namespace",
                Box::new(|d| d["Types"] = serde_json::json!(["Vulnerabilities/CVE"])),
            ),
            (
                "no resource",
                Box::new(|d| d["Resources"] = serde_json::json!([])),
            ),
            (
                "bad time",
                Box::new(|d| d["CreatedAt"] = Value::from("yesterday")),
            ),
            (
                "another account's product",
                Box::new(|d| d["AwsAccountId"] = Value::from("444455556666")),
            ),
            (
                "unknown workflow",
                Box::new(|d| d["Workflow"]["Status"] = Value::from("DONE")),
            ),
            (
                "over 240 KB",
                Box::new(|d| d["Note"] = Value::from("x".repeat(MAX_FINDING_BYTES))),
            ),
        ];
        for (case, edit) in cases {
            assert!(!broken(edit.as_ref()).is_empty(), "{case}");
        }
    }

    #[test]
    fn updated_at_always_moves_forward() {
        let hub = SecurityHub::new(aws_sdk_securityhub::Client::from_conf(
            aws_sdk_securityhub::Config::builder()
                .behavior_version(aws_sdk_securityhub::config::BehaviorVersion::latest())
                .build(),
        ));
        let times: Vec<u64> = (0..100).map(|_| hub.next_updated_at_ms()).collect();
        assert!(times.windows(2).all(|w| w[1] > w[0]), "{times:?}");
        assert_eq!(timestamp(1_795_413_900_007), "2026-11-23T06:05:00.007Z");
        assert_eq!(timestamp(1_795_413_901_250), "2026-11-23T06:05:01.250Z");
        let texts: Vec<String> = times.iter().map(|t| timestamp(*t)).collect();
        assert!(texts.windows(2).all(|w| w[1] > w[0]), "{texts:?}");
    }

    #[test]
    fn security_hub_is_off_unless_asked_for() {
        let config = |value: Option<&str>| {
            Config::from_lookup(|key| match key {
                "ALERT_TOPIC_ARN" => Some("arn:aws:sns:eu-west-1:111122223333:alerts".into()),
                "SECURITY_HUB" => value.map(str::to_string),
                _ => None,
            })
        };
        assert!(!config(None).unwrap().security_hub);
        assert!(config(Some("TRUE")).unwrap().security_hub);
        assert!(!config(Some("false")).unwrap().security_hub);
        let err = config(Some("yes")).unwrap_err().to_string();
        assert!(err.starts_with("SECURITY_HUB"), "{err}");
    }
}
