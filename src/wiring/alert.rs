//! The "guard IMPAIRED" alert: every problem of the guard's wiring in one
//! message, with how to mend each, as the sweep's other alert
//! ([`crate::sweep_alert`]) tells what it could not reach. Pure.

use super::Problem;
use crate::alert::MAX_SUBJECT_LEN;
use crate::alert::operational::{Card, Operational, OperationalAlert};
use crate::outcome::Outcome;
use serde::{Deserialize, Serialize};

pub const IMPAIRED_SCHEMA: &str = "eks-endpoint-guard/impaired/v1";

/// The machine view (`sqs`, `lambda`, `default`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Impaired {
    pub schema: String,
    pub outcome: Outcome,
    /// The function whose wiring this is, its account and region.
    pub function_arn: String,
    pub account: String,
    pub region: String,
    pub sweep_time: Option<String>,
    pub problems: Vec<Problem>,
}

impl Impaired {
    pub fn new(
        function_arn: &str,
        account: &str,
        region: &str,
        sweep_time: Option<&str>,
        problems: &[Problem],
    ) -> Impaired {
        Impaired {
            schema: IMPAIRED_SCHEMA.to_string(),
            outcome: Outcome::GuardImpaired,
            function_arn: function_arn.to_string(),
            account: account.to_string(),
            region: region.to_string(),
            sweep_time: sweep_time.map(str::to_string),
            problems: problems.to_vec(),
        }
    }

    pub fn subject(&self) -> String {
        let text = format!(
            "[EKS guard] Guard IMPAIRED in {}: {} problem(s), public endpoints may go unnoticed",
            self.region,
            self.problems.len()
        );
        text.chars().take(MAX_SUBJECT_LEN).collect()
    }
}

impl OperationalAlert for Impaired {
    fn operational(&self) -> Operational<'_> {
        Operational::new(Outcome::GuardImpaired, &self.account, &self.region)
    }

    fn email_text(&self) -> String {
        let mut lines = vec![
            "The guard's own wiring is broken: it may not see EKS changes, revert them, or be heard.".to_string(),
            "Until this is mended, a public endpoint may stay open without an alert.".to_string(),
            String::new(),
            format!("Function:     {}", self.function_arn),
            format!("Where:        account {}, region {}", self.account, self.region),
            format!("Checked at:   the sweep of {}", self.sweep_time.as_deref().unwrap_or("unknown time")),
            String::new(),
            "What is wrong, and how to mend it:".to_string(),
        ];
        for problem in &self.problems {
            lines.push(format!(
                "  - {}: {}",
                problem.check.label(),
                problem.problem
            ));
            lines.push(format!("    Mend: {}", problem.mend));
        }
        lines.push(String::new());
        lines.push("The next sweep checks again; this alert repeats every sweep until the wiring is whole (metric GuardImpaired).".to_string());
        lines.join("\n")
    }

    fn card(&self) -> Card<'_> {
        let shown: Vec<String> = self
            .problems
            .iter()
            .take(10)
            .map(|p| format!("• *{}*: {}", p.check.label(), p.problem))
            .collect();
        let steps: Vec<&str> = self
            .problems
            .iter()
            .take(5)
            .map(|p| p.mend.as_str())
            .collect();
        Card {
            title: format!(
                ":rotating_light: EKS guard IMPAIRED: {} problem(s)",
                self.problems.len()
            ),
            description: format!(
                "*The guard may not see, revert or tell until this is mended.*\n{}\n(function {} in {} / {})",
                shown.join("\n"),
                self.function_arn,
                self.account,
                self.region
            ),
            next_steps: steps,
            thread: "impaired",
            summary: "EKS guard impaired",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wiring::Check;

    #[test]
    fn every_view_names_each_problem_and_its_mend() {
        let problems = [
            Problem {
                check: Check::EventRule,
                problem: "the event rule guard-events is DISABLED: it invokes nothing".into(),
                mend: "aws events enable-rule --name guard-events".into(),
            },
            Problem {
                check: Check::Trail,
                problem: "no CloudTrail trail covers eu-west-1".into(),
                mend: "aws cloudtrail start-logging --name <trail>".into(),
            },
        ];
        let impaired = Impaired::new(
            "arn:aws:lambda:eu-west-1:111122223333:function:guard",
            "111122223333",
            "eu-west-1",
            Some("2026-12-04T10:00:00Z"),
            &problems,
        );
        assert!(impaired.subject().len() <= MAX_SUBJECT_LEN);
        assert!(
            impaired.subject().contains("IMPAIRED"),
            "{}",
            impaired.subject()
        );
        let views: serde_json::Value = serde_json::from_str(&impaired.message().unwrap()).unwrap();
        for key in ["default", "sqs", "lambda", "email", "https"] {
            let view = views[key].as_str().unwrap();
            assert!(view.contains("guard-events"), "{key}: {view}");
            assert!(view.contains("eu-west-1"), "{key}: {view}");
        }
        assert!(
            views["email"]
                .as_str()
                .unwrap()
                .contains("Mend: aws events enable-rule")
        );
        let card: serde_json::Value =
            serde_json::from_str(views["https"].as_str().unwrap()).unwrap();
        assert_eq!(
            card["content"]["nextSteps"][1],
            "aws cloudtrail start-logging --name <trail>"
        );
        let machine: Impaired = serde_json::from_str(views["sqs"].as_str().unwrap()).unwrap();
        assert_eq!(machine, impaired);
        assert_eq!(machine.problems[0].check, Check::EventRule);
        assert!(
            impaired
                .attributes()
                .contains(&("action", "guard-impaired".to_string()))
        );
    }
}
