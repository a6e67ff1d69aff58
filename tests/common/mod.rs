//! The compiled guard as Lambda runs it (see `guard_testkit::function`).

#![allow(dead_code, unused_imports)] // each test file uses its own part of this module

use std::path::Path;

pub use guard_testkit::function::{
    FunctionProcess as GuardProcessInner, SECRET_ACCESS_KEY, finding_of, sample,
};

/// The guard binary under test, under the Runtime API emulator.
pub struct GuardProcess;

impl GuardProcess {
    pub async fn start(settings: &[(&str, String)]) -> GuardProcessInner {
        GuardProcess::start_as(guard_testkit::runtime::DEFAULT_FUNCTION_ARN, settings).await
    }

    /// With a Lambda `Invoke` stand-in that feeds the guard's hand-offs back
    /// to it, each with `deadline` to run.
    pub async fn start_handing_off(
        function_arn: &str,
        settings: &[(&str, String)],
        deadline: std::time::Duration,
    ) -> GuardProcessInner {
        GuardProcessInner::start_with_lambda(
            Path::new(env!("CARGO_BIN_EXE_eks-endpoint-guard")),
            function_arn,
            settings,
            deadline,
        )
        .await
    }

    pub async fn start_as(function_arn: &str, settings: &[(&str, String)]) -> GuardProcessInner {
        GuardProcessInner::start(
            Path::new(env!("CARGO_BIN_EXE_eks-endpoint-guard")),
            function_arn,
            settings,
        )
        .await
    }
}
