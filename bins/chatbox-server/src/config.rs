//! Server configuration: a TOML file (`--config`, else `./config.toml` when present) plus the
//! environment variables of CONTRACT §9, the environment winning. Every bad value is reported at
//! once, each naming its key, the value (secrets masked) and what is allowed.

mod file;
mod notify;
mod providers;
mod resolver;
mod store;

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use chatbox_session::EngineConfig;
use chatbox_ws::EdgeConfig;

pub use self::notify::NotifySettings;

use self::file::{FileConfig, split_csv};
use self::providers::providers;
use self::resolver::Resolver;
use crate::env::Env;
use crate::secret::{check_jwt_secret, mask, placeholder_in};

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
}

/// Loads and validates the configuration from `args`, the config file and `env`.
pub fn load(args: &Args, env: &dyn Env) -> Result<Settings, ConfigErrors> {
    let mut r = Resolver {
        env,
        errors: Vec::new(),
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
    let FileConfig {
        server,
        chatbox: c,
        mongo,
        llm,
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

    let path_prefix = match r.pick("CHATBOX_PATH_PREFIX", "chatbox.path_prefix", c.path_prefix) {
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

    let (jwt_secret, generated_secret) =
        match r.pick("JWT_SECRET", "chatbox.jwt_secret", c.jwt_secret) {
            Some((key, s)) => {
                if !dev && let Err(problem) = check_jwt_secret(&s) {
                    r.error(&key, &mask(&s), problem);
                }
                (s, false)
            }
            None if dev => (generate_secret(), true),
            None => {
                r.error(
                    "JWT_SECRET",
                    "<unset>",
                    "is required outside dev mode (or set chatbox.jwt_secret)",
                );
                (String::new(), false)
            }
        };
    let jwt_algorithm = c.jwt_algorithm.unwrap_or_else(|| "HS256".into());
    if !matches!(jwt_algorithm.as_str(), "HS256" | "HS384" | "HS512") {
        r.error(
            "chatbox.jwt_algorithm",
            &jwt_algorithm,
            "allowed: HS256, HS384, HS512",
        );
    }
    let leeway = r.duration(
        "JWT_LEEWAY",
        "chatbox.jwt_leeway",
        c.jwt_leeway,
        Duration::from_secs(30),
    );

    let mut keys = Vec::new();
    for (env_key, file_key, value) in [
        ("ENCRYPTION_KEY", "chatbox.encryption_key", c.encryption_key),
        (
            "ENCRYPTION_KEY_PREVIOUS",
            "chatbox.encryption_key_previous",
            c.encryption_key_previous,
        ),
    ] {
        let picked = r
            .pick(env_key, file_key, value)
            .filter(|(_, v)| !v.is_empty());
        if let Some((key, k)) = &picked {
            if k.len() != 32 {
                r.error(key, &mask(k), "must be exactly 32 bytes (AES-256)");
            } else if placeholder_in(k).is_some() {
                r.error(
                    key,
                    &mask(k),
                    "contains a placeholder marker; set a real key",
                );
            }
        }
        keys.push(picked.map(|(_, v)| v));
    }
    let encryption_key_previous = keys.pop().flatten();
    let encryption_key = keys.pop().flatten();
    if encryption_key.is_none() && encryption_key_previous.is_some() {
        r.error(
            "ENCRYPTION_KEY_PREVIOUS",
            "<set>",
            "needs ENCRYPTION_KEY too (the previous key is only for reading)",
        );
    }

    let allowed_origins = match r.env.get("WS_ALLOWED_ORIGINS") {
        Some(v) => split_csv(&v),
        None => c.allowed_origins.map(|l| l.items()).unwrap_or_default(),
    };
    for o in &allowed_origins {
        if placeholder_in(o).is_some() || !(o.starts_with("http://") || o.starts_with("https://")) {
            r.error(
                "WS_ALLOWED_ORIGINS",
                o,
                "each origin must be a real scheme://host[:port]",
            );
        }
    }
    let parent_origins = match r.env.get("PARENT_ORIGINS") {
        Some(v) => split_csv(&v),
        None => c.parent_origins.map(|l| l.items()).unwrap_or_default(),
    };
    for o in &parent_origins {
        if placeholder_in(o).is_some() || !(o.starts_with("http://") || o.starts_with("https://")) {
            r.error(
                "PARENT_ORIGINS",
                o,
                "each origin must be a real scheme://host[:port]",
            );
        }
    }
    let defaults = EdgeConfig::default();
    let max_message_size = r.number(
        "MAX_MESSAGE_SIZE",
        "chatbox.max_message_size",
        c.max_message_size,
        defaults.max_message_size,
        |n| *n >= 1024,
        "a byte count ≥ 1024",
    );
    let max_connections_per_user = r.number(
        "MAX_CONNECTIONS_PER_USER",
        "chatbox.max_connections_per_user",
        c.max_connections_per_user,
        defaults.max_connections_per_user,
        |n| *n >= 1,
        "a count ≥ 1",
    );
    let write_timeout = r.duration(
        "WS_WRITE_TIMEOUT",
        "chatbox.write_timeout",
        c.write_timeout,
        Duration::from_secs(defaults.write_timeout_secs),
    );
    let admin_rate_limit = r.number(
        "ADMIN_RATE_LIMIT",
        "chatbox.admin_rate_limit",
        c.admin_rate_limit,
        defaults.admin_rate_limit,
        |n| *n >= 1,
        "requests per window ≥ 1",
    );
    let admin_rate_window = r.duration(
        "ADMIN_RATE_WINDOW",
        "chatbox.admin_rate_window",
        c.admin_rate_window,
        Duration::from_secs(defaults.admin_rate_window_secs),
    );
    let (proxies_key, proxies) = match r.env.get("TRUSTED_PROXIES") {
        Some(v) => ("TRUSTED_PROXIES", split_csv(&v)),
        None => (
            "chatbox.trusted_proxies",
            c.trusted_proxies.map(|l| l.items()).unwrap_or_default(),
        ),
    };
    let mut trusted_proxies = Vec::new();
    for p in &proxies {
        match p.parse::<ipnet::IpNet>() {
            Ok(net) => trusted_proxies.push(net),
            Err(_) => match p.parse::<std::net::IpAddr>() {
                Ok(ip) => trusted_proxies.push(ipnet::IpNet::from(ip)),
                Err(_) => r.error(
                    proxies_key,
                    p,
                    "each entry must be an IP address or a CIDR (e.g. 10.0.0.0/8)",
                ),
            },
        }
    }
    let edge = EdgeConfig {
        trusted_proxies,
        write_timeout_secs: write_timeout.as_secs().max(1),
        admin_rate_limit,
        admin_rate_window_secs: admin_rate_window.as_secs().max(1),
        jwt_secret,
        jwt_algorithm,
        jwt_leeway_secs: leeway.as_secs(),
        jwt_allow_no_exp: c.jwt_allow_no_exp.unwrap_or(false),
        allowed_origins,
        parent_origins,
        max_connections_per_user,
        max_message_size,
        ..defaults
    };

    let engine_defaults = EngineConfig::default();
    let messages_per_minute = r.number(
        "RATE_LIMIT",
        "chatbox.rate_limit",
        c.rate_limit,
        engine_defaults.messages_per_minute,
        |n| *n >= 1,
        "messages per minute ≥ 1",
    );
    let reconnect = r.duration(
        "RECONNECT_TIMEOUT",
        "chatbox.reconnect_timeout",
        c.reconnect_timeout,
        Duration::from_secs(engine_defaults.idle_evict_secs),
    );
    let stream = r.duration(
        "LLM_STREAM_TIMEOUT",
        "chatbox.llm_stream_timeout",
        c.llm_stream_timeout,
        Duration::from_secs(engine_defaults.reply_timeout_secs),
    );
    let store_timeout = r.duration(
        "STORE_TIMEOUT",
        "chatbox.store_timeout",
        c.store_timeout,
        Duration::from_secs(engine_defaults.store_timeout_secs),
    );
    let max_sessions_per_user = r.number(
        "MAX_SESSIONS_PER_USER",
        "chatbox.max_sessions_per_user",
        c.max_sessions_per_user,
        engine_defaults.max_sessions_per_user,
        |n| *n >= 1,
        "a count ≥ 1",
    );
    let admin_grace = r.duration(
        "ADMIN_GRACE",
        "chatbox.admin_grace",
        c.admin_grace,
        Duration::from_secs(engine_defaults.admin_grace_secs),
    );
    let notify_retry = r.duration(
        "NOTIFY_RETRY_INTERVAL",
        "chatbox.notify_retry_interval",
        c.notify_retry_interval,
        Duration::from_secs(engine_defaults.notify_retry_secs),
    );
    let engine = EngineConfig {
        notify_retry_secs: notify_retry.as_secs().max(1),
        admin_grace_secs: admin_grace.as_secs().max(1),
        store_timeout_secs: store_timeout.as_secs().max(1),
        max_sessions_per_user,
        messages_per_minute,
        idle_evict_secs: reconnect.as_secs().max(1),
        reply_timeout_secs: stream.as_secs().max(1),
        system_prompt: c.system_prompt.filter(|s| !s.trim().is_empty()),
        ..engine_defaults
    };

    let store = store::resolve(r, mongo, c.data_dir);
    if dev && matches!(store, StoreSettings::Mongo(_)) {
        r.error(
            "MONGO_URI",
            "<hidden>",
            "dev mode only uses the embedded store: drop --dev, or unset MONGO_URI",
        );
    }

    let notify = notify::resolve(r);
    let providers = providers(r, llm.providers);
    if providers.is_empty() && !dev {
        r.error("LLM_PROVIDER_1_ID", "<unset>", "no LLM provider configured: set LLM_PROVIDER_<N>_{ID,NAME,TYPE,ENDPOINT,API_KEY,MODEL} or [[llm.providers]]");
    }
    let admin_panel_url = r
        .env
        .get("ADMIN_PANEL_URL")
        .or(c.admin_panel_url)
        .filter(|u| !u.is_empty());

    Settings {
        dev,
        host,
        port,
        path_prefix,
        edge,
        engine,
        store,
        encryption_key,
        encryption_key_previous,
        providers,
        shutdown_timeout,
        admin_panel_url,
        generated_secret,
        notify,
    }
}

fn generate_secret() -> String {
    use rand::Rng;
    use rand::distr::Alphanumeric;
    rand::rng()
        .sample_iter(Alphanumeric)
        .take(48)
        .map(char::from)
        .collect()
}

#[cfg(test)]
mod tests;
