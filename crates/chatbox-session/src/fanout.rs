//! Fan-out: one ordered stream of frames per session, delivered to every connection.
//!
//! `Fanout::publish` stamps the frame with the next `seq`, serializes it once, records it for
//! replay and enqueues the same bytes to each sink. A sink that cannot take it is removed (its
//! connection then closes with 1013 and resumes), so no open connection ever misses a frame.

use std::sync::Arc;

use chatbox_core::SessionId;
use chatbox_core::protocol::Envelope;

use crate::connection::{CloseReason, ConnId, Sink};
use crate::replay::{Replay, ReplayBuffer};

/// A session's subscribers, seq counter and replay buffer.
#[derive(Debug)]
pub(crate) struct Fanout {
    session_id: SessionId,
    seq: u64,
    replay: ReplayBuffer,
    sinks: Vec<Sink>,
}

impl Fanout {
    /// A fan-out whose first frame gets `first_seq`.
    pub(crate) fn new(session_id: SessionId, first_seq: u64, replay: ReplayBuffer) -> Self {
        Self {
            session_id,
            seq: first_seq.saturating_sub(1),
            replay,
            sinks: Vec::new(),
        }
    }

    /// Publishes a frame to every connection; returns the ids of connections dropped for
    /// overflowing.
    pub(crate) fn publish(&mut self, env: Envelope) -> Vec<ConnId> {
        self.seq += 1;
        let frame: Arc<str> = Arc::from(
            env.with_session(&self.session_id)
                .with_seq(self.seq)
                .encode(),
        );
        self.replay.push(self.seq, Arc::clone(&frame));
        let mut dropped = Vec::new();
        self.sinks.retain(|sink| {
            let ok = sink.send(&frame);
            if !ok {
                dropped.push(sink.id);
            }
            ok
        });
        dropped
    }

    /// Sends a frame to one connection only, without a seq.
    pub(crate) fn direct(&mut self, conn: ConnId, frame: &Arc<str>) {
        if let Some(i) = self.sinks.iter().position(|s| s.id == conn)
            && !self.sinks[i].send(frame)
        {
            self.sinks.remove(i);
        }
    }

    /// Sends an envelope to one connection only, without a seq.
    pub(crate) fn direct_env(&mut self, conn: ConnId, env: Envelope) {
        let frame: Arc<str> = Arc::from(env.with_session(&self.session_id).encode());
        self.direct(conn, &frame);
    }

    /// Adds a connection: first its `connection_status` (built by `status` from the current
    /// seq), then — when resuming — every frame after `last_seq`. Returns whether the resume was
    /// complete (`None` when not resuming).
    pub(crate) fn attach(
        &mut self,
        sink: Sink,
        last_seq: Option<u64>,
        status: impl FnOnce(u64, Option<bool>) -> Envelope,
    ) -> Option<bool> {
        let replay = last_seq.map(|n| self.replay.since(n, self.seq));
        let recovered = replay.as_ref().map(|r| matches!(r, Replay::Complete(_)));
        let status = status(self.seq, recovered)
            .with_session(&self.session_id)
            .with_seq(self.seq);
        let mut ok = sink.send(&Arc::from(status.encode()));
        if let Some(Replay::Complete(frames)) = replay {
            for f in &frames {
                ok = ok && sink.send(f);
            }
        }
        if ok {
            self.sinks.push(sink);
        }
        recovered
    }

    /// Removes a connection.
    pub(crate) fn detach(&mut self, conn: ConnId) {
        self.sinks.retain(|s| s.id != conn);
    }

    /// Number of attached connections.
    pub(crate) fn connections(&self) -> usize {
        self.sinks.len()
    }

    /// Closes every connection with `reason`.
    pub(crate) fn close_all(&mut self, reason: CloseReason) {
        for sink in self.sinks.drain(..) {
            sink.close(reason);
        }
    }
}
