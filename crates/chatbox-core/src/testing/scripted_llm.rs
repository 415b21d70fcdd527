//! A scripted [`LlmProvider`]: replies come from a queue of [`Script`]s, and every request is
//! recorded so tests can assert what the model was sent (history, system prompt).

use std::collections::VecDeque;
use std::sync::{Mutex, MutexGuard, PoisonError};

use async_trait::async_trait;
use futures::StreamExt;
use futures::channel::mpsc;
use futures::stream;

use crate::ports::llm::{
    ChatReply, ChatRequest, Chunk, ChunkStream, LlmError, LlmProvider, ProviderHealth, Role, Usage,
};

/// One scripted reply.
#[derive(Debug)]
pub enum Script {
    /// Stream these chunks, then finish with this usage.
    Reply {
        /// Text deltas, in order.
        chunks: Vec<String>,
        /// Usage reported at the end.
        usage: Usage,
    },
    /// Fail before the first chunk.
    Fail(LlmError),
    /// Stream these chunks, then fail.
    FailAfter {
        /// Text deltas sent before the failure.
        chunks: Vec<String>,
        /// The error.
        error: LlmError,
    },
    /// Stream these chunks and end without finishing (a truncated stream).
    Truncate(Vec<String>),
    /// Forward whatever the test sends on the channel (for pacing a reply by hand).
    Channel(mpsc::UnboundedReceiver<Result<Chunk, LlmError>>),
    /// Stream these chunks, then panic (a provider bug).
    PanicAfter(Vec<String>),
    /// Stream these chunks, then never yield again (a hung provider).
    Stall(Vec<String>),
}

impl Script {
    /// A reply of the given chunks with usage 1 token per chunk in and out.
    pub fn reply<S: Into<String>>(chunks: impl IntoIterator<Item = S>) -> Self {
        let chunks: Vec<String> = chunks.into_iter().map(Into::into).collect();
        let n = chunks.len() as u64;
        Self::Reply {
            chunks,
            usage: Usage {
                input_tokens: n,
                output_tokens: n,
                estimated: false,
            },
        }
    }

    /// A script paced by the returned sender.
    pub fn channel() -> (mpsc::UnboundedSender<Result<Chunk, LlmError>>, Self) {
        let (tx, rx) = mpsc::unbounded();
        (tx, Self::Channel(rx))
    }
}

/// A provider whose replies are scripted. With an empty queue it echoes the last user message
/// as `"echo: <text>"`.
#[derive(Debug)]
pub struct ScriptedLlm {
    id: String,
    name: String,
    scripts: Mutex<VecDeque<Script>>,
    requests: Mutex<Vec<ChatRequest>>,
    health: Mutex<ProviderHealth>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl ScriptedLlm {
    /// A provider with this id and display name.
    pub fn new(id: impl Into<String>, name: impl Into<String>) -> Self {
        Self {
            id: id.into(),
            name: name.into(),
            scripts: Mutex::new(VecDeque::new()),
            requests: Mutex::new(Vec::new()),
            health: Mutex::new(ProviderHealth::Ready),
        }
    }

    /// Queues the next reply.
    pub fn push(&self, script: Script) -> &Self {
        lock(&self.scripts).push_back(script);
        self
    }

    /// Every request received so far, in order.
    pub fn requests(&self) -> Vec<ChatRequest> {
        lock(&self.requests).clone()
    }

    /// Sets what `health` reports.
    pub fn set_health(&self, health: ProviderHealth) {
        *lock(&self.health) = health;
    }

    fn next_script(&self, request: &ChatRequest) -> Script {
        lock(&self.requests).push(request.clone());
        lock(&self.scripts).pop_front().unwrap_or_else(|| {
            let last = request
                .messages
                .iter()
                .rev()
                .find(|m| m.role == Role::User)
                .map_or("", |m| m.content.as_str());
            Script::reply([format!("echo: {last}")])
        })
    }
}

fn texts(chunks: Vec<String>) -> impl Iterator<Item = Result<Chunk, LlmError>> {
    chunks.into_iter().map(|c| Ok(Chunk::Text(c)))
}

#[async_trait]
impl LlmProvider for ScriptedLlm {
    fn id(&self) -> &str {
        &self.id
    }

    fn name(&self) -> &str {
        &self.name
    }

    fn stream_chat(&self, request: ChatRequest) -> ChunkStream {
        match self.next_script(&request) {
            Script::Reply { chunks, usage } => {
                stream::iter(texts(chunks).chain([Ok(Chunk::Finished(usage))])).boxed()
            }
            Script::Fail(e) => stream::iter([Err(e)]).boxed(),
            Script::FailAfter { chunks, error } => {
                stream::iter(texts(chunks).chain([Err(error)])).boxed()
            }
            Script::Truncate(chunks) => stream::iter(texts(chunks)).boxed(),
            Script::Channel(rx) => rx.boxed(),
            Script::PanicAfter(chunks) => stream::iter(texts(chunks))
                .chain(stream::poll_fn(
                    |_| -> std::task::Poll<Option<Result<Chunk, LlmError>>> {
                        panic!("scripted provider panic")
                    },
                ))
                .boxed(),
            Script::Stall(chunks) => stream::iter(texts(chunks)).chain(stream::pending()).boxed(),
        }
    }

    async fn chat(&self, request: ChatRequest) -> Result<ChatReply, LlmError> {
        let mut stream = self.stream_chat(request);
        let mut content = String::new();
        while let Some(item) = stream.next().await {
            match item? {
                Chunk::Text(t) => content.push_str(&t),
                Chunk::Finished(usage) => return Ok(ChatReply { content, usage }),
            }
        }
        Err(LlmError::Protocol("stream ended without finishing".into()))
    }

    async fn health(&self) -> ProviderHealth {
        lock(&self.health).clone()
    }
}

#[cfg(test)]
mod tests {
    use futures::executor::block_on;

    use super::*;
    use crate::ports::llm::ChatMessage;

    fn request(text: &str) -> ChatRequest {
        ChatRequest {
            system_prompt: None,
            messages: vec![
                ChatMessage::user("earlier"),
                ChatMessage::assistant("ok"),
                ChatMessage::user(text),
            ],
            conversation_key: "s1".into(),
            user_key: "u1".into(),
        }
    }

    #[test]
    fn scripts_play_in_order_then_echo() {
        let llm = ScriptedLlm::new("fake", "Fake");
        llm.push(Script::reply(["a", "b"]))
            .push(Script::Fail(LlmError::Auth));
        let items: Vec<_> = block_on(llm.stream_chat(request("one")).collect::<Vec<_>>());
        assert_eq!(items.len(), 3);
        assert!(matches!(&items[2], Ok(Chunk::Finished(u)) if u.total() == 4));
        let err = block_on(llm.chat(request("two"))).unwrap_err();
        assert!(matches!(err, LlmError::Auth));
        let echo = block_on(llm.chat(request("three"))).unwrap();
        assert_eq!(echo.content, "echo: three");
        assert_eq!(llm.requests().len(), 3);
        assert_eq!(llm.requests()[0].messages.len(), 3, "history is recorded");
    }

    #[test]
    fn truncated_stream_is_not_a_finished_reply() {
        let llm = ScriptedLlm::new("fake", "Fake");
        llm.push(Script::Truncate(vec!["half".into()]));
        assert!(matches!(
            block_on(llm.chat(request("x"))),
            Err(LlmError::Protocol(_))
        ));
        let (tx, script) = Script::channel();
        llm.push(script);
        let stream = llm.stream_chat(request("y"));
        tx.unbounded_send(Ok(Chunk::Text("paced".into()))).unwrap();
        drop(tx);
        let items: Vec<_> = block_on(stream.collect::<Vec<_>>());
        assert!(matches!(items.as_slice(), [Ok(Chunk::Text(t))] if t == "paced"));
        llm.push(Script::Stall(vec!["then nothing".into()]));
        let mut stalled = llm.stream_chat(request("z"));
        assert!(
            matches!(block_on(stalled.next()), Some(Ok(Chunk::Text(t))) if t == "then nothing")
        );
        let mut cx = std::task::Context::from_waker(futures::task::noop_waker_ref());
        assert!(
            stalled.poll_next_unpin(&mut cx).is_pending(),
            "a stalled stream never ends"
        );
        llm.push(Script::PanicAfter(vec!["a".into()]));
        let mut panicking = llm.stream_chat(request("p"));
        assert!(matches!(block_on(panicking.next()), Some(Ok(Chunk::Text(t))) if t == "a"));
        let panicked =
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| block_on(panicking.next())));
        assert!(panicked.is_err(), "the next poll panics");
        llm.set_health(ProviderHealth::NotReady("down".into()));
        assert_eq!(
            block_on(llm.health()),
            ProviderHealth::NotReady("down".into())
        );
    }
}
