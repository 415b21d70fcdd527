//! Edge settings, with the contract's defaults.

use serde::Deserialize;

/// Default concurrent WebSocket connections per user.
pub const DEFAULT_MAX_CONNECTIONS_PER_USER: usize = 10;
/// Default largest upload: 100 MiB.
pub const DEFAULT_UPLOAD_MAX_SIZE: u64 = 100 * 1024 * 1024;
/// Default uploads per user per minute.
pub const DEFAULT_UPLOAD_RATE_LIMIT: u32 = 30;
/// Default WebSocket connections per process.
pub const DEFAULT_MAX_CONNECTIONS: usize = 10_000;
/// Default largest inbound WebSocket message, in bytes.
pub const DEFAULT_MAX_MESSAGE_SIZE: usize = 1_048_576;
/// Default seconds between server pings.
pub const DEFAULT_PING_INTERVAL_SECS: u64 = 30;
/// Default seconds without any frame from the client before the connection is closed.
pub const DEFAULT_PONG_TIMEOUT_SECS: u64 = 60;
/// Default seconds an open socket outlives its token's expiry without a fresh `auth` frame.
pub const DEFAULT_TOKEN_GRACE_SECS: u64 = 300;
/// Default seconds one socket write may take before the connection is dropped.
pub const DEFAULT_WRITE_TIMEOUT_SECS: u64 = 10;
/// Default JWT clock leeway in seconds.
pub const DEFAULT_JWT_LEEWAY_SECS: u64 = 30;
/// Default requests per minute per client address to the public shared view.
pub const DEFAULT_PUBLIC_RATE_LIMIT: u32 = 60;
/// Default admin API requests per admin per window (the Go service's `ADMIN_RATE_LIMIT`).
pub const DEFAULT_ADMIN_RATE_LIMIT: u32 = 20;
/// Default admin API rate window in seconds (the Go service's `ADMIN_RATE_WINDOW`).
pub const DEFAULT_ADMIN_RATE_WINDOW_SECS: u64 = 60;
/// Default size of a user's own session list.
pub const DEFAULT_USER_SESSIONS_LIMIT: u32 = 100;

/// How the edge behaves.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EdgeConfig {
    /// HMAC secret for JWTs (bytes of the string; at least 32 outside dev mode).
    pub jwt_secret: String,
    /// `HS256`, `HS384` or `HS512`.
    pub jwt_algorithm: String,
    /// Clock leeway for `exp`/`nbf` (seconds).
    pub jwt_leeway_secs: u64,
    /// Accept tokens without `exp`.
    pub jwt_allow_no_exp: bool,
    /// Allowed `Origin` values for WebSocket upgrades; empty allows any.
    pub allowed_origins: Vec<String>,
    /// Origins allowed to embed the web UI in a frame and to post it a fresh token; empty
    /// forbids framing.
    pub parent_origins: Vec<String>,
    /// Concurrent WebSocket connections per user (connections).
    pub max_connections_per_user: usize,
    /// Largest inbound message (bytes); bigger closes with 1009.
    pub max_message_size: usize,
    /// Interval between server pings (seconds).
    pub ping_interval_secs: u64,
    /// Silence from the client after which the connection is closed (seconds).
    pub pong_timeout_secs: u64,
    /// How long a socket outlives its token's expiry without a fresh token (seconds).
    pub token_grace_secs: u64,
    /// How long one write to a socket may take (seconds); a client that stops reading is
    /// dropped after this, and its connection slot freed.
    pub write_timeout_secs: u64,
    /// Rows in `GET sessions` (sessions).
    pub user_sessions_limit: u32,
    /// Requests per minute per client address to the public shared view (requests).
    pub public_rate_limit: u32,
    /// Admin API requests per admin per `admin_rate_window_secs` (requests).
    pub admin_rate_limit: u32,
    /// The admin API rate window (seconds).
    pub admin_rate_window_secs: u64,
    /// Proxies (CIDRs) whose `X-Forwarded-For` / `Forwarded` headers name the client for
    /// per-client limits; empty trusts none.
    pub trusted_proxies: Vec<ipnet::IpNet>,
    /// Origins allowed to call the REST API from a browser (CORS); empty sends no CORS headers.
    pub cors_allowed_origins: Vec<String>,
    /// WebSocket connections this process accepts in all (`0` = no global cap).
    pub max_connections: usize,
    /// Networks allowed to read `P/metrics/prometheus`.
    pub metrics_allowed_networks: Vec<ipnet::IpNet>,
    /// Largest upload (bytes), enforced while the body streams.
    pub upload_max_size: u64,
    /// Uploads per user per minute.
    pub upload_rate_limit: u32,
    /// Files and photos may be uploaded (`ENABLE_FILE_UPLOADS`).
    pub file_uploads: bool,
    /// Voice notes may be uploaded (`ENABLE_VOICE_MESSAGES`).
    pub voice_uploads: bool,
    /// How long a signed download URL is valid (seconds; at most 300).
    pub signed_url_ttl_secs: u64,
}

/// The private ranges and loopback: who may scrape metrics by default.
pub fn default_metrics_networks() -> Vec<ipnet::IpNet> {
    [
        "10.0.0.0/8",
        "172.16.0.0/12",
        "192.168.0.0/16",
        "127.0.0.0/8",
        "::1/128",
        "fc00::/7",
    ]
    .iter()
    .filter_map(|n| n.parse().ok())
    .collect()
}

impl Default for EdgeConfig {
    fn default() -> Self {
        Self {
            jwt_secret: String::new(),
            jwt_algorithm: "HS256".into(),
            jwt_leeway_secs: DEFAULT_JWT_LEEWAY_SECS,
            jwt_allow_no_exp: false,
            allowed_origins: Vec::new(),
            parent_origins: Vec::new(),
            max_connections_per_user: DEFAULT_MAX_CONNECTIONS_PER_USER,
            max_message_size: DEFAULT_MAX_MESSAGE_SIZE,
            ping_interval_secs: DEFAULT_PING_INTERVAL_SECS,
            pong_timeout_secs: DEFAULT_PONG_TIMEOUT_SECS,
            token_grace_secs: DEFAULT_TOKEN_GRACE_SECS,
            write_timeout_secs: DEFAULT_WRITE_TIMEOUT_SECS,
            user_sessions_limit: DEFAULT_USER_SESSIONS_LIMIT,
            public_rate_limit: DEFAULT_PUBLIC_RATE_LIMIT,
            admin_rate_limit: DEFAULT_ADMIN_RATE_LIMIT,
            admin_rate_window_secs: DEFAULT_ADMIN_RATE_WINDOW_SECS,
            trusted_proxies: Vec::new(),
            cors_allowed_origins: Vec::new(),
            max_connections: DEFAULT_MAX_CONNECTIONS,
            metrics_allowed_networks: default_metrics_networks(),
            upload_max_size: DEFAULT_UPLOAD_MAX_SIZE,
            upload_rate_limit: DEFAULT_UPLOAD_RATE_LIMIT,
            file_uploads: true,
            voice_uploads: true,
            signed_url_ttl_secs: 300,
        }
    }
}
