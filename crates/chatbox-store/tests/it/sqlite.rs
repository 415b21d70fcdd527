//! SqliteStore: the conformance suite, encryption through the store, concurrent appends from
//! real tokio tasks.

use std::sync::Arc;

use chatbox_core::testing::store_conformance;
use chatbox_store::Cipher;

use crate::support::{KEY, sqlite};

#[tokio::test]
async fn sqlite_store_passes_the_conformance_suite() {
    let cipher = Cipher::new(Some(KEY), None).unwrap();
    store_conformance::run_all(|| sqlite("conf", cipher.clone())).await;
}

#[tokio::test]
async fn sqlite_store_passes_the_conformance_suite_without_encryption() {
    store_conformance::run_all(|| sqlite("conf_plain", Cipher::plaintext())).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_appends_from_spawned_tasks_lose_nothing() {
    let store = Arc::new(sqlite("spawned", Cipher::new(Some(KEY), None).unwrap()).await);
    crate::concurrent::appends_from_spawned_tasks(store).await;
}

#[tokio::test]
async fn sqlite_encryption_rotation_foreign_key_and_legacy() {
    let dir = std::env::temp_dir().join(format!(
        "chatbox-store-it-{}",
        crate::support::unique("enc")
    ));
    let config = chatbox_store::SqliteConfig {
        data_dir: dir.clone(),
        full_sync: false,
        ..Default::default()
    };
    crate::encryption::rotation_foreign_key_and_legacy(|cipher| {
        let config = config.clone();
        async move {
            chatbox_store::SqliteStore::open(config, cipher)
                .await
                .unwrap()
        }
    })
    .await;
    std::fs::remove_dir_all(dir).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancelled_appends_leave_no_partial_state() {
    let store = Arc::new(sqlite("cancel", Cipher::new(Some(KEY), None).unwrap()).await);
    crate::concurrent::cancelled_appends_leave_no_partial_state(store).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancelled_replies_keep_message_and_stats_together() {
    let store = Arc::new(sqlite("cancel_replies", Cipher::new(Some(KEY), None).unwrap()).await);
    crate::concurrent::cancelled_replies_keep_message_and_stats_together(store).await;
}

/// `TimedStore` only observes: wrapped around a backend it passes the same suite.
#[tokio::test]
async fn a_timed_sqlite_store_passes_the_conformance_suite() {
    store_conformance::run_all(|| async {
        let inner = sqlite("conf_timed", Cipher::plaintext()).await;
        chatbox_store::TimedStore::new("sqlite", Arc::new(inner))
    })
    .await;
}
