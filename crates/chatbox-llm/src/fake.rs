//! Fake vendor servers for tests (feature `test-support`): each speaks one vendor's real wire
//! format over real HTTP/1.1 on `127.0.0.1`, so the providers are tested end to end.
//!
//! A [`FakeVendor`] answers every chat or transcription request with the next scripted
//! [`Reply`] (or, when the script is empty, echoes the last user message as `"echo: "` +
//! its text, the text parts of a content array included), records every request it received, and counts connections and connections the client
//! closed before the response was complete (how tests observe cancellation). Health routes
//! (`GET …/models`, `GET …/parameters`) answer a settable status. Dropping the fake stops it
//! and closes its connections.
//!
//! ```no_run
//! # async fn demo() -> std::io::Result<()> {
//! use chatbox_llm::ProviderKind;
//! use chatbox_llm::fake::{FakeVendor, Reply};
//! let fake = FakeVendor::start(ProviderKind::Anthropic).await?;
//! fake.push(Reply::text(["Hel", "lo"]).usage(12, 2));
//! let config = fake.provider_config(); // points at fake.base_url()
//! # Ok(()) }
//! ```

mod render;
mod script;

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU16, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use bytes::Bytes;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::OwnedWriteHalf;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Notify;
use tokio::task::JoinSet;

pub use script::{Ending, FAKE_INPUT_TOKENS, FakeUsage, Reply, StatusReply, StreamReply};

use crate::config::{ProviderConfig, ProviderKind, RetryConfig};
use render::{Context, Step};

/// The API key a fake's [`FakeVendor::provider_config`] uses.
pub const FAKE_API_KEY: &str = "fake-key-not-secret";
/// The model name a fake's [`FakeVendor::provider_config`] uses.
pub const FAKE_MODEL: &str = "fake-model";

/// The most header bytes a fake reads.
const MAX_HEAD: usize = 64 * 1024;
/// The most body bytes a fake reads.
const MAX_BODY: usize = 64 * 1024 * 1024;

/// One request a fake received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceivedRequest {
    /// `GET`, `POST`, ...
    pub method: String,
    /// The path and query, e.g. `/v1/chat/completions`.
    pub path: String,
    /// Headers, names lower-cased, in arrival order.
    pub headers: Vec<(String, String)>,
    /// The raw body.
    pub body: Bytes,
}

impl ReceivedRequest {
    /// The first value of a header (name case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The body as JSON, if it is JSON.
    pub fn json(&self) -> Option<Value> {
        serde_json::from_slice(&self.body).ok()
    }
}

/// A running fake vendor server.
#[derive(Debug)]
pub struct FakeVendor {
    kind: ProviderKind,
    addr: SocketAddr,
    shared: Arc<Shared>,
    accept: tokio::task::JoinHandle<()>,
}

#[derive(Debug, Default)]
struct Shared {
    script: Mutex<VecDeque<Reply>>,
    requests: Mutex<Vec<ReceivedRequest>>,
    connections: AtomicUsize,
    closed_early: AtomicUsize,
    conversations: AtomicUsize,
    health_status: AtomicU16,
    changed: Notify,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Drop for FakeVendor {
    fn drop(&mut self) {
        self.accept.abort();
    }
}

impl FakeVendor {
    /// Starts a fake of `kind` on `127.0.0.1` with an OS-chosen port.
    pub async fn start(kind: ProviderKind) -> std::io::Result<Self> {
        let listener = TcpListener::bind(("127.0.0.1", 0)).await?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared {
            health_status: AtomicU16::new(200),
            ..Shared::default()
        });
        let accept = tokio::spawn(accept_loop(listener, kind, Arc::clone(&shared)));
        Ok(Self {
            kind,
            addr,
            shared,
            accept,
        })
    }

    /// The vendor this fake speaks.
    pub fn kind(&self) -> ProviderKind {
        self.kind
    }

    /// The endpoint to configure: `http://127.0.0.1:<port>/v1`.
    pub fn base_url(&self) -> String {
        format!("http://{}/v1", self.addr)
    }

    /// A valid provider config pointing at this fake, with id `fake-<vendor>`, model
    /// [`FAKE_MODEL`], key [`FAKE_API_KEY`], default timeouts and fast retries (10 ms base,
    /// 100 ms cap) so tests stay quick.
    pub fn provider_config(&self) -> ProviderConfig {
        let vendor = match self.kind {
            ProviderKind::Openai => "openai",
            ProviderKind::Anthropic => "anthropic",
            ProviderKind::Dify => "dify",
        };
        ProviderConfig {
            id: format!("fake-{vendor}"),
            name: format!("Fake {vendor}"),
            kind: self.kind,
            endpoint: self.base_url(),
            api_key: FAKE_API_KEY.into(),
            model: FAKE_MODEL.into(),
            retry: RetryConfig {
                attempts: 3,
                base_ms: 10,
                cap_ms: 100,
            },
            ..ProviderConfig::default()
        }
    }

    /// Queues the answer to a later request (first in, first out).
    pub fn push(&self, reply: Reply) {
        lock(&self.shared.script).push_back(reply);
    }

    /// Every request received so far, in arrival order.
    pub fn requests(&self) -> Vec<ReceivedRequest> {
        lock(&self.shared.requests).clone()
    }

    /// The chat requests received so far (`POST` to the vendor's chat path).
    pub fn chat_requests(&self) -> Vec<ReceivedRequest> {
        let suffix = chat_path(self.kind);
        self.requests()
            .into_iter()
            .filter(|r| r.method == "POST" && path_only(&r.path).ends_with(suffix))
            .collect()
    }

    /// TCP connections accepted so far.
    pub fn connections(&self) -> usize {
        self.shared.connections.load(Ordering::SeqCst)
    }

    /// Connections the client closed before the fake finished its response.
    pub fn closed_early(&self) -> usize {
        self.shared.closed_early.load(Ordering::SeqCst)
    }

    /// Waits until at least `count` connections were closed early, up to `within`; returns
    /// whether that happened.
    pub async fn wait_closed_early(&self, count: usize, within: Duration) -> bool {
        let wait = async {
            loop {
                let changed = self.shared.changed.notified();
                if self.closed_early() >= count {
                    return;
                }
                changed.await;
            }
        };
        tokio::time::timeout(within, wait).await.is_ok()
    }

    /// Waits until at least `count` chat requests arrived, up to `within`; returns whether
    /// that happened.
    pub async fn wait_chat_requests(&self, count: usize, within: Duration) -> bool {
        let wait = async {
            loop {
                let changed = self.shared.changed.notified();
                if self.chat_requests().len() >= count {
                    return;
                }
                changed.await;
            }
        };
        tokio::time::timeout(within, wait).await.is_ok()
    }

    /// Sets the status health routes answer (200 by default).
    pub fn set_health_status(&self, status: u16) {
        self.shared.health_status.store(status, Ordering::SeqCst);
    }
}

fn chat_path(kind: ProviderKind) -> &'static str {
    match kind {
        ProviderKind::Openai => "/chat/completions",
        ProviderKind::Anthropic => "/messages",
        ProviderKind::Dify => "/chat-messages",
    }
}

fn path_only(path: &str) -> &str {
    path.split('?').next().unwrap_or(path)
}

async fn accept_loop(listener: TcpListener, kind: ProviderKind, shared: Arc<Shared>) {
    // Owned here so aborting this task also aborts every connection (stalled ones included).
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let Ok((socket, _)) = accepted else { continue };
                shared.connections.fetch_add(1, Ordering::SeqCst);
                let _ = socket.set_nodelay(true);
                connections.spawn(serve(socket, kind, Arc::clone(&shared)));
            }
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
}

/// The response to one request.
enum Response {
    Json(u16, Vec<(&'static str, String)>, Value),
    Stream(Vec<Step>, Ending),
}

async fn serve(socket: TcpStream, kind: ProviderKind, shared: Arc<Shared>) {
    let (mut read, mut write) = socket.into_split();
    let Some(request) = read_request(&mut read).await else {
        return;
    };
    let response = respond(kind, &shared, &request);
    lock(&shared.requests).push(request);
    shared.changed.notify_waiters();
    let watch = async {
        let mut buf = [0u8; 1024];
        loop {
            match read.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(_) => {}
            }
        }
    };
    let finished = tokio::select! {
        () = watch => false,
        result = write_response(&mut write, response) => result.is_ok(),
    };
    if !finished {
        shared.closed_early.fetch_add(1, Ordering::SeqCst);
        shared.changed.notify_waiters();
    }
}

async fn read_request(read: &mut tokio::net::tcp::OwnedReadHalf) -> Option<ReceivedRequest> {
    let mut buf = Vec::with_capacity(8 * 1024);
    let head_end = loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break end;
        }
        if buf.len() > MAX_HEAD {
            return None;
        }
        let mut chunk = [0u8; 8 * 1024];
        let n = read.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = std::str::from_utf8(&buf[..head_end]).ok()?;
    let mut lines = head.split("\r\n");
    let mut request_line = lines.next()?.split(' ');
    let method = request_line.next()?.to_owned();
    let path = request_line.next()?.to_owned();
    let headers: Vec<(String, String)> = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    let length = headers
        .iter()
        .find(|(n, _)| n == "content-length")
        .and_then(|(_, v)| v.parse::<usize>().ok())
        .unwrap_or(0);
    if length > MAX_BODY {
        return None;
    }
    let mut body = buf.split_off(head_end + 4);
    while body.len() < length {
        let mut chunk = vec![0u8; (length - body.len()).min(64 * 1024)];
        let n = read.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        body.extend_from_slice(&chunk[..n]);
    }
    body.truncate(length);
    Some(ReceivedRequest {
        method,
        path,
        headers,
        body: Bytes::from(body),
    })
}

fn respond(kind: ProviderKind, shared: &Shared, request: &ReceivedRequest) -> Response {
    let path = path_only(&request.path);
    if request.method == "GET" && (path.ends_with("/models") || path.ends_with("/parameters")) {
        let status = shared.health_status.load(Ordering::SeqCst);
        if (200..300).contains(&status) {
            return Response::Json(status, Vec::new(), json!({"object":"list","data":[]}));
        }
        let (status, body) = render::error(
            kind,
            &StatusReply {
                status,
                retry_after: None,
                overloaded: false,
            },
        );
        return Response::Json(status, Vec::new(), body);
    }
    let is_transcription = request.method == "POST" && path.ends_with("/audio/transcriptions");
    let is_chat = request.method == "POST" && path.ends_with(chat_path(kind));
    if !is_chat && !is_transcription {
        return Response::Json(
            404,
            Vec::new(),
            json!({"error":"no such route in the fake"}),
        );
    }
    let body = request.json().unwrap_or(Value::Null);
    let reply = lock(&shared.script).pop_front().unwrap_or_else(|| {
        if is_transcription {
            Reply::text(["fake transcript"])
        } else {
            Reply::text(["echo: ".to_owned(), last_user_text(kind, &body)])
        }
    });
    match reply {
        Reply::Status(status) => {
            let (code, body) = render::error(kind, &status);
            let headers = match status.retry_after {
                Some(after) => vec![
                    ("retry-after-ms", after.as_millis().to_string()),
                    ("retry-after", after.as_secs_f64().ceil().to_string()),
                ],
                None => Vec::new(),
            };
            Response::Json(code, headers, body)
        }
        Reply::Stream(stream) if is_transcription => {
            Response::Json(200, Vec::new(), json!({"text": stream.chunks.concat()}))
        }
        Reply::Stream(stream) => {
            let model = body
                .get("model")
                .and_then(Value::as_str)
                .unwrap_or(FAKE_MODEL);
            let include_usage = body
                .pointer("/stream_options/include_usage")
                .and_then(Value::as_bool)
                .unwrap_or(false);
            let conversation_id = match body.get("conversation_id").and_then(Value::as_str) {
                Some(id) if !id.is_empty() => id.to_owned(),
                _ => format!(
                    "fake-conv-{}",
                    shared.conversations.fetch_add(1, Ordering::SeqCst) + 1
                ),
            };
            let context = Context {
                model,
                include_usage,
                conversation_id: &conversation_id,
            };
            Response::Stream(render::stream(kind, &stream, &context), stream.ending)
        }
    }
}

fn last_user_text(kind: ProviderKind, body: &Value) -> String {
    let text = match kind {
        ProviderKind::Dify => body.get("query"),
        ProviderKind::Openai | ProviderKind::Anthropic => body
            .get("messages")
            .and_then(Value::as_array)
            .and_then(|m| m.last())
            .and_then(|m| m.get("content")),
    };
    match text {
        // A content array (a turn with images): its text parts.
        Some(Value::Array(parts)) => parts
            .iter()
            .filter(|p| p.get("type").and_then(Value::as_str) == Some("text"))
            .filter_map(|p| p.get("text").and_then(Value::as_str))
            .collect(),
        other => other.and_then(Value::as_str).unwrap_or_default().to_owned(),
    }
}

async fn write_response(write: &mut OwnedWriteHalf, response: Response) -> std::io::Result<()> {
    match response {
        Response::Json(status, headers, body) => {
            let body = body.to_string();
            let mut head = format!(
                "HTTP/1.1 {status} {}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n",
                reason(status),
                body.len()
            );
            for (name, value) in headers {
                head.push_str(&format!("{name}: {value}\r\n"));
            }
            head.push_str("\r\n");
            write.write_all(head.as_bytes()).await?;
            write.write_all(body.as_bytes()).await?;
            write.shutdown().await
        }
        Response::Stream(steps, ending) => {
            write
                .write_all(
                    b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ncache-control: no-cache\r\ntransfer-encoding: chunked\r\nconnection: close\r\n\r\n",
                )
                .await?;
            for step in steps {
                match step {
                    Step::Sleep(pause) => tokio::time::sleep(pause).await,
                    Step::Write(bytes) => {
                        let mut frame = format!("{:x}\r\n", bytes.len()).into_bytes();
                        frame.extend_from_slice(&bytes);
                        frame.extend_from_slice(b"\r\n");
                        write.write_all(&frame).await?;
                    }
                }
            }
            match ending {
                // Closing without the last chunk: the client sees a broken body.
                Ending::Reset => Ok(()),
                Ending::Stall => std::future::pending().await,
                Ending::Complete | Ending::Truncated | Ending::ErrorEvent => {
                    write.write_all(b"0\r\n\r\n").await?;
                    write.shutdown().await
                }
            }
        }
    }
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        529 => "Overloaded",
        _ => "Status",
    }
}
