//! The guard's settings, read from the environment once at start-up.
//!
//! [`Config::from_lookup`] takes any key lookup so tests never touch the
//! process environment (edition 2024 makes `set_var` unsafe, and it races
//! between parallel tests). Region, credentials and endpoints are not here:
//! they come from the standard AWS SDK settings (`AWS_REGION`,
//! `AWS_ENDPOINT_URL`, `AWS_ENDPOINT_URL_EKS`, `AWS_ENDPOINT_URL_SNS`, ...).

use std::time::Duration;

use ipnet::IpNet;

pub use crate::policy::Mode;
use crate::policy::{MAX_PUBLIC_ACCESS_CIDRS, Policy};

pub const DEFAULT_EXEMPT_TAG_KEY: &str = "eks-endpoint-guard/exempt";

/// The session name the guard uses when it assumes a role, and the app name in
/// its user agent, so its own calls are recognisable in CloudTrail.
pub const GUARD_NAME: &str = "eks-endpoint-guard";

#[derive(Clone, Debug, PartialEq)]
pub struct Config {
    pub alert_topic_arn: String,
    pub mode: Mode,
    pub policy: Policy,
    pub exempt_tag_key: String,
    /// The farthest ahead an exemption's end may lie, in days; `0`: no limit
    /// (`MAX_EXEMPTION_DAYS`). An end beyond it is not honoured.
    pub max_exemption_days: u32,
    /// Session names under which CloudTrail records the guard's own calls:
    /// Lambda names the execution role's session after the function.
    pub own_session_names: Vec<String>,
    /// How often to look again while a cluster is busy. The revert must follow
    /// the end of a blocking update within two seconds, so keep this at 1 s.
    pub poll_interval: Duration,
    /// Time kept back from the invocation deadline to answer the Runtime API
    /// (on top of the calls still needed: see [`Config::time_to_revert`]).
    pub deadline_margin: Duration,
    /// The regions whose events the guard handles; empty: only the function's
    /// own region (`GUARD_REGIONS`).
    pub guard_regions: Vec<String>,
    /// How long one event may be waited on across invocations (a cluster
    /// still `CREATING` is handed on to a fresh invocation until then;
    /// `GUARD_MAX_WAIT_MINUTES`, 0: never hand on).
    pub max_wait: Duration,
    /// While a cluster is `CREATING`: `DescribeCluster` alone, every
    /// `creating_poll` once creation may end soon, ten times as far apart in
    /// its first ten minutes (`GUARD_CREATING_POLL_SECONDS`).
    pub creating_poll: Duration,
    /// EKS calls per second per cluster after a short burst, however EKS
    /// answers (`GUARD_EKS_CALLS_PER_SECOND`): EKS throttles the whole account.
    pub eks_calls_per_second: f64,
    /// Central layout: the role assumed in member accounts. `None`: single account.
    pub remediation_role_name: Option<String>,
    /// Central layout: the member accounts the sweep walks besides its own.
    pub sweep_accounts: Vec<String>,
    /// The sweep lists the organization's `ACTIVE` accounts and sweeps each
    /// (`SWEEP_ORGANIZATION`); needs `REMEDIATION_ROLE_NAME`.
    pub sweep_organization: bool,
    /// A role to read the organization's accounts through, when the
    /// function's account is neither the management account nor a delegated
    /// administrator (`ORGANIZATION_ROLE_ARN`).
    pub organization_role_arn: Option<String>,
    /// Accounts the sweep leaves out (`SWEEP_EXCLUDE_ACCOUNTS`).
    pub sweep_exclude_accounts: Vec<String>,
    /// How many clusters the sweep judges at a time in one account-region
    /// (`SWEEP_CONCURRENCY`, default 2: EKS throttles per account and region).
    pub sweep_concurrency: usize,
    /// How many account-regions one sweep invocation lists and judges at a
    /// time (`SWEEP_PLACES_IN_FLIGHT`, default 16).
    pub sweep_places_in_flight: usize,
    /// How many accounts one sweep slice covers (`SWEEP_SLICE_ACCOUNTS`,
    /// default 25): a sweep of more accounts hands each slice to its own
    /// invocation.
    pub sweep_slice_accounts: usize,
    /// How often the sweep runs (`SWEEP_PERIOD_SECONDS`, default 3600, the
    /// template's `SweepPeriodSeconds`): a cluster whose endpoint opened
    /// within one period before the sweep's scheduled time is new in its
    /// summary.
    pub sweep_period: Duration,
    /// Time-out of one attempt of an AWS call; a whole call (with the SDK's
    /// retries) gets three times as long. A hung endpoint then costs a
    /// bounded slice of the invocation, never the whole deadline.
    pub call_attempt_timeout: Duration,
    /// Also import every violation into AWS Security Hub as an ASFF finding
    /// (`SECURITY_HUB`, `true` or `false`; default `false`).
    pub security_hub: bool,
    /// What the sweep checks of the guard's own wiring.
    pub wiring: WiringSettings,
}

/// The sweep's check of the guard's own wiring (`GUARD_SELF_CHECK`) and
/// the names of what it checks, which the template sets. A name unset:
/// that check is skipped, and the sweep's log says so.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct WiringSettings {
    /// `GUARD_SELF_CHECK=true`: each scheduled sweep checks the wiring.
    pub enabled: bool,
    /// The function's own name (`AWS_LAMBDA_FUNCTION_NAME`, set by Lambda).
    pub function_name: Option<String>,
    /// The EventBridge rule of EKS changes (`GUARD_EVENT_RULE_NAME`).
    pub event_rule: Option<String>,
    /// The sweep's schedule rule (`GUARD_SCHEDULE_RULE_NAME`).
    pub schedule_rule: Option<String>,
    /// The prefix of the guard's alarm names (`GUARD_ALARM_PREFIX`).
    pub alarm_prefix: Option<String>,
}

impl Config {
    /// Time-out of one AWS call, retries included.
    pub fn call_timeout(&self) -> Duration {
        self.call_attempt_timeout * 3
    }

    /// What must still be left before the deadline to start a revert: the
    /// `UpdateClusterConfig` call and the alert's `Publish`, each up to its
    /// time-out, and the answer to the Runtime API.
    pub fn time_to_revert(&self) -> Duration {
        self.call_timeout() * 2 + self.deadline_margin
    }

    /// Whether the guard handles events of `region` (the function's own
    /// region is always guarded).
    pub fn guards_region(&self, region: &str, own_region: &str) -> bool {
        region == own_region || self.guard_regions.iter().any(|r| r == region)
    }
}

#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    #[error("{0} is required (the ARN of the SNS topic that receives alerts)")]
    Missing(&'static str),
    #[error("{variable}: {problem}")]
    Invalid {
        variable: &'static str,
        problem: String,
    },
}

impl Config {
    /// Reads the process environment.
    pub fn from_env() -> Result<Config, ConfigError> {
        Config::from_lookup(|key| std::env::var(key).ok())
    }

    /// Reads each setting in turn; the first that is invalid is the error.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Config, ConfigError> {
        let env = Lookup(lookup);
        let config = Config {
            alert_topic_arn: topic_arn(env.text("ALERT_TOPIC_ARN"))?,
            mode: mode(env.text("GUARD_MODE"))?,
            policy: Policy {
                allowed_public_cidrs: parse_cidrs(env.text("ALLOWED_PUBLIC_CIDRS").as_deref())?,
            },
            exempt_tag_key: env
                .text("EXEMPT_TAG_KEY")
                .unwrap_or_else(|| DEFAULT_EXEMPT_TAG_KEY.to_string()),
            max_exemption_days: max_exemption_days(env.text("MAX_EXEMPTION_DAYS"))?,
            poll_interval: env.seconds("GUARD_POLL_SECONDS", 1.0, 0.01..=60.0)?,
            call_attempt_timeout: env.seconds("GUARD_CALL_TIMEOUT_SECONDS", 10.0, 0.1..=60.0)?,
            deadline_margin: Duration::from_secs(1),
            guard_regions: env.list("GUARD_REGIONS", region_name)?,
            max_wait: env.seconds("GUARD_MAX_WAIT_MINUTES", 120.0, 0.0..=1440.0)? * 60,
            creating_poll: env.seconds("GUARD_CREATING_POLL_SECONDS", 1.5, 0.01..=60.0)?,
            eks_calls_per_second: env
                .seconds("GUARD_EKS_CALLS_PER_SECOND", 2.0, 0.1..=100.0)?
                .as_secs_f64(),
            own_session_names: own_session_names(env.text("AWS_LAMBDA_FUNCTION_NAME")),
            remediation_role_name: role_name(env.text("REMEDIATION_ROLE_NAME"))?,
            sweep_accounts: env.list("SWEEP_ACCOUNTS", account_id)?,
            sweep_exclude_accounts: env.list("SWEEP_EXCLUDE_ACCOUNTS", account_id)?,
            sweep_organization: env.flag("SWEEP_ORGANIZATION")?,
            organization_role_arn: role_arn(env.text("ORGANIZATION_ROLE_ARN"))?,
            sweep_concurrency: env.count("SWEEP_CONCURRENCY", 2, 1..=16)?,
            sweep_places_in_flight: env.count("SWEEP_PLACES_IN_FLIGHT", 16, 1..=64)?,
            sweep_slice_accounts: env.count("SWEEP_SLICE_ACCOUNTS", 25, 1..=1000)?,
            sweep_period: Duration::from_secs(env.count(
                "SWEEP_PERIOD_SECONDS",
                3600,
                60..=604_800,
            )? as u64),
            security_hub: env.flag("SECURITY_HUB")?,
            wiring: WiringSettings {
                enabled: env.flag("GUARD_SELF_CHECK")?,
                function_name: env.text("AWS_LAMBDA_FUNCTION_NAME"),
                event_rule: rule_name("GUARD_EVENT_RULE_NAME", env.text("GUARD_EVENT_RULE_NAME"))?,
                schedule_rule: rule_name(
                    "GUARD_SCHEDULE_RULE_NAME",
                    env.text("GUARD_SCHEDULE_RULE_NAME"),
                )?,
                alarm_prefix: env.text("GUARD_ALARM_PREFIX"),
            },
        };
        config.check_sweep()?;
        Ok(config)
    }

    /// Other accounts are swept through the remediation role: without it
    /// neither the organization's accounts nor listed members can be.
    fn check_sweep(&self) -> Result<(), ConfigError> {
        let needs_role = |variable, whose| {
            Err(ConfigError::Invalid {
                variable,
                problem: format!("{whose} can only be swept with REMEDIATION_ROLE_NAME set"),
            })
        };
        if self.remediation_role_name.is_some() {
            Ok(())
        } else if self.sweep_organization {
            needs_role("SWEEP_ORGANIZATION", "the organization's accounts")
        } else if !self.sweep_accounts.is_empty() {
            needs_role("SWEEP_ACCOUNTS", "member accounts")
        } else {
            Ok(())
        }
    }
}

/// The settings' source: a key lookup whose values are trimmed, a blank value
/// taken as unset.
struct Lookup<L>(L);

impl<L: Fn(&str) -> Option<String>> Lookup<L> {
    fn text(&self, key: &str) -> Option<String> {
        (self.0)(key)
            .map(|v| v.trim().to_string())
            .filter(|v| !v.is_empty())
    }

    /// A whole number within `range`, or `default` when unset.
    fn count(
        &self,
        variable: &'static str,
        default: usize,
        range: std::ops::RangeInclusive<usize>,
    ) -> Result<usize, ConfigError> {
        self.number(variable, default, range, "a whole number")
    }

    /// A number of seconds within `range`, or `default` when unset.
    fn seconds(
        &self,
        variable: &'static str,
        default: f64,
        range: std::ops::RangeInclusive<f64>,
    ) -> Result<Duration, ConfigError> {
        self.number(variable, default, range, "a number of seconds")
            .map(Duration::from_secs_f64)
    }

    /// A `T` within `range`, or `default` when unset; the error says it is
    /// not `what` from the start to the end of the range.
    fn number<T: std::str::FromStr + PartialOrd + std::fmt::Display>(
        &self,
        variable: &'static str,
        default: T,
        range: std::ops::RangeInclusive<T>,
        what: &str,
    ) -> Result<T, ConfigError> {
        let Some(text) = self.text(variable) else {
            return Ok(default);
        };
        match text.parse::<T>() {
            Ok(n) if range.contains(&n) => Ok(n),
            _ => Err(ConfigError::Invalid {
                variable,
                problem: format!(
                    "`{text}` is not {what} from {} to {}",
                    range.start(),
                    range.end()
                ),
            }),
        }
    }

    /// A comma-separated list, blanks and empty entries ignored, each entry
    /// checked by `check` (which says what is wrong with it).
    fn list(
        &self,
        variable: &'static str,
        check: impl Fn(&str) -> Result<(), String>,
    ) -> Result<Vec<String>, ConfigError> {
        let Some(text) = self.text(variable) else {
            return Ok(Vec::new());
        };
        text.split(',')
            .map(str::trim)
            .filter(|entry| !entry.is_empty())
            .map(|entry| {
                check(entry)
                    .map(|()| entry.to_string())
                    .map_err(|problem| ConfigError::Invalid { variable, problem })
            })
            .collect()
    }

    /// `true` or `false` in any case; unset: `false`.
    fn flag(&self, variable: &'static str) -> Result<bool, ConfigError> {
        match self.text(variable) {
            None => Ok(false),
            Some(v) if v.eq_ignore_ascii_case("true") => Ok(true),
            Some(v) if v.eq_ignore_ascii_case("false") => Ok(false),
            Some(other) => Err(ConfigError::Invalid {
                variable,
                problem: format!("`{other}` is neither `true` nor `false`"),
            }),
        }
    }
}

fn topic_arn(text: Option<String>) -> Result<String, ConfigError> {
    let arn = text.ok_or(ConfigError::Missing("ALERT_TOPIC_ARN"))?;
    if !arn.starts_with("arn:") || arn.split(':').count() != 6 {
        return Err(ConfigError::Invalid {
            variable: "ALERT_TOPIC_ARN",
            problem: format!("`{arn}` is not an SNS topic ARN"),
        });
    }
    Ok(arn)
}

fn mode(text: Option<String>) -> Result<Mode, ConfigError> {
    match text.as_deref().map(str::to_ascii_lowercase) {
        None => Ok(Mode::Enforce),
        Some(m) if m == "enforce" => Ok(Mode::Enforce),
        Some(m) if m == "report" => Ok(Mode::Report),
        Some(other) => Err(ConfigError::Invalid {
            variable: "GUARD_MODE",
            problem: format!("`{other}` is not a mode; use `enforce` or `report`"),
        }),
    }
}

fn max_exemption_days(text: Option<String>) -> Result<u32, ConfigError> {
    let Some(text) = text else {
        return Ok(30);
    };
    text.parse::<u32>().map_err(|_| ConfigError::Invalid {
        variable: "MAX_EXEMPTION_DAYS",
        problem: format!("`{text}` is not a whole number of days (0: no limit)"),
    })
}

/// The guard's own name, and the function's: Lambda names the execution
/// role's session after the function.
fn own_session_names(function_name: Option<String>) -> Vec<String> {
    std::iter::once(GUARD_NAME.to_string())
        .chain(function_name)
        .collect()
}

fn role_name(text: Option<String>) -> Result<Option<String>, ConfigError> {
    if let Some(role) = &text {
        let valid = role.len() <= 64
            && role
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "+=,.@-_".contains(c));
        if !valid {
            return Err(ConfigError::Invalid {
                variable: "REMEDIATION_ROLE_NAME",
                problem: format!("`{role}` is not an IAM role name"),
            });
        }
    }
    Ok(text)
}

/// An EventBridge rule name: 1 to 64 of letters, digits, `.`, `-`, `_`
/// (EventBridge API reference, `DescribeRule`).
fn rule_name(variable: &'static str, text: Option<String>) -> Result<Option<String>, ConfigError> {
    if let Some(name) = &text {
        let valid = name.len() <= 64
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || ".-_".contains(c));
        if !valid {
            return Err(ConfigError::Invalid {
                variable,
                problem: format!("`{name}` is not an EventBridge rule name"),
            });
        }
    }
    Ok(text)
}

fn role_arn(text: Option<String>) -> Result<Option<String>, ConfigError> {
    if let Some(arn) = &text
        && !(arn.starts_with("arn:") && arn.contains(":iam::") && arn.contains(":role/"))
    {
        return Err(ConfigError::Invalid {
            variable: "ORGANIZATION_ROLE_ARN",
            problem: format!("`{arn}` is not an IAM role ARN"),
        });
    }
    Ok(text)
}

fn account_id(account: &str) -> Result<(), String> {
    (account.len() == 12 && account.bytes().all(|b| b.is_ascii_digit()))
        .then_some(())
        .ok_or_else(|| format!("`{account}` is not a 12-digit account id"))
}

fn region_name(region: &str) -> Result<(), String> {
    is_region_name(region)
        .then_some(())
        .ok_or_else(|| format!("`{region}` is not an AWS region such as eu-west-1"))
}

/// `eu-west-1`, `us-gov-west-1`, `cn-north-1`, `eusc-de-east-1`: letters
/// and dashes, then a number.
fn is_region_name(text: &str) -> bool {
    let Some((name, number)) = text.rsplit_once('-') else {
        return false;
    };
    !number.is_empty()
        && number.bytes().all(|b| b.is_ascii_digit())
        && name.contains('-')
        && name
            .split('-')
            .all(|part| !part.is_empty() && part.bytes().all(|b| b.is_ascii_lowercase()))
}

fn parse_cidrs(text: Option<&str>) -> Result<Vec<IpNet>, ConfigError> {
    let Some(text) = text else {
        return Ok(Vec::new());
    };
    let cidrs = text
        .split(',')
        .map(str::trim)
        .filter(|entry| !entry.is_empty())
        .map(|entry| {
            entry.parse::<IpNet>().map_err(|_| ConfigError::Invalid {
                variable: "ALLOWED_PUBLIC_CIDRS",
                problem: format!("`{entry}` is not a CIDR range such as 203.0.113.0/24"),
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    if cidrs.len() > MAX_PUBLIC_ACCESS_CIDRS {
        return Err(ConfigError::Invalid {
            variable: "ALLOWED_PUBLIC_CIDRS",
            problem: format!(
                "{} ranges given; EKS accepts at most {MAX_PUBLIC_ACCESS_CIDRS}",
                cidrs.len()
            ),
        });
    }
    Ok(cidrs)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    const TOPIC: &str = "arn:aws:sns:us-east-1:123456789012:alerts";

    fn config(pairs: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let env: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Config::from_lookup(|key| env.get(key).cloned())
    }

    #[test]
    fn defaults() {
        let c = config(&[
            ("ALERT_TOPIC_ARN", TOPIC),
            ("AWS_LAMBDA_FUNCTION_NAME", "guard-fn"),
        ])
        .unwrap();
        assert_eq!(c.mode, Mode::Enforce);
        assert!(c.policy.allowed_public_cidrs.is_empty());
        assert_eq!(c.exempt_tag_key, DEFAULT_EXEMPT_TAG_KEY);
        assert_eq!(c.max_exemption_days, 30);
        assert_eq!(c.poll_interval, Duration::from_secs(1));
        assert_eq!(c.max_wait, Duration::from_secs(2 * 3600));
        assert_eq!(c.creating_poll, Duration::from_millis(1500));
        assert_eq!(c.own_session_names, vec![GUARD_NAME, "guard-fn"]);
        assert_eq!(
            (
                c.sweep_concurrency,
                c.sweep_places_in_flight,
                c.sweep_slice_accounts
            ),
            (2, 16, 25)
        );
        assert_eq!(c.sweep_period, Duration::from_secs(3600));
        assert!(!c.wiring.enabled);
        assert_eq!(c.wiring.function_name.as_deref(), Some("guard-fn"));
        assert_eq!(c.wiring.event_rule, None);
    }

    #[test]
    fn the_wiring_check_reads_its_names() {
        let c = config(&[
            ("ALERT_TOPIC_ARN", TOPIC),
            ("GUARD_SELF_CHECK", "true"),
            (
                "GUARD_EVENT_RULE_NAME",
                "eks-endpoint-guard-events-1a2b3c4d",
            ),
            (
                "GUARD_SCHEDULE_RULE_NAME",
                "eks-endpoint-guard-sweep-1a2b3c4d",
            ),
            ("GUARD_ALARM_PREFIX", "stack-guard-"),
        ])
        .unwrap();
        assert_eq!(
            c.wiring,
            WiringSettings {
                enabled: true,
                function_name: None,
                event_rule: Some("eks-endpoint-guard-events-1a2b3c4d".into()),
                schedule_rule: Some("eks-endpoint-guard-sweep-1a2b3c4d".into()),
                alarm_prefix: Some("stack-guard-".into()),
            }
        );
    }

    #[test]
    fn every_setting_is_read() {
        let c = config(&[
            ("ALERT_TOPIC_ARN", TOPIC),
            ("GUARD_MODE", "Report"),
            ("ALLOWED_PUBLIC_CIDRS", " 203.0.113.0/24, 2001:db8::/32 ,"),
            ("EXEMPT_TAG_KEY", "security/exempt"),
            ("MAX_EXEMPTION_DAYS", "7"),
            ("GUARD_POLL_SECONDS", "0.05"),
            ("REMEDIATION_ROLE_NAME", "eks-endpoint-guard-remediation"),
            ("SWEEP_ACCOUNTS", "111122223333, 444455556666"),
            ("SWEEP_CONCURRENCY", "8"),
            ("SWEEP_PLACES_IN_FLIGHT", "32"),
            ("SWEEP_SLICE_ACCOUNTS", "50"),
            ("SWEEP_PERIOD_SECONDS", "900"),
        ])
        .unwrap();
        assert_eq!(c.mode, Mode::Report);
        assert_eq!(c.policy.allowed_public_cidrs.len(), 2);
        assert_eq!(c.exempt_tag_key, "security/exempt");
        assert_eq!(c.max_exemption_days, 7);
        let unlimited = config(&[("ALERT_TOPIC_ARN", TOPIC), ("MAX_EXEMPTION_DAYS", "0")]).unwrap();
        assert_eq!(unlimited.max_exemption_days, 0);
        assert_eq!(c.poll_interval, Duration::from_millis(50));
        assert_eq!(
            c.remediation_role_name.as_deref(),
            Some("eks-endpoint-guard-remediation")
        );
        assert_eq!(c.sweep_accounts, vec!["111122223333", "444455556666"]);
        assert_eq!(c.sweep_concurrency, 8);
        assert_eq!(c.sweep_places_in_flight, 32);
        assert_eq!(c.sweep_slice_accounts, 50);
        assert_eq!(c.sweep_period, Duration::from_secs(900));
        let org = config(&[
            ("ALERT_TOPIC_ARN", TOPIC),
            ("REMEDIATION_ROLE_NAME", "eks-endpoint-guard-remediation"),
            ("SWEEP_ORGANIZATION", "TRUE"),
            ("SWEEP_EXCLUDE_ACCOUNTS", "999988887777"),
            (
                "ORGANIZATION_ROLE_ARN",
                "arn:aws:iam::123456789012:role/org-reader",
            ),
        ])
        .unwrap();
        assert!(org.sweep_organization);
        assert_eq!(org.sweep_exclude_accounts, vec!["999988887777"]);
        assert_eq!(
            org.organization_role_arn.as_deref(),
            Some("arn:aws:iam::123456789012:role/org-reader")
        );
    }

    #[test]
    fn guarded_regions_are_the_own_one_and_those_listed() {
        let own = config(&[("ALERT_TOPIC_ARN", TOPIC)]).unwrap();
        assert!(own.guards_region("eu-west-1", "eu-west-1"));
        assert!(!own.guards_region("eu-central-1", "eu-west-1"));
        let more = config(&[
            ("ALERT_TOPIC_ARN", TOPIC),
            (
                "GUARD_REGIONS",
                "eu-central-1, us-gov-west-1,eusc-de-east-1",
            ),
        ])
        .unwrap();
        assert!(more.guards_region("eu-central-1", "eu-west-1"));
        assert!(more.guards_region("us-gov-west-1", "eu-west-1"));
        assert!(!more.guards_region("ap-south-1", "eu-west-1"));
        assert_eq!(more.guard_regions.len(), 3);
    }

    #[test]
    fn a_revert_keeps_time_for_its_call_and_the_alert() {
        let c = config(&[
            ("ALERT_TOPIC_ARN", TOPIC),
            ("GUARD_CALL_TIMEOUT_SECONDS", "2"),
        ])
        .unwrap();
        // Two whole calls of 3 attempts of 2 s, plus the answer's second.
        assert_eq!(c.time_to_revert(), Duration::from_secs(13));
        assert_eq!(c.eks_calls_per_second, 2.0);
    }

    #[test]
    fn errors_name_the_variable() {
        assert_eq!(config(&[]), Err(ConfigError::Missing("ALERT_TOPIC_ARN")));
        // (variable, a value it must refuse): the error names the variable.
        let cases = [
            ("ALERT_TOPIC_ARN", "alerts"),
            ("GUARD_MODE", "fix"),
            ("ALLOWED_PUBLIC_CIDRS", "10.0.0.0/33"),
            ("ALLOWED_PUBLIC_CIDRS", "office"),
            ("GUARD_POLL_SECONDS", "0"),
            ("GUARD_CALL_TIMEOUT_SECONDS", "forever"),
            ("REMEDIATION_ROLE_NAME", "role/x"),
            ("SWEEP_ACCOUNTS", "1234"),
            ("SWEEP_ACCOUNTS", "123456789012"),
            ("SWEEP_CONCURRENCY", "0"),
            ("SWEEP_PLACES_IN_FLIGHT", "65"),
            ("SWEEP_SLICE_ACCOUNTS", "many"),
            ("SWEEP_PERIOD_SECONDS", "59"),
            ("SWEEP_ORGANIZATION", "yes"),
            ("SWEEP_ORGANIZATION", "true"),
            ("SWEEP_EXCLUDE_ACCOUNTS", "12"),
            ("ORGANIZATION_ROLE_ARN", "reader"),
            ("MAX_EXEMPTION_DAYS", "-1"),
            ("MAX_EXEMPTION_DAYS", "30d"),
            ("MAX_EXEMPTION_DAYS", "1.5"),
            ("GUARD_REGIONS", "eu-west-1,Frankfurt"),
            ("GUARD_REGIONS", "eu-west"),
            ("GUARD_EKS_CALLS_PER_SECOND", "0"),
            ("GUARD_MAX_WAIT_MINUTES", "forever"),
            ("GUARD_MAX_WAIT_MINUTES", "1441"),
            ("GUARD_CREATING_POLL_SECONDS", "0"),
            ("GUARD_SELF_CHECK", "on"),
            ("GUARD_EVENT_RULE_NAME", "a rule"),
            ("GUARD_SCHEDULE_RULE_NAME", &"x".repeat(65)),
        ];
        for (key, bad) in cases {
            let mut pairs = vec![("ALERT_TOPIC_ARN", TOPIC)];
            pairs.retain(|(k, _)| *k != key);
            pairs.push((key, bad));
            let err = config(&pairs).expect_err(key).to_string();
            assert!(err.starts_with(key), "{err}");
        }
    }
}
