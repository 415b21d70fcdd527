//! The edge over real sockets: a real axum server on loopback with the engine over in-memory
//! ports, driven by a real WebSocket client (fastwebsockets) and raw HTTP.

// Test helpers may unwrap: a panic here is a failing test.
#![allow(clippy::unwrap_used)]

mod admin_api;
mod backpressure;
mod client;
mod cors_and_metrics;
mod rest_api;
mod uploads;
mod websocket;
