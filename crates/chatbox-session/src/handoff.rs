//! Human handoff (CONTRACT §4): an admin takes a session over, talks with the user directly, and
//! leaves; the AI is silent in between.
//!
//! Guarantees:
//! - One assisting admin at a time; another gets `CONFLICT`.
//! - Taking over cancels the reply in flight (its provider request is aborted) in the same step
//!   as it marks the session assisted (`state::SessionState::take_over`); the reply's last frame
//!   is a done frame with `cancelled="takeover"`, then `admin_join` goes to every participant.
//!   No reply can start until the admin leaves, so no `ai_response` follows `admin_join` before
//!   the matching `admin_leave`.
//! - The admin leaves by `admin_leave`, by the REST release, or by staying disconnected longer
//!   than `admin_grace_secs`; `admin_leave` is then announced and the AI answers again.
//! - The session keeps `admin_assisted` and the admin's id and name; every join and leave is
//!   appended to its audit trail.

use std::collections::BTreeMap;

use chatbox_core::ports::store::SessionPatch;
use chatbox_core::protocol::{Envelope, ErrorCode, FrameType};
use chatbox_core::session::{TakeoverEvent, TakeoverKind};
use chatbox_core::{Identity, Message, Sender, UserId};
use chrono::Utc;

use crate::connection::ConnId;
use crate::error::EngineError;
use crate::events::SessionEventKind;
use crate::state::{Assistant, TakeOver};
use crate::store_call::{bounded, retried};
use crate::task::SessionTask;

impl SessionTask {
    /// `admin` takes the session over.
    pub(crate) async fn take_over(&mut self, admin: &Identity) -> Result<(), EngineError> {
        if !admin.is_admin() {
            return Err(EngineError::Forbidden);
        }
        if !self.shared.config.takeover_enabled {
            return Err(EngineError::Disabled("admin takeover"));
        }
        let assistant = Assistant {
            admin_id: admin.user_id.clone(),
            admin_name: admin.name.clone(),
        };
        let cancelled = match self.state.take_over(assistant.clone()) {
            Err(_) => return Err(EngineError::Conflict),
            Ok(TakeOver::AlreadyAssisting) => return Ok(()),
            Ok(TakeOver::Joined(cancelled)) => cancelled,
        };
        if let Some(reply) = cancelled {
            self.reply_deadline = None;
            let persisted = self.persist_partial(&reply, "takeover").await;
            let mut done =
                Envelope::ai_done(&reply.model_id, None, None, Some("takeover"), Utc::now());
            if !persisted {
                done.set_meta("persisted", "false");
            }
            self.fanout.publish(done);
        }
        let now = Utc::now();
        self.help_open_since = None;
        self.session.admin_assisted = true;
        self.session.assisting_admin_id = Some(assistant.admin_id.clone());
        self.session.assisting_admin_name = Some(assistant.admin_name.clone());
        let patch = SessionPatch {
            assisting_admin: Some((assistant.admin_id.clone(), assistant.admin_name.clone())),
            ..Default::default()
        };
        let store = &self.shared.store;
        let limit = self.shared.store_timeout();
        if let Err(e) = retried(limit, || store.update_session(&self.session.id, &patch)).await {
            tracing::error!(session = %self.session.id, error = %e, "persisting the takeover failed");
        }
        self.audit(TakeoverKind::Join, &assistant, "takeover").await;
        tracing::info!(session = %self.session.id, admin = %assistant.admin_id, "admin took the session over");
        self.shared.emit(
            &self.session,
            SessionEventKind::Takeover {
                admin_id: assistant.admin_id.clone(),
                admin_name: assistant.admin_name.clone(),
            },
        );
        self.fanout.publish(Envelope::admin_presence(
            true,
            &assistant.admin_id,
            &assistant.admin_name,
            now,
        ));
        Ok(())
    }

    /// `admin_id` leaves (`why`: `leave`, `release` or `timeout`); `Forbidden` when they are not
    /// the one assisting.
    pub(crate) async fn release(
        &mut self,
        admin_id: &UserId,
        why: &str,
    ) -> Result<(), EngineError> {
        let Some(assistant) = self.state.release(admin_id) else {
            return Err(EngineError::Forbidden);
        };
        self.admin_away_since = None;
        self.audit(TakeoverKind::Leave, &assistant, why).await;
        tracing::info!(session = %self.session.id, admin = %assistant.admin_id, why, "admin left the session");
        self.shared.emit(
            &self.session,
            SessionEventKind::Release {
                admin_id: assistant.admin_id.clone(),
                admin_name: assistant.admin_name.clone(),
                reason: why.to_owned(),
            },
        );
        let mut env = Envelope::admin_presence(
            false,
            &assistant.admin_id,
            &assistant.admin_name,
            Utc::now(),
        );
        env.set_meta("reason", why);
        self.fanout.publish(env);
        Ok(())
    }

    async fn audit(&self, kind: TakeoverKind, assistant: &Assistant, why: &str) {
        let event = TakeoverEvent {
            kind,
            admin_id: assistant.admin_id.clone(),
            admin_name: assistant.admin_name.clone(),
            at: Utc::now(),
            reason: Some(why.to_owned()),
        };
        let store = &self.shared.store;
        let saved = bounded(
            self.shared.store_timeout(),
            store.record_takeover(&self.session.id, &event),
        )
        .await;
        if let Err(e) = saved {
            tracing::error!(session = %self.session.id, error = %e, "recording the takeover audit failed");
        }
    }

    /// True when `user` is the admin assisting this session.
    pub(crate) fn is_assisting(&self, user: &UserId) -> bool {
        self.state.assistant().is_some_and(|a| &a.admin_id == user)
    }

    /// A message from the assisting admin: persisted with `sender:"admin"` and delivered to the
    /// session.
    pub(crate) async fn admin_message(
        &mut self,
        conn: ConnId,
        content: String,
        metadata: BTreeMap<String, String>,
    ) {
        let mut message = Message::text(Sender::Admin, content, Utc::now());
        message.metadata = crate::turn::client_metadata(metadata);
        let store = &self.shared.store;
        let id = &self.session.id;
        let saved = retried(self.shared.store_timeout(), || {
            store.append_message(id, &message)
        })
        .await;
        if let Err(e) = saved {
            tracing::warn!(session = %self.session.id, error = %e, "persisting an admin message failed");
            let env = Envelope::error(
                ErrorCode::StorageError,
                "Could not save your message; please retry",
                Utc::now(),
            );
            return self.fanout.direct_env(conn, env);
        }
        self.fanout
            .publish(Envelope::from_message(FrameType::UserMessage, &message));
    }

    /// Relays a typing indicator between the user and the assisting admin (live only).
    pub(crate) fn relay_typing(&mut self, conn: ConnId, from: &UserId, active: bool) {
        let sender = if self.is_assisting(from) {
            Sender::Admin
        } else if from == &self.session.user_id && self.state.assistant().is_some() {
            Sender::User
        } else {
            return;
        };
        self.fanout
            .broadcast_except(conn, Envelope::typing(sender, active, Utc::now()));
    }
}
