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

use crate::event::{Actor, ClusterChange};
use crate::policy::{Action, EndpointAccess, Mode, Verdict};

pub const FINDING_SCHEMA: &str = "eks-endpoint-guard/finding/v1";
/// SNS refuses subjects longer than this.
pub const MAX_SUBJECT_LEN: usize = 100;

/// The machine-readable finding: the `sqs`, `lambda` and `default` view.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Finding {
    pub schema: String,
    /// `reverted`, `would-revert`, `exempt` or `already-compliant`.
    pub outcome: String,
    pub mode: Mode,
    pub summary: String,
    pub cluster: ClusterRef,
    pub trigger: Trigger,
    pub actor: Actor,
    /// What the call asked for (`null` when it did not touch the endpoint).
    pub requested: Option<EndpointAccess>,
    /// What the guard read from EKS before acting (`null` when the cluster
    /// could not be read: exemption alerts are sent even then).
    pub found: Option<EndpointAccess>,
    /// Why the settings break the policy (`null` when they comply now).
    pub violation: Option<Violation>,
    /// What the guard did or would do.
    pub action: ActionTaken,
    pub links: Links,
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
pub struct Trigger {
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
    pub description: String,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Links {
    pub cluster_console: String,
    pub cloudtrail_event: Option<String>,
}

/// What the acting side reports back for the finding.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Acted {
    pub update_id: Option<String>,
    /// EKS refused the revert as a no-op: it complied by the time it arrived.
    pub was_already_desired: bool,
}

/// What the guard judged about the cluster it read.
#[derive(Clone, Copy, Debug)]
pub struct Judged<'a> {
    pub cluster_arn: Option<&'a str>,
    pub status: &'a str,
    /// `None` when the cluster could not be read (exemption alerts only).
    pub found: Option<&'a EndpointAccess>,
    pub verdict: &'a Verdict,
    pub action: &'a Action,
}

/// Builds the finding for a decided action (never for `Action::Nothing`).
pub fn finding(change: &ClusterChange, judged: Judged<'_>, mode: Mode, acted: &Acted) -> Finding {
    let Judged {
        cluster_arn,
        status,
        found,
        verdict,
        action,
    } = judged;
    let region = change.region.as_str();
    let arn = cluster_arn
        .map(str::to_string)
        .or_else(|| change.cluster_arn.clone())
        .unwrap_or_else(|| {
            format!(
                "arn:{}:eks:{region}:{}:cluster/{}",
                partition(region),
                change.account,
                change.cluster_name
            )
        });
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
    let (outcome, action_taken) = match action {
        Action::Revert(fix) if acted.was_already_desired => (
            "already-compliant",
            ActionTaken {
                fix: None,
                resulting: None,
                update_id: None,
                description: format!(
                    "EKS reported the cluster already at the settings the guard would set ({}); nothing was changed",
                    fix.describe()
                ),
            },
        ),
        Action::Revert(fix) => (
            "reverted",
            ActionTaken {
                fix: Some(fix.describe()),
                resulting: found.map(|f| fix.applied_to(f)),
                update_id: acted.update_id.clone(),
                description: format!(
                    "reverted: set {} (EKS update {}; it takes a few minutes to apply)",
                    fix.describe(),
                    acted.update_id.as_deref().unwrap_or("unknown")
                ),
            },
        ),
        Action::WouldRevert(fix) => (
            "would-revert",
            ActionTaken {
                fix: Some(fix.describe()),
                resulting: found.map(|f| fix.applied_to(f)),
                update_id: None,
                description: format!(
                    "report mode: nothing changed; enforce mode would set {}",
                    fix.describe()
                ),
            },
        ),
        Action::Exempt(fix) => (
            "exempt",
            ActionTaken {
                fix: None,
                resulting: None,
                update_id: None,
                description: format!(
                    "exempt by tag: nothing changed (without the exemption the guard would set {})",
                    fix.describe()
                ),
            },
        ),
        Action::AlreadyCompliant | Action::Nothing => (
            "already-compliant",
            ActionTaken {
                fix: None,
                resulting: None,
                update_id: None,
                description: "the call asked for settings that break the policy, but the cluster complies now; nothing changed".to_string(),
            },
        ),
    };
    let summary = match outcome {
        "reverted" => format!("Public EKS endpoint reverted on {}", change.cluster_name),
        "would-revert" => format!(
            "Public EKS endpoint found on {} (report mode)",
            change.cluster_name
        ),
        "exempt" => format!(
            "Public EKS endpoint on exempt cluster {}",
            change.cluster_name
        ),
        _ => format!(
            "Public EKS endpoint requested on {}, already compliant",
            change.cluster_name
        ),
    };
    Finding {
        schema: FINDING_SCHEMA.to_string(),
        outcome: outcome.to_string(),
        mode,
        summary,
        cluster: ClusterRef {
            name: change.cluster_name.clone(),
            arn,
            account: change.account.clone(),
            region: change.region.clone(),
            status: status.to_string(),
        },
        trigger: Trigger {
            source: change.origin.source().to_string(),
            api_call: change.origin.label().to_string(),
            event_id: change.event_id.clone(),
            event_time: change.event_time.clone(),
        },
        actor: change.actor.clone(),
        requested: change.requested.clone(),
        found: found.cloned(),
        violation,
        action: action_taken,
        links: Links {
            cluster_console: format!(
                "https://{region}.{}/eks/home?region={region}#/clusters/{}",
                console_domain(region),
                change.cluster_name
            ),
            cloudtrail_event: change.event_id.as_ref().map(|id| {
                format!(
                    "https://{region}.{}/cloudtrailv2/home?region={region}#/events/{id}",
                    console_domain(region)
                )
            }),
        },
    }
}

/// The finding for an exempt tag put on or taken off a cluster.
///
/// `state` is the cluster as read right after the tag call (`None` when it
/// could not be read), so the alert tells whether the exemption covers a
/// live violation.
pub fn exemption_finding(
    change: &ClusterChange,
    tag_key: &str,
    granted_value: Option<&str>,
    state: Option<(&str, &EndpointAccess, &Verdict)>,
    mode: Mode,
) -> Finding {
    let (outcome, description) = match granted_value {
        Some(value) => (
            "exemption-granted",
            format!(
                "exempt tag {tag_key}={value} put on the cluster: from now on the guard only reports it and never changes it"
            ),
        ),
        None => (
            "exemption-revoked",
            format!(
                "exempt tag {tag_key} taken off (or no longer `true`): the guard enforces the policy on this cluster again"
            ),
        ),
    };
    let verdict = state
        .map(|(_, _, verdict)| verdict)
        .unwrap_or(&Verdict::Compliant);
    let mut finding = finding(
        change,
        Judged {
            cluster_arn: change.cluster_arn.as_deref(),
            status: state.map(|(status, _, _)| status).unwrap_or("UNKNOWN"),
            found: state.map(|(_, found, _)| found),
            verdict,
            action: &Action::Nothing,
        },
        mode,
        &Acted {
            update_id: None,
            was_already_desired: false,
        },
    );
    finding.outcome = outcome.to_string();
    finding.summary = match granted_value {
        Some(_) => format!("Guard exemption granted on {}", change.cluster_name),
        None => format!("Guard exemption removed from {}", change.cluster_name),
    };
    finding.action = ActionTaken {
        fix: None,
        resulting: None,
        update_id: None,
        description,
    };
    finding
}

fn partition(region: &str) -> &'static str {
    if region.starts_with("cn-") {
        "aws-cn"
    } else if region.starts_with("us-gov-") {
        "aws-us-gov"
    } else {
        "aws"
    }
}

fn console_domain(region: &str) -> &'static str {
    match partition(region) {
        "aws-cn" => "console.amazonaws.cn",
        "aws-us-gov" => "console.amazonaws-us-gov.com",
        _ => "console.aws.amazon.com",
    }
}

/// The SNS subject: the outcome and the cluster, within 100 characters.
pub fn subject(finding: &Finding) -> String {
    let prefix = match finding.outcome.as_str() {
        "reverted" => "[EKS guard] Reverted public endpoint",
        "would-revert" => "[EKS guard] Public endpoint (report only)",
        "exempt" => "[EKS guard] Public endpoint, exempt",
        "exemption-granted" => "[EKS guard] Exemption GRANTED",
        "exemption-revoked" => "[EKS guard] Exemption removed",
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
            access.public_access_cidrs.join(", "),
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
    match (&finding.violation, finding.outcome.as_str()) {
        (Some(violation), _) => &violation.reason,
        (None, "exemption-granted" | "exemption-revoked") => {
            "changing the exempt tag decides whether the guard may act; the endpoint complies with the policy now"
        }
        (None, _) => "the call asked for settings that break the policy; the cluster complies now",
    }
}

fn describe_found(found: Option<&EndpointAccess>) -> String {
    found
        .map(describe_access)
        .unwrap_or_else(|| "unknown (the cluster could not be read)".to_string())
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
        format!(
            "Event id:     {}",
            finding.trigger.event_id.as_deref().unwrap_or(unknown)
        ),
        String::new(),
        format!(
            "Requested:    {}",
            finding
                .requested
                .as_ref()
                .map(describe_access)
                .unwrap_or_else(|| "no endpoint change".to_string())
        ),
        format!("Found:        {}", describe_found(finding.found.as_ref())),
    ];
    if let Some(resulting) = &finding.action.resulting {
        lines.push(format!("After fix:    {}", describe_access(resulting)));
    }
    lines.push(String::new());
    lines.push(format!("Cluster:      {}", finding.links.cluster_console));
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
    let emoji = match finding.outcome.as_str() {
        "reverted" => ":rotating_light:",
        "would-revert" | "exemption-granted" => ":warning:",
        _ => ":information_source:",
    };
    let mut description = format!(
        "*{}*\n{}\n*Who:* {} from {}\n*Requested:* {}\n*Found:* {}",
        finding.action.description,
        why(finding),
        who(&finding.actor),
        finding.actor.source_ip.as_deref().unwrap_or("unknown"),
        finding
            .requested
            .as_ref()
            .map(describe_access)
            .unwrap_or_else(|| "no endpoint change".to_string()),
        describe_found(finding.found.as_ref()),
    );
    description.push_str(&format!(
        "\n*Cluster:* <{}|{}> ({} / {})",
        finding.links.cluster_console,
        finding.cluster.name,
        finding.cluster.account,
        finding.cluster.region
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
            "nextSteps": [
                "Confirm with the person named whether the change was intended.",
                "If the endpoint must be public, add the caller's range to ALLOWED_PUBLIC_CIDRS instead of reopening it."
            ]
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
    let machine = serde_json::to_string(finding)?;
    serde_json::to_string(&json!({
        "default": machine,
        "sqs": machine,
        "lambda": machine,
        "email": email_text(finding),
        "email-json": machine,
        "https": serde_json::to_string(&chatbot_notification(finding))?,
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
    let mut request = sns
        .publish()
        .topic_arn(topic_arn)
        .subject(subject(finding))
        .message_structure("json")
        .message(body);
    for (name, value) in attributes(finding) {
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
    use crate::policy::{EndpointFix, Policy, decide};

    fn change(name: &str) -> ClusterChange {
        ClusterChange {
            origin: Origin::CloudTrail(ApiCall::UpdateClusterConfig),
            cluster_name: name.to_string(),
            cluster_arn: None,
            requested: Some(open()),
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

    fn reverted(name: &str) -> Finding {
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
                cluster_arn: None,
                status: "ACTIVE",
                found: Some(&found),
                verdict: &verdict,
                action: &action,
            },
            Mode::Enforce,
            &Acted {
                update_id: Some("rev-9".into()),
                was_already_desired: false,
            },
        )
    }

    #[test]
    fn the_finding_carries_everything_a_responder_needs() {
        let f = reverted("prod-eu");
        assert_eq!(f.outcome, "reverted");
        assert_eq!(
            f.cluster.arn,
            "arn:aws:eks:eu-west-1:111122223333:cluster/prod-eu"
        );
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
}
