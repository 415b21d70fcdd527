//! Integration tests of chatbox-store as one binary: the Store conformance suite against every
//! backend, the Go-document fixture and shape checks for MongoDB, encryption behaviour through the
//! stores, concurrent appends from real tokio tasks, the BlobStore conformance suite against
//! the local-directory and S3 file stores, and the Broker conformance suite against NATS.

// Test helpers may unwrap: a panic here is a failing test.
#![allow(clippy::unwrap_used)]

mod blob_local;
mod blob_s3;
mod concurrent;
mod encryption;
mod legacy;
mod memory;
mod mongo;
mod mongo_shape;
mod nats;
mod sqlite;
mod support;
