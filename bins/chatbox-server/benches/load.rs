//! Whole-server load benchmark: the real server binary (release) against a timestamping fake
//! OpenAI-compatible vendor and a load client, on loopback.
//!
//! - idle connections: server RSS per open WebSocket at several counts (each its own user and
//!   session), connected from several loopback source addresses;
//! - relay overhead: time from the fake vendor writing a chunk to the client reading it, p50/p99,
//!   at 100 and 1,000 concurrent streams;
//! - ping→pong round trips per second through the whole stack, against a bare fastwebsockets echo
//!   server in the same run.
//!
//! Run with `cargo xtask bench` (or `cargo bench -p chatbox-server --bench load`). It prints a
//! report; it asserts nothing about time. `BENCH_IDLE=10000,18000` sets the idle counts.

#![allow(clippy::print_stdout, clippy::unwrap_used, missing_docs)]

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::body::Body;
use axum::response::Response;
use axum::routing::{get, post};
use chatbox_ws::testing::Ws;
use fastwebsockets::{Frame, OpCode, Payload};
use futures::StreamExt;
use serde_json::{Value, json};
use tokio::net::TcpListener;

const SECRET: &str = "k7Qx9vLm2PzR8tWb4NcY6hJd3FgS5aEu1ZoPq";
const CHUNKS_PER_REPLY: usize = 40;
const CHUNK_INTERVAL: Duration = Duration::from_millis(25);
const PING_SECONDS: u64 = 5;
const PING_CONNECTIONS: usize = 32;

fn now_ns() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0)
}

/// The fake vendor: each chat request streams chunks whose text is the wall-clock time at write.
async fn fake_vendor() -> SocketAddr {
    async fn completions() -> Response {
        let events = futures::stream::iter(0..=CHUNKS_PER_REPLY + 1).then(|i| async move {
            let line = if i == 0 {
                "data: {\"choices\":[{\"delta\":{\"role\":\"assistant\",\"content\":\"\"}}]}\n\n".to_owned()
            } else if i <= CHUNKS_PER_REPLY {
                tokio::time::sleep(CHUNK_INTERVAL).await;
                let chunk = json!({"choices": [{"delta": {"content": format!("{};", now_ns())}}]});
                format!("data: {chunk}\n\n")
            } else {
                let usage = json!({"choices": [], "usage": {"prompt_tokens": 5, "completion_tokens": CHUNKS_PER_REPLY}});
                format!("data: {usage}\n\ndata: [DONE]\n\n")
            };
            Ok::<_, std::convert::Infallible>(line)
        });
        Response::builder()
            .header("content-type", "text/event-stream")
            .body(Body::from_stream(events))
            .unwrap()
    }
    let app = Router::new()
        .route("/v1/chat/completions", post(completions))
        .route(
            "/v1/models",
            get(|| async { axum::Json(json!({"data": []})) }),
        );
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    // Like the server under test, the baseline parts set TCP_NODELAY, so only our code differs.
    tokio::spawn(
        async move { axum::serve(chatbox_server::listener::nodelay(listener), app).await },
    );
    addr
}

struct Server {
    child: Child,
    addr: SocketAddr,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Server {
    fn rss_kb(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .unwrap_or_default();
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    }
}

async fn start_server(vendor: SocketAddr) -> Server {
    // A port picked by the OS can collide with a client socket's source port after thousands of
    // connections; try a few.
    for _ in 0..5 {
        if let Some(server) = try_start_server(vendor).await {
            return server;
        }
    }
    panic!("server did not start");
}

async fn try_start_server(vendor: SocketAddr) -> Option<Server> {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let data = format!("/dev/shm/chatbox-bench-{}-{port}", std::process::id());
    let _ = std::fs::remove_dir_all(&data);
    let child = Command::new(env!("CARGO_BIN_EXE_chatbox-server"))
        .env_clear()
        .envs([
            ("JWT_SECRET", SECRET.to_owned()),
            ("SERVER_PORT", port.to_string()),
            ("CHATBOX_DATA_DIR", data),
            ("RATE_LIMIT", "1000000".into()),
            ("RUST_LOG", "error".into()),
            ("LLM_PROVIDER_1_ID", "fake".into()),
            ("LLM_PROVIDER_1_TYPE", "openai".into()),
            ("LLM_PROVIDER_1_ENDPOINT", format!("http://{vendor}/v1")),
            ("LLM_PROVIDER_1_API_KEY", "sk-bench".into()),
            ("LLM_PROVIDER_1_MODEL", "bench".into()),
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let mut server = Server { child, addr };
    for _ in 0..600 {
        if let Ok((200, _)) = chatbox_ws::testing::http(addr, "GET", "/chatbox/healthz", &[]).await
        {
            return Some(server);
        }
        if let Ok(Some(_)) = server.child.try_wait() {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    None
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
    println!("\n## Idle connections (server RSS)");
    let warm = open_many(server, "warm", 200, 1).await;
    drop(warm);
    tokio::time::sleep(Duration::from_secs(1)).await;
    for &n in counts {
        for per_user in [1, 10] {
            let before = server.rss_kb();
            let started = Instant::now();
            let conns = open_many(server, &format!("idle{n}x{per_user}-"), n, per_user).await;
            let took = started.elapsed();
            tokio::time::sleep(Duration::from_secs(2)).await;
            let after = server.rss_kb();
            let per = after.saturating_sub(before) as f64 / n as f64;
            println!(
                "- {n} connections, {per_user} per user ({} sessions): RSS {before} kB -> {after} kB, {per:.1} KB per connection ({:.0} connects/s)",
                n / per_user,
                n as f64 / took.as_secs_f64()
            );
            drop(conns);
            tokio::time::sleep(Duration::from_secs(3)).await;
        }
    }
}

fn percentile(sorted: &[u128], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let idx = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[idx] as f64 / 1e6
}

async fn relay(server: &Server, streams: usize) {
    let mut conns = open_many(server, &format!("relay{streams}-"), streams, 1).await;
    let samples = Arc::new(std::sync::Mutex::new(Vec::with_capacity(
        streams * CHUNKS_PER_REPLY,
    )));
    let started = Instant::now();
    let tasks: Vec<_> = conns
        .drain(..)
        .map(|mut ws| {
            let samples = Arc::clone(&samples);
            tokio::spawn(async move {
                let msg = json!({"type": "user_message", "content": "stream please"}).to_string();
                ws.write_frame(Frame::text(Payload::Owned(msg.into_bytes())))
                    .await
                    .unwrap();
                let mut local = Vec::with_capacity(CHUNKS_PER_REPLY);
                loop {
                    let f = next_text(&mut ws).await;
                    let received = now_ns();
                    if f["type"] == "error" {
                        panic!("server error: {f}");
                    }
                    if f["type"] != "ai_response" {
                        continue;
                    }
                    if f["metadata"]["done"] == "true" {
                        break;
                    }
                    for stamp in f["content"]
                        .as_str()
                        .unwrap_or("")
                        .split(';')
                        .filter(|s| !s.is_empty())
                    {
                        if let Ok(sent) = stamp.parse::<u128>() {
                            local.push(received.saturating_sub(sent));
                        }
                    }
                }
                samples.lock().unwrap().extend(local);
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    let elapsed = started.elapsed();
    let mut s = samples.lock().unwrap().clone();
    s.sort_unstable();
    println!(
        "- {streams} concurrent streams: {} chunks in {:.1} s, vendor-write -> client-read p50 {:.3} ms, p99 {:.3} ms, max {:.3} ms",
        s.len(),
        elapsed.as_secs_f64(),
        percentile(&s, 0.5),
        percentile(&s, 0.99),
        percentile(&s, 1.0)
    );
}

async fn ping_loop(mut ws: Ws, payload: Vec<u8>, until: Instant, counter: Arc<AtomicU64>) {
    while Instant::now() < until {
        ws.write_frame(Frame::text(Payload::Borrowed(&payload)))
            .await
            .unwrap();
        loop {
            let f = ws.read_frame().await.unwrap();
            if f.opcode == OpCode::Text {
                break;
            }
        }
        counter.fetch_add(1, Ordering::Relaxed);
    }
}

async fn ping_rate(conns: Vec<Ws>) -> f64 {
    let counter = Arc::new(AtomicU64::new(0));
    let until = Instant::now() + Duration::from_secs(PING_SECONDS);
    let payload = json!({"type": "ping"}).to_string().into_bytes();
    let tasks: Vec<_> = conns
        .into_iter()
        .map(|ws| tokio::spawn(ping_loop(ws, payload.clone(), until, Arc::clone(&counter))))
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    counter.load(Ordering::Relaxed) as f64 / PING_SECONDS as f64
}

/// A bare fastwebsockets echo server (text frames back as they came), on its own thread.
fn echo_server() -> SocketAddr {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let listener = TcpListener::from_std(listener).unwrap();
            let app = Router::new().route(
                "/chatbox/ws",
                get(|mut req: axum::extract::Request| async move {
                    let (resp, fut) = fastwebsockets::upgrade::upgrade(&mut req).unwrap();
                    tokio::spawn(async move {
                        let mut ws = fut.await.unwrap();
                        while let Ok(f) = ws.read_frame().await {
                            if f.opcode == OpCode::Close {
                                break;
                            }
                            if f.opcode == OpCode::Text && ws.write_frame(f).await.is_err() {
                                break;
                            }
                        }
                    });
                    resp.map(|_| Body::empty())
                }),
            );
            axum::serve(chatbox_server::listener::nodelay(listener), app)
                .await
                .unwrap();
        });
    });
    addr
}

#[tokio::main]
async fn main() {
    let counts: Vec<usize> = std::env::var("BENCH_IDLE")
        .unwrap_or_else(|_| "10000,18000".into())
        .split(',')
        .filter_map(|s| s.trim().parse().ok())
        .collect();
    let vendor = fake_vendor().await;
    let server = start_server(vendor).await;
    println!(
        "# chatbox-server load benchmark ({} cores)",
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1)
    );
    idle_connections(&server, &counts).await;
    drop(server);
    // A fresh server for the streaming figures, without the idle sessions above.
    let server = start_server(vendor).await;

    println!("\n## Relay overhead (fake vendor write -> client read)");
    for streams in [100, 1000] {
        relay(&server, streams).await;
    }

    println!(
        "\n## Ping -> pong round trips ({PING_CONNECTIONS} connections, {PING_SECONDS} s, sequential per connection)"
    );
    let ours = open_many(&server, "ping", PING_CONNECTIONS, 1).await;
    let ours_rate = ping_rate(ours).await;
    let echo = echo_server();
    let token = chatbox_ws::testing::token(SECRET, "echo", &[]);
    let mut bare = Vec::new();
    for i in 0..PING_CONNECTIONS {
        bare.push(connect_from(1 + (i % 4) as u8, echo, "/chatbox/ws", &token).await);
    }
    let bare_rate = ping_rate(bare).await;
    println!(
        "- chatbox-server (app-level ping frame through the engine): {ours_rate:.0} round trips/s"
    );
    println!("- bare fastwebsockets echo server: {bare_rate:.0} round trips/s");
    println!("- ratio: {:.2}x", ours_rate / bare_rate.max(1.0));
}
