//! The one typed outcome that the guard answers with, the alert names and the
//! metrics count, so the three cannot drift apart.

use serde::{Deserialize, Serialize};

/// What became of one cluster (or one invocation, for `Ignored` and `Swept`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Outcome {
    /// Not for the guard, or nothing to do.
    Ignored,
    /// The guard's own revert coming back as an event.
    OwnChange,
    /// Nothing requested or found breaks the policy.
    Compliant,
    /// Deleted, `DELETING` or `FAILED`: no endpoint left to protect.
    ClusterGone,
    /// The guard started a revert (and, on the event path, saw it succeed).
    Reverted,
    /// The guard's revert ended `Failed` or `Cancelled`: the endpoint is
    /// still open.
    RevertFailed,
    /// Report mode: a violation alerted, nothing changed.
    WouldRevert,
    /// A violation on an exempt cluster: alerted, never changed.
    Exempt,
    /// The call asked for a breach, but the cluster complies by the time the
    /// guard looks.
    AlreadyCompliant,
    /// The exempt tag was put on a cluster.
    ExemptionGranted,
    /// The exempt tag was taken off (or no longer exempts).
    ExemptionRevoked,
    /// A change in an account or region the guard cannot act in.
    NotHandled,
    /// The scheduled sweep ran.
    Swept,
    /// The sweep could not reach some accounts or regions, or judge some
    /// clusters (its own alert).
    SweepIncomplete,
    /// The sweep found the guard's own wiring broken (its rules, reserved
    /// concurrency, topic, alarms or trail): its own alert.
    GuardImpaired,
    /// The cluster was still busy near the deadline: the wait goes on in a
    /// fresh invocation.
    HandedOff,
}

impl Outcome {
    /// The kebab-case name used in answers, alerts, attributes and logs.
    pub fn label(self) -> &'static str {
        match self {
            Outcome::Ignored => "ignored",
            Outcome::OwnChange => "own-change",
            Outcome::Compliant => "compliant",
            Outcome::ClusterGone => "cluster-gone",
            Outcome::Reverted => "reverted",
            Outcome::RevertFailed => "revert-failed",
            Outcome::WouldRevert => "would-revert",
            Outcome::Exempt => "exempt",
            Outcome::AlreadyCompliant => "already-compliant",
            Outcome::ExemptionGranted => "exemption-granted",
            Outcome::ExemptionRevoked => "exemption-revoked",
            Outcome::NotHandled => "not-handled",
            Outcome::Swept => "swept",
            Outcome::HandedOff => "handed-off",
            Outcome::SweepIncomplete => "sweep-incomplete",
            Outcome::GuardImpaired => "guard-impaired",
        }
    }

    /// The cluster broke the policy, or the call asked it to: counted in the
    /// `Violations` metric.
    pub fn is_violation(self) -> bool {
        matches!(
            self,
            Outcome::Reverted
                | Outcome::RevertFailed
                | Outcome::WouldRevert
                | Outcome::Exempt
                | Outcome::AlreadyCompliant
        )
    }
}

impl std::fmt::Display for Outcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.label())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALL: [Outcome; 16] = [
        Outcome::Ignored,
        Outcome::OwnChange,
        Outcome::Compliant,
        Outcome::ClusterGone,
        Outcome::Reverted,
        Outcome::RevertFailed,
        Outcome::WouldRevert,
        Outcome::Exempt,
        Outcome::AlreadyCompliant,
        Outcome::ExemptionGranted,
        Outcome::ExemptionRevoked,
        Outcome::NotHandled,
        Outcome::Swept,
        Outcome::HandedOff,
        Outcome::SweepIncomplete,
        Outcome::GuardImpaired,
    ];

    #[test]
    fn the_label_is_the_serialised_name() {
        for outcome in ALL {
            assert_eq!(
                serde_json::to_value(outcome).unwrap(),
                serde_json::Value::String(outcome.label().to_string())
            );
            let back: Outcome = serde_json::from_value(serde_json::json!(outcome.label())).unwrap();
            assert_eq!(back, outcome);
        }
    }

    #[test]
    fn only_breaches_count_as_violations() {
        let violations: Vec<&str> = ALL
            .iter()
            .filter(|o| o.is_violation())
            .map(|o| o.label())
            .collect();
        assert_eq!(
            violations,
            [
                "reverted",
                "revert-failed",
                "would-revert",
                "exempt",
                "already-compliant"
            ]
        );
    }
}
