//! The SMS channel against a fake Twilio that checks basic auth: one form POST per phone with
//! `To`, `From` and the SMS text, and each failure mapped to its kind.

use base64::Engine as _;
use chatbox_core::{Notifier, NotifyError};
use chatbox_notify::template::render;
use chatbox_notify::{SmsConfig, SmsNotifier};

use crate::fake::{Fake, Reply};
use crate::support::{closed_port, notice};

const SID: &str = "AC0123456789abcdef";
const TOKEN: &str = "auth-token-xyz";
const FROM: &str = "+15550000000";
const PHONES: [&str; 3] = ["+15550001111", "+4915112345678", "+447700900123"];

/// A fake Twilio that accepts only `SID:TOKEN`.
async fn twilio(reply: Reply) -> Fake {
    let expected = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{SID}:{TOKEN}"))
    );
    Fake::start(reply, move |headers, _| {
        headers
            .get("authorization")
            .is_some_and(|v| v.as_bytes() == expected.as_bytes())
    })
    .await
}

fn notifier(api_base: &str, token: &str, timeout_ms: u64) -> SmsNotifier {
    SmsNotifier::new(SmsConfig {
        account_sid: SID.into(),
        auth_token: token.into(),
        from: FROM.into(),
        api_base: format!("{api_base}/"),
        recipients: PHONES.iter().map(|p| (*p).to_owned()).collect(),
        timeout_ms,
    })
    .unwrap()
}

#[tokio::test]
async fn one_notice_is_one_authenticated_message_per_phone() {
    let fake = twilio(Reply::Created).await;
    let sms = notifier(&fake.base, TOKEN, 5_000);
    let n = notice("sms", "Ada");
    sms.notify(&n).await.unwrap();

    let requests = fake.requests();
    assert_eq!(requests.len(), PHONES.len(), "{requests:?}");
    let expected_body = render(&n).sms;
    let mut to: Vec<String> = Vec::new();
    for r in &requests {
        assert!(r.authorized, "basic auth did not match: {r:?}");
        assert_eq!(r.uri, format!("/2010-04-01/Accounts/{SID}/Messages.json"));
        assert_eq!(
            r.header("content-type"),
            "application/x-www-form-urlencoded"
        );
        assert_eq!(r.field("From"), FROM);
        assert_eq!(r.field("Body"), expected_body);
        assert_eq!(r.form().len(), 3, "{:?}", r.form());
        to.push(r.field("To"));
    }
    to.sort();
    let mut expected: Vec<String> = PHONES.iter().map(|p| (*p).to_owned()).collect();
    expected.sort();
    assert_eq!(to, expected);
    assert!(expected_body.contains("Ada") && expected_body.contains(n.session_id.as_str()));
    assert!(expected_body.contains(n.admin_link.as_deref().unwrap()));
}

#[tokio::test]
async fn a_server_error_is_unavailable() {
    let fake = twilio(Reply::Status(500, "internal")).await;
    let err = notifier(&fake.base, TOKEN, 5_000)
        .notify(&notice("sms-500", "Ada"))
        .await
        .unwrap_err();
    assert!(matches!(err, NotifyError::Unavailable(_)), "{err:?}");
    assert_eq!(fake.requests().len(), PHONES.len(), "one attempt per phone");
}

#[tokio::test]
async fn a_bad_request_is_rejected() {
    let fake = twilio(Reply::Status(
        400,
        r#"{"code":21602,"message":"Message body is required.","status":400}"#,
    ))
    .await;
    let err = notifier(&fake.base, TOKEN, 5_000)
        .notify(&notice("sms-400", "Ada"))
        .await
        .unwrap_err();
    let NotifyError::Rejected(text) = &err else {
        panic!("expected Rejected, got {err:?}");
    };
    assert!(
        text.contains("Message body is required. (code 21602)"),
        "{text}"
    );
}

#[tokio::test]
async fn one_refused_phone_does_not_stop_the_others() {
    let fake = twilio(Reply::RejectTo(PHONES[1].to_owned())).await;
    let err = notifier(&fake.base, TOKEN, 5_000)
        .notify(&notice("sms-one-bad", "Ada"))
        .await
        .unwrap_err();
    let NotifyError::Rejected(text) = &err else {
        panic!("expected Rejected, got {err:?}");
    };
    assert!(text.contains("phone 2 of 3 (…5678)"), "{text}");
    assert!(
        !text.contains("phone 1") && !text.contains("phone 3"),
        "{text}"
    );
    assert_eq!(fake.requests().len(), PHONES.len());
}

#[tokio::test]
async fn a_wrong_token_is_a_config_error() {
    let fake = twilio(Reply::Created).await;
    let err = notifier(&fake.base, "wrong-token", 5_000)
        .notify(&notice("sms-401", "Ada"))
        .await
        .unwrap_err();
    assert!(matches!(err, NotifyError::Config(_)), "{err:?}");
    assert!(fake.requests().iter().all(|r| !r.authorized));
}

#[tokio::test]
async fn a_stalled_api_is_unavailable_after_the_timeout() {
    let fake = twilio(Reply::Stall).await;
    let err = notifier(&fake.base, TOKEN, 300)
        .notify(&notice("sms-stall", "Ada"))
        .await
        .unwrap_err();
    assert!(matches!(err, NotifyError::Unavailable(_)), "{err:?}");
    assert_eq!(fake.requests().len(), PHONES.len());
}

#[tokio::test]
async fn nothing_listening_is_unavailable() {
    let base = format!("http://127.0.0.1:{}", closed_port());
    let err = notifier(&base, TOKEN, 5_000)
        .notify(&notice("sms-refused", "Ada"))
        .await
        .unwrap_err();
    assert!(matches!(err, NotifyError::Unavailable(_)), "{err:?}");
}
