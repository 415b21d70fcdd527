//! A connection's outgoing queue: every frame the session (and the edge, for the connection's
//! own errors and pongs) has for it, in the order they were queued, then why it closed.
//!
//! One small shared block per connection, and nothing more while it is empty: an idle connection
//! is most of what a busy server holds, and a channel allocates its slots up front.
//!
//! Guarantees, each enforced in one place:
//! - **Bounded** (`push_live`): at most `capacity` session frames wait; the one that does not fit
//!   records [`CloseReason::SlowConsumer`] and closes the queue, so a frame is never skipped
//!   while the connection stays open.
//! - **Own frames bounded apart** (`push_direct`): at most [`DIRECT_QUEUE`] errors and pongs
//!   wait; they never count against the session's frames, and a full queue makes the pusher wait
//!   (`push_direct_wait`) or drops the frame (`push_direct`, for errors about a client's own
//!   flood).
//! - **Backlog first** (`set_backlog`): the status and replay frames of an attach precede every
//!   frame queued before or after them.
//! - **Close last**: once the session side is gone (`Sink` dropped), the receiver gets every
//!   queued frame, then the reason.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll, Waker};

use tokio::sync::Notify;

use crate::connection::{CloseReason, Outbound};

/// Room for frames a connection generates about its own input (bad frames, pongs, a full session
/// mailbox). A client that floods faster than it reads loses the excess error replies, which are
/// about its own flood; session frames are never dropped this way.
pub(crate) const DIRECT_QUEUE: usize = 64;

/// What kind of frame waits in the queue (which bound it counts against).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Backlog,
    Live,
    Direct,
}

#[derive(Debug)]
struct State {
    frames: VecDeque<(Arc<str>, Kind)>,
    live: usize,
    direct: usize,
    capacity: usize,
    reason: Option<CloseReason>,
    /// The session side dropped its sink: nothing more comes from it.
    session_gone: bool,
    /// The connection was dropped: nobody reads any more.
    reader_gone: bool,
    waker: Option<Waker>,
}

/// The queue shared by a connection and its session-side sink.
#[derive(Debug)]
pub(crate) struct Outbox {
    state: Mutex<State>,
    /// Signalled when a direct frame leaves, for a pusher waiting for room.
    room: Notify,
}

impl Outbox {
    /// An empty queue for at most `capacity` session frames.
    pub(crate) fn new(capacity: usize) -> Arc<Self> {
        Arc::new(Self {
            state: Mutex::new(State {
                frames: VecDeque::new(),
                live: 0,
                direct: 0,
                capacity: capacity.max(1),
                reason: None,
                session_gone: false,
                reader_gone: false,
                waker: None,
            }),
            room: Notify::new(),
        })
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Queues `frame` and wakes the reader (outside the lock).
    fn push(mut state: MutexGuard<'_, State>, frame: Arc<str>, kind: Kind) {
        state.frames.push_back((frame, kind));
        let waker = state.waker.take();
        drop(state);
        if let Some(waker) = waker {
            waker.wake();
        }
    }

    /// Queues a session frame; false when the connection must be dropped: it is gone, or its
    /// queue is full (then it closes with [`CloseReason::SlowConsumer`] after what it holds).
    pub(crate) fn push_live(&self, frame: &Arc<str>) -> bool {
        let mut state = self.lock();
        if state.reader_gone || state.session_gone {
            return false;
        }
        if state.live >= state.capacity {
            state.reason.get_or_insert(CloseReason::SlowConsumer);
            state.session_gone = true;
            let waker = state.waker.take();
            drop(state);
            crate::metrics::slow_consumer_closed();
            if let Some(waker) = waker {
                waker.wake();
            }
            return false;
        }
        state.live += 1;
        Self::push(state, Arc::clone(frame), Kind::Live);
        true
    }

    /// Queues a frame about the connection's own input; dropped when [`DIRECT_QUEUE`] of them
    /// already wait (or nobody reads any more). True when queued.
    pub(crate) fn push_direct(&self, frame: Arc<str>) -> bool {
        let mut state = self.lock();
        if state.reader_gone || state.direct >= DIRECT_QUEUE {
            return false;
        }
        state.direct += 1;
        Self::push(state, frame, Kind::Direct);
        true
    }

    /// Queues a frame about the connection's own input, waiting for room when [`DIRECT_QUEUE`]
    /// of them already wait (pushing back on the client's reader rather than dropping it).
    pub(crate) async fn push_direct_wait(&self, frame: Arc<str>) {
        loop {
            let room = self.room.notified();
            tokio::pin!(room);
            room.as_mut().enable();
            {
                let mut state = self.lock();
                if state.reader_gone {
                    return;
                }
                if state.direct < DIRECT_QUEUE {
                    state.direct += 1;
                    Self::push(state, frame, Kind::Direct);
                    return;
                }
            }
            room.await;
        }
    }

    /// Puts `frames` before everything queued so far, in their order (an attach's status and
    /// replay, which precede every live frame).
    pub(crate) fn set_backlog(&self, frames: Vec<Arc<str>>) {
        if frames.is_empty() {
            return;
        }
        let mut state = self.lock();
        for frame in frames.into_iter().rev() {
            state.frames.push_front((frame, Kind::Backlog));
        }
        let waker = state.waker.take();
        drop(state);
        if let Some(waker) = waker {
            waker.wake();
        }
    }

    /// Records why the connection ends (the first reason wins); the session side then drops its
    /// sink.
    pub(crate) fn set_reason(&self, reason: CloseReason) {
        self.lock().reason.get_or_insert(reason);
    }

    /// The session side is gone: the reader gets what is queued, then the close.
    pub(crate) fn session_gone(&self) {
        let mut state = self.lock();
        state.session_gone = true;
        let waker = state.waker.take();
        drop(state);
        if let Some(waker) = waker {
            waker.wake();
        }
    }

    /// The connection is gone: what waits is dropped and nothing more is queued.
    pub(crate) fn reader_gone(&self) {
        let frames = {
            let mut state = self.lock();
            state.reader_gone = true;
            state.live = 0;
            state.direct = 0;
            state.waker = None;
            std::mem::take(&mut state.frames)
        };
        drop(frames);
        self.room.notify_waiters();
    }

    /// False once the connection has gone.
    pub(crate) fn is_open(&self) -> bool {
        !self.lock().reader_gone
    }

    /// The next frame if one is queued, else the close once the session side is gone.
    fn pop(&self, state: &mut State) -> Option<Outbound> {
        match state.frames.pop_front() {
            Some((frame, kind)) => {
                match kind {
                    Kind::Live => state.live -= 1,
                    Kind::Direct => {
                        state.direct -= 1;
                        self.room.notify_one();
                    }
                    Kind::Backlog => {}
                }
                if state.frames.is_empty() && state.frames.capacity() > SHRINK_ABOVE {
                    // A burst's (or a long replay's) room is not kept for the connection's life.
                    state.frames = VecDeque::new();
                }
                Some(Outbound::Frame(frame))
            }
            None if state.session_gone => Some(Outbound::Close(
                state.reason.unwrap_or(CloseReason::ShuttingDown),
            )),
            None => None,
        }
    }

    /// The next frame, or the close; registers `cx` to be woken otherwise.
    pub(crate) fn poll_recv(&self, cx: &mut Context<'_>) -> Poll<Outbound> {
        let mut state = self.lock();
        match self.pop(&mut state) {
            Some(out) => Poll::Ready(out),
            None => {
                match &mut state.waker {
                    Some(w) if w.will_wake(cx.waker()) => {}
                    slot => *slot = Some(cx.waker().clone()),
                }
                Poll::Pending
            }
        }
    }

    /// The next frame or the close, if there is one now.
    pub(crate) fn try_recv(&self) -> Option<Outbound> {
        let mut state = self.lock();
        self.pop(&mut state)
    }
}

/// An emptied queue keeps its room up to this many frames.
const SHRINK_ABOVE: usize = 32;

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(s: &str) -> Arc<str> {
        Arc::from(s)
    }

    fn text(out: Option<Outbound>) -> String {
        match out {
            Some(Outbound::Frame(f)) => f.to_string(),
            other => format!("{other:?}"),
        }
    }

    #[test]
    fn frames_come_out_in_order_after_the_backlog_then_the_close() {
        let q = Outbox::new(8);
        assert!(q.push_live(&frame("live1")));
        assert!(q.push_direct(frame("own")));
        q.set_backlog(vec![frame("status"), frame("replay")]);
        assert!(q.push_live(&frame("live2")));
        q.set_reason(CloseReason::Evicted);
        q.session_gone();
        assert!(
            !q.push_live(&frame("late")),
            "nothing is queued after the session left"
        );
        let got: Vec<String> = std::iter::from_fn(|| match q.try_recv() {
            Some(Outbound::Frame(f)) => Some(f.to_string()),
            _ => None,
        })
        .collect();
        assert_eq!(got, ["status", "replay", "live1", "own", "live2"]);
        assert_eq!(
            q.try_recv(),
            Some(Outbound::Close(CloseReason::Evicted)),
            "the close comes after every frame"
        );
    }

    #[test]
    fn a_full_queue_closes_as_a_slow_consumer_after_what_it_holds() {
        let q = Outbox::new(2);
        assert!(q.push_live(&frame("a")));
        assert!(q.push_live(&frame("b")));
        // Own frames do not count against the session's frames.
        assert!(q.push_direct(frame("err")));
        assert!(!q.push_live(&frame("c")));
        assert!(!q.push_live(&frame("d")), "the queue stays closed");
        assert_eq!(text(q.try_recv()), "a");
        assert_eq!(text(q.try_recv()), "b");
        assert_eq!(text(q.try_recv()), "err");
        assert_eq!(
            q.try_recv(),
            Some(Outbound::Close(CloseReason::SlowConsumer))
        );
    }

    #[test]
    fn own_frames_beyond_their_room_are_dropped_and_room_comes_back() {
        let q = Outbox::new(1);
        for i in 0..DIRECT_QUEUE {
            assert!(q.push_direct(frame(&format!("e{i}"))));
        }
        assert!(!q.push_direct(frame("one too many")));
        assert_eq!(text(q.try_recv()), "e0");
        assert!(
            q.push_direct(frame("again")),
            "a frame that left makes room"
        );
    }

    #[tokio::test]
    async fn a_waiting_pusher_gets_room_when_a_frame_leaves() {
        let q = Outbox::new(1);
        for i in 0..DIRECT_QUEUE {
            assert!(q.push_direct(frame(&format!("e{i}"))));
        }
        let pusher = tokio::spawn({
            let q = Arc::clone(&q);
            async move { q.push_direct_wait(frame("pong")).await }
        });
        tokio::task::yield_now().await;
        assert!(!pusher.is_finished(), "no room yet");
        assert_eq!(text(q.try_recv()), "e0");
        tokio::time::timeout(std::time::Duration::from_secs(5), pusher)
            .await
            .expect("the pusher got room")
            .expect("no panic");
        let rest: Vec<String> =
            std::iter::from_fn(|| q.try_recv().map(|o| text(Some(o)))).collect();
        assert_eq!(rest.last().map(String::as_str), Some("pong"));
    }

    #[tokio::test]
    async fn the_reader_is_woken_by_a_frame_and_by_the_close() {
        let q = Outbox::new(4);
        let reader = tokio::spawn({
            let q = Arc::clone(&q);
            async move {
                let first = std::future::poll_fn(|cx| q.poll_recv(cx)).await;
                let second = std::future::poll_fn(|cx| q.poll_recv(cx)).await;
                (first, second)
            }
        });
        tokio::task::yield_now().await;
        assert!(q.push_live(&frame("x")));
        q.session_gone();
        let (first, second) = tokio::time::timeout(std::time::Duration::from_secs(5), reader)
            .await
            .expect("woken")
            .expect("no panic");
        assert_eq!(first, Outbound::Frame(frame("x")));
        assert_eq!(second, Outbound::Close(CloseReason::ShuttingDown));
    }

    #[test]
    fn a_gone_reader_drops_what_waits_and_refuses_more() {
        let q = Outbox::new(4);
        assert!(q.push_live(&frame("x")));
        assert!(q.is_open());
        q.reader_gone();
        assert!(!q.is_open());
        assert!(!q.push_live(&frame("y")));
        assert!(!q.push_direct(frame("z")));
        assert_eq!(q.lock().frames.len(), 0, "queued frames are freed at once");
    }

    #[test]
    fn an_emptied_queue_gives_back_a_burst_s_room() {
        let q = Outbox::new(1000);
        for _ in 0..500 {
            assert!(q.push_live(&frame("f")));
        }
        while q.try_recv().is_some() {}
        assert!(q.lock().frames.capacity() <= SHRINK_ABOVE);
    }
}
