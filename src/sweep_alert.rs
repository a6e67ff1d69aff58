//! The sweep's own alert: the accounts and regions it could not reach and
//! the clusters it could not judge. A security control that silently skips
//! an account (a remediation role missing in a new account, an
//! Organizations permission taken away) teaches people that everything is
//! guarded when it is not. Pure, but for the publish.

use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::alert::{self, MAX_SUBJECT_LEN};
use crate::outcome::Outcome;

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

    pub fn email_text(&self) -> String {
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

    pub fn chatbot_notification(&self) -> serde_json::Value {
        let shown: Vec<String> = self
            .failed
            .iter()
            .take(10)
            .map(|f| format!("• {f}"))
            .collect();
        json!({
            "version": "1.0",
            "source": "custom",
            "content": {
                "textType": "client-markdown",
                "title": format!(":rotating_light: EKS guard sweep incomplete: {} problem(s)", self.failed.len()),
                "description": format!(
                    "*Clusters there are not guarded until this is fixed.*\n{}\n(sweep in {} / {})",
                    shown.join("\n"), self.account, self.region
                ),
                "nextSteps": [
                    "Deploy the member stack with the remediation role in each account named.",
                    "Check the guard's Organizations permission (delegated administrator or ORGANIZATION_ROLE_ARN)."
                ]
            },
            "metadata": {
                "threadId": format!("eks-endpoint-guard/sweep/{}/{}", self.account, self.region),
                "summary": "EKS guard sweep incomplete",
                "eventType": Outcome::SweepIncomplete.label(),
            }
        })
    }

    /// The whole `Message` for `MessageStructure=json`.
    pub fn message(&self) -> Result<String, serde_json::Error> {
        alert::views(
            &serde_json::to_string(self)?,
            &self.email_text(),
            &self.chatbot_notification(),
        )
    }

    pub fn attributes(&self) -> Vec<(&'static str, String)> {
        vec![
            ("action", Outcome::SweepIncomplete.label().to_string()),
            ("account", self.account.clone()),
            ("region", self.region.clone()),
        ]
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
