//! The owner's side of a session's log: every `seq` frame its fan-out publishes is appended to
//! the broker, in seq order, by one task per session (`LogTap` never blocks the fan-out), and a
//! new owner learns from the log where seqs continue and whether a reply was cut off.
//!
//! A frame the broker refuses for longer than the retry budget is dropped from the log (and
//! counted): proxies see the gap in seqs and send their connections to resume, so no client
//! silently misses a frame.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use chatbox_core::SessionId;
use chatbox_core::ports::broker::{Broker, BrokerError, LogFrame};
use chatbox_core::protocol::{Envelope, FrameType, decode};
use tokio::sync::mpsc;

use super::BROKER_TIMEOUT;

/// Attempts per batch before it is dropped from the log.
const APPEND_ATTEMPTS: u32 = 5;
/// The most frames appended in one batch. Measured (`--bench broker`, 100 bursting sessions
/// over NATS): 1 → 32k frames/s, 8 → 46k, 256 → 3.8k (hundreds of acknowledgements in flight
/// per session cost more than the round trips they save).
const APPEND_BATCH: usize = 8;

/// Bytes of a shared frame, without copying it.
struct Frame(Arc<str>);

impl AsRef<[u8]> for Frame {
    fn as_ref(&self) -> &[u8] {
        self.0.as_bytes()
    }
}

/// Where a fan-out sends its frames for the log.
#[derive(Debug)]
pub(crate) struct LogTap {
    tx: mpsc::UnboundedSender<(u64, Arc<str>)>,
}

impl LogTap {
    /// A tap appending to `session`'s log with fencing token `token`, and its task.
    pub(crate) fn new(
        broker: Arc<dyn Broker>,
        session: SessionId,
        token: u64,
    ) -> (Self, impl std::future::Future<Output = ()> + Send + 'static) {
        let (tx, rx) = mpsc::unbounded_channel();
        (Self { tx }, append_all(broker, session, token, rx))
    }

    /// Queues frame `seq` for the log.
    pub(crate) fn push(&self, seq: u64, frame: &Arc<str>) {
        let _ = self.tx.send((seq, Arc::clone(frame)));
    }
}

async fn append_all(
    broker: Arc<dyn Broker>,
    session: SessionId,
    token: u64,
    mut rx: mpsc::UnboundedReceiver<(u64, Arc<str>)>,
) {
    let frame = |(seq, text): (u64, Arc<str>)| LogFrame {
        seq,
        token,
        body: Bytes::from_owner(Frame(text)),
    };
    while let Some(first) = rx.recv().await {
        // Whatever queued meanwhile goes in one batch: one wait for the broker, not one per
        // frame. A retried batch may store a prefix twice; readers drop repeated seqs.
        let mut batch = vec![frame(first)];
        while batch.len() < APPEND_BATCH
            && let Ok(next) = rx.try_recv()
        {
            batch.push(frame(next));
        }
        let mut attempt = 0;
        loop {
            attempt += 1;
            let result =
                tokio::time::timeout(BROKER_TIMEOUT, broker.append_batch(&session, batch.clone()))
                    .await
                    .unwrap_or_else(|_| Err(BrokerError::Unavailable("append timed out".into())));
            match result {
                Ok(()) => break,
                Err(e) if attempt < APPEND_ATTEMPTS => {
                    tracing::debug!(%session, error = %e, "log append failed; retrying");
                    tokio::time::sleep(Duration::from_millis(100) * attempt).await;
                }
                Err(e) => {
                    let seqs = batch.first().map(|f| f.seq)..=batch.last().map(|f| f.seq);
                    tracing::error!(%session, ?seqs, error = %e, "frames dropped from the log");
                    crate::metrics::log_frame_dropped(batch.len());
                    break;
                }
            }
        }
    }
}

/// What a new owner learns from the log.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Inherited {
    /// The first seq this owner publishes.
    pub(crate) first_seq: u64,
    /// The model of a reply the previous owner was streaming when it stopped.
    pub(crate) cut_reply: Option<String>,
    /// The log's retained frames, oldest first (the new owner's replay starts with them, so a
    /// client resumes across owners).
    pub(crate) history: Vec<(u64, Arc<str>)>,
}

impl Inherited {
    /// Claims the log of `session` for the owner with fencing token `token` (its marker goes
    /// right after the newest frame) and reads what the log holds, within the broker deadline.
    pub(crate) async fn claim(
        broker: &dyn Broker,
        session: &SessionId,
        token: u64,
    ) -> Result<Self, BrokerError> {
        let timed_out = || BrokerError::Unavailable("reading the session log timed out".into());
        let last = tokio::time::timeout(BROKER_TIMEOUT, broker.claim_log(session, token))
            .await
            .map_err(|_| timed_out())??;
        let Some(last) = last else {
            return Ok(Self::from_last(None));
        };
        let mut history: Vec<(u64, Arc<str>, bool)> = Vec::new();
        let read = async {
            let mut log = broker.read(session).await?;
            let mut fence = 0;
            while let Some(frame) = futures::StreamExt::next(&mut log).await {
                let frame = frame?;
                if frame.is_marker() && frame.token == token {
                    break;
                }
                if frame.token < fence {
                    continue;
                }
                fence = frame.token;
                let newer = history.last().is_none_or(|(seq, ..)| frame.seq > *seq);
                if frame.is_marker() || !newer {
                    continue;
                }
                let text = String::from_utf8_lossy(&frame.body);
                let cut = decode(&frame.body).ok().and_then(|e| reply_in_flight(&e));
                history.push((frame.seq, Arc::from(&*text), cut.is_some()));
            }
            Ok::<_, BrokerError>(())
        };
        tokio::time::timeout(BROKER_TIMEOUT, read)
            .await
            .map_err(|_| timed_out())??;
        // Only a contiguous run ending at the newest frame can be replayed.
        let mut start = history.len().saturating_sub(1);
        while start > 0 && history[start - 1].0 + 1 == history[start].0 {
            start -= 1;
        }
        let cut_reply = history
            .last()
            .filter(|(seq, _, cut)| *seq == last.seq && *cut)
            .and_then(|(_, text, _)| decode(text.as_bytes()).ok())
            .and_then(|env| reply_in_flight(&env));
        Ok(Self {
            first_seq: last.seq.saturating_add(1),
            cut_reply,
            history: history
                .drain(start..)
                .map(|(seq, text, _)| (seq, text))
                .collect(),
        })
    }

    /// From the newest frame of the log (`None`: a new session, or its log expired).
    pub(crate) fn from_last(last: Option<&LogFrame>) -> Self {
        let Some(last) = last else {
            return Self {
                first_seq: 1,
                ..Self::default()
            };
        };
        let cut_reply = decode(&last.body)
            .ok()
            .and_then(|env| reply_in_flight(&env));
        Self {
            first_seq: last.seq.saturating_add(1),
            cut_reply,
            history: Vec::new(),
        }
    }
}

/// The model of the reply `env` belongs to, when it leaves that reply unfinished.
fn reply_in_flight(env: &Envelope) -> Option<String> {
    let streaming = match env.kind {
        FrameType::Loading => true,
        FrameType::AiResponse => env
            .metadata
            .as_ref()
            .and_then(|m| m.get("done"))
            .is_some_and(|d| d == "false"),
        _ => false,
    };
    streaming.then(|| env.model_id.clone().unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use chrono::Utc;

    use super::*;

    fn last(seq: u64, env: Envelope) -> LogFrame {
        LogFrame {
            seq,
            token: 1,
            body: Bytes::from(env.encode()),
        }
    }

    #[tokio::test(start_paused = true)]
    async fn frames_the_broker_refuses_are_dropped_after_the_retries_and_the_rest_go_on() {
        use chatbox_core::testing::MemoryBroker;
        let hub = MemoryBroker::new("hub", Duration::from_secs(60), 16);
        let a = hub.replica("a");
        let session = SessionId::parse("s1").unwrap();
        let (tap, task) = LogTap::new(Arc::new(a.clone()), session.clone(), 3);
        let task = tokio::spawn(task);
        hub.kill("a");
        tap.push(1, &Arc::from("{\"n\":1}"));
        drop(tap);
        task.await.unwrap();
        assert_eq!(
            hub.last(&session).await.unwrap(),
            None,
            "nothing reached the log"
        );
        // A live writer's frames land in order.
        let b = hub.replica("b");
        let (tap, task) = LogTap::new(Arc::new(b), session.clone(), 4);
        let task = tokio::spawn(task);
        for seq in 1..=3 {
            tap.push(seq, &Arc::from(format!("{{\"n\":{seq}}}").as_str()));
        }
        drop(tap);
        task.await.unwrap();
        assert_eq!(hub.last(&session).await.unwrap().map(|f| f.seq), Some(3));
    }

    #[test]
    fn a_new_owner_continues_after_the_log_and_sees_a_cut_reply() {
        assert_eq!(Inherited::from_last(None).first_seq, 1);
        let chunk = last(41, Envelope::ai_chunk("Hel", "gpt", Utc::now()));
        let got = Inherited::from_last(Some(&chunk));
        assert_eq!(got.first_seq, 42);
        assert_eq!(got.cut_reply.as_deref(), Some("gpt"));
        let done = last(
            42,
            Envelope::ai_done("gpt", Some(3), None, None, Utc::now()),
        );
        assert_eq!(Inherited::from_last(Some(&done)).cut_reply, None);
        let loading = last(7, Envelope::loading(Utc::now()));
        assert!(Inherited::from_last(Some(&loading)).cut_reply.is_some());
    }
}
