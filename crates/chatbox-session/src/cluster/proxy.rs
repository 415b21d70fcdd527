//! The proxy task: this replica's connections to a session another replica owns.
//!
//! It reads the session's log from the broker (history, then live) and relays each frame to
//! its connections, keeping a replay window of its own so a resume works here as on the owner;
//! it mails their inputs, attaches and detaches to the owner and relays what the owner mails
//! back for one connection.
//!
//! Guarantees, each enforced in one place:
//! - **Fencing** (`relay`): a frame written under an older lease than one already seen is never
//!   delivered, nor one whose seq was already relayed.
//! - **No silent gap** (`relay`): when seqs jump (a frame missing from the log), every
//!   connection is closed with 1013 and resumes, learning whether it recovered.
//! - **An owner that is gone** (`Gone`, mail that cannot be delivered, a log that ends) closes
//!   the connections with 1012: they reconnect, and the session moves to a live replica.
//! - A connection's live frames start after the seq of its `connection_status` (or after its
//!   `last_seq` when its resume is complete), whatever the proxy had relayed before.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use chatbox_core::SessionId;
use chatbox_core::ports::broker::{FrameStream, LogFrame};
use chatbox_core::protocol::{Envelope, decode};
use futures::StreamExt;
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;

use super::wire::{Body, Call, Mail, Outcome};
use super::{BROKER_TIMEOUT, Cluster};
use crate::connection::{CloseReason, ConnId, Sink};
use crate::engine::Shared;
use crate::error::EngineError;
use crate::ops::OpOutcome;
use crate::registry::TaskStatus;
use crate::replay::{Replay, ReplayBuffer};
use crate::task::{Attach, Attached, Command};

/// A connection of this replica's.
struct Relayed {
    sink: Sink,
    /// Frames with this seq or lower are not for it.
    after: u64,
}

/// A connection waiting for the owner's `Attached`.
struct Joining {
    sink: Sink,
    last_seq: Option<u64>,
    done: oneshot::Sender<Attached>,
    since: Instant,
}

/// Where a call's answer goes.
enum Caller {
    Op(oneshot::Sender<Result<OpOutcome, EngineError>>),
    Done(oneshot::Sender<Result<(), EngineError>>),
}

pub(crate) struct ProxyTask {
    shared: Arc<Shared>,
    cluster: Arc<Cluster>,
    session: SessionId,
    owner: String,
    mailbox: mpsc::Sender<Command>,
    status: Arc<TaskStatus>,
    conns: Vec<Relayed>,
    joining: Vec<Joining>,
    calls: HashMap<u64, (Instant, Caller)>,
    replay: ReplayBuffer,
    /// The last seq relayed (0: none yet).
    last_seq: u64,
    /// The greatest fencing token seen in the log.
    fence: u64,
}

impl ProxyTask {
    pub(crate) fn new(
        shared: Arc<Shared>,
        cluster: Arc<Cluster>,
        session: SessionId,
        (owner, _token): (String, u64),
        mailbox: mpsc::Sender<Command>,
        status: Arc<TaskStatus>,
    ) -> Self {
        let replay = ReplayBuffer::new(shared.config.replay_frames, shared.config.replay_bytes);
        crate::metrics::proxy_started();
        Self {
            shared,
            cluster,
            session,
            owner,
            mailbox,
            status,
            conns: Vec::new(),
            joining: Vec::new(),
            calls: HashMap::new(),
            replay,
            last_seq: 0,
            fence: 0,
        }
    }

    #[allow(clippy::manual_async_fn)] // as SessionTask::run: `self` stored once
    pub(crate) fn run(
        mut self,
        rx: mpsc::Receiver<Command>,
    ) -> impl std::future::Future<Output = ()> + Send {
        async move {
            let reason = Box::pin(self.run_loop(rx)).await;
            self.shared.registry().remove(&self.session, &self.mailbox);
            for c in self.conns.drain(..) {
                c.sink.close(reason);
            }
        }
    }

    async fn run_loop(&mut self, mut rx: mpsc::Receiver<Command>) -> CloseReason {
        let log =
            tokio::time::timeout(BROKER_TIMEOUT, self.cluster.broker.read(&self.session)).await;
        let mut log: FrameStream = match log {
            Ok(Ok(log)) => log,
            _ => {
                tracing::warn!(session = %self.session, "cannot read the session's log");
                return CloseReason::Evicted;
            }
        };
        let period = self.cluster.leases.period();
        let mut tick = tokio::time::interval(period);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let idle_for = Duration::from_secs(self.shared.config.idle_evict_secs);
        let mut idle_since: Option<Instant> = None;
        let abort = self.shared.abort.clone().cancelled_owned();
        let shutdown = self.shared.shutdown.clone().cancelled_owned();
        tokio::pin!(abort, shutdown);
        loop {
            self.conns.retain(|c| c.sink.is_open());
            let idle = self.conns.is_empty() && self.joining.is_empty() && self.calls.is_empty();
            self.status.track(idle, &mut idle_since);
            tokio::select! {
                biased;
                () = &mut abort => return CloseReason::ShuttingDown,
                () = &mut shutdown => return CloseReason::ShuttingDown,
                cmd = rx.recv() => match cmd {
                    Some(cmd) => if let Some(reason) = Box::pin(self.command(cmd)).await {
                        return reason;
                    },
                    None => return CloseReason::ShuttingDown,
                },
                frame = log.next() => match frame {
                    Some(Ok(frame)) => if let Some(reason) = self.relay(frame) {
                        return reason;
                    },
                    Some(Err(e)) => {
                        tracing::warn!(session = %self.session, error = %e, "session log failed");
                        return CloseReason::Evicted;
                    }
                    None => return CloseReason::Evicted,
                },
                _ = tick.tick() => {
                    if idle_since.is_some_and(|t| t.elapsed() >= idle_for) {
                        return CloseReason::ShuttingDown;
                    }
                    if let Some(reason) = Box::pin(self.heartbeat()).await {
                        return reason;
                    }
                }
            }
        }
    }

    /// Relays one frame of the log; `Some` when the proxy must stop.
    fn relay(&mut self, frame: LogFrame) -> Option<CloseReason> {
        if frame.token < self.fence {
            return None;
        }
        self.fence = frame.token;
        if frame.is_marker() || (self.last_seq != 0 && frame.seq <= self.last_seq) {
            return None;
        }
        if self.last_seq != 0 && frame.seq != self.last_seq + 1 {
            tracing::warn!(session = %self.session, after = self.last_seq, got = frame.seq, "gap in the session's log");
            return Some(CloseReason::SlowConsumer);
        }
        self.last_seq = frame.seq;
        let text: Arc<str> = match std::str::from_utf8(&frame.body) {
            Ok(text) => Arc::from(text),
            Err(_) => Arc::from(&*String::from_utf8_lossy(&frame.body)),
        };
        self.replay.push(frame.seq, Arc::clone(&text));
        let seq = frame.seq;
        self.conns.retain(|c| seq <= c.after || c.sink.send(&text));
        None
    }

    async fn heartbeat(&mut self) -> Option<CloseReason> {
        let limit = BROKER_TIMEOUT;
        self.joining.retain(|j| j.since.elapsed() < limit);
        self.calls.retain(|_, (since, _)| since.elapsed() < limit);
        if self.conns.is_empty() {
            return None;
        }
        let conns = self.conns.iter().map(|c| c.sink.id).collect();
        self.tell(Body::Present { conns }).await
    }

    /// Mails the owner; `Some` when it is gone.
    async fn tell(&mut self, body: Body) -> Option<CloseReason> {
        match self.cluster.send(&self.owner, &self.session, body).await {
            Ok(()) => None,
            Err(e) => {
                tracing::info!(session = %self.session, owner = %self.owner, error = %e, "owner unreachable");
                Some(CloseReason::Evicted)
            }
        }
    }

    async fn command(&mut self, cmd: Command) -> Option<CloseReason> {
        match cmd {
            Command::Attach(attach) => {
                let Attach {
                    sink,
                    identity,
                    participant,
                    last_seq,
                    done,
                    ..
                } = *attach;
                let conn = sink.id;
                self.joining.push(Joining {
                    sink,
                    last_seq,
                    done,
                    since: Instant::now(),
                });
                let body = Body::Attach {
                    conn,
                    identity,
                    participant,
                };
                return self.tell(body).await;
            }
            Command::Detach { conn } => {
                self.conns.retain(|c| c.sink.id != conn);
                return self.tell(Body::Detach { conn }).await;
            }
            Command::Input(input) => {
                let body = Body::Input {
                    conn: input.conn,
                    frame: input.frame,
                };
                if self
                    .cluster
                    .send(&self.owner, &self.session, body)
                    .await
                    .is_err()
                {
                    self.direct(input.conn, &super::owner::unreachable_owner());
                    return Some(CloseReason::Evicted);
                }
            }
            Command::Op(request) => {
                self.call(Call::Op(request.op), Caller::Op(request.done))
                    .await;
            }
            Command::Takeover(t) => {
                self.call(Call::Takeover(t.admin), Caller::Done(t.done))
                    .await;
            }
            Command::Release(r) => {
                self.call(Call::Release(r.admin), Caller::Done(r.done))
                    .await;
            }
            Command::Evict => {
                if self.conns.is_empty() && self.joining.is_empty() {
                    return Some(CloseReason::Evicted);
                }
            }
            Command::Remote(mail) => return self.mail(*mail),
            Command::HelpOutcome(_) | Command::Transcribed(_) => {}
        }
        None
    }

    async fn call(&mut self, call: Call, caller: Caller) {
        let id = self.cluster.next_call();
        match self
            .cluster
            .send(&self.owner, &self.session, Body::Call { id, call })
            .await
        {
            Ok(()) => {
                self.calls.insert(id, (Instant::now(), caller));
            }
            // The owner is gone: the caller's deadline answers (Busy); its retry finds the
            // session's next owner.
            Err(_) => drop(caller),
        }
    }

    fn mail(&mut self, mail: Mail) -> Option<CloseReason> {
        match mail.body {
            Body::Attached { conn, status } => self.attached(conn, &status),
            Body::Direct { conn, frame } => {
                let frame: Arc<str> = Arc::from(frame);
                if let Some(i) = self.conns.iter().position(|c| c.sink.id == conn)
                    && !self.conns[i].sink.send(&frame)
                {
                    self.conns.remove(i);
                }
            }
            Body::Live { except, frame } => {
                let frame: Arc<str> = Arc::from(frame);
                self.conns
                    .retain(|c| Some(c.sink.id) == except || c.sink.send(&frame));
            }
            Body::Gone => return Some(CloseReason::Evicted),
            Body::Answer { id, outcome } => {
                if let Some((_, caller)) = self.calls.remove(&id) {
                    let outcome = outcome.map_err(EngineError::from);
                    match caller {
                        Caller::Op(done) => {
                            let _ = done.send(outcome.and_then(|o| match o {
                                Outcome::Op(o) => Ok(o),
                                Outcome::Done => Err(EngineError::Busy),
                            }));
                        }
                        Caller::Done(done) => {
                            let _ = done.send(outcome.map(|_| ()));
                        }
                    }
                }
            }
            // Mail for an owner: this replica only relays the session, so the sender's view is
            // stale; it learns so and its connections reconnect.
            Body::Attach { .. } | Body::Input { .. } | Body::Present { .. } | Body::Call { .. } => {
                super::owner::refuse(&self.shared, mail);
            }
            Body::Detach { .. } => {}
        }
        None
    }

    /// The owner attached connection `conn`: it gets its status, then what it missed, then
    /// live frames.
    fn attached(&mut self, conn: ConnId, status: &str) {
        let Some(i) = self.joining.iter().position(|j| j.sink.id == conn) else {
            return;
        };
        let joining = self.joining.swap_remove(i);
        let Ok(mut env) = decode(status.as_bytes()) else {
            return;
        };
        let at = env.seq.unwrap_or(0);
        let recovered = joining.last_seq.map(|n| {
            matches!(
                self.replay.since(n, self.last_seq.max(at)),
                Replay::Complete(_)
            )
        });
        if let Some(r) = recovered {
            env.set_meta("recovered", r.to_string());
            crate::metrics::resume(r);
        }
        // The connection has (or, not resuming, does not want) every frame up to `from`.
        let from = match (recovered, joining.last_seq) {
            (Some(true), Some(n)) => n,
            _ => at,
        };
        let mut frames: Vec<Arc<str>> = vec![Arc::from(env.encode())];
        if self.last_seq > from
            && let Replay::Complete(missed) = self.replay.since(from, self.last_seq)
        {
            frames.extend(missed);
        }
        let after = from.max(self.last_seq);
        if joining.done.send(Attached { recovered, frames }).is_ok() {
            self.conns.push(Relayed {
                sink: joining.sink,
                after,
            });
        }
    }

    fn direct(&mut self, conn: ConnId, env: &Envelope) {
        let frame: Arc<str> = Arc::from(env.clone().with_session(&self.session).encode());
        if let Some(c) = self.conns.iter().find(|c| c.sink.id == conn) {
            let _ = c.sink.send(&frame);
        }
    }
}
