//! Several replicas: the NATS JetStream broker they share, on when `NATS_URL` is set (one
//! replica needs none). `NATS_CREDS` (a `.creds` file), `NATS_TLS_CA`, `NATS_REQUIRE_TLS`,
//! `NATS_PREFIX` (what the deployment's data is named under), `NATS_LEASE_TTL` and
//! `NATS_HISTORY` (frames kept per session; the replay window by default). The replica's name
//! is `CHATBOX_REPLICA` (else `HOSTNAME`, e.g. the pod name) with a random suffix per process, so
//! a restarted pod never mistakes its previous incarnation's leases for its own.

use std::path::PathBuf;

use chatbox_store::NatsConfig;
use rand::Rng;
use rand::distr::Alphanumeric;

use super::resolver::Resolver;

/// Resolves the broker settings (`None`: one replica).
pub(super) fn resolve(r: &mut Resolver<'_>, replay_frames: usize) -> Option<NatsConfig> {
    let url = r.env.get("NATS_URL").filter(|v| !v.trim().is_empty())?;
    if !url.split(',').all(|u| {
        ["nats://", "tls://", "ws://", "wss://"]
            .iter()
            .any(|s| u.trim().starts_with(s))
    }) {
        r.error(
            "NATS_URL",
            "<hidden>",
            "must be nats://host:port (or tls://, ws://, wss://), several separated by commas",
        );
    }
    let defaults = NatsConfig::default();
    let base = r
        .env
        .get("CHATBOX_REPLICA")
        .or_else(|| r.env.get("HOSTNAME"))
        .filter(|v| !v.trim().is_empty())
        .unwrap_or_else(|| "chatbox".into());
    let suffix: String = rand::rng()
        .sample_iter(Alphanumeric)
        .take(8)
        .map(char::from)
        .collect();
    let require_tls = match r.env.get("NATS_REQUIRE_TLS").as_deref().map(str::trim) {
        None | Some("" | "0" | "false" | "no") => false,
        Some("1" | "true" | "yes") => true,
        Some(other) => {
            let other = other.to_owned();
            r.error("NATS_REQUIRE_TLS", &other, "must be true or false");
            false
        }
    };
    let config = NatsConfig {
        url,
        replica: format!("{}-{suffix}", base.trim()),
        credentials: r.env.get("NATS_CREDS").map(PathBuf::from),
        tls_ca: r.env.get("NATS_TLS_CA").map(PathBuf::from),
        require_tls,
        prefix: r
            .env
            .get("NATS_PREFIX")
            .filter(|v| !v.trim().is_empty())
            .unwrap_or(defaults.prefix),
        lease_ttl: r.duration("NATS_LEASE_TTL", "", None, defaults.lease_ttl),
        history: r.number(
            "NATS_HISTORY",
            "",
            None,
            replay_frames,
            |n| (1..=1_000_000).contains(n),
            "frames from 1 to 1000000",
        ),
        ..defaults
    };
    for p in config.problems() {
        let key = match p.key {
            "url" => "NATS_URL",
            "replica" => "CHATBOX_REPLICA",
            "credentials" => "NATS_CREDS",
            "tls_ca" => "NATS_TLS_CA",
            "prefix" => "NATS_PREFIX",
            "lease_ttl" => "NATS_LEASE_TTL",
            "history" => "NATS_HISTORY",
            other => other,
        };
        let value = r.env.get(key).unwrap_or_default();
        let value = if key == "NATS_URL" {
            "<hidden>".into()
        } else {
            value
        };
        r.error(key, &value, p.reason);
    }
    Some(config)
}
