//! The [`Broker`] port: what the replicas of one deployment share so that any of them can serve
//! any session — leases (who runs a session's task; global connection slots), each session's
//! frame log (fan-out and resume on every replica), mail between replicas (inputs to a session's
//! owner, frames for one remote connection) and announcements to all of them (admin events).
//!
//! One replica needs no broker: the engine then keeps everything in process, as it always did.
//! Semantics every backend must honour (checked by `testing::broker_conformance`):
//!
//! - **Leases.** [`Broker::acquire`] gives a key's lease to this replica when no live lease holds
//!   it, or names the replica that holds it. A lease lives for [`Broker::lease_ttl`] after it was
//!   acquired or last renewed. Its [`Lease::token`] (the fencing token) is greater than the token
//!   of every earlier lease of the same key, so a stale holder can always be told apart.
//!   [`Broker::renew`] fails with [`BrokerError::LeaseLost`] once the lease expired or another
//!   replica acquired the key; [`Broker::release`] frees a lease still held and is otherwise a
//!   no-op. Acquiring a key this replica already holds is `Held` by itself: a lease is taken once.
//! - **Frame logs.** [`Broker::append`] adds a frame to a session's log, in call order per
//!   session. A log keeps at least its last [`Broker::history`] frames. [`Broker::read`] streams
//!   the retained frames in log order, then every later frame as it is appended, until dropped;
//!   every reader of a log sees the same order. [`Broker::last`] is the newest retained frame.
//!   [`Broker::claim_log`] marks where a new owner's frames start: it appends a *marker* (the
//!   newest frame's seq, the new owner's token, an empty body) directly after the newest frame
//!   — no other frame can land between the two — and returns that newest frame. Readers drop
//!   every later frame whose token is below the greatest token seen, so a stale owner's frames
//!   after the marker are never delivered.
//! - **Mail.** [`Broker::send`] delivers a message to the named replica's [`Broker::mail`]
//!   stream, in send order from one sender, or fails with [`BrokerError::NoRecipient`] at once
//!   when no replica of that name is listening (so a caller can tell a dead owner quickly).
//! - **Announcements.** [`Broker::announce`] delivers a message to every replica's
//!   [`Broker::announcements`] stream, the sender's included.
//!
//! Nothing here is durable beyond what a session needs to move between replicas: the store
//! stays the record of every conversation.

use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use futures::stream::BoxStream;

use super::BoxError;
use crate::ids::SessionId;

/// A held lease.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease {
    /// The key leased.
    pub key: String,
    /// The fencing token: greater than that of every earlier lease of `key`.
    pub token: u64,
    /// The backend's revision of the lease (compared on renew and release).
    pub revision: u64,
}

/// The outcome of [`Broker::acquire`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Acquired {
    /// This replica now holds the lease.
    Mine(Lease),
    /// A live lease of another replica (or of this one) holds the key.
    Held {
        /// The holder's replica name.
        by: String,
        /// The holder's fencing token.
        token: u64,
    },
}

/// One frame of a session's log (a claim marker when `body` is empty).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogFrame {
    /// The frame's `seq` in the session.
    pub seq: u64,
    /// The fencing token of the lease its writer held.
    pub token: u64,
    /// The frame as sent to clients (one JSON text).
    pub body: Bytes,
}

/// Why a broker operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BrokerError {
    /// The lease expired or another replica holds the key now.
    #[error("lease lost")]
    LeaseLost,
    /// No replica of that name is listening.
    #[error("no replica {0} is listening")]
    NoRecipient(String),
    /// A transient failure (the broker is restarting or unreachable): retry.
    #[error("broker temporarily unavailable")]
    Unavailable(#[source] BoxError),
    /// Configuration or protocol failure: retrying will not help.
    #[error("broker failed")]
    Backend(#[source] BoxError),
}

impl LogFrame {
    /// True for the marker [`Broker::claim_log`] appends (never delivered to clients).
    pub fn is_marker(&self) -> bool {
        self.body.is_empty()
    }
}

/// The messages of a stream that never fails once open (mail, announcements).
pub type MessageStream = BoxStream<'static, Bytes>;

/// A session's frame log as it is read.
pub type FrameStream = BoxStream<'static, Result<LogFrame, BrokerError>>;

/// What the replicas of one deployment share.
#[async_trait]
pub trait Broker: Send + Sync + 'static {
    /// This replica's name (unique among live replicas).
    fn replica(&self) -> &str;

    /// How long a lease lives without renewal.
    fn lease_ttl(&self) -> Duration;

    /// How many frames each session's log keeps at least.
    fn history(&self) -> usize;

    /// Takes the lease of `key` for this replica when no live lease holds it.
    async fn acquire(&self, key: &str) -> Result<Acquired, BrokerError>;

    /// Keeps a held lease alive for another TTL; returns it with its new revision.
    async fn renew(&self, lease: &Lease) -> Result<Lease, BrokerError>;

    /// Frees a held lease (a no-op when it is no longer held).
    async fn release(&self, lease: &Lease) -> Result<(), BrokerError>;

    /// Appends a frame to `session`'s log.
    async fn append(&self, session: &SessionId, frame: LogFrame) -> Result<(), BrokerError>;

    /// Appends frames to `session`'s log in order, as `append` one by one would; a backend may
    /// send them together and wait for them once. On error, a prefix of them may be stored.
    async fn append_batch(
        &self,
        session: &SessionId,
        frames: Vec<LogFrame>,
    ) -> Result<(), BrokerError> {
        for frame in frames {
            self.append(session, frame).await?;
        }
        Ok(())
    }

    /// The retained frames of `session`'s log, then every later one.
    async fn read(&self, session: &SessionId) -> Result<FrameStream, BrokerError>;

    /// The newest retained frame of `session`'s log.
    async fn last(&self, session: &SessionId) -> Result<Option<LogFrame>, BrokerError>;

    /// Appends the marker of a new owner with fencing token `token` right after the newest
    /// frame, atomically; returns that frame (`None`: the log was empty).
    async fn claim_log(
        &self,
        session: &SessionId,
        token: u64,
    ) -> Result<Option<LogFrame>, BrokerError>;

    /// Sends a message to replica `to`.
    async fn send(&self, to: &str, message: Bytes) -> Result<(), BrokerError>;

    /// Messages sent to this replica, from the moment this returns.
    async fn mail(&self) -> Result<MessageStream, BrokerError>;

    /// Sends a message to every replica.
    async fn announce(&self, message: Bytes) -> Result<(), BrokerError>;

    /// Announcements, from the moment this returns.
    async fn announcements(&self) -> Result<MessageStream, BrokerError>;
}
