//! The sweep's own alert: the accounts and regions it could not reach and
//! the clusters it could not judge. A security control that silently skips
//! an account (a remediation role missing in a new account, an
//! Organizations permission taken away) teaches people that everything is
//! guarded when it is not. Pure, but for the publish.

use crate::alert::MAX_SUBJECT_LEN;
use crate::alert::operational::{Card, Operational, OperationalAlert};
use crate::outcome::Outcome;
use serde::{Deserialize, Serialize};

pub const SWEEP_SCHEMA: &str = "eks-endpoint-guard/sweep/v1";

/// The machine view (`sqs`, `lambda`, `default`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SweepProblems {
    pub schema: String,
    pub outcome: Outcome,
    /// The account the sweep ran in, and its region.
    pub account: String,
    pub region: String,
    pub sweep_time: Option<String>,
    /// Clusters seen and judged, for scale.
    pub seen: usize,
    /// One line each: `<account>/<region>: <what failed>` or
    /// `<account>/<region>/<cluster>: <what failed>`.
    pub failed: Vec<String>,
}

impl SweepProblems {
    pub fn new(
        account: &str,
        region: &str,
        sweep_time: Option<&str>,
        seen: usize,
        failed: &[String],
    ) -> SweepProblems {
        SweepProblems {
            schema: SWEEP_SCHEMA.to_string(),
            outcome: Outcome::SweepIncomplete,
            account: account.to_string(),
            region: region.to_string(),
            sweep_time: sweep_time.map(str::to_string),
            seen,
            failed: failed.to_vec(),
        }
    }

    pub fn subject(&self) -> String {
        let text = format!(
            "[EKS guard] Sweep INCOMPLETE: {} problem(s), clusters there are NOT guarded",
            self.failed.len()
        );
        text.chars().take(MAX_SUBJECT_LEN).collect()
    }
}

impl OperationalAlert for SweepProblems {
    fn operational(&self) -> Operational<'_> {
        Operational::new(Outcome::SweepIncomplete, &self.account, &self.region)
    }

    fn email_text(&self) -> String {
        let mut lines = vec![
            "The scheduled sweep could not reach or judge everything it guards.".to_string(),
            "Until this is fixed, a public endpoint there is neither reverted nor reported."
                .to_string(),
            String::new(),
            format!(
                "Sweep:        account {}, region {}",
                self.account, self.region
            ),
            format!(
                "At:           {}",
                self.sweep_time.as_deref().unwrap_or("unknown")
            ),
            format!("Judged:       {} clusters", self.seen),
            String::new(),
            "What failed:".to_string(),
        ];
        lines.extend(self.failed.iter().map(|f| format!("  - {f}")));
        lines.push(String::new());
        lines.push(
            "An account whose role cannot be assumed needs the member stack (deploy/member.yaml) with the remediation role; see docs/organizations.md.".to_string(),
        );
        lines.join("\n")
    }

    fn card(&self) -> Card<'_> {
        let shown: Vec<String> = self
            .failed
            .iter()
            .take(10)
            .map(|f| format!("• {f}"))
            .collect();
        Card {
            title: format!(
                ":rotating_light: EKS guard sweep incomplete: {} problem(s)",
                self.failed.len()
            ),
            description: format!(
                "*Clusters there are not guarded until this is fixed.*\n{}\n(sweep in {} / {})",
                shown.join("\n"),
                self.account,
                self.region
            ),
            next_steps: vec![
                "Deploy the member stack with the remediation role in each account named.",
                "Check the guard's Organizations permission (delegated administrator or ORGANIZATION_ROLE_ARN).",
            ],
            thread: "sweep",
            summary: "EKS guard sweep incomplete",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_view_names_what_could_not_be_reached() {
        let problems = SweepProblems::new(
            "111122223333",
            "eu-west-1",
            Some("2026-12-01T10:00:00Z"),
            12,
            &[
                "444455556666/eu-west-1: ListClusters failed: AccessDenied on sts:AssumeRole"
                    .to_string(),
            ],
        );
        assert!(problems.subject().len() <= MAX_SUBJECT_LEN);
        assert!(problems.subject().contains("INCOMPLETE"));
        let views: serde_json::Value = serde_json::from_str(&problems.message().unwrap()).unwrap();
        for key in ["default", "sqs", "lambda", "email", "https"] {
            let view = views[key].as_str().unwrap();
            assert!(view.contains("444455556666"), "{key}: {view}");
        }
        let machine: SweepProblems = serde_json::from_str(views["sqs"].as_str().unwrap()).unwrap();
        assert_eq!(machine, problems);
        assert!(
            problems
                .attributes()
                .contains(&("action", "sweep-incomplete".to_string()))
        );
    }
}
