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

/// Whether an exempt tag's value exempts the cluster: `true` in any case,
/// blanks around it ignored; anything else does not.
pub fn exempts(tag_value: &str) -> bool {
    tag_value.trim().eq_ignore_ascii_case("true")
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

impl Action {
    pub fn label(&self) -> &'static str {
        match self {
            Action::Nothing => "none",
            Action::Revert(_) => "reverted",
            Action::WouldRevert(_) => "would-revert",
            Action::Exempt(_) => "exempt",
            Action::AlreadyCompliant => "already-compliant",
        }
    }
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

    #[test]
    fn only_true_exempts() {
        for value in ["true", "TRUE", " True "] {
            assert!(exempts(value), "{value}");
        }
        for value in ["false", "", "yes", "1", "tru"] {
            assert!(!exempts(value), "{value}");
        }
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
