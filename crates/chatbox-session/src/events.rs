//! Session-level events for admins' live dashboards: a session was created, its user asked for
//! help, an admin took it over or released it, or it ended. The engine broadcasts them; the edge
//! writes them as `session_event` frames to admins subscribed over their WebSocket.
//!
//! The feed is bounded: a subscriber that falls more than [`EVENT_BUFFER`] events behind is told
//! it lagged (and should reload its lists) rather than slowing the engine down.

use chatbox_core::protocol::Envelope;
use chatbox_core::{SessionId, UserId};
use chrono::{DateTime, Utc};

/// Events kept for a subscriber that has not read them yet.
pub const EVENT_BUFFER: usize = 1024;

/// What happened to a session.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[non_exhaustive]
pub enum SessionEventKind {
    /// A new session was created.
    Created,
    /// Its user asked for a human.
    HelpRequested,
    /// An admin took it over.
    Takeover {
        /// The admin's id.
        admin_id: UserId,
        /// The admin's display name.
        admin_name: String,
    },
    /// The assisting admin left (`reason`: `leave`, `release` or `timeout`).
    Release {
        /// The admin's id.
        admin_id: UserId,
        /// The admin's display name.
        admin_name: String,
        /// Why.
        reason: String,
    },
    /// It ended.
    Ended,
}

/// One event (serde: replicas announce theirs to each other).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SessionEvent {
    /// The session.
    pub session_id: SessionId,
    /// Its user.
    pub user_id: UserId,
    /// When it happened.
    pub at: DateTime<Utc>,
    /// What happened.
    pub kind: SessionEventKind,
}

impl SessionEvent {
    /// The `session_event` frame for it.
    pub fn envelope(&self) -> Envelope {
        let name = match &self.kind {
            SessionEventKind::Created => "created",
            SessionEventKind::HelpRequested => "help_requested",
            SessionEventKind::Takeover { .. } => "takeover",
            SessionEventKind::Release { .. } => "release",
            SessionEventKind::Ended => "ended",
        };
        let mut env = Envelope::session_event(name, &self.session_id, &self.user_id, self.at);
        match &self.kind {
            SessionEventKind::Takeover {
                admin_id,
                admin_name,
            } => {
                env.set_meta("admin_id", admin_id.as_str());
                env.set_meta("admin_name", admin_name);
            }
            SessionEventKind::Release {
                admin_id,
                admin_name,
                reason,
            } => {
                env.set_meta("admin_id", admin_id.as_str());
                env.set_meta("admin_name", admin_name);
                env.set_meta("reason", reason);
            }
            _ => {}
        }
        env
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_become_session_event_frames() {
        let ev = SessionEvent {
            session_id: SessionId::parse("s1").unwrap(),
            user_id: UserId::parse("u1").unwrap(),
            at: DateTime::<Utc>::UNIX_EPOCH,
            kind: SessionEventKind::Release {
                admin_id: UserId::parse("adm").unwrap(),
                admin_name: "Ada".into(),
                reason: "timeout".into(),
            },
        };
        let v: serde_json::Value = serde_json::from_str(&ev.envelope().encode()).unwrap();
        assert_eq!(v["type"], "session_event");
        assert_eq!(
            (v["session_id"].as_str(), v["user_id"].as_str()),
            (Some("s1"), Some("u1"))
        );
        assert_eq!(v["metadata"]["event"], "release");
        assert_eq!(v["metadata"]["reason"], "timeout");
        assert_eq!(v["metadata"]["admin_name"], "Ada");
        assert!(v["seq"].is_null());
    }
}
