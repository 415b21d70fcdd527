//! The SMTP channel against a real SMTP sink (aiosmtpd, from `cargo xtask test`; it writes each
//! accepted message to `CHATBOX_TEST_SMTP_DIR` before answering), plus failures that need no
//! sink: nothing listening, and a server that never greets.

use std::path::Path;

use chatbox_core::{Notifier, NotifyError};
use chatbox_notify::{SmtpConfig, SmtpNotifier, SmtpTls};
use serde::Deserialize;

use crate::support::{closed_port, notice, service, unique};

const HOSTILE: &str = "<img src=x onerror=alert(1)>";

/// One message as the sink stored it.
#[derive(Debug, Deserialize)]
struct Stored {
    rcpt_tos: Vec<String>,
    mail_from: String,
    subject: String,
    from: String,
    content_type: String,
    parts: Vec<Part>,
}

#[derive(Debug, Deserialize)]
struct Part {
    content_type: String,
    body: String,
}

impl Stored {
    fn part(&self, content_type: &str) -> String {
        self.parts
            .iter()
            .find(|p| p.content_type == content_type)
            .map(|p| p.body.replace("\r\n", "\n"))
            .unwrap_or_else(|| panic!("no {content_type} part in {self:?}"))
    }
}

/// The sink's address and folder, or `None` (after a loud notice) without services.
fn sink() -> Option<(String, String)> {
    let addr = service("CHATBOX_TEST_SMTP_ADDR", "the SMTP sink")?;
    let dir = service("CHATBOX_TEST_SMTP_DIR", "the SMTP sink")?;
    Some((addr, dir))
}

fn config(addr: &str, recipients: &[String]) -> SmtpConfig {
    let (host, port) = addr.rsplit_once(':').unwrap();
    SmtpConfig {
        host: host.to_owned(),
        port: port.parse().unwrap(),
        from: "chatbox@example.com".into(),
        from_name: Some("Chatbox".into()),
        tls: SmtpTls::None,
        recipients: recipients.to_vec(),
        timeout_ms: 5_000,
        ..SmtpConfig::default()
    }
}

/// Every stored message with a recipient among `recipients`.
fn delivered_to(dir: &str, recipients: &[String]) -> Vec<Stored> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(Path::new(dir)).unwrap().flatten() {
        let path = entry.path();
        if path.extension().is_none_or(|e| e != "json") {
            continue;
        }
        let stored: Stored = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        if stored.rcpt_tos.iter().any(|r| recipients.contains(r)) {
            out.push(stored);
        }
    }
    out
}

#[tokio::test]
async fn one_notice_reaches_every_recipient_as_multipart_text_and_html() {
    let Some((addr, dir)) = sink() else { return };
    let tag = unique("smtp");
    let recipients = vec![
        format!("staff1-{tag}@example.com"),
        format!("staff2-{tag}@example.com"),
    ];
    let smtp = SmtpNotifier::new(config(&addr, &recipients)).unwrap();
    let n = notice("smtp", HOSTILE);
    smtp.notify(&n).await.unwrap();

    let stored = delivered_to(&dir, &recipients);
    for r in &recipients {
        let count = stored.iter().filter(|m| m.rcpt_tos.contains(r)).count();
        assert_eq!(count, 1, "{r} got {count} messages: {stored:?}");
    }
    let m = &stored[0];
    assert_eq!(m.mail_from, "chatbox@example.com");
    assert_eq!(m.from, "Chatbox <chatbox@example.com>");
    assert_eq!(m.content_type, "multipart/alternative");
    assert!(m.subject.contains(n.session_id.as_str()), "{}", m.subject);
    assert!(m.subject.contains(HOSTILE), "{}", m.subject);

    let html = m.part("text/html");
    assert!(
        html.contains("&lt;img src=x onerror=alert(1)&gt;"),
        "{html}"
    );
    assert!(!html.contains("<img"), "{html}");
    assert!(html.contains(n.admin_link.as_deref().unwrap()), "{html}");

    let text = m.part("text/plain");
    assert!(text.contains(HOSTILE), "{text}");
    assert!(text.contains("user: Where is my order?"), "{text}");
    assert!(text.contains("please call me back"), "{text}");
}

#[tokio::test]
async fn a_refused_recipient_is_rejected_and_a_deferred_one_unavailable() {
    let Some((addr, _dir)) = sink() else { return };
    let tag = unique("smtp-refuse");
    let rejected = SmtpNotifier::new(config(&addr, &[format!("reject-{tag}@example.com")]))
        .unwrap()
        .notify(&notice("smtp-550", "Ada"))
        .await
        .unwrap_err();
    assert!(matches!(rejected, NotifyError::Rejected(_)), "{rejected:?}");

    let deferred = SmtpNotifier::new(config(&addr, &[format!("tempfail-{tag}@example.com")]))
        .unwrap()
        .notify(&notice("smtp-451", "Ada"))
        .await
        .unwrap_err();
    assert!(
        matches!(deferred, NotifyError::Unavailable(_)),
        "{deferred:?}"
    );
}

#[tokio::test]
async fn starttls_against_a_server_without_it_is_a_config_error() {
    let Some((addr, dir)) = sink() else { return };
    let recipients = vec![format!("staff-{}@example.com", unique("smtp-tls"))];
    let smtp = SmtpNotifier::new(SmtpConfig {
        tls: SmtpTls::StartTls,
        ..config(&addr, &recipients)
    })
    .unwrap();
    let err = smtp
        .notify(&notice("smtp-starttls", "Ada"))
        .await
        .unwrap_err();
    assert!(matches!(err, NotifyError::Config(_)), "{err:?}");
    assert!(delivered_to(&dir, &recipients).is_empty());
}

#[tokio::test]
async fn nothing_listening_is_unavailable() {
    let addr = format!("127.0.0.1:{}", closed_port());
    let smtp = SmtpNotifier::new(config(&addr, &["staff@example.com".to_owned()])).unwrap();
    let err = smtp
        .notify(&notice("smtp-refused", "Ada"))
        .await
        .unwrap_err();
    assert!(matches!(err, NotifyError::Unavailable(_)), "{err:?}");
}

#[tokio::test]
async fn a_server_that_never_greets_is_unavailable_after_the_timeout() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    // Accept and hold connections without a word, like a stalled server.
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket);
        }
    });
    let smtp = SmtpNotifier::new(SmtpConfig {
        timeout_ms: 300,
        ..config(&addr, &["staff@example.com".to_owned()])
    })
    .unwrap();
    let err = smtp.notify(&notice("smtp-stall", "Ada")).await.unwrap_err();
    assert!(matches!(err, NotifyError::Unavailable(_)), "{err:?}");
}
