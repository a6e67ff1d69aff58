//! EKS clients per account and region.
//!
//! In the single-account layout every call uses the function's own role; a
//! guarded region other than the function's own gets a client for that region
//! (`AWS_ENDPOINT_URL_EKS` still applies, so one local double serves all). In
//! the central layout, a cluster of another account is reached through
//! `arn:<partition>:iam::<account>:role/<REMEDIATION_ROLE_NAME>`, assumed with
//! the session name `eks-endpoint-guard` (so the member account's CloudTrail
//! names the guard). Credentials are cached and refreshed by the provider;
//! clients are kept for the life of the execution environment.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

use aws_credential_types::Credentials;
use aws_credential_types::provider::{self, ProvideCredentials, SharedCredentialsProvider};
use aws_sdk_eks::config::{IdentityCache, Region};

use super::{CallPace, Eks};

/// Where a cluster lives: its account and region.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Place {
    pub account: String,
    pub region: String,
}

impl Place {
    pub fn new(account: impl Into<String>, region: impl Into<String>) -> Place {
        Place {
            account: account.into(),
            region: region.into(),
        }
    }
}

impl std::fmt::Display for Place {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.account, self.region)
    }
}

/// An ARN's partition, region and account:
/// `arn:<partition>:<service>:<region>:<account>:...`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AccountRef {
    pub partition: String,
    pub region: String,
    pub account: String,
}

impl AccountRef {
    pub fn from_arn(arn: &str) -> Option<AccountRef> {
        let mut parts = arn.split(':');
        let (Some("arn"), Some(partition), _, Some(region), Some(account)) = (
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
            region: region.to_string(),
            account: account.to_string(),
        })
    }
}

/// How many account-region clients the event path keeps between
/// invocations (each with its memory of finished updates). Events for more
/// places than this evict the oldest: a thousand-account organization must
/// not grow the environment by one client per account-region it ever saw.
const EVENT_CLIENTS_KEPT: usize = 32;

/// Refresh assumed credentials this long before they expire.
const REFRESH_BEFORE_EXPIRY: Duration = Duration::from_secs(300);

pub struct EksClients {
    home: Eks,
    pace: CallPace,
    cross_account: Option<CrossAccount>,
    /// The event path's clients, most recently built last.
    kept: Mutex<VecDeque<(Place, Eks)>>,
}

struct CrossAccount {
    sdk: aws_config::SdkConfig,
    role_name: String,
}

impl EksClients {
    /// The function's own account: `client` and clients derived from it for
    /// other regions.
    pub fn single(client: aws_sdk_eks::Client, pace: CallPace) -> EksClients {
        EksClients {
            home: Eks::new(client, pace.clone()),
            pace,
            cross_account: None,
            kept: Mutex::default(),
        }
    }

    /// Other accounts are reached by assuming `role_name` in them.
    pub fn cross_account(
        sdk: &aws_config::SdkConfig,
        role_name: &str,
        pace: CallPace,
    ) -> EksClients {
        EksClients {
            home: Eks::new(aws_sdk_eks::Client::new(sdk), pace.clone()),
            pace,
            cross_account: Some(CrossAccount {
                sdk: sdk.clone(),
                role_name: role_name.to_string(),
            }),
            kept: Mutex::default(),
        }
    }

    /// The pace and latency shared by every client.
    pub fn pace(&self) -> &CallPace {
        &self.pace
    }

    /// Whether clusters of other accounts can be reached at all.
    pub fn reaches_other_accounts(&self) -> bool {
        self.cross_account.is_some()
    }

    /// The region the home client was built for.
    pub fn home_region(&self) -> Option<String> {
        self.home
            .client()
            .config()
            .region()
            .map(|r| r.as_ref().to_string())
    }

    /// The event path's client for clusters at `place`, kept for later
    /// events (at most [`EVENT_CLIENTS_KEPT`]). `home` is the function's own
    /// account and partition (from its ARN). `None`: another account while no
    /// remediation role is configured (the guard refuses such events before
    /// asking).
    pub async fn for_place(&self, place: &Place, home: &AccountRef) -> Option<Eks> {
        if self.is_home(place, home) {
            return Some(self.home.clone());
        }
        if let Some((_, eks)) = self.lock().iter().find(|(kept, _)| kept == place) {
            return Some(eks.clone());
        }
        let eks = self
            .account(&place.account, home)
            .await?
            .eks_in(&place.region);
        let mut kept = self.lock();
        if kept.len() >= EVENT_CLIENTS_KEPT {
            kept.pop_front();
        }
        kept.push_back((place.clone(), eks.clone()));
        Some(eks)
    }

    /// One account's credentials, for all of its regions: the function's own,
    /// or the remediation role assumed once in that account (`None` when no
    /// role is configured). The sweep makes one per account and drops it when
    /// the account is done.
    pub async fn account(&self, account: &str, home: &AccountRef) -> Option<AccountSession> {
        let credentials = if account == home.account {
            None
        } else {
            let cross = self.cross_account.as_ref()?;
            let role_arn = format!(
                "arn:{}:iam::{}:role/{}",
                home.partition, account, cross.role_name
            );
            Some(AssumedRole::new(&cross.sdk, role_arn).await)
        };
        Some(AccountSession {
            place_label: account.to_string(),
            base: match &self.cross_account {
                Some(cross) if credentials.is_some() => {
                    aws_sdk_eks::config::Builder::from(&cross.sdk)
                }
                _ => self.home.client().config().to_builder(),
            },
            credentials,
            home: (account == home.account).then(|| self.home.clone()),
            home_region: self.home_region(),
            pace: self.pace.clone(),
        })
    }

    fn is_home(&self, place: &Place, home: &AccountRef) -> bool {
        place.account == home.account
            && Some(place.region.as_str()) == self.home_region().as_deref()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, VecDeque<(Place, Eks)>> {
        // A poisoned list of clients is still a list of valid clients.
        self.kept.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// One account's way in: every region's client shares its credentials (one
/// `AssumeRole` per account, not per account-region: STS limits are per
/// account and cannot be raised, re:Post "iam-sts-throttling-error") and the
/// SDK's one HTTP connection pool (the shared `SdkConfig`'s client).
pub struct AccountSession {
    place_label: String,
    base: aws_sdk_eks::config::Builder,
    credentials: Option<SharedCredentialsProvider>,
    /// The function's own client, when this is its own account.
    home: Option<Eks>,
    home_region: Option<String>,
    pace: CallPace,
}

impl AccountSession {
    /// The EKS client for one region of this account. Built per use: the
    /// caller drops it when the account-region is done.
    pub fn eks_in(&self, region: &str) -> Eks {
        if let Some(home) = &self.home
            && Some(region) == self.home_region.as_deref()
        {
            return home.clone();
        }
        let mut config = self.base.clone().region(Region::new(region.to_string()));
        if let Some(credentials) = &self.credentials {
            // The session caches the assumed role itself; the SDK's shared
            // identity cache would keep one entry per session for the life
            // of the environment.
            config.set_credentials_provider(Some(credentials.clone()));
            config = config.identity_cache(IdentityCache::no_cache());
        }
        let client = aws_sdk_eks::Client::from_conf(config.build());
        Eks::new(client, self.pace.clone()).at(&Place::new(self.place_label.clone(), region))
    }
}

/// The remediation role in one account, assumed through the function's
/// regional STS endpoint when first needed and again shortly before it
/// expires (a role chained from the function's own credentials lasts at most
/// one hour: IAM's "role chaining" limit). Concurrent callers wait for one
/// `AssumeRole`.
#[derive(Debug)]
struct AssumedRole {
    provider: aws_config::sts::AssumeRoleProvider,
    cached: tokio::sync::Mutex<Option<Credentials>>,
}

impl AssumedRole {
    #[allow(clippy::new_ret_no_self)]
    async fn new(sdk: &aws_config::SdkConfig, role_arn: String) -> SharedCredentialsProvider {
        let provider = aws_config::sts::AssumeRoleProvider::builder(role_arn)
            .session_name(crate::config::GUARD_NAME)
            .configure(sdk)
            .build()
            .await;
        SharedCredentialsProvider::new(AssumedRole {
            provider,
            cached: tokio::sync::Mutex::new(None),
        })
    }

    async fn credentials(&self) -> aws_credential_types::provider::Result {
        let mut cached = self.cached.lock().await;
        if let Some(credentials) = cached.as_ref()
            && still_fresh(credentials, SystemTime::now())
        {
            return Ok(credentials.clone());
        }
        let fresh = self.provider.provide_credentials().await?;
        *cached = Some(fresh.clone());
        Ok(fresh)
    }
}

impl ProvideCredentials for AssumedRole {
    fn provide_credentials<'a>(&'a self) -> provider::future::ProvideCredentials<'a>
    where
        Self: 'a,
    {
        provider::future::ProvideCredentials::new(self.credentials())
    }
}

/// Credentials without an expiry never need refreshing; others do from
/// [`REFRESH_BEFORE_EXPIRY`] before it.
fn still_fresh(credentials: &Credentials, now: SystemTime) -> bool {
    credentials
        .expiry()
        .is_none_or(|expiry| expiry > now + REFRESH_BEFORE_EXPIRY)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn assumed_credentials_are_refreshed_five_minutes_before_they_expire() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        let expiring = |seconds: u64| {
            Credentials::new(
                "AKID",
                "secret",
                None,
                Some(now + Duration::from_secs(seconds)),
                "test",
            )
        };
        assert!(still_fresh(&expiring(3600), now));
        assert!(still_fresh(&expiring(301), now));
        assert!(!still_fresh(&expiring(300), now));
        assert!(!still_fresh(&expiring(0), now));
        assert!(still_fresh(
            &Credentials::new("AKID", "secret", None, None, "static"),
            now
        ));
    }

    #[test]
    fn partition_region_and_account_come_from_an_arn() {
        assert_eq!(
            AccountRef::from_arn("arn:aws-us-gov:lambda:us-gov-west-1:123456789012:function:guard"),
            Some(AccountRef {
                partition: "aws-us-gov".into(),
                region: "us-gov-west-1".into(),
                account: "123456789012".into()
            })
        );
        assert_eq!(
            AccountRef::from_arn("arn:aws-iso-b:eks:us-isob-east-1:123456789012:cluster/c")
                .map(|a| a.partition),
            Some("aws-iso-b".to_string())
        );
        assert_eq!(AccountRef::from_arn(""), None);
        assert_eq!(
            AccountRef::from_arn("arn:aws:lambda:us-east-1:12345:function:x"),
            None
        );
    }
}
