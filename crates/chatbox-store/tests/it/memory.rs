//! The conformance suite against core's reference `MemoryStore`, run here too so that all three
//! backends are checked by the same binary.

use chatbox_core::testing::{MemoryStore, store_conformance};

#[tokio::test]
async fn memory_store_passes_the_conformance_suite() {
    store_conformance::run_all(|| async { MemoryStore::new() }).await;
}
