//! The SES channel against moto's server (from `cargo xtask test`): the sender identity is
//! created through the SDK, the notice is sent, and moto's recorded messages
//! (`GET /moto-api/data.json`, `ses.Message`) show what SES would have delivered.

use aws_config::BehaviorVersion;
use aws_sdk_sesv2::config::{Credentials, Region};
use chatbox_core::{Notifier, NotifyError};
use chatbox_notify::{SesConfig, SesNotifier};

use crate::support::{closed_port, notice, service, unique};

const REGION: &str = "us-east-1";

fn config(endpoint: &str, from: &str, recipients: &[String]) -> SesConfig {
    SesConfig {
        region: Some(REGION.into()),
        endpoint: Some(endpoint.to_owned()),
        access_key_id: Some("testing".into()),
        secret_access_key: Some("testing".into()),
        from: from.to_owned(),
        recipients: recipients.to_vec(),
        timeout_ms: 5_000,
        ..SesConfig::default()
    }
}

/// Registers `address` as a sending identity in moto, as an operator would in SES.
async fn create_identity(endpoint: &str, address: &str) {
    let sdk = aws_config::defaults(BehaviorVersion::latest())
        .region(Region::new(REGION))
        .endpoint_url(endpoint)
        .credentials_provider(Credentials::new("testing", "testing", None, None, "test"))
        .load()
        .await;
    aws_sdk_sesv2::Client::new(&sdk)
        .create_email_identity()
        .email_identity(address)
        .send()
        .await
        .unwrap();
}

/// The messages moto recorded whose subject contains `needle`.
async fn sent_with_subject(endpoint: &str, needle: &str) -> Vec<serde_json::Value> {
    let data: serde_json::Value = reqwest::Client::new()
        .get(format!("{endpoint}/moto-api/data.json"))
        .timeout(std::time::Duration::from_secs(10))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    data["ses"]["Message"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .filter(|m| m["subject"].as_str().is_some_and(|s| s.contains(needle)))
        .collect()
}

#[tokio::test]
async fn one_notice_is_one_message_to_every_recipient() {
    let Some(endpoint) = service("CHATBOX_TEST_SES_ENDPOINT", "the SES double (moto)") else {
        return;
    };
    let tag = unique("ses");
    let from = format!("bot-{tag}@example.com");
    create_identity(&endpoint, &from).await;
    let recipients = vec![
        format!("staff1-{tag}@example.com"),
        format!("staff2-{tag}@example.com"),
    ];
    let ses = SesNotifier::new(config(&endpoint, &from, &recipients))
        .await
        .unwrap();
    let n = notice("ses", "Ada <admin>");
    ses.notify(&n).await.unwrap();

    let sent = sent_with_subject(&endpoint, n.session_id.as_str()).await;
    assert_eq!(sent.len(), 1, "{sent:?}");
    let m = &sent[0];
    assert_eq!(
        m["subject"],
        format!("Help request from Ada <admin> in session {}", n.session_id)
    );
    assert_eq!(m["source"], from.as_str());
    assert_eq!(
        m["destinations"]["ToAddresses"],
        serde_json::json!(recipients)
    );
    let body = m["body"].as_str().unwrap();
    assert!(body.contains("Ada &lt;admin&gt;"), "{body}");
}

#[tokio::test]
async fn an_unverified_sender_is_a_config_error() {
    let Some(endpoint) = service("CHATBOX_TEST_SES_ENDPOINT", "the SES double (moto)") else {
        return;
    };
    let tag = unique("ses-unverified");
    let ses = SesNotifier::new(config(
        &endpoint,
        &format!("nobody-{tag}@example.com"),
        &[format!("staff-{tag}@example.com")],
    ))
    .await
    .unwrap();
    let err = ses
        .notify(&notice("ses-unverified", "Ada"))
        .await
        .unwrap_err();
    assert!(matches!(err, NotifyError::Config(_)), "{err:?}");
}

#[tokio::test]
async fn an_endpoint_with_nothing_listening_is_unavailable() {
    let endpoint = format!("http://127.0.0.1:{}", closed_port());
    let ses = SesNotifier::new(config(
        &endpoint,
        "bot@example.com",
        &["staff@example.com".to_owned()],
    ))
    .await
    .unwrap();
    let err = ses.notify(&notice("ses-refused", "Ada")).await.unwrap_err();
    assert!(matches!(err, NotifyError::Unavailable(_)), "{err:?}");
}
