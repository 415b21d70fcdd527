//! Engine behaviour end to end over the in-memory ports: resolution, ordering, fan-out, replay,
//! replies and their failures, store faults, limits, help requests, files and voice notes,
//! eviction and shutdown.

// Test helpers may unwrap: a panic here is a failing test.
#![allow(clippy::unwrap_used)]

mod faults;
mod files;
mod handoff;
mod harness;
mod lifecycle;
mod notify;
mod replicas;
mod replies;
mod sessions;
mod streams;
