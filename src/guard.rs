//! The use case: from one invocation to a judged, reverted and reported cluster.
//!
//! Shaped like Cloud Custodian's event mode (take the ids from the event,
//! re-read the resource, evaluate, act), but built for how EKS really behaves:
//!
//! 1. Wait until the cluster is `ACTIVE` **and** no update is `InProgress`.
//!    The status alone does not tell: endpoint updates have been seen to keep
//!    the cluster `ACTIVE` for their whole run, describing the old settings.
//! 2. Only then read the settings (read earlier, they could be stale by the
//!    time the update reports done), and decide on them, never on the event:
//!    events can be stale, replayed, or the guard's own.
//! 3. Revert first, alert after, so an SNS outage never delays a revert.
//!    `ResourceInUseException` (someone started another update) means: wait
//!    again, re-read, re-decide.
//! 4. Everything is bounded by the invocation deadline minus a margin; what
//!    cannot be finished fails the invocation, so Lambda retries the event or
//!    parks it in the on-failure destination.

use std::collections::HashSet;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use futures_util::StreamExt;
use serde::Serialize;
use serde_json::Value;
use tokio::time::Instant;
use tracing::{info, warn};

use crate::alert::{self, Acted, Judged};
use crate::config::Config;
use crate::eks::{AccountRef, ClusterState, Eks, EksClients, EksFailure, RevertStarted};
use crate::error::GuardError;
use crate::event::{Actor, ClusterChange, Origin, SweepRequest, TagEdit, Trigger, classify};
use crate::policy::{Action, decide, evaluate};

/// When the invocation must have answered.
#[derive(Clone, Copy, Debug)]
pub struct Deadline(Instant);

impl Deadline {
    /// From the Runtime API's `Lambda-Runtime-Deadline-Ms` (epoch milliseconds).
    pub fn from_epoch_millis(deadline_ms: u64) -> Deadline {
        let now_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or(0);
        Deadline(Instant::now() + Duration::from_millis(deadline_ms.saturating_sub(now_ms)))
    }

    pub fn after(duration: Duration) -> Deadline {
        Deadline(Instant::now() + duration)
    }

    /// True when `needed` still fits before the deadline.
    fn allows(&self, needed: Duration) -> bool {
        Instant::now() + needed < self.0
    }
}

/// The one log line per decision, with what an operator filters on.
fn log_decision(change: &ClusterChange, action: &str, reason: &str) {
    info!(
        cluster = %change.cluster_name,
        account = %change.account,
        region = %change.region,
        event_id = change.event_id.as_deref().unwrap_or(""),
        origin = change.origin.label(),
        action,
        reason,
        "decision"
    );
}

/// Seconds from a CloudTrail `eventTime` (`2026-11-23T06:00:01Z`) to now.
fn seconds_since(event_time: &str) -> Option<f64> {
    let then = aws_sdk_eks::primitives::DateTime::from_str(
        event_time,
        aws_sdk_eks::primitives::DateTimeFormat::DateTime,
    )
    .ok()?;
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .ok()?
        .as_secs_f64();
    Some(now - then.as_secs_f64())
}

/// What the guard knows about one invocation besides its payload.
#[derive(Clone, Debug)]
pub struct Invocation {
    pub deadline: Deadline,
    /// The function's own ARN (`Lambda-Runtime-Invoked-Function-Arn`): it
    /// tells the function's account and partition, so the guard knows when a
    /// cluster belongs to another account.
    pub function_arn: String,
}

impl Invocation {
    pub fn new(deadline: Deadline, function_arn: impl Into<String>) -> Invocation {
        Invocation {
            deadline,
            function_arn: function_arn.into(),
        }
    }

    /// An invocation whose function ARN is unknown: every cluster is taken
    /// to be in the function's own account.
    pub fn until(deadline: Deadline) -> Invocation {
        Invocation::new(deadline, "")
    }

    fn home(&self) -> Option<AccountRef> {
        AccountRef::from_arn(&self.function_arn)
    }
}

/// Whether to wait for a busy cluster.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Waiting {
    /// Events: wait for pending work until the deadline.
    UntilDeadline,
    /// The sweep: report a busy cluster as pending and move on.
    Never,
}

/// The sweep's tally, logged in one line and returned in the answer.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SweepSummary {
    pub accounts: usize,
    pub seen: usize,
    pub compliant: usize,
    pub reverted: usize,
    /// Report mode: violations alerted, not changed.
    pub reported: usize,
    pub exempt: usize,
    /// Busy (`CREATING`, `UPDATING`, an update in progress) or not reached
    /// before the deadline: left for the next sweep.
    pub pending: Vec<String>,
    pub failed: Vec<String>,
}

/// The invocation's answer (the function's response payload).
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Answer {
    /// `ignored`, `own-change`, `compliant`, `cluster-gone`, `reverted`,
    /// `would-revert`, `exempt` or `already-compliant`.
    pub outcome: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cluster: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub update_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub alert_message_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sweep: Option<SweepSummary>,
    /// From the CloudTrail event's time to the revert request (a metric).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub event_to_revert_seconds: Option<f64>,
}

impl Answer {
    fn new(outcome: &str, cluster: Option<&str>, reason: impl Into<String>) -> Answer {
        Answer {
            outcome: outcome.to_string(),
            reason: Some(reason.into()),
            cluster: cluster.map(str::to_string),
            ..Answer::default()
        }
    }
}

pub struct Guard {
    config: Config,
    eks: EksClients,
    sns: aws_sdk_sns::Client,
}

impl Guard {
    /// A guard for one account: every EKS call uses `eks`.
    pub fn new(config: Config, eks: aws_sdk_eks::Client, sns: aws_sdk_sns::Client) -> Guard {
        Guard::with_clients(config, EksClients::single(eks), sns)
    }

    pub fn with_clients(config: Config, eks: EksClients, sns: aws_sdk_sns::Client) -> Guard {
        Guard { config, eks, sns }
    }

    /// Handles one invocation payload.
    pub async fn handle(
        &self,
        payload: &Value,
        invocation: &Invocation,
    ) -> Result<Answer, GuardError> {
        let change = match classify(payload) {
            Ok(Trigger::ClusterChange(change)) => change,
            Ok(Trigger::Sweep(request)) => return self.sweep(&request, invocation).await,
            Ok(Trigger::Ignored(reason)) => {
                info!(action = "ignored", reason = %reason, "decision");
                return Ok(Answer::new("ignored", None, reason));
            }
            Err(invalid) => {
                warn!(action = "rejected", reason = %invalid, "decision");
                return Err(invalid.into());
            }
        };
        let home = invocation.home();
        let eks = self.eks.for_account(&change.account, home.as_ref()).await;
        if let Some(edit) = &change.tag_edit {
            return self
                .exempt_tag_changed(&eks, &change, edit, invocation.deadline)
                .await;
        }
        self.judge(&eks, &change, Waiting::UntilDeadline, invocation.deadline)
            .await
    }

    /// The exempt tag put on or taken off a cluster: never quiet. The alert
    /// names who did it and what the cluster's endpoint is right now; when
    /// the exemption ends, the cluster is judged like any other.
    async fn exempt_tag_changed(
        &self,
        eks: &Eks,
        change: &ClusterChange,
        edit: &TagEdit,
        deadline: Deadline,
    ) -> Result<Answer, GuardError> {
        let key = self.config.exempt_tag_key.as_str();
        let name = change.cluster_name.as_str();
        let set_to = edit
            .set
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str());
        if set_to.is_none() && !edit.removed.iter().any(|k| k == key) {
            let reason = format!("the tag change does not touch the exempt tag {key}");
            info!(cluster = name, action = "ignored", reason = %reason, "decision");
            return Ok(Answer::new("ignored", Some(name), reason));
        }
        let granted = set_to.filter(|v| v.trim().eq_ignore_ascii_case("true"));
        // Read without waiting: the alert must not wait on a busy cluster.
        let state = match eks.describe(name).await {
            Ok(state) => state,
            Err(failure) => {
                warn!(cluster = name, %failure, "could not read the cluster for the exemption alert");
                None
            }
        };
        let verdict = state
            .as_ref()
            .map(|s| evaluate(&self.config.policy, &s.access));
        let finding = alert::exemption_finding(
            change,
            key,
            granted,
            state
                .as_ref()
                .zip(verdict.as_ref())
                .map(|(s, v)| (s.status.as_str(), &s.access, v)),
            self.config.mode,
        );
        log_decision(change, &finding.outcome, &finding.action.description);
        let message_id = self.send_alert(name, &finding).await?;
        if granted.is_some() || state.is_none() {
            return Ok(Answer {
                outcome: finding.outcome.to_string(),
                reason: Some(finding.action.description),
                cluster: Some(name.to_string()),
                alert_message_id: Some(message_id),
                ..Answer::default()
            });
        }
        // No longer exempt: the cluster is judged, and reverted if it must be.
        let judged = self
            .judge(eks, change, Waiting::UntilDeadline, deadline)
            .await?;
        Ok(Answer {
            outcome: finding.outcome.to_string(),
            reason: Some(format!("then judged: {}", judged.outcome)),
            cluster: Some(name.to_string()),
            update_id: judged.update_id,
            alert_message_id: Some(message_id),
            ..Answer::default()
        })
    }

    /// Judges one cluster: wait (or not) for pending work, read, decide,
    /// revert, alert.
    async fn judge(
        &self,
        eks: &Eks,
        change: &ClusterChange,
        waiting: Waiting,
        deadline: Deadline,
    ) -> Result<Answer, GuardError> {
        let name = change.cluster_name.as_str();
        if self.is_own_change(change) {
            let reason = "the guard's own revert: nothing to do";
            log_decision(change, "own-change", reason);
            return Ok(Answer::new("own-change", Some(name), reason));
        }

        // First wait for the update the event started; after a refusal
        // (`ResourceInUseException`) wait for whatever update runs.
        let mut wait_for_update = change.update_id.clone();
        let mut acted = Acted {
            update_id: None,
            was_already_desired: false,
        };
        let mut event_to_revert_seconds = None;
        let (state, action, verdict) = loop {
            let Some(state) = self
                .wait_until_settled(eks, name, wait_for_update.as_deref(), waiting, deadline)
                .await?
            else {
                let reason = "the cluster no longer exists";
                log_decision(change, "cluster-gone", reason);
                return Ok(Answer::new("cluster-gone", Some(name), reason));
            };
            if state.is_beyond_repair() {
                let reason = format!("the cluster is {}: nothing to revert", state.status);
                log_decision(change, "cluster-gone", &reason);
                return Ok(Answer::new("cluster-gone", Some(name), reason));
            }
            let exempt = state
                .tags
                .get(&self.config.exempt_tag_key)
                .is_some_and(|v| v.trim().eq_ignore_ascii_case("true"));
            let (action, verdict) = decide(
                &self.config.policy,
                self.config.mode,
                exempt,
                change.requested.as_ref(),
                &state.access,
            );
            let Action::Revert(fix) = &action else {
                break (state, action, verdict);
            };
            if !deadline.allows(self.config.deadline_margin) {
                return Err(GuardError::DeadlineExceeded {
                    cluster: name.to_string(),
                    waiting_for: "no time left to revert".to_string(),
                });
            }
            match eks.apply(name, fix).await {
                Ok(RevertStarted::Update(id)) => {
                    acted.update_id = Some(id);
                    event_to_revert_seconds = change.event_time.as_deref().and_then(seconds_since);
                    break (state, action, verdict);
                }
                Ok(RevertStarted::AlreadyDesired) => {
                    acted.was_already_desired = true;
                    break (state, action, verdict);
                }
                Err(EksFailure::NotFound(_)) => {
                    let reason = "the cluster was deleted before the revert";
                    log_decision(change, "cluster-gone", reason);
                    return Ok(Answer::new("cluster-gone", Some(name), reason));
                }
                Err(EksFailure::InUse(message)) => {
                    warn!(cluster = name, %message, "revert refused: another update runs; waiting for it");
                    if waiting == Waiting::Never {
                        return Err(GuardError::Busy {
                            cluster: name.to_string(),
                            waiting_for: message,
                        });
                    }
                    wait_for_update = None;
                }
                Err(failure) if failure.is_transient() => {
                    warn!(cluster = name, %failure, "revert failed after the SDK's retries; trying again");
                    self.pause(name, &failure.to_string(), waiting, deadline)
                        .await?;
                }
                Err(failure) => {
                    return Err(GuardError::Eks {
                        operation: "UpdateClusterConfig",
                        cluster: name.to_string(),
                        failure,
                    });
                }
            }
        };

        let reason = match &verdict {
            crate::policy::Verdict::Violation { reason, .. } => reason.clone(),
            crate::policy::Verdict::Compliant => "the cluster complies".to_string(),
        };
        let label = if acted.was_already_desired {
            "already-compliant"
        } else {
            action.label()
        };
        log_decision(change, label, &reason);
        if action == Action::Nothing {
            return Ok(Answer::new("compliant", Some(name), reason));
        }
        if change.origin == Origin::Sweep && matches!(action, Action::Exempt(_)) {
            // An exemption is alerted when it is granted (tag events), not every hour.
            return Ok(Answer::new("exempt", Some(name), reason));
        }

        let finding = alert::finding(
            change,
            Judged {
                cluster_arn: state.arn.as_deref(),
                status: &state.status,
                found: Some(&state.access),
                verdict: &verdict,
                action: &action,
            },
            self.config.mode,
            &acted,
        );
        let message_id = self.send_alert(name, &finding).await?;
        Ok(Answer {
            outcome: finding.outcome.to_string(),
            reason: Some(reason),
            cluster: Some(name.to_string()),
            update_id: acted.update_id,
            alert_message_id: Some(message_id),
            sweep: None,
            event_to_revert_seconds,
        })
    }

    /// The scheduled sweep: every cluster of the region, in the function's
    /// account and the member accounts it is told to sweep, judged without
    /// waiting, a few at a time.
    async fn sweep(
        &self,
        request: &SweepRequest,
        invocation: &Invocation,
    ) -> Result<Answer, GuardError> {
        let home = invocation.home();
        let deadline = invocation.deadline;
        let mut accounts = vec![request.account.clone()];
        for account in &self.config.sweep_accounts {
            if !accounts.contains(account) {
                accounts.push(account.clone());
            }
        }
        let mut summary = SweepSummary {
            accounts: accounts.len(),
            ..SweepSummary::default()
        };
        let mut targets = Vec::new();
        for account in &accounts {
            let eks = self.eks.for_account(account, home.as_ref()).await;
            match eks.list_clusters().await {
                Ok(names) => {
                    targets.extend(names.into_iter().map(|n| (account.clone(), eks.clone(), n)))
                }
                Err(failure) => summary
                    .failed
                    .push(format!("{account}: ListClusters failed: {failure}")),
            }
        }
        summary.seen = targets.len();

        let outcomes: Vec<(String, Result<Answer, GuardError>)> =
            futures_util::stream::iter(targets)
                .map(|(account, eks, name)| async move {
                    let label = format!("{account}/{name}");
                    // A cluster is only started with time for its worst case
                    // (every call up to its SDK time-out), so a revert is
                    // never cut off before its alert.
                    if !deadline.allows(self.config.sweep_cluster_budget) {
                        return (
                            label,
                            Err(GuardError::Busy {
                                cluster: name,
                                waiting_for: "not reached before the deadline".to_string(),
                            }),
                        );
                    }
                    let change = ClusterChange {
                        origin: Origin::Sweep,
                        cluster_name: name,
                        cluster_arn: None,
                        requested: None,
                        update_id: None,
                        actor: Actor::default(),
                        event_id: None,
                        event_time: request.time.clone(),
                        account,
                        region: request.region.clone(),
                        tag_edit: None,
                    };
                    let result = self.judge(&eks, &change, Waiting::Never, deadline).await;
                    (label, result)
                })
                .buffer_unordered(self.config.sweep_concurrency)
                .collect()
                .await;

        for (label, result) in outcomes {
            match result {
                Ok(answer) => match answer.outcome.as_str() {
                    "reverted" => summary.reverted += 1,
                    "would-revert" => summary.reported += 1,
                    "exempt" => summary.exempt += 1,
                    _ => summary.compliant += 1,
                },
                Err(GuardError::Busy { waiting_for, .. })
                | Err(GuardError::DeadlineExceeded { waiting_for, .. }) => {
                    summary.pending.push(format!("{label}: {waiting_for}"))
                }
                Err(error) => summary.failed.push(format!("{label}: {error}")),
            }
        }
        summary.pending.sort();
        summary.failed.sort();
        info!(
            accounts = summary.accounts,
            seen = summary.seen,
            compliant = summary.compliant,
            reverted = summary.reverted,
            reported = summary.reported,
            exempt = summary.exempt,
            pending = summary.pending.len(),
            failed = summary.failed.len(),
            region = %request.region,
            "sweep"
        );
        if !summary.failed.is_empty() {
            return Err(GuardError::SweepIncomplete {
                failed: summary.failed.len(),
                seen: summary.seen,
                first: summary.failed[0].clone(),
            });
        }
        Ok(Answer {
            outcome: "swept".to_string(),
            reason: None,
            cluster: None,
            update_id: None,
            alert_message_id: None,
            sweep: Some(summary),
            event_to_revert_seconds: None,
        })
    }

    /// Publishes an alert; failing to fails the invocation, so that Lambda's
    /// retry (or the on-failure destination) keeps it. Whatever was done to the
    /// cluster is done: the error says so.
    async fn send_alert(
        &self,
        cluster: &str,
        finding: &alert::Finding,
    ) -> Result<String, GuardError> {
        let message_id = alert::publish(&self.sns, &self.config.alert_topic_arn, finding)
            .await
            .map_err(|message| GuardError::AlertNotSent {
                cluster: cluster.to_string(),
                done: finding.action.description.clone(),
                message,
            })?;
        info!(cluster, outcome = %finding.outcome, message_id = %message_id, "alert sent");
        Ok(message_id)
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

    /// Waits until the cluster is `ACTIVE` with no update in progress, then
    /// reads it. `Ok(None)`: the cluster no longer exists.
    async fn wait_until_settled(
        &self,
        eks: &Eks,
        name: &str,
        update_id: Option<&str>,
        waiting: Waiting,
        deadline: Deadline,
    ) -> Result<Option<ClusterState>, GuardError> {
        let mut finished_updates = HashSet::new();
        loop {
            // The update check comes first, the settings read second.
            let pending = match update_id {
                Some(id) => eks
                    .update_in_progress(name, id)
                    .await
                    .map(|running| running.then(|| id.to_string())),
                None => {
                    eks.any_update_in_progress(name, &mut finished_updates)
                        .await
                }
            };
            let waiting_for = match pending {
                Ok(Some(id)) => format!("update {id} is InProgress"),
                Ok(None) => match eks.describe(name).await {
                    Ok(None) => return Ok(None),
                    Ok(Some(state)) if state.is_active() || state.is_beyond_repair() => {
                        return Ok(Some(state));
                    }
                    Ok(Some(state)) => format!("the cluster is {}", state.status),
                    Err(failure) if failure.is_transient() => {
                        format!("DescribeCluster keeps failing ({failure})")
                    }
                    Err(failure) => {
                        return Err(GuardError::Eks {
                            operation: "DescribeCluster",
                            cluster: name.to_string(),
                            failure,
                        });
                    }
                },
                Err(failure) if failure.is_transient() => {
                    format!("the update check keeps failing ({failure})")
                }
                Err(failure) => {
                    return Err(GuardError::Eks {
                        operation: if update_id.is_some() {
                            "DescribeUpdate"
                        } else {
                            "ListUpdates"
                        },
                        cluster: name.to_string(),
                        failure,
                    });
                }
            };
            self.pause(name, &waiting_for, waiting, deadline).await?;
        }
    }

    /// Sleeps one poll interval, or fails when that would leave too little
    /// time before the deadline to act and alert (or when not to wait at all).
    async fn pause(
        &self,
        name: &str,
        waiting_for: &str,
        waiting: Waiting,
        deadline: Deadline,
    ) -> Result<(), GuardError> {
        if waiting == Waiting::Never {
            return Err(GuardError::Busy {
                cluster: name.to_string(),
                waiting_for: waiting_for.to_string(),
            });
        }
        if !deadline.allows(self.config.poll_interval + self.config.deadline_margin) {
            warn!(
                cluster = name,
                waiting_for, "deadline reached while waiting"
            );
            return Err(GuardError::DeadlineExceeded {
                cluster: name.to_string(),
                waiting_for: waiting_for.to_string(),
            });
        }
        tokio::time::sleep(self.config.poll_interval).await;
        Ok(())
    }
}
