//! Appends under real concurrency and cancellation: 32 tokio tasks appending to one session lose
//! nothing and keep each writer's order; appends and replies abandoned mid-flight leave nothing
//! partial behind.

use std::sync::Arc;

use chatbox_core::{Message, Sender, Session, SessionId, Store, UserId};
use chrono::Utc;

const WRITERS: usize = 32;
const EACH: usize = 10;

/// Spawns the writers on `store` and checks the result.
pub async fn appends_from_spawned_tasks<S: Store>(store: Arc<S>) {
    let id = SessionId::parse("spawned").unwrap();
    let now = Utc::now();
    store
        .create_session(&Session::new(id.clone(), UserId::parse("u").unwrap(), now))
        .await
        .unwrap();
    let tasks: Vec<_> = (0..WRITERS)
        .map(|w| {
            let store = Arc::clone(&store);
            let id = id.clone();
            tokio::spawn(async move {
                for i in 0..EACH {
                    let m = Message::text(Sender::User, format!("{w}:{i}"), now);
                    store.append_message(&id, &m).await.unwrap();
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    let got = store.messages(&id, None).await.unwrap();
    assert_eq!(got.len(), WRITERS * EACH, "no message lost");
    let session = store.get_session(&id).await.unwrap().unwrap();
    assert_eq!(session.message_count, (WRITERS * EACH) as u64);
    let mut next = [0usize; WRITERS];
    for m in &got {
        let (w, i) = m.content.split_once(':').unwrap();
        let (w, i): (usize, usize) = (w.parse().unwrap(), i.parse().unwrap());
        assert_eq!(next[w], i, "writer {w} out of order");
        next[w] += 1;
    }
    assert!(next.iter().all(|&n| n == EACH));
    let last = store.messages(&id, Some(3)).await.unwrap();
    assert_eq!(last, got[got.len() - 3..].to_vec(), "last-n is the tail");
}

/// Appends abandoned at arbitrary points (their futures dropped by a timeout) leave the store
/// consistent: each message is wholly there or wholly absent, and the count agrees.
pub async fn cancelled_appends_leave_no_partial_state<S: Store>(store: Arc<S>) {
    let id = SessionId::parse("cancelled").unwrap();
    let now = Utc::now();
    store
        .create_session(&Session::new(id.clone(), UserId::parse("u").unwrap(), now))
        .await
        .unwrap();
    let mut completed = 0usize;
    for i in 0..60u64 {
        let m = Message::text(Sender::User, format!("m{i}"), now);
        // Deadlines from 0 to ~3 ms cut the operation at different stages.
        let limit = std::time::Duration::from_micros((i % 12) * 250);
        if let Ok(r) = tokio::time::timeout(limit, store.append_message(&id, &m)).await {
            r.unwrap();
            completed += 1;
        }
    }
    // A write already handed to the backend may still land between two reads, so read until the
    // count and the messages agree; a partial write would make them disagree for good.
    let mut got = Vec::new();
    let mut agreed = false;
    for _ in 0..100 {
        got = store.messages(&id, None).await.unwrap();
        let count = store.get_session(&id).await.unwrap().unwrap().message_count;
        if count == got.len() as u64 {
            agreed = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert!(agreed, "message_count matches the stored messages");
    assert!(got.len() >= completed, "every completed append is stored");
    assert!(
        got.iter().all(|m| m.content.starts_with('m')),
        "no torn message"
    );
}

/// Replies abandoned at arbitrary points leave each reply wholly stored with its statistics or
/// wholly absent: the message count, the response count and the tokens always agree with the
/// stored replies.
pub async fn cancelled_replies_keep_message_and_stats_together<S: Store>(store: Arc<S>) {
    let id = SessionId::parse("cancelled-replies").unwrap();
    let now = Utc::now();
    store
        .create_session(&Session::new(id.clone(), UserId::parse("u").unwrap(), now))
        .await
        .unwrap();
    let mut completed = 0usize;
    for i in 1..=60u64 {
        // Each reply carries its token count in its text, so the stored replies say what the
        // session's total must be.
        let m = Message::text(Sender::Ai, format!("{i}"), now);
        let limit = std::time::Duration::from_micros((i % 12) * 250);
        if let Ok(r) = tokio::time::timeout(limit, store.append_reply(&id, &m, i, 10 * i)).await {
            r.unwrap();
            completed += 1;
        }
    }
    // As above: a write handed to the backend before the drop may land a little later.
    let mut agreed = None;
    for _ in 0..100 {
        let got = store.messages(&id, None).await.unwrap();
        let s = store.get_session(&id).await.unwrap().unwrap();
        let tokens: u64 = got.iter().map(|m| m.content.parse::<u64>().unwrap()).sum();
        let n = got.len() as u64;
        if (s.message_count, s.response_count, s.total_tokens) == (n, n, tokens) {
            agreed = Some(got.len());
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let stored = agreed.expect("counts and tokens match the stored replies");
    assert!(stored >= completed, "every completed reply is stored");
}
