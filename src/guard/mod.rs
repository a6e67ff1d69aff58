//! The use case: from one invocation to a judged, reverted and reported cluster.
//!
//! Shaped like Cloud Custodian's event mode (take the ids from the event,
//! re-read the resource, evaluate, act), but built for how EKS really behaves
//! (see [`crate::eks`]):
//!
//! - [`invocation`]: the deadline and the function's own account and region.
//! - `reach`: act only where the guard may (its account, or one reached
//!   through the remediation role; a region it guards), before any EKS call.
//! - `judge`: one cluster from an event, one step per function: wait, read,
//!   decide, revert, alert, follow the revert to its end.
//! - `exemption`: the exempt tag put on or taken off.
//! - `sweep`: every cluster of every account, without waiting.
//! - `fan_out`: a sweep too large for one invocation, handed out in slices.
//! - `tell`: the sweep's one summary for people, its findings for machines
//!   (`PublishBatch`) and Security Hub (`BatchImportFindings`), in batches.
//! - `backoff`: the pause before any retry.
//! - `security_hub`: the violation recorded as a Security Hub finding.
//! - `wiring_check`: each scheduled sweep checks the guard's own wiring.
//!
//! Revert first, alert after, so an SNS outage never delays a revert; the
//! Security Hub finding last, so its outage delays neither. Everything the
//! guard cannot finish fails the invocation, so Lambda retries the event or
//! parks it in the on-failure destination.

mod backoff;
mod exemption;
mod fan_out;
mod handoff;
pub mod invocation;
mod judge;
mod reach;
mod security_hub;
mod sweep;
mod tell;
mod token;
mod wiring_check;

use std::borrow::Cow;

use serde::Serialize;
use serde_json::Value;
use tracing::{info, warn};

use crate::alert::{self, Finding};
use crate::config::Config;
use crate::eks::EksClients;
use crate::error::GuardError;
use crate::event::{self, ClusterChange, Trigger};
use crate::organization::Organization;
use crate::outcome::Outcome;
use crate::securityhub::SecurityHub;
use crate::wiring::read::WiringReader;

pub use invocation::{Deadline, Invocation};
pub use sweep::SweepSummary;

/// The invocation's answer (the function's response payload).
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Answer {
    pub outcome: Outcome,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cluster: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub update_id: Option<String>,
    /// The revert's update ended `Successful` (the event path follows it).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub revert_confirmed: Option<bool>,
    /// The exemption flow: what judging the cluster then gave.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub then: Option<Outcome>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub alert_message_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sweep: Option<SweepSummary>,
    /// From the CloudTrail event's time to the revert request (a metric).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub event_to_revert_seconds: Option<f64>,
}

impl Answer {
    pub fn new(outcome: Outcome, cluster: Option<&str>, reason: impl Into<String>) -> Answer {
        Answer {
            outcome,
            reason: Some(reason.into()),
            cluster: cluster.map(str::to_string),
            update_id: None,
            revert_confirmed: None,
            then: None,
            alert_message_id: None,
            sweep: None,
            event_to_revert_seconds: None,
        }
    }

    /// The outcome and, for the exemption flow, the judgement that followed.
    pub fn outcomes(&self) -> impl Iterator<Item = Outcome> {
        std::iter::once(self.outcome).chain(self.then)
    }
}

pub struct Guard {
    config: Config,
    eks: EksClients,
    sns: aws_sdk_sns::Client,
    /// For handing long waits on to a fresh invocation (`None`: fail instead).
    lambda: Option<aws_sdk_lambda::Client>,
    /// The sweep lists the organization's accounts (`SWEEP_ORGANIZATION`).
    organization: Option<Organization>,
    /// With `SECURITY_HUB=true`: where violations are also recorded.
    security_hub: Option<SecurityHub>,
    /// With `GUARD_SELF_CHECK=true`: what reads the guard's own wiring.
    wiring: Option<WiringReader>,
}

impl Guard {
    /// A guard for one account: every EKS call uses `eks` (or a client
    /// derived from it for another guarded region).
    #[cfg(any(test, feature = "test-util"))]
    pub fn new(config: Config, eks: aws_sdk_eks::Client, sns: aws_sdk_sns::Client) -> Guard {
        let pace = crate::eks::CallPace::new(config.eks_calls_per_second);
        Guard::with_clients(config, EksClients::single(eks, pace), sns)
    }

    pub fn with_clients(config: Config, eks: EksClients, sns: aws_sdk_sns::Client) -> Guard {
        Guard {
            config,
            eks,
            sns,
            lambda: None,
            organization: None,
            security_hub: None,
            wiring: None,
        }
    }

    /// The sweep walks the organization's active accounts too.
    pub fn sweeping(self, organization: Organization) -> Guard {
        Guard {
            organization: Some(organization),
            ..self
        }
    }

    /// Also imports every violation into Security Hub, after its revert
    /// and its alert.
    pub fn with_security_hub(self, security_hub: SecurityHub) -> Guard {
        Guard {
            security_hub: Some(security_hub),
            ..self
        }
    }

    /// Each scheduled sweep also checks the guard's own wiring.
    pub fn checking_wiring(self, reader: WiringReader) -> Guard {
        Guard {
            wiring: Some(reader),
            ..self
        }
    }

    /// Long waits are handed on to a fresh invocation through `lambda`.
    pub fn handing_off_with(self, lambda: aws_sdk_lambda::Client) -> Guard {
        Guard {
            lambda: Some(lambda),
            ..self
        }
    }

    /// Handles one invocation payload: which use case it is.
    pub async fn handle(
        &self,
        payload: &Value,
        invocation: &Invocation,
    ) -> Result<Answer, GuardError> {
        if let Some(slice) = fan_out::unwrap_slice(payload) {
            return match slice {
                Ok(slice) => self.sweep_slice(&slice, invocation).await,
                Err(invalid) => {
                    warn!(action = "rejected", reason = %invalid, "decision");
                    Err(invalid.into())
                }
            };
        }
        let (event, invocation) = match event::unwrap_hand_off(payload) {
            Ok(None) => (Cow::Borrowed(payload), Cow::Borrowed(invocation)),
            Ok(Some((hand_off, event))) => (
                Cow::Owned(event),
                Cow::Owned(Invocation {
                    hand_off: Some(hand_off),
                    ..invocation.clone()
                }),
            ),
            Err(invalid) => {
                warn!(action = "rejected", reason = %invalid, "decision");
                return Err(invalid.into());
            }
        };
        match event::parse(&event) {
            Ok(Trigger::ClusterChange(change)) => {
                match self.cluster_changed(&change, &invocation).await {
                    Err(busy @ GuardError::DeadlineExceeded { .. }) => {
                        self.hand_off(&event, &invocation, &change.cluster_name, busy)
                            .await
                    }
                    other => other,
                }
            }
            Ok(Trigger::Sweep(request)) => self.sweep(&request, &invocation).await,
            Ok(Trigger::Ignored(reason)) => {
                info!(action = "ignored", reason = %reason, "decision");
                Ok(Answer::new(Outcome::Ignored, None, reason))
            }
            Err(invalid) => {
                warn!(action = "rejected", reason = %invalid, "decision");
                Err(invalid.into())
            }
        }
    }

    async fn cluster_changed(
        &self,
        change: &ClusterChange,
        invocation: &Invocation,
    ) -> Result<Answer, GuardError> {
        let (eks, home) = self.reach(change, invocation).await?;
        if let Some(edit) = &change.tag_edit {
            return self
                .exempt_tag_changed(&eks, &home, change, edit, invocation)
                .await;
        }
        self.judge(&eks, &home, change, invocation).await
    }

    /// Publishes an alert; failing to fails the invocation, so that Lambda's
    /// retry (or the on-failure destination) keeps it. Whatever was done to
    /// the cluster is done: the error says so.
    async fn send_alert(&self, cluster: &str, finding: &Finding) -> Result<String, GuardError> {
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
}

/// The one log line per decision, with what an operator filters on.
fn log_decision(change: &ClusterChange, outcome: Outcome, reason: &str) {
    info!(
        cluster = %change.cluster_name,
        account = %change.account,
        region = %change.region,
        event_id = change.event_id.as_deref().unwrap_or(""),
        origin = change.origin.label(),
        action = outcome.label(),
        reason,
        "decision"
    );
}
