//! The `type` field of a frame.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Every frame type the contract names, plus [`FrameType::Other`] so that a frame of an unknown
/// type still decodes (and gets `UNKNOWN_TYPE`, not `INVALID_FORMAT`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum FrameType {
    /// `user_message` (C→S, and echoed S→C).
    UserMessage,
    /// `ai_response` (S→C): a streamed chunk or the done frame.
    AiResponse,
    /// `file_upload` (C→S, echoed).
    FileUpload,
    /// `voice_message` (C→S, echoed).
    VoiceMessage,
    /// `error` (S→C).
    Error,
    /// `connection_status` (S→C).
    ConnectionStatus,
    /// `typing_indicator` (both ways, between user and assisting admin).
    TypingIndicator,
    /// `help_request` (C→S).
    HelpRequest,
    /// `admin_join` (C→S from admins; S→C announcement).
    AdminJoin,
    /// `admin_leave` (C→S from admins; S→C announcement).
    AdminLeave,
    /// `model_select` (C→S).
    ModelSelect,
    /// `loading` (S→C).
    Loading,
    /// `notification` (S→C).
    Notification,
    /// `ping` (C→S).
    Ping,
    /// `pong` (S→C).
    Pong,
    /// `auth` (C→S): a fresh token.
    Auth,
    /// `session_event` (S→C, admins' event feed): a session was created, asked for help, was
    /// taken over or released, or ended.
    SessionEvent,
    /// Any other spelling, kept verbatim.
    Other(String),
}

impl FrameType {
    /// The wire spelling.
    pub fn as_str(&self) -> &str {
        match self {
            Self::UserMessage => "user_message",
            Self::AiResponse => "ai_response",
            Self::FileUpload => "file_upload",
            Self::VoiceMessage => "voice_message",
            Self::Error => "error",
            Self::ConnectionStatus => "connection_status",
            Self::TypingIndicator => "typing_indicator",
            Self::HelpRequest => "help_request",
            Self::AdminJoin => "admin_join",
            Self::AdminLeave => "admin_leave",
            Self::ModelSelect => "model_select",
            Self::Loading => "loading",
            Self::Notification => "notification",
            Self::Ping => "ping",
            Self::Pong => "pong",
            Self::Auth => "auth",
            Self::SessionEvent => "session_event",
            Self::Other(s) => s,
        }
    }

    /// Parses a wire spelling; never fails.
    pub fn from_wire(s: &str) -> Self {
        match s {
            "user_message" => Self::UserMessage,
            "ai_response" => Self::AiResponse,
            "file_upload" => Self::FileUpload,
            "voice_message" => Self::VoiceMessage,
            "error" => Self::Error,
            "connection_status" => Self::ConnectionStatus,
            "typing_indicator" => Self::TypingIndicator,
            "help_request" => Self::HelpRequest,
            "admin_join" => Self::AdminJoin,
            "admin_leave" => Self::AdminLeave,
            "model_select" => Self::ModelSelect,
            "loading" => Self::Loading,
            "notification" => Self::Notification,
            "ping" => Self::Ping,
            "pong" => Self::Pong,
            "auth" => Self::Auth,
            "session_event" => Self::SessionEvent,
            other => Self::Other(other.to_owned()),
        }
    }
}

impl fmt::Display for FrameType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for FrameType {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for FrameType {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Ok(Self::from_wire(&s))
    }
}
