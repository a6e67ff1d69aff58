//! The revert's `clientRequestToken`, derived from what caused it.
//!
//! EventBridge delivers at least once, Lambda runs execution environments
//! side by side and retries failed invocations: the same token for the same
//! cause makes EKS answer with the update it already started instead of
//! starting a second one (the `UpdateClusterConfig` idempotency token), so
//! every handler of one delivery ends with one update and can say which.

use super::backoff::fnv1a;
use crate::eks::Place;
use crate::policy::EndpointFix;

/// What caused a revert: an event id, or a sweep's scheduled time.
#[derive(Clone, Copy, Debug)]
pub(super) enum Cause<'a> {
    Event(&'a str),
    Sweep(&'a str),
}

/// `eeg-` and 32 hex digits, from the cause, the cluster and the fix.
/// `after`: a finished update this token's predecessor already answered with
/// (a revert that failed, or one that no longer holds), so a retry starts a
/// new update rather than being handed the spent one again.
pub(super) fn revert_token(
    cause: Cause<'_>,
    place: &Place,
    cluster: &str,
    fix: &EndpointFix,
    after: Option<&str>,
) -> String {
    let (kind, id) = match cause {
        Cause::Event(id) => ("event", id),
        Cause::Sweep(time) => ("sweep", time),
    };
    let text = format!(
        "{kind}\n{id}\n{}\n{}\n{cluster}\n{}\n{}",
        place.account,
        place.region,
        fix.describe(),
        after.unwrap_or("")
    );
    let low = fnv1a(text.as_bytes());
    let high = fnv1a(format!("{text}\n{low:016x}").as_bytes());
    format!("eeg-{high:016x}{low:016x}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn token(cause: Cause<'_>, cluster: &str, fix: &EndpointFix, after: Option<&str>) -> String {
        revert_token(
            cause,
            &Place::new("111122223333", "eu-west-1"),
            cluster,
            fix,
            after,
        )
    }

    #[test]
    fn the_same_cause_gives_the_same_token_and_any_difference_another() {
        let close = EndpointFix::ClosePublicEndpoint;
        let first = token(Cause::Event("ev-1"), "prod", &close, None);
        assert_eq!(first, token(Cause::Event("ev-1"), "prod", &close, None));
        assert_eq!(first.len(), 36);
        assert!(first.starts_with("eeg-"));
        let others = [
            token(Cause::Event("ev-2"), "prod", &close, None),
            token(Cause::Event("ev-1"), "prod2", &close, None),
            token(
                Cause::Event("ev-1"),
                "prod",
                &EndpointFix::RestrictPublicCidrs(vec!["203.0.113.0/24".into()]),
                None,
            ),
            token(Cause::Event("ev-1"), "prod", &close, Some("u-1")),
            token(Cause::Sweep("ev-1"), "prod", &close, None),
            revert_token(
                Cause::Event("ev-1"),
                &Place::new("111122223333", "eu-central-1"),
                "prod",
                &close,
                None,
            ),
        ];
        for other in others {
            assert_ne!(first, other);
        }
    }
}
