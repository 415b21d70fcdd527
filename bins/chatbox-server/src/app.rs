//! Wiring: the concrete store and providers from the settings, the engine and the edge, the
//! router nested at the prefix, and the serve loop with graceful shutdown.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use chatbox_core::Notifier;
use chatbox_core::{BlobStore, Broker, LlmProvider, Store};
use chatbox_llm::{LlmConfig, ProviderConfig, ProviderKind};
use chatbox_session::{Engine, EngineDeps};
use chatbox_store::blob::{LocalBlobStore, S3BlobStore, S3Config};
use chatbox_store::mongo::DataProblem;
use chatbox_store::{
    Cipher, MongoConfig, MongoStore, NatsBroker, RetryConfig, SqliteConfig, SqliteStore, TimedStore,
};
use chatbox_ws::Edge;
use tokio::net::TcpListener;

use crate::config::{BlobSettings, ProviderSettings, Settings, StoreSettings};
use crate::demo::DemoProvider;
use crate::error::ServerError;

/// How long shutdown waits for sockets to write their close frames.
const CLOSE_GRACE: std::time::Duration = std::time::Duration::from_secs(5);

/// A built server: the engine and its router, not yet listening.
#[derive(Debug, Clone)]
pub struct App {
    engine: Engine,
    edge: Edge,
    router: Router,
}

impl App {
    /// Builds everything the settings describe (opens the store, validates providers).
    pub async fn build(settings: &Settings) -> Result<Self, ServerError> {
        let store = build_store(settings).await?;
        let providers = build_providers(settings)?;
        let notifiers = build_notifiers(settings).await?;
        let blobs = build_blobs(settings).await?;
        let transcriber = settings
            .transcription_provider
            .as_ref()
            .and_then(|id| providers.iter().find(|p| p.id() == id).cloned());
        let deps = EngineDeps {
            store,
            providers,
            notifiers,
            admin_panel_url: settings.admin_panel_url.clone(),
            blobs,
            transcriber,
            broker: build_broker(settings).await?,
        };
        let engine = Engine::new(deps, settings.engine.clone());
        let mut edge = Edge::new(engine.clone(), settings.edge.clone())?;
        if settings.features.metrics
            && let Some(render) = crate::telemetry::prometheus()
        {
            edge = edge.with_metrics(render);
        }
        let router = Router::new()
            .nest(&settings.path_prefix, chatbox_ws::router(edge.clone()))
            .merge(chatbox_ws::web_ui::prefix_slash(&settings.path_prefix))
            .fallback(|| async { chatbox_ws::api_error::ApiError::not_found("No such endpoint") });
        Ok(Self {
            engine,
            edge,
            router,
        })
    }

    /// The engine (for shutdown and embedding).
    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// The API router, nested at the prefix. Host apps may merge it into their own router.
    pub fn router(&self) -> Router {
        self.router.clone()
    }

    /// Serves on `listener` until `shutdown` resolves, then shuts down gracefully: replies in
    /// flight are finished and persisted (bounded by `timeout`), clients get 1001, the listener
    /// closes. Every accepted connection gets `TCP_NODELAY` ([`crate::listener::nodelay`]).
    pub async fn serve(
        self,
        listener: TcpListener,
        shutdown: impl std::future::Future<Output = ()> + Send + 'static,
        timeout: std::time::Duration,
    ) -> Result<(), ServerError> {
        let addr = listener
            .local_addr()
            .map(|a| a.to_string())
            .unwrap_or_default();
        let engine = self.engine.clone();
        let edge = self.edge.clone();
        let graceful = async move {
            shutdown.await;
            tracing::info!("shutting down: finishing replies in flight");
            engine.shutdown(timeout).await;
            // Let every socket write its 1001 close frame before the process exits.
            edge.drain(CLOSE_GRACE).await;
        };
        let service = self
            .router
            .into_make_service_with_connect_info::<SocketAddr>();
        axum::serve(crate::listener::nodelay(listener), service)
            .with_graceful_shutdown(graceful)
            .await
            .map_err(|source| ServerError::Io { addr, source })
    }
}

/// The broker several replicas share; `None` with one replica.
async fn build_broker(settings: &Settings) -> Result<Option<Arc<dyn Broker>>, ServerError> {
    let Some(config) = &settings.broker else {
        return Ok(None);
    };
    // Frames in the log are conversation content: encrypted like the store's.
    let broker = NatsBroker::connect(config.clone())
        .await?
        .with_cipher(cipher(settings)?);
    tracing::info!(replica = %config.replica, "replicas: NATS JetStream broker connected");
    Ok(Some(Arc::new(broker)))
}

/// Where uploads live; `None` when both file and voice uploads are switched off.
async fn build_blobs(settings: &Settings) -> Result<Option<Arc<dyn BlobStore>>, ServerError> {
    if !settings.features.file_uploads && !settings.features.voice_messages {
        return Ok(None);
    }
    Ok(Some(match &settings.uploads.blobs {
        BlobSettings::Local(dir) => {
            let store = LocalBlobStore::open(dir.clone()).await?;
            tracing::info!(dir = %store.dir().display(), "uploads: local directory");
            if matches!(settings.store, StoreSettings::Mongo(_)) {
                tracing::warn!(
                    "uploads are kept on this machine's disk: with several replicas, set S3_BUCKET (and S3_ENDPOINT for an S3-compatible store) so every replica sees every file"
                );
            }
            Arc::new(store)
        }
        BlobSettings::S3(s) => {
            let config = S3Config {
                endpoint: s.endpoint.clone(),
                region: s.region.clone(),
                bucket: s.bucket.clone(),
                access_key_id: s.access_key_id.clone(),
                secret_access_key: s.secret_access_key.clone(),
                path_style: s.path_style,
                ..S3Config::default()
            };
            let store = S3BlobStore::new(config).await?;
            tracing::info!(bucket = %store.bucket(), "uploads: S3");
            Arc::new(store)
        }
    }))
}

/// The staff notification channels; in dev mode with none configured, the server log.
async fn build_notifiers(settings: &Settings) -> Result<Vec<Arc<dyn Notifier>>, ServerError> {
    let n = &settings.notify;
    let mut out: Vec<Arc<dyn Notifier>> = Vec::new();
    if let Some(c) = &n.smtp {
        out.push(Arc::new(chatbox_notify::SmtpNotifier::new(c.clone())?));
    }
    if let Some(c) = &n.ses {
        out.push(Arc::new(chatbox_notify::SesNotifier::new(c.clone()).await?));
    }
    if let Some(c) = &n.sms {
        out.push(Arc::new(chatbox_notify::SmsNotifier::new(c.clone())?));
    }
    if let Some(c) = &n.webhook {
        out.push(Arc::new(chatbox_notify::WebhookNotifier::new(c.clone())?));
    }
    if out.is_empty() && settings.dev {
        out.push(Arc::new(chatbox_notify::LogNotifier::new()));
    }
    if out.is_empty() {
        tracing::warn!(
            "no staff notification channel is configured: users asking for help are told nobody is notified"
        );
    } else {
        let channels: Vec<&str> = out.iter().map(|n| n.channel()).collect();
        tracing::info!(channels = ?channels, "staff notification channels");
    }
    Ok(out)
}

fn mongo_config(m: &crate::config::MongoSettings) -> MongoConfig {
    MongoConfig {
        uri: m.uri.clone(),
        database: m.database.clone(),
        collection: m.collection.clone(),
        server_selection_timeout_ms: millis(m.connect_timeout),
        connect_timeout_ms: millis(m.connect_timeout),
        retry: RetryConfig {
            max_attempts: m.retry_attempts,
            initial_backoff_ms: millis(m.retry_delay),
            max_backoff_ms: millis(m.retry_max_delay),
        },
        slow_threshold_ms: m.slow_threshold.map_or(0, millis),
        ..MongoConfig::default()
    }
}

fn cipher(settings: &Settings) -> Result<Cipher, ServerError> {
    Ok(Cipher::new(
        settings.encryption_key.as_deref().map(str::as_bytes),
        settings
            .encryption_key_previous
            .as_deref()
            .map(str::as_bytes),
    )?)
}

/// `chatbox-server check-data`: reads every session document of the configured MongoDB
/// collection (creating nothing, writing nothing) and returns each document and message this
/// build cannot read, with the reason.
pub async fn check_data(settings: &Settings) -> Result<Vec<DataProblem>, ServerError> {
    let StoreSettings::Mongo(m) = &settings.store else {
        return Err(ServerError::CheckData(
            "check-data scans a MongoDB collection: set MONGO_URI".into(),
        ));
    };
    let config = MongoConfig {
        create_indexes: false,
        ..mongo_config(m)
    };
    let store = MongoStore::connect(config, cipher(settings)?).await?;
    store
        .check_data()
        .await
        .map_err(|e| ServerError::CheckData(e.to_string()))
}

async fn build_store(settings: &Settings) -> Result<Arc<dyn Store>, ServerError> {
    let cipher = Cipher::new(
        settings.encryption_key.as_deref().map(str::as_bytes),
        settings
            .encryption_key_previous
            .as_deref()
            .map(str::as_bytes),
    )?;
    if !cipher.is_encrypting() {
        tracing::warn!("ENCRYPTION_KEY is not set: message content is stored in plaintext");
    }
    Ok(match &settings.store {
        StoreSettings::Mongo(m) => {
            tracing::info!(database = %m.database, collection = %m.collection, "store: MongoDB");
            let store = MongoStore::connect(mongo_config(m), cipher).await?;
            Arc::new(TimedStore::new("mongo", Arc::new(store)))
        }
        StoreSettings::Sqlite { data_dir } => {
            let config = SqliteConfig {
                data_dir: data_dir.clone(),
                ..SqliteConfig::default()
            };
            let store = SqliteStore::open(config, cipher).await?;
            tracing::info!(path = %store.path().display(), "store: embedded SQLite");
            Arc::new(TimedStore::new("sqlite", Arc::new(store)))
        }
    })
}

fn millis(d: std::time::Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

fn provider_config(p: &ProviderSettings, settings: &Settings) -> ProviderConfig {
    let kind = match p.kind.as_str() {
        "anthropic" => ProviderKind::Anthropic,
        "dify" => ProviderKind::Dify,
        _ => ProviderKind::Openai,
    };
    let mut config = ProviderConfig {
        id: p.id.clone(),
        name: p.name.clone(),
        kind,
        endpoint: p.endpoint.clone(),
        api_key: p.api_key.clone(),
        model: p.model.clone(),
        vision: p.vision,
        transcription_model: p.transcription_model.clone().or_else(|| {
            (settings.transcription_provider.as_deref() == Some(p.id.as_str()))
                .then(|| "whisper-1".to_owned())
        }),
        ..ProviderConfig::default()
    };
    config.timeouts.total_ms = settings.engine.reply_timeout_secs.saturating_mul(1000);
    config
}

fn build_providers(settings: &Settings) -> Result<Vec<Arc<dyn LlmProvider>>, ServerError> {
    if settings.providers.is_empty() {
        tracing::warn!("no LLM provider configured: using the built-in demo model (dev mode)");
        return Ok(vec![Arc::new(DemoProvider)]);
    }
    let config = LlmConfig {
        providers: settings
            .providers
            .iter()
            .map(|p| provider_config(p, settings))
            .collect(),
        ..LlmConfig::default()
    };
    chatbox_llm::build_providers(&config).map_err(ServerError::Llm)
}
