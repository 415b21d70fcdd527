//! LLM providers for Chatbox: OpenAI-compatible, Anthropic and Dify clients implementing
//! chatbox-core's [`LlmProvider`](chatbox_core::LlmProvider) over one pooled HTTP client.
//!
//! Every provider streams the bounded conversation (plus the system prompt) and yields text
//! deltas then exactly one `Finished` with the vendor's token usage (or a marked estimate). One
//! SSE parser serves all vendors with no length cap that could truncate a reply; a stream that
//! ends without the vendor's terminator or carries an error event is an error. Failures are
//! typed from status codes and vendor error bodies, retried with jittered backoff only before
//! the first token, bounded by first-token, idle and total deadlines, and dropping a stream
//! aborts its request. With the `test-support` feature, [`fake`] serves each vendor's wire
//! format on 127.0.0.1 for the tests of every crate.

mod anthropic;
mod backoff;
mod classify;
pub mod config;
mod dify;
mod error;
mod history;
mod openai;
mod provider;
pub mod sse;
mod stream;
mod wire;

#[cfg(feature = "test-support")]
pub mod fake;

pub use config::{
    ClientConfig, HistoryConfig, LlmConfig, ProviderConfig, ProviderKind, RetryConfig,
    TimeoutConfig,
};
pub use error::{ConfigError, FieldProblem};
pub use provider::{build_client, build_provider, build_providers};
