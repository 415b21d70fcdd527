//! Storage backends for Chatbox, all implementing core's [`chatbox_core::Store`] port and all
//! checked by core's Store conformance suite:
//!
//! - [`SqliteStore`]: the embedded default, one durable file in WAL mode with migrations
//!   versioned in code ([`sqlite`]).
//! - [`MongoStore`]: MongoDB, reading and writing the Go service's documents field for field
//!   (CONTRACT §7), with its five indexes ([`mongo`]).
//! - [`Cipher`]: AES-256-GCM encryption of message content at rest, byte-compatible with the Go
//!   service, with a previous key for rotation ([`crypto`]).
//! - [`RetryConfig`]: retry of transient failures with capped exponential backoff ([`retry`]).
//! - [`LocalBlobStore`] and [`S3BlobStore`]: core's [`chatbox_core::BlobStore`] port over a
//!   local directory and over S3 or an S3-compatible service ([`blob`]).
//! - [`NatsBroker`]: core's [`chatbox_core::Broker`] port over NATS JetStream, what the replicas
//!   of one deployment share: leases, session frame logs, mail and announcements ([`nats`]).
//!
//! Constructors validate everything up front (key lengths, connection, schema); afterwards every
//! failure is a [`chatbox_core::StoreError`] (for files, a [`chatbox_core::BlobError`]; for the
//! broker, a [`chatbox_core::BrokerError`], which its constructor returns too). Logs never carry
//! message bodies, file contents or keys.

pub mod blob;
pub mod crypto;
pub mod error;
pub mod mongo;
pub mod nats;
pub mod retry;
pub mod sqlite;
pub mod timed;

pub use blob::{LocalBlobStore, S3BlobStore, S3Config};
pub use crypto::Cipher;
pub use error::{Error, FieldProblem};
pub use mongo::{MongoConfig, MongoStore};
pub use nats::{NatsBroker, NatsConfig};
pub use retry::RetryConfig;
pub use sqlite::{SqliteConfig, SqliteStore};
pub use timed::TimedStore;
