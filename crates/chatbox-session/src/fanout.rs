//! Fan-out: one ordered stream of frames per session, delivered to every connection.
//!
//! `Fanout::publish` stamps the frame with the next `seq`, serializes it once, records it for
//! replay and enqueues the same bytes to each sink. A sink that cannot take it is removed (its
//! connection then closes with 1013 and resumes), so no open connection ever misses a frame.

use std::sync::Arc;

use chatbox_core::SessionId;
use chatbox_core::protocol::{ChunkFrames, Envelope};
use chrono::{DateTime, Utc};

use crate::cluster::owner::Remote;
use crate::connection::{CloseReason, ConnId, Sink};
use crate::replay::{Replay, ReplayBuffer};

/// The largest scratch buffer a thread keeps between frames.
const SCRATCH_KEPT: usize = 16 * 1024;

thread_local! {
    /// Where a chunk's frame is written before it is shared: one per thread, so it stays in
    /// the cache whichever session's chunk comes next, and sessions keep none.
    static SCRATCH: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// A session's subscribers, seq counter and replay buffer.
#[derive(Debug)]
pub(crate) struct Fanout {
    session_id: SessionId,
    seq: u64,
    replay: ReplayBuffer,
    sinks: Vec<Sink>,
    /// With several replicas: the session's log and other replicas' connections (boxed: one
    /// word when there is one replica).
    remote: Option<Box<Remote>>,
}

impl Fanout {
    /// A fan-out whose first frame gets `first_seq`.
    pub(crate) fn new(session_id: SessionId, first_seq: u64, replay: ReplayBuffer) -> Self {
        Self {
            session_id,
            seq: first_seq.saturating_sub(1),
            replay,
            sinks: Vec::new(),
            remote: None,
        }
    }

    /// Connects the fan-out to the other replicas: every frame goes to the log too.
    pub(crate) fn set_remote(&mut self, remote: Remote) {
        self.remote = Some(Box::new(remote));
    }

    /// The other replicas' side, when there are several.
    pub(crate) fn remote_mut(&mut self) -> Option<&mut Remote> {
        self.remote.as_deref_mut()
    }

    /// The seq of the last frame published.
    pub(crate) fn seq(&self) -> u64 {
        self.seq
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
        self.deliver(frame)
    }

    /// Publishes a chunk of a reply (the hot path): its frame is written from the reply's
    /// template into the thread's scratch buffer, and the replay keeps it compact.
    pub(crate) fn publish_chunk(
        &mut self,
        frames: &Arc<ChunkFrames>,
        text: &str,
        now: DateTime<Utc>,
    ) -> Vec<ConnId> {
        self.seq += 1;
        let frame: Arc<str> = SCRATCH.with_borrow_mut(|buf| {
            frames.write(buf, text, now, self.seq);
            let frame = match std::str::from_utf8(buf) {
                Ok(text) => Arc::from(text),
                Err(_) => Arc::from(&*String::from_utf8_lossy(buf)),
            };
            if buf.capacity() > SCRATCH_KEPT {
                *buf = Vec::new();
            }
            frame
        });
        self.replay.push_chunk(self.seq, frames, text, now);
        self.send(frame)
    }

    fn deliver(&mut self, frame: Arc<str>) -> Vec<ConnId> {
        self.replay.push(self.seq, Arc::clone(&frame));
        self.send(frame)
    }

    /// Sends frame `seq` to the log and every connection.
    fn send(&mut self, frame: Arc<str>) -> Vec<ConnId> {
        if let Some(remote) = &self.remote {
            remote.log(self.seq, &frame);
        }
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
        match self.sinks.iter().position(|s| s.id == conn) {
            Some(i) => {
                if !self.sinks[i].send(frame) {
                    self.sinks.remove(i);
                }
            }
            None => {
                if let Some(remote) = &self.remote {
                    remote.direct(&self.session_id, conn, frame);
                }
            }
        }
    }

    /// Sends an envelope to one connection only, without a seq.
    pub(crate) fn direct_env(&mut self, conn: ConnId, env: Envelope) {
        let frame: Arc<str> = Arc::from(env.with_session(&self.session_id).encode());
        self.direct(conn, &frame);
    }

    /// Adds a connection. Returns what it must receive before any live frame — its
    /// `connection_status` (built by `status` from the current seq), then, when resuming, every
    /// frame after `last_seq` — and whether that resume is complete (`None` when not resuming).
    /// The batch goes to the connection directly, never through its bounded live queue.
    pub(crate) fn attach(
        &mut self,
        sink: Sink,
        last_seq: Option<u64>,
        status: impl FnOnce(u64, Option<bool>) -> Envelope,
    ) -> (Option<bool>, Vec<Arc<str>>) {
        let replay = last_seq.map(|n| self.replay.since(n, self.seq));
        let recovered = replay.as_ref().map(|r| matches!(r, Replay::Complete(_)));
        let status = status(self.seq, recovered)
            .with_session(&self.session_id)
            .with_seq(self.seq);
        let mut frames = vec![Arc::from(status.encode())];
        if let Some(Replay::Complete(missed)) = replay {
            frames.extend(missed);
        }
        self.sinks.push(sink);
        (recovered, frames)
    }

    /// Sends a frame without a seq to every connection but `except` (typing indicators: live
    /// only, never replayed).
    pub(crate) fn broadcast_except(&mut self, except: ConnId, env: Envelope) {
        let frame: Arc<str> = Arc::from(env.with_session(&self.session_id).encode());
        self.sinks
            .retain(|sink| sink.id == except || sink.send(&frame));
        if let Some(remote) = &self.remote {
            remote.live(&self.session_id, except, &frame);
        }
    }

    /// True when `user` has an open connection to the session.
    pub(crate) fn has_user(&self, user: &chatbox_core::UserId) -> bool {
        self.sinks.iter().any(|s| &s.user == user && s.is_open())
            || self.remote.as_ref().is_some_and(|r| r.has_user(user))
    }

    /// Removes a connection.
    pub(crate) fn detach(&mut self, conn: ConnId) {
        self.sinks.retain(|s| s.id != conn);
    }

    /// Number of open connections. Connections that went away are forgotten here even when
    /// their `Detach` was lost, so a dead connection never keeps a session live.
    pub(crate) fn connections(&mut self) -> usize {
        self.sinks.retain(Sink::is_open);
        self.sinks.len() + self.remote.as_mut().map_or(0, |r| r.connections())
    }

    /// Closes every connection with `reason`.
    pub(crate) fn close_all(&mut self, reason: CloseReason) {
        for sink in self.sinks.drain(..) {
            sink.close(reason);
        }
        if let Some(remote) = &mut self.remote {
            remote.close_all(&self.session_id);
        }
    }
}

#[cfg(test)]
mod tests {
    use chatbox_core::{Identity, UserId};
    use tokio::sync::mpsc;

    use super::*;
    use crate::connection::{Connection, Participant};
    use crate::task::Command;

    fn fanout() -> Fanout {
        let id = SessionId::parse("s1").unwrap();
        Fanout::new(id, 1, ReplayBuffer::new(16, 1 << 20))
    }

    fn connection(mailbox: mpsc::Sender<Command>) -> (Connection, Sink) {
        let user = Identity::new(UserId::parse("u1").unwrap(), None, vec![]);
        let id = SessionId::parse("s1").unwrap();
        Connection::pair(id, user, Participant::Owner, 4, mailbox)
    }

    #[test]
    fn a_connection_whose_detach_was_lost_is_not_counted() {
        // A full mailbox: the connection's `Detach` on drop cannot be delivered.
        let (mailbox, _rx) = mpsc::channel(1);
        mailbox.try_send(Command::Evict).unwrap();
        let mut f = fanout();
        let (conn, sink) = connection(mailbox);
        let _ = f.attach(sink, None, |_, _| Envelope::pong(chrono::Utc::now()));
        assert_eq!(f.connections(), 1);
        drop(conn);
        assert_eq!(
            f.connections(),
            0,
            "a dead connection never keeps a session live"
        );
    }

    #[test]
    fn a_resume_hands_over_status_and_every_missed_frame_outside_the_queue() {
        let (mailbox, _rx) = mpsc::channel(8);
        let mut f = fanout();
        for _ in 0..10 {
            f.publish(Envelope::pong(chrono::Utc::now()));
        }
        let (_conn, sink) = connection(mailbox);
        let (recovered, frames) = f.attach(sink, Some(2), |seq, recovered| {
            assert_eq!((seq, recovered), (10, Some(true)));
            Envelope::pong(chrono::Utc::now())
        });
        assert_eq!(recovered, Some(true));
        assert_eq!(
            frames.len(),
            1 + 8,
            "status, then seqs 3..=10, although the queue holds 4"
        );
        assert!(frames[1].contains("\"seq\":3"));
    }
}
