//! The Store conformance suite: one `pub async fn` per behaviour of the [`Store`] contract.
//!
//! Every backend runs [`run_all`] (or the functions one by one) with a factory that returns a
//! fresh, empty store per behaviour (for MongoDB: its own database). The functions panic with a
//! message naming the broken rule, like any assertion. Times use whole milliseconds, the
//! precision every backend keeps. They are grouped by subject: a session's lifecycle and
//! ownership (`sessions`), its messages and replies (`messages`), admin lists and metrics
//! (`admin`), the help-request outbox (`outbox`); all are re-exported here.

mod admin;
mod messages;
mod outbox;
mod sessions;

use std::future::Future;

use chrono::{DateTime, Duration, TimeZone, Utc};

use crate::ids::{SessionId, UserId};
use crate::ports::store::Store;
use crate::session::Session;

pub use self::admin::{admin_list_filters_sorts_pages_and_counts, metrics_aggregate_the_window};
pub use self::messages::{
    append_reply_keeps_order_with_messages, append_reply_stores_message_and_stats_together,
    append_reply_to_a_missing_session_writes_nothing, concurrent_appends_lose_nothing,
    messages_keep_order_fields_and_update_activity, messages_last_n_returns_the_most_recent,
};
pub use self::outbox::help_requests_round_trip_and_track_each_channel;
pub use self::sessions::{
    active_session_is_the_latest_active_of_that_user, create_then_get_round_trips,
    duplicate_id_conflicts, end_is_idempotent_and_reopen_clears_it,
    missing_session_is_none_or_not_found, patch_updates_only_given_fields,
    share_token_is_stable_unique_and_revocable, takeover_audit_keeps_order,
    user_sessions_newest_activity_first_with_limit,
};

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
    append_reply_to_a_missing_session_writes_nothing(&make().await).await;
    end_is_idempotent_and_reopen_clears_it(&make().await).await;
    active_session_is_the_latest_active_of_that_user(&make().await).await;
    user_sessions_newest_activity_first_with_limit(&make().await).await;
    admin_list_filters_sorts_pages_and_counts(&make().await).await;
    metrics_aggregate_the_window(&make().await).await;
    share_token_is_stable_unique_and_revocable(&make().await).await;
    takeover_audit_keeps_order(&make().await).await;
    concurrent_appends_lose_nothing(&make().await).await;
    help_requests_round_trip_and_track_each_channel(&make().await).await;
}
