//! The Lambda entry point: configuration, clients, and the Runtime API loop.

use eks_endpoint_guard::config::Config;
use eks_endpoint_guard::guard::{Deadline, Guard};
use eks_endpoint_guard::startup::{report_init_error, sdk_config};
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
    let sdk = sdk_config().await;
    let guard = Guard::new(
        config,
        aws_sdk_eks::Client::new(&sdk),
        aws_sdk_sns::Client::new(&sdk),
    );
    let guard = &guard;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| async move {
        guard
            .handle(
                &event.payload,
                Deadline::from_epoch_millis(event.context.deadline),
            )
            .await
    }))
    .await
}
