//! For the integration tests whose child function (see `child_function`) hands work on to a
//! fresh invocation of itself: `Invoke` on its own ARN with `InvocationType=Event` through
//! `aws-sdk-lambda`, its client built from the environment (`AWS_ENDPOINT_URL_LAMBDA`, which
//! `FunctionProcess` sets to its `Invoke` stand-in).

use std::path::PathBuf;

use aws_config::BehaviorVersion;
use aws_sdk_lambda::error::DisplayErrorContext;
use aws_sdk_lambda::operation::invoke::InvokeOutput;
use aws_sdk_lambda::primitives::Blob;
use aws_sdk_lambda::types::InvocationType;
use lambda_runtime::{Diagnostic, LambdaEvent, service_fn};
use serde_json::Value;

use crate::child_function::serve_as_child;

/// In the child that `marker` marks, serves invocations with `handler`, which is given a Lambda
/// client built from the environment; elsewhere returns at once (see `serve_as_child`).
pub fn serve_with_lambda(
    marker: &str,
    handler: impl AsyncFn(&aws_sdk_lambda::Client, LambdaEvent<Value>) -> Result<Value, Diagnostic>,
) {
    serve_as_child(marker, async {
        let sdk = aws_config::load_defaults(BehaviorVersion::latest()).await;
        let lambda = aws_sdk_lambda::Client::new(&sdk);
        let lambda = &lambda;
        let handler = &handler;
        lambda_runtime::run(service_fn(move |event| handler(lambda, event))).await
    });
}

/// Invokes the function `event` came to asynchronously with `next`.
pub async fn invoke_self(
    lambda: &aws_sdk_lambda::Client,
    event: &LambdaEvent<Value>,
    next: &Value,
) -> Result<InvokeOutput, Diagnostic> {
    lambda
        .invoke()
        .function_name(&event.context.invoked_function_arn)
        .invocation_type(InvocationType::Event)
        .payload(Blob::new(next.to_string()))
        .send()
        .await
        .map_err(|error| Diagnostic {
            error_type: "HandOffFailed".to_owned(),
            error_message: DisplayErrorContext(&error).to_string(),
        })
}

/// This test binary, to run again as the child function.
pub fn this_binary() -> PathBuf {
    std::env::current_exe().expect("path of this test binary")
}

/// The settings that make the child function: `marker` set.
pub fn child_settings(marker: &str) -> [(&str, String); 1] {
    [(marker, "1".to_owned())]
}
