//! The help-request outbox: requests round-trip with their notice and deliveries, delivery
//! outcomes are recorded per channel, and only requests with a pending delivery are pending.

use crate::outbox::{Delivery, DeliveryState, HelpRequest};
use crate::ports::notify::HelpNotice;
use crate::ports::store::{Store, StoreError};
use crate::sender::Sender;
use crate::session::Message;

use super::{new_session, sid, t, uid};

fn request(id: &str, session: &str, at: i64, channels: &[&str]) -> HelpRequest {
    let mut context = Message::text(Sender::User, "<b>my order</b> is late", t(at - 5));
    context.metadata.insert("k".into(), "v".into());
    HelpRequest {
        id: id.to_owned(),
        notice: HelpNotice {
            user_id: uid("u1"),
            user_name: "<img src=x>".into(),
            session_id: sid(session),
            requested_at: t(at),
            admin_link: Some(format!("https://admin.example/{session}")),
            note: Some("please call".into()),
            context: vec![context],
        },
        deliveries: channels
            .iter()
            .map(|c| Delivery::pending(*c, t(at)))
            .collect(),
    }
}

/// A request reads back whole; outcomes are recorded per channel; pending means some delivery is.
pub async fn help_requests_round_trip_and_track_each_channel<S: Store + ?Sized>(store: &S) {
    new_session(store, "h1", "u1", 0).await;
    new_session(store, "h2", "u1", 0).await;
    let first = request("r1", "h1", 100, &["smtp", "sms"]);
    let second = request("r2", "h2", 50, &["webhook"]);
    let third = request("r3", "h1", 200, &["smtp"]);
    for r in [&first, &second, &third] {
        store
            .record_help_request(r)
            .await
            .unwrap_or_else(|e| panic!("record {}: {e}", r.id));
    }
    assert!(
        matches!(
            store.record_help_request(&first).await,
            Err(StoreError::Conflict(_))
        ),
        "request ids are unique"
    );
    let mine = store
        .help_requests(&sid("h1"))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(mine, [first.clone(), third.clone()], "whole, oldest first");

    let pending = |limit| async move {
        store
            .pending_help_requests(limit)
            .await
            .unwrap_or_else(|e| panic!("{e}"))
            .into_iter()
            .map(|r| r.id)
            .collect::<Vec<_>>()
    };
    assert_eq!(pending(10).await, ["r2", "r1", "r3"], "oldest first");
    assert_eq!(pending(2).await, ["r2", "r1"], "bounded");

    let delivered = Delivery {
        channel: "smtp".into(),
        state: DeliveryState::Delivered,
        attempts: 2,
        last_error: Some("timeout".into()),
        updated_at: t(130),
    };
    store
        .update_delivery("r1", &delivered)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        pending(10).await,
        ["r2", "r1", "r3"],
        "r1 still waits for sms"
    );
    let failed = Delivery {
        channel: "sms".into(),
        state: DeliveryState::Failed,
        attempts: 5,
        last_error: Some("rejected".into()),
        updated_at: t(140),
    };
    store
        .update_delivery("r1", &failed)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(pending(10).await, ["r2", "r3"], "nothing of r1 is pending");
    let r1 = store
        .help_requests(&sid("h1"))
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .into_iter()
        .find(|r| r.id == "r1")
        .unwrap_or_else(|| panic!("r1 is kept"));
    assert_eq!(r1.deliveries, [delivered, failed]);
    assert_eq!(r1.notice, first.notice, "the notice is untouched");

    let ghost = Delivery::pending("smtp", t(1));
    assert!(matches!(
        store.update_delivery("nope", &ghost).await,
        Err(StoreError::NotFound)
    ));
    assert!(
        matches!(
            store.update_delivery("r2", &ghost).await,
            Err(StoreError::NotFound)
        ),
        "a channel the request does not have"
    );
}
