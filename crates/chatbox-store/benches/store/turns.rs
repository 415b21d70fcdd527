//! Finished turns per second (`finished_turns`): [`TURN_SESSIONS`] sessions at once on the
//! multi-thread runtime, each taking `CHATBOX_BENCH_TURNS` turns (default
//! [`DEFAULT_TURNS_PER_SESSION`]) one after the other, a turn being the user's message appended
//! and the AI's reply appended with its statistics, on SQLite with `full_sync` on; the
//! `with_history` variant also reads the session's last [`HISTORY_MESSAGES`] messages in each turn,
//! as the session engine does. Criterion reports turns/s as its element throughput; the bench then
//! prints turns/s and fsynced commits/s, counting commits from the store's
//! `chatbox_store_sqlite_commits_total` counter. Run it alone with
//! `cargo bench -p chatbox-store --bench store -- finished_turns`.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use chatbox_core::{Message, Sender, Session, SessionId, Store, UserId};
use chatbox_store::SqliteStore;
use chrono::Utc;
use criterion::{Criterion, Throughput};
use tokio::runtime::Runtime;

use crate::{body, id, sqlite};

/// Sessions taking turns at once in the turns benchmark.
const TURN_SESSIONS: usize = 1_000;
/// Turns each session takes per measured iteration unless `CHATBOX_BENCH_TURNS` says otherwise.
const DEFAULT_TURNS_PER_SESSION: usize = 3;
/// Messages read back in a turn of the `with_history` variant.
const HISTORY_MESSAGES: usize = 20;

/// Counts the store's commits: a metrics recorder that keeps one counter and drops the rest.
#[derive(Default)]
pub(crate) struct CommitCounter {
    pub(crate) commits: Arc<AtomicU64>,
}

impl metrics::Recorder for CommitCounter {
    fn describe_counter(
        &self,
        _: metrics::KeyName,
        _: Option<metrics::Unit>,
        _: metrics::SharedString,
    ) {
    }
    fn describe_gauge(
        &self,
        _: metrics::KeyName,
        _: Option<metrics::Unit>,
        _: metrics::SharedString,
    ) {
    }
    fn describe_histogram(
        &self,
        _: metrics::KeyName,
        _: Option<metrics::Unit>,
        _: metrics::SharedString,
    ) {
    }
    fn register_counter(&self, key: &metrics::Key, _: &metrics::Metadata<'_>) -> metrics::Counter {
        if key.name() == "chatbox_store_sqlite_commits_total" {
            metrics::Counter::from_arc(Arc::clone(&self.commits))
        } else {
            metrics::Counter::noop()
        }
    }
    fn register_gauge(&self, _: &metrics::Key, _: &metrics::Metadata<'_>) -> metrics::Gauge {
        metrics::Gauge::noop()
    }
    fn register_histogram(
        &self,
        _: &metrics::Key,
        _: &metrics::Metadata<'_>,
    ) -> metrics::Histogram {
        metrics::Histogram::noop()
    }
}

/// Creates [`TURN_SESSIONS`] fresh sessions, then times them all taking `turns` turns at once,
/// reading the last [`HISTORY_MESSAGES`] messages in each turn when `history` is set (as the
/// session engine does before asking the model). Returns the time and the commits counted
/// meanwhile.
async fn take_turns(
    store: &SqliteStore,
    round: usize,
    turns: usize,
    history: bool,
    commits: &AtomicU64,
) -> (Duration, u64) {
    let ids: Vec<SessionId> = (0..TURN_SESSIONS)
        .map(|i| id(format!("turns-{round}-{i}")))
        .collect();
    let created: Vec<_> = ids
        .iter()
        .map(|id| {
            let (store, id) = (store.clone(), id.clone());
            tokio::spawn(async move {
                let s = Session::new(id, UserId::parse("turns").expect("valid"), Utc::now());
                store.create_session(&s).await.expect("create");
            })
        })
        .collect();
    for t in created {
        t.await.expect("create task");
    }
    let before = commits.load(Ordering::Relaxed);
    let started = Instant::now();
    let tasks: Vec<_> = ids
        .into_iter()
        .map(|id| {
            let store = store.clone();
            tokio::spawn(async move {
                for _ in 0..turns {
                    let asked = Message::text(Sender::User, body(), Utc::now());
                    store.append_message(&id, &asked).await.expect("append");
                    if history {
                        let h = store.messages(&id, Some(HISTORY_MESSAGES)).await;
                        h.expect("history");
                    }
                    let reply = Message::text(Sender::Ai, body(), Utc::now());
                    store
                        .append_reply(&id, &reply, 120, 900)
                        .await
                        .expect("reply");
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.expect("turn task");
    }
    (started.elapsed(), commits.load(Ordering::Relaxed) - before)
}

/// Finished turns per second with every session busy at once, and the fsynced commits behind
/// them; with and without the history read.
#[allow(clippy::print_stdout)]
pub(crate) fn bench(c: &mut Criterion, rt: &Runtime, commits: &AtomicU64) {
    let turns = std::env::var("CHATBOX_BENCH_TURNS")
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(DEFAULT_TURNS_PER_SESSION);
    let per_iteration = (TURN_SESSIONS * turns) as u64;
    let mut g = c.benchmark_group("finished_turns");
    g.throughput(Throughput::Elements(per_iteration));
    g.sample_size(10);
    g.sampling_mode(criterion::SamplingMode::Flat);
    g.warm_up_time(Duration::from_secs(1));
    g.measurement_time(Duration::from_secs(20));
    let mut report = Vec::new();
    for (label, history) in [
        ("sqlite_full_sync", false),
        ("sqlite_full_sync_with_history", true),
    ] {
        // Opened on first use, so a filter that skips this benchmark opens nothing.
        let store = std::cell::OnceCell::new();
        let totals = std::cell::Cell::new((Duration::ZERO, 0u64, 0u64));
        g.bench_function(label, |b| {
            let store = store.get_or_init(|| rt.block_on(sqlite(&format!("turns_{label}"), true)));
            b.iter_custom(|iters| {
                let mut spent = Duration::ZERO;
                for _ in 0..iters {
                    let (time, n_commits, n_turns) = totals.get();
                    let round = usize::try_from(n_turns / per_iteration).unwrap_or(0);
                    let (took, n) = rt.block_on(take_turns(store, round, turns, history, commits));
                    spent += took;
                    totals.set((time + took, n_commits + n, n_turns + per_iteration));
                }
                spent
            })
        });
        report.push((label, totals.get()));
        // Hundreds of thousands of turns make a large file; leave nothing behind.
        if let Some(store) = store.into_inner()
            && let Some(dir) = store.path().parent().map(std::path::Path::to_path_buf)
        {
            drop(store);
            let _ = std::fs::remove_dir_all(dir);
        }
    }
    g.finish();
    for (label, (time, n_commits, n_turns)) in report {
        if n_turns == 0 {
            continue;
        }
        let secs = time.as_secs_f64();
        println!(
            "finished_turns/{label}: {:.0} turns/s, {:.0} fsynced commits/s ({:.1} writes per commit; {n_turns} turns, {TURN_SESSIONS} sessions at once, {turns} turns each)",
            n_turns as f64 / secs,
            n_commits as f64 / secs,
            (2 * n_turns) as f64 / n_commits.max(1) as f64,
        );
    }
}
