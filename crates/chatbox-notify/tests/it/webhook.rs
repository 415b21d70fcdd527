//! The webhook channel against a fake receiver that verifies the HMAC signature: one signed
//! request per notice with the documented JSON, and each failure mapped to its kind.

use chatbox_core::{Notifier, NotifyError};
use chatbox_notify::webhook::{SIGNATURE_HEADER, TIMESTAMP_HEADER, signature};
use chatbox_notify::{WebhookConfig, WebhookNotifier};

use crate::fake::{Fake, Reply};
use crate::support::{closed_port, notice};

const SECRET: &str = "whsec-test-0123456789";

/// A fake that accepts only bodies signed with `SECRET`.
async fn receiver(reply: Reply) -> Fake {
    Fake::start(reply, |headers, body| {
        headers
            .get(SIGNATURE_HEADER)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|sig| sig == signature(SECRET.as_bytes(), body))
    })
    .await
}

fn notifier(url: String, secret: Option<&str>, timeout_ms: u64) -> WebhookNotifier {
    WebhookNotifier::new(WebhookConfig {
        url,
        secret: secret.map(str::to_owned),
        timeout_ms,
    })
    .unwrap()
}

#[tokio::test]
async fn one_notice_is_one_signed_post_with_the_documented_json() {
    let fake = receiver(Reply::Status(204, "")).await;
    let hook = notifier(format!("{}/hooks/chatbox", fake.base), Some(SECRET), 5_000);
    let n = notice("wh", "Ada <admin>");
    let before = chrono::Utc::now().timestamp();
    hook.notify(&n).await.unwrap();

    let requests = fake.requests();
    assert_eq!(requests.len(), 1, "{requests:?}");
    let r = &requests[0];
    assert!(r.authorized, "signature did not verify: {r:?}");
    assert_eq!(r.uri, "/hooks/chatbox");
    assert_eq!(r.header("content-type"), "application/json");
    assert!(r.header(SIGNATURE_HEADER).starts_with("sha256="));
    let stamp: i64 = r.header(TIMESTAMP_HEADER).parse().unwrap();
    assert!((before..=chrono::Utc::now().timestamp()).contains(&stamp));

    let json: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
    assert_eq!(json["event"], "help_requested");
    assert_eq!(json["user_id"], "u-wh");
    assert_eq!(json["user_name"], "Ada <admin>");
    assert_eq!(json["session_id"], n.session_id.as_str());
    assert_eq!(
        json["requested_at"],
        n.requested_at
            .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
    );
    assert_eq!(json["admin_link"], n.admin_link.clone().unwrap());
    assert_eq!(json["note"], "please call me back");
    let context = json["context"].as_array().unwrap();
    assert_eq!(context.len(), 2);
    assert_eq!(context[0]["sender"], "user");
    assert_eq!(context[0]["content"], "Where is my order?");
    assert_eq!(context[1]["sender"], "ai");
    assert!(context[1]["timestamp"].as_str().unwrap().ends_with('Z'));
}

#[tokio::test]
async fn without_a_secret_the_request_is_unsigned() {
    let fake = Fake::start(Reply::Status(200, "ok"), |_, _| true).await;
    let hook = notifier(fake.base.clone(), None, 5_000);
    hook.notify(&notice("wh-plain", "Ada")).await.unwrap();
    let requests = fake.requests();
    assert_eq!(requests.len(), 1);
    assert!(requests[0].headers.get(SIGNATURE_HEADER).is_none());
    assert!(requests[0].headers.get(TIMESTAMP_HEADER).is_none());
}

#[tokio::test]
async fn a_server_error_or_throttling_is_unavailable() {
    for reply in [Reply::Status(500, "boom"), Reply::Status(429, "slow down")] {
        let fake = receiver(reply.clone()).await;
        let hook = notifier(fake.base.clone(), Some(SECRET), 5_000);
        let err = hook.notify(&notice("wh-5xx", "Ada")).await.unwrap_err();
        assert!(
            matches!(err, NotifyError::Unavailable(_)),
            "{reply:?}: {err:?}"
        );
        assert_eq!(fake.requests().len(), 1, "one attempt only");
    }
}

#[tokio::test]
async fn a_bad_request_is_rejected_with_the_receivers_reason() {
    let fake = receiver(Reply::Status(400, "unknown event")).await;
    let hook = notifier(fake.base.clone(), Some(SECRET), 5_000);
    let err = hook.notify(&notice("wh-400", "Ada")).await.unwrap_err();
    let NotifyError::Rejected(text) = &err else {
        panic!("expected Rejected, got {err:?}");
    };
    assert!(
        text.contains("400") && text.contains("unknown event"),
        "{text}"
    );
}

#[tokio::test]
async fn a_wrong_secret_is_a_config_error() {
    let fake = receiver(Reply::Status(204, "")).await;
    let hook = notifier(fake.base.clone(), Some("not-the-secret"), 5_000);
    let err = hook.notify(&notice("wh-401", "Ada")).await.unwrap_err();
    assert!(matches!(err, NotifyError::Config(_)), "{err:?}");
    assert!(!fake.requests()[0].authorized);
}

#[tokio::test]
async fn a_redirect_is_not_followed() {
    let fake = receiver(Reply::Status(302, "")).await;
    let hook = notifier(fake.base.clone(), Some(SECRET), 5_000);
    let err = hook.notify(&notice("wh-302", "Ada")).await.unwrap_err();
    assert!(matches!(err, NotifyError::Rejected(_)), "{err:?}");
    assert_eq!(fake.requests().len(), 1);
}

#[tokio::test]
async fn a_stalled_receiver_is_unavailable_after_the_timeout() {
    let fake = receiver(Reply::Stall).await;
    let hook = notifier(fake.base.clone(), Some(SECRET), 300);
    let err = hook.notify(&notice("wh-stall", "Ada")).await.unwrap_err();
    assert!(err.is_transient(), "{err:?}");
    assert_eq!(fake.requests().len(), 1);
}

#[tokio::test]
async fn nothing_listening_is_unavailable() {
    let hook = notifier(
        format!("http://127.0.0.1:{}/hook", closed_port()),
        Some(SECRET),
        5_000,
    );
    let err = hook.notify(&notice("wh-refused", "Ada")).await.unwrap_err();
    assert!(matches!(err, NotifyError::Unavailable(_)), "{err:?}");
}
