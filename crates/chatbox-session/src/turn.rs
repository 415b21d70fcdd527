//! One conversational turn: a user message (text, or a file or voice note from `files`) is
//! persisted and published, the model is asked, its reply streams to the session, and the
//! finished reply is persisted with its statistics.
//!
//! Guarantees:
//! - Exactly one done frame ends every reply, whatever happens (finish, provider error, deadline,
//!   cancellation); an error ends with an `error` frame before it.
//! - A finished reply and its statistics are stored in one call (`Store::append_reply`), retried
//!   while the store reports transient failures. When it still fails, the session sees an `error`
//!   frame `STORAGE_ERROR` and the done frame says `persisted="false"`: a lost reply is never
//!   silent.
//! - A reply cut short keeps its text, marked `incomplete=<why>`.

use std::collections::BTreeMap;
use std::sync::Arc;

use chatbox_core::ports::llm::{LlmError, TimeoutPhase};
use chatbox_core::ports::store::SessionPatch;
use chatbox_core::protocol::{ChunkFrames, Envelope, ErrorCode, FrameType};
use chatbox_core::session::{SESSION_NAME_MAX_CHARS, session_name_from_first_message};
use chatbox_core::{Message, Sender};
use chrono::{DateTime, Utc};

use crate::connection::ConnId;
use crate::files::ImageSource;
use crate::history::build_request;
use crate::reply::ReplyEvent;
use crate::state::ReplyInFlight;
use crate::store_call::{bounded, retried};
use crate::task::SessionTask;

/// Metadata keys the server sets; a client cannot supply them.
const SERVER_KEYS: [&str; 20] = [
    "admin_id",
    "admin_name",
    "cancelled",
    "channels",
    "done",
    "features",
    "file_name",
    "file_size",
    "incomplete",
    "merged",
    "mime_type",
    "model_id",
    "persisted",
    "reason",
    "recovered",
    "response_ms",
    "session_ended",
    "streaming",
    "tokens",
    "transcript",
];

/// A client's message metadata without the keys only the server may set.
pub(crate) fn client_metadata(mut metadata: BTreeMap<String, String>) -> BTreeMap<String, String> {
    metadata.retain(|k, _| !SERVER_KEYS.contains(&k.as_str()));
    metadata
}

/// A session name from a file name: the name whole, or cut with `...` when too long.
fn name_after_file(file_name: &str) -> String {
    if file_name.chars().count() <= SESSION_NAME_MAX_CHARS {
        return file_name.to_owned();
    }
    let cut: String = file_name.chars().take(SESSION_NAME_MAX_CHARS - 3).collect();
    format!("{cut}...")
}

impl SessionTask {
    pub(crate) async fn user_message(
        &mut self,
        conn: ConnId,
        content: String,
        metadata: BTreeMap<String, String>,
    ) {
        let mut message = Message::text(Sender::User, content, Utc::now());
        message.metadata = client_metadata(metadata);
        if self
            .post_user_message(conn, &message, FrameType::UserMessage)
            .await
        {
            self.ask_model(&message, None).await;
        }
    }

    /// Stores a message of the session's user and publishes it to the session as a `kind`
    /// frame, reopening an ended session first and naming an unnamed one after it. False when
    /// it could not be stored (the sender has been told).
    pub(crate) async fn post_user_message(
        &mut self,
        conn: ConnId,
        message: &Message,
        kind: FrameType,
    ) -> bool {
        let store = Arc::clone(&self.shared.store);
        let limit = self.shared.store_timeout();
        let id = self.session.id.clone();
        if !self.session.is_active() {
            // Ended from outside (REST) while live: talking again reopens it, as joining does.
            let patch = SessionPatch {
                reopen: true,
                ..Default::default()
            };
            match bounded(limit, store.update_session(&id, &patch)).await {
                Ok(()) => self.session.end_time = None,
                Err(e) => tracing::warn!(session = %id, error = %e, "reopening the session failed"),
            }
        }
        if let Err(e) = retried(limit, || store.append_message(&id, message)).await {
            tracing::warn!(session = %id, error = %e, "persisting a user message failed");
            let env = Envelope::error(
                ErrorCode::StorageError,
                "Could not save your message; please retry",
                Utc::now(),
            );
            self.fanout.direct_env(conn, env);
            return false;
        }
        self.fanout.publish(Envelope::from_message(kind, message));
        // A file without a caption names the session after the file; a message with no text
        // at all (an untranscribed voice note) leaves the name to a later message.
        let name = match message.content.trim() {
            "" => message
                .metadata
                .get("file_name")
                .map(|f| name_after_file(f)),
            text => Some(session_name_from_first_message(text)),
        };
        if self.session.name.is_empty()
            && let Some(name) = name
        {
            let patch = SessionPatch {
                name: Some(name.clone()),
                ..Default::default()
            };
            if let Err(e) = bounded(limit, store.update_session(&id, &patch)).await {
                tracing::warn!(session = %id, error = %e, "naming the session failed");
            }
            self.session.name = name;
        }
        true
    }

    /// Has the model answer `message`, the session's latest stored message, unless an admin
    /// assists (the message is theirs to answer then: they see it in the session). `image` is
    /// read and attached to that turn when the session's provider takes images.
    pub(crate) async fn ask_model(&mut self, message: &Message, image: Option<ImageSource>) {
        if self.state.assistant().is_some() {
            return;
        }
        let store = Arc::clone(&self.shared.store);
        let limit = self.shared.store_timeout();
        let id = self.session.id.clone();
        self.fanout.publish(Envelope::loading(Utc::now()));
        let Some(provider) = self.shared.provider_for(self.session.model_id.as_deref()) else {
            let now = Utc::now();
            self.fanout.publish(Envelope::error(
                ErrorCode::LlmUnavailable,
                "No AI model is configured",
                now,
            ));
            self.fanout
                .publish(Envelope::ai_done("", None, None, None, now));
            return;
        };
        let cfg = &self.shared.config;
        let wanted = cfg.history_turns.saturating_mul(2).max(1);
        let history = match bounded(limit, store.messages(&id, Some(wanted))).await {
            Ok(h) => h,
            Err(e) => {
                tracing::warn!(session = %id, error = %e, "reading history failed; answering the message alone");
                vec![message.clone()]
            }
        };
        let request = build_request(
            &history,
            cfg.history_turns,
            cfg.history_chars,
            cfg.system_prompt.as_deref(),
            &id,
            &self.session.user_id,
        );
        let image = image.filter(|_| provider.supports_images());
        let timeout = tokio::time::Duration::from_secs(cfg.reply_timeout_secs.max(1));
        let Some((reply_id, cancel)) = self
            .state
            .start_reply(provider.id(), std::time::Instant::now())
        else {
            return;
        };
        self.reply_deadline = Some(tokio::time::Instant::now() + timeout);
        let frames = Arc::new(ChunkFrames::new(&id, provider.id()));
        self.reply = Some(Box::new(crate::reply::Reply::start(
            provider, request, image, reply_id, cancel, frames,
        )));
    }

    /// A chunk of reply `id`: appended to its text and published (no await: the hot path).
    pub(crate) fn reply_chunk(&mut self, id: u64, text: String) {
        let Some(reply) = self.state.current(id) else {
            return;
        };
        reply.text.push_str(&text);
        let Some(frames) = self.reply.as_ref().map(|r| &r.frames) else {
            return;
        };
        self.fanout.publish_chunk(frames, &text, Utc::now());
    }

    pub(crate) async fn reply_event(&mut self, id: u64, event: ReplyEvent) {
        let now = Utc::now();
        match event {
            ReplyEvent::Chunk(text) => self.reply_chunk(id, text),
            ReplyEvent::Finished(usage) => {
                let Some(reply) = self.state.finish(id) else {
                    return;
                };
                self.reply_deadline = None;
                let ms = u64::try_from(reply.started.elapsed().as_millis()).unwrap_or(u64::MAX);
                let tokens = usage.total();
                let persisted =
                    reply.text.is_empty() || self.persist_reply(&reply, tokens, ms, now).await;
                let done = Envelope::ai_done(&reply.model_id, Some(tokens), Some(ms), None, now);
                self.end_reply(done, persisted);
            }
            ReplyEvent::Failed(error) => {
                let Some(reply) = self.state.finish(id) else {
                    return;
                };
                self.reply_deadline = None;
                self.fail_reply(reply, &error).await;
            }
        }
    }

    /// The reply outlived its deadline: cancel it (aborting the provider request) and fail it.
    pub(crate) async fn reply_timed_out(&mut self) {
        self.reply_deadline = None;
        if let Some(reply) = self.state.cancel() {
            let error = LlmError::Timeout {
                phase: TimeoutPhase::Total,
            };
            self.fail_reply(reply, &error).await;
        }
    }

    async fn fail_reply(&mut self, reply: ReplyInFlight, error: &LlmError) {
        let now = Utc::now();
        tracing::warn!(session = %self.session.id, provider = %reply.model_id, error = %error, "LLM reply failed");
        let persisted = self.persist_partial(&reply, error.code().as_str()).await;
        let message = match error.code() {
            ErrorCode::LlmTimeout => "The AI service did not answer in time",
            ErrorCode::LlmUnavailable => "The AI service is temporarily unavailable",
            _ => "The AI service failed to answer",
        };
        self.fanout
            .publish(Envelope::error(error.code(), message, now));
        let done = Envelope::ai_done(&reply.model_id, None, None, None, now);
        self.end_reply(done, persisted);
    }

    /// Publishes the done frame, preceded by `STORAGE_ERROR` when the reply was not stored.
    fn end_reply(&mut self, mut done: Envelope, persisted: bool) {
        tracing::debug!(
            persisted,
            tokens = done
                .metadata
                .as_ref()
                .and_then(|m| m.get("tokens"))
                .map(String::as_str),
            response_ms = done
                .metadata
                .as_ref()
                .and_then(|m| m.get("response_ms"))
                .map(String::as_str),
            "reply finished"
        );
        if !persisted {
            self.fanout.publish(Envelope::error(
                ErrorCode::StorageError,
                "The reply could not be saved",
                Utc::now(),
            ));
            done.set_meta("persisted", "false");
        }
        self.fanout.publish(done);
    }

    /// Stores a finished reply with its statistics; false when it could not be stored.
    async fn persist_reply(
        &self,
        reply: &ReplyInFlight,
        tokens: u64,
        ms: u64,
        now: DateTime<Utc>,
    ) -> bool {
        let mut msg = Message::text(Sender::Ai, reply.text.as_str(), now);
        msg.metadata
            .insert("model_id".into(), reply.model_id.clone());
        msg.metadata.insert("tokens".into(), tokens.to_string());
        msg.metadata.insert("response_ms".into(), ms.to_string());
        let store = &self.shared.store;
        let id = &self.session.id;
        match retried(self.shared.store_timeout(), || {
            store.append_reply(id, &msg, tokens, ms)
        })
        .await
        {
            Ok(()) => true,
            Err(e) => {
                tracing::error!(session = %id, error = %e, "persisting an AI reply failed");
                false
            }
        }
    }

    /// Keeps what a cut-short reply produced, marked incomplete; false when it could not be
    /// stored (nothing to store counts as stored).
    pub(crate) async fn persist_partial(&self, reply: &ReplyInFlight, why: &str) -> bool {
        if reply.text.is_empty() {
            return true;
        }
        let mut msg = Message::text(Sender::Ai, reply.text.as_str(), Utc::now());
        msg.metadata
            .insert("model_id".into(), reply.model_id.clone());
        msg.metadata.insert("incomplete".into(), why.to_owned());
        let store = &self.shared.store;
        let id = &self.session.id;
        match retried(self.shared.store_timeout(), || {
            store.append_message(id, &msg)
        })
        .await
        {
            Ok(()) => true,
            Err(e) => {
                tracing::error!(session = %id, error = %e, "persisting a partial AI reply failed");
                false
            }
        }
    }
    /// Switches the session to another configured model (persisted, confirmed with
    /// `connection_status`).
    pub(crate) async fn model_select(&mut self, conn: ConnId, model_id: String) {
        let now = Utc::now();
        if !self.shared.providers.iter().any(|p| p.id() == model_id) {
            let ids: Vec<String> = self
                .shared
                .providers
                .iter()
                .map(|p| p.id().to_owned())
                .collect();
            let msg = format!("Unknown model {model_id:?}; available: {}", ids.join(", "));
            return self
                .fanout
                .direct_env(conn, Envelope::error(ErrorCode::InvalidModel, msg, now));
        }
        let patch = SessionPatch {
            model_id: Some(model_id.clone()),
            ..Default::default()
        };
        let store = &self.shared.store;
        let saved = bounded(
            self.shared.store_timeout(),
            store.update_session(&self.session.id, &patch),
        )
        .await;
        if let Err(e) = saved {
            tracing::warn!(session = %self.session.id, error = %e, "persisting the model failed");
            let env = Envelope::error(
                ErrorCode::StorageError,
                "Could not change the model; please retry",
                now,
            );
            return self.fanout.direct_env(conn, env);
        }
        self.session.model_id = Some(model_id.clone());
        let status = Envelope::connection_status(
            &self.session.id,
            &self.session.user_id,
            &model_id,
            self.shared.models(),
            now,
        );
        self.fanout.publish(status);
    }
}
