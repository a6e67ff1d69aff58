//! The HTTP plumbing shared by the Runtime API emulator and the EKS double: a loopback HTTP/1.1
//! server built on hyper (so keep-alive, pipelining and chunked bodies behave like a real
//! server), plus the small URL helpers both need.

use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode, header};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::task::{JoinHandle, JoinSet};

pub(crate) type HttpResponse = Response<Full<Bytes>>;

/// A server on `127.0.0.1:<free port>` that answers every request with `handler`. Dropping it
/// stops the accept loop and every open connection, including requests parked in a long poll.
pub(crate) struct LoopbackServer {
    address: SocketAddr,
    accept_loop: JoinHandle<()>,
}

impl LoopbackServer {
    pub(crate) async fn start<H, F>(handler: H) -> io::Result<Self>
    where
        H: Fn(Request<Incoming>) -> F + Clone + Send + Sync + 'static,
        F: Future<Output = HttpResponse> + Send + 'static,
    {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await?;
        let address = listener.local_addr()?;
        let accept_loop = tokio::spawn(accept_connections(listener, handler));
        Ok(Self {
            address,
            accept_loop,
        })
    }

    pub(crate) fn address(&self) -> SocketAddr {
        self.address
    }
}

impl Drop for LoopbackServer {
    fn drop(&mut self) {
        // Aborting the loop drops its JoinSet, which aborts every connection task with it.
        self.accept_loop.abort();
    }
}

async fn accept_connections<H, F>(listener: TcpListener, handler: H)
where
    H: Fn(Request<Incoming>) -> F + Clone + Send + Sync + 'static,
    F: Future<Output = HttpResponse> + Send + 'static,
{
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _peer)) => {
                    // Small request/response exchanges: do not let Nagle add 40 ms to each.
                    let _ = stream.set_nodelay(true);
                    let handler = handler.clone();
                    connections.spawn(async move {
                        let service = service_fn(move |request| {
                            let answer = handler(request);
                            async move { Ok::<_, Infallible>(answer.await) }
                        });
                        // An error here means the client went away mid-exchange; a server
                        // would log and forget it, and so do we.
                        let _ = http1::Builder::new()
                            .serve_connection(TokioIo::new(stream), service)
                            .await;
                    });
                }
                // Out of file descriptors or similar: back off instead of spinning.
                Err(_) => tokio::time::sleep(Duration::from_millis(10)).await,
            },
            // Reap finished connections so the set does not grow over a long benchmark.
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
}

/// The whole request body; a body the client abandoned half-way reads as empty.
pub(crate) async fn read_body(body: Incoming) -> Bytes {
    body.collect()
        .await
        .map(|collected| collected.to_bytes())
        .unwrap_or_default()
}

pub(crate) fn json_response(status: StatusCode, body: &serde_json::Value) -> HttpResponse {
    let mut response = Response::new(Full::new(Bytes::from(body.to_string())));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("application/json"),
    );
    response
}

/// Decodes `%XX` escapes. The SDK percent-encodes URI labels, so `/tags/{arn}` arrives as
/// `/tags/arn%3Aaws%3Aeks%3A...%2FNAME`. `None` for a malformed escape or invalid UTF-8.
pub(crate) fn percent_decode(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut decoded = Vec::with_capacity(bytes.len());
    let mut index = 0;
    while index < bytes.len() {
        if bytes[index] == b'%' {
            let escape = text.get(index + 1..index + 3)?;
            decoded.push(u8::from_str_radix(escape, 16).ok()?);
            index += 3;
        } else {
            decoded.push(bytes[index]);
            index += 1;
        }
    }
    String::from_utf8(decoded).ok()
}

/// `a=1&b=x%20y` as decoded pairs, in order. Undecodable pairs are kept raw.
pub(crate) fn query_pairs(query: Option<&str>) -> Vec<(String, String)> {
    query
        .unwrap_or_default()
        .split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            let decode = |part: &str| percent_decode(part).unwrap_or_else(|| part.to_owned());
            (decode(key), decode(value))
        })
        .collect()
}

/// Seconds since the epoch with millisecond precision: the `timestampFormat: epoch-seconds`
/// encoding of AWS REST-JSON services (`"createdAt": 1700000000.123`).
pub(crate) fn epoch_seconds(time: SystemTime) -> f64 {
    let since_epoch = time.duration_since(UNIX_EPOCH).unwrap_or_default();
    since_epoch.as_millis() as f64 / 1000.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percent_decoding_handles_encoded_arns_and_rejects_broken_escapes() {
        assert_eq!(
            percent_decode("arn%3Aaws%3Aeks%3Aus-east-1%3A123456789012%3Acluster%2Fprod")
                .as_deref(),
            Some("arn:aws:eks:us-east-1:123456789012:cluster/prod")
        );
        assert_eq!(percent_decode("plain-name").as_deref(), Some("plain-name"));
        assert_eq!(percent_decode("bad%2"), None);
        assert_eq!(percent_decode("bad%zz"), None);
    }

    #[test]
    fn query_pairs_are_decoded_in_order() {
        assert_eq!(
            query_pairs(Some("maxResults=7&nextToken=a%2Fb&flag")),
            vec![
                ("maxResults".to_owned(), "7".to_owned()),
                ("nextToken".to_owned(), "a/b".to_owned()),
                ("flag".to_owned(), String::new()),
            ]
        );
        assert!(query_pairs(None).is_empty());
    }
}
