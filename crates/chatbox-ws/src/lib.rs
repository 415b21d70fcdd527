//! The network edge (to be built by the main-job issue): an axum `Router` with the WebSocket
//! (fastwebsockets) and REST handlers, JWT checks, origins, the web UI, health and metrics. It
//! is the one place that turns errors into HTTP and WebSocket responses.
