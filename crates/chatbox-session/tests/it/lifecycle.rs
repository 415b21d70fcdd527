//! A session's life: shutdown with queued input, long resumes, replies that panic or hang, idle
//! eviction, the per-user live-session cap, store deadlines and REST operations on a live session.
//!
//! Tests that need time to pass run on tokio's paused clock: deadlines fire as soon as nothing
//! else can run, so they are exact and take no real time.

use std::time::Duration;

use chatbox_core::ports::llm::Chunk;
use chatbox_core::testing::{Fault, Script, StoreOp};
use chatbox_core::{Sender, SessionId, Store};
use chatbox_session::{CloseReason, ConnectRequest, EngineConfig, EngineError};

use crate::harness::*;

fn unknown_session(n: u32) -> ConnectRequest {
    ConnectRequest {
        session_id: Some(SessionId::parse(&format!("unknown{n}")).unwrap()),
        ..Default::default()
    }
}

#[tokio::test]
async fn shutdown_drops_queued_input_finishes_the_reply_in_flight_and_stops() {
    let w = world();
    let (tx, mut c) = paced_reply(&w, "one").await;
    for text in ["two", "three", "four", "five", "six"] {
        say(&c, text);
    }
    settled(&mut c).await;

    let stopping = w.engine.shutdown(Duration::from_secs(30));
    assert!(
        matches!(
            w.engine
                .connect(user("u2"), ConnectRequest::default())
                .await,
            Err(EngineError::ShuttingDown)
        ),
        "no new connection from the moment shutdown is called"
    );
    let stopping = tokio::spawn(stopping);
    for _ in 0..5 {
        let refused = next(&mut c).await;
        assert_eq!(refused["error"]["code"], "SESSION_BUSY");
        assert!(
            refused["error"]["message"]
                .as_str()
                .unwrap()
                .contains("shutting down")
        );
    }
    say(&c, "seven");
    assert_eq!(
        next(&mut c).await["error"]["code"],
        "SESSION_BUSY",
        "new input is refused while shutting down"
    );
    tx.unbounded_send(Ok(Chunk::Text("answer".into()))).unwrap();
    tx.unbounded_send(Ok(Chunk::Finished(usage()))).unwrap();
    let frames = until(&mut c, "ai_response", true).await;
    assert_eq!(text_of(&frames), "answer");
    let (rest, reason) = closed(&mut c).await;
    assert!(rest.is_empty(), "nothing after the done frame: {rest:?}");
    assert_eq!(reason, CloseReason::ShuttingDown);
    stopping.await.unwrap();
    let stored: Vec<(Sender, String)> = w
        .store
        .messages(c.session_id(), None)
        .await
        .unwrap()
        .into_iter()
        .map(|m| (m.sender, m.content))
        .collect();
    assert_eq!(
        stored,
        [(Sender::User, "one".into()), (Sender::Ai, "answer".into())],
        "the first reply is stored and no later input was run"
    );
    assert_eq!(w.llm.requests().len(), 1, "no reply started after shutdown");
}

#[tokio::test]
async fn a_long_reply_resumes_in_one_reconnect() {
    let w = world();
    let (tx, script) = Script::channel();
    w.llm.push(script);
    let mut phone = connect(&w, user("u1"), ConnectRequest::default()).await;
    let mut laptop = connect(&w, user("u1"), ConnectRequest::default()).await;
    next(&mut phone).await;
    next(&mut laptop).await;
    say(&phone, "tell me everything");
    tx.unbounded_send(Ok(Chunk::Text("c0 ".into()))).unwrap();
    let seen = until(&mut phone, "ai_response", false).await;
    let last_seq = *seqs(&seen).last().unwrap();
    let id = phone.session_id().clone();
    drop(phone);
    let expected: String = (0..600).map(|i| format!("c{i} ")).collect();
    for i in 1..600 {
        tx.unbounded_send(Ok(Chunk::Text(format!("c{i} "))))
            .unwrap();
    }
    tx.unbounded_send(Ok(Chunk::Finished(usage()))).unwrap();
    let all = until(&mut laptop, "ai_response", true).await;
    assert_eq!(text_of(&all), expected, "the other device got it all live");

    let req = ConnectRequest {
        session_id: Some(id),
        last_seq: Some(last_seq),
        watch: false,
    };
    let connected = w.engine.connect(user("u1"), req).await.unwrap();
    assert_eq!(connected.recovered, Some(true));
    let mut phone = connected.connection;
    assert_eq!(next(&mut phone).await["metadata"]["recovered"], "true");
    let rest = until(&mut phone, "ai_response", true).await;
    assert_eq!(
        format!("{}{}", text_of(&seen), text_of(&rest)),
        expected,
        "every chunk exactly once across the drop"
    );
    let s = seqs(&rest);
    assert_eq!(s.len(), 600, "599 chunks and the done frame");
    assert_eq!(s[0], last_seq + 1);
    assert!(s.windows(2).all(|p| p[1] == p[0] + 1), "in order, no gap");
    settled(&mut phone).await;
}

#[tokio::test]
async fn a_provider_that_panics_ends_its_reply_and_the_session_goes_on() {
    let w = world();
    w.llm.push(Script::PanicAfter(vec!["par".into()]));
    let mut c = connect(&w, user("u1"), ConnectRequest::default()).await;
    next(&mut c).await;
    say(&c, "hi");
    let frames = until(&mut c, "ai_response", true).await;
    let errors: Vec<_> = frames.iter().filter(|f| f["type"] == "error").collect();
    assert_eq!(errors.len(), 1, "{frames:?}");
    assert_eq!(errors[0]["error"]["code"], "LLM_ERROR");
    assert_eq!(text_of(&frames), "par");
    say(&c, "still there?");
    let next_turn = until(&mut c, "ai_response", true).await;
    assert_eq!(text_of(&next_turn), "echo: still there?");
}

#[tokio::test(start_paused = true)]
async fn a_provider_that_never_yields_times_out_and_the_session_goes_on() {
    let w = world_with(EngineConfig {
        reply_timeout_secs: 5,
        ..Default::default()
    });
    w.llm.push(Script::Stall(vec!["so far".into()]));
    let mut c = connect(&w, user("u1"), ConnectRequest::default()).await;
    next(&mut c).await;
    say(&c, "hi");
    let frames = until(&mut c, "ai_response", true).await;
    let error = frames.iter().find(|f| f["type"] == "error").unwrap();
    assert_eq!(error["error"]["code"], "LLM_TIMEOUT");
    let msgs = w.store.messages(c.session_id(), None).await.unwrap();
    assert_eq!(
        msgs.last()
            .unwrap()
            .metadata
            .get("incomplete")
            .map(String::as_str),
        Some("LLM_TIMEOUT"),
        "the partial text is kept, marked"
    );
    say(&c, "again");
    let next_turn = until(&mut c, "ai_response", true).await;
    assert_eq!(text_of(&next_turn), "echo: again");
}

#[tokio::test(start_paused = true)]
async fn an_idle_session_is_evicted_after_idle_evict_secs() {
    let w = world_with(EngineConfig {
        idle_evict_secs: 30,
        ..Default::default()
    });
    let mut c = connect(&w, user("u1"), ConnectRequest::default()).await;
    next(&mut c).await;
    assert_eq!(w.engine.live_sessions(), 1);
    let start = tokio::time::Instant::now();
    drop(c);
    live_sessions(&w, 0).await;
    assert!(
        start.elapsed() >= Duration::from_secs(30),
        "not before the idle time (paused clock)"
    );
}

#[tokio::test(start_paused = true)]
async fn a_session_with_a_connection_or_a_reply_is_not_evicted() {
    let w = world_with(EngineConfig {
        idle_evict_secs: 1,
        ..Default::default()
    });
    let (tx, c) = paced_reply(&w, "slow").await;
    let mut other = connect(&w, user("u2"), ConnectRequest::default()).await;
    next(&mut other).await;
    let id = c.session_id().clone();
    drop(c);
    tokio::time::sleep(Duration::from_secs(30)).await;
    assert_eq!(
        w.engine.live_sessions(),
        2,
        "a reply and a connection keep sessions live"
    );
    tx.unbounded_send(Ok(Chunk::Finished(usage()))).unwrap();
    live_sessions(&w, 1).await;
    settled(&mut other).await;
    assert!(w.store.get_session(&id).await.unwrap().is_some());
}

#[tokio::test]
async fn beyond_the_live_session_cap_the_longest_idle_session_is_evicted() {
    let w = world_with(EngineConfig {
        max_sessions_per_user: 2,
        ..Default::default()
    });
    drop(connect(&w, user("u1"), ConnectRequest::default()).await);
    drop(connect(&w, user("u1"), unknown_session(1)).await);
    let mut third = connect(&w, user("u1"), unknown_session(2)).await;
    next(&mut third).await;
    live_sessions(&w, 2).await;
    settled(&mut third).await;
    assert_eq!(w.engine.live_sessions(), 2, "one of the idle two made room");
}

#[tokio::test]
async fn beyond_the_cap_with_no_idle_session_the_connect_is_refused() {
    let w = world_with(EngineConfig {
        max_sessions_per_user: 2,
        ..Default::default()
    });
    let mut a = connect(&w, user("u1"), ConnectRequest::default()).await;
    let mut b = connect(&w, user("u1"), unknown_session(1)).await;
    next(&mut a).await;
    next(&mut b).await;
    let refused = w.engine.connect(user("u1"), unknown_session(2)).await;
    assert!(matches!(refused, Err(EngineError::TooManySessions)));
    assert_eq!(
        EngineError::TooManySessions.code().as_str(),
        "TOO_MANY_REQUESTS"
    );
    let other_user = connect(&w, user("u2"), ConnectRequest::default()).await;
    assert_ne!(
        other_user.session_id(),
        a.session_id(),
        "the cap is per user"
    );
    assert_eq!(w.engine.live_sessions(), 3);
}

#[tokio::test(start_paused = true)]
async fn a_store_call_that_hangs_fails_the_connect_with_a_timeout() {
    let w = world();
    w.faults.fail_nth(StoreOp::ActiveSession, 1, Fault::Stall);
    let refused = w
        .engine
        .connect(user("u1"), ConnectRequest::default())
        .await;
    assert!(
        matches!(refused, Err(EngineError::StoreTimeout)),
        "{refused:?}"
    );
    let mut c = connect(&w, user("u1"), ConnectRequest::default()).await;
    assert_eq!(next(&mut c).await["type"], "connection_status");
}

#[tokio::test(start_paused = true)]
async fn shutdown_is_bounded_even_when_the_store_hangs() {
    let w = world();
    let (tx, mut c) = paced_reply(&w, "hi").await;
    w.faults.fail_from(StoreOp::AppendReply, 1, Fault::Stall);
    tx.unbounded_send(Ok(Chunk::Text("lost".into()))).unwrap();
    tx.unbounded_send(Ok(Chunk::Finished(usage()))).unwrap();
    assert_eq!(next(&mut c).await["content"], "lost");
    let start = tokio::time::Instant::now();
    w.engine.shutdown(Duration::from_secs(5)).await;
    assert!(
        start.elapsed() < Duration::from_secs(10),
        "shutdown returned within its timeout and grace (paused clock): {:?}",
        start.elapsed()
    );
    let (frames, reason) = closed(&mut c).await;
    assert_eq!(envelope_types(&frames), ["error", "ai_response"]);
    assert_eq!(frames[0]["error"]["code"], "STORAGE_ERROR");
    assert_eq!(frames[1]["metadata"]["persisted"], "false");
    assert_eq!(reason, CloseReason::ShuttingDown);
}

#[tokio::test]
async fn ending_a_live_session_tells_its_connections_and_talking_reopens_it() {
    let w = world();
    let mut c = connect(&w, user("u1"), ConnectRequest::default()).await;
    next(&mut c).await;
    let id = c.session_id().clone();
    let first = w.engine.end_session(&id).await.unwrap();
    let again = w.engine.end_session(&id).await.unwrap();
    assert_eq!(again.end_time(), first.end_time(), "ending is idempotent");
    let note = next(&mut c).await;
    assert_eq!(note["type"], "notification");
    assert_eq!(note["metadata"]["session_ended"], "true");
    assert!(!w.store.get_session(&id).await.unwrap().unwrap().is_active());
    say(&c, "one more thing");
    until(&mut c, "ai_response", true).await;
    assert!(
        w.store.get_session(&id).await.unwrap().unwrap().is_active(),
        "talking in an ended session reopens it"
    );
    let token = chatbox_core::ShareToken::parse("tok123").unwrap();
    let shared = w.engine.share_session(&id, token.clone()).await.unwrap();
    assert_eq!(shared, token);
    w.engine.unshare_session(&id).await.unwrap();
    assert!(w.store.find_by_share_token(&token).await.unwrap().is_none());
    drop(c);
    let gone = SessionId::parse("nosuchsession").unwrap();
    assert!(w.engine.end_session(&gone).await.is_err());
}
