//! The policy: pure code, no I/O.
//!
//! The EKS private-cluster guidance asks for an API endpoint that is reachable
//! only from inside the VPC (`endpointPublicAccess=false`,
//! `endpointPrivateAccess=true`), or, where a public endpoint is tolerated, one
//! that only a few corporate ranges may reach (`publicAccessCidrs`).
//!
//! [`evaluate`] judges one set of endpoint settings against a [`Policy`] and,
//! for a violation, gives the smallest fix: drop the CIDRs outside the allowed
//! ranges, or close the public endpoint (opening the private one, because EKS
//! refuses to turn both off and a cluster without any endpoint is unusable).

use std::collections::BTreeSet;

use ipnet::IpNet;
use serde::{Deserialize, Serialize};

/// The most `publicAccessCidrs` entries EKS accepts on one cluster.
pub const MAX_PUBLIC_ACCESS_CIDRS: usize = 40;

/// What EKS reports (and defaults to) for `publicAccessCidrs` when no list was set.
pub const OPEN_TO_THE_INTERNET: &str = "0.0.0.0/0";

/// Which public ranges may reach a cluster's API endpoint.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Policy {
    /// Empty: no public endpoint at all.
    pub allowed_public_cidrs: Vec<IpNet>,
}

/// A cluster's endpoint settings, as `DescribeCluster` reports them or as a
/// CloudTrail record requests them.
///
/// CIDRs stay strings: a record may carry anything, and an entry that does not
/// parse is judged as outside every allowed range rather than dropped silently.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EndpointAccess {
    pub endpoint_public_access: bool,
    pub endpoint_private_access: bool,
    pub public_access_cidrs: Vec<String>,
}

impl EndpointAccess {
    /// The ranges the public endpoint is open to. EKS reports (and applies)
    /// an empty list as open to the internet (EKS user guide, cluster
    /// endpoint access); this is the one place that knows it.
    pub fn public_cidrs(&self) -> Vec<String> {
        if self.public_access_cidrs.is_empty() {
            vec![OPEN_TO_THE_INTERNET.to_string()]
        } else {
            self.public_access_cidrs.clone()
        }
    }
}

/// What the exempt tag's value says, judged at one moment.
///
/// The value is `true` (an exemption with no end) or an end: an RFC 3339
/// date-time (`2026-12-24T18:00:00Z`, `2026-12-24T19:00:00+01:00`) or a
/// date (`2026-12-24`: the end of that day in UTC, so exempt until
/// `2026-12-25T00:00:00Z`, that instant excluded). Ends are epoch seconds,
/// in UTC; a fraction of a second is dropped (the exemption ends up to a
/// second early, never late).
///
/// EKS does not say when a tag was set, so how far ahead an end lies is
/// measured from the moment of judging: an end too far ahead is refused
/// now, and counts once it comes within the limit.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Exemption {
    /// No exempt tag, or `false`: judged like any other cluster.
    None,
    /// `true`: exempt until the tag is taken off.
    Forever,
    /// Exempt until `end` (excluded).
    Until { end: i64 },
    /// The end has passed: judged like any other cluster.
    Ended { end: i64 },
    /// The end lies more than `max_days` days ahead: not honoured, judged
    /// like any other cluster.
    TooFar { end: i64, max_days: u32 },
    /// Neither `true`, `false`, a date nor a date-time (blanks around it
    /// dropped): no exemption.
    NotUnderstood(String),
}

/// Seconds in a day (UTC has no leap seconds in epoch time).
const DAY: i64 = 86_400;

/// Reads the exempt tag's value (`None`: no such tag) at `now` (epoch
/// seconds). `max_days` is the farthest an end may lie ahead; `0`: no limit.
///
/// This is the one place that decides whether a tag value exempts.
pub fn exemption(tag_value: Option<&str>, now: i64, max_days: u32) -> Exemption {
    let Some(value) = tag_value.map(str::trim) else {
        return Exemption::None;
    };
    if value.eq_ignore_ascii_case("true") {
        return Exemption::Forever;
    }
    if value.eq_ignore_ascii_case("false") {
        return Exemption::None;
    }
    let Some(end) = parse_end(value) else {
        return Exemption::NotUnderstood(value.to_string());
    };
    if end <= now {
        Exemption::Ended { end }
    } else if max_days > 0 && end - now > i64::from(max_days) * DAY {
        Exemption::TooFar { end, max_days }
    } else {
        Exemption::Until { end }
    }
}

impl Exemption {
    /// Whether the cluster is exempt: reported, never changed.
    pub fn is_active(&self) -> bool {
        matches!(self, Exemption::Forever | Exemption::Until { .. })
    }

    /// The state's kebab-case name, for the machine-readable finding:
    /// `none`, `forever`, `until`, `ended`, `too-far`, `not-understood`.
    pub fn state(&self) -> &'static str {
        match self {
            Exemption::None => "none",
            Exemption::Forever => "forever",
            Exemption::Until { .. } => "until",
            Exemption::Ended { .. } => "ended",
            Exemption::TooFar { .. } => "too-far",
            Exemption::NotUnderstood(_) => "not-understood",
        }
    }

    /// The end the value names, in epoch seconds.
    pub fn end(&self) -> Option<i64> {
        match self {
            Exemption::Until { end } | Exemption::Ended { end } | Exemption::TooFar { end, .. } => {
                Some(*end)
            }
            Exemption::None | Exemption::Forever | Exemption::NotUnderstood(_) => None,
        }
    }

    /// What the value says, for people, as a clause: "exempt until
    /// 2026-12-24T18:00:00Z", "exempt with no end", "the exemption ended on
    /// ...", or why it does not count.
    pub fn describe(&self) -> String {
        match self {
            Exemption::None => "no exemption".to_string(),
            Exemption::Forever => "exempt with no end".to_string(),
            Exemption::Until { end } => format!("exempt until {}", rfc3339(*end)),
            Exemption::Ended { end } => format!("the exemption ended on {}", rfc3339(*end)),
            Exemption::TooFar { end, max_days } => format!(
                "the exemption's end {} is more than {max_days} days ahead (MAX_EXEMPTION_DAYS), so it is not honoured (it would count from {} on)",
                rfc3339(*end),
                rfc3339(end - i64::from(*max_days) * DAY)
            ),
            Exemption::NotUnderstood(value) => format!(
                "the exempt tag's value {} was not understood, so it does not exempt (use `true`, a date such as 2026-12-24, or a date-time such as 2026-12-24T18:00:00Z)",
                if value.is_empty() {
                    "(empty)".to_string()
                } else {
                    format!("`{value}`")
                }
            ),
        }
    }

    /// The sentence an alert on the judged cluster carries (`None` when
    /// there is no exempt tag to speak of).
    pub fn note(&self) -> Option<String> {
        let judged = "the cluster is judged like any other";
        match self {
            Exemption::None => None,
            Exemption::Forever | Exemption::Until { .. } => {
                Some(format!("{}.", capitalised(&self.describe())))
            }
            Exemption::Ended { .. } | Exemption::TooFar { .. } | Exemption::NotUnderstood(_) => {
                Some(format!("{}: {judged}.", capitalised(&self.describe())))
            }
        }
    }
}

fn capitalised(text: &str) -> String {
    let mut chars = text.chars();
    chars
        .next()
        .map(|first| first.to_uppercase().chain(chars).collect())
        .unwrap_or_default()
}

/// The end a value names: a date (the end of that day in UTC) or an RFC
/// 3339 date-time with `Z` or an offset (seconds required; one without an
/// offset names no instant and is refused).
fn parse_end(value: &str) -> Option<i64> {
    if let Some(day) = parse_date(value) {
        return Some((day + 1) * DAY);
    }
    if value.len() <= 10 {
        return None;
    }
    aws_sdk_eks::primitives::DateTime::from_str(
        value,
        aws_sdk_eks::primitives::DateTimeFormat::DateTimeWithOffset,
    )
    .ok()
    .map(|t| t.secs())
}

/// `YYYY-MM-DD` as days since 1970-01-01.
fn parse_date(value: &str) -> Option<i64> {
    let bytes = value.as_bytes();
    if bytes.len() != 10 || bytes[4] != b'-' || bytes[7] != b'-' {
        return None;
    }
    let number = |range: std::ops::Range<usize>| -> Option<i64> {
        let digits = &value[range];
        digits
            .bytes()
            .all(|b| b.is_ascii_digit())
            .then(|| digits.parse().ok())
            .flatten()
    };
    let (year, month, day) = (number(0..4)?, number(5..7)?, number(8..10)?);
    let leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0);
    let days_in_month = match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => return None,
    };
    (1..=days_in_month)
        .contains(&day)
        .then(|| days_from_civil(year, month, day))
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's
/// `days_from_civil`).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let month_from_march = (month + 9) % 12;
    let day_of_year = (153 * month_from_march + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

/// The date of a day since 1970-01-01 (Howard Hinnant's `civil_from_days`).
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let days = days + 719_468;
    let era = days.div_euclid(146_097);
    let day_of_era = days - era * 146_097;
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_from_march = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * month_from_march + 2) / 5 + 1;
    let month = if month_from_march < 10 {
        month_from_march + 3
    } else {
        month_from_march - 9
    };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// Epoch seconds as an RFC 3339 date-time in UTC (`2026-12-24T18:00:00Z`),
/// the form alerts show ends in.
pub fn rfc3339(epoch_seconds: i64) -> String {
    let (days, seconds) = (epoch_seconds.div_euclid(DAY), epoch_seconds.rem_euclid(DAY));
    let (year, month, day) = civil_from_days(days);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        seconds / 3600,
        seconds / 60 % 60,
        seconds % 60
    )
}

/// The settings a revert sends to `UpdateClusterConfig`.
///
/// Only the fields that must change are set: EKS refuses a request that
/// changes nothing ("Cluster is already at the desired configuration"), and
/// sending `publicAccessCidrs` together with closing the endpoint is pointless.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum EndpointFix {
    /// Public endpoint off, private endpoint on.
    ClosePublicEndpoint,
    /// Keep the public endpoint, reachable only from these ranges.
    RestrictPublicCidrs(Vec<String>),
}

impl EndpointFix {
    /// The settings the cluster has once the fix is applied to `current`.
    pub fn applied_to(&self, current: &EndpointAccess) -> EndpointAccess {
        match self {
            EndpointFix::ClosePublicEndpoint => EndpointAccess {
                endpoint_public_access: false,
                endpoint_private_access: true,
                // What EKS reports for a cluster whose public endpoint is off.
                public_access_cidrs: vec![OPEN_TO_THE_INTERNET.to_string()],
            },
            EndpointFix::RestrictPublicCidrs(kept) => EndpointAccess {
                endpoint_public_access: true,
                endpoint_private_access: current.endpoint_private_access,
                public_access_cidrs: kept.clone(),
            },
        }
    }

    /// True when `current` already has what the fix sets, so that sending
    /// it changes nothing (EKS would refuse it as "already at the desired
    /// configuration").
    pub fn is_satisfied_by(&self, current: &EndpointAccess) -> bool {
        match self {
            EndpointFix::ClosePublicEndpoint => {
                !current.endpoint_public_access && current.endpoint_private_access
            }
            EndpointFix::RestrictPublicCidrs(kept) => {
                current.endpoint_public_access && current.public_access_cidrs == *kept
            }
        }
    }

    /// A short description for alerts and logs.
    pub fn describe(&self) -> String {
        match self {
            EndpointFix::ClosePublicEndpoint => {
                "endpointPublicAccess=false, endpointPrivateAccess=true".to_string()
            }
            EndpointFix::RestrictPublicCidrs(kept) => {
                format!("publicAccessCidrs={}", kept.join(","))
            }
        }
    }
}

/// The verdict on one set of endpoint settings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    Compliant,
    Violation {
        /// Why, for people: one sentence.
        reason: String,
        /// The public CIDRs outside every allowed range (empty when the
        /// endpoint is public at all while nothing is allowed).
        disallowed_cidrs: Vec<String>,
        fix: EndpointFix,
    },
}

impl Verdict {
    pub fn is_violation(&self) -> bool {
        matches!(self, Verdict::Violation { .. })
    }
}

/// Judges endpoint settings against the policy.
pub fn evaluate(policy: &Policy, access: &EndpointAccess) -> Verdict {
    // With public access off EKS still reports ["0.0.0.0/0"]: nothing to judge.
    if !access.endpoint_public_access {
        return Verdict::Compliant;
    }
    if policy.allowed_public_cidrs.is_empty() {
        return Verdict::Violation {
            reason: "the public API endpoint is enabled and the policy allows no public endpoint"
                .to_string(),
            disallowed_cidrs: Vec::new(),
            fix: EndpointFix::ClosePublicEndpoint,
        };
    }

    let public_cidrs = access.public_cidrs();
    let (inside, outside): (Vec<&String>, Vec<&String>) = public_cidrs
        .iter()
        .partition(|cidr| is_allowed(policy, cidr));
    let outside = dedup(outside);
    if outside.is_empty() {
        return Verdict::Compliant;
    }
    let kept = dedup(inside);
    let reason = format!(
        "the public API endpoint is reachable from {} outside the allowed ranges",
        outside.join(", ")
    );
    let fix = if kept.is_empty() {
        EndpointFix::ClosePublicEndpoint
    } else {
        EndpointFix::RestrictPublicCidrs(kept)
    };
    Verdict::Violation {
        reason,
        disallowed_cidrs: outside,
        fix,
    }
}

/// True when `cidr` lies wholly inside one allowed range of the same family.
/// A range that only overlaps an allowed one is outside; so is anything that
/// does not parse as a CIDR.
fn is_allowed(policy: &Policy, cidr: &str) -> bool {
    let Ok(net) = cidr.trim().parse::<IpNet>() else {
        return false;
    };
    policy
        .allowed_public_cidrs
        .iter()
        .any(|allowed| allowed.contains(&net))
}

/// Keeps the first of each entry, in order (EKS keeps the order it was given).
fn dedup(cidrs: Vec<&String>) -> Vec<String> {
    let mut seen = BTreeSet::new();
    cidrs
        .into_iter()
        .filter(|cidr| seen.insert(cidr.trim().to_string()))
        .map(|cidr| cidr.trim().to_string())
        .collect()
}

/// What the guard does about a cluster, decided from what was requested, what
/// the cluster really has now, the mode and the exemption.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Action {
    /// Nothing requested or found breaks the policy: no update, no alert.
    Nothing,
    /// The cluster breaks the policy: apply the fix, then alert.
    Revert(EndpointFix),
    /// Report mode: alert with the fix that enforce mode would apply.
    WouldRevert(EndpointFix),
    /// The cluster carries the exempt tag: alert (informational), never change.
    Exempt(EndpointFix),
    /// The call asked for a breach but the cluster complies by the time the
    /// guard looks (changed back, or the guard's earlier revert took effect):
    /// alert so that the attempt is known.
    AlreadyCompliant,
}

/// The mode the guard runs in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// Revert and alert.
    Enforce,
    /// Alert only, saying what would be done.
    Report,
}

/// Decides on the cluster's real settings (`found`); `requested` only decides
/// whether a compliant cluster is still worth an alert.
pub fn decide(
    policy: &Policy,
    mode: Mode,
    exempt: bool,
    requested: Option<&EndpointAccess>,
    found: &EndpointAccess,
) -> (Action, Verdict) {
    let verdict = evaluate(policy, found);
    let action = match &verdict {
        Verdict::Violation { fix, .. } if exempt => Action::Exempt(fix.clone()),
        Verdict::Violation { fix, .. } if mode == Mode::Report => Action::WouldRevert(fix.clone()),
        Verdict::Violation { fix, .. } => Action::Revert(fix.clone()),
        Verdict::Compliant => {
            if requested.is_some_and(|r| evaluate(policy, r).is_violation()) {
                Action::AlreadyCompliant
            } else {
                Action::Nothing
            }
        }
    };
    (action, verdict)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(allowed: &[&str]) -> Policy {
        Policy {
            allowed_public_cidrs: allowed.iter().map(|c| c.parse().unwrap()).collect(),
        }
    }

    fn public(cidrs: &[&str]) -> EndpointAccess {
        EndpointAccess {
            endpoint_public_access: true,
            endpoint_private_access: false,
            public_access_cidrs: cidrs.iter().map(|c| c.to_string()).collect(),
        }
    }

    fn restrict(cidrs: &[&str]) -> EndpointFix {
        EndpointFix::RestrictPublicCidrs(cidrs.iter().map(|c| c.to_string()).collect())
    }

    /// (name, allowed ranges, public?, cidrs, expected fix or None when compliant)
    type Case = (
        &'static str,
        &'static [&'static str],
        bool,
        &'static [&'static str],
        Option<EndpointFix>,
    );

    #[test]
    fn policy_table() {
        let cases: Vec<Case> = vec![
            (
                "private cluster, nothing allowed",
                &[],
                false,
                &["0.0.0.0/0"],
                None,
            ),
            ("private cluster, empty list", &[], false, &[], None),
            (
                "public /0, nothing allowed",
                &[],
                true,
                &["0.0.0.0/0"],
                Some(EndpointFix::ClosePublicEndpoint),
            ),
            (
                "public with a narrow range, nothing allowed",
                &[],
                true,
                &["203.0.113.0/24"],
                Some(EndpointFix::ClosePublicEndpoint),
            ),
            (
                "public /0 with ranges allowed: nothing inside, close",
                &["203.0.113.0/24"],
                true,
                &["0.0.0.0/0"],
                Some(EndpointFix::ClosePublicEndpoint),
            ),
            (
                "exactly the allowed range",
                &["203.0.113.0/24"],
                true,
                &["203.0.113.0/24"],
                None,
            ),
            (
                "a subnet of the allowed range",
                &["203.0.113.0/24"],
                true,
                &["203.0.113.128/25", "203.0.113.7/32"],
                None,
            ),
            (
                "a supernet only overlaps: outside",
                &["203.0.113.0/24"],
                true,
                &["203.0.112.0/23"],
                Some(EndpointFix::ClosePublicEndpoint),
            ),
            (
                "mixed list keeps the inside entries",
                &["203.0.113.0/24", "198.51.100.0/24"],
                true,
                &["203.0.113.0/25", "0.0.0.0/0", "198.51.100.10/32"],
                Some(restrict(&["203.0.113.0/25", "198.51.100.10/32"])),
            ),
            (
                "duplicates of an allowed entry are kept once",
                &["203.0.113.0/24"],
                true,
                &["203.0.113.0/24", "0.0.0.0/0", "203.0.113.0/24"],
                Some(restrict(&["203.0.113.0/24"])),
            ),
            (
                "duplicates of a compliant list are compliant",
                &["203.0.113.0/24"],
                true,
                &["203.0.113.0/24", "203.0.113.0/24"],
                None,
            ),
            (
                "empty list on a public endpoint means open to the internet",
                &["203.0.113.0/24"],
                true,
                &[],
                Some(EndpointFix::ClosePublicEndpoint),
            ),
            (
                "/0 is fine when /0 is allowed",
                &["0.0.0.0/0"],
                true,
                &["0.0.0.0/0"],
                None,
            ),
            (
                "IPv6 inside an allowed IPv6 range",
                &["2001:db8::/32"],
                true,
                &["2001:db8:1::/48"],
                None,
            ),
            (
                "IPv6 ::/0 outside",
                &["2001:db8::/32"],
                true,
                &["::/0", "2001:db8::/48"],
                Some(restrict(&["2001:db8::/48"])),
            ),
            (
                "IPv4 never inside an IPv6 range",
                &["::/0"],
                true,
                &["203.0.113.0/24"],
                Some(EndpointFix::ClosePublicEndpoint),
            ),
            (
                "an entry that does not parse is outside",
                &["203.0.113.0/24"],
                true,
                &["203.0.113.0/24", "not-a-cidr"],
                Some(restrict(&["203.0.113.0/24"])),
            ),
            (
                "host bits set are judged by the network they name",
                &["203.0.113.0/24"],
                true,
                &["203.0.113.77/24"],
                None,
            ),
        ];
        for (name, allowed, is_public, cidrs, expected) in cases {
            let mut access = public(cidrs);
            access.endpoint_public_access = is_public;
            let verdict = evaluate(&policy(allowed), &access);
            match (&verdict, &expected) {
                (Verdict::Compliant, None) => {}
                (Verdict::Violation { fix, .. }, Some(want)) => {
                    assert_eq!(fix, want, "case {name}")
                }
                _ => panic!("case {name}: got {verdict:?}, expected fix {expected:?}"),
            }
        }
    }

    #[test]
    fn forty_entries_all_inside_comply_and_one_outside_is_cut() {
        let allowed = policy(&["10.0.0.0/8"]);
        let inside: Vec<String> = (0..40).map(|i| format!("10.{i}.0.0/16")).collect();
        let mut access = public(&[]);
        access.public_access_cidrs = inside.clone();
        assert_eq!(evaluate(&allowed, &access), Verdict::Compliant);

        access.public_access_cidrs[39] = "0.0.0.0/0".to_string();
        match evaluate(&allowed, &access) {
            Verdict::Violation {
                fix: EndpointFix::RestrictPublicCidrs(kept),
                disallowed_cidrs,
                ..
            } => {
                assert_eq!(kept, inside[..39].to_vec());
                assert_eq!(disallowed_cidrs, vec!["0.0.0.0/0".to_string()]);
            }
            other => panic!("expected a restriction, got {other:?}"),
        }
    }

    #[test]
    fn fix_applied_never_disables_both_endpoints_and_complies() {
        let allowed = policy(&["203.0.113.0/24"]);
        for cidrs in [
            &["0.0.0.0/0"][..],
            &["203.0.113.0/24", "0.0.0.0/0"][..],
            &[][..],
        ] {
            let access = public(cidrs);
            let Verdict::Violation { fix, .. } = evaluate(&allowed, &access) else {
                panic!("{cidrs:?} should violate");
            };
            let after = fix.applied_to(&access);
            assert!(after.endpoint_public_access || after.endpoint_private_access);
            assert_eq!(evaluate(&allowed, &after), Verdict::Compliant, "{cidrs:?}");
        }
    }

    #[test]
    fn decide_table() {
        let nothing_allowed = policy(&[]);
        let open = public(&["0.0.0.0/0"]);
        let private = EndpointAccess {
            endpoint_public_access: false,
            endpoint_private_access: true,
            public_access_cidrs: vec!["0.0.0.0/0".into()],
        };
        let close = EndpointFix::ClosePublicEndpoint;
        let cases = [
            (
                Mode::Enforce,
                false,
                Some(&open),
                &open,
                Action::Revert(close.clone()),
            ),
            (
                Mode::Enforce,
                false,
                None,
                &open,
                Action::Revert(close.clone()),
            ),
            (
                Mode::Report,
                false,
                Some(&open),
                &open,
                Action::WouldRevert(close.clone()),
            ),
            (
                Mode::Enforce,
                true,
                Some(&open),
                &open,
                Action::Exempt(close.clone()),
            ),
            (
                Mode::Report,
                true,
                Some(&open),
                &open,
                Action::Exempt(close.clone()),
            ),
            (
                Mode::Enforce,
                false,
                Some(&open),
                &private,
                Action::AlreadyCompliant,
            ),
            (
                Mode::Enforce,
                true,
                Some(&open),
                &private,
                Action::AlreadyCompliant,
            ),
            (
                Mode::Enforce,
                false,
                Some(&private),
                &private,
                Action::Nothing,
            ),
            (Mode::Enforce, false, None, &private, Action::Nothing),
        ];
        for (mode, exempt, requested, found, expected) in cases {
            let (action, _) = decide(&nothing_allowed, mode, exempt, requested, found);
            assert_eq!(
                action, expected,
                "{mode:?} exempt={exempt} requested={requested:?}"
            );
        }
    }

    #[test]
    fn violation_reason_names_the_offending_ranges() {
        let Verdict::Violation {
            reason,
            disallowed_cidrs,
            ..
        } = evaluate(
            &policy(&["203.0.113.0/24"]),
            &public(&["0.0.0.0/0", "0.0.0.0/0"]),
        )
        else {
            panic!("should violate");
        };
        assert!(reason.contains("0.0.0.0/0"), "{reason}");
        assert_eq!(disallowed_cidrs, vec!["0.0.0.0/0".to_string()]);
    }

    #[test]
    fn an_empty_list_on_a_public_endpoint_is_open_to_the_internet() {
        let empty = public(&[]);
        assert_eq!(empty.public_cidrs(), vec![OPEN_TO_THE_INTERNET]);
        assert_eq!(
            public(&["203.0.113.0/24"]).public_cidrs(),
            vec!["203.0.113.0/24"]
        );
        let verdict = evaluate(&policy(&["203.0.113.0/24"]), &empty);
        assert!(
            matches!(&verdict, Verdict::Violation { disallowed_cidrs, .. } if disallowed_cidrs == &vec![OPEN_TO_THE_INTERNET.to_string()]),
            "{verdict:?}"
        );
    }

    /// Epoch seconds of an RFC 3339 time with `Z`, read by the SDK (not by
    /// the code under test).
    fn at(text: &str) -> i64 {
        aws_sdk_eks::primitives::DateTime::from_str(
            text,
            aws_sdk_eks::primitives::DateTimeFormat::DateTime,
        )
        .unwrap()
        .secs()
    }

    #[test]
    fn exemption_table() {
        let now = at("2026-12-01T10:00:00Z");
        let until = |t: &str| Exemption::Until { end: at(t) };
        let ended = |t: &str| Exemption::Ended { end: at(t) };
        let not = |v: &str| Exemption::NotUnderstood(v.to_string());
        let cases: Vec<(Option<&str>, u32, Exemption)> = vec![
            (None, 30, Exemption::None),
            (Some("true"), 30, Exemption::Forever),
            (Some("TRUE"), 30, Exemption::Forever),
            (Some(" True "), 30, Exemption::Forever),
            (Some("true"), 0, Exemption::Forever),
            (Some("false"), 30, Exemption::None),
            (Some("FALSE"), 30, Exemption::None),
            // A date: the end of that day in UTC.
            (Some("2026-12-24"), 30, until("2026-12-25T00:00:00Z")),
            (Some(" 2026-12-24 "), 30, until("2026-12-25T00:00:00Z")),
            (Some("2026-12-01"), 30, until("2026-12-02T00:00:00Z")),
            (Some("2026-11-30"), 30, ended("2026-12-01T00:00:00Z")),
            (Some("2028-02-29"), 0, until("2028-03-01T00:00:00Z")),
            (Some("2000-02-29"), 30, ended("2000-03-01T00:00:00Z")),
            // A date-time, with Z or an offset.
            (
                Some("2026-12-24T18:00:00Z"),
                30,
                until("2026-12-24T18:00:00Z"),
            ),
            (
                Some("2026-12-24t18:00:00z"),
                30,
                until("2026-12-24T18:00:00Z"),
            ),
            (
                Some("2026-12-24T19:00:00+01:00"),
                30,
                until("2026-12-24T18:00:00Z"),
            ),
            (
                Some("2026-12-24T13:30:00-04:30"),
                30,
                until("2026-12-24T18:00:00Z"),
            ),
            (
                Some("2026-12-24T18:00:00.750Z"),
                30,
                until("2026-12-24T18:00:00Z"),
            ),
            // The end itself is no longer exempt.
            (
                Some("2026-12-01T10:00:00Z"),
                30,
                ended("2026-12-01T10:00:00Z"),
            ),
            (
                Some("2026-12-01T11:00:00+01:00"),
                30,
                ended("2026-12-01T10:00:00Z"),
            ),
            (
                Some("2020-01-01T00:00:00Z"),
                30,
                ended("2020-01-01T00:00:00Z"),
            ),
            // MAX_EXEMPTION_DAYS: exactly that far is honoured, a second more is not.
            (
                Some("2026-12-31T10:00:00Z"),
                30,
                until("2026-12-31T10:00:00Z"),
            ),
            (
                Some("2026-12-31T10:00:01Z"),
                30,
                Exemption::TooFar {
                    end: at("2026-12-31T10:00:01Z"),
                    max_days: 30,
                },
            ),
            (
                Some("2027-06-01"),
                30,
                Exemption::TooFar {
                    end: at("2027-06-02T00:00:00Z"),
                    max_days: 30,
                },
            ),
            (Some("2027-06-01"), 365, until("2027-06-02T00:00:00Z")),
            // 0: no limit.
            (Some("2027-06-01"), 0, until("2027-06-02T00:00:00Z")),
            (
                Some("2099-12-31T23:59:59Z"),
                0,
                until("2099-12-31T23:59:59Z"),
            ),
            (Some("2020-01-01"), 0, ended("2020-01-02T00:00:00Z")),
            // Anything else exempts nobody.
            (Some("yes"), 30, not("yes")),
            (Some("1"), 30, not("1")),
            (Some("tru"), 30, not("tru")),
            (Some(""), 30, not("")),
            (Some("   "), 30, not("")),
            (Some("2027-02-29"), 30, not("2027-02-29")),
            (Some("2100-02-29"), 0, not("2100-02-29")),
            (Some("2026-13-01"), 30, not("2026-13-01")),
            (Some("2026-12-32"), 30, not("2026-12-32")),
            (Some("2026-12-00"), 30, not("2026-12-00")),
            (Some("2026-1-24"), 30, not("2026-1-24")),
            (Some("24/12/2026"), 30, not("24/12/2026")),
            (Some("+2026-12-24"), 30, not("+2026-12-24")),
            // No offset: no instant.
            (Some("2026-12-24T18:00:00"), 30, not("2026-12-24T18:00:00")),
            (
                Some("2026-12-24 18:00:00Z"),
                30,
                not("2026-12-24 18:00:00Z"),
            ),
            (Some("2026-12-24T18:00Z"), 30, not("2026-12-24T18:00Z")),
            (
                Some("2026-12-24T25:00:00Z"),
                30,
                not("2026-12-24T25:00:00Z"),
            ),
            (Some("2026-12-24Z"), 30, not("2026-12-24Z")),
            (Some("1798761600"), 30, not("1798761600")),
        ];
        for (value, max_days, expected) in cases {
            let got = exemption(value, now, max_days);
            assert_eq!(
                got, expected,
                "{value:?} with MAX_EXEMPTION_DAYS={max_days}"
            );
            assert_eq!(
                got.is_active(),
                matches!(expected, Exemption::Forever | Exemption::Until { .. }),
                "{value:?}"
            );
        }
    }

    #[test]
    fn exemptions_say_their_end_or_why_they_do_not_count() {
        let now = at("2026-12-01T10:00:00Z");
        let says = |value: &str, max_days: u32| {
            let e = exemption(Some(value), now, max_days);
            (e.describe(), e.note().unwrap_or_default(), e.state())
        };
        let (clause, note, state) = says("2026-12-24T19:00:00+01:00", 30);
        assert_eq!(clause, "exempt until 2026-12-24T18:00:00Z");
        assert_eq!(note, "Exempt until 2026-12-24T18:00:00Z.");
        assert_eq!(state, "until");
        assert_eq!(
            says("2026-12-24", 30).0,
            "exempt until 2026-12-25T00:00:00Z"
        );
        assert_eq!(
            says("true", 30),
            (
                "exempt with no end".into(),
                "Exempt with no end.".into(),
                "forever"
            )
        );
        let (_, note, state) = says("2026-11-30T18:00:00Z", 30);
        assert_eq!(
            note,
            "The exemption ended on 2026-11-30T18:00:00Z: the cluster is judged like any other."
        );
        assert_eq!(state, "ended");
        let (clause, note, state) = says("2027-06-01", 30);
        assert!(
            clause.contains("2027-06-02T00:00:00Z")
                && clause.contains("more than 30 days ahead")
                && clause.contains("MAX_EXEMPTION_DAYS")
                && clause.contains("not honoured")
                && clause.contains("from 2027-05-03T00:00:00Z"),
            "{clause}"
        );
        assert!(
            note.ends_with(": the cluster is judged like any other."),
            "{note}"
        );
        assert_eq!(state, "too-far");
        let (clause, note, state) = says("yes", 30);
        assert!(
            clause.contains("`yes` was not understood") && clause.contains("`true`"),
            "{clause}"
        );
        assert!(note.starts_with("The exempt tag's value `yes`"), "{note}");
        assert_eq!(state, "not-understood");
        assert!(says("", 30).0.contains("(empty) was not understood"));
        assert_eq!(exemption(Some("false"), now, 30).note(), None);
        assert_eq!(exemption(None, now, 30).state(), "none");
        assert_eq!(
            exemption(Some("2026-12-24"), now, 30).end(),
            Some(at("2026-12-25T00:00:00Z"))
        );
        assert_eq!(exemption(Some("true"), now, 30).end(), None);
    }

    #[test]
    fn the_calendar_agrees_with_the_sdk() {
        // Every day from 1900 to 2200, and the formatting of its times.
        let first = at("1900-01-01T00:00:00Z") / DAY;
        let last = at("2200-01-01T00:00:00Z") / DAY;
        for day in first..=last {
            let (year, month, date) = civil_from_days(day);
            assert_eq!(days_from_civil(year, month, date), day);
            let text = rfc3339(day * DAY + 12 * 3600 + 34 * 60 + 56);
            assert_eq!(at(&text), day * DAY + 45_296, "{text}");
            assert_eq!(parse_date(&text[..10]), Some(day), "{text} read as a date");
        }
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(-1), "1969-12-31T23:59:59Z");
    }

    #[test]
    fn a_fix_is_satisfied_only_by_what_it_sets() {
        let closed = EndpointAccess {
            endpoint_public_access: false,
            endpoint_private_access: true,
            public_access_cidrs: vec![OPEN_TO_THE_INTERNET.into()],
        };
        assert!(EndpointFix::ClosePublicEndpoint.is_satisfied_by(&closed));
        assert!(!EndpointFix::ClosePublicEndpoint.is_satisfied_by(&public(&["0.0.0.0/0"])));
        let narrow = EndpointFix::RestrictPublicCidrs(vec!["203.0.113.0/24".into()]);
        assert!(narrow.is_satisfied_by(&public(&["203.0.113.0/24"])));
        assert!(!narrow.is_satisfied_by(&public(&["203.0.113.0/25"])));
        assert!(!narrow.is_satisfied_by(&closed));
        for fix in [EndpointFix::ClosePublicEndpoint, narrow] {
            let current = public(&["0.0.0.0/0", "203.0.113.0/24"]);
            assert!(fix.is_satisfied_by(&fix.applied_to(&current)), "{fix:?}");
        }
    }
}
