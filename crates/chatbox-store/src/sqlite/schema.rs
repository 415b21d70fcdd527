//! The SQLite schema, as migrations versioned in code, and the settings of the write and read
//! connections.
//!
//! Guarantees: migrations run in order, each in its own transaction together with the bump of
//! `PRAGMA user_version`, so a crash leaves the file at a whole version; a file from a newer build
//! is refused rather than misread. Times are stored as Unix milliseconds (UTC), counters as
//! integers, message content as the cipher's output.

use rusqlite::Connection;

use crate::error::Error;

/// Migration `i` brings the schema from version `i` to `i + 1`.
const MIGRATIONS: &[&str] = &[
    // 1: sessions, their messages and the takeover audit trail.
    "CREATE TABLE sessions (
        id                   TEXT PRIMARY KEY NOT NULL,
        user_id              TEXT NOT NULL,
        name                 TEXT NOT NULL DEFAULT '',
        model_id             TEXT,
        start_ms             INTEGER NOT NULL,
        end_ms               INTEGER,
        last_activity_ms     INTEGER NOT NULL,
        message_count        INTEGER NOT NULL DEFAULT 0,
        total_tokens         INTEGER NOT NULL DEFAULT 0,
        max_response_ms      INTEGER NOT NULL DEFAULT 0,
        avg_response_ms      INTEGER NOT NULL DEFAULT 0,
        response_count       INTEGER NOT NULL DEFAULT 0,
        admin_assisted       INTEGER NOT NULL DEFAULT 0,
        assisting_admin_id   TEXT,
        assisting_admin_name TEXT,
        help_requested       INTEGER NOT NULL DEFAULT 0,
        help_requested_at_ms INTEGER,
        share_token          TEXT UNIQUE
    );
    CREATE INDEX idx_sessions_start ON sessions (start_ms, id);
    CREATE INDEX idx_sessions_user_start ON sessions (user_id, start_ms, id);
    CREATE INDEX idx_sessions_user_activity ON sessions (user_id, last_activity_ms DESC);
    CREATE INDEX idx_sessions_active ON sessions (end_ms) WHERE end_ms IS NULL;
    CREATE TABLE messages (
        session_id TEXT NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
        seq        INTEGER NOT NULL,
        content    TEXT NOT NULL,
        ts_ms      INTEGER NOT NULL,
        sender     TEXT NOT NULL,
        file_id    TEXT,
        file_url   TEXT,
        meta       TEXT,
        PRIMARY KEY (session_id, seq)
    ) WITHOUT ROWID;
    CREATE TABLE takeovers (
        session_id TEXT NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
        seq        INTEGER NOT NULL,
        kind       TEXT NOT NULL,
        admin_id   TEXT NOT NULL,
        admin_name TEXT NOT NULL,
        at_ms      INTEGER NOT NULL,
        PRIMARY KEY (session_id, seq)
    ) WITHOUT ROWID;",
    // 2: why an admin joined or left.
    "ALTER TABLE takeovers ADD COLUMN reason TEXT;",
    // 3: the help-request outbox.
    "CREATE TABLE help_requests (
        id           TEXT PRIMARY KEY,
        session_id   TEXT NOT NULL,
        requested_ms INTEGER NOT NULL,
        notice       TEXT NOT NULL,
        deliveries   TEXT NOT NULL,
        pending      INTEGER NOT NULL
    ) WITHOUT ROWID;
    CREATE INDEX help_requests_pending ON help_requests (pending, requested_ms, id);
    CREATE INDEX help_requests_session ON help_requests (session_id, requested_ms, id);",
];

/// The schema version this build writes.
pub const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

/// Applies connection settings: WAL, the sync level, foreign keys, the busy timeout.
pub(crate) fn configure(
    conn: &Connection,
    full_sync: bool,
    busy_timeout_ms: u64,
) -> Result<(), Error> {
    conn.busy_timeout(std::time::Duration::from_millis(busy_timeout_ms))
        .map_err(Error::Sqlite)?;
    let mode: String = conn
        .query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))
        .map_err(Error::Sqlite)?;
    if !mode.eq_ignore_ascii_case("wal") && !mode.eq_ignore_ascii_case("memory") {
        tracing::warn!(%mode, "SQLite refused WAL mode");
    }
    let sync = if full_sync { "FULL" } else { "NORMAL" };
    conn.execute_batch(&format!(
        "PRAGMA synchronous = {sync}; PRAGMA foreign_keys = ON;"
    ))
    .map_err(Error::Sqlite)
}

/// Applies a read connection's settings: the busy timeout, and no writing at all.
pub(crate) fn configure_reader(conn: &Connection, busy_timeout_ms: u64) -> Result<(), Error> {
    conn.busy_timeout(std::time::Duration::from_millis(busy_timeout_ms))
        .map_err(Error::Sqlite)?;
    conn.execute_batch("PRAGMA query_only = ON;")
        .map_err(Error::Sqlite)
}

/// Brings the schema up to [`SCHEMA_VERSION`]; returns the version found before.
pub(crate) fn migrate(conn: &mut Connection) -> Result<i64, Error> {
    let found: i64 = conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .map_err(Error::Sqlite)?;
    if found > SCHEMA_VERSION {
        return Err(Error::SchemaTooNew {
            found,
            supported: SCHEMA_VERSION,
        });
    }
    for (i, sql) in MIGRATIONS
        .iter()
        .enumerate()
        .skip(usize::try_from(found).unwrap_or(0))
    {
        let tx = conn.transaction().map_err(Error::Sqlite)?;
        tx.execute_batch(sql).map_err(Error::Sqlite)?;
        tx.execute_batch(&format!("PRAGMA user_version = {}", i + 1))
            .map_err(Error::Sqlite)?;
        tx.commit().map_err(Error::Sqlite)?;
        tracing::info!(version = i + 1, "SQLite schema migrated");
    }
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn migrating_is_idempotent_and_newer_files_are_refused() {
        let mut conn = Connection::open_in_memory().unwrap();
        assert_eq!(migrate(&mut conn).unwrap(), 0);
        assert_eq!(migrate(&mut conn).unwrap(), SCHEMA_VERSION);
        let tables: i64 = conn
            .query_row(
                "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(tables, 4);
        conn.execute_batch("PRAGMA user_version = 99").unwrap();
        assert!(matches!(
            migrate(&mut conn),
            Err(Error::SchemaTooNew { found: 99, .. })
        ));
    }

    #[test]
    fn a_file_of_the_first_version_is_migrated_with_its_data() {
        let mut conn = Connection::open_in_memory().unwrap();
        conn.execute_batch(MIGRATIONS[0]).unwrap();
        conn.execute_batch(
            "PRAGMA user_version = 1;
             INSERT INTO sessions (id, user_id, start_ms, last_activity_ms) VALUES ('s1', 'u1', 0, 0);
             INSERT INTO takeovers VALUES ('s1', 0, 'join', 'adm', 'Ada', 5);",
        )
        .unwrap();
        assert_eq!(migrate(&mut conn).unwrap(), 1);
        let (kind, reason): (String, Option<String>) = conn
            .query_row("SELECT kind, reason FROM takeovers", [], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .unwrap();
        assert_eq!(
            (kind.as_str(), reason),
            ("join", None),
            "old rows keep, reason empty"
        );
        let outbox: i64 = conn
            .query_row("SELECT COUNT(*) FROM help_requests", [], |r| r.get(0))
            .unwrap();
        assert_eq!(outbox, 0);
    }
}
