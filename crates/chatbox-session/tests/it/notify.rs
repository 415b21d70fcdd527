//! Help requests reach staff on every channel independently, durably and truthfully.

use std::sync::Arc;
use std::time::Duration;

use chatbox_core::NotifyError;
use chatbox_core::outbox::{Delivery, DeliveryState, HelpRequest};
use chatbox_core::ports::notify::HelpNotice;
use chatbox_core::testing::{MemoryStore, RecordingNotifier, ScriptedLlm};
use chatbox_core::{Notifier, SessionId, Store};
use chatbox_session::{ConnectRequest, Connection, Engine, EngineConfig, EngineDeps};
use futures::StreamExt;
use serde_json::{Value, json};

use crate::harness::*;

struct Staff {
    engine: Engine,
    store: Arc<MemoryStore>,
    email: Arc<RecordingNotifier>,
    sms: Arc<RecordingNotifier>,
}

fn staff(store: Arc<MemoryStore>) -> Staff {
    let email = Arc::new(RecordingNotifier::new("smtp"));
    let sms = Arc::new(RecordingNotifier::new("sms"));
    let notifiers: Vec<Arc<dyn Notifier>> = vec![email.clone(), sms.clone()];
    let engine = Engine::new(
        EngineDeps {
            store: store.clone(),
            providers: vec![Arc::new(ScriptedLlm::new("gpt", "GPT"))],
            notifiers,
            admin_panel_url: None,
            blobs: None,
            transcriber: None,
            broker: None,
        },
        EngineConfig {
            notify_retry_secs: 60,
            ..Default::default()
        },
    );
    Staff {
        engine,
        store,
        email,
        sms,
    }
}

impl Staff {
    /// A connection of `u1`, its `connection_status` read.
    async fn chat(&self) -> Connection {
        let mut c = self
            .engine
            .connect(user("u1"), ConnectRequest::default())
            .await
            .unwrap()
            .connection;
        next(&mut c).await;
        c
    }
}

fn ask_for_help(c: &Connection) {
    c.handle(frame(
        json!({"type": "help_request", "content": "a human, please"}),
    ));
}

fn unavailable() -> NotifyError {
    NotifyError::Unavailable("sms gateway down".into())
}

async fn notification(c: &mut Connection) -> Value {
    let f = next(c).await;
    assert_eq!(f["type"], "notification", "{f}");
    f
}

#[tokio::test(start_paused = true)]
async fn every_channel_is_told_independently_and_a_failing_one_is_retried_until_it_delivers() {
    let s = staff(Arc::new(MemoryStore::new()));
    // SMS fails the three quick attempts and the first background retry, then recovers.
    for _ in 0..4 {
        s.sms.fail_next(unavailable());
    }
    let mut sms_sent = s.sms.watch();
    let mut c = s.chat().await;
    say(&c, "my order is late");
    until(&mut c, "ai_response", true).await;
    ask_for_help(&c);

    let queued = notification(&mut c).await;
    assert_eq!(queued["metadata"]["channels"], "smtp:queued,sms:queued");
    assert!(queued["content"].as_str().unwrap().contains("email, SMS"));
    let outcome = notification(&mut c).await;
    assert_eq!(
        outcome["metadata"]["channels"], "smtp:delivered,sms:queued",
        "email is not held up by SMS"
    );
    assert_eq!(s.email.sent().len(), 1);
    let notice = &s.email.sent()[0];
    assert_eq!(notice.note.as_deref(), Some("a human, please"));
    assert_eq!(
        notice
            .context
            .iter()
            .map(|m| m.content.as_str())
            .collect::<Vec<_>>(),
        ["my order is late", "echo: my order is late"],
        "the conversation so far, for the human"
    );

    let recorded = s.store.help_requests(c.session_id()).await.unwrap();
    assert_eq!(recorded.len(), 1, "recorded in the outbox");
    let sms = recorded[0]
        .deliveries
        .iter()
        .find(|d| d.channel == "sms")
        .unwrap();
    assert_eq!((sms.state, sms.attempts), (DeliveryState::Pending, 3));
    assert!(sms.last_error.as_deref().unwrap().contains("unavailable"));

    // The background retries (every 60 s on the paused clock) deliver it once the gateway is back.
    let delivered = tokio::time::timeout(Duration::from_secs(600), sms_sent.next())
        .await
        .expect("the SMS goes out eventually");
    assert_eq!(
        delivered.map(|n| n.session_id),
        Some(c.session_id().clone())
    );
    // Shutdown waits for the background delivery, which records its outcome first.
    s.engine.shutdown(Duration::from_secs(30)).await;
    let done = s.store.help_requests(c.session_id()).await.unwrap();
    let sms = done[0]
        .deliveries
        .iter()
        .find(|d| d.channel == "sms")
        .unwrap();
    assert_eq!((sms.state, sms.attempts), (DeliveryState::Delivered, 5));
    assert_eq!(s.email.sent().len(), 1, "email was not sent again");
}

#[tokio::test]
async fn repeats_of_an_open_request_are_merged_and_the_user_is_told() {
    let s = staff(Arc::new(MemoryStore::new()));
    let mut c = s.chat().await;
    ask_for_help(&c);
    notification(&mut c).await;
    notification(&mut c).await;
    for _ in 0..5 {
        ask_for_help(&c);
        let merged = notification(&mut c).await;
        assert_eq!(merged["metadata"]["merged"], "true");
        assert!(merged["seq"].is_null(), "told to the asker only");
    }
    assert_eq!(
        (s.email.sent().len(), s.sms.sent().len()),
        (1, 1),
        "staff told once"
    );
    assert_eq!(
        s.store.help_requests(c.session_id()).await.unwrap().len(),
        1
    );
}

#[tokio::test]
async fn a_permanent_failure_is_recorded_and_not_retried() {
    let s = staff(Arc::new(MemoryStore::new()));
    s.sms
        .fail_next(NotifyError::Rejected("invalid phone number".into()));
    let mut c = s.chat().await;
    ask_for_help(&c);
    notification(&mut c).await;
    let outcome = notification(&mut c).await;
    assert_eq!(outcome["metadata"]["channels"], "smtp:delivered,sms:failed");
    let r = s.store.help_requests(c.session_id()).await.unwrap();
    let sms = r[0].deliveries.iter().find(|d| d.channel == "sms").unwrap();
    assert_eq!((sms.state, sms.attempts), (DeliveryState::Failed, 1));
    assert!(s.store.pending_help_requests(10).await.unwrap().is_empty());
}

#[tokio::test]
async fn without_a_channel_the_user_is_told_nobody_is_notified() {
    let w = world_with(EngineConfig::default());
    let deps = EngineDeps {
        store: w.store.clone(),
        providers: vec![w.llm.clone()],
        notifiers: vec![],
        admin_panel_url: None,
        blobs: None,
        transcriber: None,
        broker: None,
    };
    let engine = Engine::new(deps, EngineConfig::default());
    let mut c = engine
        .connect(user("u1"), ConnectRequest::default())
        .await
        .unwrap()
        .connection;
    next(&mut c).await;
    ask_for_help(&c);
    let told = notification(&mut c).await;
    let text = told["content"].as_str().unwrap();
    assert!(text.contains("not monitored"), "{text}");
    assert!(!text.contains("will join"), "never a false promise: {text}");
    let s = w.store.get_session(c.session_id()).await.unwrap().unwrap();
    assert!(s.help_requested, "the flag is still kept for the dashboard");
}

#[tokio::test]
async fn a_request_recorded_before_a_crash_is_sent_once_after_the_restart() {
    let store = Arc::new(MemoryStore::new());
    let id = SessionId::parse("crashed").unwrap();
    let session = chatbox_core::Session::new(id.clone(), user("u1").user_id, chrono::Utc::now());
    store.create_session(&session).await.unwrap();
    let now = chrono::Utc::now();
    let mut smtp_done = Delivery::pending("smtp", now);
    smtp_done.state = DeliveryState::Delivered;
    smtp_done.attempts = 1;
    let request = HelpRequest {
        id: "req1".into(),
        notice: HelpNotice {
            user_id: session.user_id.clone(),
            user_name: "u1".into(),
            session_id: id.clone(),
            requested_at: now,
            admin_link: None,
            note: None,
            context: vec![],
        },
        // The process died after email went out and before SMS did.
        deliveries: vec![smtp_done, Delivery::pending("sms", now)],
    };
    store.record_help_request(&request).await.unwrap();

    let s = staff(store);
    let mut sms_sent = s.sms.watch();
    let sent = tokio::time::timeout(Duration::from_secs(10), sms_sent.next())
        .await
        .expect("the pending SMS is sent at startup");
    assert_eq!(sent.map(|n| n.session_id), Some(id.clone()));
    s.engine.shutdown(Duration::from_secs(5)).await;
    assert_eq!(s.sms.sent().len(), 1, "once");
    assert!(
        s.email.sent().is_empty(),
        "what was delivered is not sent again"
    );
    let r = s.store.help_requests(&id).await.unwrap();
    assert!(!r[0].is_pending());
}
