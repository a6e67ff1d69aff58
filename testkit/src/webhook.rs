//! A local HTTP endpoint that takes POSTs, as a webhook subscribed to an SNS topic does: moto
//! delivers an `http`/`https` subscription as one HTTP/1.1 request with a `content-length` body.

use std::future::Future;
use std::io;
use std::sync::Arc;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// Serves `http://127.0.0.1:<free port><path>` (the URL returned) until the runtime stops: each
/// request's body goes to `on_body`, and once that is done the request is answered `200 OK`
/// with an empty body, so the sender knows it was taken.
pub async fn serve<F, Fut>(path: &str, on_body: F) -> io::Result<String>
where
    F: Fn(Vec<u8>) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}{path}", listener.local_addr()?);
    let on_body = Arc::new(on_body);
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            let on_body = on_body.clone();
            tokio::spawn(async move {
                if let Some(body) = read_request_body(&mut stream).await {
                    on_body(body).await;
                }
                let _ = stream
                    .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
                    .await;
            });
        }
    });
    Ok(url)
}

/// Reads one HTTP/1.1 request with a `content-length` body and returns the body; `None` if the
/// connection ends first.
pub async fn read_request_body(stream: &mut TcpStream) -> Option<Vec<u8>> {
    let mut buffer = Vec::new();
    let mut chunk = [0u8; 65536];
    loop {
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buffer.extend_from_slice(&chunk[..n]);
        let Some(end) = buffer.windows(4).position(|w| w == b"\r\n\r\n") else {
            continue;
        };
        let head = String::from_utf8_lossy(&buffer[..end]).to_ascii_lowercase();
        let length: usize = head
            .lines()
            .find_map(|l| l.strip_prefix("content-length:"))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0);
        while buffer.len() < end + 4 + length {
            let n = stream.read(&mut chunk).await.ok()?;
            if n == 0 {
                return None;
            }
            buffer.extend_from_slice(&chunk[..n]);
        }
        return Some(buffer[end + 4..end + 4 + length].to_vec());
    }
}
