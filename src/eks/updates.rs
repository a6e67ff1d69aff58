//! EKS updates: what the guard reads of one, and the memory of finished ones.
//!
//! Finished updates accumulate for years (version upgrades, add-ons, logging)
//! and never change again, so each is described once per execution
//! environment; only updates still `InProgress` are described again.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use aws_sdk_eks::types::{Update, UpdateStatus};

/// `DescribeUpdate`'s status (EKS API reference, `Update.status`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UpdateState {
    InProgress,
    Successful,
    Failed,
    Cancelled,
}

impl UpdateState {
    pub fn is_finished(self) -> bool {
        self != UpdateState::InProgress
    }

    pub fn as_str(self) -> &'static str {
        match self {
            UpdateState::InProgress => "InProgress",
            UpdateState::Successful => "Successful",
            UpdateState::Failed => "Failed",
            UpdateState::Cancelled => "Cancelled",
        }
    }
}

/// One entry of an update's `errors` (codes such as `AccessDenied`,
/// `OperationNotPermitted`, `ConfigurationConflict`, `Unknown`).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UpdateError {
    pub code: String,
    pub message: String,
}

/// What the guard reads of one update.
#[derive(Clone, Debug, PartialEq)]
pub struct UpdateSummary {
    pub id: String,
    pub state: UpdateState,
    /// `EndpointAccessUpdate`, `VersionUpdate`, ... (`None` if EKS omits it).
    pub kind: Option<String>,
    /// `params` as EKS gives them: every value a string.
    pub params: Vec<(String, String)>,
    /// Seconds since the epoch.
    pub created_at: Option<f64>,
    pub errors: Vec<UpdateError>,
}

impl UpdateSummary {
    pub(super) fn from_sdk(id: &str, update: &Update) -> UpdateSummary {
        let state = match update.status() {
            Some(UpdateStatus::Successful) => UpdateState::Successful,
            Some(UpdateStatus::Failed) => UpdateState::Failed,
            Some(UpdateStatus::Cancelled) => UpdateState::Cancelled,
            // An unknown status is not taken as finished: the guard keeps
            // looking rather than acting on a guess.
            _ => UpdateState::InProgress,
        };
        UpdateSummary {
            id: update.id().unwrap_or(id).to_string(),
            state,
            kind: update.r#type().map(|t| t.as_str().to_string()),
            params: update
                .params()
                .iter()
                .map(|p| {
                    (
                        p.r#type()
                            .map(|t| t.as_str())
                            .unwrap_or_default()
                            .to_string(),
                        p.value().unwrap_or_default().to_string(),
                    )
                })
                .collect(),
            created_at: update.created_at().map(|t| t.as_secs_f64()),
            errors: update
                .errors()
                .iter()
                .map(|e| UpdateError {
                    code: e
                        .error_code()
                        .map(|c| c.as_str().to_string())
                        .unwrap_or_else(|| "Unknown".to_string()),
                    message: e.error_message().unwrap_or("no message").to_string(),
                })
                .collect(),
        }
    }

    pub fn param(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// `ErrorCode: message; ...` for people, or that EKS gave none.
pub fn describe_update_errors(errors: &[UpdateError]) -> String {
    if errors.is_empty() {
        return "EKS gave no error details".to_string();
    }
    errors
        .iter()
        .map(|e| format!("{}: {}", e.code, e.message))
        .collect::<Vec<_>>()
        .join("; ")
}

/// Finished updates by cluster and id, for the life of the execution
/// environment; shared by clones.
#[derive(Clone, Debug, Default)]
pub struct FinishedUpdates(Arc<Mutex<HashMap<(String, String), UpdateSummary>>>);

impl FinishedUpdates {
    pub fn get(&self, cluster: &str, id: &str) -> Option<UpdateSummary> {
        self.lock()
            .get(&(cluster.to_string(), id.to_string()))
            .cloned()
    }

    /// Keeps `update` if it is finished; an update in progress must be read again.
    pub fn remember(&self, cluster: &str, update: &UpdateSummary) {
        if update.state.is_finished() {
            self.lock()
                .insert((cluster.to_string(), update.id.clone()), update.clone());
        }
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<(String, String), UpdateSummary>> {
        // A poisoned map of finished updates is still a map of finished updates.
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}
