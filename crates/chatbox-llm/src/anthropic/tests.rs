//! Snapshot of the `messages` body and tests of the event decoder.

use chatbox_core::ports::llm::{ChatMessage, ImagePart};
use expect_test::expect;

use super::*;
use crate::config::ProviderKind;

fn provider() -> Anthropic {
    provider_with(false)
}

fn provider_with(vision: bool) -> Anthropic {
    let config = ProviderConfig {
        vision,
        id: "claude".into(),
        name: "Claude".into(),
        kind: ProviderKind::Anthropic,
        endpoint: "https://api.anthropic.com/v1".into(),
        api_key: "sk-ant-test".into(),
        model: "claude-sonnet-4-5".into(),
        max_output_tokens: 1024,
        ..ProviderConfig::default()
    };
    let url = config.validate().unwrap();
    Anthropic::new(&config, &url)
}

#[test]
fn request_body_snapshot() {
    let request = ChatRequest {
        system_prompt: Some("You are the support bot.".into()),
        messages: vec![
            ChatMessage::assistant("Welcome!"),
            ChatMessage::user("Hi"),
            ChatMessage::assistant("Hello! How can I help?"),
            ChatMessage::user("My order"),
            ChatMessage::user("is late"),
        ],
        conversation_key: "session-1".into(),
        user_key: "user-1".into(),
    };
    let body = serde_json::to_string_pretty(&provider().body(&request)).unwrap();
    expect![[r#"
        {
          "model": "claude-sonnet-4-5",
          "max_tokens": 1024,
          "system": "You are the support bot.",
          "messages": [
            {
              "role": "user",
              "content": "Hi"
            },
            {
              "role": "assistant",
              "content": "Hello! How can I help?"
            },
            {
              "role": "user",
              "content": "My order\n\nis late"
            }
          ],
          "stream": true,
          "metadata": {
            "user_id": "user-1"
          }
        }"#]]
    .assert_eq(&body);
}

#[test]
fn with_vision_images_precede_the_text_as_base64_blocks() {
    let image = ImagePart {
        mime_type: "image/jpeg".into(),
        data: bytes::Bytes::from_static(&[0xff, 0xd8, 0xff]),
    };
    let request = ChatRequest {
        system_prompt: None,
        messages: vec![
            ChatMessage::user("Hi"),
            ChatMessage::assistant("Hello!"),
            ChatMessage::user("[file: box.jpg, image/jpeg, 3 B]").with_image(image),
        ],
        conversation_key: "session-1".into(),
        user_key: String::new(),
    };
    let body = serde_json::to_string_pretty(&provider_with(true).body(&request)).unwrap();
    expect![[r#"
        {
          "model": "claude-sonnet-4-5",
          "max_tokens": 1024,
          "messages": [
            {
              "role": "user",
              "content": "Hi"
            },
            {
              "role": "assistant",
              "content": "Hello!"
            },
            {
              "role": "user",
              "content": [
                {
                  "type": "image",
                  "source": {
                    "type": "base64",
                    "media_type": "image/jpeg",
                    "data": "/9j/"
                  }
                },
                {
                  "type": "text",
                  "text": "[file: box.jpg, image/jpeg, 3 B]"
                }
              ]
            }
          ],
          "stream": true
        }"#]]
    .assert_eq(&body);
    let plain = serde_json::to_value(provider().body(&request)).unwrap();
    assert_eq!(
        plain["messages"][2]["content"], "[file: box.jpg, image/jpeg, 3 B]",
        "without vision the text alone"
    );
}

fn decode(data: &str) -> Vec<Decoded> {
    let mut out = Vec::new();
    AnthropicDecoder.event(
        &Event {
            name: "",
            data: data.into(),
        },
        &mut out,
    );
    out
}

#[test]
fn decoder_reads_usage_text_stop_and_errors() {
    assert!(matches!(
        &decode(
            r#"{"type":"message_start","message":{"usage":{"input_tokens":25,"output_tokens":1}}}"#
        )[..],
        [Decoded::Usage {
            input: Some(25),
            output: None
        }]
    ));
    assert!(matches!(
        &decode(r#"{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Hi"}}"#)[..],
        [Decoded::Text(t)] if t == "Hi"
    ));
    assert!(matches!(
        &decode(
            r#"{"type":"message_delta","delta":{"stop_reason":"end_turn"},"usage":{"output_tokens":15}}"#
        )[..],
        [Decoded::Usage {
            input: None,
            output: Some(15)
        }]
    ));
    assert!(matches!(
        &decode(r#"{"type":"message_stop"}"#)[..],
        [Decoded::Done]
    ));
    assert!(decode(r#"{"type":"ping"}"#).is_empty());
    assert!(matches!(
        &decode(r#"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}"#)[..],
        [Decoded::Error(LlmError::Overloaded { status: 529 })]
    ));
}
