//! Findings in AWS Security Hub (CSPM): every violation the guard alerts is
//! also imported as an AWS Security Finding Format (ASFF) document through
//! `BatchImportFindings` (`SECURITY_HUB=true`).
//!
//! Two parts, as in [`crate::alert`]: the document, pure (`asff.rs`:
//! [`Asff::of`] makes it from the alert's finding, a [`Standing`] and the
//! time), and the client that imports it ([`SecurityHub::import`], here).
//!
//! What Security Hub does with an import, and what follows for this module
//! (Security Hub user guide, "BatchImportFindings for finding providers" and
//! "Required top-level ASFF attributes"; API reference, `AwsSecurityFinding`):
//!
//! - The same `ProductArn` and `Id` update a finding instead of adding one,
//!   and only when `UpdatedAt` is later than the finding's. So the
//!   finding's `Id` is the cluster's ARN and the one policy the guard
//!   enforces (a repeat updates the finding), and
//!   [`SecurityHub::next_updated_at_ms`] never hands out a millisecond twice.
//! - An import replaces the provider's fields, `CreatedAt` among them. The
//!   guard does not read findings back (that would need read access to every
//!   finding of the hub), so `CreatedAt` is the time of the cause: the
//!   CloudTrail event's `eventTime` (or the sweep's), the same for every
//!   import one event leads to (the violation, the confirmed revert, Lambda's
//!   retries, duplicate deliveries). A later event or sweep that finds the
//!   cluster open again is a new occurrence, and moves it.
//! - `Workflow` is taken from an import only when it creates the finding;
//!   later changes come from `BatchUpdateFindings` (the customers' API). The
//!   guard still states the workflow it means in every import (moto, the
//!   local emulator, applies it); on real Security Hub a resolved finding
//!   shows `Compliance.Status` `PASSED` and keeps the workflow it had (the
//!   README shows an automation rule that sets `RESOLVED`). Security Hub
//!   itself resets `RESOLVED` to `NEW` when the status goes back to `FAILED`.
//! - `Severity` and `Types` are also sent in `FindingProviderFields`, where
//!   Security Hub takes a provider's later changes of them from.
//! - `BatchImportFindings` must be called by the account that the finding's
//!   `AwsAccountId` names (or by an allow-listed partner): a central account
//!   cannot import for a member, administrator or not. So a finding goes to
//!   the cluster's own account (through the remediation role in the central
//!   layout), into the Security Hub of the function's region.
//!
//! moto accepts any document: the tests check what Security Hub requires
//! (`tests/asff_check`).

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use aws_sdk_securityhub::error::DisplayErrorContext;

use crate::clock::epoch_millis;
use crate::config::GUARD_NAME;
use crate::eks::AccountRef;

mod asff;
#[cfg(test)]
mod tests;

pub use asff::{Asff, Exemption, Standing};

/// Findings one `BatchImportFindings` call takes (Security Hub's limit).
pub const IMPORT_BATCH: usize = 100;

/// `BatchImportFindings` clients per account (the function's own; a member
/// account's through the remediation role), all in the function's region,
/// and the clock that keeps `UpdatedAt` moving forward.
pub struct SecurityHub {
    home: aws_sdk_securityhub::Client,
    cross_account: Option<CrossAccount>,
    clients: Mutex<HashMap<String, aws_sdk_securityhub::Client>>,
    last_updated_ms: AtomicU64,
}

struct CrossAccount {
    sdk: aws_config::SdkConfig,
    role_name: String,
}

impl SecurityHub {
    /// Findings of the function's own account only.
    pub fn new(client: aws_sdk_securityhub::Client) -> SecurityHub {
        SecurityHub {
            home: client,
            cross_account: None,
            clients: Mutex::default(),
            last_updated_ms: AtomicU64::new(0),
        }
    }

    /// Findings of another account are imported by assuming `role_name`
    /// there (the member's remediation role, as for EKS), under the session
    /// name `eks-endpoint-guard`.
    pub fn cross_account(sdk: &aws_config::SdkConfig, role_name: &str) -> SecurityHub {
        SecurityHub {
            cross_account: Some(CrossAccount {
                sdk: sdk.clone(),
                role_name: role_name.to_string(),
            }),
            ..SecurityHub::new(aws_sdk_securityhub::Client::new(sdk))
        }
    }

    /// Now, in epoch milliseconds, and later than any time this process
    /// handed out before: Security Hub ignores an update whose `UpdatedAt`
    /// is not later than the finding's.
    pub fn next_updated_at_ms(&self) -> u64 {
        let now = epoch_millis();
        let mut last = self.last_updated_ms.load(Ordering::SeqCst);
        loop {
            let next = now.max(last + 1);
            match self.last_updated_ms.compare_exchange(
                last,
                next,
                Ordering::SeqCst,
                Ordering::SeqCst,
            ) {
                Ok(_) => return next,
                Err(current) => last = current,
            }
        }
    }

    /// Imports one finding into the Security Hub of its `AwsAccountId`;
    /// `home` is the function's own account. The SDK retries what is worth
    /// retrying; a finding that Security Hub lists as failed is an error too.
    pub async fn import(&self, finding: &Asff, home: &AccountRef) -> Result<(), String> {
        let client = self.client_for(&finding.aws_account_id, home).await?;
        batch_import(&client, vec![finding.to_sdk()], "the finding", refusal).await
    }

    /// Imports `findings` of one account (their `AwsAccountId`) in one
    /// `BatchImportFindings` call: at most [`IMPORT_BATCH`] of them. `Err`
    /// says why, naming each finding Security Hub refused.
    pub async fn import_batch(&self, findings: &[Asff], home: &AccountRef) -> Result<(), String> {
        let Some(first) = findings.first() else {
            return Ok(());
        };
        let client = self.client_for(&first.aws_account_id, home).await?;
        let findings = findings.iter().map(Asff::to_sdk).collect();
        batch_import(&client, findings, "findings", |f| {
            format!("{}: {}", f.id().unwrap_or("?"), refusal(f))
        })
        .await
    }

    async fn client_for(
        &self,
        account: &str,
        home: &AccountRef,
    ) -> Result<aws_sdk_securityhub::Client, String> {
        if account == home.account {
            return Ok(self.home.clone());
        }
        if let Some(client) = self.lock().get(account) {
            return Ok(client.clone());
        }
        let Some(cross) = &self.cross_account else {
            return Err(format!(
                "the finding belongs to account {account}, and only that account may import it (set REMEDIATION_ROLE_NAME)"
            ));
        };
        let role_arn = format!(
            "arn:{}:iam::{account}:role/{}",
            home.partition, cross.role_name
        );
        let provider = aws_config::sts::AssumeRoleProvider::builder(role_arn)
            .session_name(GUARD_NAME)
            .configure(&cross.sdk)
            .build()
            .await;
        let mut config =
            aws_sdk_securityhub::config::Builder::from(&cross.sdk).credentials_provider(provider);
        if let Some(region) = self.home.config().region() {
            config = config.region(region.clone());
        }
        let client = aws_sdk_securityhub::Client::from_conf(config.build());
        self.lock().insert(account.to_string(), client.clone());
        Ok(client)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, aws_sdk_securityhub::Client>> {
        // A poisoned map of clients is still a map of valid clients.
        self.clients.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// One `BatchImportFindings` call of `findings`. `Err` says why the call
/// failed or, naming each with `name`, which of `what` Security Hub refused.
async fn batch_import(
    client: &aws_sdk_securityhub::Client,
    findings: Vec<aws_sdk_securityhub::types::AwsSecurityFinding>,
    what: &str,
    name: impl Fn(&aws_sdk_securityhub::types::ImportFindingsError) -> String,
) -> Result<(), String> {
    let output = client
        .batch_import_findings()
        .set_findings(Some(findings))
        .send()
        .await
        .map_err(|e| DisplayErrorContext(&e).to_string())?;
    if output.failed_count().unwrap_or(0) == 0 {
        return Ok(());
    }
    let why = output
        .failed_findings()
        .iter()
        .map(name)
        .collect::<Vec<_>>()
        .join("; ");
    Err(format!("Security Hub refused {what} ({why})"))
}

/// Why Security Hub refused a finding: its error code and message.
fn refusal(failed: &aws_sdk_securityhub::types::ImportFindingsError) -> String {
    format!(
        "{}: {}",
        failed.error_code().unwrap_or("unknown"),
        failed.error_message().unwrap_or("no message")
    )
}
