//! Human handoff in the engine: takeover cancels the reply and silences the AI, admin and user
//! talk directly, one admin at a time, and the AI comes back when the admin leaves.

use std::time::Duration;

use chatbox_core::ports::llm::Chunk;
use chatbox_core::session::TakeoverKind;
use chatbox_core::{Sender, Store};
use chatbox_session::{ConnectRequest, Connection, EngineConfig, EngineError};
use serde_json::{Value, json};

use crate::harness::*;

fn join(c: &Connection) -> ConnectRequest {
    ConnectRequest {
        session_id: Some(c.session_id().clone()),
        ..Default::default()
    }
}

fn watch(c: &Connection) -> ConnectRequest {
    ConnectRequest {
        session_id: Some(c.session_id().clone()),
        last_seq: None,
        watch: true,
    }
}

fn has_ai_text(frames: &[Value]) -> bool {
    frames
        .iter()
        .any(|f| f["type"] == "ai_response" && f["metadata"]["done"] == "false")
}

#[tokio::test]
async fn an_admin_joining_cancels_the_reply_and_the_ai_stays_silent() {
    let w = world();
    let (tx, mut owner) = paced_reply(&w, "help me").await;
    tx.unbounded_send(Ok(Chunk::Text("Let me ".into())))
        .unwrap();
    assert_eq!(next(&mut owner).await["content"], "Let me ");
    let mut admin = connect(&w, admin("adm"), join(&owner)).await;
    assert_eq!(next(&mut admin).await["type"], "connection_status");

    let done = next(&mut owner).await;
    assert_eq!(done["metadata"]["done"], "true");
    assert_eq!(done["metadata"]["cancelled"], "takeover");
    let joined = next(&mut owner).await;
    assert_eq!(joined["type"], "admin_join");
    assert_eq!(joined["sender"], "admin");
    assert_eq!(joined["metadata"]["admin_id"], "adm");
    assert_eq!(joined["metadata"]["admin_name"], "Ada");
    assert_eq!(
        joined["content"],
        "Administrator Ada has joined the session"
    );
    // The provider keeps talking; nobody hears it.
    let _ = tx.unbounded_send(Ok(Chunk::Text("more AI".into())));
    let _ = tx.unbounded_send(Ok(Chunk::Finished(usage())));

    say(&owner, "are you human?");
    let echoed = next(&mut owner).await;
    assert_eq!(
        (echoed["type"].as_str(), echoed["sender"].as_str()),
        (Some("user_message"), Some("user"))
    );
    settled(&mut owner).await;
    let seen_by_admin = until(&mut admin, "user_message", false).await;
    assert!(!has_ai_text(&seen_by_admin), "{seen_by_admin:?}");
    assert_eq!(
        w.llm.requests().len(),
        1,
        "no reply was started while assisted"
    );

    let s = w
        .store
        .get_session(owner.session_id())
        .await
        .unwrap()
        .unwrap();
    assert!(s.admin_assisted);
    assert_eq!(s.assisting_admin_name.as_deref(), Some("Ada"));
    let partial = w.store.messages(owner.session_id(), None).await.unwrap();
    assert!(
        partial
            .iter()
            .any(|m| m.metadata.get("incomplete").map(String::as_str) == Some("takeover")),
        "the cut reply is kept, marked"
    );
}

#[tokio::test]
async fn admin_and_user_talk_directly_and_typing_is_relayed() {
    let w = world();
    let mut owner = connect(&w, user("u1"), ConnectRequest::default()).await;
    next(&mut owner).await;
    let mut phone = connect(&w, user("u1"), join(&owner)).await;
    next(&mut phone).await;
    let mut admin = connect(&w, admin("adm"), join(&owner)).await;
    next(&mut admin).await;
    assert_eq!(next(&mut owner).await["type"], "admin_join");
    assert_eq!(next(&mut phone).await["type"], "admin_join");
    assert_eq!(next(&mut admin).await["type"], "admin_join");

    say(&admin, "Hello, I am Ada");
    let from_admin = next(&mut owner).await;
    assert_eq!(from_admin["sender"], "admin");
    assert_eq!(from_admin["content"], "Hello, I am Ada");
    assert_eq!(next(&mut phone).await, from_admin, "every device sees it");
    assert_eq!(next(&mut admin).await, from_admin);

    say(&owner, "Hi Ada");
    let from_user = next(&mut admin).await;
    assert_eq!(
        (from_user["sender"].as_str(), from_user["content"].as_str()),
        (Some("user"), Some("Hi Ada"))
    );
    next(&mut owner).await;
    assert_eq!(next(&mut phone).await, from_user);

    owner.handle(frame(
        json!({"type": "typing_indicator", "metadata": {"typing": "true"}}),
    ));
    let typing = next(&mut admin).await;
    assert_eq!(
        (typing["type"].as_str(), typing["sender"].as_str()),
        (Some("typing_indicator"), Some("user"))
    );
    assert_eq!(typing["metadata"]["typing"], "true");
    assert!(typing["seq"].is_null(), "typing is live only, not replayed");
    admin.handle(frame(
        json!({"type": "typing_indicator", "metadata": {"typing": "false"}}),
    ));
    let typing = next(&mut owner).await;
    assert_eq!(
        (
            typing["sender"].as_str(),
            typing["metadata"]["typing"].as_str()
        ),
        (Some("admin"), Some("false"))
    );

    let stored: Vec<(Sender, String)> = w
        .store
        .messages(owner.session_id(), None)
        .await
        .unwrap()
        .into_iter()
        .map(|m| (m.sender, m.content))
        .collect();
    assert_eq!(
        stored,
        [
            (Sender::Admin, "Hello, I am Ada".into()),
            (Sender::User, "Hi Ada".into())
        ]
    );
}

#[tokio::test]
async fn one_admin_at_a_time_and_only_the_assisting_one_releases() {
    let w = world();
    let mut owner = connect(&w, user("u1"), ConnectRequest::default()).await;
    next(&mut owner).await;
    let id = owner.session_id().clone();
    w.engine.takeover(&id, admin("adm")).await.unwrap();
    assert_eq!(next(&mut owner).await["type"], "admin_join");
    w.engine.takeover(&id, admin("adm")).await.unwrap();

    let bob = chatbox_core::Identity::new(
        chatbox_core::UserId::parse("bob").unwrap(),
        Some("Bob".into()),
        vec!["chat_admin".into()],
    );
    assert!(matches!(
        w.engine.takeover(&id, bob.clone()).await,
        Err(EngineError::Conflict)
    ));
    let mut second = connect(&w, bob.clone(), join(&owner)).await;
    next(&mut second).await;
    let refused = next(&mut second).await;
    assert_eq!(refused["error"]["code"], "CONFLICT");
    second.handle(frame(json!({"type": "admin_join"})));
    assert_eq!(next(&mut second).await["error"]["code"], "CONFLICT");
    assert!(matches!(
        w.engine.release(&id, &bob).await,
        Err(EngineError::Forbidden)
    ));
    assert!(matches!(
        w.engine.takeover(&id, user_identity()).await,
        Err(EngineError::Forbidden)
    ));

    w.engine.release(&id, &admin("adm")).await.unwrap();
    let left = next(&mut owner).await;
    assert_eq!(left["type"], "admin_leave");
    assert_eq!(left["metadata"]["admin_id"], "adm");
    say(&owner, "back to the bot");
    let frames = until(&mut owner, "ai_response", true).await;
    assert_eq!(
        text_of(&frames),
        "echo: back to the bot",
        "the AI answers again"
    );

    let audit = w.store.takeover_events(&id).await.unwrap();
    let kinds: Vec<TakeoverKind> = audit.iter().map(|e| e.kind).collect();
    assert_eq!(kinds, [TakeoverKind::Join, TakeoverKind::Leave]);
}

fn user_identity() -> chatbox_core::Identity {
    user("u9")
}

#[tokio::test]
async fn an_admin_leave_frame_hands_the_session_back_to_the_ai() {
    let w = world();
    let mut owner = connect(&w, user("u1"), ConnectRequest::default()).await;
    next(&mut owner).await;
    let mut admin = connect(&w, admin("adm"), join(&owner)).await;
    next(&mut admin).await;
    next(&mut owner).await;
    owner.handle(frame(json!({"type": "admin_leave"})));
    assert_eq!(
        next(&mut owner).await["error"]["code"],
        "FORBIDDEN",
        "a user cannot release"
    );
    admin.handle(frame(json!({"type": "admin_leave"})));
    assert_eq!(next(&mut owner).await["type"], "admin_leave");
    say(&owner, "hello?");
    let frames = until(&mut owner, "ai_response", true).await;
    assert_eq!(text_of(&frames), "echo: hello?");
}

#[tokio::test(start_paused = true)]
async fn an_admin_gone_longer_than_the_grace_releases_the_session() {
    let w = world_with(EngineConfig {
        admin_grace_secs: 5,
        ..Default::default()
    });
    let mut owner = connect(&w, user("u1"), ConnectRequest::default()).await;
    next(&mut owner).await;
    let admin = connect(&w, admin("adm"), join(&owner)).await;
    assert_eq!(next(&mut owner).await["type"], "admin_join");
    let start = tokio::time::Instant::now();
    drop(admin);
    let left = next(&mut owner).await;
    assert_eq!(left["type"], "admin_leave");
    assert_eq!(left["metadata"]["reason"], "timeout");
    assert!(
        start.elapsed() >= Duration::from_secs(5),
        "not before the grace (paused clock)"
    );
    say(&owner, "anyone?");
    let frames = until(&mut owner, "ai_response", true).await;
    assert_eq!(text_of(&frames), "echo: anyone?");
}

#[tokio::test(start_paused = true)]
async fn an_admin_who_reconnects_within_the_grace_keeps_the_session() {
    let w = world_with(EngineConfig {
        admin_grace_secs: 5,
        ..Default::default()
    });
    let mut owner = connect(&w, user("u1"), ConnectRequest::default()).await;
    next(&mut owner).await;
    let admin_conn = connect(&w, admin("adm"), join(&owner)).await;
    next(&mut owner).await;
    drop(admin_conn);
    tokio::time::sleep(Duration::from_secs(3)).await;
    let mut again = connect(&w, admin("adm"), join(&owner)).await;
    next(&mut again).await;
    tokio::time::sleep(Duration::from_secs(10)).await;
    say(&again, "still here");
    let msg = next(&mut owner).await;
    assert_eq!(
        (msg["sender"].as_str(), msg["content"].as_str()),
        (Some("admin"), Some("still here"))
    );
}

#[tokio::test]
async fn a_watcher_sees_everything_writes_nothing_and_may_join() {
    let w = world();
    let mut owner = connect(&w, user("u1"), ConnectRequest::default()).await;
    next(&mut owner).await;
    let mut watcher = connect(&w, admin("adm"), watch(&owner)).await;
    next(&mut watcher).await;
    say(&owner, "hi");
    let a = until(&mut owner, "ai_response", true).await;
    let b = until(&mut watcher, "ai_response", true).await;
    assert_eq!(a, b, "the watcher sees the stream as the user does");
    say(&watcher, "psst");
    assert_eq!(next(&mut watcher).await["error"]["code"], "FORBIDDEN");
    settled(&mut owner).await;
    assert_eq!(
        w.store
            .messages(owner.session_id(), None)
            .await
            .unwrap()
            .len(),
        2,
        "nothing written"
    );
    watcher.handle(frame(json!({"type": "admin_join"})));
    assert_eq!(next(&mut owner).await["type"], "admin_join");
    say(&watcher, "now I can");
    assert_eq!(next(&mut owner).await["content"], "now I can");
}
