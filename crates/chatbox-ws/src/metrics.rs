//! The edge's metrics, named in this one file (reference §9 names kept for existing dashboards),
//! the per-request timing layer, and the scrape endpoint `P/metrics/prometheus`, open only to
//! `metrics_allowed_networks`. The server installs the Prometheus recorder and hands the edge
//! its render function; without one the endpoint answers 404 and these calls are no-ops.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::{ConnectInfo, MatchedPath, Request, State};
use axum::http::{HeaderValue, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::api_error::ApiError;
use crate::router::Edge;

/// Renders the current metrics in the Prometheus text format.
pub type MetricsRender = Arc<dyn Fn() -> String + Send + Sync>;

/// Histogram buckets of `chatbox_websocket_connection_duration_seconds` (the Go service's).
pub const CONNECTION_DURATION_BUCKETS: [f64; 10] = [
    1.0, 5.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0,
];

/// A WebSocket connection took a slot.
pub(crate) fn connection_opened() {
    metrics::gauge!("chatbox_websocket_connections").increment(1.0);
    metrics::gauge!("chatbox_websocket_connections_total").increment(1.0);
}

/// A WebSocket connection released its slot after `lasted`.
pub(crate) fn connection_closed(lasted: Duration) {
    metrics::gauge!("chatbox_websocket_connections").decrement(1.0);
    metrics::gauge!("chatbox_websocket_connections_total").decrement(1.0);
    metrics::histogram!("chatbox_websocket_connection_duration_seconds")
        .record(lasted.as_secs_f64());
}

/// A well-formed frame arrived from a client.
pub(crate) fn message_received() {
    metrics::counter!("chatbox_messages_received_total").increment(1);
}

/// The counter of frames received, for a connection to hold (a lookup per connection, not per
/// frame).
pub(crate) fn messages_received() -> metrics::Counter {
    metrics::counter!("chatbox_messages_received_total")
}

/// The counter of frames written, for a connection to hold.
pub(crate) fn messages_sent() -> metrics::Counter {
    metrics::counter!("chatbox_messages_sent_total")
}

/// A connection was refused by a connection limit.
pub(crate) fn connection_refused() {
    metrics::counter!("chatbox_ratelimit_blocked_total", "limiter" => "connection").increment(1);
}

/// A REST request was refused by the admin or public rate limit.
pub(crate) fn request_rate_limited() {
    metrics::counter!("chatbox_ratelimit_blocked_total", "limiter" => "message").increment(1);
}

/// Times every request by its route template and runs it in a span naming that template — never
/// the concrete path or query, which may carry a token.
pub(crate) async fn track_http(request: Request, next: Next) -> Response {
    let endpoint = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
    let method = request.method().as_str().to_owned();
    let span = tracing::info_span!("request", %method, route = %endpoint);
    let started = Instant::now();
    let response = tracing::Instrument::instrument(
        async {
            let response = next.run(request).await;
            tracing::debug!(
                status = response.status().as_u16(),
                ms = started.elapsed().as_millis() as u64,
                "request served"
            );
            response
        },
        span,
    )
    .await;
    metrics::histogram!("chatbox_http_request_duration_seconds", "endpoint" => endpoint, "method" => method)
        .record(started.elapsed().as_secs_f64());
    response
}

/// `GET P/metrics/prometheus`: the metrics, for addresses in `metrics_allowed_networks` only
/// (behind a trusted proxy, the address it forwards).
pub async fn prometheus(State(edge): State<Edge>, request: Request) -> Response {
    let Some(render) = edge.metrics_render() else {
        return ApiError::not_found("Metrics are disabled").into_response();
    };
    let peer = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip());
    let config = edge.config();
    let client = crate::client_addr::client_ip(peer, request.headers(), &config.trusted_proxies);
    let allowed = client.is_some_and(|ip| {
        let ip = match ip {
            std::net::IpAddr::V6(v6) => v6
                .to_ipv4_mapped()
                .map_or(std::net::IpAddr::V6(v6), std::net::IpAddr::V4),
            v4 => v4,
        };
        config
            .metrics_allowed_networks
            .iter()
            .any(|n| n.contains(&ip))
    });
    if !allowed {
        return ApiError::forbidden().into_response();
    }
    let mut response = render().into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
    );
    response
}
