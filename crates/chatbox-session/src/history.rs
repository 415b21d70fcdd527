//! The conversation sent to the model: stored messages turned into a bounded [`ChatRequest`].
//!
//! User and admin words are the human side, AI replies the assistant side; system lines and empty
//! messages are left out. The newest turns are kept within the turn and character budgets, and the
//! message being answered is always included.

use chatbox_core::ports::llm::{ChatMessage, ChatRequest};
use chatbox_core::session::Message;
use chatbox_core::{Sender, SessionId, UserId};

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
        let turn = match m.sender {
            Sender::User | Sender::Admin if !m.content.trim().is_empty() => {
                ChatMessage::user(&m.content)
            }
            Sender::Ai if !m.content.trim().is_empty() => ChatMessage::assistant(&m.content),
            _ => continue,
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
