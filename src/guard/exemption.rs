//! The exempt tag put on or taken off a cluster: never quiet.
//!
//! Granting an exemption is the quiet way around the guard, so the alert
//! names who did it, the end it read (or why the value does not exempt:
//! an end already past or too far ahead, a value not understood) and what
//! the cluster's endpoint is right now. When the tag no longer exempts, the
//! cluster is judged at once; an exemption with an end is not told again
//! when it ends: the next event or sweep judges the cluster like any other,
//! and its alert says that the exemption ended.

use tracing::{info, warn};

use super::{Answer, Guard, Invocation, log_decision};
use crate::alert;
use crate::clock::epoch_seconds;
use crate::eks::{AccountRef, ClusterState, Eks};
use crate::error::GuardError;
use crate::event::{ClusterChange, TagEdit};
use crate::outcome::Outcome;
use crate::policy::{self, evaluate};

impl Guard {
    /// The exempt tag was put on or taken off: tell what it means now and
    /// what the endpoint is; when the cluster is no longer exempt, judge it
    /// at once.
    pub(super) async fn exempt_tag_changed(
        &self,
        eks: &Eks,
        home: &AccountRef,
        change: &ClusterChange,
        edit: &TagEdit,
        invocation: &Invocation,
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
            return Ok(Answer::new(Outcome::Ignored, Some(name), reason));
        }
        let set = set_to.map(|value| {
            let exemption =
                policy::exemption(Some(value), epoch_seconds(), self.config.max_exemption_days);
            (value, exemption)
        });
        let granted = set.as_ref().is_some_and(|(_, e)| e.is_active());
        // Read without waiting: the alert must not wait on a busy cluster.
        let read = eks.describe(name).await;
        if let Err(failure) = &read {
            warn!(cluster = name, %failure, "could not read the cluster for the exemption alert");
        }
        let state = read.as_ref().ok().and_then(Option::as_ref);
        let told = self
            .tell_exemption(home, change, set.as_ref(), state)
            .await?;
        match (read, granted) {
            (Ok(Some(_)), false) => {}
            // No longer exempt but unreadable: fail, so Lambda's retry judges it.
            (Err(failure), false) => {
                return Err(GuardError::eks("DescribeCluster", name, failure));
            }
            // Granted: nothing to judge. Deleted: nothing to protect.
            _ => return Ok(told),
        }
        let judged = self.judge(eks, home, change, invocation).await?;
        Ok(Answer {
            reason: Some(format!("then judged: {}", judged.outcome)),
            update_id: judged.update_id,
            revert_confirmed: judged.revert_confirmed,
            then: Some(judged.outcome),
            event_to_revert_seconds: judged.event_to_revert_seconds,
            ..told
        })
    }

    /// Alerts the exemption granted, ended or refused (`set`: the value put
    /// on, and what it means; `None`: the tag was taken off), with the
    /// endpoint as read when it could be.
    async fn tell_exemption(
        &self,
        home: &AccountRef,
        change: &ClusterChange,
        set: Option<&(&str, policy::Exemption)>,
        state: Option<&ClusterState>,
    ) -> Result<Answer, GuardError> {
        let name = change.cluster_name.as_str();
        let verdict = state.map(|s| evaluate(&self.config.policy, &s.access));
        let arn = alert::cluster_arn(
            change,
            state.and_then(|s| s.arn.as_deref()),
            &home.partition,
        );
        let finding = alert::exemption_finding(
            change,
            &arn,
            &self.config.exempt_tag_key,
            set.map(|(value, exemption)| (*value, exemption)),
            state
                .zip(verdict.as_ref())
                .map(|(s, v)| (s.status.as_str(), &s.access, v)),
            self.config.mode,
        );
        log_decision(change, finding.outcome, &finding.action.description);
        let message_id = self.send_alert(name, &finding).await?;
        Ok(Answer {
            alert_message_id: Some(message_id),
            ..Answer::new(
                finding.outcome,
                Some(name),
                finding.action.description.clone(),
            )
        })
    }
}
