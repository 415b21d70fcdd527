//! SqliteStore: the conformance suite, encryption through the store, concurrent appends from
//! real tokio tasks, and the writer thread's batches seen from the outside: many writers keep
//! their order, a failing write does not fail its neighbours, an abandoned write lands whole.

use std::sync::Arc;

use chatbox_core::testing::store_conformance;
use chatbox_core::{Message, Sender, Session, SessionId, Store, StoreError, UserId};
use chatbox_store::Cipher;
use chrono::Utc;

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

/// Enough tasks at once that the writer takes their appends in shared batches.
const MANY: usize = 300;

fn sid(s: &str) -> SessionId {
    SessionId::parse(s).unwrap()
}

async fn create(store: &impl Store, id: &SessionId) {
    let s = Session::new(id.clone(), UserId::parse("u").unwrap(), Utc::now());
    store.create_session(&s).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn appends_from_many_tasks_land_whole_and_in_each_writers_order() {
    let store = sqlite("many", Cipher::new(Some(KEY), None).unwrap()).await;
    let shared = sid("shared");
    create(&store, &shared).await;
    let tasks: Vec<_> = (0..MANY)
        .map(|w| {
            let (store, shared) = (store.clone(), shared.clone());
            tokio::spawn(async move {
                let own = sid(&format!("own-{w}"));
                create(&store, &own).await;
                for i in 0..4 {
                    let m = Message::text(Sender::User, format!("{w}:{i}"), Utc::now());
                    store.append_message(&shared, &m).await.unwrap();
                    let reply = Message::text(Sender::Ai, format!("{i}"), Utc::now());
                    store.append_reply(&own, &reply, 10, 100).await.unwrap();
                }
                let mine = store.messages(&own, None).await.unwrap();
                let texts: Vec<_> = mine.iter().map(|m| m.content.as_str()).collect();
                assert_eq!(texts, ["0", "1", "2", "3"], "writer {w}'s own session");
                let s = store.get_session(&own).await.unwrap().unwrap();
                assert_eq!(
                    (s.message_count, s.response_count, s.total_tokens),
                    (4, 4, 40)
                );
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    let got = store.messages(&shared, None).await.unwrap();
    assert_eq!(got.len(), MANY * 4, "no message lost");
    let mut next = vec![0usize; MANY];
    for m in &got {
        let (w, i) = m.content.split_once(':').unwrap();
        let (w, i): (usize, usize) = (w.parse().unwrap(), i.parse().unwrap());
        assert_eq!(next[w], i, "writer {w} out of order");
        next[w] += 1;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_append_to_a_missing_session_fails_alone_among_concurrent_appends() {
    let store = sqlite("missing", Cipher::plaintext()).await;
    let real = sid("real");
    create(&store, &real).await;
    let missing = sid("missing");
    // Polled together in one task, so they reach the writer together.
    let appends = (0..MANY).map(|i| {
        let (store, target) = (&store, if i % 3 == 1 { &missing } else { &real });
        async move {
            let m = Message::text(Sender::User, format!("{i}"), Utc::now());
            (i, store.append_message(target, &m).await)
        }
    });
    let results = futures::future::join_all(appends).await;
    let mut stored = Vec::new();
    for (i, r) in results {
        if i % 3 == 1 {
            assert!(matches!(r, Err(StoreError::NotFound)), "append {i}: {r:?}");
        } else {
            r.unwrap();
            stored.push(i.to_string());
        }
    }
    let mut got: Vec<_> = store
        .messages(&real, None)
        .await
        .unwrap()
        .into_iter()
        .map(|m| m.content)
        .collect();
    got.sort_by_key(|c| c.parse::<usize>().unwrap());
    assert_eq!(got, stored, "every other append stored");
    assert!(store.get_session(&missing).await.unwrap().is_none());
    let s = store.get_session(&real).await.unwrap().unwrap();
    assert_eq!(s.message_count, stored.len() as u64);
}

#[tokio::test]
async fn a_write_abandoned_after_it_was_queued_still_commits_whole() {
    let store = sqlite("abandoned", Cipher::new(Some(KEY), None).unwrap()).await;
    let id = sid("abandoned");
    create(&store, &id).await;
    let reply = Message::text(Sender::Ai, "kept", Utc::now());
    {
        let mut write = Box::pin(store.append_reply(&id, &reply, 7, 70));
        // The first poll hands the job to the writer; then the caller gives up.
        let _ = futures::poll!(write.as_mut());
    }
    // The writer runs jobs in order, so once a later write is answered the abandoned one has
    // committed too.
    let later = Message::text(Sender::User, "later", Utc::now());
    store.append_message(&id, &later).await.unwrap();
    let got: Vec<_> = store
        .messages(&id, None)
        .await
        .unwrap()
        .into_iter()
        .map(|m| (m.sender, m.content))
        .collect();
    assert_eq!(
        got,
        [(reply.sender, reply.content), (later.sender, later.content)]
    );
    let s = store.get_session(&id).await.unwrap().unwrap();
    assert_eq!(
        (s.message_count, s.response_count, s.total_tokens),
        (2, 1, 7)
    );
}

#[tokio::test]
async fn revoking_the_share_token_of_a_missing_session_is_not_found() {
    let store = sqlite("revoke", Cipher::plaintext()).await;
    let ghost = SessionId::parse("ghost").unwrap();
    assert!(matches!(
        store.revoke_share_token(&ghost).await,
        Err(StoreError::NotFound)
    ));
    assert_eq!(
        store.get_session(&ghost).await.unwrap(),
        None,
        "nothing was created"
    );
}
