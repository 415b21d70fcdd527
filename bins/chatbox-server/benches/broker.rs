//! Frames through the broker: replies streamed by a session's owner and read by clients on
//! another replica, against the same load on one replica (no broker, today's path), in one run.
//!
//! `cargo bench -p chatbox-server --bench broker` (or `cargo xtask bench`, which starts NATS).
//! NATS comes from `CHATBOX_TEST_NATS_URL`, else a `nats-server` (`CHATBOX_TEST_NATS_SERVER` or
//! on PATH) started here. `BENCH_SESSIONS` (default 100) sessions each stream
//! `BENCH_CHUNKS` (default 200) chunks:
//! - **burst**: every chunk pushed at once: frames/s from the first push to the last frame read;
//! - **paced**: `BENCH_RATE` (default 40) chunks/s per session: per-frame latency from the
//!   provider yielding the chunk to the client reading it, p50/p99.
//!
//! Figures go to docs/BENCHMARKS.md; nothing here asserts a time.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use chatbox_core::Broker;
use chatbox_core::ports::llm::{Chunk, LlmError, Usage};
use chatbox_core::testing::{MemoryBroker, MemoryStore, Script, ScriptedLlm};
use chatbox_core::{Identity, UserId};
use chatbox_session::{ConnectRequest, Connection, Engine, EngineConfig, EngineDeps, Outbound};
use chatbox_store::{NatsBroker, NatsConfig};
use futures::channel::mpsc::UnboundedSender;

fn env(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Two engines (owner side, client side) over `brokers`, or one engine for both.
fn engines(
    brokers: Option<(Arc<dyn Broker>, Arc<dyn Broker>)>,
) -> (Engine, Engine, Arc<ScriptedLlm>) {
    let store = Arc::new(MemoryStore::new());
    let llm = Arc::new(ScriptedLlm::new("gpt", "GPT"));
    let config = EngineConfig {
        messages_per_minute: 1_000_000,
        max_sessions_per_user: 100_000,
        connection_queue: 4096,
        ..EngineConfig::default()
    };
    let make = |broker: Option<Arc<dyn Broker>>| {
        let deps = EngineDeps {
            store: store.clone(),
            providers: vec![llm.clone()],
            notifiers: vec![],
            admin_panel_url: None,
            blobs: None,
            transcriber: None,
            broker,
        };
        Engine::new(deps, config.clone())
    };
    match brokers {
        None => {
            let one = make(None);
            (one.clone(), one, llm)
        }
        Some((a, b)) => (make(Some(a)), make(Some(b)), llm),
    }
}

fn user(i: usize) -> Identity {
    Identity::new(UserId::parse(&format!("u{i}")).unwrap(), None, vec![])
}

async fn next(conn: &mut Connection) -> Arc<str> {
    match tokio::time::timeout(Duration::from_secs(30), conn.recv()).await {
        Ok(Outbound::Frame(f)) => f,
        other => panic!("no frame: {other:?}"),
    }
}

/// `n` sessions owned by `owner`, each with a client on `reader` whose message started a reply
/// fed by the returned sender.
async fn sessions(
    owner: &Engine,
    reader: &Engine,
    llm: &ScriptedLlm,
    users: std::ops::Range<usize>,
) -> Vec<(UnboundedSender<Result<Chunk, LlmError>>, Connection)> {
    let mut out = Vec::new();
    for i in users {
        let mut first = owner
            .connect(user(i), ConnectRequest::default())
            .await
            .unwrap()
            .connection;
        next(&mut first).await;
        let req = ConnectRequest {
            session_id: Some(first.session_id().clone()),
            ..ConnectRequest::default()
        };
        let mut conn = reader.connect(user(i), req).await.unwrap().connection;
        next(&mut conn).await;
        let (tx, script) = Script::channel();
        llm.push(script);
        let frame = chatbox_core::protocol::ClientFrame::parse(
            br#"{"type":"user_message","content":"go"}"#,
            chrono::Utc::now(),
        )
        .unwrap();
        conn.handle(frame);
        // The echo, then `loading`: the reply is on.
        while !next(&mut conn).await.contains("\"loading\"") {}
        out.push((tx, conn));
        drop(first);
    }
    out
}

/// The content of a chunk frame: the nanoseconds (since `t0`) it was sent at.
fn sent_at(frame: &str) -> Option<u64> {
    let at = frame.find("\"content\":\"t")? + "\"content\":\"t".len();
    let end = frame[at..].find('"')? + at;
    frame[at..end].parse().ok()
}

struct Figures {
    frames_per_sec: f64,
    p50_us: f64,
    p99_us: f64,
}

async fn run(name: &str, brokers: Option<(Arc<dyn Broker>, Arc<dyn Broker>)>) -> Figures {
    let n = env("BENCH_SESSIONS", 100);
    let chunks = env("BENCH_CHUNKS", 200);
    let rate = env("BENCH_RATE", 40).max(1);
    let (owner, reader, llm) = engines(brokers);
    let t0 = Instant::now();
    let stamp = move || format!("t{}", t0.elapsed().as_nanos());

    // Burst: every chunk at once.
    let burst = sessions(&owner, &reader, &llm, 0..n).await;
    let start = Instant::now();
    for (tx, _) in &burst {
        for _ in 0..chunks {
            tx.unbounded_send(Ok(Chunk::Text(stamp()))).unwrap();
        }
    }
    let readers = burst.into_iter().map(|(tx, mut conn)| {
        tokio::spawn(async move {
            let mut got = 0;
            while got < chunks {
                if sent_at(&next(&mut conn).await).is_some() {
                    got += 1;
                }
            }
            drop(tx);
        })
    });
    futures::future::join_all(readers).await;
    let frames_per_sec = (n * chunks) as f64 / start.elapsed().as_secs_f64();

    // Paced: `rate` chunks a second per session.
    let paced = sessions(&owner, &reader, &llm, n..2 * n).await;
    let mut latencies = Vec::with_capacity(n * chunks);
    let (txs, conns): (Vec<_>, Vec<_>) = paced.into_iter().unzip();
    let feeder = tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(1) / rate as u32);
        for _ in 0..chunks {
            tick.tick().await;
            for tx in &txs {
                tx.unbounded_send(Ok(Chunk::Text(stamp()))).unwrap();
            }
        }
        for tx in &txs {
            let usage = Usage {
                input_tokens: 1,
                output_tokens: 1,
                estimated: false,
            };
            let _ = tx.unbounded_send(Ok(Chunk::Finished(usage)));
        }
    });
    let readers = conns.into_iter().map(|mut conn| {
        tokio::spawn(async move {
            let mut out = Vec::with_capacity(chunks);
            while out.len() < chunks {
                let frame = next(&mut conn).await;
                if let Some(at) = sent_at(&frame) {
                    let now = t0.elapsed().as_nanos() as u64;
                    out.push(now.saturating_sub(at));
                }
            }
            out
        })
    });
    for r in futures::future::join_all(readers).await {
        latencies.extend(r.unwrap());
    }
    feeder.await.unwrap();
    latencies.sort_unstable();
    let pct = |p: f64| latencies[((latencies.len() - 1) as f64 * p) as usize] as f64 / 1000.0;
    let f = Figures {
        frames_per_sec,
        p50_us: pct(0.50),
        p99_us: pct(0.99),
    };
    println!(
        "{name:<22} burst {:>9.0} frames/s   paced {n}x{rate}/s: p50 {:>8.1} µs  p99 {:>8.1} µs",
        f.frames_per_sec, f.p50_us, f.p99_us
    );
    f
}

/// A NATS URL: the test run's, or a `nats-server` started here (returned to be killed).
fn nats() -> (String, Option<std::process::Child>) {
    if let Ok(url) = std::env::var("CHATBOX_TEST_NATS_URL") {
        return (url, None);
    }
    let program =
        std::env::var("CHATBOX_TEST_NATS_SERVER").unwrap_or_else(|_| "nats-server".into());
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let dir = std::env::temp_dir().join(format!("chatbox-bench-nats-{}", std::process::id()));
    let child = std::process::Command::new(&program)
        .args(["-a", "127.0.0.1", "-p", &port.to_string(), "-js", "-sd"])
        .arg(&dir)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap_or_else(|e| {
            panic!(
                "cannot start {program} ({e}): set CHATBOX_TEST_NATS_URL, or run `cargo xtask bench`"
            )
        });
    let deadline = Instant::now() + Duration::from_secs(20);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "nats-server did not start");
        std::thread::sleep(Duration::from_millis(20));
    }
    (format!("nats://127.0.0.1:{port}"), Some(child))
}

async fn nats_broker(url: &str, replica: &str, prefix: &str) -> Arc<dyn Broker> {
    let config = NatsConfig {
        url: url.to_owned(),
        replica: replica.to_owned(),
        prefix: prefix.to_owned(),
        ..NatsConfig::default()
    };
    Arc::new(NatsBroker::connect(config).await.unwrap())
}

#[tokio::main]
async fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let (url, child) = nats();
    let prefix = format!("bench{}", std::process::id());
    let base = run("one replica, no broker", None).await;
    let hub = MemoryBroker::new("a", Duration::from_secs(10), 2048);
    let memory: (Arc<dyn Broker>, Arc<dyn Broker>) =
        (Arc::new(hub.replica("a")), Arc::new(hub.replica("b")));
    let mem = run("two, in-memory broker", Some(memory)).await;
    let a = nats_broker(&url, "a", &prefix).await;
    let b = nats_broker(&url, "b", &prefix).await;
    let js = run("two, NATS JetStream", Some((a, b))).await;
    println!(
        "through NATS vs one replica: frames/s {:.2}x, added p50 {:+.0} µs, added p99 {:+.0} µs (in-memory broker: {:.2}x, {:+.0} / {:+.0} µs)",
        js.frames_per_sec / base.frames_per_sec,
        js.p50_us - base.p50_us,
        js.p99_us - base.p99_us,
        mem.frames_per_sec / base.frames_per_sec,
        mem.p50_us - base.p50_us,
        mem.p99_us - base.p99_us,
    );
    if let Some(mut child) = child {
        let _ = child.kill();
        let _ = child.wait();
    }
}
