//! The write steps of the store's operations, each inside the caller's transaction: creating and
//! patching a session, appending a message (with the session's count and activity) and folding a
//! reply's statistics into its session.

use chatbox_core::ports::store::SessionPatch;
use chatbox_core::{Session, SessionId, ShareToken, StoreError, UserId};
use chrono::{DateTime, Utc};
use rusqlite::{OptionalExtension, Transaction, params};

use super::rows::{StoredMessage, int, ms, store_error};
use super::{is_unique_violation, require};

/// Inserts a new session; `Conflict` when its id or share token is taken.
pub(super) fn insert_session(tx: &Transaction<'_>, s: &Session) -> Result<(), StoreError> {
    let r = tx.execute(
        "INSERT INTO sessions (id, user_id, name, model_id, start_ms, end_ms, \
         last_activity_ms, message_count, total_tokens, max_response_ms, \
         avg_response_ms, response_count, admin_assisted, assisting_admin_id, \
         assisting_admin_name, help_requested, help_requested_at_ms, share_token) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, 0, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, \
         ?16, ?17)",
        params![
            s.id.as_str(),
            s.user_id.as_str(),
            s.name,
            s.model_id,
            ms(s.start_time),
            s.end_time.map(ms),
            ms(s.last_activity),
            int(s.total_tokens),
            int(s.max_response_ms),
            int(s.avg_response_ms),
            int(s.response_count),
            s.admin_assisted,
            s.assisting_admin_id.as_ref().map(UserId::as_str),
            s.assisting_admin_name,
            s.help_requested,
            s.help_requested_at.map(ms),
            s.share_token.as_ref().map(ShareToken::as_str),
        ],
    );
    match r {
        Ok(_) => Ok(()),
        Err(e) if is_unique_violation(&e) => Err(StoreError::Conflict(
            "session id or share token already exists",
        )),
        Err(e) => Err(store_error(e)),
    }
}

/// Applies the set fields of `p` to session `id`; `NotFound` when it does not exist.
pub(super) fn patch_session(
    tx: &Transaction<'_>,
    id: &str,
    p: &SessionPatch,
) -> Result<(), StoreError> {
    require(tx, id)?;
    if let Some(name) = &p.name {
        tx.execute(
            "UPDATE sessions SET name = ?2 WHERE id = ?1",
            params![id, name],
        )
        .map_err(store_error)?;
    }
    if let Some(model) = &p.model_id {
        tx.execute(
            "UPDATE sessions SET model_id = ?2 WHERE id = ?1",
            params![id, model],
        )
        .map_err(store_error)?;
    }
    if let Some(at) = p.help_requested_at {
        tx.execute(
            "UPDATE sessions SET help_requested = 1, \
             help_requested_at_ms = COALESCE(help_requested_at_ms, ?2) WHERE id = ?1",
            params![id, ms(at)],
        )
        .map_err(store_error)?;
    }
    if let Some((admin_id, admin_name)) = &p.assisting_admin {
        tx.execute(
            "UPDATE sessions SET admin_assisted = 1, assisting_admin_id = ?2, \
             assisting_admin_name = ?3 WHERE id = ?1",
            params![id, admin_id.as_str(), admin_name],
        )
        .map_err(store_error)?;
    }
    if p.reopen {
        tx.execute("UPDATE sessions SET end_ms = NULL WHERE id = ?1", [id])
            .map_err(store_error)?;
    }
    Ok(())
}

/// Appends `stored` to session `id`, bumping its message count and last activity.
pub(super) fn insert_message(
    tx: &Transaction<'_>,
    id: &str,
    stored: &StoredMessage,
) -> Result<(), StoreError> {
    // The statements of the hot path (every message, every reply) are kept prepared.
    let seq: Option<i64> = tx
        .prepare_cached(
            "UPDATE sessions SET message_count = message_count + 1, \
             last_activity_ms = ?2 WHERE id = ?1 RETURNING message_count - 1",
        )
        .and_then(|mut stmt| stmt.query_row(params![id, stored.ts_ms], |r| r.get(0)))
        .optional()
        .map_err(store_error)?;
    let seq = seq.ok_or(StoreError::NotFound)?;
    tx.prepare_cached(
        "INSERT INTO messages (session_id, seq, content, ts_ms, sender, file_id, \
         file_url, meta) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
    )
    .and_then(|mut stmt| {
        stmt.execute(params![
            id,
            seq,
            stored.content,
            stored.ts_ms,
            stored.sender,
            stored.file_id,
            stored.file_url,
            stored.meta
        ])
    })
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
        .prepare_cached(
            "SELECT total_tokens, max_response_ms, avg_response_ms, response_count \
             FROM sessions WHERE id = ?1",
        )
        .and_then(|mut stmt| {
            stmt.query_row([id], |r| Ok([r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?]))
        })
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
    tx.prepare_cached(
        "UPDATE sessions SET total_tokens = ?2, max_response_ms = ?3, \
         avg_response_ms = ?4, response_count = ?5 WHERE id = ?1",
    )
    .and_then(|mut stmt| {
        stmt.execute(params![
            id,
            int(s.total_tokens),
            int(s.max_response_ms),
            int(s.avg_response_ms),
            int(s.response_count)
        ])
    })
    .map_err(store_error)?;
    Ok(())
}
