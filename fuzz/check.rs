//! The property the fuzzer (and `tests/fuzz_smoke.rs`) checks on any input:
//! whatever bytes arrive, parsing answers without panicking, and for every
//! cluster change the decision keeps the policy's promises and the alert
//! renders within SNS's limits; whatever value a tag call sets, the exempt
//! tag's reading keeps its promises too.

use eks_endpoint_guard::alert::{self, Acted, ExemptionRef, Judged};
use eks_endpoint_guard::event::{ClusterChange, Trigger, parse};
use eks_endpoint_guard::policy::{
    Action, EndpointAccess, Exemption, Mode, Policy, Verdict, decide, evaluate, exemption,
};
use serde_json::Value;

const TAG: &str = "eks-endpoint-guard/exempt";
/// 2026-12-01T10:00:00Z: the moment exemptions are judged at.
const NOW: i64 = 1_796_119_200;
const DAY: i64 = 86_400;

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
    // Every value the call sets, read as the exempt tag's, with and without
    // a limit; and the plain `true`.
    let mut exemptions = vec![ExemptionRef::new(TAG, "true", &Exemption::Forever)];
    for (_, value) in change.tag_edit.iter().flat_map(|edit| &edit.set) {
        for max_days in [0, 30] {
            let read = exemption(Some(value), NOW, max_days);
            exemption_keeps_its_promises(&read, max_days);
            tamper_alert_renders(&change, value, &read, &states[0]);
            exemptions.push(ExemptionRef::new(TAG, value, &read));
        }
    }
    for policy in &policies {
        for found in &states {
            let read = exemptions.iter().map(Some);
            let cases = [(Mode::Enforce, None), (Mode::Report, None)]
                .into_iter()
                .chain(read.map(|e| (Mode::Enforce, e)));
            for (mode, tag) in cases {
                let exempt = tag.is_some_and(|e| matches!(e.state.as_str(), "forever" | "until"));
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
                        exemption: tag,
                        stack: Some("a-stack"),
                    },
                    mode,
                    &Acted {
                        update_id: Some("u".to_string()),
                        ..Acted::default()
                    },
                );
                renders_within_sns_limits(&finding);
            }
        }
    }
}

/// Only `true` and an end ahead within the limit exempt; every reading but
/// "no exemption" has a sentence for people.
fn exemption_keeps_its_promises(read: &Exemption, max_days: u32) {
    let limit = if max_days == 0 {
        i64::MAX
    } else {
        i64::from(max_days) * DAY
    };
    match read {
        Exemption::Until { end } => assert!(*end > NOW && end - NOW <= limit, "{read:?}"),
        Exemption::Ended { end } => assert!(*end <= NOW, "{read:?}"),
        Exemption::TooFar { end, .. } => assert!(end - NOW > limit, "{read:?}"),
        Exemption::None | Exemption::Forever | Exemption::NotUnderstood(_) => {}
    }
    assert_eq!(
        read.is_active(),
        matches!(read, Exemption::Forever | Exemption::Until { .. })
    );
    assert_eq!(read.note().is_none(), *read == Exemption::None, "{read:?}");
}

/// The tamper alert for the value renders, and only an exemption that counts
/// is told as granted.
fn tamper_alert_renders(
    change: &ClusterChange,
    value: &str,
    read: &Exemption,
    found: &EndpointAccess,
) {
    let arn = alert::cluster_arn(change, None, "aws");
    let verdict = evaluate(&Policy::default(), found);
    let finding = alert::exemption_finding(
        change,
        &arn,
        TAG,
        Some((value, read)),
        Some(("ACTIVE", found, &verdict)),
        Mode::Enforce,
    );
    assert_eq!(
        finding.outcome == eks_endpoint_guard::outcome::Outcome::ExemptionGranted,
        read.is_active()
    );
    renders_within_sns_limits(&finding);
}

fn renders_within_sns_limits(finding: &alert::Finding) {
    let subject = alert::subject(finding);
    assert!(subject.len() <= alert::MAX_SUBJECT_LEN, "subject too long");
    assert!(
        subject.is_ascii() && !subject.contains('\n'),
        "SNS subject rules"
    );
    let message = alert::message(finding).expect("the alert renders");
    let views: Value = serde_json::from_str(&message).expect("the views are JSON");
    assert!(views["default"].is_string(), "SNS needs a default view");
}
