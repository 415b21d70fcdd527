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
//! After the upgrade a connection is two tasks. The reader parses frames and hands them to the
//! engine; a malformed frame gets an `error` frame and the connection stays open; a binary frame
//! closes with 1003, an oversized one with 1009. The writer is the socket's only writer: it
//! writes the engine's frames in order, answers pings, sends heartbeats, and closes with the
//! engine's reason (1013 for a slow consumer, 1001 at shutdown), 4001 when the token expired
//! beyond its grace, or 1001 when the client went silent.
//!
//! Every write has a deadline (`write_timeout_secs`): a client that stops reading cannot pin the
//! connection's tasks, its slot or its kernel buffers; when a write runs out of time the socket
//! is dropped and the slot given back.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Query, Request, State};
use axum::http::StatusCode;
use axum::http::header::ORIGIN;
use axum::response::{IntoResponse, Response};
use chatbox_core::SessionId;
use chatbox_core::protocol::{ClientCommand, ClientFrame, ErrorCode};
use chatbox_session::{ConnectRequest, Connection, Inputs, Outbound};
use chrono::Utc;
use fastwebsockets::{
    Frame, OpCode, Payload, WebSocket, WebSocketError, WebSocketRead, WebSocketWrite,
};
use hyper::upgrade::Upgraded;
use hyper_util::rt::TokioIo;
use serde::Deserialize;
use tokio::io::{ReadHalf, WriteHalf};
use tokio::sync::mpsc;

use crate::auth::request_token;
use crate::conn_limit::{Refused, Slot};
use crate::event_feed;
use crate::router::Edge;

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
    let slot = match edge.limiter().try_acquire(&verified.identity.user_id) {
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
    tracked.spawn_connection(tracing::Instrument::instrument(
        async move {
            match upgraded.await {
                Ok(ws) => {
                    serve(
                        ws,
                        edge,
                        verified.identity,
                        verified.expires_at,
                        connect,
                        slot,
                    )
                    .await
                }
                Err(e) => tracing::debug!(error = %e, "websocket upgrade did not complete"),
            }
        },
        span,
    ));
    response.map(|_| Body::empty())
}

/// A message from the reader to the writer.
#[derive(Debug)]
enum Control {
    Pong(Vec<u8>),
    Close(u16, &'static str),
    /// The client moved to another of its sessions: write from this connection from now on.
    Switch(Box<Connection>),
}

/// Shared clocks of a connection (milliseconds / seconds since the Unix epoch).
#[derive(Debug)]
struct Clocks {
    last_seen_ms: AtomicI64,
    token_expires: AtomicI64,
}

async fn serve(
    ws: WebSocket<Io>,
    edge: Edge,
    identity: chatbox_core::Identity,
    expires_at: Option<i64>,
    request: ConnectRequest,
    slot: Slot,
) {
    let user = identity.user_id.clone();
    let (mut rd, mut wr) = ws.split(tokio::io::split);
    let write_limit = Duration::from_secs(edge.config().write_timeout_secs.max(1));
    let connected = match edge.engine().connect(identity, request).await {
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
            write(&mut wr, Frame::close(code, reason.as_bytes()), write_limit).await;
            return;
        }
    };
    let conn = connected.connection;
    tracing::debug!(user = %user, session = %conn.session_id(), "websocket connected");
    let cfg = edge.config();
    rd.set_auto_close(false);
    rd.set_auto_pong(false);
    rd.set_max_message_size(cfg.max_message_size.saturating_add(1));
    let clocks = Arc::new(Clocks {
        last_seen_ms: AtomicI64::new(Utc::now().timestamp_millis()),
        token_expires: AtomicI64::new(expires_at.unwrap_or(i64::MAX)),
    });
    let (ctl_tx, ctl_rx) = mpsc::channel(16);
    let reader = Reader {
        inputs: conn.inputs(),
        ctl: ctl_tx,
        clocks: Arc::clone(&clocks),
        edge: edge.clone(),
        max_message: cfg.max_message_size,
    };
    let reader = tokio::spawn(tracing::Instrument::in_current_span(reader.run(rd)));
    let timing = Timing {
        ping: Duration::from_secs(cfg.ping_interval_secs.max(1)),
        silence_ms: i64::try_from(cfg.pong_timeout_secs.saturating_mul(1000)).unwrap_or(i64::MAX),
        grace_secs: i64::try_from(cfg.token_grace_secs).unwrap_or(i64::MAX),
        write: write_limit,
    };
    write_loop(&mut wr, conn, ctl_rx, &clocks, timing).await;
    reader.abort();
    drop(slot);
    tracing::debug!(user = %user, "websocket closed");
}

#[derive(Debug, Clone, Copy)]
struct Timing {
    ping: Duration,
    silence_ms: i64,
    grace_secs: i64,
    write: Duration,
}

/// Writes one frame within `limit`; false when the socket failed or the client stopped reading,
/// and the connection must be dropped.
pub(crate) async fn write(
    wr: &mut WebSocketWrite<WriteHalf<Io>>,
    frame: Frame<'_>,
    limit: Duration,
) -> bool {
    match tokio::time::timeout(limit, wr.write_frame(frame)).await {
        Ok(Ok(())) => true,
        Ok(Err(e)) => {
            tracing::debug!(error = %e, "websocket write failed");
            false
        }
        Err(_) => {
            tracing::info!("websocket write timed out: the client stopped reading; dropping it");
            false
        }
    }
}

async fn write_loop(
    wr: &mut WebSocketWrite<WriteHalf<Io>>,
    mut conn: Connection,
    mut ctl: mpsc::Receiver<Control>,
    clocks: &Clocks,
    timing: Timing,
) {
    let mut heartbeat =
        tokio::time::interval_at(tokio::time::Instant::now() + timing.ping, timing.ping);
    loop {
        let written = tokio::select! {
            biased;
            control = ctl.recv() => match control {
                Some(Control::Pong(payload)) => write(wr, Frame::pong(Payload::Owned(payload)), timing.write).await,
                Some(Control::Close(code, reason)) => {
                    write(wr, Frame::close(code, reason.as_bytes()), timing.write).await;
                    return;
                }
                Some(Control::Switch(next)) => {
                    // Dropping the old connection detaches it from its session.
                    conn = *next;
                    true
                }
                // The reader stopped (the peer closed or vanished).
                None => return,
            },
            out = conn.recv() => match out {
                Outbound::Frame(frame) => {
                    let ok = write(wr, Frame::text(Payload::Borrowed(frame.as_bytes())), timing.write).await;
                    if ok {
                        crate::metrics::message_sent();
                    }
                    ok
                }
                Outbound::Close(reason) => {
                    write(wr, Frame::close(reason.code(), reason.text().as_bytes()), timing.write).await;
                    return;
                }
            },
            _ = heartbeat.tick() => {
                let now = Utc::now();
                if now.timestamp() > clocks.token_expires.load(Ordering::Relaxed).saturating_add(timing.grace_secs) {
                    write(wr, Frame::close(CLOSE_TOKEN_EXPIRED, b"token expired"), timing.write).await;
                    return;
                }
                if now.timestamp_millis() - clocks.last_seen_ms.load(Ordering::Relaxed) > timing.silence_ms {
                    write(wr, Frame::close(1001, b"no pong: connection idle"), timing.write).await;
                    return;
                }
                write(wr, Frame::new(true, OpCode::Ping, None, Payload::Borrowed(b"hb")), timing.write).await
            }
        };
        if !written {
            return;
        }
    }
}

/// The reading half of a connection.
struct Reader {
    inputs: Inputs,
    ctl: mpsc::Sender<Control>,
    clocks: Arc<Clocks>,
    edge: Edge,
    max_message: usize,
}

impl Reader {
    async fn run(mut self, mut rd: WebSocketRead<ReadHalf<Io>>) {
        let mut partial: Option<Vec<u8>> = None;
        let mut no_obligations = |_: Frame<'_>| async { Ok::<(), std::convert::Infallible>(()) };
        loop {
            let frame = match rd.read_frame(&mut no_obligations).await {
                Ok(frame) => frame,
                Err(WebSocketError::FrameTooLarge) => {
                    let _ = self
                        .ctl
                        .send(Control::Close(1009, "message too large"))
                        .await;
                    return;
                }
                Err(_) => return,
            };
            self.clocks
                .last_seen_ms
                .store(Utc::now().timestamp_millis(), Ordering::Relaxed);
            match frame.opcode {
                OpCode::Text if frame.fin && partial.is_none() => {
                    self.handle_text(&frame.payload).await;
                }
                OpCode::Text | OpCode::Continuation => {
                    let buf = partial.get_or_insert_with(Vec::new);
                    buf.extend_from_slice(&frame.payload);
                    if buf.len() > self.max_message {
                        let _ = self
                            .ctl
                            .send(Control::Close(1009, "message too large"))
                            .await;
                        return;
                    }
                    if frame.fin {
                        let whole = partial.take().unwrap_or_default();
                        self.handle_text(&whole).await;
                    }
                }
                OpCode::Binary => {
                    let _ = self
                        .ctl
                        .send(Control::Close(1003, "binary frames are not supported"))
                        .await;
                    return;
                }
                OpCode::Close => {
                    let _ = self.ctl.send(Control::Close(1000, "")).await;
                    return;
                }
                OpCode::Ping => {
                    let _ = self.ctl.send(Control::Pong(frame.payload.to_vec())).await;
                }
                OpCode::Pong => {}
            }
        }
    }

    async fn handle_text(&mut self, bytes: &[u8]) {
        let frame = match ClientFrame::parse(bytes, Utc::now()) {
            Ok(frame) => frame,
            Err(e) => return self.inputs.direct_error(e.code(), &e.to_string()),
        };
        crate::metrics::message_received();
        if frame.command == ClientCommand::Ping {
            return self.inputs.pong().await;
        }
        if let ClientCommand::Auth { token } = &frame.command {
            match self.edge.verifier().verify(token) {
                Ok(v) if v.identity.user_id == self.inputs.identity().user_id => {
                    self.clocks
                        .token_expires
                        .store(v.expires_at.unwrap_or(i64::MAX), Ordering::Relaxed);
                }
                _ => self.inputs.direct_error(
                    ErrorCode::Forbidden,
                    "The new token is invalid or for another user",
                ),
            }
            return;
        }
        if let Some(id) = frame.session_id.clone()
            && &id != self.inputs.session_id()
        {
            // A session switch (see `Engine::switch`: one of this user's sessions, an unknown id
            // as their new session, someone else's as a fresh one).
            let identity = self.inputs.identity().clone();
            match self.edge.engine().switch(identity, &id).await {
                Ok(next) => {
                    self.inputs = next.inputs();
                    if self
                        .ctl
                        .send(Control::Switch(Box::new(next)))
                        .await
                        .is_err()
                    {
                        return;
                    }
                }
                Err(e) => return self.inputs.direct_error(e.code(), "Session not found"),
            }
        }
        self.inputs.handle(frame);
    }
}
