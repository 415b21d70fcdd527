//! The write side of a connection's socket gathers the frames of one wakeup into one buffer and
//! sends them with one write at the next flush: a burst (a resume's replay, chunks that queued
//! while the server was busy) costs one syscall instead of one per frame, while a lone frame
//! costs what it did (it is flushed at once).
//!
//! Frames are encoded straight into that buffer (`put`, which never waits), so only the flush is
//! a socket operation.
//!
//! Guarantees: bytes leave in the order put; nothing is sent before `flush`; `put` reports when
//! the buffer reaches [`LIMIT`] (the caller flushes before putting more, so memory stays
//! bounded); a flushed buffer is freed, so an idle connection holds none (one allocation per
//! flush costs far less than the send it goes with).

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use fastwebsockets::Frame;
use tokio::io::AsyncWrite;

/// Buffered bytes that force a write before more are taken.
pub(crate) const LIMIT: usize = 64 * 1024;

/// A socket's write side that gathers frames until flushed.
#[derive(Debug)]
pub(crate) struct Coalesce<W> {
    inner: W,
    buf: Vec<u8>,
    written: usize,
}

impl<W: AsyncWrite + Unpin> Coalesce<W> {
    pub(crate) fn new(inner: W) -> Self {
        Self {
            inner,
            buf: Vec::new(),
            written: 0,
        }
    }

    /// Appends a server frame (never masked), header and payload, without waiting. True when
    /// the buffer has reached [`LIMIT`]: flush before putting more.
    pub(crate) fn put(&mut self, mut frame: Frame<'_>) -> bool {
        let mut head = [0u8; MAX_HEAD];
        let n = frame.fmt_head(&mut head);
        // One allocation for a lone frame, not one for its head and another for its payload.
        self.buf.reserve(n + frame.payload.len());
        self.buf.extend_from_slice(&head[..n]);
        self.buf.extend_from_slice(&frame.payload);
        self.buf.len() >= LIMIT
    }

    /// Sends everything put so far.
    pub(crate) fn poll_flush(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while self.written < self.buf.len() {
            let n = ready!(Pin::new(&mut self.inner).poll_write(cx, &self.buf[self.written..]))?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            self.written += n;
        }
        self.buf = Vec::new();
        self.written = 0;
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    /// [`Coalesce::poll_flush`] as a future.
    pub(crate) async fn flush(&mut self) -> io::Result<()> {
        std::future::poll_fn(|cx| self.poll_flush(cx)).await
    }
}

/// The longest frame header: 2 bytes, an 8-byte length, a 4-byte mask (never set here).
const MAX_HEAD: usize = 16;

#[cfg(test)]
mod tests {
    use fastwebsockets::{OpCode, Payload, WebSocket};
    use futures::FutureExt;
    use tokio::io::AsyncReadExt;

    use super::*;

    #[tokio::test]
    async fn frames_leave_in_order_at_flush_and_a_full_buffer_says_so() {
        let (client, mut server) = tokio::io::duplex(1 << 20);
        let mut w = Coalesce::new(client);
        assert!(!w.put(Frame::text(Payload::Borrowed(b"one"))));
        assert!(!w.put(Frame::new(
            true,
            OpCode::Ping,
            None,
            Payload::Borrowed(b"hb")
        )));
        let mut got = [0u8; 1];
        assert!(
            server.read(&mut got).now_or_never().is_none(),
            "nothing is sent before the flush"
        );
        w.flush().await.unwrap();
        assert_eq!(w.buf.capacity(), 0, "a flushed buffer is freed");

        let big = vec![b'x'; LIMIT];
        assert!(
            w.put(Frame::text(Payload::Borrowed(&big))),
            "a full buffer says so"
        );
        w.flush().await.unwrap();
        assert_eq!(w.buf.capacity(), 0, "a flushed buffer is freed");
        assert!(!w.put(Frame::close(1000, b"")));
        w.flush().await.unwrap();
        drop(w);

        // A WebSocket client reads exactly those frames.
        let mut ws = WebSocket::after_handshake(server, fastwebsockets::Role::Client);
        ws.set_auto_pong(false);
        ws.set_auto_close(false);
        let mut frames = Vec::new();
        for _ in 0..4 {
            let f = ws.read_frame().await.unwrap();
            frames.push((f.opcode, f.payload.len()));
        }
        assert_eq!(
            frames,
            [
                (OpCode::Text, 3),
                (OpCode::Ping, 2),
                (OpCode::Text, LIMIT),
                (OpCode::Close, 2)
            ]
        );
    }
}
