//! What the crate logs about failing and retried replies never includes the API key or the
//! conversation's text.

use std::io::Write;
use std::sync::{Arc, Mutex};

use chatbox_llm::fake::{FAKE_API_KEY, Reply};
use tracing_subscriber::EnvFilter;

use crate::fixture::{VENDORS, collect, request, setup};

#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .expect("log buffer lock")
            .extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn logs_carry_neither_the_key_nor_the_messages() {
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::new("chatbox_llm=trace"))
        .with_writer(move || writer.clone())
        .finish();
    // `tracing` caches each callsite's interest for the whole process, and while only one
    // dispatcher exists it asks the registering thread's default: a sibling test thread without
    // a subscriber would cache `never` and this capture would see nothing. A second live
    // dispatcher makes every registration ask all live dispatchers, this capture included.
    let _anchor = tracing::Dispatch::new(tracing_subscriber::registry());
    let _guard = tracing::subscriber::set_default(subscriber);
    tracing::callsite::rebuild_interest_cache();
    for kind in VENDORS {
        let (fake, provider) = setup(kind).await;
        fake.push(Reply::status(500));
        fake.push(Reply::text(["Secret ", "answer"]).ending(chatbox_llm::fake::Ending::ErrorEvent));
        fake.push(Reply::status(401));
        assert!(collect(&*provider, request()).await.end.is_err());
        assert!(collect(&*provider, request()).await.end.is_err());
    }
    let logs = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    assert!(logs.contains("llm reply failed"), "{logs}");
    assert!(logs.contains("retrying"), "{logs}");
    for secret in [
        FAKE_API_KEY,
        "Where is my order?",
        "Be brief.",
        "Secret answer",
        "Secret ",
    ] {
        assert!(!logs.contains(secret), "logs contain {secret:?}:\n{logs}");
    }
}
