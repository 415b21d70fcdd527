//! An in-memory [`Store`]: the reference semantics, used by engine and edge tests.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard, PoisonError};

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::concurrency::concurrency;
use crate::ids::{SessionId, ShareToken, UserId};
use crate::outbox::{Delivery, HelpRequest};
use crate::ports::store::{EndOutcome, SessionPatch, Store, StoreError};
use crate::query::{SessionMetrics, SessionPage, SessionQuery, TimeWindow};
use crate::session::{Message, Session, TakeoverEvent};

#[derive(Debug)]
struct Entry {
    session: Session,
    messages: Vec<Message>,
    takeovers: Vec<TakeoverEvent>,
}

/// A [`Store`] kept in a mutex-guarded map. Cheap to create; each test gets its own.
#[derive(Debug, Default)]
pub struct MemoryStore {
    entries: Mutex<HashMap<SessionId, Entry>>,
    outbox: Mutex<Vec<HelpRequest>>,
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<SessionId, Entry>> {
        // A panic in another test thread must not cascade: the map stays usable.
        self.entries
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn with_entry<T>(
        &self,
        id: &SessionId,
        f: impl FnOnce(&mut Entry) -> T,
    ) -> Result<T, StoreError> {
        let mut map = self.lock();
        map.get_mut(id).map(f).ok_or(StoreError::NotFound)
    }
}

#[async_trait]
impl Store for MemoryStore {
    async fn create_session(&self, session: &Session) -> Result<(), StoreError> {
        let mut map = self.lock();
        if map.contains_key(&session.id) {
            return Err(StoreError::Conflict("session id already exists"));
        }
        map.insert(
            session.id.clone(),
            Entry {
                session: session.clone(),
                messages: Vec::new(),
                takeovers: Vec::new(),
            },
        );
        Ok(())
    }

    async fn get_session(&self, id: &SessionId) -> Result<Option<Session>, StoreError> {
        Ok(self.lock().get(id).map(|e| e.session.clone()))
    }

    async fn messages(
        &self,
        id: &SessionId,
        last: Option<usize>,
    ) -> Result<Vec<Message>, StoreError> {
        self.with_entry(id, |e| {
            let skip = last.map_or(0, |n| e.messages.len().saturating_sub(n));
            e.messages[skip..].to_vec()
        })
    }

    async fn append_message(&self, id: &SessionId, message: &Message) -> Result<(), StoreError> {
        self.with_entry(id, |e| {
            e.messages.push(message.clone());
            e.session.message_count += 1;
            e.session.last_activity = message.timestamp;
        })
    }

    async fn update_session(&self, id: &SessionId, patch: &SessionPatch) -> Result<(), StoreError> {
        self.with_entry(id, |e| {
            let s = &mut e.session;
            if let Some(name) = &patch.name {
                s.name.clone_from(name);
            }
            if let Some(model) = &patch.model_id {
                s.model_id = Some(model.clone());
            }
            if let Some(at) = patch.help_requested_at {
                s.help_requested = true;
                s.help_requested_at.get_or_insert(at);
            }
            if let Some((admin_id, admin_name)) = &patch.assisting_admin {
                s.admin_assisted = true;
                s.assisting_admin_id = Some(admin_id.clone());
                s.assisting_admin_name = Some(admin_name.clone());
            }
            if patch.reopen {
                s.end_time = None;
            }
        })
    }

    async fn append_reply(
        &self,
        id: &SessionId,
        message: &Message,
        tokens: u64,
        response_ms: u64,
    ) -> Result<(), StoreError> {
        self.with_entry(id, |e| {
            e.messages.push(message.clone());
            e.session.message_count += 1;
            e.session.last_activity = message.timestamp;
            e.session.record_response(tokens, response_ms);
        })
    }

    async fn end_session(
        &self,
        id: &SessionId,
        at: DateTime<Utc>,
    ) -> Result<EndOutcome, StoreError> {
        self.with_entry(id, |e| match e.session.end_time {
            Some(t) => EndOutcome::AlreadyEnded(t),
            None => {
                e.session.end_time = Some(at);
                EndOutcome::Ended(at)
            }
        })
    }

    async fn active_session(&self, user: &UserId) -> Result<Option<Session>, StoreError> {
        Ok(self
            .lock()
            .values()
            .map(|e| &e.session)
            .filter(|s| &s.user_id == user && s.is_active())
            .max_by(|a, b| {
                a.start_time
                    .cmp(&b.start_time)
                    .then_with(|| a.id.cmp(&b.id))
            })
            .cloned())
    }

    async fn user_sessions(&self, user: &UserId, limit: u32) -> Result<Vec<Session>, StoreError> {
        let mut rows: Vec<Session> = self
            .lock()
            .values()
            .filter(|e| &e.session.user_id == user)
            .map(|e| e.session.clone())
            .collect();
        rows.sort_by(|a, b| {
            b.last_activity
                .cmp(&a.last_activity)
                .then_with(|| b.start_time.cmp(&a.start_time))
        });
        rows.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
        Ok(rows)
    }

    async fn list_sessions(&self, query: &SessionQuery) -> Result<SessionPage, StoreError> {
        let now = Utc::now();
        let mut rows: Vec<Session> = self
            .lock()
            .values()
            .filter(|e| query.filter.matches(&e.session))
            .map(|e| e.session.clone())
            .collect();
        let total = rows.len() as u64;
        rows.sort_by(|a, b| query.compare(a, b, now));
        let offset = usize::try_from(query.offset).unwrap_or(usize::MAX);
        let limit = usize::try_from(query.limit.get()).unwrap_or(usize::MAX);
        let sessions = rows.into_iter().skip(offset).take(limit).collect();
        Ok(SessionPage { sessions, total })
    }

    async fn metrics(
        &self,
        window: TimeWindow,
        now: DateTime<Utc>,
    ) -> Result<SessionMetrics, StoreError> {
        let map = self.lock();
        let mut m = SessionMetrics::default();
        let (mut avg_sum, mut avg_n) = (0u128, 0u128);
        for s in map.values().map(|e| &e.session) {
            if s.start_time < window.start() || s.start_time > window.end() {
                continue;
            }
            m.total_sessions += 1;
            if s.is_active() {
                m.active_sessions += 1;
            } else {
                m.ended_sessions += 1;
            }
            m.admin_assisted_count += u64::from(s.admin_assisted);
            m.help_requested_count += u64::from(s.help_requested);
            m.total_tokens = m.total_tokens.saturating_add(s.total_tokens);
            m.max_response_time = m.max_response_time.max(s.max_response_ms);
            if s.response_count > 0 {
                avg_sum += u128::from(s.avg_response_ms);
                avg_n += 1;
            }
        }
        if let Some(avg) = avg_sum.checked_div(avg_n) {
            m.avg_response_time = u64::try_from(avg).unwrap_or(u64::MAX);
        }
        let c = concurrency(
            map.values()
                .map(|e| (e.session.start_time, e.session.end_time)),
            window,
            now,
        );
        m.avg_concurrent = c.average;
        m.max_concurrent = c.peak;
        Ok(m)
    }

    async fn share_token(
        &self,
        id: &SessionId,
        candidate: &ShareToken,
    ) -> Result<ShareToken, StoreError> {
        let mut map = self.lock();
        if let Some(existing) = map
            .get(id)
            .ok_or(StoreError::NotFound)?
            .session
            .share_token
            .clone()
        {
            return Ok(existing);
        }
        if map
            .values()
            .any(|e| e.session.share_token.as_ref() == Some(candidate))
        {
            return Err(StoreError::Conflict("share token already in use"));
        }
        let entry = map.get_mut(id).ok_or(StoreError::NotFound)?;
        entry.session.share_token = Some(candidate.clone());
        Ok(candidate.clone())
    }

    async fn revoke_share_token(&self, id: &SessionId) -> Result<(), StoreError> {
        self.with_entry(id, |e| e.session.share_token = None)
    }

    async fn find_by_share_token(&self, token: &ShareToken) -> Result<Option<Session>, StoreError> {
        Ok(self
            .lock()
            .values()
            .find(|e| e.session.share_token.as_ref() == Some(token))
            .map(|e| e.session.clone()))
    }

    async fn record_takeover(
        &self,
        id: &SessionId,
        event: &TakeoverEvent,
    ) -> Result<(), StoreError> {
        self.with_entry(id, |e| e.takeovers.push(event.clone()))
    }

    async fn takeover_events(&self, id: &SessionId) -> Result<Vec<TakeoverEvent>, StoreError> {
        self.with_entry(id, |e| e.takeovers.clone())
    }

    async fn record_help_request(&self, request: &HelpRequest) -> Result<(), StoreError> {
        let mut outbox = self.outbox.lock().unwrap_or_else(PoisonError::into_inner);
        if outbox.iter().any(|r| r.id == request.id) {
            return Err(StoreError::Conflict("help request id already exists"));
        }
        outbox.push(request.clone());
        Ok(())
    }

    async fn update_delivery(
        &self,
        request_id: &str,
        delivery: &Delivery,
    ) -> Result<(), StoreError> {
        let mut outbox = self.outbox.lock().unwrap_or_else(PoisonError::into_inner);
        let found = outbox
            .iter_mut()
            .find(|r| r.id == request_id)
            .is_some_and(|r| r.set_delivery(delivery));
        if found {
            Ok(())
        } else {
            Err(StoreError::NotFound)
        }
    }

    async fn pending_help_requests(&self, limit: u32) -> Result<Vec<HelpRequest>, StoreError> {
        let outbox = self.outbox.lock().unwrap_or_else(PoisonError::into_inner);
        let mut pending: Vec<HelpRequest> =
            outbox.iter().filter(|r| r.is_pending()).cloned().collect();
        pending.sort_by_key(HelpRequest::requested_at);
        pending.truncate(limit as usize);
        Ok(pending)
    }

    async fn help_requests(&self, id: &SessionId) -> Result<Vec<HelpRequest>, StoreError> {
        let outbox = self.outbox.lock().unwrap_or_else(PoisonError::into_inner);
        let mut mine: Vec<HelpRequest> = outbox
            .iter()
            .filter(|r| r.session_id() == id)
            .cloned()
            .collect();
        mine.sort_by_key(HelpRequest::requested_at);
        Ok(mine)
    }

    async fn health(&self) -> Result<(), StoreError> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::store_conformance;

    #[test]
    fn memory_store_passes_the_conformance_suite() {
        futures::executor::block_on(store_conformance::run_all(|| async { MemoryStore::new() }));
    }
}
