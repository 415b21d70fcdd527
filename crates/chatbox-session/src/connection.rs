//! A connection's view of the engine: the edge reads frames to write from a [`Connection`] and
//! hands it validated client frames; the session side holds a `Sink` per connection.
//!
//! Each connection has a bounded queue of session frames. When the session cannot enqueue a frame
//! because the queue is full, it records [`CloseReason::SlowConsumer`] and drops the sink: the
//! connection's next [`Connection::recv`] returns that reason and the edge closes with 1013. A
//! frame is never skipped while the connection stays open.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use chatbox_core::protocol::{ClientFrame, Envelope, ErrorCode, PongFrame};
use chatbox_core::{Identity, SessionId};
use chrono::Utc;
use tokio::sync::mpsc;

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

#[derive(Debug, Default)]
pub(crate) struct CloseSlot(Mutex<Option<CloseReason>>);

impl CloseSlot {
    fn set(&self, reason: CloseReason) {
        let mut slot = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        slot.get_or_insert(reason);
    }

    fn get(&self) -> Option<CloseReason> {
        *self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The session side of a connection.
#[derive(Debug)]
pub(crate) struct Sink {
    pub(crate) id: ConnId,
    /// Who is connected (an admin's sinks tell whether the assisting admin is still there).
    pub(crate) user: chatbox_core::UserId,
    tx: mpsc::Sender<Arc<str>>,
    close: Arc<CloseSlot>,
}

impl Sink {
    /// Enqueues a frame; false when the connection must be dropped (overflowed or gone).
    pub(crate) fn send(&self, frame: &Arc<str>) -> bool {
        match self.tx.try_send(Arc::clone(frame)) {
            Ok(()) => true,
            Err(mpsc::error::TrySendError::Full(_)) => {
                self.close.set(CloseReason::SlowConsumer);
                crate::metrics::slow_consumer_closed();
                false
            }
            Err(mpsc::error::TrySendError::Closed(_)) => false,
        }
    }

    /// False once the connection has gone (its `Connection` was dropped), even when its `Detach`
    /// was lost.
    pub(crate) fn is_open(&self) -> bool {
        !self.tx.is_closed()
    }

    /// Marks why the connection ends; the caller then drops the sink.
    pub(crate) fn close(&self, reason: CloseReason) {
        self.close.set(reason);
    }
}

/// The edge's handle on one connection to one session.
#[derive(Debug)]
pub struct Connection {
    id: ConnId,
    session_id: SessionId,
    identity: Identity,
    participant: Participant,
    backlog: VecDeque<Arc<str>>,
    rx: mpsc::Receiver<Arc<str>>,
    close: Arc<CloseSlot>,
    mailbox: mpsc::Sender<Command>,
    direct_tx: mpsc::Sender<Arc<str>>,
    direct_rx: mpsc::Receiver<Arc<str>>,
}

/// Room for errors a connection generates about its own frames (bad frames, a full session
/// mailbox). A client that floods faster than it reads loses the excess error replies, which
/// are about its own flood; session frames are never dropped this way.
const DIRECT_QUEUE: usize = 64;

impl Connection {
    /// A new connection and its sink with a queue of `capacity` frames.
    pub(crate) fn pair(
        session_id: SessionId,
        identity: Identity,
        participant: Participant,
        capacity: usize,
        mailbox: mpsc::Sender<Command>,
    ) -> (Self, Sink) {
        let (tx, rx) = mpsc::channel(capacity.max(1));
        let close = Arc::new(CloseSlot::default());
        let id = next_conn_id();
        let sink = Sink {
            id,
            user: identity.user_id.clone(),
            tx,
            close: Arc::clone(&close),
        };
        let (direct_tx, direct_rx) = mpsc::channel(DIRECT_QUEUE);
        let conn = Self {
            id,
            session_id,
            identity,
            participant,
            backlog: VecDeque::new(),
            rx,
            close,
            mailbox,
            direct_tx,
            direct_rx,
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
        self.backlog = frames.into();
    }

    /// The next frame to write, or the reason to close. Cancel-safe.
    pub async fn recv(&mut self) -> Outbound {
        if let Some(frame) = self.next_backlog() {
            return Outbound::Frame(frame);
        }
        tokio::select! {
            biased;
            Some(frame) = self.direct_rx.recv() => Outbound::Frame(frame),
            frame = self.rx.recv() => match frame {
                Some(frame) => Outbound::Frame(frame),
                None => Outbound::Close(self.close.get().unwrap_or(CloseReason::ShuttingDown)),
            },
        }
    }

    /// The next frame of the backlog (status and replay), which precedes every live frame.
    fn next_backlog(&mut self) -> Option<Arc<str>> {
        let frame = self.backlog.pop_front()?;
        if self.backlog.is_empty() {
            // A long replay's buffer is not kept for the connection's lifetime.
            self.backlog = VecDeque::new();
        }
        Some(frame)
    }

    /// The next frame to write if one is ready now (a writer gathering a burst into one write).
    pub fn try_recv(&mut self) -> Option<Outbound> {
        if let Some(frame) = self.next_backlog() {
            return Some(Outbound::Frame(frame));
        }
        if let Ok(frame) = self.direct_rx.try_recv() {
            return Some(Outbound::Frame(frame));
        }
        match self.rx.try_recv() {
            Ok(frame) => Some(Outbound::Frame(frame)),
            Err(mpsc::error::TryRecvError::Empty) => None,
            Err(mpsc::error::TryRecvError::Disconnected) => Some(Outbound::Close(
                self.close.get().unwrap_or(CloseReason::ShuttingDown),
            )),
        }
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
            direct: self.direct_tx.clone(),
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
    direct: mpsc::Sender<Arc<str>>,
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
        let _ = self.direct.try_send(Arc::from(env.encode()));
    }

    /// Queues `pong` (from [`Inputs::pong_frame`]) for this connection only, when the edge
    /// cannot write it itself. Pings need no session state, so they skip the session task;
    /// awaiting a full queue pushes back on the reader rather than dropping the answer.
    pub async fn queue_pong(&self, pong: String) {
        let _ = self.direct.send(Arc::from(pong)).await;
    }

    /// The `pong` answering an application `ping` now.
    pub fn pong_frame(&self) -> String {
        self.pong.at(Utc::now())
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
        let _ = self.mailbox.try_send(Command::Detach { conn: self.id });
    }
}
