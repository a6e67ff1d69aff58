//! Long waits without false alarms.
//!
//! A new cluster is `CREATING` for 10 to 20 minutes and Lambda allows 15; an
//! update (or the guard's own revert) can run for minutes too. EKS sends no
//! event when either ends (aws/containers-roadmap#2203), so the guard waits.
//! When the deadline comes first, failing would fire the Errors alarm for a
//! normal event and teach the alert channel to ignore it. Instead the event
//! is handed on to a fresh invocation of the function itself (an asynchronous
//! `Invoke` of its own ARN, carrying the event, a hop count and when it was
//! first seen), up to `GUARD_MAX_WAIT_MINUTES`; only then does it fail.
//!
//! Why a self-invocation and not an EventBridge Scheduler one-time schedule
//! or an SQS timer: the wait must go on at once (the deadline is the only
//! reason to stop), so no delay is needed; it needs one permission on the
//! function's own ARN and no other resource; and Lambda's asynchronous retries
//! and failure destination keep working for each hop. Lambda's recursive loop
//! detection stops loops it tracks at about 16 invocations
//! (docs.aws.amazon.com/lambda/latest/dg/invocation-recursion.html): the
//! guard's own bound stays below it.

use std::time::Duration;

use aws_sdk_lambda::error::DisplayErrorContext;
use aws_sdk_lambda::primitives::Blob;
use aws_sdk_lambda::types::InvocationType;
use serde_json::Value;
use tracing::{info, warn};

use super::{Answer, Guard, Invocation};
use crate::clock::epoch_millis;
use crate::error::GuardError;
use crate::event::{HandOff, hand_off_payload};
use crate::outcome::Outcome;

/// At most this many fresh invocations for one event, whatever the clock says.
pub const MAX_HOPS: u32 = 12;

impl Guard {
    /// Hands the event on, or returns `busy` when it cannot or may not be.
    pub(super) async fn hand_off(
        &self,
        event: &Value,
        invocation: &Invocation,
        cluster: &str,
        busy: GuardError,
    ) -> Result<Answer, GuardError> {
        let Some(lambda) = &self.lambda else {
            return Err(busy);
        };
        if self.config.max_wait.is_zero() || invocation.function_arn.is_empty() {
            return Err(busy);
        }
        let first_seen_ms = invocation.first_seen_ms();
        let waited = Duration::from_millis(epoch_millis().saturating_sub(first_seen_ms));
        let hop = invocation.hand_off.map_or(0, |h| h.hop) + 1;
        if waited >= self.config.max_wait || hop > MAX_HOPS {
            return Err(GuardError::WaitedTooLong {
                cluster: cluster.to_string(),
                minutes: waited.as_secs() / 60,
                hops: hop - 1,
                still: busy.to_string(),
            });
        }
        let payload = hand_off_payload(event, HandOff { hop, first_seen_ms });
        if let Err(e) = invoke_itself(lambda, invocation, &payload).await {
            // Failing is then the only way to keep the event: Lambda retries it.
            warn!(cluster, error = %e, "could not hand the wait on");
            return Err(busy);
        }
        let still = match &busy {
            GuardError::DeadlineExceeded { waiting_for, .. } => waiting_for.clone(),
            other => other.to_string(),
        };
        let reason = format!(
            "still busy near the deadline ({still}); handed on to a fresh invocation (hop {hop}, waited {} s so far)",
            waited.as_secs()
        );
        info!(cluster, hop, action = "handed-off", reason = %reason, "decision");
        Ok(Answer::new(Outcome::HandedOff, Some(cluster), reason))
    }
}

/// An asynchronous invocation of the function itself with `payload` (a
/// hand-off, or a sweep slice): Lambda queues it and answers at once. The
/// error, with the SDK's context, when it does not.
pub(super) async fn invoke_itself(
    lambda: &aws_sdk_lambda::Client,
    invocation: &Invocation,
    payload: &Value,
) -> Result<(), String> {
    let body = serde_json::to_vec(payload).map_err(|e| e.to_string())?;
    lambda
        .invoke()
        .function_name(&invocation.function_arn)
        .invocation_type(InvocationType::Event)
        .payload(Blob::new(body))
        .send()
        .await
        .map(|_| ())
        .map_err(|e| DisplayErrorContext(&e).to_string())
}
