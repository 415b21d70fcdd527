//! What staff read: one [`HelpNotice`] rendered as an email subject, a plain-text body, an HTML
//! body and a short SMS text, the same for every channel.
//!
//! Guarantees:
//! - every value taken from the notice (names, ids, note, link, message text) is HTML-escaped in
//!   the HTML body, attribute values included, and the link becomes an `<a href>` only when it
//!   is an `http(s)` URL;
//! - user-supplied values are flattened to one line (control characters become spaces) wherever
//!   they are interpolated, so a name or note cannot forge another line of the text body or a
//!   header;
//! - each context message is cut to [`CONTEXT_CHARS`] characters on a character boundary, ending
//!   in `…` when cut; the note to [`NOTE_CHARS`];
//! - the subject always names the session and is at most [`SUBJECT_CHARS`] characters and the SMS at most [`SMS_CHARS`]
//!   (ASCII `...` marks a cut there, so the text stays in the GSM-7 alphabet when the values are).

use std::fmt::Write as _;

use chatbox_core::ports::notify::HelpNotice;
use chrono::SecondsFormat;

/// Longest context message shown, in characters (the `…` included).
pub const CONTEXT_CHARS: usize = 300;
/// Longest note shown, in characters (the `…` included).
pub const NOTE_CHARS: usize = 1_000;
/// Longest subject, in characters.
pub const SUBJECT_CHARS: usize = 250;
/// Longest user name shown in the subject, in characters, so the session id always fits.
const SUBJECT_NAME_CHARS: usize = 60;
/// Longest SMS text, in characters.
pub const SMS_CHARS: usize = 300;
/// Longest user name shown in the SMS, in characters.
const SMS_NAME_CHARS: usize = 40;
/// A link longer than this is left out of the SMS rather than cut (a cut link is useless).
const SMS_LINK_CHARS: usize = 200;

/// A notice rendered for every channel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendered {
    /// Email subject: names the user and the session.
    pub subject: String,
    /// Plain-text email body.
    pub text: String,
    /// HTML email body; every interpolated value is escaped.
    pub html: String,
    /// Short SMS text (at most [`SMS_CHARS`] characters): user, session and link.
    pub sms: String,
}

/// Renders `notice` for every channel.
pub fn render(notice: &HelpNotice) -> Rendered {
    let fields = Fields::of(notice);
    Rendered {
        subject: subject(&fields),
        text: text_body(notice, &fields),
        html: html_body(notice, &fields),
        sms: sms_text(&fields),
    }
}

/// Escapes `s` for HTML text and double- or single-quoted attribute values.
pub fn escape_html(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// `s` on one line (each control character, newlines included, becomes a space), cut to at most
/// `max_chars` characters on a character boundary with `…` as the last one when cut.
pub fn excerpt(s: &str, max_chars: usize) -> String {
    cut(&one_line(s), max_chars, "…")
}

/// The request time as staff see it: RFC 3339 in UTC, whole seconds.
pub fn format_time(t: chrono::DateTime<chrono::Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// The values every rendering interpolates, already flattened to one line.
struct Fields {
    /// The user's name, or their id when the name is blank.
    name: String,
    user_id: String,
    session_id: String,
    time: String,
    note: Option<String>,
    link: Option<String>,
}

impl Fields {
    fn of(n: &HelpNotice) -> Self {
        let name = one_line(n.user_name.trim());
        Self {
            name: if name.is_empty() {
                n.user_id.as_str().to_owned()
            } else {
                name
            },
            user_id: n.user_id.as_str().to_owned(),
            session_id: n.session_id.as_str().to_owned(),
            time: format_time(n.requested_at),
            note: non_blank(n.note.as_deref()).map(|s| excerpt(s, NOTE_CHARS)),
            link: non_blank(n.admin_link.as_deref()).map(one_line),
        }
    }

    /// The link as an `href`, only when it is a web URL (never `javascript:` and friends).
    fn web_link(&self) -> Option<&str> {
        self.link.as_deref().filter(|l| {
            let lower = l.to_ascii_lowercase();
            lower.starts_with("https://") || lower.starts_with("http://")
        })
    }
}

fn subject(f: &Fields) -> String {
    cut(
        &format!(
            "Help request from {} in session {}",
            cut(&f.name, SUBJECT_NAME_CHARS, "…"),
            f.session_id
        ),
        SUBJECT_CHARS,
        "…",
    )
}

fn text_body(n: &HelpNotice, f: &Fields) -> String {
    let mut out = String::new();
    // Writing to a String cannot fail.
    let _ = writeln!(out, "{} asked for a human.\n", f.name);
    let _ = writeln!(out, "User:         {} ({})", f.name, f.user_id);
    let _ = writeln!(out, "Session:      {}", f.session_id);
    let _ = writeln!(out, "Requested at: {}", f.time);
    let _ = writeln!(
        out,
        "Note:         {}",
        f.note.as_deref().unwrap_or("(none)")
    );
    match &f.link {
        Some(link) => {
            let _ = writeln!(out, "View session: {link}");
        }
        None => out.push_str("Please check the admin panel to view this session.\n"),
    }
    if n.context.is_empty() {
        out.push_str("\nRecent messages: (none)\n");
    } else {
        out.push_str("\nRecent messages (oldest first):\n");
        for m in &n.context {
            let _ = writeln!(out, "{}: {}", m.sender, excerpt(&m.content, CONTEXT_CHARS));
        }
    }
    out
}

fn html_body(n: &HelpNotice, f: &Fields) -> String {
    let e = escape_html;
    let mut out = String::from(
        "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"></head>\
         <body style=\"font-family:sans-serif\">\n<h2>User help request</h2>\n",
    );
    let _ = writeln!(out, "<p>{} asked for a human.</p>", e(&f.name));
    out.push_str("<table>\n");
    let row = |out: &mut String, label: &str, value: &str| {
        let _ = writeln!(
            out,
            "<tr><th align=\"left\">{label}</th><td>{}</td></tr>",
            e(value)
        );
    };
    row(&mut out, "User", &format!("{} ({})", f.name, f.user_id));
    row(&mut out, "Session", &f.session_id);
    row(&mut out, "Requested at", &f.time);
    row(&mut out, "Note", f.note.as_deref().unwrap_or("(none)"));
    out.push_str("</table>\n");
    match (f.web_link(), &f.link) {
        (Some(link), _) => {
            let _ = writeln!(out, "<p><a href=\"{}\">View session</a></p>", e(link));
        }
        (None, Some(link)) => {
            let _ = writeln!(out, "<p>View session: {}</p>", e(link));
        }
        (None, None) => out.push_str("<p>Please check the admin panel to view this session.</p>\n"),
    }
    if n.context.is_empty() {
        out.push_str("<p>Recent messages: (none)</p>\n");
    } else {
        out.push_str("<h3>Recent messages (oldest first)</h3>\n<ul>\n");
        for m in &n.context {
            let _ = writeln!(
                out,
                "<li><b>{}</b>: {}</li>",
                e(m.sender.as_str()),
                e(&excerpt(&m.content, CONTEXT_CHARS))
            );
        }
        out.push_str("</ul>\n");
    }
    out.push_str("</body></html>\n");
    out
}

fn sms_text(f: &Fields) -> String {
    let name = cut(&f.name, SMS_NAME_CHARS, "...");
    let base = format!(
        "Help request: {name} ({}), session {}.",
        f.user_id, f.session_id
    );
    let link = f
        .link
        .as_deref()
        .filter(|l| l.chars().count() <= SMS_LINK_CHARS)
        .map(|l| format!(" {l}"))
        .unwrap_or_default();
    let room = SMS_CHARS.saturating_sub(link.chars().count());
    format!("{}{link}", cut(&base, room, "..."))
}

/// `s` trimmed, unless that leaves nothing.
fn non_blank(s: Option<&str>) -> Option<&str> {
    s.map(str::trim).filter(|s| !s.is_empty())
}

/// Replaces every control character with a space.
fn one_line(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

/// `s` cut to at most `max` characters, `mark` taking the last places when cut.
fn cut(s: &str, max: usize, mark: &str) -> String {
    if s.chars().count() <= max {
        return s.to_owned();
    }
    let keep = max.saturating_sub(mark.chars().count());
    let mut out: String = s.chars().take(keep).collect();
    out.push_str(mark);
    out
}

#[cfg(test)]
mod tests;
