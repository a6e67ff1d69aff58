//! A Lambda function binary run the way Lambda runs it: a child process with a
//! clean environment, speaking the Runtime API of a [`RuntimeApi`] emulator,
//! its log lines collected for assertions. Started with
//! [`FunctionProcess::start_with_lambda`], it can also invoke itself
//! asynchronously through a [`LambdaStandIn`]. Several processes side by side on one
//! emulator, as Lambda runs several execution environments of a function when events arrive
//! together: [`FunctionProcess::start_environments`] and its [`Fleet`].

use std::path::Path;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use serde_json::Value;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

use crate::lambda::LambdaStandIn;
use crate::runtime::{Invocation, RuntimeApi};

/// The secret access key the function gets: tests check it never reaches the logs.
pub const SECRET_ACCESS_KEY: &str = "e2e-secret-that-must-never-be-logged";

pub struct FunctionProcess {
    pub api: RuntimeApi,
    child: Child,
    logs: Logs,
    lambda: Option<LambdaStandIn>,
    /// The guard prints its metrics line (EMF, `"_aws"`) last before it answers: an invoke
    /// returns once that line has been read too, so a test reads every log line of the
    /// invocation it just made (the answer can overtake the pipe otherwise).
    metrics_line_last: bool,
}

/// What marks the guard's metrics line.
const METRICS_MARK: &str = "\"_aws\"";

impl FunctionProcess {
    /// Starts `binary` with only the given settings (plus what Lambda always
    /// sets and static test credentials), so nothing of the developer's own
    /// AWS configuration leaks in.
    pub async fn start(
        binary: &Path,
        function_arn: &str,
        settings: &[(&str, String)],
    ) -> FunctionProcess {
        let api = Self::runtime_api(function_arn).await;
        Self::spawn(api, None, binary, function_arn, settings)
    }

    /// Like [`start`](Self::start), with a [`LambdaStandIn`] beside the emulator
    /// and `AWS_ENDPOINT_URL_LAMBDA` pointing at it (unless `settings` say
    /// otherwise), so an `Invoke` with `InvocationType=Event` on the function's
    /// own ARN runs as a later invocation of this same process, with
    /// `deadline_per_invocation` as its timeout. See [`lambda`](Self::lambda).
    pub async fn start_with_lambda(
        binary: &Path,
        function_arn: &str,
        settings: &[(&str, String)],
        deadline_per_invocation: Duration,
    ) -> FunctionProcess {
        let (api, lambda) = Self::api_with_lambda(function_arn, deadline_per_invocation).await;
        Self::spawn(api, Some(lambda), binary, function_arn, settings)
    }

    async fn runtime_api(function_arn: &str) -> RuntimeApi {
        RuntimeApi::start_with_function_arn(function_arn)
            .await
            .expect("runtime API emulator")
    }

    /// The Runtime API emulator and a [`LambdaStandIn`] beside it, whose hand-offs get
    /// `deadline_per_invocation`.
    async fn api_with_lambda(
        function_arn: &str,
        deadline_per_invocation: Duration,
    ) -> (RuntimeApi, LambdaStandIn) {
        let api = Self::runtime_api(function_arn).await;
        let lambda = LambdaStandIn::start(&api, deadline_per_invocation)
            .await
            .expect("Lambda Invoke stand-in");
        (api, lambda)
    }

    fn spawn(
        api: RuntimeApi,
        lambda: Option<LambdaStandIn>,
        binary: &Path,
        function_arn: &str,
        settings: &[(&str, String)],
    ) -> FunctionProcess {
        let lambda_url = lambda.as_ref().map(LambdaStandIn::endpoint_url);
        let Environment { child, logs } =
            Environment::spawn(&api, lambda_url.as_deref(), binary, function_arn, settings);
        FunctionProcess {
            api,
            child,
            logs,
            lambda,
            metrics_line_last: binary
                .file_name()
                .is_some_and(|n| n == "eks-endpoint-guard"),
        }
    }

    /// `environments` processes of `binary` side by side on one [`RuntimeApi`] and one
    /// [`LambdaStandIn`] (whose hand-offs get `deadline_per_invocation`), as Lambda runs
    /// several execution environments of one function when events arrive together: each
    /// takes one event at a time, and an event goes to whichever environment polls first.
    /// Reserved concurrency N is N environments. Settings as for [`start`](Self::start).
    pub async fn start_environments(
        binary: &Path,
        function_arn: &str,
        settings: &[(&str, String)],
        environments: usize,
        deadline_per_invocation: Duration,
    ) -> Fleet {
        let (api, lambda) = Self::api_with_lambda(function_arn, deadline_per_invocation).await;
        let lambda_url = lambda.endpoint_url();
        let environments = (0..environments)
            .map(|_| Environment::spawn(&api, Some(&lambda_url), binary, function_arn, settings))
            .collect();
        Fleet {
            api,
            lambda,
            environments,
            timeout: deadline_per_invocation,
        }
    }

    /// The `Invoke` stand-in of [`start_with_lambda`](Self::start_with_lambda):
    /// the invocations the function handed on to itself, and their outcomes.
    /// Panics for a process started without one.
    #[track_caller]
    pub fn lambda(&self) -> &LambdaStandIn {
        self.lambda
            .as_ref()
            .expect("started with FunctionProcess::start, not start_with_lambda")
    }

    /// Invokes with a 60 s deadline; the test fails after 90 s.
    pub async fn invoke(&self, payload: &[u8]) -> Invocation {
        self.invoke_with_deadline(payload, Duration::from_secs(60))
            .await
    }

    pub async fn invoke_with_deadline(&self, payload: &[u8], deadline: Duration) -> Invocation {
        let metrics_lines = self.metrics_lines();
        let outcome = tokio::time::timeout(
            deadline + Duration::from_secs(30),
            self.api
                .invoke(payload.to_vec(), SystemTime::now() + deadline),
        )
        .await
        .unwrap_or_else(|_| panic!("no answer; logs:\n{}", self.logs().join("\n")));
        if self.metrics_line_last {
            self.wait_for_metrics_lines(metrics_lines + 1).await;
        }
        outcome
    }

    fn metrics_lines(&self) -> usize {
        let logs = self.logs.lock().unwrap();
        logs.iter()
            .filter(|line| line.contains(METRICS_MARK))
            .count()
    }

    /// Waits (at most 5 s, checking every 5 ms) until `count` metrics lines have been read.
    async fn wait_for_metrics_lines(&self, count: usize) {
        let give_up = std::time::Instant::now() + Duration::from_secs(5);
        while self.metrics_lines() < count && std::time::Instant::now() < give_up {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    pub fn logs(&self) -> Vec<String> {
        self.logs.lock().unwrap().clone()
    }

    /// The JSON log lines whose message is `message`.
    pub fn log_records(&self, message: &str) -> Vec<Value> {
        records_with_message(&self.logs(), message)
    }

    /// The log lines so far, for a person to read.
    pub fn print_logs(&self) {
        for line in self.logs() {
            eprintln!("{line}");
        }
    }

    /// The process's peak resident set (`VmHWM` in `/proc/<pid>/status`), in KiB.
    pub fn peak_rss_kib(&self) -> Option<u64> {
        peak_rss_kib(&self.child)
    }

    /// Waits for the process to exit.
    pub async fn exit_status(&mut self) -> std::process::ExitStatus {
        tokio::time::timeout(Duration::from_secs(30), self.child.wait())
            .await
            .expect("the guard exits")
            .expect("exit status")
    }
}

/// Log lines of one process, stdout and stderr as they come.
type Logs = Arc<Mutex<Vec<String>>>;

/// One process of the function, with its collected logs.
struct Environment {
    child: Child,
    logs: Logs,
}

impl Environment {
    /// Starts `binary` polling `api`, with only `settings` and what Lambda sets (see
    /// [`FunctionProcess::start`]); `AWS_ENDPOINT_URL_LAMBDA` is `lambda_url` unless
    /// `settings` say otherwise.
    fn spawn(
        api: &RuntimeApi,
        lambda_url: Option<&str>,
        binary: &Path,
        function_arn: &str,
        settings: &[(&str, String)],
    ) -> Environment {
        let mut command = Command::new(binary);
        command
            .env_clear()
            .env("AWS_LAMBDA_RUNTIME_API", api.address())
            .env("AWS_LAMBDA_FUNCTION_NAME", "eks-endpoint-guard")
            .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
            .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
            .env("AWS_LAMBDA_LOG_FORMAT", "json")
            .env("AWS_LAMBDA_LOG_LEVEL", "info")
            // Lambda sets the function's own region.
            .env(
                "AWS_REGION",
                function_arn.split(':').nth(3).unwrap_or("us-east-1"),
            )
            .env("AWS_ACCESS_KEY_ID", crate::TEST_ACCESS_KEY_ID)
            .env("AWS_SECRET_ACCESS_KEY", SECRET_ACCESS_KEY)
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .env("AWS_CONFIG_FILE", "/nonexistent")
            .env("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
            .env("GUARD_POLL_SECONDS", "0.05")
            // Local endpoints answer in milliseconds: short call time-outs keep
            // the time reserved before a revert (two calls) small.
            .env("GUARD_CALL_TIMEOUT_SECONDS", "1")
            .env("GUARD_CREATING_POLL_SECONDS", "0.05")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        if let Some(lambda_url) = lambda_url {
            command.env("AWS_ENDPOINT_URL_LAMBDA", lambda_url);
        }
        for (key, value) in settings {
            command.env(key, value);
        }
        let mut child = command
            .spawn()
            .unwrap_or_else(|e| panic!("{} does not start: {e}", binary.display()));
        let logs = Logs::default();
        for stream in [
            child
                .stdout
                .take()
                .map(|s| Box::new(s) as Box<dyn tokio::io::AsyncRead + Send + Unpin>),
            child
                .stderr
                .take()
                .map(|s| Box::new(s) as Box<dyn tokio::io::AsyncRead + Send + Unpin>),
        ]
        .into_iter()
        .flatten()
        {
            let logs = logs.clone();
            tokio::spawn(async move {
                let mut lines = BufReader::new(stream).lines();
                while let Ok(Some(line)) = lines.next_line().await {
                    logs.lock().unwrap().push(line);
                }
            });
        }
        Environment { child, logs }
    }
}

/// `VmHWM` of a running child, in KiB; `None` once it has exited or without `/proc`.
fn peak_rss_kib(child: &Child) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{}/status", child.id()?)).ok()?;
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))
        .and_then(|value| value.trim().trim_end_matches("kB").trim().parse().ok())
}

/// The JSON log lines of `lines` whose message is `message`.
fn records_with_message(lines: &[String], message: &str) -> Vec<Value> {
    lines
        .iter()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .filter(|record| record["message"] == message || record["fields"]["message"] == message)
        .collect()
}

/// Several execution environments of one function side by side, from
/// [`FunctionProcess::start_environments`]: processes polling one [`RuntimeApi`], handing
/// work on through one [`LambdaStandIn`]. Dropping it kills every process.
pub struct Fleet {
    pub api: RuntimeApi,
    lambda: LambdaStandIn,
    environments: Vec<Environment>,
    /// The function's timeout: each invocation's deadline, counted from when it is taken.
    timeout: Duration,
}

impl Fleet {
    /// How many environments (processes) there are.
    pub fn len(&self) -> usize {
        self.environments.len()
    }

    /// Whether it was started with no environment at all.
    pub fn is_empty(&self) -> bool {
        self.environments.is_empty()
    }

    /// The `Invoke` stand-in every environment hands work on through.
    pub fn lambda(&self) -> &LambdaStandIn {
        &self.lambda
    }

    /// Waits until every environment has polled for its first event (its init is done), so
    /// a burst measures handling, not start-up. Panics after `timeout` with the logs.
    pub async fn wait_until_ready(&self, timeout: Duration) {
        let ready = tokio::time::timeout(timeout, self.api.wait_for_polls(self.len())).await;
        if ready.is_err() {
            panic!(
                "{} of {} environments polled within {timeout:?}; logs:\n{}",
                self.api.polls(),
                self.len(),
                self.all_logs().join("\n")
            );
        }
    }

    /// A burst: every payload queued at once, each run by whichever environment is free, with
    /// the fleet's timeout counted from when it is taken ([`RuntimeApi::invoke_all`]).
    /// Outcomes in payload order. Panics if they are not all in within the time the
    /// environments need to run them one after another, plus 30 s, with the logs.
    pub async fn invoke_all(&self, payloads: Vec<Vec<u8>>) -> Vec<Invocation> {
        let rounds = payloads.len().div_ceil(self.len().max(1)) as u32;
        let bound = self.timeout * rounds + Duration::from_secs(30);
        tokio::time::timeout(bound, self.api.invoke_all(payloads, self.timeout))
            .await
            .unwrap_or_else(|_| {
                panic!(
                    "not every invocation answered; logs:\n{}",
                    self.all_logs().join("\n")
                )
            })
    }

    /// The log lines of environment `index` (0-based, in start order).
    #[track_caller]
    pub fn logs(&self, index: usize) -> Vec<String> {
        self.environments[index].logs.lock().unwrap().clone()
    }

    /// Every environment's log lines, environment after environment.
    pub fn all_logs(&self) -> Vec<String> {
        (0..self.len()).flat_map(|index| self.logs(index)).collect()
    }

    /// The JSON log lines of every environment whose message is `message`.
    pub fn log_records(&self, message: &str) -> Vec<Value> {
        records_with_message(&self.all_logs(), message)
    }

    /// The log lines so far, environment by environment, for a person to read.
    pub fn print_logs(&self) {
        for index in 0..self.len() {
            for line in self.logs(index) {
                eprintln!("[{index}] {line}");
            }
        }
    }

    /// Each environment's peak resident set (`VmHWM`) in KiB, in start order; `None` for one
    /// that has exited.
    pub fn peak_rss_kib(&self) -> Vec<Option<u64>> {
        self.environments
            .iter()
            .map(|environment| peak_rss_kib(&environment.child))
            .collect()
    }

    /// The highest peak resident set of any environment still running, in KiB (0 for none).
    pub fn highest_peak_rss_kib(&self) -> u64 {
        self.peak_rss_kib().into_iter().flatten().max().unwrap_or(0)
    }
}

/// A sample event of the guard's `events/` with some text replaced (an update id, an account).
pub fn sample(file: &str, replacements: &[(&str, &str)]) -> Vec<u8> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../events")
        .join(file);
    let mut text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("sample event {}: {e}", path.display()));
    for (from, to) in replacements {
        assert!(text.contains(from), "{file} has no {from}");
        text = text.replace(from, to);
    }
    text.into_bytes()
}

/// The finding inside an SNS notification read from the SQS inbox.
pub fn finding_of(notification: &Value) -> Value {
    serde_json::from_str(notification["Message"].as_str().expect("Message")).expect("finding JSON")
}

/// The binary `name` built next to the running program (an example in
/// `target/<profile>/examples/` finds `target/<profile>/<name>`), or the path
/// in `GUARD_BINARY`. The error says how to build it.
pub fn sibling_binary(name: &str) -> Result<std::path::PathBuf, String> {
    let path = match std::env::var_os("GUARD_BINARY") {
        Some(path) => std::path::PathBuf::from(path),
        None => std::env::current_exe()
            .map_err(|e| e.to_string())?
            .parent()
            .and_then(Path::parent)
            .ok_or("no target directory")?
            .join(name),
    };
    if path.is_file() {
        Ok(path)
    } else {
        Err(format!(
            "{} not found: build it first with `cargo build --release` (the make targets do)",
            path.display()
        ))
    }
}
