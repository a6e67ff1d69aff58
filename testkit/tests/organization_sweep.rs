//! The path of the guard's organization-wide sweep, through the kit's public API as the guard's
//! own tests use it: `ListAccounts` at moto (every page, `ACTIVE` accounts), `AssumeRole`
//! through moto's STS with the provider the guard uses (`aws_config::sts::AssumeRoleProvider`,
//! as in the guard's `src/eks/clients.rs`), and EKS at the double, which learns from moto's STS
//! which member account each temporary key belongs to. Needs `moto_server` (`MOTO_SERVER`).

use aws_config::sts::AssumeRoleProvider;
use aws_sdk_organizations::types::{Account, AccountState};
use guard_testkit::eks::{ClusterSpec, DEFAULT_ACCOUNT, EksDouble, EksOptions};
use guard_testkit::moto::Moto;

mod eks_calls;
use eks_calls::cluster_names;

const ROLE_NAME: &str = "eks-endpoint-guard-remediation";

/// What the guard does to reach a member account: assume its role there, sign EKS calls with
/// the temporary credentials.
async fn member_client(moto: &Moto, eks: &EksDouble, account: &str) -> aws_sdk_eks::Client {
    let provider = AssumeRoleProvider::builder(format!("arn:aws:iam::{account}:role/{ROLE_NAME}"))
        .session_name("eks-endpoint-guard")
        .configure(&moto.sdk_config())
        .build()
        .await;
    let config = aws_sdk_eks::config::Builder::from(&eks.sdk_config())
        .credentials_provider(provider)
        .build();
    aws_sdk_eks::Client::from_conf(config)
}

/// Every account of the organization, `page_size` to a page.
async fn list_accounts(moto: &Moto, page_size: i32) -> Vec<Account> {
    let mut pages = moto
        .organizations()
        .list_accounts()
        .max_results(page_size)
        .into_paginator()
        .send();
    let mut accounts = Vec::new();
    while let Some(page) = pages.next().await {
        accounts.extend(page.expect("ListAccounts").accounts.unwrap_or_default());
    }
    accounts
}

#[tokio::test]
async fn each_member_account_reached_through_moto_sees_its_own_clusters() {
    let moto = Moto::start()
        .await
        .unwrap_or_else(|message| panic!("{message}"));
    let organization = moto.organization(3, 1).await;
    let eks = EksDouble::start(EksOptions::default())
        .await
        .expect("EKS double starts");
    eks.resolve_keys_through_sts(&moto.endpoint_url());
    eks.add_cluster(ClusterSpec::new("home"));
    for (index, account) in organization.active.iter().enumerate() {
        eks.add_cluster(ClusterSpec::new(&format!("member-{index}")).account(account));
        eks.add_cluster(ClusterSpec::new("same-name").account(account));
    }
    eks.add_cluster(ClusterSpec::new("in-a-closed-account").account(&organization.closed[0]));

    let members: Vec<String> = list_accounts(&moto, 2)
        .await
        .into_iter()
        .filter(|account| account.state() == Some(&AccountState::Active))
        .filter_map(|account| account.id)
        .filter(|id| *id != organization.management)
        .collect();
    assert_eq!(members, organization.active);

    for (index, account) in members.iter().enumerate() {
        let client = member_client(&moto, &eks, account).await;
        assert_eq!(
            cluster_names(&client).await,
            [format!("member-{index}"), "same-name".to_owned()],
            "account {account}"
        );
    }
    let own = aws_sdk_eks::Client::new(&eks.sdk_config());
    assert_eq!(
        cluster_names(&own).await,
        ["home"],
        "the function's own static key sees the double's default account"
    );

    let requests = eks.requests_for("ListClusters");
    let answered: Vec<(bool, &str)> = requests
        .iter()
        .map(|request| {
            let temporary = request
                .access_key_id
                .as_deref()
                .is_some_and(|key| key.starts_with("ASIA"));
            (temporary, request.account.as_str())
        })
        .collect();
    let expected: Vec<(bool, &str)> = members
        .iter()
        .map(|account| (true, account.as_str()))
        .chain([(false, DEFAULT_ACCOUNT)])
        .collect();
    assert_eq!(answered, expected);
}
