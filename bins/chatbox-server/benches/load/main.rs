//! Whole-server load benchmark: the real server binary (release) as its own process, pinned to
//! one core (`taskset`), against a timestamping fake OpenAI-compatible vendor and a load client
//! pinned to the other core. It reports, in one run:
//!
//! - server CPU per relayed chunk and per turn (`/proc/PID/stat` utime+stime over a phase; turns
//!   of 40 and of 400 chunks separate the two);
//! - added latency: vendor write → client read through our server, minus the same fake vendor
//!   read directly by the client at the same concurrency, p50/p99;
//! - the floor of the stack: CPU per chunk and added latency of a bare relay (`bare_relay.rs`,
//!   tokio + reqwest + fastwebsockets and nothing of ours) under the same load, on the same core,
//!   and our server's ratio to it;
//! - ping→pong round trips per second against a bare fastwebsockets echo server (both servers
//!   pinned to the same core), and server CPU per ping;
//! - idle memory: server RSS per open WebSocket, each its own user and session, at several
//!   counts;
//! - finished turns per second of the embedded SQLite store with an fsync per commit.
//!
//! Run with `cargo xtask bench` (or `cargo bench -p chatbox-server --bench load`). It prints a
//! report; it asserts nothing about time. `BENCH_IDLE=1000,10000,18000` sets the idle counts,
//! `BENCH_ONLY=idle,relay,ping,turns` picks sections, `BENCH_SERVER_BIN=path` measures another
//! build of the server (e.g. the one before a change) under the same load.

#![allow(clippy::print_stdout, clippy::unwrap_used, missing_docs)]

mod bare_relay;
mod ping;
#[path = "../support/server.rs"]
mod server;
mod turns;
mod vendor;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use chatbox_ws::testing::Ws;
use fastwebsockets::{Frame, OpCode, Payload};
use futures::StreamExt;
use serde_json::{Value, json};

use crate::server::Server;

const SECRET: &str = "k7Qx9vLm2PzR8tWb4NcY6hJd3FgS5aEu1ZoPq";
const CHUNK_INTERVAL: Duration = Duration::from_millis(25);
const PING_SECONDS: u64 = 5;
const PING_CONNECTIONS: usize = 32;

fn now_ns() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0)
}

/// Connects from source address 127.0.0.`src`.
async fn connect_from(src: u8, server: SocketAddr, path: &str, token: &str) -> Ws {
    let source = IpAddr::V4(Ipv4Addr::new(127, 0, 0, src));
    chatbox_ws::testing::connect_from(Some(source), server, path, token)
        .await
        .unwrap()
}

async fn next_text(ws: &mut Ws) -> Value {
    loop {
        let f = ws.read_frame().await.unwrap();
        if f.opcode == OpCode::Text {
            return serde_json::from_slice(&f.payload).unwrap();
        }
        assert!(f.opcode != OpCode::Close, "closed by the server");
    }
}

/// Opens `n` connections, `per_user` of them for each user (one session per user).
async fn open_many(server: &Server, prefix: &str, n: usize, per_user: usize) -> Vec<Ws> {
    let addr = server.addr;
    futures::stream::iter(0..n)
        .map(|i| {
            let token = chatbox_ws::testing::token(
                SECRET,
                &format!("{prefix}{}", i / per_user.max(1)),
                &[],
            );
            async move {
                let src = 1 + (i % 4) as u8;
                let mut ws = connect_from(src, addr, "/chatbox/ws", &token).await;
                let status = next_text(&mut ws).await;
                assert_eq!(status["type"], "connection_status");
                ws
            }
        })
        .buffer_unordered(128)
        .collect()
        .await
}

async fn idle_connections(server: &Server, counts: &[usize]) {
    println!("\n## Idle connections (server RSS, one user and session per connection)");
    let warm = open_many(server, "warm", 200, 1).await;
    drop(warm);
    tokio::time::sleep(Duration::from_secs(1)).await;
    for &n in counts {
        let before = server.process.rss_kb();
        let started = Instant::now();
        let conns = open_many(server, &format!("idle{n}-"), n, 1).await;
        let took = started.elapsed();
        tokio::time::sleep(Duration::from_secs(2)).await;
        let after = server.process.rss_kb();
        let per = after.saturating_sub(before) as f64 / n as f64;
        println!(
            "- {n} connections: RSS {before} kB -> {after} kB, {per:.1} KB per connection ({:.0} connects/s)",
            n as f64 / took.as_secs_f64()
        );
        drop(conns);
        tokio::time::sleep(Duration::from_secs(3)).await;
    }
}

fn percentile(sorted: &[u128], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let idx = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[idx] as f64 / 1e6
}

/// One relay phase: every stream sends one message and reads its reply to the done frame.
struct Relay {
    samples: Vec<u128>,
    /// The latencies of chunks written after the first 2 s and before the last 2 s of the phase,
    /// when every stream is mid-reply (no turn starting or ending).
    steady: Vec<u128>,
    turns: usize,
    cpu: Duration,
    /// The part of `cpu` spent in the kernel (on loopback a send also runs the receiver's TCP).
    system: Duration,
    load_cpu: Duration,
    wall: Duration,
    /// Server RSS growth over the phase, with every session still connected after its reply.
    rss_grown_kb: u64,
}

/// The (sent, latency) stamps of a frame as the client reads it, without building a JSON tree:
/// `None` at the done frame.
fn chunk_stamps(payload: &[u8], received: u128, into: &mut Vec<(u128, u128)>) -> Option<()> {
    let text = std::str::from_utf8(payload).unwrap();
    assert!(
        !text.starts_with("{\"type\":\"error\""),
        "server error: {text}"
    );
    if !text.starts_with("{\"type\":\"ai_response\"") {
        return Some(());
    }
    if text.contains("\"done\":\"true\"") {
        return None;
    }
    if let Some(content) = vendor::content_of(text) {
        let mut latencies = Vec::new();
        vendor::stamps(content, received, &mut latencies);
        into.extend(latencies.into_iter().map(|l| (received - l, l)));
    }
    Some(())
}

/// Each of `streams` connections sends one message asking for `chunks` chunks, the sends spread
/// evenly over `spread`, and reads the reply to its done frame.
async fn relay(
    server: &Server,
    tag: &str,
    streams: usize,
    chunks: usize,
    spread: Duration,
) -> Relay {
    let mut conns = open_many(server, &format!("relay-{tag}-"), streams, 1).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let rss_before = server.process.rss_kb();
    let samples = Arc::new(Mutex::new(Vec::with_capacity(streams * chunks)));
    let (user_before, system_before) = server.process.cpu_split();
    let load_before = server::own_cpu();
    let started = Instant::now();
    let started_ns = now_ns();
    let tasks: Vec<_> = conns
        .drain(..)
        .enumerate()
        .map(|(i, mut ws)| {
            let samples = Arc::clone(&samples);
            let start = started + spread.mul_f64(i as f64 / streams as f64);
            tokio::spawn(async move {
                tokio::time::sleep_until(start.into()).await;
                let msg = json!({"type": "user_message", "content": format!("stream {chunks}")})
                    .to_string();
                ws.write_frame(Frame::text(Payload::Owned(msg.into_bytes())))
                    .await
                    .unwrap();
                let mut local = Vec::with_capacity(chunks);
                loop {
                    let f = ws.read_frame().await.unwrap();
                    let received = now_ns();
                    assert!(f.opcode != OpCode::Close, "closed by the server");
                    if f.opcode == OpCode::Text
                        && chunk_stamps(&f.payload, received, &mut local).is_none()
                    {
                        break;
                    }
                }
                samples.lock().unwrap().extend(local);
                ws
            })
        })
        .collect();
    let mut open = Vec::with_capacity(streams);
    for t in tasks {
        open.push(t.await.unwrap());
    }
    let wall = started.elapsed();
    let (user_after, system_after) = server.process.cpu_split();
    let system = system_after.saturating_sub(system_before);
    let cpu = user_after.saturating_sub(user_before) + system;
    let load_cpu = server::own_cpu().saturating_sub(load_before);
    let rss_grown_kb = server.process.rss_kb().saturating_sub(rss_before);
    drop(open);
    let pairs = std::mem::take(&mut *samples.lock().unwrap());
    let ended_ns = started_ns + wall.as_nanos();
    let margin = 2_000_000_000u128;
    let mut steady: Vec<u128> = pairs
        .iter()
        .filter(|(sent, _)| *sent > started_ns + margin && *sent + margin < ended_ns)
        .map(|(_, l)| *l)
        .collect();
    steady.sort_unstable();
    let mut samples: Vec<u128> = pairs.into_iter().map(|(_, l)| l).collect();
    samples.sort_unstable();
    Relay {
        samples,
        steady,
        turns: streams,
        cpu,
        system,
        load_cpu,
        wall,
        rss_grown_kb,
    }
}

fn latency_line(label: &str, s: &[u128], wall: Duration) {
    println!(
        "- {label}: {} chunks in {:.1} s, p50 {:.3} ms, p99 {:.3} ms, max {:.3} ms",
        s.len(),
        wall.as_secs_f64(),
        percentile(s, 0.5),
        percentile(s, 0.99),
        percentile(s, 1.0)
    );
}

async fn relay_section(server: &Server, vendor: SocketAddr) {
    let spread = Duration::from_secs(1);
    println!(
        "\n## Relay: added latency (fake vendor write -> client read), same run, sends spread over {} s",
        spread.as_secs()
    );
    let small = relay(server, "100", 100, 40, spread).await;
    let (direct, direct_wall) = vendor::direct(vendor, 100, 40, spread).await;
    added_latency(100, "chatbox-server", &small, &direct, direct_wall);
    let short = relay(server, "short", 1000, 40, spread).await;
    let long = relay(server, "long", 1000, 400, spread).await;
    let (direct, direct_wall) = vendor::direct(vendor, 1000, 400, spread).await;
    added_latency(1000, "chatbox-server", &long, &direct, direct_wall);
    // The floor of the stack: the same load through a relay that does nothing but relay.
    let (process, addr) = server::spawn_self(bare_relay::RELAY_ENV, &vendor.to_string());
    let bare = Server {
        process,
        addr,
        data: None,
    };
    let bare_short = relay(&bare, "bare-short", 1000, 40, spread).await;
    let bare_long = relay(&bare, "bare-long", 1000, 400, spread).await;
    drop(bare);
    added_latency(1000, "the bare relay", &bare_long, &direct, direct_wall);

    println!("\n## Relay: server CPU per chunk and per turn (1,000 concurrent streams)");
    for (label, r) in [
        ("chatbox-server, 40-chunk turns", &short),
        ("chatbox-server, 400-chunk turns", &long),
        ("bare relay, 40-chunk turns", &bare_short),
        ("bare relay, 400-chunk turns", &bare_long),
    ] {
        println!(
            "- {label}: {} turns, {} chunks in {:.1} s, server CPU {:.2} s = {:.1} us per chunk gross ({:.0}% of its core; load generator {:.0}% of its core)",
            r.turns,
            r.samples.len(),
            r.wall.as_secs_f64(),
            r.cpu.as_secs_f64(),
            r.cpu.as_secs_f64() * 1e6 / r.samples.len().max(1) as f64,
            100.0 * r.cpu.as_secs_f64() / r.wall.as_secs_f64(),
            100.0 * r.load_cpu.as_secs_f64() / r.wall.as_secs_f64(),
        );
    }
    println!(
        "- server memory held after the replies, sessions still connected: RSS +{:.1} MB after 40-chunk turns, +{:.1} MB after 400-chunk turns ({:.0} bytes per chunk)",
        short.rss_grown_kb as f64 / 1024.0,
        long.rss_grown_kb as f64 / 1024.0,
        long.rss_grown_kb as f64 * 1024.0 / long.samples.len().max(1) as f64
    );
    let ours = CpuPerChunk::of(&short, &long);
    let floor = CpuPerChunk::of(&bare_short, &bare_long);
    for (label, c) in [("chatbox-server", &ours), ("bare relay", &floor)] {
        println!(
            "- {label}: marginal CPU per relayed chunk {:.1} us ({:.1} us user, {:.1} us kernel); per turn (everything but the chunks): {:.2} ms",
            c.chunk * 1e6,
            (c.chunk - c.system).max(0.0) * 1e6,
            c.system * 1e6,
            c.turn * 1e3
        );
    }
    println!(
        "- chatbox-server over the bare relay: {:.2}x the CPU per chunk, +{:.1} us ({:+.1} us user, {:+.1} us kernel)",
        ours.chunk / floor.chunk.max(1e-9),
        (ours.chunk - floor.chunk) * 1e6,
        ((ours.chunk - ours.system) - (floor.chunk - floor.system)) * 1e6,
        (ours.system - floor.system) * 1e6
    );
}

/// Marginal server CPU (seconds) per chunk and per turn, from phases of short and long turns.
struct CpuPerChunk {
    chunk: f64,
    system: f64,
    turn: f64,
}

impl CpuPerChunk {
    fn of(short: &Relay, long: &Relay) -> Self {
        let extra_chunks = long
            .samples
            .len()
            .saturating_sub(short.samples.len())
            .max(1) as f64;
        let chunk = ((long.cpu.as_secs_f64() - short.cpu.as_secs_f64()) / extra_chunks).max(0.0);
        let system =
            ((long.system.as_secs_f64() - short.system.as_secs_f64()) / extra_chunks).max(0.0);
        let turn =
            (short.cpu.as_secs_f64() - chunk * short.samples.len() as f64) / short.turns as f64;
        Self {
            chunk,
            system,
            turn,
        }
    }
}

fn added_latency(
    streams: usize,
    through: &str,
    ours: &Relay,
    direct: &[u128],
    direct_wall: Duration,
) {
    latency_line(
        &format!("{streams} streams through {through}"),
        &ours.samples,
        ours.wall,
    );
    latency_line(
        &format!("{streams} streams read directly from the vendor"),
        direct,
        direct_wall,
    );
    println!(
        "- {streams} streams through {through}, added latency: p50 {:+.3} ms, p99 {:+.3} ms",
        percentile(&ours.samples, 0.5) - percentile(direct, 0.5),
        percentile(&ours.samples, 0.99) - percentile(direct, 0.99)
    );
    if !ours.steady.is_empty() {
        println!(
            "- {streams} streams through {through}, steady state only (chunks written 2 s after the first send and 2 s before the last read: every stream mid-reply): {} chunks, p50 {:.3} ms, p99 {:.3} ms",
            ours.steady.len(),
            percentile(&ours.steady, 0.5),
            percentile(&ours.steady, 0.99)
        );
    }
}

async fn ping_section(server: &Server) {
    println!(
        "\n## Ping -> pong round trips ({PING_CONNECTIONS} connections, {PING_SECONDS} s, one in flight per connection)"
    );
    let ours = open_many(server, "ping", PING_CONNECTIONS, 1).await;
    let cpu_before = server.process.cpu();
    let (ours_rate, pings) = ping::rate(ours, PING_SECONDS).await;
    let cpu = server.process.cpu().saturating_sub(cpu_before);
    let (_echo, echo) = server::spawn_self(ping::ECHO_ENV, "1");
    let token = chatbox_ws::testing::token(SECRET, "echo", &[]);
    let mut bare = Vec::new();
    for i in 0..PING_CONNECTIONS {
        bare.push(connect_from(1 + (i % 4) as u8, echo, "/chatbox/ws", &token).await);
    }
    let (bare_rate, _) = ping::rate(bare, PING_SECONDS).await;
    println!(
        "- chatbox-server (app-level ping frame): {ours_rate:.0} round trips/s, server CPU {:.1} us per ping",
        cpu.as_secs_f64() * 1e6 / pings.max(1) as f64
    );
    println!("- bare fastwebsockets echo server: {bare_rate:.0} round trips/s");
    println!("- ratio: {:.2}x", ours_rate / bare_rate.max(1.0));
}

async fn turns_section() {
    println!("\n## Embedded SQLite store: finished turns (user message + reply), full_sync");
    let dir = std::env::temp_dir().join(format!("chatbox-bench-turns-{}", std::process::id()));
    let (rate, took) = turns::sqlite(dir, 1000, 10).await;
    println!(
        "- 1,000 sessions x 10 turns: {rate:.0} finished turns/s ({:.1} s)",
        took.as_secs_f64()
    );
}

/// The load benchmark's server: the fake vendor as its provider, limits out of the way.
fn server_settings(vendor: SocketAddr) -> [(&'static str, String); 3] {
    [
        ("LLM_PROVIDER_1_ENDPOINT", format!("http://{vendor}/v1")),
        ("RATE_LIMIT", "1000000".into()),
        ("MAX_CONNECTIONS", "19500".into()),
    ]
}

fn main() {
    if std::env::var_os(ping::ECHO_ENV).is_some() {
        return ping::echo_main();
    }
    if let Ok(vendor) = std::env::var(bare_relay::RELAY_ENV) {
        return bare_relay::relay_main(&vendor);
    }
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let pinned = server::pinning();
    if pinned {
        server::pin_self();
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(run(cores, pinned));
}

async fn run(cores: usize, pinned: bool) {
    let sections = std::env::var("BENCH_ONLY").unwrap_or_else(|_| "idle,relay,ping,turns".into());
    let counts: Vec<usize> = std::env::var("BENCH_IDLE")
        .unwrap_or_else(|_| "1000,10000,18000".into())
        .split(',')
        .filter_map(|s| s.trim().parse().ok())
        .collect();
    println!(
        "# chatbox-server load benchmark ({} cores; {})",
        cores,
        if pinned {
            "server on core 1, load generator on core 0"
        } else {
            "not pinned"
        }
    );
    let vendor = vendor::start().await;
    if sections.contains("idle") {
        let server = server::start(true, &server_settings(vendor)).await;
        idle_connections(&server, &counts).await;
    }
    if sections.contains("relay") || sections.contains("ping") {
        // A fresh server for the streaming figures, without the idle sessions above.
        let server = server::start(true, &server_settings(vendor)).await;
        if sections.contains("relay") {
            relay_section(&server, vendor).await;
        }
        if sections.contains("ping") {
            ping_section(&server).await;
        }
    }
    if sections.contains("turns") {
        turns_section().await;
    }
}
