//! Snapshot of the `chat/completions` body and tests of the chunk decoder.

use chatbox_core::ports::llm::{ChatMessage, ImagePart};
use expect_test::expect;

use super::*;
use crate::config::ProviderKind;

fn provider(config: ProviderConfig) -> OpenAi {
    let url = config.validate().unwrap();
    OpenAi::new(&config, &url)
}

fn config() -> ProviderConfig {
    ProviderConfig {
        id: "gpt".into(),
        name: "GPT".into(),
        kind: ProviderKind::Openai,
        endpoint: "https://api.openai.com/v1".into(),
        api_key: "sk-test".into(),
        model: "gpt-4o-mini".into(),
        ..ProviderConfig::default()
    }
}

fn request() -> ChatRequest {
    ChatRequest {
        system_prompt: Some("You are the support bot.".into()),
        messages: vec![
            ChatMessage::user("Hi"),
            ChatMessage::assistant("Hello! How can I help?"),
            ChatMessage::user("Where is my \"order\"?"),
        ],
        conversation_key: "session-1".into(),
        user_key: "user-1".into(),
    }
}

#[test]
fn request_body_snapshot() {
    let openai = provider(config());
    let body = serde_json::to_string_pretty(&openai.body(&request())).unwrap();
    expect![[r#"
        {
          "model": "gpt-4o-mini",
          "messages": [
            {
              "role": "system",
              "content": "You are the support bot."
            },
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
              "content": "Where is my \"order\"?"
            }
          ],
          "stream": true,
          "stream_options": {
            "include_usage": true
          },
          "max_completion_tokens": 4096,
          "user": "user-1"
        }"#]]
    .assert_eq(&body);
}

fn with_image() -> ChatRequest {
    let image = ImagePart {
        mime_type: "image/png".into(),
        data: bytes::Bytes::from_static(b"\x89PNG\r\n"),
    };
    ChatRequest {
        system_prompt: None,
        messages: vec![
            ChatMessage::user("[file: parcel.png, image/png, 6 B]\nIs this damaged?")
                .with_image(image),
        ],
        conversation_key: "session-1".into(),
        user_key: String::new(),
    }
}

#[test]
fn with_vision_images_are_sent_inline_as_data_urls() {
    let openai = provider(ProviderConfig {
        vision: true,
        ..config()
    });
    let body = serde_json::to_string_pretty(&openai.body(&with_image())).unwrap();
    expect![[r#"
        {
          "model": "gpt-4o-mini",
          "messages": [
            {
              "role": "user",
              "content": [
                {
                  "type": "text",
                  "text": "[file: parcel.png, image/png, 6 B]\nIs this damaged?"
                },
                {
                  "type": "image_url",
                  "image_url": {
                    "url": "data:image/png;base64,iVBORw0K"
                  }
                }
              ]
            }
          ],
          "stream": true,
          "stream_options": {
            "include_usage": true
          },
          "max_completion_tokens": 4096
        }"#]]
    .assert_eq(&body);
}

#[test]
fn without_vision_a_turn_with_images_is_its_text_alone() {
    let openai = provider(config());
    let body = serde_json::to_value(openai.body(&with_image())).unwrap();
    assert_eq!(
        body["messages"][0]["content"],
        "[file: parcel.png, image/png, 6 B]\nIs this damaged?"
    );
    assert!(!body.to_string().contains("base64"));
}

#[test]
fn without_stream_usage_or_system_prompt_the_fields_are_absent() {
    let openai = provider(ProviderConfig {
        stream_usage: false,
        ..config()
    });
    let mut request = request();
    request.system_prompt = None;
    request.user_key.clear();
    let body = serde_json::to_value(openai.body(&request)).unwrap();
    assert!(body.get("stream_options").is_none());
    assert!(body.get("user").is_none());
    assert_eq!(body["messages"][0]["role"], "user");
}

#[test]
fn urls_follow_the_endpoint() {
    let openai = provider(ProviderConfig {
        endpoint: "https://x.openai.azure.com/openai/deployments/d?api-version=2024-10-21".into(),
        api_key_header: Some("api-key".into()),
        ..config()
    });
    assert_eq!(
        openai.chat_url.as_str(),
        "https://x.openai.azure.com/openai/deployments/d/chat/completions?api-version=2024-10-21"
    );
    let (name, value) = openai.auth.clone().unwrap();
    assert_eq!(name.as_str(), "api-key");
    assert_eq!(value.to_str().unwrap(), "sk-test");
}

fn decode(data: &str) -> Vec<Decoded> {
    let mut out = Vec::new();
    OpenAiDecoder.event(
        &Event {
            name: "",
            data: data.into(),
        },
        &mut out,
    );
    out
}

#[test]
fn decoder_reads_deltas_usage_done_and_errors() {
    assert!(matches!(
        &decode(r#"{"choices":[{"index":0,"delta":{"content":"Hi \"x\""}}]}"#)[..],
        [Decoded::Text(t)] if t == "Hi \"x\""
    ));
    assert!(matches!(
        &decode(r#"{"choices":[],"usage":{"prompt_tokens":3,"completion_tokens":4}}"#)[..],
        [Decoded::Usage {
            input: Some(3),
            output: Some(4)
        }]
    ));
    assert!(matches!(&decode("[DONE]")[..], [Decoded::Done]));
    assert!(matches!(
        &decode(r#"{"error":{"message":"boom","type":"server_error"}}"#)[..],
        [Decoded::Error(LlmError::Overloaded { .. })]
    ));
    assert!(matches!(
        &decode("not json")[..],
        [Decoded::Error(LlmError::Protocol(_))]
    ));
}

#[test]
fn error_bodies_are_typed_by_code() {
    assert_eq!(
        error_body(br#"{"error":{"message":"quota","type":"insufficient_quota","code":"insufficient_quota"}}"#).0,
        VendorKind::Auth
    );
    assert_eq!(
        error_body(
            br#"{"error":{"message":"slow down","type":"requests","code":"rate_limit_exceeded"}}"#
        )
        .0,
        VendorKind::RateLimited
    );
    assert_eq!(error_body(b"<html>").0, VendorKind::Unspecified);
}
