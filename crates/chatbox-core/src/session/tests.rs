//! Unit tests for the session domain rules.

use chrono::TimeZone;

use super::*;

fn t(secs: i64) -> DateTime<Utc> {
    Utc.timestamp_opt(1_700_000_000 + secs, 0).single().unwrap()
}

fn session() -> Session {
    Session::new(
        SessionId::parse("s1").unwrap(),
        UserId::parse("u1").unwrap(),
        t(0),
    )
}

#[test]
fn name_takes_first_line_or_sentence() {
    assert_eq!(
        session_name_from_first_message("Hello there\nsecond line"),
        "Hello there"
    );
    assert_eq!(
        session_name_from_first_message("How do I reset? It broke."),
        "How do I reset?"
    );
    assert_eq!(session_name_from_first_message("   "), "New Chat");
    assert_eq!(session_name_from_first_message("..."), ".");
}

#[test]
fn long_name_is_cut_at_a_word_boundary_in_characters() {
    let long = "word ".repeat(20);
    let name = session_name_from_first_message(&long);
    assert!(name.ends_with("..."));
    assert!(name.chars().count() <= SESSION_NAME_MAX_CHARS, "{name}");
    assert!(!name.trim_end_matches("...").ends_with(' '));
    let wide = "é".repeat(60);
    let name = session_name_from_first_message(&wide);
    assert_eq!(
        name.chars().count(),
        50,
        "no word boundary: hard cut at 47 + ..."
    );
}

#[test]
fn response_statistics_accumulate() {
    let mut s = session();
    s.record_response(10, 100);
    s.record_response(30, 300);
    s.record_response(5, 200);
    assert_eq!(s.total_tokens, 45);
    assert_eq!(s.max_response_ms, 300);
    assert_eq!(s.avg_response_ms, 200);
    assert_eq!(s.response_count, 3);
}

#[test]
fn duration_uses_end_or_now_and_is_never_negative() {
    let mut s = session();
    assert_eq!(s.duration_secs(t(90)), 90);
    assert_eq!(s.duration_secs(t(-5)), 0);
    s.end_time = Some(t(42));
    assert!(!s.is_active());
    assert_eq!(s.duration_secs(t(1000)), 42);
}
