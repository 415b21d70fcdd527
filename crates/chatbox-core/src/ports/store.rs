//! The [`Store`] port: sessions, their messages, admin queries, share tokens and takeover audit.
//!
//! Semantics every backend must honour (checked by `testing::store_conformance`):
//! - `append_message` is atomic per message and keeps arrival order; it updates
//!   `message_count` and `last_activity`.
//! - `append_reply` is `append_message` plus the reply's statistics (tokens, response times) in
//!   one atomic write: both are stored or neither.
//! - `end_session` is idempotent: a second call reports the first end time and re-stamps nothing.
//! - `share_token` is stable: the first token set for a session is returned by every later call.
//! - admin lists filter, sort and page in the backend and report the total before paging.
//! - the help-request outbox keeps requests in order; a request is pending while any of its
//!   deliveries is.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::BoxError;
use crate::ids::{SessionId, ShareToken, UserId};
use crate::outbox::{Delivery, HelpRequest};
use crate::query::{SessionMetrics, SessionPage, SessionQuery, TimeWindow};
use crate::session::{Message, Session, TakeoverEvent};

/// Why a store operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The session does not exist.
    #[error("session not found")]
    NotFound,
    /// A uniqueness rule was violated (a session id or share token already taken).
    #[error("conflict: {0}")]
    Conflict(&'static str),
    /// A transient failure (network, failover, timeout); the caller may retry later.
    #[error("store temporarily unavailable")]
    Unavailable(#[source] BoxError),
    /// Stored data could not be understood (a corrupt document, an undecryptable field that
    /// should decrypt).
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
    /// Any other backend failure.
    #[error("store backend failed")]
    Backend(#[source] BoxError),
}

impl StoreError {
    /// True for failures worth retrying.
    pub fn is_transient(&self) -> bool {
        matches!(self, Self::Unavailable(_))
    }
}

/// What `end_session` did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum EndOutcome {
    /// The session was active and is now ended at this time.
    Ended(DateTime<Utc>),
    /// It had already ended at this time; nothing changed.
    AlreadyEnded(DateTime<Utc>),
}

impl EndOutcome {
    /// The session's end time either way.
    pub fn end_time(self) -> DateTime<Utc> {
        match self {
            Self::Ended(t) | Self::AlreadyEnded(t) => t,
        }
    }
}

/// A partial update of a session's settable fields. `None` leaves a field as it is.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SessionPatch {
    /// New display name.
    pub name: Option<String>,
    /// New model (provider id).
    pub model_id: Option<String>,
    /// Mark that the user asked for help, at this time (the first time is kept).
    pub help_requested_at: Option<DateTime<Utc>>,
    /// An admin now assists: sets `admin_assisted` and the admin's id and name.
    pub assisting_admin: Option<(UserId, String)>,
    /// Reopen an ended session (clears its end time).
    pub reopen: bool,
}

/// The storage port. All methods are cancel-safe: dropping the future abandons the operation
/// without leaving a partial write visible.
#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// Inserts a new session; `Conflict` when the id exists.
    async fn create_session(&self, session: &Session) -> Result<(), StoreError>;

    /// Reads one session's metadata.
    async fn get_session(&self, id: &SessionId) -> Result<Option<Session>, StoreError>;

    /// Reads a session's messages in order. `last` bounds the result to the most recent `n`.
    async fn messages(
        &self,
        id: &SessionId,
        last: Option<usize>,
    ) -> Result<Vec<Message>, StoreError>;

    /// Appends one message, updating `message_count` and `last_activity`.
    async fn append_message(&self, id: &SessionId, message: &Message) -> Result<(), StoreError>;

    /// Applies a patch.
    async fn update_session(&self, id: &SessionId, patch: &SessionPatch) -> Result<(), StoreError>;

    /// Appends a finished AI reply and folds its statistics (tokens, response time) into the
    /// session in one atomic write: either both are stored or neither is.
    async fn append_reply(
        &self,
        id: &SessionId,
        message: &Message,
        tokens: u64,
        response_ms: u64,
    ) -> Result<(), StoreError>;

    /// Ends a session at `at` (idempotent, see [`EndOutcome`]).
    async fn end_session(
        &self,
        id: &SessionId,
        at: DateTime<Utc>,
    ) -> Result<EndOutcome, StoreError>;

    /// The user's most recently started active session.
    async fn active_session(&self, user: &UserId) -> Result<Option<Session>, StoreError>;

    /// The user's sessions, newest activity first, at most `limit`.
    async fn user_sessions(&self, user: &UserId, limit: u32) -> Result<Vec<Session>, StoreError>;

    /// An admin list page.
    async fn list_sessions(&self, query: &SessionQuery) -> Result<SessionPage, StoreError>;

    /// Aggregate metrics over sessions that started in the window; concurrency over all sessions
    /// that overlap it.
    async fn metrics(
        &self,
        window: TimeWindow,
        now: DateTime<Utc>,
    ) -> Result<SessionMetrics, StoreError>;

    /// Sets `candidate` as the session's share token unless it has one; returns the token in
    /// force.
    async fn share_token(
        &self,
        id: &SessionId,
        candidate: &ShareToken,
    ) -> Result<ShareToken, StoreError>;

    /// Removes the session's share token (no-op when none).
    async fn revoke_share_token(&self, id: &SessionId) -> Result<(), StoreError>;

    /// The session a share token points to.
    async fn find_by_share_token(&self, token: &ShareToken) -> Result<Option<Session>, StoreError>;

    /// Appends a takeover audit event.
    async fn record_takeover(
        &self,
        id: &SessionId,
        event: &TakeoverEvent,
    ) -> Result<(), StoreError>;

    /// The session's takeover audit trail, oldest first.
    async fn takeover_events(&self, id: &SessionId) -> Result<Vec<TakeoverEvent>, StoreError>;

    /// Records a help request with its pending deliveries, before anything is sent (the outbox);
    /// `Conflict` when its id exists. The notice (note and context included) is stored encrypted
    /// like messages.
    async fn record_help_request(&self, request: &HelpRequest) -> Result<(), StoreError>;

    /// Records the outcome of a delivery of request `request_id` (matched by channel);
    /// `NotFound` for an unknown request or channel.
    async fn update_delivery(
        &self,
        request_id: &str,
        delivery: &Delivery,
    ) -> Result<(), StoreError>;

    /// Help requests with a pending delivery, oldest first, at most `limit`.
    async fn pending_help_requests(&self, limit: u32) -> Result<Vec<HelpRequest>, StoreError>;

    /// A session's help requests, oldest first.
    async fn help_requests(&self, id: &SessionId) -> Result<Vec<HelpRequest>, StoreError>;

    /// A cheap liveness check for readiness probes.
    async fn health(&self) -> Result<(), StoreError>;
}
