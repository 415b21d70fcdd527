//! Identifier newtypes.
//!
//! Each id is a non-empty string without control characters or `\`, within a length bound, checked
//! once at the boundary ([`SessionId::parse`] and friends) so that code holding a `SessionId` never
//! has to re-check it. Ids that appear in URL paths (session, file, share token) also refuse `/`; a
//! user id may contain one (it is data). Ids from the Go service (32 random alphanumerics) and
//! UUIDs both fit.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize};

/// Why a string is not a valid id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum IdError {
    /// The id is empty (after trimming whitespace).
    #[error("{kind} is empty")]
    Empty {
        /// Which id kind was being parsed.
        kind: &'static str,
    },
    /// The id has more characters than allowed.
    #[error("{kind} is longer than {max} characters")]
    TooLong {
        /// Which id kind was being parsed.
        kind: &'static str,
        /// The maximum length in characters.
        max: usize,
    },
    /// The id contains a control character (including NUL) or a path separator.
    #[error("{kind} contains a forbidden character")]
    ForbiddenChar {
        /// Which id kind was being parsed.
        kind: &'static str,
    },
}

fn check(kind: &'static str, raw: &str, max: usize, slash_ok: bool) -> Result<String, IdError> {
    let trimmed = raw.trim();
    if trimmed.is_empty() {
        return Err(IdError::Empty { kind });
    }
    if trimmed.chars().count() > max {
        return Err(IdError::TooLong { kind, max });
    }
    if trimmed
        .chars()
        .any(|c| c.is_control() || c == '\\' || (c == '/' && !slash_ok))
    {
        return Err(IdError::ForbiddenChar { kind });
    }
    Ok(trimmed.to_owned())
}

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident, $kind:literal, $max:expr, $slash_ok:expr) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            /// The longest accepted id, in characters.
            pub const MAX_CHARS: usize = $max;

            /// Validates `raw` (trimmed) and wraps it.
            pub fn parse(raw: &str) -> Result<Self, IdError> {
                check($kind, raw, Self::MAX_CHARS, $slash_ok).map(Self)
            }

            /// The id as a string slice.
            pub fn as_str(&self) -> &str {
                &self.0
            }

            /// Consumes the id, returning the inner string.
            pub fn into_string(self) -> String {
                self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl std::str::FromStr for $name {
            type Err = IdError;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Self::parse(s)
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let raw = String::deserialize(d)?;
                Self::parse(&raw).map_err(serde::de::Error::custom)
            }
        }
    };
}

id_type!(
    /// A chat session's id (`_id` in MongoDB, `session_id` on the wire). At most 128 characters.
    SessionId,
    "session_id",
    128,
    false
);
id_type!(
    /// A user's id, the JWT `user_id` claim (`uid` in MongoDB). At most 255 characters. A `/`
    /// is data here (host apps use ids like `team/ann`); it never becomes part of a path.
    UserId,
    "user_id",
    255,
    true
);
id_type!(
    /// An uploaded file's id, as returned by `P/upload`. At most 255 characters.
    FileId,
    "file_id",
    255,
    false
);
id_type!(
    /// A public share token for a session (`shareToken` in MongoDB). At most 128 characters.
    ShareToken,
    "share_token",
    128,
    false
);

#[cfg(test)]
mod tests;
