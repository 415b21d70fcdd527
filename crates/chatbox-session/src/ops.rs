//! Session operations requested outside the conversation (REST): end, share, unshare. The engine
//! runs them in the session's task when the session is live, so its cached state and its
//! connections follow; otherwise directly against the store.

use std::time::Duration;

use chatbox_core::ports::store::EndOutcome;
use chatbox_core::{SessionId, ShareToken, Store};
use chrono::{DateTime, Utc};

use crate::error::EngineError;
use crate::store_call::bounded;

/// An operation on one session.
#[derive(Debug, Clone)]
pub(crate) enum SessionOp {
    /// End the session at this time.
    End(DateTime<Utc>),
    /// Set this share token unless one is set.
    Share(ShareToken),
    /// Remove the share token.
    Unshare,
}

/// What an operation did.
#[derive(Debug, Clone)]
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
