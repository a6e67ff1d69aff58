//! The sweep's check of the guard's own wiring (issue 17): read it, judge
//! it, count it, and tell one "guard IMPAIRED" alert when anything is
//! wrong. It runs once per scheduled sweep, in the coordinator (never in a
//! slice), and never fails the sweep: the sweep's clusters matter more than
//! this alert, which the next sweep sends again.

use tracing::{error, info, warn};

use super::{Guard, Invocation};
use crate::alert;
use crate::alert::operational::OperationalAlert;
use crate::clock::epoch_millis;
use crate::eks::AccountRef;
use crate::event::SweepRequest;
use crate::metrics::impaired_emf_line;
use crate::wiring::alert::Impaired;
use crate::wiring::read::Scope;
use crate::wiring::{Problem, judge};

impl Guard {
    /// The wiring check, a step at the start of the scheduled sweep. With
    /// `GUARD_SELF_CHECK` off it only says so.
    pub(super) async fn check_wiring(
        &self,
        request: &SweepRequest,
        home: &AccountRef,
        invocation: &Invocation,
    ) {
        let Some(reader) = &self.wiring else {
            info!("wiring check off (GUARD_SELF_CHECK is not true)");
            return;
        };
        let problems = match self.wiring_budget(invocation) {
            None => vec![Problem::no_time()],
            Some(budget) => {
                let scope = Scope {
                    function_arn: &invocation.function_arn,
                    topic_arn: &self.config.alert_topic_arn,
                    account: &home.account,
                    region: &home.region,
                    budget,
                };
                let wiring = reader.read(&scope).await;
                for (check, why) in &wiring.skipped {
                    info!(
                        check = check.label(),
                        why = why.as_str(),
                        "wiring check skipped"
                    );
                }
                judge(&wiring, &home.region)
            }
        };
        // Embedded Metric Format, like main's line: no API call.
        println!("{}", impaired_emf_line(problems.len(), epoch_millis()));
        if problems.is_empty() {
            info!("wiring whole");
            return;
        }
        let impaired = Impaired::new(
            &invocation.function_arn,
            &home.account,
            &home.region,
            request.time.as_deref(),
            &problems,
        );
        self.tell_impaired(&impaired).await;
    }

    /// How long the check may take: two whole calls (most checks are one
    /// round of calls, the trails two), and never the time the sweep keeps
    /// for its own alert and answer. `None`: not even one call fits.
    fn wiring_budget(&self, invocation: &Invocation) -> Option<std::time::Duration> {
        let kept = self.time_to_answer() * 2;
        let room = invocation.deadline.left().saturating_sub(kept);
        let call = self.config.call_timeout();
        (room >= call).then(|| room.min(call * 2))
    }

    /// The alert, logged whether or not it could be sent (the metric and
    /// this log line say it even when the topic is what is broken).
    async fn tell_impaired(&self, impaired: &Impaired) {
        let problems: Vec<String> = impaired
            .problems
            .iter()
            .map(|p| format!("{}: {}", p.check.label(), p.problem))
            .collect();
        warn!(problems = problems.len(), details = ?problems, "guard IMPAIRED");
        let sent = match impaired.message() {
            Ok(body) => {
                let topic = &self.config.alert_topic_arn;
                let attributes = impaired.attributes();
                alert::publish_views(
                    &self.sns,
                    topic,
                    &impaired.subject(),
                    body,
                    attributes,
                    alert::Audience::Everyone,
                )
                .await
            }
            Err(e) => Err(e.to_string()),
        };
        match sent {
            Ok(message_id) => info!(message_id = %message_id, "guard IMPAIRED alert sent"),
            Err(e) => error!(error = %e, "could not send the guard IMPAIRED alert"),
        }
    }
}
