//! The scheduled sweep: every cluster of every swept account and guarded
//! region, judged without waiting.
//!
//! The steps: list the accounts and regions (the scope), then, for a scope
//! larger than one slice, hand each slice to its own invocation
//! ([`super::fan_out`]); otherwise list and judge each account-region, tally,
//! and tell. Work is bounded where AWS meters it: one set of credentials per
//! account (STS limits are per account), at most `SWEEP_PLACES_IN_FLIGHT`
//! account-regions at a time, and in each at most `SWEEP_CONCURRENCY`
//! clusters (EKS throttles per account and region). Every step looks at the
//! deadline first; what it leaves is named, never dropped.
//!
//! Most clusters comply, and a finished update never changes, so a cluster is
//! read first (`DescribeCluster`: one call for a compliant `ACTIVE` cluster,
//! however long its history). A cluster that breaks the policy is reverted at
//! once (EKS refuses while an update runs: pending) without following the
//! revert, the next sweep or the event sees how it ended; only then are its
//! updates read for the alert, a few at a time.

use std::time::Duration;

use futures_util::StreamExt;
use serde::{Deserialize, Serialize};
use tokio::sync::Semaphore;
use tracing::info;

use super::judge::{Sent, acted_from, judged};
use super::tell::Telling;
use super::{Answer, Guard, Invocation, log_decision};
use crate::alert::operational::OperationalAlert;
use crate::alert::{self, Acted};
use crate::eks::{
    AccountRef, AccountSession, ClusterState, Eks, EksFailure, Place, UpdateState, UpdateSummary,
    describe_update_errors,
};
use crate::error::GuardError;
use crate::event::{Actor, ClusterChange, Origin, SweepRequest};
use crate::history::{Openings, closes_endpoint, open_since, openings};
use crate::outcome::Outcome;
use crate::policy::{Action, EndpointFix, Policy};
use crate::sweep_alert::SweepProblems;

/// The sweep's tally, logged in one line and returned in the answer.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SweepSummary {
    /// Which slice of a sliced sweep this invocation swept (`3/40`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub slice: Option<String>,
    /// A sweep too large for one invocation: how many slices it handed to
    /// invocations of their own (it then sweeps nothing itself).
    #[serde(skip_serializing_if = "is_zero")]
    pub slices_handed_out: usize,
    pub accounts: usize,
    pub regions: usize,
    /// Account-regions whose clusters were listed.
    pub places_listed: usize,
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
    /// What could not be listed or judged, account-regions the deadline left
    /// unlisted among them: alerted, and the invocation fails.
    pub failed: Vec<String>,
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

/// The accounts and regions one invocation sweeps (or hands out).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SweepScope {
    pub accounts: Vec<String>,
    pub regions: Vec<String>,
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
        let home = sweep_home(request, invocation);
        self.check_wiring(request, &home, invocation).await;
        let (scope, problems) = self.sweep_scope(&home, invocation).await;
        if self.fans_out(&scope, invocation) {
            return self
                .fan_out(request, &home, &scope, problems, invocation)
                .await;
        }
        let summary = SweepSummary::of(&scope, problems, None);
        self.sweep_part(request, &home, &scope, summary, invocation)
            .await
    }

    /// List, judge, tally and tell for `scope`: a whole sweep, or one slice.
    pub(super) async fn sweep_part(
        &self,
        request: &SweepRequest,
        home: &AccountRef,
        scope: &SweepScope,
        mut summary: SweepSummary,
        invocation: &Invocation,
    ) -> Result<Answer, GuardError> {
        // The answer, and the alert of what was left, go out before the
        // deadline: judging stops that much earlier.
        let judging = Invocation {
            deadline: invocation.deadline.before(self.time_to_answer()),
            ..invocation.clone()
        };
        // "Now" is the sweep's scheduled time: every slice and every retry of one
        // sweep counts the same clusters as new.
        let telling = Telling::new(
            scheduled_at(request),
            self.config.sweep_period,
            self.security_hub.is_some(),
        );
        self.sweep_accounts(request, home, scope, &judging, &telling, &mut summary)
            .await;
        summary.pending.sort();
        summary.failed.sort();
        log_sweep(&summary);
        let told = self
            .tell_findings(request, home, &summary, telling, invocation.deadline)
            .await;
        let answer = self.tell_sweep(request, home, summary).await?;
        let told = told?;
        Ok(Answer {
            alert_message_id: told.summary_message_id,
            ..answer
        })
    }

    /// Time kept for the sweep's own alert and answer: one call at the
    /// latency AWS has shown, and the margin kept for the Runtime API (1 s,
    /// several times what one call takes even from a far region).
    pub(super) fn time_to_answer(&self) -> Duration {
        self.eks.pace().latency() + self.config.deadline_margin
    }

    /// Every account (its own first, then the organization's active ones,
    /// then `SWEEP_ACCOUNTS`, less `SWEEP_EXCLUDE_ACCOUNTS`) in every guarded
    /// region (its own first, then `GUARD_REGIONS`). An organization that
    /// cannot be listed (or not before the deadline) is a problem; the
    /// accounts listed are still swept.
    async fn sweep_scope(
        &self,
        home: &AccountRef,
        invocation: &Invocation,
    ) -> (SweepScope, Vec<String>) {
        let mut problems = Vec::new();
        let mut accounts = vec![home.account.clone()];
        if let Some(organization) = &self.organization {
            let room = self.time_to_answer() * 2;
            let listed = organization
                .active_accounts(|| invocation.deadline.allows(room))
                .await;
            accounts.extend(listed.accounts);
            problems.extend(listed.incomplete.map(|p| format!("organization: {p}")));
        }
        accounts.extend(self.config.sweep_accounts.iter().cloned());
        accounts.retain(|a| !self.config.sweep_exclude_accounts.contains(a));
        let mut regions = vec![home.region.clone()];
        regions.extend(self.config.guard_regions.iter().cloned());
        dedup(&mut accounts);
        dedup(&mut regions);
        (SweepScope { accounts, regions }, problems)
    }

    /// The sweep's alert when it could not reach or judge everything, and
    /// its answer.
    pub(super) async fn tell_sweep(
        &self,
        request: &SweepRequest,
        home: &AccountRef,
        summary: SweepSummary,
    ) -> Result<Answer, GuardError> {
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
            alert::Audience::Everyone,
        )
        .await
        .map(|_| ())
        .map_err(|message| GuardError::AlertNotSent {
            cluster: "*".to_string(),
            done: format!("swept {} clusters", summary.seen),
            message,
        })
    }

    /// The accounts, a few at a time (each holds its credentials only while
    /// its regions are swept); their account-regions share
    /// `SWEEP_PLACES_IN_FLIGHT` places in flight.
    async fn sweep_accounts(
        &self,
        request: &SweepRequest,
        home: &AccountRef,
        scope: &SweepScope,
        invocation: &Invocation,
        telling: &Telling,
        summary: &mut SweepSummary,
    ) {
        let in_flight = self.config.sweep_places_in_flight;
        let places = Semaphore::new(in_flight);
        let mut parts = futures_util::stream::iter(&scope.accounts)
            .map(|account| {
                let sweep = Sweep {
                    request,
                    home,
                    invocation,
                    places: &places,
                    telling,
                };
                self.sweep_account(account, &scope.regions, sweep)
            })
            .buffer_unordered(in_flight);
        while let Some(part) = parts.next().await {
            summary.add(part);
        }
    }

    /// One account: its credentials once, then each region.
    async fn sweep_account(
        &self,
        account: &str,
        regions: &[String],
        sweep: Sweep<'_>,
    ) -> SweepSummary {
        let mut tally = SweepSummary::default();
        let Some(session) = self.eks.account(account, sweep.home).await else {
            for region in regions {
                let place = Place::new(account, region);
                tally.failed.push(format!(
                    "{place}: no EKS client (REMEDIATION_ROLE_NAME unset)"
                ));
            }
            return tally;
        };
        let mut parts = futures_util::stream::iter(regions)
            .map(|region| async {
                let _permit = sweep.places.acquire().await;
                self.sweep_place(&session, account, region, sweep).await
            })
            .buffer_unordered(regions.len().max(1));
        while let Some(part) = parts.next().await {
            tally.add(part);
        }
        tally
    }

    /// One account-region: list its clusters, then judge them,
    /// `SWEEP_CONCURRENCY` at a time. Its client is dropped when it is done.
    async fn sweep_place(
        &self,
        session: &AccountSession,
        account: &str,
        region: &str,
        sweep: Sweep<'_>,
    ) -> SweepSummary {
        let mut tally = SweepSummary::default();
        let place = Place::new(account, region);
        let eks = session.eks_in(region);
        let deadline = sweep.invocation.deadline;
        if !deadline.allows(self.time_for_calls(&eks, 1)) {
            tally.failed.push(format!("{place}: {NOT_REACHED}"));
            return tally;
        }
        let names = match eks
            .list_clusters(|| deadline.allows(self.time_for_calls(&eks, 1)))
            .await
        {
            Ok(names) => names,
            Err(failure) => {
                tally
                    .failed
                    .push(format!("{place}: ListClusters: {failure}"));
                return tally;
            }
        };
        tally.places_listed = 1;
        tally.seen = names.len();
        let mut outcomes = futures_util::stream::iter(names)
            .map(|name| {
                let target = Target {
                    eks: eks.clone(),
                    place: place.clone(),
                    name,
                };
                async move {
                    let label = format!("{}/{}", target.place, target.name);
                    let result = self.sweep_one(&target, sweep).await;
                    (label, result)
                }
            })
            .buffer_unordered(self.config.sweep_concurrency);
        while let Some((label, result)) = outcomes.next().await {
            tally.count(label, result);
        }
        tally
    }

    /// One cluster: read, decide, revert (never waiting), and leave what
    /// to tell (its finding, its line in the summary) to the sweep.
    async fn sweep_one(&self, target: &Target, sweep: Sweep<'_>) -> Result<Answer, GuardError> {
        let (name, invocation) = (target.name.as_str(), sweep.invocation);
        let change = &swept_change(sweep.request, target);
        let state = match self.read_swept(target, invocation).await? {
            Ok(state) => state,
            Err(answer) => return Ok(answer),
        };
        let (action, verdict, exemption) = self.decide_on(change, &state);
        let mut acted = match &action {
            Action::Nothing => return Ok(Answer::new(Outcome::Compliant, Some(name), "complies")),
            // An exemption is alerted when it is granted (tag events), not every
            // hour: the summary lists it (and its end, when near). One that ended
            // or does not count is no exemption: decided like any other.
            Action::Exempt(_) => {
                self.tell_exempt(target, &state, sweep.telling);
                return Ok(Answer::new(Outcome::Exempt, Some(name), "exempt"));
            }
            Action::Revert(fix) => match self.revert_swept(target, change, fix, invocation).await {
                Ok(Ok(acted)) => acted,
                Ok(Err(answer)) => return Ok(answer),
                Err(error) => {
                    // Open and not reverted: refused (an update runs) or
                    // not reached. Pending, and listed for people.
                    if let GuardError::Busy { waiting_for, .. } = &error {
                        sweep.telling.pending(&target.place, name, waiting_for);
                    }
                    return Err(error);
                }
            },
            Action::WouldRevert(_) | Action::AlreadyCompliant => Acted::default(),
        };
        let since = self
            .read_history(target, &state, &mut acted, invocation)
            .await;
        let arn = alert::cluster_arn(change, state.arn.as_deref(), &sweep.home.partition);
        let finding = alert::finding(
            change,
            judged(&arn, &state, &action, &verdict, exemption.as_ref()),
            self.config.mode,
            &acted,
        );
        log_decision(change, finding.outcome, &finding.action.description);
        let answer = Answer {
            update_id: acted.update_id,
            ..Answer::new(
                finding.outcome,
                Some(name),
                finding.action.description.clone(),
            )
        };
        // Every tenth finding sends a batch of ten, within the cluster's own
        // time (its revert was started only with time for its alert).
        if let Some(batch) = sweep.telling.finding(finding, since) {
            self.send_batch(batch, sweep.telling).await;
        }
        Ok(answer)
    }

    /// An exempt open cluster, for the summary.
    fn tell_exempt(&self, target: &Target, state: &ClusterState, telling: &Telling) {
        let value = state.tags.get(&self.config.exempt_tag_key);
        let exemption = crate::policy::exemption(
            value.map(String::as_str),
            crate::clock::epoch_seconds(),
            self.config.max_exemption_days,
        );
        telling.exempt(&target.place, &target.name, &exemption);
    }

    /// The cluster as it is, when it is `ACTIVE`; otherwise the answer for
    /// it (deleted, beyond repair) or, when busy, the error that leaves it
    /// pending. A cluster is started only with time for that first call, at
    /// the latency EKS has shown (a compliant cluster needs no more).
    async fn read_swept(
        &self,
        target: &Target,
        invocation: &Invocation,
    ) -> Result<Result<ClusterState, Answer>, GuardError> {
        let (eks, name) = (&target.eks, target.name.as_str());
        if !invocation.deadline.allows(self.time_for_calls(eks, 1)) {
            return Err(busy(name, NOT_REACHED.to_string()));
        }
        let state = match eks.describe(name).await {
            Ok(Some(state)) => state,
            Ok(None) => {
                return Ok(Err(Answer::new(
                    Outcome::ClusterGone,
                    Some(name),
                    "deleted",
                )));
            }
            Err(failure) if failure.is_transient() => return Err(busy(name, failure.to_string())),
            Err(failure) => return Err(GuardError::eks("DescribeCluster", name, failure)),
        };
        if state.is_beyond_repair() {
            let status = state.status.clone();
            return Ok(Err(Answer::new(Outcome::ClusterGone, Some(name), status)));
        }
        if !state.is_active() {
            return Err(busy(name, format!("the cluster is {}", state.status)));
        }
        Ok(Ok(state))
    }

    /// The revert, and then the cluster's earlier updates for its alert.
    /// No look at the updates first: EKS refuses an update while another
    /// runs (`ResourceInUseException`), which leaves the cluster pending and
    /// unchanged for one call, however long its history (issue 10). The
    /// settings read may be old ones (rancher/eks-operator#672) only while an
    /// update runs, and then EKS refuses.
    async fn revert_swept(
        &self,
        target: &Target,
        change: &ClusterChange,
        fix: &EndpointFix,
        invocation: &Invocation,
    ) -> Result<Result<Acted, Answer>, GuardError> {
        let (eks, name, deadline) = (&target.eks, target.name.as_str(), invocation.deadline);
        // The revert, its check and the alert.
        if !deadline.allows(self.time_for_calls(eks, 3)) {
            return Err(busy(
                name,
                format!("{NOT_REACHED} (no time left to revert)"),
            ));
        }
        let sent = self
            .send_fix(eks, change, fix, invocation.started_ms, false)
            .await;
        let acted = match sent {
            Ok(sent @ (Sent::Update(_) | Sent::AlreadyDesired)) => {
                acted_from(sent, invocation.started_ms)
            }
            Err(EksFailure::NotFound(_)) => {
                return Ok(Err(Answer::new(
                    Outcome::ClusterGone,
                    Some(name),
                    "deleted",
                )));
            }
            Err(failure @ (EksFailure::InUse(_) | EksFailure::Transient(_))) => {
                return Err(busy(name, failure.to_string()));
            }
            Err(failure) => return Err(GuardError::eks("UpdateClusterConfig", name, failure)),
        };
        Ok(Ok(acted))
    }

    /// After the revert (or instead of it, in report mode), the cluster's
    /// earlier updates for its finding: whether the last attempt to close
    /// the endpoint failed, how often it was opened lately, and since when
    /// it has been open (epoch seconds, also returned for the summary). Only
    /// while the deadline allows; the finding goes out without them
    /// otherwise.
    async fn read_history(
        &self,
        target: &Target,
        state: &ClusterState,
        acted: &mut Acted,
        invocation: &Invocation,
    ) -> Option<f64> {
        let (eks, name) = (&target.eks, target.name.as_str());
        let ours = acted.update_id.as_deref();
        let history = self
            .earlier_updates(eks, name, ours, invocation.deadline)
            .await?;
        let policy = &self.config.policy;
        let since = open_since(policy, &history, state.created_at);
        acted.note = last_close_failed(policy, &history);
        acted.history = Some(Openings {
            open_since: since.map(|s| crate::policy::rfc3339(s as i64)),
            ..openings(policy, &history, crate::clock::now_seconds())
        });
        since
    }
}

/// What every account-region of one sweep shares.
#[derive(Clone, Copy)]
struct Sweep<'a> {
    request: &'a SweepRequest,
    home: &'a AccountRef,
    invocation: &'a Invocation,
    /// Permits for the account-regions in flight.
    places: &'a Semaphore,
    /// What the judged clusters leave to tell.
    telling: &'a Telling,
}

/// The function's own account and region, from its ARN (or, when called
/// without one, from the scheduled event).
pub(super) fn sweep_home(request: &SweepRequest, invocation: &Invocation) -> AccountRef {
    invocation.home().unwrap_or_else(|| AccountRef {
        partition: "aws".to_string(),
        region: request.region.clone(),
        account: request.account.clone(),
    })
}

/// When the sweep was scheduled (epoch seconds): the event's time, which
/// EventBridge writes with `Z` and the event parser re-writes with `+00:00`;
/// now if it has none.
fn scheduled_at(request: &SweepRequest) -> i64 {
    request
        .time
        .as_deref()
        .and_then(crate::clock::parse_rfc3339_with_offset)
        .unwrap_or_else(crate::clock::epoch_seconds)
}

/// A cluster left pending: busy, or not reached.
fn busy(cluster: &str, waiting_for: String) -> GuardError {
    GuardError::Busy {
        cluster: cluster.to_string(),
        waiting_for,
    }
}

impl SweepSummary {
    /// An empty tally for `scope`, with the problems met listing it.
    pub(super) fn of(scope: &SweepScope, problems: Vec<String>, slice: Option<String>) -> Self {
        SweepSummary {
            slice,
            accounts: scope.accounts.len(),
            regions: scope.regions.len(),
            failed: problems,
            ..SweepSummary::default()
        }
    }

    /// Adds an account's or account-region's tally.
    fn add(&mut self, part: SweepSummary) {
        self.places_listed += part.places_listed;
        self.seen += part.seen;
        self.compliant += part.compliant;
        self.reverted += part.reverted;
        self.reported += part.reported;
        self.exempt += part.exempt;
        self.not_reached += part.not_reached;
        self.pending.extend(part.pending);
        self.failed.extend(part.failed);
    }

    /// Counts one cluster's result.
    fn count(&mut self, label: String, result: Result<Answer, GuardError>) {
        match result {
            Ok(answer) => match answer.outcome {
                Outcome::Reverted => self.reverted += 1,
                Outcome::WouldRevert => self.reported += 1,
                Outcome::Exempt => self.exempt += 1,
                _ => self.compliant += 1,
            },
            Err(GuardError::Busy { waiting_for, .. })
            | Err(GuardError::DeadlineExceeded { waiting_for, .. }) => {
                if waiting_for.starts_with(NOT_REACHED) {
                    self.not_reached += 1;
                }
                self.pending.push(format!("{label}: {waiting_for}"))
            }
            Err(error) => self.failed.push(format!("{label}: {error}")),
        }
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

pub(super) fn log_sweep(summary: &SweepSummary) {
    info!(
        slice = summary.slice.as_deref().unwrap_or(""),
        slices_handed_out = summary.slices_handed_out,
        accounts = summary.accounts,
        regions = summary.regions,
        places_listed = summary.places_listed,
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
    fn each_result_is_counted_once_and_parts_add_up() {
        let answer = |outcome| Ok(Answer::new(outcome, Some("c"), "r"));
        let mut place = SweepSummary::default();
        place.count("a/r/1".into(), answer(Outcome::Reverted));
        place.count("a/r/2".into(), answer(Outcome::WouldRevert));
        place.count("a/r/3".into(), answer(Outcome::Exempt));
        place.count("a/r/4".into(), answer(Outcome::ClusterGone));
        place.count("a/r/5".into(), Err(busy("5", NOT_REACHED.to_string())));
        place.count(
            "a/r/6".into(),
            Err(busy("6", "the cluster is CREATING".into())),
        );
        place.count(
            "a/r/7".into(),
            Err(GuardError::eks(
                "DescribeCluster",
                "7",
                EksFailure::Fatal("denied".into()),
            )),
        );
        let counts = |s: &SweepSummary| {
            (
                s.reverted,
                s.reported,
                s.exempt,
                s.compliant,
                s.pending.len(),
                s.not_reached,
                s.failed.len(),
            )
        };
        assert_eq!(counts(&place), (1, 1, 1, 1, 2, 1, 1));
        assert!(place.failed[0].starts_with("a/r/7: "), "{:?}", place.failed);
        let scope = SweepScope {
            accounts: vec!["a".into(), "b".into()],
            regions: vec!["r".into()],
        };
        let mut whole = SweepSummary::of(&scope, vec!["organization: slow".into()], None);
        place.places_listed = 1;
        place.seen = 7;
        whole.add(place.clone());
        whole.add(place);
        assert_eq!(
            (
                whole.accounts,
                whole.regions,
                whole.places_listed,
                whole.seen
            ),
            (2, 1, 2, 14)
        );
        assert_eq!(counts(&whole), (2, 2, 2, 2, 4, 2, 3));
        assert_eq!(whole.failed[0], "organization: slow");
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
    fn the_sweep_counts_from_its_scheduled_time_in_either_spelling() {
        let at = |time: Option<&str>| {
            scheduled_at(&SweepRequest {
                account: "111122223333".into(),
                region: "eu-west-1".into(),
                time: time.map(str::to_string),
            })
        };
        assert_eq!(at(Some("2026-11-23T07:00:00Z")), 1_795_417_200);
        assert_eq!(at(Some("2026-11-23T07:00:00+00:00")), 1_795_417_200);
        let now = crate::clock::epoch_seconds();
        assert!((at(None) - now).abs() <= 1);
        assert!((at(Some("soon")) - now).abs() <= 1);
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
