//! Clients that cannot keep up, over real sockets: one that never reads is dropped by the write
//! deadline and gives its slot back; one that missed a long reply gets it all in one resume; a
//! burst reaches every device whole and in order.

use std::time::Duration;

use chatbox_core::ports::llm::{Chunk, Usage};
use chatbox_core::testing::Script;
use chatbox_ws::EdgeConfig;
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpSocket;

use crate::client::*;

/// A masked client ping frame with a 125-byte payload (mask key 0, so the payload is as sent).
fn ping_frame() -> Vec<u8> {
    let mut f = vec![0x89, 0x80 | 125, 0, 0, 0, 0];
    f.extend_from_slice(&[b'p'; 125]);
    f
}

#[tokio::test]
async fn a_client_that_never_reads_is_dropped_and_its_slot_is_reused() {
    let s = serve(EdgeConfig {
        write_timeout_secs: 1,
        max_connections_per_user: 1,
        ..Default::default()
    })
    .await;
    let t = token("sink", &[]);
    let socket = TcpSocket::new_v4().unwrap();
    // A tiny receive buffer so the server's writes back up quickly.
    socket.set_recv_buffer_size(4096).unwrap();
    let mut raw = socket.connect(s.addr).await.unwrap();
    let request = format!(
        "GET /chatbox/ws HTTP/1.1\r\nHost: {}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\
         Authorization: Bearer {t}\r\n\r\n",
        s.addr
    );
    raw.write_all(request.as_bytes()).await.unwrap();
    let mut head = [0u8; 12];
    raw.read_exact(&mut head).await.unwrap();
    assert_eq!(&head[9..12], b"101");
    assert_eq!(
        upgrade(&s, "/ws", &[("Authorization", &format!("Bearer {t}"))]).await,
        429,
        "the sink holds the user's only slot"
    );

    // Flood pings and never read: every ping asks for a pong the client will not take. The
    // server must give up on the socket; the client sees that as a failed write.
    let burst: Vec<u8> = std::iter::repeat_n(ping_frame(), 512).flatten().collect();
    let flood = async {
        loop {
            if raw.write_all(&burst).await.is_err() {
                return;
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(60), flood)
        .await
        .expect("the server drops a client that never reads");

    let mut again = ws(&s, "/ws", &t).await;
    assert_eq!(
        json(&mut again).await["type"],
        "connection_status",
        "the slot was given back"
    );
}

/// A phone and a laptop on one new session (its id returned), the phone asking `question`.
async fn two_devices_asking(s: &Server, t: &str, question: &str) -> (Ws, Ws, String) {
    let mut phone = ws(s, "/ws", t).await;
    let status = json(&mut phone).await;
    let sid = status["session_id"].as_str().unwrap().to_owned();
    let mut laptop = ws(s, &format!("/ws?session_id={sid}"), t).await;
    json(&mut laptop).await;
    send(
        &mut phone,
        json!({"type": "user_message", "content": question}),
    )
    .await;
    (phone, laptop, sid)
}

#[tokio::test]
async fn a_long_reply_missed_by_a_device_resumes_in_one_reconnect() {
    let s = serve(EdgeConfig::default()).await;
    let (tx, script) = Script::channel();
    s.llm.push(script);
    let t = token("u1", &[]);
    let (mut phone, mut laptop, sid) = two_devices_asking(&s, &t, "everything").await;
    tx.unbounded_send(Ok(Chunk::Text("c0 ".into()))).unwrap();
    let mut last_seq = 0;
    loop {
        let f = json(&mut phone).await;
        last_seq = f["seq"].as_u64().unwrap_or(last_seq);
        if f["type"] == "ai_response" {
            break;
        }
    }
    drop(phone);
    // Paced by the laptop, which keeps up (a burst faster than any reader would close it with
    // 1013, which is the live path's rule, not what this test is about).
    let mut live = Vec::new();
    for i in 1..600 {
        tx.unbounded_send(Ok(Chunk::Text(format!("c{i} "))))
            .unwrap();
        loop {
            let f = json(&mut laptop).await;
            let chunk = f["content"] == format!("c{i} ");
            live.push(f);
            if chunk {
                break;
            }
        }
    }
    let usage = Usage {
        input_tokens: 1,
        output_tokens: 600,
        estimated: false,
    };
    tx.unbounded_send(Ok(Chunk::Finished(usage))).unwrap();
    let expected: String = (0..600).map(|i| format!("c{i} ")).collect();
    live.extend(until_done(&mut laptop).await);
    assert_eq!(reply_text(&live), expected);

    let mut phone = ws(&s, &format!("/ws?session_id={sid}&last_seq={last_seq}"), &t).await;
    let status = json(&mut phone).await;
    assert_eq!(status["metadata"]["recovered"], "true");
    let rest = until_done(&mut phone).await;
    assert_eq!(
        format!("c0 {}", reply_text(&rest)),
        expected,
        "each chunk once"
    );
    let seqs: Vec<u64> = rest.iter().filter_map(|f| f["seq"].as_u64()).collect();
    assert_eq!(seqs.len(), 600);
    assert_eq!(seqs[0], last_seq + 1);
    assert!(seqs.windows(2).all(|p| p[1] == p[0] + 1), "in order");
    let missed = |frames: &[serde_json::Value]| -> Vec<serde_json::Value> {
        let after = |f: &&serde_json::Value| f["seq"].as_u64().is_some_and(|n| n > last_seq);
        frames.iter().filter(after).cloned().collect()
    };
    assert_eq!(
        missed(&rest),
        missed(&live),
        "the replay is what the laptop got live, timestamps included"
    );
    send(&mut phone, json!({"type": "ping"})).await;
    assert_eq!(
        json(&mut phone).await["type"],
        "pong",
        "still open: no 1013"
    );
}

/// Chunks pushed faster than the clients read them, gathered by each connection's writer into
/// bursts: every device still gets each one once, in order.
#[tokio::test]
async fn a_burst_of_chunks_reaches_every_device_once_and_in_order() {
    let s = serve(EdgeConfig::default()).await;
    let (tx, script) = Script::channel();
    s.llm.push(script);
    let t = token("u1", &[]);
    let (mut phone, mut laptop, _) = two_devices_asking(&s, &t, "a burst").await;
    let expected: String = (0..200).map(|i| format!("c{i} ")).collect();
    for i in 0..200 {
        tx.unbounded_send(Ok(Chunk::Text(format!("c{i} "))))
            .unwrap();
    }
    let usage = Usage {
        input_tokens: 1,
        output_tokens: 200,
        estimated: false,
    };
    tx.unbounded_send(Ok(Chunk::Finished(usage))).unwrap();
    // The laptop reads only after the phone has read everything.
    for device in [&mut phone, &mut laptop] {
        let frames = until_done(device).await;
        assert_eq!(reply_text(&frames), expected);
        let seqs: Vec<u64> = frames.iter().filter_map(|f| f["seq"].as_u64()).collect();
        assert!(
            seqs.windows(2).all(|p| p[1] == p[0] + 1),
            "consecutive seqs: {seqs:?}"
        );
    }
}
