//! Ping→pong round trips through the whole stack against a bare fastwebsockets echo server.
//! Both servers run as their own process on the server core, so neither shares a core with the
//! load client.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::routing::get;
use chatbox_ws::testing::Ws;
use fastwebsockets::{Frame, OpCode, Payload};
use serde_json::json;
use tokio::net::TcpListener;

/// Set in the environment of the bench binary re-run as the echo server (`server::spawn_self`).
pub const ECHO_ENV: &str = "CHATBOX_BENCH_ECHO";

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

/// Round trips per second over `conns`, one ping in flight per connection, for `secs`.
pub async fn rate(conns: Vec<Ws>, secs: u64) -> (f64, u64) {
    let counter = Arc::new(AtomicU64::new(0));
    let until = Instant::now() + Duration::from_secs(secs);
    let payload = json!({"type": "ping"}).to_string().into_bytes();
    let tasks: Vec<_> = conns
        .into_iter()
        .map(|ws| tokio::spawn(ping_loop(ws, payload.clone(), until, Arc::clone(&counter))))
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    let n = counter.load(Ordering::Relaxed);
    (n as f64 / secs as f64, n)
}

/// The echo server's main: text frames back as they came, one task per connection, with
/// TCP_NODELAY like our server. Prints its address, then serves until killed.
pub fn echo_main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async move {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        println!("{}", listener.local_addr().unwrap());
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
}
