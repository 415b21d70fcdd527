//! The WebSocket endpoint end to end.

use axum::Router;
use chatbox_core::ports::llm::{Chunk, LlmError, Usage};
use chatbox_core::testing::Script;
use chatbox_ws::EdgeConfig;
use fastwebsockets::{Frame, Payload};
use serde_json::json;

use crate::client::*;

#[tokio::test]
async fn connect_chat_and_read_the_session_over_rest() {
    let s = serve(EdgeConfig::default()).await;
    s.llm.push(Script::reply(["Open ", "Settings"]));
    let t = token("u1", &[]);
    let mut c = ws(&s, "/ws", &t).await;
    let status = json(&mut c).await;
    assert_eq!(status["type"], "connection_status");
    assert_eq!(status["user_id"], "u1");
    assert_eq!(status["models"], json!([{"id": "gpt", "name": "GPT"}]));
    assert!(status["seq"].is_u64());
    let sid = status["session_id"].as_str().unwrap().to_owned();
    send(
        &mut c,
        json!({"type": "user_message", "session_id": sid, "content": "How do I reset?"}),
    )
    .await;
    let frames = until_done(&mut c).await;
    let kinds: Vec<&str> = frames.iter().map(|f| f["type"].as_str().unwrap()).collect();
    assert_eq!(
        kinds,
        [
            "user_message",
            "loading",
            "ai_response",
            "ai_response",
            "ai_response"
        ]
    );
    assert_eq!(reply_text(&frames), "Open Settings");
    let (code, body) = api(&s, "GET", &format!("/sessions/{sid}"), &t).await;
    assert_eq!(code, 200);
    let msgs = body["messages"].as_array().unwrap();
    assert_eq!(msgs.len(), 2);
    assert_eq!(msgs[1]["content"], "Open Settings");
    assert!(body["total_tokens"].as_u64().unwrap() > 0);
    assert_eq!(body["name"], "How do I reset?");
}

#[tokio::test]
async fn history_reaches_the_provider_over_the_socket() {
    let s = serve(EdgeConfig::default()).await;
    let t = token("u1", &[]);
    let mut c = ws(&s, "/ws", &t).await;
    json(&mut c).await;
    send(&mut c, json!({"type": "user_message", "content": "one"})).await;
    until_done(&mut c).await;
    send(&mut c, json!({"type": "user_message", "content": "two"})).await;
    until_done(&mut c).await;
    let req = &s.llm.requests()[1];
    let texts: Vec<&str> = req.messages.iter().map(|m| m.content.as_str()).collect();
    assert_eq!(texts, ["one", "echo: one", "two"]);
}

#[tokio::test]
async fn two_devices_receive_identical_streams() {
    let s = serve(EdgeConfig::default()).await;
    s.llm.push(Script::reply(["a", "b", "c"]));
    let t = token("u1", &[]);
    let mut phone = ws(&s, "/ws", &t).await;
    let mut laptop = ws(&s, "/ws", &t).await;
    json(&mut phone).await;
    json(&mut laptop).await;
    send(&mut phone, json!({"type": "user_message", "content": "hi"})).await;
    assert_eq!(until_done(&mut phone).await, until_done(&mut laptop).await);
}

#[tokio::test]
async fn dropping_mid_reply_and_resuming_loses_and_duplicates_nothing() {
    let s = serve(EdgeConfig::default()).await;
    let (tx, script) = Script::channel();
    s.llm.push(script);
    let t = token("u1", &[]);
    let mut c = ws(&s, "/ws", &t).await;
    let sid = json(&mut c).await["session_id"]
        .as_str()
        .unwrap()
        .to_owned();
    send(
        &mut c,
        json!({"type": "user_message", "content": "long answer please"}),
    )
    .await;
    tx.unbounded_send(Ok(Chunk::Text("one ".into()))).unwrap();
    let mut seen = Vec::new();
    loop {
        let f = json(&mut c).await;
        let is_chunk = f["type"] == "ai_response";
        seen.push(f);
        if is_chunk {
            break;
        }
    }
    let last_seq = seen.last().unwrap()["seq"].as_u64().unwrap();
    drop(c);
    tx.unbounded_send(Ok(Chunk::Text("two ".into()))).unwrap();
    tx.unbounded_send(Ok(Chunk::Text("three".into()))).unwrap();
    let mut again = ws(&s, &format!("/ws?session_id={sid}&last_seq={last_seq}"), &t).await;
    let status = json(&mut again).await;
    assert_eq!(status["session_id"], sid);
    assert_eq!(status["metadata"]["recovered"], "true");
    tx.unbounded_send(Ok(Chunk::Finished(Usage {
        input_tokens: 5,
        output_tokens: 3,
        estimated: false,
    })))
    .unwrap();
    let rest = until_done(&mut again).await;
    assert_eq!(
        format!("{}{}", reply_text(&seen), reply_text(&rest)),
        "one two three"
    );
    assert_eq!(rest[0]["seq"].as_u64().unwrap(), last_seq + 1);

    // Reconnecting after the reply finished: the reply is in the history.
    let (_, body) = api(&s, "GET", &format!("/sessions/{sid}"), &t).await;
    assert_eq!(body["messages"][1]["content"], "one two three");
}

#[tokio::test]
async fn another_users_session_is_never_revealed_and_errors_reach_only_the_sender() {
    let s = serve(EdgeConfig::default()).await;
    let owner_t = token("owner", &[]);
    let mut owner = ws(&s, "/ws", &owner_t).await;
    let sid = json(&mut owner).await["session_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut intruder = ws(
        &s,
        &format!("/ws?session_id={sid}"),
        &token("intruder", &[]),
    )
    .await;
    let status = json(&mut intruder).await;
    assert_ne!(
        status["session_id"], sid,
        "a fresh session, not the owner's"
    );
    send(
        &mut intruder,
        json!({"type": "user_message", "session_id": sid, "content": "let me in"}),
    )
    .await;
    // Naming the owner's session moves the intruder to a fresh session of their own: the same
    // answer an unknown id gets, so nothing tells whether the session exists.
    let moved = json(&mut intruder).await;
    assert_eq!(moved["type"], "connection_status");
    assert_ne!(moved["session_id"], sid);
    assert_eq!(moved["user_id"], "intruder");
    let frames = until_done(&mut intruder).await;
    assert!(frames.iter().all(|f| f["session_id"] != sid));
    let (_, body) = api(&s, "GET", &format!("/sessions/{sid}"), &owner_t).await;
    assert_eq!(
        body["messages"],
        json!([]),
        "nothing reached the owner's session"
    );
    let (code, _) = api(
        &s,
        "GET",
        &format!("/sessions/{sid}"),
        &token("intruder", &[]),
    )
    .await;
    assert_eq!(code, 404);
    // The owner saw nothing of it: their next frame answers their own ping.
    send(&mut owner, json!({"type": "ping"})).await;
    assert_eq!(json(&mut owner).await["type"], "pong");
}

#[tokio::test]
async fn a_bad_frame_gets_an_error_and_the_connection_stays_open() {
    let s = serve(EdgeConfig::default()).await;
    let mut c = ws(&s, "/ws", &token("u1", &[])).await;
    json(&mut c).await;
    c.write_frame(Frame::text(Payload::Borrowed(b"{not json")))
        .await
        .unwrap();
    assert_eq!(json(&mut c).await["error"]["code"], "INVALID_FORMAT");
    send(&mut c, json!({"type": "teleport"})).await;
    assert_eq!(json(&mut c).await["error"]["code"], "UNKNOWN_TYPE");
    send(&mut c, json!({"type": "user_message"})).await;
    assert_eq!(json(&mut c).await["error"]["code"], "MISSING_FIELD");
    send(&mut c, json!({"type": "ping"})).await;
    assert_eq!(json(&mut c).await["type"], "pong", "still open");
}

#[tokio::test]
async fn oversized_and_binary_frames_close_with_1009_and_1003() {
    let s = serve(EdgeConfig {
        max_message_size: 1024,
        ..Default::default()
    })
    .await;
    let t = token("u1", &[]);
    let mut c = ws(&s, "/ws", &t).await;
    json(&mut c).await;
    let big = json!({"type": "user_message", "content": "x".repeat(2000)}).to_string();
    c.write_frame(Frame::text(Payload::Owned(big.into_bytes())))
        .await
        .unwrap();
    assert_eq!(closed(&mut c).await, 1009);
    let mut b = ws(&s, "/ws", &t).await;
    json(&mut b).await;
    b.write_frame(Frame::binary(Payload::Borrowed(b"\x00\x01")))
        .await
        .unwrap();
    assert_eq!(closed(&mut b).await, 1003);
}

#[tokio::test]
async fn the_eleventh_connection_is_refused_and_failed_upgrades_leak_no_slot() {
    let s = serve(EdgeConfig {
        allowed_origins: vec!["https://app.example".into()],
        ..Default::default()
    })
    .await;
    let t = token("u1", &[]);
    let auth = format!("Bearer {t}");
    let good = [
        ("Authorization", auth.as_str()),
        ("Origin", "https://app.example"),
    ];
    // Failed upgrades after the token check: wrong origin (403) and not an upgrade (400).
    for _ in 0..12 {
        let evil = [
            ("Authorization", auth.as_str()),
            ("Origin", "https://evil.example"),
        ];
        assert_eq!(upgrade(&s, "/ws", &evil).await, 403);
        assert_eq!(http(&s, "GET", "/ws", &good).await.0, 400);
    }
    let mut open = Vec::new();
    for _ in 0..10 {
        open.push(ws_with_origin(&s, &t).await);
    }
    assert_eq!(upgrade(&s, "/ws", &good).await, 429, "the 11th connection");
    // Close one properly: the server answers and then drops the socket, and it gives the slot
    // back before the socket goes, so the client's end of stream means the slot is free.
    let mut last = open.pop().unwrap();
    {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        last.write_all(&[0x88, 0x80, 0, 0, 0, 0]).await.unwrap();
        let mut rest = Vec::new();
        tokio::time::timeout(
            std::time::Duration::from_secs(10),
            last.read_to_end(&mut rest),
        )
        .await
        .expect("the server closes the socket")
        .unwrap();
    }
    assert_eq!(
        upgrade(&s, "/ws", &good).await,
        101,
        "a closed connection frees its slot"
    );
}

async fn ws_with_origin(s: &Server, t: &str) -> tokio::net::TcpStream {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(s.addr).await.unwrap();
    let req = format!(
        "GET {}/ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\nOrigin: https://app.example\r\nAuthorization: Bearer {t}\r\n\r\n",
        s.prefix
    );
    stream.write_all(req.as_bytes()).await.unwrap();
    let mut buf = [0u8; 12];
    stream.read_exact(&mut buf).await.unwrap();
    assert_eq!(&buf, b"HTTP/1.1 101");
    stream
}

#[tokio::test]
async fn tokens_are_required_and_checked_before_the_upgrade() {
    let s = serve(EdgeConfig::default()).await;
    assert_eq!(upgrade(&s, "/ws", &[]).await, 401);
    let (code, body) = http(&s, "GET", "/ws", &[]).await;
    assert_eq!((code, body.as_str()), (401, "Missing authentication token"));
    let (code, body) = http(&s, "GET", "/ws?token=garbage", &[]).await;
    assert_eq!((code, body.as_str()), (401, "Authentication failed"));
    let auth = format!("Bearer {}", token("u1", &[]));
    assert_eq!(upgrade(&s, "/ws", &[("Authorization", &auth)]).await, 101);
    let query = format!("/ws?token={}", token("u1", &[]));
    assert_eq!(
        upgrade(&s, &query, &[]).await,
        101,
        "the query token works too"
    );
}

#[tokio::test]
async fn provider_errors_reach_the_client_with_a_done_frame() {
    let s = serve(EdgeConfig::default()).await;
    s.llm
        .push(Script::Fail(LlmError::RateLimited { retry_after: None }));
    let mut c = ws(&s, "/ws", &token("u1", &[])).await;
    json(&mut c).await;
    send(&mut c, json!({"type": "user_message", "content": "hi"})).await;
    let frames = until_done(&mut c).await;
    let err = frames.iter().find(|f| f["type"] == "error").unwrap();
    assert_eq!(err["error"]["code"], "LLM_UNAVAILABLE");
}

#[tokio::test]
async fn shutdown_closes_clients_with_1001() {
    let s = serve(EdgeConfig::default()).await;
    let mut c = ws(&s, "/ws", &token("u1", &[])).await;
    json(&mut c).await;
    s.engine.shutdown(std::time::Duration::from_secs(5)).await;
    assert_eq!(closed(&mut c).await, 1001);
}

#[tokio::test]
async fn a_host_app_can_nest_the_router_under_its_own_prefix() {
    let s = serve_at("/support/chat", EdgeConfig::default(), |api| {
        Router::new()
            .route("/", axum::routing::get(|| async { "host home" }))
            .nest("/support/chat", api)
    })
    .await;
    let t = token("u1", &[]);
    let mut c = ws(&s, "/ws", &t).await;
    json(&mut c).await;
    send(
        &mut c,
        json!({"type": "user_message", "content": "nested?"}),
    )
    .await;
    assert_eq!(reply_text(&until_done(&mut c).await), "echo: nested?");
    let (code, body) = api(&s, "GET", "/sessions", &t).await;
    assert_eq!(code, 200);
    assert_eq!(body["count"], 1);
}

#[tokio::test]
async fn a_silent_client_is_closed_after_the_pong_timeout() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let s = serve(EdgeConfig {
        ping_interval_secs: 1,
        pong_timeout_secs: 1,
        ..Default::default()
    })
    .await;
    // A raw socket that upgrades and then never answers anything (not even pings).
    let mut stream = tokio::net::TcpStream::connect(s.addr).await.unwrap();
    let req = format!(
        "GET {}/ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\nAuthorization: Bearer {}\r\n\r\n",
        s.prefix,
        token("u1", &[])
    );
    stream.write_all(req.as_bytes()).await.unwrap();
    let mut seen = Vec::new();
    let mut buf = [0u8; 4096];
    let closed_with = tokio::time::timeout(std::time::Duration::from_secs(10), async {
        loop {
            let n = stream.read(&mut buf).await.unwrap();
            if n == 0 {
                return None;
            }
            seen.extend_from_slice(&buf[..n]);
            // A server close frame: 0x88, length, then the code.
            if let Some(i) = seen.windows(2).position(|w| w[0] == 0x88 && w[1] >= 2)
                && seen.len() >= i + 4
            {
                return Some(u16::from_be_bytes([seen[i + 2], seen[i + 3]]));
            }
        }
    })
    .await
    .expect("the server gives up on a silent client");
    assert_eq!(closed_with, Some(1001));
}

#[tokio::test]
async fn an_expired_token_closes_with_4001_unless_refreshed() {
    let s = serve(EdgeConfig {
        ping_interval_secs: 1,
        token_grace_secs: 0,
        jwt_leeway_secs: 0,
        ..Default::default()
    })
    .await;
    let short = |user: &str, secs: i64| {
        let claims =
            json!({"user_id": user, "roles": [], "exp": chrono::Utc::now().timestamp() + secs});
        jsonwebtoken::encode(
            &jsonwebtoken::Header::default(),
            &claims,
            &jsonwebtoken::EncodingKey::from_secret(SECRET.as_bytes()),
        )
        .unwrap()
    };
    let mut expiring = ws(&s, "/ws", &short("u1", 2)).await;
    json(&mut expiring).await;
    assert_eq!(closed(&mut expiring).await, 4001);

    let mut refreshed = ws(&s, "/ws", &short("u2", 2)).await;
    json(&mut refreshed).await;
    send(
        &mut refreshed,
        json!({"type": "auth", "content": short("u2", 3600)}),
    )
    .await;
    send(
        &mut refreshed,
        json!({"type": "auth", "content": short("someone-else", 3600)}),
    )
    .await;
    assert_eq!(
        json(&mut refreshed).await["error"]["code"],
        "FORBIDDEN",
        "a token for another user is refused"
    );
    tokio::time::sleep(std::time::Duration::from_secs(4)).await;
    send(&mut refreshed, json!({"type": "ping"})).await;
    assert_eq!(
        json(&mut refreshed).await["type"],
        "pong",
        "still open past the first token's expiry"
    );
}

#[tokio::test]
async fn a_frame_naming_another_own_session_switches_to_it() {
    let s = serve(EdgeConfig::default()).await;
    let t = token("u1", &[]);
    let mut first = ws(&s, "/ws", &t).await;
    let a = json(&mut first).await["session_id"]
        .as_str()
        .unwrap()
        .to_owned();
    drop(first);
    assert_eq!(
        api(&s, "POST", &format!("/sessions/{a}/end"), &t).await.0,
        200
    );
    let mut c = ws(&s, "/ws", &t).await;
    let b = json(&mut c).await["session_id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_ne!(a, b, "a fresh session after the first one ended");
    send(
        &mut c,
        json!({"type": "user_message", "session_id": a, "content": "back to A"}),
    )
    .await;
    let status = json(&mut c).await;
    assert_eq!(
        (status["type"].as_str(), status["session_id"].as_str()),
        (Some("connection_status"), Some(a.as_str()))
    );
    let frames = until_done(&mut c).await;
    assert!(
        frames.iter().all(|f| f["session_id"] == a),
        "everything now belongs to A"
    );
    assert_eq!(reply_text(&frames), "echo: back to A");
    let (_, body) = api(&s, "GET", &format!("/sessions/{a}"), &t).await;
    assert_eq!(body["messages"][0]["content"], "back to A");
    assert_eq!(
        body["is_active"], true,
        "switching reopens an ended session"
    );
    let (_, body) = api(&s, "GET", &format!("/sessions/{b}"), &t).await;
    assert_eq!(body["message_count"], 0, "nothing went to B");
}

#[tokio::test]
async fn a_frame_naming_an_unknown_session_id_opens_it_and_a_foreign_one_reveals_nothing() {
    let s = serve(EdgeConfig::default()).await;
    let alice = token("alice", &[]);
    let mut other = ws(&s, "/ws", &alice).await;
    let alices = json(&mut other).await["session_id"]
        .as_str()
        .unwrap()
        .to_owned();

    let t = token("u1", &[]);
    let mut c = ws(&s, "/ws", &t).await;
    json(&mut c).await;
    // A legacy client names its own new session.
    send(
        &mut c,
        json!({"type": "user_message", "session_id": "legacy-client-session-1", "content": "hi"}),
    )
    .await;
    let status = json(&mut c).await;
    assert_eq!(
        (status["type"].as_str(), status["session_id"].as_str()),
        (Some("connection_status"), Some("legacy-client-session-1"))
    );
    assert_eq!(reply_text(&until_done(&mut c).await), "echo: hi");
    let (code, body) = api(&s, "GET", "/sessions/legacy-client-session-1", &t).await;
    assert_eq!(
        (code, &body["user_id"]),
        (200, &json!("u1")),
        "owned by the user"
    );

    // Someone else's id: a fresh session of the caller's; the other session is untouched.
    send(
        &mut c,
        json!({"type": "user_message", "session_id": alices, "content": "peek"}),
    )
    .await;
    let status = json(&mut c).await;
    assert_eq!(status["type"], "connection_status");
    assert_ne!(status["session_id"], alices.as_str());
    assert_eq!(status["user_id"], "u1");
    until_done(&mut c).await;
    let (_, body) = api(&s, "GET", &format!("/sessions/{alices}"), &alice).await;
    assert_eq!(
        body["messages"],
        json!([]),
        "nothing reached alice's session"
    );
}
