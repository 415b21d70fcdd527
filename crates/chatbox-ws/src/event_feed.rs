//! The admins' event feed: `GET P/ws?mode=events` with an admin token opens a WebSocket that
//! carries no conversation, only `session_event` frames (a session was created, asked for help,
//! was taken over or released, or ended), so a dashboard needs no polling.
//!
//! The first frame is a `notification` with `metadata.feed="events"`. A feed that falls too far
//! behind is closed with 1013 (reload the lists, then reconnect); shutdown closes it with 1001.
//! Like every connection it holds a per-user slot, answers pings, sends heartbeats, and every
//! write has the edge's deadline.

use std::time::Duration;

use chatbox_core::protocol::Envelope;
use chrono::Utc;
use fastwebsockets::{Frame, OpCode, Payload, Role, WebSocket};
use hyper::upgrade::Upgraded;
use hyper_util::rt::TokioIo;
use tokio::sync::{broadcast, mpsc};

use crate::coalesce::Coalesce;
use crate::conn_limit::Slot;
use crate::router::Edge;
use crate::ws::{flush, write};

type Io = TokioIo<Upgraded>;

/// Writes one frame and sends it at once; false when the connection must be dropped.
async fn send(
    wr: &mut Coalesce<tokio::io::WriteHalf<Io>>,
    frame: Frame<'_>,
    limit: Duration,
) -> bool {
    write(wr, frame, limit).await && flush(wr, limit).await
}

/// What the reading half tells the writer.
enum Control {
    Pong(Vec<u8>),
    Close,
}

/// Serves one admin's event feed until the client closes, the server shuts down, or a write
/// fails.
pub(crate) async fn serve(ws: WebSocket<Io>, edge: Edge, slot: Slot) {
    let mut events = edge.engine().subscribe_events();
    let shutdown = edge.engine().shutting_down();
    let (rd, w) = tokio::io::split(ws.into_inner());
    let (mut rd, _) = fastwebsockets::after_handshake_split(rd, tokio::io::sink(), Role::Server);
    let mut wr = Coalesce::new(w);
    rd.set_auto_close(false);
    rd.set_auto_pong(false);
    let limit = Duration::from_secs(edge.config().write_timeout_secs.max(1));
    let ping = Duration::from_secs(edge.config().ping_interval_secs.max(1));
    let (ctl_tx, mut ctl) = mpsc::channel(8);
    let reader = tokio::spawn(async move {
        let mut ignore = |_: Frame<'_>| async { Ok::<(), std::convert::Infallible>(()) };
        loop {
            let control = match rd.read_frame(&mut ignore).await {
                Ok(f) if f.opcode == OpCode::Ping => Control::Pong(f.payload.to_vec()),
                Ok(f) if f.opcode == OpCode::Close => Control::Close,
                Ok(_) => continue,
                Err(_) => Control::Close,
            };
            let closing = matches!(control, Control::Close);
            if ctl_tx.send(control).await.is_err() || closing {
                return;
            }
        }
    });
    let mut hello = Envelope::notification("Subscribed to session events", Utc::now());
    hello.set_meta("feed", "events");
    let mut heartbeat = tokio::time::interval_at(tokio::time::Instant::now() + ping, ping);
    let mut ok = send(
        &mut wr,
        Frame::text(Payload::Owned(hello.encode().into_bytes())),
        limit,
    )
    .await;
    while ok {
        ok = tokio::select! {
            biased;
            () = shutdown.cancelled() => {
                send(&mut wr, Frame::close(1001, b"server shutting down"), limit).await;
                break;
            }
            control = ctl.recv() => match control {
                Some(Control::Pong(payload)) => send(&mut wr, Frame::pong(Payload::Owned(payload)), limit).await,
                Some(Control::Close) | None => {
                    send(&mut wr, Frame::close(1000, b""), limit).await;
                    break;
                }
            },
            event = events.recv() => match event {
                Ok(event) => {
                    let text = event.envelope().encode();
                    send(&mut wr, Frame::text(Payload::Owned(text.into_bytes())), limit).await
                }
                Err(broadcast::error::RecvError::Lagged(missed)) => {
                    tracing::info!(missed, "admin event feed lagged; closing it");
                    send(&mut wr, Frame::close(1013, b"events lagged: reload and reconnect"), limit).await;
                    break;
                }
                Err(broadcast::error::RecvError::Closed) => break,
            },
            _ = heartbeat.tick() => {
                send(&mut wr, Frame::new(true, OpCode::Ping, None, Payload::Borrowed(b"hb")), limit).await
            }
        };
    }
    reader.abort();
    drop(slot);
}
