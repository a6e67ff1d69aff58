//! The finding as an AWS Security Finding Format (ASFF) document (pure):
//! the alert's [`Finding`], a [`Standing`] and the time give the document
//! ([`Asff::of`]), in the JSON shape Security Hub documents and in the SDK's
//! ([`Asff::to_sdk`]).

use std::collections::{BTreeMap, HashMap};

use aws_sdk_securityhub::primitives::{DateTime, DateTimeFormat};
use aws_sdk_securityhub::types as sh;
use serde::Serialize;

use crate::alert::Finding;
use crate::clock::parse_rfc3339;
use crate::config::GUARD_NAME;
use crate::eks::AccountRef;
use crate::outcome::Outcome;
use crate::policy::Mode;

const SCHEMA_VERSION: &str = "2018-10-08";
/// The finding's `GeneratorId` (and `ProductName`).
const GENERATOR_ID: &str = GUARD_NAME;
/// The one policy the guard enforces: the last part of every finding's `Id`.
const POLICY_ID: &str = "public-endpoint";
/// The ASFF type (namespace/category/classifier): a public endpoint is a
/// network reachability issue against AWS best practice.
const FINDING_TYPE: &str =
    "Software and Configuration Checks/AWS Security Best Practices/Network Reachability";
/// Security Hub's control for the same rule: "EKS cluster endpoints should
/// not be publicly accessible".
const CONTROL: &str = "AWS Foundational Security Best Practices v1.0.0/EKS.1";
const REMEDIATION_URL: &str =
    "https://docs.aws.amazon.com/eks/latest/userguide/cluster-endpoint.html";

pub(super) const MAX_TITLE_CHARS: usize = 256;
pub(super) const MAX_DESCRIPTION_CHARS: usize = 1024;
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
    pub(crate) schema_version: String,
    pub(crate) id: String,
    pub(crate) product_arn: String,
    pub(crate) product_name: String,
    pub(crate) generator_id: String,
    pub(crate) aws_account_id: String,
    /// The hub's region (the function's), where the finding lives.
    pub(crate) region: String,
    pub(crate) types: Vec<String>,
    pub(crate) first_observed_at: String,
    pub(crate) last_observed_at: String,
    pub(crate) created_at: String,
    pub(crate) updated_at: String,
    pub(crate) severity: Severity,
    pub(crate) title: String,
    pub(crate) description: String,
    pub(crate) remediation: Remediation,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) source_url: Option<String>,
    pub(crate) product_fields: BTreeMap<String, String>,
    pub(crate) resources: Vec<Resource>,
    pub(crate) compliance: Compliance,
    pub(crate) workflow: Workflow,
    pub(crate) record_state: String,
    pub(crate) finding_provider_fields: FindingProviderFields,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct Severity {
    /// `INFORMATIONAL`, `LOW`, `MEDIUM`, `HIGH` or `CRITICAL`.
    pub(crate) label: String,
    pub(crate) original: String,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct Remediation {
    pub(crate) recommendation: Recommendation,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct Recommendation {
    pub(crate) text: String,
    pub(crate) url: String,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct Resource {
    /// `AwsEksCluster`.
    pub(crate) r#type: String,
    /// The cluster's ARN.
    pub(crate) id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) partition: Option<String>,
    /// The cluster's region.
    pub(crate) region: String,
    pub(crate) details: ResourceDetails,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub(crate) struct ResourceDetails {
    #[serde(rename = "AwsEksCluster")]
    pub(crate) aws_eks_cluster: EksClusterDetails,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct EksClusterDetails {
    pub(crate) name: String,
    pub(crate) arn: String,
    pub(crate) cluster_status: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) resources_vpc_config: Option<EksVpcConfig>,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct EksVpcConfig {
    /// As the fix leaves it for a resolved finding; as found otherwise.
    pub(crate) endpoint_public_access: bool,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct Compliance {
    /// `FAILED` or `PASSED`.
    pub(crate) status: String,
    pub(crate) related_requirements: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct Workflow {
    /// `NEW`, `SUPPRESSED` or `RESOLVED`.
    pub(crate) status: String,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct FindingProviderFields {
    pub(crate) severity: Severity,
    pub(crate) types: Vec<String>,
}

/// The finding's `Id`: one per cluster and policy, so a repeat updates it.
fn finding_id(cluster_arn: &str) -> String {
    format!("{cluster_arn}/{GENERATOR_ID}/{POLICY_ID}")
}

/// An account's own findings product in a region: the only product a custom
/// integration may import to.
fn product_arn(partition: &str, region: &str, account: &str) -> String {
    format!("arn:{partition}:securityhub:{region}:{account}:product/{account}/default")
}

/// An RFC 3339 time with three digits of milliseconds
/// (`2026-11-23T06:00:01.500Z`): always the same width, so that later times
/// also sort later as text.
pub(super) fn timestamp(epoch_ms: u64) -> String {
    let seconds = DateTime::from_secs((epoch_ms / 1000) as i64)
        .fmt(DateTimeFormat::DateTime)
        .unwrap_or_else(|_| "1970-01-01T00:00:00Z".to_string());
    let whole = seconds.trim_end_matches('Z');
    format!("{whole}.{:03}Z", epoch_ms % 1000)
}

impl Asff {
    /// The ASFF document for `finding` (an alert the guard sent) as it now
    /// `stands`, for the Security Hub of `hub` (the function's partition and
    /// region), at `updated_at_ms`.
    pub fn of(
        finding: &Finding,
        standing: Standing,
        exemption: Option<&Exemption>,
        hub: &AccountRef,
        updated_at_ms: u64,
    ) -> Asff {
        let cluster = &finding.cluster;
        let updated_at = timestamp(updated_at_ms);
        let created_at = cause_time(finding, updated_at_ms).unwrap_or_else(|| updated_at.clone());
        let exposure = Exposure::of(finding);
        let severity = Severity::of(standing, exposure);
        let types = vec![FINDING_TYPE.to_string()];
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
            remediation: Remediation::recommended(),
            source_url: finding
                .links
                .cloudtrail_event
                .clone()
                .or_else(|| finding.links.cluster_console.clone()),
            product_fields: product_fields(finding, exemption),
            resources: vec![Resource::cluster(finding, standing)],
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
}

/// The cause's time (the event's), unless it is later than the update
/// (clocks differ).
fn cause_time(finding: &Finding, updated_at_ms: u64) -> Option<String> {
    finding
        .trigger
        .event_time
        .as_deref()
        .filter(|t| parse_rfc3339(t).is_some_and(|s| s * 1000.0 <= updated_at_ms as f64))
        .map(str::to_string)
}

impl Severity {
    fn of(standing: Standing, exposure: Exposure) -> Severity {
        match standing {
            Standing::Resolved => Severity {
                label: "INFORMATIONAL".to_string(),
                original: "closed".to_string(),
            },
            Standing::Open | Standing::Exempt => Severity {
                label: exposure.severity().to_string(),
                original: exposure.describe().to_string(),
            },
        }
    }
}

impl Remediation {
    fn recommended() -> Remediation {
        Remediation {
            recommendation: Recommendation {
                text: truncate(RECOMMENDATION, MAX_RECOMMENDATION_CHARS),
                url: REMEDIATION_URL.to_string(),
            },
        }
    }
}

impl Resource {
    /// The finding's cluster; its endpoint as the revert left it for a
    /// resolved finding, as found otherwise.
    fn cluster(finding: &Finding, standing: Standing) -> Resource {
        let cluster = &finding.cluster;
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
        Resource {
            r#type: "AwsEksCluster".to_string(),
            id: cluster.arn.clone(),
            partition: AccountRef::from_arn(&cluster.arn)
                .map(|a| a.partition)
                .filter(|p| ASFF_PARTITIONS.contains(&p.as_str())),
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
        }
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
    /// The SDK's shape of the same document.
    pub fn to_sdk(&self) -> sh::AwsSecurityFinding {
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
            .severity(self.severity.to_sdk())
            .title(&self.title)
            .description(&self.description)
            .remediation(self.remediation.to_sdk())
            .set_source_url(self.source_url.clone())
            .set_product_fields(Some(
                self.product_fields
                    .iter()
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect::<HashMap<_, _>>(),
            ))
            .set_resources(Some(self.resources.iter().map(Resource::to_sdk).collect()))
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
            .finding_provider_fields(self.finding_provider_fields.to_sdk())
            .build()
    }
}

impl Severity {
    fn to_sdk(&self) -> sh::Severity {
        sh::Severity::builder()
            .label(sh::SeverityLabel::from(self.label.as_str()))
            .original(&self.original)
            .build()
    }
}

impl Remediation {
    fn to_sdk(&self) -> sh::Remediation {
        sh::Remediation::builder()
            .recommendation(
                sh::Recommendation::builder()
                    .text(&self.recommendation.text)
                    .url(&self.recommendation.url)
                    .build(),
            )
            .build()
    }
}

impl Resource {
    fn to_sdk(&self) -> sh::Resource {
        let eks = &self.details.aws_eks_cluster;
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
            .r#type(&self.r#type)
            .id(&self.id)
            .set_partition(self.partition.as_deref().map(sh::Partition::from))
            .region(&self.region)
            .details(
                sh::ResourceDetails::builder()
                    .aws_eks_cluster(details)
                    .build(),
            )
            .build()
    }
}

impl FindingProviderFields {
    fn to_sdk(&self) -> sh::FindingProviderFields {
        sh::FindingProviderFields::builder()
            .severity(
                sh::FindingProviderSeverity::builder()
                    .label(sh::SeverityLabel::from(self.severity.label.as_str()))
                    .original(&self.severity.original)
                    .build(),
            )
            .set_types(Some(self.types.clone()))
            .build()
    }
}
