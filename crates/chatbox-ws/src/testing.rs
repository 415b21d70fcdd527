//! A test client for the edge (feature `test-support`): a real WebSocket client over
//! fastwebsockets, raw HTTP/1.1 requests, and JWT minting. Every wait is bounded so a broken
//! server fails a test instead of hanging it.

use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use axum::body::Body;
use axum::http::Request;
use fastwebsockets::{Frame, OpCode, Payload, WebSocket, WebSocketError};
use hyper::upgrade::Upgraded;
use hyper_util::rt::TokioIo;
use jsonwebtoken::{EncodingKey, Header, encode};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

/// The longest any single wait of this client lasts.
pub const GUARD: Duration = Duration::from_secs(10);

/// A client WebSocket.
pub type Ws = WebSocket<TokioIo<Upgraded>>;

/// Why a test client call failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClientError {
    /// Connecting or the handshake failed.
    #[error("websocket: {0}")]
    Ws(#[from] WebSocketError),
    /// A socket failed.
    #[error("io: {0}")]
    Io(#[from] std::io::Error),
    /// Nothing arrived within [`GUARD`].
    #[error("timed out")]
    Timeout,
    /// A frame was not JSON.
    #[error("not JSON: {0}")]
    Json(#[from] serde_json::Error),
    /// The server closed the connection (with this code) when a frame was expected.
    #[error("closed with {0}")]
    Closed(u16),
    /// The request could not be built.
    #[error("bad request: {0}")]
    Request(String),
}

/// Mints an HS256 token for `user` with `roles`, valid for an hour.
pub fn token(secret: &str, user: &str, roles: &[&str]) -> String {
    let exp = chrono::Utc::now().timestamp() + 3600;
    let claims = json!({"user_id": user, "roles": roles, "name": user, "exp": exp});
    encode(
        &Header::default(),
        &claims,
        &EncodingKey::from_secret(secret.as_bytes()),
    )
    .unwrap_or_default()
}

struct SpawnExecutor;

impl<F> hyper::rt::Executor<F> for SpawnExecutor
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    fn execute(&self, fut: F) {
        tokio::spawn(fut);
    }
}

/// Opens a WebSocket at `path_and_query` (prefix included) with a bearer token.
pub async fn connect(
    addr: SocketAddr,
    path_and_query: &str,
    bearer: &str,
) -> Result<Ws, ClientError> {
    connect_from(None, addr, path_and_query, bearer).await
}

/// [`connect`] from a chosen local address (load tests spread over several loopback sources to
/// get past one address's ephemeral ports).
pub async fn connect_from(
    source: Option<IpAddr>,
    addr: SocketAddr,
    path_and_query: &str,
    bearer: &str,
) -> Result<Ws, ClientError> {
    let stream = match source {
        None => TcpStream::connect(addr).await?,
        Some(ip) => {
            let socket = if ip.is_ipv4() {
                TcpSocket::new_v4()?
            } else {
                TcpSocket::new_v6()?
            };
            socket.bind(SocketAddr::new(ip, 0))?;
            socket.connect(addr).await?
        }
    };
    stream.set_nodelay(true)?;
    let req = Request::get(format!("http://{addr}{path_and_query}"))
        .header("Host", addr.to_string())
        .header("Upgrade", "websocket")
        .header("Connection", "upgrade")
        .header(
            "Sec-WebSocket-Key",
            fastwebsockets::handshake::generate_key(),
        )
        .header("Sec-WebSocket-Version", "13")
        .header("Authorization", format!("Bearer {bearer}"))
        .body(Body::empty())
        .map_err(|e| ClientError::Request(e.to_string()))?;
    let handshake = fastwebsockets::handshake::client(&SpawnExecutor, req, stream);
    let (ws, _) = tokio::time::timeout(GUARD, handshake)
        .await
        .map_err(|_| ClientError::Timeout)??;
    Ok(ws)
}

/// What the server sent next.
#[derive(Debug, Clone, PartialEq)]
pub enum Got {
    /// A JSON text frame.
    Json(Value),
    /// A close frame with this code.
    Closed(u16),
}

/// The next text or close frame (pings are answered by the client and skipped).
pub async fn read(ws: &mut Ws) -> Result<Got, ClientError> {
    loop {
        let frame = tokio::time::timeout(GUARD, ws.read_frame())
            .await
            .map_err(|_| ClientError::Timeout)??;
        match frame.opcode {
            OpCode::Text => return Ok(Got::Json(serde_json::from_slice(&frame.payload)?)),
            OpCode::Close => {
                let code = match frame.payload.get(..2) {
                    Some(b) => u16::from_be_bytes([b[0], b[1]]),
                    None => 1005,
                };
                return Ok(Got::Closed(code));
            }
            _ => continue,
        }
    }
}

/// The next JSON frame; a close is an error.
pub async fn json(ws: &mut Ws) -> Result<Value, ClientError> {
    match read(ws).await? {
        Got::Json(v) => Ok(v),
        Got::Closed(code) => Err(ClientError::Closed(code)),
    }
}

/// Skips frames until a close; returns its code.
pub async fn closed(ws: &mut Ws) -> Result<u16, ClientError> {
    loop {
        if let Got::Closed(code) = read(ws).await? {
            return Ok(code);
        }
    }
}

/// Reads until the done frame of a reply; returns every frame read.
pub async fn until_done(ws: &mut Ws) -> Result<Vec<Value>, ClientError> {
    let mut out = Vec::new();
    loop {
        let f = json(ws).await?;
        let done = f["type"] == "ai_response" && f["metadata"]["done"] == "true";
        out.push(f);
        if done {
            return Ok(out);
        }
    }
}

/// Sends a JSON text frame.
pub async fn send(ws: &mut Ws, v: &Value) -> Result<(), ClientError> {
    ws.write_frame(Frame::text(Payload::Owned(v.to_string().into_bytes())))
        .await?;
    Ok(())
}

/// The text of the streamed chunks among `frames`.
pub fn reply_text(frames: &[Value]) -> String {
    frames
        .iter()
        .filter(|f| f["type"] == "ai_response" && f["metadata"]["done"] == "false")
        .map(|f| f["content"].as_str().unwrap_or_default())
        .collect()
}

/// A raw HTTP/1.1 request (`path` includes the prefix); returns the status and body.
pub async fn http(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
) -> Result<(u16, String), ClientError> {
    let (status, _, body) = http_with_headers(addr, method, path, headers).await?;
    Ok((status, body))
}

/// Like [`http`], also returning the response headers (names lower-cased).
pub async fn http_with_headers(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
) -> Result<(u16, Vec<(String, String)>, String), ClientError> {
    let mut stream = TcpStream::connect(addr).await?;
    let mut req = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: 0\r\n"
    );
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    stream.write_all(req.as_bytes()).await?;
    let mut raw = Vec::new();
    tokio::time::timeout(GUARD, stream.read_to_end(&mut raw))
        .await
        .map_err(|_| ClientError::Timeout)??;
    let raw = String::from_utf8_lossy(&raw).into_owned();
    let status = raw.get(9..12).and_then(|s| s.parse().ok()).unwrap_or(0);
    let (head, body) = raw.split_once("\r\n\r\n").unwrap_or((raw.as_str(), ""));
    let headers = head
        .lines()
        .skip(1)
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    Ok((status, headers, body.to_owned()))
}

/// A REST call with a bearer token; the body parsed as JSON (`null` when it is not).
pub async fn api(
    addr: SocketAddr,
    method: &str,
    path: &str,
    bearer: &str,
) -> Result<(u16, Value), ClientError> {
    let auth = format!("Bearer {bearer}");
    let (status, body) = http(addr, method, path, &[("Authorization", &auth)]).await?;
    Ok((status, serde_json::from_str(&body).unwrap_or(Value::Null)))
}

/// Sends an upgrade request by hand and returns the status code only (the socket is dropped).
pub async fn upgrade_status(
    addr: SocketAddr,
    path: &str,
    headers: &[(&str, &str)],
) -> Result<u16, ClientError> {
    let mut stream = TcpStream::connect(addr).await?;
    let mut req = format!(
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
    );
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    stream.write_all(req.as_bytes()).await?;
    let mut buf = [0u8; 12];
    tokio::time::timeout(GUARD, stream.read_exact(&mut buf))
        .await
        .map_err(|_| ClientError::Timeout)??;
    Ok(String::from_utf8_lossy(&buf[9..12]).parse().unwrap_or(0))
}

/// Posts one multipart upload to `path` (with the prefix) whose file part `name` is `len` bytes:
/// `first`, then `a` filler, streamed in 1 MiB writes so a large body is never held in memory.
/// The server may answer (413, 415) before reading it all: the failed writes are ignored.
/// Returns the status and the response body.
pub async fn upload_streamed(
    addr: SocketAddr,
    path: &str,
    bearer: &str,
    name: &str,
    first: &[u8],
    len: usize,
) -> Result<(u16, String), ClientError> {
    const BOUNDARY: &str = "chatbox-testing-boundary-41";
    let mut stream = TcpStream::connect(addr).await?;
    stream.set_nodelay(true)?;
    let open = format!(
        "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{name}\"\r\n\
         Content-Type: application/octet-stream\r\n\r\n"
    );
    let close = format!("\r\n--{BOUNDARY}--\r\n");
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\
         Authorization: Bearer {bearer}\r\nContent-Type: multipart/form-data; boundary={BOUNDARY}\r\n\
         Content-Length: {}\r\n\r\n{open}",
        open.len() + len + close.len()
    );
    let writer = async {
        stream.write_all(head.as_bytes()).await?;
        stream.write_all(&first[..first.len().min(len)]).await?;
        let filler = vec![b'a'; 1 << 20];
        let mut left = len.saturating_sub(first.len());
        while left > 0 {
            let n = left.min(filler.len());
            stream.write_all(&filler[..n]).await?;
            left -= n;
        }
        stream.write_all(close.as_bytes()).await
    };
    let _ = writer.await;
    let mut raw = Vec::new();
    tokio::time::timeout(Duration::from_secs(120), stream.read_to_end(&mut raw))
        .await
        .map_err(|_| ClientError::Timeout)??;
    let raw = String::from_utf8_lossy(&raw).into_owned();
    let status = raw.get(9..12).and_then(|s| s.parse().ok()).unwrap_or(0);
    let body = raw
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    Ok((status, body))
}
