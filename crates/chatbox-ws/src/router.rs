//! The router and the state its handlers share.

use std::net::IpAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use axum::Router;
use axum::routing::{get, post};
use chatbox_core::UserId;
use chatbox_session::Engine;
use chatbox_session::RateLimiter;
use tokio_util::task::TaskTracker;

use crate::api_error::ApiError;
use crate::auth::{AuthError, JwtVerifier};
use crate::config::EdgeConfig;
use crate::conn_limit::ConnectionLimiter;
use crate::metrics::{self, MetricsRender};
use crate::{admin, rest, uploads, web_ui, ws};

/// What the edge's handlers share. Cheap to clone, and one pointer wide: every connection's
/// tasks hold one, so its size is paid per connection.
#[derive(Clone)]
pub struct Edge(Arc<EdgeInner>);

/// The shared state behind an [`Edge`].
#[derive(Clone)]
pub struct EdgeInner {
    engine: Engine,
    verifier: JwtVerifier,
    config: Arc<EdgeConfig>,
    limiter: Arc<ConnectionLimiter>,
    connections: TaskTracker,
    public_rate: Arc<Mutex<RateLimiter<IpAddr>>>,
    admin_rate: Arc<Mutex<RateLimiter<UserId>>>,
    upload_rate: Arc<Mutex<RateLimiter<UserId>>>,
    metrics: Option<MetricsRender>,
}

impl std::fmt::Debug for MetricsSlot<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.0.is_some() {
            "Some(render)"
        } else {
            "None"
        })
    }
}

struct MetricsSlot<'a>(&'a Option<MetricsRender>);

impl std::ops::Deref for Edge {
    type Target = EdgeInner;

    fn deref(&self) -> &EdgeInner {
        &self.0
    }
}

impl std::fmt::Debug for Edge {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Edge")
            .field("engine", &self.engine)
            .field("config", &self.config)
            .field("limiter", &self.limiter)
            .field("metrics", &MetricsSlot(&self.metrics))
            .finish_non_exhaustive()
    }
}

impl Edge {
    /// An edge over `engine`; fails when the JWT algorithm is not supported.
    pub fn new(engine: Engine, config: EdgeConfig) -> Result<Self, AuthError> {
        let verifier = JwtVerifier::new(
            config.jwt_secret.as_bytes(),
            &config.jwt_algorithm,
            config.jwt_leeway_secs,
            config.jwt_allow_no_exp,
        )?;
        let limiter =
            ConnectionLimiter::new(config.max_connections_per_user, config.max_connections);
        let public_rate = config.public_rate_limit;
        let config_upload_rate = config.upload_rate_limit;
        let admin_rate = RateLimiter::new(
            config.admin_rate_limit,
            Duration::from_secs(config.admin_rate_window_secs.max(1)),
        );
        Ok(Self(Arc::new(EdgeInner {
            engine,
            verifier,
            config: Arc::new(config),
            limiter,
            connections: TaskTracker::new(),
            public_rate: Arc::new(Mutex::new(RateLimiter::new(
                public_rate,
                Duration::from_secs(60),
            ))),
            admin_rate: Arc::new(Mutex::new(admin_rate)),
            upload_rate: Arc::new(Mutex::new(RateLimiter::new(
                config_upload_rate,
                Duration::from_secs(60),
            ))),
            metrics: None,
        })))
    }

    /// Serves `P/metrics/prometheus` with `render` (the server's Prometheus recorder).
    #[must_use]
    pub fn with_metrics(self, render: MetricsRender) -> Self {
        let mut inner = Arc::unwrap_or_clone(self.0);
        inner.metrics = Some(render);
        Self(Arc::new(inner))
    }

    /// The metrics renderer, when metrics are on.
    pub(crate) fn metrics_render(&self) -> Option<&MetricsRender> {
        self.metrics.as_ref()
    }

    /// The engine.
    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// The JWT verifier.
    pub fn verifier(&self) -> &JwtVerifier {
        &self.verifier
    }

    /// The configuration.
    pub fn config(&self) -> &EdgeConfig {
        &self.config
    }

    /// Runs a WebSocket connection's task, tracked so that shutdown can wait for it.
    pub(crate) fn spawn_connection<F>(&self, task: F)
    where
        F: std::future::Future<Output = ()> + Send + 'static,
    {
        self.connections.spawn(task);
    }

    /// Waits (at most `timeout`) for every WebSocket connection to finish, e.g. to write its
    /// close frame after the engine shut down. Call after [`Engine::shutdown`].
    pub async fn drain(&self, timeout: std::time::Duration) {
        self.connections.close();
        let _ = tokio::time::timeout(timeout, self.connections.wait()).await;
    }

    /// Counts one public request from `client` (its address, when known); refuses with 429 past
    /// the per-address limit.
    pub(crate) fn check_public_rate(&self, client: Option<IpAddr>) -> Result<(), ApiError> {
        let key = client.unwrap_or(IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED));
        let mut limiter = self
            .public_rate
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        limiter.check(&key, Instant::now()).map_err(|wait| {
            metrics::request_rate_limited();
            ApiError::rate_limited(wait)
        })
    }

    /// Counts one admin API request by `admin`; refuses with 429 past the admin rate limit.
    pub(crate) fn check_admin_rate(&self, admin: &UserId) -> Result<(), ApiError> {
        self.admin_rate
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .check(admin, Instant::now())
            .map_err(|wait| {
                metrics::request_rate_limited();
                ApiError::rate_limited(wait)
            })
    }

    /// Counts one upload by `user`; refuses with 429 past the upload rate limit.
    pub(crate) fn check_upload_rate(&self, user: &UserId) -> Result<(), ApiError> {
        self.upload_rate
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .check(user, Instant::now())
            .map_err(|wait| {
                metrics::request_rate_limited();
                ApiError::rate_limited(wait)
            })
    }

    /// The per-user connection limiter.
    pub fn limiter(&self) -> &Arc<ConnectionLimiter> {
        &self.limiter
    }
}

/// The API as a router with paths relative to the prefix; nest it at `P`
/// (`Router::new().nest("/chatbox", chatbox_ws::router(edge))`).
pub fn router(edge: Edge) -> Router {
    let cors = crate::cors::layer(&edge.config().cors_allowed_origins);
    let router = Router::new()
        .route("/ws", get(ws::upgrade))
        .route("/healthz", get(rest::healthz))
        .route("/readyz", get(rest::readyz))
        .route("/sessions", get(rest::list_sessions))
        .route("/sessions/{id}", get(rest::get_session))
        .route("/sessions/{id}/end", post(rest::end_session))
        .route(
            "/sessions/{id}/share",
            post(rest::share_session).delete(rest::unshare_session),
        )
        .route("/shared/{token}", get(rest::shared))
        .route("/admin/sessions", get(admin::list_sessions))
        .route("/admin/sessions/{id}", get(admin::get_session))
        .route("/admin/users/{user_id}/sessions", get(admin::user_sessions))
        .route("/admin/metrics", get(admin::metrics))
        .route("/admin/takeover/{id}", post(admin::takeover))
        .route("/admin/release/{id}", post(admin::release))
        .route("/metrics/prometheus", get(metrics::prometheus))
        .route(
            "/upload",
            post(uploads::upload).layer(axum::extract::DefaultBodyLimit::disable()),
        )
        .route("/files/{file_id}", get(uploads::download))
        .merge(web_ui::routes(&edge.config().parent_origins))
        .fallback(|| async { ApiError::not_found("No such endpoint") })
        .method_not_allowed_fallback(|| async { ApiError::method_not_allowed() })
        .route_layer(axum::middleware::from_fn(metrics::track_http))
        .with_state(edge);
    match cors {
        Some(layer) => router.layer(layer),
        None => router,
    }
}
