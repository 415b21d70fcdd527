//! The relay floor: the least a server can do to relay the fake vendor's stream to a WebSocket on
//! our stack (tokio, hyper through reqwest, fastwebsockets, TCP_NODELAY), run as its own process
//! on the server core under the same load as our server. It checks no token, keeps no session,
//! replay, store or metrics, and takes a chunk's text out of the vendor's JSON without parsing
//! it: one task per connection that reads the question, streams the reply and writes one frame
//! per chunk. What it costs per chunk is what the stack and the kernel cost, so the distance
//! between it and our server is what our code costs.

use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::routing::get;
use fastwebsockets::{Frame, OpCode, Payload, WebSocket};
use futures::StreamExt;
use serde_json::json;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;

use crate::vendor::content_of;

/// Set (to the fake vendor's address) in the environment of the bench binary re-run as the bare
/// relay (`server::spawn_self`).
pub const RELAY_ENV: &str = "CHATBOX_BENCH_BARE_RELAY";

const CONNECTED: &[u8] = br#"{"type":"connection_status","status":"connected"}"#;
const DONE: &[u8] = br#"{"type":"ai_response","content":"","done":"true"}"#;

/// The bare relay's main: prints its address, then serves until killed.
pub fn relay_main(vendor: &str) {
    let url = format!("http://{vendor}/v1/chat/completions");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async move {
        let client = reqwest::Client::builder()
            .tcp_nodelay(true)
            .pool_max_idle_per_host(usize::MAX)
            .build()
            .unwrap();
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        println!("{}", listener.local_addr().unwrap());
        let app = Router::new().route(
            "/chatbox/ws",
            get(move |mut req: axum::extract::Request| {
                let (client, url) = (client.clone(), url.clone());
                async move {
                    let (resp, fut) = fastwebsockets::upgrade::upgrade(&mut req).unwrap();
                    tokio::spawn(async move {
                        if let Ok(ws) = fut.await {
                            serve(ws, &client, &url).await;
                        }
                    });
                    resp.map(|_| Body::empty())
                }
            }),
        );
        axum::serve(chatbox_server::listener::nodelay(listener), app)
            .await
            .unwrap();
    });
}

/// One connection: every text frame is a question whose reply is relayed chunk by chunk.
async fn serve<S: AsyncRead + AsyncWrite + Unpin>(
    mut ws: WebSocket<S>,
    client: &reqwest::Client,
    url: &str,
) {
    if ws
        .write_frame(Frame::text(Payload::Borrowed(CONNECTED)))
        .await
        .is_err()
    {
        return;
    }
    while let Ok(f) = ws.read_frame().await {
        match f.opcode {
            OpCode::Close => break,
            OpCode::Text => {
                let question = std::str::from_utf8(&f.payload)
                    .ok()
                    .and_then(content_of)
                    .unwrap_or("")
                    .to_owned();
                if relay(&mut ws, client, url, &question).await.is_none() {
                    break;
                }
            }
            _ => {}
        }
    }
}

/// Streams one reply; `None` when the client or the vendor failed.
async fn relay<S: AsyncRead + AsyncWrite + Unpin>(
    ws: &mut WebSocket<S>,
    client: &reqwest::Client,
    url: &str,
    question: &str,
) -> Option<()> {
    let body = json!({"model": "bench", "stream": true,
        "messages": [{"role": "user", "content": question}]});
    let resp = tokio::time::timeout(Duration::from_secs(30), client.post(url).json(&body).send())
        .await
        .ok()?
        .ok()?;
    let mut body = resp.bytes_stream();
    let mut pending = Vec::new();
    let mut frame = Vec::new();
    while let Some(bytes) = body.next().await {
        pending.extend_from_slice(&bytes.ok()?);
        let mut start = 0;
        while let Some(end) = pending[start..].windows(2).position(|w| w == b"\n\n") {
            let event = &pending[start..start + end];
            start += end + 2;
            let text = event
                .strip_prefix(b"data: ")
                .and_then(|d| std::str::from_utf8(d).ok())
                .and_then(content_of)
                .unwrap_or("");
            if text.is_empty() {
                continue;
            }
            frame.clear();
            frame.extend_from_slice(br#"{"type":"ai_response","content":""#);
            frame.extend_from_slice(text.as_bytes());
            frame.extend_from_slice(br#"","done":"false"}"#);
            ws.write_frame(Frame::text(Payload::Borrowed(&frame)))
                .await
                .ok()?;
        }
        pending.drain(..start);
    }
    ws.write_frame(Frame::text(Payload::Borrowed(DONE)))
        .await
        .ok()
}
