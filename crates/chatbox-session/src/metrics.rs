//! Every metric the engine emits, named in this one file (reference §9 names kept for existing
//! dashboards). The server installs the Prometheus recorder; without one these are no-ops.

use std::time::Duration;

use chatbox_core::ports::llm::LlmProvider;

/// A session was created (a new document).
pub(crate) fn session_created() {
    metrics::counter!("chatbox_sessions_created_total").increment(1);
}

/// A session was ended.
pub(crate) fn session_ended() {
    metrics::counter!("chatbox_sessions_ended_total").increment(1);
}

/// Live sessions in this process (the gauge under its right name and the Go one).
pub(crate) fn live_sessions(n: usize) {
    let n = n as f64;
    metrics::gauge!("chatbox_active_sessions").set(n);
    metrics::gauge!("chatbox_active_sessions_total").set(n);
}

/// A user asked for a human.
pub(crate) fn help_requested() {
    metrics::counter!("chatbox_help_requests_total").increment(1);
}

/// An admin took a conversation over.
pub(crate) fn takeover() {
    metrics::counter!("chatbox_admin_takeovers_total").increment(1);
}

/// An admin released a conversation.
pub(crate) fn release() {
    metrics::counter!("chatbox_admin_releases_total").increment(1);
}

/// A connection resumed with `last_seq`: the whole gap followed, or not.
pub(crate) fn resume(recovered: bool) {
    let label = if recovered { "true" } else { "false" };
    metrics::counter!("chatbox_resumes_total", "recovered" => label).increment(1);
}

/// A connection was closed because it did not read its frames.
pub(crate) fn slow_consumer_closed() {
    metrics::counter!("chatbox_slow_consumer_closes_total").increment(1);
}

/// A user message was refused by the per-user message limit.
pub(crate) fn message_rate_limited() {
    metrics::counter!("chatbox_ratelimit_blocked_total", "limiter" => "message").increment(1);
}

/// An error frame answered a client frame.
pub(crate) fn message_error() {
    metrics::counter!("chatbox_message_errors_total").increment(1);
}

/// A reply request went to `provider`.
pub(crate) fn llm_request(provider: &dyn LlmProvider) {
    metrics::counter!("chatbox_llm_requests_total", "provider" => provider.kind().to_owned())
        .increment(1);
}

/// The first token of a reply arrived `after` the request.
pub(crate) fn llm_first_token(provider: &dyn LlmProvider, after: Duration) {
    let secs = after.as_secs_f64();
    metrics::histogram!("chatbox_llm_latency_seconds", "provider" => provider.kind().to_owned())
        .record(secs);
    metrics::histogram!("chatbox_llm_time_to_first_token_seconds", "provider" => provider.kind().to_owned(), "model" => provider.model().to_owned())
        .record(secs);
}

/// A reply failed.
pub(crate) fn llm_error(provider: &dyn LlmProvider) {
    metrics::counter!("chatbox_llm_errors_total", "provider" => provider.kind().to_owned())
        .increment(1);
}

/// A reply finished using `tokens`.
pub(crate) fn tokens_used(provider: &dyn LlmProvider, tokens: u64) {
    metrics::counter!("chatbox_tokens_used_total", "provider" => provider.kind().to_owned(), "model" => provider.model().to_owned())
        .increment(tokens);
}

/// Frames that could not be appended to their session's log in the broker (proxies resume).
pub(crate) fn log_frame_dropped(frames: usize) {
    metrics::counter!("chatbox_broker_log_dropped_total").increment(frames as u64);
}

/// A session's owner lost its lease (another replica runs the session now).
pub(crate) fn lease_lost() {
    metrics::counter!("chatbox_broker_leases_lost_total").increment(1);
}

/// A replica started relaying a session another replica owns.
pub(crate) fn proxy_started() {
    metrics::counter!("chatbox_broker_proxies_started_total").increment(1);
}
