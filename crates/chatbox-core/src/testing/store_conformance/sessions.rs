//! Conformance behaviours of a session's lifecycle and ownership: create and read, conflicts,
//! missing sessions, patches, ending and reopening, a user's sessions, share tokens and the
//! takeover audit trail.

use super::{get, new_session, sid, t, uid};
use crate::ids::ShareToken;
use crate::ports::store::{EndOutcome, SessionPatch, Store, StoreError};
use crate::sender::Sender;
use crate::session::{Message, Session, TakeoverEvent, TakeoverKind};
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
