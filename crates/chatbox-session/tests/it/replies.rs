//! LLM replies: streaming, history, persistence, failures, model choice, limits, help.

use chatbox_core::ports::llm::{LlmError, Role, TimeoutPhase};
use chatbox_core::testing::Script;
use chatbox_core::{Sender, Store};
use chatbox_session::{ConnectRequest, EngineConfig};
use futures::StreamExt;
use serde_json::json;

use crate::harness::*;

#[tokio::test]
async fn a_message_streams_one_reply_and_both_are_persisted_with_stats() {
    let w = world();
    w.llm.push(Script::reply(["Open ", "Settings"]));
    let mut c = connect(&w, user("u1"), ConnectRequest::default()).await;
    next(&mut c).await;
    say(&c, "How do I reset my password?");
    let frames = until(&mut c, "ai_response", true).await;
    assert_eq!(frames[0]["type"], "user_message");
    assert_eq!(frames[0]["sender"], "user");
    assert_eq!(frames[1]["type"], "loading");
    assert_eq!(text_of(&frames), "Open Settings");
    let done = frames.last().unwrap();
    assert_eq!(done["metadata"]["done"], "true");
    assert_eq!(done["metadata"]["tokens"], "4");
    assert!(
        done["metadata"]["response_ms"]
            .as_str()
            .unwrap()
            .parse::<u64>()
            .is_ok()
    );
    let dones = frames
        .iter()
        .filter(|f| f["metadata"]["done"] == "true")
        .count();
    assert_eq!(dones, 1, "exactly one done frame");

    let id = c.session_id().clone();
    let msgs = w.store.messages(&id, None).await.unwrap();
    assert_eq!(msgs.len(), 2);
    assert_eq!(
        (msgs[0].sender, msgs[0].content.as_str()),
        (Sender::User, "How do I reset my password?")
    );
    assert_eq!(
        (msgs[1].sender, msgs[1].content.as_str()),
        (Sender::Ai, "Open Settings")
    );
    let s = w.store.get_session(&id).await.unwrap().unwrap();
    assert_eq!(s.total_tokens, 4);
    assert_eq!(s.response_count, 1);
    assert_eq!(s.name, "How do I reset my password?");
}

#[tokio::test]
async fn the_history_reaches_the_provider() {
    let w = world_with(EngineConfig {
        system_prompt: Some("Be kind".into()),
        ..Default::default()
    });
    let mut c = connect(&w, user("u1"), ConnectRequest::default()).await;
    next(&mut c).await;
    say(&c, "first");
    until(&mut c, "ai_response", true).await;
    say(&c, "second");
    until(&mut c, "ai_response", true).await;
    let requests = w.llm.requests();
    assert_eq!(requests.len(), 2);
    let second = &requests[1];
    let turns: Vec<(Role, &str)> = second
        .messages
        .iter()
        .map(|m| (m.role, m.content.as_str()))
        .collect();
    assert_eq!(
        turns,
        [
            (Role::User, "first"),
            (Role::Assistant, "echo: first"),
            (Role::User, "second")
        ]
    );
    assert_eq!(second.system_prompt.as_deref(), Some("Be kind"));
    assert_eq!(second.conversation_key, c.session_id().as_str());
}

#[tokio::test]
async fn provider_failures_end_with_an_error_and_one_done() {
    let cases = [
        (
            Script::Fail(LlmError::Overloaded { status: 503 }),
            "LLM_UNAVAILABLE",
        ),
        (
            Script::Fail(LlmError::RateLimited { retry_after: None }),
            "LLM_UNAVAILABLE",
        ),
        (
            Script::Fail(LlmError::Timeout {
                phase: TimeoutPhase::FirstToken,
            }),
            "LLM_TIMEOUT",
        ),
        (Script::Truncate(vec!["half a rep".into()]), "LLM_ERROR"),
        (
            Script::FailAfter {
                chunks: vec!["partial".into()],
                error: LlmError::Protocol("event: error".into()),
            },
            "LLM_ERROR",
        ),
    ];
    for (script, code) in cases {
        let w = world();
        w.llm.push(script);
        let mut c = connect(&w, user("u1"), ConnectRequest::default()).await;
        next(&mut c).await;
        say(&c, "hi");
        let frames = until(&mut c, "ai_response", true).await;
        let errors: Vec<_> = frames.iter().filter(|f| f["type"] == "error").collect();
        assert_eq!(errors.len(), 1, "{code}: {frames:?}");
        assert_eq!(errors[0]["error"]["code"], code);
        assert!(
            errors[0]["seq"].is_u64(),
            "a reply error is part of the session stream"
        );
        let done = frames.last().unwrap();
        assert!(done["metadata"]["tokens"].is_null(), "no usage on failure");
        let msgs = w.store.messages(c.session_id(), None).await.unwrap();
        if let Some(partial) = msgs.iter().find(|m| m.sender == Sender::Ai) {
            assert_eq!(
                partial.metadata.get("incomplete").map(String::as_str),
                Some(code),
                "partial text kept, marked"
            );
        }
    }
}

#[tokio::test]
async fn model_select_validates_persists_and_switches_the_provider() {
    let w = world();
    let mut c = connect(&w, user("u1"), ConnectRequest::default()).await;
    next(&mut c).await;
    c.handle(frame(json!({"type": "model_select", "model_id": "gpt-4"})));
    let err = next(&mut c).await;
    assert_eq!(err["error"]["code"], "INVALID_MODEL");
    assert!(
        err["error"]["message"]
            .as_str()
            .unwrap()
            .contains("gpt, claude")
    );
    c.handle(frame(json!({"type": "model_select", "model_id": "claude"})));
    let status = next(&mut c).await;
    assert_eq!(status["type"], "connection_status");
    assert_eq!(status["model_id"], "claude");
    let stored = w.store.get_session(c.session_id()).await.unwrap().unwrap();
    assert_eq!(stored.model_id.as_deref(), Some("claude"));
    say(&c, "who answers?");
    let frames = until(&mut c, "ai_response", true).await;
    assert_eq!(frames.last().unwrap()["model_id"], "claude");
    assert_eq!((w.llm.requests().len(), w.llm2.requests().len()), (0, 1));
}

#[tokio::test]
async fn the_message_rate_limit_answers_only_the_sender() {
    let w = world_with(EngineConfig {
        messages_per_minute: 1,
        ..Default::default()
    });
    let mut a = connect(&w, user("u1"), ConnectRequest::default()).await;
    let mut b = connect(&w, user("u1"), ConnectRequest::default()).await;
    next(&mut a).await;
    next(&mut b).await;
    say(&a, "one");
    until(&mut a, "ai_response", true).await;
    until(&mut b, "ai_response", true).await;
    say(&a, "two");
    let err = next(&mut a).await;
    assert_eq!(err["error"]["code"], "TOO_MANY_REQUESTS");
    assert!(err["error"]["retry_after"].as_u64().unwrap() > 0);
    c_ping_pong(&mut b).await;
}

/// The other device got nothing from the refused message: its next frame is the pong.
async fn c_ping_pong(c: &mut chatbox_session::Connection) {
    c.handle(frame(json!({"type": "ping"})));
    assert_eq!(next(c).await["type"], "pong");
}

#[tokio::test]
async fn help_request_flags_the_session_notifies_staff_and_confirms() {
    let w = world();
    let mut notices = w.notifier.watch();
    let mut c = connect(&w, user("u1"), ConnectRequest::default()).await;
    next(&mut c).await;
    c.handle(frame(
        json!({"type": "help_request", "content": "need a human"}),
    ));
    let confirm = next(&mut c).await;
    assert_eq!(confirm["type"], "notification");
    let id = c.session_id().clone();
    assert!(
        w.store
            .get_session(&id)
            .await
            .unwrap()
            .unwrap()
            .help_requested
    );
    let delivered = tokio::time::timeout(std::time::Duration::from_secs(10), notices.next())
        .await
        .expect("a notice in time");
    assert_eq!(delivered.map(|n| n.session_id), Some(id.clone()));
    let sent = w.notifier.sent();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].session_id, id);
    assert_eq!(sent[0].note.as_deref(), Some("need a human"));
    assert_eq!(
        sent[0].admin_link.as_deref(),
        Some(format!("https://admin.example/sessions/{id}").as_str())
    );
}

#[tokio::test]
async fn a_client_cannot_set_the_metadata_the_server_sets() {
    let w = world();
    let mut c = connect(&w, user("u1"), ConnectRequest::default()).await;
    next(&mut c).await;
    c.handle(frame(json!({
        "type": "user_message",
        "content": "hi",
        "metadata": {"tokens": "999999", "model_id": "gpt-9", "incomplete": "no", "client_ref": "abc"}
    })));
    let echoed = next(&mut c).await;
    assert!(echoed["metadata"]["tokens"].is_null() && echoed["metadata"]["model_id"].is_null());
    assert_eq!(
        echoed["metadata"]["client_ref"], "abc",
        "the client's own keys are kept"
    );
    until(&mut c, "ai_response", true).await;
    let stored = w.store.messages(c.session_id(), None).await.unwrap();
    assert_eq!(
        stored[0]
            .metadata
            .keys()
            .map(String::as_str)
            .collect::<Vec<_>>(),
        ["client_ref"]
    );
}
