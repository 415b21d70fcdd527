//! One help request through the real binary with every channel configured: the SMTP sink, SES
//! (moto), an SMS fake checking its basic auth and a webhook fake checking its signature each get
//! exactly one message; SES is down at first, the others deliver at once, and SES catches up when
//! it comes back. The outbox, as the admin API shows it, tells each channel's state.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use aws_config::BehaviorVersion;
use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use chatbox_llm::ProviderKind;
use chatbox_llm::fake::FakeVendor;
use chatbox_ws::testing;
use serde_json::{Value, json};
use tokio::net::{TcpListener, TcpStream};

use crate::process::{Backend, SECRET, env_for, start};

const SMS_SID: &str = "AC0123456789";
const SMS_TOKEN: &str = "sms-token-for-tests";
const HOOK_SECRET: &str = "whsec-channels-test";

fn service(var: &str) -> String {
    std::env::var(var).ok().filter(|v| !v.is_empty()).unwrap_or_else(|| {
        panic!(
            "{var} is not set: this test needs the SMTP sink and moto. Run `cargo xtask test -p \
             chatbox-server`, which starts them"
        )
    })
}

/// A TCP front for moto that refuses connections while "down".
#[derive(Clone)]
struct Switch {
    up: Arc<AtomicBool>,
}

impl Switch {
    async fn start(target: SocketAddr) -> (Self, SocketAddr) {
        let switch = Self {
            up: Arc::new(AtomicBool::new(false)),
        };
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let up = Arc::clone(&switch.up);
        tokio::spawn(async move {
            while let Ok((mut client, _)) = listener.accept().await {
                if !up.load(Ordering::SeqCst) {
                    continue; // dropped: the connection is closed at once
                }
                tokio::spawn(async move {
                    if let Ok(mut server) = TcpStream::connect(target).await {
                        let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                    }
                });
            }
        });
        (switch, addr)
    }
}

/// Counts requests that carried the right credentials; others are refused.
#[derive(Clone, Default)]
struct Fake {
    good: Arc<AtomicUsize>,
    bad: Arc<AtomicUsize>,
}

async fn sms(State(f): State<Fake>, headers: HeaderMap, body: String) -> StatusCode {
    use base64::Engine as _;
    let basic = base64::engine::general_purpose::STANDARD.encode(format!("{SMS_SID}:{SMS_TOKEN}"));
    let auth = headers.get("authorization").and_then(|v| v.to_str().ok());
    if auth != Some(format!("Basic {basic}").as_str()) || !body.contains("To=%2B15550001111") {
        f.bad.fetch_add(1, Ordering::SeqCst);
        return StatusCode::UNAUTHORIZED;
    }
    f.good.fetch_add(1, Ordering::SeqCst);
    StatusCode::CREATED
}

async fn hook(State(f): State<Fake>, headers: HeaderMap, body: axum::body::Bytes) -> StatusCode {
    let expected = chatbox_notify::webhook::signature(HOOK_SECRET.as_bytes(), &body);
    let signed = headers
        .get(chatbox_notify::webhook::SIGNATURE_HEADER)
        .and_then(|v| v.to_str().ok());
    if signed != Some(expected.as_str()) {
        f.bad.fetch_add(1, Ordering::SeqCst);
        return StatusCode::UNAUTHORIZED;
    }
    f.good.fetch_add(1, Ordering::SeqCst);
    StatusCode::NO_CONTENT
}

async fn serve_fakes(sms_fake: Fake, hook_fake: Fake) -> SocketAddr {
    let app = Router::new()
        .route(
            &format!("/2010-04-01/Accounts/{SMS_SID}/Messages.json"),
            post(sms).with_state(sms_fake),
        )
        .route("/hook", post(hook).with_state(hook_fake));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    addr
}

async fn verify_sender(endpoint: &str, address: &str) {
    let sdk = aws_config::defaults(BehaviorVersion::latest())
        .region(aws_config::Region::new("us-east-1"))
        .endpoint_url(endpoint)
        .credentials_provider(aws_sdk_sesv2::config::Credentials::new(
            "testing", "testing", None, None, "test",
        ))
        .load()
        .await;
    aws_sdk_sesv2::Client::new(&sdk)
        .create_email_identity()
        .email_identity(address)
        .send()
        .await
        .unwrap();
}

/// Messages moto accepted whose subject names `session`.
async fn ses_messages(endpoint: &str, session: &str) -> usize {
    let data: Value = reqwest::Client::new()
        .get(format!("{endpoint}/moto-api/data.json"))
        .timeout(Duration::from_secs(10))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    data["ses"]["Message"].as_array().map_or(0, |m| {
        m.iter()
            .filter(|m| m["subject"].as_str().is_some_and(|s| s.contains(session)))
            .count()
    })
}

/// Mails in the SMTP sink whose subject names `session`.
fn smtp_messages(dir: &str, session: &str) -> usize {
    std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .filter_map(|e| std::fs::read_to_string(e.path()).ok())
        .filter_map(|t| serde_json::from_str::<Value>(&t).ok())
        .filter(|m| m["subject"].as_str().is_some_and(|s| s.contains(session)))
        .count()
}

fn channel_state(session: &Value, channel: &str) -> String {
    session["help_requests"][0]["deliveries"]
        .as_array()
        .and_then(|d| d.iter().find(|d| d["channel"] == channel))
        .map(|d| d["state"].as_str().unwrap_or_default().to_owned())
        .unwrap_or_default()
}

#[tokio::test]
async fn one_help_request_reaches_every_channel_once_and_a_channel_that_was_down_catches_up() {
    let smtp_addr: SocketAddr = service("CHATBOX_TEST_SMTP_ADDR").parse().unwrap();
    let smtp_dir = service("CHATBOX_TEST_SMTP_DIR");
    let moto = service("CHATBOX_TEST_SES_ENDPOINT");
    let moto_addr: SocketAddr = moto
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .parse()
        .unwrap();
    let from = format!("support-{}@example.com", std::process::id());
    verify_sender(&moto, &from).await;
    let (ses, ses_addr) = Switch::start(moto_addr).await;
    let (sms_fake, hook_fake) = (Fake::default(), Fake::default());
    let fakes = serve_fakes(sms_fake.clone(), hook_fake.clone()).await;

    let fake = FakeVendor::start(ProviderKind::Openai).await.unwrap();
    let backend = Backend::sqlite("channels");
    let mut env = env_for(&backend, &fake.base_url());
    for (k, v) in [
        ("SMTP_HOST", smtp_addr.ip().to_string()),
        ("SMTP_PORT", smtp_addr.port().to_string()),
        ("SMTP_TLS", "none".into()),
        ("EMAIL_FROM", from.clone()),
        ("ADMIN_EMAILS", "staff@example.com".into()),
        ("SES_REGION", "us-east-1".into()),
        ("SES_ENDPOINT", format!("http://{ses_addr}")),
        ("SES_ACCESS_KEY_ID", "testing".into()),
        ("SES_SECRET_ACCESS_KEY", "testing".into()),
        ("SMS_ACCOUNT_SID", SMS_SID.into()),
        ("SMS_AUTH_TOKEN", SMS_TOKEN.into()),
        ("SMS_FROM_NUMBER", "+15559990000".into()),
        ("SMS_API_BASE", format!("http://{fakes}")),
        ("ADMIN_PHONES", "+15550001111".into()),
        ("NOTIFY_WEBHOOK_URL", format!("http://{fakes}/hook")),
        ("NOTIFY_WEBHOOK_SECRET", HOOK_SECRET.into()),
        ("NOTIFY_RETRY_INTERVAL", "1s".into()),
        ("ADMIN_RATE_LIMIT", "1000".into()),
    ] {
        env.push((k.into(), v));
    }
    let cwd = std::env::temp_dir().join(format!("chatbox-it-cwd-{}-channels", std::process::id()));
    let server = start(&env, &[], &cwd).await;

    let t = testing::token(SECRET, "u1", &[]);
    let mut ws = testing::connect(server.addr, "/chatbox/ws", &t)
        .await
        .unwrap();
    let sid = testing::json(&mut ws).await.unwrap()["session_id"]
        .as_str()
        .unwrap()
        .to_owned();
    testing::send(&mut ws, &json!({"type": "help_request"}))
        .await
        .unwrap();
    let queued = testing::json(&mut ws).await.unwrap();
    assert_eq!(
        queued["metadata"]["channels"],
        "smtp:queued,ses:queued,sms:queued,webhook:queued"
    );
    let outcome = testing::json(&mut ws).await.unwrap();
    assert_eq!(
        outcome["metadata"]["channels"],
        "smtp:delivered,ses:queued,sms:delivered,webhook:delivered",
        "SES being down delays nothing else: {outcome}"
    );
    assert_eq!(smtp_messages(&smtp_dir, &sid), 1);
    assert_eq!(
        (
            sms_fake.good.load(Ordering::SeqCst),
            sms_fake.bad.load(Ordering::SeqCst)
        ),
        (1, 0)
    );
    assert_eq!(
        (
            hook_fake.good.load(Ordering::SeqCst),
            hook_fake.bad.load(Ordering::SeqCst)
        ),
        (1, 0)
    );
    assert_eq!(ses_messages(&moto, &sid).await, 0);

    // SES comes back; the background retry (every second here) delivers. The admin API shows the
    // outbox; delivery runs in the background, so the test reads it until SES is delivered.
    ses.up.store(true, Ordering::SeqCst);
    let admin = testing::token(SECRET, "ada", &["admin"]);
    let path = format!("/chatbox/admin/sessions/{sid}");
    let mut last = Value::Null;
    for _ in 0..300 {
        let (code, body) = testing::api(server.addr, "GET", &path, &admin)
            .await
            .unwrap();
        assert_eq!(code, 200);
        last = body;
        if channel_state(&last, "ses") == "delivered" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(channel_state(&last, "ses"), "delivered", "{last}");
    for channel in ["smtp", "sms", "webhook"] {
        assert_eq!(channel_state(&last, channel), "delivered");
    }
    assert_eq!(ses_messages(&moto, &sid).await, 1, "SES delivered once");
    assert_eq!(
        smtp_messages(&smtp_dir, &sid),
        1,
        "nothing else was sent again"
    );
    assert_eq!(
        sms_fake.good.load(Ordering::SeqCst) + hook_fake.good.load(Ordering::SeqCst),
        2
    );
}
