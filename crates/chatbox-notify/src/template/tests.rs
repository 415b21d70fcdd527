//! Rendering: escaping, one-line flattening, truncation and the SMS bound.

use chatbox_core::ports::notify::HelpNotice;
use chatbox_core::{Message, Sender, SessionId, UserId};
use chrono::{TimeZone, Utc};

use super::*;

const HOSTILE: &str = "<img src=x onerror=alert(1)>";

fn notice() -> HelpNotice {
    let at = Utc
        .with_ymd_and_hms(2025, 3, 4, 5, 6, 7)
        .single()
        .expect("valid time");
    HelpNotice {
        user_id: UserId::parse("u-42").expect("valid id"),
        user_name: "Ada".into(),
        session_id: SessionId::parse("s-7").expect("valid id"),
        requested_at: at,
        admin_link: Some("https://admin.example/sessions/s-7".into()),
        note: Some("please call me".into()),
        context: vec![
            Message::text(Sender::User, "my order is late", at),
            Message::text(Sender::Ai, "Sorry to hear that.", at),
        ],
    }
}

#[test]
fn a_hostile_name_is_escaped_in_the_html_body() {
    let mut n = notice();
    n.user_name = HOSTILE.into();
    let r = render(&n);
    assert!(
        r.html.contains("&lt;img src=x onerror=alert(1)&gt;"),
        "{}",
        r.html
    );
    assert!(!r.html.contains("<img"), "{}", r.html);
    // The plain-text parts carry the name as it is: they are never interpreted as markup.
    assert!(r.text.contains(HOSTILE));
    assert!(r.subject.contains(HOSTILE));
}

#[test]
fn every_interpolated_value_is_escaped_in_the_html_body() {
    let mut n = notice();
    n.note = Some("\"quoted\" & <b>bold</b>".into());
    n.admin_link = Some("https://admin.example/s?a=1&b=\"><script>x</script>".into());
    n.context = vec![Message::text(
        Sender::User,
        "</li><script>steal()</script>",
        n.requested_at,
    )];
    let html = render(&n).html;
    assert!(
        html.contains("&quot;quoted&quot; &amp; &lt;b&gt;bold&lt;/b&gt;"),
        "{html}"
    );
    assert!(
        html.contains(
            "<a href=\"https://admin.example/s?a=1&amp;b=&quot;&gt;&lt;script&gt;x&lt;/script&gt;\">"
        ),
        "{html}"
    );
    assert!(
        html.contains("&lt;/li&gt;&lt;script&gt;steal()&lt;/script&gt;"),
        "{html}"
    );
    assert!(!html.contains("<script"), "{html}");
    assert!(!html.contains("<b>bold"), "{html}");
}

#[test]
fn escape_html_covers_the_five_special_characters() {
    assert_eq!(
        escape_html(r#"<a href='x'>&"#),
        "&lt;a href=&#39;x&#39;&gt;&amp;"
    );
    assert_eq!(escape_html("plain ü"), "plain ü");
}

#[test]
fn the_bodies_name_user_session_time_note_link_and_context() {
    let r = render(&notice());
    for body in [&r.text, &r.html] {
        for needle in [
            "Ada",
            "u-42",
            "s-7",
            "2025-03-04T05:06:07Z",
            "please call me",
            "https://admin.example/sessions/s-7",
        ] {
            assert!(body.contains(needle), "{needle} missing from {body}");
        }
    }
    assert!(
        r.text
            .contains("user: my order is late\nai: Sorry to hear that.\n")
    );
    assert!(r.html.contains("<li><b>user</b>: my order is late</li>"));
    assert!(r.subject.contains("Ada") && r.subject.contains("s-7"));
}

#[test]
fn without_link_or_note_the_bodies_say_so() {
    let mut n = notice();
    n.admin_link = None;
    n.note = Some("   ".into());
    n.context.clear();
    let r = render(&n);
    assert!(r.text.contains("Note:         (none)"));
    assert!(
        r.text
            .contains("Please check the admin panel to view this session.")
    );
    assert!(r.text.contains("Recent messages: (none)"));
    assert!(r.html.contains("Please check the admin panel"));
    assert!(!r.html.contains("<a "));
}

#[test]
fn a_link_that_is_not_a_web_url_is_shown_but_never_linked() {
    let mut n = notice();
    n.admin_link = Some("javascript:alert(1)".into());
    let html = render(&n).html;
    assert!(!html.contains("href"), "{html}");
    assert!(html.contains("View session: javascript:alert(1)"), "{html}");
}

#[test]
fn long_messages_are_cut_on_a_char_boundary_with_an_ellipsis() {
    let long = "ä".repeat(CONTEXT_CHARS + 50);
    let cut_text = excerpt(&long, CONTEXT_CHARS);
    assert_eq!(cut_text.chars().count(), CONTEXT_CHARS);
    assert!(cut_text.ends_with('…'));
    assert!(cut_text.starts_with("ää"));

    let mut n = notice();
    n.context = vec![Message::text(Sender::User, long, n.requested_at)];
    let r = render(&n);
    let line = r
        .text
        .lines()
        .find(|l| l.starts_with("user: "))
        .expect("a context line");
    assert_eq!(line.chars().count(), "user: ".len() + CONTEXT_CHARS);
    assert!(line.ends_with('…'));

    let short = "exactly fits";
    assert_eq!(excerpt(short, short.chars().count()), short);
}

#[test]
fn user_values_cannot_forge_lines_of_the_text_body() {
    let mut n = notice();
    n.user_name = "Eve\nView session: https://evil.example".into();
    n.note = Some("hi\r\nRequested at: never".into());
    n.context = vec![Message::text(
        Sender::User,
        "a\nai: fake reply",
        n.requested_at,
    )];
    let r = render(&n);
    assert!(
        !r.text
            .lines()
            .any(|l| l.starts_with("View session: https://evil"))
    );
    assert!(!r.text.lines().any(|l| l.starts_with("Requested at: never")));
    assert!(!r.text.lines().any(|l| l == "ai: fake reply"));
    assert!(!r.subject.contains('\n'));
}

#[test]
fn a_blank_name_falls_back_to_the_user_id() {
    let mut n = notice();
    n.user_name = "  ".into();
    let r = render(&n);
    assert!(r.subject.contains("u-42"), "{}", r.subject);
}

#[test]
fn the_sms_names_user_session_and_link_within_its_bound() {
    let r = render(&notice());
    assert_eq!(
        r.sms,
        "Help request: Ada (u-42), session s-7. https://admin.example/sessions/s-7"
    );

    let mut n = notice();
    n.user_name = "N".repeat(500);
    n.user_id = UserId::parse(&"u".repeat(UserId::MAX_CHARS)).expect("valid id");
    n.session_id = SessionId::parse(&"s".repeat(SessionId::MAX_CHARS)).expect("valid id");
    let sms = render(&n).sms;
    assert!(sms.chars().count() <= SMS_CHARS, "{}", sms.chars().count());
    assert!(
        sms.ends_with(" https://admin.example/sessions/s-7"),
        "{sms}"
    );
    assert!(sms.is_ascii());

    n.admin_link = Some(format!("https://admin.example/{}", "x".repeat(300)));
    let sms = render(&n).sms;
    assert!(sms.chars().count() <= SMS_CHARS);
    assert!(!sms.contains("https://"), "{sms}");
}

#[test]
fn the_subject_is_bounded() {
    let mut n = notice();
    n.user_name = "N".repeat(1_000);
    n.session_id = SessionId::parse(&"s".repeat(SessionId::MAX_CHARS)).expect("valid id");
    let subject = render(&n).subject;
    assert!(subject.chars().count() <= SUBJECT_CHARS);
    assert!(subject.ends_with(n.session_id.as_str()), "{subject}");
    assert!(subject.contains("N…"), "{subject}");
}
