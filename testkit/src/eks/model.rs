//! EKS itself: clusters, their updates and the rules real EKS applies to them. Nothing here
//! knows about HTTP; `wire` turns calls into these functions and [`Refusal`]s into error answers.

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::net::Ipv4Addr;
use std::time::{Duration, SystemTime};

use serde_json::json;
use tokio::time::Instant as TokioInstant;

use super::keys::Keys;
use super::throttle::Throttle;
use super::{
    ClusterSnapshot, ClusterSpec, ClusterStatus, EksOptions, EndpointChange, Fault, Finish,
    MAX_PUBLIC_ACCESS_CIDRS, OPEN_TO_THE_WORLD, Outcome, RecordedRequest, StatusDuringUpdate,
    UpdateBehaviour, UpdateEnd, UpdateError, UpdateErrorCode, UpdateSnapshot, UpdateStatus,
};
use crate::ids;

pub(super) const ENDPOINT_ACCESS_UPDATE: &str = "EndpointAccessUpdate";

/// Why EKS refuses a call, in EKS's terms; `wire` adds the status code and the error header.
#[derive(Debug)]
pub(super) enum Refusal {
    /// `ResourceNotFoundException`.
    NotFound(String),
    /// `InvalidParameterException`.
    InvalidParameter(String),
    /// `ResourceInUseException`.
    InUse(String),
}

/// An account and a region: where a cluster lives, and whose clusters a request sees. A
/// request sees only the clusters of its own place, as with real EKS, where each region is a
/// separate endpoint and each account a separate set of resources.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(super) struct Place {
    pub(super) account: String,
    pub(super) region: String,
}

/// Everything the double knows, behind one lock.
pub(super) struct State {
    /// Starts as `EksOptions::api_updates`.
    pub(super) api_updates: UpdateBehaviour,
    pub(super) list_updates_lag: Duration,
    /// Clusters by place, then by name.
    pub(super) clusters: BTreeMap<Place, BTreeMap<String, Cluster>>,
    /// Which account each access key signs for, when it is not the default one.
    pub(super) keys: Keys,
    pub(super) faults: HashMap<&'static str, VecDeque<Fault>>,
    /// Starts as `EksOptions::throttle`.
    pub(super) throttle: Throttle,
    pub(super) log: Vec<RecordedRequest>,
}

impl State {
    pub(super) fn new(options: &EksOptions) -> State {
        State {
            api_updates: options.api_updates,
            list_updates_lag: options.list_updates_lag,
            clusters: BTreeMap::new(),
            keys: Keys::default(),
            faults: HashMap::new(),
            throttle: Throttle::new(options.throttle),
            log: Vec::new(),
        }
    }

    pub(super) fn add_cluster(&mut self, cluster: Cluster) {
        let place = cluster.place.clone();
        self.clusters
            .entry(place)
            .or_default()
            .insert(cluster.name.clone(), cluster);
    }

    pub(super) fn remove_cluster(&mut self, place: &Place, name: &str) -> bool {
        self.clusters
            .get_mut(place)
            .is_some_and(|clusters| clusters.remove(name).is_some())
    }

    /// The clusters of one place, by name.
    pub(super) fn clusters_in(&self, place: &Place) -> impl Iterator<Item = &Cluster> {
        self.clusters
            .get(place)
            .into_iter()
            .flat_map(BTreeMap::values)
    }

    /// Every cluster of one place, by name, as it is now.
    pub(super) fn settled_clusters_in(
        &mut self,
        place: &Place,
        now: TokioInstant,
    ) -> impl Iterator<Item = &Cluster> {
        let clusters = self
            .clusters
            .get_mut(place)
            .into_iter()
            .flat_map(BTreeMap::values_mut);
        clusters.map(move |cluster| {
            cluster.settle(now);
            &*cluster
        })
    }

    /// Every cluster of every place, by account, region and name, as it is now.
    pub(super) fn settled_clusters(&mut self, now: TokioInstant) -> impl Iterator<Item = &Cluster> {
        self.clusters
            .values_mut()
            .flat_map(BTreeMap::values_mut)
            .map(move |cluster| {
                cluster.settle(now);
                &*cluster
            })
    }

    pub(super) fn cluster_mut(
        &mut self,
        place: &Place,
        name: &str,
        now: TokioInstant,
    ) -> Option<&mut Cluster> {
        let cluster = self.clusters.get_mut(place)?.get_mut(name)?;
        cluster.settle(now);
        Some(cluster)
    }

    /// The cluster a call names, or EKS's 404, also for a cluster of that name in another
    /// region or account.
    pub(super) fn existing_cluster(
        &mut self,
        place: &Place,
        name: &str,
        now: TokioInstant,
    ) -> Result<&mut Cluster, Refusal> {
        self.cluster_mut(place, name, now)
            .ok_or_else(|| Refusal::NotFound(format!("No cluster found for name: {name}.")))
    }

    #[track_caller]
    pub(super) fn cluster_for_test(
        &mut self,
        place: &Place,
        name: &str,
        now: TokioInstant,
    ) -> &mut Cluster {
        match self.cluster_mut(place, name, now) {
            Some(cluster) => cluster,
            None => panic!(
                "the EKS double has no cluster {name:?} in region {} of account {}",
                place.region, place.account
            ),
        }
    }

    pub(super) fn cluster_by_arn(&self, place: &Place, arn: &str) -> Option<&Cluster> {
        self.clusters_in(place).find(|cluster| cluster.arn == arn)
    }
}

/// The three endpoint settings. Invariant: with `public` off, `cidrs` is `["0.0.0.0/0"]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct EndpointAccess {
    pub(super) public: bool,
    pub(super) private: bool,
    pub(super) cidrs: Vec<String>,
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
    pub(super) fn apply(&self, change: &EndpointChange) -> EndpointAccess {
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

pub(super) struct Cluster {
    pub(super) name: String,
    pub(super) place: Place,
    pub(super) arn: String,
    pub(super) status: ClusterStatus,
    pub(super) becomes_active_at: Option<TokioInstant>,
    pub(super) access: EndpointAccess,
    pub(super) tags: BTreeMap<String, String>,
    pub(super) created_at: SystemTime,
    pub(super) role_arn: String,
    pub(super) vpc_id: String,
    pub(super) subnet_ids: Vec<String>,
    pub(super) cluster_security_group_id: String,
    pub(super) endpoint: String,
    pub(super) updates: Vec<Update>,
    /// How the next updates started through the API end, overriding `api_updates.outcome`.
    api_update_ends: VecDeque<UpdateEnd>,
}

/// Who started an update.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Origin {
    /// `UpdateClusterConfig`: the code under test.
    Api,
    /// The test, standing for the console, Terraform or a colleague.
    Someone,
    /// AWS itself (a platform version update): the update is in no listing and no
    /// `DescribeUpdate`, yet it refuses other updates while it runs.
    Platform,
}

pub(super) struct Update {
    pub(super) id: String,
    pub(super) update_type: String,
    pub(super) status: UpdateStatus,
    /// The endpoint settings it applies on success; `None` for other kinds of update.
    target: Option<EndpointAccess>,
    pub(super) params: Vec<(String, String)>,
    pub(super) created_at: SystemTime,
    started_at: TokioInstant,
    finishes_at: Option<TokioInstant>,
    /// How it ends when it ends by itself or by `finish_update`.
    pub(super) end: UpdateEnd,
    /// What `DescribeUpdate` lists as `errors`; set when it ends.
    pub(super) errors: Vec<UpdateError>,
    pub(super) client_request_token: Option<String>,
    origin: Origin,
}

/// What a new update is, for [`Cluster::start_update`].
pub(super) struct NewUpdate {
    pub(super) update_type: String,
    pub(super) target: Option<EndpointAccess>,
    pub(super) behaviour: UpdateBehaviour,
    pub(super) end: UpdateEnd,
    pub(super) client_request_token: Option<String>,
    pub(super) origin: Origin,
}

impl Update {
    /// Whether `DescribeUpdate` finds it: all but AWS's own hidden updates.
    pub(super) fn describable(&self) -> bool {
        self.origin != Origin::Platform
    }

    /// Whether `ListUpdates` shows it now: a describable update, once `lag` has passed since
    /// it started.
    pub(super) fn listed(&self, lag: Duration, now: TokioInstant) -> bool {
        self.describable() && self.started_at + lag <= now
    }
}

impl Cluster {
    pub(super) fn new(spec: ClusterSpec, options: &EksOptions, now: TokioInstant) -> Cluster {
        let place = Place {
            account: spec.account.unwrap_or_else(|| options.account.clone()),
            region: spec.region.unwrap_or_else(|| options.region.clone()),
        };
        Cluster {
            arn: cluster_arn(&place, &spec.name),
            status: spec.status,
            becomes_active_at: spec.active_after.map(|after| now + after),
            access: EndpointAccess::new(spec.public, spec.private, spec.cidrs),
            tags: spec.tags,
            created_at: SystemTime::now(),
            role_arn: format!("arn:aws:iam::{}:role/eks-cluster-role", place.account),
            vpc_id: format!("vpc-{}", ids::hex(17)),
            subnet_ids: vec![
                format!("subnet-{}", ids::hex(17)),
                format!("subnet-{}", ids::hex(17)),
            ],
            cluster_security_group_id: format!("sg-{}", ids::hex(17)),
            endpoint: format!(
                "https://{}.gr7.{}.eks.amazonaws.com",
                ids::hex(32).to_uppercase(),
                place.region
            ),
            name: spec.name,
            place,
            updates: Vec::new(),
            api_update_ends: VecDeque::new(),
        }
    }

    /// Applies what time has done since the last look: creation finished, updates ended.
    /// Transitions happen lazily, when someone looks, so no timer task is needed.
    pub(super) fn settle(&mut self, now: TokioInstant) {
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
                let end = update.end.clone();
                self.finish_update(index, end);
            }
        }
    }

    fn in_progress_update(&self) -> Option<&Update> {
        self.updates
            .iter()
            .find(|update| update.status == UpdateStatus::InProgress)
    }

    /// The update a `clientRequestToken` already started: the same token again is a retry of
    /// a call that already went through, and gets that update instead of a new one.
    pub(super) fn update_with_token(&self, token: &str) -> Option<&Update> {
        self.updates
            .iter()
            .find(|update| update.client_request_token.as_deref() == Some(token))
    }

    /// The next updates started through the API end like `ends`, one each, in order, when
    /// their behaviour's [`Finish`] says; later ones end as `api_updates.outcome` says.
    pub(super) fn end_next_api_updates(&mut self, ends: impl IntoIterator<Item = UpdateEnd>) {
        self.api_update_ends.extend(ends);
    }

    /// `UpdateClusterConfig` with an endpoint change: the checks EKS makes, in this order
    /// (input, then conflicts, then no-op), and on success the update it starts.
    pub(super) fn request_endpoint_update(
        &mut self,
        change: &EndpointChange,
        client_request_token: Option<String>,
        behaviour: UpdateBehaviour,
        now: TokioInstant,
    ) -> Result<&Update, Refusal> {
        let name = &self.name;
        let target = self.access.apply(change);
        if !target.public && !target.private {
            return Err(Refusal::InvalidParameter(
                "Both private and public endpoint access cannot be false".to_owned(),
            ));
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
                return Err(Refusal::InvalidParameter(format!(
                    "The following CIDRs are invalid in publicAccessCidrs: {}",
                    java_list(&invalid)
                )));
            }
        }

        // Also an update ListUpdates does not show (yet): AWS's own platform updates, or one
        // started a moment ago (aws/containers-roadmap#1500, rancher/eks-operator#752).
        if let Some(running) = self.in_progress_update() {
            return Err(Refusal::InUse(format!(
                "Cannot EndpointAccessUpdate because cluster {name} currently has update {} in progress",
                running.id
            )));
        }
        if self.status != ClusterStatus::Active {
            return Err(Refusal::InUse(format!(
                "Cannot EndpointAccessUpdate because cluster {name} is in {} status",
                self.status.as_str()
            )));
        }
        if target.same_as(&self.access) {
            let current = &self.access;
            return Err(Refusal::InvalidParameter(format!(
                "Cluster is already at the desired configuration with endpointPrivateAccess: {} , \
                 endpointPublicAccess: {}, and Public Endpoint Restrictions: {}",
                current.private,
                current.public,
                java_list(&current.cidrs)
            )));
        }

        let end = self
            .api_update_ends
            .pop_front()
            .unwrap_or_else(|| behaviour.outcome.into());
        self.start_update(
            NewUpdate {
                update_type: ENDPOINT_ACCESS_UPDATE.to_owned(),
                target: Some(target),
                behaviour,
                end,
                client_request_token,
                origin: Origin::Api,
            },
            now,
        );
        Ok(self.updates.last().expect("an update was just added"))
    }

    pub(super) fn start_update(&mut self, new: NewUpdate, now: TokioInstant) -> &str {
        if new.behaviour.status_during == StatusDuringUpdate::Updating
            && self.status == ClusterStatus::Active
        {
            self.status = ClusterStatus::Updating;
        }
        let finishes_at = match new.behaviour.finish {
            Finish::Manual => None,
            Finish::After(duration) => Some(now + duration),
        };
        self.updates.push(Update {
            id: ids::uuid_like(),
            update_type: new.update_type,
            status: UpdateStatus::InProgress,
            params: new
                .target
                .as_ref()
                .map(EndpointAccess::params)
                .unwrap_or_default(),
            target: new.target,
            created_at: SystemTime::now(),
            started_at: now,
            finishes_at,
            end: new.end,
            errors: Vec::new(),
            client_request_token: new.client_request_token,
            origin: new.origin,
        });
        &self.updates[self.updates.len() - 1].id
    }

    /// Ends update `index` as `end` says; false if it had already ended. A failed or cancelled
    /// update leaves the settings as they were.
    pub(super) fn finish_update(&mut self, index: usize, end: UpdateEnd) -> bool {
        let name = self.name.clone();
        let update = &mut self.updates[index];
        if update.status != UpdateStatus::InProgress {
            return false;
        }
        update.status = end.outcome.status();
        update.finishes_at = None;
        update.errors = match end.outcome {
            Outcome::Successful => Vec::new(),
            Outcome::Failed if end.errors.is_empty() => vec![
                UpdateError::new(
                    UpdateErrorCode::Unknown,
                    "The EKS double was told to fail this update.",
                )
                .resource_ids([name]),
            ],
            Outcome::Failed | Outcome::Cancelled => end.errors,
        };
        if end.outcome == Outcome::Successful
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
    pub(super) fn update_index_for_test(&self, update_id: &str) -> usize {
        self.updates
            .iter()
            .position(|update| update.id == update_id)
            .unwrap_or_else(|| panic!("cluster {} has no update {update_id}", self.name))
    }

    /// The cluster's updates as `DescribeUpdate` shows them, oldest first.
    pub(super) fn describable_updates(&self) -> impl Iterator<Item = &Update> {
        self.updates.iter().filter(|update| update.describable())
    }

    pub(super) fn snapshot(&self) -> ClusterSnapshot {
        ClusterSnapshot {
            name: self.name.clone(),
            region: self.place.region.clone(),
            account: self.place.account.clone(),
            arn: self.arn.clone(),
            status: self.status,
            public: self.access.public,
            private: self.access.private,
            cidrs: self.access.cidrs.clone(),
            tags: self.tags.clone(),
            created_at: self.created_at,
        }
    }
}

impl Update {
    pub(super) fn snapshot(&self) -> UpdateSnapshot {
        UpdateSnapshot {
            id: self.id.clone(),
            update_type: self.update_type.clone(),
            status: self.status,
            params: self.params.clone(),
            created_at: self.created_at,
            client_request_token: self.client_request_token.clone(),
            started_through_api: self.origin == Origin::Api,
            errors: self.errors.clone(),
        }
    }
}

/// `arn:aws:eks:REGION:ACCOUNT:cluster/NAME`.
pub(super) fn cluster_arn(place: &Place, name: &str) -> String {
    format!(
        "arn:aws:eks:{}:{}:cluster/{name}",
        place.region, place.account
    )
}
