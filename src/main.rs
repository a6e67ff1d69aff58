//! The Lambda entry point: configuration, clients, and the Runtime API loop.

use eks_endpoint_guard::clock::epoch_millis;
use eks_endpoint_guard::config::Config;
use eks_endpoint_guard::eks::{CallPace, EksClients};
use eks_endpoint_guard::guard::{Deadline, Guard, Invocation};
use eks_endpoint_guard::metrics::{emf_line, measure};
use eks_endpoint_guard::startup::{report_init_error, sdk_config, security_hub, sns_client};
use lambda_runtime::{Error, LambdaEvent, service_fn};
use serde_json::Value;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    lambda_runtime::tracing::init_default_subscriber();
    let config = match Config::from_env() {
        Ok(config) => config,
        Err(e) => {
            report_init_error("InvalidConfiguration", &e.to_string()).await;
            return Err(e.into());
        }
    };
    let sdk = sdk_config(&config).await;
    let pace = CallPace::new(config.eks_calls_per_second);
    let eks = match &config.remediation_role_name {
        Some(role) => EksClients::cross_account(&sdk, role, pace),
        None => EksClients::single(aws_sdk_eks::Client::new(&sdk), pace),
    };
    let sns = sns_client(&sdk, &config.alert_topic_arn);
    let security_hub = security_hub(&sdk, &config);
    let mut guard = Guard::with_clients(config, eks, sns);
    if let Some(security_hub) = security_hub {
        guard = guard.with_security_hub(security_hub);
    }
    let guard = &guard;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| async move {
        let invocation = Invocation::new(
            Deadline::from_epoch_millis(event.context.deadline),
            event.context.invoked_function_arn,
        );
        let result = guard.handle(&event.payload, &invocation).await;
        // Metrics as an Embedded Metric Format line: no API call, no latency.
        println!("{}", emf_line(&measure(&result), epoch_millis()));
        result
    }))
    .await
}
