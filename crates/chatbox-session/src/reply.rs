//! One LLM reply as a stream the session task polls itself, beside its mailbox: a chunk goes
//! from the provider's stream to the session's connections without a task hop in between.
//! Guarantees:
//!
//! - Cancelling its token makes the session task drop the stream before polling it again, which
//!   aborts the HTTP request; a cancelled reply yields nothing more.
//! - A stream that ends without `Finished` is a failure.
//! - A provider that panics while polled fails the reply (`catch_unwind`); the panic never
//!   reaches the session task. A reply that never yields at all is the session's to end: the
//!   session task owns the reply deadline.
//! - An image attached to the turn is read lazily as the stream's first step, so the session
//!   stays responsive while it is read and a cancelled reply stops reading it.

use std::panic::AssertUnwindSafe;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Instant;

use chatbox_core::ports::llm::{ChatRequest, Chunk, LlmError, LlmProvider, Role, Usage};
use chatbox_core::protocol::ChunkFrames;
use futures::StreamExt;
use futures::stream::BoxStream;
use tokio_util::sync::CancellationToken;

use crate::files::ImageSource;

/// What a reply yields.
#[derive(Debug)]
pub(crate) enum ReplyEvent {
    /// A text delta.
    Chunk(String),
    /// The reply completed.
    Finished(Usage),
    /// The reply failed.
    Failed(LlmError),
}

impl ReplyEvent {
    /// True for the reply's last event.
    pub(crate) fn is_last(&self) -> bool {
        !matches!(self, Self::Chunk(_))
    }
}

/// A reply in flight, polled by its session task.
pub(crate) struct Reply {
    /// The state machine's id for this reply.
    pub(crate) id: u64,
    /// Cancelled when the state machine ends the reply early.
    pub(crate) cancel: CancellationToken,
    /// The template of this reply's chunk frames.
    pub(crate) frames: Arc<ChunkFrames>,
    provider: Arc<dyn LlmProvider>,
    /// In a mutex only so that the session task stays `Sync` (it is never locked: the task
    /// reaches it through `&mut`, with `get_mut`).
    stream: Mutex<BoxStream<'static, std::thread::Result<Result<Chunk, LlmError>>>>,
    started: Instant,
    first: bool,
}

impl std::fmt::Debug for Reply {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reply")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

impl Reply {
    /// Starts reply `id`: the provider's request is sent when the stream is first polled.
    pub(crate) fn start(
        provider: Arc<dyn LlmProvider>,
        mut request: ChatRequest,
        image: Option<ImageSource>,
        id: u64,
        cancel: CancellationToken,
        frames: Arc<ChunkFrames>,
    ) -> Self {
        crate::metrics::llm_request(provider.as_ref());
        let stream = match image {
            None => provider.stream_chat(request),
            Some(image) => {
                let provider = Arc::clone(&provider);
                futures::stream::once(async move {
                    if let Some(part) = image.fetch().await
                        && let Some(turn) = request.messages.last_mut()
                        && turn.role == Role::User
                    {
                        turn.images.push(part);
                    }
                    provider.stream_chat(request)
                })
                .flatten()
                .boxed()
            }
        };
        Self {
            id,
            cancel,
            frames,
            provider,
            stream: Mutex::new(AssertUnwindSafe(stream).catch_unwind().boxed()),
            started: Instant::now(),
            first: true,
        }
    }

    /// The reply's next event. Cancel-safe: dropping the future loses nothing.
    pub(crate) async fn next(&mut self) -> ReplyEvent {
        // A stream that is always ready (a burst, or a provider not on tokio's I/O) must not
        // starve the connections' writers on this thread: take part in tokio's budget.
        tokio::task::consume_budget().await;
        let stream = self
            .stream
            .get_mut()
            .unwrap_or_else(PoisonError::into_inner);
        let event = loop {
            break match stream.next().await {
                Some(Ok(Ok(Chunk::Text(text)))) if text.is_empty() => continue,
                Some(Ok(Ok(Chunk::Text(text)))) => ReplyEvent::Chunk(text),
                Some(Ok(Ok(Chunk::Finished(usage)))) => ReplyEvent::Finished(usage),
                Some(Ok(Err(e))) => ReplyEvent::Failed(e),
                Some(Err(_panic)) => {
                    ReplyEvent::Failed(LlmError::Protocol("the reply stopped unexpectedly".into()))
                }
                None => {
                    ReplyEvent::Failed(LlmError::Protocol("stream ended without finishing".into()))
                }
            };
        };
        let provider = self.provider.as_ref();
        match &event {
            ReplyEvent::Chunk(_) if self.first => {
                self.first = false;
                crate::metrics::llm_first_token(provider, self.started.elapsed());
            }
            ReplyEvent::Chunk(_) => {}
            ReplyEvent::Finished(usage) => crate::metrics::tokens_used(provider, usage.total()),
            ReplyEvent::Failed(_) => crate::metrics::llm_error(provider),
        }
        event
    }
}
