//! HTTP clients for the unit tests of the kit's servers: requests go over a real keep-alive
//! connection, one at a time, the way a Lambda runtime or an SDK sends them.

use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::client::conn::http1::SendRequest;
use hyper::http::request::Builder;
use hyper::{HeaderMap, Method, Request, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

use crate::runtime::RuntimeApi;

/// One HTTP/1.1 keep-alive connection to `host:port`.
pub(crate) struct Connection {
    sender: SendRequest<Full<Bytes>>,
}

/// An answer, body read to the end.
pub(crate) struct Answer {
    pub(crate) status: StatusCode,
    pub(crate) headers: HeaderMap,
    pub(crate) body: Bytes,
}

impl Connection {
    pub(crate) async fn open(address: &str) -> Connection {
        let stream = TcpStream::connect(address).await.expect("connect");
        let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .expect("HTTP/1.1 handshake");
        tokio::spawn(connection);
        Connection { sender }
    }

    /// Sends `request` (method, path and any headers) with `body`, and reads the whole answer.
    pub(crate) async fn send(&mut self, request: Builder, body: &[u8]) -> Answer {
        let request = request
            .header("host", "127.0.0.1")
            .body(Full::new(Bytes::copy_from_slice(body)))
            .expect("valid request");
        let response = self.sender.send_request(request).await.expect("an answer");
        let status = response.status();
        let headers = response.headers().clone();
        let body = response
            .into_body()
            .collect()
            .await
            .expect("full body")
            .to_bytes();
        Answer {
            status,
            headers,
            body,
        }
    }
}

impl Answer {
    /// The value of a header the answer must have.
    pub(crate) fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .unwrap_or_else(|| panic!("missing header {name}"))
            .to_str()
            .expect("ASCII header")
    }
}

/// A function's connection to a [`RuntimeApi`], used the way a runtime uses it: poll for the
/// next event, answer it, poll again.
pub(crate) struct RuntimeClient(Connection);

impl RuntimeClient {
    pub(crate) async fn open(api: &RuntimeApi) -> RuntimeClient {
        RuntimeClient(Connection::open(&api.address()).await)
    }

    pub(crate) async fn send(&mut self, method: Method, path: &str, body: &[u8]) -> Answer {
        let request = Request::builder().method(method).uri(path);
        self.0.send(request, body).await
    }

    /// The next event (a long poll), which must be answered `200`.
    pub(crate) async fn next(&mut self) -> Answer {
        let answer = self
            .send(Method::GET, "/2018-06-01/runtime/invocation/next", b"")
            .await;
        assert_eq!(answer.status, StatusCode::OK);
        answer
    }

    /// Posts the function's answer to an invocation; returns the emulator's status.
    pub(crate) async fn respond(&mut self, request_id: &str, body: &[u8]) -> StatusCode {
        let path = format!("/2018-06-01/runtime/invocation/{request_id}/response");
        self.send(Method::POST, &path, body).await.status
    }

    /// Posts the function's error report for an invocation; returns the emulator's status.
    pub(crate) async fn report_error(&mut self, request_id: &str, body: &[u8]) -> StatusCode {
        let path = format!("/2018-06-01/runtime/invocation/{request_id}/error");
        self.send(Method::POST, &path, body).await.status
    }
}
