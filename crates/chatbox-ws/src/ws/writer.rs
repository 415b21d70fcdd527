//! The writer: the socket's only writer of session frames. It writes the engine's frames in
//! order, gathering whatever else is ready into the same write (`coalesce`), sends heartbeats,
//! and closes with the engine's reason, 4001 for an expired token or 1001 for a silent client.
//! Every socket operation has a deadline.

use std::sync::atomic::Ordering;
use std::time::Duration;

use chatbox_session::{Connection, Outbound};
use chrono::Utc;
use fastwebsockets::{Frame, OpCode, Payload};
use futures::StreamExt;
use futures::channel::mpsc;
use tokio::io::AsyncWrite;
use tokio::sync::Mutex;

use super::{CLOSE_TOKEN_EXPIRED, Clocks, Control, Wr};
use crate::coalesce::Coalesce;

/// Frames gathered into one write at most, beyond the one that woke the writer.
const BATCH: usize = 64;

#[derive(Debug, Clone, Copy)]
pub(super) struct Timing {
    pub(super) ping: Duration,
    pub(super) silence_ms: i64,
    pub(super) grace_secs: i64,
    pub(super) write: Duration,
}

/// Runs a socket operation within `limit`; false when the socket failed or the client stopped
/// reading, and the connection must be dropped. The deadline's timer is made only when the
/// operation does not complete at once (it usually does: the kernel takes the bytes), and kept
/// out of the caller's future then, so an idle connection's tasks carry no timer's room.
async fn bounded<F>(op: F, limit: Duration) -> bool
where
    F: std::future::Future<Output = std::io::Result<()>>,
{
    let mut op = std::pin::pin!(op);
    let result = match futures::poll!(op.as_mut()) {
        std::task::Poll::Ready(result) => Ok(result),
        std::task::Poll::Pending => Box::pin(tokio::time::timeout(limit, op)).await,
    };
    match result {
        Ok(Ok(())) => true,
        Ok(Err(e)) => {
            tracing::debug!(error = %e, "websocket write failed");
            false
        }
        Err(_) => {
            tracing::info!("websocket write timed out: the client stopped reading; dropping it");
            false
        }
    }
}

/// Puts one frame in the connection's buffer; the bytes leave at the next [`flush`], or now
/// (within `limit`, see `bounded`) when the buffer is full.
pub(crate) async fn write<W>(wr: &mut Coalesce<W>, frame: Frame<'_>, limit: Duration) -> bool
where
    W: AsyncWrite + Unpin,
{
    !wr.put(frame) || flush(wr, limit).await
}

/// Sends what was written, within `limit`.
pub(crate) async fn flush<W>(wr: &mut Coalesce<W>, limit: Duration) -> bool
where
    W: AsyncWrite + Unpin,
{
    bounded(wr.flush(), limit).await
}

/// Whether the writer goes on after a step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Step {
    Continue,
    Stop,
}

/// What woke the writer.
enum Wake {
    Control(Option<Control>),
    Out(Outbound),
    Heartbeat,
}

pub(super) async fn write_loop(
    shared: &Mutex<Wr>,
    conn: &mut Connection,
    ctl: &mut mpsc::Receiver<Control>,
    clocks: &Clocks,
    timing: Timing,
) {
    let sent = crate::metrics::messages_sent();
    let mut heartbeat =
        tokio::time::interval_at(tokio::time::Instant::now() + timing.ping, timing.ping);
    loop {
        let wake = tokio::select! {
            biased;
            control = ctl.next() => Wake::Control(control),
            out = conn.recv() => Wake::Out(out),
            _ = heartbeat.tick() => Wake::Heartbeat,
        };
        let mut wr = match shared.try_lock() {
            Ok(wr) => wr,
            Err(_) => shared.lock().await,
        };
        let wr = &mut *wr;
        // Frames are put in the buffer without waiting; the one await is the flush.
        let (mut full, mut step) = match wake {
            Wake::Control(Some(Control::Pong(payload))) => (
                wr.put(Frame::pong(Payload::Owned(*payload))),
                Step::Continue,
            ),
            Wake::Control(Some(Control::Close(why))) => {
                let (code, reason) = why.frame();
                (wr.put(Frame::close(code, reason.as_bytes())), Step::Stop)
            }
            Wake::Control(Some(Control::Switch(next))) => {
                // Dropping the old connection detaches it from its session.
                *conn = *next;
                (false, Step::Continue)
            }
            // The reader stopped (the peer closed or vanished).
            Wake::Control(None) => return,
            Wake::Out(out) => out_frame(wr, out, &sent),
            Wake::Heartbeat => heartbeat_step(wr, clocks, timing),
        };
        // Whatever else is ready goes out in the same write, up to a full buffer (the rest
        // waits for the next round).
        let mut gathered = 0;
        while !full && step == Step::Continue && gathered < BATCH {
            let Some(out) = conn.try_recv() else {
                break;
            };
            gathered += 1;
            (full, step) = out_frame(wr, out, &sent);
        }
        if !flush(wr, timing.write).await || step == Step::Stop {
            return;
        }
    }
}

/// Puts one of the engine's frames, or its close; says whether the buffer is full.
fn out_frame(wr: &mut Wr, out: Outbound, sent: &metrics::Counter) -> (bool, Step) {
    match out {
        Outbound::Frame(frame) => {
            sent.increment(1);
            (
                wr.put(Frame::text(Payload::Borrowed(frame.as_bytes()))),
                Step::Continue,
            )
        }
        Outbound::Close(reason) => (
            wr.put(Frame::close(reason.code(), reason.text().as_bytes())),
            Step::Stop,
        ),
    }
}

/// The heartbeat: closes for an expired token or a silent client, else pings.
fn heartbeat_step(wr: &mut Wr, clocks: &Clocks, timing: Timing) -> (bool, Step) {
    let now = Utc::now();
    let expires = clocks.token_expires.load(Ordering::Relaxed);
    if now.timestamp() > expires.saturating_add(timing.grace_secs) {
        let frame = Frame::close(CLOSE_TOKEN_EXPIRED, b"token expired");
        return (wr.put(frame), Step::Stop);
    }
    if now.timestamp_millis() - clocks.last_seen_ms.load(Ordering::Relaxed) > timing.silence_ms {
        let frame = Frame::close(1001, b"no pong: connection idle");
        return (wr.put(frame), Step::Stop);
    }
    let ping = Frame::new(true, OpCode::Ping, None, Payload::Borrowed(b"hb"));
    (wr.put(ping), Step::Continue)
}
