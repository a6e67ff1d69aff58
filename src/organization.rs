//! The organization's accounts, for the sweep: AWS Organizations
//! `ListAccounts`, every page, keeping the accounts that are `ACTIVE`.
//!
//! `ListAccounts` answers only in the management account or a delegated
//! administrator for AWS Organizations (a resource-based delegation policy on
//! the organization, docs/organizations.md); `ORGANIZATION_ROLE_ARN` reads it
//! through a role instead. An account's `Status` was retired on 2026-09-09 in
//! favour of `State` (the `Account` type's own documentation in
//! aws-sdk-organizations): `State` decides, `Status` only where `State` is
//! missing (older emulators).

use aws_sdk_organizations::error::DisplayErrorContext;
use aws_sdk_organizations::types::{Account, AccountState, AccountStatus};

pub struct Organization {
    client: aws_sdk_organizations::Client,
}

impl Organization {
    /// Reads the organization with the function's own role, or through
    /// `role_arn` when it is set.
    pub async fn new(sdk: &aws_config::SdkConfig, role_arn: Option<&str>) -> Organization {
        let mut config = aws_sdk_organizations::config::Builder::from(sdk);
        if let Some(role_arn) = role_arn {
            let provider = aws_config::sts::AssumeRoleProvider::builder(role_arn)
                .session_name(crate::config::GUARD_NAME)
                .configure(sdk)
                .build()
                .await;
            config = config.credentials_provider(provider);
        }
        Organization::from_client(aws_sdk_organizations::Client::from_conf(config.build()))
    }

    pub fn from_client(client: aws_sdk_organizations::Client) -> Organization {
        Organization { client }
    }

    /// The ids of the organization's active accounts, page by page while
    /// `may_go_on` allows another call (the sweep's deadline): an
    /// organization of a thousand accounts is 50 pages of 20.
    pub async fn active_accounts(&self, may_go_on: impl Fn() -> bool) -> AccountList {
        let mut list = AccountList::default();
        let mut next_token: Option<String> = None;
        loop {
            if !may_go_on() {
                list.incomplete = Some(format!(
                    "Organizations ListAccounts stopped at the deadline after {} accounts",
                    list.accounts.len()
                ));
                return list;
            }
            let page = match self
                .client
                .list_accounts()
                .set_next_token(next_token.take())
                .send()
                .await
            {
                Ok(page) => page,
                Err(e) => {
                    list.incomplete = Some(format!(
                        "Organizations ListAccounts failed: {}",
                        DisplayErrorContext(&e)
                    ));
                    return list;
                }
            };
            list.accounts.extend(
                page.accounts()
                    .iter()
                    .filter(|account| is_active(account))
                    .filter_map(|account| account.id().map(str::to_string)),
            );
            match page.next_token() {
                Some(token) if !token.is_empty() => next_token = Some(token.to_string()),
                _ => return list,
            }
        }
    }
}

/// The active accounts listed, and why the list is short when it is.
#[derive(Debug, Default)]
pub struct AccountList {
    pub accounts: Vec<String>,
    pub incomplete: Option<String>,
}

fn is_active(account: &Account) -> bool {
    match account.state() {
        Some(state) => *state == AccountState::Active,
        None => account.status() == Some(&AccountStatus::Active),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_decides_and_status_stands_in_only_without_it() {
        let account = |state: Option<AccountState>, status: Option<AccountStatus>| {
            Account::builder()
                .id("111122223333")
                .set_state(state)
                .set_status(status)
                .build()
        };
        assert!(is_active(&account(Some(AccountState::Active), None)));
        assert!(!is_active(&account(
            Some(AccountState::Suspended),
            Some(AccountStatus::Active)
        )));
        assert!(!is_active(&account(
            Some(AccountState::PendingClosure),
            None
        )));
        assert!(!is_active(&account(Some(AccountState::Closed), None)));
        assert!(is_active(&account(None, Some(AccountStatus::Active))));
        assert!(!is_active(&account(None, Some(AccountStatus::Suspended))));
        assert!(!is_active(&account(None, None)));
    }
}
