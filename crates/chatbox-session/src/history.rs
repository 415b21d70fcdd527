//! The conversation sent to the model: stored messages turned into a bounded [`ChatRequest`].
//!
//! User and admin words are the human side, AI replies the assistant side; system lines and empty
//! messages are left out. The newest turns are kept within the turn and character budgets, and the
//! message being answered is always included.
//!
//! A file reaches the model as a text line before its caption (`[file: report.pdf,
//! application/pdf, 120 KB]`), built from the metadata the server stored, so even a provider
//! without vision knows a file was sent; a voice note as its transcript. Image bytes are never
//! replayed from history: only the turn being answered may carry one (`turn`).

use std::borrow::Cow;

use chatbox_core::ports::llm::{ChatMessage, ChatRequest};
use chatbox_core::session::Message;
use chatbox_core::{Sender, SessionId, UserId};

/// The metadata key marking a voice note (its value says how transcription went).
pub(crate) const TRANSCRIPT_KEY: &str = "transcript";

/// How a file appears to the model: `[file: report.pdf, application/pdf, 120 KB]` (the size
/// left out when unknown).
pub(crate) fn file_line(name: &str, mime_type: &str, size: Option<u64>) -> String {
    match size {
        Some(size) => format!("[file: {name}, {mime_type}, {}]", human_size(size)),
        None => format!("[file: {name}, {mime_type}]"),
    }
}

/// A byte count as people read it: `512 B`, `120 KB`, `3.4 MB`.
fn human_size(bytes: u64) -> String {
    const KB: u64 = 1024;
    const MB: u64 = 1024 * 1024;
    if bytes < KB {
        format!("{bytes} B")
    } else if bytes < MB {
        format!("{} KB", (bytes + KB / 2) / KB)
    } else {
        // Precision loss is irrelevant at one decimal.
        format!("{:.1} MB", bytes as f64 / MB as f64)
    }
}

/// What the model reads of a stored message: its text, after the line describing its file when
/// it carries one (a voice note is its transcript alone).
fn turn_text(m: &Message) -> Cow<'_, str> {
    if m.file_id.is_none() || m.metadata.contains_key(TRANSCRIPT_KEY) {
        return Cow::Borrowed(&m.content);
    }
    let meta = |key: &str| m.metadata.get(key).map(String::as_str);
    let line = file_line(
        meta("file_name").unwrap_or("unnamed"),
        meta("mime_type").unwrap_or("unknown type"),
        meta("file_size").and_then(|s| s.parse().ok()),
    );
    let caption = m.content.trim();
    if caption.is_empty() {
        Cow::Owned(line)
    } else {
        Cow::Owned(format!("{line}\n{caption}"))
    }
}

/// Builds the request for answering the last of `messages`.
pub fn build_request(
    messages: &[Message],
    max_turns: usize,
    max_chars: usize,
    system_prompt: Option<&str>,
    session: &SessionId,
    user: &UserId,
) -> ChatRequest {
    let mut picked: Vec<ChatMessage> = Vec::new();
    let mut chars = 0usize;
    for m in messages.iter().rev() {
        let text = turn_text(m);
        if text.trim().is_empty() {
            continue;
        }
        let turn = match m.sender {
            Sender::User | Sender::Admin => ChatMessage::user(text),
            Sender::Ai => ChatMessage::assistant(text),
            Sender::System => continue,
        };
        let len = turn.content.chars().count();
        if !picked.is_empty() && (picked.len() >= max_turns.max(1) || chars + len > max_chars) {
            break;
        }
        chars += len;
        picked.push(turn);
    }
    picked.reverse();
    ChatRequest {
        system_prompt: system_prompt.map(str::to_owned),
        messages: picked,
        conversation_key: session.as_str().to_owned(),
        user_key: user.as_str().to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use chatbox_core::ports::llm::Role;
    use chrono::Utc;

    use super::*;

    fn msg(sender: Sender, text: &str) -> Message {
        Message::text(sender, text, Utc::now())
    }

    fn ids() -> (SessionId, UserId) {
        (SessionId::parse("s").unwrap(), UserId::parse("u").unwrap())
    }

    #[test]
    fn maps_senders_and_skips_system_and_empty() {
        let (s, u) = ids();
        let msgs = [
            msg(Sender::User, "hi"),
            msg(Sender::System, "joined"),
            msg(Sender::Ai, "hello"),
            msg(Sender::Admin, "admin here"),
            msg(Sender::User, "  "),
            msg(Sender::User, "question"),
        ];
        let req = build_request(&msgs, 20, 10_000, Some("be brief"), &s, &u);
        let roles: Vec<Role> = req.messages.iter().map(|m| m.role).collect();
        assert_eq!(roles, [Role::User, Role::Assistant, Role::User, Role::User]);
        assert_eq!(req.messages.last().unwrap().content, "question");
        assert_eq!(req.system_prompt.as_deref(), Some("be brief"));
        assert_eq!(req.conversation_key, "s");
    }

    fn file(caption: &str, name: &str, mime: &str, size: &str) -> Message {
        let mut m = msg(Sender::User, caption);
        m.file_id = Some(chatbox_core::FileId::parse("f1").unwrap());
        m.file_url = Some("/chatbox/files/f1".into());
        for (k, v) in [
            ("file_name", name),
            ("mime_type", mime),
            ("file_size", size),
        ] {
            m.metadata.insert(k.into(), v.into());
        }
        m
    }

    #[test]
    fn files_are_described_by_a_line_and_voice_notes_are_their_transcript() {
        let (s, u) = ids();
        let mut voice = file("where is my parcel", "note.ogg", "audio/ogg", "5000");
        voice.metadata.insert(TRANSCRIPT_KEY.into(), "true".into());
        let mut silent = file("", "silence.ogg", "audio/ogg", "10");
        silent.metadata.insert(TRANSCRIPT_KEY.into(), "off".into());
        let msgs = [
            file("", "photo.png", "image/png", "2048"),
            file(" the invoice ", "report.pdf", "application/pdf", "122880"),
            file("big", "scan.tiff", "image/tiff", "3565158"),
            file("", "odd.bin", "application/pdf", "not a number"),
            voice,
            silent,
        ];
        let req = build_request(&msgs, 20, 10_000, None, &s, &u);
        let texts: Vec<&str> = req.messages.iter().map(|m| m.content.as_str()).collect();
        assert_eq!(
            texts,
            [
                "[file: photo.png, image/png, 2 KB]",
                "[file: report.pdf, application/pdf, 120 KB]\nthe invoice",
                "[file: scan.tiff, image/tiff, 3.4 MB]\nbig",
                "[file: odd.bin, application/pdf]",
                "where is my parcel",
            ]
        );
        assert!(
            req.messages.iter().all(|m| m.images.is_empty()),
            "history never carries image bytes"
        );
        assert_eq!(human_size(0), "0 B");
        assert_eq!(human_size(1023), "1023 B");
    }

    #[test]
    fn keeps_newest_turns_within_budgets_and_always_the_last() {
        let (s, u) = ids();
        let msgs: Vec<Message> = (0..10)
            .map(|i| msg(Sender::User, &format!("m{i}")))
            .collect();
        let req = build_request(&msgs, 3, 10_000, None, &s, &u);
        let texts: Vec<&str> = req.messages.iter().map(|m| m.content.as_str()).collect();
        assert_eq!(texts, ["m7", "m8", "m9"]);
        let req = build_request(&msgs, 10, 5, None, &s, &u);
        assert_eq!(req.messages.len(), 2, "two 2-char turns fit in 5 chars");
        let long = [msg(Sender::User, &"x".repeat(100))];
        assert_eq!(
            build_request(&long, 10, 5, None, &s, &u).messages.len(),
            1,
            "the last is kept"
        );
    }
}
