//! Starts `moto_server` (moto 5, the local AWS emulator) for the services it models well
//! enough for this project: SNS, SQS, STS, Organizations ([`crate::organizations`]),
//! Security Hub's `BatchImportFindings` and `GetFindings` (all on the one port; Security Hub
//! takes any document, keyed by `Id` and merged field by field on a repeat, and ignores
//! `GetFindings` filters), and what the guard's wiring check reads: EventBridge rules and
//! targets, Lambda reserved concurrency (on a function created with a role that exists:
//! [`Moto::lambda_role`]), SNS subscriptions, CloudWatch alarms (awsQuery or JSON, not the
//! RPC v2 CBOR of the newest SDK), CloudTrail trails (with a bucket that exists:
//! [`Moto::bucket`]) with their status and selectors. EKS update behaviour is not one of
//! them; use [`crate::eks`] for that.
//!
//! moto puts each request in the account its access key belongs to: keys that `AssumeRole`
//! handed out belong to the role's account, every other key to [`ACCOUNT`]. So a client that
//! assumes `arn:aws:iam::222233334444:role/x` with the static test key acts in 222233334444
//! from then on, as with AWS; [`Moto::account_of_key`] tells which account a key is in.
//!
//! The guard alerts through SNS. A test cannot read an SNS topic, so it subscribes an SQS queue
//! to the topic ([`Moto::topic_with_inbox`]) and reads what SNS delivered there
//! ([`Moto::receive`]). Without raw message delivery (the default, kept here) SNS wraps each
//! message in a notification envelope, and so does moto:
//!
//! ```json
//! {"Type": "Notification", "MessageId": "...", "TopicArn": "...", "Subject": "...",
//!  "Message": "...", "Timestamp": "...", "SignatureVersion": "2", "Signature": "...",
//!  "SigningCertURL": "...", "UnsubscribeURL": "...",
//!  "MessageAttributes": {"name": {"Type": "String", "Value": "..."}}}
//! ```
//!
//! `Subject` and `MessageAttributes` appear only when the publisher set them.
//!
//! # `MessageStructure=json` in moto 5.2
//!
//! With `MessageStructure=json`, `Message` is a JSON object of per-protocol texts. moto picks
//! the subscriber's protocol key (`sqs` for a queue) and falls back to `default`, like SNS, so
//! the queue receives the `sqs` text as `Message`. Two differences from real SNS: moto checks
//! the object when it delivers, not when it publishes, so a topic without subscribers accepts
//! anything; and it does not require a `default` key when the protocol's key is present, where
//! SNS refuses the publish ("Message Structure - No default entry in JSON message body").
//! Always send `default`. The tests at the bottom of this file pin this behaviour down.
//!
//! # Finding `moto_server`
//!
//! In order: the `MOTO_SERVER` environment variable (a path), `.venv/bin/moto_server` at the
//! workspace root (`make venv` installs it there), `moto_server` on `PATH`.

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_sdk_sqs::types::{DeleteMessageBatchRequestEntry, QueueAttributeName};
use aws_sdk_sts::config::Credentials;
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::process::{Child, Command};
use tokio::time::Instant;

use crate::sdk::local_sdk_config;

/// The region every client of [`Moto::sdk_config`] uses.
pub const REGION: &str = "us-east-1";

/// moto's default account: where requests signed with a key moto did not hand out land (such
/// as the static [`crate::TEST_ACCESS_KEY_ID`] of [`Moto::sdk_config`]), and so the management
/// account of an organization made with [`Moto::organization`].
pub const ACCOUNT: &str = "123456789012";

/// The `UserId` of moto's `GetCallerIdentity` answer for a key it did not hand out, with
/// `Arn` `arn:aws:sts::123456789012:user/moto` (moto 5.2, `sts/models.py`).
const UNKNOWN_KEY_USER_ID: &str = "AKIAIOSFODNN7EXAMPLE";

/// How long `moto_server` may take to answer its first request (Python start-up is slow on a
/// busy CI machine).
const START_TIMEOUT: Duration = Duration::from_secs(30);
/// Lines of `moto_server`'s output kept for the error message if it fails to start.
const OUTPUT_LINES_KEPT: usize = 40;

/// A running `moto_server`, killed when this is dropped.
pub struct Moto {
    endpoint_url: String,
    /// Held for `kill_on_drop`.
    _process: Child,
}

impl Moto {
    /// Finds and starts `moto_server` on `127.0.0.1` and a free port, and waits until it answers
    /// HTTP. The error says what was tried and what moto printed.
    pub async fn start() -> Result<Moto, String> {
        let program = find_moto_server()?;
        Moto::start_program(&program).await
    }

    /// Starts this `moto_server` executable (see [`Moto::start`]).
    pub async fn start_program(program: &Path) -> Result<Moto, String> {
        // The free port is found by binding and releasing it, so another process can take it
        // before moto binds: try a few ports before giving up.
        let mut failures = Vec::new();
        for _attempt in 0..3 {
            match start_once(program).await {
                Ok(moto) => return Ok(moto),
                Err(StartFailure::Exited(message)) => failures.push(message),
                Err(StartFailure::Fatal(message)) => return Err(message),
            }
        }
        Err(failures.join("\n\n"))
    }

    /// `http://127.0.0.1:PORT`.
    pub fn endpoint_url(&self) -> String {
        self.endpoint_url.clone()
    }

    /// Static `testing`/`testing` credentials, region us-east-1, every service at moto.
    pub fn sdk_config(&self) -> aws_config::SdkConfig {
        local_sdk_config(&self.endpoint_url, REGION)
    }

    pub fn sns(&self) -> aws_sdk_sns::Client {
        aws_sdk_sns::Client::new(&self.sdk_config())
    }

    pub fn sqs(&self) -> aws_sdk_sqs::Client {
        aws_sdk_sqs::Client::new(&self.sdk_config())
    }

    pub fn sts(&self) -> aws_sdk_sts::Client {
        sts_client(&self.endpoint_url)
    }

    /// The account moto says `access_key_id` belongs to, from STS `GetCallerIdentity` signed
    /// with that key (moto checks no signature, so any secret does): for a key `AssumeRole`
    /// handed out, the account of the role (`arn:aws:iam::ACCOUNT:role/...`, whether or not
    /// the role exists); for an IAM user's key, the user's account. `None` for a key moto did
    /// not hand out, such as [`crate::TEST_ACCESS_KEY_ID`]: moto answers for those with an
    /// identity of its own, `UserId` `AKIAIOSFODNN7EXAMPLE`, `Arn`
    /// `arn:aws:sts::123456789012:user/moto`, which says nothing about the key.
    /// [`EksDouble::resolve_keys_through_sts`](crate::eks::EksDouble::resolve_keys_through_sts)
    /// asks the same question for every unknown key the EKS double sees.
    pub async fn account_of_key(&self, access_key_id: &str) -> Option<String> {
        caller_account(&self.sts(), access_key_id)
            .await
            .unwrap_or_else(|error| panic!("moto GetCallerIdentity for {access_key_id}: {error}"))
    }

    /// Creates SNS topic `name` and SQS queue `name-inbox` subscribed to it (protocol `sqs`,
    /// envelopes kept), and returns `(topic_arn, queue_url)`. moto does not check the queue
    /// policy that real SNS needs to send to a queue, so none is set.
    pub async fn topic_with_inbox(&self, name: &str) -> (String, String) {
        let topic_arn = self.topic(name).await;
        let queue_url = self
            .subscribe_queue(&topic_arn, &format!("{name}-inbox"), None)
            .await;
        (topic_arn, queue_url)
    }

    /// Creates SNS topic `name` and returns its ARN.
    pub async fn topic(&self, name: &str) -> String {
        self.sns()
            .create_topic()
            .name(name)
            .send()
            .await
            .unwrap_or_else(|error| panic!("moto CreateTopic {name}: {}", sdk_error(&error)))
            .topic_arn
            .expect("CreateTopic answers with a TopicArn")
    }

    /// Creates SQS queue `queue_name`, subscribes it to the topic (protocol `sqs`, envelopes
    /// kept) with `filter_policy` on the message attributes if one is given (moto 5 applies
    /// subscription filter policies, `String.Array` attributes and `{"exists": false}`
    /// included), and returns the queue's URL.
    pub async fn subscribe_queue(
        &self,
        topic_arn: &str,
        queue_name: &str,
        filter_policy: Option<&str>,
    ) -> String {
        let sqs = self.sqs();
        let queue_url = sqs
            .create_queue()
            .queue_name(queue_name)
            .send()
            .await
            .unwrap_or_else(|error| panic!("moto CreateQueue {queue_name}: {}", sdk_error(&error)))
            .queue_url
            .expect("CreateQueue answers with a QueueUrl");
        let queue_arn = sqs
            .get_queue_attributes()
            .queue_url(&queue_url)
            .attribute_names(QueueAttributeName::QueueArn)
            .send()
            .await
            .unwrap_or_else(|error| panic!("moto GetQueueAttributes: {}", sdk_error(&error)))
            .attributes
            .and_then(|mut attributes| attributes.remove(&QueueAttributeName::QueueArn))
            .expect("GetQueueAttributes answers with the QueueArn asked for");
        self.subscribe(topic_arn, "sqs", &queue_arn, filter_policy)
            .await;
        queue_url
    }

    /// Subscribes `endpoint` over `protocol` (`sqs`, `https`, `email`, ...) to the topic, with
    /// `filter_policy` if one is given. moto delivers `http` and `https` by POSTing the
    /// envelope to the endpoint (an `http://` one too, whatever the protocol) with the view of
    /// `MessageStructure=json` for the protocol, and confirms no subscription; `email` it
    /// accepts and delivers nowhere.
    pub async fn subscribe(
        &self,
        topic_arn: &str,
        protocol: &str,
        endpoint: &str,
        filter_policy: Option<&str>,
    ) {
        let mut request = self
            .sns()
            .subscribe()
            .topic_arn(topic_arn)
            .protocol(protocol)
            .endpoint(endpoint);
        if let Some(policy) = filter_policy {
            request = request.attributes("FilterPolicy", policy);
        }
        request
            .send()
            .await
            .unwrap_or_else(|error| panic!("moto Subscribe: {}", sdk_error(&error)));
    }

    /// Long-polls the queue until `expected` messages have arrived or `timeout` has passed, and
    /// returns what arrived (so a test asserts the count), deleting them from the queue. Bodies
    /// are parsed as JSON (SNS envelopes); a body that is not JSON comes back as a string. To
    /// check that nothing is published, ask for 1 with a short timeout and expect none. The
    /// timeout can be overrun by up to a second: SQS long polls wait in whole seconds.
    pub async fn receive(&self, queue_url: &str, expected: usize, timeout: Duration) -> Vec<Value> {
        let sqs = self.sqs();
        let deadline = Instant::now() + timeout;
        let mut received = Vec::new();
        while received.len() < expected {
            let remaining = deadline.saturating_duration_since(Instant::now());
            if remaining.is_zero() {
                break;
            }
            let wait_seconds = remaining.as_secs_f64().ceil().clamp(1.0, 20.0) as i32;
            let wanted = (expected - received.len()).min(10) as i32;
            let output = sqs
                .receive_message()
                .queue_url(queue_url)
                .max_number_of_messages(wanted)
                .wait_time_seconds(wait_seconds)
                .send()
                .await
                .unwrap_or_else(|error| panic!("moto ReceiveMessage: {}", sdk_error(&error)));
            let messages = output.messages.unwrap_or_default();
            if messages.is_empty() {
                continue;
            }
            let mut delete = sqs.delete_message_batch().queue_url(queue_url);
            for (index, message) in messages.iter().enumerate() {
                let body = message.body.as_deref().unwrap_or_default();
                received.push(
                    serde_json::from_str(body).unwrap_or_else(|_| Value::String(body.to_owned())),
                );
                if let Some(handle) = &message.receipt_handle {
                    let entry = DeleteMessageBatchRequestEntry::builder()
                        .id(index.to_string())
                        .receipt_handle(handle)
                        .build()
                        .expect("id and receipt handle are set");
                    delete = delete.entries(entry);
                }
            }
            delete
                .send()
                .await
                .unwrap_or_else(|error| panic!("moto DeleteMessageBatch: {}", sdk_error(&error)));
        }
        received
    }
}

impl Moto {
    /// One request to moto without an SDK, for the few set-up calls of services the testkit
    /// builds no client for (IAM, S3): `Authorization` names the service and [`REGION`] in its
    /// credential scope, which is how moto routes a request on its one port; it checks no
    /// signature. Returns the status code and the body.
    pub async fn raw(
        &self,
        service: &str,
        method: &str,
        path: &str,
        form: &[(&str, &str)],
    ) -> (u16, String) {
        let body: Vec<String> = form
            .iter()
            .map(|(key, value)| format!("{}={}", percent_encode(key), percent_encode(value)))
            .collect();
        let body = body.join("&");
        let host = self.endpoint_url.trim_start_matches("http://").to_string();
        let request = format!(
            "{method} {path} HTTP/1.0\r\nHost: {host}\r\nAuthorization: AWS4-HMAC-SHA256 \
             Credential={}/20261201/{REGION}/{service}/aws4_request, SignedHeaders=host, \
             Signature=0\r\nContent-Type: application/x-www-form-urlencoded\r\n\
             Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
            crate::TEST_ACCESS_KEY_ID,
            body.len()
        );
        let exchange = async {
            let mut stream = TcpStream::connect(&host).await?;
            stream.write_all(request.as_bytes()).await?;
            let mut answer = Vec::new();
            stream.read_to_end(&mut answer).await?;
            Ok::<Vec<u8>, std::io::Error>(answer)
        };
        let answer = exchange
            .await
            .unwrap_or_else(|error| panic!("moto {method} {path} ({service}): {error}"));
        let answer = String::from_utf8_lossy(&answer).into_owned();
        let status = answer
            .split(' ')
            .nth(1)
            .and_then(|code| code.parse().ok())
            .unwrap_or_else(|| panic!("moto answered no HTTP status: {answer}"));
        let body = answer
            .split_once("\r\n\r\n")
            .map(|(_, body)| body.to_string())
            .unwrap_or_default();
        (status, body)
    }

    /// Creates IAM role `name` that Lambda may assume (moto's `CreateFunction` wants its role
    /// to exist) and returns its ARN.
    pub async fn lambda_role(&self, name: &str) -> String {
        let trust = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"lambda.amazonaws.com"},"Action":"sts:AssumeRole"}]}"#;
        let form = [
            ("Action", "CreateRole"),
            ("Version", "2010-05-08"),
            ("RoleName", name),
            ("AssumeRolePolicyDocument", trust),
        ];
        let (status, body) = self.raw("iam", "POST", "/", &form).await;
        assert_eq!(status, 200, "moto CreateRole {name}: {body}");
        format!("arn:aws:iam::{ACCOUNT}:role/{name}")
    }

    /// Creates S3 bucket `name` in [`REGION`] (moto's `CreateTrail` wants its bucket to exist).
    pub async fn bucket(&self, name: &str) {
        let (status, body) = self.raw("s3", "PUT", &format!("/{name}"), &[]).await;
        assert_eq!(status, 200, "moto CreateBucket {name}: {body}");
    }

    /// The messages published to `topic_arn` so far, whether or not anyone subscribed, as
    /// `(subject, message)`: from moto's state dump (`/moto-api/data.json`, the topics'
    /// `sent_notifications`), which moto documents as internal and may change.
    pub async fn published(&self, topic_arn: &str) -> Vec<(Option<String>, String)> {
        let (status, body) = self
            .raw("moto-api", "GET", "/moto-api/data.json", &[])
            .await;
        assert_eq!(status, 200, "moto data.json: {body}");
        let data: Value = serde_json::from_str(&body)
            .unwrap_or_else(|error| panic!("moto data.json is not JSON ({error}): {body}"));
        let topics = data["sns"]["Topic"].as_array().cloned().unwrap_or_default();
        let topic = topics.iter().find(|topic| topic["arn"] == topic_arn);
        let sent = topic.and_then(|topic| topic["sent_notifications"].as_array().cloned());
        sent.unwrap_or_default()
            .iter()
            .map(|n| {
                (
                    n[2].as_str().map(str::to_string),
                    n[1].as_str().unwrap_or_default().to_string(),
                )
            })
            .collect()
    }
}

/// `application/x-www-form-urlencoded` escaping of one key or value.
fn percent_encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// An STS client for `endpoint_url`; each call says which key it signs with
/// ([`caller_account`]).
pub(crate) fn sts_client(endpoint_url: &str) -> aws_sdk_sts::Client {
    aws_sdk_sts::Client::new(&local_sdk_config(endpoint_url, REGION))
}

/// See [`Moto::account_of_key`]; `Err` if the call failed.
pub(crate) async fn caller_account(
    sts: &aws_sdk_sts::Client,
    access_key_id: &str,
) -> Result<Option<String>, String> {
    let credentials = Credentials::new(access_key_id, "any-secret", None, None, "guard-testkit");
    let identity = sts
        .get_caller_identity()
        .customize()
        .config_override(aws_sdk_sts::config::Builder::default().credentials_provider(credentials))
        .send()
        .await
        .map_err(|error| sdk_error(&error))?;
    if identity.user_id() == Some(UNKNOWN_KEY_USER_ID) {
        return Ok(None);
    }
    Ok(identity.account)
}

/// An SDK error with its whole chain of causes, for a panic message (any
/// SDK crate's error: `DisplayErrorContext` is smithy's, re-exported by each).
pub(crate) fn sdk_error(error: &(dyn std::error::Error + 'static)) -> String {
    aws_sdk_sqs::error::DisplayErrorContext(error).to_string()
}

/// Where `moto_server` is, or a message that says how to get it.
fn find_moto_server() -> Result<PathBuf, String> {
    if let Some(path) = std::env::var_os("MOTO_SERVER").filter(|path| !path.is_empty()) {
        let path = PathBuf::from(path);
        return if path.is_file() {
            Ok(path)
        } else {
            Err(format!(
                "MOTO_SERVER is {}, which is not a file",
                path.display()
            ))
        };
    }
    let venv = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join(".venv/bin/moto_server");
    if venv.is_file() {
        return Ok(venv);
    }
    let on_path = std::env::var_os("PATH")
        .map(|path| std::env::split_paths(&path).collect::<Vec<_>>())
        .unwrap_or_default()
        .into_iter()
        .map(|directory| directory.join("moto_server"))
        .find(|candidate| candidate.is_file());
    on_path.ok_or_else(|| {
        format!(
            "moto_server not found (looked at $MOTO_SERVER, {}, and PATH). \
             Run `make venv` at the workspace root to install it, or set MOTO_SERVER.",
            venv.display()
        )
    })
}

enum StartFailure {
    /// moto exited before answering (for instance its port was taken): worth another try.
    Exited(String),
    /// Trying again would not help.
    Fatal(String),
}

async fn start_once(program: &Path) -> Result<Moto, StartFailure> {
    let port = free_port()
        .await
        .map_err(|error| StartFailure::Fatal(format!("no free port for moto_server: {error}")))?;
    let mut process = Command::new(program)
        .args(["-H", "127.0.0.1", "-p", &port.to_string()])
        // With MOTO_ACCOUNT_ID set moto puts every request in that one account, whatever its
        // key: no organization members, no assumed roles in other accounts.
        .env_remove("MOTO_ACCOUNT_ID")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|error| {
            StartFailure::Fatal(format!("could not start {}: {error}", program.display()))
        })?;
    // moto logs every request to stderr. Keep draining it, or moto blocks on a full pipe; keep
    // the last lines for the error message.
    let output = Arc::new(Mutex::new(VecDeque::new()));
    if let Some(stderr) = process.stderr.take() {
        let output = Arc::clone(&output);
        tokio::spawn(async move {
            let mut lines = BufReader::new(stderr).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                let mut kept = output
                    .lock()
                    .unwrap_or_else(|poisoned| poisoned.into_inner());
                if kept.len() == OUTPUT_LINES_KEPT {
                    kept.pop_front();
                }
                kept.push_back(line);
            }
        });
    }
    let last_output = || {
        let kept = output
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        Vec::from(kept.clone()).join("\n")
    };

    let started = Instant::now();
    loop {
        if answers_http(port).await {
            return Ok(Moto {
                endpoint_url: format!("http://127.0.0.1:{port}"),
                _process: process,
            });
        }
        if let Ok(Some(status)) = process.try_wait() {
            // Let the reader catch the last lines before reporting them.
            tokio::task::yield_now().await;
            return Err(StartFailure::Exited(format!(
                "{} exited ({status}) before answering on port {port}. Its last output:\n{}",
                program.display(),
                last_output()
            )));
        }
        if started.elapsed() > START_TIMEOUT {
            return Err(StartFailure::Fatal(format!(
                "{} did not answer on port {port} within {START_TIMEOUT:?}. Its last output:\n{}",
                program.display(),
                last_output()
            )));
        }
        // An external process gives no signal when it is ready: poll.
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn free_port() -> std::io::Result<u16> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    Ok(listener.local_addr()?.port())
}

/// Whether an HTTP server answers `GET /` on the port (moto answers 200 there).
async fn answers_http(port: u16) -> bool {
    let exchange = async {
        let mut stream = TcpStream::connect(("127.0.0.1", port)).await?;
        stream
            .write_all(b"GET / HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")
            .await?;
        let mut status_line = [0u8; 12];
        stream.read_exact(&mut status_line).await?;
        Ok::<bool, std::io::Error>(status_line.starts_with(b"HTTP/1."))
    };
    matches!(
        tokio::time::timeout(Duration::from_secs(2), exchange).await,
        Ok(Ok(true))
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_sns::types::MessageAttributeValue;
    use serde_json::json;

    const RECEIVE_TIMEOUT: Duration = Duration::from_secs(10);

    async fn moto() -> Moto {
        Moto::start()
            .await
            .unwrap_or_else(|message| panic!("{message}"))
    }

    #[tokio::test]
    async fn sns_notifications_reach_the_inbox_queue_as_envelopes() {
        let moto = moto().await;
        let (topic_arn, queue_url) = moto.topic_with_inbox("alerts").await;
        moto.sns()
            .publish()
            .topic_arn(&topic_arn)
            .subject("EKS endpoint reverted")
            .message("prod was public")
            .message_attributes(
                "cluster",
                MessageAttributeValue::builder()
                    .data_type("String")
                    .string_value("prod")
                    .build()
                    .expect("data type is set"),
            )
            .send()
            .await
            .expect("publish");

        let received = moto.receive(&queue_url, 1, RECEIVE_TIMEOUT).await;
        assert_eq!(received.len(), 1, "{received:?}");
        let envelope = &received[0];
        assert_eq!(envelope["Type"], "Notification");
        assert_eq!(envelope["TopicArn"], json!(topic_arn));
        assert_eq!(envelope["Subject"], "EKS endpoint reverted");
        assert_eq!(envelope["Message"], "prod was public");
        assert_eq!(
            envelope["MessageAttributes"]["cluster"],
            json!({"Type": "String", "Value": "prod"})
        );

        // Received messages are deleted: nothing is left to read.
        assert!(
            moto.receive(&queue_url, 1, Duration::from_secs(1))
                .await
                .is_empty()
        );
    }

    #[tokio::test]
    async fn message_structure_json_delivers_the_sqs_text_to_a_queue() {
        let moto = moto().await;
        let (topic_arn, queue_url) = moto.topic_with_inbox("structured").await;
        let publish = |message: Value| {
            moto.sns()
                .publish()
                .topic_arn(&topic_arn)
                .subject("structured")
                .message_structure("json")
                .message(message.to_string())
                .send()
        };

        publish(json!({"default": "for everyone", "sqs": "for queues", "email": "for people"}))
            .await
            .expect("publish with an sqs key");
        publish(json!({"default": "for everyone", "email": "for people"}))
            .await
            .expect("publish without an sqs key");
        // Real SNS refuses this one (no `default`); moto delivers it.
        publish(json!({"sqs": "no default"}))
            .await
            .expect("moto 5.2 accepts a structure without default");

        let received = moto.receive(&queue_url, 3, RECEIVE_TIMEOUT).await;
        let mut messages: Vec<&str> = received
            .iter()
            .map(|envelope| envelope["Message"].as_str().expect("Message is a string"))
            .collect();
        messages.sort();
        assert_eq!(messages, ["for everyone", "for queues", "no default"]);
        assert!(
            received
                .iter()
                .all(|envelope| envelope["Subject"] == "structured")
        );

        let error = publish(json!({"email": "neither sqs nor default"}))
            .await
            .expect_err("moto refuses a structure with neither the protocol's key nor default");
        assert!(
            sdk_error(&error).contains("does not contain sqs or default"),
            "{}",
            sdk_error(&error)
        );
    }

    #[tokio::test]
    async fn a_missing_or_failing_program_gives_a_clear_error() {
        let missing = Moto::start_program(Path::new("/nonexistent/moto_server")).await;
        let message = missing.err().expect("cannot start a missing program");
        assert!(message.contains("/nonexistent/moto_server"), "{message}");

        let failing = Moto::start_program(Path::new("/bin/false")).await;
        let message = failing.err().expect("/bin/false never answers");
        assert!(message.contains("exited"), "{message}");
    }
}
