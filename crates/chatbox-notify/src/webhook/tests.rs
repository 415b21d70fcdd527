//! Webhook payload shape, signature and config checks (delivery is tested against a fake
//! receiver in `tests/it/webhook.rs`).

use chatbox_core::{Message, Sender, SessionId, UserId};
use chrono::{TimeZone, Utc};

use super::*;

#[test]
fn the_signature_is_lowercase_hex_hmac_sha256_of_the_body() {
    // RFC 4231, test case 2.
    assert_eq!(
        signature(b"Jefe", b"what do ya want for nothing?"),
        "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
    );
}

#[test]
fn the_payload_has_the_documented_fields() {
    let at = Utc
        .with_ymd_and_hms(2025, 3, 4, 5, 6, 7)
        .single()
        .expect("valid time");
    let notice = HelpNotice {
        user_id: UserId::parse("u1").expect("id"),
        user_name: "Ada".into(),
        session_id: SessionId::parse("s1").expect("id"),
        requested_at: at,
        admin_link: None,
        note: Some("call me".into()),
        context: vec![Message::text(Sender::User, "x".repeat(400), at)],
    };
    let json = serde_json::to_value(payload(&notice)).expect("serializes");
    assert_eq!(json["event"], "help_requested");
    assert_eq!(json["user_id"], "u1");
    assert_eq!(json["user_name"], "Ada");
    assert_eq!(json["session_id"], "s1");
    assert_eq!(json["requested_at"], "2025-03-04T05:06:07.000Z");
    assert_eq!(json["admin_link"], serde_json::Value::Null);
    assert_eq!(json["note"], "call me");
    assert_eq!(json["context"][0]["sender"], "user");
    assert_eq!(json["context"][0]["timestamp"], "2025-03-04T05:06:07.000Z");
    let content = json["context"][0]["content"].as_str().expect("text");
    assert_eq!(content.chars().count(), CONTEXT_CHARS);
    let keys: Vec<&str> = json
        .as_object()
        .expect("object")
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(keys.len(), 8, "{keys:?}");
}

#[test]
fn config_problems_name_their_keys() {
    let config = WebhookConfig {
        url: "ftp://example.com/hook".into(),
        secret: Some(" ".into()),
        timeout_ms: 0,
    };
    let keys: Vec<&str> = config.problems().iter().map(|p| p.key).collect();
    assert_eq!(
        keys,
        ["NOTIFY_WEBHOOK_URL", "NOTIFY_WEBHOOK_SECRET", "timeout_ms"]
    );
    let empty = WebhookConfig::default().validate().unwrap_err();
    assert!(
        empty.to_string().contains("NOTIFY_WEBHOOK_URL is empty"),
        "{empty}"
    );
    let ok = WebhookConfig {
        url: "https://hooks.example/chatbox".into(),
        ..WebhookConfig::default()
    };
    assert!(ok.problems().is_empty());
    assert!(WebhookNotifier::new(ok).is_ok());
}

#[test]
fn debug_output_hides_the_secret_and_the_url_path() {
    let config = WebhookConfig {
        url: "https://hooks.example/chatbox/T0K3N".into(),
        secret: Some("s3cr3t-value".into()),
        ..WebhookConfig::default()
    };
    let text = format!("{config:?}");
    assert!(!text.contains("s3cr3t-value"), "{text}");
    assert!(!text.contains("T0K3N"), "{text}");
    assert!(text.contains("<hidden>"));
    let notifier = WebhookNotifier::new(config).expect("valid");
    let text = format!("{notifier:?}");
    assert!(
        !text.contains("s3cr3t-value") && !text.contains("T0K3N"),
        "{text}"
    );
    assert_eq!(notifier.channel(), "webhook");
}
