//! The test controls on [`EksDouble`]: seed clusters, start and end updates as someone else
//! would, change status, map access keys to accounts, inject faults, and read or await the
//! request log. [`Scope`] holds the controls that name a cluster, for one account and region;
//! the same methods on [`EksDouble`] act on its own account and region.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::time::Instant as TokioInstant;

use super::model::{
    Cluster, ENDPOINT_ACCESS_UPDATE, EndpointAccess, NewUpdate, Origin, Place, State, cluster_arn,
};
use super::{
    ClusterSnapshot, ClusterSpec, ClusterStatus, Core, EksDouble, EndpointChange, Fault, Finish,
    OPERATIONS, Rate, RecordedRequest, RequestCount, TimedOut, UpdateBehaviour, UpdateEnd,
    UpdateError, UpdateSnapshot,
};
use crate::moto;

/// The clusters of one account in one region: `eks.in_region("eu-central-1")`,
/// `eks.in_account("222233334444").in_region("eu-west-1")`. Its methods are those of
/// [`EksDouble`] that name a cluster, for clusters of this place; a cluster of the same name
/// elsewhere is another cluster. Cheap to clone; it keeps the double running.
#[derive(Clone)]
pub struct Scope {
    double: EksDouble,
    place: Place,
}

/// Defines [`EksDouble`] methods that do what the [`Scope`] method of the same name does, on
/// the double's own account and region ([`EksDouble::home`]): each control that names a cluster
/// is written once, on `Scope`, and `EksDouble` only lists which of them it offers.
macro_rules! on_home_scope {
    ($(
        $(#[$attr:meta])*
        pub fn $name:ident(&self $(, $arg:ident: $type:ty)*) $(-> $returns:ty)?;
    )*) => {
        $(
            $(#[$attr])*
            pub fn $name(&self $(, $arg: $type)*) $(-> $returns)? {
                self.home().$name($($arg),*)
            }
        )*
    };
}

impl EksDouble {
    /// The double's own account and region, where [`ClusterSpec::new`] puts clusters.
    fn home(&self) -> Scope {
        Scope {
            double: self.clone(),
            place: Place {
                account: self.account().to_owned(),
                region: self.region().to_owned(),
            },
        }
    }

    /// The clusters of the double's account in `region`.
    pub fn in_region(&self, region: &str) -> Scope {
        self.home().in_region(region)
    }

    /// The clusters of `account` in the double's region.
    pub fn in_account(&self, account: &str) -> Scope {
        self.home().in_account(account)
    }

    /// `eks.in_region(region).cluster(name)`.
    pub fn cluster_in(&self, region: &str, name: &str) -> Option<ClusterSnapshot> {
        self.in_region(region).cluster(name)
    }

    /// `eks.in_region(region).updates(name)`.
    pub fn updates_in(&self, region: &str, name: &str) -> Vec<UpdateSnapshot> {
        self.in_region(region).updates(name)
    }

    /// How updates started through `UpdateClusterConfig` from now on behave.
    pub fn set_api_updates(&self, behaviour: UpdateBehaviour) {
        self.core.lock().api_updates = behaviour;
    }

    /// Requests signed with `access_key_id` see the clusters of `account` from now on,
    /// replacing an earlier mapping of that key. Keys no mapping names go to the resolver
    /// ([`EksDouble::resolve_keys_with`]), if there is one, else see
    /// [`EksOptions::account`](super::EksOptions::account).
    pub fn map_access_key(&self, access_key_id: &str, account: &str) {
        self.core.lock().keys.map(access_key_id, account);
    }

    /// Requests signed with a key that `matches` see the clusters of `account`, unless
    /// [`EksDouble::map_access_key`] names the key; tests run in the order they were added.
    /// For keys a test cannot know in advance: moto's STS hands out random `ASIA...` keys for
    /// assumed roles, so `eks.map_access_keys(|key| key.starts_with("ASIA"), "222233334444")`
    /// sends every assumed-role call to the member account, while the static `testing` key
    /// stays in the default one.
    pub fn map_access_keys(
        &self,
        matches: impl Fn(&str) -> bool + Send + Sync + 'static,
        account: &str,
    ) {
        self.core
            .lock()
            .keys
            .map_matching(Arc::new(matches), account);
    }

    /// Asks `resolver` for the account of an access key that neither
    /// [`EksDouble::map_access_key`] nor [`EksDouble::map_access_keys`] names, once per key:
    /// the answer is kept, and requests with that key that arrive while it is being resolved
    /// wait for it. `None` means the default account
    /// ([`EksOptions::account`](super::EksOptions::account)). The resolver runs on the
    /// double's runtime outside its lock, so it may call another server (see
    /// [`EksDouble::resolve_keys_through_sts`]); [`RecordedRequest::account`] shows its
    /// answer. Replaces an earlier resolver and forgets its answers.
    pub fn resolve_keys_with<F, A>(&self, resolver: F)
    where
        F: Fn(String) -> A + Send + Sync + 'static,
        A: Future<Output = Option<String>> + Send + 'static,
    {
        self.core
            .lock()
            .keys
            .resolve_with(Arc::new(move |key| Box::pin(resolver(key))));
    }

    /// Resolves unknown access keys ([`EksDouble::resolve_keys_with`]) with STS
    /// `GetCallerIdentity` at `sts_endpoint_url` (moto's, [`Moto::endpoint_url`]), signed with
    /// the key: moto answers with the account of every key it handed out (`AssumeRole`'s
    /// temporary `ASIA...` keys, IAM users' keys), so a guard that assumes a role in a member
    /// account sees that account's clusters, with no mapping to set up. Keys moto did not hand
    /// out, such as the static [`TEST_ACCESS_KEY_ID`](crate::TEST_ACCESS_KEY_ID), see the
    /// default account (moto answers for them with an identity of its own, see
    /// [`Moto::account_of_key`]). A failed call is printed to stderr and also means the
    /// default account.
    ///
    /// [`Moto::endpoint_url`]: crate::moto::Moto::endpoint_url
    /// [`Moto::account_of_key`]: crate::moto::Moto::account_of_key
    pub fn resolve_keys_through_sts(&self, sts_endpoint_url: &str) {
        let sts = moto::sts_client(sts_endpoint_url);
        self.resolve_keys_with(move |key| {
            let sts = sts.clone();
            async move {
                moto::caller_account(&sts, &key)
                    .await
                    .unwrap_or_else(|error| {
                        eprintln!(
                            "EKS double: STS GetCallerIdentity for access key {key} failed, \
                             so it sees the default account: {error}"
                        );
                        None
                    })
            }
        });
    }

    /// Adds (or replaces) a cluster, in the region and account its spec names (default: the
    /// double's).
    pub fn add_cluster(&self, spec: ClusterSpec) {
        let cluster = Cluster::new(spec, &self.core.options, TokioInstant::now());
        self.core.lock().add_cluster(cluster);
    }

    // The controls that name a cluster, on the double's own account and region.
    on_home_scope! {
        /// Starts an update as someone else would (console, Terraform, EKS itself), without the
        /// API's checks, and returns its id. With [`Outcome::Successful`](super::Outcome) the
        /// settings are applied when it finishes.
        #[track_caller]
        pub fn start_update(&self, cluster: &str, change: EndpointChange, behaviour: UpdateBehaviour) -> String;

        /// Starts an update of another kind (`VersionUpdate`, `LoggingUpdate`, ...) that changes
        /// no endpoint setting but blocks endpoint updates while it runs. Returns its id.
        #[track_caller]
        pub fn start_other_update(&self, cluster: &str, update_type: &str, behaviour: UpdateBehaviour) -> String;

        /// Starts work on AWS's side that refuses updates without showing as one; see
        /// [`Scope::start_platform_update`].
        #[track_caller]
        pub fn start_platform_update(&self, cluster: &str, finish: Finish) -> String;

        /// Ends an update the way its [`UpdateBehaviour`] (or [`EksDouble::end_next_api_updates`])
        /// says. Returns false if it had already ended (for instance by its own [`Finish::After`]).
        #[track_caller]
        pub fn finish_update(&self, cluster: &str, update_id: &str) -> bool;

        /// Ends an update as `end` says, whatever its behaviour said: an
        /// [`Outcome`](super::Outcome), or an [`UpdateEnd`] with the errors `DescribeUpdate` is to
        /// list. Returns false if it had already ended.
        #[track_caller]
        pub fn finish_update_with(&self, cluster: &str, update_id: &str, end: impl Into<UpdateEnd>) -> bool;

        /// The next updates the API starts on `cluster` end like `ends`; see
        /// [`Scope::end_next_api_updates`].
        #[track_caller]
        pub fn end_next_api_updates(&self, cluster: &str, ends: impl IntoIterator<Item = UpdateEnd>);

        /// The next `count` updates the API starts on `cluster` end `Failed` with `errors`; see
        /// [`Scope::fail_next_api_updates`].
        #[track_caller]
        pub fn fail_next_api_updates(&self, cluster: &str, count: usize, errors: Vec<UpdateError>);

        /// Sets the cluster's status (and cancels a pending `CREATING` to `ACTIVE` change).
        #[track_caller]
        pub fn set_status(&self, cluster: &str, status: ClusterStatus);

        /// Removes a cluster at once (from then on: `ResourceNotFoundException`). Returns whether it
        /// existed. For a deletion in progress, `set_status(name, ClusterStatus::Deleting)`.
        pub fn delete_cluster(&self, cluster: &str) -> bool;

        /// The cluster as `DescribeCluster` would show it now, if it exists.
        pub fn cluster(&self, name: &str) -> Option<ClusterSnapshot>;

        /// The cluster's updates as `DescribeUpdate` shows them, oldest first (empty for an unknown
        /// cluster). Platform updates are not among them.
        pub fn updates(&self, cluster: &str) -> Vec<UpdateSnapshot>;
    }

    /// Every cluster of every region and account, by account, region and name.
    pub fn clusters(&self) -> Vec<ClusterSnapshot> {
        self.core.with_state_now(|state, now| {
            state.settled_clusters(now).map(Cluster::snapshot).collect()
        })
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

    /// The largest number of requests about `cluster` (any operation; `None`: every request)
    /// that arrived within one `window`, over the whole log: the rate a test asserts the guard
    /// keeps to, e.g. at most 2 calls a second per cluster while it waits or retries. Windows
    /// are half-open, so requests exactly `window` apart are in different windows; a zero
    /// window holds none. Clusters are matched by name, in any region.
    pub fn max_requests_in_window(&self, cluster: Option<&str>, window: Duration) -> usize {
        self.max_requests_in_window_where(window, |request| {
            cluster.is_none_or(|name| request.cluster.as_deref() == Some(name))
        })
    }

    /// [`EksDouble::max_requests_in_window`] of the requests that `matches`, e.g. one operation
    /// in one region: `|r| r.operation == "DescribeUpdate" && r.cluster.as_deref() == Some("prod")`.
    pub fn max_requests_in_window_where(
        &self,
        window: Duration,
        matches: impl Fn(&RecordedRequest) -> bool,
    ) -> usize {
        let mut arrivals: Vec<Instant> = self
            .core
            .lock()
            .log
            .iter()
            .filter(|request| matches(request))
            .map(|request| request.at)
            .collect();
        // The log is in answer order; a slow answer can land after a later arrival.
        arrivals.sort_unstable();
        let mut most = 0;
        let mut first = 0;
        for (last, arrived) in arrivals.iter().enumerate() {
            while first <= last && arrived.duration_since(arrivals[first]) >= window {
                first += 1;
            }
            most = most.max(last + 1 - first);
        }
        most
    }

    /// Throttles each account-region at `rate` from now on (`None`: no throttling), every
    /// one starting from a full bucket; see [`EksOptions::throttle`](super::EksOptions::throttle).
    pub fn set_throttle(&self, rate: Option<Rate>) {
        self.core.lock().throttle.set_rate(rate);
    }

    /// The rate each account-region is throttled at now.
    pub fn throttle(&self) -> Option<Rate> {
        self.core.lock().throttle.rate()
    }

    /// How many requests so far were refused by the throttle, in every account and region
    /// (injected [`Fault::Throttle`]s are not counted: see [`RecordedRequest::fault`]).
    pub fn throttled_count(&self) -> usize {
        self.core
            .lock()
            .log
            .iter()
            .filter(|request| request.throttled)
            .count()
    }

    /// Requests so far and how many of them the throttle refused, by `(account, region)`.
    /// An unsigned request counts in the double's own account and region.
    pub fn request_counts(&self) -> BTreeMap<(String, String), RequestCount> {
        let own_region = self.region().to_owned();
        let mut counts: BTreeMap<(String, String), RequestCount> = BTreeMap::new();
        for request in self.core.lock().log.iter() {
            let region = request.signing_region.clone().unwrap_or(own_region.clone());
            let count = counts.entry((request.account.clone(), region)).or_default();
            count.requests += 1;
            count.throttled += usize::from(request.throttled);
        }
        counts
    }

    /// Every request so far, in the order they were answered.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.core.lock().log.clone()
    }

    /// The requests for one operation so far.
    #[track_caller]
    pub fn requests_for(&self, operation: &str) -> Vec<RecordedRequest> {
        let operation = known_operation(operation);
        requests_of(&self.core.lock().log, operation)
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
                let matching = requests_of(log, operation);
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

impl Scope {
    /// The same account in `region`.
    pub fn in_region(mut self, region: &str) -> Scope {
        self.place.region = region.to_owned();
        self
    }

    /// `account` in the same region.
    pub fn in_account(mut self, account: &str) -> Scope {
        self.place.account = account.to_owned();
        self
    }

    pub fn region(&self) -> &str {
        &self.place.region
    }

    pub fn account(&self) -> &str {
        &self.place.account
    }

    /// `arn:aws:eks:REGION:ACCOUNT:cluster/NAME`.
    pub fn cluster_arn(&self, name: &str) -> String {
        cluster_arn(&self.place, name)
    }

    /// Adds (or replaces) a cluster here; a region or account in `spec` is overridden.
    pub fn add_cluster(&self, mut spec: ClusterSpec) {
        spec.region = Some(self.place.region.clone());
        spec.account = Some(self.place.account.clone());
        self.double.add_cluster(spec);
    }

    /// See [`EksDouble::start_update`].
    #[track_caller]
    pub fn start_update(
        &self,
        cluster: &str,
        change: EndpointChange,
        behaviour: UpdateBehaviour,
    ) -> String {
        self.start(cluster, |cluster| {
            let target = cluster.access.apply(&change);
            someone_elses(ENDPOINT_ACCESS_UPDATE, Some(target), behaviour)
        })
    }

    /// See [`EksDouble::start_other_update`].
    #[track_caller]
    pub fn start_other_update(
        &self,
        cluster: &str,
        update_type: &str,
        behaviour: UpdateBehaviour,
    ) -> String {
        self.start(cluster, |_| someone_elses(update_type, None, behaviour))
    }

    /// Starts work on AWS's side, like the automatic platform version updates that leave a
    /// cluster `ACTIVE` yet refuse updates (aws/containers-roadmap#1500), and returns its id.
    /// Until it ends, `UpdateClusterConfig` answers `409 ResourceInUseException` "Cannot
    /// EndpointAccessUpdate because cluster NAME currently has update ID in progress" with this
    /// id, while `ListUpdates` lists nothing of it, `DescribeUpdate` of the id answers 404 and
    /// `DescribeCluster` says `ACTIVE`. It ends after `finish`'s duration, or with
    /// `Finish::Manual` when the test calls `finish_update(cluster, id)`; it changes no setting.
    #[track_caller]
    pub fn start_platform_update(&self, cluster: &str, finish: Finish) -> String {
        self.start(cluster, |_| NewUpdate {
            update_type: "PlatformVersionUpdate".to_owned(),
            target: None,
            behaviour: UpdateBehaviour::staying_active(finish),
            end: UpdateEnd::successful(),
            client_request_token: None,
            origin: Origin::Platform,
        })
    }

    /// See [`EksDouble::finish_update`].
    #[track_caller]
    pub fn finish_update(&self, cluster: &str, update_id: &str) -> bool {
        self.with_cluster(cluster, |cluster, _| {
            let index = cluster.update_index_for_test(update_id);
            let end = cluster.updates[index].end.clone();
            cluster.finish_update(index, end)
        })
    }

    /// See [`EksDouble::finish_update_with`].
    #[track_caller]
    pub fn finish_update_with(
        &self,
        cluster: &str,
        update_id: &str,
        end: impl Into<UpdateEnd>,
    ) -> bool {
        let end = end.into();
        self.with_cluster(cluster, |cluster, _| {
            let index = cluster.update_index_for_test(update_id);
            cluster.finish_update(index, end)
        })
    }

    /// The next updates `UpdateClusterConfig` starts on `cluster` (the guard's reverts) end
    /// like `ends`, one each, in order, when their [`Finish`] says; later ones end as the
    /// API updates' behaviour says. So `[UpdateEnd::failed(errors)]` makes the first revert
    /// fail and the retry succeed. Adds to ends already queued; replacing the cluster with
    /// `add_cluster` clears them.
    #[track_caller]
    pub fn end_next_api_updates(&self, cluster: &str, ends: impl IntoIterator<Item = UpdateEnd>) {
        self.with_cluster(cluster, |cluster, _| cluster.end_next_api_updates(ends));
    }

    /// The next `count` updates `UpdateClusterConfig` starts on `cluster` end `Failed` with
    /// `errors` (the cluster keeps its settings); see [`Scope::end_next_api_updates`].
    #[track_caller]
    pub fn fail_next_api_updates(&self, cluster: &str, count: usize, errors: Vec<UpdateError>) {
        let end = UpdateEnd::failed(errors);
        self.end_next_api_updates(cluster, std::iter::repeat_n(end, count));
    }

    /// See [`EksDouble::set_status`].
    #[track_caller]
    pub fn set_status(&self, cluster: &str, status: ClusterStatus) {
        self.with_cluster(cluster, |cluster, _| {
            cluster.status = status;
            cluster.becomes_active_at = None;
        });
    }

    /// See [`EksDouble::delete_cluster`].
    pub fn delete_cluster(&self, cluster: &str) -> bool {
        self.double.core.lock().remove_cluster(&self.place, cluster)
    }

    /// See [`EksDouble::cluster`].
    pub fn cluster(&self, name: &str) -> Option<ClusterSnapshot> {
        self.double.core.with_state_now(|state, now| {
            state
                .cluster_mut(&self.place, name, now)
                .map(|cluster| cluster.snapshot())
        })
    }

    /// The clusters here, by name.
    pub fn clusters(&self) -> Vec<ClusterSnapshot> {
        self.double.core.with_state_now(|state, now| {
            state
                .settled_clusters_in(&self.place, now)
                .map(Cluster::snapshot)
                .collect()
        })
    }

    /// See [`EksDouble::updates`].
    pub fn updates(&self, cluster: &str) -> Vec<UpdateSnapshot> {
        self.double.core.with_state_now(|state, now| {
            state
                .cluster_mut(&self.place, cluster, now)
                .map(|cluster| {
                    cluster
                        .describable_updates()
                        .map(|update| update.snapshot())
                        .collect()
                })
                .unwrap_or_default()
        })
    }

    /// Starts the update `new` describes (from the cluster as it is now) on a cluster that must
    /// exist here, and returns its id.
    #[track_caller]
    fn start(&self, cluster: &str, new: impl FnOnce(&Cluster) -> NewUpdate) -> String {
        self.with_cluster(cluster, |cluster, now| {
            let new = new(cluster);
            cluster.start_update(new, now).to_owned()
        })
    }

    /// Runs `change` on a cluster that must exist here, as it is now.
    #[track_caller]
    fn with_cluster<T>(
        &self,
        name: &str,
        change: impl FnOnce(&mut Cluster, TokioInstant) -> T,
    ) -> T {
        let now = TokioInstant::now();
        let mut state = self.double.core.lock();
        let cluster = state.cluster_for_test(&self.place, name, now);
        change(cluster, now)
    }
}

impl Core {
    /// Runs `read` on the state, with the instant it is read at: snapshots are taken as of
    /// now, so timed changes (updates that finish, clusters done creating) have landed.
    fn with_state_now<T>(&self, read: impl FnOnce(&mut State, TokioInstant) -> T) -> T {
        let now = TokioInstant::now();
        read(&mut self.lock(), now)
    }
}

/// An update someone else starts (console, Terraform, EKS itself): no request token, and it
/// ends as `behaviour`'s outcome says.
fn someone_elses(
    update_type: &str,
    target: Option<EndpointAccess>,
    behaviour: UpdateBehaviour,
) -> NewUpdate {
    NewUpdate {
        update_type: update_type.to_owned(),
        target,
        behaviour,
        end: behaviour.outcome.into(),
        client_request_token: None,
        origin: Origin::Someone,
    }
}

/// The requests in `log` for `operation`, in log order.
fn requests_of(log: &[RecordedRequest], operation: &str) -> Vec<RecordedRequest> {
    log.iter()
        .filter(|request| request.operation == operation)
        .cloned()
        .collect()
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
