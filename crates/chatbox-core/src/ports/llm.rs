//! The [`LlmProvider`] port: a streaming chat completion over the whole conversation.
//!
//! A reply is a [`ChunkStream`]: zero or more [`Chunk::Text`] deltas, then exactly one
//! [`Chunk::Finished`] carrying token usage. A stream that ends without `Finished`, or yields an
//! `Err`, did not complete: the engine reports it as an error, never as a normal finish. The
//! stream is lazy (nothing is sent until it is polled) and dropping it aborts the request.
//!
//! A user turn may carry images ([`ImagePart`], the bytes themselves, never a URL). Only
//! providers whose [`LlmProvider::supports_images`] is true send them; the engine always
//! describes a file in the turn's text as well, so a provider that cannot send an image loses
//! nothing but the picture.

use std::time::Duration;

use async_trait::async_trait;
use futures::stream::BoxStream;

use super::BoxError;
use crate::protocol::ErrorCode;

/// Who said a turn of the conversation, as the LLM sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// The end user (or an assisting admin, whose words the model also sees as the human side).
    User,
    /// The model's earlier replies.
    Assistant,
}

/// An image sent with a user turn: its bytes, read by the server from the blob store.
#[derive(Clone, PartialEq, Eq)]
pub struct ImagePart {
    /// The sniffed MIME type (`image/jpeg`, `image/png`, `image/gif`, `image/webp`).
    pub mime_type: String,
    /// The image file's bytes.
    pub data: bytes::Bytes,
}

impl std::fmt::Debug for ImagePart {
    // The bytes are left out: a request may be logged, and megabytes of image are no use there.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ImagePart")
            .field("mime_type", &self.mime_type)
            .field("bytes", &self.data.len())
            .finish()
    }
}

/// One turn of the conversation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChatMessage {
    /// Who said it.
    pub role: Role,
    /// What was said.
    pub content: String,
    /// Images sent with this turn (user turns only; empty for most turns). Providers that do
    /// not take images ignore them.
    pub images: Vec<ImagePart>,
}

impl ChatMessage {
    /// A user turn.
    pub fn user(content: impl Into<String>) -> Self {
        Self {
            role: Role::User,
            content: content.into(),
            images: Vec::new(),
        }
    }

    /// An assistant turn.
    pub fn assistant(content: impl Into<String>) -> Self {
        Self {
            role: Role::Assistant,
            content: content.into(),
            images: Vec::new(),
        }
    }

    /// This turn with `image` attached.
    #[must_use]
    pub fn with_image(mut self, image: ImagePart) -> Self {
        self.images.push(image);
        self
    }
}

/// A chat request: the bounded history ending with the user's latest turn.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChatRequest {
    /// Instructions sent the vendor's way (`system` role / field), if configured.
    pub system_prompt: Option<String>,
    /// The conversation, oldest first; the last entry is the message to answer.
    pub messages: Vec<ChatMessage>,
    /// A stable key for the conversation (the session id), for vendors that keep state per
    /// conversation (Dify's `conversation_id`).
    pub conversation_key: String,
    /// A stable, non-secret key for the end user (vendors use it for abuse tracking).
    pub user_key: String,
}

/// Token usage of one reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Usage {
    /// Prompt tokens.
    pub input_tokens: u64,
    /// Completion tokens.
    pub output_tokens: u64,
    /// True when the vendor reported no usage and these are estimates.
    pub estimated: bool,
}

impl Usage {
    /// Input plus output.
    pub fn total(&self) -> u64 {
        self.input_tokens.saturating_add(self.output_tokens)
    }
}

/// One item of a streamed reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Chunk {
    /// A text delta, in order.
    Text(String),
    /// The reply completed normally; always the last item.
    Finished(Usage),
}

/// A streamed reply.
pub type ChunkStream = BoxStream<'static, Result<Chunk, LlmError>>;

/// A complete (non-streamed) reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChatReply {
    /// The text.
    pub content: String,
    /// Its usage.
    pub usage: Usage,
}

/// Which deadline ran out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimeoutPhase {
    /// Connecting to the vendor.
    Connect,
    /// Waiting for the first token.
    FirstToken,
    /// Waiting between two chunks.
    Idle,
    /// The whole reply.
    Total,
}

/// Why a provider call failed. Classified from status codes and vendor error bodies, never from
/// error text.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LlmError {
    /// The API key was refused (401/403).
    #[error("provider rejected the credentials")]
    Auth,
    /// The vendor rate-limited us (429).
    #[error("provider rate limit")]
    RateLimited {
        /// The vendor's `Retry-After`, when given.
        retry_after: Option<Duration>,
    },
    /// The vendor is overloaded or failing (5xx, Anthropic `overloaded_error`).
    #[error("provider overloaded or failing (status {status})")]
    Overloaded {
        /// The HTTP status (529 for Anthropic's overloaded).
        status: u16,
    },
    /// The vendor refused the request as malformed (400/404/422); retrying will not help.
    #[error("provider refused the request: {message}")]
    BadRequest {
        /// The vendor's message, for logs.
        message: String,
    },
    /// A deadline ran out.
    #[error("provider timed out ({phase:?})")]
    Timeout {
        /// Which deadline.
        phase: TimeoutPhase,
    },
    /// The connection failed or broke.
    #[error("network error talking to provider")]
    Network(#[source] BoxError),
    /// The vendor answered something we could not understand, sent an error event mid-stream,
    /// or ended the stream without its terminator.
    #[error("provider protocol error: {0}")]
    Protocol(String),
    /// The provider does not support this operation (e.g. transcription).
    #[error("operation not supported by this provider")]
    Unsupported,
}

impl LlmError {
    /// The contract code the client sees.
    pub fn code(&self) -> ErrorCode {
        match self {
            Self::Timeout { .. } => ErrorCode::LlmTimeout,
            Self::Auth
            | Self::RateLimited { .. }
            | Self::Overloaded { .. }
            | Self::Network(_)
            | Self::Unsupported => ErrorCode::LlmUnavailable,
            Self::BadRequest { .. } | Self::Protocol(_) => ErrorCode::LlmError,
        }
    }

    /// True when the same request may succeed if retried (before any token was streamed).
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            Self::RateLimited { .. }
                | Self::Overloaded { .. }
                | Self::Network(_)
                | Self::Timeout {
                    phase: TimeoutPhase::Connect | TimeoutPhase::FirstToken
                }
        )
    }
}

/// The provider's state for readiness probes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProviderHealth {
    /// Reachable (or not yet known to be broken).
    Ready,
    /// Not usable, with a reason safe to show in `readyz`.
    NotReady(String),
}

/// Audio to transcribe.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AudioInput {
    /// The bytes.
    pub bytes: bytes::Bytes,
    /// A file name with extension (vendors sniff the format from it).
    pub file_name: String,
    /// The MIME type.
    pub mime_type: String,
}

/// An LLM backend.
#[async_trait]
pub trait LlmProvider: Send + Sync + 'static {
    /// The configured provider id (what `model_select` names).
    fn id(&self) -> &str;

    /// The display name.
    fn name(&self) -> &str;

    /// The vendor protocol (`openai`, `anthropic`, `dify`), for metrics labels.
    fn kind(&self) -> &str {
        "other"
    }

    /// The vendor's model name, for metrics labels (empty when the vendor picks it).
    fn model(&self) -> &str {
        ""
    }

    /// Streams a reply (lazy; see the module docs).
    fn stream_chat(&self, request: ChatRequest) -> ChunkStream;

    /// A complete reply, without streaming.
    async fn chat(&self, request: ChatRequest) -> Result<ChatReply, LlmError>;

    /// Cheap, cached readiness; never a paid call per probe.
    async fn health(&self) -> ProviderHealth;

    /// Whether this provider sends [`ChatMessage::images`] to its model (a vision model);
    /// when false, images are ignored.
    fn supports_images(&self) -> bool {
        false
    }

    /// Transcribes audio; providers without a transcription endpoint return `Unsupported`.
    async fn transcribe(&self, audio: AudioInput) -> Result<String, LlmError> {
        let _ = audio;
        Err(LlmError::Unsupported)
    }
}
