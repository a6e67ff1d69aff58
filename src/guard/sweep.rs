//! The scheduled sweep: every cluster of every swept account and guarded
//! region, judged without waiting, a few at a time.
//!
//! Most clusters comply, and a finished update never changes, so a cluster is
//! read first (`DescribeCluster`: one call for a compliant `ACTIVE` cluster,
//! however long its history). A cluster that breaks the policy is reverted at
//! once (EKS refuses while an update runs: pending) without following the
//! revert, the next sweep or the event sees how it ended; only then are its
//! updates read for the alert, a few at a time, memory keeping the finished
//! ones.

use futures_util::StreamExt;
use serde::Serialize;
use tracing::info;

use super::judge::{Sent, acted_from, judged};
use super::{Answer, Guard, Invocation, log_decision};
use crate::alert::{self, Acted};
use crate::eks::{
    AccountRef, Eks, EksFailure, Place, UpdateState, UpdateSummary, describe_update_errors,
};
use crate::error::GuardError;
use crate::event::{Actor, ClusterChange, Origin, SweepRequest};
use crate::history::openings;
use crate::outcome::Outcome;
use crate::policy::{Action, EndpointAccess, Policy, evaluate};
use crate::sweep_alert::SweepProblems;

/// The sweep's tally, logged in one line and returned in the answer.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SweepSummary {
    pub accounts: usize,
    pub regions: usize,
    pub seen: usize,
    pub compliant: usize,
    pub reverted: usize,
    /// Report mode: violations alerted, not changed.
    pub reported: usize,
    pub exempt: usize,
    /// Busy (`CREATING`, `UPDATING`, an update in progress) or not reached
    /// before the deadline: left for the next sweep.
    pub pending: Vec<String>,
    /// Of the pending ones, those the deadline left untouched.
    pub not_reached: usize,
    pub failed: Vec<String>,
}

/// One cluster to sweep.
struct Target {
    eks: Eks,
    place: Place,
    name: String,
}

impl Guard {
    pub(super) async fn sweep(
        &self,
        request: &SweepRequest,
        invocation: &Invocation,
    ) -> Result<Answer, GuardError> {
        let home = invocation.home().unwrap_or_else(|| AccountRef {
            partition: "aws".to_string(),
            region: request.region.clone(),
            account: request.account.clone(),
        });
        let mut problems = Vec::new();
        let places = self.sweep_places(&home, &mut problems).await;
        let mut summary = SweepSummary {
            accounts: count_distinct(places.iter().map(|p| &p.account)),
            regions: count_distinct(places.iter().map(|p| &p.region)),
            failed: problems,
            ..SweepSummary::default()
        };
        let targets = self.list_targets(&places, &home, &mut summary).await;
        summary.seen = targets.len();
        let home = &home;
        let outcomes: Vec<(String, Result<Answer, GuardError>)> =
            futures_util::stream::iter(targets)
                .map(|target| async move {
                    let label = format!("{}/{}", target.place, target.name);
                    (
                        label,
                        self.sweep_one(&target, request, home, invocation).await,
                    )
                })
                .buffer_unordered(self.config.sweep_concurrency)
                .collect()
                .await;
        tally(&mut summary, outcomes);
        log_sweep(&summary);
        if let Some(first) = summary.failed.first() {
            self.tell_sweep_problems(request, home, &summary).await?;
            return Err(GuardError::SweepIncomplete {
                failed: summary.failed.len(),
                seen: summary.seen,
                first: first.clone(),
            });
        }
        Ok(Answer {
            sweep: Some(summary),
            ..Answer::new(Outcome::Swept, None, "swept")
        })
    }

    /// Every account (its own first, then the organization's active ones,
    /// then `SWEEP_ACCOUNTS`, less `SWEEP_EXCLUDE_ACCOUNTS`) in every guarded
    /// region (its own first, then `GUARD_REGIONS`). An organization that
    /// cannot be listed is a problem; the listed accounts are still swept.
    async fn sweep_places(&self, home: &AccountRef, problems: &mut Vec<String>) -> Vec<Place> {
        let mut accounts = vec![home.account.clone()];
        if let Some(organization) = &self.organization {
            match organization.active_accounts().await {
                Ok(active) => accounts.extend(active),
                Err(failure) => problems.push(format!("organization: {failure}")),
            }
        }
        accounts.extend(self.config.sweep_accounts.iter().cloned());
        accounts.retain(|a| !self.config.sweep_exclude_accounts.contains(a));
        let mut regions = vec![home.region.clone()];
        regions.extend(self.config.guard_regions.iter().cloned());
        dedup(&mut accounts);
        dedup(&mut regions);
        accounts
            .iter()
            .flat_map(|account| {
                regions
                    .iter()
                    .map(move |region| Place::new(account, region))
            })
            .collect()
    }

    /// The sweep's own alert, when it could not reach or judge everything.
    async fn tell_sweep_problems(
        &self,
        request: &SweepRequest,
        home: &AccountRef,
        summary: &SweepSummary,
    ) -> Result<(), GuardError> {
        let problems = SweepProblems::new(
            &home.account,
            &home.region,
            request.time.as_deref(),
            summary.seen,
            &summary.failed,
        );
        let body = problems.message().map_err(|e| GuardError::AlertNotSent {
            cluster: "*".to_string(),
            done: "swept".to_string(),
            message: e.to_string(),
        })?;
        alert::publish_views(
            &self.sns,
            &self.config.alert_topic_arn,
            &problems.subject(),
            body,
            problems.attributes(),
        )
        .await
        .map(|_| ())
        .map_err(|message| GuardError::AlertNotSent {
            cluster: "*".to_string(),
            done: format!("swept {} clusters", summary.seen),
            message,
        })
    }

    async fn list_targets(
        &self,
        places: &[Place],
        home: &AccountRef,
        summary: &mut SweepSummary,
    ) -> Vec<Target> {
        let mut targets = Vec::new();
        for place in places {
            let Some(eks) = self.eks.for_place(place, home).await else {
                summary.failed.push(format!(
                    "{place}: no EKS client (REMEDIATION_ROLE_NAME unset)"
                ));
                continue;
            };
            match eks.list_clusters().await {
                Ok(names) => targets.extend(names.into_iter().map(|name| Target {
                    eks: eks.clone(),
                    place: place.clone(),
                    name,
                })),
                Err(failure) => summary
                    .failed
                    .push(format!("{place}: ListClusters failed: {failure}")),
            }
        }
        targets
    }

    /// One cluster: read, decide, and only for a violation look at its
    /// updates and revert; never wait.
    async fn sweep_one(
        &self,
        target: &Target,
        request: &SweepRequest,
        home: &AccountRef,
        invocation: &Invocation,
    ) -> Result<Answer, GuardError> {
        let (eks, name, deadline) = (&target.eks, target.name.as_str(), invocation.deadline);
        let change = &swept_change(request, target);
        let busy = |waiting_for: String| GuardError::Busy {
            cluster: name.to_string(),
            waiting_for,
        };
        // A cluster is started only with time for the call it needs first,
        // at the latency EKS has shown (a compliant cluster needs no more).
        if !deadline.allows(self.time_for_calls(eks, 1)) {
            return Err(busy(NOT_REACHED.to_string()));
        }
        let state = match eks.describe(name).await {
            Ok(Some(state)) => state,
            Ok(None) => return Ok(Answer::new(Outcome::ClusterGone, Some(name), "deleted")),
            Err(failure) if failure.is_transient() => return Err(busy(failure.to_string())),
            Err(failure) => return Err(GuardError::eks("DescribeCluster", name, failure)),
        };
        if state.is_beyond_repair() {
            return Ok(Answer::new(Outcome::ClusterGone, Some(name), state.status));
        }
        if !state.is_active() {
            return Err(busy(format!("the cluster is {}", state.status)));
        }
        let (action, verdict, exemption) = self.decide_on(change, &state);
        let mut acted = Acted::default();
        match &action {
            Action::Nothing => return Ok(Answer::new(Outcome::Compliant, Some(name), "complies")),
            // An exemption is alerted when it is granted (tag events), not every
            // hour. One that ended or does not count is no exemption: decided
            // like any other, and the alert says why.
            Action::Exempt(_) => return Ok(Answer::new(Outcome::Exempt, Some(name), "exempt")),
            Action::Revert(fix) => {
                // The revert, its check and the alert.
                if !deadline.allows(self.time_for_calls(eks, 3)) {
                    return Err(busy(format!("{NOT_REACHED} (no time left to revert)")));
                }
                // No look at the updates first: EKS refuses an update while
                // another runs (`ResourceInUseException`), which leaves the
                // cluster pending and unchanged for one call, however long
                // its history (issue 10). The settings read may be old ones
                // (rancher/eks-operator#672) only while an update runs, and
                // then EKS refuses.
                acted = match self
                    .send_fix(eks, change, fix, invocation.started_ms, false)
                    .await
                {
                    Ok(sent @ (Sent::Update(_) | Sent::AlreadyDesired)) => {
                        acted_from(sent, invocation.started_ms)
                    }
                    Err(EksFailure::NotFound(_)) => {
                        return Ok(Answer::new(Outcome::ClusterGone, Some(name), "deleted"));
                    }
                    Err(failure @ (EksFailure::InUse(_) | EksFailure::Transient(_))) => {
                        return Err(busy(failure.to_string()));
                    }
                    Err(failure) => {
                        return Err(GuardError::eks("UpdateClusterConfig", name, failure));
                    }
                };
                if let Some(history) = self
                    .earlier_updates(eks, name, acted.update_id.as_deref(), deadline)
                    .await
                {
                    acted.note = last_close_failed(&self.config.policy, &history);
                    acted.history = Some(openings(
                        &self.config.policy,
                        &history,
                        crate::clock::now_seconds(),
                    ));
                }
            }
            Action::WouldRevert(_) | Action::AlreadyCompliant => {}
        }
        let arn = alert::cluster_arn(change, state.arn.as_deref(), &home.partition);
        let finding = alert::finding(
            change,
            judged(&arn, &state, &action, &verdict, exemption.as_ref()),
            self.config.mode,
            &acted,
        );
        log_decision(change, finding.outcome, &finding.action.description);
        let message_id = self.send_alert(name, &finding).await?;
        self.record_told(home, &finding, None, deadline).await?;
        Ok(Answer {
            update_id: acted.update_id,
            alert_message_id: Some(message_id),
            ..Answer::new(
                finding.outcome,
                Some(name),
                finding.action.description.clone(),
            )
        })
    }
}

/// Why a cluster the sweep did not get to is pending.
const NOT_REACHED: &str = "not reached before the deadline";

/// The sweep as the cause of a judgement: no call, no actor.
fn swept_change(request: &SweepRequest, target: &Target) -> ClusterChange {
    ClusterChange {
        origin: Origin::Sweep,
        cluster_name: target.name.clone(),
        cluster_arn: None,
        requested: None,
        requested_unreadable: None,
        update_id: None,
        actor: Actor::default(),
        event_id: None,
        event_time: request.time.clone(),
        account: target.place.account.clone(),
        region: target.place.region.clone(),
        tag_edit: None,
    }
}

/// When the cluster's latest endpoint update tried to close the endpoint
/// (public access off, or only allowed ranges: what a revert asks for) and
/// ended `Failed` or `Cancelled`, a sentence saying so. Usually that was the
/// guard's own earlier revert; EKS does not say who asked.
fn last_close_failed(policy: &Policy, history: &[UpdateSummary]) -> Option<String> {
    let last = history
        .iter()
        .filter(|u| u.kind.as_deref() == Some("EndpointAccessUpdate"))
        .max_by(|a, b| {
            a.created_at
                .unwrap_or(0.0)
                .total_cmp(&b.created_at.unwrap_or(0.0))
        })?;
    let failed = matches!(last.state, UpdateState::Failed | UpdateState::Cancelled);
    (failed && closes_endpoint(policy, last)).then(|| {
        format!(
            "The last attempt to close this endpoint (update {}, most likely the guard's own revert) ended {}: {}.",
            last.id,
            last.state.as_str(),
            describe_update_errors(&last.errors)
        )
    })
}

/// Whether an endpoint update asked for settings that comply: public access
/// off, or public access limited to allowed ranges.
fn closes_endpoint(policy: &Policy, update: &UpdateSummary) -> bool {
    if update.param("EndpointPublicAccess") == Some("false") {
        return true;
    }
    let Some(cidrs) = update
        .param("PublicAccessCidrs")
        .and_then(|text| serde_json::from_str::<Vec<String>>(text).ok())
    else {
        return false;
    };
    let asked = EndpointAccess {
        endpoint_public_access: true,
        endpoint_private_access: update.param("EndpointPrivateAccess") == Some("true"),
        public_access_cidrs: cidrs,
    };
    !evaluate(policy, &asked).is_violation()
}

fn count_distinct<'a>(items: impl Iterator<Item = &'a String>) -> usize {
    items.collect::<std::collections::HashSet<_>>().len()
}

fn tally(summary: &mut SweepSummary, outcomes: Vec<(String, Result<Answer, GuardError>)>) {
    for (label, result) in outcomes {
        match result {
            Ok(answer) => match answer.outcome {
                Outcome::Reverted => summary.reverted += 1,
                Outcome::WouldRevert => summary.reported += 1,
                Outcome::Exempt => summary.exempt += 1,
                _ => summary.compliant += 1,
            },
            Err(GuardError::Busy { waiting_for, .. })
            | Err(GuardError::DeadlineExceeded { waiting_for, .. }) => {
                if waiting_for.starts_with(NOT_REACHED) {
                    summary.not_reached += 1;
                }
                summary.pending.push(format!("{label}: {waiting_for}"))
            }
            Err(error) => summary.failed.push(format!("{label}: {error}")),
        }
    }
    summary.pending.sort();
    summary.failed.sort();
}

fn log_sweep(summary: &SweepSummary) {
    info!(
        accounts = summary.accounts,
        regions = summary.regions,
        seen = summary.seen,
        compliant = summary.compliant,
        reverted = summary.reverted,
        reported = summary.reported,
        exempt = summary.exempt,
        pending = summary.pending.len(),
        not_reached = summary.not_reached,
        failed = summary.failed.len(),
        "sweep"
    );
}

fn dedup(items: &mut Vec<String>) {
    let mut seen = std::collections::HashSet::new();
    items.retain(|item| seen.insert(item.clone()));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::eks::UpdateError;
    use crate::fixtures::endpoint_update;

    fn update(id: &str, at: f64, state: UpdateState, params: &[(&str, &str)]) -> UpdateSummary {
        let denied = UpdateError {
            code: "AccessDenied".into(),
            message: "no".into(),
        };
        endpoint_update(id, at, state, params, vec![denied])
    }

    #[test]
    fn a_failed_last_close_is_told_and_anything_else_is_not() {
        let policy = Policy::default();
        let close = [
            ("EndpointPublicAccess", "false"),
            ("EndpointPrivateAccess", "true"),
        ];
        let open = [("EndpointPublicAccess", "true")];
        let failed_close = update("u-2", 20.0, UpdateState::Failed, &close);
        let older = update("u-1", 10.0, UpdateState::Successful, &open);
        let note =
            last_close_failed(&policy, &[older.clone(), failed_close.clone()]).expect("told");
        assert!(
            note.contains("u-2") && note.contains("Failed") && note.contains("AccessDenied"),
            "{note}"
        );
        // A later successful opening is the last word: nothing to tell.
        let reopened = update("u-3", 30.0, UpdateState::Successful, &open);
        assert_eq!(
            last_close_failed(&policy, &[failed_close.clone(), reopened]),
            None
        );
        // A failed attempt to open is not a failed revert.
        let failed_open = update("u-4", 40.0, UpdateState::Failed, &open);
        assert_eq!(
            last_close_failed(&policy, &[failed_close, failed_open]),
            None
        );
        // Other kinds of update are not endpoint attempts.
        let mut version = update("u-5", 50.0, UpdateState::Failed, &close);
        version.kind = Some("VersionUpdate".into());
        assert_eq!(last_close_failed(&policy, &[older, version]), None);
    }

    #[test]
    fn restricting_to_allowed_ranges_counts_as_closing() {
        let policy = Policy {
            allowed_public_cidrs: vec!["203.0.113.0/24".parse().unwrap()],
        };
        let inside = update(
            "u",
            1.0,
            UpdateState::Cancelled,
            &[("PublicAccessCidrs", "[\"203.0.113.0/25\"]")],
        );
        let outside = update(
            "u",
            1.0,
            UpdateState::Cancelled,
            &[("PublicAccessCidrs", "[\"0.0.0.0/0\"]")],
        );
        assert!(closes_endpoint(&policy, &inside));
        assert!(!closes_endpoint(&policy, &outside));
        assert!(
            last_close_failed(&policy, &[inside])
                .unwrap()
                .contains("Cancelled")
        );
    }
}
