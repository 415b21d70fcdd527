//! The fake vendor (an OpenAI-compatible endpoint whose every chunk carries the wall-clock time
//! at which it was written) and the direct baseline: the same vendor read by the load client
//! itself, without our server in between.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::response::Response;
use axum::routing::{get, post};
use futures::StreamExt;
use serde_json::{Value, json};
use tokio::net::TcpListener;

use crate::{CHUNK_INTERVAL, now_ns};

/// How many chunks a request asks for: the last message's text is `stream N`.
fn chunks_asked(body: &Value) -> usize {
    body["messages"]
        .as_array()
        .and_then(|m| m.last())
        .and_then(|m| m["content"].as_str())
        .and_then(|c| c.strip_prefix("stream "))
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or(40)
}

async fn completions(body: Bytes) -> Response {
    let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let chunks = chunks_asked(&body);
    let events = futures::stream::iter(0..=chunks + 1).then(move |i| async move {
        let line = if i == 0 {
            "data: {\"choices\":[{\"delta\":{\"role\":\"assistant\",\"content\":\"\"}}]}\n\n"
                .to_owned()
        } else if i <= chunks {
            tokio::time::sleep(CHUNK_INTERVAL).await;
            format!(
                "data: {{\"choices\":[{{\"delta\":{{\"content\":\"{};\"}}}}]}}\n\n",
                now_ns()
            )
        } else {
            let usage =
                json!({"choices": [], "usage": {"prompt_tokens": 5, "completion_tokens": chunks}});
            format!("data: {usage}\n\ndata: [DONE]\n\n")
        };
        Ok::<_, std::convert::Infallible>(line)
    });
    Response::builder()
        .header("content-type", "text/event-stream")
        .body(Body::from_stream(events))
        .unwrap()
}

/// Starts the fake vendor on this process's runtime.
pub async fn start() -> SocketAddr {
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

/// The text of the first `"content":"…"` in a JSON document, found without parsing it (the
/// stamps contain no escapes): the load client shares a core with the fake vendor, so reading
/// stays cheap on both paths, through our server and direct.
pub fn content_of(json: &str) -> Option<&str> {
    let rest = json.split_once("\"content\":\"")?.1;
    Some(rest.split_once('"')?.0)
}

/// The stamps in a chunk's text (`<ns>;<ns>;…`: several when chunks were coalesced).
pub fn stamps(text: &str, received: u128, into: &mut Vec<u128>) {
    for stamp in text.split(';').filter(|s| !s.is_empty()) {
        if let Ok(sent) = stamp.parse::<u128>() {
            into.push(received.saturating_sub(sent));
        }
    }
}

/// The direct baseline: `streams` concurrent requests of `chunks` chunks read straight from the
/// vendor; returns the vendor-write → client-read latencies (ns) and the wall time.
pub async fn direct(
    vendor: SocketAddr,
    streams: usize,
    chunks: usize,
    spread: Duration,
) -> (Vec<u128>, Duration) {
    let client = reqwest::Client::builder()
        .tcp_nodelay(true)
        .pool_max_idle_per_host(streams)
        .build()
        .unwrap();
    let samples = Arc::new(Mutex::new(Vec::with_capacity(streams * chunks)));
    let started = Instant::now();
    let tasks: Vec<_> = (0..streams)
        .map(|i| {
            let client = client.clone();
            let samples = Arc::clone(&samples);
            let start = started + spread.mul_f64(i as f64 / streams as f64);
            tokio::spawn(async move {
                tokio::time::sleep_until(start.into()).await;
                let body = json!({"model": "bench", "stream": true,
                    "messages": [{"role": "user", "content": format!("stream {chunks}")}]});
                let resp = client
                    .post(format!("http://{vendor}/v1/chat/completions"))
                    .json(&body)
                    .send()
                    .await
                    .unwrap();
                let mut body = resp.bytes_stream();
                let mut buf = Vec::new();
                let mut local = Vec::with_capacity(chunks);
                while let Some(bytes) = body.next().await {
                    let received = now_ns();
                    buf.extend_from_slice(&bytes.unwrap());
                    while let Some(end) = buf.windows(2).position(|w| w == b"\n\n") {
                        let event: Vec<u8> = buf.drain(..end + 2).collect();
                        let Some(data) = event.strip_prefix(b"data: ") else {
                            continue;
                        };
                        let data = std::str::from_utf8(data).unwrap_or("");
                        if let Some(text) = content_of(data) {
                            stamps(text, received, &mut local);
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
    let mut s = std::mem::take(&mut *samples.lock().unwrap());
    s.sort_unstable();
    (s, elapsed)
}
