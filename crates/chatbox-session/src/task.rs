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
//! How an input is admitted lives in `inputs`, what a turn does in `turn`, files and voice notes
//! in `files`, help requests in `help`, takeover and release in `handoff`, and the part of a
//! task that owns its session among several replicas in `cluster::owner`.

use std::collections::VecDeque;
use std::sync::Arc;

use chatbox_core::ports::store::EndOutcome;
use chatbox_core::protocol::{Envelope, ErrorCode};
use chatbox_core::{Identity, Session};
use chrono::Utc;
use tokio::sync::mpsc;
use tokio::time::{Duration, Instant};

use crate::cluster::owner::{Owned, OwnerLink, Remote};
use crate::connection::{CloseReason, ConnId, Participant};
use crate::engine::Shared;
use crate::error::EngineError;
use crate::fanout::Fanout;
use crate::files::Transcribing;
use crate::ops::OpOutcome;
use crate::registry::TaskStatus;
use crate::replay::ReplayBuffer;
use crate::reply::{Reply, ReplyEvent};
use crate::state::SessionState;

pub(crate) use crate::command::{Attach, Attached, Command, Input, OpRequest, Release, Takeover};

/// What woke the task.
enum Wake {
    Abort,
    Shutdown,
    LeaseLost,
    Command(Option<Command>),
    Reply(ReplyEvent),
    Timer,
}

/// The next event of the reply in flight (only polled while there is one).
async fn next_event(reply: &mut Option<Box<Reply>>) -> ReplyEvent {
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
    /// Boxed, like the transcription: most sessions have neither most of the time, and every
    /// idle session would otherwise keep their room.
    pub(crate) reply: Option<Box<Reply>>,
    /// When the reply in flight fails with `LLM_TIMEOUT`.
    pub(crate) reply_deadline: Option<Instant>,
    /// Since when the assisting admin has had no open connection.
    pub(crate) admin_away_since: Option<Instant>,
    /// When this session's open help request was made (repeats within its window are merged).
    pub(crate) help_open_since: Option<std::time::Instant>,
    /// The voice note being transcribed, if any.
    pub(crate) transcription: Option<Box<Transcribing>>,
    /// Transcriptions started so far (the id of the latest).
    pub(crate) transcriptions: u64,
    /// Inputs that arrived while a voice note was transcribed, in arrival order.
    pub(crate) held: VecDeque<Input>,
    status: Arc<TaskStatus>,
    shutting_down: bool,
    stop: Option<CloseReason>,
    /// With several replicas: the lease this task runs under (`cluster`).
    pub(crate) owned: Option<Box<Owned>>,
}

impl SessionTask {
    pub(crate) fn new(
        shared: Arc<Shared>,
        session: Session,
        mailbox: mpsc::Sender<Command>,
        status: Arc<TaskStatus>,
        link: Option<OwnerLink>,
    ) -> Self {
        // One replica: seqs start from the clock so that a resume from an earlier incarnation of
        // the session (before a restart or eviction) can never be mistaken for one of this
        // incarnation. Several: after the last seq in the session's log, whoever wrote it.
        let first_seq = match &link {
            Some(link) => link.inherited.first_seq,
            None => u64::try_from(Utc::now().timestamp_millis())
                .unwrap_or(1)
                .saturating_mul(1000),
        };
        let mut replay = ReplayBuffer::new(shared.config.replay_frames, shared.config.replay_bytes);
        let mut link = link;
        for (seq, frame) in link.iter_mut().flat_map(|l| l.inherited.history.drain(..)) {
            replay.push(seq, frame);
        }
        let mut fanout = Fanout::new(session.id.clone(), first_seq, replay);
        let owned = link.map(|link| {
            fanout.set_remote(Remote::new(Arc::clone(&link.cluster), link.tap));
            Box::new(Owned {
                cluster: link.cluster,
                lease_key: link.lease_key,
                token: link.token,
                lost: link.lost,
                cut_reply: link.inherited.cut_reply,
            })
        });
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
            owned,
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
        // Never cancelled with one replica.
        let lost = self
            .owned
            .as_ref()
            .map(|o| o.lost.clone())
            .unwrap_or_default();
        let lost = lost.cancelled_owned();
        tokio::pin!(abort, shutdown, lost);
        self.end_cut_reply();
        // Whether the last wake was a reply chunk, which never ends the reply (the hot path
        // skips the checks that only a command or a timer can change).
        let mut after_chunk = false;
        let reason = loop {
            // Busy first: counting connections forgets closed ones, which takes their locks.
            let idle = !self.busy() && self.fanout.connections() == 0;
            self.status.track(idle, &mut idle_since);
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
            // before it is polled again, which aborts its request. Only this task's handling
            // of a command or timer ends one, never a chunk.
            if !after_chunk && self.reply.as_ref().is_some_and(|r| r.cancel.is_cancelled()) {
                self.reply = None;
            }
            after_chunk = false;
            let wake = tokio::select! {
                biased;
                () = &mut abort => Wake::Abort,
                () = &mut shutdown, if !self.shutting_down => Wake::Shutdown,
                // Not polled with one replica (each poll of a token's wait takes its lock).
                () = &mut lost, if self.owned.is_some() => Wake::LeaseLost,
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
                Wake::LeaseLost => {
                    crate::metrics::lease_lost();
                    tracing::warn!(session = %self.session.id, "lease lost: another replica runs the session");
                    self.owned = None;
                    break CloseReason::Evicted;
                }
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
                        after_chunk = true;
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
        self.release_lease().await;
    }

    async fn command(&mut self, cmd: Command) {
        match cmd {
            Command::Attach(attach) => self.attach(*attach).await,
            Command::Detach { conn } => self.fanout.detach(conn),
            Command::Input(input) => self.command_input(*input).await,
            Command::Op(request) => self.op_request(*request).await,
            Command::Remote(mail) => self.remote_mail(*mail).await,
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

    /// An input from a connection, local or remote.
    pub(crate) async fn command_input(&mut self, input: Input) {
        if self.shutting_down {
            self.refuse(input.conn, "Server shutting down: message not processed");
        } else {
            self.input(input).await;
        }
    }

    /// True while a reply streams or a voice note is transcribed.
    pub(crate) fn busy(&self) -> bool {
        self.state.is_replying() || self.transcription.is_some()
    }

    async fn attach(&mut self, attach: Attach) {
        let Attach {
            sink,
            identity,
            participant,
            last_seq,
            done,
        } = attach;
        let conn = sink.id;
        let status = self.status_frame(None);
        let (recovered, frames) = self.fanout.attach(sink, last_seq, |_, recovered| {
            let mut env = status;
            if let Some(r) = recovered {
                env.set_meta("recovered", r.to_string());
            }
            env
        });
        if let Some(r) = recovered {
            crate::metrics::resume(r);
        }
        let _ = done.send(Attached { recovered, frames });
        if participant == Participant::Admin {
            self.admin_attached(conn, &identity).await;
        }
    }

    /// The `connection_status` a connection gets when it attaches (without session and seq).
    pub(crate) fn status_frame(&self, recovered: Option<bool>) -> Envelope {
        let session = &self.session;
        let model = self.current_model();
        let mut env = Envelope::connection_status(
            &session.id,
            &session.user_id,
            &model,
            self.shared.models(),
            Utc::now(),
        );
        if let Some(r) = recovered {
            env.set_meta("recovered", r.to_string());
        }
        env.set_meta("features", self.shared.config.features());
        // A page that reloads while an admin assists shows the banner at once.
        if let Some(a) = self.state.assistant() {
            env.set_meta("admin_id", a.admin_id.to_string());
            env.set_meta("admin_name", a.admin_name.clone());
        }
        env
    }

    /// An admin connected to take the session over (CONTRACT §4).
    pub(crate) async fn admin_attached(&mut self, conn: ConnId, identity: &Identity) {
        if let Err(e) = self.take_over(identity).await {
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

    pub(crate) fn refuse(&mut self, conn: ConnId, message: &str) {
        let env = Envelope::error(ErrorCode::SessionBusy, message, Utc::now());
        self.fanout.direct_env(conn, env);
    }

    pub(crate) fn current_model(&self) -> String {
        self.shared
            .provider_for(self.session.model_id.as_deref())
            .map(|p| p.id().to_owned())
            .unwrap_or_default()
    }

    /// A REST operation on this live session: applied to the store, then to the cached state;
    /// an end is announced to the session's connections.
    pub(crate) async fn op_request(&mut self, request: OpRequest) {
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
