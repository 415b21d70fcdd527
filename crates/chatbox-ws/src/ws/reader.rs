//! The reader: parses the client's frames and hands them to the engine. A malformed frame gets
//! an `error` frame and the connection stays open; a binary frame closes with 1003, an
//! oversized one with 1009. A plain `{"type":"ping"}` is answered without parsing, by the
//! reader itself when the writer is not mid-write. Between bursts of frames it holds no read
//! buffer (`source`).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use chatbox_core::protocol::{ClientCommand, ClientFrame, ErrorCode, is_bare_ping};
use chatbox_session::Inputs;
use chrono::Utc;
use fastwebsockets::{Frame, OpCode, Payload, WebSocketError};
use futures::SinkExt;
use futures::channel::mpsc;
use tokio::io::ReadHalf;
use tokio::sync::Mutex;

use super::source::Source;
use super::writer::{flush, write};
use super::{ClientClose, Clocks, Control, Io, Wr};
use crate::router::Edge;

thread_local! {
    /// Where a pong is written before it is put in the socket's buffer.
    static PONG: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// The reading half of a connection.
pub(super) struct Reader {
    pub(super) inputs: Inputs,
    pub(super) ctl: mpsc::Sender<Control>,
    pub(super) clocks: Arc<Clocks>,
    pub(super) edge: Edge,
    pub(super) max_message: usize,
    /// The socket's write side, for answering pings without a hop to the writer task.
    pub(super) writer: Arc<Mutex<Wr>>,
    pub(super) write_limit: Duration,
}

impl Reader {
    /// Writes `frame` at once when the writer task is not writing (the common case), else
    /// hands it to the writer. False when the connection must be dropped.
    async fn answer(&mut self, frame: Frame<'_>, queued: impl FnOnce() -> Control) -> bool {
        match self.write_now(frame).await {
            Some(ok) => ok,
            None => self.ctl.send(queued()).await.is_ok(),
        }
    }

    /// Writes `frame` at once unless the writer task is mid-write (`None` then); `Some(false)`
    /// when the connection must be dropped.
    async fn write_now(&self, frame: Frame<'_>) -> Option<bool> {
        let mut wr = self.writer.try_lock().ok()?;
        Some(
            write(&mut wr, frame, self.write_limit).await && flush(&mut wr, self.write_limit).await,
        )
    }

    /// The reader's future (not an `async fn`, which would keep the reader twice in its task).
    #[allow(clippy::manual_async_fn)] // deliberate: see above
    pub(super) fn run(mut self, rd: ReadHalf<Io>) -> impl std::future::Future<Output = ()> + Send {
        async move { self.read_loop(rd).await }
    }

    /// Reads bursts of frames; between them it holds no buffer (`source`).
    async fn read_loop(&mut self, rd: ReadHalf<Io>) {
        let received = crate::metrics::messages_received();
        let mut source = Source::new(rd);
        let more = AtomicBool::new(false);
        let mut partial: Option<Vec<u8>> = None;
        let mut no_obligations = |_: Frame<'_>| async { Ok::<(), std::convert::Infallible>(()) };
        loop {
            if !source.wait().await {
                return;
            }
            // Whole small text messages (every ping, most messages) need no frame reader.
            while partial.is_none() {
                let Some(text) = source.small_text() else {
                    break;
                };
                self.seen();
                let go_on = self.on_text(source.bytes(text), &received).await;
                source.done();
                if !go_on {
                    return;
                }
            }
            if !source.has_unread() {
                continue;
            }
            let mut rd = source.lend(&more, self.max_message);
            loop {
                let frame = match rd.read_frame(&mut no_obligations).await {
                    Ok(frame) => frame,
                    Err(WebSocketError::FrameTooLarge) => {
                        let _ = self.ctl.send(Control::Close(ClientClose::TooLarge)).await;
                        return;
                    }
                    Err(_) => return,
                };
                if !self.on_frame(frame, &mut partial, &received).await {
                    return;
                }
                if !more.load(Ordering::Relaxed) {
                    break;
                }
            }
        }
    }

    /// Handles one frame; false when the connection must be dropped.
    async fn on_frame(
        &mut self,
        frame: Frame<'_>,
        partial: &mut Option<Vec<u8>>,
        received: &metrics::Counter,
    ) -> bool {
        self.seen();
        match frame.opcode {
            OpCode::Text if frame.fin && partial.is_none() => {
                self.on_text(&frame.payload, received).await
            }
            OpCode::Text | OpCode::Continuation => {
                let buf = partial.get_or_insert_with(Vec::new);
                buf.extend_from_slice(&frame.payload);
                if buf.len() > self.max_message {
                    let _ = self.ctl.send(Control::Close(ClientClose::TooLarge)).await;
                    return false;
                }
                if !frame.fin {
                    return true;
                }
                let whole = partial.take().unwrap_or_default();
                Box::pin(self.handle_text(&whole)).await
            }
            OpCode::Binary => {
                let _ = self.ctl.send(Control::Close(ClientClose::Binary)).await;
                false
            }
            OpCode::Close => {
                let _ = self.ctl.send(Control::Close(ClientClose::Normal)).await;
                false
            }
            OpCode::Ping => {
                let payload = frame.payload.to_vec();
                let pong = Frame::pong(Payload::Borrowed(&payload));
                Box::pin(self.answer(pong, || Control::Pong(Box::new(payload.clone())))).await
            }
            OpCode::Pong => true,
        }
    }

    /// The client was heard from now.
    fn seen(&self) {
        self.clocks
            .last_seen_ms
            .store(super::now_ms(), Ordering::Relaxed);
    }

    /// A whole text message; false when the connection must be dropped.
    async fn on_text(&mut self, text: &[u8], received: &metrics::Counter) -> bool {
        if is_bare_ping(text) {
            received.increment(1);
            return self.pong().await;
        }
        // Boxed: a message's handling is rare beside the idle wait, and its room would
        // otherwise be kept in every connection's reader.
        Box::pin(self.handle_text(text)).await
    }

    /// An application `pong`, written by the reader itself when it can. False when the
    /// connection must be dropped.
    async fn pong(&self) -> bool {
        let Ok(mut wr) = self.writer.try_lock() else {
            self.inputs.queue_pong(self.inputs.pong_frame()).await;
            return true;
        };
        // Written into this thread's scratch, then straight into the socket's buffer.
        PONG.with_borrow_mut(|pong| {
            self.inputs.write_pong(pong);
            // Whether that filled the buffer does not matter: it is flushed now.
            let _ = wr.put(Frame::text(Payload::Borrowed(pong)));
        });
        flush(&mut wr, self.write_limit).await
    }

    /// Handles one text message; false when the connection must be dropped.
    async fn handle_text(&mut self, bytes: &[u8]) -> bool {
        let frame = match ClientFrame::parse(bytes, Utc::now()) {
            Ok(frame) => frame,
            Err(e) => {
                self.inputs.direct_error(e.code(), &e.to_string());
                return true;
            }
        };
        crate::metrics::message_received();
        if frame.command == ClientCommand::Ping {
            return self.pong().await;
        }
        if let ClientCommand::Auth { token } = &frame.command {
            match self.edge.verifier().verify(token) {
                Ok(v) if v.identity.user_id == self.inputs.identity().user_id => {
                    self.clocks
                        .token_expires
                        .store(v.expires_at.unwrap_or(i64::MAX), Ordering::Relaxed);
                }
                _ => self.inputs.direct_error(
                    ErrorCode::Forbidden,
                    "The new token is invalid or for another user",
                ),
            }
            return true;
        }
        if let Some(id) = frame.session_id.clone()
            && &id != self.inputs.session_id()
        {
            // A session switch (see `Engine::switch`: one of this user's sessions, an unknown id
            // as their new session, someone else's as a fresh one).
            let identity = self.inputs.identity().clone();
            match Box::pin(self.edge.engine().switch(identity, &id)).await {
                Ok(next) => {
                    self.inputs = next.inputs();
                    if self
                        .ctl
                        .send(Control::Switch(Box::new(next)))
                        .await
                        .is_err()
                    {
                        return false;
                    }
                }
                Err(e) => {
                    self.inputs.direct_error(e.code(), "Session not found");
                    return true;
                }
            }
        }
        self.inputs.handle(frame);
        true
    }
}
