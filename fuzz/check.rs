//! The property the fuzzer (and `tests/fuzz_smoke.rs`) checks on any input:
//! whatever bytes arrive, parsing answers without panicking, and for every
//! cluster change the decision keeps the policy's promises and the alert
//! renders within SNS's limits.

use eks_endpoint_guard::alert::{self, Acted, Judged};
use eks_endpoint_guard::event::{Trigger, parse};
use eks_endpoint_guard::policy::{Action, EndpointAccess, Mode, Policy, Verdict, decide, evaluate};
use serde_json::Value;

pub fn decision_path(data: &[u8]) {
    // What lambda_runtime does with the payload before the handler sees it.
    let Ok(payload) = serde_json::from_slice::<Value>(data) else {
        return;
    };
    let Ok(Trigger::ClusterChange(change)) = parse(&payload) else {
        return;
    };
    let policies = [
        Policy::default(),
        Policy {
            allowed_public_cidrs: vec![
                "203.0.113.0/24".parse().expect("static CIDR"),
                "2001:db8::/32".parse().expect("static CIDR"),
            ],
        },
    ];
    let mut states = vec![
        EndpointAccess {
            endpoint_public_access: true,
            endpoint_private_access: false,
            public_access_cidrs: vec!["0.0.0.0/0".to_string()],
        },
        EndpointAccess {
            endpoint_public_access: false,
            endpoint_private_access: true,
            public_access_cidrs: vec!["0.0.0.0/0".to_string()],
        },
    ];
    // The cluster as the call asked for it: what EKS shows once it applied.
    states.extend(change.requested.clone());
    for policy in &policies {
        for found in &states {
            for (mode, exempt) in [
                (Mode::Enforce, false),
                (Mode::Report, false),
                (Mode::Enforce, true),
            ] {
                let (action, verdict) =
                    decide(policy, mode, exempt, change.requested.as_ref(), found);
                if let Verdict::Violation { fix, .. } = &verdict {
                    let after = fix.applied_to(found);
                    assert_eq!(
                        evaluate(policy, &after),
                        Verdict::Compliant,
                        "the fix complies"
                    );
                    assert!(
                        after.endpoint_public_access || after.endpoint_private_access,
                        "never both endpoints off"
                    );
                }
                if exempt {
                    assert!(
                        !matches!(action, Action::Revert(_)),
                        "an exempt cluster is never changed"
                    );
                }
                if action == Action::Nothing {
                    continue;
                }
                let arn = alert::cluster_arn(&change, None, "aws");
                let finding = alert::finding(
                    &change,
                    Judged {
                        cluster_arn: &arn,
                        status: "ACTIVE",
                        found: Some(found),
                        verdict: &verdict,
                        action: &action,
                        stack: Some("a-stack"),
                    },
                    mode,
                    &Acted {
                        update_id: Some("u".to_string()),
                        ..Acted::default()
                    },
                );
                let subject = alert::subject(&finding);
                assert!(subject.len() <= alert::MAX_SUBJECT_LEN, "subject too long");
                assert!(
                    subject.is_ascii() && !subject.contains('\n'),
                    "SNS subject rules"
                );
                let message = alert::message(&finding).expect("the alert renders");
                let views: Value = serde_json::from_str(&message).expect("the views are JSON");
                assert!(views["default"].is_string(), "SNS needs a default view");
            }
        }
    }
}
