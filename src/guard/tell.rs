//! The sweep's telling (issue 16): people get one summary per sweep (or
//! slice), machines one finding per cluster, Security Hub one ASFF finding
//! per cluster, in batches.
//!
//! While the account-regions are judged (in parallel), each judged cluster
//! leaves its line for the summary and its finding in the sweep's
//! [`Telling`], owned by the sweep and dropped with it; every tenth finding
//! sends the ten waiting in one `PublishBatch`, within the time the cluster
//! kept for its alert (as the per-cluster alert did before). Once judging is
//! done: the findings still waiting, the summary, then Security Hub.
//! Whatever could not be sent is named in the invocation's error, so Lambda
//! runs the sweep again: at least once, never silently dropped.

use std::sync::Mutex;
use std::time::Duration;

use tracing::{info, warn};

use super::{Deadline, Guard};
use crate::alert::batch::{BATCH_ENTRIES, MachineMessage, batch_bytes, batches, publish_batch};
use crate::alert::summary::{
    ClusterLine, Counts, Done, EXPIRY_WINDOW_SECONDS, ExpiringExemption, ReportHead, SweepReport,
};
use crate::alert::{self, Audience, Finding};
use crate::eks::{AccountRef, Place};
use crate::error::GuardError;
use crate::event::SweepRequest;
use crate::outcome::Outcome;
use crate::policy::{self, Exemption};

use super::sweep::SweepSummary;

/// What the judged clusters of one sweep leave to tell.
pub(super) struct Telling {
    /// Epoch seconds when the sweep began, and one sweep period before.
    now: i64,
    previous: i64,
    /// Whether the findings are kept for Security Hub (only when it is on:
    /// otherwise a sweep would hold every finding until its end for nothing).
    keeps_findings: bool,
    collected: Mutex<Collected>,
}

#[derive(Default)]
struct Collected {
    lines: Vec<ClusterLine>,
    /// How many findings the judged clusters left.
    found: usize,
    /// Every finding, for Security Hub (when it is on).
    findings: Vec<Finding>,
    expiring: Vec<ExpiringExemption>,
    /// Findings for machines not yet sent.
    waiting: Vec<MachineMessage>,
    /// What was sent, and what could not be.
    told: Told,
    not_sent: Vec<String>,
}

impl Telling {
    pub(super) fn new(now: i64, period: Duration, keeps_findings: bool) -> Telling {
        Telling {
            now,
            previous: now - period.as_secs() as i64,
            keeps_findings,
            collected: Mutex::default(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Collected> {
        // A poisoned list is still a list of what was judged.
        self.collected.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A judged cluster's finding; an open one (reverted, report mode) also
    /// gets its line, open since `since` (epoch seconds). Every tenth
    /// returns the ten findings waiting, for one `PublishBatch`.
    pub(super) fn finding(
        &self,
        finding: Finding,
        since: Option<f64>,
    ) -> Option<Vec<MachineMessage>> {
        let done = match finding.outcome {
            Outcome::Reverted | Outcome::RevertFailed => Some(Done::Reverted),
            Outcome::WouldRevert => Some(Done::WouldRevert),
            _ => None,
        };
        let what = match (done, &finding.action.fix, &finding.action.update_id) {
            (Some(Done::Reverted), _, Some(update)) => format!("reverted (EKS update {update})"),
            (Some(Done::WouldRevert), Some(fix), _) => format!("would revert ({fix})"),
            _ => finding.outcome.label().to_string(),
        };
        let mut collected = self.lock();
        if let Some(done) = done {
            let cluster = &finding.cluster;
            collected.lines.push(self.line(
                cluster.account.as_str(),
                &cluster.region,
                &cluster.name,
                done,
                what,
                since,
            ));
        }
        match MachineMessage::of(&finding) {
            Ok(message) => collected.waiting.push(message),
            Err(e) => collected
                .not_sent
                .push(format!("{}: {e}", finding.cluster.name)),
        }
        collected.found += 1;
        if self.keeps_findings {
            collected.findings.push(finding);
        }
        (collected.waiting.len() >= BATCH_ENTRIES).then(|| collected.waiting.drain(..).collect())
    }

    /// What one `PublishBatch` did.
    fn sent(&self, batch: &[MachineMessage], result: Result<(), Vec<String>>) {
        let mut collected = self.lock();
        let told = &mut collected.told;
        told.batch_calls += 1;
        told.largest_publish_bytes = told.largest_publish_bytes.max(batch_bytes(batch));
        match result {
            Ok(()) => told.machines += batch.len(),
            Err(failed) => {
                told.machines += batch.len() - failed.len();
                collected.not_sent.extend(failed);
            }
        }
    }

    /// An open cluster left pending: its revert refused (an update runs) or
    /// not reached.
    pub(super) fn pending(&self, place: &Place, cluster: &str, why: &str) {
        let line = self.line(
            &place.account,
            &place.region,
            cluster,
            Done::Pending,
            format!("pending, still open: {why}"),
            None,
        );
        self.lock().lines.push(line);
    }

    /// An open cluster left alone because it is exempt; an end within three
    /// days is also listed as ending soon.
    pub(super) fn exempt(&self, place: &Place, cluster: &str, exemption: &Exemption) {
        let what = match exemption.end() {
            Some(end) => format!("exempt until {}", policy::rfc3339(end)),
            None => "exempt with no end".to_string(),
        };
        let line = self.line(
            &place.account,
            &place.region,
            cluster,
            Done::Exempt,
            what,
            None,
        );
        let mut collected = self.lock();
        collected.lines.push(line);
        let Some(end) = exemption
            .end()
            .filter(|end| *end - self.now <= EXPIRY_WINDOW_SECONDS)
        else {
            return;
        };
        collected.expiring.push(ExpiringExemption {
            cluster: cluster.to_string(),
            account: place.account.clone(),
            region: place.region.clone(),
            end: policy::rfc3339(end),
            // EKS does not say who tagged a cluster; CloudTrail's
            // TagResource record does (and the guard alerted it then).
            set_by: None,
            new: end - EXPIRY_WINDOW_SECONDS > self.previous,
        });
    }

    fn line(
        &self,
        account: &str,
        region: &str,
        cluster: &str,
        done: Done,
        what: String,
        since: Option<f64>,
    ) -> ClusterLine {
        ClusterLine {
            cluster: cluster.to_string(),
            account: account.to_string(),
            region: region.to_string(),
            done,
            what,
            open_since: since.map(|s| policy::rfc3339(s as i64)),
            new: since.is_some_and(|s| s as i64 > self.previous),
        }
    }
}

/// What the telling sent, for the log line and the answer.
#[derive(Debug, Default)]
pub(super) struct Told {
    pub people: usize,
    pub machines: usize,
    pub batch_calls: usize,
    pub largest_publish_bytes: usize,
    pub summary_message_id: Option<String>,
}

impl Guard {
    /// The summary for people, the findings for machines, then Security
    /// Hub; the first failure is the error, after all three were tried.
    pub(super) async fn tell_findings(
        &self,
        request: &SweepRequest,
        home: &AccountRef,
        summary: &SweepSummary,
        telling: Telling,
        deadline: Deadline,
    ) -> Result<Told, GuardError> {
        self.send_waiting(&telling, deadline).await;
        let Collected {
            lines,
            found,
            findings,
            expiring,
            mut told,
            not_sent,
            ..
        } = telling
            .collected
            .into_inner()
            .unwrap_or_else(|e| e.into_inner());
        let report = SweepReport::new(self.report_head(request, home, summary), lines, expiring);
        let people = self.tell_people(&report, &mut told).await;
        let machines = machines_told(&told, &not_sent, found);
        let hub = self.record_all(home, &findings, deadline).await.map(|_| ());
        info!(
            people_messages = told.people,
            machine_messages = told.machines,
            publish_batch_calls = told.batch_calls,
            largest_publish_bytes = told.largest_publish_bytes,
            open = report.open,
            new = report.new,
            "sweep told"
        );
        people.and(machines).and(hub).map(|()| told)
    }

    fn report_head(
        &self,
        request: &SweepRequest,
        home: &AccountRef,
        summary: &SweepSummary,
    ) -> ReportHead {
        ReportHead {
            account: home.account.clone(),
            region: home.region.clone(),
            slice: summary.slice.clone(),
            sweep_time: request.time.clone(),
            mode: self.config.mode,
            period_minutes: self.config.sweep_period.as_secs() / 60,
            counts: Counts {
                seen: summary.seen,
                reverted: summary.reverted,
                reported: summary.reported,
                exempt: summary.exempt,
                pending: summary.pending.len(),
                failed: summary.failed.len(),
            },
        }
    }

    /// One summary, when there is news for people.
    async fn tell_people(&self, report: &SweepReport, told: &mut Told) -> Result<(), GuardError> {
        if !report.is_news() {
            return Ok(());
        }
        let not_sent = |message: String| GuardError::AlertNotSent {
            cluster: "*".to_string(),
            done: format!("sweep summary of {} open clusters", report.open),
            message,
        };
        let body = report.message().map_err(not_sent)?;
        told.largest_publish_bytes = told.largest_publish_bytes.max(body.len());
        let id = alert::publish_views(
            &self.sns,
            &self.config.alert_topic_arn,
            &report.subject(),
            body,
            report.attributes(),
            Audience::People,
        )
        .await
        .map_err(not_sent)?;
        info!(message_id = %id, open = report.open, new = report.new, "sweep summary sent");
        told.people = 1;
        told.summary_message_id = Some(id);
        Ok(())
    }

    /// The findings still waiting once judging is done, each batch started
    /// only with time for one call at the latency AWS has shown and the
    /// answer's margin (as the sweep's own alert).
    async fn send_waiting(&self, telling: &Telling, deadline: Deadline) {
        let waiting = std::mem::take(&mut telling.lock().waiting);
        self.send_batches(waiting, telling, Some(deadline)).await;
    }

    /// Ten findings in one `PublishBatch` (two, should they pass 256 KB),
    /// within the time the cluster that completed them kept for its alert;
    /// what it did goes to `telling`.
    pub(super) async fn send_batch(&self, batch: Vec<MachineMessage>, telling: &Telling) {
        self.send_batches(batch, telling, None).await;
    }

    /// `messages` in `PublishBatch` calls; with a `deadline`, each call only
    /// while it leaves time to answer, the rest named as not sent.
    async fn send_batches(
        &self,
        messages: Vec<MachineMessage>,
        telling: &Telling,
        deadline: Option<Deadline>,
    ) {
        let (batches, too_large) = batches(messages);
        telling.lock().not_sent.extend(too_large);
        for batch in batches {
            if deadline.is_none_or(|d| d.allows(self.time_to_answer())) {
                let result = publish_batch(&self.sns, &self.config.alert_topic_arn, &batch).await;
                telling.sent(&batch, result);
            } else {
                let left = batch
                    .iter()
                    .map(|m| format!("{}: not sent before the deadline", m.cluster));
                telling.lock().not_sent.extend(left);
            }
        }
    }
}

/// The error naming the findings machines did not get, if any.
fn machines_told(told: &Told, not_sent: &[String], findings: usize) -> Result<(), GuardError> {
    let Some(first) = not_sent.first() else {
        return Ok(());
    };
    warn!(not_sent = not_sent.len(), first = %first, "sweep findings not sent to machines");
    Err(GuardError::AlertNotSent {
        cluster: "*".to_string(),
        done: format!("{} of {findings} findings sent to machines", told.machines),
        message: format!("{} not sent, first {first}", not_sent.len()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY: i64 = 86_400;
    /// 2026-12-04T10:00:00Z.
    const NOW: i64 = 1_796_378_400;

    fn place() -> Place {
        Place::new("111122223333", "eu-west-1")
    }

    #[test]
    fn exemptions_ending_within_three_days_are_listed_and_new_once() {
        let telling = Telling::new(NOW, Duration::from_secs(3600), false);
        let until = |end| Exemption::Until { end };
        telling.exempt(&place(), "entered-this-hour", &until(NOW + 3 * DAY - 60));
        telling.exempt(&place(), "entered-yesterday", &until(NOW + 2 * DAY));
        telling.exempt(&place(), "far", &until(NOW + 5 * DAY));
        telling.exempt(&place(), "forever", &Exemption::Forever);
        let collected = telling.collected.into_inner().unwrap();
        let ending: Vec<(&str, bool)> = collected
            .expiring
            .iter()
            .map(|e| (e.cluster.as_str(), e.new))
            .collect();
        assert_eq!(
            ending,
            [("entered-this-hour", true), ("entered-yesterday", false)]
        );
        assert_eq!(collected.expiring[1].end, policy::rfc3339(NOW + 2 * DAY));
        let what: Vec<&str> = collected.lines.iter().map(|l| l.what.as_str()).collect();
        assert_eq!(what[3], "exempt with no end");
        assert!(what[2].starts_with("exempt until "), "{what:?}");
        assert!(
            collected
                .lines
                .iter()
                .all(|l| l.done == Done::Exempt && !l.new)
        );
    }

    #[test]
    fn an_endpoint_opened_within_the_period_is_new_and_pending_ones_are_listed() {
        let telling = Telling::new(NOW, Duration::from_secs(3600), false);
        let fresh = telling.line(
            "a",
            "r",
            "fresh",
            Done::Reverted,
            "x".into(),
            Some((NOW - 600) as f64),
        );
        let old = telling.line(
            "a",
            "r",
            "old",
            Done::Reverted,
            "x".into(),
            Some((NOW - 7200) as f64),
        );
        let unknown = telling.line("a", "r", "unknown", Done::Reverted, "x".into(), None);
        assert_eq!((fresh.new, old.new, unknown.new), (true, false, false));
        assert_eq!(fresh.open_since.as_deref(), Some("2026-12-04T09:50:00Z"));
        telling.pending(&place(), "busy", "update u-9 in progress");
        let lines = telling.collected.into_inner().unwrap().lines;
        assert_eq!(lines[0].what, "pending, still open: update u-9 in progress");
        assert_eq!(lines[0].done, Done::Pending);
    }
}
