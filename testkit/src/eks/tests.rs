//! The double checked through `aws-sdk-eks` itself: if the SDK parses an answer, so will the
//! guard; if the SDK classifies an error as throttling, so will the guard's retries.

use super::*;
use aws_sdk_eks::Client;
use aws_sdk_eks::config::Credentials;
use aws_sdk_eks::config::retry::RetryConfig;
use aws_sdk_eks::config::timeout::TimeoutConfig;
use aws_sdk_eks::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_eks::operation::describe_cluster::DescribeClusterError;
use aws_sdk_eks::operation::describe_update::DescribeUpdateError;
use aws_sdk_eks::operation::describe_update::builders::DescribeUpdateFluentBuilder;
use aws_sdk_eks::operation::update_cluster_config::{
    UpdateClusterConfigError, UpdateClusterConfigOutput,
};
use aws_sdk_eks::types::{
    ErrorCode, LogSetup, LogType, Logging, UpdateParamType, UpdateStatus as SdkUpdateStatus,
    VpcConfigRequest,
};
use serde_json::json;
use std::time::UNIX_EPOCH;

// Shared with the integration tests, which cannot reach this crate's test code.
#[path = "../../tests/eks_calls/mod.rs"]
mod eks_calls;
use eks_calls::cluster_names;

const WAIT: Duration = Duration::from_secs(5);

async fn double(options: EksOptions) -> EksDouble {
    EksDouble::start(options).await.expect("EKS double starts")
}

/// A double with `options` and one cluster, `prod`, in its own account and region (public,
/// open to the internet), and a client of it: where most tests start.
async fn prod_double(options: EksOptions) -> (EksDouble, Client) {
    let eks = double(options).await;
    eks.add_cluster(ClusterSpec::new("prod"));
    let client = client(&eks);
    (eks, client)
}

/// Options under which updates through the API behave as `behaviour` says.
fn api_updates(behaviour: UpdateBehaviour) -> EksOptions {
    EksOptions {
        api_updates: behaviour,
        ..EksOptions::default()
    }
}

/// Options under which every answer takes `latency`, as over a network.
fn answering_after(latency: Duration) -> EksOptions {
    EksOptions {
        latency,
        ..EksOptions::default()
    }
}

/// A client with fast retries, so retry tests take milliseconds, not seconds.
fn client(eks: &EksDouble) -> Client {
    client_with(eks, RetryConfig::standard().with_max_attempts(3))
}

fn client_with(eks: &EksDouble, retry: RetryConfig) -> Client {
    let config = aws_sdk_eks::config::Builder::from(&eks.sdk_config())
        .retry_config(retry.with_initial_backoff(Duration::from_millis(1)))
        .build();
    Client::from_conf(config)
}

/// A client for `region` that signs with `access_key_id`, as a client with assumed-role
/// credentials would.
fn client_signed(eks: &EksDouble, region: &str, access_key_id: &str) -> Client {
    let config = aws_sdk_eks::config::Builder::from(&eks.sdk_config_in(region))
        .credentials_provider(Credentials::new(
            access_key_id,
            "secret",
            Some("session-token".to_owned()),
            None,
            "test",
        ))
        .retry_config(RetryConfig::disabled())
        .build();
    Client::from_conf(config)
}

async fn describe_cluster(client: &Client, name: &str) -> aws_sdk_eks::types::Cluster {
    let described = client.describe_cluster().name(name).send().await;
    described
        .expect("DescribeCluster")
        .cluster
        .expect("cluster")
}

/// The error `DescribeCluster` of `name` must fail with; `why` says why it must fail.
async fn describe_cluster_refused(client: &Client, name: &str, why: &str) -> DescribeClusterError {
    let described = client.describe_cluster().name(name).send().await;
    described.expect_err(why).into_service_error()
}

/// `DescribeUpdate` of one update of cluster `name`, to send.
fn describe_update_request(
    client: &Client,
    name: &str,
    update_id: &str,
) -> DescribeUpdateFluentBuilder {
    client.describe_update().name(name).update_id(update_id)
}

async fn describe_update(
    client: &Client,
    name: &str,
    update_id: &str,
) -> aws_sdk_eks::types::Update {
    let described = describe_update_request(client, name, update_id)
        .send()
        .await;
    described.expect("DescribeUpdate").update.expect("update")
}

/// The error `DescribeUpdate` of `update_id` must fail with; `why` says why it must fail.
async fn describe_update_refused(
    client: &Client,
    name: &str,
    update_id: &str,
    why: &str,
) -> DescribeUpdateError {
    let described = describe_update_request(client, name, update_id)
        .send()
        .await;
    described.expect_err(why).into_service_error()
}

async fn listed_updates(client: &Client, name: &str) -> Vec<String> {
    client
        .list_updates()
        .name(name)
        .send()
        .await
        .expect("ListUpdates")
        .update_ids()
        .to_vec()
}

/// The HTTP status of each request for `operation` so far (`None`: left hanging).
fn statuses_of(eks: &EksDouble, operation: &str) -> Vec<Option<u16>> {
    eks.requests_for(operation)
        .iter()
        .map(|request| request.status)
        .collect()
}

/// The account each `ListClusters` so far was answered for, in order, by its label in `labels`
/// (`"other"` for an account `labels` does not name).
fn list_clusters_accounts<'a>(eks: &EksDouble, labels: &[(&str, &'a str)]) -> Vec<&'a str> {
    eks.requests_for("ListClusters")
        .iter()
        .map(|request| {
            labels
                .iter()
                .find(|(account, _)| *account == request.account)
                .map_or("other", |(_, label)| *label)
        })
        .collect()
}

fn vpc(public: Option<bool>, private: Option<bool>, cidrs: Option<&[&str]>) -> VpcConfigRequest {
    VpcConfigRequest::builder()
        .set_endpoint_public_access(public)
        .set_endpoint_private_access(private)
        .set_public_access_cidrs(cidrs.map(|cidrs| cidrs.iter().map(|c| c.to_string()).collect()))
        .build()
}

async fn update(
    client: &Client,
    name: &str,
    config: VpcConfigRequest,
) -> Result<UpdateClusterConfigOutput, SdkError<UpdateClusterConfigError>> {
    client
        .update_cluster_config()
        .name(name)
        .resources_vpc_config(config)
        .send()
        .await
}

/// "Close the public endpoint, keep the cluster reachable privately": the guard's revert.
async fn close_public(
    client: &Client,
    name: &str,
) -> Result<UpdateClusterConfigOutput, SdkError<UpdateClusterConfigError>> {
    update(client, name, vpc(Some(false), Some(true), None)).await
}

/// The id of the update the guard's revert of `name` starts; `why` says why it must be accepted.
async fn close_public_id(client: &Client, name: &str, why: &str) -> String {
    update_id(close_public(client, name).await.expect(why))
}

/// The error the guard's revert of `name` must be refused with; `why` says why.
async fn close_public_refused(client: &Client, name: &str, why: &str) -> UpdateClusterConfigError {
    close_public(client, name)
        .await
        .expect_err(why)
        .into_service_error()
}

fn update_id(output: UpdateClusterConfigOutput) -> String {
    output.update.and_then(|update| update.id).expect("id")
}

#[track_caller]
fn invalid_parameter_message(
    result: Result<UpdateClusterConfigOutput, SdkError<UpdateClusterConfigError>>,
) -> String {
    match result {
        Err(SdkError::ServiceError(error)) => match error.into_err() {
            UpdateClusterConfigError::InvalidParameterException(error) => {
                error.message().unwrap_or_default().to_owned()
            }
            other => panic!("expected InvalidParameterException, got {other:?}"),
        },
        other => panic!("expected InvalidParameterException, got {other:?}"),
    }
}

#[tokio::test]
async fn describe_cluster_shows_the_seeded_cluster() {
    let eks = double(EksOptions::default()).await;
    eks.add_cluster(
        ClusterSpec::new("prod")
            .cidrs(["203.0.113.0/24"])
            .private(true)
            .tag("team", "platform"),
    );

    let cluster = describe_cluster(&client(&eks), "prod").await;
    assert_eq!(cluster.name(), Some("prod"));
    assert_eq!(
        cluster.arn(),
        Some("arn:aws:eks:eu-west-1:111122223333:cluster/prod")
    );
    assert_eq!(cluster.status().map(|s| s.as_str()), Some("ACTIVE"));
    let vpc = cluster.resources_vpc_config().expect("vpc config");
    assert!(vpc.endpoint_public_access());
    assert!(vpc.endpoint_private_access());
    assert_eq!(vpc.public_access_cidrs(), ["203.0.113.0/24"]);
    assert!(vpc.vpc_id().is_some_and(|id| id.starts_with("vpc-")));
    assert_eq!(
        cluster
            .tags()
            .and_then(|tags| tags.get("team"))
            .map(String::as_str),
        Some("platform")
    );
    let created = cluster.created_at().expect("createdAt");
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("after 1970")
        .as_secs() as i64;
    assert!(
        (now - created.secs()).abs() < 60,
        "createdAt {created:?} is now"
    );

    let recorded = eks.requests_for("DescribeCluster");
    assert_eq!(recorded.len(), 1);
    assert_eq!(recorded[0].cluster.as_deref(), Some("prod"));
    assert_eq!(
        recorded[0].access_key_id.as_deref(),
        Some(crate::TEST_ACCESS_KEY_ID)
    );
    assert_eq!(recorded[0].signing_region.as_deref(), Some("eu-west-1"));
    assert_eq!(recorded[0].status, Some(200));
}

#[tokio::test]
async fn unknown_clusters_are_resource_not_found() {
    let eks = double(EksOptions::default()).await;
    let client = client(&eks);

    let error = describe_cluster_refused(&client, "ghost", "no such cluster").await;
    assert!(error.is_resource_not_found_exception(), "{error:?}");
    assert_eq!(error.message(), Some("No cluster found for name: ghost."));

    let error = close_public_refused(&client, "ghost", "no such cluster").await;
    assert!(error.is_resource_not_found_exception(), "{error:?}");
}

#[tokio::test]
async fn list_clusters_pages_by_100_like_eks() {
    let eks = double(EksOptions::default()).await;
    for n in 0..250 {
        eks.add_cluster(ClusterSpec::new(&format!("cluster-{n:03}")));
    }
    let client = client(&eks);

    let names: Vec<String> = client
        .list_clusters()
        .into_paginator()
        .items()
        .send()
        .collect::<Result<Vec<String>, _>>()
        .await
        .expect("ListClusters pages");
    assert_eq!(names.len(), 250);
    assert_eq!(names[0], "cluster-000");
    assert_eq!(names[249], "cluster-249");
    assert_eq!(
        eks.requests_for("ListClusters").len(),
        3,
        "pages of 100, 100, 50"
    );

    let page = client
        .list_clusters()
        .max_results(7)
        .send()
        .await
        .expect("ListClusters with maxResults");
    assert_eq!(page.clusters().len(), 7);
    let next = client
        .list_clusters()
        .max_results(7)
        .next_token(page.next_token().expect("more pages"))
        .send()
        .await
        .expect("second page");
    assert_eq!(next.clusters()[0], "cluster-007");

    let error = client
        .list_clusters()
        .max_results(101)
        .send()
        .await
        .expect_err("maxResults above 100");
    assert_eq!(
        error.into_service_error().code(),
        Some("InvalidParameterException")
    );
}

#[tokio::test]
async fn an_update_stays_in_progress_and_changes_nothing_until_it_finishes() {
    let (eks, client) = prod_double(EksOptions::default()).await;

    let update = close_public(&client, "prod")
        .await
        .expect("UpdateClusterConfig")
        .update
        .expect("update");
    let update_id = update.id().expect("id").to_owned();
    assert_eq!(update.status().map(|s| s.as_str()), Some("InProgress"));
    assert_eq!(
        update.r#type().map(|t| t.as_str()),
        Some("EndpointAccessUpdate")
    );
    let params: Vec<(UpdateParamType, &str)> = update
        .params()
        .iter()
        .map(|param| {
            (
                param.r#type().expect("type").clone(),
                param.value().expect("value"),
            )
        })
        .collect();
    assert_eq!(
        params,
        [
            (UpdateParamType::EndpointPublicAccess, "false"),
            (UpdateParamType::EndpointPrivateAccess, "true"),
            (UpdateParamType::PublicAccessCidrs, r#"["0.0.0.0/0"]"#),
        ]
    );
    assert!(update.errors().is_empty());

    // Nothing has changed yet, and the cluster says UPDATING (the default behaviour).
    let cluster = describe_cluster(&client, "prod").await;
    assert_eq!(cluster.status().map(|s| s.as_str()), Some("UPDATING"));
    assert!(
        cluster
            .resources_vpc_config()
            .expect("vpc")
            .endpoint_public_access()
    );

    assert_eq!(
        listed_updates(&client, "prod").await,
        std::slice::from_ref(&update_id)
    );
    let described = describe_update(&client, "prod", &update_id).await;
    assert_eq!(described.status().map(|s| s.as_str()), Some("InProgress"));

    assert!(eks.finish_update("prod", &update_id));
    let described = describe_update(&client, "prod", &update_id).await;
    assert_eq!(described.status().map(|s| s.as_str()), Some("Successful"));
    let cluster = eks.cluster("prod").expect("cluster");
    assert_eq!(cluster.status, ClusterStatus::Active);
    assert!(!cluster.public);
    assert!(cluster.private);
    assert_eq!(
        cluster.cidrs,
        ["0.0.0.0/0"],
        "EKS reports 0.0.0.0/0 with public access off"
    );
    assert!(!eks.finish_update("prod", &update_id), "already finished");
}

#[tokio::test]
async fn a_second_update_while_one_runs_is_resource_in_use_even_when_the_cluster_says_active() {
    let options = api_updates(UpdateBehaviour {
        status_during: StatusDuringUpdate::Active,
        ..UpdateBehaviour::default()
    });
    let (eks, client) = prod_double(options).await;

    let first_id = close_public_id(&client, "prod", "first update").await;
    assert_eq!(
        eks.cluster("prod").expect("cluster").status,
        ClusterStatus::Active
    );

    let error = update(&client, "prod", vpc(None, None, Some(&["10.0.0.0/8"])))
        .await
        .expect_err("an update is running")
        .into_service_error();
    match &error {
        UpdateClusterConfigError::ResourceInUseException(in_use) => {
            assert_eq!(in_use.cluster_name(), Some("prod"));
        }
        other => panic!("expected ResourceInUseException, got {other:?}"),
    }
    assert_eq!(
        error.message(),
        Some(format!("Cannot EndpointAccessUpdate because cluster prod currently has update {first_id} in progress").as_str())
    );
    let refused = &eks.requests_for("UpdateClusterConfig")[1];
    assert_eq!(refused.status, Some(409));
}

#[tokio::test]
async fn someone_elses_update_blocks_ours_and_a_failed_update_changes_nothing() {
    let eks = double(EksOptions::default()).await;
    eks.add_cluster(ClusterSpec::new("prod").private(true));
    let theirs = eks.start_update(
        "prod",
        EndpointChange {
            cidrs: Some(vec!["198.51.100.0/24".to_owned()]),
            ..EndpointChange::default()
        },
        UpdateBehaviour {
            outcome: Outcome::Failed,
            ..UpdateBehaviour::default()
        },
    );
    let client = client(&eks);

    let error = close_public(&client, "prod")
        .await
        .expect_err("their update runs");
    let message = error.into_service_error().message().map(str::to_owned);
    assert_eq!(
        message,
        Some(format!(
            "Cannot EndpointAccessUpdate because cluster prod currently has update {theirs} in progress"
        ))
    );

    assert!(eks.finish_update("prod", &theirs));
    let described = describe_update(&client, "prod", &theirs).await;
    assert_eq!(described.status().map(|s| s.as_str()), Some("Failed"));
    assert_eq!(described.errors().len(), 1);
    let cluster = eks.cluster("prod").expect("cluster");
    assert_eq!(
        cluster.cidrs,
        ["0.0.0.0/0"],
        "a failed update changes nothing"
    );
    assert_eq!(cluster.status, ClusterStatus::Active);

    let ours = close_public(&client, "prod")
        .await
        .expect("now ours goes through");
    assert!(ours.update.is_some());
    let updates = eks.updates("prod");
    assert_eq!(updates.len(), 2);
    assert!(!updates[0].started_through_api);
    assert!(updates[1].started_through_api);
}

#[tokio::test]
async fn an_update_with_a_duration_finishes_by_itself() {
    let options = api_updates(UpdateBehaviour {
        finish: Finish::After(Duration::from_millis(300)),
        ..UpdateBehaviour::default()
    });
    let (eks, client) = prod_double(options).await;
    close_public(&client, "prod").await.expect("update");
    assert_eq!(eks.updates("prod")[0].status, UpdateStatus::InProgress);

    // The passing of time is what is under test here.
    tokio::time::sleep(Duration::from_millis(400)).await;
    let cluster = describe_cluster(&client, "prod").await;
    let vpc = cluster.resources_vpc_config.expect("vpc");
    assert!(!vpc.endpoint_public_access());
    assert_eq!(eks.updates("prod")[0].status, UpdateStatus::Successful);
}

#[tokio::test]
async fn a_creating_cluster_refuses_updates_until_it_is_active() {
    let eks = double(EksOptions::default()).await;
    eks.add_cluster(ClusterSpec::new("new").status(ClusterStatus::Creating));
    eks.add_cluster(ClusterSpec::new("soon").creating_for(Duration::from_millis(200)));
    let client = client(&eks);

    let error = close_public(&client, "new")
        .await
        .expect_err("still creating");
    let error = error.into_service_error();
    assert!(error.is_resource_in_use_exception(), "{error:?}");
    assert_eq!(
        error.message(),
        Some("Cannot EndpointAccessUpdate because cluster new is in CREATING status")
    );
    let described = describe_cluster(&client, "new").await;
    assert_eq!(
        described.endpoint(),
        None,
        "no API server address while creating"
    );

    eks.set_status("new", ClusterStatus::Active);
    close_public(&client, "new").await.expect("active now");

    assert_eq!(
        eks.cluster("soon").expect("cluster").status,
        ClusterStatus::Creating
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        eks.cluster("soon").expect("cluster").status,
        ClusterStatus::Active
    );
}

#[tokio::test]
async fn requests_eks_refuses_are_invalid_parameter_with_eks_wording() {
    let (eks, client) = prod_double(EksOptions::default()).await;

    let no_op = update(&client, "prod", vpc(Some(true), Some(false), None)).await;
    assert_eq!(
        invalid_parameter_message(no_op),
        "Cluster is already at the desired configuration with endpointPrivateAccess: false , \
         endpointPublicAccess: true, and Public Endpoint Restrictions: [0.0.0.0/0]"
    );

    let both_off = update(&client, "prod", vpc(Some(false), None, None)).await;
    assert_eq!(
        invalid_parameter_message(both_off),
        "Both private and public endpoint access cannot be false"
    );

    let two_kinds = client
        .update_cluster_config()
        .name("prod")
        .resources_vpc_config(vpc(Some(false), Some(true), None))
        .logging(
            Logging::builder()
                .cluster_logging(
                    LogSetup::builder()
                        .types(LogType::Audit)
                        .enabled(true)
                        .build(),
                )
                .build(),
        )
        .send()
        .await;
    assert_eq!(
        invalid_parameter_message(two_kinds),
        "Only one type of update can be allowed."
    );

    let bad_cidrs = update(
        &client,
        "prod",
        vpc(None, None, Some(&["10.0.0.0/8", "10.0.0.300/32", "::/0"])),
    )
    .await;
    assert_eq!(
        invalid_parameter_message(bad_cidrs),
        "The following CIDRs are invalid in publicAccessCidrs: [10.0.0.300/32, ::/0]"
    );

    let many: Vec<String> = (0..41).map(|n| format!("192.0.2.{n}/32")).collect();
    let many: Vec<&str> = many.iter().map(String::as_str).collect();
    let too_many = update(&client, "prod", vpc(None, None, Some(&many))).await;
    assert_eq!(
        invalid_parameter_message(too_many),
        "The following CIDRs are invalid in publicAccessCidrs: [192.0.2.40/32]"
    );

    assert!(
        eks.updates("prod").is_empty(),
        "no refused request starts an update"
    );
    let statuses: Vec<Option<u16>> = eks.requests().iter().map(|r| r.status).collect();
    assert_eq!(statuses, vec![Some(400); 5]);
}

#[tokio::test]
async fn omitted_settings_keep_their_values_and_no_op_messages_show_the_real_values() {
    let eks = double(EksOptions::default()).await;
    eks.add_cluster(
        ClusterSpec::new("prod")
            .private(true)
            .cidrs(["203.0.113.7/32", "198.51.100.0/24"]),
    );
    let client = client(&eks);

    // Same CIDRs in another order are still no change.
    let no_op = update(
        &client,
        "prod",
        vpc(
            Some(true),
            None,
            Some(&["198.51.100.0/24", "203.0.113.7/32"]),
        ),
    )
    .await;
    assert_eq!(
        invalid_parameter_message(no_op),
        "Cluster is already at the desired configuration with endpointPrivateAccess: true , \
         endpointPublicAccess: true, and Public Endpoint Restrictions: [203.0.113.7/32, 198.51.100.0/24]"
    );

    let only_cidrs = update(&client, "prod", vpc(None, None, Some(&["10.0.0.0/8"])))
        .await
        .expect("update");
    let update = only_cidrs.update.expect("update");
    let params: Vec<&str> = update.params().iter().filter_map(|p| p.value()).collect();
    assert_eq!(params, ["true", "true", r#"["10.0.0.0/8"]"#]);
    let id = update.id.expect("id");
    eks.finish_update("prod", &id);
    let cluster = eks.cluster("prod").expect("cluster");
    assert!(cluster.public && cluster.private);
    assert_eq!(cluster.cidrs, ["10.0.0.0/8"]);
}

#[tokio::test]
async fn a_retried_request_with_the_same_token_gets_the_same_update() {
    let (eks, client) = prod_double(EksOptions::default()).await;
    let send = || {
        client
            .update_cluster_config()
            .name("prod")
            .client_request_token("revert-1")
            .resources_vpc_config(vpc(Some(false), Some(true), None))
            .send()
    };
    let first = update_id(send().await.expect("first"));
    let again = update_id(send().await.expect("replay"));
    assert_eq!(first, again);
    assert_eq!(eks.updates("prod").len(), 1);
    assert_eq!(
        eks.updates("prod")[0].client_request_token.as_deref(),
        Some("revert-1")
    );
}

#[tokio::test]
async fn throttling_and_server_errors_are_retried_by_the_sdk() {
    let (eks, client) = prod_double(EksOptions::default()).await;
    eks.inject(
        "UpdateClusterConfig",
        vec![Fault::Throttle, Fault::ServiceUnavailable],
    );
    eks.inject("DescribeCluster", vec![Fault::ServerError]);

    close_public(&client, "prod")
        .await
        .expect("third attempt succeeds");
    let statuses = statuses_of(&eks, "UpdateClusterConfig");
    assert_eq!(statuses, [Some(429), Some(503), Some(200)]);
    assert_eq!(
        eks.updates("prod").len(),
        1,
        "faults are answered before any state change"
    );

    client
        .describe_cluster()
        .name("prod")
        .send()
        .await
        .expect("second attempt succeeds");
    assert_eq!(eks.requests_for("DescribeCluster").len(), 2);
}

#[tokio::test]
async fn without_retries_the_error_codes_reach_the_caller() {
    let eks = double(EksOptions::default()).await;
    eks.add_cluster(ClusterSpec::new("prod"));
    let client = client_with(&eks, RetryConfig::disabled());
    eks.inject(
        "UpdateClusterConfig",
        vec![
            Fault::Throttle,
            Fault::AccessDenied,
            Fault::Error {
                status: 400,
                code: "InvalidRequestException".to_owned(),
                message: "custom".to_owned(),
            },
        ],
    );

    let throttled = close_public_refused(&client, "prod", "throttled").await;
    assert!(throttled.is_throttling_exception(), "{throttled:?}");
    assert_eq!(throttled.message(), Some("Rate exceeded"));

    let denied = close_public_refused(&client, "prod", "denied").await;
    assert_eq!(denied.code(), Some("AccessDeniedException"));
    assert!(
        denied.message().is_some_and(|m| m.contains(
            "eks:UpdateClusterConfig on resource: arn:aws:eks:eu-west-1:111122223333:cluster/prod"
        )),
        "{denied:?}"
    );

    let custom = close_public_refused(&client, "prod", "custom").await;
    assert!(custom.is_invalid_request_exception(), "{custom:?}");
}

#[tokio::test]
async fn a_hung_call_times_out_and_the_retry_succeeds() {
    let eks = double(EksOptions::default()).await;
    eks.add_cluster(ClusterSpec::new("prod"));
    eks.inject("DescribeCluster", vec![Fault::Hang]);
    let config = aws_sdk_eks::config::Builder::from(&eks.sdk_config())
        .retry_config(
            RetryConfig::standard()
                .with_max_attempts(2)
                .with_initial_backoff(Duration::from_millis(1)),
        )
        .timeout_config(
            TimeoutConfig::builder()
                .operation_attempt_timeout(Duration::from_millis(300))
                .build(),
        )
        .build();
    let client = Client::from_conf(config);

    let started = Instant::now();
    client
        .describe_cluster()
        .name("prod")
        .send()
        .await
        .expect("second attempt answers");
    assert!(started.elapsed() >= Duration::from_millis(300));
    let statuses = statuses_of(&eks, "DescribeCluster");
    assert_eq!(statuses, [None, Some(200)]);
    assert_eq!(
        eks.requests_for("DescribeCluster")[0].fault,
        Some(Fault::Hang)
    );
}

#[tokio::test]
async fn delayed_answers_are_still_answers() {
    let eks = double(EksOptions::default()).await;
    eks.add_cluster(ClusterSpec::new("prod"));
    eks.inject(
        "ListClusters",
        vec![Fault::Delay(Duration::from_millis(100))],
    );
    let started = Instant::now();
    let listed = client(&eks)
        .list_clusters()
        .send()
        .await
        .expect("ListClusters");
    assert!(started.elapsed() >= Duration::from_millis(100));
    assert_eq!(listed.clusters(), ["prod"]);
}

#[tokio::test]
async fn tags_are_listed_by_cluster_arn() {
    let eks = double(EksOptions::default()).await;
    eks.add_cluster(ClusterSpec::new("prod").tag("eks-endpoint-guard/allow-public", "true"));
    let client = client(&eks);

    let tags = client
        .list_tags_for_resource()
        .resource_arn(eks.cluster_arn("prod"))
        .send()
        .await
        .expect("ListTagsForResource");
    assert_eq!(
        tags.tags()
            .and_then(|t| t.get("eks-endpoint-guard/allow-public"))
            .map(String::as_str),
        Some("true")
    );
    assert_eq!(
        eks.requests_for("ListTagsForResource")[0]
            .cluster
            .as_deref(),
        Some("prod")
    );

    let missing = client
        .list_tags_for_resource()
        .resource_arn(eks.cluster_arn("ghost"))
        .send()
        .await
        .expect_err("unknown ARN")
        .into_service_error();
    assert!(missing.is_not_found_exception(), "{missing:?}");
}

#[tokio::test]
async fn wait_for_requests_resolves_when_the_calls_arrive() {
    let options = answering_after(Duration::from_millis(20));
    let (eks, client) = prod_double(options).await;

    let caller = tokio::spawn(async move {
        close_public(&client, "prod")
            .await
            .map(|_| ())
            .map_err(|e| DisplayErrorContext(e).to_string())
    });
    let seen = eks
        .wait_for_request(
            "UpdateClusterConfig",
            |request| request.cluster.as_deref() == Some("prod"),
            WAIT,
        )
        .await
        .expect("the update arrives");
    assert_eq!(
        seen.body["resourcesVpcConfig"]["endpointPublicAccess"],
        json!(false)
    );
    assert!(
        seen.body["clientRequestToken"].is_string(),
        "the SDK fills in the token"
    );
    // Recorded after its effect: the update is already there.
    assert_eq!(eks.updates("prod").len(), 1);
    caller.await.expect("task").expect("update succeeds");

    let timed_out = eks
        .wait_for_requests("DescribeCluster", 1, Duration::from_millis(50))
        .await;
    let message = timed_out.expect_err("nobody describes").to_string();
    assert!(message.contains("UpdateClusterConfig prod"), "{message}");
}

#[tokio::test]
#[should_panic(expected = "no operation \"DescribeClusters\"")]
async fn a_misspelt_operation_name_fails_loudly() {
    let eks = double(EksOptions::default()).await;
    eks.inject("DescribeClusters", vec![Fault::Throttle]);
}

#[tokio::test]
async fn a_sweep_of_hundreds_of_clusters_runs_concurrently() {
    let options = answering_after(Duration::from_millis(20));
    let eks = double(options).await;
    for n in 0..300 {
        eks.add_cluster(ClusterSpec::new(&format!("c{n}")));
    }
    let client = client(&eks);
    let started = Instant::now();
    let mut sweep = tokio::task::JoinSet::new();
    for n in 0..300 {
        let client = client.clone();
        sweep.spawn(async move { client.describe_cluster().name(format!("c{n}")).send().await });
    }
    while let Some(result) = sweep.join_next().await {
        result.expect("task").expect("DescribeCluster");
    }
    // One after another this would take 300 x 20 ms = 6 s.
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "took {:?}",
        started.elapsed()
    );
    assert_eq!(eks.requests_for("DescribeCluster").len(), 300);
}

#[tokio::test]
async fn unsupported_routes_are_recorded_and_refused() {
    let eks = double(EksOptions::default()).await;
    let error = client(&eks)
        .create_cluster()
        .name("new")
        .role_arn("arn:aws:iam::111122223333:role/r")
        .resources_vpc_config(VpcConfigRequest::builder().build())
        .send()
        .await
        .expect_err("not implemented");
    assert_eq!(
        error.into_service_error().code(),
        Some("UnknownOperationException")
    );
    assert_eq!(eks.requests()[0].operation, UNSUPPORTED_OPERATION);
}

#[tokio::test]
async fn the_behaviour_of_api_updates_can_change_during_a_test() {
    let (eks, client) = prod_double(EksOptions::default()).await;
    eks.set_api_updates(UpdateBehaviour {
        status_during: StatusDuringUpdate::Active,
        finish: Finish::Manual,
        outcome: Outcome::Failed,
    });
    let id = close_public_id(&client, "prod", "update").await;
    assert_eq!(
        eks.cluster("prod").expect("cluster").status,
        ClusterStatus::Active
    );
    eks.finish_update("prod", &id);
    assert_eq!(eks.updates("prod")[0].status, UpdateStatus::Failed);
    assert!(
        eks.cluster("prod").expect("cluster").public,
        "a failed update changes nothing"
    );
}

/// Tests and benchmarks spawn these futures onto tasks, so they must be `Send`.
#[test]
fn the_async_api_can_be_spawned() {
    fn spawnable<F: std::future::Future + Send + 'static>(_: F) {}
    fn borrowed_send<F: std::future::Future + Send>(_: F) {}
    spawnable(EksDouble::start(EksOptions::default()));
    spawnable(crate::runtime::RuntimeApi::start());
    spawnable(crate::moto::Moto::start());
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let eks = double(EksOptions::default()).await;
        borrowed_send(eks.wait_for_requests("DescribeCluster", 1, WAIT));
        borrowed_send(eks.wait_for_request("DescribeCluster", |_| true, WAIT));
        let api = crate::runtime::RuntimeApi::start().await.expect("emulator");
        borrowed_send(api.invoke(Vec::new(), SystemTime::now()));
        borrowed_send(api.wait_for_first_poll());
        borrowed_send(api.wait_for_polls(1));
        borrowed_send(api.init_error());
    });
}

#[tokio::test]
async fn the_first_revert_can_fail_with_errors_and_the_retry_succeed() {
    let subnet_gone = UpdateError::new(
        UpdateErrorCode::SubnetNotFound,
        "The subnet ID 'subnet-0abc' does not exist",
    )
    .resource_ids(["subnet-0abc"]);
    let (eks, client) = prod_double(EksOptions::default()).await;
    eks.fail_next_api_updates("prod", 1, vec![subnet_gone.clone()]);

    let first = close_public_id(&client, "prod", "the revert is accepted").await;
    let running = describe_update(&client, "prod", &first).await;
    assert_eq!(running.status(), Some(&SdkUpdateStatus::InProgress));
    assert!(running.errors().is_empty(), "no errors while it runs");

    assert!(eks.finish_update("prod", &first));
    let failed = describe_update(&client, "prod", &first).await;
    assert_eq!(failed.status(), Some(&SdkUpdateStatus::Failed));
    let errors = failed.errors();
    assert_eq!(errors.len(), 1);
    assert_eq!(errors[0].error_code(), Some(&ErrorCode::SubnetNotFound));
    assert_eq!(
        errors[0].error_message(),
        Some("The subnet ID 'subnet-0abc' does not exist")
    );
    assert_eq!(errors[0].resource_ids(), ["subnet-0abc"]);
    let cluster = eks.cluster("prod").expect("cluster");
    assert!(cluster.public, "a failed update keeps the old settings");
    assert_eq!(cluster.status, ClusterStatus::Active);
    assert_eq!(eks.updates("prod")[0].errors, [subnet_gone]);

    // The retry is a new update, which ends as the API updates' behaviour says.
    let retry = close_public_id(&client, "prod", "the retry is accepted").await;
    assert_ne!(retry, first);
    assert!(eks.finish_update("prod", &retry));
    let succeeded = describe_update(&client, "prod", &retry).await;
    assert_eq!(succeeded.status(), Some(&SdkUpdateStatus::Successful));
    assert!(succeeded.errors().is_empty());
    assert!(!eks.cluster("prod").expect("cluster").public);
}

#[tokio::test]
async fn scripted_ends_apply_in_order_and_updates_can_be_cancelled_with_errors() {
    let (eks, client) = prod_double(EksOptions::default()).await;
    let conflict = UpdateError::new(
        UpdateErrorCode::ConfigurationConflict,
        "Another operation changed the cluster",
    );
    let denied = UpdateError::new(UpdateErrorCode::AccessDenied, "Access denied to the VPC");
    eks.end_next_api_updates(
        "prod",
        [
            UpdateEnd::cancelled(vec![conflict.clone()]),
            UpdateEnd::failed(vec![denied.clone()]),
        ],
    );

    let mut ids = Vec::new();
    for _ in 0..3 {
        let id = close_public_id(&client, "prod", "update").await;
        assert!(eks.finish_update("prod", &id));
        ids.push(id);
    }
    let ends: Vec<(UpdateStatus, Vec<UpdateError>)> = eks
        .updates("prod")
        .into_iter()
        .map(|update| (update.status, update.errors))
        .collect();
    assert_eq!(
        ends,
        [
            (UpdateStatus::Cancelled, vec![conflict]),
            (UpdateStatus::Failed, vec![denied]),
            (UpdateStatus::Successful, vec![]),
        ]
    );
    let cancelled = describe_update(&client, "prod", &ids[0]).await;
    assert_eq!(cancelled.status(), Some(&SdkUpdateStatus::Cancelled));
    assert_eq!(
        cancelled.errors()[0].error_code(),
        Some(&ErrorCode::ConfigurationConflict)
    );

    // Someone else's update, ended by the test with errors of its choosing.
    let theirs = eks.start_update(
        "prod",
        EndpointChange::open_to_internet(),
        UpdateBehaviour::default(),
    );
    let vpc_gone = UpdateError::new(UpdateErrorCode::VpcIdNotFound, "vpc-0abc is gone")
        .resource_ids(["vpc-0abc"]);
    assert!(eks.finish_update_with("prod", &theirs, UpdateEnd::failed(vec![vpc_gone])));
    let failed = describe_update(&client, "prod", &theirs).await;
    assert_eq!(
        failed.errors()[0].error_code(),
        Some(&ErrorCode::VpcIdNotFound)
    );
    assert_eq!(failed.errors()[0].resource_ids(), ["vpc-0abc"]);
    assert!(
        !eks.cluster("prod").expect("cluster").public,
        "their failed update did not open it"
    );
}

#[tokio::test]
async fn a_platform_update_refuses_updates_that_no_listing_shows() {
    let (eks, client) = prod_double(EksOptions::default()).await;
    let platform = eks.start_platform_update("prod", Finish::Manual);

    let refused = close_public_refused(&client, "prod", "AWS is working on the cluster").await;
    assert!(refused.is_resource_in_use_exception(), "{refused:?}");
    assert_eq!(
        refused.message(),
        Some(
            format!(
                "Cannot EndpointAccessUpdate because cluster prod currently has update {platform} in progress"
            )
            .as_str()
        )
    );
    assert!(listed_updates(&client, "prod").await.is_empty());
    let described = describe_cluster(&client, "prod").await;
    assert_eq!(described.status().map(|s| s.as_str()), Some("ACTIVE"));
    let not_found = describe_update_refused(
        &client,
        "prod",
        &platform,
        "not an update anyone can describe",
    )
    .await;
    assert!(not_found.is_resource_not_found_exception(), "{not_found:?}");
    assert!(eks.updates("prod").is_empty());

    assert!(eks.finish_update("prod", &platform), "lifted by the test");
    close_public(&client, "prod")
        .await
        .expect("accepted once the platform update is over");
    assert!(
        eks.cluster("prod").expect("cluster").public,
        "it changed nothing"
    );
}

#[tokio::test]
async fn a_platform_update_with_a_duration_lifts_by_itself() {
    let (eks, client) = prod_double(EksOptions::default()).await;
    let platform = eks.start_platform_update("prod", Finish::After(Duration::from_millis(200)));
    close_public(&client, "prod")
        .await
        .expect_err("refused while it runs");

    // The passing of time is what is under test here.
    tokio::time::sleep(Duration::from_millis(300)).await;
    close_public(&client, "prod")
        .await
        .expect("accepted after its duration");
    assert!(
        !eks.finish_update("prod", &platform),
        "it had already ended by itself"
    );
}

#[tokio::test]
async fn list_updates_can_lag_behind_a_new_update() {
    let options = EksOptions {
        list_updates_lag: Duration::from_millis(300),
        ..EksOptions::default()
    };
    let (_eks, client) = prod_double(options).await;

    let id = close_public_id(&client, "prod", "update").await;
    assert!(
        listed_updates(&client, "prod").await.is_empty(),
        "not listed yet"
    );
    let described = describe_update(&client, "prod", &id).await;
    assert_eq!(described.status(), Some(&SdkUpdateStatus::InProgress));
    let refused = update(&client, "prod", vpc(None, None, Some(&["10.0.0.0/8"])))
        .await
        .expect_err("the unlisted update still blocks")
        .into_service_error();
    assert!(refused.is_resource_in_use_exception(), "{refused:?}");

    // The passing of time is what is under test here.
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(listed_updates(&client, "prod").await, [id]);
}

#[tokio::test]
async fn clusters_live_in_the_region_their_requests_are_signed_for() {
    let eks = double(EksOptions::default()).await;
    eks.add_cluster(ClusterSpec::new("prod"));
    eks.add_cluster(
        ClusterSpec::new("prod")
            .region("eu-central-1")
            .private(true),
    );
    eks.in_region("eu-central-1")
        .add_cluster(ClusterSpec::new("berlin").tag("team", "eu"));
    let home = client(&eks);
    let frankfurt = Client::new(&eks.sdk_config_in("eu-central-1"));

    assert_eq!(cluster_names(&home).await, ["prod"]);
    assert_eq!(cluster_names(&frankfurt).await, ["berlin", "prod"]);
    let recorded = eks.requests_for("ListClusters");
    assert_eq!(recorded[1].signing_region.as_deref(), Some("eu-central-1"));

    let described = describe_cluster(&frankfurt, "prod").await;
    assert_eq!(
        described.arn(),
        Some("arn:aws:eks:eu-central-1:111122223333:cluster/prod")
    );
    assert!(
        described
            .endpoint()
            .is_some_and(|url| url.ends_with(".eu-central-1.eks.amazonaws.com")),
        "{described:?}"
    );
    assert!(
        described
            .resources_vpc_config()
            .expect("vpc")
            .endpoint_private_access(),
        "the Frankfurt prod, not the one at home"
    );

    let elsewhere = describe_cluster_refused(&home, "berlin", "berlin is in another region").await;
    assert!(elsewhere.is_resource_not_found_exception(), "{elsewhere:?}");
    let elsewhere = close_public_refused(&home, "berlin", "berlin is in another region").await;
    assert!(elsewhere.is_resource_not_found_exception(), "{elsewhere:?}");
    let elsewhere = home
        .list_updates()
        .name("berlin")
        .send()
        .await
        .expect_err("berlin is in another region")
        .into_service_error();
    assert!(elsewhere.is_resource_not_found_exception(), "{elsewhere:?}");

    // Closing the Frankfurt prod leaves the prod at home alone.
    let id = close_public_id(&frankfurt, "prod", "update in Frankfurt").await;
    assert_eq!(
        listed_updates(&frankfurt, "prod").await,
        std::slice::from_ref(&id)
    );
    assert!(listed_updates(&home, "prod").await.is_empty());
    let elsewhere =
        describe_update_refused(&home, "prod", &id, "the update is of the Frankfurt prod").await;
    assert!(elsewhere.is_resource_not_found_exception(), "{elsewhere:?}");
    assert!(eks.updates("prod").is_empty());
    assert_eq!(eks.updates_in("eu-central-1", "prod").len(), 1);
    assert!(eks.in_region("eu-central-1").finish_update("prod", &id));
    assert!(
        !eks.cluster_in("eu-central-1", "prod")
            .expect("cluster")
            .public
    );
    assert!(eks.cluster("prod").expect("cluster").public);

    let tags = frankfurt
        .list_tags_for_resource()
        .resource_arn(eks.in_region("eu-central-1").cluster_arn("berlin"))
        .send()
        .await
        .expect("tags in Frankfurt");
    assert_eq!(
        tags.tags().and_then(|t| t.get("team")).map(String::as_str),
        Some("eu")
    );
    let elsewhere = home
        .list_tags_for_resource()
        .resource_arn(eks.in_region("eu-central-1").cluster_arn("berlin"))
        .send()
        .await
        .expect_err("an ARN of another region")
        .into_service_error();
    assert!(elsewhere.is_not_found_exception(), "{elsewhere:?}");

    let regions: Vec<(String, String)> = eks
        .clusters()
        .into_iter()
        .map(|cluster| (cluster.region, cluster.name))
        .collect();
    assert_eq!(
        regions,
        [
            ("eu-central-1".to_owned(), "berlin".to_owned()),
            ("eu-central-1".to_owned(), "prod".to_owned()),
            ("eu-west-1".to_owned(), "prod".to_owned()),
        ]
    );
    assert_eq!(eks.in_region("eu-central-1").clusters().len(), 2);
    assert!(eks.in_region("eu-central-1").delete_cluster("prod"));
    assert!(
        eks.cluster("prod").is_some(),
        "only the Frankfurt prod is gone"
    );
}

#[tokio::test]
async fn requests_signed_with_a_mapped_key_see_that_accounts_clusters() {
    const MEMBER: &str = "222233334444";
    let eks = double(EksOptions::default()).await;
    eks.add_cluster(ClusterSpec::new("prod"));
    eks.add_cluster(ClusterSpec::new("member-prod").account(MEMBER));
    eks.in_account(MEMBER)
        .in_region("eu-central-1")
        .add_cluster(ClusterSpec::new("member-dublin"));
    eks.map_access_keys(|key| key.starts_with("ASIA"), MEMBER);
    eks.map_access_key("ASIAOTHERACCOUNT0001", "333344445555");
    let own = client(&eks);
    let member = client_signed(&eks, "eu-west-1", "ASIAMEMBERROLE000001");

    assert_eq!(cluster_names(&own).await, ["prod"]);
    assert_eq!(cluster_names(&member).await, ["member-prod"]);
    assert_eq!(
        cluster_names(&client_signed(&eks, "eu-central-1", "ASIAMEMBERROLE000002")).await,
        ["member-dublin"]
    );
    assert!(
        cluster_names(&client_signed(&eks, "eu-west-1", "ASIAOTHERACCOUNT0001"))
            .await
            .is_empty(),
        "an exact key wins over a test on keys"
    );
    let accounts =
        list_clusters_accounts(&eks, &[(DEFAULT_ACCOUNT, "default"), (MEMBER, "member")]);
    assert_eq!(accounts, ["default", "member", "member", "other"]);

    let described = describe_cluster(&member, "member-prod").await;
    assert_eq!(
        (described.arn(), described.role_arn()),
        (
            Some("arn:aws:eks:eu-west-1:222233334444:cluster/member-prod"),
            Some("arn:aws:iam::222233334444:role/eks-cluster-role")
        ),
        "the cluster and its role are the member account's"
    );
    let not_mine = describe_cluster_refused(&own, "member-prod", "another account's cluster").await;
    assert!(not_mine.is_resource_not_found_exception(), "{not_mine:?}");

    eks.inject("UpdateClusterConfig", vec![Fault::AccessDenied]);
    let denied = close_public_refused(&member, "member-prod", "denied").await;
    assert!(
        denied.message().is_some_and(|m| m.contains(
            "arn:aws:sts::222233334444:assumed-role/eks-endpoint-guard/eks-endpoint-guard \
             is not authorized to perform: eks:UpdateClusterConfig on resource: \
             arn:aws:eks:eu-west-1:222233334444:cluster/member-prod"
        )),
        "{denied:?}"
    );
    close_public(&member, "member-prod")
        .await
        .expect("the revert in the member account");
    assert_eq!(eks.in_account(MEMBER).updates("member-prod").len(), 1);
    let snapshot = eks
        .in_account(MEMBER)
        .cluster("member-prod")
        .expect("cluster");
    assert_eq!(
        (snapshot.account.as_str(), snapshot.region.as_str()),
        (MEMBER, "eu-west-1")
    );
}

#[tokio::test]
async fn unknown_keys_are_resolved_once_each_after_the_mappings() {
    const MAPPED: &str = "222233334444";
    const RESOLVED: &str = "444455556666";
    let eks = double(EksOptions::default()).await;
    eks.add_cluster(ClusterSpec::new("prod"));
    eks.add_cluster(ClusterSpec::new("mapped").account(MAPPED));
    eks.add_cluster(ClusterSpec::new("resolved").account(RESOLVED));
    let asked = Arc::new(Mutex::new(Vec::<String>::new()));
    let asked_by_double = Arc::clone(&asked);
    eks.resolve_keys_with(move |key| {
        asked_by_double.lock().expect("lock").push(key.clone());
        async move {
            // Slow enough that the concurrent requests below arrive while it runs.
            tokio::time::sleep(Duration::from_millis(100)).await;
            key.starts_with("ASIARESOLVED").then(|| RESOLVED.to_owned())
        }
    });
    eks.map_access_key("ASIAMAPPED0000000001", MAPPED);
    eks.map_access_keys(|key| key.starts_with("ASIATESTED"), MAPPED);

    let resolved = client_signed(&eks, "eu-west-1", "ASIARESOLVED00000001");
    let together = tokio::join!(
        cluster_names(&resolved),
        cluster_names(&resolved),
        cluster_names(&resolved)
    );
    assert_eq!(
        together,
        (
            vec!["resolved".to_owned()],
            vec!["resolved".to_owned()],
            vec!["resolved".to_owned()]
        )
    );
    assert_eq!(cluster_names(&resolved).await, ["resolved"]);
    assert_eq!(
        cluster_names(&client_signed(&eks, "eu-west-1", "ASIAMAPPED0000000001")).await,
        ["mapped"]
    );
    assert_eq!(
        cluster_names(&client_signed(&eks, "eu-west-1", "ASIATESTED0000000001")).await,
        ["mapped"]
    );
    assert_eq!(
        cluster_names(&client(&eks)).await,
        ["prod"],
        "a key the resolver does not know sees the default account"
    );
    assert_eq!(cluster_names(&client(&eks)).await, ["prod"]);
    assert_eq!(
        *asked.lock().expect("lock"),
        ["ASIARESOLVED00000001", crate::TEST_ACCESS_KEY_ID],
        "once per key, never for mapped keys"
    );
    let labels = [
        (DEFAULT_ACCOUNT, "default"),
        (MAPPED, "mapped"),
        (RESOLVED, "resolved"),
    ];
    let accounts = list_clusters_accounts(&eks, &labels);
    assert_eq!(
        accounts,
        [
            "resolved", "resolved", "resolved", "resolved", "mapped", "mapped", "default",
            "default"
        ]
    );

    // A mapping added later wins over the resolver's answer.
    eks.map_access_key("ASIARESOLVED00000001", DEFAULT_ACCOUNT);
    assert_eq!(cluster_names(&resolved).await, ["prod"]);

    // A new resolver is asked afresh.
    eks.resolve_keys_with(|_key| async { Some(RESOLVED.to_owned()) });
    assert_eq!(cluster_names(&client(&eks)).await, ["resolved"]);
    assert_eq!(
        asked.lock().expect("lock").len(),
        2,
        "the old one is not asked"
    );
}

#[tokio::test]
async fn max_requests_in_window_finds_the_busiest_window() {
    let (eks, client) = prod_double(EksOptions::default()).await;
    eks.add_cluster(ClusterSpec::new("dev"));
    for name in ["prod", "dev", "prod", "prod"] {
        describe_cluster(&client, name).await;
    }
    client
        .list_updates()
        .name("prod")
        .send()
        .await
        .expect("ListUpdates");
    client.list_clusters().send().await.expect("ListClusters");

    let long = Duration::from_secs(3600);
    assert_eq!(eks.max_requests_in_window(Some("prod"), long), 4);
    assert_eq!(eks.max_requests_in_window(Some("dev"), long), 1);
    assert_eq!(eks.max_requests_in_window(None, long), 6);
    assert_eq!(
        eks.max_requests_in_window_where(long, |request| {
            request.operation == "DescribeCluster" && request.cluster.as_deref() == Some("prod")
        }),
        3
    );
    assert_eq!(eks.max_requests_in_window(None, Duration::ZERO), 0);

    // Spread prod's four calls over time, out of log order: 0 ms, 500 ms, 1000 ms, 1100 ms.
    let base = Instant::now();
    let offsets = [1000, 0, 1100, 500];
    {
        let mut state = eks.core.lock();
        let prod = state
            .log
            .iter_mut()
            .filter(|request| request.cluster.as_deref() == Some("prod"));
        for (request, offset) in prod.zip(offsets) {
            request.at = base + Duration::from_millis(offset);
        }
    }
    // [500 ms, 1500 ms) holds three; [0, 1000 ms) only two, since windows are half-open.
    assert_eq!(
        eks.max_requests_in_window(Some("prod"), Duration::from_secs(1)),
        3
    );
    assert_eq!(
        eks.max_requests_in_window(Some("prod"), Duration::from_millis(500)),
        2
    );
    assert_eq!(
        eks.max_requests_in_window(Some("prod"), Duration::from_millis(100)),
        1,
        "1000 and 1100 are exactly 100 ms apart"
    );
    assert_eq!(
        eks.max_requests_in_window(Some("prod"), Duration::from_millis(101)),
        2
    );
}

/// Options under which each account-region is throttled at `rate`.
fn throttled_at(rate: Rate) -> EksOptions {
    EksOptions {
        throttle: Some(rate),
        ..EksOptions::default()
    }
}

#[tokio::test]
async fn the_throttle_refuses_calls_over_the_rate_of_each_account_and_region() {
    // Two calls at once, then one every 1000 s: no token comes back during the test.
    let eks = double(throttled_at(Rate::new(0.001, 2.0))).await;
    eks.add_cluster(ClusterSpec::new("prod"));
    eks.in_region("eu-central-1")
        .add_cluster(ClusterSpec::new("prod"));
    eks.map_access_key("ASIAMEMBERROLE000001", "222233334444");
    eks.in_account("222233334444")
        .add_cluster(ClusterSpec::new("prod"));
    let home = client_with(&eks, RetryConfig::disabled());
    describe_cluster(&home, "prod").await;
    describe_cluster(&home, "prod").await;
    let throttled = describe_cluster_refused(&home, "prod", "over the burst").await;
    assert_eq!(
        throttled.code(),
        Some("ThrottlingException"),
        "{throttled:?}"
    );
    assert_eq!(throttled.message(), Some("Rate exceeded"));

    // Another region and another account have buckets of their own.
    describe_cluster(
        &client_signed(&eks, "eu-central-1", crate::TEST_ACCESS_KEY_ID),
        "prod",
    )
    .await;
    describe_cluster(
        &client_signed(&eks, "eu-west-1", "ASIAMEMBERROLE000001"),
        "prod",
    )
    .await;

    let log = eks.requests();
    let flags: Vec<(bool, Option<u16>, Option<Fault>)> = log
        .iter()
        .map(|request| (request.throttled, request.status, request.fault.clone()))
        .collect();
    assert_eq!(
        flags,
        [
            (false, Some(200), None),
            (false, Some(200), None),
            (true, Some(429), None),
            (false, Some(200), None),
            (false, Some(200), None),
        ]
    );
    assert_eq!(eks.throttled_count(), 1);
    let place = |account: &str, region: &str| (account.to_owned(), region.to_owned());
    assert_eq!(
        eks.request_counts(),
        BTreeMap::from([
            (
                place(DEFAULT_ACCOUNT, "eu-central-1"),
                RequestCount {
                    requests: 1,
                    throttled: 0
                }
            ),
            (
                place(DEFAULT_ACCOUNT, DEFAULT_REGION),
                RequestCount {
                    requests: 3,
                    throttled: 1
                }
            ),
            (
                place("222233334444", DEFAULT_REGION),
                RequestCount {
                    requests: 1,
                    throttled: 0
                }
            ),
        ])
    );
}

/// The throttle answers as [`Fault::Throttle`] does, which the SDK classifies as throttling
/// (`ThrottlingException` is in `aws-runtime`'s `THROTTLING_ERRORS`) and retries; a refused
/// call is not handled, so it changes nothing and takes no injected fault.
#[tokio::test]
async fn throttled_calls_are_retried_by_the_sdk_and_change_nothing() {
    let (eks, client) = prod_double(throttled_at(Rate::new(0.001, 1.0))).await;
    eks.inject("UpdateClusterConfig", vec![Fault::ServerError]);
    describe_cluster(&client, "prod").await;
    let refused = close_public(&client, "prod")
        .await
        .expect_err("every attempt throttled")
        .into_service_error();
    assert!(refused.is_throttling_exception(), "{refused:?}");
    assert_eq!(
        statuses_of(&eks, "UpdateClusterConfig"),
        [Some(429), Some(429), Some(429)],
        "the SDK made its three attempts"
    );
    assert!(eks.updates("prod").is_empty());
    assert_eq!(eks.throttled_count(), 3);

    assert_eq!(eks.throttle(), Some(Rate::new(0.001, 1.0)));
    eks.set_throttle(None);
    assert_eq!(eks.throttle(), None);
    close_public_id(&client, "prod", "the injected 500, then accepted").await;
    assert_eq!(
        statuses_of(&eks, "UpdateClusterConfig"),
        [Some(429), Some(429), Some(429), Some(500), Some(200)]
    );
    assert_eq!(eks.throttled_count(), 3);
}

/// Over time the throttle lets through the rate, not more: calls sent as fast as they are
/// answered for 1 s at 10 a second with a burst of 5 get 15 through (give or take a token
/// at the edges), and the rest are refused.
#[tokio::test]
async fn over_a_second_the_throttle_lets_the_burst_and_the_rate_through() {
    let (eks, _) = prod_double(throttled_at(Rate::new(10.0, 5.0))).await;
    let client = client_with(&eks, RetryConfig::disabled());
    let started = Instant::now();
    let mut answered = 0;
    while started.elapsed() < Duration::from_secs(1) {
        if client.describe_cluster().name("prod").send().await.is_ok() {
            answered += 1;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let counts = eks.request_counts();
    let home = counts[&(DEFAULT_ACCOUNT.to_owned(), DEFAULT_REGION.to_owned())];
    assert!((14..=16).contains(&answered), "{answered} answered");
    assert_eq!(home.requests - home.throttled, answered);
    assert!(home.throttled > 20, "{home:?}");
}
