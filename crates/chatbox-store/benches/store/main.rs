//! Store benchmarks for both backends: messages appended per second (one writer, encrypted
//! content of a typical 200-character message), admin list latency (default sort by start time,
//! and the computed `duration` sort) at 10 000 and 100 000 sessions, and bytes stored per message
//! (SQLite: file size growth; MongoDB: BSON document size growth, plus `collStats` when the
//! server has it).
//!
//! Session counts come from `CHATBOX_BENCH_SESSIONS` (comma-separated, default `10000,100000`)
//! for SQLite and `CHATBOX_BENCH_MONGO_SESSIONS` (default `10000`: SecantusDB, a Python server,
//! needs seconds per list query at 100 000) for MongoDB, which is benchmarked when
//! `CHATBOX_TEST_MONGO_URI` is set (start `secantusd-py` as for the tests). Appends go round-robin
//! to `APPEND_SESSIONS` sessions so conversations stay at realistic lengths (the Go schema embeds
//! messages in the session document, so one ever-growing session would measure document rewrites).
//! Criterion's element throughput turns the append timing into messages/s.
//!
//! Finished turns per second with a thousand sessions at once are measured in [`turns`].

mod turns;

use std::sync::Arc;
use std::time::Duration;

use chatbox_core::query::{SessionQuery, SortKey};
use chatbox_core::{Message, Sender, Session, SessionId, Store, UserId};
use chatbox_store::mongo::document::{message_doc, session_doc};
use chatbox_store::{Cipher, MongoConfig, MongoStore, SqliteConfig, SqliteStore};
use chrono::{TimeZone, Utc};
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use mongodb::bson::{Bson, doc};
use tokio::runtime::Runtime;

const KEY: &[u8] = b"0123456789abcdef0123456789abcdef";
/// Messages stored per seeded session.
const MSGS_PER_SESSION: usize = 2;
/// Messages appended to measure bytes per message.
const SIZE_PROBE_MESSAGES: usize = 2_000;

fn body() -> String {
    "How do I change the billing address on my account? I moved last month and the invoice \
     still shows the old street. Also, can I get the last three invoices re-issued with it?"
        .to_owned()
}

fn id(s: String) -> SessionId {
    SessionId::parse(&s).expect("bench ids are valid")
}

fn session(i: usize) -> Session {
    let start = Utc
        .with_ymd_and_hms(2024, 1, 1, 0, 0, 0)
        .single()
        .unwrap_or_default()
        + chrono::Duration::seconds(i64::try_from(i).unwrap_or(0) * 7);
    let mut s = Session::new(
        id(format!("sess-{i:07}")),
        UserId::parse(&format!("user-{}", i % 997)).expect("valid"),
        start,
    );
    if i.is_multiple_of(3) {
        s.end_time = Some(start + chrono::Duration::seconds(i64::try_from(i % 5000).unwrap_or(0)));
    }
    s
}

/// Sessions the append benchmark spreads its messages over.
const APPEND_SESSIONS: usize = 500;

fn session_counts(var: &str, default: &[usize]) -> Vec<usize> {
    std::env::var(var)
        .ok()
        .map(|v| v.split(',').filter_map(|n| n.trim().parse().ok()).collect())
        .unwrap_or_else(|| default.to_vec())
}

fn temp_dir(tag: &str) -> std::path::PathBuf {
    std::env::temp_dir().join(format!("chatbox-store-bench-{tag}-{}", std::process::id()))
}

async fn sqlite(tag: &str, full_sync: bool) -> SqliteStore {
    let dir = temp_dir(tag);
    let _ = std::fs::remove_dir_all(&dir);
    let config = SqliteConfig {
        data_dir: dir,
        full_sync,
        ..SqliteConfig::default()
    };
    SqliteStore::open(config, Cipher::new(Some(KEY), None).expect("key"))
        .await
        .expect("open")
}

async fn seed_sqlite(store: &SqliteStore, n: usize) {
    let cipher_body = body();
    for i in 0..n {
        let s = session(i);
        store.create_session(&s).await.expect("create");
        for k in 0..MSGS_PER_SESSION {
            let m = Message::text(
                Sender::User,
                cipher_body.clone(),
                s.start_time + chrono::Duration::seconds(k as i64),
            );
            store.append_message(&s.id, &m).await.expect("append");
        }
    }
}

async fn mongo(db: &str) -> Option<MongoStore> {
    let config = MongoConfig {
        uri: std::env::var("CHATBOX_TEST_MONGO_URI").ok()?,
        database: db.to_owned(),
        ..MongoConfig::default()
    };
    let cipher = Cipher::new(Some(KEY), None).expect("key");
    // Start from an empty collection, then connect again so the indexes are created.
    let old = MongoStore::connect(
        MongoConfig {
            create_indexes: false,
            ..config.clone()
        },
        cipher.clone(),
    )
    .await
    .expect("connect");
    old.collection().drop().await.expect("drop");
    Some(MongoStore::connect(config, cipher).await.expect("connect"))
}

async fn seed_mongo(store: &MongoStore, n: usize) {
    let cipher = Cipher::new(Some(KEY), None).expect("key");
    let mut batch = Vec::with_capacity(1000);
    for i in 0..n {
        let s = session(i);
        let mut d = session_doc(&s);
        let msgs: Vec<Bson> = (0..MSGS_PER_SESSION)
            .map(|k| {
                let m = Message::text(
                    Sender::User,
                    body(),
                    s.start_time + chrono::Duration::seconds(k as i64),
                );
                Bson::Document(message_doc(
                    &m,
                    cipher.encrypt(&m.content).expect("encrypt"),
                ))
            })
            .collect();
        d.insert("msgs", msgs);
        batch.push(d);
        if batch.len() == 1000 {
            store
                .collection()
                .insert_many(std::mem::take(&mut batch))
                .await
                .expect("seed");
        }
    }
    if !batch.is_empty() {
        store.collection().insert_many(batch).await.expect("seed");
    }
}

/// Appends round-robin over [`APPEND_SESSIONS`] fresh sessions.
fn append_round_robin<S: Store>(
    g: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
    rt: &Runtime,
    label: &str,
    store: &S,
) {
    let sessions: Vec<Session> = (0..APPEND_SESSIONS).map(session).collect();
    rt.block_on(async {
        for s in &sessions {
            store.create_session(s).await.expect("create");
        }
    });
    let m = Message::text(Sender::User, body(), sessions[0].start_time);
    let next = std::cell::Cell::new(0usize);
    g.bench_function(label, |b| {
        b.to_async(rt).iter(|| {
            let i = next.get();
            next.set(i + 1);
            let id = &sessions[i % APPEND_SESSIONS].id;
            let m = &m;
            async move { store.append_message(id, m).await.expect("append") }
        })
    });
}

fn bench_append(c: &mut Criterion, rt: &Runtime) {
    let mut g = c.benchmark_group("append_message");
    g.throughput(Throughput::Elements(1));
    g.measurement_time(Duration::from_secs(5));
    for (label, full_sync) in [("sqlite_full_sync", true), ("sqlite_normal_sync", false)] {
        let store = rt.block_on(sqlite(label, full_sync));
        append_round_robin(&mut g, rt, label, &store);
    }
    if let Some(store) = rt.block_on(mongo("bench_append")) {
        g.sample_size(20);
        append_round_robin(&mut g, rt, "mongo", &store);
        rt.block_on(async { store.collection().drop().await })
            .expect("drop");
    }
    g.finish();
}

fn list_queries() -> [(&'static str, SessionQuery); 2] {
    [
        ("start_time_desc", SessionQuery::default()),
        (
            "duration_desc",
            SessionQuery {
                sort: SortKey::Duration,
                ..Default::default()
            },
        ),
    ]
}

fn bench_list(c: &mut Criterion, rt: &Runtime) {
    let mut g = c.benchmark_group("admin_list");
    g.sample_size(10);
    g.measurement_time(Duration::from_secs(5));
    for n in session_counts("CHATBOX_BENCH_SESSIONS", &[10_000, 100_000]) {
        // Seeded on first use, so a filter that skips these benchmarks skips the seeding too.
        let store = std::cell::OnceCell::new();
        let seeded = || {
            store.get_or_init(|| {
                rt.block_on(async {
                    let store = sqlite(&format!("list{n}"), false).await;
                    seed_sqlite(&store, n).await;
                    // Measure the steady state: the seeding's write-ahead log folded into the file.
                    store.checkpoint().await.expect("checkpoint");
                    store
                })
            })
        };
        for (name, q) in list_queries() {
            g.bench_with_input(BenchmarkId::new(format!("sqlite/{name}"), n), &q, |b, q| {
                let store = seeded();
                b.to_async(rt)
                    .iter(|| async { store.list_sessions(q).await.expect("list") })
            });
        }
    }
    for n in session_counts("CHATBOX_BENCH_MONGO_SESSIONS", &[10_000]) {
        if let Some(store) = rt.block_on(mongo(&format!("bench_list_{n}"))) {
            rt.block_on(seed_mongo(&store, n));
            for (name, q) in list_queries() {
                g.bench_with_input(BenchmarkId::new(format!("mongo/{name}"), n), &q, |b, q| {
                    b.to_async(rt)
                        .iter(|| async { store.list_sessions(q).await.expect("list") })
                });
            }
            rt.block_on(async { store.collection().drop().await })
                .expect("drop");
        }
    }
    g.finish();
}

/// The database file's size after folding the WAL into it.
async fn file_bytes(store: &SqliteStore) -> u64 {
    store.checkpoint().await.expect("checkpoint");
    std::fs::metadata(store.path())
        .map(|m| m.len())
        .unwrap_or(0)
}

/// Reports bytes stored per message; a bench binary's report goes to its console.
#[allow(clippy::print_stdout)]
fn bytes_per_message(rt: &Runtime) {
    let store = rt.block_on(sqlite("bytes", false));
    let s = session(0);
    rt.block_on(async {
        store.create_session(&s).await.expect("create");
        let before = file_bytes(&store).await;
        for _ in 0..SIZE_PROBE_MESSAGES {
            let m = Message::text(Sender::User, body(), s.start_time);
            store.append_message(&s.id, &m).await.expect("append");
        }
        let after = file_bytes(&store).await;
        println!(
            "bytes_per_message/sqlite: {:.1} bytes (file growth after a WAL checkpoint, over {SIZE_PROBE_MESSAGES} messages of {} characters, encrypted)",
            (after.saturating_sub(before)) as f64 / SIZE_PROBE_MESSAGES as f64,
            body().chars().count()
        );
    });
    if let Some(store) = rt.block_on(mongo("bench_bytes")) {
        rt.block_on(async {
            store.create_session(&s).await.expect("create");
            let size = |d: mongodb::bson::Document| mongodb::bson::to_vec(&d).map(|v| v.len()).unwrap_or(0);
            let before = size(store.collection().find_one(doc! { "_id": s.id.as_str() }).await.expect("read").unwrap_or_default());
            for _ in 0..SIZE_PROBE_MESSAGES {
                let m = Message::text(Sender::User, body(), s.start_time);
                store.append_message(&s.id, &m).await.expect("append");
            }
            let after = size(store.collection().find_one(doc! { "_id": s.id.as_str() }).await.expect("read").unwrap_or_default());
            println!(
                "bytes_per_message/mongo: {:.1} bytes (BSON document growth over {SIZE_PROBE_MESSAGES} messages of {} characters, encrypted)",
                (after.saturating_sub(before)) as f64 / SIZE_PROBE_MESSAGES as f64,
                body().chars().count()
            );
            let stats = store
                .collection()
                .client()
                .database(store.database_name())
                .run_command(doc! { "collStats": store.collection().name() })
                .await;
            match stats {
                Ok(d) => println!("mongo collStats: size={:?} storageSize={:?}", d.get("size"), d.get("storageSize")),
                Err(e) => println!("mongo collStats unavailable on this server: {e}"),
            }
            store.collection().drop().await.expect("drop");
        });
    }
}

fn benches(c: &mut Criterion) {
    let counter = turns::CommitCounter::default();
    let commits = Arc::clone(&counter.commits);
    metrics::set_global_recorder(counter).expect("the bench installs the only recorder");
    let rt = Runtime::new().expect("tokio runtime");
    turns::bench(c, &rt, &commits);
    bytes_per_message(&rt);
    bench_append(c, &rt);
    bench_list(c, &rt);
}

criterion_group!(store_benches, benches);
criterion_main!(store_benches);
