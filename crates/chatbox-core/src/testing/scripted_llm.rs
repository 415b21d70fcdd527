//! A scripted [`LlmProvider`]: replies come from a queue of [`Script`]s, transcripts from a
//! queue of their own, and every request and every audio input is recorded so tests can assert
//! what the model was sent (history, system prompt, images, audio).

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};

use async_trait::async_trait;
use futures::StreamExt;
use futures::channel::{mpsc, oneshot};
use futures::stream;

use crate::ports::llm::{
    AudioInput, ChatReply, ChatRequest, Chunk, ChunkStream, LlmError, LlmProvider, ProviderHealth,
    Role, Usage,
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

/// One scripted transcription.
#[derive(Debug)]
enum Transcript {
    /// Answer at once.
    Ready(Result<String, LlmError>),
    /// Answer with whatever the test sends (a dropped sender is a failure).
    Paced(oneshot::Receiver<Result<String, LlmError>>),
}

/// A provider whose replies are scripted. With an empty queue it echoes the last user message
/// as `"echo: <text>"`; with no scripted transcript, `transcribe` is `Unsupported`.
#[derive(Debug)]
pub struct ScriptedLlm {
    id: String,
    name: String,
    scripts: Mutex<VecDeque<Script>>,
    requests: Mutex<Vec<ChatRequest>>,
    transcripts: Mutex<VecDeque<Transcript>>,
    audio: Mutex<Vec<AudioInput>>,
    vision: AtomicBool,
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
            transcripts: Mutex::new(VecDeque::new()),
            audio: Mutex::new(Vec::new()),
            vision: AtomicBool::new(false),
            health: Mutex::new(ProviderHealth::Ready),
        }
    }

    /// Makes the provider take images (`supports_images`), or not.
    pub fn set_vision(&self, on: bool) -> &Self {
        self.vision.store(on, Ordering::SeqCst);
        self
    }

    /// Queues the result of the next `transcribe`.
    pub fn push_transcript(&self, result: Result<String, LlmError>) -> &Self {
        lock(&self.transcripts).push_back(Transcript::Ready(result));
        self
    }

    /// Queues a transcription answered by the returned sender (dropping it fails the call).
    pub fn pace_transcript(&self) -> oneshot::Sender<Result<String, LlmError>> {
        let (tx, rx) = oneshot::channel();
        lock(&self.transcripts).push_back(Transcript::Paced(rx));
        tx
    }

    /// Every audio input `transcribe` received so far, in order.
    pub fn audio_inputs(&self) -> Vec<AudioInput> {
        lock(&self.audio).clone()
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

    fn supports_images(&self) -> bool {
        self.vision.load(Ordering::SeqCst)
    }

    async fn transcribe(&self, audio: AudioInput) -> Result<String, LlmError> {
        lock(&self.audio).push(audio);
        let next = lock(&self.transcripts).pop_front();
        match next {
            None => Err(LlmError::Unsupported),
            Some(Transcript::Ready(result)) => result,
            Some(Transcript::Paced(rx)) => rx.await.unwrap_or_else(|_| {
                Err(LlmError::Protocol(
                    "the paced transcript was dropped".into(),
                ))
            }),
        }
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

    fn audio() -> AudioInput {
        AudioInput {
            bytes: bytes::Bytes::from_static(b"OggS"),
            file_name: "note.ogg".into(),
            mime_type: "audio/ogg".into(),
        }
    }

    #[test]
    fn transcripts_play_in_order_and_audio_is_recorded() {
        let llm = ScriptedLlm::new("whisper", "Whisper");
        assert!(matches!(
            block_on(llm.transcribe(audio())),
            Err(LlmError::Unsupported)
        ));
        llm.push_transcript(Ok("hello".into()))
            .push_transcript(Err(LlmError::Auth));
        let paced = llm.pace_transcript();
        assert_eq!(block_on(llm.transcribe(audio())).unwrap(), "hello");
        assert!(matches!(
            block_on(llm.transcribe(audio())),
            Err(LlmError::Auth)
        ));
        paced.send(Ok("later".into())).unwrap();
        assert_eq!(block_on(llm.transcribe(audio())).unwrap(), "later");
        drop(llm.pace_transcript());
        assert!(matches!(
            block_on(llm.transcribe(audio())),
            Err(LlmError::Protocol(_))
        ));
        assert_eq!(llm.audio_inputs().len(), 5);
        assert_eq!(llm.audio_inputs()[0].file_name, "note.ogg");
    }

    #[test]
    fn vision_is_off_until_set_and_images_are_recorded_without_their_bytes_in_debug() {
        let llm = ScriptedLlm::new("gpt", "GPT");
        assert!(!llm.supports_images());
        llm.set_vision(true);
        assert!(llm.supports_images());
        let image = crate::ports::llm::ImagePart {
            mime_type: "image/png".into(),
            data: bytes::Bytes::from_static(b"\x89PNG secret pixels"),
        };
        let mut req = request("look");
        req.messages = vec![ChatMessage::user("look").with_image(image.clone())];
        let _ = block_on(llm.chat(req));
        assert_eq!(llm.requests()[0].messages[0].images, [image]);
        let debug = format!("{:?}", llm.requests()[0]);
        assert!(
            debug.contains("bytes: 18") && !debug.contains("secret"),
            "{debug}"
        );
    }
}
