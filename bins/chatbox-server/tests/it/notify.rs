//! Help notifications through the real binary: a request recorded before the process is killed
//! goes out once after the restart, signed, on both stores.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use chatbox_llm::ProviderKind;
use chatbox_llm::fake::FakeVendor;
use chatbox_ws::testing;
use serde_json::{Value, json};
use tokio::sync::Notify;

use crate::process::{Backend, SECRET, env_for, start};

const WEBHOOK_SECRET: &str = "whsec-for-the-integration-test";

/// A webhook receiver that checks signatures; it can be told to hang instead of answering.
#[derive(Clone, Default)]
struct Hook {
    stall: Arc<AtomicBool>,
    received: Arc<AtomicUsize>,
    answered: Arc<AtomicUsize>,
    bad_signatures: Arc<AtomicUsize>,
    bodies: Arc<std::sync::Mutex<Vec<Value>>>,
    changed: Arc<Notify>,
}

async fn receive(State(hook): State<Hook>, headers: HeaderMap, body: Bytes) -> StatusCode {
    let expected = chatbox_notify::webhook::signature(WEBHOOK_SECRET.as_bytes(), &body);
    let signed = headers
        .get(chatbox_notify::webhook::SIGNATURE_HEADER)
        .and_then(|v| v.to_str().ok());
    if signed != Some(expected.as_str())
        || headers
            .get(chatbox_notify::webhook::TIMESTAMP_HEADER)
            .is_none()
    {
        hook.bad_signatures.fetch_add(1, Ordering::SeqCst);
    }
    hook.bodies
        .lock()
        .unwrap()
        .push(serde_json::from_slice(&body).unwrap_or(Value::Null));
    hook.received.fetch_add(1, Ordering::SeqCst);
    hook.changed.notify_waiters();
    if hook.stall.load(Ordering::SeqCst) {
        std::future::pending::<()>().await;
    }
    hook.answered.fetch_add(1, Ordering::SeqCst);
    hook.changed.notify_waiters();
    StatusCode::NO_CONTENT
}

impl Hook {
    async fn serve(&self) -> String {
        let app = Router::new()
            .route("/hook", post(receive))
            .with_state(self.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await });
        format!("http://{addr}/hook")
    }

    /// Waits until `count(self) >= n`.
    async fn wait(&self, n: usize, count: impl Fn(&Hook) -> usize) {
        let wait = async {
            loop {
                let changed = self.changed.notified();
                if count(self) >= n {
                    return;
                }
                changed.await;
            }
        };
        tokio::time::timeout(Duration::from_secs(30), wait)
            .await
            .expect("the webhook in time");
    }
}

#[tokio::test]
async fn a_help_request_recorded_before_a_crash_goes_out_once_after_the_restart() {
    for backend in Backend::both("notify-crash") {
        let hook = Hook::default();
        hook.stall.store(true, Ordering::SeqCst);
        let url = hook.serve().await;
        let fake = FakeVendor::start(ProviderKind::Openai).await.unwrap();
        let mut env = env_for(&backend, &fake.base_url());
        env.push(("NOTIFY_WEBHOOK_URL".into(), url));
        env.push(("NOTIFY_WEBHOOK_SECRET".into(), WEBHOOK_SECRET.into()));
        let cwd =
            std::env::temp_dir().join(format!("chatbox-it-cwd-{}-notify", std::process::id()));
        let mut server = start(&env, &[], &cwd).await;

        let t = testing::token(SECRET, "u1", &[]);
        let mut ws = testing::connect(server.addr, "/chatbox/ws", &t)
            .await
            .unwrap();
        let sid = testing::json(&mut ws).await.unwrap()["session_id"]
            .as_str()
            .unwrap()
            .to_owned();
        let ask = json!({"type": "help_request", "content": "<script>call me</script>"});
        testing::send(&mut ws, &ask).await.unwrap();
        let told = testing::json(&mut ws).await.unwrap();
        assert_eq!(
            told["metadata"]["channels"], "webhook:queued",
            "{backend:?}: {told}"
        );
        // The receiver has the request but never answers; the process dies before it learns
        // the outcome.
        hook.wait(1, |h| h.received.load(Ordering::SeqCst)).await;
        server.kill().await;
        assert_eq!(hook.answered.load(Ordering::SeqCst), 0);

        hook.stall.store(false, Ordering::SeqCst);
        let mut again = start(&env, &[], &cwd).await;
        hook.wait(1, |h| h.answered.load(Ordering::SeqCst)).await;
        // A graceful stop waits for the background delivery to record its outcome.
        again.terminate();
        assert!(
            again.wait_exit(Duration::from_secs(30)).await,
            "{}",
            again.output()
        );
        assert_eq!(
            hook.answered.load(Ordering::SeqCst),
            1,
            "{backend:?}: delivered once after the restart"
        );
        assert_eq!(
            hook.bad_signatures.load(Ordering::SeqCst),
            0,
            "every request signed"
        );
        let bodies = hook.bodies.lock().unwrap().clone();
        let last = bodies.last().unwrap();
        assert_eq!(
            (last["event"].as_str(), last["session_id"].as_str()),
            (Some("help_requested"), Some(sid.as_str()))
        );
        assert_eq!(
            last["note"], "<script>call me</script>",
            "JSON carries the text as data"
        );
        assert_eq!(last["user_id"], "u1");
    }
}
