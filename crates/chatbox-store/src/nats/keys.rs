//! The names the NATS broker uses on the server: its bucket, stream and subjects, all derived
//! from the configured prefix, and the encoding that turns any string (a lease key, a session
//! id, a replica name) into one subject token or KV key.
//!
//! Guarantees:
//! - [`token`] is injective: different strings never share a token, so keys that differ only
//!   in characters NATS treats specially (`.`, `*`, `>`, whitespace) stay different keys.
//! - A token is never empty and only holds `A-Z a-z 0-9 - _ =`: never `.`, `*`, `>` or
//!   whitespace, so it is one subject token, and a valid KV key too.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

/// The token of the empty string: `=` never occurs in unpadded base64url, so it cannot collide.
const EMPTY_TOKEN: &str = "=";

/// `s` as one subject token and KV key: its UTF-8 bytes in unpadded base64url.
pub(crate) fn token(s: &str) -> String {
    if s.is_empty() {
        EMPTY_TOKEN.to_owned()
    } else {
        URL_SAFE_NO_PAD.encode(s.as_bytes())
    }
}

/// Every server-side name of one deployment (one prefix).
#[derive(Debug, Clone)]
pub(crate) struct Names {
    prefix: String,
}

impl Names {
    /// The names under `prefix` (already validated: `A-Z a-z 0-9 - _`).
    pub(crate) fn new(prefix: &str) -> Self {
        Self {
            prefix: prefix.to_owned(),
        }
    }

    /// The prefix itself.
    pub(crate) fn prefix(&self) -> &str {
        &self.prefix
    }

    /// The KV bucket of leases.
    pub(crate) fn lease_bucket(&self) -> String {
        format!("{}-leases", self.prefix)
    }

    /// The stream of every session's frame log.
    pub(crate) fn frame_stream(&self) -> String {
        format!("{}-frames", self.prefix)
    }

    /// The subjects the frame stream captures.
    pub(crate) fn frame_subjects(&self) -> String {
        format!("{}.frames.>", self.prefix)
    }

    /// The subject of one session's frame log.
    pub(crate) fn frame_subject(&self, session: &str) -> String {
        format!("{}.frames.{}", self.prefix, token(session))
    }

    /// The subject replica `replica` receives its mail on.
    pub(crate) fn mail_subject(&self, replica: &str) -> String {
        format!("{}.mail.{}", self.prefix, token(replica))
    }

    /// The subject of announcements.
    pub(crate) fn announce_subject(&self) -> String {
        format!("{}.announce", self.prefix)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_plain_and_distinct() {
        let keys = [
            "", "s.x", "s.x y", "s.x*", "s.x>", "s.x.y", "s.é", "a\tb", "=", "-", "_", "a b.c*",
        ];
        let tokens: Vec<String> = keys.iter().map(|k| token(k)).collect();
        for t in &tokens {
            assert!(!t.is_empty());
            assert!(
                t.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-_=".contains(&b)),
                "{t:?} is one subject token and a KV key"
            );
        }
        let mut unique = tokens.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), tokens.len(), "no two keys share a token");
    }

    #[test]
    fn names_follow_the_prefix() {
        let n = Names::new("chatbox");
        assert_eq!(n.lease_bucket(), "chatbox-leases");
        assert_eq!(n.frame_stream(), "chatbox-frames");
        assert_eq!(n.frame_subjects(), "chatbox.frames.>");
        assert_eq!(n.frame_subject("abc"), "chatbox.frames.YWJj");
        assert_eq!(n.mail_subject("r1"), "chatbox.mail.cjE");
        assert_eq!(n.announce_subject(), "chatbox.announce");
    }
}
