//! The violation recorded as a Security Hub finding (`SECURITY_HUB=true`).
//!
//! Always after the revert and after the alert, so that a Security Hub
//! outage delays neither and loses no alert. An import that still fails
//! after the SDK's retries and one more try fails the invocation, but the
//! caller decides when: only once everything else is done. Lambda's retry
//! then imports again, into the same finding (see [`crate::securityhub`]).

use tracing::{info, warn};

use super::{Deadline, Guard};
use crate::alert::{self, Acted, Finding, Judged};
use std::time::Duration;

use crate::eks::{AccountRef, ClusterState};
use crate::error::GuardError;
use crate::event::ClusterChange;
use crate::policy::Action;
use crate::securityhub::{self, Asff, Exemption, IMPORT_BATCH, Standing};

/// One import, then one more if it fails (on top of the SDK's retries).
const IMPORT_ATTEMPTS: u32 = 2;

impl Guard {
    /// Records what `tell` alerted about a judged cluster; nothing
    /// when Security Hub is off, or the cluster complies as read.
    pub(super) async fn record_judged(
        &self,
        home: &AccountRef,
        change: &ClusterChange,
        state: &ClusterState,
        judged: Judged<'_>,
        acted: &Acted,
        deadline: Deadline,
    ) -> Result<(), GuardError> {
        if self.security_hub.is_none() {
            return Ok(());
        }
        let finding = alert::finding(change, judged, self.config.mode, acted);
        let key = &self.config.exempt_tag_key;
        let exemption = match judged.action {
            Action::Exempt(_) => state.tags.get(key).map(|value| Exemption {
                tag_key: key.clone(),
                tag_value: value.clone(),
            }),
            _ => None,
        };
        self.record_told(home, &finding, exemption.as_ref(), deadline)
            .await
    }

    /// Records an alert that was sent, as it stands (see [`Standing::of`]).
    pub(super) async fn record_told(
        &self,
        home: &AccountRef,
        finding: &Finding,
        exemption: Option<&Exemption>,
        deadline: Deadline,
    ) -> Result<(), GuardError> {
        match Standing::of(finding) {
            Some(standing) => {
                self.record(home, finding, standing, exemption, deadline)
                    .await
            }
            None => Ok(()),
        }
    }

    /// Imports `finding` as it `stands` into the Security Hub of the
    /// cluster's account in the function's region (`home`).
    pub(super) async fn record(
        &self,
        home: &AccountRef,
        finding: &Finding,
        standing: Standing,
        exemption: Option<&Exemption>,
        deadline: Deadline,
    ) -> Result<(), GuardError> {
        let Some(hub) = &self.security_hub else {
            return Ok(());
        };
        let doc = Asff::of(finding, standing, exemption, home, hub.next_updated_at_ms());
        let cluster = finding.cluster.name.as_str();
        let doc = &doc;
        let imported = self
            .twice(self.config.call_timeout(), deadline, |attempt| async move {
                let result = hub.import(doc, home).await;
                if let Err(error) = &result {
                    warn!(cluster, finding_id = %doc.id, attempt, %error, "security hub import failed");
                }
                result
            })
            .await;
        let why = match imported {
            Ok(()) => {
                info!(
                    cluster,
                    finding_id = %doc.id,
                    compliance = standing.compliance(),
                    workflow = standing.workflow(),
                    "security hub finding imported"
                );
                return Ok(());
            }
            Err(why) => why,
        };
        Err(GuardError::SecurityHubImportFailed {
            cluster: cluster.to_string(),
            finding_id: doc.id.clone(),
            message: why,
        })
    }

    /// The sweep's findings that stand for a violation, imported in
    /// `BatchImportFindings` calls of at most 100 findings of one account,
    /// each tried twice within the deadline. `Err` names the first failure
    /// and how many findings were not imported.
    pub(super) async fn record_all(
        &self,
        home: &AccountRef,
        findings: &[Finding],
        deadline: Deadline,
    ) -> Result<usize, GuardError> {
        let Some(hub) = &self.security_hub else {
            return Ok(0);
        };
        let mut by_account: std::collections::BTreeMap<String, Vec<Asff>> = Default::default();
        for finding in findings {
            if let Some(standing) = Standing::of(finding) {
                let doc = Asff::of(finding, standing, None, home, hub.next_updated_at_ms());
                by_account
                    .entry(doc.aws_account_id.clone())
                    .or_default()
                    .push(doc);
            }
        }
        let (mut imported, mut failed, mut calls, mut first) = (0, 0, 0, None);
        for docs in by_account.values() {
            for chunk in docs.chunks(IMPORT_BATCH) {
                calls += 1;
                match self.import_chunk(hub, chunk, home, deadline).await {
                    Ok(()) => imported += chunk.len(),
                    Err(why) => {
                        failed += chunk.len();
                        first.get_or_insert(why);
                    }
                }
            }
        }
        info!(
            imported,
            failed, calls, "security hub findings of the sweep"
        );
        match first {
            None => Ok(imported),
            Some(message) => Err(GuardError::SecurityHubImportFailed {
                cluster: format!("{failed} clusters of the sweep"),
                finding_id: "*".to_string(),
                message,
            }),
        }
    }

    /// One batch, tried again once after a pause if it fails; each try
    /// only with time for one call at the latency seen, as the sweep's
    /// other calls.
    async fn import_chunk(
        &self,
        hub: &securityhub::SecurityHub,
        chunk: &[Asff],
        home: &AccountRef,
        deadline: Deadline,
    ) -> Result<(), String> {
        self.twice(self.time_to_answer(), deadline, |attempt| async move {
            let result = hub.import_batch(chunk, home).await;
            if let Err(error) = &result {
                warn!(findings = chunk.len(), attempt, %error, "security hub batch import failed");
            }
            result
        })
        .await
    }

    /// `attempt` once, then once more after the poll interval if it fails
    /// ([`IMPORT_ATTEMPTS`]), each only while the deadline leaves `needed`
    /// (after the pause). `Err`: the last failure, or that no time was left
    /// for the first.
    async fn twice<F, Fut>(
        &self,
        needed: Duration,
        deadline: Deadline,
        attempt: F,
    ) -> Result<(), String>
    where
        F: Fn(u32) -> Fut,
        Fut: std::future::Future<Output = Result<(), String>>,
    {
        let pause = self.config.poll_interval;
        let mut why = "no time left before the invocation deadline".to_string();
        for n in 1..=IMPORT_ATTEMPTS {
            if n > 1 {
                if !deadline.allows(pause + needed) {
                    break;
                }
                tokio::time::sleep(pause).await;
            }
            if !deadline.allows(needed) {
                why = "no time left before the invocation deadline".to_string();
                break;
            }
            match attempt(n).await {
                Ok(()) => return Ok(()),
                Err(error) => why = error,
            }
        }
        Err(why)
    }
}
