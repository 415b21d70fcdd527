//! chatbox-core integration tests, one binary: protocol properties, frame snapshots, Go
//! compatibility and inbound validation.

// Test helpers may unwrap: a panic here is a failing test.
#![allow(clippy::unwrap_used)]

mod decode_props;
mod frame_snapshots;
mod go_frames;
mod validation;
