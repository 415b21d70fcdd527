//! Unit tests of [`FaultyStore`]: planned faults hit exactly the planned calls with the planned
//! error kind, other calls reach the wrapped store, stalls never complete and write nothing.

use std::time::{Duration, Instant};

use super::*;
use crate::Sender;
use crate::testing::MemoryStore;

/// How long a stalled call is given to (wrongly) complete.
const STALL_GUARD: Duration = Duration::from_millis(50);

async fn world() -> Result<(Arc<MemoryStore>, FaultyStore, SessionId), StoreError> {
    let inner = Arc::new(MemoryStore::new());
    let id = SessionId::parse("s1").map_err(|e| StoreError::Backend(e.into()))?;
    let user = UserId::parse("u1").map_err(|e| StoreError::Backend(e.into()))?;
    inner
        .create_session(&Session::new(id.clone(), user, Utc::now()))
        .await?;
    let faulty = FaultyStore::new(inner.clone());
    Ok((inner, faulty, id))
}

fn msg(sender: Sender, text: &str) -> Message {
    Message::text(sender, text, Utc::now())
}

async fn texts(store: &MemoryStore, id: &SessionId) -> Result<Vec<String>, StoreError> {
    Ok(store
        .messages(id, None)
        .await?
        .into_iter()
        .map(|m| m.content)
        .collect())
}

#[tokio::test]
async fn the_nth_call_fails_with_its_kind_and_the_next_reaches_the_store() -> Result<(), StoreError>
{
    let (inner, store, id) = world().await?;
    store.fail_nth(StoreOp::AppendMessage, 2, Fault::Transient);
    store.fail_nth(StoreOp::AppendReply, 1, Fault::Permanent);

    store.append_message(&id, &msg(Sender::User, "a")).await?;
    let second = store.append_message(&id, &msg(Sender::User, "b")).await;
    assert!(
        matches!(&second, Err(StoreError::Unavailable(_))),
        "a transient fault is Unavailable: {second:?}"
    );
    assert!(second.is_err_and(|e| e.is_transient()));
    store.append_message(&id, &msg(Sender::User, "c")).await?;

    let reply = store
        .append_reply(&id, &msg(Sender::Ai, "lost"), 10, 100)
        .await;
    assert!(
        matches!(&reply, Err(StoreError::Backend(_))),
        "a permanent fault is Backend: {reply:?}"
    );
    assert!(reply.is_err_and(|e| !e.is_transient()));
    store
        .append_reply(&id, &msg(Sender::Ai, "kept"), 7, 300)
        .await?;

    assert_eq!(
        texts(&inner, &id).await?,
        ["a", "c", "kept"],
        "failed calls wrote nothing; the others reached the inner store"
    );
    let s = inner.get_session(&id).await?.ok_or(StoreError::NotFound)?;
    assert_eq!((s.total_tokens, s.response_count), (7, 1));
    Ok(())
}

#[tokio::test]
async fn nth_counts_from_when_the_fault_is_planned() -> Result<(), StoreError> {
    let (_, store, id) = world().await?;
    store.get_session(&id).await?;
    store.get_session(&id).await?;
    store.fail_nth(StoreOp::GetSession, 1, Fault::Permanent);
    assert!(matches!(
        store.get_session(&id).await,
        Err(StoreError::Backend(_))
    ));
    assert!(store.get_session(&id).await?.is_some());
    Ok(())
}

#[tokio::test]
async fn fail_from_keeps_failing_until_cleared() -> Result<(), StoreError> {
    let (inner, store, id) = world().await?;
    store.fail_from(StoreOp::AppendReply, 2, Fault::Transient);
    store
        .append_reply(&id, &msg(Sender::Ai, "r1"), 1, 10)
        .await?;
    for i in 0..3 {
        let r = store
            .append_reply(&id, &msg(Sender::Ai, "never"), 1, 10)
            .await;
        assert!(
            matches!(r, Err(StoreError::Unavailable(_))),
            "call {} after the first still fails: {r:?}",
            i + 2
        );
    }
    store.clear();
    store
        .append_reply(&id, &msg(Sender::Ai, "r2"), 1, 10)
        .await?;
    assert_eq!(texts(&inner, &id).await?, ["r1", "r2"]);
    assert_eq!(store.calls(StoreOp::AppendReply), 5);
    Ok(())
}

#[tokio::test]
async fn a_stalled_call_never_completes_and_writes_nothing() -> Result<(), StoreError> {
    let (inner, store, id) = world().await?;
    store.fail_nth(StoreOp::AppendReply, 1, Fault::Stall);
    let started = Instant::now();
    let stalled = tokio::time::timeout(
        STALL_GUARD,
        store.append_reply(&id, &msg(Sender::Ai, "stuck"), 10, 100),
    )
    .await;
    assert!(stalled.is_err(), "the stalled call completed: {stalled:?}");
    assert!(started.elapsed() >= STALL_GUARD);
    assert_eq!(
        store.calls(StoreOp::AppendReply),
        1,
        "a stalled call counts"
    );
    let s = inner.get_session(&id).await?.ok_or(StoreError::NotFound)?;
    assert_eq!(
        (s.message_count, s.total_tokens, s.response_count),
        (0, 0, 0),
        "the dropped stalled call wrote nothing"
    );
    store
        .append_reply(&id, &msg(Sender::Ai, "after"), 10, 100)
        .await?;
    assert_eq!(texts(&inner, &id).await?, ["after"]);
    Ok(())
}

#[tokio::test]
async fn calls_counts_every_call_of_each_operation() -> Result<(), StoreError> {
    let (_, store, id) = world().await?;
    assert_eq!(store.calls(StoreOp::Health), 0);
    store.fail_nth(StoreOp::Health, 2, Fault::Permanent);
    store.health().await?;
    assert!(store.health().await.is_err());
    store.health().await?;
    store.get_session(&id).await?;
    store.messages(&id, None).await?;
    assert_eq!(store.calls(StoreOp::Health), 3, "failed calls count too");
    assert_eq!(store.calls(StoreOp::GetSession), 1);
    assert_eq!(store.calls(StoreOp::Messages), 1);
    assert_eq!(store.calls(StoreOp::AppendMessage), 0);
    Ok(())
}
