//! The WebSocket endpoint (CONTRACT §3).
//!
//! Before the upgrade, in order: a token (401 `Missing authentication token`), a valid token
//! (401 `Authentication failed`), an allowed origin when an allow-list is set (403), a free
//! per-user slot (429), a real upgrade request (400). The slot is a guard owned by the connection,
//! so any failure after taking it — a bad upgrade, a client that vanishes mid-handshake — gives it
//! back.
//!
//! `?mode=events` (admins only, else 403) opens the admins' event feed instead (`event_feed`).
//!
//! After the upgrade a connection is two tasks. The reader (`reader.rs`) parses frames and hands
//! them to the engine; a malformed frame gets an `error` frame and the connection stays open; a
//! binary frame closes with 1003, an oversized one with 1009; it answers pings itself when the
//! writer is not mid-write. The writer (`writer.rs`) is the only writer of session frames: it
//! writes the engine's frames in order, gathering a burst into one write, sends heartbeats, and
//! closes with the engine's reason (1013 for a slow consumer, 1001 at shutdown), 4001 when the
//! token expired beyond its grace, or 1001 when the client went silent. Both share the socket's
//! write side behind a mutex, taken for one write at a time.
//!
//! Every write has a deadline (`write_timeout_secs`): a client that stops reading cannot pin the
//! connection's tasks, its slot or its kernel buffers; when a write runs out of time the socket
//! is dropped and the slot given back.

use std::sync::Arc;
use std::sync::atomic::AtomicI64;
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Query, Request, State};
use axum::http::StatusCode;
use axum::http::header::ORIGIN;
use axum::response::{IntoResponse, Response};
use chatbox_core::SessionId;
use chatbox_session::{ConnectRequest, Connection};
use fastwebsockets::{Frame, WebSocket};
use futures::FutureExt;
use futures::channel::mpsc;
use hyper::upgrade::Upgraded;
use hyper_util::rt::TokioIo;
use serde::Deserialize;
use tokio::io::{ReadHalf, WriteHalf};
use tokio::sync::Mutex;

use crate::auth::request_token;
use crate::coalesce::Coalesce;
use crate::conn_limit::{Refused, Slot};
use crate::event_feed;
use crate::router::Edge;

mod reader;
mod source;
mod writer;

use self::reader::Reader;
use self::writer::{Timing, write_loop};
pub(crate) use self::writer::{flush, write};

type Io = TokioIo<Upgraded>;

/// WebSocket close code for an expired token.
pub const CLOSE_TOKEN_EXPIRED: u16 = 4001;

/// The query of `GET ws`. The token is read here and never logged.
#[derive(Debug, Default, Deserialize)]
pub struct WsQuery {
    token: Option<String>,
    session_id: Option<String>,
    last_seq: Option<u64>,
    mode: Option<String>,
}

fn text(status: StatusCode, body: &'static str) -> Response {
    (status, body).into_response()
}

/// `GET ws`: checks, then upgrades and serves the connection.
pub async fn upgrade(
    State(edge): State<Edge>,
    Query(query): Query<WsQuery>,
    mut req: Request,
) -> Response {
    let Some(token) = request_token(req.headers(), query.token.as_deref()) else {
        return text(StatusCode::UNAUTHORIZED, "Missing authentication token");
    };
    let Ok(verified) = edge.verifier().verify(token) else {
        return text(StatusCode::UNAUTHORIZED, "Authentication failed");
    };
    let allowed = &edge.config().allowed_origins;
    if !allowed.is_empty() {
        let origin = req.headers().get(ORIGIN).and_then(|o| o.to_str().ok());
        if !origin.is_some_and(|o| allowed.iter().any(|a| a == o)) {
            return text(StatusCode::FORBIDDEN, "Origin not allowed");
        }
    }
    let feed = query.mode.as_deref() == Some("events");
    if feed && !verified.identity.is_admin() {
        return text(StatusCode::FORBIDDEN, "The event feed is for admins only");
    }
    let mut slot = match edge.limiter().try_acquire(&verified.identity.user_id) {
        Ok(slot) => slot,
        Err(Refused::User) => {
            return text(
                StatusCode::TOO_MANY_REQUESTS,
                "Connection limit exceeded, please try again later",
            );
        }
        Err(Refused::Process) => {
            return text(
                StatusCode::SERVICE_UNAVAILABLE,
                "Server at its connection limit, please try again later",
            );
        }
    };
    // With several replicas the per-user limit is the deployment's, not this replica's.
    let max = edge.config().max_connections_per_user;
    match edge
        .engine()
        .connection_slot(&verified.identity.user_id, max)
        .await
    {
        Ok(Some(shared)) => slot.share(shared),
        Ok(None) => {
            crate::metrics::connection_refused();
            return text(
                StatusCode::TOO_MANY_REQUESTS,
                "Connection limit exceeded, please try again later",
            );
        }
        Err(_) => {
            return text(
                StatusCode::SERVICE_UNAVAILABLE,
                "Server temporarily unavailable, please try again later",
            );
        }
    }
    let session_id = match query
        .session_id
        .as_deref()
        .filter(|s| !s.is_empty())
        .map(SessionId::parse)
    {
        None => None,
        Some(Ok(id)) => Some(id),
        Some(Err(_)) => return text(StatusCode::BAD_REQUEST, "Invalid session_id"),
    };
    if !fastwebsockets::upgrade::is_upgrade_request(&req) {
        return text(
            StatusCode::BAD_REQUEST,
            "Expected a WebSocket upgrade request",
        );
    }
    let (response, upgraded) = match fastwebsockets::upgrade::upgrade(&mut req) {
        Ok(pair) => pair,
        Err(_) => return text(StatusCode::BAD_REQUEST, "Invalid WebSocket upgrade request"),
    };
    if feed {
        let tracked = edge.clone();
        tracked.spawn_connection(async move {
            match upgraded.await {
                Ok(ws) => event_feed::serve(ws, edge, slot).await,
                Err(e) => tracing::debug!(error = %e, "websocket upgrade did not complete"),
            }
        });
        return response.map(|_| Body::empty());
    }
    let connect = ConnectRequest {
        session_id,
        last_seq: query.last_seq,
        watch: query.mode.as_deref() == Some("watch"),
    };
    let tracked = edge.clone();
    let span = tracing::info_span!(parent: None, "ws", user = %verified.identity.user_id);
    // Everything the opening needs is boxed, and freed once the connection is live: a task's
    // future keeps room for what it captured for the task's whole life.
    let opening = Box::new(Opening {
        edge,
        identity: verified.identity,
        expires_at: verified.expires_at,
        request: connect,
        slot,
    });
    // Two phases chained, not one `async` block: a block would keep room for the opening's
    // locals while the connection lives; `then` reuses it for the live phase.
    let opening = async move {
        let ws = match upgraded.await {
            Ok(ws) => ws,
            Err(e) => {
                tracing::debug!(error = %e, "websocket upgrade did not complete");
                return None;
            }
        };
        Box::pin(opening.open(ws)).await
    };
    let whole = opening
        .then(|live| futures::future::OptionFuture::from(live.map(Live::run)))
        .map(|_| ());
    let whole = tracing::Instrument::instrument(whole, span);
    tracked.spawn_connection(whole);
    response.map(|_| Body::empty())
}

/// A message from the reader to the writer.
#[derive(Debug)]
enum Control {
    #[allow(clippy::box_collection)] // deliberate: one word in every connection's queue slot
    Pong(Box<Vec<u8>>),
    Close(ClientClose),
    /// The client moved to another of its sessions: write from this connection from now on.
    Switch(Box<Connection>),
}

// Every connection's control queue allocates a block of slots up front: keep this small.
const _: () = assert!(std::mem::size_of::<Control>() <= 16);

/// Why the reader ends the connection.
#[derive(Debug, Clone, Copy)]
enum ClientClose {
    /// The client closed.
    Normal,
    /// A message over the size limit (1009).
    TooLarge,
    /// A binary frame (1003).
    Binary,
}

impl ClientClose {
    fn frame(self) -> (u16, &'static str) {
        match self {
            Self::Normal => (1000, ""),
            Self::TooLarge => (1009, "message too large"),
            Self::Binary => (1003, "binary frames are not supported"),
        }
    }
}

/// Milliseconds since the Unix epoch, as `Utc::now().timestamp_millis()` without the calendar
/// (taken on every frame a client sends).
fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// Shared clocks of a connection (milliseconds / seconds since the Unix epoch).
#[derive(Debug)]
struct Clocks {
    last_seen_ms: AtomicI64,
    token_expires: AtomicI64,
}

/// The write side of a connection's socket: frames gather in a buffer until flushed
/// (`coalesce`). Shared by the writer task and, for pongs, the reader.
type Wr = Coalesce<WriteHalf<Io>>;

/// A connection being opened: what it needs until it is attached to its session.
struct Opening {
    edge: Edge,
    identity: chatbox_core::Identity,
    expires_at: Option<i64>,
    request: ConnectRequest,
    slot: Slot,
}

impl Opening {
    /// Attaches the connection to its session and starts its reader; `None` when the engine
    /// refused it (the client then got a close frame saying why).
    async fn open(self: Box<Self>, ws: WebSocket<Io>) -> Option<Live> {
        let Self {
            edge,
            identity,
            expires_at,
            request,
            slot,
        } = *self;
        let user = identity.user_id.clone();
        // fastwebsockets reads only in bursts, through `source`; frames are written into the
        // coalescing buffer (`coalesce`).
        let (rd, w) = tokio::io::split(ws.into_inner());
        let mut wr = Coalesce::new(w);
        let write_limit = Duration::from_secs(edge.config().write_timeout_secs.max(1));
        let connected = match Box::pin(edge.engine().connect(identity, request)).await {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!(user = %user, error = %e, "connect refused");
                let (code, reason) = match e {
                    chatbox_session::EngineError::ShuttingDown => (1001, "server shutting down"),
                    chatbox_session::EngineError::TooManySessions => {
                        (1013, "too many live sessions; try again later")
                    }
                    _ => (1011, "could not open the session"),
                };
                let _ = write(&mut wr, Frame::close(code, reason.as_bytes()), write_limit).await
                    && flush(&mut wr, write_limit).await;
                return None;
            }
        };
        let conn = connected.connection;
        tracing::debug!(user = %user, session = %conn.session_id(), "websocket connected");
        let cfg = edge.config();
        let clocks = Arc::new(Clocks {
            last_seen_ms: AtomicI64::new(now_ms()),
            token_expires: AtomicI64::new(expires_at.unwrap_or(i64::MAX)),
        });
        let wr = Arc::new(Mutex::new(wr));
        let (ctl_tx, ctl) = mpsc::channel(16);
        let reader = Reader {
            inputs: conn.inputs(),
            ctl: ctl_tx,
            clocks: Arc::clone(&clocks),
            edge: edge.clone(),
            max_message: cfg.max_message_size,
            writer: Arc::clone(&wr),
            write_limit,
        };
        let reader = spawn_reader(reader, rd);
        let timing = Timing {
            ping: Duration::from_secs(cfg.ping_interval_secs.max(1)),
            silence_ms: i64::try_from(cfg.pong_timeout_secs.saturating_mul(1000))
                .unwrap_or(i64::MAX),
            grace_secs: i64::try_from(cfg.token_grace_secs).unwrap_or(i64::MAX),
            write: write_limit,
        };
        Some(Live {
            wr,
            conn,
            ctl,
            clocks,
            timing,
            reader,
            slot,
            user,
        })
    }
}

/// A connection attached to its session: the writer's side of it (the reader is its own task).
struct Live {
    wr: Arc<Mutex<Wr>>,
    conn: Connection,
    ctl: mpsc::Receiver<Control>,
    clocks: Arc<Clocks>,
    timing: Timing,
    reader: tokio::task::JoinHandle<()>,
    /// Given back when the connection ends.
    slot: Slot,
    user: chatbox_core::UserId,
}

impl Live {
    /// Writes until the connection ends. Not an `async fn`, which would keep the connection
    /// twice in its task.
    #[allow(clippy::manual_async_fn)] // deliberate: see above
    fn run(mut self) -> impl std::future::Future<Output = ()> + Send {
        async move {
            write_loop(
                &self.wr,
                &mut self.conn,
                &mut self.ctl,
                &self.clocks,
                self.timing,
            )
            .await;
            self.reader.abort();
            drop(self.slot);
            tracing::debug!(user = %self.user, "websocket closed");
        }
    }
}

/// Spawns the reader. Not inline in `serve`: a future built there would keep its room in
/// every connection's task even after it moved into its own.
fn spawn_reader(reader: Reader, rd: ReadHalf<Io>) -> tokio::task::JoinHandle<()> {
    tokio::spawn(tracing::Instrument::in_current_span(reader.run(rd)))
}
