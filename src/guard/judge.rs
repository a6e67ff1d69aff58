//! One cluster from an event, one step per function:
//!
//! 1. [`Guard::wait_until_settled`]: until the cluster is `ACTIVE` **and** no
//!    update is `InProgress`. The status alone does not tell: endpoint
//!    updates have been seen to keep the cluster `ACTIVE` for their whole run,
//!    describing the old settings (rancher/eks-operator#672).
//! 2. Only then read the settings (read earlier, they could be stale by the
//!    time the update reports done), and decide on them, never on the event:
//!    events can be stale, replayed, or the guard's own.
//! 3. [`Guard::send_fix`]: revert, under a token derived from the event.
//!    `ResourceInUseException` (another update, or AWS's own work with no
//!    update listed, aws/containers-roadmap#1500) means: pause, wait again,
//!    re-read, re-decide.
//! 4. Alert at once that the revert started.
//! 5. [`Guard::follow_revert`]: watch the revert's update to its end. An update
//!    EKS accepted can still end `Failed`; then a second alert says the
//!    endpoint is still open, and the invocation fails so Lambda retries it.

use std::ops::ControlFlow;
use std::time::Duration;

use tracing::{info, warn};

use super::backoff::Backoff;
use super::token::{Cause, revert_token};
use super::{Answer, Deadline, Guard, Invocation, log_decision};
use crate::alert::{self, Acted, ExemptionRef, FailedRevert, Judged};
use crate::clock::{epoch_seconds, now_seconds, seconds_since};
use crate::eks::{
    AccountRef, ClusterState, Eks, EksFailure, HISTORY_READS_IN_FLIGHT, Place, RevertStarted,
    UpdateState, UpdateSummary, describe_update_errors,
};
use crate::error::GuardError;
use crate::event::{ClusterChange, Origin};
use crate::history::{Openings, openings};
use crate::outcome::Outcome;
use crate::policy::{self, Action, EndpointFix, Mode, Verdict, decide, evaluate};
use crate::securityhub::Standing;
use crate::tool;

/// How many spent tokens (an earlier revert of the same cause that failed,
/// or no longer holds) the guard steps over before giving up.
const MAX_SPENT_TOKENS: usize = 4;

/// Why the guard waits, and how long until it looks again.
type Wait = (String, Duration);

/// The cluster as read once settled, what was decided on it, and what was
/// done.
struct Decided {
    state: ClusterState,
    action: Action,
    verdict: Verdict,
    exemption: Option<ExemptionRef>,
    acted: Acted,
}

/// What became of sending a revert.
enum Revert {
    Sent(Acted),
    /// EKS refused it for now: another update, or a transient error.
    Refused(EksFailure),
    /// The cluster was deleted.
    Gone,
}

/// What became of sending a fix.
#[derive(Debug)]
pub(super) enum Sent {
    /// EKS runs (or, for a cluster that complies, ran) this update.
    Update(UpdateSummary),
    /// EKS refused the fix as a no-op.
    AlreadyDesired,
}

impl Guard {
    /// One cluster, step by step: wait until it settles and read it, decide,
    /// revert (again after each refusal), read its history, alert, record,
    /// and follow the revert to its end.
    pub(super) async fn judge(
        &self,
        eks: &Eks,
        home: &AccountRef,
        change: &ClusterChange,
        invocation: &Invocation,
    ) -> Result<Answer, GuardError> {
        if self.is_own_change(change) {
            return Ok(own_change(change));
        }
        let deadline = invocation.deadline;
        let mut decided = match self.settle_decide_revert(eks, change, invocation).await? {
            ControlFlow::Continue(decided) => decided,
            ControlFlow::Break(gone) => return Ok(gone),
        };
        self.add_history(eks, change, &mut decided, deadline).await;
        let Decided {
            state,
            action,
            verdict,
            exemption,
            acted,
        } = &decided;
        let arn = alert::cluster_arn(change, state.arn.as_deref(), &home.partition);
        let judged = judged(&arn, state, action, verdict, exemption.as_ref());
        let mut answer = self.tell(change, judged, acted, invocation).await?;
        let recorded = self
            .record_judged(home, change, state, judged, acted, deadline)
            .await;
        match &acted.update_id {
            // How the revert ends is recorded last, and is what counts.
            Some(update_id) => {
                self.confirm_revert(
                    eks,
                    home,
                    change,
                    judged,
                    acted.clone(),
                    update_id,
                    deadline,
                )
                .await?;
                answer.revert_confirmed = Some(true);
            }
            None => recorded?,
        }
        Ok(answer)
    }

    /// After the revert, before the alert: how often the endpoint was opened
    /// lately (nothing for a compliant cluster). Finished updates come from
    /// memory, so this is one pass per environment.
    async fn add_history(
        &self,
        eks: &Eks,
        change: &ClusterChange,
        decided: &mut Decided,
        deadline: Deadline,
    ) {
        if decided.action == Action::Nothing {
            return;
        }
        let name = change.cluster_name.as_str();
        let ours = decided.acted.update_id.as_deref();
        decided.acted.history = self.openings(eks, name, ours, deadline).await;
    }

    /// Waits until the cluster settles, reads it, decides, and reverts when
    /// the decision says so; after a refusal (another update, a transient
    /// error) pauses and does it all again. `Break`: the cluster is gone or
    /// beyond repair, and the answer says so.
    async fn settle_decide_revert(
        &self,
        eks: &Eks,
        change: &ClusterChange,
        invocation: &Invocation,
    ) -> Result<ControlFlow<Answer, Decided>, GuardError> {
        let deadline = invocation.deadline;
        let name = change.cluster_name.as_str();
        let mut backoff = Backoff::new(self.config.poll_interval, name);
        // First the update the event started; after a refusal, any update.
        let mut waiting_for = change.update_id.clone();
        loop {
            let Some(state) = self
                .wait_until_settled(eks, name, waiting_for.as_deref(), &mut backoff, deadline)
                .await?
            else {
                return Ok(ControlFlow::Break(gone(
                    change,
                    "the cluster no longer exists",
                )));
            };
            if state.is_beyond_repair() {
                let reason = format!("the cluster is {}: nothing to revert", state.status);
                return Ok(ControlFlow::Break(gone(change, &reason)));
            }
            let (action, verdict, exemption) = self.decide_on(change, &state);
            let (action, acted) = match action {
                Action::Revert(fix) => match self.revert(eks, change, &fix, invocation).await? {
                    Revert::Sent(acted) => (Action::Revert(fix), acted),
                    Revert::Gone => {
                        let reason = "the cluster was deleted before the revert";
                        return Ok(ControlFlow::Break(gone(change, reason)));
                    }
                    Revert::Refused(failure) => {
                        warn!(cluster = name, %failure, "revert refused; pausing, then judging again");
                        let pause = backoff.next_pause();
                        self.pause(name, &failure.to_string(), pause, deadline)
                            .await?;
                        waiting_for = None;
                        continue;
                    }
                },
                Action::AlreadyCompliant => {
                    self.earlier_revert(eks, change, &state, invocation.started_ms)
                        .await
                }
                action => (action, Acted::default()),
            };
            let decided = Decided {
                state,
                action,
                verdict,
                exemption,
                acted,
            };
            return Ok(ControlFlow::Continue(decided));
        }
    }

    /// Sends the revert, when the deadline leaves time for it and its alert.
    async fn revert(
        &self,
        eks: &Eks,
        change: &ClusterChange,
        fix: &EndpointFix,
        invocation: &Invocation,
    ) -> Result<Revert, GuardError> {
        let name = change.cluster_name.as_str();
        if !invocation.deadline.allows(self.config.time_to_revert()) {
            return Err(GuardError::DeadlineExceeded {
                cluster: name.to_string(),
                waiting_for: "no time left to revert and alert".to_string(),
            });
        }
        match self
            .send_fix(eks, change, fix, invocation.started_ms, false)
            .await
        {
            Ok(sent) => Ok(Revert::Sent(acted_from(sent, invocation.started_ms))),
            Err(EksFailure::NotFound(_)) => Ok(Revert::Gone),
            Err(failure @ (EksFailure::InUse(_) | EksFailure::Transient(_))) => {
                Ok(Revert::Refused(failure))
            }
            Err(failure) => Err(GuardError::eks("UpdateClusterConfig", name, failure)),
        }
    }

    /// Waits until the cluster is `ACTIVE` with no update in progress, then
    /// reads it. `Ok(None)`: the cluster no longer exists.
    ///
    /// Each poll checks the update first and reads the settings second. An
    /// update with a known id costs one `DescribeUpdate` per poll; finished
    /// updates are answered from memory.
    async fn wait_until_settled(
        &self,
        eks: &Eks,
        name: &str,
        update_id: Option<&str>,
        backoff: &mut Backoff,
        deadline: Deadline,
    ) -> Result<Option<ClusterState>, GuardError> {
        // Updates are refused while a cluster is CREATING, so once a read
        // says CREATING, the next reads skip the update check: the read that
        // says ACTIVE ends creation with no update before it.
        let mut creating = false;
        loop {
            let pending = match creating {
                true => None,
                false => self.update_pending(eks, name, update_id, backoff).await?,
            };
            let (waiting_for, pause) = match pending {
                Some(wait) => wait,
                None => match self.read_settled(eks, name, &mut creating, backoff).await? {
                    Ok(state) => return Ok(state),
                    Err(wait) => wait,
                },
            };
            self.pause(name, &waiting_for, pause, deadline).await?;
        }
    }

    /// What to wait for while an update is `InProgress` (`update_id`, or any
    /// update when `None`), or while the check keeps failing; `None`: no
    /// update runs.
    async fn update_pending(
        &self,
        eks: &Eks,
        name: &str,
        update_id: Option<&str>,
        backoff: &mut Backoff,
    ) -> Result<Option<Wait>, GuardError> {
        let pending = match update_id {
            Some(id) => eks.update(name, id).await.map(|update| {
                update
                    .filter(|u| u.state == UpdateState::InProgress)
                    .map(|u| u.id)
            }),
            None => eks.update_in_progress(name).await,
        };
        match pending {
            Ok(Some(id)) => Ok(Some((
                format!("update {id} is InProgress"),
                self.config.poll_interval,
            ))),
            Ok(None) => Ok(None),
            Err(failure) if failure.is_transient() => Ok(Some((
                format!("the update check keeps failing ({failure})"),
                backoff.next_pause(),
            ))),
            Err(failure) => {
                let operation = match update_id {
                    Some(_) => "DescribeUpdate",
                    None => "ListUpdates",
                };
                Err(GuardError::eks(operation, name, failure))
            }
        }
    }

    /// Reads the cluster: `Ok` once it is `ACTIVE` or beyond repair (`None`:
    /// it no longer exists), otherwise what to wait for. `creating` turns
    /// true once a read says `CREATING`.
    async fn read_settled(
        &self,
        eks: &Eks,
        name: &str,
        creating: &mut bool,
        backoff: &mut Backoff,
    ) -> Result<Result<Option<ClusterState>, Wait>, GuardError> {
        match eks.describe(name).await {
            Ok(None) => Ok(Ok(None)),
            Ok(Some(state)) if state.is_active() || state.is_beyond_repair() => Ok(Ok(Some(state))),
            Ok(Some(state)) if state.is_creating() => {
                *creating = true;
                Ok(Err((
                    "the cluster is CREATING".to_string(),
                    creating_pause(self.config.creating_poll, state.created_at),
                )))
            }
            Ok(Some(state)) => Ok(Err((
                format!("the cluster is {}", state.status),
                self.config.poll_interval,
            ))),
            Err(failure) if failure.is_transient() => Ok(Err((
                format!("DescribeCluster keeps failing ({failure})"),
                backoff.next_pause(),
            ))),
            Err(failure) => Err(GuardError::eks("DescribeCluster", name, failure)),
        }
    }

    /// The pure decision on the cluster's real settings, and the exempt tag
    /// as read (for the alert: an exemption that ended or does not count is
    /// no exemption, and the alert says why).
    pub(super) fn decide_on(
        &self,
        change: &ClusterChange,
        state: &ClusterState,
    ) -> (Action, Verdict, Option<ExemptionRef>) {
        let key = self.config.exempt_tag_key.as_str();
        let value = state.tags.get(key).map(String::as_str);
        let exemption = policy::exemption(value, epoch_seconds(), self.config.max_exemption_days);
        let (action, verdict) = decide(
            &self.config.policy,
            self.config.mode,
            exemption.is_active(),
            change.requested.as_ref(),
            &state.access,
        );
        let read = value.map(|value| ExemptionRef::new(key, value, &exemption));
        (action, verdict, read)
    }

    /// Sends `fix` under the cause's token. A token EKS knows answers with
    /// the update it started before. One that EKS created before this
    /// invocation began (`since_ms`) and that has finished is spent: it
    /// failed, or it succeeded and no longer holds (the cluster was just read
    /// breaking the policy), so the next token in the chain (derived from
    /// that update) starts a new one. Every handler of one cause walks the
    /// same chain, so duplicates and retries still end with one update each
    /// step. An update created during this invocation is this invocation's.
    /// `complies`: the cluster complies (asking for an earlier revert).
    pub(super) async fn send_fix(
        &self,
        eks: &Eks,
        change: &ClusterChange,
        fix: &EndpointFix,
        since_ms: u64,
        complies: bool,
    ) -> Result<Sent, EksFailure> {
        let name = change.cluster_name.as_str();
        let place = Place::new(&change.account, &change.region);
        let cause = cause_of(change);
        let mut after: Option<String> = None;
        for _ in 0..MAX_SPENT_TOKENS {
            let token = cause.map(|c| revert_token(c, &place, name, fix, after.as_deref()));
            let id = match eks.apply(name, fix, token.as_deref()).await? {
                RevertStarted::AlreadyDesired => return Ok(Sent::AlreadyDesired),
                RevertStarted::Update(id) => id,
            };
            let Some(update) = eks.started_update(name, &id).await? else {
                return Err(EksFailure::NotFound(format!("update {id} of {name}")));
            };
            let before_this_invocation = created_before(&update, since_ms);
            // A success only counts as spent while the cluster breaks the policy.
            let spent = before_this_invocation
                && match update.state {
                    UpdateState::InProgress => false,
                    UpdateState::Successful => !complies,
                    UpdateState::Failed | UpdateState::Cancelled => true,
                };
            if token.is_none() || !spent {
                return Ok(Sent::Update(update));
            }
            warn!(cluster = name, update = %id, state = update.state.as_str(), "the token's earlier revert is finished; taking the next token");
            after = Some(id);
        }
        Err(EksFailure::Fatal(format!(
            "EKS answered {MAX_SPENT_TOKENS} revert tokens for {name} with finished updates"
        )))
    }

    /// The call asked for a breach and the cluster complies: was that this
    /// guard's doing (a retry, or a duplicate delivery, of an event it already
    /// reverted)? Asking EKS with the event's token is safe only when the fix
    /// would change nothing on the cluster as it is: EKS then answers with
    /// the guard's earlier update, or refuses a no-op.
    ///
    /// When it was, the action is the revert (and the alert says "reverted",
    /// with the update); otherwise it stays "already compliant".
    async fn earlier_revert(
        &self,
        eks: &Eks,
        change: &ClusterChange,
        state: &ClusterState,
        since_ms: u64,
    ) -> (Action, Acted) {
        let not_ours = (Action::AlreadyCompliant, Acted::default());
        let Some(Verdict::Violation { fix, .. }) = change
            .requested
            .as_ref()
            .map(|requested| evaluate(&self.config.policy, requested))
        else {
            return not_ours;
        };
        if self.config.mode != Mode::Enforce
            || cause_of(change).is_none()
            || !fix.is_satisfied_by(&state.access)
        {
            return not_ours;
        }
        match self.send_fix(eks, change, &fix, since_ms, true).await {
            Ok(Sent::Update(update)) => (
                Action::Revert(fix),
                Acted {
                    update_id: Some(update.id),
                    earlier: true,
                    ..Acted::default()
                },
            ),
            Ok(Sent::AlreadyDesired) => not_ours,
            Err(failure) => {
                warn!(cluster = %change.cluster_name, %failure, "could not ask EKS for the guard's earlier revert");
                not_ours
            }
        }
    }

    /// Alerts what was decided and done (nothing for a compliant cluster),
    /// and logs the decision. A hand-off that finds its own earlier revert
    /// running told people when that revert started: it only follows it.
    async fn tell(
        &self,
        change: &ClusterChange,
        judged: Judged<'_>,
        acted: &Acted,
        invocation: &Invocation,
    ) -> Result<Answer, GuardError> {
        let name = change.cluster_name.as_str();
        if invocation.hand_off.is_some() && acted.earlier {
            return Ok(Answer {
                update_id: acted.update_id.clone(),
                ..Answer::new(
                    Outcome::Reverted,
                    Some(name),
                    "following the revert started before the hand-off",
                )
            });
        }
        let reason = match judged.verdict {
            Verdict::Violation { reason, .. } => reason.clone(),
            Verdict::Compliant if acted.earlier => {
                "the cluster complies: the guard reverted it when it first handled this event"
                    .to_string()
            }
            Verdict::Compliant => "the cluster complies".to_string(),
        };
        if *judged.action == Action::Nothing {
            log_decision(change, Outcome::Compliant, &reason);
            return Ok(Answer::new(Outcome::Compliant, Some(name), reason));
        }
        let finding = alert::finding(change, judged, self.config.mode, acted);
        log_decision(change, finding.outcome, &reason);
        let message_id = self.send_alert(name, &finding).await?;
        let started_now = acted.update_id.is_some() && !acted.earlier;
        Ok(Answer {
            update_id: acted.update_id.clone(),
            alert_message_id: Some(message_id),
            event_to_revert_seconds: change
                .event_time
                .as_deref()
                .filter(|_| started_now)
                .and_then(seconds_since),
            ..Answer::new(finding.outcome, Some(name), reason)
        })
    }

    /// Follows the revert to its end; one that ended `Failed` or `Cancelled`
    /// gets a second alert saying the endpoint is still open, and fails the
    /// invocation so that Lambda retries it (and reverts again). Either end
    /// is recorded in Security Hub (a success as resolved).
    #[allow(clippy::too_many_arguments)]
    async fn confirm_revert(
        &self,
        eks: &Eks,
        home: &AccountRef,
        change: &ClusterChange,
        judged: Judged<'_>,
        acted: Acted,
        update_id: &str,
        deadline: Deadline,
    ) -> Result<(), GuardError> {
        let name = change.cluster_name.as_str();
        let update = self.follow_revert(eks, name, update_id, deadline).await?;
        if update.state == UpdateState::Successful {
            let finding = alert::finding(change, judged, self.config.mode, &acted);
            return self
                .record(home, &finding, Standing::Resolved, None, deadline)
                .await;
        }
        let failed = FailedRevert {
            update_id: update.id.clone(),
            status: update.state.as_str().to_string(),
            errors: update.errors.clone(),
        };
        let acted = Acted {
            failed: Some(failed),
            ..acted
        };
        let finding = alert::finding(change, judged, self.config.mode, &acted);
        log_decision(change, Outcome::RevertFailed, &finding.action.description);
        self.send_alert(name, &finding).await?;
        // The failed revert is this invocation's error (logged if this fails).
        let _ = self.record_told(home, &finding, None, deadline).await;
        Err(GuardError::RevertFailed {
            cluster: name.to_string(),
            update_id: update.id,
            status: update.state.as_str().to_string(),
            errors: describe_update_errors(&update.errors),
        })
    }

    /// Watches the revert's update until it is `Successful`, `Failed` or
    /// `Cancelled`, within the deadline (one `DescribeUpdate` every five
    /// poll intervals).
    async fn follow_revert(
        &self,
        eks: &Eks,
        name: &str,
        update_id: &str,
        deadline: Deadline,
    ) -> Result<UpdateSummary, GuardError> {
        let mut backoff = Backoff::new(self.config.poll_interval, name);
        loop {
            let (waiting_for, pause) = match eks.update(name, update_id).await {
                Ok(Some(update)) if update.state.is_finished() => return Ok(update),
                Ok(Some(_)) => (
                    format!("the revert (update {update_id}) is still InProgress"),
                    // An endpoint update takes about five minutes and
                    // nothing waits on its end but the confirmation: a
                    // slower pace (5 s by default, about 60 reads).
                    self.config.poll_interval * 5,
                ),
                Ok(None) => {
                    let gone = format!(
                        "the revert's update {update_id} is gone (was the cluster deleted?)"
                    );
                    return Err(GuardError::eks(
                        "DescribeUpdate",
                        name,
                        EksFailure::NotFound(gone),
                    ));
                }
                Err(failure) if failure.is_transient() => (
                    format!("following the revert (update {update_id}) keeps failing ({failure})"),
                    backoff.next_pause(),
                ),
                Err(failure) => {
                    return Err(GuardError::eks("DescribeUpdate", name, failure));
                }
            };
            self.pause(name, &waiting_for, pause, deadline).await?;
        }
    }

    /// Sleeps `pause`, or fails when that would leave too little time before
    /// the deadline for what must still follow (a revert and its alert).
    async fn pause(
        &self,
        name: &str,
        waiting_for: &str,
        pause: Duration,
        deadline: Deadline,
    ) -> Result<(), GuardError> {
        if !deadline.allows(pause + self.config.time_to_revert()) {
            warn!(
                cluster = name,
                waiting_for, "deadline reached while waiting"
            );
            return Err(GuardError::DeadlineExceeded {
                cluster: name.to_string(),
                waiting_for: waiting_for.to_string(),
            });
        }
        tokio::time::sleep(pause).await;
        Ok(())
    }

    /// The guard's own revert comes back as a CloudTrail event. It is
    /// recognised by the session name the guard's role runs under and by
    /// asking for compliant settings, so a look-alike session gains nothing:
    /// a request that breaks the policy is never skipped.
    fn is_own_change(&self, change: &ClusterChange) -> bool {
        let actor = &change.actor;
        actor.identity_type.as_deref() == Some("AssumedRole")
            && actor
                .session_name
                .as_ref()
                .is_some_and(|s| self.config.own_session_names.contains(s))
            && change
                .requested
                .as_ref()
                .is_some_and(|r| !evaluate(&self.config.policy, r).is_violation())
    }
}

impl Guard {
    /// How often the cluster's endpoint was opened lately; `None` when its
    /// updates cannot be read, or not in the time left (the alert goes out
    /// without it).
    async fn openings(
        &self,
        eks: &Eks,
        name: &str,
        ours: Option<&str>,
        deadline: Deadline,
    ) -> Option<Openings> {
        let history = self.earlier_updates(eks, name, ours, deadline).await?;
        Some(openings(&self.config.policy, &history, now_seconds()))
    }

    /// The cluster's updates other than `ours` (the revert just sent), for
    /// the alert: whether the last attempt to close the endpoint failed, and
    /// how often it was opened lately. Read after the revert, so a long
    /// history never delays it, and only while the deadline leaves time for
    /// the describes not yet remembered and the alert; `None` otherwise (the
    /// alert goes out without them).
    pub(super) async fn earlier_updates(
        &self,
        eks: &Eks,
        name: &str,
        ours: Option<&str>,
        deadline: Deadline,
    ) -> Option<Vec<UpdateSummary>> {
        if !deadline.allows(self.time_for_calls(eks, 2)) {
            return None;
        }
        let mut ids = eks.update_ids(name).await.ok()??;
        ids.retain(|id| Some(id.as_str()) != ours);
        let rounds = eks
            .not_remembered(name, &ids)
            .div_ceil(HISTORY_READS_IN_FLIGHT);
        let needed = eks.pace().latency() * u32::try_from(rounds).unwrap_or(u32::MAX) * 3;
        if !deadline.allows(needed + self.time_for_calls(eks, 1)) {
            info!(
                cluster = name,
                updates = ids.len(),
                "no time left to read the cluster's updates; alerting without them"
            );
            return None;
        }
        eks.describe_updates(name, &ids).await.ok()
    }

    /// Time for `calls` more calls on one cluster: their pace, three times
    /// their measured latency, and the answer's margin. Not every call timing
    /// out: a 60 s deadline would then judge nothing.
    pub(super) fn time_for_calls(&self, eks: &Eks, calls: u32) -> Duration {
        let pace = eks.pace();
        pace.time_for(calls) + pace.latency() * calls * 3 + self.config.deadline_margin
    }
}

/// The judgement of a cluster as read, for its alert.
pub(super) fn judged<'a>(
    cluster_arn: &'a str,
    state: &'a ClusterState,
    action: &'a Action,
    verdict: &'a Verdict,
    exemption: Option<&'a ExemptionRef>,
) -> Judged<'a> {
    Judged {
        cluster_arn,
        status: &state.status,
        found: Some(&state.access),
        verdict,
        action,
        exemption,
        stack: tool::cloudformation_stack(&state.tags),
    }
}

/// What caused the judgement, for the revert's token.
pub(super) fn cause_of(change: &ClusterChange) -> Option<Cause<'_>> {
    match change.origin {
        Origin::CloudTrail(_) => change.event_id.as_deref().map(Cause::Event),
        Origin::Sweep => change.event_time.as_deref().map(Cause::Sweep),
    }
}

/// What was done, from what EKS answered; an update EKS created before
/// `since_ms` (this invocation's start) is an earlier one of the same cause.
pub(super) fn acted_from(sent: Sent, since_ms: u64) -> Acted {
    match sent {
        Sent::Update(update) => Acted {
            earlier: created_before(&update, since_ms),
            update_id: Some(update.id),
            ..Acted::default()
        },
        Sent::AlreadyDesired => Acted {
            was_already_desired: true,
            ..Acted::default()
        },
    }
}

fn created_before(update: &UpdateSummary, since_ms: u64) -> bool {
    update
        .created_at
        .is_some_and(|created| created * 1000.0 < since_ms as f64)
}

/// How long to wait before reading a `CREATING` cluster again: `poll` once
/// creation may end (it takes 10 to 20 minutes), ten times as long in its
/// first ten minutes. With the default 1.5 s, a 15-minute creation costs
/// about 40 + 200 reads, and the revert follows within about 1.5 s of ACTIVE.
fn creating_pause(poll: Duration, created_at: Option<f64>) -> Duration {
    let age = created_at.map(|t| now_seconds() - t);
    creating_pause_at(poll, age)
}

fn creating_pause_at(poll: Duration, age_seconds: Option<f64>) -> Duration {
    match age_seconds {
        Some(age) if age < 600.0 => poll * 10,
        _ => poll,
    }
}

fn own_change(change: &ClusterChange) -> Answer {
    let reason = "the guard's own revert: nothing to do";
    log_decision(change, Outcome::OwnChange, reason);
    Answer::new(Outcome::OwnChange, Some(&change.cluster_name), reason)
}

fn gone(change: &ClusterChange, reason: &str) -> Answer {
    log_decision(change, Outcome::ClusterGone, reason);
    Answer::new(Outcome::ClusterGone, Some(&change.cluster_name), reason)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The reads of a creation that takes `minutes`, at the default pace.
    fn reads_during_creation(minutes: f64) -> usize {
        let poll = Duration::from_millis(1500);
        let (mut age, mut reads) = (0.0, 0);
        while age < minutes * 60.0 {
            age += creating_pause_at(poll, Some(age)).as_secs_f64();
            reads += 1;
        }
        reads
    }

    #[test]
    fn a_fifteen_minute_creation_costs_under_three_hundred_reads() {
        let reads = reads_during_creation(15.0);
        assert!(reads <= 300, "{reads} reads");
        assert!(
            reads_during_creation(10.0) < 50,
            "slow polls while creation cannot end yet"
        );
        // Once creation may end, a read every 1.5 s: the revert follows ACTIVE
        // within the 2 s aim.
        assert_eq!(
            creating_pause_at(Duration::from_millis(1500), Some(700.0)),
            Duration::from_millis(1500)
        );
        // Without a creation time the plain pace applies.
        assert_eq!(
            creating_pause_at(Duration::from_millis(1500), None),
            Duration::from_millis(1500)
        );
    }
}
