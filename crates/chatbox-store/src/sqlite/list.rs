//! The admin queries in SQL (CONTRACT §2.1–2.2): filter, sort by any of the seven keys, page
//! with a total; and the metrics aggregate plus the intervals for concurrency.
//!
//! Guarantees: the order is exactly [`chatbox_core::query::SortKey::compare`]'s (ties by start
//! time, then id; active sessions sort lowest by end time; durations in whole seconds measured to
//! `now` for active sessions), all values are bound parameters, and the total counts every row the
//! filter matches before paging.

use chatbox_core::query::{
    SessionFilter, SessionMetrics, SessionQuery, SessionStatus, SortKey, SortOrder, TimeWindow,
};
use chatbox_core::{Session, StoreError};
use chrono::{DateTime, Utc};
use rusqlite::Connection;
use rusqlite::types::Value;

use super::rows::{SESSION_COLUMNS, int, ms, session_from_row, store_error};

/// A `WHERE` clause (possibly empty) and its parameters.
fn where_clause(f: &SessionFilter) -> (String, Vec<Value>) {
    let mut parts: Vec<&str> = Vec::new();
    let mut params: Vec<Value> = Vec::new();
    if let Some(u) = &f.user_id {
        parts.push("user_id = ?");
        params.push(Value::Text(u.as_str().to_owned()));
    }
    match f.status {
        Some(SessionStatus::Active) => parts.push("end_ms IS NULL"),
        Some(SessionStatus::Ended) => parts.push("end_ms IS NOT NULL"),
        None => {}
    }
    if let Some(v) = f.admin_assisted {
        parts.push("admin_assisted = ?");
        params.push(Value::Integer(i64::from(v)));
    }
    if let Some(v) = f.help_requested {
        parts.push("help_requested = ?");
        params.push(Value::Integer(i64::from(v)));
    }
    if let Some(t) = f.start_from {
        parts.push("start_ms >= ?");
        params.push(Value::Integer(ms(t)));
    }
    if let Some(t) = f.start_to {
        parts.push("start_ms <= ?");
        params.push(Value::Integer(ms(t)));
    }
    if parts.is_empty() {
        (String::new(), params)
    } else {
        (format!(" WHERE {}", parts.join(" AND ")), params)
    }
}

/// The `ORDER BY` expression of a key; `now_ms` measures active sessions' durations.
fn sort_expr(key: SortKey, now_ms: i64) -> String {
    match key {
        SortKey::StartTime => "start_ms".into(),
        SortKey::EndTime => "end_ms".into(),
        SortKey::Duration => format!("MAX(0, (COALESCE(end_ms, {now_ms}) - start_ms) / 1000)"),
        SortKey::LastActivity => "last_activity_ms".into(),
        SortKey::MessageCount => "message_count".into(),
        SortKey::TotalTokens => "total_tokens".into(),
        SortKey::UserId => "user_id".into(),
        SortKey::HelpRequestedAt => "help_requested_at_ms".into(),
    }
}

/// One admin list page and the total before paging.
pub(crate) fn list(
    conn: &Connection,
    q: &SessionQuery,
    now: DateTime<Utc>,
) -> Result<(Vec<Session>, u64), StoreError> {
    let (filter, params) = where_clause(&q.filter);
    let total: i64 = conn
        .query_row(
            &format!("SELECT COUNT(*) FROM sessions{filter}"),
            rusqlite::params_from_iter(params.iter()),
            |r| r.get(0),
        )
        .map_err(store_error)?;
    // NULL sorts lowest in SQLite, as `None < Some` in the reference ordering.
    let dir = match q.order {
        SortOrder::Asc => "ASC",
        SortOrder::Desc => "DESC",
    };
    // The tie-breakers follow the key; for the start time they are the key itself, and
    // `(start_ms, id)` is one index, so a page is read in order without sorting.
    let order = match q.sort {
        SortKey::StartTime => format!("start_ms {dir}, id {dir}"),
        other => format!(
            "{} {dir}, start_ms {dir}, id {dir}",
            sort_expr(other, ms(now))
        ),
    };
    let sql = format!(
        "SELECT {SESSION_COLUMNS} FROM sessions{filter} ORDER BY {order} \
         LIMIT {limit} OFFSET {offset}",
        limit = q.limit.get(),
        offset = int(q.offset),
    );
    let mut stmt = conn.prepare(&sql).map_err(store_error)?;
    let mut rows = stmt
        .query(rusqlite::params_from_iter(params.iter()))
        .map_err(store_error)?;
    let mut out = Vec::new();
    while let Some(r) = rows.next().map_err(store_error)? {
        out.push(session_from_row(r)?);
    }
    Ok((out, u64::try_from(total).unwrap_or(0)))
}

/// The aggregate figures over sessions started in the window (concurrency left at zero).
pub(crate) fn aggregate(conn: &Connection, w: TimeWindow) -> Result<SessionMetrics, StoreError> {
    let sql = "SELECT COUNT(*), \
         COALESCE(SUM(end_ms IS NULL), 0), \
         COALESCE(SUM(admin_assisted != 0), 0), \
         COALESCE(SUM(help_requested != 0), 0), \
         COALESCE(SUM(total_tokens), 0), \
         COALESCE(MAX(max_response_ms), 0), \
         COALESCE(SUM(CASE WHEN response_count > 0 THEN avg_response_ms ELSE 0 END), 0), \
         COALESCE(SUM(response_count > 0), 0) \
         FROM sessions WHERE start_ms >= ?1 AND start_ms <= ?2";
    let row: [i64; 8] = conn
        .query_row(sql, [ms(w.start()), ms(w.end())], |r| {
            Ok([
                r.get(0)?,
                r.get(1)?,
                r.get(2)?,
                r.get(3)?,
                r.get(4)?,
                r.get(5)?,
                r.get(6)?,
                r.get(7)?,
            ])
        })
        .map_err(store_error)?;
    let n = |v: i64| u64::try_from(v).unwrap_or(0);
    let total = n(row[0]);
    let active = n(row[1]);
    Ok(SessionMetrics {
        total_sessions: total,
        active_sessions: active,
        ended_sessions: total.saturating_sub(active),
        admin_assisted_count: n(row[2]),
        help_requested_count: n(row[3]),
        total_tokens: n(row[4]),
        max_response_time: n(row[5]),
        avg_response_time: n(row[6]).checked_div(n(row[7])).unwrap_or(0),
        avg_concurrent: 0.0,
        max_concurrent: 0,
    })
}

/// Start and end of every session that overlaps the window.
pub(crate) type Interval = (DateTime<Utc>, Option<DateTime<Utc>>);

/// The intervals of sessions overlapping `w`, for [`chatbox_core::concurrency::concurrency`].
pub(crate) fn intervals(conn: &Connection, w: TimeWindow) -> Result<Vec<Interval>, StoreError> {
    let mut stmt = conn
        .prepare(
            "SELECT start_ms, end_ms FROM sessions \
             WHERE start_ms <= ?2 AND (end_ms IS NULL OR end_ms > ?1)",
        )
        .map_err(store_error)?;
    let rows = stmt
        .query_map([ms(w.start()), ms(w.end())], |r| {
            Ok((r.get::<_, i64>(0)?, r.get::<_, Option<i64>>(1)?))
        })
        .map_err(store_error)?;
    let mut out = Vec::new();
    for row in rows {
        let (s, e) = row.map_err(store_error)?;
        let bad = || StoreError::Corrupt("session time out of range".into());
        let start = DateTime::from_timestamp_millis(s).ok_or_else(bad)?;
        let end = e
            .map(|e| DateTime::from_timestamp_millis(e).ok_or_else(bad))
            .transpose()?;
        out.push((start, end));
    }
    Ok(out)
}
