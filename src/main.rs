//! The Lambda entry point: configuration, clients, and the Runtime API loop.

// The Lambda runtime, the SDK clients and the guard nest deeply: the
// compiler needs more room to lay out the async main.
#![recursion_limit = "256"]

use eks_endpoint_guard::clock::epoch_millis;
use eks_endpoint_guard::config::Config;
use eks_endpoint_guard::guard::{Deadline, Invocation};
use eks_endpoint_guard::metrics::{emf_line, measure};
use eks_endpoint_guard::startup::{guard, report_init_error};
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
    let guard = guard(config).await;
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
