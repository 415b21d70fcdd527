//! The SQLite store's writer: one OS thread that owns the write connection and commits the jobs
//! queued for it in groups.
//!
//! Async callers hand a job (a closure over the open transaction) and a reply channel to the
//! thread. The thread waits for the first job, takes whatever else is already queued (at most
//! [`MAX_BATCH`] jobs), runs them in order inside one `BEGIN IMMEDIATE` transaction, each inside
//! its own savepoint, and commits once: one fsync for the whole group.
//!
//! Guarantees: jobs run one at a time in the order they were queued, so writes are serialised and
//! each caller's order is kept. A job that fails or panics is rolled back to its savepoint and
//! gets its own error; the other jobs of the batch still commit. Callers are answered only after
//! the commit, so a success is durable (as far as the sync level makes it) and visible to every
//! read that starts afterwards; when the commit fails, every job that would have committed gets
//! that error. A job runs whether or not its caller is still waiting: once queued it commits
//! whole or not at all. The queue is bounded ([`QUEUE`]); callers wait for room as async tasks.
//! When every [`Writer`] handle is dropped the queue closes, the thread finishes the jobs already
//! queued, closes the connection and ends.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::thread::JoinHandle;

use chatbox_core::StoreError;
use rusqlite::{Connection, ErrorCode, Transaction, TransactionBehavior};
use tokio::sync::{mpsc, oneshot};

/// The most jobs committed in one transaction. Bounds how long one batch holds its callers (and
/// the write lock) while still turning a thousand waiting writes into a handful of fsyncs.
const MAX_BATCH: usize = 256;

/// The most jobs waiting for the thread. When the queue is full, callers wait (as async tasks)
/// for room, so a writer that falls behind slows its callers down instead of piling up work.
const QUEUE: usize = 4 * MAX_BATCH;

/// The handle async code writes through. Cheap to clone; the thread ends when the last clone
/// is dropped.
#[derive(Debug, Clone)]
pub(super) struct Writer {
    queue: mpsc::Sender<Msg>,
}

impl Writer {
    /// Starts the writer thread on `conn`, which must already be configured and migrated. The
    /// thread ends by itself once every handle is dropped; the join handle is for tests.
    pub(super) fn spawn(conn: Connection) -> std::io::Result<(Self, JoinHandle<()>)> {
        let (queue, jobs) = mpsc::channel(QUEUE);
        let thread = std::thread::Builder::new()
            .name("chatbox-sqlite-writer".into())
            .spawn(move || run(conn, jobs))?;
        Ok((Self { queue }, thread))
    }

    /// Runs `f` in the next batch's transaction, inside a savepoint of its own, and returns its
    /// result once the batch has committed. `f`'s changes are kept only when it returns `Ok`.
    pub(super) async fn write<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Transaction<'_>) -> Result<T, StoreError> + Send + 'static,
    {
        let (reply, answer) = oneshot::channel();
        self.send(Msg::Write(Box::new(Pending {
            work: Some(f),
            out: None,
            reply,
        })))
        .await?;
        answer.await.map_err(|_| stopped())?
    }

    /// Runs `f` on the write connection between batches, outside any transaction (a WAL
    /// checkpoint).
    pub(super) async fn solo<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    {
        let (reply, answer) = oneshot::channel();
        self.send(Msg::Solo(Box::new(move |conn| {
            let _ = reply.send(guarded(|| f(conn)));
        })))
        .await?;
        answer.await.map_err(|_| stopped())?
    }

    /// Queues `msg`, waiting for room. A caller dropped while waiting has queued nothing.
    async fn send(&self, msg: Msg) -> Result<(), StoreError> {
        self.queue.send(msg).await.map_err(|_| stopped())
    }
}

/// What the writer thread is asked to do.
enum Msg {
    /// A write, run in a batch's transaction.
    Write(Box<dyn Work>),
    /// Something run alone, between batches.
    Solo(Box<dyn FnOnce(&Connection) + Send>),
}

/// A queued write as the thread sees it, whatever its result type.
trait Work: Send {
    /// Runs the caller's closure in `tx` and keeps its result; true when it succeeded.
    fn run(&mut self, tx: &Transaction<'_>) -> bool;
    /// Answers the caller: its own result, unless the batch failed (`failed`) after it
    /// succeeded or before it ran.
    fn answer(self: Box<Self>, failed: Option<&Arc<rusqlite::Error>>);
}

struct Pending<T, F> {
    work: Option<F>,
    out: Option<Result<T, StoreError>>,
    reply: oneshot::Sender<Result<T, StoreError>>,
}

impl<T, F> Work for Pending<T, F>
where
    T: Send,
    F: FnOnce(&Transaction<'_>) -> Result<T, StoreError> + Send,
{
    fn run(&mut self, tx: &Transaction<'_>) -> bool {
        if let Some(f) = self.work.take() {
            self.out = Some(guarded(|| f(tx)));
        }
        matches!(self.out, Some(Ok(_)))
    }

    fn answer(self: Box<Self>, failed: Option<&Arc<rusqlite::Error>>) {
        let out = match (self.out, failed) {
            (Some(Err(e)), _) => Err(e),
            (Some(Ok(v)), None) => Ok(v),
            (_, Some(e)) => Err(batch_error(e)),
            (None, None) => Err(StoreError::Backend(Box::new(WriterError::NeverRan))),
        };
        // The caller may have stopped waiting; its job has run all the same.
        let _ = self.reply.send(out);
    }
}

/// Why the writer could not carry out a job.
#[derive(Debug, thiserror::Error)]
enum WriterError {
    /// The transaction of the job's batch could not begin or commit, or was lost.
    #[error("the SQLite transaction of a batch of writes failed")]
    Batch(#[source] Arc<rusqlite::Error>),
    /// The job panicked; its savepoint was rolled back.
    #[error("a SQLite write job panicked: {0}")]
    Panicked(String),
    /// The writer thread has ended, so nothing can be written.
    #[error("the SQLite writer thread has stopped")]
    Stopped,
    /// A job was answered without having run (a bug in the writer).
    #[error("a SQLite write job was answered without running")]
    NeverRan,
}

fn stopped() -> StoreError {
    StoreError::Backend(Box::new(WriterError::Stopped))
}

/// A failed batch's error for one of its jobs: transient when the database was busy or locked.
fn batch_error(e: &Arc<rusqlite::Error>) -> StoreError {
    let boxed = Box::new(WriterError::Batch(Arc::clone(e)));
    match e.sqlite_error_code() {
        Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked) => StoreError::Unavailable(boxed),
        _ => StoreError::Backend(boxed),
    }
}

/// Runs `f`, turning a panic into an error so that one bad job cannot end the writer thread.
fn guarded<T>(f: impl FnOnce() -> Result<T, StoreError>) -> Result<T, StoreError> {
    catch_unwind(AssertUnwindSafe(f)).unwrap_or_else(|payload| {
        let what = payload
            .downcast_ref::<&str>()
            .map(|s| (*s).to_owned())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_default();
        Err(StoreError::Backend(Box::new(WriterError::Panicked(what))))
    })
}

/// The thread's loop: wait for a job, take what else is queued, run it, repeat until the queue
/// closes.
fn run(mut conn: Connection, mut jobs: mpsc::Receiver<Msg>) {
    let mut batch: Vec<Box<dyn Work>> = Vec::with_capacity(MAX_BATCH);
    let mut next = None;
    loop {
        let msg = match next.take() {
            Some(msg) => msg,
            None => match jobs.blocking_recv() {
                Some(msg) => msg,
                None => break,
            },
        };
        match msg {
            Msg::Solo(f) => f(&conn),
            Msg::Write(work) => {
                batch.push(work);
                while batch.len() < MAX_BATCH {
                    match jobs.try_recv() {
                        Ok(Msg::Write(work)) => batch.push(work),
                        // Run after this batch, keeping the queue's order.
                        Ok(solo) => {
                            next = Some(solo);
                            break;
                        }
                        Err(_) => break,
                    }
                }
                commit(&mut conn, &mut batch);
            }
        }
    }
    tracing::debug!("SQLite writer stopped");
}

/// Runs `batch` (emptying it) in as few transactions as possible: one, unless SQLite abandons a
/// transaction midway, in which case the jobs run so far fail and the rest start a new one.
fn commit(conn: &mut Connection, batch: &mut Vec<Box<dyn Work>>) {
    let mut jobs = batch.drain(..).peekable();
    let mut ran: Vec<Box<dyn Work>> = Vec::with_capacity(jobs.len());
    while jobs.peek().is_some() {
        let tx = match conn.transaction_with_behavior(TransactionBehavior::Immediate) {
            Ok(tx) => tx,
            Err(e) => {
                let e = Arc::new(e);
                tracing::warn!(error = %e, "SQLite writer cannot begin a transaction");
                jobs.for_each(|job| job.answer(Some(&e)));
                return;
            }
        };
        let mut lost = None;
        for mut job in jobs.by_ref() {
            let step = in_savepoint(&tx, job.as_mut());
            ran.push(job);
            if let Err(e) = step {
                lost = Some(e);
                break;
            }
        }
        let outcome = match lost {
            Some(e) => {
                // Dropping the transaction rolls back whatever SQLite has not already.
                drop(tx);
                Err(e)
            }
            None => tx.commit(),
        };
        let failed = match outcome {
            Ok(()) => {
                metrics::counter!("chatbox_store_sqlite_commits_total").increment(1);
                metrics::histogram!("chatbox_store_sqlite_batch_jobs").record(ran.len() as f64);
                None
            }
            Err(e) => {
                tracing::warn!(error = %e, jobs = ran.len(), "SQLite batch failed");
                Some(Arc::new(e))
            }
        };
        ran.drain(..).for_each(|job| job.answer(failed.as_ref()));
    }
}

/// Runs one job inside its own savepoint, released when it succeeds and rolled back when it
/// fails. An error here means the savepoint itself failed: the transaction can no longer be
/// trusted.
fn in_savepoint(tx: &Transaction<'_>, job: &mut dyn Work) -> rusqlite::Result<()> {
    tx.prepare_cached("SAVEPOINT job")?.execute([])?;
    if !job.run(tx) {
        tx.prepare_cached("ROLLBACK TO job")?.execute([])?;
    }
    tx.prepare_cached("RELEASE job")?.execute([])?;
    Ok(())
}

#[cfg(test)]
mod tests;
