//! Unit tests of the writer thread on a database of its own: jobs queued together share one
//! transaction, a failing or panicking job is rolled back alone, a failed commit fails the whole
//! batch, a job that ends the transaction fails only the jobs before it, a solo job keeps its
//! place in the queue, a locked database is a transient error, and the thread finishes its queue
//! and ends when the last handle goes.

use std::future::Future;
use std::pin::Pin;

use super::*;

type Job = Box<dyn FnOnce(&Transaction<'_>) -> Result<(), StoreError> + Send>;

const SCHEMA: &str = "PRAGMA foreign_keys = ON;
    CREATE TABLE IF NOT EXISTS parents (id INTEGER PRIMARY KEY);
    CREATE TABLE IF NOT EXISTS rows (
        n INTEGER NOT NULL UNIQUE,
        parent INTEGER REFERENCES parents (id)
    );";

fn spawn(conn: Connection) -> (Writer, JoinHandle<()>) {
    conn.execute_batch(SCHEMA).unwrap();
    Writer::spawn(conn).unwrap()
}

fn insert(n: i64) -> Job {
    Box::new(move |tx| {
        tx.execute("INSERT INTO rows (n) VALUES (?1)", [n])
            .map_err(super::super::rows::store_error)?;
        Ok(())
    })
}

/// The values in `rows`, read on the writer thread.
async fn rows(w: &Writer) -> Vec<i64> {
    w.solo(|conn| {
        let mut stmt = conn.prepare("SELECT n FROM rows ORDER BY n").unwrap();
        let rows = stmt.query_map([], |r| r.get(0)).unwrap();
        Ok(rows.map(Result::unwrap).collect())
    })
    .await
    .unwrap()
}

/// Queues `jobs` while the writer thread is held by an earlier job, so they are taken as one
/// batch, then lets it go and returns their results in order.
async fn one_batch(w: &Writer, jobs: Vec<Job>) -> Vec<Result<(), StoreError>> {
    let (release, held) = std::sync::mpsc::channel::<()>();
    let mut hold = Box::pin(w.solo(move |_| {
        held.recv().unwrap();
        Ok(())
    }));
    assert!(futures::poll!(hold.as_mut()).is_pending());
    let mut queued: Vec<Pin<Box<dyn Future<Output = _> + Send + '_>>> = jobs
        .into_iter()
        .map(|j| Box::pin(w.write(j)) as _)
        .collect();
    for q in &mut queued {
        assert!(
            futures::poll!(q.as_mut()).is_pending(),
            "the writer is held"
        );
    }
    release.send(()).unwrap();
    hold.await.unwrap();
    futures::future::join_all(queued).await
}

#[tokio::test]
async fn a_failing_job_is_rolled_back_alone_and_the_rest_of_its_batch_commits() {
    let (w, _) = spawn(Connection::open_in_memory().unwrap());
    let inserts_then_fails: Job = Box::new(|tx| {
        tx.execute("INSERT INTO rows (n) VALUES (2)", []).unwrap();
        Err(StoreError::NotFound)
    });
    let results = one_batch(
        &w,
        vec![insert(1), inserts_then_fails, insert(3), insert(1)],
    )
    .await;
    assert!(results[0].is_ok() && results[2].is_ok(), "{results:?}");
    assert!(
        matches!(results[1], Err(StoreError::NotFound)),
        "{results:?}"
    );
    assert!(
        matches!(results[3], Err(StoreError::Conflict(_))),
        "{results:?}"
    );
    assert_eq!(rows(&w).await, vec![1, 3]);
}

#[tokio::test]
async fn a_panicking_job_fails_alone_and_the_writer_keeps_going() {
    let (w, _) = spawn(Connection::open_in_memory().unwrap());
    let inserts_then_panics: Job = Box::new(|tx| {
        tx.execute("INSERT INTO rows (n) VALUES (5)", []).unwrap();
        panic!("job bug")
    });
    let results = one_batch(&w, vec![insert(1), inserts_then_panics, insert(2)]).await;
    assert!(results[0].is_ok() && results[2].is_ok(), "{results:?}");
    let err = results[1].as_ref().unwrap_err();
    let source = std::error::Error::source(err).map(ToString::to_string);
    assert_eq!(
        source.as_deref(),
        Some("a SQLite write job panicked: job bug")
    );
    w.write(insert(3)).await.unwrap();
    assert_eq!(rows(&w).await, vec![1, 2, 3]);
}

#[tokio::test]
async fn a_failed_commit_fails_every_job_of_its_batch() {
    let (w, _) = spawn(Connection::open_in_memory().unwrap());
    // A foreign key checked only at COMMIT: the job itself succeeds, the commit fails.
    let breaks_the_commit: Job = Box::new(|tx| {
        tx.execute_batch(
            "PRAGMA defer_foreign_keys = ON; INSERT INTO rows (n, parent) VALUES (9, 99);",
        )
        .unwrap();
        Ok(())
    });
    let results = one_batch(&w, vec![insert(1), breaks_the_commit, insert(2)]).await;
    for r in &results {
        let err = r.as_ref().unwrap_err();
        let source = std::error::Error::source(err).map(ToString::to_string);
        assert_eq!(
            source.as_deref(),
            Some("the SQLite transaction of a batch of writes failed")
        );
    }
    assert_eq!(rows(&w).await, Vec::<i64>::new());
    w.write(insert(3)).await.unwrap();
    assert_eq!(rows(&w).await, vec![3], "the next batch commits");
}

#[test]
fn queued_jobs_still_commit_after_their_callers_left_and_the_thread_then_ends() {
    let file =
        std::env::temp_dir().join(format!("chatbox-writer-{}.sqlite3", rand::random::<u64>()));
    let (w, thread) = spawn(Connection::open(&file).unwrap());
    futures::executor::block_on(async {
        for n in 0..10 {
            let mut write = Box::pin(w.write(insert(n)));
            // Queued by the first poll, then abandoned.
            let _ = futures::poll!(write.as_mut());
        }
    });
    let clone = w.clone();
    drop(w);
    drop(clone);
    thread.join().unwrap();
    let conn = Connection::open(&file).unwrap();
    let count: i64 = conn
        .query_row("SELECT COUNT(*) FROM rows", [], |r| r.get(0))
        .unwrap();
    assert_eq!(count, 10);
    drop(conn);
    std::fs::remove_file(&file).unwrap();
}

#[tokio::test]
async fn a_job_that_ends_the_transaction_fails_the_jobs_so_far_and_the_rest_commit_anew() {
    let (w, _) = spawn(Connection::open_in_memory().unwrap());
    // Ends the batch's transaction behind the writer's back: its savepoint is gone.
    let ends_the_transaction: Job = Box::new(|tx| {
        tx.execute_batch("ROLLBACK").unwrap();
        Ok(())
    });
    let results = one_batch(&w, vec![insert(1), ends_the_transaction, insert(2)]).await;
    for r in &results[..2] {
        let err = r.as_ref().unwrap_err();
        assert!(matches!(err, StoreError::Backend(_)), "{err:?}");
        let source = std::error::Error::source(err).map(ToString::to_string);
        assert_eq!(
            source.as_deref(),
            Some("the SQLite transaction of a batch of writes failed")
        );
    }
    assert!(results[2].is_ok(), "{results:?}");
    assert_eq!(
        rows(&w).await,
        vec![2],
        "only the job after the break commits"
    );
}

#[tokio::test]
async fn a_solo_job_queued_between_writes_runs_after_the_writes_before_it() {
    let (w, _) = spawn(Connection::open_in_memory().unwrap());
    let (release, held) = std::sync::mpsc::channel::<()>();
    let mut hold = Box::pin(w.solo(move |_| {
        held.recv().unwrap();
        Ok(())
    }));
    assert!(futures::poll!(hold.as_mut()).is_pending());
    let mut first = Box::pin(w.write(insert(1)));
    assert!(
        futures::poll!(first.as_mut()).is_pending(),
        "the writer is held"
    );
    let mut between = Box::pin(rows(&w));
    assert!(
        futures::poll!(between.as_mut()).is_pending(),
        "the writer is held"
    );
    let mut second = Box::pin(w.write(insert(2)));
    assert!(
        futures::poll!(second.as_mut()).is_pending(),
        "the writer is held"
    );
    release.send(()).unwrap();
    hold.await.unwrap();
    first.await.unwrap();
    assert_eq!(
        between.await,
        vec![1],
        "it saw the write queued before it only"
    );
    second.await.unwrap();
    assert_eq!(rows(&w).await, vec![1, 2]);
}

#[tokio::test]
async fn a_database_locked_by_another_connection_is_a_transient_error_for_the_batch() {
    let file =
        std::env::temp_dir().join(format!("chatbox-writer-{}.sqlite3", rand::random::<u64>()));
    let conn = Connection::open(&file).unwrap();
    // Fail at once instead of waiting for the lock.
    conn.busy_timeout(std::time::Duration::ZERO).unwrap();
    let (w, thread) = spawn(conn);
    let other = Connection::open(&file).unwrap();
    other.execute_batch("BEGIN IMMEDIATE").unwrap();

    let locked = w.write(insert(1)).await.unwrap_err();
    assert!(matches!(locked, StoreError::Unavailable(_)), "{locked:?}");
    let source = std::error::Error::source(&locked).map(ToString::to_string);
    assert_eq!(
        source.as_deref(),
        Some("the SQLite transaction of a batch of writes failed")
    );

    other.execute_batch("ROLLBACK").unwrap();
    w.write(insert(2)).await.unwrap();
    assert_eq!(rows(&w).await, vec![2], "the refused write left nothing");
    drop(w);
    thread.join().unwrap();
    drop(other);
    std::fs::remove_file(&file).unwrap();
}
