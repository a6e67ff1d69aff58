//! An AWS Organization in moto, for tests of the guard's organization-wide sweep. The guard
//! lists the organization's accounts (`ListAccounts`, every page), keeps the `ACTIVE` ones,
//! assumes its remediation role in each through STS and calls EKS with the temporary keys; the
//! EKS double tells those keys' accounts apart by asking moto's STS
//! ([`EksDouble::resolve_keys_through_sts`](crate::eks::EksDouble::resolve_keys_through_sts)).
//!
//! ```no_run
//! # async fn example() -> Result<(), String> {
//! use guard_testkit::eks::{ClusterSpec, EksDouble, EksOptions};
//! use guard_testkit::moto::Moto;
//!
//! let moto = Moto::start().await?;
//! let organization = moto.organization(2, 1).await;
//! let eks = EksDouble::start(EksOptions::default()).await.map_err(|e| e.to_string())?;
//! eks.resolve_keys_through_sts(&moto.endpoint_url());
//! eks.add_cluster(ClusterSpec::new("prod").account(&organization.active[0]));
//! # Ok(()) }
//! ```
//!
//! # What moto 5.2 does (the tests below pin it down)
//!
//! - `CreateOrganization` signed with the static test key makes moto's default account
//!   ([`crate::moto::ACCOUNT`], 123456789012) the management account. `ListAccounts` lists it first,
//!   `ACTIVE`, named `master`, email `master@example.com`. One organization per management
//!   account: a second `CreateOrganization` is `AlreadyInOrganizationException`.
//! - `CreateAccount` answers `State: SUCCEEDED` with the new `AccountId` (12 random digits) at
//!   once, where AWS answers `IN_PROGRESS` and finishes minutes later; the fixture polls
//!   `DescribeCreateAccountStatus` as a caller of AWS must. moto also creates the account's
//!   `OrganizationAccountAccessRole`; its `AssumeRole` needs no role to exist anyway.
//! - `CloseAccount` makes the account `SUSPENDED` at once, in both `Status` and `State`. AWS
//!   first shows `PENDING_CLOSURE` for a while (the `CloseAccount` documentation); moto never
//!   does, so a test of the guard against `PENDING_CLOSURE` needs a mock of the
//!   Organizations client, not moto. Closing again is `AccountAlreadyClosedException`.
//! - `ListAccounts` lists accounts by the time they joined: the management account, then the
//!   members in the order they were created. A page holds at most `MaxResults` (default 100)
//!   with `NextToken` while more remain. AWS may return fewer than `MaxResults` even when more
//!   remain, so only `NextToken` says whether a page was the last.
//! - moto lets a role in a closed account be assumed (AWS does not let a closed account be
//!   used), so a guard that forgot to skip closed accounts gets no error here: a test must
//!   check which accounts it called.
//! - `ListAccounts` signed with a member account's keys lists nothing (each account is its
//!   own moto backend); AWS refuses it outside the management account and its delegated
//!   administrators.

use std::time::Duration;

use aws_sdk_organizations::types::{CreateAccountState, OrganizationFeatureSet};
use tokio::time::Instant;

use crate::moto::{Moto, sdk_error};

/// How long an account may take to be created (moto: no time at all).
const CREATE_TIMEOUT: Duration = Duration::from_secs(10);

/// An organization made by [`Moto::organization`]. Account ids are 12 digits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Organization {
    /// `o-` and ten characters.
    pub id: String,
    /// [`crate::moto::ACCOUNT`]: the account of the static test key, whose calls to Organizations
    /// are the management account's.
    pub management: String,
    /// Member accounts that are `ACTIVE`, in the order they were created.
    pub active: Vec<String>,
    /// Member accounts closed with `CloseAccount`, `SUSPENDED`, in the order they were
    /// created. They are created among the active ones (`active[0]`, `closed[0]`,
    /// `active[1]`, ...), so `ListAccounts` has them between active accounts and a page may
    /// end on either.
    pub closed: Vec<String>,
}

impl Organization {
    /// The accounts `ListAccounts` lists as `ACTIVE`: the management account, then the active
    /// members.
    pub fn active_accounts(&self) -> Vec<String> {
        std::iter::once(&self.management)
            .chain(&self.active)
            .cloned()
            .collect()
    }
}

impl Moto {
    /// Organizations signed with the static test key: the management account's calls.
    pub fn organizations(&self) -> aws_sdk_organizations::Client {
        aws_sdk_organizations::Client::new(&self.sdk_config())
    }

    /// Creates an organization with all features (`CreateOrganization`, management account
    /// [`crate::moto::ACCOUNT`]), `active + closed` member accounts (`CreateAccount`, named
    /// `member-01`, `member-02`, ... with `member-NN@example.com`), and closes `closed` of
    /// them (`CloseAccount`), spread among the active ones. Once per moto: moto refuses a
    /// second organization for the same management account. Panics if moto refuses a call.
    pub async fn organization(&self, active: usize, closed: usize) -> Organization {
        let client = self.organizations();
        let created = client
            .create_organization()
            .feature_set(OrganizationFeatureSet::All)
            .send()
            .await
            .unwrap_or_else(|error| panic!("moto CreateOrganization: {}", sdk_error(&error)))
            .organization
            .expect("CreateOrganization answers with the organization");
        let mut organization = Organization {
            id: created.id.expect("an organization has an id"),
            management: created
                .master_account_id
                .expect("an organization names its management account"),
            active: Vec::new(),
            closed: Vec::new(),
        };
        for (index, close) in closing_order(active, closed).into_iter().enumerate() {
            let account = create_account(&client, &format!("member-{:02}", index + 1)).await;
            if close {
                client
                    .close_account()
                    .account_id(&account)
                    .send()
                    .await
                    .unwrap_or_else(|error| {
                        panic!("moto CloseAccount {account}: {}", sdk_error(&error))
                    });
                organization.closed.push(account);
            } else {
                organization.active.push(account);
            }
        }
        organization
    }
}

/// For each account to create, whether to close it: active and closed alternate while both
/// remain, starting with an active one.
fn closing_order(active: usize, closed: usize) -> Vec<bool> {
    let (mut active, mut closed) = (active, closed);
    let mut order = Vec::with_capacity(active + closed);
    while active + closed > 0 {
        if active > 0 {
            order.push(false);
            active -= 1;
        }
        if closed > 0 {
            order.push(true);
            closed -= 1;
        }
    }
    order
}

/// `CreateAccount`, then `DescribeCreateAccountStatus` until it is no longer `IN_PROGRESS`;
/// the new account's id.
async fn create_account(client: &aws_sdk_organizations::Client, name: &str) -> String {
    let request_id = client
        .create_account()
        .account_name(name)
        .email(format!("{name}@example.com"))
        .send()
        .await
        .unwrap_or_else(|error| panic!("moto CreateAccount {name}: {}", sdk_error(&error)))
        .create_account_status
        .and_then(|status| status.id)
        .expect("CreateAccount answers with a request id");
    let deadline = Instant::now() + CREATE_TIMEOUT;
    loop {
        let status = client
            .describe_create_account_status()
            .create_account_request_id(&request_id)
            .send()
            .await
            .unwrap_or_else(|error| {
                panic!(
                    "moto DescribeCreateAccountStatus {request_id}: {}",
                    sdk_error(&error)
                )
            })
            .create_account_status
            .expect("DescribeCreateAccountStatus answers with a status");
        match status.state {
            Some(CreateAccountState::Succeeded) => {
                return status.account_id.expect("a created account has an id");
            }
            Some(CreateAccountState::InProgress) if Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            _ => panic!("moto did not create account {name}: {status:?}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use aws_sdk_organizations::error::ProvideErrorMetadata;
    use aws_sdk_organizations::types::{Account, AccountState, AccountStatus};

    use super::*;
    use crate::moto::ACCOUNT;

    async fn moto() -> Moto {
        Moto::start()
            .await
            .unwrap_or_else(|message| panic!("{message}"))
    }

    /// Every account, page by page as the guard reads them, `page_size` to a page.
    async fn list_accounts(moto: &Moto, page_size: i32) -> Vec<Vec<Account>> {
        let client = moto.organizations();
        let mut pages = Vec::new();
        let mut next_token = None;
        loop {
            let page = client
                .list_accounts()
                .max_results(page_size)
                .set_next_token(next_token)
                .send()
                .await
                .unwrap_or_else(|error| panic!("moto ListAccounts: {}", sdk_error(&error)));
            pages.push(page.accounts.unwrap_or_default());
            next_token = page.next_token;
            if next_token.is_none() {
                return pages;
            }
        }
    }

    #[test]
    fn closed_accounts_are_spread_among_active_ones() {
        assert_eq!(closing_order(3, 2), [false, true, false, true, false]);
        assert_eq!(closing_order(1, 3), [false, true, true, true]);
        assert_eq!(closing_order(0, 2), [true, true]);
        assert!(closing_order(0, 0).is_empty());
    }

    #[tokio::test]
    async fn list_accounts_shows_the_management_active_and_closed_accounts() {
        let moto = moto().await;
        let organization = moto.organization(3, 2).await;
        assert_eq!(organization.management, ACCOUNT);
        assert!(organization.id.starts_with("o-"), "{organization:?}");
        assert_eq!(
            (organization.active.len(), organization.closed.len()),
            (3, 2)
        );
        let members: BTreeSet<&String> = organization
            .active
            .iter()
            .chain(&organization.closed)
            .collect();
        assert_eq!(members.len(), 5, "distinct ids: {organization:?}");
        assert!(
            members
                .iter()
                .all(|id| id.len() == 12 && id.bytes().all(|byte| byte.is_ascii_digit())),
            "{organization:?}"
        );

        let pages = list_accounts(&moto, 2).await;
        assert_eq!(
            pages.iter().map(Vec::len).collect::<Vec<_>>(),
            [2, 2, 2],
            "MaxResults is honoured and NextToken continues"
        );
        let listed: Vec<(&str, AccountStatus, AccountState)> = pages
            .iter()
            .flatten()
            .map(|account| {
                (
                    account.id().expect("id"),
                    account.status().expect("status").clone(),
                    account.state().expect("state").clone(),
                )
            })
            .collect();
        let active = (AccountStatus::Active, AccountState::Active);
        let closed = (AccountStatus::Suspended, AccountState::Suspended);
        let expected: Vec<(&str, AccountStatus, AccountState)> = [
            (&organization.management, &active),
            (&organization.active[0], &active),
            (&organization.closed[0], &closed),
            (&organization.active[1], &active),
            (&organization.closed[1], &closed),
            (&organization.active[2], &active),
        ]
        .into_iter()
        .map(|(id, (status, state))| (id.as_str(), status.clone(), state.clone()))
        .collect();
        assert_eq!(listed, expected, "in the order they joined");

        let management = &pages[0][0];
        assert_eq!(management.name(), Some("master"));
        assert_eq!(management.email(), Some("master@example.com"));
        assert_eq!(
            pages[0][1].email(),
            Some("member-01@example.com"),
            "{pages:?}"
        );
        let active_ids: Vec<&str> = pages
            .iter()
            .flatten()
            .filter(|account| account.state() == Some(&AccountState::Active))
            .filter_map(Account::id)
            .collect();
        assert_eq!(active_ids, organization.active_accounts());

        // One page by default: moto's page holds up to 100 accounts.
        assert_eq!(
            moto.organizations()
                .list_accounts()
                .send()
                .await
                .expect("ListAccounts")
                .accounts()
                .len(),
            6
        );
    }

    #[tokio::test]
    async fn moto_refuses_a_second_close_and_a_second_organization() {
        let moto = moto().await;
        let organization = moto.organization(0, 1).await;
        let client = moto.organizations();
        let again = client
            .close_account()
            .account_id(&organization.closed[0])
            .send()
            .await
            .expect_err("closing a closed account");
        assert_eq!(
            again.code(),
            Some("AccountAlreadyClosedException"),
            "{}",
            sdk_error(&again)
        );
        let second = client
            .create_organization()
            .send()
            .await
            .expect_err("a second organization");
        assert_eq!(
            second.code(),
            Some("AlreadyInOrganizationException"),
            "{}",
            sdk_error(&second)
        );
    }

    #[tokio::test]
    async fn a_role_assumed_in_a_member_account_acts_in_that_account() {
        let moto = moto().await;
        let organization = moto.organization(1, 1).await;
        assert_eq!(
            moto.account_of_key(crate::TEST_ACCESS_KEY_ID).await,
            None,
            "moto did not hand out the static key"
        );
        for member in organization.active.iter().chain(&organization.closed) {
            let credentials = moto
                .sts()
                .assume_role()
                .role_arn(format!("arn:aws:iam::{member}:role/guard-remediation"))
                .role_session_name("eks-endpoint-guard")
                .send()
                .await
                .unwrap_or_else(|error| panic!("moto AssumeRole: {}", sdk_error(&error)))
                .credentials
                .expect("AssumeRole answers with credentials");
            assert!(
                credentials.access_key_id().starts_with("ASIA"),
                "{credentials:?}"
            );
            assert_eq!(
                moto.account_of_key(credentials.access_key_id())
                    .await
                    .as_ref(),
                Some(member),
                "closed or not, moto lets the role be assumed"
            );
        }
    }
}
