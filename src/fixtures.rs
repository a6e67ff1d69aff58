//! Values the unit tests of several modules share: one change as CloudTrail
//! reports it, the settings it asks for, and an endpoint update as EKS
//! describes it.

use crate::alert::FailedRevert;
use crate::eks::{UpdateError, UpdateState, UpdateSummary};
use crate::event::{Actor, ApiCall, ClusterChange, Origin};
use crate::policy::EndpointAccess;

/// Public access to `cidrs`, private access off.
pub fn open(cidrs: &[&str]) -> EndpointAccess {
    EndpointAccess {
        endpoint_public_access: true,
        endpoint_private_access: false,
        public_access_cidrs: cidrs.iter().map(|c| c.to_string()).collect(),
    }
}

/// What every view of a finding about [`change`] names, so that a responder
/// can act on any one of them: who (Jane's session), from where (her source
/// IP) and which event.
pub const NAMED_IN_EVERY_VIEW: [&str; 3] = ["jane", "198.51.100.23", "ev-1"];

/// Jane, through the CLI, opening cluster `name` in eu-west-1 of
/// 111122223333 to the internet with `UpdateClusterConfig`.
pub fn change(name: &str) -> ClusterChange {
    ClusterChange {
        origin: Origin::CloudTrail(ApiCall::UpdateClusterConfig),
        cluster_name: name.to_string(),
        cluster_arn: None,
        requested: Some(open(&["0.0.0.0/0"])),
        requested_unreadable: None,
        update_id: Some("u-1".into()),
        actor: Actor {
            identity_type: Some("AssumedRole".into()),
            principal_arn: Some("arn:aws:sts::111122223333:assumed-role/Admin/jane".into()),
            role_arn: Some("arn:aws:iam::111122223333:role/Admin".into()),
            session_name: Some("jane".into()),
            account_id: Some("111122223333".into()),
            invoked_by: None,
            source_ip: Some("198.51.100.23".into()),
            user_agent: Some("aws-cli/2.22.0".into()),
        },
        event_id: Some("ev-1".into()),
        event_time: Some("2026-11-23T06:00:01Z".into()),
        account: "111122223333".into(),
        region: "eu-west-1".into(),
        tag_edit: None,
    }
}

/// An `EndpointAccessUpdate` created at `created_at` (epoch seconds) that
/// asked for `params`, with `errors` as EKS lists them.
pub fn endpoint_update(
    id: &str,
    created_at: f64,
    state: UpdateState,
    params: &[(&str, &str)],
    errors: Vec<UpdateError>,
) -> UpdateSummary {
    UpdateSummary {
        id: id.into(),
        state,
        kind: Some("EndpointAccessUpdate".into()),
        params: params
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        created_at: Some(created_at),
        errors,
    }
}

/// The guard's revert `rev-9`, ended `Failed` because the cluster role may
/// not change the endpoint.
pub fn denied_revert() -> FailedRevert {
    FailedRevert {
        update_id: "rev-9".into(),
        status: "Failed".into(),
        errors: vec![UpdateError {
            code: "AccessDenied".into(),
            message: "the cluster role may not change the endpoint".into(),
        }],
    }
}
