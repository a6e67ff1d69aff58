//! Start-up: SDK clients and the report of a configuration that cannot work.

use std::time::Duration;

use aws_config::retry::{RetryConfig, RetryMode};
use aws_config::timeout::TimeoutConfig;
use aws_config::{AppName, BehaviorVersion, SdkConfig};

use crate::config::{Config, GUARD_NAME};
use crate::eks::{CallPace, EksClients};
use crate::guard::Guard;
use crate::organization::Organization;
use crate::securityhub::SecurityHub;
use crate::wiring::read::WiringReader;

/// The guard with its clients: EKS (through the remediation role for other
/// accounts), SNS in the alert topic's region, Lambda for hand-offs, and
/// Organizations when the sweep walks the organization, Security Hub when
/// findings go there too, and the readers of its own wiring when the sweep
/// checks it.
pub async fn guard(config: Config) -> Guard {
    let sdk = sdk_config(&config).await;
    let pace = CallPace::new(config.eks_calls_per_second);
    let eks_sdk = eks_sdk_config(&sdk);
    let eks = match &config.remediation_role_name {
        Some(role) => EksClients::cross_account(&eks_sdk, role, pace),
        None => EksClients::single(aws_sdk_eks::Client::new(&eks_sdk), pace),
    };
    let organization = match config.sweep_organization {
        true => Some(Organization::new(&sdk, config.organization_role_arn.as_deref()).await),
        false => None,
    };
    let sns = sns_client(&sdk, &config.alert_topic_arn);
    let lambda = aws_sdk_lambda::Client::new(&sdk);
    let security_hub = security_hub(&sdk, &config);
    let wiring = config
        .wiring
        .enabled
        .then(|| WiringReader::new(&sdk, sns.clone(), lambda.clone(), config.wiring.clone()));
    let mut guard = Guard::with_clients(config, eks, sns).handing_off_with(lambda);
    if let Some(organization) = organization {
        guard = guard.sweeping(organization);
    }
    if let Some(wiring) = wiring {
        guard = guard.checking_wiring(wiring);
    }
    match security_hub {
        Some(security_hub) => guard.with_security_hub(security_hub),
        None => guard,
    }
}

/// Loads the standard AWS SDK settings (region, credentials, `AWS_ENDPOINT_URL*`),
/// with time-outs on every call so that a hung endpoint cannot eat the
/// invocation deadline, and the guard's name in the user agent so CloudTrail
/// shows its calls.
pub async fn sdk_config(config: &Config) -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .app_name(AppName::new(GUARD_NAME).expect("a valid static app name"))
        .timeout_config(timeouts(config))
        .load()
        .await
}

/// The settings of the EKS clients: [`sdk_config`]'s, in the SDK's adaptive
/// retry mode. EKS throttles each account-region as a whole, and a burst of
/// events (one apply opening many clusters) runs one execution environment
/// per cluster, each polling its cluster about once a second: 12 of them
/// offer 12 calls a second to an account-region that may allow fewer. Once a
/// client has been throttled, adaptive mode sends through a client-side token
/// bucket whose rate drops after each throttle and grows back on success, so
/// the environments back off together instead of retrying into the throttle
/// (and throttling the account's other tools with them). Until a throttle,
/// it sends as the standard mode does. Attempts and back-off stay as loaded
/// (`AWS_MAX_ATTEMPTS`); the other services keep the standard mode. In the
/// central layout the role assumed in member accounts is assumed with these
/// settings too (STS also throttles per account).
pub fn eks_sdk_config(sdk: &SdkConfig) -> SdkConfig {
    let retry = sdk
        .retry_config()
        .cloned()
        .unwrap_or_else(RetryConfig::standard)
        .with_retry_mode(RetryMode::Adaptive);
    sdk.to_builder().retry_config(retry).build()
}

/// The SNS client for the alert topic, in the topic's own region: a central
/// topic may live in another region than the function, and SNS answers
/// `Publish` for a topic only in its region.
pub fn sns_client(sdk: &SdkConfig, topic_arn: &str) -> aws_sdk_sns::Client {
    let region = topic_arn.split(':').nth(3).filter(|r| !r.is_empty());
    let mut config = aws_sdk_sns::config::Builder::from(sdk);
    if let Some(region) = region {
        config = config.region(aws_sdk_sns::config::Region::new(region.to_string()));
    }
    aws_sdk_sns::Client::from_conf(config.build())
}

/// The Security Hub importer when `SECURITY_HUB=true`: in the function's
/// region, for its own account and, in the central layout, for member
/// accounts through the remediation role (only a finding's own account may
/// import it).
pub fn security_hub(sdk: &SdkConfig, config: &Config) -> Option<SecurityHub> {
    if !config.security_hub {
        return None;
    }
    Some(match &config.remediation_role_name {
        Some(role) => SecurityHub::cross_account(sdk, role),
        None => SecurityHub::new(aws_sdk_securityhub::Client::new(sdk)),
    })
}

/// Connect, attempt and whole-call time-outs for every SDK client.
pub fn timeouts(config: &Config) -> TimeoutConfig {
    TimeoutConfig::builder()
        .connect_timeout(config.call_attempt_timeout.min(Duration::from_secs(3)))
        .operation_attempt_timeout(config.call_attempt_timeout)
        .operation_timeout(config.call_timeout())
        .build()
}

/// Tells the Lambda Runtime API that initialisation failed (`/init/error`), so
/// the invoke fails with `Runtime.InitError` and the message, and the log shows
/// it. Outside Lambda (no `AWS_LAMBDA_RUNTIME_API`) it only logs.
pub async fn report_init_error(error_type: &str, message: &str) {
    tracing::error!(error_type, message, "start-up failed");
    if std::env::var_os("AWS_LAMBDA_RUNTIME_API").is_none() {
        return;
    }
    let body = serde_json::json!({ "errorType": error_type, "errorMessage": message }).to_string();
    let request = lambda_runtime_api_client::build_request()
        .method("POST")
        .uri("/2018-06-01/runtime/init/error")
        .header("lambda-runtime-function-error-type", "Runtime.InitError")
        .body(lambda_runtime_api_client::body::Body::from(body));
    let client = lambda_runtime_api_client::Client::builder().build();
    match (client, request) {
        (Ok(client), Ok(request)) => {
            if let Err(e) = client.call(request).await {
                tracing::error!(error = %e, "could not report the start-up failure to the Runtime API");
            }
        }
        (Err(e), _) => tracing::error!(error = %e, "no Runtime API client"),
        (_, Err(e)) => tracing::error!(error = %e, "could not build the init error request"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn eks_clients_retry_adaptively_and_keep_the_loaded_attempts() {
        let sdk = SdkConfig::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(aws_config::Region::new("eu-west-1"))
            .retry_config(RetryConfig::standard().with_max_attempts(5))
            .build();
        let eks = eks_sdk_config(&sdk);
        let retry = eks.retry_config().expect("a retry config");
        assert_eq!(retry.mode(), RetryMode::Adaptive);
        assert_eq!(retry.max_attempts(), 5);
        assert_eq!(
            sdk.retry_config().map(RetryConfig::mode),
            Some(RetryMode::Standard),
            "the other services keep the standard mode"
        );
        let client = aws_sdk_eks::Client::new(&eks);
        assert_eq!(
            client.config().retry_config().map(RetryConfig::mode),
            Some(RetryMode::Adaptive)
        );
    }
}
