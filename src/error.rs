//! The guard's errors, and how Lambda sees them.
//!
//! Every error fails the invocation on purpose: Lambda retries a failed
//! asynchronous invocation and then hands it to the on-failure destination,
//! so nothing the guard could not finish is lost. The `errorType` says which
//! kind it was, for alarms and for whoever reads the failure queue.

use lambda_runtime::Diagnostic;

use crate::eks::EksFailure;
use crate::event::InvalidEvent;

#[derive(Debug, thiserror::Error)]
pub enum GuardError {
    /// The payload claims to be an EKS call the guard handles, but is not usable.
    #[error("invalid event: {0}")]
    InvalidEvent(#[from] InvalidEvent),

    /// The cluster stayed busy (an update in progress, or not `ACTIVE`) until
    /// the invocation's deadline: fail, so that Lambda retries the event later.
    #[error(
        "cluster {cluster} could not be judged and reverted before the invocation deadline: {waiting_for}; failing so that Lambda retries the event"
    )]
    DeadlineExceeded {
        cluster: String,
        waiting_for: String,
    },

    /// The cluster stayed busy across invocations for as long as the guard
    /// may wait (`GUARD_MAX_WAIT_MINUTES`).
    #[error(
        "cluster {cluster} is still busy after {minutes} minutes and {hops} hand-offs to fresh invocations: {still}"
    )]
    WaitedTooLong {
        cluster: String,
        minutes: u64,
        hops: u32,
        still: String,
    },

    /// The sweep found the cluster busy and does not wait: left for the next sweep.
    #[error("cluster {cluster} is busy ({waiting_for}); left for the next sweep")]
    Busy {
        cluster: String,
        waiting_for: String,
    },

    /// Some clusters or account-regions of a sweep failed or were not
    /// reached (the others were judged): fail, so the sweep (or the slice)
    /// runs again and unsent alerts are sent.
    #[error(
        "sweep incomplete: {failed} failed or not reached ({seen} clusters seen); first: {first}"
    )]
    SweepIncomplete {
        failed: usize,
        seen: usize,
        first: String,
    },

    /// EKS refused in a way retrying will not fix (access denied, say), or
    /// kept failing until the deadline.
    #[error("EKS {operation} for cluster {cluster} failed: {failure}")]
    Eks {
        operation: &'static str,
        cluster: String,
        failure: EksFailure,
    },

    /// The event is from an account or region the guard may not act in; the
    /// alert said so, and the message names what to configure.
    #[error("change to cluster {cluster} in {place} not handled: {why}")]
    OutOfReach {
        cluster: String,
        place: String,
        why: String,
    },

    /// EKS accepted the revert, and the update then ended `Failed` or
    /// `Cancelled`: the endpoint is still open. Lambda's retry reverts again.
    #[error(
        "the revert of cluster {cluster} (update {update_id}) ended {status}: {errors}; the endpoint is still open; failing so that Lambda retries the event"
    )]
    RevertFailed {
        cluster: String,
        update_id: String,
        status: String,
        errors: String,
    },

    /// The alert could not be published after the SDK's retries. Whatever
    /// the guard did to the cluster is done; the retry of this event sends the
    /// alert.
    #[error("alert for cluster {cluster} not sent ({done}): {message}")]
    AlertNotSent {
        cluster: String,
        done: String,
        message: String,
    },

    /// Security Hub did not take the finding (after the SDK's retries and
    /// one more try). The alert is out, and any revert was done before it;
    /// Lambda's retry imports again, into the same finding (its `Id` is
    /// stable).
    #[error(
        "Security Hub finding {finding_id} for cluster {cluster} not imported: {message}; the alert is out (and any revert before it); failing so that Lambda retries the import"
    )]
    SecurityHubImportFailed {
        cluster: String,
        finding_id: String,
        message: String,
    },
}

impl GuardError {
    /// An EKS call on `cluster` that failed in a way retrying will not mend.
    pub fn eks(operation: &'static str, cluster: &str, failure: EksFailure) -> GuardError {
        GuardError::Eks {
            operation,
            cluster: cluster.to_string(),
            failure,
        }
    }

    pub fn error_type(&self) -> &'static str {
        match self {
            GuardError::InvalidEvent(_) => "InvalidEvent",
            GuardError::DeadlineExceeded { .. } => "DeadlineExceeded",
            GuardError::Eks { .. } => "EksError",
            GuardError::AlertNotSent { .. } => "AlertNotSent",
            GuardError::Busy { .. } => "Busy",
            GuardError::SweepIncomplete { .. } => "SweepIncomplete",
            GuardError::OutOfReach { .. } => "OutOfReach",
            GuardError::RevertFailed { .. } => "RevertFailed",
            GuardError::WaitedTooLong { .. } => "WaitedTooLong",
            GuardError::SecurityHubImportFailed { .. } => "SecurityHubImportFailed",
        }
    }
}

impl From<GuardError> for Diagnostic {
    fn from(error: GuardError) -> Diagnostic {
        Diagnostic {
            error_type: error.error_type().to_string(),
            error_message: error.to_string(),
        }
    }
}
