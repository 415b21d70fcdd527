//! Who wrote a message or frame: `user`, `ai`, `admin` or `system`.

use std::fmt;

use serde::{Deserialize, Serialize};

/// The author of a message or frame. On inbound frames the server sets it from the JWT; a
/// client's claim is never trusted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Sender {
    /// The end user who owns the session.
    User,
    /// The LLM.
    Ai,
    /// A human administrator assisting the session.
    Admin,
    /// The service itself (status and notices).
    System,
}

impl Sender {
    /// The wire spelling.
    pub const fn as_str(self) -> &'static str {
        match self {
            Sender::User => "user",
            Sender::Ai => "ai",
            Sender::Admin => "admin",
            Sender::System => "system",
        }
    }

    /// Parses the wire spelling; `None` for anything else.
    pub fn from_wire(s: &str) -> Option<Self> {
        match s {
            "user" => Some(Sender::User),
            "ai" => Some(Sender::Ai),
            "admin" => Some(Sender::Admin),
            "system" => Some(Sender::System),
            _ => None,
        }
    }
}

impl fmt::Display for Sender {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_spelling_round_trips() {
        for s in [Sender::User, Sender::Ai, Sender::Admin, Sender::System] {
            assert_eq!(Sender::from_wire(s.as_str()), Some(s));
            let json = serde_json::to_string(&s).unwrap();
            assert_eq!(json, format!("\"{s}\""));
        }
        assert_eq!(Sender::from_wire("bot"), None);
    }
}
