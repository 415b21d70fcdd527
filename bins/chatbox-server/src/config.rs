//! Server configuration: a TOML file (`--config`, else `./config.toml` when present) plus the
//! environment variables of CONTRACT §9, the environment winning. Every bad value is reported at
//! once, each naming its key, the value (secrets masked) and what is allowed.

mod broker;
mod edge;
mod encryption;
mod engine;
mod features;
mod file;
mod go_keys;
mod logging;
mod notify;
mod providers;
mod reference;
mod resolver;
mod store;
mod uploads;

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use chatbox_session::EngineConfig;
use chatbox_ws::EdgeConfig;

pub use self::features::Features;
pub use self::logging::LogSettings;
pub use self::notify::NotifySettings;
pub use self::reference::{GROUPS, Group, SETTINGS, Setting, markdown as reference_markdown};
pub use self::uploads::{
    BlobSettings, DEFAULT_UPLOAD_MAX_SIZE, S3Settings, UploadSettings, parse_size,
};

use self::encryption::encryption_keys;
use self::file::FileConfig;
use self::logging::logging;
use self::providers::providers;
use self::resolver::Resolver;
use crate::env::Env;

/// Default HTTP port.
pub const DEFAULT_PORT: u16 = 8080;
/// Default path prefix.
pub const DEFAULT_PATH_PREFIX: &str = "/chatbox";
/// Default data directory of the embedded store.
pub const DEFAULT_DATA_DIR: &str = "./chatbox-data";
/// Default graceful-shutdown bound.
pub const DEFAULT_SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(30);
/// Highest `N` of `LLM_PROVIDER_<N>_*`.
pub const MAX_ENV_PROVIDERS: usize = 10;

/// Command-line options.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Args {
    /// `--config PATH`.
    pub config: Option<PathBuf>,
    /// `--dev`.
    pub dev: bool,
    /// `check-data`: scan the MongoDB collection for data this build cannot read, then exit.
    pub check_data: bool,
    /// `healthcheck`: ask the running server for `P/healthz`, exit 0 when it answers 200.
    pub healthcheck: bool,
    /// `config-reference`: print `docs/configuration.md` (every setting) and exit.
    pub config_reference: bool,
}

/// One bad configuration value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// The key as the operator wrote it (`JWT_SECRET` or `chatbox.jwt_secret`).
    pub key: String,
    /// The value, masked when secret.
    pub value: String,
    /// What is wrong and what is allowed.
    pub problem: String,
}

/// Every bad value found.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ConfigErrors(pub Vec<ConfigError>);

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "invalid configuration ({} problem(s)):", self.0.len())?;
        for e in &self.0 {
            writeln!(f, "  {} = {}: {}", e.key, e.value, e.problem)?;
        }
        Ok(())
    }
}

/// One configured LLM provider.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProviderSettings {
    /// Where it was configured (for error messages): `LLM_PROVIDER_2` or `llm.providers[1]`.
    pub source: String,
    /// Provider id (what `model_select` names).
    pub id: String,
    /// Display name.
    pub name: String,
    /// `openai`, `anthropic` or `dify`.
    pub kind: String,
    /// Base URL.
    pub endpoint: String,
    /// API key.
    pub api_key: String,
    /// The vendor's model name.
    pub model: String,
    /// The model accepts images (`LLM_PROVIDER_<N>_VISION`).
    pub vision: bool,
    /// The speech-to-text model for voice notes (`LLM_PROVIDER_<N>_TRANSCRIPTION_MODEL`;
    /// `whisper-1` when this provider is the `TRANSCRIPTION_PROVIDER`).
    pub transcription_model: Option<String>,
}

/// MongoDB settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MongoSettings {
    /// Connection string.
    pub uri: String,
    /// Database.
    pub database: String,
    /// Collection.
    pub collection: String,
    /// Connect / server-selection timeout.
    pub connect_timeout: Duration,
    /// Attempts for a transient failure.
    pub retry_attempts: u32,
    /// First retry delay.
    pub retry_delay: Duration,
    /// Largest retry delay.
    pub retry_max_delay: Duration,
    /// Operations slower than this are logged and counted (`MONGO_SLOW_THRESHOLD`).
    pub slow_threshold: Option<Duration>,
}

/// Which store to run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreSettings {
    /// MongoDB (`MONGO_URI` set).
    Mongo(MongoSettings),
    /// The embedded SQLite file under this directory.
    Sqlite {
        /// The data directory.
        data_dir: PathBuf,
    },
}

/// The validated configuration.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Dev mode: embedded store, demo provider allowed, generated secret accepted.
    pub dev: bool,
    /// Address to listen on (`SERVER_HOST`; loopback in dev mode, all interfaces otherwise).
    pub host: std::net::IpAddr,
    /// HTTP port.
    pub port: u16,
    /// The path prefix `P`.
    pub path_prefix: String,
    /// Edge settings (JWT included).
    pub edge: EdgeConfig,
    /// Engine settings.
    pub engine: EngineConfig,
    /// The store.
    pub store: StoreSettings,
    /// Message encryption key (exactly 32 bytes), if any.
    pub encryption_key: Option<String>,
    /// The previous key, tried for reading.
    pub encryption_key_previous: Option<String>,
    /// LLM providers in configuration order.
    pub providers: Vec<ProviderSettings>,
    /// Graceful shutdown bound.
    pub shutdown_timeout: Duration,
    /// Admin panel base URL for notification links.
    pub admin_panel_url: Option<String>,
    /// True when the JWT secret was generated for this run (dev mode).
    pub generated_secret: bool,
    /// Staff notification channels.
    pub notify: NotifySettings,
    /// Uploads.
    pub uploads: UploadSettings,
    /// Logging.
    pub log: LogSettings,
    /// Optional features.
    pub features: Features,
    /// The provider that transcribes voice notes (`TRANSCRIPTION_PROVIDER`, a provider id).
    pub transcription_provider: Option<String>,
    /// The broker several replicas share (`NATS_URL`; `None`: one replica).
    pub broker: Option<chatbox_store::NatsConfig>,
    /// Settings accepted but unused (mostly the Go service's), one line each, for the log.
    pub warnings: Vec<String>,
}

/// Loads and validates the configuration from `args`, the config file and `env`.
pub fn load(args: &Args, env: &dyn Env) -> Result<Settings, ConfigErrors> {
    let mut r = Resolver {
        env,
        errors: Vec::new(),
        warnings: Vec::new(),
    };
    let path = args.config.clone().or_else(|| {
        let default = Path::new("config.toml");
        default.exists().then(|| default.to_path_buf())
    });
    let file = match &path {
        None => FileConfig::default(),
        Some(p) => match std::fs::read_to_string(p) {
            Err(e) => {
                r.error(
                    "--config",
                    &p.display().to_string(),
                    format!("cannot be read: {e}"),
                );
                FileConfig::default()
            }
            Ok(text) => toml::from_str(&text).unwrap_or_else(|e| {
                r.error(
                    "--config",
                    &p.display().to_string(),
                    format!("is not valid: {e}"),
                );
                FileConfig::default()
            }),
        },
    };
    // Dev mode only when asked for, or with no configuration at all: any production setting
    // without a JWT secret is an error naming it, never a quiet fall-back to a generated secret.
    let dev = args.dev || (path.is_none() && !production_env(env));
    let settings = resolve(&mut r, file, dev);
    if r.errors.is_empty() {
        Ok(settings)
    } else {
        Err(ConfigErrors(r.errors))
    }
}

/// Environment variables that mean "this is a real deployment".
const PRODUCTION_KEYS: [&str; 3] = ["MONGO_URI", "JWT_SECRET", "ENCRYPTION_KEY"];

/// True when any production setting is in the environment.
fn production_env(env: &dyn Env) -> bool {
    let provider = (1..=MAX_ENV_PROVIDERS).any(|n| {
        ["ID", "TYPE", "ENDPOINT", "API_KEY", "MODEL"]
            .iter()
            .any(|f| env.get(&format!("LLM_PROVIDER_{n}_{f}")).is_some())
    });
    provider || PRODUCTION_KEYS.iter().any(|k| env.get(k).is_some())
}

fn resolve(r: &mut Resolver<'_>, file: FileConfig, dev: bool) -> Settings {
    go_keys::warn_unused(r, &file);
    let FileConfig {
        server,
        chatbox: mut c,
        mongo,
        llm,
        uploads,
        features,
        log,
        database,
        dbs,
        connection_sources,
        userupload,
        mail,
        sms,
        notification,
        kubernetes: _,
    } = file;
    let port = r.number(
        "SERVER_PORT",
        "server.port",
        server.port,
        DEFAULT_PORT,
        |p| *p > 0,
        "a TCP port from 1 to 65535",
    );
    let default_host = if dev {
        std::net::IpAddr::from([127, 0, 0, 1])
    } else {
        std::net::IpAddr::from([0, 0, 0, 0])
    };
    let host = match r.pick("SERVER_HOST", "server.host", server.host) {
        None => default_host,
        Some((key, raw)) => raw.trim().parse().unwrap_or_else(|_| {
            r.error(
                &key,
                &raw,
                "must be an IP address (e.g. 0.0.0.0 or 127.0.0.1)",
            );
            default_host
        }),
    };
    let shutdown_timeout = r.duration(
        "SHUTDOWN_TIMEOUT",
        "server.shutdown_timeout",
        server.shutdown_timeout,
        DEFAULT_SHUTDOWN_TIMEOUT,
    );
    let log = logging(r, log);
    let features = features::resolve(r, features);

    let path_prefix = match r.pick(
        "CHATBOX_PATH_PREFIX",
        "chatbox.path_prefix",
        c.path_prefix.take(),
    ) {
        None => DEFAULT_PATH_PREFIX.to_owned(),
        Some((key, p)) => {
            if !p.starts_with('/') || p.ends_with('/') || p.contains(char::is_whitespace) {
                r.error(
                    &key,
                    &p,
                    "must start with '/' and not end with '/' (e.g. /chatbox)",
                );
            }
            p
        }
    };

    let (edge, generated_secret) = edge::resolve(r, &mut c, dev);
    let (encryption_key, encryption_key_previous) = encryption_keys(r, &mut c);
    let engine = EngineConfig {
        takeover_enabled: features.admin_takeover,
        help_enabled: features.help_requests,
        uploads_enabled: features.file_uploads,
        voice_enabled: features.voice_messages,
        files_path: format!("{path_prefix}/files"),
        ..engine::resolve(r, &mut c)
    };

    let data_dir = store::data_dir(r, c.data_dir.take());
    let uploads = uploads::resolve(
        r,
        uploads,
        uploads::GoUploads {
            sources: connection_sources,
            userupload,
        },
        &data_dir,
    );
    let store = store::resolve(r, mongo, store::GoMongo { dbs, database }, data_dir);
    let mut edge = edge;
    edge.upload_max_size = uploads.max_size;
    edge.file_uploads = features.file_uploads;
    edge.voice_uploads = features.voice_messages;
    if dev && matches!(store, StoreSettings::Mongo(_)) {
        r.error(
            "MONGO_URI",
            "<hidden>",
            "dev mode only uses the embedded store: drop --dev, or unset MONGO_URI",
        );
    }

    let admin_panel_url = r
        .pick_first(
            "ADMIN_PANEL_URL",
            vec![
                ("chatbox.admin_panel_url", c.admin_panel_url.take()),
                (
                    "notification.adminPanelURL",
                    notification.admin_panel_url.clone(),
                ),
            ],
        )
        .map(|(_, v)| v)
        .filter(|u| !u.is_empty());
    let notify = notify::resolve(
        r,
        notify::GoNotify {
            mail,
            sms,
            notification,
        },
    );
    // The Go sample put its providers under `[[chatbox.llm.providers]]`; either place works,
    // both at once is ambiguous.
    let (entries, label) = match (llm.providers.is_empty(), c.llm.providers.is_empty()) {
        (false, false) => {
            r.error(
                "chatbox.llm.providers",
                "<set>",
                "providers are also in [[llm.providers]]: keep one list",
            );
            (llm.providers, "llm.providers")
        }
        (true, false) => (
            std::mem::take(&mut c.llm.providers),
            "chatbox.llm.providers",
        ),
        _ => (llm.providers, "llm.providers"),
    };
    let providers = providers(r, entries, label);
    let broker = broker::resolve(r, engine.replay_frames);
    if broker.is_some() && matches!(store, StoreSettings::Sqlite { .. }) {
        r.error(
            "NATS_URL",
            "<hidden>",
            "several replicas need one shared store: set MONGO_URI (the embedded store is one file per replica)",
        );
    }
    let transcription_provider = r
        .env
        .get("TRANSCRIPTION_PROVIDER")
        .filter(|v| !v.trim().is_empty());
    if let Some(id) = &transcription_provider
        && !providers.iter().any(|p| &p.id == id && p.kind == "openai")
    {
        r.error(
            "TRANSCRIPTION_PROVIDER",
            id,
            "must be the id of a configured provider (an OpenAI-compatible one with /audio/transcriptions)",
        );
    }
    if providers.is_empty() && !dev {
        r.error("LLM_PROVIDER_1_ID", "<unset>", "no LLM provider configured: set LLM_PROVIDER_<N>_{ID,NAME,TYPE,ENDPOINT,API_KEY,MODEL} or [[llm.providers]]");
    }

    Settings {
        dev,
        host,
        port,
        path_prefix,
        edge,
        engine,
        store,
        uploads,
        encryption_key,
        encryption_key_previous,
        providers,
        shutdown_timeout,
        admin_panel_url,
        generated_secret,
        notify,
        log,
        features,
        transcription_provider,
        broker,
        warnings: std::mem::take(&mut r.warnings),
    }
}

#[cfg(test)]
mod tests;
