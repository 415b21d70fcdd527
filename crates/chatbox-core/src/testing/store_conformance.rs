//! The Store conformance suite: one `pub async fn` per behaviour of the [`Store`] contract.
//!
//! Every backend runs [`run_all`] (or the functions one by one) with a factory that returns a
//! fresh, empty store per behaviour (for MongoDB: its own database). The functions panic with a
//! message naming the broken rule, like any assertion. Times use whole milliseconds, the
//! precision every backend keeps.

use std::collections::BTreeMap;
use std::future::Future;

use chrono::{DateTime, Duration, TimeZone, Utc};

use crate::ids::{FileId, SessionId, ShareToken, UserId};
use crate::ports::store::{EndOutcome, SessionPatch, Store, StoreError};
use crate::query::{
    PageLimit, SessionFilter, SessionQuery, SessionStatus, SortKey, SortOrder, TimeWindow,
};
use crate::sender::Sender;
use crate::session::{Message, Session, TakeoverEvent, TakeoverKind};

/// A fixed base time (2024-03-01T00:00:00Z) plus `secs` seconds.
pub fn t(secs: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2024, 3, 1, 0, 0, 0)
        .single()
        .unwrap_or_default()
        + Duration::seconds(secs)
}

fn sid(s: &str) -> SessionId {
    SessionId::parse(s).unwrap_or_else(|e| panic!("test id {s}: {e}"))
}

fn uid(s: &str) -> UserId {
    UserId::parse(s).unwrap_or_else(|e| panic!("test id {s}: {e}"))
}

async fn new_session<S: Store + ?Sized>(store: &S, id: &str, user: &str, start: i64) -> Session {
    let s = Session::new(sid(id), uid(user), t(start));
    store
        .create_session(&s)
        .await
        .unwrap_or_else(|e| panic!("create {id}: {e}"));
    s
}

async fn get<S: Store + ?Sized>(store: &S, id: &str) -> Session {
    store
        .get_session(&sid(id))
        .await
        .unwrap_or_else(|e| panic!("get {id}: {e}"))
        .unwrap_or_else(|| panic!("session {id} should exist"))
}

/// Runs every behaviour, each on a fresh store from `make`.
pub async fn run_all<S, F, Fut>(make: F)
where
    S: Store,
    F: Fn() -> Fut,
    Fut: Future<Output = S>,
{
    create_then_get_round_trips(&make().await).await;
    duplicate_id_conflicts(&make().await).await;
    missing_session_is_none_or_not_found(&make().await).await;
    messages_keep_order_fields_and_update_activity(&make().await).await;
    messages_last_n_returns_the_most_recent(&make().await).await;
    patch_updates_only_given_fields(&make().await).await;
    append_reply_stores_message_and_stats_together(&make().await).await;
    append_reply_keeps_order_with_messages(&make().await).await;
    end_is_idempotent_and_reopen_clears_it(&make().await).await;
    active_session_is_the_latest_active_of_that_user(&make().await).await;
    user_sessions_newest_activity_first_with_limit(&make().await).await;
    admin_list_filters_sorts_pages_and_counts(&make().await).await;
    metrics_aggregate_the_window(&make().await).await;
    share_token_is_stable_unique_and_revocable(&make().await).await;
    takeover_audit_keeps_order(&make().await).await;
    concurrent_appends_lose_nothing(&make().await).await;
}

/// Every field of a new session reads back as written.
pub async fn create_then_get_round_trips<S: Store + ?Sized>(store: &S) {
    let s = new_session(store, "s1", "u1", 0).await;
    let got = get(store, "s1").await;
    assert_eq!(got, s, "a created session reads back unchanged");
    assert!(got.is_active());
    assert_eq!(
        got.last_activity, got.start_time,
        "last_activity starts at start_time"
    );
    assert!(
        store
            .messages(&sid("s1"), None)
            .await
            .unwrap_or_default()
            .is_empty()
    );
    store
        .health()
        .await
        .unwrap_or_else(|e| panic!("health: {e}"));
}

/// Creating a session with an existing id is a conflict and changes nothing.
pub async fn duplicate_id_conflicts<S: Store + ?Sized>(store: &S) {
    new_session(store, "dup", "u1", 0).await;
    let other = Session::new(sid("dup"), uid("intruder"), t(5));
    let err = store.create_session(&other).await.err();
    assert!(
        matches!(err, Some(StoreError::Conflict(_))),
        "duplicate id must conflict: {err:?}"
    );
    assert_eq!(
        get(store, "dup").await.user_id,
        uid("u1"),
        "the original owner is kept"
    );
}

/// Reads of an unknown session return `None`; writes return `NotFound`.
pub async fn missing_session_is_none_or_not_found<S: Store + ?Sized>(store: &S) {
    let ghost = sid("ghost");
    assert!(
        store
            .get_session(&ghost)
            .await
            .unwrap_or_else(|e| panic!("{e}"))
            .is_none()
    );
    let msg = Message::text(Sender::User, "hi", t(1));
    assert!(matches!(
        store.append_message(&ghost, &msg).await,
        Err(StoreError::NotFound)
    ));
    assert!(matches!(
        store.end_session(&ghost, t(1)).await,
        Err(StoreError::NotFound)
    ));
    assert!(matches!(
        store.update_session(&ghost, &SessionPatch::default()).await,
        Err(StoreError::NotFound)
    ));
    let reply = Message::text(Sender::Ai, "nobody hears", t(5));
    assert!(matches!(
        store.append_reply(&ghost, &reply, 1, 1).await,
        Err(StoreError::NotFound)
    ));
    assert!(
        store
            .get_session(&ghost)
            .await
            .unwrap_or_else(|e| panic!("{e}"))
            .is_none(),
        "a reply to a missing session creates nothing"
    );
    let token = ShareToken::parse("tok-ghost").unwrap_or_else(|e| panic!("{e}"));
    assert!(matches!(
        store.share_token(&ghost, &token).await,
        Err(StoreError::NotFound)
    ));
    assert!(
        store
            .find_by_share_token(&token)
            .await
            .unwrap_or_else(|e| panic!("{e}"))
            .is_none()
    );
}

/// Messages come back in append order with every field; count and last activity follow.
pub async fn messages_keep_order_fields_and_update_activity<S: Store + ?Sized>(store: &S) {
    new_session(store, "m", "u1", 0).await;
    let mut file = Message::text(Sender::User, "photo ✓ 日本語", t(20));
    file.file_id = Some(FileId::parse("f-1").unwrap_or_else(|e| panic!("{e}")));
    file.file_url = Some("/chatbox/files/f-1".into());
    file.metadata = BTreeMap::from([
        ("filename".into(), "a.png".into()),
        ("size".into(), "12".into()),
    ]);
    let msgs = [
        Message::text(Sender::User, "hello", t(10)),
        Message::text(Sender::Ai, "hi there", t(11)),
        file,
        Message::text(Sender::Admin, "an admin speaks", t(30)),
    ];
    for m in &msgs {
        store
            .append_message(&sid("m"), m)
            .await
            .unwrap_or_else(|e| panic!("append: {e}"));
    }
    let got = store
        .messages(&sid("m"), None)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(got, msgs, "messages read back in order with all fields");
    let s = get(store, "m").await;
    assert_eq!(s.message_count, 4);
    assert_eq!(s.last_activity, t(30));
}

/// `messages(id, Some(n))` returns the last `n` in order.
pub async fn messages_last_n_returns_the_most_recent<S: Store + ?Sized>(store: &S) {
    new_session(store, "n", "u1", 0).await;
    for i in 0..5 {
        let m = Message::text(Sender::User, format!("m{i}"), t(i + 1));
        store
            .append_message(&sid("n"), &m)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
    }
    let got = store
        .messages(&sid("n"), Some(2))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let texts: Vec<&str> = got.iter().map(|m| m.content.as_str()).collect();
    assert_eq!(texts, ["m3", "m4"]);
    let all = store
        .messages(&sid("n"), Some(50))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(all.len(), 5);
}

/// A patch changes what it names and nothing else; the first help time is kept.
pub async fn patch_updates_only_given_fields<S: Store + ?Sized>(store: &S) {
    let before = new_session(store, "p", "u1", 0).await;
    let patch = SessionPatch {
        name: Some("Billing question".into()),
        ..Default::default()
    };
    store
        .update_session(&sid("p"), &patch)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let s = get(store, "p").await;
    assert_eq!(s.name, "Billing question");
    assert_eq!(
        Session {
            name: before.name.clone(),
            ..s.clone()
        },
        before,
        "only name changed"
    );

    let patch = SessionPatch {
        model_id: Some("anthropic-claude".into()),
        help_requested_at: Some(t(40)),
        assisting_admin: Some((uid("adm"), "Ada".into())),
        ..Default::default()
    };
    store
        .update_session(&sid("p"), &patch)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let again = SessionPatch {
        help_requested_at: Some(t(99)),
        ..Default::default()
    };
    store
        .update_session(&sid("p"), &again)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let s = get(store, "p").await;
    assert_eq!(s.model_id.as_deref(), Some("anthropic-claude"));
    assert!(s.help_requested);
    assert_eq!(
        s.help_requested_at,
        Some(t(40)),
        "the first help request time is kept"
    );
    assert!(s.admin_assisted);
    assert_eq!(s.assisting_admin_id, Some(uid("adm")));
    assert_eq!(s.assisting_admin_name.as_deref(), Some("Ada"));
    assert_eq!(s.name, "Billing question");
}

/// A reply's message and its token and response-time figures are stored by one call, and the
/// figures accumulate across replies.
pub async fn append_reply_stores_message_and_stats_together<S: Store + ?Sized>(store: &S) {
    new_session(store, "r", "u1", 0).await;
    for (i, (tokens, ms)) in [(100, 400), (50, 1000), (10, 100)].into_iter().enumerate() {
        let mut m = Message::text(Sender::Ai, format!("answer {i}"), t(10 + i as i64));
        m.metadata.insert("model_id".into(), "gpt".into());
        store
            .append_reply(&sid("r"), &m, tokens, ms)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
    }
    let s = get(store, "r").await;
    assert_eq!(
        (
            s.total_tokens,
            s.max_response_ms,
            s.avg_response_ms,
            s.response_count
        ),
        (160, 1000, 500, 3)
    );
    assert_eq!(s.message_count, 3);
    assert_eq!(s.last_activity, t(12));
    let msgs = store
        .messages(&sid("r"), None)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(msgs.len(), 3);
    assert_eq!(
        (msgs[2].sender, msgs[2].content.as_str()),
        (Sender::Ai, "answer 2")
    );
    assert_eq!(
        msgs[2].metadata.get("model_id").map(String::as_str),
        Some("gpt")
    );
}

/// Replies and plain messages interleave in arrival order.
pub async fn append_reply_keeps_order_with_messages<S: Store + ?Sized>(store: &S) {
    new_session(store, "o", "u1", 0).await;
    for i in 0..3i64 {
        let q = Message::text(Sender::User, format!("q{i}"), t(2 * i + 1));
        store
            .append_message(&sid("o"), &q)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let a = Message::text(Sender::Ai, format!("a{i}"), t(2 * i + 2));
        store
            .append_reply(&sid("o"), &a, 1, 10)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
    }
    let texts: Vec<String> = store
        .messages(&sid("o"), None)
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .into_iter()
        .map(|m| m.content)
        .collect();
    assert_eq!(texts, ["q0", "a0", "q1", "a1", "q2", "a2"]);
    let s = get(store, "o").await;
    assert_eq!(
        (s.message_count, s.response_count, s.total_tokens),
        (6, 3, 3)
    );
}

/// Ending twice keeps the first end time; reopening clears it.
pub async fn end_is_idempotent_and_reopen_clears_it<S: Store + ?Sized>(store: &S) {
    new_session(store, "e", "u1", 0).await;
    let first = store
        .end_session(&sid("e"), t(60))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(first, EndOutcome::Ended(t(60)));
    let second = store
        .end_session(&sid("e"), t(120))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        second,
        EndOutcome::AlreadyEnded(t(60)),
        "a second end does not re-stamp"
    );
    let s = get(store, "e").await;
    assert_eq!(s.end_time, Some(t(60)));
    assert_eq!(s.duration_secs(t(1000)), 60);
    let reopen = SessionPatch {
        reopen: true,
        ..Default::default()
    };
    store
        .update_session(&sid("e"), &reopen)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(
        get(store, "e").await.is_active(),
        "reopen clears the end time"
    );
}

/// The active session of a user is their latest-started one without an end.
pub async fn active_session_is_the_latest_active_of_that_user<S: Store + ?Sized>(store: &S) {
    assert!(
        store
            .active_session(&uid("u1"))
            .await
            .unwrap_or_else(|e| panic!("{e}"))
            .is_none()
    );
    new_session(store, "old", "u1", 0).await;
    new_session(store, "new", "u1", 100).await;
    new_session(store, "ended", "u1", 200).await;
    new_session(store, "other", "u2", 300).await;
    store
        .end_session(&sid("ended"), t(250))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let active = store
        .active_session(&uid("u1"))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(active.map(|s| s.id), Some(sid("new")));
}

/// A user's list is theirs only, newest activity first, bounded.
pub async fn user_sessions_newest_activity_first_with_limit<S: Store + ?Sized>(store: &S) {
    new_session(store, "a", "u1", 0).await;
    new_session(store, "b", "u1", 10).await;
    new_session(store, "c", "u1", 20).await;
    new_session(store, "x", "u2", 30).await;
    let m = Message::text(Sender::User, "bump", t(500));
    store
        .append_message(&sid("a"), &m)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let rows = store
        .user_sessions(&uid("u1"), 100)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let ids: Vec<&str> = rows.iter().map(|s| s.id.as_str()).collect();
    assert_eq!(ids, ["a", "c", "b"]);
    let rows = store
        .user_sessions(&uid("u1"), 2)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(rows.len(), 2);
}

/// Admin lists: every filter, all seven sort keys both ways, paging with a total.
pub async fn admin_list_filters_sorts_pages_and_counts<S: Store + ?Sized>(store: &S) {
    // s0..s4 start 1000 s apart; durations and counts differ so every key orders them.
    for i in 0..5i64 {
        let id = format!("s{i}");
        new_session(store, &id, &format!("user{}", 4 - i), i * 1000).await;
        for k in 0..i {
            let m = Message::text(Sender::User, "x", t(i * 1000 + k + 1));
            store
                .append_message(&sid(&id), &m)
                .await
                .unwrap_or_else(|e| panic!("{e}"));
        }
        let reply = Message::text(Sender::Ai, "y", t(i * 1000 + i + 1));
        store
            .append_reply(&sid(&id), &reply, (10 - i) as u64, 5)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
    }
    // s0 ends after 4000 s, s3 after 10 s: durations are distinct from start order.
    store
        .end_session(&sid("s0"), t(4000))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    store
        .end_session(&sid("s3"), t(3010))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let patch = SessionPatch {
        assisting_admin: Some((uid("adm"), "Ada".into())),
        ..Default::default()
    };
    store
        .update_session(&sid("s1"), &patch)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let help = SessionPatch {
        help_requested_at: Some(t(2500)),
        ..Default::default()
    };
    store
        .update_session(&sid("s2"), &help)
        .await
        .unwrap_or_else(|e| panic!("{e}"));

    let list = |q: SessionQuery| async move {
        let page = store
            .list_sessions(&q)
            .await
            .unwrap_or_else(|e| panic!("list: {e}"));
        let ids: Vec<String> = page.sessions.iter().map(|s| s.id.to_string()).collect();
        (ids, page.total)
    };
    let asc = |sort| SessionQuery {
        sort,
        order: SortOrder::Asc,
        ..Default::default()
    };

    assert_eq!(
        list(SessionQuery::default()).await,
        (ids(&[4, 3, 2, 1, 0]), 5),
        "default: start desc"
    );
    assert_eq!(list(asc(SortKey::StartTime)).await.0, ids(&[0, 1, 2, 3, 4]));
    assert_eq!(list(asc(SortKey::UserId)).await.0, ids(&[4, 3, 2, 1, 0]));
    assert_eq!(
        list(asc(SortKey::HelpRequestedAt)).await.0,
        ids(&[0, 1, 3, 4, 2]),
        "no help request sorts lowest, then by request time"
    );
    assert_eq!(
        list(asc(SortKey::MessageCount)).await.0,
        ids(&[0, 1, 2, 3, 4])
    );
    assert_eq!(
        list(asc(SortKey::TotalTokens)).await.0,
        ids(&[4, 3, 2, 1, 0])
    );
    assert_eq!(
        list(asc(SortKey::LastActivity)).await.0,
        ids(&[0, 1, 2, 3, 4])
    );
    // Active sessions have no end: they sort first ascending (nulls lowest).
    let end_asc = list(asc(SortKey::EndTime)).await.0;
    assert_eq!(
        &end_asc[3..],
        &ids(&[3, 0])[..],
        "ended sessions by end time: {end_asc:?}"
    );
    // Active sessions last until now (years after 2024), so they are the longest; then s0
    // (4000 s) and s3 (10 s).
    let by_duration = list(SessionQuery {
        sort: SortKey::Duration,
        ..Default::default()
    })
    .await
    .0;
    assert_eq!(by_duration, ids(&[1, 2, 4, 0, 3]), "duration desc");

    let filtered = |filter: SessionFilter| {
        list(SessionQuery {
            filter,
            ..Default::default()
        })
    };
    let f = SessionFilter {
        status: Some(SessionStatus::Ended),
        ..Default::default()
    };
    assert_eq!(filtered(f).await, (ids(&[3, 0]), 2));
    let f = SessionFilter {
        status: Some(SessionStatus::Active),
        ..Default::default()
    };
    assert_eq!(filtered(f).await, (ids(&[4, 2, 1]), 3));
    let f = SessionFilter {
        admin_assisted: Some(true),
        ..Default::default()
    };
    assert_eq!(filtered(f).await, (ids(&[1]), 1));
    let f = SessionFilter {
        admin_assisted: Some(false),
        ..Default::default()
    };
    assert_eq!(filtered(f).await.1, 4);
    let f = SessionFilter {
        help_requested: Some(true),
        ..Default::default()
    };
    assert_eq!(filtered(f).await, (ids(&[2]), 1));
    let f = SessionFilter {
        user_id: Some(uid("user1")),
        ..Default::default()
    };
    assert_eq!(filtered(f).await, (ids(&[3]), 1));
    let f = SessionFilter {
        start_from: Some(t(1000)),
        start_to: Some(t(3000)),
        ..Default::default()
    };
    assert_eq!(
        filtered(f).await,
        (ids(&[3, 2, 1]), 3),
        "start range is inclusive"
    );

    let page = |offset, limit| SessionQuery {
        order: SortOrder::Asc,
        offset,
        limit: PageLimit::new(limit).unwrap_or_default(),
        ..Default::default()
    };
    assert_eq!(
        list(page(1, 2)).await,
        (ids(&[1, 2]), 5),
        "total counts before paging"
    );
    assert_eq!(list(page(4, 2)).await, (ids(&[4]), 5));
    assert_eq!(list(page(9, 2)).await, (vec![], 5));
}

fn ids(ns: &[u32]) -> Vec<String> {
    ns.iter().map(|n| format!("s{n}")).collect()
}

/// Metrics count sessions started in the window and compute concurrency over it.
pub async fn metrics_aggregate_the_window<S: Store + ?Sized>(store: &S) {
    let empty = TimeWindow::new(t(0), t(3600)).unwrap_or_else(|e| panic!("{e}"));
    let m = store
        .metrics(empty, t(3600))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        (m.total_sessions, m.max_concurrent),
        (0, 0),
        "empty store gives zeros"
    );

    new_session(store, "before", "u1", -100).await; // started before the window, open across it
    new_session(store, "a", "u1", 0).await;
    new_session(store, "b", "u2", 1800).await;
    new_session(store, "after", "u3", 7200).await;
    store
        .end_session(&sid("a"), t(1800))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    store
        .end_session(&sid("before"), t(3600))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    store
        .append_reply(&sid("a"), &Message::text(Sender::Ai, "ra", t(10)), 100, 200)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    store
        .append_reply(
            &sid("b"),
            &Message::text(Sender::Ai, "rb", t(1810)),
            50,
            600,
        )
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let patch = SessionPatch {
        assisting_admin: Some((uid("adm"), "Ada".into())),
        help_requested_at: Some(t(1900)),
        ..Default::default()
    };
    store
        .update_session(&sid("b"), &patch)
        .await
        .unwrap_or_else(|e| panic!("{e}"));

    let window = TimeWindow::new(t(0), t(3600)).unwrap_or_else(|e| panic!("{e}"));
    let m = store
        .metrics(window, t(3600))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(m.total_sessions, 2, "a and b started in the window");
    assert_eq!((m.active_sessions, m.ended_sessions), (1, 1));
    assert_eq!((m.admin_assisted_count, m.help_requested_count), (1, 1));
    assert_eq!(m.total_tokens, 150);
    assert_eq!((m.avg_response_time, m.max_response_time), (400, 600));
    // "before" is open all hour; a covers the first half, b the second: always 2 open.
    assert_eq!(m.max_concurrent, 2);
    assert!(
        (m.avg_concurrent - 2.0).abs() < 1e-6,
        "avg_concurrent {}",
        m.avg_concurrent
    );
}

/// The first share token sticks, another session cannot take it, revoking removes it.
pub async fn share_token_is_stable_unique_and_revocable<S: Store + ?Sized>(store: &S) {
    new_session(store, "sh", "u1", 0).await;
    new_session(store, "sh2", "u1", 0).await;
    let tok = |s: &str| ShareToken::parse(s).unwrap_or_else(|e| panic!("{e}"));
    let first = store
        .share_token(&sid("sh"), &tok("t-one"))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(first, tok("t-one"));
    let again = store
        .share_token(&sid("sh"), &tok("t-two"))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(again, tok("t-one"), "the share token is stable per session");
    let stolen = store.share_token(&sid("sh2"), &tok("t-one")).await;
    assert!(
        matches!(stolen, Err(StoreError::Conflict(_))),
        "share tokens are unique: {stolen:?}"
    );
    let found = store
        .find_by_share_token(&tok("t-one"))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(found.map(|s| s.id), Some(sid("sh")));
    store
        .revoke_share_token(&sid("sh"))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(
        store
            .find_by_share_token(&tok("t-one"))
            .await
            .unwrap_or_else(|e| panic!("{e}"))
            .is_none()
    );
    assert_eq!(get(store, "sh").await.share_token, None);
    // After revoking, a fresh token can be issued.
    let fresh = store
        .share_token(&sid("sh"), &tok("t-three"))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(fresh, tok("t-three"));
}

/// Takeover audit events read back in order.
pub async fn takeover_audit_keeps_order<S: Store + ?Sized>(store: &S) {
    new_session(store, "tk", "u1", 0).await;
    let ev = |kind, at, reason: Option<&str>| TakeoverEvent {
        kind,
        admin_id: uid("adm"),
        admin_name: "Ada".into(),
        at: t(at),
        reason: reason.map(str::to_owned),
    };
    let events = [
        ev(TakeoverKind::Join, 10, Some("takeover")),
        ev(TakeoverKind::Leave, 20, Some("timeout")),
        ev(TakeoverKind::Join, 30, None),
    ];
    for e in &events {
        store
            .record_takeover(&sid("tk"), e)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
    }
    assert_eq!(
        store
            .takeover_events(&sid("tk"))
            .await
            .unwrap_or_else(|e| panic!("{e}")),
        events
    );
}

/// 32 writers appending to one session concurrently lose nothing and keep per-writer order.
pub async fn concurrent_appends_lose_nothing<S: Store + ?Sized>(store: &S) {
    const WRITERS: usize = 32;
    const EACH: usize = 8;
    new_session(store, "cc", "u1", 0).await;
    let writers = (0..WRITERS).map(|w| async move {
        for i in 0..EACH {
            let m = Message::text(Sender::User, format!("{w}:{i}"), t(1));
            store
                .append_message(&sid("cc"), &m)
                .await
                .unwrap_or_else(|e| panic!("append: {e}"));
        }
    });
    futures::future::join_all(writers).await;
    let got = store
        .messages(&sid("cc"), None)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(got.len(), WRITERS * EACH, "no message lost");
    assert_eq!(
        get(store, "cc").await.message_count,
        (WRITERS * EACH) as u64
    );
    let mut next = [0usize; WRITERS];
    for m in &got {
        let (w, i) = m
            .content
            .split_once(':')
            .unwrap_or_else(|| panic!("bad content {}", m.content));
        let (w, i): (usize, usize) = (w.parse().unwrap_or(0), i.parse().unwrap_or(0));
        assert_eq!(next[w], i, "writer {w} out of order");
        next[w] += 1;
    }
}
