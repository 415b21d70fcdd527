//! Conformance behaviours of the admin queries: list filters, sort keys and paging with a total,
//! and the metrics over a time window.

use super::{new_session, sid, t, uid};
use crate::ports::store::{SessionPatch, Store};
use crate::query::{
    PageLimit, SessionFilter, SessionQuery, SessionStatus, SortKey, SortOrder, TimeWindow,
};
use crate::sender::Sender;
use crate::session::Message;
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
