//! Test implementations of the ports (feature `test-support`), and the Store, BlobStore and
//! Broker conformance suites.
//!
//! These are real implementations with the same semantics as the production backends, not
//! stubs: the conformance suite in [`store_conformance`] runs against [`MemoryStore`] here and
//! against every database backend in chatbox-store, and [`blob_conformance`] against
//! [`MemoryBlobStore`] here and the local-directory and S3 stores there, so the fakes can never
//! drift.

pub mod blob_conformance;
pub mod broker_conformance;
mod faulty_store;
mod memory_blob;
mod memory_broker;
mod memory_store;
mod recording_notifier;
mod scripted_llm;
pub mod store_conformance;

pub use faulty_store::{Fault, FaultyStore, StoreOp};
pub use memory_blob::MemoryBlobStore;
pub use memory_broker::MemoryBroker;
pub use memory_store::MemoryStore;
pub use recording_notifier::RecordingNotifier;
pub use scripted_llm::{Script, ScriptedLlm};
