//! Properties of the policy over generated settings: whatever EKS or a
//! request holds, the fix complies, never widens, never turns both endpoints
//! off, and is a fixed point.

use eks_endpoint_guard::policy::{EndpointAccess, Policy, Verdict, evaluate};
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
