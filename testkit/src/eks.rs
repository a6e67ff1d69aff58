//! An EKS double: an HTTP server that speaks the REST-JSON protocol `aws-sdk-eks` 1.160 uses and
//! follows what real EKS does with endpoint access updates, not what moto does.
//!
//! # Real EKS behaviour it imitates
//!
//! - `UpdateClusterConfig` does not change the cluster at once. It answers
//!   `{"update": {"id", "status": "InProgress", "type": "EndpointAccessUpdate", "params": [...]}}`
//!   and the change lands minutes later, when the update becomes `Successful` (or `Failed`,
//!   leaving the settings as they were). Until then `DescribeCluster` shows the **old** settings.
//!   Here an update finishes when the test calls [`EksDouble::finish_update`] or after a
//!   configured duration ([`Finish`]).
//! - During an endpoint update the cluster's status is `UPDATING`, or stays `ACTIVE` for the
//!   whole update: both have been seen in the field ([`StatusDuringUpdate`]). So "the cluster
//!   is `ACTIVE`" does not mean "no update is running"; only `DescribeUpdate`/`ListUpdates` tell.
//! - While any update is `InProgress`, or the cluster is not `ACTIVE`, another
//!   `UpdateClusterConfig` is refused with `409 ResourceInUseException`, "Cannot
//!   EndpointAccessUpdate because cluster NAME currently has update ID in progress".
//! - Refusals with `400 InvalidParameterException`: a request that changes nothing ("Cluster is
//!   already at the desired configuration with endpointPrivateAccess: false , endpointPublicAccess:
//!   true, and Public Endpoint Restrictions: [0.0.0.0/0]", stray space included); both endpoints
//!   off ("Both private and public endpoint access cannot be false"); two kinds of update in one
//!   call ("Only one type of update can be allowed."); bad or more than 40 CIDRs ("The following
//!   CIDRs are invalid in publicAccessCidrs: [...]"). Settings a request omits keep their values.
//! - With public access off EKS reports `publicAccessCidrs: ["0.0.0.0/0"]`; turning public access
//!   off here resets the CIDRs to that, so turning it back on without CIDRs opens it to the world
//!   (the worst case a guard must handle).
//! - Errors carry the code in the `x-amzn-errortype` header (`Code:http://internal.amazon.com/...`,
//!   which the SDK trims to `Code`) and `{"message": ...}` in the body. `ThrottlingException`
//!   (429), `ServerException` (500) and `ServiceUnavailableException` (503) are retried by the
//!   SDK's standard retry strategy, as with real EKS.
//! - `clientRequestToken` makes `UpdateClusterConfig` idempotent: the SDK fills it in once per
//!   call and reuses it on retries, so a retried request gets the update it already started
//!   instead of a 409.
//! - `ListClusters` and `ListUpdates` return at most 100 items per page (EKS's default and
//!   maximum) with an opaque `nextToken`.
//!
//! # Guesses (not seen in the field; change them if EKS proves otherwise)
//!
//! The wording of the refusal for a cluster that is not `ACTIVE` with no update running, for a
//! request with no update in it, for more than 40 CIDRs (the extra CIDRs are listed as invalid),
//! and for unknown update ids; the order in which checks run (input, then conflicts, then no-op);
//! CIDRs are checked as IPv4 `a.b.c.d/n` only (IPv6 is refused, as on an IPv4 cluster), host
//! bits are not checked. Only endpoint access updates are modelled: a subnet, logging or other
//! update through the API is refused with a message that says so.
//!
//! # Test controls
//!
//! The handle is cheap to clone and every control is a plain method: seed clusters
//! ([`EksDouble::add_cluster`]), start someone else's update ([`EksDouble::start_update`]),
//! finish updates, change status, delete clusters, read snapshots, inject faults per operation
//! ([`EksDouble::inject`]), and read or await the request log ([`EksDouble::wait_for_requests`]).
//!
//! ```no_run
//! # async fn example() -> std::io::Result<()> {
//! use guard_testkit::eks::{ClusterSpec, EksDouble, EksOptions};
//!
//! let eks = EksDouble::start(EksOptions::default()).await?;
//! eks.add_cluster(ClusterSpec::new("prod").public(true));
//! let client = aws_sdk_eks::Client::new(&eks.sdk_config());
//! # Ok(()) }
//! ```

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::fmt;
use std::io;
use std::net::Ipv4Addr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime};

use hyper::body::Incoming;
use hyper::header::{AUTHORIZATION, HeaderValue};
use hyper::{HeaderMap, Method, Request, StatusCode};
use serde_json::{Map, Value, json};
use tokio::sync::watch;
use tokio::time::Instant as TokioInstant;

use crate::ids;
use crate::sdk::local_sdk_config;
use crate::server::{
    HttpResponse, LoopbackServer, epoch_seconds, json_response, percent_decode, query_pairs,
    read_body,
};

pub const DEFAULT_REGION: &str = "us-east-1";
pub const DEFAULT_ACCOUNT: &str = "123456789012";
/// EKS's page size for `ListClusters` and `ListUpdates` when `maxResults` is omitted, and the
/// largest it accepts.
pub const PAGE_SIZE: usize = 100;
/// The most `publicAccessCidrs` EKS accepts on one cluster.
pub const MAX_PUBLIC_ACCESS_CIDRS: usize = 40;
/// What EKS reports (and stores) as `publicAccessCidrs` when nothing restricts the endpoint.
pub const OPEN_TO_THE_WORLD: &str = "0.0.0.0/0";

/// The operations the double answers, by API name: the names [`EksDouble::inject`],
/// [`EksDouble::wait_for_requests`] and [`RecordedRequest::operation`] use.
pub const OPERATIONS: [&str; 6] = [
    "DescribeCluster",
    "ListClusters",
    "UpdateClusterConfig",
    "DescribeUpdate",
    "ListUpdates",
    "ListTagsForResource",
];
/// [`RecordedRequest::operation`] of a request the double has no route for.
pub const UNSUPPORTED_OPERATION: &str = "Unsupported";

/// How the double is set up; `EksOptions::default()` is us-east-1, account 123456789012, no
/// latency, updates started through the API behave as [`UpdateBehaviour::default`].
#[derive(Debug, Clone)]
pub struct EksOptions {
    pub region: String,
    pub account: String,
    /// Added to every answer, faults included: 20 ms is close to a real EKS round trip, for
    /// benchmarks of sweeps over many clusters.
    pub latency: Duration,
    /// How updates started through `UpdateClusterConfig` (the function under test) behave;
    /// [`EksDouble::set_api_updates`] changes it later.
    pub api_updates: UpdateBehaviour,
}

impl Default for EksOptions {
    fn default() -> Self {
        EksOptions {
            region: DEFAULT_REGION.to_owned(),
            account: DEFAULT_ACCOUNT.to_owned(),
            latency: Duration::ZERO,
            api_updates: UpdateBehaviour::default(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClusterStatus {
    Creating,
    Active,
    Updating,
    Deleting,
    Failed,
    Pending,
}

impl ClusterStatus {
    /// The wire value, e.g. `ACTIVE`.
    pub fn as_str(self) -> &'static str {
        match self {
            ClusterStatus::Creating => "CREATING",
            ClusterStatus::Active => "ACTIVE",
            ClusterStatus::Updating => "UPDATING",
            ClusterStatus::Deleting => "DELETING",
            ClusterStatus::Failed => "FAILED",
            ClusterStatus::Pending => "PENDING",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UpdateStatus {
    InProgress,
    Successful,
    Failed,
    Cancelled,
}

impl UpdateStatus {
    /// The wire value, e.g. `InProgress`.
    pub fn as_str(self) -> &'static str {
        match self {
            UpdateStatus::InProgress => "InProgress",
            UpdateStatus::Successful => "Successful",
            UpdateStatus::Failed => "Failed",
            UpdateStatus::Cancelled => "Cancelled",
        }
    }
}

/// The cluster's status while an update runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatusDuringUpdate {
    /// Stays `ACTIVE`: what endpoint and logging updates have been seen to do.
    Active,
    /// `UPDATING` until the update ends, then `ACTIVE` again.
    Updating,
}

/// When an update ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Finish {
    /// When the test calls [`EksDouble::finish_update`].
    Manual,
    /// This long after it started (a real endpoint update takes about five minutes).
    After(Duration),
}

/// How an update ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The requested settings are applied.
    Successful,
    /// Settings stay as they were; the update lists an error.
    Failed,
    /// Settings stay as they were.
    Cancelled,
}

impl Outcome {
    fn status(self) -> UpdateStatus {
        match self {
            Outcome::Successful => UpdateStatus::Successful,
            Outcome::Failed => UpdateStatus::Failed,
            Outcome::Cancelled => UpdateStatus::Cancelled,
        }
    }
}

/// How one update behaves from start to end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UpdateBehaviour {
    pub status_during: StatusDuringUpdate,
    pub finish: Finish,
    pub outcome: Outcome,
}

impl UpdateBehaviour {
    /// A successful update during which the cluster stays `ACTIVE` (seen in the field for
    /// endpoint updates): the case where the cluster's status says nothing about the update.
    pub fn staying_active(finish: Finish) -> UpdateBehaviour {
        UpdateBehaviour {
            status_during: StatusDuringUpdate::Active,
            finish,
            outcome: Outcome::Successful,
        }
    }
}

impl Default for UpdateBehaviour {
    /// `UPDATING` while it runs, finished by the test, `Successful`.
    fn default() -> Self {
        UpdateBehaviour {
            status_during: StatusDuringUpdate::Updating,
            finish: Finish::Manual,
            outcome: Outcome::Successful,
        }
    }
}

/// A cluster to seed the double with. `ClusterSpec::new(name)` is an `ACTIVE` cluster with a
/// public endpoint open to `0.0.0.0/0` and no private endpoint: the EKS default.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterSpec {
    pub name: String,
    pub status: ClusterStatus,
    pub public: bool,
    pub private: bool,
    /// Ignored when `public` is false: EKS then reports `["0.0.0.0/0"]`.
    pub cidrs: Vec<String>,
    pub tags: BTreeMap<String, String>,
    /// For a `CREATING` cluster: turns `ACTIVE` this long after being added.
    pub active_after: Option<Duration>,
}

impl ClusterSpec {
    pub fn new(name: &str) -> ClusterSpec {
        ClusterSpec {
            name: name.to_owned(),
            status: ClusterStatus::Active,
            public: true,
            private: false,
            cidrs: vec![OPEN_TO_THE_WORLD.to_owned()],
            tags: BTreeMap::new(),
            active_after: None,
        }
    }

    pub fn status(mut self, status: ClusterStatus) -> ClusterSpec {
        self.status = status;
        self
    }

    pub fn public(mut self, public: bool) -> ClusterSpec {
        self.public = public;
        self
    }

    pub fn private(mut self, private: bool) -> ClusterSpec {
        self.private = private;
        self
    }

    pub fn cidrs<S: Into<String>>(mut self, cidrs: impl IntoIterator<Item = S>) -> ClusterSpec {
        self.cidrs = cidrs.into_iter().map(Into::into).collect();
        self
    }

    pub fn tag(mut self, key: &str, value: &str) -> ClusterSpec {
        self.tags.insert(key.to_owned(), value.to_owned());
        self
    }

    /// `CREATING` now, `ACTIVE` after `duration`.
    pub fn creating_for(mut self, duration: Duration) -> ClusterSpec {
        self.status = ClusterStatus::Creating;
        self.active_after = Some(duration);
        self
    }
}

/// Requested endpoint settings; `None` keeps the cluster's current value, as in the API.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EndpointChange {
    pub public: Option<bool>,
    pub private: Option<bool>,
    pub cidrs: Option<Vec<String>>,
}

impl EndpointChange {
    /// What the guard exists for: the public endpoint turned on for `0.0.0.0/0`.
    pub fn open_to_internet() -> EndpointChange {
        EndpointChange {
            public: Some(true),
            private: None,
            cidrs: Some(vec![OPEN_TO_THE_WORLD.to_owned()]),
        }
    }
}

/// A cluster as `DescribeCluster` would show it now.
#[derive(Debug, Clone, PartialEq)]
pub struct ClusterSnapshot {
    pub name: String,
    pub arn: String,
    pub status: ClusterStatus,
    pub public: bool,
    pub private: bool,
    pub cidrs: Vec<String>,
    pub tags: BTreeMap<String, String>,
    pub created_at: SystemTime,
}

/// An update as `DescribeUpdate` would show it now.
#[derive(Debug, Clone, PartialEq)]
pub struct UpdateSnapshot {
    pub id: String,
    /// `EndpointAccessUpdate`, or what [`EksDouble::start_other_update`] was given.
    pub update_type: String,
    pub status: UpdateStatus,
    /// `(type, value)` pairs as on the wire, e.g. `("EndpointPublicAccess", "false")`.
    pub params: Vec<(String, String)>,
    pub created_at: SystemTime,
    pub client_request_token: Option<String>,
    /// Started through `UpdateClusterConfig` (by the code under test), not by the test.
    pub started_through_api: bool,
}

/// A failure to answer with instead of handling the call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    /// `429 ThrottlingException` "Rate exceeded".
    Throttle,
    /// `500 ServerException`.
    ServerError,
    /// `503 ServiceUnavailableException`.
    ServiceUnavailable,
    /// `403 AccessDeniedException`, as when the role lacks the `eks:` permission.
    AccessDenied,
    /// Any other error: status, error code, message.
    Error {
        status: u16,
        code: String,
        message: String,
    },
    /// Handles the call normally after this extra wait (a slow answer, not a lost one).
    Delay(Duration),
    /// Never answers; the connection stays open until the client gives up (timeout tests).
    Hang,
}

/// One request as the double saw it.
#[derive(Debug, Clone, PartialEq)]
pub struct RecordedRequest {
    /// One of [`OPERATIONS`], or [`UNSUPPORTED_OPERATION`].
    pub operation: &'static str,
    /// The cluster named in the path (for `ListTagsForResource`, the name in the ARN).
    pub cluster: Option<String>,
    /// The JSON body; `Null` for GETs, a string if the body was not JSON.
    pub body: Value,
    /// Decoded query parameters, e.g. `maxResults`, `nextToken`.
    pub query: Vec<(String, String)>,
    /// From the SigV4 `Authorization` header, `Credential=AKID/date/region/eks/aws4_request`.
    pub access_key_id: Option<String>,
    pub signing_region: Option<String>,
    /// When the request arrived.
    pub at: Instant,
    /// The status answered; `None` for a request left hanging by [`Fault::Hang`].
    pub status: Option<u16>,
    /// The injected fault this request met, if any.
    pub fault: Option<Fault>,
}

/// A wait on the request log that ran out of time; says what it waited for and what it saw.
pub struct TimedOut(String);

impl fmt::Debug for TimedOut {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(&self.0)
    }
}

impl fmt::Display for TimedOut {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(&self.0)
    }
}

impl std::error::Error for TimedOut {}

/// A running double. Clones share it; the server stops when the last clone is dropped.
#[derive(Clone)]
pub struct EksDouble {
    core: Arc<Core>,
    server: Arc<LoopbackServer>,
}

struct Core {
    options: EksOptions,
    state: Mutex<State>,
    /// Bumped after every recorded request, so waiters re-check the log.
    log_version: watch::Sender<u64>,
}

struct State {
    /// Starts as `EksOptions::api_updates`.
    api_updates: UpdateBehaviour,
    clusters: BTreeMap<String, Cluster>,
    faults: HashMap<&'static str, VecDeque<Fault>>,
    log: Vec<RecordedRequest>,
}

impl EksDouble {
    /// Starts the double on `127.0.0.1` and a free port.
    pub async fn start(options: EksOptions) -> io::Result<EksDouble> {
        let state = State {
            api_updates: options.api_updates,
            clusters: BTreeMap::new(),
            faults: HashMap::new(),
            log: Vec::new(),
        };
        let core = Arc::new(Core {
            options,
            state: Mutex::new(state),
            log_version: watch::Sender::new(0),
        });
        let handler_core = Arc::clone(&core);
        let server = LoopbackServer::start(move |request| {
            let core = Arc::clone(&handler_core);
            async move { handle(&core, request).await }
        })
        .await?;
        Ok(EksDouble {
            core,
            server: Arc::new(server),
        })
    }

    /// `http://127.0.0.1:PORT`: the SDK's `endpoint_url`, or `AWS_ENDPOINT_URL_EKS`.
    pub fn endpoint_url(&self) -> String {
        format!("http://{}", self.server.address())
    }

    pub fn region(&self) -> &str {
        &self.core.options.region
    }

    pub fn account(&self) -> &str {
        &self.core.options.account
    }

    /// `arn:aws:eks:REGION:ACCOUNT:cluster/NAME`.
    pub fn cluster_arn(&self, name: &str) -> String {
        let options = &self.core.options;
        format!(
            "arn:aws:eks:{}:{}:cluster/{name}",
            options.region, options.account
        )
    }

    /// SDK settings that reach this double: its region, static credentials with access key
    /// [`crate::TEST_ACCESS_KEY_ID`], and [`EksDouble::endpoint_url`].
    pub fn sdk_config(&self) -> aws_config::SdkConfig {
        local_sdk_config(&self.endpoint_url(), self.region())
    }

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

impl Core {
    fn lock(&self) -> MutexGuard<'_, State> {
        // A test that panicked while holding the lock has already failed; keep serving others.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn take_fault(&self, operation: &'static str) -> Option<Fault> {
        self.lock().faults.get_mut(operation)?.pop_front()
    }

    fn record(&self, request: RecordedRequest) {
        self.lock().log.push(request);
        self.log_version.send_modify(|version| *version += 1);
    }
}

// ---------------------------------------------------------------------------------------------
// Request handling

async fn handle(core: &Core, request: Request<Incoming>) -> HttpResponse {
    let arrived = Instant::now();
    let (parts, body) = request.into_parts();
    let body = read_body(body).await;
    let call = Call::parse(&parts.method, parts.uri.path());
    let (access_key_id, signing_region) = sigv4_credential(&parts.headers);
    let mut record = RecordedRequest {
        operation: call.operation(),
        cluster: call.cluster(),
        body: body_as_json(&body),
        query: query_pairs(parts.uri.query()),
        access_key_id,
        signing_region,
        at: arrived,
        status: None,
        fault: None,
    };

    if !core.options.latency.is_zero() {
        tokio::time::sleep(core.options.latency).await;
    }
    let fault = core.take_fault(record.operation);
    record.fault = fault.clone();
    let response = match fault {
        Some(Fault::Hang) => {
            core.record(record);
            return std::future::pending().await;
        }
        Some(Fault::Delay(extra)) => {
            tokio::time::sleep(extra).await;
            core.answer(&call, &record.query, &body)
        }
        Some(fault) => fault_error(&fault, &call, &core.options).into_response(),
        None => core.answer(&call, &record.query, &body),
    };
    record.status = Some(response.status().as_u16());
    core.record(record);
    response
}

fn body_as_json(body: &[u8]) -> Value {
    if body.is_empty() {
        return Value::Null;
    }
    serde_json::from_slice(body)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(body).into_owned()))
}

/// `(access key id, region)` from `AWS4-HMAC-SHA256 Credential=AKID/20240101/us-east-1/eks/aws4_request, ...`.
fn sigv4_credential(headers: &HeaderMap) -> (Option<String>, Option<String>) {
    let credential = headers
        .get(AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.split("Credential=").nth(1))
        .and_then(|rest| rest.split([',', ' ']).next());
    let Some(credential) = credential else {
        return (None, None);
    };
    let mut scope = credential.split('/');
    let access_key_id = scope.next().map(str::to_owned);
    let signing_region = scope.nth(1).map(str::to_owned);
    (access_key_id, signing_region)
}

/// Which operation a request is, from the REST-JSON routes in `aws-sdk-eks`'s serializers.
#[derive(Debug)]
enum Call {
    ListClusters,
    DescribeCluster { name: String },
    UpdateClusterConfig { name: String },
    ListUpdates { name: String },
    DescribeUpdate { name: String, update_id: String },
    ListTagsForResource { arn: String },
    Unsupported { method: Method, path: String },
}

impl Call {
    fn parse(method: &Method, path: &str) -> Call {
        let unsupported = || Call::Unsupported {
            method: method.clone(),
            path: path.to_owned(),
        };
        // Labels are percent-encoded one by one, so split first and decode each.
        let Some(segments) = path
            .trim_start_matches('/')
            .split('/')
            .map(percent_decode)
            .collect::<Option<Vec<String>>>()
        else {
            return unsupported();
        };
        let segments: Vec<&str> = segments.iter().map(String::as_str).collect();
        let owned = |text: &str| text.to_owned();
        match (method, segments.as_slice()) {
            (&Method::GET, ["clusters"]) => Call::ListClusters,
            (&Method::GET, ["clusters", name]) => Call::DescribeCluster { name: owned(name) },
            (&Method::POST, ["clusters", name, "update-config"]) => {
                Call::UpdateClusterConfig { name: owned(name) }
            }
            (&Method::GET, ["clusters", name, "updates"]) => {
                Call::ListUpdates { name: owned(name) }
            }
            (&Method::GET, ["clusters", name, "updates", update_id]) => Call::DescribeUpdate {
                name: owned(name),
                update_id: owned(update_id),
            },
            // A client that does not encode the ARN's `/` splits it into two segments.
            (&Method::GET, ["tags", arn @ ..]) if !arn.is_empty() => {
                Call::ListTagsForResource { arn: arn.join("/") }
            }
            _ => unsupported(),
        }
    }

    fn operation(&self) -> &'static str {
        match self {
            Call::ListClusters => "ListClusters",
            Call::DescribeCluster { .. } => "DescribeCluster",
            Call::UpdateClusterConfig { .. } => "UpdateClusterConfig",
            Call::ListUpdates { .. } => "ListUpdates",
            Call::DescribeUpdate { .. } => "DescribeUpdate",
            Call::ListTagsForResource { .. } => "ListTagsForResource",
            Call::Unsupported { .. } => UNSUPPORTED_OPERATION,
        }
    }

    fn cluster(&self) -> Option<String> {
        match self {
            Call::DescribeCluster { name }
            | Call::UpdateClusterConfig { name }
            | Call::ListUpdates { name }
            | Call::DescribeUpdate { name, .. } => Some(name.clone()),
            Call::ListTagsForResource { arn } => {
                arn.split_once(":cluster/").map(|(_, name)| name.to_owned())
            }
            Call::ListClusters | Call::Unsupported { .. } => None,
        }
    }
}

impl Core {
    fn answer(&self, call: &Call, query: &[(String, String)], body: &[u8]) -> HttpResponse {
        let now = TokioInstant::now();
        let mut state = self.lock();
        let answer = match call {
            Call::ListClusters => state.list_clusters(query),
            Call::DescribeCluster { name } => state
                .existing_cluster(name, now)
                .map(|cluster| json!({ "cluster": cluster.to_json() })),
            Call::UpdateClusterConfig { name } => state.update_cluster_config(name, body, now),
            Call::ListUpdates { name } => state.list_updates(name, query, now),
            Call::DescribeUpdate { name, update_id } => {
                state.existing_cluster(name, now).and_then(|cluster| {
                    let update = cluster
                        .updates
                        .iter()
                        .find(|update| update.id == *update_id)
                        .ok_or_else(|| {
                            EksError::not_found(format!("No update found for ID: {update_id}."))
                                .cluster(name)
                        })?;
                    Ok(json!({ "update": update.to_json(name) }))
                })
            }
            Call::ListTagsForResource { arn } => state.list_tags(arn),
            Call::Unsupported { method, path } => Err(EksError::new(
                StatusCode::NOT_FOUND,
                "UnknownOperationException",
                format!("The EKS double does not implement {method} {path}"),
            )),
        };
        match answer {
            Ok(body) => with_request_id(json_response(StatusCode::OK, &body)),
            Err(error) => error.into_response(),
        }
    }
}

fn with_request_id(mut response: HttpResponse) -> HttpResponse {
    let request_id = HeaderValue::from_str(&ids::uuid_like()).expect("a uuid is a valid header");
    response
        .headers_mut()
        .insert("x-amzn-requestid", request_id);
    response
}

/// An EKS error answer: status, code, message.
#[derive(Debug)]
struct EksError {
    status: StatusCode,
    code: Cow<'static, str>,
    message: String,
    cluster: Option<String>,
}

impl EksError {
    fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> EksError {
        EksError {
            status,
            code: Cow::Borrowed(code),
            message: message.into(),
            cluster: None,
        }
    }

    fn not_found(message: impl Into<String>) -> EksError {
        EksError::new(StatusCode::NOT_FOUND, "ResourceNotFoundException", message)
    }

    fn invalid_parameter(message: impl Into<String>) -> EksError {
        EksError::new(
            StatusCode::BAD_REQUEST,
            "InvalidParameterException",
            message,
        )
    }

    fn in_use(message: impl Into<String>) -> EksError {
        EksError::new(StatusCode::CONFLICT, "ResourceInUseException", message)
    }

    /// What AWS answers for a body that does not fit the operation's input shape.
    fn serialization(message: impl Into<String>) -> EksError {
        EksError::new(StatusCode::BAD_REQUEST, "SerializationException", message)
    }

    fn cluster(mut self, name: &str) -> EksError {
        self.cluster = Some(name.to_owned());
        self
    }

    fn into_response(self) -> HttpResponse {
        let mut body = json!({ "message": self.message });
        if let Some(cluster) = &self.cluster {
            body["clusterName"] = json!(cluster);
        }
        let mut response = with_request_id(json_response(self.status, &body));
        // The form AWS services send; the SDK keeps what precedes the colon.
        let error_type = format!(
            "{}:http://internal.amazon.com/coral/com.amazonaws.eks/",
            self.code
        );
        response.headers_mut().insert(
            "x-amzn-errortype",
            HeaderValue::from_str(&error_type).expect("error codes are ASCII"),
        );
        response
    }
}

fn fault_error(fault: &Fault, call: &Call, options: &EksOptions) -> EksError {
    let error = match fault {
        Fault::Throttle => EksError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "ThrottlingException",
            "Rate exceeded",
        ),
        Fault::ServerError => EksError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "ServerException",
            "An internal error occurred. Try again later.",
        ),
        Fault::ServiceUnavailable => EksError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "ServiceUnavailableException",
            "The service is unavailable. Try again later.",
        ),
        Fault::AccessDenied => {
            let resource = match call.cluster() {
                Some(name) => format!(
                    "arn:aws:eks:{}:{}:cluster/{name}",
                    options.region, options.account
                ),
                None => format!(
                    "arn:aws:eks:{}:{}:cluster/*",
                    options.region, options.account
                ),
            };
            EksError::new(
                StatusCode::FORBIDDEN,
                "AccessDeniedException",
                format!(
                    "User: arn:aws:sts::{}:assumed-role/eks-endpoint-guard/eks-endpoint-guard \
                     is not authorized to perform: eks:{} on resource: {resource}",
                    options.account,
                    call.operation()
                ),
            )
        }
        Fault::Error {
            status,
            code,
            message,
        } => EksError {
            status: StatusCode::from_u16(*status).unwrap_or(StatusCode::BAD_REQUEST),
            code: Cow::Owned(code.clone()),
            message: message.clone(),
            cluster: None,
        },
        Fault::Delay(_) | Fault::Hang => {
            unreachable!("delays and hangs are not error answers")
        }
    };
    match call.cluster() {
        Some(name) => error.cluster(&name),
        None => error,
    }
}

// ---------------------------------------------------------------------------------------------
// State and EKS semantics

const ENDPOINT_ACCESS_UPDATE: &str = "EndpointAccessUpdate";

/// The three endpoint settings. Invariant: with `public` off, `cidrs` is `["0.0.0.0/0"]`.
#[derive(Debug, Clone, PartialEq, Eq)]
struct EndpointAccess {
    public: bool,
    private: bool,
    cidrs: Vec<String>,
}

impl EndpointAccess {
    fn new(public: bool, private: bool, cidrs: Vec<String>) -> EndpointAccess {
        let cidrs = if public {
            cidrs
        } else {
            vec![OPEN_TO_THE_WORLD.to_owned()]
        };
        EndpointAccess {
            public,
            private,
            cidrs,
        }
    }

    /// The settings after `change`; what it omits stays.
    fn apply(&self, change: &EndpointChange) -> EndpointAccess {
        EndpointAccess::new(
            change.public.unwrap_or(self.public),
            change.private.unwrap_or(self.private),
            change.cidrs.clone().unwrap_or_else(|| self.cidrs.clone()),
        )
    }

    /// Same settings, comparing CIDRs as a set.
    fn same_as(&self, other: &EndpointAccess) -> bool {
        let as_set = |cidrs: &[String]| cidrs.iter().cloned().collect::<BTreeSet<String>>();
        self.public == other.public
            && self.private == other.private
            && as_set(&self.cidrs) == as_set(&other.cidrs)
    }

    /// The update's `params`, as EKS lists them for an endpoint access update.
    fn params(&self) -> Vec<(String, String)> {
        vec![
            ("EndpointPublicAccess".to_owned(), self.public.to_string()),
            ("EndpointPrivateAccess".to_owned(), self.private.to_string()),
            (
                "PublicAccessCidrs".to_owned(),
                json!(self.cidrs).to_string(),
            ),
        ]
    }
}

/// A list the way EKS prints one in messages (Java's `List.toString`): `[a, b]`.
fn java_list(items: &[String]) -> String {
    format!("[{}]", items.join(", "))
}

struct Cluster {
    name: String,
    arn: String,
    status: ClusterStatus,
    becomes_active_at: Option<TokioInstant>,
    access: EndpointAccess,
    tags: BTreeMap<String, String>,
    created_at: SystemTime,
    role_arn: String,
    vpc_id: String,
    subnet_ids: Vec<String>,
    cluster_security_group_id: String,
    endpoint: String,
    updates: Vec<Update>,
}

struct Update {
    id: String,
    update_type: String,
    status: UpdateStatus,
    /// The endpoint settings it applies on success; `None` for other kinds of update.
    target: Option<EndpointAccess>,
    params: Vec<(String, String)>,
    created_at: SystemTime,
    finishes_at: Option<TokioInstant>,
    behaviour: UpdateBehaviour,
    client_request_token: Option<String>,
    started_through_api: bool,
}

impl Cluster {
    fn new(spec: ClusterSpec, options: &EksOptions, now: TokioInstant) -> Cluster {
        let arn = format!(
            "arn:aws:eks:{}:{}:cluster/{}",
            options.region, options.account, spec.name
        );
        Cluster {
            arn,
            status: spec.status,
            becomes_active_at: spec.active_after.map(|after| now + after),
            access: EndpointAccess::new(spec.public, spec.private, spec.cidrs),
            tags: spec.tags,
            created_at: SystemTime::now(),
            role_arn: format!("arn:aws:iam::{}:role/eks-cluster-role", options.account),
            vpc_id: format!("vpc-{}", ids::hex(17)),
            subnet_ids: vec![
                format!("subnet-{}", ids::hex(17)),
                format!("subnet-{}", ids::hex(17)),
            ],
            cluster_security_group_id: format!("sg-{}", ids::hex(17)),
            endpoint: format!(
                "https://{}.gr7.{}.eks.amazonaws.com",
                ids::hex(32).to_uppercase(),
                options.region
            ),
            name: spec.name,
            updates: Vec::new(),
        }
    }

    /// Applies what time has done since the last look: creation finished, updates ended.
    /// Transitions happen lazily, when someone looks, so no timer task is needed.
    fn settle(&mut self, now: TokioInstant) {
        if self.status == ClusterStatus::Creating
            && self.becomes_active_at.is_some_and(|at| at <= now)
        {
            self.status = ClusterStatus::Active;
            self.becomes_active_at = None;
        }
        for index in 0..self.updates.len() {
            let update = &self.updates[index];
            if update.status == UpdateStatus::InProgress
                && update.finishes_at.is_some_and(|at| at <= now)
            {
                let outcome = update.behaviour.outcome;
                self.finish_update(index, outcome);
            }
        }
    }

    fn in_progress_update(&self) -> Option<&Update> {
        self.updates
            .iter()
            .find(|update| update.status == UpdateStatus::InProgress)
    }

    fn start_update(
        &mut self,
        update_type: &str,
        target: Option<EndpointAccess>,
        behaviour: UpdateBehaviour,
        client_request_token: Option<String>,
        started_through_api: bool,
        now: TokioInstant,
    ) -> &str {
        if behaviour.status_during == StatusDuringUpdate::Updating
            && self.status == ClusterStatus::Active
        {
            self.status = ClusterStatus::Updating;
        }
        let finishes_at = match behaviour.finish {
            Finish::Manual => None,
            Finish::After(duration) => Some(now + duration),
        };
        self.updates.push(Update {
            id: ids::uuid_like(),
            update_type: update_type.to_owned(),
            status: UpdateStatus::InProgress,
            params: target
                .as_ref()
                .map(EndpointAccess::params)
                .unwrap_or_default(),
            target,
            created_at: SystemTime::now(),
            finishes_at,
            behaviour,
            client_request_token,
            started_through_api,
        });
        &self.updates[self.updates.len() - 1].id
    }

    /// Ends update `index` with `outcome`; false if it had already ended.
    fn finish_update(&mut self, index: usize, outcome: Outcome) -> bool {
        let update = &mut self.updates[index];
        if update.status != UpdateStatus::InProgress {
            return false;
        }
        update.status = outcome.status();
        update.finishes_at = None;
        if outcome == Outcome::Successful
            && let Some(target) = &update.target
        {
            self.access = target.clone();
        }
        if self.status == ClusterStatus::Updating && self.in_progress_update().is_none() {
            self.status = ClusterStatus::Active;
        }
        true
    }

    #[track_caller]
    fn update_index_for_test(&self, update_id: &str) -> usize {
        self.updates
            .iter()
            .position(|update| update.id == update_id)
            .unwrap_or_else(|| panic!("cluster {} has no update {update_id}", self.name))
    }

    fn snapshot(&self) -> ClusterSnapshot {
        ClusterSnapshot {
            name: self.name.clone(),
            arn: self.arn.clone(),
            status: self.status,
            public: self.access.public,
            private: self.access.private,
            cidrs: self.access.cidrs.clone(),
            tags: self.tags.clone(),
            created_at: self.created_at,
        }
    }

    /// The `cluster` object of `DescribeCluster`, with the fields `aws-sdk-eks` reads.
    fn to_json(&self) -> Value {
        let mut cluster = json!({
            "name": self.name,
            "arn": self.arn,
            "createdAt": epoch_seconds(self.created_at),
            "version": "1.31",
            "roleArn": self.role_arn,
            "resourcesVpcConfig": {
                "subnetIds": self.subnet_ids,
                "securityGroupIds": [],
                "clusterSecurityGroupId": self.cluster_security_group_id,
                "vpcId": self.vpc_id,
                "endpointPublicAccess": self.access.public,
                "endpointPrivateAccess": self.access.private,
                "publicAccessCidrs": self.access.cidrs,
            },
            "kubernetesNetworkConfig": {"serviceIpv4Cidr": "10.100.0.0/16", "ipFamily": "ipv4"},
            "logging": {"clusterLogging": [{
                "types": ["api", "audit", "authenticator", "controllerManager", "scheduler"],
                "enabled": false,
            }]},
            "status": self.status.as_str(),
            "platformVersion": "eks.20",
            "tags": self.tags,
            "accessConfig": {"authenticationMode": "API_AND_CONFIG_MAP"},
        });
        // The API server address exists once creation is done.
        if self.status != ClusterStatus::Creating {
            cluster["endpoint"] = json!(self.endpoint);
        }
        cluster
    }
}

impl Update {
    fn snapshot(&self) -> UpdateSnapshot {
        UpdateSnapshot {
            id: self.id.clone(),
            update_type: self.update_type.clone(),
            status: self.status,
            params: self.params.clone(),
            created_at: self.created_at,
            client_request_token: self.client_request_token.clone(),
            started_through_api: self.started_through_api,
        }
    }

    fn to_json(&self, cluster: &str) -> Value {
        let params: Vec<Value> = self
            .params
            .iter()
            .map(|(kind, value)| json!({"type": kind, "value": value}))
            .collect();
        let errors = if self.status == UpdateStatus::Failed {
            json!([{
                "errorCode": "Unknown",
                "errorMessage": "The EKS double was told to fail this update.",
                "resourceIds": [cluster],
            }])
        } else {
            json!([])
        };
        json!({
            "id": self.id,
            "status": self.status.as_str(),
            "type": self.update_type,
            "params": params,
            "createdAt": epoch_seconds(self.created_at),
            "errors": errors,
        })
    }
}

/// `maxResults` and `nextToken` of a list call. Tokens are opaque to the client; here they
/// are the hex of a position marker.
struct PageRequest {
    max_results: usize,
    after: Option<String>,
}

impl PageRequest {
    fn from_query(query: &[(String, String)]) -> Result<PageRequest, EksError> {
        let mut page = PageRequest {
            max_results: PAGE_SIZE,
            after: None,
        };
        for (key, value) in query {
            match key.as_str() {
                "maxResults" => {
                    page.max_results = value
                        .parse()
                        .ok()
                        .filter(|max| (1..=PAGE_SIZE).contains(max))
                        .ok_or_else(|| {
                            EksError::invalid_parameter(format!(
                                "maxResults must be between 1 and {PAGE_SIZE}"
                            ))
                        })?;
                }
                "nextToken" => {
                    page.after = Some(decode_token(value).ok_or_else(|| {
                        EksError::invalid_parameter("The nextToken provided is invalid.")
                    })?);
                }
                _ => {}
            }
        }
        Ok(page)
    }
}

fn encode_token(marker: &str) -> String {
    marker.bytes().map(|byte| format!("{byte:02x}")).collect()
}

fn decode_token(token: &str) -> Option<String> {
    if !token.len().is_multiple_of(2) {
        return None;
    }
    let bytes = (0..token.len())
        .step_by(2)
        .map(|index| u8::from_str_radix(token.get(index..index + 2)?, 16).ok())
        .collect::<Option<Vec<u8>>>()?;
    String::from_utf8(bytes).ok()
}

/// Top-level members of `UpdateClusterConfig` other than `resourcesVpcConfig`, with the kind of
/// update each starts. Auto Mode's three members make one kind.
const OTHER_UPDATE_MEMBERS: [(&str, &str); 13] = [
    ("logging", "LoggingUpdate"),
    ("accessConfig", "AccessConfigUpdate"),
    ("upgradePolicy", "UpgradePolicyUpdate"),
    ("zonalShiftConfig", "ZonalShiftConfigUpdate"),
    ("computeConfig", "AutoModeUpdate"),
    ("kubernetesNetworkConfig", "AutoModeUpdate"),
    ("storageConfig", "AutoModeUpdate"),
    ("remoteNetworkConfig", "RemoteNetworkConfigUpdate"),
    ("deletionProtection", "DeletionProtectionUpdate"),
    (
        "controlPlaneScalingConfig",
        "ControlPlaneScalingConfigUpdate",
    ),
    ("kubeApiServerConfig", "ControlPlaneComponentConfigUpdate"),
    ("kubeSchedulerConfig", "ControlPlaneComponentConfigUpdate"),
    (
        "kubeControllerManagerConfig",
        "ControlPlaneComponentConfigUpdate",
    ),
];

impl State {
    fn cluster_mut(&mut self, name: &str, now: TokioInstant) -> Option<&mut Cluster> {
        let cluster = self.clusters.get_mut(name)?;
        cluster.settle(now);
        Some(cluster)
    }

    fn existing_cluster(
        &mut self,
        name: &str,
        now: TokioInstant,
    ) -> Result<&mut Cluster, EksError> {
        self.cluster_mut(name, now).ok_or_else(|| {
            EksError::not_found(format!("No cluster found for name: {name}.")).cluster(name)
        })
    }

    #[track_caller]
    fn cluster_for_test(&mut self, name: &str, now: TokioInstant) -> &mut Cluster {
        match self.cluster_mut(name, now) {
            Some(cluster) => cluster,
            None => panic!("the EKS double has no cluster {name:?}"),
        }
    }

    fn list_clusters(&self, query: &[(String, String)]) -> Result<Value, EksError> {
        let page = PageRequest::from_query(query)?;
        // Names in order, resuming after the last name of the previous page: deleting a cluster
        // between pages neither skips nor repeats another.
        let remaining: Vec<&String> = self
            .clusters
            .keys()
            .filter(|name| page.after.as_ref().is_none_or(|after| *name > after))
            .collect();
        let names = &remaining[..remaining.len().min(page.max_results)];
        let next_token = (remaining.len() > names.len())
            .then(|| names.last().map(|last| encode_token(last)))
            .flatten();
        let mut answer = json!({ "clusters": names });
        if let Some(token) = next_token {
            answer["nextToken"] = json!(token);
        }
        Ok(answer)
    }

    fn list_updates(
        &mut self,
        name: &str,
        query: &[(String, String)],
        now: TokioInstant,
    ) -> Result<Value, EksError> {
        let cluster = self.existing_cluster(name, now)?;
        // The double has no node groups, add-ons or capabilities to list updates of.
        for (key, value) in query {
            let kind = match key.as_str() {
                "nodegroupName" => "node group",
                "addonName" => "addon",
                "capabilityName" => "capability",
                _ => continue,
            };
            return Err(
                EksError::not_found(format!("No {kind} found for name: {value}.")).cluster(name),
            );
        }
        let page = PageRequest::from_query(query)?;
        let start = match &page.after {
            Some(position) => position
                .parse::<usize>()
                .map_err(|_| EksError::invalid_parameter("The nextToken provided is invalid."))?,
            None => 0,
        };
        let ids: Vec<&str> = cluster
            .updates
            .iter()
            .skip(start)
            .take(page.max_results)
            .map(|update| update.id.as_str())
            .collect();
        let end = start + ids.len();
        let mut answer = json!({ "updateIds": ids });
        if end < cluster.updates.len() {
            answer["nextToken"] = json!(encode_token(&end.to_string()));
        }
        Ok(answer)
    }

    fn list_tags(&self, arn: &str) -> Result<Value, EksError> {
        if !arn.starts_with("arn:") {
            return Err(EksError::new(
                StatusCode::BAD_REQUEST,
                "BadRequestException",
                format!("{arn} is not a valid ARN"),
            ));
        }
        let cluster = self
            .clusters
            .values()
            .find(|cluster| cluster.arn == arn)
            .ok_or_else(|| {
                EksError::new(
                    StatusCode::NOT_FOUND,
                    "NotFoundException",
                    format!("Resource {arn} not found"),
                )
            })?;
        Ok(json!({ "tags": cluster.tags }))
    }

    fn update_cluster_config(
        &mut self,
        name: &str,
        body: &[u8],
        now: TokioInstant,
    ) -> Result<Value, EksError> {
        let behaviour = self.api_updates;
        let request: Map<String, Value> = serde_json::from_slice(body)
            .map_err(|error| EksError::serialization(format!("Malformed request body: {error}")))?;
        let cluster = self.existing_cluster(name, now)?;

        let token = match request.get("clientRequestToken") {
            Some(Value::String(token)) => Some(token.clone()),
            _ => None,
        };
        // The same token again is a retry of a call that already went through.
        if let Some(token) = &token
            && let Some(update) = cluster
                .updates
                .iter()
                .find(|update| update.client_request_token.as_ref() == Some(token))
        {
            return Ok(json!({ "update": update.to_json(name) }));
        }

        let change = requested_endpoint_change(&request).map_err(|error| error.cluster(name))?;
        let target = cluster.access.apply(&change);
        if !target.public && !target.private {
            return Err(EksError::invalid_parameter(
                "Both private and public endpoint access cannot be false",
            )
            .cluster(name));
        }
        if let Some(cidrs) = &change.cidrs {
            let mut invalid: Vec<String> = cidrs
                .iter()
                .filter(|cidr| !is_ipv4_cidr(cidr))
                .cloned()
                .collect();
            if invalid.is_empty() && cidrs.len() > MAX_PUBLIC_ACCESS_CIDRS {
                invalid = cidrs[MAX_PUBLIC_ACCESS_CIDRS..].to_vec();
            }
            if !invalid.is_empty() {
                return Err(EksError::invalid_parameter(format!(
                    "The following CIDRs are invalid in publicAccessCidrs: {}",
                    java_list(&invalid)
                ))
                .cluster(name));
            }
        }

        if let Some(running) = cluster.in_progress_update() {
            return Err(EksError::in_use(format!(
                "Cannot EndpointAccessUpdate because cluster {name} currently has update {} in progress",
                running.id
            ))
            .cluster(name));
        }
        if cluster.status != ClusterStatus::Active {
            return Err(EksError::in_use(format!(
                "Cannot EndpointAccessUpdate because cluster {name} is in {} status",
                cluster.status.as_str()
            ))
            .cluster(name));
        }
        if target.same_as(&cluster.access) {
            let current = &cluster.access;
            return Err(EksError::invalid_parameter(format!(
                "Cluster is already at the desired configuration with endpointPrivateAccess: {} , \
                 endpointPublicAccess: {}, and Public Endpoint Restrictions: {}",
                current.private,
                current.public,
                java_list(&current.cidrs)
            ))
            .cluster(name));
        }

        cluster.start_update(
            ENDPOINT_ACCESS_UPDATE,
            Some(target),
            behaviour,
            token,
            true,
            now,
        );
        let update = cluster.updates.last().expect("an update was just added");
        Ok(json!({ "update": update.to_json(name) }))
    }
}

/// The endpoint part of an `UpdateClusterConfig` body, after checking the body asks for exactly
/// one kind of update and that it is an endpoint access update.
fn requested_endpoint_change(request: &Map<String, Value>) -> Result<EndpointChange, EksError> {
    let mut kinds = BTreeSet::new();
    for (member, kind) in OTHER_UPDATE_MEMBERS {
        if request.get(member).is_some_and(|value| !value.is_null()) {
            kinds.insert(kind);
        }
    }
    let empty = Map::new();
    let vpc = match request.get("resourcesVpcConfig") {
        None | Some(Value::Null) => &empty,
        Some(Value::Object(vpc)) => vpc,
        Some(_) => {
            return Err(EksError::serialization(
                "resourcesVpcConfig must be an object",
            ));
        }
    };
    let present = |member: &str| vpc.get(member).is_some_and(|value| !value.is_null());
    if [
        "endpointPublicAccess",
        "endpointPrivateAccess",
        "publicAccessCidrs",
    ]
    .into_iter()
    .any(present)
    {
        kinds.insert(ENDPOINT_ACCESS_UPDATE);
    }
    if ["subnetIds", "securityGroupIds"].into_iter().any(present) {
        kinds.insert("VpcConfigUpdate");
    }
    if present("controlPlaneEgressMode") {
        kinds.insert("ControlPlaneEgressUpdate");
    }

    match kinds.len() {
        0 => {
            return Err(EksError::invalid_parameter(
                "The request does not contain any update.",
            ));
        }
        1 => {}
        _ => {
            return Err(EksError::invalid_parameter(
                "Only one type of update can be allowed.",
            ));
        }
    }
    if !kinds.contains(ENDPOINT_ACCESS_UPDATE) {
        return Err(EksError::invalid_parameter(format!(
            "The EKS double models only endpoint access updates, not {kinds:?}"
        )));
    }

    let boolean = |member: &str| match vpc.get(member) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Bool(value)) => Ok(Some(*value)),
        Some(_) => Err(EksError::serialization(format!(
            "{member} must be a boolean"
        ))),
    };
    let cidrs = match vpc.get("publicAccessCidrs") {
        None | Some(Value::Null) => None,
        Some(Value::Array(items)) => Some(
            items
                .iter()
                .map(|item| item.as_str().map(str::to_owned))
                .collect::<Option<Vec<String>>>()
                .ok_or_else(|| EksError::serialization("publicAccessCidrs must be strings"))?,
        ),
        Some(_) => return Err(EksError::serialization("publicAccessCidrs must be a list")),
    };
    Ok(EndpointChange {
        public: boolean("endpointPublicAccess")?,
        private: boolean("endpointPrivateAccess")?,
        cidrs,
    })
}

/// `a.b.c.d/n` with a valid address and `n` in `0..=32`.
fn is_ipv4_cidr(text: &str) -> bool {
    let Some((address, prefix)) = text.split_once('/') else {
        return false;
    };
    address.parse::<Ipv4Addr>().is_ok()
        && !prefix.is_empty()
        && prefix.len() <= 2
        && prefix.bytes().all(|byte| byte.is_ascii_digit())
        && prefix.parse::<u8>().is_ok_and(|bits| bits <= 32)
}

#[cfg(test)]
mod tests;
