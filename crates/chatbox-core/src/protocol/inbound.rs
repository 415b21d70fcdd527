//! Validation of client frames: from a decoded [`Envelope`] to a [`ClientFrame`] the engine can
//! act on, or a [`FrameError`] with the contract code to send back.
//!
//! Lengths are counted in characters (the Go service counted bytes, which rejected short
//! non-Latin messages). The sender of an inbound frame is never taken from the frame.

use chrono::{DateTime, Duration, Utc};

use super::envelope::{Envelope, Metadata, decode};
use super::error_code::ErrorCode;
use super::frame_type::FrameType;
use crate::ids::{FileId, SessionId};

/// Length limits of CONTRACT §3, in characters.
pub mod limits {
    /// `content`.
    pub const CONTENT_CHARS: usize = 10_000;
    /// `file_id`.
    pub const FILE_ID_CHARS: usize = 255;
    /// `file_url`.
    pub const FILE_URL_CHARS: usize = 2048;
    /// `model_id`.
    pub const MODEL_ID_CHARS: usize = 100;
    /// `session_id`.
    pub const SESSION_ID_CHARS: usize = 128;
    /// Each metadata value.
    pub const METADATA_VALUE_CHARS: usize = 1000;
    /// Each metadata key.
    pub const METADATA_KEY_CHARS: usize = 100;
    /// Number of metadata entries.
    pub const METADATA_ENTRIES: usize = 50;
    /// How far in the future a client timestamp may be.
    pub const MAX_FUTURE_SKEW_SECS: i64 = 60;
}

/// Why a frame was refused. Each variant maps to one contract code ([`FrameError::code`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FrameError {
    /// The bytes are not JSON.
    #[error("frame is not valid JSON")]
    NotJson,
    /// The JSON is not an object.
    #[error("frame is not a JSON object")]
    NotAnObject,
    /// A field has the wrong JSON type.
    #[error("field {field} must be {expected}")]
    WrongType {
        /// The field.
        field: &'static str,
        /// What it must be.
        expected: &'static str,
    },
    /// `timestamp` is not RFC 3339.
    #[error("timestamp must be an RFC 3339 time")]
    BadTimestamp,
    /// `timestamp` is more than a minute ahead of the server clock.
    #[error("timestamp is more than 60 seconds in the future")]
    FutureTimestamp,
    /// A metadata value is an array or object.
    #[error("metadata value for {key} must be a string, number or boolean")]
    BadMetadata {
        /// The offending key (truncated).
        key: String,
    },
    /// A required field is absent or empty.
    #[error("required field missing: {0}")]
    MissingField(&'static str),
    /// A field is longer than allowed.
    #[error("field {field} exceeds {max} characters")]
    TooLong {
        /// The field.
        field: &'static str,
        /// The limit, in characters.
        max: usize,
    },
    /// An id field holds characters an id may not have.
    #[error("field {0} is not a valid id")]
    InvalidId(&'static str),
    /// The frame type is not one a client may send.
    #[error("unknown message type {0:?}")]
    UnknownType(String),
}

impl FrameError {
    /// The contract code to put in the `error` frame.
    pub fn code(&self) -> ErrorCode {
        match self {
            Self::MissingField(_) => ErrorCode::MissingField,
            Self::UnknownType(_) => ErrorCode::UnknownType,
            Self::NotJson
            | Self::NotAnObject
            | Self::WrongType { .. }
            | Self::BadTimestamp
            | Self::FutureTimestamp
            | Self::BadMetadata { .. }
            | Self::TooLong { .. }
            | Self::InvalidId(_) => ErrorCode::InvalidFormat,
        }
    }
}

/// A validated client frame. It serializes (serde) so that a replica can forward it to the
/// replica running its session; that form is internal, not the wire protocol.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ClientFrame {
    /// The session the frame names, if any (the connection's session otherwise).
    pub session_id: Option<SessionId>,
    /// The client's timestamp, or the server's receive time when absent.
    pub timestamp: DateTime<Utc>,
    /// What the client asks for.
    pub command: ClientCommand,
}

/// What a client may ask for. Admin-only commands are validated here for shape only; whether the
/// identity may issue them is the engine's decision.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub enum ClientCommand {
    /// A chat message (from a user, or from the assisting admin).
    UserMessage {
        /// The text, NUL-free, non-blank.
        content: String,
        /// Client metadata.
        metadata: Metadata,
    },
    /// Switch the session's model.
    ModelSelect {
        /// A provider id (checked against configuration by the engine).
        model_id: String,
    },
    /// Ask for a human.
    HelpRequest {
        /// Optional note from the user.
        content: Option<String>,
        /// Client metadata.
        metadata: Metadata,
    },
    /// A file uploaded through `P/upload`, now posted into the conversation.
    FileUpload {
        /// The id `P/upload` returned.
        file_id: FileId,
        /// Caption (may be empty).
        content: String,
        /// Client metadata (file name, size, type).
        metadata: Metadata,
    },
    /// A voice note uploaded through `P/upload`.
    VoiceMessage {
        /// The id `P/upload` returned.
        file_id: FileId,
        /// Client metadata.
        metadata: Metadata,
    },
    /// Typing started or stopped.
    Typing {
        /// `metadata.typing == "true"`.
        active: bool,
    },
    /// Application-level ping.
    Ping,
    /// A fresh JWT for this connection.
    Auth {
        /// The token.
        token: String,
    },
    /// An admin takes the session over.
    AdminJoin,
    /// The assisting admin releases the session.
    AdminLeave,
}

impl ClientFrame {
    /// Decodes and validates one inbound text frame at server time `now`.
    pub fn parse(bytes: &[u8], now: DateTime<Utc>) -> Result<Self, FrameError> {
        Self::from_envelope(decode(bytes)?, now)
    }

    /// Validates a decoded envelope at server time `now`.
    pub fn from_envelope(env: Envelope, now: DateTime<Utc>) -> Result<Self, FrameError> {
        let timestamp = match env.timestamp {
            None => now,
            Some(t) => {
                let t = t.with_timezone(&Utc);
                if t > now + Duration::seconds(limits::MAX_FUTURE_SKEW_SECS) {
                    return Err(FrameError::FutureTimestamp);
                }
                t
            }
        };
        let session_id = optional_trimmed(env.session_id, "session_id", limits::SESSION_ID_CHARS)?
            .map(|s| SessionId::parse(&s).map_err(|_| FrameError::InvalidId("session_id")))
            .transpose()?;
        let metadata = check_metadata(env.metadata.unwrap_or_default())?;
        let content = check_len(env.content, "content", limits::CONTENT_CHARS)?;
        let file_id = optional_trimmed(env.file_id, "file_id", limits::FILE_ID_CHARS)?;
        check_len(env.file_url, "file_url", limits::FILE_URL_CHARS)?;
        let model_id = optional_trimmed(env.model_id, "model_id", limits::MODEL_ID_CHARS)?;

        let command = match env.kind {
            FrameType::UserMessage => ClientCommand::UserMessage {
                content: non_blank(content, "content")?,
                metadata,
            },
            FrameType::ModelSelect => ClientCommand::ModelSelect {
                model_id: model_id.ok_or(FrameError::MissingField("model_id"))?,
            },
            FrameType::HelpRequest => ClientCommand::HelpRequest {
                content: content.filter(|c| !c.trim().is_empty()),
                metadata,
            },
            FrameType::FileUpload => ClientCommand::FileUpload {
                file_id: file_id_of(file_id)?,
                content: content.unwrap_or_default(),
                metadata,
            },
            FrameType::VoiceMessage => ClientCommand::VoiceMessage {
                file_id: file_id_of(file_id)?,
                metadata,
            },
            FrameType::TypingIndicator => ClientCommand::Typing {
                active: metadata.get("typing").is_some_and(|v| v == "true"),
            },
            FrameType::Ping => ClientCommand::Ping,
            FrameType::Auth => ClientCommand::Auth {
                token: non_blank(content, "content")?,
            },
            FrameType::AdminJoin => ClientCommand::AdminJoin,
            FrameType::AdminLeave => ClientCommand::AdminLeave,
            other => {
                return Err(FrameError::UnknownType(
                    other.as_str().chars().take(64).collect(),
                ));
            }
        };
        Ok(Self {
            session_id,
            timestamp,
            command,
        })
    }
}

fn check_len(
    value: Option<String>,
    field: &'static str,
    max: usize,
) -> Result<Option<String>, FrameError> {
    match value {
        Some(v) if v.chars().count() > max => Err(FrameError::TooLong { field, max }),
        other => Ok(other),
    }
}

fn optional_trimmed(
    value: Option<String>,
    field: &'static str,
    max: usize,
) -> Result<Option<String>, FrameError> {
    let value = value.map(|v| v.trim().to_owned()).filter(|v| !v.is_empty());
    check_len(value, field, max)
}

fn non_blank(value: Option<String>, field: &'static str) -> Result<String, FrameError> {
    value
        .filter(|v| !v.trim().is_empty())
        .ok_or(FrameError::MissingField(field))
}

fn file_id_of(value: Option<String>) -> Result<FileId, FrameError> {
    let raw = value.ok_or(FrameError::MissingField("file_id"))?;
    FileId::parse(&raw).map_err(|_| FrameError::InvalidId("file_id"))
}

fn check_metadata(metadata: Metadata) -> Result<Metadata, FrameError> {
    if metadata.len() > limits::METADATA_ENTRIES {
        return Err(FrameError::TooLong {
            field: "metadata",
            max: limits::METADATA_ENTRIES,
        });
    }
    for (k, v) in &metadata {
        if k.chars().count() > limits::METADATA_KEY_CHARS {
            return Err(FrameError::TooLong {
                field: "metadata key",
                max: limits::METADATA_KEY_CHARS,
            });
        }
        if v.chars().count() > limits::METADATA_VALUE_CHARS {
            return Err(FrameError::TooLong {
                field: "metadata value",
                max: limits::METADATA_VALUE_CHARS,
            });
        }
    }
    Ok(metadata)
}
