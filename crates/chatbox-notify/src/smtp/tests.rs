//! SMTP config checks and the message built for a notice (delivery is tested against a real
//! SMTP sink in `tests/it/smtp.rs`).

use chatbox_core::{SessionId, UserId};
use chrono::Utc;

use super::*;

fn valid() -> SmtpConfig {
    SmtpConfig {
        host: "smtp.example.com".into(),
        username: Some("bot".into()),
        password: Some("pa55-word".into()),
        from: "bot@example.com".into(),
        from_name: Some("Chatbox".into()),
        reply_to: Some("support@example.com".into()),
        recipients: vec!["a@example.com".into(), "b@example.com".into()],
        ..SmtpConfig::default()
    }
}

fn notice() -> HelpNotice {
    HelpNotice {
        user_id: UserId::parse("u1").expect("id"),
        user_name: "Ada".into(),
        session_id: SessionId::parse("s1").expect("id"),
        requested_at: Utc::now(),
        admin_link: None,
        note: None,
        context: Vec::new(),
    }
}

#[test]
fn defaults_are_port_587_and_starttls() {
    let c = SmtpConfig::default();
    assert_eq!((c.port, c.tls), (587, SmtpTls::StartTls));
    assert!(valid().problems().is_empty(), "{:?}", valid().problems());
}

#[test]
fn a_host_without_sender_names_email_from() {
    let config = SmtpConfig {
        from: String::new(),
        ..valid()
    };
    let err = config.validate().unwrap_err();
    assert_eq!(err.problems().len(), 1, "{err}");
    assert_eq!(err.problems()[0].key, "EMAIL_FROM");
    assert!(err.to_string().contains("EMAIL_FROM is empty"), "{err}");
}

#[test]
fn invalid_addresses_are_named_with_their_key() {
    let config = SmtpConfig {
        from: "not-an-address".into(),
        reply_to: Some("also bad".into()),
        recipients: vec!["ok@example.com".into(), "nobody".into()],
        ..valid()
    };
    let problems = config.problems();
    let keys: Vec<&str> = problems.iter().map(|p| p.key).collect();
    assert_eq!(keys, ["EMAIL_FROM", "EMAIL_REPLY_TO", "ADMIN_EMAILS"]);
    assert!(problems[2].reason.contains("\"nobody\""), "{}", problems[2]);
}

#[test]
fn every_other_problem_is_listed_at_once() {
    let config = SmtpConfig {
        host: "smtp://mail.example.com".into(),
        port: 0,
        username: Some("bot".into()),
        password: None,
        from_name: Some("Evil\r\nBcc: x@example.com".into()),
        recipients: Vec::new(),
        timeout_ms: 0,
        ..valid()
    };
    let keys: Vec<&str> = config.problems().iter().map(|p| p.key).collect();
    assert_eq!(
        keys,
        [
            "SMTP_HOST",
            "SMTP_PORT",
            "SMTP_PASS",
            "EMAIL_FROM_NAME",
            "ADMIN_EMAILS",
            "timeout_ms"
        ]
    );
}

#[test]
fn a_password_is_never_sent_unencrypted_to_a_remote_host() {
    let remote = SmtpConfig {
        tls: SmtpTls::None,
        ..valid()
    };
    let keys: Vec<&str> = remote.problems().iter().map(|p| p.key).collect();
    assert_eq!(keys, ["SMTP_TLS"]);
    for host in ["localhost", "127.0.0.1", "::1"] {
        let local = SmtpConfig {
            host: host.into(),
            ..remote.clone()
        };
        assert!(
            local.problems().is_empty(),
            "{host}: {:?}",
            local.problems()
        );
    }
}

#[test]
fn debug_output_hides_the_password() {
    let text = format!("{:?}", valid());
    assert!(!text.contains("pa55-word"), "{text}");
    assert!(text.contains("<hidden>"));
    let notifier = SmtpNotifier::new(valid()).expect("valid");
    assert!(!format!("{notifier:?}").contains("pa55-word"));
    assert_eq!(notifier.channel(), "smtp");
}

#[test]
fn the_message_is_multipart_to_every_recipient() {
    let notifier = SmtpNotifier::new(valid()).expect("valid");
    let message = notifier.message(&notice()).expect("builds");
    let envelope: Vec<String> = message
        .envelope()
        .to()
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(envelope, ["a@example.com", "b@example.com"]);
    let raw = String::from_utf8(message.formatted()).expect("ascii");
    assert!(raw.contains("From: Chatbox <bot@example.com>"), "{raw}");
    assert!(raw.contains("Reply-To: support@example.com"), "{raw}");
    assert!(raw.contains("To: a@example.com, b@example.com"), "{raw}");
    assert!(raw.contains("Content-Type: multipart/alternative"), "{raw}");
    assert!(
        raw.contains("Content-Type: text/plain; charset=utf-8"),
        "{raw}"
    );
    assert!(
        raw.contains("Content-Type: text/html; charset=utf-8"),
        "{raw}"
    );
    assert!(raw.contains(".chatbox@example.com>"), "{raw}");
}
