//! [`TimedStore`]: any [`Store`] with every operation timed into
//! `chatbox_store_operation_seconds{backend, op}` (and, for MongoDB, the Go service's
//! `chatbox_mongodb_operation_seconds{operation}`), so both backends report latency the same way.

use std::future::Future;
use std::sync::Arc;
use std::time::Instant;

use async_trait::async_trait;
use chatbox_core::outbox::{Delivery, HelpRequest};
use chatbox_core::ports::store::{EndOutcome, SessionPatch};
use chatbox_core::query::{SessionMetrics, SessionPage, SessionQuery, TimeWindow};
use chatbox_core::session::TakeoverEvent;
use chatbox_core::{Message, Session, SessionId, ShareToken, Store, StoreError, UserId};
use chrono::{DateTime, Utc};

/// A store whose operations are timed.
#[derive(Debug)]
pub struct TimedStore<S: ?Sized> {
    backend: &'static str,
    inner: Arc<S>,
}

impl<S: Store + ?Sized> TimedStore<S> {
    /// Times `inner`'s operations under the label `backend` (`mongo`, `sqlite`, `memory`).
    pub fn new(backend: &'static str, inner: Arc<S>) -> Self {
        Self { backend, inner }
    }

    async fn timed<T>(
        &self,
        op: &'static str,
        call: impl Future<Output = Result<T, StoreError>>,
    ) -> Result<T, StoreError> {
        let started = Instant::now();
        let out = call.await;
        let secs = started.elapsed().as_secs_f64();
        metrics::histogram!("chatbox_store_operation_seconds", "backend" => self.backend, "op" => op)
            .record(secs);
        if self.backend == "mongo" {
            metrics::histogram!("chatbox_mongodb_operation_seconds", "operation" => op)
                .record(secs);
        }
        out
    }
}

#[async_trait]
impl<S: Store + ?Sized> Store for TimedStore<S> {
    async fn create_session(&self, session: &Session) -> Result<(), StoreError> {
        self.timed("create_session", self.inner.create_session(session))
            .await
    }

    async fn get_session(&self, id: &SessionId) -> Result<Option<Session>, StoreError> {
        self.timed("get_session", self.inner.get_session(id)).await
    }

    async fn messages(
        &self,
        id: &SessionId,
        last: Option<usize>,
    ) -> Result<Vec<Message>, StoreError> {
        self.timed("messages", self.inner.messages(id, last)).await
    }

    async fn append_message(&self, id: &SessionId, message: &Message) -> Result<(), StoreError> {
        self.timed("append_message", self.inner.append_message(id, message))
            .await
    }

    async fn update_session(&self, id: &SessionId, patch: &SessionPatch) -> Result<(), StoreError> {
        self.timed("update_session", self.inner.update_session(id, patch))
            .await
    }

    async fn append_reply(
        &self,
        id: &SessionId,
        message: &Message,
        tokens: u64,
        response_ms: u64,
    ) -> Result<(), StoreError> {
        self.timed(
            "append_reply",
            self.inner.append_reply(id, message, tokens, response_ms),
        )
        .await
    }

    async fn end_session(
        &self,
        id: &SessionId,
        at: DateTime<Utc>,
    ) -> Result<EndOutcome, StoreError> {
        self.timed("end_session", self.inner.end_session(id, at))
            .await
    }

    async fn active_session(&self, user: &UserId) -> Result<Option<Session>, StoreError> {
        self.timed("active_session", self.inner.active_session(user))
            .await
    }

    async fn user_sessions(&self, user: &UserId, limit: u32) -> Result<Vec<Session>, StoreError> {
        self.timed("user_sessions", self.inner.user_sessions(user, limit))
            .await
    }

    async fn list_sessions(&self, query: &SessionQuery) -> Result<SessionPage, StoreError> {
        self.timed("list_sessions", self.inner.list_sessions(query))
            .await
    }

    async fn metrics(
        &self,
        window: TimeWindow,
        now: DateTime<Utc>,
    ) -> Result<SessionMetrics, StoreError> {
        self.timed("metrics", self.inner.metrics(window, now)).await
    }

    async fn share_token(
        &self,
        id: &SessionId,
        candidate: &ShareToken,
    ) -> Result<ShareToken, StoreError> {
        self.timed("share_token", self.inner.share_token(id, candidate))
            .await
    }

    async fn revoke_share_token(&self, id: &SessionId) -> Result<(), StoreError> {
        self.timed("revoke_share_token", self.inner.revoke_share_token(id))
            .await
    }

    async fn find_by_share_token(&self, token: &ShareToken) -> Result<Option<Session>, StoreError> {
        self.timed("find_by_share_token", self.inner.find_by_share_token(token))
            .await
    }

    async fn record_takeover(
        &self,
        id: &SessionId,
        event: &TakeoverEvent,
    ) -> Result<(), StoreError> {
        self.timed("record_takeover", self.inner.record_takeover(id, event))
            .await
    }

    async fn takeover_events(&self, id: &SessionId) -> Result<Vec<TakeoverEvent>, StoreError> {
        self.timed("takeover_events", self.inner.takeover_events(id))
            .await
    }

    async fn record_help_request(&self, request: &HelpRequest) -> Result<(), StoreError> {
        self.timed(
            "record_help_request",
            self.inner.record_help_request(request),
        )
        .await
    }

    async fn update_delivery(
        &self,
        request_id: &str,
        delivery: &Delivery,
    ) -> Result<(), StoreError> {
        self.timed(
            "update_delivery",
            self.inner.update_delivery(request_id, delivery),
        )
        .await
    }

    async fn pending_help_requests(&self, limit: u32) -> Result<Vec<HelpRequest>, StoreError> {
        self.timed(
            "pending_help_requests",
            self.inner.pending_help_requests(limit),
        )
        .await
    }

    async fn help_requests(&self, id: &SessionId) -> Result<Vec<HelpRequest>, StoreError> {
        self.timed("help_requests", self.inner.help_requests(id))
            .await
    }

    async fn health(&self) -> Result<(), StoreError> {
        self.timed("health", self.inner.health()).await
    }
}
