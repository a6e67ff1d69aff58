//! Repeat openings, from the cluster's own EKS update history (no store of
//! the guard's own): how often an endpoint-access update opened the endpoint
//! (public access set on, or a range outside the allowed ones) in the last
//! 24 hours and 7 days. Pure: the updates come from `Eks::describe_updates`,
//! which reads each finished update once per execution environment.
//!
//! Also since when an open endpoint has been open: the opening that began the
//! current run of openings, or the cluster's creation (EKS makes a cluster
//! public unless told otherwise) when no endpoint update says more.

use serde::{Deserialize, Serialize};

use crate::eks::{UpdateState, UpdateSummary};
use crate::policy::{EndpointAccess, Policy, evaluate};

const DAY: f64 = 86_400.0;

/// The finding's `history`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Openings {
    pub opened_last_24h: u32,
    pub opened_last_7d: u32,
    /// Since when the endpoint has been open (RFC 3339, UTC), where the
    /// updates or the cluster's creation time say so (the sweep).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub open_since: Option<String>,
}

impl Openings {
    /// "opened 3 times in the last 24 hours, 5 times in the last 7 days".
    pub fn describe(&self) -> String {
        let times = |n: u32| {
            if n == 1 {
                "once".to_string()
            } else {
                format!("{n} times")
            }
        };
        format!(
            "opened {} in the last 24 hours, {} in the last 7 days",
            times(self.opened_last_24h),
            times(self.opened_last_7d)
        )
    }
}

/// Counts the updates that opened the endpoint, as of `now` (epoch seconds).
/// An update that failed or was cancelled opened nothing; one in progress is
/// counted (it is opening it now).
pub fn openings(policy: &Policy, history: &[UpdateSummary], now: f64) -> Openings {
    let mut counted = Openings::default();
    for update in history.iter().filter(|u| opened(policy, u)) {
        let Some(at) = update.created_at else {
            continue;
        };
        let age = now - at;
        if (0.0..DAY).contains(&age) {
            counted.opened_last_24h += 1;
        }
        if (0.0..7.0 * DAY).contains(&age) {
            counted.opened_last_7d += 1;
        }
    }
    counted
}

/// Since when (epoch seconds) an endpoint that is open now has been open:
/// the opening that followed the last closing update, in the order EKS
/// created them (updates that failed or were cancelled changed nothing).
/// With no endpoint update at all, the cluster's creation (`created_at`):
/// EKS creates clusters public unless told otherwise. `None` when the last
/// endpoint update closed it (then something this history does not show
/// opened it) or no time is known.
pub fn open_since(
    policy: &Policy,
    history: &[UpdateSummary],
    created_at: Option<f64>,
) -> Option<f64> {
    let mut changes: Vec<&UpdateSummary> = history
        .iter()
        .filter(|u| u.kind.as_deref() == Some("EndpointAccessUpdate"))
        .filter(|u| !matches!(u.state, UpdateState::Failed | UpdateState::Cancelled))
        .collect();
    changes.sort_by(|a, b| {
        a.created_at
            .unwrap_or(0.0)
            .total_cmp(&b.created_at.unwrap_or(0.0))
    });
    let mut since = created_at;
    for (i, update) in changes.iter().enumerate() {
        if opened(policy, update) {
            // The first endpoint update opened it: it was not open before.
            if i == 0 || since.is_none() {
                since = update.created_at;
            }
        } else if closes_endpoint(policy, update) {
            since = None;
        }
    }
    since
}

/// Whether an endpoint update asked for settings that comply (what a revert
/// asks for): public access off, or only allowed ranges.
pub fn closes_endpoint(policy: &Policy, update: &UpdateSummary) -> bool {
    if update.param("EndpointPublicAccess") == Some("false") {
        return true;
    }
    update
        .param("PublicAccessCidrs")
        .and_then(|text| serde_json::from_str::<Vec<String>>(text).ok())
        .is_some_and(|cidrs| {
            !evaluate(
                policy,
                &EndpointAccess {
                    endpoint_public_access: true,
                    endpoint_private_access: false,
                    public_access_cidrs: cidrs,
                },
            )
            .is_violation()
        })
}

/// Whether an update opened the endpoint: an endpoint-access update that did
/// not fail, turning public access on, or setting ranges the policy does not
/// allow on an endpoint it does not turn off.
fn opened(policy: &Policy, update: &UpdateSummary) -> bool {
    if update.kind.as_deref() != Some("EndpointAccessUpdate")
        || matches!(update.state, UpdateState::Failed | UpdateState::Cancelled)
    {
        return false;
    }
    let public = update.param("EndpointPublicAccess");
    if public == Some("true") && policy.allowed_public_cidrs.is_empty() {
        return true;
    }
    if public == Some("false") {
        return false;
    }
    let cidrs = update
        .param("PublicAccessCidrs")
        .and_then(|text| serde_json::from_str::<Vec<String>>(text).ok());
    match (public, cidrs) {
        (_, Some(cidrs)) => evaluate(
            policy,
            &EndpointAccess {
                endpoint_public_access: true,
                endpoint_private_access: false,
                public_access_cidrs: cidrs,
            },
        )
        .is_violation(),
        // Public on without ranges: EKS's default, open to the internet.
        (Some("true"), None) => true,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::endpoint_update;

    fn update(hours_ago: f64, state: UpdateState, params: &[(&str, &str)]) -> UpdateSummary {
        let at = 1_000_000.0 - hours_ago * 3600.0;
        endpoint_update(&format!("u-{hours_ago}"), at, state, params, Vec::new())
    }

    #[test]
    fn openings_in_the_last_day_and_week_are_counted() {
        let open = [("EndpointPublicAccess", "true")];
        let close = [
            ("EndpointPublicAccess", "false"),
            ("EndpointPrivateAccess", "true"),
        ];
        let wide = [("PublicAccessCidrs", "[\"0.0.0.0/0\"]")];
        let history = [
            update(1.0, UpdateState::Successful, &open),
            update(2.0, UpdateState::Successful, &close),
            update(3.0, UpdateState::InProgress, &wide),
            update(5.0, UpdateState::Failed, &open),
            update(30.0, UpdateState::Successful, &open),
            update(24.0 * 8.0, UpdateState::Successful, &open),
        ];
        let mut version = update(1.0, UpdateState::Successful, &open);
        version.kind = Some("VersionUpdate".into());
        let mut all = history.to_vec();
        all.push(version);
        let counted = openings(&Policy::default(), &all, 1_000_000.0);
        assert_eq!(
            counted,
            Openings {
                opened_last_24h: 2,
                opened_last_7d: 3,
                open_since: None,
            }
        );
        assert_eq!(
            counted.describe(),
            "opened 2 times in the last 24 hours, 3 times in the last 7 days"
        );
    }

    #[test]
    fn allowed_ranges_are_not_openings() {
        let policy = Policy {
            allowed_public_cidrs: vec!["203.0.113.0/24".parse().unwrap()],
        };
        let narrow = update(
            1.0,
            UpdateState::Successful,
            &[
                ("EndpointPublicAccess", "true"),
                ("PublicAccessCidrs", "[\"203.0.113.0/25\"]"),
            ],
        );
        let wide = update(
            1.0,
            UpdateState::Successful,
            &[("PublicAccessCidrs", "[\"0.0.0.0/0\"]")],
        );
        let bare = update(
            1.0,
            UpdateState::Successful,
            &[("EndpointPublicAccess", "true")],
        );
        let counted = openings(&policy, &[narrow, wide, bare], 1_000_000.0);
        assert_eq!(counted.opened_last_24h, 2, "the wide list and the default");
        assert_eq!(
            Openings {
                opened_last_24h: 1,
                opened_last_7d: 1,
                open_since: None,
            }
            .describe(),
            "opened once in the last 24 hours, once in the last 7 days"
        );
    }

    #[test]
    fn open_since_is_the_opening_after_the_last_close_or_the_creation() {
        let policy = Policy::default();
        let open = [("EndpointPublicAccess", "true")];
        let close = [
            ("EndpointPublicAccess", "false"),
            ("EndpointPrivateAccess", "true"),
        ];
        let created = Some(1_000_000.0 - 100.0 * 3600.0);
        let at = |u: &UpdateSummary| u.created_at;
        // No endpoint update: open since its creation.
        assert_eq!(open_since(&policy, &[], created), created);
        // Closed, then opened twice: since the first opening after the close.
        let closed_then = update(50.0, UpdateState::Successful, &close);
        let first = update(10.0, UpdateState::Successful, &open);
        let again = update(5.0, UpdateState::Successful, &open);
        let failed_close = update(2.0, UpdateState::Failed, &close);
        let history = [
            again.clone(),
            failed_close,
            closed_then.clone(),
            first.clone(),
        ];
        assert_eq!(open_since(&policy, &history, created), at(&first));
        // The first endpoint update opened it: not open before that.
        assert_eq!(
            open_since(&policy, &[first.clone(), again], created),
            at(&first)
        );
        // The last word was a close: what opened it is not in the history.
        let closed_later = update(1.0, UpdateState::Successful, &close);
        assert_eq!(open_since(&policy, &[first, closed_later], created), None);
    }
}
