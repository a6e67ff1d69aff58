//! For the integration tests whose Lambda function is the test binary itself, run again as a
//! child process with a marker variable in its environment: the test that serves invocations
//! does so only in the child, and the other tests return at once there.

use std::fmt::Debug;
use std::future::Future;

/// Whether this test binary runs as the child that the environment variable `marker` marks.
pub fn is_child(marker: &str) -> bool {
    std::env::var_os(marker).is_some()
}

/// In the child that `marker` marks, runs the `lambda_runtime` loop `serve` on a current-thread
/// runtime (one invocation at a time, as in Lambda); it only returns on error. Elsewhere returns
/// at once, so in a normal run the serving test is an empty one.
pub fn serve_as_child<E: Debug>(marker: &str, serve: impl Future<Output = Result<(), E>>) {
    if !is_child(marker) {
        return;
    }
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime")
        .block_on(serve)
        .expect("the runtime loop only ends on error");
}
