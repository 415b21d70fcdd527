//! MongoStore against the test MongoDB-wire server (SecantusDB under `cargo xtask test`): the
//! conformance suite (each behaviour on its own database), concurrent appends from real tasks,
//! encryption through the store, the indexes, and configuration errors.

use std::sync::Arc;

use chatbox_core::testing::store_conformance;
use chatbox_core::{Store, StoreError};
use chatbox_store::{Cipher, Error, MongoConfig, MongoStore};
use futures::TryStreamExt;

use crate::support::{KEY, mongo, mongo_config, unique};

#[tokio::test]
async fn mongo_store_passes_the_conformance_suite() {
    let cipher = Cipher::new(Some(KEY), None).unwrap();
    store_conformance::run_all(|| mongo("conf", cipher.clone())).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_appends_from_spawned_tasks_lose_nothing() {
    let store = Arc::new(mongo("spawned", Cipher::new(Some(KEY), None).unwrap()).await);
    crate::concurrent::appends_from_spawned_tasks(store).await;
}

#[tokio::test]
async fn mongo_encryption_rotation_foreign_key_and_legacy() {
    let db = unique("enc");
    crate::encryption::rotation_foreign_key_and_legacy(|cipher| {
        let config = mongo_config(&db);
        async move { MongoStore::connect(config, cipher).await.unwrap() }
    })
    .await;
}

#[tokio::test]
async fn the_five_go_indexes_exist_with_their_names() {
    let store = mongo("idx", Cipher::plaintext()).await;
    let indexes: Vec<_> = store
        .collection()
        .list_indexes()
        .await
        .unwrap()
        .try_collect()
        .await
        .unwrap();
    let mut names: Vec<String> = indexes
        .iter()
        .filter_map(|i| i.options.as_ref().and_then(|o| o.name.clone()))
        .collect();
    names.sort();
    assert_eq!(
        names,
        [
            "_id_",
            "idx_admin_assisted",
            "idx_share_token",
            "idx_start_time",
            "idx_user_id",
            "idx_user_start_time"
        ]
    );
    let share = indexes
        .iter()
        .find(|i| i.options.as_ref().and_then(|o| o.name.as_deref()) == Some("idx_share_token"))
        .unwrap();
    let opts = share.options.as_ref().unwrap();
    assert_eq!((opts.unique, opts.sparse), (Some(true), Some(true)));
    assert_eq!(share.keys, mongodb::bson::doc! { "shareToken": 1 });
    // Connecting again (indexes already there) is fine.
    MongoStore::connect(mongo_config(store.database_name()), Cipher::plaintext())
        .await
        .unwrap();
    store.health().await.unwrap();
}

#[tokio::test]
async fn an_unreachable_server_is_a_connect_error_and_a_bad_key_a_cipher_error() {
    let config = MongoConfig {
        uri: "mongodb://127.0.0.1:1".into(),
        server_selection_timeout_ms: 200,
        ..MongoConfig::default()
    };
    let err = MongoStore::connect(config, Cipher::plaintext())
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Mongo(_)), "{err}");
    assert!(matches!(
        Cipher::new(Some(&[7u8; 31]), None),
        Err(Error::KeyLength { len: 31, .. })
    ));
    let bad = MongoConfig {
        uri: "not-a-uri".into(),
        ..MongoConfig::default()
    };
    assert!(matches!(
        MongoStore::connect(bad, Cipher::plaintext()).await,
        Err(Error::Mongo(_))
    ));
    // StoreError for a missing session stays NotFound (not a backend error).
    let store = mongo("nf", Cipher::plaintext()).await;
    let ghost = chatbox_core::SessionId::parse("ghost").unwrap();
    assert!(matches!(
        store.takeover_events(&ghost).await,
        Err(StoreError::NotFound)
    ));
    assert!(matches!(
        store.messages(&ghost, Some(0)).await,
        Err(StoreError::NotFound)
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancelled_appends_leave_no_partial_state() {
    let store = Arc::new(mongo("cancel", Cipher::new(Some(KEY), None).unwrap()).await);
    crate::concurrent::cancelled_appends_leave_no_partial_state(store).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancelled_replies_keep_message_and_stats_together() {
    let store = Arc::new(mongo("cancel_replies", Cipher::new(Some(KEY), None).unwrap()).await);
    crate::concurrent::cancelled_replies_keep_message_and_stats_together(store).await;
}

#[tokio::test]
async fn the_store_debug_names_its_namespace_but_not_the_connection_string() {
    let store = mongo("debug", Cipher::new(Some(KEY), None).unwrap()).await;
    let shown = format!("{store:?}");
    let namespace = format!("{}.sessions", store.database_name());
    assert!(shown.starts_with("MongoStore"), "{shown}");
    assert!(shown.contains(&namespace), "{shown}");
    assert!(!shown.contains("mongodb://"), "{shown}");
    assert!(
        !shown.contains("0123456789abcdef"),
        "the key is hidden: {shown}"
    );
}
