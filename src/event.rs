//! What the guard receives: EventBridge deliveries of CloudTrail records of EKS
//! calls, parsed leniently into a [`ClusterChange`] (pure code, no I/O).
//!
//! CloudTrail records vary between versions and callers: fields come and go,
//! timestamps inside `responseElements` are numbers or text, `update.params`
//! values are all strings (the CIDR list JSON-encoded inside one), the oldest
//! records name the cluster `clusterName` instead of `name`, and
//! `responseElements` is `null` on failed calls. Only what the guard needs is
//! read strictly; everything else is ignored.

use aws_lambda_events::eventbridge::EventBridgeEvent;
use serde::Deserialize;
use serde_json::Value;

use crate::policy::{EndpointAccess, MAX_PUBLIC_ACCESS_CIDRS, OPEN_TO_THE_INTERNET};

pub const CLOUDTRAIL_DETAIL_TYPE: &str = "AWS API Call via CloudTrail";
pub const EKS_SOURCE: &str = "aws.eks";
pub const EKS_EVENT_SOURCE: &str = "eks.amazonaws.com";
pub const SCHEDULE_SOURCE: &str = "aws.events";
pub const SCHEDULE_DETAIL_TYPE: &str = "Scheduled Event";

/// The EKS calls that can open an endpoint.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub enum ApiCall {
    CreateCluster,
    UpdateClusterConfig,
    /// Tag calls matter for the exempt tag: granting an exemption is the
    /// quiet way around the guard.
    TagResource,
    UntagResource,
}

impl ApiCall {
    pub fn as_str(self) -> &'static str {
        match self {
            ApiCall::CreateCluster => "CreateCluster",
            ApiCall::UpdateClusterConfig => "UpdateClusterConfig",
            ApiCall::TagResource => "TagResource",
            ApiCall::UntagResource => "UntagResource",
        }
    }
}

/// The tags a `TagResource` sets or an `UntagResource` removes.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TagEdit {
    pub set: Vec<(String, String)>,
    pub removed: Vec<String>,
}

/// What brought a cluster to the guard.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Origin {
    /// A CloudTrail record of this call.
    CloudTrail(ApiCall),
    /// The scheduled sweep: no call, no actor.
    Sweep,
}

impl Origin {
    /// `cloudtrail` or `sweep`.
    pub fn source(self) -> &'static str {
        match self {
            Origin::CloudTrail(_) => "cloudtrail",
            Origin::Sweep => "sweep",
        }
    }

    /// The API call, or `sweep`.
    pub fn label(self) -> &'static str {
        match self {
            Origin::CloudTrail(call) => call.as_str(),
            Origin::Sweep => "sweep",
        }
    }
}

/// Who made the call, as CloudTrail's `userIdentity` tells it.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Actor {
    pub identity_type: Option<String>,
    pub principal_arn: Option<String>,
    /// For an assumed role: the role's ARN.
    pub role_arn: Option<String>,
    /// For an assumed role: the session name (often the person or the tool).
    pub session_name: Option<String>,
    pub account_id: Option<String>,
    pub invoked_by: Option<String>,
    pub source_ip: Option<String>,
    pub user_agent: Option<String>,
}

/// A successful EKS call that may have opened a cluster's endpoint.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClusterChange {
    pub origin: Origin,
    pub cluster_name: String,
    /// The cluster ARN named in the response, when there is one.
    pub cluster_arn: Option<String>,
    /// The endpoint settings the call asked for, completed with EKS defaults
    /// where the record allows it. `None` when the call did not touch the
    /// endpoint (a logging update, say) or its settings could not be read.
    pub requested: Option<EndpointAccess>,
    /// Why the requested settings could not be read (an unparseable
    /// `update.params`, a CIDR that is not a string). They are advisory: the
    /// guard judges the cluster's real state anyway, and the alert says so.
    pub requested_unreadable: Option<String>,
    /// The update the call started; the guard waits for it before judging.
    pub update_id: Option<String>,
    pub actor: Actor,
    pub event_id: Option<String>,
    pub event_time: Option<String>,
    pub account: String,
    pub region: String,
    /// For tag calls: what they changed.
    pub tag_edit: Option<TagEdit>,
}

/// A scheduled sweep: judge every cluster of the region.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SweepRequest {
    pub account: String,
    pub region: String,
    pub time: Option<String>,
}

/// What an invocation payload is, for the guard.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Trigger {
    ClusterChange(Box<ClusterChange>),
    Sweep(SweepRequest),
    /// Not for the guard, or nothing to do; the reason says why.
    Ignored(String),
}

/// The key of the payload the guard sends itself to hand a long wait on to
/// a fresh invocation: `{"eks-endpoint-guard/hand-off": {"hop": 1,
/// "firstSeenMs": 1764578400000, "event": {...the original event...}}}`.
pub const HAND_OFF_KEY: &str = "eks-endpoint-guard/hand-off";

/// Which hand-off of one event this invocation is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HandOff {
    /// 1 for the first fresh invocation, 2 for the next, ...
    pub hop: u32,
    /// When the guard first handled the event (epoch milliseconds).
    pub first_seen_ms: u64,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct HandOffEnvelope {
    #[serde(flatten)]
    hand_off: HandOff,
    event: Value,
}

/// The original event and the hand-off, when `payload` is a hand-off.
pub fn unwrap_hand_off(payload: &Value) -> Result<Option<(HandOff, Value)>, InvalidEvent> {
    let Some(inner) = payload.get(HAND_OFF_KEY) else {
        return Ok(None);
    };
    let envelope = HandOffEnvelope::deserialize(inner)
        .map_err(|e| InvalidEvent(format!("malformed hand-off: {e}")))?;
    if envelope.event.get(HAND_OFF_KEY).is_some() {
        return Err(InvalidEvent("a hand-off inside a hand-off".to_string()));
    }
    Ok(Some((envelope.hand_off, envelope.event)))
}

/// The payload that hands `event` on.
pub fn hand_off_payload(event: &Value, hand_off: HandOff) -> Value {
    serde_json::json!({
        HAND_OFF_KEY: {
            "hop": hand_off.hop,
            "firstSeenMs": hand_off.first_seen_ms,
            "event": event,
        }
    })
}

/// A payload that claims to be an EKS call the guard handles but that it
/// cannot act on. The message names what is wrong.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct InvalidEvent(pub String);

/// The lenient CloudTrail record: every field optional, unknown ones ignored.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
struct CloudTrailRecord {
    event_source: Option<String>,
    event_name: Option<String>,
    // CloudTrail spells it `eventID`, not `eventId`.
    #[serde(rename = "eventID")]
    event_id: Option<String>,
    event_time: Option<String>,
    aws_region: Option<String>,
    recipient_account_id: Option<String>,
    // CloudTrail spells it `sourceIPAddress`.
    #[serde(rename = "sourceIPAddress")]
    source_ip_address: Option<String>,
    user_agent: Option<String>,
    error_code: Option<String>,
    error_message: Option<String>,
    user_identity: Option<Value>,
    request_parameters: Option<Value>,
    response_elements: Option<Value>,
}

/// Reads one invocation payload.
pub fn parse(payload: &Value) -> Result<Trigger, InvalidEvent> {
    let Some(object) = payload.as_object() else {
        return Ok(Trigger::Ignored(format!(
            "the payload is a JSON {}, not an EventBridge event",
            json_kind(payload)
        )));
    };
    if !object.contains_key("detail-type") || !object.contains_key("source") {
        return Ok(Trigger::Ignored(
            "not an EventBridge event (no `source` or `detail-type`)".to_string(),
        ));
    }
    // Deserialised from the borrowed tree: the payload is not copied.
    let envelope = EventBridgeEvent::<Value>::deserialize(payload)
        .map_err(|e| InvalidEvent(format!("malformed EventBridge envelope: {e}")))?;
    if envelope.source == SCHEDULE_SOURCE && envelope.detail_type == SCHEDULE_DETAIL_TYPE {
        return match (envelope.account, envelope.region) {
            (Some(account), Some(region)) => Ok(Trigger::Sweep(SweepRequest {
                account,
                region,
                time: envelope.time.map(|t| t.to_rfc3339()),
            })),
            _ => Err(InvalidEvent(
                "the scheduled event names no account or region".to_string(),
            )),
        };
    }
    if envelope.source != EKS_SOURCE || envelope.detail_type != CLOUDTRAIL_DETAIL_TYPE {
        return Ok(Trigger::Ignored(format!(
            "event from {} ({}) is not an EKS API call",
            envelope.source, envelope.detail_type
        )));
    }
    let record = CloudTrailRecord::deserialize(&envelope.detail)
        .map_err(|e| InvalidEvent(format!("malformed CloudTrail record in `detail`: {e}")))?;
    let account = envelope
        .account
        .clone()
        .or_else(|| record.recipient_account_id.clone())
        .ok_or_else(|| InvalidEvent("the event names no account".to_string()))?;
    let region = envelope
        .region
        .clone()
        .or_else(|| record.aws_region.clone())
        .ok_or_else(|| InvalidEvent("the event names no region".to_string()))?;
    read_record(record, account, region)
}

fn read_record(
    record: CloudTrailRecord,
    account: String,
    region: String,
) -> Result<Trigger, InvalidEvent> {
    let api_call = match successful_call(&record) {
        Ok(api_call) => api_call,
        Err(answer) => return answer,
    };
    let request = request_object(record.request_parameters.as_ref(), api_call)?;
    let call = Call {
        api_call,
        actor: actor(
            record.user_identity.as_ref(),
            record.source_ip_address,
            record.user_agent,
        ),
        event_id: record.event_id,
        event_time: record.event_time,
        account,
        region,
    };
    match api_call {
        ApiCall::TagResource | ApiCall::UntagResource => tag_change(call, request),
        ApiCall::CreateCluster | ApiCall::UpdateClusterConfig => {
            endpoint_change(call, request, record.response_elements.as_ref())
        }
    }
}

/// The EKS call a record reports when it is one the guard reads and it
/// succeeded; otherwise (`Err`) the answer for the record as it stands.
fn successful_call(record: &CloudTrailRecord) -> Result<ApiCall, Result<Trigger, InvalidEvent>> {
    let ignored = |reason| Err(Ok(Trigger::Ignored(reason)));
    if let Some(source) = record.event_source.as_deref()
        && source != EKS_EVENT_SOURCE
    {
        return ignored(format!("CloudTrail event source {source} is not EKS"));
    }
    let api_call = match record.event_name.as_deref() {
        Some("CreateCluster") => ApiCall::CreateCluster,
        Some("UpdateClusterConfig") => ApiCall::UpdateClusterConfig,
        Some("TagResource") => ApiCall::TagResource,
        Some("UntagResource") => ApiCall::UntagResource,
        Some(other) => return ignored(format!("EKS call {other} cannot change endpoint access")),
        None => {
            return Err(Err(InvalidEvent(
                "the CloudTrail record has no eventName".into(),
            )));
        }
    };
    if let Some(code) = record.error_code.as_deref() {
        return ignored(format!(
            "{} failed ({code}: {}) and changed nothing",
            api_call.as_str(),
            record.error_message.as_deref().unwrap_or("no message")
        ));
    }
    Ok(api_call)
}

/// `requestParameters`, which must be an object: it names the cluster.
fn request_object(
    request: Option<&Value>,
    api_call: ApiCall,
) -> Result<&serde_json::Map<String, Value>, InvalidEvent> {
    match request {
        Some(Value::Object(request)) => Ok(request),
        Some(Value::Null) | None => Err(InvalidEvent(format!(
            "the {} record has no requestParameters, so it names no cluster",
            api_call.as_str()
        ))),
        Some(other) => Err(InvalidEvent(format!(
            "requestParameters is a JSON {}, not an object",
            json_kind(other)
        ))),
    }
}

/// What every change read from one record shares: the call and who made it,
/// when and where.
struct Call {
    api_call: ApiCall,
    actor: Actor,
    event_id: Option<String>,
    event_time: Option<String>,
    account: String,
    region: String,
}

impl Call {
    /// The change to `cluster_name`, with nothing requested, no update and
    /// no tag edit: each kind of call fills in its own.
    fn change(self, cluster_name: &str) -> ClusterChange {
        ClusterChange {
            origin: Origin::CloudTrail(self.api_call),
            cluster_name: cluster_name.to_string(),
            cluster_arn: None,
            requested: None,
            requested_unreadable: None,
            update_id: None,
            actor: self.actor,
            event_id: self.event_id,
            event_time: self.event_time,
            account: self.account,
            region: self.region,
            tag_edit: None,
        }
    }
}

/// A `CreateCluster` or `UpdateClusterConfig`: the endpoint settings it asked
/// for and the update it started.
fn endpoint_change(
    call: Call,
    request: &serde_json::Map<String, Value>,
    response: Option<&Value>,
) -> Result<Trigger, InvalidEvent> {
    let cluster_name = request
        .get("name")
        .or_else(|| request.get("clusterName"))
        .and_then(Value::as_str)
        .ok_or_else(|| {
            InvalidEvent(format!(
                "the {} request names no cluster (`name` or `clusterName`)",
                call.api_call.as_str()
            ))
        })?;
    check_cluster_name(cluster_name)?;

    let cluster_in_response = response.and_then(|r| r.get("cluster"));
    let update_in_response = response.and_then(|r| r.get("update"));
    let requested = match call.api_call {
        ApiCall::CreateCluster => requested_at_creation(request, cluster_in_response).map(Some),
        ApiCall::UpdateClusterConfig => requested_by_update(request, update_in_response),
        ApiCall::TagResource | ApiCall::UntagResource => Ok(None),
    };
    let (requested, requested_unreadable) = match requested {
        Ok(requested) => (requested, None),
        Err(InvalidEvent(reason)) => (None, Some(reason)),
    };
    let update_id = update_in_response
        .and_then(|u| u.get("id"))
        .and_then(Value::as_str)
        .map(str::to_string);
    let cluster_arn = cluster_in_response
        .and_then(|c| c.get("arn"))
        .and_then(Value::as_str)
        // The anonymised sample names another cluster in the response: only
        // trust an ARN that ends in the requested name.
        .filter(|arn| arn.ends_with(&format!(":cluster/{cluster_name}")))
        .map(str::to_string);

    Ok(Trigger::ClusterChange(Box::new(ClusterChange {
        cluster_arn,
        requested,
        requested_unreadable,
        update_id,
        ..call.change(cluster_name)
    })))
}

/// A tag call on an EKS cluster (`resourceArn` names it). Calls on other EKS
/// resources (node groups, add-ons, ...) are ignored.
fn tag_change(
    call: Call,
    request: &serde_json::Map<String, Value>,
) -> Result<Trigger, InvalidEvent> {
    let arn = request
        .get("resourceArn")
        .and_then(Value::as_str)
        .ok_or_else(|| {
            InvalidEvent(format!(
                "the {} request has no resourceArn",
                call.api_call.as_str()
            ))
        })?;
    // arn:aws:eks:eu-west-1:111122223333:cluster/NAME
    let Some(cluster_name) = arn
        .split_once(":cluster/")
        .map(|(_, name)| name)
        .filter(|name| !name.contains('/'))
    else {
        return Ok(Trigger::Ignored(format!(
            "{} on {arn}, which is not an EKS cluster",
            call.api_call.as_str()
        )));
    };
    check_cluster_name(cluster_name)?;
    let edit = tag_edit(call.api_call, request)?;
    Ok(Trigger::ClusterChange(Box::new(ClusterChange {
        cluster_arn: Some(arn.to_string()),
        tag_edit: Some(edit),
        ..call.change(cluster_name)
    })))
}

/// The tags a `TagResource` sets, or the keys an `UntagResource` removes.
fn tag_edit(
    api_call: ApiCall,
    request: &serde_json::Map<String, Value>,
) -> Result<TagEdit, InvalidEvent> {
    let mut edit = TagEdit::default();
    match api_call {
        ApiCall::TagResource => {
            let Some(Value::Object(tags)) = request.get("tags") else {
                return Err(InvalidEvent(
                    "the TagResource request has no tags object".into(),
                ));
            };
            edit.set = tags
                .iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
                .collect();
        }
        _ => {
            let Some(Value::Array(keys)) = request.get("tagKeys") else {
                return Err(InvalidEvent(
                    "the UntagResource request has no tagKeys list".into(),
                ));
            };
            edit.removed = keys
                .iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect();
        }
    }
    Ok(edit)
}

/// EKS cluster names: 1 to 100 characters, a letter or digit first, then
/// letters, digits, `-` and `_`. Anything else is not a real record.
fn check_cluster_name(name: &str) -> Result<(), InvalidEvent> {
    let valid = !name.is_empty()
        && name.len() <= 100
        && name.starts_with(|c: char| c.is_ascii_alphanumeric())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if valid {
        Ok(())
    } else {
        Err(InvalidEvent(format!(
            "`{}` is not a valid EKS cluster name",
            name.chars().take(120).collect::<String>()
        )))
    }
}

/// A new cluster's endpoint: the response's `resourcesVpcConfig` is complete;
/// otherwise the request, with EKS's defaults (public on, private off, open to
/// the internet) for what it leaves out.
fn requested_at_creation(
    request: &serde_json::Map<String, Value>,
    cluster_in_response: Option<&Value>,
) -> Result<EndpointAccess, InvalidEvent> {
    let from_response = cluster_in_response.and_then(|c| c.get("resourcesVpcConfig"));
    let from_request = request.get("resourcesVpcConfig");
    let public = from_response
        .and_then(|v| lenient_bool(v.get("endpointPublicAccess")))
        .or_else(|| from_request.and_then(|v| lenient_bool(v.get("endpointPublicAccess"))))
        .unwrap_or(true);
    let private = from_response
        .and_then(|v| lenient_bool(v.get("endpointPrivateAccess")))
        .or_else(|| from_request.and_then(|v| lenient_bool(v.get("endpointPrivateAccess"))))
        .unwrap_or(false);
    let cidrs = match from_response.and_then(|v| v.get("publicAccessCidrs")) {
        Some(list) => Some(cidr_list(list)?),
        None => match from_request.and_then(|v| v.get("publicAccessCidrs")) {
            Some(list) => Some(cidr_list(list)?),
            None => None,
        },
    };
    Ok(EndpointAccess {
        endpoint_public_access: public,
        endpoint_private_access: private,
        public_access_cidrs: cidrs.unwrap_or_else(|| vec![OPEN_TO_THE_INTERNET.to_string()]),
    })
}

/// An update's endpoint settings: the `update.params` EKS answered with name
/// the whole resulting configuration; failing that, the request's
/// `resourcesVpcConfig`. `None` for updates of another kind.
fn requested_by_update(
    request: &serde_json::Map<String, Value>,
    update_in_response: Option<&Value>,
) -> Result<Option<EndpointAccess>, InvalidEvent> {
    if let Some(update) = update_in_response {
        let kind = update.get("type").and_then(Value::as_str);
        if kind.is_some_and(|k| k != "EndpointAccessUpdate") {
            return Ok(None);
        }
        if let Some(Value::Array(params)) = update.get("params") {
            let param = |name: &str| {
                params
                    .iter()
                    .find(|p| p.get("type").and_then(Value::as_str) == Some(name))
                    .and_then(|p| p.get("value"))
            };
            let public = lenient_bool(param("EndpointPublicAccess"));
            let private = lenient_bool(param("EndpointPrivateAccess"));
            let cidrs = match param("PublicAccessCidrs") {
                Some(Value::String(text)) => {
                    Some(cidr_list(&serde_json::from_str::<Value>(text).map_err(
                        |e| InvalidEvent(format!("PublicAccessCidrs in update.params: {e}")),
                    )?)?)
                }
                Some(list) => Some(cidr_list(list)?),
                None => None,
            };
            if public.is_some() || private.is_some() || cidrs.is_some() {
                return Ok(Some(merge_update(request, public, private, cidrs)?));
            }
        }
    }
    if request.get("resourcesVpcConfig").is_none() {
        return Ok(None);
    }
    merge_update(request, None, None, None).map(Some)
}

/// Fills what `update.params` left out from the request. A request that sets
/// `publicAccessCidrs` without saying whether the endpoint is public is taken
/// as public: setting CIDRs only matters for a public endpoint, and the guard
/// then checks the cluster's real state anyway.
fn merge_update(
    request: &serde_json::Map<String, Value>,
    public: Option<bool>,
    private: Option<bool>,
    cidrs: Option<Vec<String>>,
) -> Result<EndpointAccess, InvalidEvent> {
    let vpc = request.get("resourcesVpcConfig");
    let cidrs = match cidrs {
        Some(c) => Some(c),
        None => match vpc.and_then(|v| v.get("publicAccessCidrs")) {
            Some(list) => Some(cidr_list(list)?),
            None => None,
        },
    };
    let public = public
        .or_else(|| vpc.and_then(|v| lenient_bool(v.get("endpointPublicAccess"))))
        .unwrap_or(cidrs.is_some());
    let private = private
        .or_else(|| vpc.and_then(|v| lenient_bool(v.get("endpointPrivateAccess"))))
        .unwrap_or(!public);
    Ok(EndpointAccess {
        endpoint_public_access: public,
        endpoint_private_access: private,
        public_access_cidrs: cidrs.unwrap_or_else(|| vec![OPEN_TO_THE_INTERNET.to_string()]),
    })
}

/// A list of CIDR strings, refusing what no real EKS call carries.
fn cidr_list(value: &Value) -> Result<Vec<String>, InvalidEvent> {
    let Value::Array(items) = value else {
        return Err(InvalidEvent(format!(
            "publicAccessCidrs is a JSON {}, not a list",
            json_kind(value)
        )));
    };
    if items.len() > MAX_PUBLIC_ACCESS_CIDRS {
        return Err(InvalidEvent(format!(
            "publicAccessCidrs has {} entries; EKS accepts at most {MAX_PUBLIC_ACCESS_CIDRS}",
            items.len()
        )));
    }
    items
        .iter()
        .map(|item| match item {
            // The longest IPv6 CIDR is 43 characters.
            Value::String(text) if text.len() <= 64 => Ok(text.clone()),
            Value::String(_) => Err(InvalidEvent(
                "publicAccessCidrs has an entry longer than any CIDR".to_string(),
            )),
            other => Err(InvalidEvent(format!(
                "publicAccessCidrs has a JSON {} entry",
                json_kind(other)
            ))),
        })
        .collect()
}

/// `true`, `"true"` and `"True"` are all true: records carry booleans, and
/// `update.params` carries strings.
fn lenient_bool(value: Option<&Value>) -> Option<bool> {
    match value? {
        Value::Bool(b) => Some(*b),
        Value::String(s) if s.eq_ignore_ascii_case("true") => Some(true),
        Value::String(s) if s.eq_ignore_ascii_case("false") => Some(false),
        _ => None,
    }
}

fn actor(identity: Option<&Value>, source_ip: Option<String>, user_agent: Option<String>) -> Actor {
    let text = |v: Option<&Value>| v.and_then(Value::as_str).map(str::to_string);
    let identity_type = text(identity.and_then(|i| i.get("type")));
    let principal_arn = text(identity.and_then(|i| i.get("arn")));
    let issuer = identity
        .and_then(|i| i.get("sessionContext"))
        .and_then(|c| c.get("sessionIssuer"));
    let is_assumed_role = identity_type.as_deref() == Some("AssumedRole");
    let role_arn = if is_assumed_role {
        text(issuer.and_then(|i| i.get("arn")))
    } else {
        None
    };
    // arn:aws:sts::123456789012:assumed-role/RoleName/SessionName
    let session_name = if is_assumed_role {
        principal_arn
            .as_deref()
            .and_then(|arn| arn.split_once(":assumed-role/"))
            .and_then(|(_, rest)| rest.split_once('/'))
            .map(|(_, session)| session.to_string())
    } else {
        None
    };
    Actor {
        identity_type,
        principal_arn,
        role_arn,
        session_name,
        account_id: text(identity.and_then(|i| i.get("accountId"))),
        invoked_by: text(identity.and_then(|i| i.get("invokedBy"))),
        source_ip,
        user_agent,
    }
}

fn json_kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn envelope(detail: Value) -> Value {
        json!({
            "version": "0", "id": "e", "detail-type": CLOUDTRAIL_DETAIL_TYPE,
            "source": "aws.eks", "account": "111122223333", "time": "2026-11-23T06:00:01Z",
            "region": "eu-west-1", "resources": [], "detail": detail
        })
    }

    fn change(payload: Value) -> ClusterChange {
        match parse(&payload) {
            Ok(Trigger::ClusterChange(change)) => *change,
            other => panic!("expected a cluster change, got {other:?}"),
        }
    }

    #[test]
    fn update_params_strings_and_text_timestamps_parse() {
        let c = change(envelope(json!({
            "eventSource": "eks.amazonaws.com", "eventName": "UpdateClusterConfig",
            "userIdentity": {"type": "AssumedRole",
                "arn": "arn:aws:sts::111122223333:assumed-role/Admin/jane",
                "sessionContext": {"sessionIssuer": {"type": "Role",
                    "arn": "arn:aws:iam::111122223333:role/Admin"}}},
            "requestParameters": {"name": "prod", "resourcesVpcConfig": {"publicAccessCidrs": ["0.0.0.0/0"]}},
            "responseElements": {"update": {"id": "u-1", "status": "InProgress",
                "type": "EndpointAccessUpdate", "createdAt": "Nov 23, 2026, 6:00:01 AM",
                "params": [{"type": "PublicAccessCidrs", "value": "[\"0.0.0.0/0\"]"}]}}
        })));
        assert_eq!(c.cluster_name, "prod");
        assert_eq!(c.update_id.as_deref(), Some("u-1"));
        assert_eq!(c.actor.session_name.as_deref(), Some("jane"));
        assert_eq!(
            c.actor.role_arn.as_deref(),
            Some("arn:aws:iam::111122223333:role/Admin")
        );
        let requested = c.requested.expect("endpoint settings");
        assert!(
            requested.endpoint_public_access,
            "cidrs without a flag mean public"
        );
        assert_eq!(requested.public_access_cidrs, vec!["0.0.0.0/0"]);
    }

    #[test]
    fn create_without_endpoint_settings_gets_eks_defaults() {
        let c = change(envelope(json!({
            "eventSource": "eks.amazonaws.com", "eventName": "CreateCluster",
            "requestParameters": {"clusterName": "test", "resourcesVpcConfig": {"subnetIds": []}},
            "responseElements": {"cluster": {"clusterName": "test", "createdAt": 1527535003.208}}
        })));
        let requested = c.requested.expect("endpoint settings");
        assert!(requested.endpoint_public_access);
        assert!(!requested.endpoint_private_access);
        assert_eq!(requested.public_access_cidrs, vec!["0.0.0.0/0"]);
    }

    #[test]
    fn logging_update_touches_no_endpoint() {
        let c = change(envelope(json!({
            "eventName": "UpdateClusterConfig",
            "requestParameters": {"name": "prod", "logging": {}},
            "responseElements": {"update": {"id": "u-2", "type": "LoggingUpdate", "params": []}}
        })));
        assert_eq!(c.requested, None);
        assert_eq!(c.update_id.as_deref(), Some("u-2"));
    }

    #[test]
    fn failed_calls_are_ignored_with_the_error() {
        let Ok(Trigger::Ignored(reason)) = parse(&envelope(json!({
            "eventName": "UpdateClusterConfig", "errorCode": "AccessDenied",
            "errorMessage": "not allowed", "requestParameters": {"name": "prod"},
            "responseElements": null
        }))) else {
            panic!("a failed call must be ignored")
        };
        assert!(reason.contains("AccessDenied"), "{reason}");
    }

    #[test]
    fn bad_input_gets_a_clear_answer() {
        let ignored = [
            json!(null),
            json!([]),
            json!({}),
            json!({"source": "aws.ec2", "detail-type": "EC2 Instance State-change Notification", "detail": {}}),
            envelope(json!({"eventName": "DescribeCluster", "requestParameters": {"name": "x"}})),
            envelope(json!({"eventSource": "s3.amazonaws.com", "eventName": "CreateCluster"})),
        ];
        for payload in ignored {
            assert!(
                matches!(parse(&payload), Ok(Trigger::Ignored(_))),
                "{payload} should be ignored"
            );
        }
        let too_many: Vec<String> = (0..41).map(|i| format!("10.{i}.0.0/16")).collect();
        let invalid = [
            (
                envelope(json!({"eventName": "UpdateClusterConfig"})),
                "requestParameters",
            ),
            (
                envelope(json!({"eventName": "UpdateClusterConfig", "requestParameters": {}})),
                "names no cluster",
            ),
            (
                envelope(
                    json!({"eventName": "UpdateClusterConfig", "requestParameters": {"name": "../x"}}),
                ),
                "not a valid",
            ),
            (
                json!({"source": "aws.eks", "detail-type": CLOUDTRAIL_DETAIL_TYPE}),
                "envelope",
            ),
            (
                json!({"source": "aws.eks", "detail-type": CLOUDTRAIL_DETAIL_TYPE, "detail": {"eventName": "CreateCluster"}}),
                "account",
            ),
        ];
        // Odd requested settings are advisory: the change is still judged on
        // the cluster's real state, and the reason travels with it.
        let unreadable = [
            (json!({"publicAccessCidrs": too_many}), "at most 40"),
            (json!({"publicAccessCidrs": "0.0.0.0/0"}), "not a list"),
            (json!({"publicAccessCidrs": [17]}), "number entry"),
        ];
        for (vpc, expected) in unreadable {
            let c = change(envelope(json!({"eventName": "UpdateClusterConfig",
                "requestParameters": {"name": "x", "resourcesVpcConfig": vpc}})));
            assert_eq!(c.requested, None);
            let reason = c.requested_unreadable.expect("a reason");
            assert!(reason.contains(expected), "{reason} should name {expected}");
        }
        let c = change(envelope(json!({"eventName": "UpdateClusterConfig",
            "requestParameters": {"name": "x"},
            "responseElements": {"update": {"id": "u", "type": "EndpointAccessUpdate",
                "params": [{"type": "PublicAccessCidrs", "value": "[not json"}]}}})));
        assert!(
            c.requested_unreadable
                .as_deref()
                .is_some_and(|r| r.contains("PublicAccessCidrs")),
            "{c:?}"
        );
        for (payload, expected) in invalid {
            match parse(&payload) {
                Err(InvalidEvent(message)) => {
                    assert!(
                        message.contains(expected),
                        "{message} should name {expected}"
                    )
                }
                other => panic!("{payload} should be invalid, got {other:?}"),
            }
        }
    }

    #[test]
    fn a_hand_off_carries_the_original_event_and_its_hop() {
        let original = envelope(json!({"eventName": "CreateCluster",
            "requestParameters": {"name": "new"}}));
        let hand_off = HandOff {
            hop: 2,
            first_seen_ms: 1_764_578_400_000,
        };
        let payload = hand_off_payload(&original, hand_off);
        let (read, event) = unwrap_hand_off(&payload).unwrap().expect("a hand-off");
        assert_eq!(read, hand_off);
        assert_eq!(event, original);
        assert_eq!(unwrap_hand_off(&original).unwrap(), None);
        for bad in [
            json!({HAND_OFF_KEY: {"hop": "two", "firstSeenMs": 1, "event": {}}}),
            json!({HAND_OFF_KEY: {"hop": 1, "firstSeenMs": 1}}),
            hand_off_payload(&payload, hand_off),
        ] {
            assert!(unwrap_hand_off(&bad).is_err(), "{bad}");
        }
    }
}
