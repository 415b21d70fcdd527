//! The real server binary end to end: started as a process with its configuration in the
//! environment, a fake LLM vendor on loopback, the embedded store and MongoDB (the Mongo-wire
//! server `cargo xtask test` starts), and a real WebSocket client.

// Test helpers may unwrap: a panic here is a failing test.
#![allow(clippy::unwrap_used)]

mod admin;
mod channels;
mod flows;
mod legacy;
mod logs;
mod metrics;
mod notify;
mod process;
mod replicas;
mod shutdown;
mod uploads;
