//! The write steps that several store operations share, each inside the caller's transaction:
//! appending a message (with the session's count and activity) and folding a reply's statistics
//! into its session.

use chatbox_core::{Session, SessionId, StoreError, UserId};
use chrono::{DateTime, Utc};
use rusqlite::{OptionalExtension, Transaction, params};

use super::rows::{StoredMessage, int, store_error};

/// Appends `stored` to session `id`, bumping its message count and last activity.
pub(super) fn insert_message(
    tx: &Transaction<'_>,
    id: &str,
    stored: &StoredMessage,
) -> Result<(), StoreError> {
    let seq: Option<i64> = tx
        .query_row(
            "UPDATE sessions SET message_count = message_count + 1, \
             last_activity_ms = ?2 WHERE id = ?1 RETURNING message_count - 1",
            params![id, stored.ts_ms],
            |r| r.get(0),
        )
        .optional()
        .map_err(store_error)?;
    let seq = seq.ok_or(StoreError::NotFound)?;
    tx.execute(
        "INSERT INTO messages (session_id, seq, content, ts_ms, sender, file_id, \
         file_url, meta) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        params![
            id,
            seq,
            stored.content,
            stored.ts_ms,
            stored.sender,
            stored.file_id,
            stored.file_url,
            stored.meta
        ],
    )
    .map_err(store_error)?;
    Ok(())
}

/// Folds one reply's tokens and response time into session `id`'s figures.
pub(super) fn fold_response(
    tx: &Transaction<'_>,
    id: &str,
    tokens: u64,
    response_ms: u64,
) -> Result<(), StoreError> {
    let row: Option<[i64; 4]> = tx
        .query_row(
            "SELECT total_tokens, max_response_ms, avg_response_ms, response_count \
             FROM sessions WHERE id = ?1",
            [id],
            |r| Ok([r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?]),
        )
        .optional()
        .map_err(store_error)?;
    let row = row.ok_or(StoreError::NotFound)?;
    let n = |v: i64| u64::try_from(v).unwrap_or(0);
    // Reuse the domain rule so every backend computes the same figures.
    let mut s = Session::new(
        SessionId::parse(id).map_err(|e| StoreError::Corrupt(e.to_string()))?,
        UserId::parse("stats").map_err(|e| StoreError::Corrupt(e.to_string()))?,
        DateTime::<Utc>::UNIX_EPOCH,
    );
    (
        s.total_tokens,
        s.max_response_ms,
        s.avg_response_ms,
        s.response_count,
    ) = (n(row[0]), n(row[1]), n(row[2]), n(row[3]));
    s.record_response(tokens, response_ms);
    tx.execute(
        "UPDATE sessions SET total_tokens = ?2, max_response_ms = ?3, \
         avg_response_ms = ?4, response_count = ?5 WHERE id = ?1",
        params![
            id,
            int(s.total_tokens),
            int(s.max_response_ms),
            int(s.avg_response_ms),
            int(s.response_count)
        ],
    )
    .map_err(store_error)?;
    Ok(())
}
