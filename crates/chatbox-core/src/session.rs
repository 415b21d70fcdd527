//! The domain model of a conversation: [`Session`] and [`Message`], plus the pure rules that go
//! with them (naming a session from its first message, response-time statistics, duration).
//!
//! These types are storage-neutral; each Store backend maps them to its own schema (for MongoDB,
//! the Go service's short field names of CONTRACT §7).

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::ids::{FileId, SessionId, ShareToken, UserId};
use crate::sender::Sender;

/// One stored message of a conversation. `content` is plaintext here: encryption at rest is the
/// store's business.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Message {
    /// The text (or caption / transcript for files and voice notes).
    pub content: String,
    /// When the message was accepted by the server.
    pub timestamp: DateTime<Utc>,
    /// Who wrote it.
    pub sender: Sender,
    /// The uploaded file this message carries, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file_id: Option<FileId>,
    /// The client-facing file URL (`P/files/{file_id}`), never a pre-signed URL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file_url: Option<String>,
    /// Free-form string metadata (file name, size, tokens, response time ...).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub metadata: BTreeMap<String, String>,
}

impl Message {
    /// A plain text message without file or metadata.
    pub fn text(sender: Sender, content: impl Into<String>, timestamp: DateTime<Utc>) -> Self {
        Self {
            content: content.into(),
            timestamp,
            sender,
            file_id: None,
            file_url: None,
            metadata: BTreeMap::new(),
        }
    }
}

/// A session's metadata, without its messages (those are read separately, see
/// [`crate::Store::messages`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Session {
    /// The session id.
    pub id: SessionId,
    /// The owner.
    pub user_id: UserId,
    /// Display name, set from the first user message; empty until then.
    pub name: String,
    /// The selected provider id; `None` means "the first configured provider".
    pub model_id: Option<String>,
    /// When the session was created.
    pub start_time: DateTime<Utc>,
    /// When it was ended; `None` while active.
    pub end_time: Option<DateTime<Utc>>,
    /// Time of the last stored message, or `start_time` when there is none.
    pub last_activity: DateTime<Utc>,
    /// Number of stored messages.
    pub message_count: u64,
    /// Sum of LLM tokens (input + output) over all replies.
    pub total_tokens: u64,
    /// Slowest LLM reply, milliseconds.
    pub max_response_ms: u64,
    /// Mean LLM reply time, milliseconds (integer, truncated).
    pub avg_response_ms: u64,
    /// Number of replies the two response-time figures are computed over.
    pub response_count: u64,
    /// True once any admin has assisted (never reset by a release).
    pub admin_assisted: bool,
    /// The admin assisting now or last.
    pub assisting_admin_id: Option<UserId>,
    /// That admin's display name.
    pub assisting_admin_name: Option<String>,
    /// True once the user asked for a human.
    pub help_requested: bool,
    /// When the (first) help request was made.
    pub help_requested_at: Option<DateTime<Utc>>,
    /// Public share token, if the owner shared the session.
    pub share_token: Option<ShareToken>,
}

impl Session {
    /// A fresh, active, empty session.
    pub fn new(id: SessionId, user_id: UserId, start_time: DateTime<Utc>) -> Self {
        Self {
            id,
            user_id,
            name: String::new(),
            model_id: None,
            start_time,
            end_time: None,
            last_activity: start_time,
            message_count: 0,
            total_tokens: 0,
            max_response_ms: 0,
            avg_response_ms: 0,
            response_count: 0,
            admin_assisted: false,
            assisting_admin_id: None,
            assisting_admin_name: None,
            help_requested: false,
            help_requested_at: None,
            share_token: None,
        }
    }

    /// True while the session has not been ended.
    pub fn is_active(&self) -> bool {
        self.end_time.is_none()
    }

    /// Duration in whole seconds: end − start, or now − start while active; never negative.
    pub fn duration_secs(&self, now: DateTime<Utc>) -> u64 {
        let end = self.end_time.unwrap_or(now);
        u64::try_from((end - self.start_time).num_seconds()).unwrap_or(0)
    }

    /// Folds one finished LLM reply into the token and response-time statistics.
    pub fn record_response(&mut self, tokens: u64, response_ms: u64) {
        self.total_tokens = self.total_tokens.saturating_add(tokens);
        self.max_response_ms = self.max_response_ms.max(response_ms);
        let total = u128::from(self.avg_response_ms) * u128::from(self.response_count)
            + u128::from(response_ms);
        self.response_count = self.response_count.saturating_add(1);
        self.avg_response_ms =
            u64::try_from(total / u128::from(self.response_count)).unwrap_or(u64::MAX);
    }
}

/// A takeover audit entry (CONTRACT §4): an admin joined or left a session.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TakeoverEvent {
    /// Join or leave.
    pub kind: TakeoverKind,
    /// The admin's user id.
    pub admin_id: UserId,
    /// The admin's display name.
    pub admin_name: String,
    /// When it happened.
    pub at: DateTime<Utc>,
    /// Why it happened, when known: `takeover` for a join; `leave` (frame), `release` (REST) or
    /// `timeout` (disconnected beyond the grace) for a leave. Older records have none.
    pub reason: Option<String>,
}

/// The two takeover audit events.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TakeoverKind {
    /// The admin took the session over.
    Join,
    /// The admin released it (or its grace after disconnecting ran out).
    Leave,
}

/// The longest session name, in characters.
pub const SESSION_NAME_MAX_CHARS: usize = 50;
/// The name given to a session whose first message has no usable text.
pub const DEFAULT_SESSION_NAME: &str = "New Chat";

/// Derives a session's name from its first user message: the first line, else the first sentence
/// (up to and including `.`, `?` or `!`), trimmed; longer than 50 characters → cut to 47 at a word
/// boundary plus `...`; empty → `New Chat`. Counts characters, not bytes, so it never splits one.
pub fn session_name_from_first_message(content: &str) -> String {
    let text = content.trim();
    let first_line = text.lines().next().unwrap_or("").trim();
    let candidate = match first_line.find(['.', '?', '!']) {
        Some(i) => &first_line[..=i],
        None => first_line,
    }
    .trim();
    if candidate.is_empty() {
        return DEFAULT_SESSION_NAME.to_owned();
    }
    if candidate.chars().count() <= SESSION_NAME_MAX_CHARS {
        return candidate.to_owned();
    }
    let cut: String = candidate.chars().take(SESSION_NAME_MAX_CHARS - 3).collect();
    let at_word = match cut.rfind(char::is_whitespace) {
        Some(i) if i > 0 => cut[..i].trim_end().to_owned(),
        _ => cut,
    };
    format!("{at_word}...")
}

#[cfg(test)]
mod tests;
