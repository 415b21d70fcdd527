//! Ordering, resume, backpressure and shutdown of a session's stream.

use std::time::Duration;

use chatbox_core::ports::llm::Chunk;
use chatbox_core::testing::Script;
use chatbox_core::{Sender, Store};
use chatbox_session::{CloseReason, ConnectRequest, EngineConfig, EngineError, Outbound};

use crate::harness::*;

#[tokio::test]
async fn drop_mid_reply_then_resume_gets_every_remaining_chunk_once() {
    let w = world();
    let (tx, script) = Script::channel();
    w.llm.push(script);
    let mut first = connect(&w, user("u1"), ConnectRequest::default()).await;
    next(&mut first).await;
    say(&first, "hi");
    tx.unbounded_send(Ok(Chunk::Text("A".into()))).unwrap();
    let seen = until(&mut first, "ai_response", false).await;
    let last_seq = *seqs(&seen).last().unwrap();
    let id = first.session_id().clone();
    drop(first);
    tx.unbounded_send(Ok(Chunk::Text("B".into()))).unwrap();
    tx.unbounded_send(Ok(Chunk::Text("C".into()))).unwrap();
    let req = ConnectRequest {
        session_id: Some(id.clone()),
        last_seq: Some(last_seq),
        watch: false,
    };
    let connected = w.engine.connect(user("u1"), req).await.unwrap();
    assert_eq!(connected.recovered, Some(true));
    let mut second = connected.connection;
    let status = next(&mut second).await;
    assert_eq!(status["metadata"]["recovered"], "true");
    tx.unbounded_send(Ok(Chunk::Finished(usage()))).unwrap();
    let rest = until(&mut second, "ai_response", true).await;
    let all_text = format!("{}{}", text_of(&seen), text_of(&rest));
    assert_eq!(all_text, "ABC", "every chunk exactly once across the drop");
    let s = seqs(&rest);
    assert_eq!(
        s.first().copied(),
        Some(last_seq + 1),
        "resumes right after last_seq"
    );
    assert!(s.windows(2).all(|p| p[1] == p[0] + 1));
    let stored = w.store.messages(&id, None).await.unwrap();
    assert_eq!(stored.last().unwrap().content, "ABC");
}

#[tokio::test(start_paused = true)]
async fn a_reply_completes_and_persists_with_nobody_connected() {
    let w = world_with(EngineConfig {
        idle_evict_secs: 1,
        ..Default::default()
    });
    let (tx, c) = paced_reply(&w, "hi").await;
    let id = c.session_id().clone();
    drop(c);
    tx.unbounded_send(Ok(Chunk::Text("still ".into()))).unwrap();
    tx.unbounded_send(Ok(Chunk::Text("here".into()))).unwrap();
    tx.unbounded_send(Ok(Chunk::Finished(usage()))).unwrap();
    // A session is idle (and then evicted) only once its reply has ended and been persisted.
    live_sessions(&w, 0).await;
    let msgs = w.store.messages(&id, None).await.unwrap();
    assert!(
        msgs.iter()
            .any(|m| m.sender == Sender::Ai && m.content == "still here"),
        "the reply is stored although every connection dropped"
    );
    assert_eq!(
        w.store
            .get_session(&id)
            .await
            .unwrap()
            .unwrap()
            .total_tokens,
        5
    );
}

#[tokio::test]
async fn resuming_beyond_the_replay_window_says_not_recovered() {
    let w = world_with(EngineConfig {
        replay_frames: 2,
        ..Default::default()
    });
    let mut c = connect(&w, user("u1"), ConnectRequest::default()).await;
    let status = next(&mut c).await;
    let start_seq = status["seq"].as_u64().unwrap();
    say(&c, "make frames");
    until(&mut c, "ai_response", true).await;
    let req = ConnectRequest {
        session_id: Some(c.session_id().clone()),
        last_seq: Some(start_seq),
        watch: false,
    };
    let connected = w.engine.connect(user("u1"), req).await.unwrap();
    assert_eq!(connected.recovered, Some(false));
    let mut again = connected.connection;
    assert_eq!(next(&mut again).await["metadata"]["recovered"], "false");
}

#[tokio::test]
async fn messages_sent_while_a_reply_streams_wait_their_turn() {
    let w = world();
    let (tx, mut c) = paced_reply(&w, "one").await;
    say(&c, "two");
    tx.unbounded_send(Ok(Chunk::Text("first".into()))).unwrap();
    tx.unbounded_send(Ok(Chunk::Finished(usage()))).unwrap();
    let first = until(&mut c, "ai_response", true).await;
    assert_eq!(text_of(&first), "first");
    let second = until(&mut c, "ai_response", true).await;
    assert_eq!(
        second[0]["content"], "two",
        "the queued message is handled after the reply"
    );
    assert_eq!(text_of(&second), "echo: two");
}

#[tokio::test]
async fn a_full_input_queue_answers_session_busy_to_the_sender() {
    let w = world_with(EngineConfig {
        pending_inputs: 1,
        ..Default::default()
    });
    let (_tx, mut c) = paced_reply(&w, "one").await;
    say(&c, "two");
    say(&c, "three");
    let err = next(&mut c).await;
    assert_eq!(err["error"]["code"], "SESSION_BUSY");
}

#[tokio::test]
async fn a_slow_consumer_is_closed_with_1013_not_fed_gaps() {
    let w = world_with(EngineConfig {
        connection_queue: 8,
        ..Default::default()
    });
    let (tx, script) = Script::channel();
    w.llm.push(script);
    let mut slow = connect(&w, user("u1"), ConnectRequest::default()).await;
    let mut fast = connect(&w, user("u1"), ConnectRequest::default()).await;
    next(&mut fast).await;
    say(&fast, "flood");
    until(&mut fast, "loading", false).await;
    // Pace the reply by the fast device, which keeps up; the slow one never reads.
    for i in 0..12 {
        tx.unbounded_send(Ok(Chunk::Text(format!("c{i} "))))
            .unwrap();
        assert_eq!(next(&mut fast).await["content"], format!("c{i} "));
    }
    tx.unbounded_send(Ok(Chunk::Finished(usage()))).unwrap();
    assert_eq!(
        next(&mut fast).await["metadata"]["done"],
        "true",
        "the fast device got everything"
    );
    let mut got = Vec::new();
    let reason = loop {
        match tokio::time::timeout(Duration::from_secs(10), slow.recv())
            .await
            .unwrap()
        {
            Outbound::Frame(f) => got.push(f),
            Outbound::Close(reason) => break reason,
        }
    };
    assert_eq!(reason, CloseReason::SlowConsumer);
    assert_eq!(reason.code(), 1013);
    assert_eq!(
        got.len(),
        1 + 8,
        "its status, then what its queue of 8 held, in order, then the close"
    );
}

#[tokio::test]
async fn shutdown_lets_the_reply_finish_persists_it_and_closes_with_1001() {
    let w = world();
    let (tx, mut c) = paced_reply(&w, "hi").await;
    let shutdown = tokio::spawn(w.engine.shutdown(Duration::from_secs(30)));
    assert!(
        matches!(
            w.engine
                .connect(user("u2"), ConnectRequest::default())
                .await,
            Err(EngineError::ShuttingDown)
        ),
        "no new connections once shutdown began"
    );
    tx.unbounded_send(Ok(Chunk::Text("bye".into()))).unwrap();
    tx.unbounded_send(Ok(Chunk::Finished(usage()))).unwrap();
    let frames = until(&mut c, "ai_response", true).await;
    assert_eq!(text_of(&frames), "bye");
    assert_eq!(c.recv().await, Outbound::Close(CloseReason::ShuttingDown));
    shutdown.await.unwrap();
    let msgs = w.store.messages(c.session_id(), None).await.unwrap();
    assert_eq!(msgs.last().unwrap().content, "bye");
}

#[tokio::test]
async fn shutdown_timeout_cancels_and_keeps_the_partial_reply() {
    let w = world();
    let (tx, script) = Script::channel();
    w.llm.push(script);
    let mut c = connect(&w, user("u1"), ConnectRequest::default()).await;
    next(&mut c).await;
    say(&c, "hi");
    tx.unbounded_send(Ok(Chunk::Text("half".into()))).unwrap();
    until(&mut c, "ai_response", false).await;
    w.engine.shutdown(Duration::from_millis(100)).await;
    let done = until(&mut c, "ai_response", true).await;
    assert_eq!(done.last().unwrap()["metadata"]["cancelled"], "shutdown");
    assert_eq!(c.recv().await, Outbound::Close(CloseReason::ShuttingDown));
    let msgs = w.store.messages(c.session_id(), None).await.unwrap();
    let partial = msgs.last().unwrap();
    assert_eq!(
        (
            partial.content.as_str(),
            partial.metadata.get("incomplete").map(String::as_str)
        ),
        ("half", Some("shutdown"))
    );
}
