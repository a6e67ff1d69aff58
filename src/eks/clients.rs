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

use std::collections::HashMap;
use std::sync::Mutex;

use aws_sdk_eks::config::Region;

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

pub struct EksClients {
    home: Eks,
    pace: CallPace,
    cross_account: Option<CrossAccount>,
    clients: Mutex<HashMap<Place, Eks>>,
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
            clients: Mutex::default(),
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
            clients: Mutex::default(),
        }
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

    /// The client for clusters at `place`. `home` is the function's own
    /// account and partition (from its ARN). `None`: another account while no
    /// remediation role is configured (the guard refuses such events before
    /// asking).
    pub async fn for_place(&self, place: &Place, home: &AccountRef) -> Option<Eks> {
        let own_account = place.account == home.account;
        if own_account && Some(place.region.as_str()) == self.home_region().as_deref() {
            return Some(self.home.clone());
        }
        if let Some(eks) = self.lock().get(place) {
            return Some(eks.clone());
        }
        let config = if own_account {
            self.home.client().config().to_builder()
        } else {
            let cross = self.cross_account.as_ref()?;
            let role_arn = format!(
                "arn:{}:iam::{}:role/{}",
                home.partition, place.account, cross.role_name
            );
            let provider = aws_config::sts::AssumeRoleProvider::builder(role_arn)
                .session_name(crate::config::GUARD_NAME)
                .configure(&cross.sdk)
                .build()
                .await;
            aws_sdk_eks::config::Builder::from(&cross.sdk).credentials_provider(provider)
        };
        let client = aws_sdk_eks::Client::from_conf(
            config.region(Region::new(place.region.clone())).build(),
        );
        let eks = Eks::new(client, self.pace.clone());
        self.lock().insert(place.clone(), eks.clone());
        Some(eks)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Place, Eks>> {
        // A poisoned map of clients is still a map of valid clients.
        self.clients.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
