//! The socket's read side, lent to fastwebsockets one frame at a time.
//!
//! fastwebsockets gives a reader an 8 KB buffer for its whole life, and most connections are idle
//! most of the time: that buffer was 40 % of an idle connection's memory. So the reader holds no
//! buffer between bursts. [`Source::wait`] waits for the client's next bytes with a read into the
//! stack; only then does the reader lend the socket to a fastwebsockets reader ([`Source::lend`]),
//! and it drops that reader again once nothing the client sent is left over.
//!
//! Guarantees, each enforced in one place (`Lent::poll_read`):
//! - fastwebsockets is never handed a byte beyond the end of the frame it is reading, so its
//!   buffer is empty whenever it returns a frame and dropping it loses nothing.
//! - A frame from the client without a mask is refused (RFC 6455 §5.1: the server must close).

use std::mem::MaybeUninit;
use std::ops::Range;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll, ready};

use fastwebsockets::{Role, WebSocketRead};
use tokio::io::{AsyncRead, ReadBuf, ReadHalf};

use super::Io;

/// Most bytes taken from the socket by one read (on the stack, only while it runs).
const READ_CHUNK: usize = 4096;

/// The longest payload [`Source::small_text`] takes (one whose length fits the second byte).
const SMALL: usize = 125;

/// The read half of a connection's socket and what was read from it but not yet handed on.
pub(super) struct Source<R = ReadHalf<Io>> {
    io: R,
    /// Read from the socket, not yet handed on from `at` (empty and unallocated between bursts).
    read: Vec<u8>,
    at: usize,
    /// Bytes of the frame being handed on that are still to come (0 at a frame boundary).
    left: u64,
}

/// What the start of the unread bytes says about the next frame.
#[derive(Debug, PartialEq, Eq)]
enum Head {
    /// Its length on the wire: header, mask and payload.
    Len(u64),
    /// Not enough bytes to tell yet.
    Short,
    /// A client frame without a mask.
    Unmasked,
}

fn head(bytes: &[u8]) -> Head {
    let [_, second, rest @ ..] = bytes else {
        return Head::Short;
    };
    if second & 0x80 == 0 {
        return Head::Unmasked;
    }
    let (extended, payload) = match second & 0x7f {
        126 => match rest {
            [a, b, ..] => (2, u64::from(u16::from_be_bytes([*a, *b]))),
            _ => return Head::Short,
        },
        127 => match rest.first_chunk::<8>() {
            Some(len) => (8, u64::from_be_bytes(*len)),
            None => return Head::Short,
        },
        n => (0, u64::from(n)),
    };
    Head::Len(payload.saturating_add(2 + extended + 4))
}

impl<R: AsyncRead + Unpin> Source<R> {
    pub(super) fn new(io: R) -> Self {
        Self {
            io,
            read: Vec::new(),
            at: 0,
            left: 0,
        }
    }

    /// True while bytes the client sent wait here.
    pub(super) fn has_unread(&self) -> bool {
        self.at < self.read.len()
    }

    /// Reads what the socket has (at most [`READ_CHUNK`]) into `read`; 0 at the end of the stream.
    fn poll_fill(&mut self, cx: &mut Context<'_>) -> Poll<std::io::Result<usize>> {
        let mut chunk = [MaybeUninit::<u8>::uninit(); READ_CHUNK];
        let mut buf = ReadBuf::uninit(&mut chunk);
        ready!(Pin::new(&mut self.io).poll_read(cx, &mut buf))?;
        let got = buf.filled();
        self.read.extend_from_slice(got);
        Poll::Ready(Ok(got.len()))
    }

    /// Takes the next frame when it is a whole small text message that has already arrived
    /// (every ping, most messages), so that it needs no fastwebsockets reader: unmasks it in
    /// place and returns where its payload lies (read it with [`Source::bytes`], then call
    /// [`Source::done`]). `None` leaves the frame where it is.
    pub(super) fn small_text(&mut self) -> Option<Range<usize>> {
        if self.left != 0 {
            return None;
        }
        let at = self.at;
        let head: [u8; 6] = self.read.get(at..at + 6)?.try_into().ok()?;
        let [first, second, m0, m1, m2, m3] = head;
        // FIN, no reserved bits, text; masked, with its length in the second byte.
        let len = usize::from(second & 0x7f);
        if first != 0x81 || second & 0x80 == 0 || len > SMALL {
            return None;
        }
        let payload = at + 6..at + 6 + len;
        let bytes = self.read.get_mut(payload.clone())?;
        fastwebsockets::unmask(bytes, [m0, m1, m2, m3]);
        if std::str::from_utf8(bytes).is_err() {
            // Put it back as it came: fastwebsockets refuses text that is not UTF-8.
            fastwebsockets::unmask(bytes, [m0, m1, m2, m3]);
            return None;
        }
        self.at = payload.end;
        Some(payload)
    }

    /// The bytes at `range` (from [`Source::small_text`]).
    pub(super) fn bytes(&self, range: Range<usize>) -> &[u8] {
        self.read.get(range).unwrap_or_default()
    }

    /// Forgets the frames taken; the buffer goes once nothing else waits in it.
    pub(super) fn done(&mut self) {
        if !self.has_unread() {
            self.read = Vec::new();
            self.at = 0;
        }
    }

    /// Waits for the client's next bytes, holding no buffer meanwhile. False at the end of the
    /// stream or on a socket error.
    pub(super) async fn wait(&mut self) -> bool {
        if self.has_unread() {
            return true;
        }
        matches!(
            std::future::poll_fn(|cx| self.poll_fill(cx)).await,
            Ok(n) if n > 0
        )
    }

    /// A fastwebsockets reader over this source for one burst; `more` tells, after each frame,
    /// whether the client's next frame has already arrived (else drop the reader and `wait`).
    pub(super) fn lend<'a>(
        &'a mut self,
        more: &'a AtomicBool,
        max_message: usize,
    ) -> WebSocketRead<Lent<'a, R>> {
        more.store(self.has_unread(), Ordering::Relaxed);
        let (mut rd, _) = fastwebsockets::after_handshake_split(
            Lent { src: self, more },
            tokio::io::sink(),
            Role::Server,
        );
        rd.set_auto_close(false);
        rd.set_auto_pong(false);
        rd.set_max_message_size(max_message.saturating_add(1));
        rd
    }
}

/// A [`Source`] lent to a fastwebsockets reader: it hands on at most the rest of the current
/// frame.
pub(super) struct Lent<'a, R> {
    src: &'a mut Source<R>,
    more: &'a AtomicBool,
}

impl<R: AsyncRead + Unpin> AsyncRead for Lent<'_, R> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let this = self.get_mut();
        let src = &mut *this.src;
        loop {
            if src.left == 0 {
                match head(&src.read[src.at..]) {
                    Head::Len(n) => src.left = n,
                    Head::Unmasked => {
                        return Poll::Ready(Err(std::io::Error::new(
                            std::io::ErrorKind::InvalidData,
                            "a client frame without a mask",
                        )));
                    }
                    Head::Short => {
                        if ready!(src.poll_fill(cx))? == 0 {
                            // The end of the stream, mid-header.
                            return Poll::Ready(Ok(()));
                        }
                        continue;
                    }
                }
            }
            if src.has_unread() {
                let room = u64::try_from(buf.remaining()).unwrap_or(u64::MAX);
                let n = (src.read.len() - src.at)
                    .min(usize::try_from(src.left.min(room)).unwrap_or(usize::MAX));
                buf.put_slice(&src.read[src.at..src.at + n]);
                src.at += n;
                src.left -= n as u64;
                if !src.has_unread() {
                    // A burst's bytes are not kept for the connection's life.
                    src.read = Vec::new();
                    src.at = 0;
                }
                this.more.store(src.has_unread(), Ordering::Relaxed);
                return Poll::Ready(Ok(()));
            }
            if ready!(src.poll_fill(cx))? == 0 {
                return Poll::Ready(Ok(()));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use fastwebsockets::{Frame, OpCode, Payload, WebSocketError};
    use tokio::io::AsyncWriteExt;

    use super::*;

    /// A masked client frame, as a browser sends it.
    fn client_frame(opcode: OpCode, fin: bool, payload: &[u8]) -> Vec<u8> {
        let mut frame = Frame::new(
            fin,
            opcode,
            Some([1, 2, 3, 4]),
            Payload::Owned(payload.to_vec()),
        );
        frame.mask();
        let mut out = Vec::new();
        let len = frame.write(&mut out).len();
        out.truncate(len);
        out
    }

    async fn next(
        rd: &mut WebSocketRead<Lent<'_, tokio::io::DuplexStream>>,
    ) -> Result<(OpCode, Vec<u8>), WebSocketError> {
        let mut no_obligations = |_: Frame<'_>| async { Ok::<(), std::convert::Infallible>(()) };
        let frame = rd.read_frame(&mut no_obligations).await?;
        Ok((frame.opcode, frame.payload.to_vec()))
    }

    /// What a fastwebsockets reader lent the source makes of `bytes`, then the end of the
    /// stream.
    async fn first_frame_of(bytes: &[u8]) -> Result<(OpCode, Vec<u8>), WebSocketError> {
        let (mut client, server) = tokio::io::duplex(1024);
        client.write_all(bytes).await.unwrap();
        drop(client);
        let mut source = Source::new(server);
        let more = AtomicBool::new(false);
        assert!(source.wait().await);
        let mut rd = source.lend(&more, 1024);
        next(&mut rd).await
    }

    #[test]
    fn the_head_gives_each_length_form_and_refuses_unmasked_frames() {
        assert_eq!(head(&[]), Head::Short);
        assert_eq!(head(&[0x81]), Head::Short);
        assert_eq!(head(&[0x81, 0x85]), Head::Len(2 + 4 + 5));
        assert_eq!(head(&[0x81, 0x05]), Head::Unmasked);
        assert_eq!(head(&[0x81, 0xfe, 0x01]), Head::Short);
        assert_eq!(head(&[0x81, 0xfe, 0x01, 0x00]), Head::Len(4 + 4 + 256));
        assert_eq!(head(&[0x81, 0xff, 0, 0, 0, 0, 0, 1]), Head::Short);
        assert_eq!(
            head(&[0x81, 0xff, 0, 0, 0, 0, 0, 1, 0, 0]),
            Head::Len(10 + 4 + 65536)
        );
        assert_eq!(
            head(&[0x81, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]),
            Head::Len(u64::MAX),
            "a length beyond any limit saturates (fastwebsockets refuses it as too large)"
        );
    }

    #[tokio::test]
    async fn pipelined_frames_come_out_one_at_a_time_and_nothing_is_lost_between_bursts() {
        let (mut client, server) = tokio::io::duplex(1 << 20);
        let mut wire = client_frame(OpCode::Text, true, b"first");
        wire.extend(client_frame(OpCode::Text, false, b"sec"));
        wire.extend(client_frame(OpCode::Continuation, true, b"ond"));
        // A long frame whose header and payload arrive in pieces.
        let long = vec![b'x'; 70_000];
        let long_frame = client_frame(OpCode::Text, true, &long);
        client.write_all(&wire).await.unwrap();
        client.write_all(&long_frame[..3]).await.unwrap();

        let mut source = Source::new(server);
        let more = AtomicBool::new(false);
        assert!(source.wait().await);
        let mut got = Vec::new();
        {
            let mut rd = source.lend(&more, 1 << 20);
            for _ in 0..3 {
                got.push(next(&mut rd).await.unwrap());
                assert!(more.load(Ordering::Relaxed), "the next frame has arrived");
            }
            let writer = tokio::spawn(async move {
                for piece in long_frame[3..].chunks(1000) {
                    client.write_all(piece).await.unwrap();
                    tokio::task::yield_now().await;
                }
                client
            });
            got.push(next(&mut rd).await.unwrap());
            assert!(
                !more.load(Ordering::Relaxed),
                "nothing left over: the reader can go"
            );
            let mut client = writer.await.unwrap();
            client
                .write_all(&client_frame(OpCode::Text, true, b"later"))
                .await
                .unwrap();
        }
        assert!(
            source.read.capacity() == 0,
            "no buffer is held between bursts"
        );
        assert!(source.wait().await);
        let mut rd = source.lend(&more, 1 << 20);
        got.push(next(&mut rd).await.unwrap());
        let texts: Vec<(OpCode, usize, Vec<u8>)> = got
            .into_iter()
            .map(|(op, p)| (op, p.len(), p.into_iter().take(5).collect()))
            .collect();
        assert_eq!(
            texts,
            [
                (OpCode::Text, 5, b"first".to_vec()),
                (OpCode::Text, 3, b"sec".to_vec()),
                (OpCode::Continuation, 3, b"ond".to_vec()),
                (OpCode::Text, 70_000, b"xxxxx".to_vec()),
                (OpCode::Text, 5, b"later".to_vec()),
            ]
        );
    }

    #[tokio::test]
    async fn whole_small_text_frames_are_taken_without_a_reader_and_the_rest_left_to_one() {
        let (mut client, server) = tokio::io::duplex(1 << 16);
        let mut wire = client_frame(OpCode::Text, true, br#"{"type":"ping"}"#);
        wire.extend(client_frame(OpCode::Text, true, "héllo".as_bytes()));
        wire.extend(client_frame(OpCode::Text, true, &[0xff, 0xfe])); // not UTF-8
        wire.extend(client_frame(OpCode::Text, true, b"after"));
        client.write_all(&wire).await.unwrap();
        let mut source = Source::new(server);
        assert!(source.wait().await);
        let ping = source.small_text().expect("a whole small text frame");
        assert_eq!(source.bytes(ping), br#"{"type":"ping"}"#);
        let hello = source.small_text().expect("the next one");
        assert_eq!(source.bytes(hello), "héllo".as_bytes());
        source.done();
        assert!(
            source.small_text().is_none(),
            "text that is not UTF-8 is left as it came"
        );
        let more = AtomicBool::new(false);
        {
            let mut rd = source.lend(&more, 1024);
            assert!(matches!(
                next(&mut rd).await,
                Err(WebSocketError::InvalidUTF8)
            ));
        }

        // Not taken, and read whole by fastwebsockets instead: a large frame, a fragment, a
        // control frame, a frame not all here yet.
        let big = vec![b'a'; 126];
        let whole = client_frame(OpCode::Text, true, b"whole");
        let cases = [
            (client_frame(OpCode::Text, true, &big), 126),
            (client_frame(OpCode::Text, false, b"frag"), 4),
            (client_frame(OpCode::Ping, true, b"p"), 1),
            (whole[..whole.len() - 1].to_vec(), 5),
        ];
        for (bytes, len) in cases {
            let (mut client, server) = tokio::io::duplex(1 << 16);
            client.write_all(&bytes).await.unwrap();
            let mut source = Source::new(server);
            assert!(source.wait().await);
            assert!(source.small_text().is_none(), "{len}-byte case taken");
            let more = AtomicBool::new(false);
            let mut rd = source.lend(&more, 1 << 16);
            let reading = next(&mut rd);
            tokio::pin!(reading);
            let read = match futures::poll!(reading.as_mut()) {
                std::task::Poll::Ready(read) => read,
                std::task::Poll::Pending => {
                    client.write_all(&whole[whole.len() - 1..]).await.unwrap();
                    reading.await
                }
            };
            let (_, payload) = read.unwrap();
            assert_eq!(payload.len(), len);
        }
    }

    #[tokio::test]
    async fn an_unmasked_frame_is_refused() {
        let mut unmasked = Vec::new();
        let len = Frame::text(Payload::Borrowed(b"hello"))
            .write(&mut unmasked)
            .len();
        assert!(matches!(
            first_frame_of(&unmasked[..len]).await,
            Err(WebSocketError::IoError(_))
        ));
    }

    #[tokio::test]
    async fn the_end_of_the_stream_ends_the_wait_and_a_cut_frame() {
        let (client, server) = tokio::io::duplex(1024);
        drop(client);
        let mut source = Source::new(server);
        assert!(!source.wait().await, "end of stream while idle");

        let frame = client_frame(OpCode::Text, true, b"hello");
        assert!(matches!(
            first_frame_of(&frame[..4]).await,
            Err(WebSocketError::UnexpectedEOF)
        ));
    }
}
