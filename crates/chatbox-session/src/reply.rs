//! One LLM reply as a task: it polls the provider's stream and posts each event to the session's
//! mailbox. Guarantees:
//!
//! - Cancelling its token stops it at once and drops the stream, which aborts the HTTP request.
//! - A stream that ends without `Finished` is a failure.
//! - The task always ends its reply: a drop guard posts `Failed` when the task stops without a
//!   final event (a panicking provider, a runtime shutting down), so a session is never left
//!   waiting for a reply that will not come. A reply that never yields at all is the session's
//!   to end: the session task, not this one, owns the reply deadline.

use std::sync::Arc;

use chatbox_core::ports::llm::{ChatRequest, Chunk, LlmError, LlmProvider, Usage};
use futures::StreamExt;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::task::Command;

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

/// Posts `Failed` for reply `id` unless disarmed: the task's last word when it did not get to
/// say one.
struct EndGuard {
    id: u64,
    mailbox: mpsc::Sender<Command>,
    armed: bool,
}

impl Drop for EndGuard {
    fn drop(&mut self) {
        if !self.armed {
            return;
        }
        let event = || Command::Reply {
            id: self.id,
            event: ReplyEvent::Failed(LlmError::Protocol("the reply stopped unexpectedly".into())),
        };
        match self.mailbox.try_send(event()) {
            Ok(()) | Err(mpsc::error::TrySendError::Closed(_)) => {}
            Err(mpsc::error::TrySendError::Full(cmd)) => {
                // The session is busy; deliver later rather than lose the reply's end. (If the
                // runtime is gone, so is the session, and the session deadline covers the rest.)
                if let Ok(handle) = tokio::runtime::Handle::try_current() {
                    let mailbox = self.mailbox.clone();
                    handle.spawn(async move {
                        let _ = mailbox.send(cmd).await;
                    });
                }
            }
        }
    }
}

/// Runs a reply until it finishes, fails or is cancelled.
pub(crate) async fn run(
    provider: Arc<dyn LlmProvider>,
    request: ChatRequest,
    id: u64,
    cancel: CancellationToken,
    mailbox: mpsc::Sender<Command>,
) {
    let mut guard = EndGuard {
        id,
        mailbox: mailbox.clone(),
        armed: true,
    };
    crate::metrics::llm_request(provider.as_ref());
    let started = std::time::Instant::now();
    let mut first = true;
    let mut stream = provider.stream_chat(request);
    loop {
        let event = tokio::select! {
            biased;
            () = cancel.cancelled() => {
                guard.armed = false;
                return;
            }
            item = stream.next() => match item {
                Some(Ok(Chunk::Text(text))) if text.is_empty() => continue,
                Some(Ok(Chunk::Text(text))) => ReplyEvent::Chunk(text),
                Some(Ok(Chunk::Finished(usage))) => ReplyEvent::Finished(usage),
                Some(Err(e)) => ReplyEvent::Failed(e),
                None => ReplyEvent::Failed(LlmError::Protocol("stream ended without finishing".into())),
            },
        };
        match &event {
            ReplyEvent::Chunk(_) if first => {
                first = false;
                crate::metrics::llm_first_token(provider.as_ref(), started.elapsed());
            }
            ReplyEvent::Chunk(_) => {}
            ReplyEvent::Finished(usage) => {
                crate::metrics::tokens_used(provider.as_ref(), usage.total())
            }
            ReplyEvent::Failed(_) => crate::metrics::llm_error(provider.as_ref()),
        }
        let last = !matches!(event, ReplyEvent::Chunk(_));
        if last {
            guard.armed = false;
        }
        if mailbox.send(Command::Reply { id, event }).await.is_err() {
            guard.armed = false;
            return;
        }
        if last {
            return;
        }
    }
}
