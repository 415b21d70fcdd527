//! The session task: one per live session. It owns the session's state machine, fan-out and
//! cached metadata, and handles one command at a time from its bounded mailbox, so a session's
//! inputs are processed in arrival order and its frames go out in one order to every connection.
//!
//! Lifecycle guarantees, each enforced in [`SessionTask::run`]:
//! - **Idle eviction**: a session with no open connection and no reply stops after
//!   `idle_evict_secs` (connections that went away count as gone even when their `Detach` was
//!   lost).
//! - **Reply deadline**: the task, not the reply, owns the deadline of a reply in flight; a
//!   provider that never yields still ends with `LLM_TIMEOUT` and a done frame.
//! - **Shutdown** (engine's shutdown token): new input is refused (`SESSION_BUSY`, "server
//!   shutting down"), queued input is dropped with an error to each sender, the reply in flight
//!   finishes and is persisted, then every connection is closed with 1001.
//! - **Abort** (engine's abort token, when the shutdown deadline passes): the reply in flight is
//!   cancelled, its partial text persisted marked `incomplete="shutdown"`, and the task stops.
//!
//! - **Handoff**: the assisting admin's absence is timed here too; after `admin_grace_secs`
//!   without a connection the session is released (`handoff`).
//! - **Transcription**: a voice note is transcribed by a task of its own (`files`); until it
//!   ends, later inputs are held back in order (bounded like the queue), and its deadline is
//!   owned here like a reply's. Shutdown waits for it; an abort stores the note untranscribed.
//!
//! What a turn does lives in `turn`, files and voice notes in `files`, help requests in `help`,
//! takeover and release in `handoff`.

use std::collections::VecDeque;
use std::sync::Arc;

use chatbox_core::ports::store::EndOutcome;
use chatbox_core::protocol::{ClientCommand, Envelope, ErrorCode};
use chatbox_core::{Session, UserId};
use chrono::Utc;
use tokio::sync::mpsc;
use tokio::time::{Duration, Instant};

use crate::connection::{CloseReason, ConnId, Participant};
use crate::engine::Shared;
use crate::error::EngineError;
use crate::fanout::Fanout;
use crate::files::Transcribing;
use crate::ops::OpOutcome;
use crate::registry::TaskStatus;
use crate::replay::ReplayBuffer;
use crate::reply::{Reply, ReplyEvent};
use crate::state::{Admission, SessionState};

pub(crate) use crate::command::{Attach, Attached, Command, Input, OpRequest, Release, Takeover};

/// What woke the task.
enum Wake {
    Abort,
    Shutdown,
    Command(Option<Command>),
    Reply(ReplyEvent),
    Timer,
}

/// The next event of the reply in flight (only polled while there is one).
async fn next_event(reply: &mut Option<Reply>) -> ReplyEvent {
    match reply {
        Some(reply) => reply.next().await,
        None => std::future::pending().await,
    }
}

/// One live session.
pub(crate) struct SessionTask {
    pub(crate) shared: Arc<Shared>,
    pub(crate) session: Session,
    pub(crate) fanout: Fanout,
    pub(crate) state: SessionState<Input>,
    pub(crate) mailbox: mpsc::Sender<Command>,
    /// The reply in flight, polled beside the mailbox (`reply`).
    pub(crate) reply: Option<Reply>,
    /// When the reply in flight fails with `LLM_TIMEOUT`.
    pub(crate) reply_deadline: Option<Instant>,
    /// Since when the assisting admin has had no open connection.
    pub(crate) admin_away_since: Option<Instant>,
    /// When this session's open help request was made (repeats within its window are merged).
    pub(crate) help_open_since: Option<std::time::Instant>,
    /// The voice note being transcribed, if any.
    pub(crate) transcription: Option<Transcribing>,
    /// Transcriptions started so far (the id of the latest).
    pub(crate) transcriptions: u64,
    /// Inputs that arrived while a voice note was transcribed, in arrival order.
    held: VecDeque<Input>,
    status: Arc<TaskStatus>,
    shutting_down: bool,
    stop: Option<CloseReason>,
}

impl SessionTask {
    pub(crate) fn new(
        shared: Arc<Shared>,
        session: Session,
        mailbox: mpsc::Sender<Command>,
        status: Arc<TaskStatus>,
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
            reply: None,
            reply_deadline: None,
            admin_away_since: None,
            help_open_since: None,
            transcription: None,
            transcriptions: 0,
            held: VecDeque::new(),
            status,
            shutting_down: false,
            stop: None,
        }
    }

    /// The task's future. Not an `async fn`: that would keep `self` twice in every session's
    /// task (the argument, and its move into the body).
    #[allow(clippy::manual_async_fn)] // deliberate: see above
    pub(crate) fn run(
        mut self,
        rx: mpsc::Receiver<Command>,
    ) -> impl std::future::Future<Output = ()> + Send {
        async move { self.run_loop(rx).await }
    }

    async fn run_loop(&mut self, mut rx: mpsc::Receiver<Command>) {
        tracing::debug!("session task started");
        let idle_for = Duration::from_secs(self.shared.config.idle_evict_secs);
        let admin_grace = Duration::from_secs(self.shared.config.admin_grace_secs);
        let mut idle_since: Option<Instant> = None;
        // One timer, re-armed only when its target changes (not on every chunk).
        let timer = tokio::time::sleep(Duration::ZERO);
        tokio::pin!(timer);
        let mut armed: Option<Instant> = None;
        // Waited on across iterations: a fresh wait per command would register and unregister
        // with each token every time.
        let abort = self.shared.abort.clone().cancelled_owned();
        let shutdown = self.shared.shutdown.clone().cancelled_owned();
        tokio::pin!(abort, shutdown);
        let reason = loop {
            let idle = self.fanout.connections() == 0 && !self.busy();
            match (idle, idle_since) {
                (true, None) => {
                    idle_since = Some(Instant::now());
                    self.status.set_idle();
                }
                (false, Some(_)) => {
                    idle_since = None;
                    self.status.set_busy();
                }
                _ => {}
            }
            let admin_here = self
                .state
                .assistant()
                .map(|a| self.fanout.has_user(&a.admin_id));
            match admin_here {
                Some(false) => {
                    self.admin_away_since.get_or_insert_with(Instant::now);
                }
                _ => self.admin_away_since = None,
            }
            if let Some(reason) = self.stop {
                break reason;
            }
            if self.shutting_down && !self.busy() {
                break CloseReason::ShuttingDown;
            }
            let target = [
                self.reply_deadline,
                self.transcription.as_ref().map(|t| t.deadline),
                idle_since.map(|t| t + idle_for),
                self.admin_away_since.map(|t| t + admin_grace),
            ]
            .into_iter()
            .flatten()
            .min();
            if target != armed {
                if let Some(t) = target {
                    timer.as_mut().reset(t);
                }
                armed = target;
            }
            // A reply the state machine ended (cancelled, timed out, taken over) is dropped
            // before it is polled again, which aborts its request.
            if self.reply.as_ref().is_some_and(|r| r.cancel.is_cancelled()) {
                self.reply = None;
            }
            let wake = tokio::select! {
                biased;
                () = &mut abort => Wake::Abort,
                () = &mut shutdown, if !self.shutting_down => Wake::Shutdown,
                cmd = rx.recv() => Wake::Command(cmd),
                event = next_event(&mut self.reply), if self.reply.is_some() => Wake::Reply(event),
                () = &mut timer, if armed.is_some() => Wake::Timer,
            };
            match wake {
                Wake::Abort => {
                    Box::pin(self.abort()).await;
                    break CloseReason::ShuttingDown;
                }
                Wake::Shutdown => self.begin_shutdown(),
                Wake::Command(None) => break CloseReason::ShuttingDown,
                // Boxed so that an idle session's task stays small: the (large) state of
                // handling a command exists only while a command is handled.
                Wake::Command(Some(cmd)) => Box::pin(self.command(cmd)).await,
                Wake::Reply(event) => {
                    let Some(id) = self.reply.as_ref().map(|r| r.id) else {
                        continue;
                    };
                    if event.is_last() {
                        self.reply = None;
                    }
                    if let ReplyEvent::Chunk(text) = event {
                        // The hot path: no boxing, no store.
                        self.reply_chunk(id, text);
                    } else {
                        Box::pin(self.reply_event(id, event)).await;
                    }
                }
                Wake::Timer => {
                    armed = None;
                    let now = Instant::now();
                    let admin_gone = self
                        .admin_away_since
                        .is_some_and(|t| t + admin_grace <= now);
                    if admin_gone && let Some(a) = self.state.assistant().cloned() {
                        let _ = Box::pin(self.release(&a.admin_id, "timeout")).await;
                    } else if self.reply_deadline.is_some_and(|t| t <= now) {
                        Box::pin(self.reply_timed_out()).await;
                    } else if self
                        .transcription
                        .as_ref()
                        .is_some_and(|t| t.deadline <= now)
                    {
                        Box::pin(self.transcription_timed_out()).await;
                        Box::pin(self.release_held()).await;
                    } else if idle_since.is_some() {
                        tracing::debug!(session = %self.session.id, "idle session evicted");
                        break CloseReason::ShuttingDown;
                    }
                }
            }
            if !self.shutting_down {
                Box::pin(self.drain_pending()).await;
            }
        };
        self.shared
            .registry()
            .remove(&self.session.id, &self.mailbox);
        self.fanout.close_all(reason);
    }

    async fn command(&mut self, cmd: Command) {
        match cmd {
            Command::Attach(attach) => self.attach(*attach).await,
            Command::Detach { conn } => self.fanout.detach(conn),
            Command::Input(input) if self.shutting_down => {
                self.refuse(input.conn, "Server shutting down: message not processed");
            }
            Command::Input(input) => self.input(*input).await,
            Command::Op(request) => self.op(*request).await,
            Command::Evict => {
                if self.fanout.connections() == 0 && !self.busy() {
                    self.stop = Some(CloseReason::Evicted);
                }
            }
            Command::Takeover(t) => {
                let result = self.take_over(&t.admin).await;
                let _ = t.done.send(result);
            }
            Command::Release(r) => {
                let result = self.release(&r.admin, "release").await;
                let _ = r.done.send(result);
            }
            Command::HelpOutcome(deliveries) => self.help_outcome(&deliveries),
            Command::Transcribed(done) => {
                let (id, result) = *done;
                self.transcribed(id, result).await;
                Box::pin(self.release_held()).await;
            }
        }
    }

    /// True while a reply streams or a voice note is transcribed.
    fn busy(&self) -> bool {
        self.state.is_replying() || self.transcription.is_some()
    }

    async fn attach(&mut self, attach: Attach) {
        let Attach {
            sink,
            identity,
            participant,
            user,
            last_seq,
            done,
        } = attach;
        let conn = sink.id;
        let session = &self.session;
        let models = self.shared.models();
        let model = self.current_model();
        let features = self.shared.config.features();
        let assisting = self.state.assistant().cloned();
        let (recovered, frames) = self.fanout.attach(sink, last_seq, |_, recovered| {
            let mut env =
                Envelope::connection_status(&session.id, &user, &model, models, Utc::now());
            if let Some(r) = recovered {
                env.set_meta("recovered", r.to_string());
            }
            env.set_meta("features", features.clone());
            // A page that reloads while an admin assists shows the banner at once.
            if let Some(a) = &assisting {
                env.set_meta("admin_id", a.admin_id.to_string());
                env.set_meta("admin_name", a.admin_name.clone());
            }
            env
        });
        if let Some(r) = recovered {
            crate::metrics::resume(r);
        }
        let _ = done.send(Attached { recovered, frames });
        if participant == Participant::Admin
            && let Err(e) = self.take_over(&identity).await
        {
            // Attached all the same, read-only, like a watcher.
            let msg = match e {
                EngineError::Conflict => "Another admin is assisting this session",
                _ => "Could not take the session over",
            };
            let env = Envelope::error(e.code(), msg, Utc::now());
            self.fanout.direct_env(conn, env);
        }
    }

    /// Shutdown began: no new input from now on, and what waits is dropped, each sender told.
    fn begin_shutdown(&mut self) {
        self.shutting_down = true;
        let held = std::mem::take(&mut self.held);
        for input in self.state.take_pending().into_iter().chain(held) {
            self.refuse(input.conn, "Server shutting down: message not processed");
        }
    }

    /// The shutdown deadline passed: cancel the reply in flight, keeping what it produced.
    async fn abort(&mut self) {
        self.transcription_stopped().await;
        if let Some(reply) = self.state.cancel() {
            self.reply_deadline = None;
            let persisted = self.persist_partial(&reply, "shutdown").await;
            let mut done =
                Envelope::ai_done(&reply.model_id, None, None, Some("shutdown"), Utc::now());
            if !persisted {
                done.set_meta("persisted", "false");
            }
            self.fanout.publish(done);
        }
    }

    fn refuse(&mut self, conn: ConnId, message: &str) {
        let env = Envelope::error(ErrorCode::SessionBusy, message, Utc::now());
        self.fanout.direct_env(conn, env);
    }

    pub(crate) fn current_model(&self) -> String {
        self.shared
            .provider_for(self.session.model_id.as_deref())
            .map(|p| p.id().to_owned())
            .unwrap_or_default()
    }

    async fn input(&mut self, input: Input) {
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
    async fn admit(&mut self, input: Input) {
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
    async fn release_held(&mut self) {
        while self.transcription.is_none()
            && let Some(input) = self.held.pop_front()
        {
            Box::pin(self.admit(input)).await;
        }
    }

    /// Tells `conn` when its admin frame failed.
    fn answer(&mut self, conn: ConnId, result: Result<(), EngineError>, forbidden: &str) {
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

    fn check_message_rate(&self, user: &UserId) -> Result<(), Duration> {
        self.shared
            .message_rate
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .check(user, std::time::Instant::now())
    }

    async fn drain_pending(&mut self) {
        while self.transcription.is_none()
            && let Some(input) = self.state.next_pending()
        {
            self.run_input(input).await;
        }
    }

    async fn run_input(&mut self, input: Input) {
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

    /// A REST operation on this live session: applied to the store, then to the cached state;
    /// an end is announced to the session's connections.
    async fn op(&mut self, request: OpRequest) {
        let store = &*self.shared.store;
        let result = request
            .op
            .apply(store, &self.session.id, self.shared.store_timeout())
            .await;
        if let Ok(OpOutcome::Ended(EndOutcome::Ended(at))) = &result {
            self.session.end_time = Some(*at);
            let mut env = Envelope::notification("This conversation has ended.", Utc::now());
            env.set_meta("session_ended", "true");
            self.fanout.publish(env);
        }
        let _ = request.done.send(result);
    }
}
