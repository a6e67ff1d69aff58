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
//!   EndpointAccessUpdate because cluster NAME currently has update ID in progress". This has
//!   been seen with the cluster `ACTIVE` and no update to be seen: AWS's automatic platform
//!   updates refuse updates too (aws/containers-roadmap#1500; rancher/eks-operator#752 found
//!   the 409 right after `DescribeCluster` said `ACTIVE`). [`EksDouble::start_platform_update`]
//!   is such work: it names an update id in the 409 that neither `ListUpdates` nor
//!   `DescribeUpdate` shows. [`EksOptions::list_updates_lag`] keeps new updates out of
//!   `ListUpdates` for a while.
//! - An update that ends `Failed` or `Cancelled` leaves the settings as they were, and
//!   `DescribeUpdate` lists why in `errors: [{"errorCode", "errorMessage", "resourceIds"}]`, with
//!   codes such as `AccessDenied`, `OperationNotPermitted`, `SubnetNotFound`,
//!   `SecurityGroupNotFound`, `VpcIdNotFound`, `ConfigurationConflict`, `Unknown` (EKS API
//!   reference, `Update` and `ErrorDetail`). [`EksDouble::fail_next_api_updates`] makes the
//!   guard's reverts end so; [`EksDouble::finish_update_with`] ends any update with an
//!   [`UpdateEnd`].
//! - Each region is its own endpoint and each account its own set of clusters. A request is
//!   answered for the region of its SigV4 credential scope (`Credential=AKID/DATE/REGION/eks/
//!   aws4_request`; `AWS_ENDPOINT_URL_EKS` sends every region's client to this one double) and
//!   for the account its access key maps to ([`EksDouble::map_access_key`]) or resolves to
//!   ([`EksDouble::resolve_keys_through_sts`]): `ListClusters` lists that place's clusters, a cluster that exists only elsewhere is
//!   `404 ResourceNotFoundException`, and ARNs name the cluster's own region and account.
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
//! - EKS throttles per account and region (each region is its own endpoint): with
//!   [`EksOptions::throttle`] each account-region has a token bucket ([`Rate`]), and a request
//!   that finds it empty is answered `429 ThrottlingException` "Rate exceeded" (the shape of
//!   [`Fault::Throttle`]; `aws-runtime`'s retry classifier lists `ThrottlingException` among
//!   throttling errors, so standard and adaptive retry treat it as such) without being
//!   handled. [`RecordedRequest::throttled`] marks it in the log; [`EksDouble::throttled_count`]
//!   and [`EksDouble::request_counts`] count. AWS publishes no EKS rates: the rate is the test's.
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
//! Also guessed: `DescribeUpdate` of a platform update's id is `404` like an unknown id (AWS
//! documents no such update); `ListUpdates` lag (when [`EksOptions::list_updates_lag`] is set)
//! does not delay `DescribeUpdate` of the id `UpdateClusterConfig` returned, nor the 409; a
//! `Failed` update always lists at least one error (`Unknown` if the test names none);
//! `ListTagsForResource` of an ARN in another region or account is `404 NotFoundException`. A
//! request without a SigV4 scope is answered for the double's own region and account. Real
//! accounts come from the credentials, not the key id: mapping key ids to accounts, or asking
//! moto's STS which account issued a key, is this double's stand-in for that, and keys no one
//! knows see [`EksOptions::account`].
//!
//! # Layout
//!
//! This file holds the public types (options, specs, snapshots, faults, the request log).
//! `model` is EKS itself: cluster and update state and the rules (what is refused, when an
//! update lands, what `DescribeCluster` shows). `wire` is the REST-JSON protocol: routes,
//! request parsing, error answers, page tokens, JSON bodies. `controls` holds the test controls
//! on [`EksDouble`].
//!
//! # Test controls
//!
//! The handle is cheap to clone and every control is a plain method: seed clusters
//! ([`EksDouble::add_cluster`]), start someone else's update ([`EksDouble::start_update`]) or
//! AWS's own ([`EksDouble::start_platform_update`]), finish updates (with errors:
//! [`EksDouble::finish_update_with`]), script how the guard's next updates end
//! ([`EksDouble::end_next_api_updates`]), change status, delete clusters, read snapshots,
//! inject faults per operation ([`EksDouble::inject`]), map access keys to accounts
//! ([`EksDouble::map_access_keys`]) or resolve them ([`EksDouble::resolve_keys_with`]), read
//! or await the request log
//! ([`EksDouble::wait_for_requests`]), throttle each account-region
//! ([`EksDouble::set_throttle`]) and measure its busiest window
//! ([`EksDouble::max_requests_in_window`]). Controls that name a cluster act on the double's
//! own region and account; [`EksDouble::in_region`] and [`EksDouble::in_account`] give a
//! [`Scope`] with the same controls elsewhere.
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

mod controls;
mod keys;
mod model;
mod throttle;
mod wire;

use std::collections::BTreeMap;
use std::fmt;
use std::io;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime};

use serde_json::Value;
use tokio::sync::watch;

use crate::sdk::local_sdk_config;
use crate::server::LoopbackServer;
pub use controls::Scope;
use model::State;

pub const DEFAULT_REGION: &str = "eu-west-1";
pub const DEFAULT_ACCOUNT: &str = "111122223333";
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

/// How the double is set up; `EksOptions::default()` is eu-west-1, account 111122223333 (the sample events' place), no
/// latency, updates started through the API behave as [`UpdateBehaviour::default`].
#[derive(Debug, Clone)]
pub struct EksOptions {
    /// Where clusters live unless their [`ClusterSpec::region`] says otherwise, and the region
    /// of requests that carry no SigV4 credential scope.
    pub region: String,
    /// Whose clusters they are unless their [`ClusterSpec::account`] says otherwise, and the
    /// account of requests signed with a key that no [`EksDouble::map_access_key`] names and
    /// no resolver ([`EksDouble::resolve_keys_with`]) knows.
    pub account: String,
    /// Added to every answer, faults included: 20 ms is close to a real EKS round trip, for
    /// benchmarks of sweeps over many clusters.
    pub latency: Duration,
    /// How updates started through `UpdateClusterConfig` (the function under test) behave;
    /// [`EksDouble::set_api_updates`] changes it later.
    pub api_updates: UpdateBehaviour,
    /// How long a new update stays out of `ListUpdates` (it is in `DescribeUpdate` and in the
    /// 409 at once); zero by default.
    pub list_updates_lag: Duration,
    /// Throttling per account and region, as EKS does: each account-region has its own token
    /// bucket of this rate, and a request that finds it empty is answered as
    /// [`Fault::Throttle`] is, without being handled (and without taking an injected fault).
    /// `None` (the default): no throttling. [`EksDouble::set_throttle`] changes it later.
    pub throttle: Option<Rate>,
}

/// A token bucket: `burst` requests at once, then `per_second` (AWS's model of API rate
/// limits; EKS publishes no figures). A request takes one token; a refused one takes none.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rate {
    /// Tokens added per second, up to `burst`.
    pub per_second: f64,
    /// The bucket's size, and what it holds at first (at least 1 for any request to pass).
    pub burst: f64,
}

impl Rate {
    pub fn new(per_second: f64, burst: f64) -> Rate {
        Rate { per_second, burst }
    }
}

/// The requests of one account-region and how many of them were throttled
/// ([`EksDouble::request_counts`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RequestCount {
    pub requests: usize,
    pub throttled: usize,
}

impl Default for EksOptions {
    fn default() -> Self {
        EksOptions {
            region: DEFAULT_REGION.to_owned(),
            account: DEFAULT_ACCOUNT.to_owned(),
            latency: Duration::ZERO,
            api_updates: UpdateBehaviour::default(),
            list_updates_lag: Duration::ZERO,
            throttle: None,
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

/// How an update ends. To say which errors a `Failed` or `Cancelled` update lists, use
/// [`UpdateEnd`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The requested settings are applied.
    Successful,
    /// Settings stay as they were; the update lists an error (`Unknown` unless an
    /// [`UpdateEnd`] names others).
    Failed,
    /// Settings stay as they were.
    Cancelled,
}

/// `errors[].errorCode` of an update, as in the EKS API reference (`ErrorDetail`): the codes a
/// cluster update can end with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UpdateErrorCode {
    AccessDenied,
    OperationNotPermitted,
    SubnetNotFound,
    SecurityGroupNotFound,
    VpcIdNotFound,
    ConfigurationConflict,
    Unknown,
    /// Any other code, sent as written (e.g. `EniLimitReached`, `IpNotAvailable`).
    Other(String),
}

impl UpdateErrorCode {
    /// The wire value, e.g. `SubnetNotFound`.
    pub fn as_str(&self) -> &str {
        match self {
            UpdateErrorCode::AccessDenied => "AccessDenied",
            UpdateErrorCode::OperationNotPermitted => "OperationNotPermitted",
            UpdateErrorCode::SubnetNotFound => "SubnetNotFound",
            UpdateErrorCode::SecurityGroupNotFound => "SecurityGroupNotFound",
            UpdateErrorCode::VpcIdNotFound => "VpcIdNotFound",
            UpdateErrorCode::ConfigurationConflict => "ConfigurationConflict",
            UpdateErrorCode::Unknown => "Unknown",
            UpdateErrorCode::Other(code) => code,
        }
    }
}

/// One entry of an update's `errors`: `{"errorCode", "errorMessage", "resourceIds"}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpdateError {
    pub code: UpdateErrorCode,
    pub message: String,
    /// The resources the error is about (subnet ids for `SubnetNotFound`, say); may be empty.
    pub resource_ids: Vec<String>,
}

impl UpdateError {
    pub fn new(code: UpdateErrorCode, message: impl Into<String>) -> UpdateError {
        UpdateError {
            code,
            message: message.into(),
            resource_ids: Vec::new(),
        }
    }

    pub fn resource_ids<S: Into<String>>(
        mut self,
        resource_ids: impl IntoIterator<Item = S>,
    ) -> UpdateError {
        self.resource_ids = resource_ids.into_iter().map(Into::into).collect();
        self
    }
}

/// How an update ends, with the errors `DescribeUpdate` then lists. A plain [`Outcome`]
/// converts into one with no errors named; a `Failed` end with no errors lists one `Unknown`
/// error about the cluster (a failed update with an empty `errors` has not been seen). The
/// errors of a `Successful` end are ignored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpdateEnd {
    pub outcome: Outcome,
    pub errors: Vec<UpdateError>,
}

impl UpdateEnd {
    pub fn successful() -> UpdateEnd {
        Outcome::Successful.into()
    }

    /// `Failed` with these errors; the cluster keeps its old settings.
    pub fn failed(errors: Vec<UpdateError>) -> UpdateEnd {
        UpdateEnd {
            outcome: Outcome::Failed,
            errors,
        }
    }

    /// `Cancelled` with these errors (may be empty); the cluster keeps its old settings.
    pub fn cancelled(errors: Vec<UpdateError>) -> UpdateEnd {
        UpdateEnd {
            outcome: Outcome::Cancelled,
            errors,
        }
    }
}

impl From<Outcome> for UpdateEnd {
    fn from(outcome: Outcome) -> UpdateEnd {
        UpdateEnd {
            outcome,
            errors: Vec::new(),
        }
    }
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
/// public endpoint open to `0.0.0.0/0` and no private endpoint (the EKS default), in the
/// double's region and account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterSpec {
    pub name: String,
    /// `None`: [`EksOptions::region`]. Clusters of one name in two regions are two clusters.
    pub region: Option<String>,
    /// `None`: [`EksOptions::account`].
    pub account: Option<String>,
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
            region: None,
            account: None,
            status: ClusterStatus::Active,
            public: true,
            private: false,
            cidrs: vec![OPEN_TO_THE_WORLD.to_owned()],
            tags: BTreeMap::new(),
            active_after: None,
        }
    }

    /// Lives in `region`: only requests signed for `region` see it.
    pub fn region(mut self, region: &str) -> ClusterSpec {
        self.region = Some(region.to_owned());
        self
    }

    /// Belongs to `account`: only requests whose key maps to `account` see it
    /// ([`EksDouble::map_access_key`]).
    pub fn account(mut self, account: &str) -> ClusterSpec {
        self.account = Some(account.to_owned());
        self
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
    pub region: String,
    pub account: String,
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
    /// What `DescribeUpdate` lists as `errors`: empty while `InProgress` and after success.
    pub errors: Vec<UpdateError>,
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
    /// The region the request was answered for; `None` (unsigned) means [`EksOptions::region`].
    pub signing_region: Option<String>,
    /// The account the request was answered for: the one its access key maps to
    /// ([`EksDouble::map_access_key`]) or resolves to ([`EksDouble::resolve_keys_with`]),
    /// else [`EksOptions::account`].
    pub account: String,
    /// When the request arrived.
    pub at: Instant,
    /// The status answered; `None` for a request left hanging by [`Fault::Hang`].
    pub status: Option<u16>,
    /// The injected fault this request met, if any.
    pub fault: Option<Fault>,
    /// Refused `429 ThrottlingException` by the account-region's rate
    /// ([`EksOptions::throttle`]); then `fault` is `None`.
    pub throttled: bool,
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

impl EksDouble {
    /// Starts the double on `127.0.0.1` and a free port.
    pub async fn start(options: EksOptions) -> io::Result<EksDouble> {
        let state = State::new(&options);
        let core = Arc::new(Core {
            options,
            state: Mutex::new(state),
            log_version: watch::Sender::new(0),
        });
        let handler_core = Arc::clone(&core);
        let server = LoopbackServer::start(move |request| {
            let core = Arc::clone(&handler_core);
            async move { wire::handle(&core, request).await }
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

    /// `arn:aws:eks:REGION:ACCOUNT:cluster/NAME` in the double's region and account.
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

    /// [`EksDouble::sdk_config`] for `region`: its clients sign for `region`, so they see the
    /// clusters there.
    pub fn sdk_config_in(&self, region: &str) -> aws_config::SdkConfig {
        local_sdk_config(&self.endpoint_url(), region)
    }
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
#[cfg(test)]
mod tests;
