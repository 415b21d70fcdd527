//! Shared fixtures: notices with unique ids, and the addresses of the test services
//! (`cargo xtask test` provides them; run alone, a test that needs one prints a loud notice and
//! returns, unless `CHATBOX_REQUIRE_SERVICES=1` says they were provided, which makes it fail).

use chatbox_core::ports::notify::HelpNotice;
use chatbox_core::{Message, Sender, SessionId, UserId};
use chrono::Utc;

/// A unique suffix for a test's ids and addresses.
pub fn unique(tag: &str) -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    format!("{tag}-{}-{n}-{nanos:x}", std::process::id())
}

/// A notice from user `u-<tag>` named `name` in a fresh session, with a note, a link and two
/// context messages.
pub fn notice(tag: &str, name: &str) -> HelpNotice {
    let session = unique(tag);
    let now = Utc::now();
    HelpNotice {
        user_id: UserId::parse(&format!("u-{tag}")).unwrap(),
        user_name: name.to_owned(),
        session_id: SessionId::parse(&session).unwrap(),
        requested_at: now,
        admin_link: Some(format!("https://admin.example/sessions/{session}")),
        note: Some("please call me back".to_owned()),
        context: vec![
            Message::text(Sender::User, "Where is my order?", now),
            Message::text(Sender::Ai, "Let me check that for you.", now),
        ],
    }
}

/// A loopback port with nothing listening (bound, then released).
pub fn closed_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

/// The value of the service variable `var`, or `None` (after a loud notice) when the tests run
/// without services. With `CHATBOX_REQUIRE_SERVICES=1` a missing variable fails the test.
// The notice on stderr is the point: a skipped test must not pass silently.
#[allow(clippy::print_stderr)]
pub fn service(var: &str, what: &str) -> Option<String> {
    match std::env::var(var) {
        Ok(v) if !v.trim().is_empty() => Some(v),
        _ if std::env::var("CHATBOX_REQUIRE_SERVICES").is_ok_and(|v| v == "1") => panic!(
            "{var} is not set although CHATBOX_REQUIRE_SERVICES=1: {what} was not provided; \
             run `cargo xtask test -p chatbox-notify`, which starts it"
        ),
        _ => {
            eprintln!(
                "\n!!!!!!!! SKIPPED: {var} is not set, so this test of {what} did not run. \
                 Run `cargo xtask test -p chatbox-notify` to start the service. !!!!!!!!\n"
            );
            None
        }
    }
}
