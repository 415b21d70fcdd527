//! What a fake vendor answers: scripted replies with text, usage, pacing and how they end.

use std::time::Duration;

/// Input tokens reported by default scripted replies.
pub const FAKE_INPUT_TOKENS: u64 = 7;

/// Token usage a fake reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FakeUsage {
    /// Prompt tokens.
    pub input: u64,
    /// Completion tokens.
    pub output: u64,
}

/// How a streamed reply ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Ending {
    /// The vendor's normal end: usage and terminator (`[DONE]`, `message_stop`, `message_end`).
    #[default]
    Complete,
    /// The body ends cleanly (HTTP-wise) but without the vendor's terminator.
    Truncated,
    /// The connection is closed in the middle of the body (no final HTTP chunk).
    Reset,
    /// Nothing more is sent and the connection stays open until the client leaves.
    Stall,
    /// The vendor's error event (OpenAI `{"error":…}`, Anthropic `event: error` with
    /// `api_error`, Dify `event: error` status 500), then the body ends.
    ErrorEvent,
}

/// A 200 streamed reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamReply {
    /// Text deltas, in order.
    pub chunks: Vec<String>,
    /// Usage reported at the end (`None`: the vendor reports none).
    pub usage: Option<FakeUsage>,
    /// Pause after the response headers, before the first event.
    pub first_delay: Duration,
    /// Pause between two text deltas.
    pub chunk_delay: Duration,
    /// How the reply ends.
    pub ending: Ending,
}

/// A refusal: an HTTP error status with the vendor's error body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusReply {
    /// The HTTP status.
    pub status: u16,
    /// Sent as `retry-after-ms` (and `retry-after` rounded up to seconds).
    pub retry_after: Option<Duration>,
    /// Use the vendor's "overloaded" error type (Anthropic `overloaded_error`).
    pub overloaded: bool,
}

/// One scripted answer; each chat or transcription request takes the next one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    /// A 200 streamed reply (for transcription: its chunks joined as the transcript).
    Stream(StreamReply),
    /// An error status.
    Status(StatusReply),
}

impl Reply {
    /// A complete reply of these deltas, with usage `FAKE_INPUT_TOKENS` in and one token per
    /// delta out.
    pub fn text<S: Into<String>>(chunks: impl IntoIterator<Item = S>) -> Self {
        let chunks: Vec<String> = chunks.into_iter().map(Into::into).collect();
        let output = chunks.len() as u64;
        Self::Stream(StreamReply {
            chunks,
            usage: Some(FakeUsage {
                input: FAKE_INPUT_TOKENS,
                output,
            }),
            first_delay: Duration::ZERO,
            chunk_delay: Duration::ZERO,
            ending: Ending::Complete,
        })
    }

    /// An error status with the vendor's error body for it.
    pub fn status(status: u16) -> Self {
        Self::Status(StatusReply {
            status,
            retry_after: None,
            overloaded: false,
        })
    }

    /// A 429 with an optional `Retry-After`.
    pub fn rate_limited(retry_after: Option<Duration>) -> Self {
        Self::Status(StatusReply {
            status: 429,
            retry_after,
            overloaded: false,
        })
    }

    /// The vendor's "overloaded" refusal (Anthropic: 529 `overloaded_error`; others: 503).
    pub fn overloaded() -> Self {
        Self::Status(StatusReply {
            status: 503,
            retry_after: None,
            overloaded: true,
        })
    }

    /// Sets the reported usage (streamed replies only).
    pub fn usage(self, input: u64, output: u64) -> Self {
        self.map_stream(|s| s.usage = Some(FakeUsage { input, output }))
    }

    /// Reports no usage (streamed replies only).
    pub fn no_usage(self) -> Self {
        self.map_stream(|s| s.usage = None)
    }

    /// Pauses after the headers before the first event (streamed replies only).
    pub fn first_delay(self, delay: Duration) -> Self {
        self.map_stream(|s| s.first_delay = delay)
    }

    /// Pauses between deltas (streamed replies only).
    pub fn chunk_delay(self, delay: Duration) -> Self {
        self.map_stream(|s| s.chunk_delay = delay)
    }

    /// Sets how the reply ends (streamed replies only).
    pub fn ending(self, ending: Ending) -> Self {
        self.map_stream(|s| s.ending = ending)
    }

    fn map_stream(mut self, f: impl FnOnce(&mut StreamReply)) -> Self {
        if let Self::Stream(stream) = &mut self {
            f(stream);
        }
        self
    }
}
