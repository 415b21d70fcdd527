//! The write side of a connection's socket gathers the frames of one wakeup into one buffer and
//! sends them with one write at the next flush: a burst (a resume's replay, chunks that queued
//! while the server was busy) costs one syscall instead of one per frame, while a lone frame
//! costs what it did (it is flushed at once).
//!
//! Guarantees: bytes leave in the order written; nothing is sent before `flush` unless the
//! buffer reaches [`LIMIT`] (then it is written out first, so memory stays bounded); an idle
//! connection keeps at most [`KEEP`] bytes of buffer, none when it was never used.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use tokio::io::AsyncWrite;

/// Buffered bytes that force a write before more are taken.
pub(crate) const LIMIT: usize = 64 * 1024;
/// The largest buffer kept after a flush.
pub(crate) const KEEP: usize = 4 * 1024;

/// An `AsyncWrite` that buffers until flushed.
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

    fn poll_drain(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while self.written < self.buf.len() {
            let n = ready!(Pin::new(&mut self.inner).poll_write(cx, &self.buf[self.written..]))?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            self.written += n;
        }
        self.buf.clear();
        self.written = 0;
        if self.buf.capacity() > KEEP {
            self.buf = Vec::new();
        }
        Poll::Ready(Ok(()))
    }
}

impl<W: AsyncWrite + Unpin> AsyncWrite for Coalesce<W> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if this.buf.len() >= LIMIT {
            ready!(this.poll_drain(cx))?;
        }
        this.buf.extend_from_slice(data);
        Poll::Ready(Ok(data.len()))
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if this.buf.len() >= LIMIT {
            ready!(this.poll_drain(cx))?;
        }
        let mut n = 0;
        for b in bufs {
            this.buf.extend_from_slice(b);
            n += b.len();
        }
        Poll::Ready(Ok(n))
    }

    fn is_write_vectored(&self) -> bool {
        true
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        ready!(this.poll_drain(cx))?;
        Pin::new(&mut this.inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        ready!(this.poll_drain(cx))?;
        Pin::new(&mut this.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use futures::FutureExt;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use super::*;

    #[tokio::test]
    async fn writes_leave_in_order_at_flush_and_a_full_buffer_is_written_out_first() {
        let (client, mut server) = tokio::io::duplex(1 << 20);
        let mut w = Coalesce::new(client);
        w.write_all(b"one ").await.unwrap();
        w.write_all(b"two").await.unwrap();
        let mut got = [0u8; 7];
        assert!(
            server.read(&mut got).now_or_never().is_none(),
            "nothing is sent before the flush"
        );
        w.flush().await.unwrap();
        server.read_exact(&mut got).await.unwrap();
        assert_eq!(&got, b"one two");
        assert!(w.buf.capacity() <= KEEP);

        let big = vec![7u8; LIMIT + 10];
        w.write_all(&big).await.unwrap();
        w.write_all(b"tail").await.unwrap();
        let mut first = vec![0u8; LIMIT + 10];
        server.read_exact(&mut first).await.unwrap();
        assert_eq!(first, big, "a full buffer goes out before more is taken");
        w.flush().await.unwrap();
        assert!(w.buf.capacity() <= KEEP, "a large buffer is not kept");
        let mut tail = [0u8; 4];
        server.read_exact(&mut tail).await.unwrap();
        assert_eq!(&tail, b"tail");
    }
}
