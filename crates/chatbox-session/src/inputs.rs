//! What a session task does with a connection's input: pings, typing and admin frames at once;
//! the owner's messages, files, model switches and help requests admitted in order (run, queued
//! behind the reply, held back behind a voice note, or refused when the queue is full); a
//! non-owner's messages only from the assisting admin.

use chatbox_core::UserId;
use chatbox_core::protocol::{ClientCommand, Envelope, ErrorCode};
use chrono::Utc;
use tokio::time::Duration;

use crate::connection::{ConnId, Participant};
use crate::error::EngineError;
use crate::state::Admission;
use crate::task::{Input, SessionTask};

impl SessionTask {
    pub(crate) async fn input(&mut self, input: Input) {
        let from = &input.identity.user_id;
        let now = Utc::now();
        match &input.frame.command {
            ClientCommand::Ping => {
                return self.fanout.direct_env(input.conn, Envelope::pong(now));
            }
            ClientCommand::Auth { .. } => return,
            &ClientCommand::Typing { active } => {
                let from = from.clone();
                return self.relay_typing(input.conn, &from, active);
            }
            ClientCommand::AdminJoin => {
                let result = if input.participant == Participant::Owner {
                    Err(EngineError::Forbidden)
                } else {
                    self.take_over(&input.identity).await
                };
                return self.answer(input.conn, result, "Only an admin may join");
            }
            ClientCommand::AdminLeave => {
                let from = from.clone();
                let result = self.release(&from, "leave").await;
                return self.answer(input.conn, result, "You are not assisting this session");
            }
            _ => {}
        }
        if input.participant != Participant::Owner {
            if let ClientCommand::UserMessage { content, metadata } = input.frame.command
                && self.is_assisting(&input.identity.user_id)
            {
                return self.admin_message(input.conn, content, metadata).await;
            }
            let env = Envelope::error(
                ErrorCode::Forbidden,
                "Watching is read-only: join the session to write",
                now,
            );
            return self.fanout.direct_env(input.conn, env);
        }
        // Files and voice notes are answered by the model too, so they count like messages.
        let answered = matches!(
            input.frame.command,
            ClientCommand::UserMessage { .. }
                | ClientCommand::FileUpload { .. }
                | ClientCommand::VoiceMessage { .. }
        );
        if answered && let Err(wait) = self.check_message_rate(&input.identity.user_id) {
            let ms = u64::try_from(wait.as_millis()).unwrap_or(u64::MAX);
            crate::metrics::message_rate_limited();
            return self
                .fanout
                .direct_env(input.conn, Envelope::rate_limited(ms, now));
        }
        self.admit(input).await;
    }

    /// Runs, queues or refuses an input. While a voice note is transcribed, inputs are held
    /// back (bounded like the queue) so the note keeps its place in the conversation.
    pub(crate) async fn admit(&mut self, input: Input) {
        if self.transcription.is_some() {
            if self.held.len() < self.shared.config.pending_inputs {
                self.held.push_back(input);
            } else {
                self.refuse(input.conn, "Session busy: please retry");
            }
            return;
        }
        match self.state.admit(input) {
            Admission::Run(input) => self.run_input(input).await,
            Admission::Queued => {}
            Admission::Busy(input) => self.refuse(input.conn, "Session busy: please retry"),
        }
    }

    /// After a transcription: the inputs held back meanwhile are admitted in order (behind any
    /// that were already queued), until one starts another transcription.
    pub(crate) async fn release_held(&mut self) {
        while self.transcription.is_none()
            && let Some(input) = self.held.pop_front()
        {
            Box::pin(self.admit(input)).await;
        }
    }

    /// Tells `conn` when its admin frame failed.
    pub(crate) fn answer(
        &mut self,
        conn: ConnId,
        result: Result<(), EngineError>,
        forbidden: &str,
    ) {
        let message = match &result {
            Ok(()) => return,
            Err(EngineError::Conflict) => "Another admin is assisting this session",
            Err(EngineError::Forbidden) => forbidden,
            Err(_) => "The session could not be updated; please retry",
        };
        if let Err(e) = result {
            let env = Envelope::error(e.code(), message, Utc::now());
            self.fanout.direct_env(conn, env);
        }
    }

    pub(crate) fn check_message_rate(&self, user: &UserId) -> Result<(), Duration> {
        self.shared
            .message_rate
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .check(user, std::time::Instant::now())
    }

    pub(crate) async fn drain_pending(&mut self) {
        while self.transcription.is_none()
            && let Some(input) = self.state.next_pending()
        {
            self.run_input(input).await;
        }
    }

    pub(crate) async fn run_input(&mut self, input: Input) {
        let Input {
            conn,
            identity,
            frame,
            ..
        } = input;
        match frame.command {
            ClientCommand::UserMessage { content, metadata } => {
                self.user_message(conn, content, metadata).await;
            }
            ClientCommand::ModelSelect { model_id } => self.model_select(conn, model_id).await,
            ClientCommand::HelpRequest { content, .. } => {
                self.help_request(conn, &identity, content).await;
            }
            ClientCommand::FileUpload {
                file_id,
                content,
                metadata,
            } => {
                let user = &identity.user_id;
                Box::pin(self.file_upload(conn, user, file_id, content, metadata)).await;
            }
            ClientCommand::VoiceMessage { file_id, metadata } => {
                let user = &identity.user_id;
                Box::pin(self.voice_message(conn, user, file_id, metadata)).await;
            }
            ClientCommand::AdminJoin
            | ClientCommand::AdminLeave
            | ClientCommand::Ping
            | ClientCommand::Auth { .. }
            | ClientCommand::Typing { .. } => {}
        }
    }
}
