//! The log channel writes one `info` event naming user, session and link, and never the user's
//! name, note or message text.

use std::io::Write;
use std::sync::{Arc, Mutex};

use chatbox_core::Notifier;
use chatbox_notify::LogNotifier;
use tracing_subscriber::EnvFilter;

use crate::support::notice;

#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn the_log_channel_names_user_session_and_link_only() {
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::new("chatbox_notify=info"))
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    // `tracing` caches each callsite's interest for the whole process, and while only one
    // dispatcher exists it asks the registering thread's default: a sibling test thread without
    // a subscriber would cache `never` and this capture would see nothing. A second live
    // dispatcher makes every registration ask all live dispatchers, this capture included.
    let _anchor = tracing::Dispatch::new(tracing_subscriber::registry());
    let _guard = tracing::subscriber::set_default(subscriber);
    tracing::callsite::rebuild_interest_cache();

    let n = notice("log", "Secret Name");
    let log = LogNotifier::new();
    assert_eq!(log.channel(), "log");
    log.notify(&n).await.unwrap();

    let logs = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    assert!(logs.contains("help requested"), "{logs}");
    assert!(logs.contains("INFO"), "{logs}");
    assert!(logs.contains("user=u-log"), "{logs}");
    assert!(
        logs.contains(&format!("session={}", n.session_id)),
        "{logs}"
    );
    assert!(logs.contains(n.admin_link.as_deref().unwrap()), "{logs}");
    for private in ["Secret Name", "please call me back", "Where is my order?"] {
        assert!(!logs.contains(private), "logs contain {private:?}:\n{logs}");
    }
}
