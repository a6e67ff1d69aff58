//! The test controls on [`EksDouble`]: seed clusters, start and end updates as someone else
//! would, change status, inject faults, and read or await the request log.

use std::time::Duration;

use tokio::time::Instant as TokioInstant;

use super::model::{Cluster, ENDPOINT_ACCESS_UPDATE, Update};
use super::{
    ClusterSnapshot, ClusterSpec, ClusterStatus, EksDouble, EndpointChange, Fault, OPERATIONS,
    Outcome, RecordedRequest, TimedOut, UpdateBehaviour, UpdateSnapshot,
};

impl EksDouble {
    /// How updates started through `UpdateClusterConfig` from now on behave.
    pub fn set_api_updates(&self, behaviour: UpdateBehaviour) {
        self.core.lock().api_updates = behaviour;
    }

    /// Adds (or replaces) a cluster.
    pub fn add_cluster(&self, spec: ClusterSpec) {
        let cluster = Cluster::new(spec, &self.core.options, TokioInstant::now());
        self.core
            .lock()
            .clusters
            .insert(cluster.name.clone(), cluster);
    }

    /// Starts an update as someone else would (console, Terraform, EKS itself), without the
    /// API's checks, and returns its id. With [`Outcome::Successful`] the settings are applied
    /// when it finishes.
    #[track_caller]
    pub fn start_update(
        &self,
        cluster: &str,
        change: EndpointChange,
        behaviour: UpdateBehaviour,
    ) -> String {
        let now = TokioInstant::now();
        let mut state = self.core.lock();
        let cluster = state.cluster_for_test(cluster, now);
        let target = cluster.access.apply(&change);
        cluster
            .start_update(
                ENDPOINT_ACCESS_UPDATE,
                Some(target),
                behaviour,
                None,
                false,
                now,
            )
            .to_owned()
    }

    /// Starts an update of another kind (`VersionUpdate`, `LoggingUpdate`, ...) that changes
    /// no endpoint setting but blocks endpoint updates while it runs. Returns its id.
    #[track_caller]
    pub fn start_other_update(
        &self,
        cluster: &str,
        update_type: &str,
        behaviour: UpdateBehaviour,
    ) -> String {
        let now = TokioInstant::now();
        let mut state = self.core.lock();
        let cluster = state.cluster_for_test(cluster, now);
        cluster
            .start_update(update_type, None, behaviour, None, false, now)
            .to_owned()
    }

    /// Ends an update the way its [`UpdateBehaviour`] says. Returns false if it had already
    /// ended (for instance by its own [`Finish::After`]).
    #[track_caller]
    pub fn finish_update(&self, cluster: &str, update_id: &str) -> bool {
        let now = TokioInstant::now();
        let mut state = self.core.lock();
        let cluster = state.cluster_for_test(cluster, now);
        let index = cluster.update_index_for_test(update_id);
        let outcome = cluster.updates[index].behaviour.outcome;
        cluster.finish_update(index, outcome)
    }

    /// Ends an update with `outcome`, whatever its behaviour said. Returns false if it had
    /// already ended.
    #[track_caller]
    pub fn finish_update_with(&self, cluster: &str, update_id: &str, outcome: Outcome) -> bool {
        let now = TokioInstant::now();
        let mut state = self.core.lock();
        let cluster = state.cluster_for_test(cluster, now);
        let index = cluster.update_index_for_test(update_id);
        cluster.finish_update(index, outcome)
    }

    /// Sets the cluster's status (and cancels a pending `CREATING` to `ACTIVE` change).
    #[track_caller]
    pub fn set_status(&self, cluster: &str, status: ClusterStatus) {
        let now = TokioInstant::now();
        let mut state = self.core.lock();
        let cluster = state.cluster_for_test(cluster, now);
        cluster.status = status;
        cluster.becomes_active_at = None;
    }

    /// Removes a cluster at once (from then on: `ResourceNotFoundException`). Returns whether it
    /// existed. For a deletion in progress, `set_status(name, ClusterStatus::Deleting)`.
    pub fn delete_cluster(&self, cluster: &str) -> bool {
        self.core.lock().clusters.remove(cluster).is_some()
    }

    /// The cluster as `DescribeCluster` would show it now, if it exists.
    pub fn cluster(&self, name: &str) -> Option<ClusterSnapshot> {
        let now = TokioInstant::now();
        let mut state = self.core.lock();
        state
            .cluster_mut(name, now)
            .map(|cluster| cluster.snapshot())
    }

    /// Every cluster, by name.
    pub fn clusters(&self) -> Vec<ClusterSnapshot> {
        let now = TokioInstant::now();
        let mut state = self.core.lock();
        state
            .clusters
            .values_mut()
            .map(|cluster| {
                cluster.settle(now);
                cluster.snapshot()
            })
            .collect()
    }

    /// The cluster's updates, oldest first (empty for an unknown cluster).
    pub fn updates(&self, cluster: &str) -> Vec<UpdateSnapshot> {
        let now = TokioInstant::now();
        let mut state = self.core.lock();
        state
            .cluster_mut(cluster, now)
            .map(|cluster| cluster.updates.iter().map(Update::snapshot).collect())
            .unwrap_or_default()
    }

    /// Makes the next `faults.len()` calls of `operation` meet these faults, in order; later
    /// calls are handled normally. Adds to faults already queued for that operation.
    #[track_caller]
    pub fn inject(&self, operation: &str, faults: Vec<Fault>) {
        let operation = known_operation(operation);
        self.core
            .lock()
            .faults
            .entry(operation)
            .or_default()
            .extend(faults);
    }

    /// Every request so far, in the order they were answered.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.core.lock().log.clone()
    }

    /// The requests for one operation so far.
    #[track_caller]
    pub fn requests_for(&self, operation: &str) -> Vec<RecordedRequest> {
        let operation = known_operation(operation);
        self.core
            .lock()
            .log
            .iter()
            .filter(|request| request.operation == operation)
            .cloned()
            .collect()
    }

    /// Waits until `count` requests for `operation` have been answered (or left hanging) and
    /// returns them. A request is recorded after its effect on the state, so once this returns
    /// the state already shows it.
    pub async fn wait_for_requests(
        &self,
        operation: &str,
        count: usize,
        timeout: Duration,
    ) -> Result<Vec<RecordedRequest>, TimedOut> {
        let operation = known_operation(operation);
        self.wait_until(
            timeout,
            || format!("{count} {operation} request(s)"),
            |log| {
                let matching: Vec<RecordedRequest> = log
                    .iter()
                    .filter(|request| request.operation == operation)
                    .cloned()
                    .collect();
                (matching.len() >= count).then_some(matching)
            },
        )
        .await
    }

    /// Waits for the first request for `operation` that `matches`, and returns it.
    pub async fn wait_for_request(
        &self,
        operation: &str,
        matches: impl Fn(&RecordedRequest) -> bool,
        timeout: Duration,
    ) -> Result<RecordedRequest, TimedOut> {
        let operation = known_operation(operation);
        self.wait_until(
            timeout,
            || format!("a matching {operation} request"),
            |log| {
                log.iter()
                    .find(|request| request.operation == operation && matches(request))
                    .cloned()
            },
        )
        .await
    }

    async fn wait_until<T>(
        &self,
        timeout: Duration,
        waited_for: impl Fn() -> String,
        found: impl Fn(&[RecordedRequest]) -> Option<T>,
    ) -> Result<T, TimedOut> {
        let mut log_version = self.core.log_version.subscribe();
        let waiting = async {
            loop {
                log_version.borrow_and_update();
                if let Some(result) = found(&self.core.lock().log) {
                    return result;
                }
                // Cannot fail: the sender lives in `core`, which `self` keeps alive.
                let _ = log_version.changed().await;
            }
        };
        match tokio::time::timeout(timeout, waiting).await {
            Ok(result) => Ok(result),
            Err(_elapsed) => {
                let seen: Vec<String> = self
                    .core
                    .lock()
                    .log
                    .iter()
                    .map(|request| match &request.cluster {
                        Some(cluster) => format!("{} {cluster}", request.operation),
                        None => request.operation.to_owned(),
                    })
                    .collect();
                Err(TimedOut(format!(
                    "the EKS double did not see {} within {timeout:?}; it saw {seen:?}",
                    waited_for()
                )))
            }
        }
    }
}

#[track_caller]
fn known_operation(operation: &str) -> &'static str {
    OPERATIONS
        .iter()
        .find(|known| **known == operation)
        .copied()
        .unwrap_or_else(|| {
            panic!("the EKS double has no operation {operation:?}; it knows {OPERATIONS:?}")
        })
}
