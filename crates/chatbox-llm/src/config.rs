//! Provider configuration: what chatbox-server deserializes and hands to [`crate::build_provider`].
//!
//! Every struct denies unknown fields and has a `Default`; durations are integer milliseconds
//! named `*_ms`. [`ProviderConfig::validate`] checks the fields (endpoint scheme and host rules
//! included) and reports every problem at once, each naming its field. The API key never appears
//! in `Debug` output.

use std::fmt;
use std::net::IpAddr;
use std::time::Duration;

use serde::Deserialize;

use crate::error::ConfigError;

/// Which wire protocol a provider speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ProviderKind {
    /// OpenAI `chat/completions` (also Azure OpenAI, Ollama, vLLM, llama.cpp and other
    /// compatible servers).
    #[default]
    Openai,
    /// Anthropic Messages API.
    Anthropic,
    /// Dify chat apps (`chat-messages`).
    Dify,
}

impl ProviderKind {
    /// The lowercase name used in configuration and metrics labels.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Openai => "openai",
            Self::Anthropic => "anthropic",
            Self::Dify => "dify",
        }
    }
}

/// Default time to connect, in milliseconds.
pub const DEFAULT_CONNECT_MS: u64 = 10_000;
/// Default time from sending the request to the first text token, in milliseconds.
pub const DEFAULT_FIRST_TOKEN_MS: u64 = 60_000;
/// Default longest silence between two reads of a streaming reply, in milliseconds.
pub const DEFAULT_IDLE_MS: u64 = 30_000;
/// Default bound on a whole reply including retries, in milliseconds (the Go service's 2 min).
pub const DEFAULT_TOTAL_MS: u64 = 120_000;

/// Deadlines of one reply. (The connect timeout belongs to the shared client: see
/// [`ClientConfig::connect_ms`]; a provider reports its expiry as a `Connect` timeout.)
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TimeoutConfig {
    /// Time from sending the request until the first text token, in milliseconds. Covers the
    /// response headers, so a vendor that never answers is caught here.
    pub first_token_ms: u64,
    /// Longest gap between two reads of the reply body once it streams, in milliseconds.
    pub idle_ms: u64,
    /// Bound on the whole reply, retries included, in milliseconds.
    pub total_ms: u64,
}

impl Default for TimeoutConfig {
    fn default() -> Self {
        Self {
            first_token_ms: DEFAULT_FIRST_TOKEN_MS,
            idle_ms: DEFAULT_IDLE_MS,
            total_ms: DEFAULT_TOTAL_MS,
        }
    }
}

impl TimeoutConfig {
    pub(crate) fn first_token(&self) -> Duration {
        Duration::from_millis(self.first_token_ms)
    }
    pub(crate) fn idle(&self) -> Duration {
        Duration::from_millis(self.idle_ms)
    }
    pub(crate) fn total(&self) -> Duration {
        Duration::from_millis(self.total_ms)
    }
}

/// Default number of attempts (first try included).
pub const DEFAULT_ATTEMPTS: u32 = 3;
/// Default first backoff delay, in milliseconds.
pub const DEFAULT_BACKOFF_BASE_MS: u64 = 250;
/// Default longest backoff delay, in milliseconds.
pub const DEFAULT_BACKOFF_CAP_MS: u64 = 5_000;

/// Retries of a request that failed before its first token (never after).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RetryConfig {
    /// Attempts in all, the first included (count; 1 disables retries).
    pub attempts: u32,
    /// Delay before the first retry, doubled after each, in milliseconds (jittered).
    pub base_ms: u64,
    /// Longest delay between attempts, in milliseconds; a `Retry-After` longer than this is not
    /// waited for (the error is returned instead).
    pub cap_ms: u64,
}

impl Default for RetryConfig {
    fn default() -> Self {
        Self {
            attempts: DEFAULT_ATTEMPTS,
            base_ms: DEFAULT_BACKOFF_BASE_MS,
            cap_ms: DEFAULT_BACKOFF_CAP_MS,
        }
    }
}

/// Default number of conversation turns sent (the latest message included).
pub const DEFAULT_MAX_TURNS: usize = 20;
/// Default bound on the characters of history sent.
pub const DEFAULT_MAX_CHARS: usize = 24_000;

/// How much of the conversation is sent with each request.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HistoryConfig {
    /// Most turns sent, the latest user message included (count).
    pub max_turns: usize,
    /// Most characters of turn content sent (Unicode scalar values); the latest message is
    /// always sent whole, older turns are dropped oldest first.
    pub max_chars: usize,
}

impl Default for HistoryConfig {
    fn default() -> Self {
        Self {
            max_turns: DEFAULT_MAX_TURNS,
            max_chars: DEFAULT_MAX_CHARS,
        }
    }
}

/// Default `max_tokens` asked of the model (Anthropic requires one; the Go service sent 4096).
pub const DEFAULT_MAX_OUTPUT_TOKENS: u32 = 4096;
/// Default time a health probe result is reused, in milliseconds.
pub const DEFAULT_HEALTH_TTL_MS: u64 = 30_000;

/// One configured LLM provider.
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ProviderConfig {
    /// The id clients select with `model_select` (non-empty text).
    pub id: String,
    /// The display name (text).
    pub name: String,
    /// The wire protocol.
    pub kind: ProviderKind,
    /// Base URL the vendor paths are appended to, e.g. `https://api.openai.com/v1` (URL; https,
    /// or http only for loopback, private and in-cluster hosts; a query string such as Azure's
    /// `?api-version=` is kept).
    pub endpoint: String,
    /// The vendor API key (secret text; may be empty only for `openai` servers without auth).
    pub api_key: String,
    /// Header carrying the raw key instead of `Authorization: Bearer` (header name; Azure OpenAI
    /// uses `api-key`). OpenAI kind only.
    pub api_key_header: Option<String>,
    /// The vendor's model name (text; ignored by Dify, whose app fixes the model).
    pub model: String,
    /// Most tokens the model may produce per reply (tokens).
    pub max_output_tokens: u32,
    /// Whether to ask OpenAI-compatible servers for usage in the stream
    /// (`stream_options.include_usage`); turn off for servers that reject it (flag).
    pub stream_usage: bool,
    /// Model for `audio/transcriptions`, e.g. `whisper-1` (text; none disables transcription).
    /// OpenAI kind only.
    pub transcription_model: Option<String>,
    /// Whether the model takes images (flag): images users send are then included in the
    /// request as base64 data, not only described in text. OpenAI and Anthropic kinds only.
    pub vision: bool,
    /// How long a health probe result is reused, in milliseconds.
    pub health_ttl_ms: u64,
    /// Deadlines.
    pub timeouts: TimeoutConfig,
    /// Retries before the first token.
    pub retry: RetryConfig,
    /// How much history is sent.
    pub history: HistoryConfig,
}

impl Default for ProviderConfig {
    fn default() -> Self {
        Self {
            id: String::new(),
            name: String::new(),
            kind: ProviderKind::default(),
            endpoint: String::new(),
            api_key: String::new(),
            api_key_header: None,
            model: String::new(),
            max_output_tokens: DEFAULT_MAX_OUTPUT_TOKENS,
            stream_usage: true,
            transcription_model: None,
            vision: false,
            health_ttl_ms: DEFAULT_HEALTH_TTL_MS,
            timeouts: TimeoutConfig::default(),
            retry: RetryConfig::default(),
            history: HistoryConfig::default(),
        }
    }
}

impl fmt::Debug for ProviderConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ProviderConfig")
            .field("id", &self.id)
            .field("name", &self.name)
            .field("kind", &self.kind)
            .field("endpoint", &self.endpoint)
            .field(
                "api_key",
                &if self.api_key.is_empty() {
                    ""
                } else {
                    "<redacted>"
                },
            )
            .field("api_key_header", &self.api_key_header)
            .field("model", &self.model)
            .field("max_output_tokens", &self.max_output_tokens)
            .field("stream_usage", &self.stream_usage)
            .field("transcription_model", &self.transcription_model)
            .field("vision", &self.vision)
            .field("health_ttl_ms", &self.health_ttl_ms)
            .field("timeouts", &self.timeouts)
            .field("retry", &self.retry)
            .field("history", &self.history)
            .finish()
    }
}

/// Everything chatbox-llm needs: the shared client's settings and the providers.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LlmConfig {
    /// The HTTP client shared by all providers.
    pub client: ClientConfig,
    /// The providers, in the order clients list them (the first is the default).
    pub providers: Vec<ProviderConfig>,
}

/// Default most idle pooled connections kept per vendor host.
pub const DEFAULT_POOL_MAX_IDLE_PER_HOST: usize = 32;
/// Default time an idle pooled connection is kept, in milliseconds.
pub const DEFAULT_POOL_IDLE_MS: u64 = 90_000;

/// Settings of the HTTP client shared by all providers.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ClientConfig {
    /// Time to establish a TCP/TLS connection, in milliseconds (0: no connect timeout).
    pub connect_ms: u64,
    /// Idle pooled connections kept per host (count).
    pub pool_max_idle_per_host: usize,
    /// Time an idle pooled connection is kept, in milliseconds.
    pub pool_idle_ms: u64,
}

impl Default for ClientConfig {
    fn default() -> Self {
        Self {
            connect_ms: DEFAULT_CONNECT_MS,
            pool_max_idle_per_host: DEFAULT_POOL_MAX_IDLE_PER_HOST,
            pool_idle_ms: DEFAULT_POOL_IDLE_MS,
        }
    }
}

impl ProviderConfig {
    /// Checks every field, returning all problems at once.
    pub fn validate(&self) -> Result<reqwest::Url, ConfigError> {
        let mut problems = Vec::new();
        let mut bad = |field: &'static str, reason: String| {
            problems.push(crate::error::FieldProblem { field, reason });
        };
        if self.id.trim().is_empty() {
            bad("id", "must not be empty".into());
        }
        if self.name.trim().is_empty() {
            bad("name", "must not be empty".into());
        }
        if self.api_key.is_empty() && self.kind != ProviderKind::Openai {
            bad("api_key", "must not be empty".into());
        }
        if self.model.trim().is_empty() && self.kind != ProviderKind::Dify {
            bad("model", "must not be empty".into());
        }
        if self.kind != ProviderKind::Openai {
            if self.api_key_header.is_some() {
                bad("api_key_header", "only supported for kind openai".into());
            }
            if self.transcription_model.is_some() {
                bad(
                    "transcription_model",
                    "only supported for kind openai".into(),
                );
            }
        }
        if self.vision && self.kind == ProviderKind::Dify {
            // Dify takes images only as files uploaded to it first; users' images are described
            // in the text instead.
            bad("vision", "not supported for kind dify".into());
        }
        if let Some(header) = &self.api_key_header
            && reqwest::header::HeaderName::from_bytes(header.as_bytes()).is_err()
        {
            bad("api_key_header", "is not a valid header name".into());
        }
        if reqwest::header::HeaderValue::from_str(&self.api_key).is_err() {
            bad(
                "api_key",
                "contains characters not allowed in a header".into(),
            );
        }
        if self.max_output_tokens == 0 {
            bad("max_output_tokens", "must be at least 1".into());
        }
        if self.retry.attempts == 0 {
            bad("retry.attempts", "must be at least 1".into());
        }
        if self.history.max_turns == 0 {
            bad("history.max_turns", "must be at least 1".into());
        }
        for (field, ms) in [
            ("timeouts.first_token_ms", self.timeouts.first_token_ms),
            ("timeouts.idle_ms", self.timeouts.idle_ms),
            ("timeouts.total_ms", self.timeouts.total_ms),
        ] {
            if ms == 0 {
                bad(field, "must be greater than 0".into());
            }
        }
        let endpoint = match validate_endpoint(&self.endpoint) {
            Ok(url) => Some(url),
            Err(reason) => {
                bad("endpoint", reason);
                None
            }
        };
        match endpoint {
            Some(url) if problems.is_empty() => Ok(url),
            _ => Err(ConfigError::Invalid {
                provider: self.id.clone(),
                problems,
            }),
        }
    }
}

/// Parses the endpoint and applies the scheme rule: https anywhere, http only for hosts that
/// cannot be on the public internet.
fn validate_endpoint(endpoint: &str) -> Result<reqwest::Url, String> {
    let url = reqwest::Url::parse(endpoint).map_err(|e| format!("is not a URL ({e})"))?;
    if url.cannot_be_a_base() {
        return Err("is not a base URL".into());
    }
    match url.scheme() {
        "https" => Ok(url),
        "http" if url.host_str().is_some_and(is_internal_host) => Ok(url),
        "http" => Err(
            "must use https (http is allowed only for loopback, private and in-cluster hosts)"
                .into(),
        ),
        other => Err(format!("has unsupported scheme {other:?}")),
    }
}

/// Loopback, RFC 1918 / unique-local addresses, dot-less names and in-cluster suffixes.
fn is_internal_host(host: &str) -> bool {
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    if let Ok(ip) = bare.parse::<IpAddr>() {
        return is_internal_ip(ip);
    }
    let name = host.trim_end_matches('.').to_ascii_lowercase();
    name == "localhost"
        || !name.contains('.')
        || [
            ".localhost",
            ".local",
            ".internal",
            ".svc",
            ".cluster.local",
        ]
        .iter()
        .any(|suffix| name.ends_with(suffix))
}

fn is_internal_ip(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => v4.is_loopback() || v4.is_private() || v4.is_link_local(),
        IpAddr::V6(v6) => {
            v6.is_loopback()
                || (v6.segments()[0] & 0xfe00) == 0xfc00
                || v6
                    .to_ipv4_mapped()
                    .is_some_and(|v4| is_internal_ip(IpAddr::V4(v4)))
        }
    }
}

#[cfg(test)]
mod tests;
