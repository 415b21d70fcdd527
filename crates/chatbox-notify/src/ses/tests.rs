//! SES config checks and error classification (delivery is tested against moto in
//! `tests/it/ses.rs`).

use super::*;

fn valid() -> SesConfig {
    SesConfig {
        region: Some("eu-west-1".into()),
        access_key_id: Some("AKIDEXAMPLE".into()),
        secret_access_key: Some("very-secret-key".into()),
        from: "bot@example.com".into(),
        recipients: vec!["a@example.com".into()],
        ..SesConfig::default()
    }
}

#[test]
fn a_valid_config_has_no_problems_and_the_default_timeout() {
    assert!(valid().problems().is_empty(), "{:?}", valid().problems());
    assert_eq!(SesConfig::default().timeout_ms, DEFAULT_TIMEOUT_MS);
}

#[test]
fn config_problems_name_their_keys() {
    let config = SesConfig {
        region: Some("eu west".into()),
        endpoint: Some("localhost:4566".into()),
        access_key_id: Some("AKID".into()),
        secret_access_key: None,
        from: String::new(),
        from_name: None,
        reply_to: Some("nope".into()),
        recipients: vec!["x".into()],
        timeout_ms: 0,
    };
    let keys: Vec<&str> = config.problems().iter().map(|p| p.key).collect();
    assert_eq!(
        keys,
        [
            "SES_REGION",
            "SES_ENDPOINT",
            "SES_SECRET_ACCESS_KEY",
            "EMAIL_FROM",
            "EMAIL_REPLY_TO",
            "ADMIN_EMAILS",
            "timeout_ms"
        ]
    );
}

#[test]
fn debug_output_hides_the_secret_key() {
    let text = format!("{:?}", valid());
    assert!(!text.contains("very-secret-key"), "{text}");
    assert!(text.contains("<hidden>"));
}

#[tokio::test]
async fn the_client_builds_offline_with_a_named_sender() {
    let config = SesConfig {
        from_name: Some("Chatbox Staff".into()),
        endpoint: Some("http://127.0.0.1:1".into()),
        ..valid()
    };
    let notifier = SesNotifier::new(config).await.expect("builds");
    assert_eq!(notifier.from, "\"Chatbox Staff\" <bot@example.com>");
    assert!(!format!("{notifier:?}").contains("very-secret-key"));
    assert_eq!(notifier.channel(), "ses");
}

#[test]
fn unmodelled_errors_classify_by_status_and_code() {
    let t = || "x".to_owned();
    assert!(classify_code(503, None, t()).is_transient());
    assert!(classify_code(400, Some("ThrottlingException"), t()).is_transient());
    assert!(matches!(
        classify_code(403, None, t()),
        NotifyError::Config(_)
    ));
    assert!(matches!(
        classify_code(400, Some("SignatureDoesNotMatch"), t()),
        NotifyError::Config(_)
    ));
    assert!(matches!(
        classify_code(400, Some("Whatever"), t()),
        NotifyError::Rejected(_)
    ));
}

#[test]
fn the_sender_name_is_quoted_or_mime_encoded() {
    assert_eq!(sender(None, "a@example.com"), "a@example.com");
    assert_eq!(sender(Some("  "), "a@example.com"), "a@example.com");
    assert_eq!(
        sender(Some(r#"Help "Desk""#), "a@example.com"),
        r#""Help \"Desk\"" <a@example.com>"#
    );
    assert_eq!(
        sender(Some("Hilfe ü"), "a@example.com"),
        "=?UTF-8?B?SGlsZmUgw7w=?= <a@example.com>"
    );
}
