//! Session resolution on connect and fan-out across a user's devices.

use chatbox_core::{SessionId, Store, UserId};
use chatbox_session::ConnectRequest;

use crate::harness::*;

#[tokio::test]
async fn first_frame_is_connection_status_with_session_user_models_and_seq() {
    let w = world();
    let mut c = connect(&w, user("u1"), ConnectRequest::default()).await;
    let status = next(&mut c).await;
    assert_eq!(status["type"], "connection_status");
    assert_eq!(status["session_id"], c.session_id().as_str());
    assert_eq!(status["user_id"], "u1");
    assert_eq!(
        status["model_id"], "gpt",
        "default model is the first configured provider"
    );
    assert_eq!(status["models"][0]["id"], "gpt");
    assert_eq!(status["models"][1]["id"], "claude");
    assert!(status["seq"].as_u64().is_some());
    assert!(status["metadata"]["recovered"].is_null(), "not a resume");
    let stored = w.store.get_session(c.session_id()).await.unwrap().unwrap();
    assert_eq!(stored.user_id, UserId::parse("u1").unwrap());
}

#[tokio::test]
async fn without_session_id_the_active_session_is_reused() {
    let w = world();
    let a = connect(&w, user("u1"), ConnectRequest::default()).await;
    let b = connect(&w, user("u1"), ConnectRequest::default()).await;
    assert_eq!(
        a.session_id(),
        b.session_id(),
        "one active session per user"
    );
    let other = connect(&w, user("u2"), ConnectRequest::default()).await;
    assert_ne!(other.session_id(), a.session_id());
}

#[tokio::test]
async fn another_users_session_is_never_joined_or_revealed() {
    let w = world();
    let mut owner = connect(&w, user("u1"), ConnectRequest::default()).await;
    next(&mut owner).await;
    let target = owner.session_id().clone();
    let req = ConnectRequest {
        session_id: Some(target.clone()),
        last_seq: Some(0),
        watch: false,
    };
    let connected = w.engine.connect(user("intruder"), req).await.unwrap();
    let mut intruder = connected.connection;
    assert_ne!(intruder.session_id(), &target, "a fresh session instead");
    assert_eq!(
        connected.recovered,
        Some(false),
        "asked to resume something it does not own"
    );
    let status = next(&mut intruder).await;
    assert_eq!(status["user_id"], "intruder");
    say(&intruder, "hello?");
    until(&mut intruder, "ai_response", true).await;
    assert!(
        w.store.messages(&target, None).await.unwrap().is_empty(),
        "nothing written to the target"
    );
    // A plain user cannot watch either, even when asking to.
    let watch = ConnectRequest {
        session_id: Some(target.clone()),
        last_seq: None,
        watch: true,
    };
    let c = connect(&w, user("intruder"), watch).await;
    assert_ne!(c.session_id(), &target);
}

#[tokio::test]
async fn an_owned_ended_session_is_reopened() {
    let w = world();
    let c = connect(&w, user("u1"), ConnectRequest::default()).await;
    let id = c.session_id().clone();
    w.store.end_session(&id, chrono::Utc::now()).await.unwrap();
    let req = ConnectRequest {
        session_id: Some(id.clone()),
        ..Default::default()
    };
    let again = connect(&w, user("u1"), req).await;
    assert_eq!(again.session_id(), &id);
    assert!(w.store.get_session(&id).await.unwrap().unwrap().is_active());
}

#[tokio::test]
async fn two_devices_see_the_same_frames_in_the_same_order() {
    let w = world();
    w.llm.push(chatbox_core::testing::Script::reply([
        "Hel", "lo ", "there",
    ]));
    let mut phone = connect(&w, user("u1"), ConnectRequest::default()).await;
    let mut laptop = connect(&w, user("u1"), ConnectRequest::default()).await;
    next(&mut phone).await;
    next(&mut laptop).await;
    say(&phone, "hi");
    let a = until(&mut phone, "ai_response", true).await;
    let b = until(&mut laptop, "ai_response", true).await;
    assert_eq!(a, b, "identical frames, identical order");
    assert_eq!(
        envelope_types(&a),
        [
            "user_message",
            "loading",
            "ai_response",
            "ai_response",
            "ai_response",
            "ai_response"
        ]
    );
    let s = seqs(&a);
    assert!(
        s.windows(2).all(|p| p[1] == p[0] + 1),
        "seq increases by one: {s:?}"
    );
}

#[tokio::test]
async fn an_admin_may_watch_read_only() {
    let w = world();
    let mut owner = connect(&w, user("u1"), ConnectRequest::default()).await;
    next(&mut owner).await;
    let id: SessionId = owner.session_id().clone();
    let req = ConnectRequest {
        session_id: Some(id.clone()),
        last_seq: None,
        watch: true,
    };
    let mut watcher = connect(&w, admin("adm"), req).await;
    assert_eq!(watcher.session_id(), &id);
    assert!(watcher.is_watcher());
    next(&mut watcher).await;
    say(&owner, "hi");
    let seen = until(&mut watcher, "ai_response", true).await;
    assert_eq!(
        text_of(&seen),
        "echo: hi",
        "the watcher sees the reply stream live"
    );
    say(&watcher, "I am not the owner");
    let err = next(&mut watcher).await;
    assert_eq!(err["error"]["code"], "FORBIDDEN");
    assert!(
        err["seq"].is_null(),
        "errors are not part of the session stream"
    );
}
