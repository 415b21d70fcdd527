//! Constructors for the frames the server sends, so that every frame of a kind has the same shape
//! (CONTRACT §3): the engine fills in session-specific values and the fan-out stamps `seq`.

use chrono::{DateTime, Utc};

use super::envelope::{Envelope, ErrorBody, ModelInfo, utc_timestamp};
use super::error_code::ErrorCode;
use super::frame_type::FrameType;
use crate::ids::{SessionId, UserId};
use crate::sender::Sender;
use crate::session::Message;

impl Envelope {
    fn server(kind: FrameType, sender: Sender, now: DateTime<Utc>) -> Self {
        let mut env = Envelope::new(kind);
        env.sender = Some(sender);
        env.timestamp = Some(utc_timestamp(now));
        env
    }

    /// Sets `session_id`.
    pub fn with_session(mut self, id: &SessionId) -> Self {
        self.session_id = Some(id.as_str().to_owned());
        self
    }

    /// Sets `seq`.
    pub fn with_seq(mut self, seq: u64) -> Self {
        self.seq = Some(seq);
        self
    }

    /// The first frame of a connection (and the confirmation of a session switch or model change):
    /// the session, the user, the current model, the configured models and the current `seq`.
    pub fn connection_status(
        session_id: &SessionId,
        user_id: &UserId,
        model_id: &str,
        models: Vec<ModelInfo>,
        now: DateTime<Utc>,
    ) -> Self {
        let mut env =
            Self::server(FrameType::ConnectionStatus, Sender::System, now).with_session(session_id);
        env.user_id = Some(user_id.as_str().to_owned());
        env.model_id = Some(model_id.to_owned());
        env.models = Some(models);
        env
    }

    /// `loading`: a reply is being prepared.
    pub fn loading(now: DateTime<Utc>) -> Self {
        Self::server(FrameType::Loading, Sender::Ai, now)
    }

    /// One streamed `ai_response` chunk.
    pub fn ai_chunk(content: impl Into<String>, model_id: &str, now: DateTime<Utc>) -> Self {
        let mut env = Self::server(FrameType::AiResponse, Sender::Ai, now);
        env.content = Some(content.into());
        env.model_id = Some(model_id.to_owned());
        env.set_meta("streaming", "true");
        env.set_meta("done", "false");
        env
    }

    /// The one `ai_response` that ends a reply. `tokens`/`response_ms` are present on success;
    /// `cancelled` names why a reply was cut (e.g. `takeover`).
    pub fn ai_done(
        model_id: &str,
        tokens: Option<u64>,
        response_ms: Option<u64>,
        cancelled: Option<&str>,
        now: DateTime<Utc>,
    ) -> Self {
        let mut env = Self::server(FrameType::AiResponse, Sender::Ai, now);
        env.model_id = Some(model_id.to_owned());
        env.set_meta("streaming", "true");
        env.set_meta("done", "true");
        if let Some(t) = tokens {
            env.set_meta("tokens", t.to_string());
        }
        if let Some(ms) = response_ms {
            env.set_meta("response_ms", ms.to_string());
        }
        if let Some(reason) = cancelled {
            env.set_meta("cancelled", reason);
        }
        env
    }

    /// An `error` frame.
    pub fn error(code: ErrorCode, message: impl Into<String>, now: DateTime<Utc>) -> Self {
        let mut env = Self::server(FrameType::Error, Sender::System, now);
        env.error = Some(ErrorBody::new(code, message));
        env
    }

    /// An `error` frame for a rate limit, with `retry_after` in milliseconds.
    pub fn rate_limited(retry_after_ms: u64, now: DateTime<Utc>) -> Self {
        let mut env = Self::error(
            ErrorCode::TooManyRequests,
            "Too many requests, please slow down",
            now,
        );
        if let Some(e) = env.error.as_mut() {
            e.retry_after = Some(retry_after_ms);
        }
        env
    }

    /// A `notification` from the system.
    pub fn notification(content: impl Into<String>, now: DateTime<Utc>) -> Self {
        let mut env = Self::server(FrameType::Notification, Sender::System, now);
        env.content = Some(content.into());
        env
    }

    /// `pong`, the answer to `ping`.
    pub fn pong(now: DateTime<Utc>) -> Self {
        Self::server(FrameType::Pong, Sender::System, now)
    }

    /// `admin_join` / `admin_leave` announcements.
    pub fn admin_presence(
        joined: bool,
        admin_id: &UserId,
        admin_name: &str,
        now: DateTime<Utc>,
    ) -> Self {
        let (kind, verb) = if joined {
            (FrameType::AdminJoin, "joined")
        } else {
            (FrameType::AdminLeave, "left")
        };
        let mut env = Self::server(kind, Sender::Admin, now);
        env.content = Some(format!("Administrator {admin_name} has {verb} the session"));
        env.set_meta("admin_id", admin_id.as_str());
        env.set_meta("admin_name", admin_name);
        env
    }

    /// A `session_event` for admins' live dashboards (no seq: it belongs to no session stream).
    /// `metadata.event` is `created`, `help_requested`, `takeover`, `release` or `ended`.
    pub fn session_event(
        event: &str,
        session_id: &SessionId,
        user_id: &UserId,
        now: DateTime<Utc>,
    ) -> Self {
        let mut env =
            Self::server(FrameType::SessionEvent, Sender::System, now).with_session(session_id);
        env.user_id = Some(user_id.as_str().to_owned());
        env.set_meta("event", event);
        env
    }

    /// A `typing_indicator` relayed between the user and the assisting admin.
    pub fn typing(sender: Sender, active: bool, now: DateTime<Utc>) -> Self {
        let mut env = Self::server(FrameType::TypingIndicator, sender, now);
        env.set_meta("typing", active.to_string());
        env
    }

    /// A stored message echoed to the session (user and admin text, files, voice notes).
    pub fn from_message(kind: FrameType, msg: &Message) -> Self {
        let mut env = Self::server(kind, msg.sender, msg.timestamp);
        env.content = Some(msg.content.clone());
        env.file_id = msg.file_id.as_ref().map(|f| f.as_str().to_owned());
        env.file_url.clone_from(&msg.file_url);
        if !msg.metadata.is_empty() {
            env.metadata = Some(msg.metadata.clone());
        }
        env
    }
}
