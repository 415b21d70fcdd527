//! The network edge: an axum [`Router`](axum::Router) serving the WebSocket and REST API of
//! CONTRACT §1–3, ready to be nested at any path prefix by the server or by a host app.
//!
//! - [`auth`]: JWT verification (HMAC only) and token extraction; the query token is never logged.
//! - [`ws`]: the upgrade (checks in contract order, no slot leaked on failure) and the two tasks
//!   of a connection: one reads the socket, one writes it (the only writer, fed by the engine's
//!   bounded queue; heartbeats, token expiry, 1009/1003/1013/1001 closes).
//! - [`rest`]: health, readiness and the user's session endpoints.
//! - [`admin`]: the admin API: session lists and metrics, a session's history, takeover and
//!   release.
//! - [`api_error`]: the one place errors become HTTP responses.
//! - [`web_ui`]: the embedded sessions and chat pages (CONTRACT §8).

pub mod admin;
pub mod api_error;
pub mod auth;
pub mod client_addr;
mod coalesce;
pub mod config;
pub mod conn_limit;
mod cors;
mod event_feed;
pub mod metrics;
pub mod rest;
pub mod router;
pub mod session_json;
#[cfg(feature = "test-support")]
pub mod testing;
pub mod uploads;
pub mod web_ui;
pub mod ws;

pub use config::EdgeConfig;
pub use router::{Edge, router};
