//! The telling: one finding, rendered for every reader, published once.
//!
//! A single SNS `Publish` with `MessageStructure=json` carries a view per
//! protocol: `email` is plain text a person reads, `https` is an AWS Chatbot
//! custom notification (so a Slack channel subscribed through Chatbot shows a
//! card), and `sqs`, `lambda` and `default` are the machine-readable
//! [`Finding`] (schema `eks-endpoint-guard/finding/v1`, documented in the
//! README). Message attributes let subscribers filter without parsing.
//!
//! Everything but [`publish`] is pure.

use aws_sdk_sns::error::DisplayErrorContext;
use aws_sdk_sns::types::MessageAttributeValue;
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::eks::{AccountRef, UpdateError, describe_update_errors};
use crate::event::{Actor, ClusterChange, Origin};
use crate::history::Openings;
use crate::outcome::Outcome;
use crate::policy::{self, Action, EndpointAccess, Exemption, Mode, Verdict};
use crate::tool::{self, Advice, IacAdvice, Remedy, ToolRef};

pub const FINDING_SCHEMA: &str = "eks-endpoint-guard/finding/v1";
/// SNS refuses subjects longer than this.
pub const MAX_SUBJECT_LEN: usize = 100;

/// The machine-readable finding: the `sqs`, `lambda` and `default` view.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Finding {
    pub schema: String,
    /// `reverted`, `revert-failed`, `would-revert`, `exempt`,
    /// `already-compliant`, `exemption-granted`, `exemption-revoked` or
    /// `not-handled`.
    pub outcome: Outcome,
    pub mode: Mode,
    pub summary: String,
    pub cluster: ClusterRef,
    pub trigger: TriggerRef,
    pub actor: FindingActor,
    /// What the call asked for (`null` when it did not touch the endpoint,
    /// or when the record's settings could not be read).
    pub requested: Option<EndpointAccess>,
    /// Why the record's requested settings could not be read (they are
    /// advisory: the guard judged the cluster's real state).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requested_unreadable: Option<String>,
    /// What the guard read from EKS before acting (`null` when the cluster
    /// could not be read: exemption alerts are sent even then).
    pub found: Option<EndpointAccess>,
    /// Why the settings break the policy (`null` when they comply now).
    pub violation: Option<Violation>,
    /// What the guard did or would do.
    pub action: ActionTaken,
    /// Where the endpoint settings live in code (the tool that made the
    /// change, the CloudFormation stack that manages the cluster), what to
    /// set there, and what happens unless it is set: empty when no code is
    /// known to hold them.
    #[serde(default)]
    pub iac: Vec<IacAdvice>,
    /// What people do next, most pressing first (the Chatbot card's
    /// `nextSteps`, the email's `Next:`).
    #[serde(default)]
    pub next_steps: Vec<String>,
    pub links: Links,
    /// The exempt tag as the guard read it (absent when the cluster has none,
    /// and when the tag was taken off).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exemption: Option<ExemptionRef>,
    /// Repeat openings: `openedLast24h`, `openedLast7d` (absent when the
    /// cluster's updates were not read).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub history: Option<Openings>,
}

/// The exempt tag's value and what it meant when the guard judged it.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ExemptionRef {
    /// The tag's key (`EXEMPT_TAG_KEY`).
    pub tag: String,
    /// The tag's value, as set.
    pub value: String,
    /// `none` (`false`), `forever` (`true`), `until`, `ended`, `too-far` or
    /// `not-understood`; only `forever` and `until` exempt.
    pub state: String,
    /// The end the value names, RFC 3339 in UTC (a date's end is the next
    /// midnight UTC).
    pub end: Option<String>,
    /// For people: the end, or why the value does not exempt.
    pub note: Option<String>,
}

impl ExemptionRef {
    pub fn new(tag: &str, value: &str, exemption: &Exemption) -> ExemptionRef {
        ExemptionRef {
            tag: tag.to_string(),
            value: value.to_string(),
            state: exemption.state().to_string(),
            end: exemption.end().map(policy::rfc3339),
            note: exemption.note(),
        }
    }

    /// The tag was set to a value meant to exempt, and it does not.
    fn is_refused(&self) -> bool {
        matches!(self.state.as_str(), "ended" | "too-far" | "not-understood")
    }
}

/// Who made the call, with every field of [`Actor`] (flattened: the JSON
/// keeps `actor.principalArn` and the rest where they were), and the tool
/// they used. It derefs to the [`Actor`], so `finding.actor.principal_arn`
/// reads as it did before the tool was added.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct FindingActor {
    #[serde(flatten)]
    pub who: Actor,
    /// The tool behind the call (see [`tool::identify`]); `null` for the
    /// sweep, which has no call record.
    #[serde(default)]
    pub tool: Option<ToolRef>,
}

impl std::ops::Deref for FindingActor {
    type Target = Actor;

    fn deref(&self) -> &Actor {
        &self.who
    }
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ClusterRef {
    pub name: String,
    pub arn: String,
    pub account: String,
    pub region: String,
    pub status: String,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct TriggerRef {
    /// `cloudtrail` or `sweep`.
    pub source: String,
    /// The API call (`CreateCluster`, `UpdateClusterConfig`) or `sweep`.
    pub api_call: String,
    pub event_id: Option<String>,
    pub event_time: Option<String>,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Violation {
    pub reason: String,
    pub disallowed_cidrs: Vec<String>,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ActionTaken {
    /// The settings the fix sends (`null` when nothing is sent).
    pub fix: Option<String>,
    /// The settings the cluster has (or would have) after the fix.
    pub resulting: Option<EndpointAccess>,
    /// The id of the revert's EKS update, when the guard started one.
    pub update_id: Option<String>,
    /// For a revert that ended `Failed` or `Cancelled`: EKS's errors.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<UpdateError>,
    pub description: String,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Links {
    /// `null` in partitions whose console address the guard does not know.
    pub cluster_console: Option<String>,
    pub cloudtrail_event: Option<String>,
}

/// What the acting side reports back for the finding.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Acted {
    pub update_id: Option<String>,
    /// EKS refused the revert as a no-op: it complied by the time it arrived.
    pub was_already_desired: bool,
    /// The update is the guard's earlier revert of the same cause (a retry
    /// or a duplicate delivery), found through its token, not started now.
    pub earlier: bool,
    /// The revert's update ended `Failed` or `Cancelled`.
    pub failed: Option<FailedRevert>,
    /// Something learnt on the way that people should know (the sweep: the
    /// last attempt to close the endpoint failed).
    pub note: Option<String>,
    /// How often the endpoint was opened lately, from the cluster's updates.
    pub history: Option<Openings>,
}

/// A revert whose update EKS accepted and then did not apply.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FailedRevert {
    pub update_id: String,
    /// `Failed` or `Cancelled`.
    pub status: String,
    pub errors: Vec<UpdateError>,
}

/// What the guard judged about the cluster it read.
#[derive(Clone, Copy, Debug)]
pub struct Judged<'a> {
    /// The cluster's ARN (see [`cluster_arn`]).
    pub cluster_arn: &'a str,
    pub status: &'a str,
    /// `None` when the cluster could not be read (exemption and
    /// not-handled alerts only).
    pub found: Option<&'a EndpointAccess>,
    pub verdict: &'a Verdict,
    pub action: &'a Action,
    /// The exempt tag as read from the cluster (`None`: it has none).
    pub exemption: Option<&'a ExemptionRef>,
    /// The CloudFormation stack that manages the cluster (its
    /// `aws:cloudformation:stack-name` tag, see [`tool::cloudformation_stack`]):
    /// a revert makes that stack drift.
    pub stack: Option<&'a str>,
}

/// The cluster's ARN: as EKS or the record gave it, else built in the
/// function's partition (never guessed from the region's name, which gets the
/// ISO and sovereign partitions wrong).
pub fn cluster_arn(change: &ClusterChange, described: Option<&str>, partition: &str) -> String {
    described
        .map(str::to_string)
        .or_else(|| change.cluster_arn.clone())
        .unwrap_or_else(|| {
            format!(
                "arn:{partition}:eks:{}:{}:cluster/{}",
                change.region, change.account, change.cluster_name
            )
        })
}

fn taken(description: String) -> ActionTaken {
    ActionTaken {
        fix: None,
        resulting: None,
        update_id: None,
        errors: Vec::new(),
        description,
    }
}

/// The outcome of a decided action, and what was done (never called for
/// `Action::Nothing` but by the tag and not-handled alerts, which say more).
fn action_taken(
    action: &Action,
    found: Option<&EndpointAccess>,
    acted: &Acted,
) -> (Outcome, ActionTaken) {
    match action {
        Action::Revert(fix) if acted.was_already_desired => (
            Outcome::AlreadyCompliant,
            taken(format!(
                "EKS reported the cluster already at the settings the guard would set ({}); nothing was changed",
                fix.describe()
            )),
        ),
        Action::Revert(fix) => {
            let update = acted.update_id.as_deref().unwrap_or("unknown");
            let mut done = ActionTaken {
                fix: Some(fix.describe()),
                resulting: found.map(|f| fix.applied_to(f)),
                update_id: acted.update_id.clone(),
                errors: Vec::new(),
                description: if acted.earlier {
                    format!(
                        "reverted: the guard set {} (EKS update {update}) when it first handled this event",
                        fix.describe()
                    )
                } else {
                    format!(
                        "reverted: set {} (EKS update {update}; it takes a few minutes to apply)",
                        fix.describe()
                    )
                },
            };
            let Some(failed) = &acted.failed else {
                return (Outcome::Reverted, done);
            };
            done.resulting = None;
            done.errors = failed.errors.clone();
            done.description = format!(
                "REVERT FAILED: EKS accepted the revert ({}) as update {update}, which then ended {} ({}). The endpoint is STILL OPEN. The guard fails this invocation, so Lambda retries it and reverts again; after the retries the event waits in the failure queue.",
                fix.describe(),
                failed.status,
                describe_update_errors(&failed.errors)
            );
            (Outcome::RevertFailed, done)
        }
        Action::WouldRevert(fix) => (
            Outcome::WouldRevert,
            ActionTaken {
                fix: Some(fix.describe()),
                resulting: found.map(|f| fix.applied_to(f)),
                update_id: None,
                errors: Vec::new(),
                description: format!(
                    "report mode: nothing changed; enforce mode would set {}",
                    fix.describe()
                ),
            },
        ),
        Action::Exempt(fix) => (
            Outcome::Exempt,
            taken(format!(
                "exempt by tag: nothing changed (without the exemption the guard would set {})",
                fix.describe()
            )),
        ),
        Action::AlreadyCompliant | Action::Nothing => (
            Outcome::AlreadyCompliant,
            taken("the call asked for settings that break the policy, but the cluster complies now; nothing changed".to_string()),
        ),
    }
}

fn summary(outcome: Outcome, cluster: &str) -> String {
    match outcome {
        Outcome::Reverted => format!("Public EKS endpoint reverted on {cluster}"),
        Outcome::RevertFailed => {
            format!("Revert FAILED on {cluster}: the public EKS endpoint is still open")
        }
        Outcome::WouldRevert => format!("Public EKS endpoint found on {cluster} (report mode)"),
        Outcome::Exempt => format!("Public EKS endpoint on exempt cluster {cluster}"),
        Outcome::ExemptionGranted => format!("Guard exemption granted on {cluster}"),
        Outcome::ExemptionRevoked => format!("Guard exemption removed from {cluster}"),
        Outcome::NotHandled => {
            format!("EKS change on {cluster} NOT handled: the guard cannot act there")
        }
        _ => format!("Public EKS endpoint requested on {cluster}, already compliant"),
    }
}

/// Builds the finding for a decided action.
pub fn finding(change: &ClusterChange, judged: Judged<'_>, mode: Mode, acted: &Acted) -> Finding {
    let Judged {
        cluster_arn,
        status,
        found,
        verdict,
        action,
        exemption,
        stack,
    } = judged;
    let violation = match verdict {
        Verdict::Violation {
            reason,
            disallowed_cidrs,
            ..
        } => Some(Violation {
            reason: reason.clone(),
            disallowed_cidrs: disallowed_cidrs.clone(),
        }),
        Verdict::Compliant => None,
    };
    let (outcome, mut action_taken) = action_taken(action, found, acted);
    if let Some(note) = exemption.and_then(|e| e.note.as_ref()) {
        let stop = if action_taken.description.ends_with('.') {
            ""
        } else {
            "."
        };
        action_taken.description = format!("{}{stop} {note}", action_taken.description);
    }
    if let Some(note) = &acted.note {
        action_taken.description = format!("{} {note}", action_taken.description);
    }
    let region = change.region.as_str();
    let domain = AccountRef::from_arn(cluster_arn).and_then(|a| console_domain(&a.partition));
    let Advice { iac, next_steps } = advice(change, outcome, &Remedy::of(action), stack);
    Finding {
        schema: FINDING_SCHEMA.to_string(),
        outcome,
        mode,
        summary: summary(outcome, &change.cluster_name),
        cluster: ClusterRef {
            name: change.cluster_name.clone(),
            arn: cluster_arn.to_string(),
            account: change.account.clone(),
            region: change.region.clone(),
            status: status.to_string(),
        },
        trigger: TriggerRef {
            source: change.origin.source().to_string(),
            api_call: change.origin.label().to_string(),
            event_id: change.event_id.clone(),
            event_time: change.event_time.clone(),
        },
        actor: FindingActor {
            who: change.actor.clone(),
            tool: identified(change).as_ref().map(ToolRef::from),
        },
        requested: change.requested.clone(),
        requested_unreadable: change.requested_unreadable.clone(),
        found: found.cloned(),
        violation,
        action: action_taken,
        iac,
        next_steps,
        links: Links {
            cluster_console: domain.map(|domain| {
                format!(
                    "https://{region}.{domain}/eks/home?region={region}#/clusters/{}",
                    change.cluster_name
                )
            }),
            cloudtrail_event: domain.zip(change.event_id.as_ref()).map(|(domain, id)| {
                format!("https://{region}.{domain}/cloudtrailv2/home?region={region}#/events/{id}")
            }),
        },
        exemption: exemption.cloned(),
        history: acted.history,
    }
}

/// The tool behind the change; `None` for the sweep, which has no record.
fn identified(change: &ClusterChange) -> Option<tool::Identified> {
    match change.origin {
        Origin::CloudTrail(_) => Some(tool::identify(&change.actor)),
        Origin::Sweep => None,
    }
}

/// Where the settings live in code and what comes next, for this outcome.
fn advice(
    change: &ClusterChange,
    outcome: Outcome,
    remedy: &Remedy,
    stack: Option<&str>,
) -> Advice {
    tool::advise(outcome, identified(change).as_ref(), remedy, stack)
}

/// Sets a finding's outcome (and what follows from it) after the fact.
fn retell(finding: &mut Finding, change: &ClusterChange, outcome: Outcome) {
    finding.outcome = outcome;
    finding.summary = summary(outcome, &change.cluster_name);
    let Advice { iac, next_steps } = advice(change, outcome, &Remedy::Either, None);
    finding.iac = iac;
    finding.next_steps = next_steps;
}

/// The finding for an exempt tag put on or taken off a cluster.
///
/// `set` is the value the call put on and what it means now (`None`: the
/// tag was taken off). `state` is the cluster as read right after the tag
/// call (`None` when it could not be read), so the alert tells whether the
/// exemption covers a live violation.
pub fn exemption_finding(
    change: &ClusterChange,
    cluster_arn: &str,
    tag_key: &str,
    set: Option<(&str, &Exemption)>,
    state: Option<(&str, &EndpointAccess, &Verdict)>,
    mode: Mode,
) -> Finding {
    let enforced = "the guard enforces the policy on this cluster";
    let (outcome, description) = match set {
        Some((value, exemption @ Exemption::Forever)) => (
            Outcome::ExemptionGranted,
            format!(
                "exempt tag {tag_key}={value} put on the cluster: {}; the guard only reports it and never changes it until the tag is taken off",
                exemption.describe()
            ),
        ),
        Some((value, exemption @ Exemption::Until { .. })) => (
            Outcome::ExemptionGranted,
            format!(
                "exempt tag {tag_key}={value} put on the cluster: {}; until then the guard only reports it and never changes it, after it the cluster is judged like any other",
                exemption.describe()
            ),
        ),
        Some((value, Exemption::None)) => (
            Outcome::ExemptionRevoked,
            format!("exempt tag {tag_key}={value} put on the cluster: not exempt; {enforced}"),
        ),
        Some((value, Exemption::Ended { end })) => (
            Outcome::ExemptionRevoked,
            format!(
                "exempt tag {tag_key}={value} put on the cluster, but it does not exempt: its end {} has already passed; {enforced}",
                policy::rfc3339(*end)
            ),
        ),
        Some((value, exemption)) => (
            Outcome::ExemptionRevoked,
            format!(
                "exempt tag {tag_key}={value} put on the cluster, but it does not exempt: {}; {enforced}",
                exemption.describe()
            ),
        ),
        None => (
            Outcome::ExemptionRevoked,
            format!("exempt tag {tag_key} taken off: {enforced} again"),
        ),
    };
    let exemption = set.map(|(value, exemption)| ExemptionRef::new(tag_key, value, exemption));
    let verdict = state
        .map(|(_, _, verdict)| verdict)
        .unwrap_or(&Verdict::Compliant);
    let mut finding = finding(
        change,
        Judged {
            cluster_arn,
            status: state.map(|(status, _, _)| status).unwrap_or("UNKNOWN"),
            found: state.map(|(_, found, _)| found),
            verdict,
            action: &Action::Nothing,
            exemption: exemption.as_ref(),
            stack: None,
        },
        mode,
        &Acted::default(),
    );
    retell(&mut finding, change, outcome);
    if exemption.as_ref().is_some_and(ExemptionRef::is_refused) {
        finding.summary = format!(
            "Guard exemption on {} NOT honoured: the guard enforces the policy",
            change.cluster_name
        );
    }
    finding.action = taken(description);
    finding
}

/// The finding for a change the guard may not act on (another account
/// without a remediation role, a region it does not guard): people must
/// learn that a cluster may be open with nobody closing it.
pub fn not_handled_finding(
    change: &ClusterChange,
    cluster_arn: &str,
    why: &str,
    mode: Mode,
) -> Finding {
    let mut finding = finding(
        change,
        Judged {
            cluster_arn,
            status: "UNKNOWN",
            found: None,
            verdict: &Verdict::Compliant,
            action: &Action::Nothing,
            exemption: None,
            stack: None,
        },
        mode,
        &Acted::default(),
    );
    retell(&mut finding, change, Outcome::NotHandled);
    finding.action = taken(format!(
        "NOT HANDLED: {why}. The guard did not read or change any cluster; check this one by hand."
    ));
    finding
}

/// The console's address in a partition; `None` where the guard does not
/// know it (the ISO and sovereign partitions), rather than a wrong link.
fn console_domain(partition: &str) -> Option<&'static str> {
    match partition {
        "aws" => Some("console.aws.amazon.com"),
        "aws-cn" => Some("console.amazonaws.cn"),
        "aws-us-gov" => Some("console.amazonaws-us-gov.com"),
        _ => None,
    }
}

/// The SNS subject: the outcome and the cluster, within 100 characters.
pub fn subject(finding: &Finding) -> String {
    let prefix = match finding.outcome {
        Outcome::Reverted => "[EKS guard] Reverted public endpoint",
        Outcome::RevertFailed => "[EKS guard] REVERT FAILED, endpoint still public",
        Outcome::WouldRevert => "[EKS guard] Public endpoint (report only)",
        Outcome::Exempt => "[EKS guard] Public endpoint, exempt",
        Outcome::ExemptionGranted => "[EKS guard] Exemption GRANTED",
        Outcome::ExemptionRevoked
            if finding
                .exemption
                .as_ref()
                .is_some_and(ExemptionRef::is_refused) =>
        {
            "[EKS guard] Exemption NOT honoured"
        }
        Outcome::ExemptionRevoked => "[EKS guard] Exemption removed",
        Outcome::NotHandled => "[EKS guard] Change NOT handled",
        _ => "[EKS guard] Public endpoint requested, compliant",
    };
    let text = format!("{prefix}: {}", finding.cluster.name);
    // Cluster names are ASCII, so byte and character counts agree.
    if text.len() <= MAX_SUBJECT_LEN {
        text
    } else {
        format!("{}...", &text[..MAX_SUBJECT_LEN - 3])
    }
}

fn describe_access(access: &EndpointAccess) -> String {
    if access.endpoint_public_access {
        format!(
            "public endpoint ON from {}; private endpoint {}",
            access.public_cidrs().join(", "),
            if access.endpoint_private_access {
                "on"
            } else {
                "off"
            }
        )
    } else {
        format!(
            "public endpoint off; private endpoint {}",
            if access.endpoint_private_access {
                "on"
            } else {
                "off"
            }
        )
    }
}

/// One sentence on why the alert was sent.
fn why(finding: &Finding) -> &str {
    match (&finding.violation, finding.outcome) {
        (Some(violation), _) => &violation.reason,
        (None, Outcome::ExemptionGranted | Outcome::ExemptionRevoked) => {
            "changing the exempt tag decides whether the guard may act; the endpoint complies with the policy now"
        }
        (None, Outcome::NotHandled) => {
            "the change may have opened a cluster's endpoint, and this guard is not set up to act where it happened"
        }
        (None, _) => "the call asked for settings that break the policy; the cluster complies now",
    }
}

/// The requested settings, or why there are none to show.
fn describe_requested(finding: &Finding) -> String {
    match (&finding.requested, &finding.requested_unreadable) {
        (Some(requested), _) => describe_access(requested),
        (None, Some(why)) => {
            format!("unreadable, {why} (the guard judged the cluster's real state)")
        }
        (None, None) => "no endpoint change".to_string(),
    }
}

/// The exempt tag and what it meant: `key=value: exempt until ...`.
fn describe_exemption(exemption: &ExemptionRef) -> String {
    let end = exemption.end.as_deref().unwrap_or("unknown");
    let meant = match exemption.state.as_str() {
        "forever" => "exempt with no end".to_string(),
        "until" => format!("exempt until {end}"),
        "ended" => format!("not exempt, the exemption ended on {end}"),
        "too-far" => format!("not exempt, the end {end} is too far ahead (MAX_EXEMPTION_DAYS)"),
        "not-understood" => "not exempt, the value was not understood".to_string(),
        _ => "not exempt".to_string(),
    };
    format!("{}={}: {meant}", exemption.tag, exemption.value)
}

fn describe_found(found: Option<&EndpointAccess>) -> String {
    found
        .map(describe_access)
        .unwrap_or_else(|| "unknown (the cluster could not be read)".to_string())
}

/// The tool and what named it, or why none is known.
fn describe_tool(finding: &Finding) -> String {
    match &finding.actor.tool {
        Some(tool) => format!("{} ({})", tool.name, tool.evidence),
        None => "unknown (found by the sweep: no call record)".to_string(),
    }
}

fn who(actor: &Actor) -> String {
    let principal = actor
        .principal_arn
        .as_deref()
        .unwrap_or("unknown principal");
    match (&actor.role_arn, &actor.session_name) {
        (Some(role), Some(session)) => format!("{principal} (role {role}, session {session})"),
        _ => principal.to_string(),
    }
}

/// The `email` view: plain text.
pub fn email_text(finding: &Finding) -> String {
    let unknown = "unknown";
    let mut lines = vec![
        finding.summary.clone(),
        String::new(),
        format!("Outcome:      {}", finding.action.description),
        format!("Why:          {}", why(finding)),
        String::new(),
        format!("Cluster:      {}", finding.cluster.name),
        format!("ARN:          {}", finding.cluster.arn),
        format!("Account:      {}", finding.cluster.account),
        format!("Region:       {}", finding.cluster.region),
        format!("Status:       {}", finding.cluster.status),
    ];
    if let Some(exemption) = &finding.exemption {
        lines.push(format!("Exemption:    {}", describe_exemption(exemption)));
    }
    if let Some(history) = &finding.history {
        lines.push(format!("History:      {}", history.describe()));
    }
    lines.extend([
        String::new(),
        if finding.trigger.source == "sweep" {
            format!(
                "Found by:     the scheduled sweep at {} (no actor is known)",
                finding.trigger.event_time.as_deref().unwrap_or(unknown)
            )
        } else {
            format!(
                "Call:         {} at {}",
                finding.trigger.api_call,
                finding.trigger.event_time.as_deref().unwrap_or(unknown)
            )
        },
        format!("Who:          {}", who(&finding.actor)),
        format!(
            "Source IP:    {}",
            finding.actor.source_ip.as_deref().unwrap_or(unknown)
        ),
        format!(
            "User agent:   {}",
            finding.actor.user_agent.as_deref().unwrap_or(unknown)
        ),
        format!("Tool:         {}", describe_tool(finding)),
        format!(
            "Event id:     {}",
            finding.trigger.event_id.as_deref().unwrap_or(unknown)
        ),
        String::new(),
        format!("Requested:    {}", describe_requested(finding)),
        format!("Found:        {}", describe_found(finding.found.as_ref())),
    ]);
    if let Some(resulting) = &finding.action.resulting {
        lines.push(format!("After fix:    {}", describe_access(resulting)));
    }
    lines.push(String::new());
    for (i, step) in finding.next_steps.iter().enumerate() {
        let label = if i == 0 { "Next:" } else { "" };
        lines.push(format!("{label:<14}{step}"));
    }
    if !finding.next_steps.is_empty() {
        lines.push(String::new());
    }
    if let Some(link) = &finding.links.cluster_console {
        lines.push(format!("Cluster:      {link}"));
    }
    if let Some(link) = &finding.links.cloudtrail_event {
        lines.push(format!("CloudTrail:   {link}"));
    }
    lines.push(String::new());
    lines.push(format!(
        "Sent by eks-endpoint-guard ({} mode). Machine-readable finding: subscribe SQS or Lambda to this topic.",
        match finding.mode {
            Mode::Enforce => "enforce",
            Mode::Report => "report",
        }
    ));
    lines.join("\n")
}

/// The `https` view: an AWS Chatbot custom notification.
pub fn chatbot_notification(finding: &Finding) -> serde_json::Value {
    let emoji = match finding.outcome {
        Outcome::Reverted | Outcome::RevertFailed | Outcome::NotHandled => ":rotating_light:",
        Outcome::WouldRevert | Outcome::ExemptionGranted => ":warning:",
        Outcome::ExemptionRevoked
            if finding
                .exemption
                .as_ref()
                .is_some_and(ExemptionRef::is_refused) =>
        {
            ":warning:"
        }
        _ => ":information_source:",
    };
    let mut description = format!(
        "*{}*\n{}\n*Who:* {} from {}\n*Tool:* {}\n*Requested:* {}\n*Found:* {}",
        finding.action.description,
        why(finding),
        who(&finding.actor),
        finding.actor.source_ip.as_deref().unwrap_or("unknown"),
        describe_tool(finding),
        describe_requested(finding),
        describe_found(finding.found.as_ref()),
    );
    if let Some(exemption) = &finding.exemption {
        description.push_str(&format!("\n*Exemption:* {}", describe_exemption(exemption)));
    }
    if let Some(history) = &finding.history {
        description.push_str(&format!("\n*History:* {}", history.describe()));
    }
    let cluster = match &finding.links.cluster_console {
        Some(link) => format!("<{link}|{}>", finding.cluster.name),
        None => finding.cluster.name.clone(),
    };
    description.push_str(&format!(
        "\n*Cluster:* {cluster} ({} / {})",
        finding.cluster.account, finding.cluster.region
    ));
    if let Some(link) = &finding.links.cloudtrail_event {
        description.push_str(&format!(
            "\n*CloudTrail event:* <{link}|{}>",
            finding.trigger.event_id.as_deref().unwrap_or("event")
        ));
    }
    json!({
        "version": "1.0",
        "source": "custom",
        "id": finding.trigger.event_id,
        "content": {
            "textType": "client-markdown",
            "title": format!("{emoji} {}", finding.summary),
            "description": description,
            "nextSteps": finding.next_steps,
        },
        "metadata": {
            "threadId": format!("eks-endpoint-guard/{}/{}", finding.cluster.account, finding.cluster.name),
            "summary": finding.summary,
            "eventType": finding.outcome,
            "relatedResources": [finding.cluster.arn],
            "additionalContext": {
                "account": finding.cluster.account,
                "region": finding.cluster.region,
                "outcome": finding.outcome,
            }
        }
    })
}

/// The whole `Message` for `MessageStructure=json`: one string per protocol.
pub fn message(finding: &Finding) -> Result<String, serde_json::Error> {
    views(
        &serde_json::to_string(finding)?,
        &email_text(finding),
        &chatbot_notification(finding),
    )
}

/// The `Message` for `MessageStructure=json` from its three renderings: the
/// machine JSON (`default`, `sqs`, `lambda`, `email-json`), the email text
/// and the Chatbot card (`https`).
pub fn views(
    machine: &str,
    email: &str,
    chat: &serde_json::Value,
) -> Result<String, serde_json::Error> {
    serde_json::to_string(&json!({
        "default": machine,
        "sqs": machine,
        "lambda": machine,
        "email": email,
        "email-json": machine,
        "https": serde_json::to_string(chat)?,
    }))
}

/// Message attributes for subscription filter policies.
pub fn attributes(finding: &Finding) -> Vec<(&'static str, String)> {
    vec![
        ("action", finding.outcome.to_string()),
        ("account", finding.cluster.account.clone()),
        ("region", finding.cluster.region.clone()),
        ("cluster", finding.cluster.name.clone()),
        (
            "tool",
            finding
                .actor
                .tool
                .as_ref()
                .map_or_else(|| "none".to_string(), |t| t.id.clone()),
        ),
        (
            "mode",
            match finding.mode {
                Mode::Enforce => "enforce".to_string(),
                Mode::Report => "report".to_string(),
            },
        ),
    ]
}

/// Publishes the finding. An error here fails the invocation, so that
/// Lambda's retry (or the on-failure destination) keeps the alert.
pub async fn publish(
    sns: &aws_sdk_sns::Client,
    topic_arn: &str,
    finding: &Finding,
) -> Result<String, String> {
    let body = message(finding).map_err(|e| format!("could not render the alert: {e}"))?;
    publish_views(sns, topic_arn, &subject(finding), body, attributes(finding)).await
}

/// One `Publish` with `MessageStructure=json`: `views` is the JSON object
/// of one string per protocol.
pub async fn publish_views(
    sns: &aws_sdk_sns::Client,
    topic_arn: &str,
    subject: &str,
    views: String,
    attributes: Vec<(&'static str, String)>,
) -> Result<String, String> {
    let mut request = sns
        .publish()
        .topic_arn(topic_arn)
        .subject(subject)
        .message_structure("json")
        .message(views);
    for (name, value) in attributes {
        let attribute = MessageAttributeValue::builder()
            .data_type("String")
            .string_value(value)
            .build()
            .map_err(|e| format!("could not build attribute {name}: {e}"))?;
        request = request.message_attributes(name, attribute);
    }
    let output = request
        .send()
        .await
        .map_err(|e| DisplayErrorContext(&e).to_string())?;
    Ok(output.message_id().unwrap_or_default().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{ApiCall, ClusterChange, Origin};
    use crate::policy::{EndpointFix, Policy, decide, evaluate};

    fn change(name: &str) -> ClusterChange {
        ClusterChange {
            origin: Origin::CloudTrail(ApiCall::UpdateClusterConfig),
            cluster_name: name.to_string(),
            cluster_arn: None,
            requested: Some(open()),
            requested_unreadable: None,
            update_id: Some("u-1".into()),
            actor: Actor {
                identity_type: Some("AssumedRole".into()),
                principal_arn: Some("arn:aws:sts::111122223333:assumed-role/Admin/jane".into()),
                role_arn: Some("arn:aws:iam::111122223333:role/Admin".into()),
                session_name: Some("jane".into()),
                account_id: Some("111122223333".into()),
                invoked_by: None,
                source_ip: Some("198.51.100.23".into()),
                user_agent: Some("aws-cli/2.22.0".into()),
            },
            event_id: Some("ev-1".into()),
            event_time: Some("2026-11-23T06:00:01Z".into()),
            account: "111122223333".into(),
            region: "eu-west-1".into(),
            tag_edit: None,
        }
    }

    fn open() -> EndpointAccess {
        EndpointAccess {
            endpoint_public_access: true,
            endpoint_private_access: false,
            public_access_cidrs: vec!["0.0.0.0/0".into()],
        }
    }

    const ARN: &str = "arn:aws:eks:eu-west-1:111122223333:cluster/prod-eu";

    fn reverted(name: &str) -> Finding {
        acted_on(name, ARN, &revert_started())
    }

    fn revert_started() -> Acted {
        Acted {
            update_id: Some("rev-9".into()),
            ..Acted::default()
        }
    }

    fn acted_on(name: &str, arn: &str, acted: &Acted) -> Finding {
        let found = open();
        let (action, verdict) = decide(
            &Policy::default(),
            Mode::Enforce,
            false,
            Some(&found),
            &found,
        );
        finding(
            &change(name),
            Judged {
                cluster_arn: arn,
                status: "ACTIVE",
                found: Some(&found),
                verdict: &verdict,
                action: &action,
                exemption: None,
                stack: None,
            },
            Mode::Enforce,
            acted,
        )
    }

    #[test]
    fn the_finding_carries_everything_a_responder_needs() {
        let f = reverted("prod-eu");
        assert_eq!(f.outcome, Outcome::Reverted);
        assert_eq!(f.cluster.arn, ARN);
        assert_eq!(f.action.update_id.as_deref(), Some("rev-9"));
        assert_eq!(
            f.action
                .resulting
                .as_ref()
                .map(|r| r.endpoint_public_access),
            Some(false)
        );
        assert!(
            f.links
                .cluster_console
                .as_deref()
                .unwrap()
                .contains("eu-west-1.console.aws.amazon.com/eks")
        );
        assert!(
            f.links
                .cloudtrail_event
                .as_deref()
                .unwrap()
                .ends_with("#/events/ev-1")
        );
        assert_eq!(
            f.action.fix.as_deref(),
            Some(EndpointFix::ClosePublicEndpoint.describe().as_str())
        );
    }

    #[test]
    fn every_protocol_gets_its_view() {
        let f = reverted("prod-eu");
        let views: serde_json::Value = serde_json::from_str(&message(&f).unwrap()).unwrap();
        for key in ["default", "sqs", "lambda", "email", "https"] {
            assert!(views[key].is_string(), "{key} view missing");
        }
        let machine: serde_json::Value =
            serde_json::from_str(views["sqs"].as_str().unwrap()).unwrap();
        assert_eq!(machine["schema"], FINDING_SCHEMA);
        assert_eq!(machine["actor"]["sourceIp"], "198.51.100.23");

        let email = views["email"].as_str().unwrap();
        for needle in [
            "prod-eu",
            "arn:aws:sts::111122223333:assumed-role/Admin/jane",
            "session jane",
            "198.51.100.23",
            "aws-cli/2.22.0",
            "ev-1",
            "rev-9",
            "111122223333",
            "eu-west-1",
            "#/events/ev-1",
        ] {
            assert!(email.contains(needle), "email lacks {needle}:\n{email}");
        }

        let chat: serde_json::Value =
            serde_json::from_str(views["https"].as_str().unwrap()).unwrap();
        assert_eq!(chat["version"], "1.0");
        assert_eq!(chat["source"], "custom");
        assert!(
            chat["content"]["title"]
                .as_str()
                .unwrap()
                .contains("prod-eu")
        );
        assert!(
            chat["content"]["description"]
                .as_str()
                .unwrap()
                .contains("jane")
        );
    }

    #[test]
    fn subject_names_cluster_and_outcome_within_100_characters() {
        let short = subject(&reverted("prod-eu"));
        assert!(
            short.contains("prod-eu") && short.contains("Reverted"),
            "{short}"
        );
        let long_name = "a".repeat(100);
        let long = subject(&reverted(&long_name));
        assert!(long.len() <= MAX_SUBJECT_LEN, "{} characters", long.len());
        assert!(long.starts_with("[EKS guard] Reverted"));
    }

    #[test]
    fn attributes_allow_filter_policies() {
        let names: Vec<(&str, String)> = attributes(&reverted("prod-eu"));
        for (key, value) in [
            ("action", "reverted"),
            ("account", "111122223333"),
            ("region", "eu-west-1"),
            ("cluster", "prod-eu"),
        ] {
            assert!(names.contains(&(key, value.to_string())), "{key}");
        }
    }

    #[test]
    fn the_cluster_arn_is_built_in_the_functions_partition_not_guessed_from_the_region() {
        let mut c = change("iso-cluster");
        c.region = "us-isob-east-1".into();
        let arn = cluster_arn(&c, None, "aws-iso-b");
        assert_eq!(
            arn,
            "arn:aws-iso-b:eks:us-isob-east-1:111122223333:cluster/iso-cluster"
        );
        assert_eq!(cluster_arn(&c, Some(ARN), "aws-iso-b"), ARN);
        // No console link is made up for a partition whose console is unknown.
        let f = acted_on("iso-cluster", &arn, &revert_started());
        assert_eq!(f.links.cluster_console, None);
        assert_eq!(f.links.cloudtrail_event, None);
        let gov = acted_on(
            "gov",
            "arn:aws-us-gov:eks:us-gov-west-1:111122223333:cluster/gov",
            &revert_started(),
        );
        assert!(
            gov.links
                .cluster_console
                .unwrap()
                .contains(".console.amazonaws-us-gov.com/eks")
        );
        assert!(!email_text(&f).contains("https://"));
    }

    #[test]
    fn a_failed_revert_says_plainly_that_the_endpoint_is_still_open() {
        let acted = Acted {
            update_id: Some("rev-9".into()),
            failed: Some(FailedRevert {
                update_id: "rev-9".into(),
                status: "Failed".into(),
                errors: vec![UpdateError {
                    code: "AccessDenied".into(),
                    message: "the cluster role may not change the endpoint".into(),
                }],
            }),
            ..Acted::default()
        };
        let f = acted_on("prod-eu", ARN, &acted);
        assert_eq!(f.outcome, Outcome::RevertFailed);
        assert_eq!(f.action.errors[0].code, "AccessDenied");
        assert_eq!(f.action.resulting, None, "nothing resulted");
        assert!(subject(&f).contains("REVERT FAILED"), "{}", subject(&f));
        let email = email_text(&f);
        for needle in [
            "STILL OPEN",
            "rev-9",
            "Failed",
            "AccessDenied: the cluster role may not change the endpoint",
        ] {
            assert!(email.contains(needle), "email lacks {needle}:\n{email}");
        }
        let chat = chatbot_notification(&f);
        assert!(
            chat["content"]["title"]
                .as_str()
                .unwrap()
                .contains("FAILED")
        );
        assert!(
            chat["content"]["description"]
                .as_str()
                .unwrap()
                .contains("AccessDenied")
        );
        let machine: Finding = serde_json::from_str(&serde_json::to_string(&f).unwrap()).unwrap();
        assert_eq!(machine, f);
        assert!(attributes(&f).contains(&("action", "revert-failed".to_string())));
    }

    #[test]
    fn a_change_out_of_reach_is_told_with_what_to_configure() {
        let f = not_handled_finding(
            &change("elsewhere"),
            ARN,
            "account 111122223333 is not the function's own and REMEDIATION_ROLE_NAME is not set",
            Mode::Enforce,
        );
        assert_eq!(f.outcome, Outcome::NotHandled);
        assert_eq!(f.found, None);
        let email = email_text(&f);
        for needle in ["NOT HANDLED", "REMEDIATION_ROLE_NAME", "jane", "ev-1"] {
            assert!(email.contains(needle), "email lacks {needle}:\n{email}");
        }
        assert!(subject(&f).contains("NOT handled"));
        assert!(attributes(&f).contains(&("action", "not-handled".to_string())));
    }

    #[test]
    fn unreadable_requested_settings_are_said_so() {
        let mut c = change("prod-eu");
        c.requested = None;
        c.requested_unreadable = Some("publicAccessCidrs has a JSON number entry".into());
        let found = open();
        let (action, verdict) = decide(&Policy::default(), Mode::Enforce, false, None, &found);
        let f = finding(
            &c,
            Judged {
                cluster_arn: ARN,
                status: "ACTIVE",
                found: Some(&found),
                verdict: &verdict,
                action: &action,
                exemption: None,
                stack: None,
            },
            Mode::Enforce,
            &revert_started(),
        );
        let email = email_text(&f);
        assert!(
            email.contains("Requested:    unreadable, publicAccessCidrs has a JSON number entry"),
            "{email}"
        );
        let chat = chatbot_notification(&f);
        assert!(
            chat["content"]["description"]
                .as_str()
                .unwrap()
                .contains("unreadable")
        );
        let machine: serde_json::Value = serde_json::to_value(&f).unwrap();
        assert_eq!(
            machine["requestedUnreadable"],
            "publicAccessCidrs has a JSON number entry"
        );
    }

    /// 2026-12-01T10:00:00Z.
    const NOW: i64 = 1_796_119_200;
    const TAG: &str = "eks-endpoint-guard/exempt";

    #[test]
    fn a_cluster_whose_exemption_ended_is_reverted_saying_so() {
        let value = "2026-11-30T18:00:00Z";
        let read = policy::exemption(Some(value), NOW, 30);
        let (action, verdict) = decide(
            &Policy::default(),
            Mode::Enforce,
            read.is_active(),
            Some(&open()),
            &open(),
        );
        assert!(matches!(action, Action::Revert(_)), "{action:?}");
        let tag = ExemptionRef::new(TAG, value, &read);
        let f = finding(
            &change("prod-eu"),
            Judged {
                cluster_arn: ARN,
                status: "ACTIVE",
                found: Some(&open()),
                verdict: &verdict,
                action: &action,
                stack: None,
                exemption: Some(&tag),
            },
            Mode::Enforce,
            &revert_started(),
        );
        assert_eq!(f.outcome, Outcome::Reverted);
        assert!(
            f.action.description.starts_with("reverted: set")
                && f.action.description.ends_with(
                    "to apply). The exemption ended on 2026-11-30T18:00:00Z: the cluster is judged like any other."
                ),
            "{}",
            f.action.description
        );
        let machine = serde_json::to_value(&f).unwrap();
        assert_eq!(
            machine["exemption"],
            json!({
                "tag": TAG,
                "value": value,
                "state": "ended",
                "end": "2026-11-30T18:00:00Z",
                "note": "The exemption ended on 2026-11-30T18:00:00Z: the cluster is judged like any other."
            })
        );
        let email = email_text(&f);
        assert!(
            email.contains(
                "Exemption:    eks-endpoint-guard/exempt=2026-11-30T18:00:00Z: not exempt, the exemption ended on 2026-11-30T18:00:00Z"
            ),
            "{email}"
        );
        let chat = chatbot_notification(&f);
        let description = chat["content"]["description"].as_str().unwrap();
        assert!(
            description.contains(
                "*Exemption:* eks-endpoint-guard/exempt=2026-11-30T18:00:00Z: not exempt"
            ) && description.contains("The exemption ended on"),
            "{description}"
        );
        // Without an exempt tag the finding has no exemption field at all.
        assert!(
            serde_json::to_value(reverted("prod-eu"))
                .unwrap()
                .get("exemption")
                .is_none()
        );
    }

    #[test]
    fn an_exempt_cluster_is_told_with_its_end() {
        let read = policy::exemption(Some("2026-12-24T19:00:00+01:00"), NOW, 30);
        let (action, verdict) = decide(
            &Policy::default(),
            Mode::Enforce,
            read.is_active(),
            None,
            &open(),
        );
        let tag = ExemptionRef::new(TAG, "2026-12-24T19:00:00+01:00", &read);
        let f = finding(
            &change("prod-eu"),
            Judged {
                cluster_arn: ARN,
                status: "ACTIVE",
                found: Some(&open()),
                verdict: &verdict,
                action: &action,
                stack: None,
                exemption: Some(&tag),
            },
            Mode::Enforce,
            &Acted::default(),
        );
        assert_eq!(f.outcome, Outcome::Exempt);
        assert!(
            f.action
                .description
                .ends_with("Exempt until 2026-12-24T18:00:00Z."),
            "{}",
            f.action.description
        );
        assert!(email_text(&f).contains(
            "Exemption:    eks-endpoint-guard/exempt=2026-12-24T19:00:00+01:00: exempt until 2026-12-24T18:00:00Z"
        ));
    }

    #[test]
    fn the_tamper_alert_states_the_end_or_why_it_does_not_count() {
        let found = open();
        let verdict = evaluate(&Policy::default(), &found);
        let tamper = |value: Option<&str>| {
            let read = value.map(|v| (v, policy::exemption(Some(v), NOW, 30)));
            exemption_finding(
                &change("prod-eu"),
                ARN,
                TAG,
                read.as_ref().map(|(v, e)| (*v, e)),
                Some(("ACTIVE", &found, &verdict)),
                Mode::Enforce,
            )
        };
        // (value, outcome, what the description says, the subject's prefix)
        let cases = [
            (
                Some("2026-12-24T18:00:00Z"),
                Outcome::ExemptionGranted,
                "exempt until 2026-12-24T18:00:00Z; until then the guard only reports it",
                "[EKS guard] Exemption GRANTED",
            ),
            (
                Some("2026-12-24"),
                Outcome::ExemptionGranted,
                "exempt until 2026-12-25T00:00:00Z",
                "[EKS guard] Exemption GRANTED",
            ),
            (
                Some("true"),
                Outcome::ExemptionGranted,
                "exempt with no end",
                "[EKS guard] Exemption GRANTED",
            ),
            (
                Some("2027-06-01"),
                Outcome::ExemptionRevoked,
                "but it does not exempt: the exemption's end 2027-06-02T00:00:00Z is more than 30 days ahead",
                "[EKS guard] Exemption NOT honoured",
            ),
            (
                Some("yes"),
                Outcome::ExemptionRevoked,
                "but it does not exempt: the exempt tag's value `yes` was not understood",
                "[EKS guard] Exemption NOT honoured",
            ),
            (
                Some("2026-11-01"),
                Outcome::ExemptionRevoked,
                "but it does not exempt: its end 2026-11-02T00:00:00Z has already passed",
                "[EKS guard] Exemption NOT honoured",
            ),
            (
                Some("false"),
                Outcome::ExemptionRevoked,
                "=false put on the cluster: not exempt; the guard enforces the policy",
                "[EKS guard] Exemption removed",
            ),
            (
                None,
                Outcome::ExemptionRevoked,
                "taken off: the guard enforces the policy on this cluster again",
                "[EKS guard] Exemption removed",
            ),
        ];
        for (value, outcome, says, prefix) in cases {
            let f = tamper(value);
            assert_eq!(f.outcome, outcome, "{value:?}");
            assert!(
                f.action.description.contains(says),
                "{value:?}: {}",
                f.action.description
            );
            assert!(
                subject(&f).starts_with(prefix),
                "{value:?}: {}",
                subject(&f)
            );
            assert_eq!(
                f.exemption.as_ref().map(|e| e.value.as_str()),
                value,
                "{value:?}"
            );
            let email = email_text(&f);
            assert!(email.contains(says), "{value:?}: {email}");
            assert!(
                email.contains("Who:          arn:aws:sts::111122223333:assumed-role/Admin/jane"),
                "{email}"
            );
        }
        assert!(tamper(Some("yes")).summary.contains("NOT honoured"));
        assert_eq!(
            tamper(Some("2026-12-24")).exemption.unwrap().end.as_deref(),
            Some("2026-12-25T00:00:00Z")
        );
    }

    #[test]
    fn a_note_learnt_on_the_way_reaches_the_description() {
        let acted = Acted {
            note: Some("The last attempt to close it (update u-0) ended Failed.".into()),
            ..revert_started()
        };
        let f = acted_on("prod-eu", ARN, &acted);
        assert_eq!(f.outcome, Outcome::Reverted);
        assert!(f.action.description.ends_with("update u-0) ended Failed."));
    }

    #[test]
    fn repeat_openings_reach_every_view() {
        let acted = Acted {
            history: Some(Openings {
                opened_last_24h: 3,
                opened_last_7d: 5,
            }),
            ..revert_started()
        };
        let f = acted_on("prod-eu", ARN, &acted);
        let said = "opened 3 times in the last 24 hours, 5 times in the last 7 days";
        assert!(email_text(&f).contains(&format!("History:      {said}")));
        let chat = chatbot_notification(&f);
        assert!(
            chat["content"]["description"]
                .as_str()
                .unwrap()
                .contains(said)
        );
        let machine: serde_json::Value = serde_json::to_value(&f).unwrap();
        assert_eq!(machine["history"]["openedLast24h"], 3);
        assert_eq!(machine["history"]["openedLast7d"], 5);
        // Not read: not claimed.
        let unread = serde_json::to_value(reverted("prod-eu")).unwrap();
        assert!(unread.get("history").is_none());
        assert!(!email_text(&reverted("prod-eu")).contains("History:"));
    }

    const TERRAFORM: &str = "APN/1.0 HashiCorp/1.0 Terraform/1.9.8 (+https://www.terraform.io) terraform-provider-aws/5.80.0 (+https://registry.terraform.io/providers/hashicorp/aws) aws-sdk-go-v2/1.32.6";
    const BROWSER: &str = "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/121.0.0.0 Safari/537.36";

    fn change_by(user_agent: &str) -> ClusterChange {
        let mut c = change("prod-eu");
        c.actor.user_agent = Some(user_agent.to_string());
        c
    }

    /// The finding of each alert kind, for a change made with `user_agent`
    /// to a cluster that `stack` manages.
    fn every_kind(user_agent: &str, stack: Option<&str>) -> Vec<Finding> {
        let c = change_by(user_agent);
        let found = open();
        let policy = Policy::default();
        let decided = |mode, exempt| decide(&policy, mode, exempt, Some(&found), &found);
        let judged = |(action, verdict): &(Action, Verdict), acted: &Acted, mode| {
            finding(
                &c,
                Judged {
                    cluster_arn: ARN,
                    status: "ACTIVE",
                    found: Some(&found),
                    verdict,
                    action,
                    stack,
                    exemption: None,
                },
                mode,
                acted,
            )
        };
        let enforce = decided(Mode::Enforce, false);
        let failed = Acted {
            failed: Some(FailedRevert {
                update_id: "rev-9".into(),
                status: "Failed".into(),
                errors: Vec::new(),
            }),
            ..revert_started()
        };
        let compliant = (Action::AlreadyCompliant, Verdict::Compliant);
        let state = Some(("ACTIVE", &found, &enforce.1));
        vec![
            judged(&enforce, &revert_started(), Mode::Enforce),
            judged(&enforce, &failed, Mode::Enforce),
            judged(
                &decided(Mode::Report, false),
                &Acted::default(),
                Mode::Report,
            ),
            judged(
                &decided(Mode::Enforce, true),
                &Acted::default(),
                Mode::Enforce,
            ),
            judged(&compliant, &Acted::default(), Mode::Enforce),
            exemption_finding(
                &c,
                ARN,
                "eks-endpoint-guard/exempt",
                Some(("true", &Exemption::Forever)),
                state,
                Mode::Enforce,
            ),
            exemption_finding(
                &c,
                ARN,
                "eks-endpoint-guard/exempt",
                None,
                state,
                Mode::Enforce,
            ),
            not_handled_finding(&c, ARN, "region eu-west-1 is not guarded", Mode::Enforce),
        ]
    }

    fn chat_text(f: &Finding) -> (String, Vec<String>) {
        let chat = chatbot_notification(f);
        let steps = chat["content"]["nextSteps"]
            .as_array()
            .expect("nextSteps is a list")
            .iter()
            .map(|s| s.as_str().unwrap().to_string())
            .collect();
        (
            chat["content"]["description"].as_str().unwrap().to_string(),
            steps,
        )
    }

    #[test]
    fn every_view_of_every_alert_kind_shows_the_tool_and_what_comes_next() {
        let findings = every_kind(TERRAFORM, None);
        let outcomes: Vec<Outcome> = findings.iter().map(|f| f.outcome).collect();
        assert_eq!(
            outcomes,
            [
                Outcome::Reverted,
                Outcome::RevertFailed,
                Outcome::WouldRevert,
                Outcome::Exempt,
                Outcome::AlreadyCompliant,
                Outcome::ExemptionGranted,
                Outcome::ExemptionRevoked,
                Outcome::NotHandled,
            ]
        );
        for f in &findings {
            let kind = f.outcome;
            assert!(!f.next_steps.is_empty(), "{kind}: no next step");
            let email = email_text(f);
            assert!(
                email.contains("Tool:         Terraform"),
                "{kind}:\n{email}"
            );
            assert!(
                email.contains(&format!("Next:         {}", f.next_steps[0])),
                "{kind}:\n{email}"
            );
            for step in &f.next_steps {
                assert!(email.contains(step.as_str()), "{kind}: email lacks {step}");
            }
            let (description, steps) = chat_text(f);
            assert!(
                description.contains("*Tool:* Terraform"),
                "{kind}: {description}"
            );
            assert_eq!(
                steps, f.next_steps,
                "{kind}: the card's steps are the finding's"
            );
            let machine = serde_json::to_value(f).unwrap();
            assert_eq!(machine["actor"]["tool"]["id"], "terraform", "{kind}");
            assert_eq!(machine["actor"]["tool"]["infrastructureAsCode"], true);
            assert_eq!(
                machine["nextSteps"].as_array().unwrap().len(),
                f.next_steps.len()
            );
            assert!(
                attributes(f).contains(&("tool", "terraform".to_string())),
                "{kind}"
            );
            // The code is named wherever the endpoint's settings are at stake.
            let names_the_code = matches!(
                kind,
                Outcome::Reverted
                    | Outcome::RevertFailed
                    | Outcome::WouldRevert
                    | Outcome::AlreadyCompliant
                    | Outcome::NotHandled
            );
            assert_eq!(!f.iac.is_empty(), names_the_code, "{kind}: {:?}", f.iac);
            if names_the_code {
                assert_eq!(machine["iac"][0]["tool"], "terraform");
                assert_eq!(machine["iac"][0]["resource"], "aws_eks_cluster");
                assert!(
                    email.contains("vpc_config.endpoint_public_access = false"),
                    "{kind}:\n{email}"
                );
                assert!(
                    steps
                        .iter()
                        .any(|s| s.contains("vpc_config.endpoint_public_access"))
                );
            }
        }
        // A revert is undone by the next apply unless the code changes.
        assert!(findings[0].next_steps[0].contains("next `terraform apply`"));
        assert!(findings[0].next_steps[0].contains("unless the code changes"));
        // A failed revert says first that the endpoint is still open.
        assert!(findings[1].next_steps[0].contains("still open"));
    }

    #[test]
    fn a_change_in_the_console_or_the_cli_has_no_infrastructure_warning() {
        for (user_agent, says) in [
            (BROWSER, "AWS console"),
            ("aws-cli/2.22.0 md/awscrt#0.22.0", "AWS CLI"),
        ] {
            for f in every_kind(user_agent, None) {
                let kind = f.outcome;
                assert!(f.iac.is_empty(), "{kind}: {:?}", f.iac);
                let email = email_text(&f);
                assert!(
                    email.contains(&format!("Tool:         {says}")),
                    "{kind}:\n{email}"
                );
                for word in ["apply`", "drift", "in the code", "stack"] {
                    assert!(!email.contains(word), "{kind}: {word}:\n{email}");
                }
                let (description, _) = chat_text(&f);
                assert!(description.contains(&format!("*Tool:* {says}")));
            }
        }
    }

    #[test]
    fn a_stack_tagged_cluster_gets_the_drift_warning_in_every_view() {
        let f = &every_kind(BROWSER, Some("payments-prod"))[0];
        assert_eq!(f.outcome, Outcome::Reverted);
        let [advice] = f.iac.as_slice() else {
            panic!("{:?}", f.iac)
        };
        assert_eq!(advice.tool, "cloudformation");
        assert_eq!(advice.source, "stack-tag");
        let warning = "The revert makes CloudFormation stack payments-prod drift";
        let email = email_text(f);
        assert!(email.contains(warning), "{email}");
        assert!(
            email.contains("ResourcesVpcConfig.EndpointPublicAccess: false"),
            "{email}"
        );
        let (_, steps) = chat_text(f);
        assert!(steps[0].contains(warning), "{steps:?}");
        let machine = serde_json::to_value(f).unwrap();
        assert_eq!(machine["iac"][0]["stack"], "payments-prod");
        assert_eq!(machine["iac"][0]["resource"], "AWS::EKS::Cluster");
        // Report mode changed nothing: no drift, but the template is named.
        let report = &every_kind(BROWSER, Some("payments-prod"))[2];
        assert_eq!(report.outcome, Outcome::WouldRevert);
        assert!(!email_text(report).contains(warning));
        assert!(
            report.next_steps[0]
                .starts_with("CloudFormation stack payments-prod asks for this endpoint"),
            "{:?}",
            report.next_steps
        );
    }

    #[test]
    fn the_sweep_names_no_tool_but_still_the_stack() {
        let mut c = change("prod-eu");
        c.origin = Origin::Sweep;
        c.actor = Actor::default();
        c.event_id = None;
        let found = open();
        let (action, verdict) = decide(&Policy::default(), Mode::Enforce, false, None, &found);
        let f = finding(
            &c,
            Judged {
                cluster_arn: ARN,
                status: "ACTIVE",
                found: Some(&found),
                verdict: &verdict,
                exemption: None,
                action: &action,
                stack: Some("payments-prod"),
            },
            Mode::Enforce,
            &revert_started(),
        );
        assert_eq!(f.actor.tool, None);
        assert_eq!(
            serde_json::to_value(&f).unwrap()["actor"]["tool"],
            serde_json::Value::Null
        );
        let email = email_text(&f);
        assert!(
            email.contains("Tool:         unknown (found by the sweep"),
            "{email}"
        );
        assert!(email.contains("stack payments-prod drift"), "{email}");
        assert!(
            f.next_steps
                .iter()
                .any(|s| s.contains("Found by the sweep"))
        );
        assert!(attributes(&f).contains(&("tool", "none".to_string())));
    }

    #[test]
    fn the_finding_schema_only_grows() {
        let f = reverted("prod-eu");
        let machine = serde_json::to_value(&f).unwrap();
        // The actor's fields stay where they were; the tool is added beside them.
        for key in [
            "identityType",
            "principalArn",
            "roleArn",
            "sessionName",
            "accountId",
            "invokedBy",
            "sourceIp",
            "userAgent",
            "tool",
        ] {
            assert!(
                machine["actor"].get(key).is_some(),
                "actor.{key} missing: {machine:#}"
            );
        }
        assert_eq!(machine["actor"]["tool"]["id"], "aws-cli");
        assert!(machine["iac"].is_array() && machine["nextSteps"].is_array());
        // A finding written before the tool was added still reads.
        let mut old = machine.clone();
        let object = old.as_object_mut().unwrap();
        object.remove("iac");
        object.remove("nextSteps");
        object["actor"].as_object_mut().unwrap().remove("tool");
        let read: Finding = serde_json::from_value(old).unwrap();
        assert_eq!(read.actor.tool, None);
        assert_eq!(read.actor.principal_arn, f.actor.principal_arn);
        assert!(read.iac.is_empty() && read.next_steps.is_empty());
        // And a new one reads back whole.
        let back: Finding = serde_json::from_value(machine).unwrap();
        assert_eq!(back, f);
    }
}
