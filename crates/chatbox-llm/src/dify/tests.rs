//! Snapshots of the `chat-messages` body (first turn with history, later turns with the
//! learned conversation id) and tests of the decoder and the bounded id map.

use chatbox_core::ports::llm::{ChatMessage, ImagePart};
use expect_test::expect;

use super::*;
use crate::config::ProviderKind;

fn provider() -> Dify {
    let config = ProviderConfig {
        id: "dify".into(),
        name: "Dify".into(),
        kind: ProviderKind::Dify,
        endpoint: "http://dify-api.ai.svc.cluster.local/v1".into(),
        api_key: "app-test".into(),
        ..ProviderConfig::default()
    };
    let url = config.validate().unwrap();
    Dify::new(&config, &url)
}

fn request() -> ChatRequest {
    ChatRequest {
        system_prompt: Some("ignored by dify".into()),
        messages: vec![
            ChatMessage::user("Hi"),
            ChatMessage::assistant("Hello!"),
            ChatMessage::user("Where is my order?"),
        ],
        conversation_key: "session-1".into(),
        user_key: "user-1".into(),
    }
}

#[test]
fn first_turn_with_history_writes_the_transcript_into_the_query() {
    let body = serde_json::to_string_pretty(&provider().body(&request())).unwrap();
    expect![[r#"
        {
          "inputs": {},
          "query": "Conversation so far:\nUser: Hi\nAssistant: Hello!\n\nLatest message from the user:\nWhere is my order?",
          "response_mode": "streaming",
          "conversation_id": "",
          "user": "user-1",
          "auto_generate_name": false
        }"#]]
    .assert_eq(&body);
}

#[test]
fn once_the_id_is_learned_only_the_latest_message_is_sent() {
    let dify = provider();
    let mut decoder = dify.decoder(&request());
    let mut out = Vec::new();
    decoder.event(
        &Event {
            name: "",
            data: r#"{"event":"message","conversation_id":"c-42","answer":"Hi"}"#.into(),
        },
        &mut out,
    );
    assert!(matches!(&out[..], [Decoded::Text(t)] if t == "Hi"));
    let body = serde_json::to_string_pretty(&dify.body(&request())).unwrap();
    expect![[r#"
        {
          "inputs": {},
          "query": "Where is my order?",
          "response_mode": "streaming",
          "conversation_id": "c-42",
          "user": "user-1",
          "auto_generate_name": false
        }"#]]
    .assert_eq(&body);
}

#[test]
fn images_are_never_sent_only_the_text_that_describes_them() {
    let image = ImagePart {
        mime_type: "image/png".into(),
        data: bytes::Bytes::from_static(b"\x89PNG pixels"),
    };
    let request = ChatRequest {
        messages: vec![
            ChatMessage::user("[file: a.png, image/png, 10 B]\nWhat is this?").with_image(image),
        ],
        ..request()
    };
    let body = serde_json::to_value(provider().body(&request)).unwrap();
    assert_eq!(
        body["query"],
        "[file: a.png, image/png, 10 B]\nWhat is this?"
    );
    assert!(!body.to_string().contains("iVBOR"));
    assert!(!body.to_string().contains("pixels"));
}

#[test]
fn a_forgotten_conversation_is_dropped_from_the_map() {
    let dify = provider();
    dify.conversations().insert("session-1", "c-1");
    let error = dify.classify(
        &request(),
        StatusCode::NOT_FOUND,
        &HeaderMap::new(),
        br#"{"code":"not_found","message":"Conversation Not Exists.","status":404}"#,
    );
    assert!(matches!(error, LlmError::BadRequest { .. }));
    assert_eq!(dify.conversations().get("session-1"), None);
}

#[test]
fn the_map_forgets_the_oldest_beyond_capacity() {
    let mut map = Conversations::new(2);
    map.insert("a", "1");
    map.insert("b", "2");
    map.insert("a", "1");
    map.insert("c", "3");
    assert_eq!(map.get("a"), None);
    assert_eq!(map.get("b").as_deref(), Some("2"));
    assert_eq!(map.get("c").as_deref(), Some("3"));
}

#[test]
fn decoder_reads_usage_end_and_error_events() {
    let mut decoder = provider().decoder(&request());
    let mut out = Vec::new();
    for data in [
        r#"{"event":"message_end","metadata":{"usage":{"prompt_tokens":9,"completion_tokens":3}}}"#,
        r#"{"event":"error","status":429,"code":"too_many_requests","message":"slow"}"#,
        r#"{"event":"workflow_started"}"#,
    ] {
        decoder.event(
            &Event {
                name: "",
                data: data.into(),
            },
            &mut out,
        );
    }
    decoder.event(
        &Event {
            name: "ping",
            data: "".into(),
        },
        &mut out,
    );
    assert!(matches!(
        &out[..],
        [
            Decoded::Usage {
                input: Some(9),
                output: Some(3)
            },
            Decoded::Done,
            Decoded::Error(LlmError::RateLimited { .. })
        ]
    ));
}
