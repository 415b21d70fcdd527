//! The error codes a client can receive in an `error` frame (CONTRACT §3).

use std::fmt;

use serde::{Serialize, Serializer};

/// A stable, machine-readable error code. Clients switch on these; the spelling never changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorCode {
    /// The frame is not valid JSON, a field has the wrong type, or a value is out of bounds.
    InvalidFormat,
    /// A field the frame type requires is absent or empty.
    MissingField,
    /// The `type` is not one a client may send.
    UnknownType,
    /// `model_id` is not a configured provider.
    InvalidModel,
    /// The session (or file) does not exist for this user.
    NotFound,
    /// The identity may not do this.
    Forbidden,
    /// The per-user message rate limit was hit; `retry_after` says when to try again.
    TooManyRequests,
    /// The LLM provider could not be reached or refused the request.
    LlmUnavailable,
    /// The LLM provider did not answer in time.
    LlmTimeout,
    /// The LLM provider failed while answering.
    LlmError,
    /// The store failed.
    StorageError,
    /// Another admin already assists the session.
    Conflict,
    /// The session's input queue is full.
    SessionBusy,
    /// The feature is switched off in this deployment (`ENABLE_*`).
    FeatureDisabled,
}

impl ErrorCode {
    /// The wire spelling.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::InvalidFormat => "INVALID_FORMAT",
            Self::MissingField => "MISSING_FIELD",
            Self::UnknownType => "UNKNOWN_TYPE",
            Self::InvalidModel => "INVALID_MODEL",
            Self::NotFound => "NOT_FOUND",
            Self::Forbidden => "FORBIDDEN",
            Self::TooManyRequests => "TOO_MANY_REQUESTS",
            Self::LlmUnavailable => "LLM_UNAVAILABLE",
            Self::LlmTimeout => "LLM_TIMEOUT",
            Self::LlmError => "LLM_ERROR",
            Self::StorageError => "STORAGE_ERROR",
            Self::Conflict => "CONFLICT",
            Self::SessionBusy => "SESSION_BUSY",
            Self::FeatureDisabled => "FEATURE_DISABLED",
        }
    }

    /// Every code, in contract order.
    pub const ALL: [ErrorCode; 14] = [
        Self::InvalidFormat,
        Self::MissingField,
        Self::UnknownType,
        Self::InvalidModel,
        Self::NotFound,
        Self::Forbidden,
        Self::TooManyRequests,
        Self::LlmUnavailable,
        Self::LlmTimeout,
        Self::LlmError,
        Self::StorageError,
        Self::Conflict,
        Self::SessionBusy,
        Self::FeatureDisabled,
    ];
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for ErrorCode {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}
