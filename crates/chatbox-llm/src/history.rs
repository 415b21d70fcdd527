//! Bounding the conversation sent to a vendor.
//!
//! The latest message is always kept whole; older turns are kept newest first while both the
//! turn and the character budgets of [`HistoryConfig`] allow, so the vendor sees a contiguous
//! tail of the conversation, never a turn with a hole before it.

use chatbox_core::ports::llm::{ChatMessage, ImagePart, Role};

use crate::config::HistoryConfig;

/// The contiguous tail of `messages` that fits the budget (at least the last message).
pub(crate) fn bounded<'a>(
    messages: &'a [ChatMessage],
    limits: &HistoryConfig,
) -> &'a [ChatMessage] {
    let mut chars = 0usize;
    let mut start = messages.len();
    for (i, message) in messages.iter().enumerate().rev() {
        let len = message.content.chars().count();
        let is_latest = i + 1 == messages.len();
        let turns = messages.len() - i;
        if !is_latest && (turns > limits.max_turns || chars.saturating_add(len) > limits.max_chars)
        {
            break;
        }
        chars = chars.saturating_add(len);
        start = i;
    }
    &messages[start..]
}

/// One turn after [`alternating`]: the joined text of consecutive messages of one role, and
/// their images in order.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Turn<'a> {
    pub(crate) role: Role,
    pub(crate) text: String,
    pub(crate) images: Vec<&'a ImagePart>,
}

/// The turns in a strictly alternating user/assistant order starting with a user turn, as
/// Anthropic requires: leading assistant turns are dropped and consecutive turns of one role are
/// joined by a blank line (their images kept, in order).
pub(crate) fn alternating(messages: &[ChatMessage]) -> Vec<Turn<'_>> {
    let mut out: Vec<Turn<'_>> = Vec::with_capacity(messages.len());
    for message in messages {
        match out.last_mut() {
            None if message.role == Role::Assistant => {}
            Some(turn) if turn.role == message.role => {
                turn.text.push_str("\n\n");
                turn.text.push_str(&message.content);
                turn.images.extend(&message.images);
            }
            _ => out.push(Turn {
                role: message.role,
                text: message.content.clone(),
                images: message.images.iter().collect(),
            }),
        }
    }
    out
}

/// Characters sent for a request (system prompt plus turns), for usage estimates.
pub(crate) fn prompt_chars(system: Option<&str>, messages: &[ChatMessage]) -> usize {
    system.map_or(0, |s| s.chars().count())
        + messages
            .iter()
            .map(|m| m.content.chars().count())
            .sum::<usize>()
}

/// The chars/4 token estimate used when a vendor reports no usage.
pub(crate) fn estimate_tokens(chars: usize) -> u64 {
    (chars as u64).div_ceil(4)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conv(n: usize) -> Vec<ChatMessage> {
        (0..n)
            .map(|i| {
                if i % 2 == 0 {
                    ChatMessage::user(format!("u{i}"))
                } else {
                    ChatMessage::assistant(format!("a{i}"))
                }
            })
            .collect()
    }

    #[test]
    fn keeps_the_last_turns_within_the_turn_budget() {
        let messages = conv(7);
        let limits = HistoryConfig {
            max_turns: 3,
            max_chars: 1000,
        };
        let kept = bounded(&messages, &limits);
        let texts: Vec<&str> = kept.iter().map(|m| m.content.as_str()).collect();
        assert_eq!(texts, ["u4", "a5", "u6"]);
    }

    #[test]
    fn drops_older_turns_past_the_character_budget_but_keeps_the_latest_whole() {
        let messages = vec![
            ChatMessage::user("a".repeat(10)),
            ChatMessage::assistant("b".repeat(10)),
            ChatMessage::user("c".repeat(50)),
        ];
        let limits = HistoryConfig {
            max_turns: 10,
            max_chars: 55,
        };
        assert_eq!(bounded(&messages, &limits).len(), 1);
        let limits = HistoryConfig {
            max_turns: 10,
            max_chars: 60,
        };
        assert_eq!(bounded(&messages, &limits).len(), 2);
        let limits = HistoryConfig {
            max_turns: 10,
            max_chars: 5,
        };
        assert_eq!(bounded(&messages, &limits)[0].content.len(), 50);
    }

    #[test]
    fn alternation_drops_leading_assistant_and_merges_repeats() {
        let image = |n: &'static [u8]| ImagePart {
            mime_type: "image/png".into(),
            data: bytes::Bytes::from_static(n),
        };
        let messages = vec![
            ChatMessage::assistant("hello, how can I help?"),
            ChatMessage::user("one").with_image(image(b"1")),
            ChatMessage::user("two").with_image(image(b"2")),
            ChatMessage::assistant("ok"),
        ];
        let (one, two) = (image(b"1"), image(b"2"));
        assert_eq!(
            alternating(&messages),
            vec![
                Turn {
                    role: Role::User,
                    text: "one\n\ntwo".to_owned(),
                    images: vec![&one, &two],
                },
                Turn {
                    role: Role::Assistant,
                    text: "ok".to_owned(),
                    images: vec![],
                },
            ]
        );
    }

    #[test]
    fn estimates_round_up() {
        assert_eq!(estimate_tokens(0), 0);
        assert_eq!(estimate_tokens(1), 1);
        assert_eq!(estimate_tokens(8), 2);
        assert_eq!(prompt_chars(Some("sys"), &conv(2)), 3 + 2 + 2);
    }
}
