//! A Lambda Runtime API emulator: the HTTP API (version `2018-06-01`) that a custom runtime such
//! as `lambda_runtime` 1.5 polls inside a Lambda execution environment.
//!
//! How Lambda drives a function, and what this emulator imitates:
//!
//! - The runtime finds the API through `AWS_LAMBDA_RUNTIME_API` (`host:port`, no scheme): pass
//!   [`RuntimeApi::address`] to the function's process.
//! - After initialising, the runtime sends `GET /2018-06-01/runtime/invocation/next`. Lambda holds
//!   that request open until an event arrives (a long poll, with no timeout), then answers `200`
//!   with the event as the body and the invocation's context in headers:
//!   `Lambda-Runtime-Aws-Request-Id`, `Lambda-Runtime-Deadline-Ms` (epoch milliseconds),
//!   `Lambda-Runtime-Invoked-Function-Arn` and `Lambda-Runtime-Trace-Id`.
//! - The runtime answers with `POST /invocation/{request-id}/response` (any body; `lambda_runtime`
//!   sends JSON) or `POST /invocation/{request-id}/error` with a JSON body
//!   `{"errorType": ..., "errorMessage": ...}`. Lambda answers both with `202`. Then the runtime
//!   polls `/next` again on the same keep-alive connection.
//! - A runtime that cannot initialise posts the same error shape to `POST /runtime/init/error`
//!   and exits.
//!
//! What it does not imitate: Lambda's timeout. When the deadline passes, Lambda freezes or kills
//! the environment and reports `Sandbox.Timedout`; this emulator cannot stop your process, so
//! [`RuntimeApi::invoke`] waits for the function's answer however late it is. Wrap it in
//! `tokio::time::timeout` where a test must bound it.
//!
//! ```no_run
//! # async fn example() -> std::io::Result<()> {
//! use guard_testkit::runtime::{Invocation, RuntimeApi};
//! use std::time::{Duration, SystemTime};
//!
//! let api = RuntimeApi::start().await?;
//! // spawn the function with AWS_LAMBDA_RUNTIME_API = api.address(), then:
//! let outcome = api
//!     .invoke(br#"{"detail": {}}"#.to_vec(), SystemTime::now() + Duration::from_secs(30))
//!     .await;
//! assert!(matches!(outcome, Invocation::Response(_)));
//! # Ok(()) }
//! ```

use std::collections::HashMap;
use std::io;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use hyper::body::Incoming;
use hyper::header::HeaderValue;
use hyper::{Method, Request, StatusCode};
use serde_json::{Value, json};
use tokio::sync::{mpsc, oneshot, watch};

use crate::ids;
use crate::server::{HttpResponse, LoopbackServer, json_response, read_body};

/// The function ARN the emulator reports unless [`RuntimeApi::start_with_function_arn`] says
/// otherwise.
pub const DEFAULT_FUNCTION_ARN: &str =
    "arn:aws:lambda:eu-west-1:111122223333:function:eks-endpoint-guard";

const API_PREFIX: &str = "/2018-06-01/runtime/";

/// How the function finished one invocation.
#[derive(Debug, Clone, PartialEq)]
pub enum Invocation {
    /// The function posted to `/response` and the body was JSON.
    Response(Value),
    /// The function posted to `/response` and the body was not JSON (Lambda accepts any bytes).
    RawResponse(Vec<u8>),
    /// The function posted to `/error`. If the body was not the usual JSON, `error_type` comes
    /// from the `Lambda-Runtime-Function-Error-Type` header and `error_message` is the raw body.
    Error {
        error_type: String,
        error_message: String,
    },
}

impl Invocation {
    /// The JSON response, or a panic that shows what the function did instead.
    #[track_caller]
    pub fn expect_response(self) -> Value {
        match self {
            Invocation::Response(value) => value,
            other => panic!("expected the function to answer with a JSON response, got {other:?}"),
        }
    }

    /// `(error_type, error_message)`, or a panic that shows what the function did instead.
    #[track_caller]
    pub fn expect_error(self) -> (String, String) {
        match self {
            Invocation::Error {
                error_type,
                error_message,
            } => (error_type, error_message),
            other => panic!("expected the function to report an error, got {other:?}"),
        }
    }
}

/// An event waiting for the function's next poll.
struct QueuedEvent {
    request_id: String,
    payload: Vec<u8>,
    deadline: Deadline,
    trace_id: String,
    outcome: oneshot::Sender<Invocation>,
}

/// When an invocation must end.
enum Deadline {
    /// A moment the test chose ([`RuntimeApi::invoke`]).
    At(SystemTime),
    /// The function's timeout, counted from the moment the event is handed to the function, as
    /// Lambda counts it: an event that waited in a queue still gets the whole timeout.
    AfterStart(Duration),
}

impl Deadline {
    /// `Lambda-Runtime-Deadline-Ms`: epoch milliseconds, fixed when the event is handed out.
    fn epoch_ms(&self) -> u128 {
        let deadline = match self {
            Deadline::At(moment) => *moment,
            Deadline::AfterStart(timeout) => SystemTime::now() + *timeout,
        };
        deadline
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_millis()
    }
}

/// A cheap handle that queues invocations into a [`RuntimeApi`], for stand-ins that invoke the
/// function the way a Lambda service would (the `Invoke` stand-in in [`crate::lambda`]).
/// It keeps the queue alive, not the server: once the `RuntimeApi` is dropped, queued events
/// are never answered.
#[derive(Clone)]
pub(crate) struct Invoker {
    shared: Arc<Shared>,
}

impl Invoker {
    /// The ARN the emulator reports in `Lambda-Runtime-Invoked-Function-Arn`.
    pub(crate) fn function_arn(&self) -> &str {
        &self.shared.function_arn
    }

    /// Queues one event at once, under `request_id`, with `timeout` counted from the moment
    /// the function takes it. The receiver resolves to the outcome; it errs only if the
    /// emulator is gone.
    pub(crate) fn queue(
        &self,
        request_id: String,
        payload: Vec<u8>,
        timeout: Duration,
    ) -> oneshot::Receiver<Invocation> {
        queue_event(
            &self.shared,
            request_id,
            payload,
            Deadline::AfterStart(timeout),
        )
    }
}

fn queue_event(
    shared: &Shared,
    request_id: String,
    payload: Vec<u8>,
    deadline: Deadline,
) -> oneshot::Receiver<Invocation> {
    let (outcome, answered) = oneshot::channel();
    let event = QueuedEvent {
        request_id,
        payload,
        deadline,
        trace_id: ids::trace_id(),
        outcome,
    };
    if shared.queue.send(event).is_err() {
        unreachable!("the receiving half lives in `shared`, which the caller keeps alive");
    }
    answered
}

/// What tests wait on; kept in a `watch` channel so a waiter can never miss a change.
#[derive(Debug, Clone, Default)]
struct Progress {
    polls: usize,
    /// Answers (responses or errors) that arrived after their invocation's deadline.
    late_answers: usize,
    first_poll: Option<Instant>,
    init_error: Option<(String, String)>,
}

struct Shared {
    function_arn: String,
    queue: mpsc::UnboundedSender<QueuedEvent>,
    /// Held by the poller currently waiting in `/next`. Other concurrent pollers queue on the
    /// lock, so each event goes to exactly one of them.
    next_event: tokio::sync::Mutex<mpsc::UnboundedReceiver<QueuedEvent>>,
    /// Events handed to the function whose answer has not arrived yet, by request id, with
    /// their deadline (epoch milliseconds).
    awaiting_answer: Mutex<HashMap<String, (oneshot::Sender<Invocation>, u128)>>,
    progress: watch::Sender<Progress>,
}

/// A running emulator. Dropping it closes the port and every connection.
pub struct RuntimeApi {
    shared: Arc<Shared>,
    server: LoopbackServer,
}

impl RuntimeApi {
    /// Starts the emulator on `127.0.0.1` and a free port, reporting [`DEFAULT_FUNCTION_ARN`].
    pub async fn start() -> io::Result<RuntimeApi> {
        Self::start_with_function_arn(DEFAULT_FUNCTION_ARN).await
    }

    /// Starts the emulator; every invocation carries `function_arn` in
    /// `Lambda-Runtime-Invoked-Function-Arn`.
    pub async fn start_with_function_arn(function_arn: &str) -> io::Result<RuntimeApi> {
        let (queue, next_event) = mpsc::unbounded_channel();
        let shared = Arc::new(Shared {
            function_arn: function_arn.to_owned(),
            queue,
            next_event: tokio::sync::Mutex::new(next_event),
            awaiting_answer: Mutex::new(HashMap::new()),
            progress: watch::Sender::new(Progress::default()),
        });
        let handler_state = Arc::clone(&shared);
        let server = LoopbackServer::start(move |request| {
            let shared = Arc::clone(&handler_state);
            async move { handle(&shared, request).await }
        })
        .await?;
        Ok(RuntimeApi { shared, server })
    }

    /// `127.0.0.1:PORT`, the value for `AWS_LAMBDA_RUNTIME_API`.
    pub fn address(&self) -> String {
        self.server.address().to_string()
    }

    /// Queues one event and waits until the function reports its outcome. The payload is sent
    /// as is, so a test can send malformed JSON. Invocations queue up in order; several can be in
    /// flight at once if the function polls concurrently.
    pub async fn invoke(&self, payload: Vec<u8>, deadline: SystemTime) -> Invocation {
        let answered = queue_event(
            &self.shared,
            ids::uuid_like(),
            payload,
            Deadline::At(deadline),
        );
        answered
            .await
            .expect("the emulator dropped an invocation before the function answered it")
    }

    /// Queues every payload at once, as a burst of asynchronous events reaches Lambda, and
    /// waits until the function has reported every outcome; outcomes are in payload order.
    /// Each event's deadline is `timeout` counted from when a poller takes it, as Lambda
    /// counts a function's timeout: with fewer execution environments polling than events
    /// (reserved concurrency), the rest wait in the queue without losing time. Several
    /// processes can poll one emulator side by side; each event goes to exactly one of them.
    pub async fn invoke_all(&self, payloads: Vec<Vec<u8>>, timeout: Duration) -> Vec<Invocation> {
        let invoker = self.invoker();
        let answers: Vec<_> = payloads
            .into_iter()
            .map(|payload| invoker.queue(ids::uuid_like(), payload, timeout))
            .collect();
        let mut outcomes = Vec::with_capacity(answers.len());
        for answered in answers {
            outcomes.push(
                answered
                    .await
                    .expect("the emulator dropped an invocation before the function answered it"),
            );
        }
        outcomes
    }

    /// The moment the first `GET /invocation/next` arrived: the end of the function's init
    /// phase, so `first_poll - process_spawned` is the cold start. Waits for it; a function that
    /// dies during init never polls, so bound this with `tokio::time::timeout`.
    pub async fn wait_for_first_poll(&self) -> Instant {
        let mut progress = self.shared.progress.subscribe();
        let progress = progress
            .wait_for(|progress| progress.first_poll.is_some())
            .await
            .expect("the progress sender lives as long as the emulator");
        progress
            .first_poll
            .expect("wait_for returned once first_poll was set")
    }

    /// A handle that queues invocations into this emulator (crate-internal).
    pub(crate) fn invoker(&self) -> Invoker {
        Invoker {
            shared: Arc::clone(&self.shared),
        }
    }

    /// How init ended: `Some((error_type, error_message))` once the function posted
    /// `/runtime/init/error`, `None` once it polled for its first event instead. Waits for one of
    /// the two; bound it with `tokio::time::timeout` (a process can also exit without either).
    pub async fn init_error(&self) -> Option<(String, String)> {
        let mut progress = self.shared.progress.subscribe();
        let progress = progress
            .wait_for(|progress| progress.init_error.is_some() || progress.first_poll.is_some())
            .await
            .expect("the progress sender lives as long as the emulator");
        progress.init_error.clone()
    }

    /// How many `GET /invocation/next` requests have arrived so far, including one still
    /// How many invocations were answered after their deadline (Lambda would have ended them
    /// with `Sandbox.Timedout` and kept no answer).
    pub fn late_answers(&self) -> usize {
        self.shared.progress.borrow().late_answers
    }

    /// waiting for an event.
    pub fn polls(&self) -> usize {
        self.shared.progress.borrow().polls
    }

    /// Waits until `count` polls have arrived. After the answer to invocation N, poll N + 1
    /// means the function is idle and ready for the next event.
    pub async fn wait_for_polls(&self, count: usize) {
        let mut progress = self.shared.progress.subscribe();
        progress
            .wait_for(|progress| progress.polls >= count)
            .await
            .expect("the progress sender lives as long as the emulator");
    }
}

async fn handle(shared: &Shared, request: Request<Incoming>) -> HttpResponse {
    let method = request.method().clone();
    let path = request.uri().path().to_owned();
    let Some(route) = path.strip_prefix(API_PREFIX) else {
        return not_found(&method, &path);
    };
    let segments: Vec<&str> = route.split('/').collect();
    match (&method, segments.as_slice()) {
        (&Method::GET, ["invocation", "next"]) => next_event(shared).await,
        (&Method::POST, ["invocation", request_id, "response"]) => {
            let body = read_body(request.into_body()).await;
            let outcome = match serde_json::from_slice(&body) {
                Ok(value) => Invocation::Response(value),
                Err(_) => Invocation::RawResponse(body.to_vec()),
            };
            complete(shared, request_id, outcome)
        }
        (&Method::POST, ["invocation", request_id, "error"]) => {
            let header_type = error_type_header(&request);
            let body = read_body(request.into_body()).await;
            let (error_type, error_message) = parse_error_body(&body, header_type);
            let outcome = Invocation::Error {
                error_type,
                error_message,
            };
            complete(shared, request_id, outcome)
        }
        (&Method::POST, ["init", "error"]) => {
            let header_type = error_type_header(&request);
            let body = read_body(request.into_body()).await;
            let error = parse_error_body(&body, header_type);
            shared
                .progress
                .send_modify(|progress| progress.init_error = Some(error));
            accepted()
        }
        _ => not_found(&method, &path),
    }
}

/// The long poll: parks until an event is queued, then hands it over.
async fn next_event(shared: &Shared) -> HttpResponse {
    shared.progress.send_modify(|progress| {
        progress.polls += 1;
        progress.first_poll.get_or_insert_with(Instant::now);
    });
    let event = {
        let mut queue = shared.next_event.lock().await;
        queue
            .recv()
            .await
            .expect("the sending half lives in `shared`, which this handler keeps alive")
    };
    // Registered before the response leaves, so the function cannot answer an id we do not know.
    let deadline_ms = event.deadline.epoch_ms();
    shared
        .awaiting_answer
        .lock()
        .expect("no code panics while holding this lock")
        .insert(event.request_id.clone(), (event.outcome, deadline_ms));

    let mut response = hyper::Response::new(http_body_util::Full::new(event.payload.into()));
    let headers = response.headers_mut();
    let mut insert = |name: &'static str, value: String| {
        let value = HeaderValue::from_str(&value).expect("ids, numbers and ARNs are valid headers");
        headers.insert(name, value);
    };
    insert("content-type", "application/json".to_owned());
    insert("lambda-runtime-aws-request-id", event.request_id);
    insert("lambda-runtime-deadline-ms", deadline_ms.to_string());
    insert(
        "lambda-runtime-invoked-function-arn",
        shared.function_arn.clone(),
    );
    insert("lambda-runtime-trace-id", event.trace_id);
    response
}

fn complete(shared: &Shared, request_id: &str, outcome: Invocation) -> HttpResponse {
    let waiting = shared
        .awaiting_answer
        .lock()
        .expect("no code panics while holding this lock")
        .remove(request_id);
    match waiting {
        Some((sender, deadline_ms)) => {
            let now_ms = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .unwrap_or_default()
                .as_millis();
            if now_ms > deadline_ms {
                shared
                    .progress
                    .send_modify(|progress| progress.late_answers += 1);
            }
            // The test may have stopped waiting (a timeout); Lambda accepts the answer anyway.
            let _ = sender.send(outcome);
            accepted()
        }
        // What Lambda says for an id it did not hand out, or one already answered.
        None => json_response(
            StatusCode::BAD_REQUEST,
            &json!({
                "errorMessage": format!("Invalid request ID: {request_id}"),
                "errorType": "InvalidRequestID",
            }),
        ),
    }
}

fn error_type_header(request: &Request<Incoming>) -> Option<String> {
    request
        .headers()
        .get("lambda-runtime-function-error-type")
        .and_then(|value| value.to_str().ok())
        .map(str::to_owned)
}

/// `{"errorType": ..., "errorMessage": ...}`, tolerating anything else a runtime might send.
fn parse_error_body(body: &[u8], header_type: Option<String>) -> (String, String) {
    let parsed: Option<Value> = serde_json::from_slice(body).ok();
    let field = |name: &str| {
        parsed
            .as_ref()
            .and_then(|value| value.get(name))
            .and_then(Value::as_str)
            .map(str::to_owned)
    };
    let error_type = field("errorType")
        .or(header_type)
        .unwrap_or_else(|| "Unknown".to_owned());
    let error_message =
        field("errorMessage").unwrap_or_else(|| String::from_utf8_lossy(body).into_owned());
    (error_type, error_message)
}

fn accepted() -> HttpResponse {
    json_response(StatusCode::ACCEPTED, &json!({"status": "OK"}))
}

fn not_found(method: &Method, path: &str) -> HttpResponse {
    json_response(
        StatusCode::NOT_FOUND,
        &json!({
            "errorMessage": format!("The Runtime API emulator has no route for {method} {path}"),
            "errorType": "InvalidRequest",
        }),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_client::RuntimeClient;
    use std::time::Duration;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpStream;

    fn in_a_minute() -> SystemTime {
        SystemTime::now() + Duration::from_secs(60)
    }

    #[tokio::test]
    async fn an_answer_after_the_deadline_is_counted_late() {
        let api = RuntimeApi::start().await.expect("emulator starts");
        let mut function = RuntimeClient::open(&api).await;
        for (deadline, late) in [(in_a_minute(), 0), (SystemTime::now(), 1)] {
            let ((), _) = tokio::join!(
                async {
                    let event = function.next().await;
                    let request_id = event.header("lambda-runtime-aws-request-id").to_owned();
                    tokio::time::sleep(Duration::from_millis(5)).await;
                    function.respond(&request_id, b"{}").await;
                },
                api.invoke(b"{}".to_vec(), deadline)
            );
            assert_eq!(api.late_answers(), late);
        }
    }

    #[tokio::test]
    async fn next_carries_the_event_and_its_context_headers() {
        let api = RuntimeApi::start().await.expect("emulator starts");
        let mut function = RuntimeClient::open(&api).await;
        let deadline = UNIX_EPOCH + Duration::from_millis(1_900_000_000_123);

        let (outcome, ()) = tokio::join!(api.invoke(br#"{"id": 1}"#.to_vec(), deadline), async {
            let event = function.next().await;
            assert_eq!(&event.body[..], br#"{"id": 1}"#);
            assert_eq!(event.header("lambda-runtime-deadline-ms"), "1900000000123");
            assert_eq!(
                event.header("lambda-runtime-invoked-function-arn"),
                DEFAULT_FUNCTION_ARN
            );
            assert!(
                event
                    .header("lambda-runtime-trace-id")
                    .starts_with("Root=1-")
            );
            let request_id = event.header("lambda-runtime-aws-request-id").to_owned();
            assert_eq!(request_id.len(), 36, "uuid-shaped: {request_id}");
            let status = function.respond(&request_id, br#"{"ok": true}"#).await;
            assert_eq!(status, StatusCode::ACCEPTED);
        });

        assert_eq!(outcome.expect_response(), json!({"ok": true}));
    }

    #[tokio::test]
    async fn a_timeout_counts_from_when_the_function_takes_the_event() {
        let api = RuntimeApi::start().await.expect("emulator starts");
        let timeout = Duration::from_secs(30);
        let answered = api
            .invoker()
            .queue("queued-id".to_owned(), b"{}".to_vec(), timeout);
        // The event waits in the queue before anyone polls.
        tokio::time::sleep(Duration::from_millis(200)).await;
        let taken = SystemTime::now();

        let mut function = RuntimeClient::open(&api).await;
        let event = function.next().await;
        assert_eq!(event.header("lambda-runtime-aws-request-id"), "queued-id");
        let deadline_ms: u128 = event
            .header("lambda-runtime-deadline-ms")
            .parse()
            .expect("milliseconds");
        let taken_ms = (taken + timeout)
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_millis();
        assert!(deadline_ms >= taken_ms, "{deadline_ms} < {taken_ms}");

        function.respond("queued-id", b"{}").await;
        assert_eq!(
            answered.await.expect("answered"),
            Invocation::Response(json!({}))
        );
    }

    #[tokio::test]
    async fn many_sequential_invocations_run_over_one_keep_alive_connection() {
        let api = RuntimeApi::start().await.expect("emulator starts");
        let mut function = RuntimeClient::open(&api).await;
        let function_loop = async {
            for _ in 0..50 {
                let event = function.next().await;
                let request_id = event.header("lambda-runtime-aws-request-id").to_owned();
                // Echo the event back so each answer can be matched to its invocation.
                function.respond(&request_id, &event.body).await;
            }
        };
        let invocations = async {
            let mut seen_ids = Vec::new();
            for n in 0..50 {
                let payload = json!({ "n": n }).to_string().into_bytes();
                let answer = api.invoke(payload, in_a_minute()).await.expect_response();
                assert_eq!(answer, json!({ "n": n }));
                seen_ids.push(n);
            }
            seen_ids
        };
        let ((), seen_ids) = tokio::join!(function_loop, invocations);
        assert_eq!(seen_ids.len(), 50);
        assert_eq!(api.polls(), 50);
    }

    #[tokio::test]
    async fn next_long_polls_until_an_event_is_queued() {
        let api = RuntimeApi::start().await.expect("emulator starts");
        let mut function = RuntimeClient::open(&api).await;
        let poll = tokio::spawn(async move { function.next().await.body });

        api.wait_for_first_poll().await;
        // The poll has arrived and nothing is queued: it must still be waiting.
        assert!(!poll.is_finished());
        assert_eq!(api.polls(), 1);

        let invocation = api.invoke(b"{}".to_vec(), in_a_minute());
        tokio::pin!(invocation);
        tokio::select! {
            body = poll => assert_eq!(&body.expect("poll task")[..], b"{}"),
            _ = &mut invocation => panic!("nobody answered, the invocation cannot be finished"),
        }
    }

    #[tokio::test]
    async fn error_reports_and_malformed_payloads_pass_through() {
        let api = RuntimeApi::start().await.expect("emulator starts");
        let mut function = RuntimeClient::open(&api).await;

        let (outcome, ()) = tokio::join!(api.invoke(b"{not json".to_vec(), in_a_minute()), async {
            let event = function.next().await;
            assert_eq!(
                &event.body[..],
                b"{not json",
                "payload is passed through untouched"
            );
            let request_id = event.header("lambda-runtime-aws-request-id");
            let body =
                br#"{"errorType": "Runtime.DeserializationError", "errorMessage": "bad event"}"#;
            let status = function.report_error(request_id, body).await;
            assert_eq!(status, StatusCode::ACCEPTED);
        });
        assert_eq!(
            outcome.expect_error(),
            (
                "Runtime.DeserializationError".to_owned(),
                "bad event".to_owned()
            )
        );

        let (outcome, ()) = tokio::join!(api.invoke(b"{}".to_vec(), in_a_minute()), async {
            let event = function.next().await;
            let request_id = event.header("lambda-runtime-aws-request-id");
            function.respond(request_id, b"plain text").await;
        });
        assert_eq!(outcome, Invocation::RawResponse(b"plain text".to_vec()));
    }

    #[tokio::test]
    async fn a_chunked_response_body_is_reassembled() {
        let api = RuntimeApi::start().await.expect("emulator starts");
        let mut function = RuntimeClient::open(&api).await;

        let (outcome, ()) = tokio::join!(api.invoke(b"{}".to_vec(), in_a_minute()), async {
            let event = function.next().await;
            let request_id = event.header("lambda-runtime-aws-request-id");
            // Written by hand so the body really goes out in chunks.
            let mut raw = TcpStream::connect(api.address()).await.expect("connect");
            let request = format!(
                "POST /2018-06-01/runtime/invocation/{request_id}/response HTTP/1.1\r\n\
                 host: 127.0.0.1\r\ntransfer-encoding: chunked\r\nconnection: close\r\n\r\n\
                 6\r\n{{\"a\": \r\n3\r\n42}}\r\n0\r\n\r\n"
            );
            raw.write_all(request.as_bytes()).await.expect("write");
            let mut answer = String::new();
            raw.read_to_string(&mut answer).await.expect("read");
            assert!(answer.starts_with("HTTP/1.1 202"), "{answer}");
        });
        assert_eq!(outcome.expect_response(), json!({"a": 42}));
    }

    #[tokio::test]
    async fn concurrent_pollers_each_get_a_different_event() {
        let api = RuntimeApi::start().await.expect("emulator starts");
        let mut first = RuntimeClient::open(&api).await;
        let mut second = RuntimeClient::open(&api).await;
        let (one, two, ()) = tokio::join!(
            api.invoke(b"1".to_vec(), in_a_minute()),
            api.invoke(b"2".to_vec(), in_a_minute()),
            async {
                let (first_event, second_event) = tokio::join!(first.next(), second.next());
                let first_id = first_event.header("lambda-runtime-aws-request-id");
                let second_id = second_event.header("lambda-runtime-aws-request-id");
                assert_ne!(first_id, second_id);
                let mut bodies = [first_event.body.to_vec(), second_event.body.to_vec()];
                bodies.sort();
                assert_eq!(bodies, [b"1".to_vec(), b"2".to_vec()]);
                // Echo each event back to the invocation it came from.
                first.respond(first_id, &first_event.body).await;
                second.respond(second_id, &second_event.body).await;
            }
        );
        assert_eq!(one.expect_response(), json!(1));
        assert_eq!(two.expect_response(), json!(2));
    }

    /// Lambda runs execution environments side by side, each polling on its own connection:
    /// four pollers hold four events at once, and a fifth event waits for the first poller that
    /// comes back, its deadline counted from then.
    #[tokio::test]
    async fn environments_side_by_side_each_hold_an_event_and_the_rest_wait() {
        let api = RuntimeApi::start().await.expect("emulator starts");
        let mut polling = tokio::task::JoinSet::new();
        for _ in 0..4 {
            let mut poller = RuntimeClient::open(&api).await;
            polling.spawn(async move {
                let event = poller.next().await;
                (poller, event)
            });
        }
        let timeout = Duration::from_secs(60);
        let payloads: Vec<Vec<u8>> = (0..5).map(|n| n.to_string().into_bytes()).collect();
        let functions = async {
            let mut pollers = Vec::new();
            let mut events = Vec::new();
            while let Some(polled) = polling.join_next().await {
                let (poller, event) = polled.expect("poller task");
                pollers.push(poller);
                events.push(event);
            }
            // All four were handed out before any was answered.
            let mut bodies: Vec<Vec<u8>> = events.iter().map(|event| event.body.to_vec()).collect();
            bodies.sort();
            assert_eq!(
                bodies,
                [b"0".to_vec(), b"1".to_vec(), b"2".to_vec(), b"3".to_vec()]
            );
            tokio::time::sleep(Duration::from_millis(300)).await;
            let mut fifth = None;
            for (poller, event) in pollers.iter_mut().zip(&events) {
                let id = event.header("lambda-runtime-aws-request-id");
                assert_eq!(poller.respond(id, &event.body).await, StatusCode::ACCEPTED);
                if fifth.is_none() {
                    let event = poller.next().await;
                    let deadline: u128 = event
                        .header("lambda-runtime-deadline-ms")
                        .parse()
                        .expect("epoch ms");
                    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
                    assert!(
                        deadline >= (now + timeout - Duration::from_millis(100)).as_millis(),
                        "the waiting event's timeout runs from when it was taken"
                    );
                    fifth = Some(event);
                }
            }
            let fifth = fifth.expect("the fifth event");
            let id = fifth.header("lambda-runtime-aws-request-id").to_owned();
            pollers[0].respond(&id, &fifth.body).await;
        };
        let (outcomes, ()) = tokio::join!(api.invoke_all(payloads, timeout), functions);
        let answers: Vec<Value> = outcomes
            .into_iter()
            .map(Invocation::expect_response)
            .collect();
        assert_eq!(answers, [json!(0), json!(1), json!(2), json!(3), json!(4)]);
        assert_eq!(api.polls(), 5);
    }

    /// An environment that goes away while parked in `/next` (a process that crashed) does
    /// not swallow the next event: another poller gets it.
    #[tokio::test]
    async fn a_poller_that_goes_away_does_not_take_the_next_event() {
        let api = RuntimeApi::start().await.expect("emulator starts");
        let mut gone = RuntimeClient::open(&api).await;
        let parked = tokio::time::timeout(Duration::from_millis(200), gone.next()).await;
        assert!(parked.is_err(), "no event yet: the poll stays parked");
        drop(gone);
        api.wait_for_polls(1).await;
        tokio::time::sleep(Duration::from_millis(100)).await;
        let mut alive = RuntimeClient::open(&api).await;
        let served = async {
            let event = alive.next().await;
            let id = event.header("lambda-runtime-aws-request-id").to_owned();
            alive.respond(&id, &event.body).await;
        };
        let (outcome, ()) = tokio::time::timeout(Duration::from_secs(5), async {
            tokio::join!(api.invoke(b"7".to_vec(), in_a_minute()), served)
        })
        .await
        .expect("the live poller got the event and answered it");
        assert_eq!(outcome.expect_response(), json!(7));
    }

    #[tokio::test]
    async fn init_error_is_reported_and_first_poll_means_init_succeeded() {
        let failing = RuntimeApi::start().await.expect("emulator starts");
        let mut function = RuntimeClient::open(&failing).await;
        let answer = function
            .send(
                Method::POST,
                "/2018-06-01/runtime/init/error",
                br#"{"errorType": "ConfigError", "errorMessage": "SNS_TOPIC_ARN is not set"}"#,
            )
            .await;
        assert_eq!(answer.status, StatusCode::ACCEPTED);
        assert_eq!(
            failing.init_error().await,
            Some((
                "ConfigError".to_owned(),
                "SNS_TOPIC_ARN is not set".to_owned()
            ))
        );

        let healthy = RuntimeApi::start().await.expect("emulator starts");
        let mut function = RuntimeClient::open(&healthy).await;
        let poll = tokio::spawn(async move { function.next().await });
        assert_eq!(healthy.init_error().await, None);
        poll.abort();
    }

    #[tokio::test]
    async fn answers_for_unknown_or_already_answered_ids_are_refused() {
        let api = RuntimeApi::start().await.expect("emulator starts");
        let mut function = RuntimeClient::open(&api).await;
        assert_eq!(
            function.respond("not-an-id", b"{}").await,
            StatusCode::BAD_REQUEST
        );

        let (_, ()) = tokio::join!(api.invoke(b"{}".to_vec(), in_a_minute()), async {
            let event = function.next().await;
            let request_id = event.header("lambda-runtime-aws-request-id").to_owned();
            assert_eq!(
                function.respond(&request_id, b"{}").await,
                StatusCode::ACCEPTED
            );
            assert_eq!(
                function.respond(&request_id, b"{}").await,
                StatusCode::BAD_REQUEST
            );
        });
    }
}
