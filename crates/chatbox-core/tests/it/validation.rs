//! Inbound validation: required fields, limits in characters, skew, sanitising, error codes.

use chatbox_core::protocol::{ClientCommand, ClientFrame, ErrorCode, FrameError, limits};
use chrono::{Duration, TimeZone, Utc};
use serde_json::json;

fn parse(v: serde_json::Value) -> Result<ClientFrame, FrameError> {
    let now = Utc.with_ymd_and_hms(2025, 1, 1, 12, 0, 0).unwrap();
    ClientFrame::parse(v.to_string().as_bytes(), now)
}

fn code(v: serde_json::Value) -> ErrorCode {
    parse(v).unwrap_err().code()
}

#[test]
fn user_message_parses_with_metadata_stringified_and_nul_stripped() {
    let f = parse(json!({
        "type": "user_message", "session_id": " s1 ", "content": "he\u{0}llo",
        "sender": "admin", "metadata": {"size": 1234, "flag": true, "name": "a.png", "gone": null},
        "unknown_field": {"ignored": true}
    }))
    .unwrap();
    assert_eq!(f.session_id.unwrap().as_str(), "s1");
    let ClientCommand::UserMessage { content, metadata } = f.command else {
        panic!("wrong command")
    };
    assert_eq!(content, "hello");
    assert_eq!(metadata.get("size").map(String::as_str), Some("1234"));
    assert_eq!(metadata.get("flag").map(String::as_str), Some("true"));
    assert!(!metadata.contains_key("gone"));
}

#[test]
fn missing_fields_per_type() {
    assert_eq!(code(json!({"content": "x"})), ErrorCode::MissingField);
    assert_eq!(
        code(json!({"type": "user_message"})),
        ErrorCode::MissingField
    );
    assert_eq!(
        code(json!({"type": "user_message", "content": "  \n "})),
        ErrorCode::MissingField
    );
    assert_eq!(
        code(json!({"type": "model_select"})),
        ErrorCode::MissingField
    );
    assert_eq!(
        code(json!({"type": "file_upload", "file_url": "/x"})),
        ErrorCode::MissingField
    );
    assert_eq!(
        code(json!({"type": "voice_message"})),
        ErrorCode::MissingField
    );
    assert_eq!(code(json!({"type": "auth"})), ErrorCode::MissingField);
    let err = parse(json!({"type": "model_select", "model_id": " "})).unwrap_err();
    assert_eq!(err, FrameError::MissingField("model_id"));
}

#[test]
fn server_only_and_unknown_types_are_unknown_type() {
    for t in [
        "ai_response",
        "loading",
        "connection_status",
        "error",
        "notification",
        "pong",
        "bogus",
    ] {
        assert_eq!(
            code(json!({"type": t, "content": "x"})),
            ErrorCode::UnknownType,
            "{t}"
        );
    }
}

#[test]
fn every_client_type_is_accepted() {
    let frames = [
        json!({"type": "user_message", "content": "hi"}),
        json!({"type": "model_select", "model_id": "openai-gpt4"}),
        json!({"type": "help_request"}),
        json!({"type": "file_upload", "file_id": "f1"}),
        json!({"type": "voice_message", "file_id": "f2"}),
        json!({"type": "typing_indicator", "metadata": {"typing": "true"}}),
        json!({"type": "ping"}),
        json!({"type": "auth", "content": "jwt"}),
        json!({"type": "admin_join", "session_id": "s"}),
        json!({"type": "admin_leave", "session_id": "s"}),
    ];
    for f in frames {
        assert!(parse(f.clone()).is_ok(), "{f}");
    }
    let typing =
        parse(json!({"type": "typing_indicator", "metadata": {"typing": "true"}})).unwrap();
    assert_eq!(typing.command, ClientCommand::Typing { active: true });
}

#[test]
fn limits_are_counted_in_characters() {
    let at_limit = "é".repeat(limits::CONTENT_CHARS);
    assert!(
        parse(json!({"type": "user_message", "content": at_limit})).is_ok(),
        "10 000 two-byte chars fit"
    );
    let over = "a".repeat(limits::CONTENT_CHARS + 1);
    let err = parse(json!({"type": "user_message", "content": over})).unwrap_err();
    assert_eq!(
        err,
        FrameError::TooLong {
            field: "content",
            max: limits::CONTENT_CHARS
        }
    );
    assert_eq!(err.code(), ErrorCode::InvalidFormat);
    let model = "m".repeat(limits::MODEL_ID_CHARS + 1);
    assert_eq!(
        code(json!({"type": "model_select", "model_id": model})),
        ErrorCode::InvalidFormat
    );
    let meta = "v".repeat(limits::METADATA_VALUE_CHARS + 1);
    assert_eq!(
        code(json!({"type": "ping", "metadata": {"k": meta}})),
        ErrorCode::InvalidFormat
    );
    let url = "u".repeat(limits::FILE_URL_CHARS + 1);
    assert_eq!(
        code(json!({"type": "file_upload", "file_id": "f", "file_url": url})),
        ErrorCode::InvalidFormat
    );
}

#[test]
fn timestamps_default_to_now_and_reject_far_future() {
    let now = Utc.with_ymd_and_hms(2025, 1, 1, 12, 0, 0).unwrap();
    let f = parse(json!({"type": "ping"})).unwrap();
    assert_eq!(f.timestamp, now);
    let ok = (now + Duration::seconds(59)).to_rfc3339();
    assert!(parse(json!({"type": "ping", "timestamp": ok})).is_ok());
    let future = (now + Duration::seconds(61)).to_rfc3339();
    assert_eq!(
        parse(json!({"type": "ping", "timestamp": future})).unwrap_err(),
        FrameError::FutureTimestamp
    );
    assert_eq!(
        parse(json!({"type": "ping", "timestamp": "yesterday"})).unwrap_err(),
        FrameError::BadTimestamp
    );
}

#[test]
fn wrong_json_types_are_invalid_format() {
    assert_eq!(
        ClientFrame::parse(b"not json", Utc::now()).unwrap_err(),
        FrameError::NotJson
    );
    assert_eq!(
        ClientFrame::parse(b"[1,2]", Utc::now()).unwrap_err(),
        FrameError::NotAnObject
    );
    assert_eq!(code(json!({"type": 5})), ErrorCode::InvalidFormat);
    assert_eq!(
        code(json!({"type": "user_message", "content": 5})),
        ErrorCode::InvalidFormat
    );
    assert_eq!(
        code(json!({"type": "ping", "metadata": {"nested": {"a": 1}}})),
        ErrorCode::InvalidFormat
    );
    assert_eq!(
        code(json!({"type": "ping", "metadata": "flat"})),
        ErrorCode::InvalidFormat
    );
    assert_eq!(
        code(json!({"type": "ping", "session_id": "a/b"})),
        ErrorCode::InvalidFormat
    );
}
