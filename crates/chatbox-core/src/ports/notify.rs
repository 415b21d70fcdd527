//! The [`Notifier`] port: telling staff that a user asked for a human (CONTRACT §5).
//!
//! One notifier per channel (email, SMS, webhook); the engine fans a notice out to each
//! independently, so one failing channel never stops another.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::BoxError;
use crate::ids::{SessionId, UserId};
use crate::session::Message;

/// What staff are told about a help request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HelpNotice {
    /// Who asked.
    pub user_id: UserId,
    /// Their display name.
    pub user_name: String,
    /// In which session.
    pub session_id: SessionId,
    /// When.
    pub requested_at: DateTime<Utc>,
    /// `<ADMIN_PANEL_URL>/<session_id>` when an admin panel URL is configured.
    pub admin_link: Option<String>,
    /// The user's note, if any.
    pub note: Option<String>,
    /// The last few messages of the conversation, oldest first, as context for the human
    /// (plain text; channels escape and truncate it).
    #[serde(default)]
    pub context: Vec<Message>,
}

/// Why a notification was not delivered.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum NotifyError {
    /// The channel is misconfigured (bad address, missing sender identity).
    #[error("notification channel misconfigured: {0}")]
    Config(String),
    /// The provider refused the message; retrying will not help.
    #[error("notification rejected: {0}")]
    Rejected(String),
    /// A transient failure; worth retrying with backoff.
    #[error("notification channel temporarily unavailable")]
    Unavailable(#[source] BoxError),
}

impl NotifyError {
    /// True for failures worth retrying.
    pub fn is_transient(&self) -> bool {
        matches!(self, Self::Unavailable(_))
    }
}

/// A staff notification channel.
#[async_trait]
pub trait Notifier: Send + Sync + 'static {
    /// The channel's name for logs and metrics (`ses`, `smtp`, `sms`, `webhook`).
    fn channel(&self) -> &str;

    /// Delivers one notice (one attempt; retry policy belongs to the caller).
    async fn notify(&self, notice: &HelpNotice) -> Result<(), NotifyError>;
}
