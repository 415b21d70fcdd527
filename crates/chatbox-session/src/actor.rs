//! The per-session task. It owns the session's state machine, fan-out and cached metadata, and
//! handles one command at a time from its bounded mailbox, so a session's inputs are processed in
//! arrival order and its frames go out in one order to every connection.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use chatbox_core::ports::notify::HelpNotice;
use chatbox_core::ports::store::SessionPatch;
use chatbox_core::protocol::{
    ClientCommand, ClientFrame, Envelope, ErrorCode, FrameType, ModelInfo,
};
use chatbox_core::session::session_name_from_first_message;
use chatbox_core::{
    Identity, LlmProvider, Message, Notifier, Sender, Session, SessionId, Store, UserId,
};
use chrono::Utc;
use tokio::sync::{mpsc, oneshot};
use tokio_util::task::TaskTracker;

use crate::config::EngineConfig;
use crate::connection::{CloseReason, ConnId, Sink};
use crate::fanout::Fanout;
use crate::history::build_request;
use crate::rate_limit::RateLimiter;
use crate::replay::ReplayBuffer;
use crate::reply::{self, ReplyEvent};
use crate::state::{Admission, SessionState};

/// Help requests per session allowed in [`HELP_WINDOW`].
const HELP_LIMIT: u32 = 5;
/// The help request rate window.
const HELP_WINDOW: Duration = Duration::from_secs(300);
/// Attempts per notifier for a transient failure.
const NOTIFY_ATTEMPTS: u32 = 3;

/// A message to a session task.
#[derive(Debug)]
pub(crate) enum Command {
    /// Attach a connection (boxed: commands sit in every session's mailbox, so the enum is kept
    /// small).
    Attach(Box<Attach>),
    /// A connection went away.
    Detach { conn: ConnId },
    /// A validated client frame (boxed, as `Attach`).
    Input(Box<Input>),
    /// An event of reply `id`.
    Reply { id: u64, event: ReplyEvent },
    /// Finish the reply in flight, then close every connection and stop.
    Shutdown,
    /// Stop now: cancel the reply in flight (persisting what it produced).
    Abort,
}

/// Attach a connection, optionally resuming after `last_seq`.
#[derive(Debug)]
pub(crate) struct Attach {
    pub(crate) sink: Sink,
    pub(crate) user: UserId,
    pub(crate) last_seq: Option<u64>,
    pub(crate) done: oneshot::Sender<Option<bool>>,
}

/// A validated client frame from a connection.
#[derive(Debug)]
pub(crate) struct Input {
    pub(crate) conn: ConnId,
    pub(crate) identity: Identity,
    pub(crate) frame: ClientFrame,
}

/// What every session task shares.
pub(crate) struct Shared {
    pub(crate) store: Arc<dyn Store>,
    pub(crate) providers: Vec<Arc<dyn LlmProvider>>,
    pub(crate) notifiers: Vec<Arc<dyn Notifier>>,
    pub(crate) admin_panel_url: Option<String>,
    pub(crate) config: EngineConfig,
    pub(crate) message_rate: Mutex<RateLimiter<UserId>>,
    pub(crate) help_rate: Mutex<RateLimiter<SessionId>>,
    pub(crate) registry: Mutex<std::collections::HashMap<SessionId, mpsc::Sender<Command>>>,
    pub(crate) tracker: TaskTracker,
}

impl Shared {
    pub(crate) fn new(
        store: Arc<dyn Store>,
        providers: Vec<Arc<dyn LlmProvider>>,
        notifiers: Vec<Arc<dyn Notifier>>,
        admin_panel_url: Option<String>,
        config: EngineConfig,
    ) -> Self {
        let per_minute = config.messages_per_minute;
        Self {
            store,
            providers,
            notifiers,
            admin_panel_url,
            config,
            message_rate: Mutex::new(RateLimiter::new(per_minute, Duration::from_secs(60))),
            help_rate: Mutex::new(RateLimiter::new(HELP_LIMIT, HELP_WINDOW)),
            registry: Mutex::new(std::collections::HashMap::new()),
            tracker: TaskTracker::new(),
        }
    }

    pub(crate) fn models(&self) -> Vec<ModelInfo> {
        self.providers
            .iter()
            .map(|p| ModelInfo {
                id: p.id().to_owned(),
                name: p.name().to_owned(),
            })
            .collect()
    }

    /// The provider for a session: its model if configured, else the first provider.
    fn provider_for(&self, model_id: Option<&str>) -> Option<Arc<dyn LlmProvider>> {
        model_id
            .and_then(|m| self.providers.iter().find(|p| p.id() == m))
            .or_else(|| self.providers.first())
            .cloned()
    }
}

type PendingInput = (ConnId, Identity, ClientFrame);

/// One live session.
pub(crate) struct Actor {
    shared: Arc<Shared>,
    session: Session,
    fanout: Fanout,
    state: SessionState<PendingInput>,
    mailbox: mpsc::Sender<Command>,
    shutting_down: bool,
}

impl Actor {
    pub(crate) fn new(
        shared: Arc<Shared>,
        session: Session,
        mailbox: mpsc::Sender<Command>,
    ) -> Self {
        // Seqs start from the clock so that a resume from an earlier incarnation of the session
        // (before a restart or eviction) can never be mistaken for one of this incarnation.
        let first_seq = u64::try_from(Utc::now().timestamp_millis())
            .unwrap_or(1)
            .saturating_mul(1000);
        let replay = ReplayBuffer::new(shared.config.replay_frames, shared.config.replay_bytes);
        let fanout = Fanout::new(session.id.clone(), first_seq, replay);
        let state = SessionState::new(shared.config.pending_inputs);
        Self {
            shared,
            session,
            fanout,
            state,
            mailbox,
            shutting_down: false,
        }
    }

    pub(crate) async fn run(mut self, mut rx: mpsc::Receiver<Command>) {
        let idle = Duration::from_secs(self.shared.config.idle_evict_secs);
        loop {
            let idle_now = self.fanout.connections() == 0 && !self.state.is_replying();
            let cmd = if idle_now {
                match tokio::time::timeout(idle, rx.recv()).await {
                    Ok(Some(cmd)) => cmd,
                    Ok(None) | Err(_) => break,
                }
            } else {
                match rx.recv().await {
                    Some(cmd) => cmd,
                    None => break,
                }
            };
            // Boxed so that an idle session's task stays small: the (large) state of handling a
            // command exists only while a command is handled.
            Box::pin(self.command(cmd)).await;
            Box::pin(self.drain_pending()).await;
            if self.shutting_down && !self.state.is_replying() {
                break;
            }
        }
        self.deregister();
        self.fanout.close_all(CloseReason::ShuttingDown);
    }

    fn deregister(&self) {
        let mut registry = self
            .shared
            .registry
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if registry
            .get(&self.session.id)
            .is_some_and(|tx| tx.same_channel(&self.mailbox))
        {
            registry.remove(&self.session.id);
        }
    }

    async fn command(&mut self, cmd: Command) {
        match cmd {
            Command::Attach(attach) => {
                let Attach {
                    sink,
                    user,
                    last_seq,
                    done,
                } = *attach;
                let session = &self.session;
                let models = self.shared.models();
                let model = self.current_model();
                let recovered = self.fanout.attach(sink, last_seq, |_, recovered| {
                    let mut env =
                        Envelope::connection_status(&session.id, &user, &model, models, Utc::now());
                    if let Some(r) = recovered {
                        env.set_meta("recovered", r.to_string());
                    }
                    env
                });
                let _ = done.send(recovered);
            }
            Command::Detach { conn } => self.fanout.detach(conn),
            Command::Input(input) => {
                let Input {
                    conn,
                    identity,
                    frame,
                } = *input;
                self.input(conn, identity, frame).await;
            }
            Command::Reply { id, event } => self.reply_event(id, event).await,
            Command::Shutdown => self.shutting_down = true,
            Command::Abort => {
                self.shutting_down = true;
                if let Some(r) = self.state.cancel() {
                    self.persist_partial(&r.text, &r.model_id, "shutdown").await;
                    let done =
                        Envelope::ai_done(&r.model_id, None, None, Some("shutdown"), Utc::now());
                    self.fanout.publish(done);
                }
            }
        }
    }

    fn current_model(&self) -> String {
        self.shared
            .provider_for(self.session.model_id.as_deref())
            .map(|p| p.id().to_owned())
            .unwrap_or_default()
    }

    async fn input(&mut self, conn: ConnId, identity: Identity, frame: ClientFrame) {
        match &frame.command {
            ClientCommand::Ping => return self.fanout.direct_env(conn, Envelope::pong(Utc::now())),
            ClientCommand::Auth { .. } | ClientCommand::Typing { .. } => return,
            _ => {}
        }
        if identity.user_id != self.session.user_id {
            let msg = "Watching is read-only";
            return self
                .fanout
                .direct_env(conn, Envelope::error(ErrorCode::Forbidden, msg, Utc::now()));
        }
        if matches!(frame.command, ClientCommand::UserMessage { .. }) {
            let limited = self
                .shared
                .message_rate
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .check(&identity.user_id, Instant::now());
            if let Err(wait) = limited {
                let ms = u64::try_from(wait.as_millis()).unwrap_or(u64::MAX);
                return self
                    .fanout
                    .direct_env(conn, Envelope::rate_limited(ms, Utc::now()));
            }
        }
        match self.state.admit((conn, identity, frame)) {
            Admission::Run((conn, identity, frame)) => self.run_input(conn, identity, frame).await,
            Admission::Queued => {}
            Admission::Busy((conn, _, _)) => {
                let env = Envelope::error(
                    ErrorCode::SessionBusy,
                    "Session busy: please retry",
                    Utc::now(),
                );
                self.fanout.direct_env(conn, env);
            }
        }
    }

    async fn drain_pending(&mut self) {
        while let Some((conn, identity, frame)) = self.state.next_pending() {
            self.run_input(conn, identity, frame).await;
        }
    }

    async fn run_input(&mut self, conn: ConnId, identity: Identity, frame: ClientFrame) {
        let now = Utc::now();
        match frame.command {
            ClientCommand::UserMessage { content, metadata } => {
                self.user_message(conn, content, metadata).await;
            }
            ClientCommand::ModelSelect { model_id } => self.model_select(conn, model_id).await,
            ClientCommand::HelpRequest { content, .. } => {
                self.help_request(conn, &identity, content).await
            }
            ClientCommand::FileUpload { .. } | ClientCommand::VoiceMessage { .. } => {
                let env = Envelope::error(
                    ErrorCode::NotFound,
                    "Unknown file_id: uploads are not enabled",
                    now,
                );
                self.fanout.direct_env(conn, env);
            }
            ClientCommand::AdminJoin | ClientCommand::AdminLeave => {
                let env =
                    Envelope::error(ErrorCode::Forbidden, "Only an admin may join or leave", now);
                self.fanout.direct_env(conn, env);
            }
            ClientCommand::Ping | ClientCommand::Auth { .. } | ClientCommand::Typing { .. } => {}
        }
    }

    async fn user_message(
        &mut self,
        conn: ConnId,
        content: String,
        metadata: BTreeMap<String, String>,
    ) {
        let store = Arc::clone(&self.shared.store);
        let id = self.session.id.clone();
        let mut message = Message::text(Sender::User, content, Utc::now());
        message.metadata = metadata;
        if let Err(e) = store.append_message(&id, &message).await {
            tracing::warn!(session = %id, error = %e, "persisting a user message failed");
            let env = Envelope::error(
                ErrorCode::StorageError,
                "Could not save your message; please retry",
                Utc::now(),
            );
            return self.fanout.direct_env(conn, env);
        }
        self.fanout
            .publish(Envelope::from_message(FrameType::UserMessage, &message));
        if self.session.name.is_empty() {
            let name = session_name_from_first_message(&message.content);
            let patch = SessionPatch {
                name: Some(name.clone()),
                ..Default::default()
            };
            if let Err(e) = store.update_session(&id, &patch).await {
                tracing::warn!(session = %id, error = %e, "naming the session failed");
            }
            self.session.name = name;
        }
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
        let history = match store
            .messages(&id, Some(cfg.history_turns.saturating_mul(2).max(1)))
            .await
        {
            Ok(h) => h,
            Err(e) => {
                tracing::warn!(session = %id, error = %e, "reading history failed; answering the message alone");
                vec![message]
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
        let timeout = Duration::from_secs(cfg.reply_timeout_secs.max(1));
        let (reply_id, cancel) = self.state.start_reply(provider.id(), Instant::now());
        let mailbox = self.mailbox.clone();
        self.shared.tracker.spawn(reply::run(
            provider, request, reply_id, cancel, timeout, mailbox,
        ));
    }

    async fn reply_event(&mut self, id: u64, event: ReplyEvent) {
        let now = Utc::now();
        match event {
            ReplyEvent::Chunk(text) => {
                let Some(reply) = self.state.current(id) else {
                    return;
                };
                reply.text.push_str(&text);
                let env = Envelope::ai_chunk(text, &reply.model_id, now);
                self.fanout.publish(env);
            }
            ReplyEvent::Finished(usage) => {
                let Some(reply) = self.state.finish(id) else {
                    return;
                };
                let ms = u64::try_from(reply.started.elapsed().as_millis()).unwrap_or(u64::MAX);
                let tokens = usage.total();
                let store = Arc::clone(&self.shared.store);
                if !reply.text.is_empty() {
                    let mut msg = Message::text(Sender::Ai, reply.text, now);
                    msg.metadata
                        .insert("model_id".into(), reply.model_id.clone());
                    msg.metadata.insert("tokens".into(), tokens.to_string());
                    msg.metadata.insert("response_ms".into(), ms.to_string());
                    if let Err(e) = store.append_message(&self.session.id, &msg).await {
                        tracing::error!(session = %self.session.id, error = %e, "persisting an AI reply failed");
                    }
                }
                if let Err(e) = store.record_response(&self.session.id, tokens, ms).await {
                    tracing::warn!(session = %self.session.id, error = %e, "recording response stats failed");
                }
                self.fanout.publish(Envelope::ai_done(
                    &reply.model_id,
                    Some(tokens),
                    Some(ms),
                    None,
                    now,
                ));
            }
            ReplyEvent::Failed(error) => {
                let Some(reply) = self.state.finish(id) else {
                    return;
                };
                tracing::warn!(session = %self.session.id, provider = %reply.model_id, error = %error, "LLM reply failed");
                self.persist_partial(&reply.text, &reply.model_id, error.code().as_str())
                    .await;
                let message = match error.code() {
                    ErrorCode::LlmTimeout => "The AI service did not answer in time",
                    ErrorCode::LlmUnavailable => "The AI service is temporarily unavailable",
                    _ => "The AI service failed to answer",
                };
                self.fanout
                    .publish(Envelope::error(error.code(), message, now));
                self.fanout
                    .publish(Envelope::ai_done(&reply.model_id, None, None, None, now));
            }
        }
    }

    /// Keeps what a cut-short reply produced, marked incomplete.
    async fn persist_partial(&self, text: &str, model_id: &str, why: &str) {
        if text.is_empty() {
            return;
        }
        let mut msg = Message::text(Sender::Ai, text, Utc::now());
        msg.metadata.insert("model_id".into(), model_id.to_owned());
        msg.metadata.insert("incomplete".into(), why.to_owned());
        if let Err(e) = self
            .shared
            .store
            .append_message(&self.session.id, &msg)
            .await
        {
            tracing::error!(session = %self.session.id, error = %e, "persisting a partial AI reply failed");
        }
    }

    async fn model_select(&mut self, conn: ConnId, model_id: String) {
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
        if let Err(e) = self
            .shared
            .store
            .update_session(&self.session.id, &patch)
            .await
        {
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

    async fn help_request(&mut self, conn: ConnId, identity: &Identity, note: Option<String>) {
        let now = Utc::now();
        let allowed = self
            .shared
            .help_rate
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .check(&self.session.id, Instant::now())
            .is_ok();
        if !allowed {
            let env = Envelope::notification(
                "Help was already requested; an admin will join shortly.",
                now,
            );
            return self.fanout.direct_env(conn, env);
        }
        let patch = SessionPatch {
            help_requested_at: Some(now),
            ..Default::default()
        };
        if let Err(e) = self
            .shared
            .store
            .update_session(&self.session.id, &patch)
            .await
        {
            tracing::warn!(session = %self.session.id, error = %e, "persisting the help request failed");
        }
        self.session.help_requested = true;
        let notice = HelpNotice {
            user_id: identity.user_id.clone(),
            user_name: identity.name.clone(),
            session_id: self.session.id.clone(),
            requested_at: now,
            admin_link: self
                .shared
                .admin_panel_url
                .as_ref()
                .map(|u| format!("{}/{}", u.trim_end_matches('/'), self.session.id)),
            note,
        };
        for notifier in &self.shared.notifiers {
            let notifier = Arc::clone(notifier);
            let notice = notice.clone();
            self.shared
                .tracker
                .spawn(async move { notify_with_retry(notifier, notice).await });
        }
        self.fanout.publish(Envelope::notification(
            "Help request sent. An admin will join shortly.",
            now,
        ));
    }
}

/// Delivers one notice on one channel, retrying transient failures with backoff.
async fn notify_with_retry(notifier: Arc<dyn Notifier>, notice: HelpNotice) {
    let mut delay = Duration::from_millis(200);
    for attempt in 1..=NOTIFY_ATTEMPTS {
        match notifier.notify(&notice).await {
            Ok(()) => return,
            Err(e) if e.is_transient() && attempt < NOTIFY_ATTEMPTS => {
                tracing::warn!(channel = notifier.channel(), attempt, error = %e, "help notification failed; retrying");
                tokio::time::sleep(delay).await;
                delay *= 2;
            }
            Err(e) => {
                tracing::error!(channel = notifier.channel(), session = %notice.session_id, error = %e, "help notification failed");
                return;
            }
        }
    }
}
