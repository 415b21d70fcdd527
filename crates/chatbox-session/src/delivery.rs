//! Delivering recorded help requests to staff (CONTRACT §5), from the outbox.
//!
//! Guarantees:
//! - Every channel is delivered independently and concurrently: one channel down never delays or
//!   stops another.
//! - Each attempt has a deadline; transient failures are retried with backoff
//!   ([`QUICK_ATTEMPTS`] at once), then left pending for the sweeper, which retries pending
//!   deliveries every `notify_retry_secs` — also right after a restart, so a request recorded
//!   before a crash is still sent. A permanent failure, or [`MAX_ATTEMPTS`] in all, marks the
//!   delivery failed.
//! - Every outcome is written to the outbox as it happens, and counted in
//!   `chatbox_notifications_total{channel,outcome}`.
//! - A delivery is never in flight twice in one process (the fresh send and the sweeper skip each
//!   other). Across a crash between sending and recording, a channel may be sent twice: delivery is
//!   at least once.

use std::collections::HashSet;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use chatbox_core::Notifier;
use chatbox_core::outbox::{Delivery, DeliveryState, HelpRequest};
use chrono::Utc;
use futures::StreamExt;
use futures::future::join_all;

use crate::engine::Shared;
use crate::store_call::{bounded, retried};

/// Attempts made at once for a fresh request before leaving it to the sweeper.
pub const QUICK_ATTEMPTS: u32 = 3;
/// Attempts after which a delivery is given up on.
pub const MAX_ATTEMPTS: u32 = 50;
/// Deadline of one attempt.
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(10);
/// Backoff before the second quick attempt; doubled for each later one.
const FIRST_BACKOFF: Duration = Duration::from_millis(200);
/// Requests one sweep loads.
const SWEEP_BATCH: u32 = 100;
/// Requests one sweep delivers at once.
const SWEEP_CONCURRENCY: usize = 16;

/// Deliveries in flight in this process, by (request id, channel).
#[derive(Debug, Default)]
pub(crate) struct InFlight(Mutex<HashSet<(String, String)>>);

/// Removes its key from [`InFlight`] when dropped.
struct Claim<'a> {
    set: &'a InFlight,
    key: (String, String),
}

impl InFlight {
    fn claim(&self, request: &str, channel: &str) -> Option<Claim<'_>> {
        let key = (request.to_owned(), channel.to_owned());
        let fresh = self
            .0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(key.clone());
        fresh.then_some(Claim { set: self, key })
    }
}

impl Drop for Claim<'_> {
    fn drop(&mut self) {
        self.set
            .0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&self.key);
    }
}

/// Delivers every pending channel of `request` (up to `attempts` attempts each now) and returns
/// the deliveries as they stand afterwards.
pub(crate) async fn deliver(
    shared: &Shared,
    request: &HelpRequest,
    attempts: u32,
) -> Vec<Delivery> {
    let sends = request.deliveries.iter().map(|d| async move {
        if d.state != DeliveryState::Pending {
            return d.clone();
        }
        match shared.in_flight.claim(&request.id, &d.channel) {
            Some(_claim) => deliver_one(shared, request, d.clone(), attempts).await,
            None => d.clone(),
        }
    });
    join_all(sends).await
}

async fn deliver_one(
    shared: &Shared,
    request: &HelpRequest,
    mut delivery: Delivery,
    attempts: u32,
) -> Delivery {
    let notifier = shared
        .notifiers
        .iter()
        .find(|n| n.channel() == delivery.channel);
    let Some(notifier) = notifier else {
        delivery.state = DeliveryState::Failed;
        delivery.last_error = Some("channel no longer configured".into());
        return record(shared, request, delivery).await;
    };
    let mut backoff = FIRST_BACKOFF;
    for n in 0..attempts {
        if n > 0 {
            tokio::time::sleep(backoff).await;
            backoff *= 2;
        }
        delivery.attempts += 1;
        let outcome = attempt(notifier.as_ref(), request).await;
        let (state, error) = match outcome {
            Ok(()) => (DeliveryState::Delivered, None),
            Err((error, false)) => (DeliveryState::Failed, Some(error)),
            Err((error, true)) if delivery.attempts >= MAX_ATTEMPTS => {
                (DeliveryState::Failed, Some(error))
            }
            Err((error, true)) => (DeliveryState::Pending, Some(error)),
        };
        delivery.state = state;
        delivery.last_error = error;
        let label = match state {
            DeliveryState::Delivered => "delivered",
            DeliveryState::Failed => "failed",
            DeliveryState::Pending => "retry",
        };
        metrics::counter!("chatbox_notifications_total", "channel" => delivery.channel.clone(), "outcome" => label)
            .increment(1);
        if state != DeliveryState::Pending {
            break;
        }
        tracing::warn!(channel = %delivery.channel, session = %request.session_id(), attempt = delivery.attempts, "help notification failed; will retry");
    }
    if delivery.state == DeliveryState::Failed {
        tracing::error!(channel = %delivery.channel, session = %request.session_id(), error = delivery.last_error.as_deref().unwrap_or(""), "help notification given up");
    }
    record(shared, request, delivery).await
}

/// One attempt; `Err((why, transient))` on failure.
async fn attempt(notifier: &dyn Notifier, request: &HelpRequest) -> Result<(), (String, bool)> {
    match tokio::time::timeout(ATTEMPT_TIMEOUT, notifier.notify(&request.notice)).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err((e.to_string(), e.is_transient())),
        Err(_) => Err(("timed out".into(), true)),
    }
}

async fn record(shared: &Shared, request: &HelpRequest, mut delivery: Delivery) -> Delivery {
    delivery.updated_at = Utc::now();
    let store = &shared.store;
    let saved = retried(shared.store_timeout(), || {
        store.update_delivery(&request.id, &delivery)
    })
    .await;
    if let Err(e) = saved {
        tracing::error!(channel = %delivery.channel, session = %request.session_id(), error = %e, "recording a notification outcome failed");
    }
    delivery
}

/// Retries pending deliveries every `every`, starting at once, until shutdown.
pub(crate) async fn sweep(shared: Arc<Shared>, every: Duration) {
    let mut sweeper = crate::cluster::Sweeper::default();
    loop {
        if !sweeper.is_mine(&shared).await {
            // Another replica sweeps: one sender per request across the deployment.
            tokio::select! {
                () = shared.shutdown.cancelled() => return,
                () = tokio::time::sleep(every) => {}
            }
            continue;
        }
        let pending = bounded(
            shared.store_timeout(),
            shared.store.pending_help_requests(SWEEP_BATCH),
        )
        .await;
        match pending {
            Ok(mut requests) => {
                if shared.cluster.is_some() {
                    // A request this young may still be in its first round on the replica
                    // where it was made.
                    let young = Utc::now() - chrono::Duration::from_std(every).unwrap_or_default();
                    requests.retain(|r| r.requested_at() < young);
                }
                futures::stream::iter(&requests)
                    .for_each_concurrent(SWEEP_CONCURRENCY, |request| async {
                        deliver(&shared, request, 1).await;
                    })
                    .await;
            }
            Err(e) => tracing::warn!(error = %e, "reading pending help notifications failed"),
        }
        tokio::select! {
            () = shared.shutdown.cancelled() => return,
            () = tokio::time::sleep(every) => {}
        }
    }
}
