//! What each reader sees of a [`Finding`], and the one `Publish` that carries
//! every view. Pure but for [`publish`] and [`publish_views`].

use aws_sdk_sns::error::DisplayErrorContext;
use aws_sdk_sns::types::MessageAttributeValue;
use serde_json::json;

use super::{ExemptionRef, Finding, MAX_SUBJECT_LEN};
use crate::event::Actor;
use crate::outcome::Outcome;
use crate::policy::{EndpointAccess, Mode};

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
    let mut lines = email_cluster(finding);
    lines.push(String::new());
    lines.extend(email_call(finding));
    lines.push(String::new());
    lines.extend(email_endpoint(finding));
    lines.push(String::new());
    lines.extend(email_next_steps(finding));
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

/// The email's head: what happened and why, and the cluster.
fn email_cluster(finding: &Finding) -> Vec<String> {
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
    lines
}

/// The call (or the sweep) and who made it.
fn email_call(finding: &Finding) -> Vec<String> {
    let unknown = "unknown";
    vec![
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
    ]
}

/// The endpoint as requested, as found, and as the fix leaves it.
fn email_endpoint(finding: &Finding) -> Vec<String> {
    let mut lines = vec![
        format!("Requested:    {}", describe_requested(finding)),
        format!("Found:        {}", describe_found(finding.found.as_ref())),
    ];
    if let Some(resulting) = &finding.action.resulting {
        lines.push(format!("After fix:    {}", describe_access(resulting)));
    }
    lines
}

/// What to do next, and the console links.
fn email_next_steps(finding: &Finding) -> Vec<String> {
    let mut lines = Vec::new();
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
    lines
}

/// The `https` view: an AWS Chatbot custom notification.
pub fn chatbot_notification(finding: &Finding) -> serde_json::Value {
    json!({
        "version": "1.0",
        "source": "custom",
        "id": finding.trigger.event_id,
        "content": {
            "textType": "client-markdown",
            "title": format!("{} {}", chatbot_emoji(finding), finding.summary),
            "description": chatbot_description(finding),
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

fn chatbot_emoji(finding: &Finding) -> &'static str {
    match finding.outcome {
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
    }
}

/// The notification's text, in Chatbot's markdown.
fn chatbot_description(finding: &Finding) -> String {
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
    description
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

/// Who a message is for: the `audience` message attribute (`String.Array`),
/// which the subscriptions' filter policies match. People (email, chat)
/// subscribe with `{"$or": [{"audience": ["people"]}, {"audience":
/// [{"exists": false}]}]}` (the second term lets CloudWatch alarms, which
/// carry no attributes, through); programs with `{"audience": ["machines"]}`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Audience {
    /// The sweep's summary.
    People,
    /// The sweep's findings, one per cluster.
    Machines,
    /// Event alerts and the sweep's own alert: both at once.
    Everyone,
}

impl Audience {
    /// The attribute's value, a JSON array of strings.
    pub fn value(self) -> &'static str {
        match self {
            Audience::People => r#"["people"]"#,
            Audience::Machines => r#"["machines"]"#,
            Audience::Everyone => r#"["people","machines"]"#,
        }
    }
}

/// Message attributes as SNS takes them: each `String`, and `audience`.
pub fn sns_attributes(
    attributes: Vec<(&'static str, String)>,
    audience: Audience,
) -> Result<Vec<(&'static str, MessageAttributeValue)>, String> {
    let typed = attributes
        .into_iter()
        .map(|(name, value)| (name, "String", value))
        .chain(std::iter::once((
            "audience",
            "String.Array",
            audience.value().to_string(),
        )));
    typed
        .map(|(name, data_type, value)| {
            MessageAttributeValue::builder()
                .data_type(data_type)
                .string_value(value)
                .build()
                .map(|attribute| (name, attribute))
                .map_err(|e| format!("could not build attribute {name}: {e}"))
        })
        .collect()
}

/// Publishes the finding to everyone at once (the event path). An error
/// here fails the invocation, so that Lambda's retry (or the on-failure
/// destination) keeps the alert.
pub async fn publish(
    sns: &aws_sdk_sns::Client,
    topic_arn: &str,
    finding: &Finding,
) -> Result<String, String> {
    let body = message(finding).map_err(|e| format!("could not render the alert: {e}"))?;
    publish_views(
        sns,
        topic_arn,
        &subject(finding),
        body,
        attributes(finding),
        Audience::Everyone,
    )
    .await
}

/// One `Publish` with `MessageStructure=json`: `views` is the JSON object
/// of one string per protocol.
pub async fn publish_views(
    sns: &aws_sdk_sns::Client,
    topic_arn: &str,
    subject: &str,
    views: String,
    attributes: Vec<(&'static str, String)>,
    audience: Audience,
) -> Result<String, String> {
    let mut request = sns
        .publish()
        .topic_arn(topic_arn)
        .subject(subject)
        .message_structure("json")
        .message(views);
    for (name, attribute) in sns_attributes(attributes, audience)? {
        request = request.message_attributes(name, attribute);
    }
    let output = request
        .send()
        .await
        .map_err(|e| DisplayErrorContext(&e).to_string())?;
    Ok(output.message_id().unwrap_or_default().to_string())
}
