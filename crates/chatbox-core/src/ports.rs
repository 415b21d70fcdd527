//! The port traits: the only way the engine reaches storage, LLMs, staff notifications, file
//! storage and the other replicas. Each has a real implementation in its own crate and an in-memory one in
//! [`crate::testing`]; each error type lives beside its trait and boxes backend details as a
//! source, so callers match on kinds, never on text.

pub mod blob;
pub mod broker;
pub mod llm;
pub mod notify;
pub mod store;

/// A backend error carried as the `source` of a port error.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;
