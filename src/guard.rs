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

use serde::Serialize;
use serde_json::Value;
use tokio::time::Instant;
use tracing::{info, warn};

use crate::alert::{self, Acted, Judged};
use crate::config::Config;
use crate::eks::{ClusterState, Eks, EksFailure, RevertStarted};
use crate::error::GuardError;
use crate::event::{ClusterChange, Trigger, classify};
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

/// The invocation's answer (the function's response payload).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
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
    eks: Eks,
    sns: aws_sdk_sns::Client,
}

impl Guard {
    pub fn new(config: Config, eks: aws_sdk_eks::Client, sns: aws_sdk_sns::Client) -> Guard {
        Guard {
            config,
            eks: Eks::new(eks),
            sns,
        }
    }

    /// Handles one invocation payload.
    pub async fn handle(&self, payload: &Value, deadline: Deadline) -> Result<Answer, GuardError> {
        let change = match classify(payload) {
            Ok(Trigger::ClusterChange(change)) => change,
            Ok(Trigger::Ignored(reason)) => {
                info!(action = "ignored", reason = %reason, "decision");
                return Ok(Answer::new("ignored", None, reason));
            }
            Err(invalid) => {
                warn!(action = "rejected", reason = %invalid, "decision");
                return Err(invalid.into());
            }
        };
        self.handle_change(&change, deadline).await
    }

    async fn handle_change(
        &self,
        change: &ClusterChange,
        deadline: Deadline,
    ) -> Result<Answer, GuardError> {
        let name = change.cluster_name.as_str();
        let log_decision = |action: &str, reason: &str| {
            info!(
                cluster = name,
                account = %change.account,
                region = %change.region,
                event_id = change.event_id.as_deref().unwrap_or(""),
                api_call = change.api_call.as_str(),
                action,
                reason,
                "decision"
            );
        };
        if self.is_own_change(change) {
            let reason = "the guard's own revert: nothing to do";
            log_decision("own-change", reason);
            return Ok(Answer::new("own-change", Some(name), reason));
        }

        // First wait for the update the event started; after a refusal
        // (`ResourceInUseException`) wait for whatever update runs.
        let mut wait_for_update = change.update_id.clone();
        let mut acted = Acted {
            update_id: None,
            was_already_desired: false,
        };
        let (state, action, verdict) = loop {
            let Some(state) = self
                .wait_until_settled(name, wait_for_update.as_deref(), deadline)
                .await?
            else {
                let reason = "the cluster no longer exists";
                log_decision("cluster-gone", reason);
                return Ok(Answer::new("cluster-gone", Some(name), reason));
            };
            if state.is_beyond_repair() {
                let reason = format!("the cluster is {}: nothing to revert", state.status);
                log_decision("cluster-gone", &reason);
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
            match self.eks.apply(name, fix).await {
                Ok(RevertStarted::Update(id)) => {
                    acted.update_id = Some(id);
                    break (state, action, verdict);
                }
                Ok(RevertStarted::AlreadyDesired) => {
                    acted.was_already_desired = true;
                    break (state, action, verdict);
                }
                Err(EksFailure::NotFound(_)) => {
                    let reason = "the cluster was deleted before the revert";
                    log_decision("cluster-gone", reason);
                    return Ok(Answer::new("cluster-gone", Some(name), reason));
                }
                Err(EksFailure::InUse(message)) => {
                    warn!(cluster = name, %message, "revert refused: another update runs; waiting for it");
                    wait_for_update = None;
                }
                Err(failure) if failure.is_transient() => {
                    warn!(cluster = name, %failure, "revert failed after the SDK's retries; trying again");
                    self.pause(name, &failure.to_string(), deadline).await?;
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
        log_decision(label, &reason);
        if action == Action::Nothing {
            return Ok(Answer::new("compliant", Some(name), reason));
        }

        let finding = alert::finding(
            change,
            Judged {
                cluster_arn: state.arn.as_deref(),
                status: &state.status,
                found: &state.access,
                verdict: &verdict,
                action: &action,
            },
            self.config.mode,
            &acted,
        );
        let message_id = alert::publish(&self.sns, &self.config.alert_topic_arn, &finding)
            .await
            .map_err(|message| GuardError::AlertNotSent {
                cluster: name.to_string(),
                done: finding.action.description.clone(),
                message,
            })?;
        info!(cluster = name, outcome = finding.outcome, message_id = %message_id, "alert sent");
        Ok(Answer {
            outcome: finding.outcome.to_string(),
            reason: Some(reason),
            cluster: Some(name.to_string()),
            update_id: acted.update_id,
            alert_message_id: Some(message_id),
        })
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
        name: &str,
        update_id: Option<&str>,
        deadline: Deadline,
    ) -> Result<Option<ClusterState>, GuardError> {
        let mut finished_updates = HashSet::new();
        loop {
            // The update check comes first, the settings read second.
            let pending = match update_id {
                Some(id) => self
                    .eks
                    .update_in_progress(name, id)
                    .await
                    .map(|running| running.then(|| id.to_string())),
                None => {
                    self.eks
                        .any_update_in_progress(name, &mut finished_updates)
                        .await
                }
            };
            let waiting_for = match pending {
                Ok(Some(id)) => format!("update {id} is InProgress"),
                Ok(None) => match self.eks.describe(name).await {
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
            self.pause(name, &waiting_for, deadline).await?;
        }
    }

    /// Sleeps one poll interval, or fails when that would leave too little
    /// time before the deadline to act and alert.
    async fn pause(
        &self,
        name: &str,
        waiting_for: &str,
        deadline: Deadline,
    ) -> Result<(), GuardError> {
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
