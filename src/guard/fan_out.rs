//! Beyond one invocation: a sweep of more accounts than one slice
//! (`SWEEP_SLICE_ACCOUNTS`) hands each slice, a few accounts in every
//! guarded region, to an asynchronous invocation of the function itself.
//!
//! Why asynchronous `Invoke` and not an SQS queue with a maximum concurrency:
//! it is what the hand-off already uses (one permission on the function's
//! own ARN, no other resource), and each slice gets Lambda's own retries
//! (two, on its own, for a slice that fails) and the failure queue, whose
//! record carries the slice's payload and so names its accounts. Pacing is
//! the function's reserved concurrency (`ReservedConcurrency`): slices
//! beyond it wait in Lambda's queue.
//!
//! The fan-out is flat: the coordinator (the scheduled invocation) hands out
//! every slice, and a slice never hands out another. Lambda's recursive loop
//! detection stops chains of more than 16 invocations, counted through the
//! trace header that the SDK passes on (smithy-rs `recursion_detection.rs`;
//! the Lambda guide's "recursive loop detection" page): a slice is the second
//! link of its chain, whatever the size of the organization. A slice
//! payload is a few hundred bytes per account, far below the 1 MB an
//! asynchronous invocation takes. Deliveries can repeat: a slice judges
//! clusters as they are, and its reverts carry the sweep's token, so a
//! repeat converges on the same EKS update.

use futures_util::StreamExt;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tracing::{info, warn};

use super::handoff::invoke_itself;
use super::sweep::{SweepScope, SweepSummary, log_sweep, sweep_home};
use super::{Answer, Guard, Invocation};
use crate::eks::AccountRef;
use crate::error::GuardError;
use crate::event::{InvalidEvent, SweepRequest};

/// The key of a slice payload: `{"eks-endpoint-guard/sweep-slice": {...}}`.
pub const SLICE_KEY: &str = "eks-endpoint-guard/sweep-slice";

/// `Invoke` calls the coordinator keeps in flight.
const HAND_OUTS_IN_FLIGHT: usize = 8;

/// One slice of a sweep, as handed to its invocation.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SweepSlice {
    /// The scheduled sweep's account, region and time (its revert tokens
    /// derive from the time).
    pub account: String,
    pub region: String,
    pub time: Option<String>,
    /// 1-based: slice `index` of `of`.
    pub index: usize,
    pub of: usize,
    #[serde(flatten)]
    pub scope: SweepScope,
}

impl SweepSlice {
    fn label(&self) -> String {
        format!("{}/{}", self.index, self.of)
    }

    fn request(&self) -> SweepRequest {
        SweepRequest {
            account: self.account.clone(),
            region: self.region.clone(),
            time: self.time.clone(),
        }
    }
}

/// The slice an invocation payload carries, if it is one.
pub fn unwrap_slice(payload: &Value) -> Option<Result<SweepSlice, InvalidEvent>> {
    let inner = payload.get(SLICE_KEY)?;
    Some(
        SweepSlice::deserialize(inner)
            .map_err(|e| InvalidEvent(format!("malformed sweep slice: {e}"))),
    )
}

/// `scope` cut into slices of `accounts_per_slice` accounts, every region each.
fn slices(
    request: &SweepRequest,
    scope: &SweepScope,
    accounts_per_slice: usize,
) -> Vec<SweepSlice> {
    let chunks: Vec<&[String]> = scope.accounts.chunks(accounts_per_slice.max(1)).collect();
    let of = chunks.len();
    chunks
        .into_iter()
        .enumerate()
        .map(|(i, accounts)| SweepSlice {
            account: request.account.clone(),
            region: request.region.clone(),
            time: request.time.clone(),
            index: i + 1,
            of,
            scope: SweepScope {
                accounts: accounts.to_vec(),
                regions: scope.regions.clone(),
            },
        })
        .collect()
}

impl Guard {
    /// Whether `scope` is handed out in slices: more accounts than one slice,
    /// and a way to invoke the function itself.
    pub(super) fn fans_out(&self, scope: &SweepScope, invocation: &Invocation) -> bool {
        self.lambda.is_some()
            && !invocation.function_arn.is_empty()
            && scope.accounts.len() > self.config.sweep_slice_accounts
    }

    /// The coordinator: hands every slice out and tells what it could not.
    pub(super) async fn fan_out(
        &self,
        request: &SweepRequest,
        home: &AccountRef,
        scope: &SweepScope,
        problems: Vec<String>,
        invocation: &Invocation,
    ) -> Result<Answer, GuardError> {
        let slices = slices(request, scope, self.config.sweep_slice_accounts);
        let mut summary = SweepSummary::of(scope, problems, None);
        let mut sent = futures_util::stream::iter(slices)
            .map(|slice| self.hand_out(slice, invocation))
            .buffer_unordered(HAND_OUTS_IN_FLIGHT);
        while let Some(result) = sent.next().await {
            match result {
                Ok(()) => summary.slices_handed_out += 1,
                Err(problem) => summary.failed.push(problem),
            }
        }
        summary.failed.sort();
        log_sweep(&summary);
        self.tell_sweep(request, home, summary).await
    }

    /// One slice to its own asynchronous invocation, within the deadline.
    async fn hand_out(&self, slice: SweepSlice, invocation: &Invocation) -> Result<(), String> {
        let label = slice.label();
        let accounts = slice.scope.accounts.join(", ");
        let problem = |why: String| format!("slice {label} (accounts {accounts}): {why}");
        let Some(lambda) = &self.lambda else {
            return Err(problem("no Lambda client".to_string()));
        };
        if !invocation.deadline.allows(self.time_to_answer() * 2) {
            return Err(problem("not handed out before the deadline".to_string()));
        }
        let payload = serde_json::json!({ SLICE_KEY: slice });
        match invoke_itself(lambda, invocation, &payload).await {
            Ok(_) => {
                info!(slice = %label, accounts = slice.scope.accounts.len(), "sweep slice handed out");
                Ok(())
            }
            Err(e) => {
                warn!(slice = %label, error = %e, "could not hand a sweep slice out");
                Err(problem(format!("Invoke failed: {e}")))
            }
        }
    }

    /// A slice handed out by a coordinator: swept like a whole sweep of its
    /// accounts. It never hands anything out itself (the fan-out stays flat).
    pub(super) async fn sweep_slice(
        &self,
        slice: &SweepSlice,
        invocation: &Invocation,
    ) -> Result<Answer, GuardError> {
        let request = slice.request();
        let home = sweep_home(&request, invocation);
        let summary = SweepSummary::of(&slice.scope, Vec::new(), Some(slice.label()));
        self.sweep_part(&request, &home, &slice.scope, summary, invocation)
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request() -> SweepRequest {
        SweepRequest {
            account: "111122223333".into(),
            region: "eu-west-1".into(),
            time: Some("2026-12-04T10:00:00+00:00".into()),
        }
    }

    fn scope(accounts: usize) -> SweepScope {
        SweepScope {
            accounts: (0..accounts).map(|i| format!("{i:012}")).collect(),
            regions: vec!["eu-west-1".into(), "us-east-1".into()],
        }
    }

    #[test]
    fn slices_cover_every_account_once_with_every_region() {
        let all = scope(53);
        let cut = slices(&request(), &all, 25);
        assert_eq!(cut.len(), 3);
        assert_eq!(
            cut.iter()
                .map(|s| s.scope.accounts.len())
                .collect::<Vec<_>>(),
            [25, 25, 3]
        );
        let joined: Vec<String> = cut.iter().flat_map(|s| s.scope.accounts.clone()).collect();
        assert_eq!(joined, all.accounts);
        for (i, slice) in cut.iter().enumerate() {
            assert_eq!((slice.index, slice.of), (i + 1, 3));
            assert_eq!(slice.scope.regions, all.regions);
            assert_eq!(slice.time, request().time);
        }
    }

    #[test]
    fn a_slice_payload_reads_back_as_sent_and_a_bad_one_is_named() {
        let slice = slices(&request(), &scope(2), 1).remove(1);
        let payload = serde_json::json!({ SLICE_KEY: slice });
        assert_eq!(unwrap_slice(&payload), Some(Ok(slice)));
        assert_eq!(unwrap_slice(&serde_json::json!({"detail": {}})), None);
        let bad = serde_json::json!({ SLICE_KEY: {"accounts": "all"} });
        let error = unwrap_slice(&bad).unwrap().unwrap_err();
        assert!(error.0.starts_with("malformed sweep slice"), "{error}");
    }

    #[test]
    fn a_thousand_accounts_in_every_region_fit_an_asynchronous_payload() {
        let regions: Vec<String> = (0..17).map(|i| format!("xx-region-{i}")).collect();
        let all = SweepScope {
            accounts: (0..1000).map(|i| format!("{i:012}")).collect(),
            regions,
        };
        // Even one slice of the whole organization is far below 1 MB.
        let whole = slices(&request(), &all, 1000).remove(0);
        let bytes = serde_json::to_vec(&serde_json::json!({ SLICE_KEY: whole })).unwrap();
        assert!(bytes.len() < 20_000, "{}", bytes.len());
    }
}
