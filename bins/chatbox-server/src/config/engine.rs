//! The session engine's settings: message rate, idle eviction, reply and store deadlines,
//! per-user session cap, admin grace and notification retry.

use std::time::Duration;

use chatbox_session::EngineConfig;

use super::file::ChatboxSection;
use super::resolver::Resolver;

/// Resolves the engine settings.
pub(super) fn resolve(r: &mut Resolver<'_>, c: &mut ChatboxSection) -> EngineConfig {
    let defaults = EngineConfig::default();
    let messages_per_minute = r.number(
        "RATE_LIMIT",
        "chatbox.rate_limit",
        c.rate_limit,
        defaults.messages_per_minute,
        |n| *n >= 1,
        "messages per minute ≥ 1",
    );
    let reconnect = r.duration(
        "RECONNECT_TIMEOUT",
        "chatbox.reconnect_timeout",
        c.reconnect_timeout.take(),
        Duration::from_secs(defaults.idle_evict_secs),
    );
    let stream = r.duration(
        "LLM_STREAM_TIMEOUT",
        "chatbox.llm_stream_timeout",
        c.llm_stream_timeout.take(),
        Duration::from_secs(defaults.reply_timeout_secs),
    );
    let store_timeout = r.duration(
        "STORE_TIMEOUT",
        "chatbox.store_timeout",
        c.store_timeout.take(),
        Duration::from_secs(defaults.store_timeout_secs),
    );
    let max_sessions_per_user = r.number(
        "MAX_SESSIONS_PER_USER",
        "chatbox.max_sessions_per_user",
        c.max_sessions_per_user,
        defaults.max_sessions_per_user,
        |n| *n >= 1,
        "a count ≥ 1",
    );
    let admin_grace = r.duration(
        "ADMIN_GRACE",
        "chatbox.admin_grace",
        c.admin_grace.take(),
        Duration::from_secs(defaults.admin_grace_secs),
    );
    let notify_retry = r.duration(
        "NOTIFY_RETRY_INTERVAL",
        "chatbox.notify_retry_interval",
        c.notify_retry_interval.take(),
        Duration::from_secs(defaults.notify_retry_secs),
    );
    EngineConfig {
        notify_retry_secs: notify_retry.as_secs().max(1),
        admin_grace_secs: admin_grace.as_secs().max(1),
        store_timeout_secs: store_timeout.as_secs().max(1),
        max_sessions_per_user,
        messages_per_minute,
        idle_evict_secs: reconnect.as_secs().max(1),
        reply_timeout_secs: stream.as_secs().max(1),
        system_prompt: c.system_prompt.take().filter(|s| !s.trim().is_empty()),
        ..defaults
    }
}
