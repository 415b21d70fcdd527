//! One LLM reply as a task: it polls the provider's stream and posts each event to the session's
//! mailbox. Cancelling its token stops it at once and drops the stream, which aborts the HTTP
//! request. A stream that ends without `Finished`, or outlives the reply timeout, is a failure.

use std::sync::Arc;
use std::time::Duration;

use chatbox_core::ports::llm::{ChatRequest, Chunk, LlmError, LlmProvider, TimeoutPhase, Usage};
use futures::StreamExt;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::actor::Command;

/// What a reply task reports.
#[derive(Debug)]
pub(crate) enum ReplyEvent {
    /// A text delta.
    Chunk(String),
    /// The reply completed.
    Finished(Usage),
    /// The reply failed.
    Failed(LlmError),
}

/// Runs a reply until it finishes, fails, times out or is cancelled.
pub(crate) async fn run(
    provider: Arc<dyn LlmProvider>,
    request: ChatRequest,
    id: u64,
    cancel: CancellationToken,
    timeout: Duration,
    mailbox: mpsc::Sender<Command>,
) {
    let mut stream = provider.stream_chat(request);
    let deadline = tokio::time::sleep(timeout);
    tokio::pin!(deadline);
    loop {
        let event = tokio::select! {
            biased;
            () = cancel.cancelled() => return,
            () = &mut deadline => ReplyEvent::Failed(LlmError::Timeout { phase: TimeoutPhase::Total }),
            item = stream.next() => match item {
                Some(Ok(Chunk::Text(text))) if text.is_empty() => continue,
                Some(Ok(Chunk::Text(text))) => ReplyEvent::Chunk(text),
                Some(Ok(Chunk::Finished(usage))) => ReplyEvent::Finished(usage),
                Some(Err(e)) => ReplyEvent::Failed(e),
                None => ReplyEvent::Failed(LlmError::Protocol("stream ended without finishing".into())),
            },
        };
        let last = !matches!(event, ReplyEvent::Chunk(_));
        if mailbox.send(Command::Reply { id, event }).await.is_err() || last {
            return;
        }
    }
}
