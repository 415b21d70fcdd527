//! [`SqliteStore`]: the embedded default [`Store`], one SQLite file in the data directory.
//!
//! Guarantees: writes are atomic and serialised. One writer thread owns the write connection and
//! runs every write as a job in the order the jobs arrive (through a bounded queue, so callers wait
//! as async tasks when it is full), so concurrent appends lose nothing and each writer's order is
//! kept. Jobs queued together commit in one transaction (one fsync), each in its own savepoint: a
//! job that fails is rolled back alone and gets its error while the others commit; when the commit
//! itself fails, every job of the batch gets that error. A caller is answered only after the
//! commit, so a success is durable (with `full_sync`) and seen by every read that starts
//! afterwards. Reads run on a small pool of read connections on tokio's blocking pool, beside the
//! writer (WAL), each seeing a committed state; no blocking call runs on an async worker thread.
//! Dropping an operation's future is safe: its write commits whole or not at all, and nothing
//! partial is ever visible; a write already queued still runs, so it may commit after its caller
//! has gone. Message content is encrypted with the [`Cipher`] before it leaves the async caller,
//! and decrypted after it returns.

mod config;
mod list;
mod outbox;
mod readers;
mod rows;
pub mod schema;
mod writer;
mod writes;

use std::path::PathBuf;
use std::sync::Arc;

use async_trait::async_trait;
use chatbox_core::concurrency::concurrency;
use chatbox_core::outbox::{Delivery, HelpRequest};
use chatbox_core::ports::store::{EndOutcome, SessionPatch};
use chatbox_core::query::{SessionMetrics, SessionPage, SessionQuery, TimeWindow};
use chatbox_core::session::TakeoverEvent;
use chatbox_core::{Message, Session, SessionId, ShareToken, Store, StoreError, UserId};
use chrono::{DateTime, Utc};
use rusqlite::{Connection, OptionalExtension, params};

use self::readers::Readers;
use self::rows::{
    SESSION_COLUMNS, StoredMessage, kind_str, ms, session_from_row, store_error, takeover_from_row,
};
use self::writer::Writer;
use crate::crypto::Cipher;
use crate::error::Error;

pub use self::config::{
    DEFAULT_BUSY_TIMEOUT_MS, DEFAULT_DATA_DIR, DEFAULT_FILE_NAME, DEFAULT_FULL_SYNC, SqliteConfig,
};

/// The embedded SQLite [`Store`]. Cheap to clone (clones share the writer thread and the read
/// connections); the writer thread ends once every clone is dropped.
#[derive(Clone)]
pub struct SqliteStore {
    writer: Writer,
    readers: Arc<Readers>,
    cipher: Cipher,
    path: PathBuf,
}

impl std::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteStore")
            .field("path", &self.path)
            .field("cipher", &self.cipher)
            .finish_non_exhaustive()
    }
}

impl SqliteStore {
    /// Opens (creating when missing) the database file, enables WAL, runs the migrations, then
    /// opens the read connections and starts the writer thread.
    pub async fn open(config: SqliteConfig, cipher: Cipher) -> Result<Self, Error> {
        tokio::task::spawn_blocking(move || Self::open_blocking(&config, cipher))
            .await
            .map_err(Error::Join)?
    }

    fn open_blocking(config: &SqliteConfig, cipher: Cipher) -> Result<Self, Error> {
        std::fs::create_dir_all(&config.data_dir).map_err(|source| Error::DataDir {
            path: config.data_dir.clone(),
            source,
        })?;
        let path = config.path();
        let mut conn = Connection::open(&path).map_err(Error::Sqlite)?;
        schema::configure(&conn, config.full_sync, config.busy_timeout_ms)?;
        schema::migrate(&mut conn)?;
        let readers = Arc::new(Readers::open(&path, config.busy_timeout_ms)?);
        // The thread is not joined: it ends by itself once the last clone is dropped, and
        // joining in a destructor would block whichever async worker dropped the store.
        let (writer, _thread) = Writer::spawn(conn).map_err(Error::WriterThread)?;
        tracing::info!(path = %path.display(), "SQLite store open");
        Ok(Self {
            writer,
            readers,
            cipher,
            path,
        })
    }

    /// The database file's path.
    pub fn path(&self) -> &std::path::Path {
        &self.path
    }

    /// Copies the write-ahead log into the database file and truncates the log (for backups,
    /// and to measure the file's size). Runs on the writer thread between two batches.
    pub async fn checkpoint(&self) -> Result<(), StoreError> {
        self.writer
            .solo(|conn| {
                conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))
                    .map_err(store_error)
            })
            .await
    }

    /// Runs `f` on an idle read connection on the blocking pool.
    async fn run<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> Result<T, StoreError> + Send + 'static,
    {
        self.readers.run(f).await
    }

    /// Runs `f` as a job of the writer thread, in a savepoint committed with its batch when it
    /// returns `Ok`.
    async fn write<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&rusqlite::Transaction<'_>) -> Result<T, StoreError> + Send + 'static,
    {
        self.writer.write(f).await
    }

    async fn query_sessions(
        &self,
        sql_tail: &'static str,
        params: Vec<rusqlite::types::Value>,
    ) -> Result<Vec<Session>, StoreError> {
        self.run(move |conn| {
            let mut stmt = conn
                .prepare_cached(&format!(
                    "SELECT {SESSION_COLUMNS} FROM sessions {sql_tail}"
                ))
                .map_err(store_error)?;
            let mut rows = stmt
                .query(rusqlite::params_from_iter(params.iter()))
                .map_err(store_error)?;
            let mut out = Vec::new();
            while let Some(r) = rows.next().map_err(store_error)? {
                out.push(session_from_row(r)?);
            }
            Ok(out)
        })
        .await
    }
}

/// `NotFound` unless a statement touched a row.
fn found(changed: usize) -> Result<(), StoreError> {
    if changed == 0 {
        Err(StoreError::NotFound)
    } else {
        Ok(())
    }
}

fn text(s: &str) -> rusqlite::types::Value {
    rusqlite::types::Value::Text(s.to_owned())
}

#[async_trait]
impl Store for SqliteStore {
    async fn create_session(&self, session: &Session) -> Result<(), StoreError> {
        let s = session.clone();
        self.write(move |tx| writes::insert_session(tx, &s)).await
    }

    async fn get_session(&self, id: &SessionId) -> Result<Option<Session>, StoreError> {
        let rows = self
            .query_sessions("WHERE id = ?1", vec![text(id.as_str())])
            .await?;
        Ok(rows.into_iter().next())
    }

    async fn messages(
        &self,
        id: &SessionId,
        last: Option<usize>,
    ) -> Result<Vec<Message>, StoreError> {
        let id = id.as_str().to_owned();
        let limit = last.map_or(-1, |n| i64::try_from(n).unwrap_or(i64::MAX));
        let stored = self
            .run(move |conn| {
                let tx = conn.transaction().map_err(store_error)?;
                require(&tx, &id)?;
                let mut stmt = tx
                    .prepare_cached(
                        "SELECT content, ts_ms, sender, file_id, file_url, meta FROM \
                         (SELECT * FROM messages WHERE session_id = ?1 ORDER BY seq DESC LIMIT ?2) \
                         ORDER BY seq ASC",
                    )
                    .map_err(store_error)?;
                let rows = stmt
                    .query_map(params![id, limit], StoredMessage::from_row)
                    .map_err(store_error)?;
                rows.collect::<Result<Vec<_>, _>>().map_err(store_error)
            })
            .await?;
        stored
            .into_iter()
            .map(|m| m.into_message(|c| self.cipher.decrypt(c)))
            .collect()
    }

    async fn append_message(&self, id: &SessionId, message: &Message) -> Result<(), StoreError> {
        let content = self.cipher.encrypt(&message.content)?;
        let stored = StoredMessage::from_message(message, content);
        let id = id.as_str().to_owned();
        self.write(move |tx| writes::insert_message(tx, &id, &stored))
            .await
    }

    async fn update_session(&self, id: &SessionId, patch: &SessionPatch) -> Result<(), StoreError> {
        let (id, p) = (id.as_str().to_owned(), patch.clone());
        self.write(move |tx| writes::patch_session(tx, &id, &p))
            .await
    }

    async fn append_reply(
        &self,
        id: &SessionId,
        message: &Message,
        tokens: u64,
        response_ms: u64,
    ) -> Result<(), StoreError> {
        let content = self.cipher.encrypt(&message.content)?;
        let stored = StoredMessage::from_message(message, content);
        let id = id.as_str().to_owned();
        // One transaction: the message and the statistics are committed together or not at all.
        self.write(move |tx| {
            writes::insert_message(tx, &id, &stored)?;
            writes::fold_response(tx, &id, tokens, response_ms)
        })
        .await
    }

    async fn end_session(
        &self,
        id: &SessionId,
        at: DateTime<Utc>,
    ) -> Result<EndOutcome, StoreError> {
        let id = id.as_str().to_owned();
        let end_ms = ms(at);
        self.write(move |tx| {
            let current: Option<Option<i64>> = tx
                .query_row("SELECT end_ms FROM sessions WHERE id = ?1", [&id], |r| {
                    r.get(0)
                })
                .optional()
                .map_err(store_error)?;
            match current.ok_or(StoreError::NotFound)? {
                Some(prev) => DateTime::from_timestamp_millis(prev)
                    .map(EndOutcome::AlreadyEnded)
                    .ok_or_else(|| StoreError::Corrupt("end_ms out of range".into())),
                None => {
                    tx.execute(
                        "UPDATE sessions SET end_ms = ?2 WHERE id = ?1",
                        params![id, end_ms],
                    )
                    .map_err(store_error)?;
                    Ok(EndOutcome::Ended(at))
                }
            }
        })
        .await
    }

    async fn active_session(&self, user: &UserId) -> Result<Option<Session>, StoreError> {
        let rows = self
            .query_sessions(
                "WHERE user_id = ?1 AND end_ms IS NULL ORDER BY start_ms DESC, id DESC LIMIT 1",
                vec![text(user.as_str())],
            )
            .await?;
        Ok(rows.into_iter().next())
    }

    async fn user_sessions(&self, user: &UserId, limit: u32) -> Result<Vec<Session>, StoreError> {
        self.query_sessions(
            "WHERE user_id = ?1 ORDER BY last_activity_ms DESC, start_ms DESC, id DESC LIMIT ?2",
            vec![
                text(user.as_str()),
                rusqlite::types::Value::Integer(i64::from(limit)),
            ],
        )
        .await
    }

    async fn list_sessions(&self, query: &SessionQuery) -> Result<SessionPage, StoreError> {
        let q = query.clone();
        let now = Utc::now();
        let (sessions, total) = self.run(move |conn| list::list(conn, &q, now)).await?;
        Ok(SessionPage { sessions, total })
    }

    async fn metrics(
        &self,
        window: TimeWindow,
        now: DateTime<Utc>,
    ) -> Result<SessionMetrics, StoreError> {
        let (mut m, intervals) = self
            .run(move |conn| {
                let tx = conn.transaction().map_err(store_error)?;
                let m = list::aggregate(&tx, window)?;
                let i = list::intervals(&tx, window)?;
                Ok((m, i))
            })
            .await?;
        let c = concurrency(intervals, window, now);
        m.avg_concurrent = c.average;
        m.max_concurrent = c.peak;
        Ok(m)
    }

    async fn share_token(
        &self,
        id: &SessionId,
        candidate: &ShareToken,
    ) -> Result<ShareToken, StoreError> {
        let id = id.as_str().to_owned();
        let candidate = candidate.clone();
        self.write(move |tx| {
            let current: Option<Option<String>> = tx
                .query_row(
                    "SELECT share_token FROM sessions WHERE id = ?1",
                    [&id],
                    |r| r.get(0),
                )
                .optional()
                .map_err(store_error)?;
            if let Some(existing) = current.ok_or(StoreError::NotFound)? {
                return ShareToken::parse(&existing)
                    .map_err(|e| StoreError::Corrupt(format!("share_token: {e}")));
            }
            match tx.execute(
                "UPDATE sessions SET share_token = ?2 WHERE id = ?1",
                params![id, candidate.as_str()],
            ) {
                Ok(_) => Ok(candidate),
                Err(e) if is_unique_violation(&e) => {
                    Err(StoreError::Conflict("share token already in use"))
                }
                Err(e) => Err(store_error(e)),
            }
        })
        .await
    }

    async fn revoke_share_token(&self, id: &SessionId) -> Result<(), StoreError> {
        let id = id.as_str().to_owned();
        self.write(move |tx| {
            found(
                tx.execute(
                    "UPDATE sessions SET share_token = NULL WHERE id = ?1",
                    [&id],
                )
                .map_err(store_error)?,
            )
        })
        .await
    }

    async fn find_by_share_token(&self, token: &ShareToken) -> Result<Option<Session>, StoreError> {
        let rows = self
            .query_sessions("WHERE share_token = ?1", vec![text(token.as_str())])
            .await?;
        Ok(rows.into_iter().next())
    }

    async fn record_takeover(
        &self,
        id: &SessionId,
        event: &TakeoverEvent,
    ) -> Result<(), StoreError> {
        let id = id.as_str().to_owned();
        let e = event.clone();
        self.write(move |tx| {
            require(tx, &id)?;
            tx.execute(
                "INSERT INTO takeovers (session_id, seq, kind, admin_id, admin_name, at_ms, \
                 reason) VALUES (?1, (SELECT COALESCE(MAX(seq) + 1, 0) FROM takeovers \
                 WHERE session_id = ?1), ?2, ?3, ?4, ?5, ?6)",
                params![
                    id,
                    kind_str(e.kind),
                    e.admin_id.as_str(),
                    e.admin_name,
                    ms(e.at),
                    e.reason
                ],
            )
            .map_err(store_error)?;
            Ok(())
        })
        .await
    }

    async fn takeover_events(&self, id: &SessionId) -> Result<Vec<TakeoverEvent>, StoreError> {
        let id = id.as_str().to_owned();
        self.run(move |conn| {
            let tx = conn.transaction().map_err(store_error)?;
            require(&tx, &id)?;
            let mut stmt = tx
                .prepare_cached(
                    "SELECT kind, admin_id, admin_name, at_ms, reason FROM takeovers \
                     WHERE session_id = ?1 ORDER BY seq",
                )
                .map_err(store_error)?;
            let mut rows = stmt.query([&id]).map_err(store_error)?;
            let mut out = Vec::new();
            while let Some(r) = rows.next().map_err(store_error)? {
                out.push(takeover_from_row(r)?);
            }
            Ok(out)
        })
        .await
    }

    async fn record_help_request(&self, request: &HelpRequest) -> Result<(), StoreError> {
        let (cipher, request) = (self.cipher.clone(), request.clone());
        self.write(move |tx| outbox::insert(tx, &cipher, &request))
            .await
    }

    async fn update_delivery(
        &self,
        request_id: &str,
        delivery: &Delivery,
    ) -> Result<(), StoreError> {
        let (cipher, id, delivery) = (self.cipher.clone(), request_id.to_owned(), delivery.clone());
        self.write(move |tx| outbox::update(tx, &cipher, &id, &delivery))
            .await
    }

    async fn pending_help_requests(&self, limit: u32) -> Result<Vec<HelpRequest>, StoreError> {
        let cipher = self.cipher.clone();
        self.run(move |conn| outbox::pending(conn, &cipher, limit))
            .await
    }

    async fn help_requests(&self, id: &SessionId) -> Result<Vec<HelpRequest>, StoreError> {
        let (cipher, id) = (self.cipher.clone(), id.as_str().to_owned());
        self.run(move |conn| outbox::of_session(conn, &cipher, &id))
            .await
    }

    async fn health(&self) -> Result<(), StoreError> {
        self.run(|conn| {
            conn.query_row("SELECT 1", [], |r| r.get::<_, i64>(0))
                .map(|_| ())
                .map_err(store_error)
        })
        .await
    }
}

/// True when `e` is a uniqueness violation.
fn is_unique_violation(e: &rusqlite::Error) -> bool {
    e.sqlite_error_code() == Some(rusqlite::ErrorCode::ConstraintViolation)
}

/// `NotFound` unless the session exists.
fn require(conn: &Connection, id: &str) -> Result<(), StoreError> {
    let exists: Option<i64> = conn
        .prepare_cached("SELECT 1 FROM sessions WHERE id = ?1")
        .and_then(|mut stmt| stmt.query_row([id], |r| r.get(0)))
        .optional()
        .map_err(store_error)?;
    exists.map(|_| ()).ok_or(StoreError::NotFound)
}

#[cfg(test)]
mod tests;
