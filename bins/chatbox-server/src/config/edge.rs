//! The edge's settings: JWT, origins (WebSocket, parent frames, CORS), per-user and global
//! connection limits, WebSocket timings, admin rate limit, trusted proxies and who may scrape
//! metrics.

use std::time::Duration;

use chatbox_ws::EdgeConfig;

use super::file::{ChatboxSection, StringList, split_csv};
use super::resolver::Resolver;
use crate::secret::{check_jwt_secret, mask, placeholder_in};

/// Resolves the edge settings; the flag says whether the JWT secret was generated (dev mode).
pub(super) fn resolve(
    r: &mut Resolver<'_>,
    c: &mut ChatboxSection,
    dev: bool,
) -> (EdgeConfig, bool) {
    let (jwt_secret, generated_secret) =
        match r.pick("JWT_SECRET", "chatbox.jwt_secret", c.jwt_secret.take()) {
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
    let jwt_algorithm = c.jwt_algorithm.take().unwrap_or_else(|| "HS256".into());
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
        c.jwt_leeway.take(),
        Duration::from_secs(30),
    );

    let allowed_origins = origins(r, "WS_ALLOWED_ORIGINS", c.allowed_origins.take());
    let parent_origins = origins(r, "PARENT_ORIGINS", c.parent_origins.take());
    let cors_allowed_origins = origins(r, "CORS_ALLOWED_ORIGINS", c.cors_allowed_origins.take());

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
    let max_connections = r.number(
        "MAX_CONNECTIONS",
        "chatbox.max_connections",
        c.max_connections,
        defaults.max_connections,
        |n| *n >= 1,
        "a count ≥ 1",
    );
    let ws = &mut c.websocket;
    // The Go configmap's name for the write deadline is honoured when ours is absent.
    let write_key =
        if r.env.get("WS_WRITE_TIMEOUT").is_none() && r.env.get("WS_WRITE_WAIT").is_some() {
            "WS_WRITE_WAIT"
        } else {
            "WS_WRITE_TIMEOUT"
        };
    let write_timeout = r.duration_first(
        write_key,
        vec![
            ("chatbox.write_timeout", c.write_timeout.take()),
            (
                "chatbox.websocket.write_wait",
                ws.write_wait.take().map(|f| f.raw()),
            ),
        ],
        Duration::from_secs(defaults.write_timeout_secs),
    );
    let ping = r.duration(
        "WS_PING_PERIOD",
        "chatbox.websocket.ping_period",
        ws.ping_period.take().map(|f| f.raw()),
        Duration::from_secs(defaults.ping_interval_secs),
    );
    let pong = r.duration(
        "WS_PONG_WAIT",
        "chatbox.websocket.pong_wait",
        ws.pong_wait.take().map(|f| f.raw()),
        Duration::from_secs(defaults.pong_timeout_secs),
    );
    if pong <= ping {
        r.error(
            "WS_PONG_WAIT",
            &format!("{}s", pong.as_secs()),
            "must be longer than the ping period (WS_PING_PERIOD), or every connection times out",
        );
    }
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
        c.admin_rate_window.take(),
        Duration::from_secs(defaults.admin_rate_window_secs),
    );
    let trusted_proxies = networks(
        r,
        "TRUSTED_PROXIES",
        "chatbox.trusted_proxies",
        c.trusted_proxies.take(),
    )
    .unwrap_or_default();
    let metrics_allowed_networks = networks(
        r,
        "METRICS_ALLOWED_NETWORKS",
        "chatbox.metrics_allowed_networks",
        c.metrics_allowed_networks.take(),
    )
    .unwrap_or(defaults.metrics_allowed_networks.clone());
    let edge = EdgeConfig {
        trusted_proxies,
        metrics_allowed_networks,
        cors_allowed_origins,
        max_connections,
        write_timeout_secs: write_timeout.as_secs().max(1),
        ping_interval_secs: ping.as_secs().max(1),
        pong_timeout_secs: pong.as_secs().max(1),
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
    (edge, generated_secret)
}

/// An origin list from `env_key` or the file; each must be a real `scheme://host[:port]`.
fn origins(r: &mut Resolver<'_>, env_key: &str, file: Option<StringList>) -> Vec<String> {
    let list = match r.env.get(env_key) {
        Some(v) => split_csv(&v),
        None => file.map(|l| l.items()).unwrap_or_default(),
    };
    for o in &list {
        if placeholder_in(o).is_some() || !(o.starts_with("http://") || o.starts_with("https://")) {
            r.error(
                env_key,
                o,
                "each origin must be a real scheme://host[:port]",
            );
        }
    }
    list
}

/// A CIDR list from `env_key` or the file; `None` when neither is set.
fn networks(
    r: &mut Resolver<'_>,
    env_key: &str,
    file_key: &str,
    file: Option<StringList>,
) -> Option<Vec<ipnet::IpNet>> {
    let (key, items) = match r.env.get(env_key) {
        Some(v) => (env_key, split_csv(&v)),
        None => (file_key, file?.items()),
    };
    let mut out = Vec::new();
    for p in &items {
        match p.parse::<ipnet::IpNet>() {
            Ok(net) => out.push(net),
            Err(_) => match p.parse::<std::net::IpAddr>() {
                Ok(ip) => out.push(ipnet::IpNet::from(ip)),
                Err(_) => r.error(
                    key,
                    p,
                    "each entry must be an IP address or a CIDR (e.g. 10.0.0.0/8)",
                ),
            },
        }
    }
    Some(out)
}

/// A random JWT secret for a dev-mode run.
fn generate_secret() -> String {
    use rand::Rng;
    use rand::distr::Alphanumeric;
    rand::rng()
        .sample_iter(Alphanumeric)
        .take(48)
        .map(char::from)
        .collect()
}
