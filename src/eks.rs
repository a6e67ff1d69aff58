//! The EKS side: read a cluster, look for updates in progress, apply a fix,
//! and sort EKS's answers into what the guard must do about them.
//!
//! Real EKS, unlike a toy: an `UpdateClusterConfig` starts an update that stays
//! `InProgress` for minutes, during which the cluster may stay `ACTIVE` and
//! still describe its old settings, and any second update is refused with
//! `ResourceInUseException`. Only the update's own status says when it is done.

use std::collections::{HashMap, HashSet};

use aws_sdk_eks::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_eks::operation::describe_cluster::DescribeClusterError;
use aws_sdk_eks::operation::describe_update::DescribeUpdateError;
use aws_sdk_eks::operation::list_updates::ListUpdatesError;
use aws_sdk_eks::operation::update_cluster_config::UpdateClusterConfigError;
use aws_sdk_eks::types::{UpdateStatus, VpcConfigRequest};

use crate::policy::{EndpointAccess, EndpointFix, OPEN_TO_THE_INTERNET};

/// What `DescribeCluster` says about a cluster, as far as the guard cares.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClusterState {
    pub name: String,
    pub arn: Option<String>,
    /// `CREATING`, `ACTIVE`, `UPDATING`, `DELETING`, `FAILED`, `PENDING`.
    pub status: String,
    pub access: EndpointAccess,
    pub tags: HashMap<String, String>,
}

impl ClusterState {
    pub fn is_active(&self) -> bool {
        self.status == "ACTIVE"
    }

    /// A cluster that is going away or broken: nothing to revert.
    pub fn is_beyond_repair(&self) -> bool {
        self.status == "DELETING" || self.status == "FAILED"
    }
}

/// How an EKS call failed, sorted by what the guard does next.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum EksFailure {
    /// The cluster (or update) does not exist: deleted meanwhile.
    #[error("not found: {0}")]
    NotFound(String),
    /// Another update runs: wait for it and try again.
    #[error("busy: {0}")]
    InUse(String),
    /// EKS says the cluster already has the settings asked for.
    #[error("already at the desired configuration: {0}")]
    AlreadyDesired(String),
    /// Throttling, 5xx, time-outs, connection errors that outlived the SDK's
    /// own retries: worth another try while the deadline allows.
    #[error("transient: {0}")]
    Transient(String),
    /// Anything else (access denied, invalid request): retrying will not help.
    #[error("{0}")]
    Fatal(String),
}

impl EksFailure {
    pub fn is_transient(&self) -> bool {
        matches!(self, EksFailure::Transient(_))
    }
}

/// The answer to a revert.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RevertStarted {
    /// EKS accepted the change; the update runs for a few minutes.
    Update(String),
    /// EKS refused it as a no-op: the cluster already complies.
    AlreadyDesired,
}

/// The guard's EKS client.
#[derive(Clone, Debug)]
pub struct Eks {
    client: aws_sdk_eks::Client,
}

impl Eks {
    pub fn new(client: aws_sdk_eks::Client) -> Eks {
        Eks { client }
    }

    /// Reads the cluster; `Ok(None)` when it no longer exists.
    pub async fn describe(&self, name: &str) -> Result<Option<ClusterState>, EksFailure> {
        let output = match self.client.describe_cluster().name(name).send().await {
            Ok(output) => output,
            Err(err) => {
                return match classify(err, |e| match e {
                    DescribeClusterError::ResourceNotFoundException(e) => {
                        Some(EksFailure::NotFound(message(e.message())))
                    }
                    DescribeClusterError::ServerException(e) => {
                        Some(EksFailure::Transient(message(e.message())))
                    }
                    DescribeClusterError::ServiceUnavailableException(e) => {
                        Some(EksFailure::Transient(message(e.message())))
                    }
                    _ => None,
                }) {
                    EksFailure::NotFound(_) => Ok(None),
                    other => Err(other),
                };
            }
        };
        let Some(cluster) = output.cluster() else {
            return Err(EksFailure::Fatal(format!(
                "DescribeCluster answered without a cluster for {name}"
            )));
        };
        let vpc = cluster.resources_vpc_config();
        let public = vpc.map(|v| v.endpoint_public_access()).unwrap_or(false);
        let mut cidrs: Vec<String> = vpc
            .map(|v| v.public_access_cidrs().to_vec())
            .unwrap_or_default();
        if cidrs.is_empty() && public {
            // EKS's default for a public endpoint with no list.
            cidrs.push(OPEN_TO_THE_INTERNET.to_string());
        }
        Ok(Some(ClusterState {
            name: cluster.name().unwrap_or(name).to_string(),
            arn: cluster.arn().map(str::to_string),
            status: cluster
                .status()
                .map(|s| s.as_str().to_string())
                .unwrap_or_else(|| "UNKNOWN".to_string()),
            access: EndpointAccess {
                endpoint_public_access: public,
                endpoint_private_access: vpc.map(|v| v.endpoint_private_access()).unwrap_or(false),
                public_access_cidrs: cidrs,
            },
            tags: cluster.tags().cloned().unwrap_or_default(),
        }))
    }

    /// True while the given update is `InProgress`. An update EKS no longer
    /// knows (the cluster was deleted) is not in progress.
    pub async fn update_in_progress(
        &self,
        name: &str,
        update_id: &str,
    ) -> Result<bool, EksFailure> {
        let result = self
            .client
            .describe_update()
            .name(name)
            .update_id(update_id)
            .send()
            .await;
        match result {
            Ok(output) => Ok(output
                .update()
                .and_then(|u| u.status())
                .is_some_and(|s| *s == UpdateStatus::InProgress)),
            Err(err) => match classify(err, |e| match e {
                DescribeUpdateError::ResourceNotFoundException(e) => {
                    Some(EksFailure::NotFound(message(e.message())))
                }
                DescribeUpdateError::ServerException(e) => {
                    Some(EksFailure::Transient(message(e.message())))
                }
                _ => None,
            }) {
                EksFailure::NotFound(_) => Ok(false),
                other => Err(other),
            },
        }
    }

    /// The id of an update of this cluster that is `InProgress`, if any.
    ///
    /// `ListUpdates` names every update the cluster ever had, so each must be
    /// described; ids found finished go into `finished` (a finished update
    /// never runs again) so that later polls describe only the rest.
    pub async fn any_update_in_progress(
        &self,
        name: &str,
        finished: &mut HashSet<String>,
    ) -> Result<Option<String>, EksFailure> {
        let mut next_token: Option<String> = None;
        let mut ids = Vec::new();
        loop {
            let result = self
                .client
                .list_updates()
                .name(name)
                .set_next_token(next_token.take())
                .send()
                .await;
            let page = match result {
                Ok(page) => page,
                Err(err) => {
                    return match classify(err, |e| match e {
                        ListUpdatesError::ResourceNotFoundException(e) => {
                            Some(EksFailure::NotFound(message(e.message())))
                        }
                        ListUpdatesError::ServerException(e) => {
                            Some(EksFailure::Transient(message(e.message())))
                        }
                        _ => None,
                    }) {
                        EksFailure::NotFound(_) => Ok(None),
                        other => Err(other),
                    };
                }
            };
            ids.extend(page.update_ids().iter().cloned());
            match page.next_token() {
                Some(token) if !token.is_empty() => next_token = Some(token.to_string()),
                _ => break,
            }
        }
        for id in ids {
            if finished.contains(&id) {
                continue;
            }
            if self.update_in_progress(name, &id).await? {
                return Ok(Some(id));
            }
            finished.insert(id);
        }
        Ok(None)
    }

    /// Sends the fix: only the endpoint settings (EKS refuses two kinds of
    /// change in one call), and only those that change.
    pub async fn apply(&self, name: &str, fix: &EndpointFix) -> Result<RevertStarted, EksFailure> {
        let vpc = match fix {
            EndpointFix::ClosePublicEndpoint => VpcConfigRequest::builder()
                .endpoint_public_access(false)
                .endpoint_private_access(true)
                .build(),
            EndpointFix::RestrictPublicCidrs(kept) => VpcConfigRequest::builder()
                .set_public_access_cidrs(Some(kept.clone()))
                .build(),
        };
        let result = self
            .client
            .update_cluster_config()
            .name(name)
            .resources_vpc_config(vpc)
            .send()
            .await;
        match result {
            Ok(output) => match output.update().and_then(|u| u.id()) {
                Some(id) => Ok(RevertStarted::Update(id.to_string())),
                None => Err(EksFailure::Fatal(format!(
                    "UpdateClusterConfig on {name} answered without an update id"
                ))),
            },
            Err(err) => match classify(err, |e| match e {
                UpdateClusterConfigError::ResourceNotFoundException(e) => {
                    Some(EksFailure::NotFound(message(e.message())))
                }
                UpdateClusterConfigError::ResourceInUseException(e) => {
                    Some(EksFailure::InUse(message(e.message())))
                }
                UpdateClusterConfigError::InvalidParameterException(e)
                    if is_already_desired(e.message()) =>
                {
                    Some(EksFailure::AlreadyDesired(message(e.message())))
                }
                UpdateClusterConfigError::ServerException(e) => {
                    Some(EksFailure::Transient(message(e.message())))
                }
                UpdateClusterConfigError::ThrottlingException(e) => {
                    Some(EksFailure::Transient(message(e.message())))
                }
                _ => None,
            }) {
                EksFailure::AlreadyDesired(_) => Ok(RevertStarted::AlreadyDesired),
                other => Err(other),
            },
        }
    }
}

/// "Cluster is already at the desired configuration with endpointPrivateAccess: ..."
fn is_already_desired(message: Option<&str>) -> bool {
    message.is_some_and(|m| m.contains("already at the desired configuration"))
}

fn message(text: Option<&str>) -> String {
    text.unwrap_or("no message").to_string()
}

/// Sorts an SDK error: first by the operation's modeled variant (which is
/// all a mocked error has), then by error code and HTTP status.
fn classify<E, R>(err: SdkError<E, R>, modeled: impl Fn(&E) -> Option<EksFailure>) -> EksFailure
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug + HttpStatus,
{
    let described = DisplayErrorContext(&err).to_string();
    match &err {
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) | SdkError::ResponseError(_) => {
            EksFailure::Transient(described)
        }
        SdkError::ServiceError(service) => {
            if let Some(kind) = modeled(service.err()) {
                return kind;
            }
            let code = service.err().code().unwrap_or_default();
            let status = service.raw().status_code();
            match code {
                "ResourceNotFoundException" => EksFailure::NotFound(described),
                "ResourceInUseException" => EksFailure::InUse(described),
                "ThrottlingException"
                | "TooManyRequestsException"
                | "ThrottledException"
                | "RequestLimitExceeded" => EksFailure::Transient(described),
                "InvalidParameterException" if is_already_desired(service.err().message()) => {
                    EksFailure::AlreadyDesired(described)
                }
                _ if status == 429 || status >= 500 => EksFailure::Transient(described),
                _ => EksFailure::Fatal(described),
            }
        }
        _ => EksFailure::Fatal(described),
    }
}

/// The HTTP status of a raw response, for errors that carry no code.
pub trait HttpStatus {
    fn status_code(&self) -> u16;
}

impl HttpStatus for aws_sdk_eks::config::http::HttpResponse {
    fn status_code(&self) -> u16 {
        self.status().as_u16()
    }
}

impl Eks {
    /// Every cluster name of the region, all pages.
    pub async fn list_clusters(&self) -> Result<Vec<String>, EksFailure> {
        let mut names = Vec::new();
        let mut next_token: Option<String> = None;
        loop {
            let page = self
                .client
                .list_clusters()
                .set_next_token(next_token.take())
                .send()
                .await
                .map_err(|err| classify(err, |_| None))?;
            names.extend(page.clusters().iter().cloned());
            match page.next_token() {
                Some(token) if !token.is_empty() => next_token = Some(token.to_string()),
                _ => return Ok(names),
            }
        }
    }
}

/// EKS clients per account.
///
/// In the single-account layout every call uses the function's own role. In
/// the central layout, a cluster of another account is reached through
/// `arn:<partition>:iam::<account>:role/<REMEDIATION_ROLE_NAME>`, assumed with
/// the session name `eks-endpoint-guard` (so the member account's CloudTrail
/// names the guard). Credentials are cached and refreshed by the provider;
/// clients are kept per account for the life of the execution environment.
pub struct EksClients {
    home: Eks,
    cross_account: Option<CrossAccount>,
}

struct CrossAccount {
    sdk: aws_config::SdkConfig,
    role_name: String,
    clients: std::sync::Mutex<HashMap<String, Eks>>,
}

impl EksClients {
    /// Every account is reached with this client.
    pub fn single(client: aws_sdk_eks::Client) -> EksClients {
        EksClients {
            home: Eks::new(client),
            cross_account: None,
        }
    }

    /// Other accounts are reached by assuming `role_name` in them.
    pub fn cross_account(sdk: &aws_config::SdkConfig, role_name: &str) -> EksClients {
        EksClients {
            home: Eks::new(aws_sdk_eks::Client::new(sdk)),
            cross_account: Some(CrossAccount {
                sdk: sdk.clone(),
                role_name: role_name.to_string(),
                clients: std::sync::Mutex::new(HashMap::new()),
            }),
        }
    }

    /// The client for clusters of `account`. `home` is the function's own
    /// account and partition (from its ARN); when it is unknown, or equal to
    /// `account`, no role is assumed.
    pub async fn for_account(&self, account: &str, home: Option<&AccountRef>) -> Eks {
        let (Some(cross), Some(home)) = (&self.cross_account, home) else {
            return self.home.clone();
        };
        if home.account == account {
            return self.home.clone();
        }
        if let Some(eks) = cross.lock().get(account) {
            return eks.clone();
        }
        let role_arn = format!(
            "arn:{}:iam::{account}:role/{}",
            home.partition, cross.role_name
        );
        let provider = aws_config::sts::AssumeRoleProvider::builder(role_arn)
            .session_name(crate::config::GUARD_NAME)
            .configure(&cross.sdk)
            .build()
            .await;
        let config = aws_sdk_eks::config::Builder::from(&cross.sdk)
            .credentials_provider(provider)
            .build();
        let eks = Eks::new(aws_sdk_eks::Client::from_conf(config));
        cross.lock().insert(account.to_string(), eks.clone());
        eks
    }
}

impl CrossAccount {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Eks>> {
        // A poisoned map of clients is still a map of valid clients.
        self.clients.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// An account and its partition, as read from an ARN.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AccountRef {
    pub partition: String,
    pub account: String,
}

impl AccountRef {
    /// From any ARN: `arn:<partition>:<service>:<region>:<account>:...`.
    pub fn from_arn(arn: &str) -> Option<AccountRef> {
        let mut parts = arn.split(':');
        let (Some("arn"), Some(partition), _, _, Some(account)) = (
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
        ) else {
            return None;
        };
        (!partition.is_empty()
            && account.len() == 12
            && account.bytes().all(|b| b.is_ascii_digit()))
        .then(|| AccountRef {
            partition: partition.to_string(),
            account: account.to_string(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn account_and_partition_come_from_the_function_arn() {
        assert_eq!(
            AccountRef::from_arn("arn:aws-us-gov:lambda:us-gov-west-1:123456789012:function:guard"),
            Some(AccountRef {
                partition: "aws-us-gov".into(),
                account: "123456789012".into()
            })
        );
        assert_eq!(AccountRef::from_arn(""), None);
        assert_eq!(
            AccountRef::from_arn("arn:aws:lambda:us-east-1:12345:function:x"),
            None
        );
    }
}
