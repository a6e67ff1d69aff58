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
//!
//! - this module: the [`Finding`] and how it is built from a judgement;
//! - [`views`](mod@views): what each reader sees of it (subject, email text,
//!   Chatbot card, machine JSON, message attributes, audience) and the
//!   `Publish`;
//! - [`summary`]: the sweep's one summary for people (email, card, JSON);
//! - [`batch`]: the sweep's findings for machines, in `PublishBatch` calls;
//! - [`operational`]: what the guard's alerts about itself share.
//!
//! The `audience` attribute tells people's messages from machines': event
//! alerts go to both at once, a sweep sends people one summary and machines
//! one finding per cluster.

pub mod batch;
pub mod operational;
pub mod summary;
mod views;

use serde::{Deserialize, Serialize};

use crate::eks::{AccountRef, UpdateError, describe_update_errors};
use crate::event::{Actor, ClusterChange, Origin};
use crate::history::Openings;
use crate::outcome::Outcome;
use crate::policy::{self, Action, EndpointAccess, EndpointFix, Exemption, Mode, Verdict};
use crate::tool::{self, Advice, IacAdvice, Remedy, ToolRef};

pub use views::{Audience, email_text, message, publish, publish_views, subject, views};

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
        Action::Revert(fix) => reverted(fix, found, acted),
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

/// A revert EKS accepted: started now or when the guard first handled the
/// event, or ended `Failed` or `Cancelled`.
fn reverted(
    fix: &EndpointFix,
    found: Option<&EndpointAccess>,
    acted: &Acted,
) -> (Outcome, ActionTaken) {
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
    let (outcome, mut action_taken) = action_taken(action, found, acted);
    add_notes(&mut action_taken, exemption, acted);
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
        violation: Violation::of(verdict),
        action: action_taken,
        iac,
        next_steps,
        links: Links::of(change, cluster_arn),
        exemption: exemption.cloned(),
        history: acted.history.clone(),
    }
}

/// What the exempt tag's reading and the acting side add to what was done.
fn add_notes(taken: &mut ActionTaken, exemption: Option<&ExemptionRef>, acted: &Acted) {
    if let Some(note) = exemption.and_then(|e| e.note.as_ref()) {
        let stop = if taken.description.ends_with('.') {
            ""
        } else {
            "."
        };
        taken.description = format!("{}{stop} {note}", taken.description);
    }
    if let Some(note) = &acted.note {
        taken.description = format!("{} {note}", taken.description);
    }
}

impl Violation {
    fn of(verdict: &Verdict) -> Option<Violation> {
        match verdict {
            Verdict::Violation {
                reason,
                disallowed_cidrs,
                ..
            } => Some(Violation {
                reason: reason.clone(),
                disallowed_cidrs: disallowed_cidrs.clone(),
            }),
            Verdict::Compliant => None,
        }
    }
}

impl Links {
    /// The cluster and the event in the console of the cluster's partition.
    fn of(change: &ClusterChange, cluster_arn: &str) -> Links {
        let region = change.region.as_str();
        let domain = AccountRef::from_arn(cluster_arn).and_then(|a| console_domain(&a.partition));
        Links {
            cluster_console: domain.map(|domain| {
                format!(
                    "https://{region}.{domain}/eks/home?region={region}#/clusters/{}",
                    change.cluster_name
                )
            }),
            cloudtrail_event: domain.zip(change.event_id.as_ref()).map(|(domain, id)| {
                format!("https://{region}.{domain}/cloudtrailv2/home?region={region}#/events/{id}")
            }),
        }
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
    let (outcome, description) = exemption_told(tag_key, set);
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

/// The outcome and what the alert says about the exempt tag `set` to a value
/// (and what that value means now), or taken off (`None`).
fn exemption_told(tag_key: &str, set: Option<(&str, &Exemption)>) -> (Outcome, String) {
    let enforced = "the guard enforces the policy on this cluster";
    match set {
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
    }
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

#[cfg(test)]
mod tests;
