//! Session frame logs in one JetStream stream (`<prefix>-frames`, subjects `<prefix>.frames.>`),
//! one subject per session: `<prefix>.frames.<token(session id)>`.
//!
//! A frame is one stream message: its body is the payload, its seq and fencing token are the
//! headers [`SEQ_HEADER`] and [`TOKEN_HEADER`] (decimal).
//!
//! Guarantees:
//! - **Order.** An append returns once JetStream acknowledged the frame as stored, so the
//!   appends of one caller are stored in call order, and every reader gets them in stream order.
//!   A batch is published in order on the one connection (so stored in order) and acknowledged
//!   together.
//! - **History.** The stream keeps at least `history` messages per subject (older ones are
//!   dropped first) and none older than `log_max_age`.
//! - **Claim.** A claim marker (the newest frame's seq, the claimant's token, an empty body) is
//!   published with `Nats-Expected-Last-Subject-Sequence` set to the stream sequence of the
//!   newest frame it read, so JetStream stores it only if nothing landed in between; a claim
//!   that lost that race reads again and retries (within the operation's deadline).
//! - **Follow.** A read is an ordered consumer over the session's subject from its oldest
//!   retained message: history, then every later frame, recreated by async-nats where it left
//!   off after a gap or a reconnect. It stops when dropped (the server forgets it soon after).
//! - A message whose headers are missing or not numbers is an error item of the read (and an
//!   error of `last`), never a panic; the read goes on after it.

use async_nats::HeaderMap;
use async_nats::jetstream::consumer::DeliverPolicy;
use async_nats::jetstream::consumer::StreamErrorKind;
use async_nats::jetstream::consumer::pull::{OrderedConfig, OrderedErrorKind};
use async_nats::jetstream::context::{PublishError, PublishErrorKind};
use async_nats::jetstream::message::PublishMessage;
use async_nats::jetstream::stream::{ConsumerErrorKind, LastRawMessageErrorKind};
use bytes::Bytes;
use chatbox_core::ports::broker::{FrameStream, LogFrame};
use chatbox_core::{BrokerError, SessionId};
use futures::StreamExt;

use super::NatsBroker;
use super::classify::{backend, failure, transient_jetstream};

/// The header holding a frame's seq.
pub const SEQ_HEADER: &str = "Chatbox-Seq";
/// The header holding the fencing token of a frame's writer.
pub const TOKEN_HEADER: &str = "Chatbox-Token";

impl NatsBroker {
    pub(super) async fn append_frame(
        &self,
        session: &SessionId,
        frame: LogFrame,
    ) -> Result<(), BrokerError> {
        let subject = self.names.frame_subject(session.as_str());
        let message = PublishMessage::build()
            .headers(headers(frame.seq, frame.token))
            .payload(self.seal(frame.body)?);
        self.js
            .send_publish(subject, message)
            .await
            .map_err(|e| self.publish_failed(e))?
            .await
            .map_err(|e| self.publish_failed(e))?;
        Ok(())
    }

    /// Publishes every frame in order without waiting in between, then waits for their
    /// acknowledgements: one round trip for the batch.
    pub(super) async fn append_frames(
        &self,
        session: &SessionId,
        frames: Vec<LogFrame>,
    ) -> Result<(), BrokerError> {
        let subject = self.names.frame_subject(session.as_str());
        let mut acks = Vec::with_capacity(frames.len());
        for frame in frames {
            let message = PublishMessage::build()
                .headers(headers(frame.seq, frame.token))
                .payload(self.seal(frame.body)?);
            let ack = self
                .js
                .send_publish(subject.clone(), message)
                .await
                .map_err(|e| self.publish_failed(e))?;
            acks.push(ack);
        }
        for ack in acks {
            ack.await.map_err(|e| self.publish_failed(e))?;
        }
        Ok(())
    }

    pub(super) async fn claim(
        &self,
        session: &SessionId,
        token: u64,
    ) -> Result<Option<LogFrame>, BrokerError> {
        let subject = self.names.frame_subject(session.as_str());
        loop {
            let newest = self.newest(&subject).await?;
            let (after, seq) = newest.as_ref().map_or((0, 0), |(at, f)| (*at, f.seq));
            let marker = PublishMessage::build()
                .headers(headers(seq, token))
                .expected_last_subject_sequence(after);
            let ack = self
                .js
                .send_publish(subject.clone(), marker)
                .await
                .map_err(|e| self.publish_failed(e))?;
            match ack.await {
                Ok(_) => return Ok(newest.map(|(_, frame)| frame)),
                // Another frame landed after the one read: read the newest again.
                Err(e) if e.kind() == PublishErrorKind::WrongLastSequence => {}
                Err(e) => return Err(self.publish_failed(e)),
            }
        }
    }

    fn publish_failed(&self, e: PublishError) -> BrokerError {
        let transient = matches!(
            e.kind(),
            PublishErrorKind::TimedOut
                | PublishErrorKind::BrokenPipe
                | PublishErrorKind::MaxAckPending
        );
        failure(&self.client, e, transient)
    }

    pub(super) async fn read_log(&self, session: &SessionId) -> Result<FrameStream, BrokerError> {
        let config = OrderedConfig {
            filter_subject: self.names.frame_subject(session.as_str()),
            deliver_policy: DeliverPolicy::All,
            ..OrderedConfig::default()
        };
        let consumer = self.frames.create_consumer(config).await.map_err(|e| {
            let transient = match e.kind() {
                ConsumerErrorKind::TimedOut | ConsumerErrorKind::Request => true,
                ConsumerErrorKind::JetStream(js) => transient_jetstream(&js),
                _ => false,
            };
            failure(&self.client, e, transient)
        })?;
        let messages = consumer.messages().await.map_err(|e| {
            let transient = e.kind() == StreamErrorKind::TimedOut;
            failure(&self.client, e, transient)
        })?;
        let client = self.client.clone();
        let cipher = self.cipher.clone();
        let frames = messages.map(move |item| match item {
            Ok(message) => frame_of(message.headers.as_ref(), message.payload.clone())
                .map(|frame| open(&cipher, frame)),
            Err(e) => {
                let transient = matches!(
                    e.kind(),
                    OrderedErrorKind::MissingHeartbeat
                        | OrderedErrorKind::ConsumerDeleted
                        | OrderedErrorKind::NoResponders
                        | OrderedErrorKind::Pull
                        | OrderedErrorKind::Recreate
                );
                Err(failure(&client, e, transient))
            }
        });
        Ok(frames.boxed())
    }

    pub(super) async fn last_frame(
        &self,
        session: &SessionId,
    ) -> Result<Option<LogFrame>, BrokerError> {
        let subject = self.names.frame_subject(session.as_str());
        Ok(self.newest(&subject).await?.map(|(_, frame)| frame))
    }

    /// The newest message of `subject` with its stream sequence.
    async fn newest(&self, subject: &str) -> Result<Option<(u64, LogFrame)>, BrokerError> {
        match self.frames.get_last_raw_message_by_subject(subject).await {
            Ok(message) => {
                let frame = frame_of(Some(&message.headers), message.payload)?;
                Ok(Some((message.sequence, open(&self.cipher, frame))))
            }
            Err(e) => match e.kind() {
                LastRawMessageErrorKind::NoMessageFound => Ok(None),
                LastRawMessageErrorKind::JetStream(js) => {
                    let transient = transient_jetstream(&js);
                    Err(failure(&self.client, e, transient))
                }
                _ => Err(failure(&self.client, e, false)),
            },
        }
    }
}

impl NatsBroker {
    /// A frame body as stored: encrypted when a key is configured (a marker stays empty).
    fn seal(&self, body: Bytes) -> Result<Bytes, BrokerError> {
        if body.is_empty() {
            return Ok(body);
        }
        let text = std::str::from_utf8(&body)
            .map_err(|_| backend("a frame body is not UTF-8 text".to_owned()))?;
        let sealed = self
            .cipher
            .encrypt(text)
            .map_err(|e| backend(format!("a frame could not be encrypted: {e}")))?;
        Ok(Bytes::from(sealed))
    }
}

/// A stored frame as clients get it (a body that does not decrypt is kept as stored).
fn open(cipher: &crate::Cipher, mut frame: LogFrame) -> LogFrame {
    if !frame.body.is_empty()
        && let Ok(text) = std::str::from_utf8(&frame.body)
    {
        frame.body = Bytes::from(cipher.decrypt(text));
    }
    frame
}

/// The headers of a frame (or marker) with `seq` and `token`.
fn headers(seq: u64, token: u64) -> HeaderMap {
    let mut headers = HeaderMap::new();
    headers.insert(SEQ_HEADER, seq.to_string());
    headers.insert(TOKEN_HEADER, token.to_string());
    headers
}

/// The frame a stream message holds.
fn frame_of(headers: Option<&HeaderMap>, body: Bytes) -> Result<LogFrame, BrokerError> {
    let number = |name: &str| {
        headers
            .and_then(|h| h.get(name))
            .and_then(|v| v.as_str().parse::<u64>().ok())
            .ok_or_else(|| backend(format!("a log message has no numeric {name} header")))
    };
    Ok(LogFrame {
        seq: number(SEQ_HEADER)?,
        token: number(TOKEN_HEADER)?,
        body,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_frame_needs_both_numeric_headers() {
        let mut good = HeaderMap::new();
        good.insert(SEQ_HEADER, "7");
        good.insert(TOKEN_HEADER, "3");
        let body = Bytes::from_static(b"{}");
        let frame = frame_of(Some(&good), body.clone()).map_err(|e| e.to_string());
        assert_eq!(
            frame,
            Ok(LogFrame {
                seq: 7,
                token: 3,
                body: body.clone()
            })
        );
        let mut bad = HeaderMap::new();
        bad.insert(SEQ_HEADER, "seven");
        bad.insert(TOKEN_HEADER, "3");
        for headers in [None, Some(&bad)] {
            assert!(matches!(
                frame_of(headers, body.clone()),
                Err(BrokerError::Backend(_))
            ));
        }
    }
}
