//! What the tests on `aws-smithy-mocks` share: a configuration for mocks that
//! answer at once, and the shape of an EKS update.

#![allow(dead_code)] // each test file uses its own part of this module

use std::time::Duration;

use aws_sdk_eks::operation::describe_update::DescribeUpdateOutput;
use aws_sdk_eks::operation::list_updates::ListUpdatesOutput;
use aws_sdk_eks::types::{Update, UpdateStatus};
use aws_smithy_mocks::{Rule, mock};
use eks_endpoint_guard::config::Config;

pub const TOPIC: &str = "arn:aws:sns:eu-west-1:111122223333:alerts";

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
