//! The SQLite store's read connections: a small pool, used from tokio's blocking pool.
//!
//! Guarantees: reads never wait for the writer thread (WAL lets readers and one writer work at
//! once) and never write (`query_only`); each read sees the database as last committed when it
//! starts, so a write that has been answered is visible to every read begun afterwards. A read
//! waiting for a free connection waits as an async task, never as a blocking thread parked on a
//! lock; at most one blocking thread per connection is in use.

use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError, TryLockError};

use chatbox_core::StoreError;
use rusqlite::Connection;
use tokio::sync::Semaphore;

use super::schema;
use crate::error::Error;

/// How many read connections a store keeps. With a history read in every turn, two beat one by
/// about 7% on the two-core benchmark machine, and four lost to two (more threads than cores).
const READERS: usize = 2;

/// The pool of read connections.
pub(super) struct Readers {
    conns: Box<[Mutex<Connection>]>,
    /// One permit per connection, taken before a read goes to the blocking pool: reads beyond
    /// the pool's size wait as cheap async tasks, not as blocking threads parked on a lock.
    permits: Arc<Semaphore>,
    /// Where the next read starts looking for an idle connection, so reads spread over the pool.
    next: AtomicUsize,
}

impl Readers {
    /// Opens the read connections on `path`, whose schema must already be migrated.
    pub(super) fn open(path: &Path, busy_timeout_ms: u64) -> Result<Self, Error> {
        let conns = (0..READERS)
            .map(|_| {
                let conn = Connection::open(path).map_err(Error::Sqlite)?;
                schema::configure_reader(&conn, busy_timeout_ms)?;
                Ok(Mutex::new(conn))
            })
            .collect::<Result<_, Error>>()?;
        Ok(Self {
            conns,
            permits: Arc::new(Semaphore::new(READERS)),
            next: AtomicUsize::new(0),
        })
    }

    /// Runs `f` on an idle read connection on the blocking pool, once one is free.
    pub(super) async fn run<T, F>(self: &Arc<Self>, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> Result<T, StoreError> + Send + 'static,
    {
        let permit = Arc::clone(&self.permits)
            .acquire_owned()
            .await
            .map_err(|e| StoreError::Unavailable(Box::new(e)))?;
        let readers = Arc::clone(self);
        tokio::task::spawn_blocking(move || {
            let _permit = permit;
            let n = readers.conns.len();
            let start = readers.next.fetch_add(1, Ordering::Relaxed);
            for i in 0..n {
                match readers.conns[(start + i) % n].try_lock() {
                    Ok(mut conn) => return f(&mut conn),
                    Err(TryLockError::Poisoned(p)) => return f(&mut p.into_inner()),
                    Err(TryLockError::WouldBlock) => {}
                }
            }
            let mut conn = readers.conns[start % n]
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            f(&mut conn)
        })
        .await
        .map_err(|e| StoreError::Unavailable(Box::new(e)))?
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn readers(tag: &str) -> (Arc<Readers>, std::path::PathBuf) {
        let file = std::env::temp_dir().join(format!(
            "chatbox-readers-{tag}-{}.sqlite3",
            rand::random::<u64>()
        ));
        Connection::open(&file)
            .unwrap()
            .execute_batch("CREATE TABLE t (n INTEGER); INSERT INTO t VALUES (7);")
            .unwrap();
        (Arc::new(Readers::open(&file, 1000).unwrap()), file)
    }

    fn read_n(conn: &mut Connection) -> Result<i64, StoreError> {
        conn.query_row("SELECT n FROM t", [], |r| r.get(0))
            .map_err(|e| StoreError::Backend(Box::new(e)))
    }

    #[tokio::test]
    async fn a_read_waits_for_a_busy_connection_and_a_poisoned_one_is_still_used() {
        let (r, file) = readers("busy");
        // Every connection busy: the read takes its turn on one.
        let held: Vec<_> = r.conns.iter().map(|c| c.lock().unwrap()).collect();
        let read = tokio::spawn({
            let r = Arc::clone(&r);
            async move { r.run(read_n).await }
        });
        while r.next.load(Ordering::Relaxed) == 0 {
            tokio::task::yield_now().await;
        }
        drop(held);
        assert_eq!(read.await.unwrap().unwrap(), 7);

        // A connection whose lock was poisoned by a panicking read is still used.
        let poisoner = Arc::clone(&r);
        let _ = std::thread::spawn(move || {
            let _guards: Vec<_> = poisoner.conns.iter().map(|c| c.lock().unwrap()).collect();
            panic!("a read panicked");
        })
        .join();
        assert!(r.conns.iter().all(Mutex::is_poisoned));
        assert_eq!(r.run(read_n).await.unwrap(), 7);
        drop(r);
        let _ = std::fs::remove_file(&file);
    }
}
