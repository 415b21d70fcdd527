//! Mapping between SQLite rows and the domain types, and of rusqlite errors to
//! [`StoreError`].
//!
//! Guarantees: a row that cannot be understood (a bad id, an out-of-range time, an unknown
//! sender) is reported as [`StoreError::Corrupt`] naming the column, never a panic; integers beyond
//! `i64` are saturated on the way in and negative ones read as 0.

use std::collections::BTreeMap;

use chatbox_core::session::{TakeoverEvent, TakeoverKind};
use chatbox_core::{FileId, Message, Sender, Session, SessionId, ShareToken, StoreError, UserId};
use chrono::{DateTime, Utc};
use rusqlite::{ErrorCode, Row};

/// The session columns, in the order [`session_from_row`] reads them.
pub(crate) const SESSION_COLUMNS: &str = "id, user_id, name, model_id, start_ms, end_ms, \
     last_activity_ms, message_count, total_tokens, max_response_ms, avg_response_ms, \
     response_count, admin_assisted, assisting_admin_id, assisting_admin_name, help_requested, \
     help_requested_at_ms, share_token";

/// Classifies a rusqlite error: busy/locked is transient, a uniqueness violation a conflict.
pub(crate) fn store_error(e: rusqlite::Error) -> StoreError {
    match e.sqlite_error_code() {
        Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked) => {
            StoreError::Unavailable(Box::new(e))
        }
        Some(ErrorCode::ConstraintViolation) => StoreError::Conflict("unique constraint violated"),
        _ => StoreError::Backend(Box::new(e)),
    }
}

/// Milliseconds since the epoch, as stored.
pub(crate) fn ms(t: DateTime<Utc>) -> i64 {
    t.timestamp_millis()
}

/// A `u64` counter as stored (saturating).
pub(crate) fn int(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

fn count(v: i64) -> u64 {
    u64::try_from(v).unwrap_or(0)
}

fn time(column: &str, v: i64) -> Result<DateTime<Utc>, StoreError> {
    DateTime::from_timestamp_millis(v)
        .ok_or_else(|| StoreError::Corrupt(format!("{column} out of range")))
}

fn corrupt(column: &str) -> impl Fn(chatbox_core::IdError) -> StoreError + '_ {
    move |e| StoreError::Corrupt(format!("{column}: {e}"))
}

/// Reads a session from a row selected with [`SESSION_COLUMNS`].
pub(crate) fn session_from_row(r: &Row<'_>) -> Result<Session, StoreError> {
    let get_s = |i: usize| r.get::<_, String>(i).map_err(store_error);
    let get_os = |i: usize| r.get::<_, Option<String>>(i).map_err(store_error);
    let get_i = |i: usize| r.get::<_, i64>(i).map_err(store_error);
    let get_oi = |i: usize| r.get::<_, Option<i64>>(i).map_err(store_error);
    Ok(Session {
        id: SessionId::parse(&get_s(0)?).map_err(corrupt("id"))?,
        user_id: UserId::parse(&get_s(1)?).map_err(corrupt("user_id"))?,
        name: get_s(2)?,
        model_id: get_os(3)?,
        start_time: time("start_ms", get_i(4)?)?,
        end_time: get_oi(5)?.map(|v| time("end_ms", v)).transpose()?,
        last_activity: time("last_activity_ms", get_i(6)?)?,
        message_count: count(get_i(7)?),
        total_tokens: count(get_i(8)?),
        max_response_ms: count(get_i(9)?),
        avg_response_ms: count(get_i(10)?),
        response_count: count(get_i(11)?),
        admin_assisted: get_i(12)? != 0,
        assisting_admin_id: get_os(13)?
            .map(|s| UserId::parse(&s))
            .transpose()
            .map_err(corrupt("assisting_admin_id"))?,
        assisting_admin_name: get_os(14)?,
        help_requested: get_i(15)? != 0,
        help_requested_at: get_oi(16)?
            .map(|v| time("help_requested_at_ms", v))
            .transpose()?,
        share_token: get_os(17)?
            .map(|s| ShareToken::parse(&s))
            .transpose()
            .map_err(corrupt("share_token"))?,
    })
}

/// A message as stored, before decryption: `content` is still the cipher's output.
pub(crate) struct StoredMessage {
    pub(crate) content: String,
    pub(crate) ts_ms: i64,
    pub(crate) sender: String,
    pub(crate) file_id: Option<String>,
    pub(crate) file_url: Option<String>,
    pub(crate) meta: Option<String>,
}

impl StoredMessage {
    /// Reads `content, ts_ms, sender, file_id, file_url, meta`.
    pub(crate) fn from_row(r: &Row<'_>) -> rusqlite::Result<Self> {
        Ok(Self {
            content: r.get(0)?,
            ts_ms: r.get(1)?,
            sender: r.get(2)?,
            file_id: r.get(3)?,
            file_url: r.get(4)?,
            meta: r.get(5)?,
        })
    }

    /// Prepares `message` for storage with its content already encrypted.
    pub(crate) fn from_message(message: &Message, content: String) -> Self {
        Self {
            content,
            ts_ms: ms(message.timestamp),
            sender: message.sender.as_str().to_owned(),
            file_id: message.file_id.as_ref().map(|f| f.as_str().to_owned()),
            file_url: message.file_url.clone(),
            meta: (!message.metadata.is_empty())
                .then(|| serde_json::to_string(&message.metadata).unwrap_or_default()),
        }
    }

    /// The domain message, with `decrypt` applied to the content.
    pub(crate) fn into_message(
        self,
        decrypt: impl Fn(&str) -> String,
    ) -> Result<Message, StoreError> {
        let metadata: BTreeMap<String, String> = match &self.meta {
            Some(json) => serde_json::from_str(json)
                .map_err(|e| StoreError::Corrupt(format!("message meta: {e}")))?,
            None => BTreeMap::new(),
        };
        Ok(Message {
            content: decrypt(&self.content),
            timestamp: time("ts_ms", self.ts_ms)?,
            sender: Sender::from_wire(&self.sender)
                .ok_or_else(|| StoreError::Corrupt("unknown message sender".into()))?,
            file_id: self
                .file_id
                .map(|f| FileId::parse(&f))
                .transpose()
                .map_err(corrupt("file_id"))?,
            file_url: self.file_url,
            metadata,
        })
    }
}

/// The stored spelling of a takeover kind.
pub(crate) fn kind_str(kind: TakeoverKind) -> &'static str {
    match kind {
        TakeoverKind::Join => "join",
        TakeoverKind::Leave => "leave",
    }
}

/// Reads `kind, admin_id, admin_name, at_ms, reason`.
pub(crate) fn takeover_from_row(r: &Row<'_>) -> Result<TakeoverEvent, StoreError> {
    let kind: String = r.get(0).map_err(store_error)?;
    let admin_id: String = r.get(1).map_err(store_error)?;
    Ok(TakeoverEvent {
        kind: match kind.as_str() {
            "join" => TakeoverKind::Join,
            "leave" => TakeoverKind::Leave,
            _ => return Err(StoreError::Corrupt("unknown takeover kind".into())),
        },
        admin_id: UserId::parse(&admin_id).map_err(corrupt("admin_id"))?,
        admin_name: r.get(2).map_err(store_error)?,
        at: time("at_ms", r.get(3).map_err(store_error)?)?,
        reason: r.get(4).map_err(store_error)?,
    })
}
