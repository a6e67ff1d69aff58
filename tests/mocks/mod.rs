//! What the tests on `aws-smithy-mocks` share: a configuration for mocks that
//! answer at once, `prod-eu` as EKS describes it, and the shape of an EKS
//! update.

#![allow(dead_code)] // each test file uses its own part of this module

use std::time::Duration;

use aws_sdk_eks::operation::describe_cluster::DescribeClusterOutput;
use aws_sdk_eks::operation::describe_update::DescribeUpdateOutput;
use aws_sdk_eks::operation::list_updates::ListUpdatesOutput;
use aws_sdk_eks::operation::update_cluster_config::UpdateClusterConfigOutput;
use aws_sdk_eks::types::{Cluster, ClusterStatus, Update, UpdateStatus, VpcConfigResponse};
use aws_smithy_mocks::{Rule, mock};
use eks_endpoint_guard::config::Config;

pub const TOPIC: &str = "arn:aws:sns:eu-west-1:111122223333:alerts";
/// The cluster the sample events name.
pub const CLUSTER_ARN: &str = "arn:aws:eks:eu-west-1:111122223333:cluster/prod-eu";

/// The guard's configuration for mocks that answer at once: fast polls,
/// little time kept back for calls, no pacing to speak of (the pacing tests
/// set the real rate), and `extra` on top.
pub fn config(extra: &[(&str, &str)]) -> Config {
    let mut pairs: Vec<(String, String)> = vec![
        ("ALERT_TOPIC_ARN".into(), TOPIC.into()),
        ("GUARD_POLL_SECONDS".into(), "0.01".into()),
        ("GUARD_CALL_TIMEOUT_SECONDS".into(), "0.1".into()),
        ("GUARD_EKS_CALLS_PER_SECOND".into(), "100".into()),
        ("GUARD_CREATING_POLL_SECONDS".into(), "0.01".into()),
        (
            "AWS_LAMBDA_FUNCTION_NAME".into(),
            "eks-endpoint-guard-fn".into(),
        ),
    ];
    pairs.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    let mut config = Config::from_lookup(|key| {
        pairs
            .iter()
            .rev()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.clone())
    })
    .expect("valid test config");
    config.deadline_margin = Duration::from_millis(50);
    config
}

/// `prod-eu` in `status`: public (from `cidrs`) and not private, or the
/// other way round; with `tags`.
pub fn cluster(
    status: ClusterStatus,
    public: bool,
    cidrs: &[&str],
    tags: &[(&str, &str)],
) -> Cluster {
    let mut builder = Cluster::builder()
        .name("prod-eu")
        .arn(CLUSTER_ARN)
        .status(status)
        .resources_vpc_config(
            VpcConfigResponse::builder()
                .endpoint_public_access(public)
                .endpoint_private_access(!public)
                .set_public_access_cidrs(Some(cidrs.iter().map(|c| c.to_string()).collect()))
                .build(),
        );
    for (k, v) in tags {
        builder = builder.tags(*k, *v);
    }
    builder.build()
}

/// `DescribeCluster`'s answer for this cluster.
pub fn described(cluster: Cluster) -> DescribeClusterOutput {
    DescribeClusterOutput::builder().cluster(cluster).build()
}

/// `DescribeCluster` answering `prod-eu` ACTIVE, public from `cidrs`, with
/// `tags`.
pub fn open_cluster(cidrs: &[&str], tags: &[(&str, &str)]) -> Rule {
    let open = cluster(ClusterStatus::Active, true, cidrs, tags);
    mock!(aws_sdk_eks::Client::describe_cluster).then_output(move || described(open.clone()))
}

/// `UpdateClusterConfig`'s answer: update `id` started, `InProgress`.
pub fn started(id: &str) -> UpdateClusterConfigOutput {
    UpdateClusterConfigOutput::builder()
        .update(
            Update::builder()
                .id(id)
                .status(UpdateStatus::InProgress)
                .build(),
        )
        .build()
}

/// `UpdateClusterConfig` answering every revert with update `id` started.
pub fn revert_starts(id: &'static str) -> Rule {
    mock!(aws_sdk_eks::Client::update_cluster_config).then_output(move || started(id))
}

/// `DescribeUpdate`'s answer for an update in this state.
pub fn update(id: &str, status: UpdateStatus) -> DescribeUpdateOutput {
    DescribeUpdateOutput::builder()
        .update(Update::builder().id(id).status(status).build())
        .build()
}

/// A cluster with no updates listed: the last rule of a guard's mocks, for
/// the history the guard reads before it alerts (repeat openings).
pub fn no_updates() -> Rule {
    mock!(aws_sdk_eks::Client::list_updates).then_output(|| ListUpdatesOutput::builder().build())
}
