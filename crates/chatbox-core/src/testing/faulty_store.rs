//! A [`Store`] wrapper that injects faults: the Nth call of an operation fails (transiently or
//! for good) or stalls forever, so tests can show what the engine does when storage misbehaves.
//! Calls without a planned fault pass through to the wrapped store unchanged.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::ids::{SessionId, ShareToken, UserId};
use crate::outbox::{Delivery, HelpRequest};
use crate::ports::store::{EndOutcome, SessionPatch, Store, StoreError};
use crate::query::{SessionMetrics, SessionPage, SessionQuery, TimeWindow};
use crate::session::{Message, Session, TakeoverEvent};

/// One operation of the [`Store`] port, named after its method.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StoreOp {
    /// [`Store::create_session`].
    CreateSession,
    /// [`Store::get_session`].
    GetSession,
    /// [`Store::messages`].
    Messages,
    /// [`Store::append_message`].
    AppendMessage,
    /// [`Store::append_reply`].
    AppendReply,
    /// [`Store::update_session`].
    UpdateSession,
    /// [`Store::end_session`].
    EndSession,
    /// [`Store::active_session`].
    ActiveSession,
    /// [`Store::user_sessions`].
    UserSessions,
    /// [`Store::list_sessions`].
    ListSessions,
    /// [`Store::metrics`].
    Metrics,
    /// [`Store::share_token`].
    ShareToken,
    /// [`Store::revoke_share_token`].
    RevokeShareToken,
    /// [`Store::find_by_share_token`].
    FindByShareToken,
    /// [`Store::record_takeover`].
    RecordTakeover,
    /// [`Store::takeover_events`].
    TakeoverEvents,
    /// [`Store::health`].
    Health,
    /// [`Store::record_help_request`].
    RecordHelpRequest,
    /// [`Store::update_delivery`].
    UpdateDelivery,
    /// [`Store::pending_help_requests`].
    PendingHelpRequests,
    /// [`Store::help_requests`].
    HelpRequests,
}

/// What a faulty call does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Fails with `StoreError::Unavailable` (worth retrying); nothing is written.
    Transient,
    /// Fails with `StoreError::Backend`; nothing is written.
    Permanent,
    /// Never completes (until the caller drops it); nothing is written.
    Stall,
}

#[derive(Debug, Clone, Copy)]
struct Plan {
    /// Faults apply from this call number (1-based, over all calls of the op)...
    from: usize,
    /// ...up to this one, inclusive (`None`: until cleared).
    to: Option<usize>,
    fault: Fault,
}

#[derive(Debug, Default)]
struct Faults {
    calls: HashMap<StoreOp, usize>,
    plans: HashMap<StoreOp, Vec<Plan>>,
}

/// A store that fails on request. See the module doc.
pub struct FaultyStore {
    inner: Arc<dyn Store>,
    faults: Mutex<Faults>,
}

impl std::fmt::Debug for FaultyStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FaultyStore")
            .field("faults", &*self.lock())
            .finish_non_exhaustive()
    }
}

impl FaultyStore {
    /// Wraps `inner`, with no faults planned.
    pub fn new(inner: Arc<dyn Store>) -> Self {
        Self {
            inner,
            faults: Mutex::new(Faults::default()),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Faults> {
        self.faults.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The `nth` call of `op` counted from now (1 = the next one; 0 counts as 1) gets `fault`;
    /// other calls pass through. Plans add up: several calls may be planned to fail.
    pub fn fail_nth(&self, op: StoreOp, nth: usize, fault: Fault) {
        let mut f = self.lock();
        let at = f.calls.get(&op).copied().unwrap_or(0) + nth.max(1);
        f.plans.entry(op).or_default().push(Plan {
            from: at,
            to: Some(at),
            fault,
        });
    }

    /// Every call of `op` from the `nth` one on (counted from now, 0 counts as 1) gets `fault`,
    /// until [`FaultyStore::clear`]. Where plans overlap, the earliest made wins.
    pub fn fail_from(&self, op: StoreOp, nth: usize, fault: Fault) {
        let mut f = self.lock();
        let at = f.calls.get(&op).copied().unwrap_or(0) + nth.max(1);
        f.plans.entry(op).or_default().push(Plan {
            from: at,
            to: None,
            fault,
        });
    }

    /// Removes every planned fault.
    pub fn clear(&self) {
        self.lock().plans.clear();
    }

    /// Calls of `op` seen so far, failed and stalled ones included.
    pub fn calls(&self, op: StoreOp) -> usize {
        self.lock().calls.get(&op).copied().unwrap_or(0)
    }

    /// Counts a call of `op` and applies its planned fault, if any.
    async fn enter(&self, op: StoreOp) -> Result<(), StoreError> {
        let fault = {
            let mut f = self.lock();
            let n = f.calls.entry(op).or_insert(0);
            *n += 1;
            let n = *n;
            f.plans.get(&op).and_then(|plans| {
                plans
                    .iter()
                    .find(|p| n >= p.from && p.to.is_none_or(|to| n <= to))
                    .map(|p| p.fault)
            })
        };
        match fault {
            None => Ok(()),
            Some(Fault::Transient) => Err(StoreError::Unavailable(
                format!("injected transient fault in {op:?}").into(),
            )),
            Some(Fault::Permanent) => Err(StoreError::Backend(
                format!("injected permanent fault in {op:?}").into(),
            )),
            Some(Fault::Stall) => std::future::pending().await,
        }
    }
}

#[async_trait]
impl Store for FaultyStore {
    async fn create_session(&self, session: &Session) -> Result<(), StoreError> {
        self.enter(StoreOp::CreateSession).await?;
        self.inner.create_session(session).await
    }

    async fn get_session(&self, id: &SessionId) -> Result<Option<Session>, StoreError> {
        self.enter(StoreOp::GetSession).await?;
        self.inner.get_session(id).await
    }

    async fn messages(
        &self,
        id: &SessionId,
        last: Option<usize>,
    ) -> Result<Vec<Message>, StoreError> {
        self.enter(StoreOp::Messages).await?;
        self.inner.messages(id, last).await
    }

    async fn append_message(&self, id: &SessionId, message: &Message) -> Result<(), StoreError> {
        self.enter(StoreOp::AppendMessage).await?;
        self.inner.append_message(id, message).await
    }

    async fn append_reply(
        &self,
        id: &SessionId,
        message: &Message,
        tokens: u64,
        response_ms: u64,
    ) -> Result<(), StoreError> {
        self.enter(StoreOp::AppendReply).await?;
        self.inner
            .append_reply(id, message, tokens, response_ms)
            .await
    }

    async fn update_session(&self, id: &SessionId, patch: &SessionPatch) -> Result<(), StoreError> {
        self.enter(StoreOp::UpdateSession).await?;
        self.inner.update_session(id, patch).await
    }

    async fn end_session(
        &self,
        id: &SessionId,
        at: DateTime<Utc>,
    ) -> Result<EndOutcome, StoreError> {
        self.enter(StoreOp::EndSession).await?;
        self.inner.end_session(id, at).await
    }

    async fn active_session(&self, user: &UserId) -> Result<Option<Session>, StoreError> {
        self.enter(StoreOp::ActiveSession).await?;
        self.inner.active_session(user).await
    }

    async fn user_sessions(&self, user: &UserId, limit: u32) -> Result<Vec<Session>, StoreError> {
        self.enter(StoreOp::UserSessions).await?;
        self.inner.user_sessions(user, limit).await
    }

    async fn list_sessions(&self, query: &SessionQuery) -> Result<SessionPage, StoreError> {
        self.enter(StoreOp::ListSessions).await?;
        self.inner.list_sessions(query).await
    }

    async fn metrics(
        &self,
        window: TimeWindow,
        now: DateTime<Utc>,
    ) -> Result<SessionMetrics, StoreError> {
        self.enter(StoreOp::Metrics).await?;
        self.inner.metrics(window, now).await
    }

    async fn share_token(
        &self,
        id: &SessionId,
        candidate: &ShareToken,
    ) -> Result<ShareToken, StoreError> {
        self.enter(StoreOp::ShareToken).await?;
        self.inner.share_token(id, candidate).await
    }

    async fn revoke_share_token(&self, id: &SessionId) -> Result<(), StoreError> {
        self.enter(StoreOp::RevokeShareToken).await?;
        self.inner.revoke_share_token(id).await
    }

    async fn find_by_share_token(&self, token: &ShareToken) -> Result<Option<Session>, StoreError> {
        self.enter(StoreOp::FindByShareToken).await?;
        self.inner.find_by_share_token(token).await
    }

    async fn record_takeover(
        &self,
        id: &SessionId,
        event: &TakeoverEvent,
    ) -> Result<(), StoreError> {
        self.enter(StoreOp::RecordTakeover).await?;
        self.inner.record_takeover(id, event).await
    }

    async fn takeover_events(&self, id: &SessionId) -> Result<Vec<TakeoverEvent>, StoreError> {
        self.enter(StoreOp::TakeoverEvents).await?;
        self.inner.takeover_events(id).await
    }

    async fn record_help_request(&self, request: &HelpRequest) -> Result<(), StoreError> {
        self.enter(StoreOp::RecordHelpRequest).await?;
        self.inner.record_help_request(request).await
    }

    async fn update_delivery(
        &self,
        request_id: &str,
        delivery: &Delivery,
    ) -> Result<(), StoreError> {
        self.enter(StoreOp::UpdateDelivery).await?;
        self.inner.update_delivery(request_id, delivery).await
    }

    async fn pending_help_requests(&self, limit: u32) -> Result<Vec<HelpRequest>, StoreError> {
        self.enter(StoreOp::PendingHelpRequests).await?;
        self.inner.pending_help_requests(limit).await
    }

    async fn help_requests(&self, id: &SessionId) -> Result<Vec<HelpRequest>, StoreError> {
        self.enter(StoreOp::HelpRequests).await?;
        self.inner.help_requests(id).await
    }

    async fn health(&self) -> Result<(), StoreError> {
        self.enter(StoreOp::Health).await?;
        self.inner.health().await
    }
}

#[cfg(test)]
mod tests;
