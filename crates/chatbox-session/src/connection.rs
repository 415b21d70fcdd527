//! A connection's view of the engine: the edge reads frames to write from a [`Connection`] and
//! hands it validated client frames; the session side holds a `Sink` per connection.
//!
//! Each connection has a bounded queue of session frames (`outbox`, which allocates nothing while
//! empty). When the session cannot enqueue a frame
//! because the queue is full, it records [`CloseReason::SlowConsumer`] and drops the sink: the
//! connection's next [`Connection::recv`] returns that reason and the edge closes with 1013. A
//! frame is never skipped while the connection stays open.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use chatbox_core::protocol::{ClientFrame, Envelope, ErrorCode, PongFrame};
use chatbox_core::{Identity, SessionId};
use chrono::Utc;
use tokio::sync::mpsc;

use crate::outbox::Outbox;
use crate::task::{Command, Input};

/// A connection id, unique within the process.
pub type ConnId = u64;

static NEXT_CONN_ID: AtomicU64 = AtomicU64::new(1);

pub(crate) fn next_conn_id() -> ConnId {
    NEXT_CONN_ID.fetch_add(1, Ordering::Relaxed)
}

/// What a connection is to its session.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Participant {
    /// The session's owner (one of possibly several devices).
    Owner,
    /// An admin watching the session read-only (the user is not told). An `admin_join` frame
    /// turns the watch into a takeover.
    Watcher,
    /// An admin who connected to take the session over (CONTRACT §4).
    Admin,
}

/// Why the engine ended a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CloseReason {
    /// The connection's queue overflowed (WebSocket close 1013, "try again later").
    SlowConsumer,
    /// The server is shutting down (1001).
    ShuttingDown,
    /// The session was evicted to make room for another of the user's sessions (1012, "service
    /// restart": reconnect).
    Evicted,
}

impl CloseReason {
    /// The WebSocket close code.
    pub fn code(self) -> u16 {
        match self {
            Self::SlowConsumer => 1013,
            Self::ShuttingDown => 1001,
            Self::Evicted => 1012,
        }
    }

    /// The close reason text.
    pub fn text(self) -> &'static str {
        match self {
            Self::SlowConsumer => "slow consumer: reconnect and resume",
            Self::ShuttingDown => "server shutting down",
            Self::Evicted => "session closed: reconnect",
        }
    }
}

/// What [`Connection::recv`] yields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outbound {
    /// A serialized frame to write as one text message.
    Frame(Arc<str>),
    /// Close the socket with this reason; nothing follows.
    Close(CloseReason),
}

/// The session side of a connection.
#[derive(Debug)]
pub(crate) struct Sink {
    pub(crate) id: ConnId,
    /// Who is connected (an admin's sinks tell whether the assisting admin is still there).
    pub(crate) user: chatbox_core::UserId,
    queue: Arc<Outbox>,
}

impl Sink {
    /// Enqueues a frame; false when the connection must be dropped (overflowed or gone).
    pub(crate) fn send(&self, frame: &Arc<str>) -> bool {
        self.queue.push_live(frame)
    }

    /// False once the connection has gone (its `Connection` was dropped), even when its `Detach`
    /// was lost.
    pub(crate) fn is_open(&self) -> bool {
        self.queue.is_open()
    }

    /// Marks why the connection ends; the caller then drops the sink.
    pub(crate) fn close(&self, reason: CloseReason) {
        self.queue.set_reason(reason);
    }
}

impl Drop for Sink {
    fn drop(&mut self) {
        self.queue.session_gone();
    }
}

/// The edge's handle on one connection to one session.
#[derive(Debug)]
pub struct Connection {
    id: ConnId,
    session_id: SessionId,
    identity: Identity,
    participant: Participant,
    queue: Arc<Outbox>,
    mailbox: mpsc::Sender<Command>,
}

impl Connection {
    /// A new connection and its sink with a queue of `capacity` frames.
    pub(crate) fn pair(
        session_id: SessionId,
        identity: Identity,
        participant: Participant,
        capacity: usize,
        mailbox: mpsc::Sender<Command>,
    ) -> (Self, Sink) {
        let queue = Outbox::new(capacity);
        let id = next_conn_id();
        let sink = Sink {
            id,
            user: identity.user_id.clone(),
            queue: Arc::clone(&queue),
        };
        let conn = Self {
            id,
            session_id,
            identity,
            participant,
            queue,
            mailbox,
        };
        (conn, sink)
    }

    /// This connection's id.
    pub fn id(&self) -> ConnId {
        self.id
    }

    /// The session this connection is attached to.
    pub fn session_id(&self) -> &SessionId {
        &self.session_id
    }

    /// Who is connected.
    pub fn identity(&self) -> &Identity {
        &self.identity
    }

    /// Sets the frames that precede every live frame (status, then the replay).
    pub(crate) fn set_backlog(&mut self, frames: Vec<Arc<str>>) {
        self.queue.set_backlog(frames);
    }

    /// The next frame to write, or the reason to close. Cancel-safe.
    pub async fn recv(&mut self) -> Outbound {
        std::future::poll_fn(|cx| self.queue.poll_recv(cx)).await
    }

    /// The next frame to write if one is ready now (a writer gathering a burst into one write).
    pub fn try_recv(&mut self) -> Option<Outbound> {
        self.queue.try_recv()
    }

    /// A cloneable handle for passing client frames in, for the task that reads the socket
    /// while another task writes it.
    pub fn inputs(&self) -> Inputs {
        Inputs {
            id: self.id,
            session_id: self.session_id.clone(),
            identity: self.identity.clone(),
            participant: self.participant,
            mailbox: self.mailbox.clone(),
            direct: Arc::clone(&self.queue),
            pong: PongFrame::new(&self.session_id),
        }
    }

    /// Hands a validated client frame to the session (see [`Inputs::handle`]).
    pub fn handle(&self, frame: ClientFrame) {
        self.inputs().handle(frame);
    }

    /// True for a read-only admin watcher.
    pub fn is_watcher(&self) -> bool {
        self.participant == Participant::Watcher
    }

    /// What this connection is to its session.
    pub fn participant(&self) -> Participant {
        self.participant
    }
}

/// The input side of a [`Connection`].
#[derive(Debug, Clone)]
pub struct Inputs {
    id: ConnId,
    session_id: SessionId,
    identity: Identity,
    participant: Participant,
    mailbox: mpsc::Sender<Command>,
    direct: Arc<Outbox>,
    pong: PongFrame,
}

impl Inputs {
    /// Hands a validated client frame to the session. Never blocks: when the session's mailbox
    /// is full the client gets `SESSION_BUSY` and the frame is not processed.
    pub fn handle(&self, frame: ClientFrame) {
        let command = Command::Input(Box::new(Input {
            conn: self.id,
            participant: self.participant,
            identity: self.identity.clone(),
            frame,
        }));
        if self.mailbox.try_send(command).is_err() {
            self.direct_error(ErrorCode::SessionBusy, "Session busy: please retry");
        }
    }

    /// Sends an error to this connection only, without a `seq` (it is not part of the session's
    /// stream). Used by the edge for frames that fail validation.
    pub fn direct_error(&self, code: ErrorCode, message: &str) {
        crate::metrics::message_error();
        let env = Envelope::error(code, message, Utc::now()).with_session(&self.session_id);
        self.direct.push_direct(Arc::from(env.encode()));
    }

    /// Queues `pong` (from [`Inputs::pong_frame`]) for this connection only, when the edge
    /// cannot write it itself. Pings need no session state, so they skip the session task;
    /// awaiting a full queue pushes back on the reader rather than dropping the answer.
    pub async fn queue_pong(&self, pong: String) {
        self.direct.push_direct_wait(Arc::from(pong)).await;
    }

    /// The `pong` answering an application `ping` now.
    pub fn pong_frame(&self) -> String {
        self.pong.at(Utc::now())
    }

    /// Writes the `pong` answering an application `ping` now into `out` (cleared first).
    pub fn write_pong(&self, out: &mut Vec<u8>) {
        self.pong.write(out, Utc::now());
    }

    /// The session the connection is attached to.
    pub fn session_id(&self) -> &SessionId {
        &self.session_id
    }

    /// Who is connected.
    pub fn identity(&self) -> &Identity {
        &self.identity
    }
}

impl Drop for Connection {
    fn drop(&mut self) {
        self.queue.reader_gone();
        let _ = self.mailbox.try_send(Command::Detach { conn: self.id });
    }
}
