//! Session operations requested outside the conversation (REST): end, share, unshare, and an
//! admin's takeover and release. They run in the session's task when the session is live, so
//! its cached state and its connections follow; end, share and unshare go directly to the store
//! otherwise.

use std::time::Duration;

use chatbox_core::ports::store::EndOutcome;
use chatbox_core::{Identity, SessionId, ShareToken, Store};
use chrono::{DateTime, Utc};
use tokio::sync::{mpsc, oneshot};

use crate::engine::Engine;
use crate::error::EngineError;
use crate::events::SessionEventKind;
use crate::store_call::bounded;
use crate::task::{Command, OpRequest, Release, Takeover};

/// An operation on one session (serde: another replica may run the session).
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub(crate) enum SessionOp {
    /// End the session at this time.
    End(DateTime<Utc>),
    /// Set this share token unless one is set.
    Share(ShareToken),
    /// Remove the share token.
    Unshare,
}

/// What an operation did.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub(crate) enum OpOutcome {
    Ended(EndOutcome),
    Shared(ShareToken),
    Unshared,
}

impl SessionOp {
    /// Applies the operation to the store, within one store deadline.
    pub(crate) async fn apply(
        &self,
        store: &dyn Store,
        id: &SessionId,
        limit: Duration,
    ) -> Result<OpOutcome, EngineError> {
        match self {
            Self::End(at) => bounded(limit, store.end_session(id, *at))
                .await
                .map(OpOutcome::Ended),
            Self::Share(candidate) => bounded(limit, store.share_token(id, candidate))
                .await
                .map(OpOutcome::Shared),
            Self::Unshare => bounded(limit, store.revoke_share_token(id))
                .await
                .map(|()| OpOutcome::Unshared),
        }
    }
}

impl Engine {
    /// Ends a session (idempotent). A live session learns it ended and tells its connections.
    pub async fn end_session(&self, id: &SessionId) -> Result<EndOutcome, EngineError> {
        match self.op(id, SessionOp::End(Utc::now())).await? {
            OpOutcome::Ended(outcome) => {
                if matches!(outcome, EndOutcome::Ended(_))
                    && let Ok(Some(session)) = self.get(id).await
                {
                    self.shared.emit(&session, SessionEventKind::Ended);
                }
                Ok(outcome)
            }
            _ => Err(EngineError::NotFound),
        }
    }

    /// Shares a session: `candidate` becomes its share token unless it has one; returns the
    /// token in force.
    pub async fn share_session(
        &self,
        id: &SessionId,
        candidate: ShareToken,
    ) -> Result<ShareToken, EngineError> {
        match self.op(id, SessionOp::Share(candidate)).await? {
            OpOutcome::Shared(token) => Ok(token),
            _ => Err(EngineError::NotFound),
        }
    }

    /// Revokes a session's share token (no-op when none).
    pub async fn unshare_session(&self, id: &SessionId) -> Result<(), EngineError> {
        self.op(id, SessionOp::Unshare).await.map(|_| ())
    }

    /// `admin` takes session `id` over (CONTRACT §4): the reply in flight is cancelled and
    /// `admin_join` announced. `Conflict` when another admin assists, `NotFound` for an unknown
    /// session, `Forbidden` for a non-admin.
    pub async fn takeover(&self, id: &SessionId, admin: Identity) -> Result<(), EngineError> {
        self.refuse_when_closing()?;
        if !admin.is_admin() {
            return Err(EngineError::Forbidden);
        }
        let session = self.get(id).await?.ok_or(EngineError::NotFound)?;
        let mailbox = self.mailbox_for(&session).await?;
        let (done, outcome) = oneshot::channel();
        let cmd = Command::Takeover(Box::new(Takeover { admin, done }));
        self.ask(&mailbox, cmd, outcome)
            .await
            .unwrap_or(Err(EngineError::NotFound))
    }

    /// The assisting admin `admin` releases session `id`; the AI answers again. `Forbidden`
    /// when `admin` is not the one assisting (or nobody is).
    pub async fn release(&self, id: &SessionId, admin: &Identity) -> Result<(), EngineError> {
        if !admin.is_admin() {
            return Err(EngineError::Forbidden);
        }
        if self.get(id).await?.is_none() {
            return Err(EngineError::NotFound);
        }
        let Some(mailbox) = self.live_mailbox(id).await? else {
            // No live task: nobody assists it now.
            return Err(EngineError::Forbidden);
        };
        let (done, outcome) = oneshot::channel();
        let cmd = Command::Release(Box::new(Release {
            admin: admin.user_id.clone(),
            done,
        }));
        self.ask(&mailbox, cmd, outcome)
            .await
            .unwrap_or(Err(EngineError::NotFound))
    }

    /// The mailbox of session `id`'s task when it is live. With several replicas it may be live
    /// on another one: then this replica's proxy of it (started if needed) forwards to it.
    async fn live_mailbox(
        &self,
        id: &SessionId,
    ) -> Result<Option<mpsc::Sender<Command>>, EngineError> {
        if let Some(tx) = self.shared.registry().get(id).cloned() {
            return Ok(Some(tx));
        }
        if self.shared.cluster.is_none() {
            return Ok(None);
        }
        match self.get(id).await? {
            Some(session) => self.mailbox_for(&session).await.map(Some),
            None => Ok(None),
        }
    }

    /// Sends `cmd` to a session task and waits for its answer, both bounded. `None` when the task
    /// stopped before answering (it was evicted or shut down meanwhile).
    async fn ask<T>(
        &self,
        mailbox: &mpsc::Sender<Command>,
        cmd: Command,
        outcome: oneshot::Receiver<Result<T, EngineError>>,
    ) -> Option<Result<T, EngineError>> {
        let limit = self.shared.store_timeout();
        match tokio::time::timeout(limit, mailbox.send(cmd)).await {
            Ok(Ok(())) => {}
            Ok(Err(_)) => return None,
            Err(_) => return Some(Err(EngineError::Busy)),
        }
        // The task answers after at most a few store calls, each within the store deadline.
        match tokio::time::timeout(limit.saturating_mul(4), outcome).await {
            Ok(Ok(result)) => Some(result),
            Ok(Err(_)) => None,
            Err(_) => Some(Err(EngineError::StoreTimeout)),
        }
    }

    /// Runs a session operation in the session's task when it is live (so its state follows),
    /// else directly on the store.
    async fn op(&self, id: &SessionId, op: SessionOp) -> Result<OpOutcome, EngineError> {
        if let Some(mailbox) = self.live_mailbox(id).await? {
            let (done, outcome) = oneshot::channel();
            let request = Command::Op(Box::new(OpRequest {
                op: op.clone(),
                done,
            }));
            if let Some(result) = self.ask(&mailbox, request, outcome).await {
                return result;
            }
        }
        op.apply(&*self.shared.store, id, self.shared.store_timeout())
            .await
    }
}
