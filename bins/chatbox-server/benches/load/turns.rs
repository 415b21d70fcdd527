//! Finished turns per second of the embedded store, as the engine writes them: per turn the
//! user's message (`append_message`) and the finished reply with its statistics
//! (`append_reply`), from many sessions at once, on a real disk with `full_sync` (an fsync per
//! commit).

use std::sync::Arc;
use std::time::{Duration, Instant};

use chatbox_core::{Message, Sender, Session, SessionId, Store, UserId};
use chatbox_store::{Cipher, SqliteConfig, SqliteStore};
use chrono::Utc;

const KEY: &[u8] = b"0123456789abcdef0123456789abcdef";

/// Runs `turns` turns in each of `sessions` concurrent sessions; returns turns/s and the time.
pub async fn sqlite(dir: std::path::PathBuf, sessions: usize, turns: usize) -> (f64, Duration) {
    let _ = std::fs::remove_dir_all(&dir);
    let config = SqliteConfig {
        data_dir: dir.clone(),
        full_sync: true,
        ..SqliteConfig::default()
    };
    let store = SqliteStore::open(config, Cipher::new(Some(KEY), None).unwrap())
        .await
        .unwrap();
    let store = Arc::new(store);
    let mut ids = Vec::with_capacity(sessions);
    for i in 0..sessions {
        let id = SessionId::parse(&format!("turns-{i}")).unwrap();
        let user = UserId::parse(&format!("u{i}")).unwrap();
        store
            .create_session(&Session::new(id.clone(), user, Utc::now()))
            .await
            .unwrap();
        ids.push(id);
    }
    let started = Instant::now();
    let tasks: Vec<_> = ids
        .into_iter()
        .map(|id| {
            let store = Arc::clone(&store);
            tokio::spawn(async move {
                for t in 0..turns {
                    let question = Message::text(Sender::User, format!("question {t}"), Utc::now());
                    store.append_message(&id, &question).await.unwrap();
                    let mut answer = Message::text(
                        Sender::Ai,
                        "An answer of about the length of a short reply from the model.",
                        Utc::now(),
                    );
                    answer.metadata.insert("tokens".into(), "42".into());
                    store.append_reply(&id, &answer, 42, 900).await.unwrap();
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    let took = started.elapsed();
    drop(store);
    let _ = std::fs::remove_dir_all(&dir);
    ((sessions * turns) as f64 / took.as_secs_f64(), took)
}
