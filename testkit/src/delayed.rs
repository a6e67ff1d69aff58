//! A slow, counting front for another local endpoint: [`DelayedEndpoint`] sits before
//! `moto_server` (or any HTTP/1.1 endpoint on loopback), waits a set time before it forwards
//! each request unchanged, and counts the requests by API action. Real STS and Organizations
//! answer in tens to hundreds of milliseconds (more from a far region) where moto answers in
//! one or two, and an organization-wide sweep is judged by how often it calls them
//! (`AssumeRole` once per account, not once per account-region).
//!
//! Point one service of the code under test at it (`AWS_ENDPOINT_URL_STS` =
//! [`DelayedEndpoint::endpoint_url`]) and leave the others on moto itself; one front per
//! service keeps the counts apart.
//!
//! # How the action is read
//!
//! - AWS query protocol (STS, and SNS, SQS's old protocol): `Action=AssumeRole&RoleArn=...` in
//!   a form-encoded body (the SDKs' `POST`), or in the query string of a `GET`.
//! - AWS JSON protocol (Organizations, SQS's new protocol): the part of the `X-Amz-Target`
//!   header after the dot, `AWSOrganizationsV20161128.ListAccounts` → `ListAccounts`.
//!
//! A request with neither counts under [`UNKNOWN_ACTION`]. For `AssumeRole` the front also
//! counts the `RoleArn` parameter, so a test can check that each account's role was assumed
//! once ([`DelayedEndpoint::assume_role_calls_by_role`]).
//!
//! # What it does not do
//!
//! No HTTPS, no HTTP/2, no connection reuse towards the upstream (each request opens its own
//! connection to it; moto does not mind). The `Host` header is forwarded as sent, naming the
//! front: moto checks no signature and does not look at it. A request counts when it arrives,
//! before the delay, so a request that the client abandons during the delay still counts (the
//! service would have seen it). An upstream that cannot be reached is answered `502` with the
//! reason in the body.
//!
//! ```no_run
//! # async fn example() -> Result<(), String> {
//! use guard_testkit::delayed::DelayedEndpoint;
//! use guard_testkit::moto::Moto;
//! use std::time::Duration;
//!
//! let moto = Moto::start().await?;
//! let sts = DelayedEndpoint::start(&moto.endpoint_url(), Duration::from_millis(100))
//!     .await
//!     .map_err(|e| e.to_string())?;
//! // run the code under test with AWS_ENDPOINT_URL_STS = sts.endpoint_url(), then:
//! assert!(sts.assume_role_calls_by_role().values().all(|&calls| calls == 1));
//! # Ok(()) }
//! ```

use std::collections::BTreeMap;
use std::io;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::header::{self, HeaderMap, HeaderName};
use hyper::{Request, Response, StatusCode, Uri};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

use crate::server::{HttpResponse, LoopbackServer, percent_decode, query_pairs, read_body};

/// The action a request counts under when it names none.
pub const UNKNOWN_ACTION: &str = "Unknown";

/// Headers that describe one connection, not the message: not passed on in either direction
/// (hyper frames the forwarded bodies itself).
const HOP_BY_HOP: [HeaderName; 4] = [
    header::CONNECTION,
    header::TRANSFER_ENCODING,
    header::TE,
    header::UPGRADE,
];

/// A running front. Dropping it closes its port; the upstream is left alone.
pub struct DelayedEndpoint {
    shared: Arc<Shared>,
    server: LoopbackServer,
}

struct Shared {
    /// `host:port` of the upstream.
    upstream: String,
    delay: Mutex<Duration>,
    counts: Mutex<Counts>,
}

#[derive(Debug, Default)]
struct Counts {
    total: usize,
    by_action: BTreeMap<String, usize>,
    assume_role_by_role: BTreeMap<String, usize>,
    in_flight: usize,
    max_in_flight: usize,
}

impl DelayedEndpoint {
    /// Starts the front on `127.0.0.1` and a free port, forwarding to `upstream`
    /// (`http://host:port`, as [`Moto::endpoint_url`](crate::moto::Moto::endpoint_url) gives
    /// it) after `delay`. `InvalidInput` for an upstream that is not a plain `http://` URL with
    /// a port.
    pub async fn start(upstream: &str, delay: Duration) -> io::Result<DelayedEndpoint> {
        let upstream = upstream_authority(upstream)?;
        let shared = Arc::new(Shared {
            upstream,
            delay: Mutex::new(delay),
            counts: Mutex::new(Counts::default()),
        });
        let handler_shared = Arc::clone(&shared);
        let server = LoopbackServer::start(move |request| {
            let shared = Arc::clone(&handler_shared);
            async move { forward(&shared, request).await }
        })
        .await?;
        Ok(DelayedEndpoint { shared, server })
    }

    /// `http://127.0.0.1:PORT`: the value for `AWS_ENDPOINT_URL_STS` (or `_ORGANIZATIONS`).
    pub fn endpoint_url(&self) -> String {
        format!("http://{}", self.server.address())
    }

    /// The wait before each request is forwarded.
    pub fn delay(&self) -> Duration {
        *lock(&self.shared.delay)
    }

    /// Changes the wait for requests that arrive from now on.
    pub fn set_delay(&self, delay: Duration) {
        *lock(&self.shared.delay) = delay;
    }

    /// Requests that arrived so far, of every action.
    pub fn total(&self) -> usize {
        self.counts().total
    }

    /// Requests of `action` (`AssumeRole`, `GetCallerIdentity`, `ListAccounts`, ...) so far.
    pub fn count(&self, action: &str) -> usize {
        self.counts().by_action.get(action).copied().unwrap_or(0)
    }

    /// Requests so far by action.
    pub fn counts_by_action(&self) -> BTreeMap<String, usize> {
        self.counts().by_action.clone()
    }

    /// `AssumeRole` requests so far by their `RoleArn` (a request without one counts under
    /// an empty string).
    pub fn assume_role_calls_by_role(&self) -> BTreeMap<String, usize> {
        self.counts().assume_role_by_role.clone()
    }

    /// The most requests that were waiting or being forwarded at one time.
    pub fn max_in_flight(&self) -> usize {
        self.counts().max_in_flight
    }

    fn counts(&self) -> MutexGuard<'_, Counts> {
        lock(&self.shared.counts)
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // Nothing panics while holding these locks; a poisoned one still holds good counts.
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// `host:port` of `http://host:port[/]`.
fn upstream_authority(upstream: &str) -> io::Result<String> {
    let invalid = |problem: &str| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("upstream {upstream}: {problem}"),
        )
    };
    let uri: Uri = upstream.parse().map_err(|_| invalid("not a URL"))?;
    if uri.scheme_str() != Some("http") {
        return Err(invalid("only http:// is supported"));
    }
    if !matches!(uri.path(), "" | "/") || uri.query().is_some() {
        return Err(invalid("a path or query cannot be forwarded to"));
    }
    let authority = uri.authority().ok_or_else(|| invalid("no host"))?;
    let port = authority.port_u16().ok_or_else(|| invalid("no port"))?;
    Ok(format!("{}:{port}", authority.host()))
}

/// Counts the request, waits, forwards it and passes the answer back.
async fn forward(shared: &Shared, request: Request<Incoming>) -> HttpResponse {
    let (mut parts, body) = request.into_parts();
    let body = read_body(body).await;
    let action = action_of(&parts.headers, parts.uri.query(), &body);
    {
        let mut counts = lock(&shared.counts);
        counts.total += 1;
        *counts.by_action.entry(action.name.clone()).or_default() += 1;
        if action.name == "AssumeRole" {
            let role = action.role_arn.unwrap_or_default();
            *counts.assume_role_by_role.entry(role).or_default() += 1;
        }
        counts.in_flight += 1;
        counts.max_in_flight = counts.max_in_flight.max(counts.in_flight);
    }
    // Counted back down however this ends, even if the client goes away mid-wait.
    let _in_flight = InFlight(shared);

    let delay = *lock(&shared.delay);
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    strip_hop_by_hop(&mut parts.headers);
    let request = Request::from_parts(parts, Full::new(body));
    match send_upstream(&shared.upstream, request).await {
        Ok(response) => response,
        Err(problem) => {
            let mut response = Response::new(Full::new(Bytes::from(format!(
                "delayed endpoint: upstream {} failed: {problem}",
                shared.upstream
            ))));
            *response.status_mut() = StatusCode::BAD_GATEWAY;
            response
        }
    }
}

struct InFlight<'a>(&'a Shared);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        lock(&self.0.counts).in_flight -= 1;
    }
}

async fn send_upstream(
    upstream: &str,
    request: Request<Full<Bytes>>,
) -> Result<HttpResponse, String> {
    let stream = TcpStream::connect(upstream)
        .await
        .map_err(|e| format!("connect: {e}"))?;
    let _ = stream.set_nodelay(true);
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| format!("handshake: {e}"))?;
    tokio::spawn(connection);
    let response = sender
        .send_request(request)
        .await
        .map_err(|e| format!("request: {e}"))?;
    let (mut parts, body) = response.into_parts();
    let body = body
        .collect()
        .await
        .map_err(|e| format!("answer body: {e}"))?
        .to_bytes();
    strip_hop_by_hop(&mut parts.headers);
    Ok(Response::from_parts(parts, Full::new(body)))
}

fn strip_hop_by_hop(headers: &mut HeaderMap) {
    for name in &HOP_BY_HOP {
        headers.remove(name);
    }
}

/// What a request asks for.
#[derive(Debug, PartialEq, Eq)]
struct Action {
    name: String,
    role_arn: Option<String>,
}

/// The action of a query-protocol request (query string, then form body) or a JSON-protocol
/// one (`X-Amz-Target`).
fn action_of(headers: &HeaderMap, query: Option<&str>, body: &[u8]) -> Action {
    let from_pairs = |pairs: Vec<(String, String)>| {
        let value = |key: &str| {
            pairs
                .iter()
                .find(|(name, _)| name == key)
                .map(|(_, value)| value.clone())
        };
        value("Action").map(|name| Action {
            name,
            role_arn: value("RoleArn"),
        })
    };
    let is_form = headers
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value.starts_with("application/x-www-form-urlencoded"));
    let form = || {
        std::str::from_utf8(body)
            .ok()
            .filter(|_| is_form)
            .and_then(|text| from_pairs(form_pairs(text)))
    };
    let target = || {
        headers
            .get("x-amz-target")
            .and_then(|value| value.to_str().ok())
            .and_then(|target| target.rsplit_once('.'))
            .map(|(_, operation)| Action {
                name: operation.to_owned(),
                role_arn: None,
            })
    };
    from_pairs(query_pairs(query))
        .or_else(form)
        .or_else(target)
        .unwrap_or(Action {
            name: UNKNOWN_ACTION.to_owned(),
            role_arn: None,
        })
}

/// `application/x-www-form-urlencoded` pairs: as [`query_pairs`], with `+` for a space.
fn form_pairs(body: &str) -> Vec<(String, String)> {
    body.split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            let decode = |part: &str| {
                let spaced = part.replace('+', " ");
                percent_decode(&spaced).unwrap_or(spaced)
            };
            (decode(key), decode(value))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use hyper::Method;
    use serde_json::{Value, json};

    use super::*;
    use crate::moto::{Moto, sdk_error};
    use crate::server::json_response;
    use crate::test_client::Connection;

    /// An upstream that answers every request with what it received, as JSON, status `201`
    /// and an `x-echo` header.
    async fn echo() -> LoopbackServer {
        LoopbackServer::start(|request: Request<Incoming>| async move {
            let (parts, body) = request.into_parts();
            let body = read_body(body).await;
            let headers: BTreeMap<String, String> = parts
                .headers
                .iter()
                .map(|(name, value)| {
                    (
                        name.to_string(),
                        value.to_str().unwrap_or_default().to_owned(),
                    )
                })
                .collect();
            let mut response = json_response(
                StatusCode::CREATED,
                &json!({
                    "method": parts.method.as_str(),
                    "uri": parts.uri.to_string(),
                    "headers": headers,
                    "body": String::from_utf8_lossy(&body),
                }),
            );
            response
                .headers_mut()
                .insert("x-echo", header::HeaderValue::from_static("yes"));
            response
        })
        .await
        .expect("echo server")
    }

    fn address(endpoint: &DelayedEndpoint) -> String {
        endpoint
            .endpoint_url()
            .trim_start_matches("http://")
            .to_owned()
    }

    const STS_FORM: &str = "application/x-www-form-urlencoded; charset=utf-8";

    #[tokio::test]
    async fn requests_and_answers_pass_through_unchanged_after_the_delay() {
        let upstream = echo().await;
        let delay = Duration::from_millis(150);
        let front = DelayedEndpoint::start(&format!("http://{}", upstream.address()), delay)
            .await
            .expect("front");
        let mut connection = Connection::open(&address(&front)).await;
        let body = "Action=AssumeRole&Version=2011-06-15&RoleArn=arn%3Aaws%3Aiam%3A%3A222233334444%3Arole%2Fguard+x&RoleSessionName=s";
        let started = Instant::now();
        let answer = connection
            .send(
                Request::builder()
                    .method(Method::POST)
                    .uri("/some/path?x=1")
                    .header(header::CONTENT_TYPE, STS_FORM)
                    .header("authorization", "AWS4-HMAC-SHA256 Credential=AKID/x"),
                body.as_bytes(),
            )
            .await;
        let took = started.elapsed();
        assert!(took >= delay, "answered after {took:?}");
        assert_eq!(answer.status, StatusCode::CREATED);
        assert_eq!(answer.header("x-echo"), "yes");
        let seen: Value = serde_json::from_slice(&answer.body).expect("echo JSON");
        assert_eq!(seen["method"], "POST");
        assert_eq!(seen["uri"], "/some/path?x=1");
        assert_eq!(seen["body"], body);
        assert_eq!(seen["headers"]["content-type"], STS_FORM);
        assert_eq!(
            seen["headers"]["authorization"],
            "AWS4-HMAC-SHA256 Credential=AKID/x"
        );
        assert_eq!(front.total(), 1);
        assert_eq!(front.count("AssumeRole"), 1);
        assert_eq!(
            front.assume_role_calls_by_role(),
            BTreeMap::from([("arn:aws:iam::222233334444:role/guard x".to_owned(), 1)])
        );
    }

    #[tokio::test]
    async fn actions_are_read_from_the_query_the_form_body_or_the_json_target() {
        let upstream = echo().await;
        let front =
            DelayedEndpoint::start(&format!("http://{}", upstream.address()), Duration::ZERO)
                .await
                .expect("front");
        let mut connection = Connection::open(&address(&front)).await;
        let get = |uri: &str| Request::builder().method(Method::GET).uri(uri);
        let post = |content_type: &str| {
            Request::builder()
                .method(Method::POST)
                .uri("/")
                .header(header::CONTENT_TYPE, content_type)
        };
        connection
            .send(get("/?Action=GetCallerIdentity&Version=2011-06-15"), b"")
            .await;
        for role in [
            "arn:aws:iam::1:role/r",
            "arn:aws:iam::2:role/r",
            "arn:aws:iam::1:role/r",
        ] {
            let body = format!("Action=AssumeRole&RoleArn={role}");
            connection.send(post(STS_FORM), body.as_bytes()).await;
        }
        connection
            .send(
                post("application/x-amz-json-1.1")
                    .header("x-amz-target", "AWSOrganizationsV20161128.ListAccounts"),
                b"{}",
            )
            .await;
        // Form-looking text that is not sent as a form names no action.
        connection
            .send(post("text/plain"), b"Action=AssumeRole&RoleArn=x")
            .await;
        assert_eq!(front.total(), 6);
        assert_eq!(
            front.counts_by_action(),
            BTreeMap::from([
                ("AssumeRole".to_owned(), 3),
                ("GetCallerIdentity".to_owned(), 1),
                ("ListAccounts".to_owned(), 1),
                (UNKNOWN_ACTION.to_owned(), 1),
            ])
        );
        assert_eq!(
            front.assume_role_calls_by_role(),
            BTreeMap::from([
                ("arn:aws:iam::1:role/r".to_owned(), 2),
                ("arn:aws:iam::2:role/r".to_owned(), 1),
            ])
        );
        assert_eq!(front.count("DescribeCluster"), 0);
    }

    #[tokio::test]
    async fn concurrent_requests_wait_side_by_side_and_a_dead_upstream_is_a_502() {
        let upstream = echo().await;
        let front = DelayedEndpoint::start(
            &format!("http://{}", upstream.address()),
            Duration::from_millis(300),
        )
        .await
        .expect("front");
        let started = Instant::now();
        let send = || async {
            let mut connection = Connection::open(&address(&front)).await;
            connection
                .send(
                    Request::builder().method(Method::GET).uri("/?Action=A"),
                    b"",
                )
                .await
                .status
        };
        let statuses = tokio::join!(send(), send(), send());
        let took = started.elapsed();
        assert_eq!(
            statuses,
            (
                StatusCode::CREATED,
                StatusCode::CREATED,
                StatusCode::CREATED
            )
        );
        assert!(
            took < Duration::from_millis(800),
            "three 300 ms waits side by side took {took:?}"
        );
        assert_eq!(front.max_in_flight(), 3);

        front.set_delay(Duration::ZERO);
        assert_eq!(front.delay(), Duration::ZERO);
        drop(upstream);
        let mut connection = Connection::open(&address(&front)).await;
        let answer = connection
            .send(
                Request::builder().method(Method::GET).uri("/?Action=A"),
                b"",
            )
            .await;
        assert_eq!(answer.status, StatusCode::BAD_GATEWAY);
        assert_eq!(front.count("A"), 4, "a request counts even if it fails");
    }

    #[tokio::test]
    async fn an_upstream_that_is_not_plain_http_with_a_port_is_refused() {
        for upstream in [
            "https://127.0.0.1:4566",
            "http://127.0.0.1",
            "http://127.0.0.1:4566/sts",
            "not a url",
        ] {
            let error = DelayedEndpoint::start(upstream, Duration::ZERO)
                .await
                .err()
                .unwrap_or_else(|| panic!("{upstream} was accepted"));
            assert_eq!(error.kind(), io::ErrorKind::InvalidInput, "{upstream}");
        }
        assert!(
            DelayedEndpoint::start("http://127.0.0.1:4566/", Duration::ZERO)
                .await
                .is_ok()
        );
    }

    /// Through moto and the SDK clients the guard uses: STS `AssumeRole` (query protocol) and
    /// Organizations (JSON protocol), answered by moto as if the front were not there.
    #[tokio::test]
    async fn sdk_clients_reach_moto_through_the_front_and_are_counted() {
        let moto = Moto::start()
            .await
            .unwrap_or_else(|message| panic!("{message}"));
        let organization = moto.organization(2, 0).await;
        let delay = Duration::from_millis(100);
        let front = DelayedEndpoint::start(&moto.endpoint_url(), delay)
            .await
            .expect("front");
        let config = crate::sdk::local_sdk_config(&front.endpoint_url(), crate::moto::REGION);
        let sts = aws_sdk_sts::Client::new(&config);
        let roles: Vec<String> = organization
            .active
            .iter()
            .map(|account| format!("arn:aws:iam::{account}:role/eks-endpoint-guard-remediation"))
            .collect();
        assert_eq!(roles.len(), 2);
        let started = Instant::now();
        for role in [&roles[0], &roles[1], &roles[0]] {
            let credentials = sts
                .assume_role()
                .role_arn(role)
                .role_session_name("eks-endpoint-guard")
                .send()
                .await
                .unwrap_or_else(|error| panic!("AssumeRole: {}", sdk_error(&error)))
                .credentials
                .expect("credentials");
            let account = role.split(':').nth(4).expect("account in the ARN");
            assert_eq!(
                moto.account_of_key(credentials.access_key_id())
                    .await
                    .as_deref(),
                Some(account),
                "moto handed out the key for the role's account"
            );
        }
        assert!(started.elapsed() >= delay * 3);
        let accounts = aws_sdk_organizations::Client::new(&config)
            .list_accounts()
            .send()
            .await
            .unwrap_or_else(|error| panic!("ListAccounts: {}", sdk_error(&error)))
            .accounts
            .unwrap_or_default();
        assert_eq!(accounts.len(), organization.active_accounts().len());
        assert_eq!(front.count("AssumeRole"), 3);
        assert_eq!(front.count("ListAccounts"), 1);
        assert_eq!(front.total(), 4, "account_of_key went to moto directly");
        assert_eq!(
            front.assume_role_calls_by_role(),
            BTreeMap::from([(roles[0].clone(), 2), (roles[1].clone(), 1)])
        );
    }
}
