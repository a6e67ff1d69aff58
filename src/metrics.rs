//! CloudWatch metrics without an API call: one line per invocation in the
//! Embedded Metric Format, which CloudWatch Logs turns into metrics in the
//! `EksEndpointGuard` namespace (dimension `Service`). Pure: the caller prints.

use serde_json::{Value, json};

use crate::error::GuardError;
use crate::guard::Answer;
use crate::outcome::Outcome;

pub const NAMESPACE: &str = "EksEndpointGuard";

/// What one invocation counts for.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct InvocationMetrics {
    pub events_seen: u32,
    /// Clusters found (or asked) to break the policy: reverted, reported,
    /// exempt, already compliant again, or whose revert failed.
    pub violations: u32,
    pub reverts: u32,
    /// Reverts EKS accepted and then did not apply.
    pub reverts_failed: u32,
    pub alerts: u32,
    pub failures: u32,
    pub clusters_swept: u32,
    /// Clusters a sweep left for the next one (busy, or not reached in time).
    pub clusters_pending: u32,
    /// From the CloudTrail event's time to the revert request.
    pub event_to_revert_seconds: Option<f64>,
    /// 1 when a sweep invocation (a whole sweep, or one slice) finished all
    /// of its accounts and regions: the heartbeat.
    pub sweep_completed: u32,
    /// The slices a sweep was cut into: those a coordinator handed out, or 1
    /// for a sweep done in one invocation. A sweep is whole when the
    /// `SweepCompleted` of its period add up to its `SweepSlices`.
    pub sweep_slices: u32,
}

/// Counts an invocation by its result.
pub fn measure(result: &Result<Answer, GuardError>) -> InvocationMetrics {
    let mut metrics = InvocationMetrics {
        events_seen: 1,
        ..InvocationMetrics::default()
    };
    let answer = match result {
        Ok(answer) => answer,
        Err(error) => {
            metrics.failures = 1;
            if matches!(error, GuardError::RevertFailed { .. }) {
                metrics.violations = 1;
                metrics.reverts_failed = 1;
            }
            return metrics;
        }
    };
    if let Some(sweep) = &answer.sweep {
        if sweep.slices_handed_out > 0 {
            metrics.sweep_slices = sweep.slices_handed_out as u32;
            return metrics;
        }
        metrics.sweep_completed = 1;
        metrics.sweep_slices = u32::from(sweep.slice.is_none());
        metrics.clusters_swept = sweep.seen as u32;
        metrics.clusters_pending = sweep.pending.len() as u32;
        metrics.reverts = sweep.reverted as u32;
        metrics.violations = (sweep.reverted + sweep.reported + sweep.exempt) as u32;
        metrics.alerts = (sweep.reverted + sweep.reported) as u32;
        return metrics;
    }
    metrics.violations = u32::from(answer.outcomes().any(Outcome::is_violation));
    metrics.reverts = u32::from(answer.outcomes().any(|o| o == Outcome::Reverted));
    metrics.alerts = u32::from(answer.alert_message_id.is_some());
    metrics.event_to_revert_seconds = answer.event_to_revert_seconds;
    metrics
}

/// The EMF document for one invocation, as one JSON line.
pub fn emf_line(metrics: &InvocationMetrics, timestamp_ms: u64) -> String {
    let count = |name, value: u32| (name, "Count", json!(value));
    let mut values = vec![
        count("EventsSeen", metrics.events_seen),
        count("Violations", metrics.violations),
        count("Reverts", metrics.reverts),
        count("Alerts", metrics.alerts),
        count("Failures", metrics.failures),
        count("ClustersSwept", metrics.clusters_swept),
        count("RevertsFailed", metrics.reverts_failed),
        count("ClustersPending", metrics.clusters_pending),
        count("SweepCompleted", metrics.sweep_completed),
        count("SweepSlices", metrics.sweep_slices),
    ];
    if let Some(seconds) = metrics.event_to_revert_seconds {
        values.push(("EventToRevertSeconds", "Seconds", json!(seconds)));
    }
    emf_document(&values, timestamp_ms)
}

/// One EMF document: `(name, unit, value)` metrics in the guard's
/// namespace, dimension `Service`.
fn emf_document(values: &[(&str, &str, Value)], timestamp_ms: u64) -> String {
    let mut document = json!({
        "_aws": {
            "Timestamp": timestamp_ms,
            "CloudWatchMetrics": [{
                "Namespace": NAMESPACE,
                "Dimensions": [["Service"]],
                "Metrics": values
                    .iter()
                    .map(|(name, unit, _)| json!({"Name": name, "Unit": unit}))
                    .collect::<Vec<Value>>(),
            }],
        },
        "Service": "eks-endpoint-guard",
    });
    for (name, _, value) in values {
        document[*name] = value.clone();
    }
    document.to_string()
}

/// The EMF document of one check of the guard's own wiring: `GuardImpaired`,
/// the number of problems found (0: whole). Its own line, printed by the
/// sweep when it checks, so that it counts even when the sweep then fails,
/// and only sweeps that checked report it (an alarm on `Maximum > 0`).
pub fn impaired_emf_line(problems: usize, timestamp_ms: u64) -> String {
    emf_document(&[("GuardImpaired", "Count", json!(problems))], timestamp_ms)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_wiring_check_counts_its_problems_in_a_line_of_its_own() {
        let line: Value = serde_json::from_str(&impaired_emf_line(3, 7)).unwrap();
        assert_eq!(line["GuardImpaired"], 3);
        assert_eq!(line["Service"], "eks-endpoint-guard");
        assert_eq!(line["_aws"]["Timestamp"], 7);
        let declared = &line["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(declared["Namespace"], NAMESPACE);
        assert_eq!(declared["Metrics"][0]["Name"], "GuardImpaired");
        assert!(emf_line(&InvocationMetrics::default(), 7).contains("\"SweepSlices\""));
        assert!(!emf_line(&InvocationMetrics::default(), 7).contains("GuardImpaired"));
    }

    fn swept(summary: SweepSummary) -> InvocationMetrics {
        measure(&Ok(Answer {
            sweep: Some(summary),
            ..Answer::new(Outcome::Swept, None, "swept")
        }))
    }

    use crate::guard::SweepSummary;

    #[test]
    fn a_finished_sweep_is_a_heartbeat_and_a_slice_of_itself() {
        let whole = swept(SweepSummary::default());
        assert_eq!((whole.sweep_completed, whole.sweep_slices), (1, 1));
        // A slice completes its part; the coordinator counted it already.
        let slice = swept(SweepSummary {
            slice: Some("3/40".into()),
            ..SweepSummary::default()
        });
        assert_eq!((slice.sweep_completed, slice.sweep_slices), (1, 0));
        let coordinator = swept(SweepSummary {
            slices_handed_out: 40,
            ..SweepSummary::default()
        });
        assert_eq!(
            (coordinator.sweep_completed, coordinator.sweep_slices),
            (0, 40)
        );
        // A sweep that left work fails: no heartbeat.
        let incomplete = measure(&Err(GuardError::SweepIncomplete {
            failed: 1,
            seen: 0,
            first: "x".into(),
        }));
        assert_eq!(incomplete.sweep_completed, 0);
        let line: Value = serde_json::from_str(&emf_line(&whole, 1)).unwrap();
        assert_eq!(line["SweepCompleted"], 1);
        let names = &line["_aws"]["CloudWatchMetrics"][0]["Metrics"];
        assert!(
            names
                .as_array()
                .unwrap()
                .iter()
                .any(|m| m["Name"] == "SweepSlices")
        );
    }

    #[test]
    fn a_revert_counts_everywhere_and_carries_its_latency() {
        let answer = Answer {
            update_id: Some("u".into()),
            alert_message_id: Some("m".into()),
            event_to_revert_seconds: Some(4.5),
            ..Answer::new(Outcome::Reverted, Some("c"), "r")
        };
        let metrics = measure(&Ok(answer));
        assert_eq!(
            (
                metrics.events_seen,
                metrics.violations,
                metrics.reverts,
                metrics.alerts,
                metrics.failures
            ),
            (1, 1, 1, 1, 0)
        );
        let line: Value = serde_json::from_str(&emf_line(&metrics, 1_700_000_000_000)).unwrap();
        assert_eq!(line["_aws"]["CloudWatchMetrics"][0]["Namespace"], NAMESPACE);
        assert_eq!(line["Reverts"], 1);
        assert_eq!(line["EventToRevertSeconds"], 4.5);
        let declared: Vec<&str> = line["_aws"]["CloudWatchMetrics"][0]["Metrics"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["Name"].as_str().unwrap())
            .collect();
        for name in declared {
            assert!(line[name].is_number(), "{name} declared without a value");
        }
    }

    #[test]
    fn a_failure_and_an_ignored_event_count_as_such() {
        let failed = measure(&Err(GuardError::DeadlineExceeded {
            cluster: "c".into(),
            waiting_for: "x".into(),
        }));
        assert_eq!((failed.failures, failed.reverts), (1, 0));
        let ignored = measure(&Ok(Answer::new(Outcome::Ignored, None, "not for us")));
        assert_eq!(
            (ignored.events_seen, ignored.violations, ignored.alerts),
            (1, 0, 0)
        );
        let line: Value = serde_json::from_str(&emf_line(&ignored, 0)).unwrap();
        assert!(line.get("EventToRevertSeconds").is_none());
    }

    #[test]
    fn a_revoked_exemption_that_reverts_counts_the_revert_and_the_violation() {
        let answer = Answer {
            update_id: Some("u".into()),
            then: Some(Outcome::Reverted),
            alert_message_id: Some("m".into()),
            ..Answer::new(Outcome::ExemptionRevoked, Some("c"), "r")
        };
        let metrics = measure(&Ok(answer));
        assert_eq!((metrics.violations, metrics.reverts), (1, 1));
        let granted = measure(&Ok(Answer::new(Outcome::ExemptionGranted, Some("c"), "r")));
        assert_eq!((granted.violations, granted.reverts), (0, 0));
    }

    #[test]
    fn a_failed_revert_is_a_violation_a_failure_and_a_failed_revert() {
        let metrics = measure(&Err(GuardError::RevertFailed {
            cluster: "c".into(),
            update_id: "u".into(),
            status: "Failed".into(),
            errors: "AccessDenied: no".into(),
        }));
        assert_eq!(
            (metrics.failures, metrics.violations, metrics.reverts_failed),
            (1, 1, 1)
        );
        let line: Value = serde_json::from_str(&emf_line(&metrics, 0)).unwrap();
        assert_eq!(line["RevertsFailed"], 1);
        assert_eq!(line["ClustersPending"], 0);
    }
}
