//! The help-request outbox in SQLite: one row per request with its notice encrypted (it holds
//! the user's note and the last messages) and its deliveries as JSON, plus a `pending` flag kept
//! in step with the deliveries in the same transaction, so pending requests are found by index.

use chatbox_core::StoreError;
use chatbox_core::outbox::{Delivery, HelpRequest};
use chatbox_core::ports::notify::HelpNotice;
use rusqlite::{Connection, OptionalExtension, Transaction, params};

use super::rows::{ms, store_error};
use crate::crypto::Cipher;

/// Columns read back, in this order.
const COLUMNS: &str = "id, notice, deliveries";

fn to_json<T: serde::Serialize>(v: &T) -> Result<String, StoreError> {
    serde_json::to_string(v).map_err(|e| StoreError::Corrupt(e.to_string()))
}

/// Inserts a new request; `Conflict` when its id exists.
pub(super) fn insert(
    tx: &Transaction<'_>,
    cipher: &Cipher,
    request: &HelpRequest,
) -> Result<(), StoreError> {
    let notice = cipher.encrypt(&to_json(&request.notice)?)?;
    let inserted = tx.execute(
        "INSERT INTO help_requests (id, session_id, requested_ms, notice, deliveries, pending) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        params![
            request.id,
            request.session_id().as_str(),
            ms(request.requested_at()),
            notice,
            to_json(&request.deliveries)?,
            request.is_pending()
        ],
    );
    match inserted {
        Ok(_) => Ok(()),
        Err(e) if super::is_unique_violation(&e) => {
            Err(StoreError::Conflict("help request id already exists"))
        }
        Err(e) => Err(store_error(e)),
    }
}

/// Replaces one channel's delivery of request `id`; `NotFound` for an unknown request or channel.
pub(super) fn update(
    tx: &Transaction<'_>,
    cipher: &Cipher,
    id: &str,
    delivery: &Delivery,
) -> Result<(), StoreError> {
    let row = tx
        .query_row(
            &format!("SELECT {COLUMNS} FROM help_requests WHERE id = ?1"),
            [id],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .optional()
        .map_err(store_error)?
        .ok_or(StoreError::NotFound)?;
    let mut request = decode(cipher, row)?;
    if !request.set_delivery(delivery) {
        return Err(StoreError::NotFound);
    }
    tx.execute(
        "UPDATE help_requests SET deliveries = ?2, pending = ?3 WHERE id = ?1",
        params![id, to_json(&request.deliveries)?, request.is_pending()],
    )
    .map_err(store_error)?;
    Ok(())
}

/// Requests with a pending delivery, oldest first.
pub(super) fn pending(
    conn: &Connection,
    cipher: &Cipher,
    limit: u32,
) -> Result<Vec<HelpRequest>, StoreError> {
    select(
        conn,
        cipher,
        &format!(
            "SELECT {COLUMNS} FROM help_requests WHERE pending = 1 \
             ORDER BY requested_ms, id LIMIT ?1"
        ),
        params![limit],
    )
}

/// A session's requests, oldest first.
pub(super) fn of_session(
    conn: &Connection,
    cipher: &Cipher,
    session: &str,
) -> Result<Vec<HelpRequest>, StoreError> {
    select(
        conn,
        cipher,
        &format!(
            "SELECT {COLUMNS} FROM help_requests WHERE session_id = ?1 \
             ORDER BY requested_ms, id"
        ),
        params![session],
    )
}

fn select(
    conn: &Connection,
    cipher: &Cipher,
    sql: &str,
    args: impl rusqlite::Params,
) -> Result<Vec<HelpRequest>, StoreError> {
    let mut stmt = conn.prepare(sql).map_err(store_error)?;
    let rows = stmt
        .query_map(args, |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .map_err(store_error)?;
    rows.map(|row| decode(cipher, row.map_err(store_error)?))
        .collect()
}

fn decode(
    cipher: &Cipher,
    (id, notice, deliveries): (String, String, String),
) -> Result<HelpRequest, StoreError> {
    let notice: HelpNotice = serde_json::from_str(&cipher.decrypt(&notice))
        .map_err(|e| StoreError::Corrupt(format!("help request {id}: notice: {e}")))?;
    let deliveries: Vec<Delivery> = serde_json::from_str(&deliveries)
        .map_err(|e| StoreError::Corrupt(format!("help request {id}: deliveries: {e}")))?;
    Ok(HelpRequest {
        id,
        notice,
        deliveries,
    })
}
