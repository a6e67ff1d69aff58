//! The guard's own wiring: what must hold for it to see a change, act on
//! it and be heard, judged from what the sweep read (issue 17, item 3).
//!
//! A guard that is switched off says nothing: its rule disabled, its
//! function throttled to zero, its topic without a reader, its alarms
//! muted, the trail that feeds EventBridge stopped. Each sweep therefore
//! reads these (read-only, [`read`]) and [`judge`] turns what it read into
//! problems, each with how to mend it; [`alert`] tells them in one
//! "guard IMPAIRED" alert. The judgement is pure: every part of the wiring
//! is a fact or the reason it could not be read, and a part that could not
//! be read is a problem of its own, never a pass.

pub mod alert;
pub mod read;

use serde::{Deserialize, Serialize};

/// A part of the wiring as read, or why it could not be (`AccessDenied`,
/// throttled, no time left).
pub type Read<T> = Result<T, String>;

/// The checks, in the order they are told.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Check {
    EventRule,
    ScheduleRule,
    Concurrency,
    Topic,
    Alarms,
    Trail,
    /// The check as a whole (no time left to make it).
    Itself,
}

impl Check {
    pub fn label(self) -> &'static str {
        match self {
            Check::EventRule => "event rule",
            Check::ScheduleRule => "schedule rule",
            Check::Concurrency => "reserved concurrency",
            Check::Topic => "alert topic",
            Check::Alarms => "alarms",
            Check::Trail => "CloudTrail trail",
            Check::Itself => "wiring check",
        }
    }
}

/// What the sweep read of the guard's wiring. `None`: not checked (its
/// setting is unset, see `skipped`).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Wiring {
    /// The function's own ARN, which its rules must target.
    pub function_arn: String,
    pub event_rule: Option<Read<Rule>>,
    pub schedule_rule: Option<Read<Rule>>,
    pub concurrency: Option<Read<Concurrency>>,
    pub topic: Option<Read<Topic>>,
    pub alarms: Option<Read<Alarms>>,
    /// The trails of the function's region, shadow trails included.
    pub trails: Option<Read<Vec<Trail>>>,
    /// The checks not made, and why (logged, not alerted).
    pub skipped: Vec<(Check, String)>,
}

/// An EventBridge rule (`DescribeRule`, `ListTargetsByRule`).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Rule {
    pub name: String,
    /// `ENABLED`, `DISABLED`, ...; `None`: the rule does not exist.
    pub state: Option<String>,
    pub target_arns: Vec<String>,
}

/// The function's reserved concurrency (`GetFunctionConcurrency`).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Concurrency {
    pub function: String,
    /// `None`: no reservation (the account's unreserved pool).
    pub reserved: Option<i32>,
}

/// The alert topic's subscriptions (`ListSubscriptionsByTopic`).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Topic {
    pub arn: String,
    /// Each subscription's `SubscriptionArn`: `PendingConfirmation` until
    /// its endpoint confirms (SNS API reference, `Subscription`).
    pub subscription_arns: Vec<String>,
}

/// The guard's alarms, by name prefix (`DescribeAlarms`).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Alarms {
    pub prefix: String,
    /// Each alarm's name and `ActionsEnabled`.
    pub alarms: Vec<(String, bool)>,
}

/// A trail that may cover the region (`DescribeTrails` with
/// `includeShadowTrails`), with its status and selectors when read.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Trail {
    pub arn: String,
    pub home_region: String,
    pub multi_region: bool,
    /// `HasCustomEventSelectors`: false for a trail whose selectors were
    /// never set, which logs all management events.
    pub custom_selectors: bool,
    /// `GetTrailStatus.IsLogging` (read only for trails that cover the region).
    pub logging: Option<Read<bool>>,
    /// `GetEventSelectors` (read only for trails that cover the region).
    pub selectors: Option<Read<Selectors>>,
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct Selectors {
    pub basic: Vec<BasicSelector>,
    /// Each advanced selector's field selectors.
    pub advanced: Vec<Vec<FieldSelector>>,
}

/// A basic event selector; `None` fields take CloudTrail's defaults
/// (`ReadWriteType` `All`, `IncludeManagementEvents` true).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct BasicSelector {
    pub read_write_type: Option<String>,
    pub include_management_events: Option<bool>,
    pub exclude_management_event_sources: Vec<String>,
}

/// One field selector of an advanced event selector.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct FieldSelector {
    pub field: String,
    pub equals: Vec<String>,
    pub starts_with: Vec<String>,
    pub ends_with: Vec<String>,
    pub not_equals: Vec<String>,
    pub not_starts_with: Vec<String>,
    pub not_ends_with: Vec<String>,
}

/// One thing wrong with the wiring, and how to mend it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Problem {
    pub check: Check,
    /// What is wrong, naming the resource.
    pub problem: String,
    /// How to mend it.
    pub mend: String,
}

impl Problem {
    fn new(check: Check, problem: impl Into<String>, mend: impl Into<String>) -> Problem {
        Problem {
            check,
            problem: problem.into(),
            mend: mend.into(),
        }
    }

    /// No time was left to check anything: said, never passed.
    pub fn no_time() -> Problem {
        Problem::new(
            Check::Itself,
            "could not check the guard's wiring: no time left before the invocation's deadline",
            "look at why the sweep starts so late or takes so long (the function's Duration metric); the next sweep checks again",
        )
    }

    /// A part that could not be read: reported, never passed.
    fn unread(check: Check, what: &str, why: &str) -> Problem {
        Problem::new(
            check,
            format!("could not check {what}: {why}"),
            "give the guard's role the read permission of template.yaml (GuardWiringCheckPolicy), or find out why the call failed; until then nobody knows whether this part works",
        )
    }
}

/// The calls the guard lives on: write management events of EKS that its
/// event rule matches (template.yaml, `EksEndpointChange`).
const GUARD_CALLS: [&str; 4] = [
    "CreateCluster",
    "UpdateClusterConfig",
    "TagResource",
    "UntagResource",
];

const EKS_SOURCE: &str = "eks.amazonaws.com";

/// Every problem of `wiring` in the function's `region`, in check order;
/// empty: the wiring is whole (as far as it was checked).
pub fn judge(wiring: &Wiring, region: &str) -> Vec<Problem> {
    let function = wiring.function_arn.as_str();
    let mut problems = Vec::new();
    let rules = [
        (Check::EventRule, &wiring.event_rule),
        (Check::ScheduleRule, &wiring.schedule_rule),
    ];
    for (check, rule) in rules {
        if let Some(rule) = rule {
            problems.extend(judge_rule(check, rule, function));
        }
    }
    if let Some(concurrency) = &wiring.concurrency {
        problems.extend(judge_concurrency(concurrency));
    }
    if let Some(topic) = &wiring.topic {
        problems.extend(judge_topic(topic));
    }
    if let Some(alarms) = &wiring.alarms {
        problems.extend(judge_alarms(alarms));
    }
    if let Some(trails) = &wiring.trails {
        problems.extend(judge_trails(trails, region));
    }
    problems
}

/// A rule must exist, be enabled and target this function. EventBridge
/// invokes only the targets of an `ENABLED` rule (EventBridge user guide,
/// "Disabling or enabling a rule"); `ENABLED_WITH_ALL_CLOUDTRAIL_MANAGEMENT_EVENTS`
/// is enabled too, for read-only events as well.
fn judge_rule(check: Check, rule: &Read<Rule>, function_arn: &str) -> Vec<Problem> {
    let rule = match rule {
        Ok(rule) => rule,
        Err(why) => return vec![Problem::unread(check, check.label(), why)],
    };
    let name = &rule.name;
    let redeploy = "deploy the stack again (sam deploy), which restores the rule and its target";
    let Some(state) = &rule.state else {
        return vec![Problem::new(
            check,
            format!("the {} {name} does not exist", check.label()),
            redeploy,
        )];
    };
    let mut problems = Vec::new();
    if !state.starts_with("ENABLED") {
        problems.push(Problem::new(
            check,
            format!(
                "the {} {name} is {state}: it invokes nothing",
                check.label()
            ),
            format!("aws events enable-rule --name {name}"),
        ));
    }
    if function_arn.is_empty() {
        problems.push(Problem::unread(
            check,
            &format!("the targets of {name}"),
            "the function's own ARN is unknown",
        ));
    } else if !rule
        .target_arns
        .iter()
        .any(|t| same_function(t, function_arn))
    {
        problems.push(Problem::new(
            check,
            format!(
                "the {} {name} does not target this function ({})",
                check.label(),
                unqualified(function_arn)
            ),
            redeploy,
        ));
    }
    problems
}

/// `arn:aws:lambda:region:account:function:name`, without a version or
/// alias qualifier: a rule may target either.
fn unqualified(arn: &str) -> String {
    arn.split(':').take(7).collect::<Vec<_>>().join(":")
}

fn same_function(target: &str, function_arn: &str) -> bool {
    unqualified(target) == unqualified(function_arn)
}

/// A reserved concurrency of 0 throttles every invocation: Lambda runs
/// nothing (Lambda developer guide, "Configuring reserved concurrency").
fn judge_concurrency(concurrency: &Read<Concurrency>) -> Vec<Problem> {
    let check = Check::Concurrency;
    match concurrency {
        Err(why) => vec![Problem::unread(
            check,
            "the function's reserved concurrency",
            why,
        )],
        Ok(c) if c.reserved == Some(0) => vec![Problem::new(
            check,
            format!(
                "the function {} has a reserved concurrency of 0: Lambda throttles every event and sweep",
                c.function
            ),
            format!(
                "aws lambda delete-function-concurrency --function-name {} (or deploy the stack again with its ReservedConcurrency)",
                c.function
            ),
        )],
        Ok(_) => Vec::new(),
    }
}

/// At least one subscription must be confirmed: SNS delivers nothing to a
/// pending one (`SubscriptionArn` `PendingConfirmation`).
fn judge_topic(topic: &Read<Topic>) -> Vec<Problem> {
    let check = Check::Topic;
    let topic = match topic {
        Ok(topic) => topic,
        Err(why) => {
            return vec![Problem::unread(
                check,
                "the alert topic's subscriptions",
                why,
            )];
        }
    };
    let confirmed = topic
        .subscription_arns
        .iter()
        .filter(|arn| arn.starts_with("arn:"))
        .count();
    if confirmed > 0 {
        return Vec::new();
    }
    let pending = topic.subscription_arns.len();
    vec![Problem::new(
        check,
        format!(
            "the alert topic {} has no confirmed subscription ({pending} pending): its alerts reach nobody",
            topic.arn
        ),
        "confirm the subscription (the link in AWS's \"Subscription Confirmation\" e-mail), or subscribe an endpoint (template parameters AlertEmail, SlackChannelId, AlertHttpsEndpoint)",
    )]
}

/// Every alarm of the guard must have its actions enabled: an alarm with
/// actions disabled changes state and tells nobody (`DisableAlarmActions`).
/// No alarm at all under the prefix: they were deleted.
fn judge_alarms(alarms: &Read<Alarms>) -> Vec<Problem> {
    let check = Check::Alarms;
    let alarms = match alarms {
        Ok(alarms) => alarms,
        Err(why) => return vec![Problem::unread(check, "the guard's alarms", why)],
    };
    if alarms.alarms.is_empty() {
        return vec![Problem::new(
            check,
            format!(
                "no alarm is named {}*: the guard's alarms are gone",
                alarms.prefix
            ),
            "deploy the stack again (sam deploy), which restores them",
        )];
    }
    let muted: Vec<&str> = alarms
        .alarms
        .iter()
        .filter(|(_, enabled)| !enabled)
        .map(|(name, _)| name.as_str())
        .collect();
    if muted.is_empty() {
        return Vec::new();
    }
    vec![Problem::new(
        check,
        format!(
            "alarm actions are disabled on {}: they go off and tell nobody",
            muted.join(", ")
        ),
        format!(
            "aws cloudwatch enable-alarm-actions --alarm-names {}",
            muted.join(" ")
        ),
    )]
}

/// Whether a trail records the calls of `region`: its own region's trail,
/// or a multi-region one (its shadow trail is listed in every region).
pub fn covers(trail: &Trail, region: &str) -> bool {
    trail.multi_region || trail.home_region == region
}

/// At least one trail covering the region must be logging and log the
/// guard's calls: without one, EventBridge receives no "AWS API Call via
/// CloudTrail" events and nothing invokes the guard (issue 17; EventBridge
/// user guide, "AWS service events delivered via AWS CloudTrail").
fn judge_trails(trails: &Read<Vec<Trail>>, region: &str) -> Vec<Problem> {
    let check = Check::Trail;
    let trails = match trails {
        Ok(trails) => trails,
        Err(why) => return vec![Problem::unread(check, "the trails", why)],
    };
    let verdicts: Vec<(String, Result<(), String>)> = trails
        .iter()
        .filter(|t| covers(t, region))
        .map(|t| (t.arn.clone(), trail_verdict(t)))
        .collect();
    if verdicts.iter().any(|(_, verdict)| verdict.is_ok()) {
        return Vec::new();
    }
    let mend = "aws cloudtrail start-logging --name <trail>, or give a trail management events (read and write) again; without a trail create one: aws cloudtrail create-trail --name <name> --s3-bucket-name <bucket> --is-multi-region-trail, then start-logging";
    if verdicts.is_empty() {
        return vec![Problem::new(
            check,
            format!("no CloudTrail trail covers {region}: no EKS change reaches the guard"),
            mend,
        )];
    }
    let each: Vec<String> = verdicts
        .into_iter()
        .filter_map(|(arn, verdict)| verdict.err().map(|why| format!("{arn} {why}")))
        .collect();
    vec![Problem::new(
        check,
        format!(
            "no trail covering {region} is known to log EKS's management events, so no EKS change may reach the guard: {}",
            each.join("; ")
        ),
        mend,
    )]
}

/// Why a trail covering the region does not feed the guard, if it does not.
fn trail_verdict(trail: &Trail) -> Result<(), String> {
    match &trail.logging {
        None => return Err("was not read".to_string()),
        Some(Err(why)) => return Err(format!("could not be checked (status): {why}")),
        Some(Ok(false)) => return Err("is not logging (stopped)".to_string()),
        Some(Ok(true)) => {}
    }
    let selectors = match &trail.selectors {
        None => return Err("was not read".to_string()),
        Some(Err(why)) => return Err(format!("could not be checked (event selectors): {why}")),
        Some(Ok(selectors)) => selectors,
    };
    logs_guard_calls(selectors, trail.custom_selectors)
}

/// Whether the selectors log every call the guard lives on. A trail whose
/// selectors were never set logs all management events ("By default,
/// trails created without specific event selectors are configured to log
/// all read and write management events", CloudTrail API reference,
/// `PutEventSelectors`); real CloudTrail then answers that default
/// selector, moto an empty list: with `HasCustomEventSelectors` false an
/// empty list is that default. A trail's event is logged when it matches
/// any selector.
fn logs_guard_calls(selectors: &Selectors, custom: bool) -> Result<(), String> {
    if selectors.basic.is_empty() && selectors.advanced.is_empty() {
        return match custom {
            false => Ok(()),
            true => Err("has custom event selectors that select nothing".to_string()),
        };
    }
    let mut unknown = Vec::new();
    let missed: Vec<&str> = GUARD_CALLS
        .into_iter()
        .filter(|call| {
            let basic = selectors.basic.iter().any(basic_selects);
            let advanced = selectors.advanced.iter().any(|fields| {
                advanced_selects(fields, call).unwrap_or_else(|field| {
                    unknown.push(field);
                    false
                })
            });
            !(basic || advanced)
        })
        .collect();
    if missed.is_empty() {
        return Ok(());
    }
    unknown.sort();
    unknown.dedup();
    let note = match unknown.is_empty() {
        true => String::new(),
        false => format!(" (selector fields not understood: {})", unknown.join(", ")),
    };
    Err(format!(
        "does not log EKS's write management events ({}){note}",
        missed.join(", ")
    ))
}

/// A basic selector logs EKS's write calls unless it leaves management
/// events out, logs only read-only calls, or excludes EKS as a source.
fn basic_selects(selector: &BasicSelector) -> bool {
    selector.include_management_events.unwrap_or(true)
        && matches!(
            selector.read_write_type.as_deref(),
            None | Some("All") | Some("WriteOnly")
        )
        && !selector
            .exclude_management_event_sources
            .iter()
            .any(|s| s == EKS_SOURCE)
}

/// Whether an advanced selector logs `call` (a write management event of
/// EKS): every field selector must admit it (they are ANDed). `Err(field)`
/// for a field this judgement does not model: not proven to log it.
fn advanced_selects(fields: &[FieldSelector], call: &str) -> Result<bool, String> {
    // eventCategory is required; without it the selector is not for
    // management events.
    if !fields.iter().any(|f| f.field == "eventCategory") {
        return Ok(false);
    }
    for field in fields {
        let value = match field.field.as_str() {
            "eventCategory" => "Management",
            "readOnly" => "false",
            "eventSource" => EKS_SOURCE,
            "eventName" => call,
            other => return Err(other.to_string()),
        };
        if !field.admits(value) {
            return Ok(false);
        }
    }
    Ok(true)
}

impl FieldSelector {
    /// Whether `value` passes every operator of this field selector
    /// (values of one operator are ORed, operators are ANDed).
    fn admits(&self, value: &str) -> bool {
        let any = |list: &[String], test: &dyn Fn(&str) -> bool| list.iter().any(|v| test(v));
        (self.equals.is_empty() || any(&self.equals, &|v| v == value))
            && (self.starts_with.is_empty() || any(&self.starts_with, &|v| value.starts_with(v)))
            && (self.ends_with.is_empty() || any(&self.ends_with, &|v| value.ends_with(v)))
            && !any(&self.not_equals, &|v| v == value)
            && !any(&self.not_starts_with, &|v| value.starts_with(v))
            && !any(&self.not_ends_with, &|v| value.ends_with(v))
    }
}

#[cfg(test)]
mod tests;
