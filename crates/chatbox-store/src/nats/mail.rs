//! Mail and announcements over core NATS (no JetStream: nothing here outlives its receiver).
//!
//! Mail to replica `r` is a request on `<prefix>.mail.<token(r)>`. The replica's mail stream is
//! a queue subscription (so one stream gets each message) drained by a task that queues each
//! message for the stream's reader, up to [`MAIL_BUFFER`] untaken, and then answers the request
//! with an empty reply. Announcements are plain messages on `<prefix>.announce`.
//!
//! Guarantees:
//! - **Delivery or a clear failure.** A send returns once the recipient queued the message;
//!   NATS's "no responders" (nobody subscribed to the subject) is
//!   [`BrokerError::NoRecipient`] at once; no answer within the deadline is `Unavailable`.
//! - **Order.** One sender's mail arrives in send order (each send waits for the previous one's
//!   answer).
//! - **From the moment it returns.** `mail` and `announcements` return only after a round trip
//!   to the server on the same connection, which the server handles after the subscription:
//!   anything sent after they return reaches them.
//! - A receiver stops receiving when its stream is dropped: its task ends and the subscription
//!   with it.

use async_nats::RequestErrorKind;
use async_nats::client::PublishErrorKind;
use bytes::Bytes;
use chatbox_core::BrokerError;
use chatbox_core::ports::broker::MessageStream;
use futures::StreamExt;
use tokio::sync::mpsc;

use super::NatsBroker;
use super::classify::failure;

/// The queue group of a replica's mail subscriptions.
const MAIL_QUEUE: &str = "mail";
/// Mail a receiver may leave untaken before senders wait (and time out).
const MAIL_BUFFER: usize = 4096;

impl NatsBroker {
    pub(super) async fn send_mail(&self, to: &str, message: Bytes) -> Result<(), BrokerError> {
        match self
            .client
            .request(self.names.mail_subject(to), message)
            .await
        {
            Ok(_) => Ok(()),
            Err(e) => match e.kind() {
                RequestErrorKind::NoResponders => Err(BrokerError::NoRecipient(to.to_owned())),
                RequestErrorKind::TimedOut | RequestErrorKind::Other => {
                    Err(BrokerError::Unavailable(Box::new(e)))
                }
                RequestErrorKind::InvalidSubject | RequestErrorKind::MaxPayloadExceeded => {
                    Err(BrokerError::Backend(Box::new(e)))
                }
            },
        }
    }

    pub(super) async fn mail_stream(&self) -> Result<MessageStream, BrokerError> {
        let subject = self.names.mail_subject(&self.replica);
        let mut subscriber = self
            .client
            .queue_subscribe(subject, MAIL_QUEUE.to_owned())
            .await
            .map_err(|e| failure(&self.client, e, false))?;
        self.barrier().await?;
        let (tx, rx) = mpsc::channel(MAIL_BUFFER);
        let client = self.client.clone();
        tokio::spawn(async move {
            loop {
                let message = tokio::select! {
                    () = tx.closed() => break,
                    message = subscriber.next() => match message {
                        Some(message) => message,
                        None => break,
                    },
                };
                // Taken once queued: answer, so the sender moves on.
                if tx.send(message.payload).await.is_err() {
                    break;
                }
                if let Some(reply) = message.reply {
                    // A lost answer only makes the sender give up; the message is here.
                    let _ = client.publish(reply, Bytes::new()).await;
                }
            }
        });
        let mail = futures::stream::unfold(rx, |mut rx| async move {
            rx.recv().await.map(|payload| (payload, rx))
        });
        Ok(mail.boxed())
    }

    pub(super) async fn announce_all(&self, message: Bytes) -> Result<(), BrokerError> {
        self.client
            .publish(self.names.announce_subject(), message)
            .await
            .map_err(|e| {
                let transient = e.kind() == PublishErrorKind::Send;
                failure(&self.client, e, transient)
            })?;
        self.client
            .flush()
            .await
            .map_err(|e| BrokerError::Unavailable(Box::new(e)))
    }

    pub(super) async fn announcement_stream(&self) -> Result<MessageStream, BrokerError> {
        let subscriber = self
            .client
            .subscribe(self.names.announce_subject())
            .await
            .map_err(|e| failure(&self.client, e, false))?;
        self.barrier().await?;
        Ok(subscriber.map(|message| message.payload).boxed())
    }

    /// Returns once the server handled everything this connection sent before: a request to a
    /// subject nobody listens on, answered by the server itself with "no responders".
    async fn barrier(&self) -> Result<(), BrokerError> {
        match self
            .client
            .request(self.client.new_inbox(), Bytes::new())
            .await
        {
            Ok(_) => Ok(()),
            Err(e) if e.kind() == RequestErrorKind::NoResponders => Ok(()),
            Err(e) => Err(BrokerError::Unavailable(Box::new(e))),
        }
    }
}
