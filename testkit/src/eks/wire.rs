//! The REST-JSON protocol of `aws-sdk-eks`: which call a request is, what its body asks for,
//! how answers and errors look on the wire, and page tokens.

use std::borrow::Cow;
use std::collections::BTreeSet;
use std::time::Instant;

use hyper::body::Incoming;
use hyper::header::{AUTHORIZATION, HeaderValue};
use hyper::{HeaderMap, Method, Request, StatusCode};
use serde_json::{Map, Value, json};
use tokio::time::Instant as TokioInstant;

use super::keys::Lookup;
use super::model::{Cluster, ENDPOINT_ACCESS_UPDATE, Place, Refusal, State, Update, cluster_arn};
use super::{
    ClusterStatus, Core, EndpointChange, Fault, PAGE_SIZE, RecordedRequest, UNSUPPORTED_OPERATION,
};
use crate::ids;
use crate::server::{
    HttpResponse, epoch_seconds, json_response, percent_decode, query_pairs, read_body,
};

/// Answers one request: records it, meets any injected fault, else hands it to the model.
pub(super) async fn handle(core: &Core, request: Request<Incoming>) -> HttpResponse {
    let arrived = Instant::now();
    let (parts, body) = request.into_parts();
    let body = read_body(body).await;
    let call = Call::parse(&parts.method, parts.uri.path());
    let (access_key_id, signing_region) = sigv4_credential(&parts.headers);
    let place = core
        .place_of(access_key_id.as_deref(), signing_region.as_deref())
        .await;
    let mut record = RecordedRequest {
        operation: call.operation(),
        cluster: call.cluster(),
        body: body_as_json(&body),
        query: query_pairs(parts.uri.query()),
        access_key_id,
        signing_region,
        account: place.account.clone(),
        at: arrived,
        status: None,
        fault: None,
        throttled: false,
    };
    // The rate applies when the request arrives, before anything else is done with it.
    let admitted = core.lock().throttle.admit(&place, TokioInstant::now());

    if !core.options.latency.is_zero() {
        tokio::time::sleep(core.options.latency).await;
    }
    if !admitted {
        record.throttled = true;
        let response = fault_error(&Fault::Throttle, &call, &place).into_response();
        record.status = Some(response.status().as_u16());
        core.record(record);
        return response;
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
            core.answer(&call, &place, &record.query, &body)
        }
        Some(fault) => fault_error(&fault, &call, &place).into_response(),
        None => core.answer(&call, &place, &record.query, &body),
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

impl Core {
    /// Whose clusters in which region a request sees: the region of its SigV4 credential
    /// scope (a client built for `eu-central-1` signs for `eu-central-1`, whatever endpoint it
    /// reaches), the account its access key maps to or resolves to (`keys`); the double's own
    /// for what is missing.
    async fn place_of(&self, access_key_id: Option<&str>, signing_region: Option<&str>) -> Place {
        let lookup = match access_key_id {
            Some(key) => self.lock().keys.lookup(key),
            None => Lookup::Unknown,
        };
        // The lock is released: a resolver may take a network round trip.
        let account = lookup
            .account()
            .await
            .unwrap_or_else(|| self.options.account.clone());
        Place {
            account,
            region: signing_region.unwrap_or(&self.options.region).to_owned(),
        }
    }
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
    fn answer(
        &self,
        call: &Call,
        place: &Place,
        query: &[(String, String)],
        body: &[u8],
    ) -> HttpResponse {
        let now = TokioInstant::now();
        let mut state = self.lock();
        let answer = match call {
            Call::ListClusters => list_clusters(&state, place, query),
            Call::DescribeCluster { name } => state
                .existing_cluster(place, name, now)
                .map(|cluster| json!({ "cluster": cluster_json(cluster) }))
                .map_err(in_cluster(name)),
            Call::UpdateClusterConfig { name } => {
                update_cluster_config(&mut state, place, name, body, now)
            }
            Call::ListUpdates { name } => list_updates(&mut state, place, name, query, now),
            Call::DescribeUpdate { name, update_id } => state
                .existing_cluster(place, name, now)
                .map_err(in_cluster(name))
                .and_then(|cluster| {
                    let update = cluster
                        .describable_updates()
                        .find(|update| update.id == *update_id)
                        .ok_or_else(|| {
                            EksError::not_found(format!("No update found for ID: {update_id}."))
                                .cluster(name)
                        })?;
                    Ok(json!({ "update": update_json(update) }))
                }),
            Call::ListTagsForResource { arn } => list_tags(&state, place, arn),
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

/// Turns a refusal about cluster `name` into its answer, which names the cluster.
fn in_cluster(name: &str) -> impl Fn(Refusal) -> EksError + '_ {
    move |refusal| EksError::from(refusal).cluster(name)
}

impl From<Refusal> for EksError {
    fn from(refusal: Refusal) -> EksError {
        match refusal {
            Refusal::NotFound(message) => EksError::not_found(message),
            Refusal::InvalidParameter(message) => EksError::invalid_parameter(message),
            Refusal::InUse(message) => EksError::in_use(message),
        }
    }
}

fn fault_error(fault: &Fault, call: &Call, place: &Place) -> EksError {
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
            let resource = cluster_arn(place, call.cluster().as_deref().unwrap_or("*"));
            EksError::new(
                StatusCode::FORBIDDEN,
                "AccessDeniedException",
                format!(
                    "User: arn:aws:sts::{}:assumed-role/eks-endpoint-guard/eks-endpoint-guard \
                     is not authorized to perform: eks:{} on resource: {resource}",
                    place.account,
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
// Answers

/// The `cluster` object of `DescribeCluster`, with the fields `aws-sdk-eks` reads.
fn cluster_json(cluster: &Cluster) -> Value {
    let mut answer = json!({
        "name": cluster.name,
        "arn": cluster.arn,
        "createdAt": epoch_seconds(cluster.created_at),
        "version": "1.31",
        "roleArn": cluster.role_arn,
        "resourcesVpcConfig": {
            "subnetIds": cluster.subnet_ids,
            "securityGroupIds": [],
            "clusterSecurityGroupId": cluster.cluster_security_group_id,
            "vpcId": cluster.vpc_id,
            "endpointPublicAccess": cluster.access.public,
            "endpointPrivateAccess": cluster.access.private,
            "publicAccessCidrs": cluster.access.cidrs,
        },
        "kubernetesNetworkConfig": {"serviceIpv4Cidr": "10.100.0.0/16", "ipFamily": "ipv4"},
        "logging": {"clusterLogging": [{
            "types": ["api", "audit", "authenticator", "controllerManager", "scheduler"],
            "enabled": false,
        }]},
        "status": cluster.status.as_str(),
        "platformVersion": "eks.20",
        "tags": cluster.tags,
        "accessConfig": {"authenticationMode": "API_AND_CONFIG_MAP"},
    });
    // The API server address exists once creation is done.
    if cluster.status != ClusterStatus::Creating {
        answer["endpoint"] = json!(cluster.endpoint);
    }
    answer
}

/// The `update` object of `DescribeUpdate` and `UpdateClusterConfig`.
fn update_json(update: &Update) -> Value {
    let params: Vec<Value> = update
        .params
        .iter()
        .map(|(kind, value)| json!({"type": kind, "value": value}))
        .collect();
    let errors: Vec<Value> = update
        .errors
        .iter()
        .map(|error| {
            json!({
                "errorCode": error.code.as_str(),
                "errorMessage": error.message,
                "resourceIds": error.resource_ids,
            })
        })
        .collect();
    json!({
        "id": update.id,
        "status": update.status.as_str(),
        "type": update.update_type,
        "params": params,
        "createdAt": epoch_seconds(update.created_at),
        "errors": errors,
    })
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

fn list_clusters(
    state: &State,
    place: &Place,
    query: &[(String, String)],
) -> Result<Value, EksError> {
    let page = PageRequest::from_query(query)?;
    // Names in order, resuming after the last name of the previous page: deleting a cluster
    // between pages neither skips nor repeats another.
    let remaining: Vec<&String> = state
        .clusters_in(place)
        .map(|cluster| &cluster.name)
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
    state: &mut State,
    place: &Place,
    name: &str,
    query: &[(String, String)],
    now: TokioInstant,
) -> Result<Value, EksError> {
    let lag = state.list_updates_lag;
    let cluster = state
        .existing_cluster(place, name, now)
        .map_err(in_cluster(name))?;
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
    // Positions count every update, listed or not, so one that appears late (lag) does not
    // shift a page another client is reading.
    let listed: Vec<(usize, &str)> = cluster
        .updates
        .iter()
        .enumerate()
        .skip(start)
        .filter(|(_, update)| update.listed(lag, now))
        .map(|(position, update)| (position, update.id.as_str()))
        .collect();
    let page_ids: Vec<&str> = listed
        .iter()
        .take(page.max_results)
        .map(|(_, id)| *id)
        .collect();
    let mut answer = json!({ "updateIds": page_ids });
    if listed.len() > page_ids.len() {
        let resume_at = listed[page_ids.len()].0;
        answer["nextToken"] = json!(encode_token(&resume_at.to_string()));
    }
    Ok(answer)
}

fn list_tags(state: &State, place: &Place, arn: &str) -> Result<Value, EksError> {
    if !arn.starts_with("arn:") {
        return Err(EksError::new(
            StatusCode::BAD_REQUEST,
            "BadRequestException",
            format!("{arn} is not a valid ARN"),
        ));
    }
    // Guess: an ARN of another region or account is not found from here.
    let cluster = state.cluster_by_arn(place, arn).ok_or_else(|| {
        EksError::new(
            StatusCode::NOT_FOUND,
            "NotFoundException",
            format!("Resource {arn} not found"),
        )
    })?;
    Ok(json!({ "tags": cluster.tags }))
}

fn update_cluster_config(
    state: &mut State,
    place: &Place,
    name: &str,
    body: &[u8],
    now: TokioInstant,
) -> Result<Value, EksError> {
    let behaviour = state.api_updates;
    let request: Map<String, Value> = serde_json::from_slice(body)
        .map_err(|error| EksError::serialization(format!("Malformed request body: {error}")))?;
    let cluster = state
        .existing_cluster(place, name, now)
        .map_err(in_cluster(name))?;

    let token = match request.get("clientRequestToken") {
        Some(Value::String(token)) => Some(token.clone()),
        _ => None,
    };
    if let Some(update) = token
        .as_deref()
        .and_then(|token| cluster.update_with_token(token))
    {
        return Ok(json!({ "update": update_json(update) }));
    }

    let change = requested_endpoint_change(&request).map_err(|error| error.cluster(name))?;
    let update = cluster
        .request_endpoint_update(&change, token, behaviour, now)
        .map_err(in_cluster(name))?;
    Ok(json!({ "update": update_json(update) }))
}

// ---------------------------------------------------------------------------------------------
// Request bodies

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
