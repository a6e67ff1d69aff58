//! The EKS side: read a cluster, read its updates, apply a fix, list clusters,
//! and sort EKS's answers into what the guard must do about them.
//!
//! Real EKS, unlike a toy: an `UpdateClusterConfig` starts an update that stays
//! `InProgress` for minutes, during which the cluster may stay `ACTIVE` and
//! still describe its old settings (rancher/eks-operator#672), and any second
//! update is refused with `ResourceInUseException` (aws-controllers-k8s/community#1192).
//! Only the update's own status says when it is done, and it may end `Failed`.
//!
//! - [`failure`]: EKS errors sorted into not-found, in-use, already-desired,
//!   transient and fatal.
//! - [`updates`]: what an update is, and the per-environment memory of
//!   finished ones (a finished update never changes).
//! - [`clients`]: one client per account and region, through the remediation
//!   role for other accounts.

mod clients;
mod failure;
mod pace;
mod updates;

use aws_sdk_eks::operation::describe_cluster::DescribeClusterError;
use aws_sdk_eks::operation::describe_update::DescribeUpdateError;
use aws_sdk_eks::operation::list_updates::ListUpdatesError;
use aws_sdk_eks::operation::update_cluster_config::UpdateClusterConfigError;
use aws_sdk_eks::types::VpcConfigRequest;
use std::collections::HashMap;

pub use clients::{AccountRef, AccountSession, EksClients, Place};
pub use failure::EksFailure;
pub use pace::CallPace;
pub use updates::{
    FinishedUpdates, UpdateError, UpdateState, UpdateSummary, describe_update_errors,
};

use crate::policy::{EndpointAccess, EndpointFix};
use failure::{in_use, is_already_desired, message, not_found, sort_error, transient};
use futures_util::StreamExt;

/// A cluster (or update) EKS no longer knows is `Ok(None)`: deleted meanwhile.
fn gone_or_failed<T>(failure: EksFailure) -> Result<Option<T>, EksFailure> {
    match failure {
        EksFailure::NotFound(_) => Ok(None),
        other => Err(other),
    }
}

/// `DescribeUpdate` calls one history read keeps in flight.
pub const HISTORY_READS_IN_FLIGHT: usize = 4;

/// What `DescribeCluster` says about a cluster, as far as the guard cares.
#[derive(Clone, Debug, PartialEq)]
pub struct ClusterState {
    pub name: String,
    pub arn: Option<String>,
    /// `CREATING`, `ACTIVE`, `UPDATING`, `DELETING`, `FAILED`, `PENDING`.
    pub status: String,
    pub access: EndpointAccess,
    pub tags: HashMap<String, String>,
    /// When the cluster was created (seconds since the epoch).
    pub created_at: Option<f64>,
}

impl ClusterState {
    pub fn is_active(&self) -> bool {
        self.status == "ACTIVE"
    }

    pub fn is_creating(&self) -> bool {
        self.status == "CREATING"
    }

    /// A cluster that is going away or broken: nothing to revert.
    pub fn is_beyond_repair(&self) -> bool {
        self.status == "DELETING" || self.status == "FAILED"
    }
}

/// The answer to a revert.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RevertStarted {
    /// EKS accepted the change (or, for a token it knows, answered with the
    /// update it started before); the update runs for a few minutes.
    Update(String),
    /// EKS refused it as a no-op: the cluster already complies.
    AlreadyDesired,
}

/// The guard's EKS client for one account and region.
#[derive(Clone, Debug)]
pub struct Eks {
    client: aws_sdk_eks::Client,
    finished: FinishedUpdates,
    pace: CallPace,
    /// The account-region this client reaches (`account/region`), so that
    /// same-named clusters of different accounts are paced apart. Empty for
    /// the function's own client.
    place: std::sync::Arc<str>,
}

impl Eks {
    pub fn new(client: aws_sdk_eks::Client, pace: CallPace) -> Eks {
        Eks {
            client,
            finished: FinishedUpdates::default(),
            pace,
            place: std::sync::Arc::from(""),
        }
    }

    /// The same client, known to reach `place`.
    pub fn at(self, place: &Place) -> Eks {
        Eks {
            place: std::sync::Arc::from(place.to_string()),
            ..self
        }
    }

    /// Waits until a call on cluster `name` of this client's place may go.
    async fn admit(&self, name: &str) {
        self.pace.admit(&format!("{}/{name}", self.place)).await;
    }

    /// Runs one EKS call, and counts how long it took.
    async fn timed<F: std::future::Future>(&self, call: F) -> F::Output {
        let started = tokio::time::Instant::now();
        let output = call.await;
        self.pace.record(started.elapsed());
        output
    }

    /// The pace and latency of this client's calls.
    pub fn pace(&self) -> &CallPace {
        &self.pace
    }

    /// The SDK client (its configuration seeds clients for other regions).
    pub fn client(&self) -> &aws_sdk_eks::Client {
        &self.client
    }

    /// Reads the cluster; `Ok(None)` when it no longer exists.
    pub async fn describe(&self, name: &str) -> Result<Option<ClusterState>, EksFailure> {
        self.admit(name).await;
        let output = match self
            .timed(self.client.describe_cluster().name(name).send())
            .await
        {
            Ok(output) => output,
            Err(err) => {
                return gone_or_failed(sort_error(err, |e| match e {
                    DescribeClusterError::ResourceNotFoundException(e) => not_found(e.message()),
                    DescribeClusterError::ServerException(e) => transient(e.message()),
                    DescribeClusterError::ServiceUnavailableException(e) => transient(e.message()),
                    _ => None,
                }));
            }
        };
        let Some(cluster) = output.cluster() else {
            return Err(EksFailure::Fatal(format!(
                "DescribeCluster answered without a cluster for {name}"
            )));
        };
        let vpc = cluster.resources_vpc_config();
        Ok(Some(ClusterState {
            name: cluster.name().unwrap_or(name).to_string(),
            arn: cluster.arn().map(str::to_string),
            status: cluster
                .status()
                .map(|s| s.as_str().to_string())
                .unwrap_or_else(|| "UNKNOWN".to_string()),
            access: EndpointAccess {
                endpoint_public_access: vpc.is_some_and(|v| v.endpoint_public_access()),
                endpoint_private_access: vpc.is_some_and(|v| v.endpoint_private_access()),
                // Kept as EKS reports it; what an empty list means is the
                // policy's knowledge (`EndpointAccess::public_cidrs`).
                public_access_cidrs: vpc
                    .map(|v| v.public_access_cidrs().to_vec())
                    .unwrap_or_default(),
            },
            tags: cluster.tags().cloned().unwrap_or_default(),
            created_at: cluster.created_at().map(|t| t.as_secs_f64()),
        }))
    }

    /// One update of the cluster; `Ok(None)` when EKS no longer knows it (the
    /// cluster was deleted). A finished update is answered from memory.
    pub async fn update(
        &self,
        name: &str,
        update_id: &str,
    ) -> Result<Option<UpdateSummary>, EksFailure> {
        self.update_paced(name, update_id, true).await
    }

    async fn update_paced(
        &self,
        name: &str,
        update_id: &str,
        paced: bool,
    ) -> Result<Option<UpdateSummary>, EksFailure> {
        if let Some(known) = self.finished.get(name, update_id) {
            return Ok(Some(known));
        }
        if paced {
            self.admit(name).await;
        }
        let result = self
            .timed(
                self.client
                    .describe_update()
                    .name(name)
                    .update_id(update_id)
                    .send(),
            )
            .await;
        let output = match result {
            Ok(output) => output,
            Err(err) => {
                return gone_or_failed(sort_error(err, |e| match e {
                    DescribeUpdateError::ResourceNotFoundException(e) => not_found(e.message()),
                    DescribeUpdateError::ServerException(e) => transient(e.message()),
                    _ => None,
                }));
            }
        };
        let summary = output
            .update()
            .map(|u| UpdateSummary::from_sdk(update_id, u));
        if let Some(summary) = &summary {
            self.finished.remember(name, summary);
        }
        Ok(summary)
    }

    /// The update that `UpdateClusterConfig` just answered with, read once to
    /// see whether it is an earlier one of the same token: part of sending
    /// the revert, not a poll, so not paced (the revert itself is).
    pub async fn started_update(
        &self,
        name: &str,
        update_id: &str,
    ) -> Result<Option<UpdateSummary>, EksFailure> {
        self.update_paced(name, update_id, false).await
    }

    /// The ids of every update the cluster ever had, all pages (`Ok(None)`:
    /// the cluster no longer exists): a one-off read, not paced.
    pub async fn update_ids(&self, name: &str) -> Result<Option<Vec<String>>, EksFailure> {
        self.update_ids_paced(name, false).await
    }

    async fn update_ids_paced(
        &self,
        name: &str,
        paced: bool,
    ) -> Result<Option<Vec<String>>, EksFailure> {
        let mut next_token: Option<String> = None;
        let mut ids = Vec::new();
        loop {
            if paced {
                self.admit(name).await;
            }
            let result = self
                .timed(
                    self.client
                        .list_updates()
                        .name(name)
                        .set_next_token(next_token.take())
                        .send(),
                )
                .await;
            let page = match result {
                Ok(page) => page,
                Err(err) => {
                    return gone_or_failed(sort_error(err, |e| match e {
                        ListUpdatesError::ResourceNotFoundException(e) => not_found(e.message()),
                        ListUpdatesError::ServerException(e) => transient(e.message()),
                        _ => None,
                    }));
                }
            };
            ids.extend(page.update_ids().iter().cloned());
            match page.next_token() {
                Some(token) if !token.is_empty() => next_token = Some(token.to_string()),
                _ => return Ok(Some(ids)),
            }
        }
    }

    /// The updates `ids` of the cluster, in that order, finished ones from
    /// memory. A one-off read, not a poll: its describes are not paced per
    /// cluster (a first pass over years of updates would take minutes at two
    /// a second) but run [`HISTORY_READS_IN_FLIGHT`] at a time, so that one
    /// cluster's first pass takes a fraction of its length in round trips
    /// while the account's throttling (`TooManyRequestsException`, retried by
    /// the SDK with back-off) is not provoked by a burst.
    pub async fn describe_updates(
        &self,
        name: &str,
        ids: &[String],
    ) -> Result<Vec<UpdateSummary>, EksFailure> {
        let described: Vec<Result<Option<UpdateSummary>, EksFailure>> =
            futures_util::stream::iter(ids)
                .map(|id| self.update_paced(name, id, false))
                .buffered(HISTORY_READS_IN_FLIGHT)
                .collect()
                .await;
        let mut history = Vec::with_capacity(ids.len());
        for update in described {
            history.extend(update?);
        }
        Ok(history)
    }

    /// How many of `ids` a [`describe_updates`](Self::describe_updates)
    /// would have to ask EKS for (the others are finished and remembered).
    pub fn not_remembered(&self, name: &str, ids: &[String]) -> usize {
        ids.iter()
            .filter(|id| self.finished.get(name, id).is_none())
            .count()
    }

    /// The id of an update of this cluster that is `InProgress`, if any.
    /// Finished updates are answered from memory, so a poll costs one
    /// `ListUpdates` page plus a `DescribeUpdate` per update not yet seen
    /// finished.
    pub async fn update_in_progress(&self, name: &str) -> Result<Option<String>, EksFailure> {
        let Some(ids) = self.update_ids_paced(name, true).await? else {
            return Ok(None);
        };
        for id in ids {
            if let Some(update) = self.update(name, &id).await?
                && update.state == UpdateState::InProgress
            {
                return Ok(Some(update.id));
            }
        }
        Ok(None)
    }

    /// Sends the fix: only the endpoint settings (EKS refuses two kinds of
    /// change in one call, crossplane-contrib/provider-aws#642), and only those
    /// that change. `token` is the `clientRequestToken`: the same token
    /// returns the same update, so duplicates and retries converge.
    pub async fn apply(
        &self,
        name: &str,
        fix: &EndpointFix,
        token: Option<&str>,
    ) -> Result<RevertStarted, EksFailure> {
        let vpc = match fix {
            EndpointFix::ClosePublicEndpoint => VpcConfigRequest::builder()
                .endpoint_public_access(false)
                .endpoint_private_access(true)
                .build(),
            EndpointFix::RestrictPublicCidrs(kept) => VpcConfigRequest::builder()
                .set_public_access_cidrs(Some(kept.clone()))
                .build(),
        };
        self.admit(name).await;
        let result = self
            .timed(
                self.client
                    .update_cluster_config()
                    .name(name)
                    .resources_vpc_config(vpc)
                    .set_client_request_token(token.map(str::to_string))
                    .send(),
            )
            .await;
        match result {
            Ok(output) => match output.update().and_then(|u| u.id()) {
                Some(id) => Ok(RevertStarted::Update(id.to_string())),
                None => Err(EksFailure::Fatal(format!(
                    "UpdateClusterConfig on {name} answered without an update id"
                ))),
            },
            Err(err) => match sort_error(err, |e| match e {
                UpdateClusterConfigError::ResourceNotFoundException(e) => not_found(e.message()),
                UpdateClusterConfigError::ResourceInUseException(e) => in_use(e.message()),
                UpdateClusterConfigError::InvalidParameterException(e)
                    if is_already_desired(e.message()) =>
                {
                    Some(EksFailure::AlreadyDesired(message(e.message())))
                }
                UpdateClusterConfigError::ServerException(e) => transient(e.message()),
                UpdateClusterConfigError::ThrottlingException(e) => transient(e.message()),
                _ => None,
            }) {
                EksFailure::AlreadyDesired(_) => Ok(RevertStarted::AlreadyDesired),
                other => Err(other),
            },
        }
    }

    /// Every cluster name of the region, all pages.
    pub async fn list_clusters(
        &self,
        may_go_on: impl Fn() -> bool,
    ) -> Result<Vec<String>, EksFailure> {
        let mut names = Vec::new();
        let mut next_token: Option<String> = None;
        loop {
            if !may_go_on() {
                return Err(EksFailure::Transient(format!(
                    "ListClusters stopped at the deadline after {} clusters",
                    names.len()
                )));
            }
            let page = self
                .timed(
                    self.client
                        .list_clusters()
                        .set_next_token(next_token.take())
                        .send(),
                )
                .await
                .map_err(|err| sort_error(err, |_| None))?;
            names.extend(page.clusters().iter().cloned());
            match page.next_token() {
                Some(token) if !token.is_empty() => next_token = Some(token.to_string()),
                _ => return Ok(names),
            }
        }
    }
}
