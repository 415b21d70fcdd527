//! The messages a session task takes from its mailbox, and what some of them answer.

use std::sync::Arc;

use chatbox_core::protocol::ClientFrame;
use chatbox_core::{Identity, UserId};
use tokio::sync::oneshot;

use crate::connection::{ConnId, Participant, Sink};
use crate::error::EngineError;
use crate::files::Unheard;
use crate::ops::{OpOutcome, SessionOp};

/// A message to a session task.
#[derive(Debug)]
pub(crate) enum Command {
    /// Attach a connection (boxed: commands sit in every session's mailbox, so the enum is kept
    /// small).
    Attach(Box<Attach>),
    /// A connection went away.
    Detach { conn: ConnId },
    /// A validated client frame (boxed, as `Attach`).
    Input(Box<Input>),
    /// A session operation from outside the conversation (REST).
    Op(Box<OpRequest>),
    /// Stop if still idle (the user opened a session beyond the live-session cap).
    Evict,
    /// An admin takes the session over (REST).
    Takeover(Box<Takeover>),
    /// The assisting admin releases the session (REST).
    Release(Box<Release>),
    /// The first round of a help request's deliveries is over.
    #[allow(clippy::box_collection)] // deliberate: one word in every mailbox slot
    HelpOutcome(Box<Vec<chatbox_core::outbox::Delivery>>),
    /// Voice note transcription `id` ended (boxed: the enum's size is paid by every slot of
    /// every session's mailbox).
    Transcribed(Box<(u64, Result<String, Unheard>)>),
    /// Mail about this session from another replica (`cluster`).
    Remote(Box<crate::cluster::wire::Mail>),
}

// Every session's mailbox allocates a block of slots up front: keep a command two words.
const _: () = assert!(std::mem::size_of::<Command>() <= 16);

/// A takeover request and where to send its outcome.
#[derive(Debug)]
pub(crate) struct Takeover {
    pub(crate) admin: Identity,
    pub(crate) done: oneshot::Sender<Result<(), EngineError>>,
}

/// A release request and where to send its outcome.
#[derive(Debug)]
pub(crate) struct Release {
    pub(crate) admin: UserId,
    pub(crate) done: oneshot::Sender<Result<(), EngineError>>,
}

/// Attach a connection, optionally resuming after `last_seq`.
#[derive(Debug)]
pub(crate) struct Attach {
    pub(crate) sink: Sink,
    /// Who connects, and as what (an `Admin` takes the session over on attach).
    pub(crate) identity: Identity,
    pub(crate) participant: Participant,
    pub(crate) last_seq: Option<u64>,
    pub(crate) done: oneshot::Sender<Attached>,
}

/// What an attached connection gets before any live frame.
#[derive(Debug)]
pub(crate) struct Attached {
    /// Whether the resume is complete (`None` when not resuming).
    pub(crate) recovered: Option<bool>,
    /// `connection_status`, then every missed frame.
    pub(crate) frames: Vec<Arc<str>>,
}

/// A validated client frame from a connection, with who sent it.
#[derive(Debug)]
pub(crate) struct Input {
    pub(crate) conn: ConnId,
    pub(crate) participant: Participant,
    pub(crate) identity: Identity,
    pub(crate) frame: ClientFrame,
}

/// A session operation and where to send its outcome.
#[derive(Debug)]
pub(crate) struct OpRequest {
    pub(crate) op: SessionOp,
    pub(crate) done: oneshot::Sender<Result<OpOutcome, EngineError>>,
}
