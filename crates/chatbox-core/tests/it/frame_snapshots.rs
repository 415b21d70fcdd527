//! Snapshots of one frame of each kind the server sends, as JSON: the field names must match the
//! contract exactly, so a change here is a protocol change and must be deliberate.

use chatbox_core::protocol::{Envelope, ErrorCode, FrameType, ModelInfo};
use chatbox_core::session::Message;
use chatbox_core::{FileId, Sender, SessionId, UserId};
use chrono::{DateTime, TimeZone, Utc};
use expect_test::{Expect, expect};

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2025, 3, 4, 2, 16, 5).unwrap()
}

fn sid() -> SessionId {
    SessionId::parse("s-1").unwrap()
}

fn check(env: Envelope, expected: Expect) {
    expected.assert_eq(&env.with_session(&sid()).with_seq(7).encode());
}

#[test]
fn connection_status() {
    let models = vec![
        ModelInfo {
            id: "openai-gpt4".into(),
            name: "GPT-4".into(),
        },
        ModelInfo {
            id: "claude".into(),
            name: "Claude".into(),
        },
    ];
    let mut env = Envelope::connection_status(
        &sid(),
        &UserId::parse("u-1").unwrap(),
        "openai-gpt4",
        models,
        now(),
    );
    env.set_meta("recovered", "true");
    check(
        env,
        expect![[
            r#"{"type":"connection_status","session_id":"s-1","model_id":"openai-gpt4","models":[{"id":"openai-gpt4","name":"GPT-4"},{"id":"claude","name":"Claude"}],"timestamp":"2025-03-04T02:16:05Z","sender":"system","metadata":{"recovered":"true"},"user_id":"u-1","seq":7}"#
        ]],
    );
}

#[test]
fn loading_chunk_and_done() {
    check(
        Envelope::loading(now()),
        expect![[
            r#"{"type":"loading","session_id":"s-1","timestamp":"2025-03-04T02:16:05Z","sender":"ai","seq":7}"#
        ]],
    );
    check(
        Envelope::ai_chunk("Hel", "openai-gpt4", now()),
        expect![[
            r#"{"type":"ai_response","session_id":"s-1","content":"Hel","model_id":"openai-gpt4","timestamp":"2025-03-04T02:16:05Z","sender":"ai","metadata":{"done":"false","streaming":"true"},"seq":7}"#
        ]],
    );
    check(
        Envelope::ai_done("openai-gpt4", Some(42), Some(1234), None, now()),
        expect![[
            r#"{"type":"ai_response","session_id":"s-1","model_id":"openai-gpt4","timestamp":"2025-03-04T02:16:05Z","sender":"ai","metadata":{"done":"true","response_ms":"1234","streaming":"true","tokens":"42"},"seq":7}"#
        ]],
    );
    check(
        Envelope::ai_done("openai-gpt4", None, None, Some("takeover"), now()),
        expect![[
            r#"{"type":"ai_response","session_id":"s-1","model_id":"openai-gpt4","timestamp":"2025-03-04T02:16:05Z","sender":"ai","metadata":{"cancelled":"takeover","done":"true","streaming":"true"},"seq":7}"#
        ]],
    );
}

#[test]
fn errors() {
    check(
        Envelope::error(
            ErrorCode::LlmUnavailable,
            "AI service is temporarily unavailable",
            now(),
        ),
        expect![[
            r#"{"type":"error","session_id":"s-1","timestamp":"2025-03-04T02:16:05Z","sender":"system","error":{"code":"LLM_UNAVAILABLE","message":"AI service is temporarily unavailable","recoverable":true},"seq":7}"#
        ]],
    );
    check(
        Envelope::rate_limited(1500, now()),
        expect![[
            r#"{"type":"error","session_id":"s-1","timestamp":"2025-03-04T02:16:05Z","sender":"system","error":{"code":"TOO_MANY_REQUESTS","message":"Too many requests, please slow down","recoverable":true,"retry_after":1500},"seq":7}"#
        ]],
    );
}

#[test]
fn notification_pong_and_admin_presence() {
    check(
        Envelope::notification("Help request sent. An admin will join shortly.", now()),
        expect![[
            r#"{"type":"notification","session_id":"s-1","content":"Help request sent. An admin will join shortly.","timestamp":"2025-03-04T02:16:05Z","sender":"system","seq":7}"#
        ]],
    );
    check(
        Envelope::pong(now()),
        expect![[
            r#"{"type":"pong","session_id":"s-1","timestamp":"2025-03-04T02:16:05Z","sender":"system","seq":7}"#
        ]],
    );
    let admin = UserId::parse("adm-1").unwrap();
    check(
        Envelope::admin_presence(true, &admin, "Ada", now()),
        expect![[
            r#"{"type":"admin_join","session_id":"s-1","content":"Administrator Ada has joined the session","timestamp":"2025-03-04T02:16:05Z","sender":"admin","metadata":{"admin_id":"adm-1","admin_name":"Ada"},"seq":7}"#
        ]],
    );
    check(
        Envelope::admin_presence(false, &admin, "Ada", now()),
        expect![[
            r#"{"type":"admin_leave","session_id":"s-1","content":"Administrator Ada has left the session","timestamp":"2025-03-04T02:16:05Z","sender":"admin","metadata":{"admin_id":"adm-1","admin_name":"Ada"},"seq":7}"#
        ]],
    );
}

#[test]
fn echoed_messages() {
    let text = Message::text(Sender::User, "How do I reset my password?", now());
    check(
        Envelope::from_message(FrameType::UserMessage, &text),
        expect![[
            r#"{"type":"user_message","session_id":"s-1","content":"How do I reset my password?","timestamp":"2025-03-04T02:16:05Z","sender":"user","seq":7}"#
        ]],
    );
    let mut file = Message::text(Sender::User, "", now());
    file.file_id = Some(FileId::parse("f-9").unwrap());
    file.file_url = Some("/chatbox/files/f-9".into());
    file.metadata.insert("filename".into(), "photo.png".into());
    check(
        Envelope::from_message(FrameType::FileUpload, &file),
        expect![[
            r#"{"type":"file_upload","session_id":"s-1","content":"","file_id":"f-9","file_url":"/chatbox/files/f-9","timestamp":"2025-03-04T02:16:05Z","sender":"user","metadata":{"filename":"photo.png"},"seq":7}"#
        ]],
    );
}
