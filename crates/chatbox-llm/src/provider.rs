//! Building providers: the shared HTTP client, the generic provider over a vendor [`Wire`], its
//! cached health, and transcription.
//!
//! One `reqwest::Client` (rustls, pooled, connect timeout) serves every provider; a provider is
//! an `Arc<dyn LlmProvider>` whose `chat` collects the same stream `stream_chat` yields, so both
//! paths share retries, deadlines and error classification. `health` answers from a cache fed by
//! real replies and, when stale, by one free vendor request (model list or app parameters);
//! concurrent probes share one request.

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use async_trait::async_trait;
use chatbox_core::LlmError;
use chatbox_core::ports::llm::{
    AudioInput, ChatReply, ChatRequest, Chunk, ChunkStream, LlmProvider, ProviderHealth,
};
use futures::StreamExt;
use serde::Deserialize;
use tokio::time::Instant;

use crate::backoff::{self, Decision};
use crate::config::{
    ClientConfig, LlmConfig, ProviderConfig, ProviderKind, RetryConfig, TimeoutConfig,
};
use crate::error::ConfigError;
use crate::wire::Wire;
use crate::{anthropic, classify, dify, openai, stream};

/// The longest a health probe may take (readiness endpoints must answer quickly).
const MAX_PROBE_TIME: Duration = Duration::from_secs(5);

/// Builds the shared client: rustls, HTTP/2 when the vendor offers it, pooled, TCP no-delay
/// and the connect timeout. It never follows redirects (a vendor redirect would carry the key
/// elsewhere).
pub fn build_client(config: &ClientConfig) -> Result<reqwest::Client, ConfigError> {
    let mut builder = reqwest::Client::builder();
    if config.connect_ms > 0 {
        builder = builder.connect_timeout(Duration::from_millis(config.connect_ms));
    }
    builder
        .pool_max_idle_per_host(config.pool_max_idle_per_host)
        .pool_idle_timeout(Duration::from_millis(config.pool_idle_ms))
        .tcp_nodelay(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .map_err(ConfigError::Client)
}

/// Validates `config` and builds its provider over the shared `client`.
pub fn build_provider(
    config: &ProviderConfig,
    client: reqwest::Client,
) -> Result<Arc<dyn LlmProvider>, ConfigError> {
    let endpoint = config.validate()?;
    Ok(match config.kind {
        ProviderKind::Openai => {
            HttpProvider::build(config, client, openai::OpenAi::new(config, &endpoint))
        }
        ProviderKind::Anthropic => {
            HttpProvider::build(config, client, anthropic::Anthropic::new(config, &endpoint))
        }
        ProviderKind::Dify => {
            HttpProvider::build(config, client, dify::Dify::new(config, &endpoint))
        }
    })
}

/// Builds the shared client and every configured provider, in config order. All problems are
/// returned at once: each invalid provider, and each id used twice.
pub fn build_providers(config: &LlmConfig) -> Result<Vec<Arc<dyn LlmProvider>>, Vec<ConfigError>> {
    let client = build_client(&config.client).map_err(|e| vec![e])?;
    let mut errors = Vec::new();
    let mut providers = Vec::with_capacity(config.providers.len());
    let mut seen = std::collections::HashSet::new();
    for provider in &config.providers {
        if !seen.insert(provider.id.as_str()) {
            errors.push(ConfigError::DuplicateId {
                id: provider.id.clone(),
            });
        }
        match build_provider(provider, client.clone()) {
            Ok(built) => providers.push(built),
            Err(error) => errors.push(error),
        }
    }
    if errors.is_empty() {
        Ok(providers)
    } else {
        Err(errors)
    }
}

/// What every reply of one provider shares.
pub(crate) struct Inner<W> {
    pub(crate) id: String,
    pub(crate) name: String,
    pub(crate) kind: &'static str,
    pub(crate) model: String,
    /// Whether images are sent (`ProviderConfig::vision`).
    pub(crate) vision: bool,
    pub(crate) http: reqwest::Client,
    pub(crate) wire: W,
    pub(crate) timeouts: TimeoutConfig,
    pub(crate) retry: RetryConfig,
    pub(crate) health: HealthCache,
}

/// An [`LlmProvider`] over one vendor's wire format.
pub(crate) struct HttpProvider<W> {
    inner: Arc<Inner<W>>,
}

impl<W: Wire> HttpProvider<W> {
    fn build(config: &ProviderConfig, http: reqwest::Client, wire: W) -> Arc<dyn LlmProvider> {
        Arc::new(Self {
            inner: Arc::new(Inner {
                id: config.id.clone(),
                name: config.name.clone(),
                kind: config.kind.as_str(),
                model: config.model.clone(),
                // Validation refuses vision for Dify; never claim it there all the same.
                vision: config.vision && config.kind != ProviderKind::Dify,
                http,
                wire,
                timeouts: config.timeouts.clone(),
                retry: config.retry.clone(),
                health: HealthCache::new(Duration::from_millis(config.health_ttl_ms)),
            }),
        })
    }
}

#[async_trait]
impl<W: Wire> LlmProvider for HttpProvider<W> {
    fn id(&self) -> &str {
        &self.inner.id
    }

    fn name(&self) -> &str {
        &self.inner.name
    }

    fn kind(&self) -> &str {
        self.inner.kind
    }

    fn model(&self) -> &str {
        &self.inner.model
    }

    fn supports_images(&self) -> bool {
        self.inner.vision
    }

    fn stream_chat(&self, request: ChatRequest) -> ChunkStream {
        stream::chat_stream(Arc::clone(&self.inner), request)
    }

    async fn chat(&self, request: ChatRequest) -> Result<ChatReply, LlmError> {
        let mut stream = self.stream_chat(request);
        let mut content = String::new();
        while let Some(item) = stream.next().await {
            match item? {
                Chunk::Text(text) => content.push_str(&text),
                Chunk::Finished(usage) => return Ok(ChatReply { content, usage }),
            }
        }
        Err(LlmError::Protocol("reply ended without finishing".into()))
    }

    async fn health(&self) -> ProviderHealth {
        let inner = &self.inner;
        inner
            .health
            .get_or_probe(|| async {
                let probe = inner.wire.health_request(&inner.http).send();
                let until = Instant::now() + inner.timeouts.first_token().min(MAX_PROBE_TIME);
                match tokio::time::timeout_at(until, probe).await {
                    Err(_) => ProviderHealth::NotReady("provider health probe timed out".into()),
                    Ok(Err(_)) => ProviderHealth::NotReady("provider unreachable".into()),
                    Ok(Ok(response)) => match response.status().as_u16() {
                        401 | 403 => {
                            ProviderHealth::NotReady("provider rejected the credentials".into())
                        }
                        status @ 500..=599 => {
                            ProviderHealth::NotReady(format!("provider failing (status {status})"))
                        }
                        // Any other answer proves the vendor is reachable; compatible servers
                        // may lack the probed route (404) and still serve chats.
                        _ => ProviderHealth::Ready,
                    },
                }
            })
            .await
    }

    async fn transcribe(&self, audio: AudioInput) -> Result<String, LlmError> {
        let inner = &self.inner;
        let deadline = Instant::now() + inner.timeouts.total();
        let mut retry = 0;
        loop {
            let Some(request) = inner.wire.transcription_request(&inner.http, &audio) else {
                return Err(LlmError::Unsupported);
            };
            let error = match tokio::time::timeout_at(deadline, transcribe_once(request?)).await {
                Err(_) => LlmError::Timeout {
                    phase: chatbox_core::ports::llm::TimeoutPhase::Total,
                },
                Ok(Ok(text)) => return Ok(text),
                Ok(Err(error)) => error,
            };
            let retry_after = match &error {
                LlmError::RateLimited { retry_after } => *retry_after,
                _ => None,
            };
            if !error.is_retryable() {
                return Err(error);
            }
            let decision = backoff::decide(&inner.retry, retry, retry_after, &mut rand::rng());
            match decision {
                Decision::RetryAfter(delay) if Instant::now() + delay < deadline => {
                    tokio::time::sleep(delay).await;
                    retry += 1;
                }
                _ => return Err(error),
            }
        }
    }
}

async fn transcribe_once(request: reqwest::RequestBuilder) -> Result<String, LlmError> {
    #[derive(Deserialize)]
    struct Transcript {
        text: String,
    }
    let response = request.send().await.map_err(classify::from_reqwest)?;
    let status = response.status();
    let headers = response.headers().clone();
    let body = response.bytes().await.map_err(classify::from_reqwest)?;
    if !status.is_success() {
        let (kind, message) = openai::error_body(&body);
        return Err(classify::from_status(status, &headers, kind, &message));
    }
    serde_json::from_slice::<Transcript>(&body)
        .map(|t| t.text)
        .map_err(|_| LlmError::Protocol("transcription response without text".into()))
}

/// The cached readiness of one provider.
pub(crate) struct HealthCache {
    ttl: Duration,
    state: Mutex<Option<(Instant, ProviderHealth)>>,
    probing: tokio::sync::Mutex<()>,
}

impl HealthCache {
    fn new(ttl: Duration) -> Self {
        Self {
            ttl,
            state: Mutex::new(None),
            probing: tokio::sync::Mutex::new(()),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Option<(Instant, ProviderHealth)>> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn fresh(&self) -> Option<ProviderHealth> {
        match &*self.lock() {
            Some((at, health)) if at.elapsed() < self.ttl => Some(health.clone()),
            _ => None,
        }
    }

    fn set(&self, health: ProviderHealth) {
        *self.lock() = Some((Instant::now(), health));
    }

    /// A completed reply proves the provider works.
    pub(crate) fn record_success(&self) {
        self.set(ProviderHealth::Ready);
    }

    /// A refused key makes the provider unusable until a probe or reply says otherwise.
    pub(crate) fn record_failure(&self, error: &LlmError) {
        if matches!(error, LlmError::Auth) {
            self.set(ProviderHealth::NotReady(
                "provider rejected the credentials".into(),
            ));
        }
    }

    async fn get_or_probe<F, Fut>(&self, probe: F) -> ProviderHealth
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = ProviderHealth>,
    {
        if let Some(health) = self.fresh() {
            return health;
        }
        let _probing = self.probing.lock().await;
        if let Some(health) = self.fresh() {
            return health;
        }
        let health = probe().await;
        self.set(health.clone());
        health
    }
}
