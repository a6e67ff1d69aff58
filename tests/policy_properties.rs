//! Properties of the policy over generated settings: whatever EKS or a
//! request holds, the fix complies, never widens, never turns both endpoints
//! off, and is a fixed point. Whatever the exempt tag holds, only `true` or
//! an end ahead within the limit exempts, and an end is read as the instant
//! it names, whatever its offset.

use eks_endpoint_guard::policy::{
    EndpointAccess, Exemption, Policy, Verdict, evaluate, exemption, rfc3339,
};
use ipnet::IpNet;
use proptest::prelude::*;

/// Ranges that often nest inside each other and the allowed ones: a few
/// networks with prefixes of every length, some IPv6, and some junk.
fn cidr() -> impl Strategy<Value = String> {
    prop_oneof![
        (
            prop_oneof![
                Just([10u8, 0, 0, 0]),
                Just([203, 0, 113, 0]),
                Just([198, 51, 100, 0]),
                Just([0, 0, 0, 0])
            ],
            0u8..=32,
            any::<u8>()
        )
            .prop_map(|(base, prefix, host)| format!(
                "{}.{}.{}.{}/{prefix}",
                base[0], base[1], base[2], host
            )),
        (
            prop_oneof![Just("2001:db8::"), Just("2001:db8:1::"), Just("::")],
            0u8..=128
        )
            .prop_map(|(base, prefix)| format!("{base}/{prefix}")),
        Just("not-a-cidr".to_string()),
        Just("0.0.0.0/0".to_string()),
    ]
}

fn access() -> impl Strategy<Value = EndpointAccess> {
    (
        any::<bool>(),
        any::<bool>(),
        prop::collection::vec(cidr(), 0..=40),
    )
        .prop_map(|(public, private, cidrs)| EndpointAccess {
            endpoint_public_access: public,
            endpoint_private_access: private,
            public_access_cidrs: cidrs,
        })
}

fn policy() -> impl Strategy<Value = Policy> {
    prop::collection::vec(cidr(), 0..=4).prop_map(|cidrs| Policy {
        allowed_public_cidrs: cidrs
            .iter()
            .filter_map(|c| c.parse::<IpNet>().ok())
            .collect(),
    })
}

const DAY: i64 = 86_400;

/// An instant from 1970 to 2100, in epoch seconds.
fn instant() -> impl Strategy<Value = i64> {
    0i64..4_102_444_800
}

/// `instant` written in local time at an offset of `minutes` east of UTC.
fn with_offset(instant: i64, minutes: i64) -> String {
    let local = rfc3339(instant + minutes * 60);
    let sign = if minutes < 0 { '-' } else { '+' };
    let m = minutes.abs();
    format!("{}{sign}{:02}:{:02}", &local[..19], m / 60, m % 60)
}

/// What people put in the exempt tag: ends in every form, the words, and junk.
fn tag_value() -> impl Strategy<Value = String> {
    prop_oneof![
        (instant(), -14 * 60i64..=14 * 60).prop_map(|(t, m)| with_offset(t, m)),
        instant().prop_map(rfc3339),
        instant().prop_map(|t| rfc3339(t)[..10].to_string()),
        prop::sample::select(vec!["true", "TRUE", " true ", "false", "yes", "1", ""])
            .prop_map(str::to_string),
        "[0-9T:+Z-]{0,26}",
        any::<String>(),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn only_true_or_an_end_ahead_within_the_limit_exempts(
        value in tag_value(),
        now in instant(),
        max_days in prop_oneof![Just(0u32), 1u32..400],
    ) {
        let read = exemption(Some(&value), now, max_days);
        let limit = if max_days == 0 { i64::MAX } else { i64::from(max_days) * DAY };
        match &read {
            Exemption::Forever => prop_assert!(value.trim().eq_ignore_ascii_case("true")),
            Exemption::Until { end } => prop_assert!(*end > now && end - now <= limit),
            Exemption::Ended { end } => prop_assert!(*end <= now),
            Exemption::TooFar { end, max_days: m } => {
                prop_assert!(end - now > limit);
                prop_assert_eq!(*m, max_days);
            }
            Exemption::None => prop_assert!(value.trim().eq_ignore_ascii_case("false")),
            Exemption::NotUnderstood(v) => prop_assert_eq!(v.as_str(), value.trim()),
        }
        prop_assert_eq!(read.is_active(), matches!(read, Exemption::Forever | Exemption::Until { .. }));
    }

    #[test]
    fn an_end_is_the_instant_it_names_whatever_its_offset(
        end in instant(),
        minutes in -14 * 60i64..=14 * 60,
        now in instant(),
    ) {
        let read = exemption(Some(&with_offset(end, minutes)), now, 0);
        prop_assert_eq!(read.end(), Some(end), "{}", with_offset(end, minutes));
        // A date ends at the next midnight UTC.
        let date = &rfc3339(end)[..10];
        let day_end = (end.div_euclid(DAY) + 1) * DAY;
        prop_assert_eq!(exemption(Some(date), now, 0).end(), Some(day_end));
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn the_fix_complies_and_is_a_fixed_point(policy in policy(), found in access()) {
        if let Verdict::Violation { fix, .. } = evaluate(&policy, &found) {
            let after = fix.applied_to(&found);
            // Compliant means the policy, applied to its own fix, asks for nothing more.
            prop_assert_eq!(evaluate(&policy, &after), Verdict::Compliant);
        }
    }

    #[test]
    fn the_fix_never_disables_both_endpoints(policy in policy(), found in access()) {
        if let Verdict::Violation { fix, .. } = evaluate(&policy, &found) {
            let after = fix.applied_to(&found);
            prop_assert!(after.endpoint_public_access || after.endpoint_private_access);
        }
    }

    #[test]
    fn the_fix_never_widens(policy in policy(), found in access()) {
        if let Verdict::Violation { fix, .. } = evaluate(&policy, &found) {
            let after = fix.applied_to(&found);
            if after.endpoint_public_access {
                // Still public: only entries that were there, and no more of them.
                prop_assert!(found.endpoint_public_access);
                for cidr in &after.public_access_cidrs {
                    prop_assert!(found.public_access_cidrs.iter().any(|c| c.trim() == cidr));
                }
                prop_assert!(after.public_access_cidrs.len() <= found.public_access_cidrs.len());
                prop_assert!(!after.public_access_cidrs.is_empty(), "an empty list would mean 0.0.0.0/0");
            }
        }
    }

    #[test]
    fn a_private_endpoint_always_complies(policy in policy(), mut found in access()) {
        found.endpoint_public_access = false;
        prop_assert_eq!(evaluate(&policy, &found), Verdict::Compliant);
    }
}
