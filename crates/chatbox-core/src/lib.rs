//! Chatbox core: the vocabulary every other crate speaks.
//!
//! This crate holds the domain types (ids, [`Identity`], [`Session`], [`Message`]), the WebSocket
//! protocol of CONTRACT §3 as types with validation ([`protocol`]), and the port traits the engine
//! talks through ([`ports`]): [`Store`], [`LlmProvider`], [`Notifier`] and [`BlobStore`]. It performs
//! no I/O and depends on no async runtime, so every layer above can be tested against it alone.
//! [`upload`] is the upload policy of CONTRACT §6: which file types are accepted, sniffed from
//! their bytes, and which names.
//!
//! With the `test-support` feature, [`testing`] adds in-memory implementations of the ports and the
//! Store and BlobStore conformance suites that every real backend must pass.

pub mod concurrency;
pub mod identity;
pub mod ids;
pub mod outbox;
pub mod ports;
pub mod protocol;
pub mod query;
pub mod sender;
pub mod session;
#[cfg(any(test, feature = "test-support"))]
pub mod testing;
pub mod upload;

pub use identity::{Identity, Role};
pub use ids::{FileId, IdError, SessionId, ShareToken, UserId};
pub use ports::blob::{BlobError, BlobMeta, BlobStore, ByteRange};
pub use ports::broker::{Broker, BrokerError};
pub use ports::llm::{LlmError, LlmProvider};
pub use ports::notify::{Notifier, NotifyError};
pub use ports::store::{Store, StoreError};
pub use sender::Sender;
pub use session::{Message, Session};
