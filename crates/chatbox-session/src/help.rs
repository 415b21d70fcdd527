//! Help requests (CONTRACT §5): the session is flagged (persisted), the request is recorded in the
//! outbox with one delivery per configured channel *before* anything is sent, staff are notified
//! on every channel independently (`delivery`), and the user is told the truth:
//!
//! - at once: which channels the request went to (`metadata.channels`, each `queued`), or — with
//!   no channel configured — that help requests are not monitored, never that an admin will join;
//! - when the first round of attempts is over: what became of each channel (`delivered`,
//!   `queued` for one still being retried, `failed`);
//! - a repeat while a request is open (asked less than five minutes ago, no admin joined since) is
//!   merged into it (`metadata.merged="true"`) instead of notifying staff again; beyond five
//!   requests per five minutes a session's requests are merged too. Nothing is dropped silently.

use std::sync::{Arc, PoisonError};
use std::time::{Duration, Instant};

use chatbox_core::outbox::{Delivery, DeliveryState, HelpRequest};
use chatbox_core::ports::notify::HelpNotice;
use chatbox_core::ports::store::SessionPatch;
use chatbox_core::protocol::{Envelope, ErrorCode};
use chatbox_core::{Identity, Sender};
use chrono::Utc;
use rand::Rng;
use rand::distr::Alphanumeric;

use crate::connection::ConnId;
use crate::delivery::{QUICK_ATTEMPTS, deliver};
use crate::events::SessionEventKind;
use crate::store_call::{bounded, retried};
use crate::task::{Command, SessionTask};

/// Messages of the conversation sent to staff as context.
const HELP_CONTEXT_MESSAGES: usize = 5;
/// How long a help request stays open for merging repeats.
pub(crate) const HELP_OPEN_FOR: Duration = Duration::from_secs(300);
/// Length of generated help request ids.
const REQUEST_ID_LEN: usize = 24;

/// How a channel appears to the user.
fn channel_label(channel: &str) -> &str {
    match channel {
        "smtp" | "ses" => "email",
        "sms" => "SMS",
        "webhook" => "the support system",
        "log" => "the server log",
        other => other,
    }
}

/// `metadata.channels`: `channel:state` pairs.
fn channels_meta(deliveries: &[Delivery]) -> String {
    deliveries
        .iter()
        .map(|d| {
            let state = match d.state {
                DeliveryState::Pending => "queued",
                other => other.as_str(),
            };
            format!("{}:{state}", d.channel)
        })
        .collect::<Vec<_>>()
        .join(",")
}

impl SessionTask {
    pub(crate) async fn help_request(
        &mut self,
        conn: ConnId,
        identity: &Identity,
        note: Option<String>,
    ) {
        let now = Utc::now();
        if !self.shared.config.help_enabled {
            let env = Envelope::error(
                ErrorCode::FeatureDisabled,
                "Help requests are disabled on this server",
                now,
            );
            return self.fanout.direct_env(conn, env);
        }
        let open = self
            .help_open_since
            .is_some_and(|t| t.elapsed() < HELP_OPEN_FOR)
            && self.state.assistant().is_none();
        let allowed = !open
            && self
                .shared
                .help_rate
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .check(&self.session.id, Instant::now())
                .is_ok();
        if !allowed {
            let mut env = Envelope::notification(
                "Your help request is still open: staff were already notified, and an admin will \
                 join as soon as possible.",
                now,
            );
            env.set_meta("merged", "true");
            return self.fanout.direct_env(conn, env);
        }
        self.help_open_since = Some(Instant::now());
        let store = Arc::clone(&self.shared.store);
        let limit = self.shared.store_timeout();
        let patch = SessionPatch {
            help_requested_at: Some(now),
            ..Default::default()
        };
        if let Err(e) = bounded(limit, store.update_session(&self.session.id, &patch)).await {
            tracing::warn!(session = %self.session.id, error = %e, "persisting the help request failed");
        }
        self.session.help_requested = true;
        self.session.help_requested_at.get_or_insert(now);
        self.shared
            .emit(&self.session, SessionEventKind::HelpRequested);
        let context = bounded(limit, store.messages(&self.session.id, Some(HELP_CONTEXT_MESSAGES)))
            .await
            .unwrap_or_else(|e| {
                tracing::warn!(session = %self.session.id, error = %e, "reading context for the help request failed");
                Vec::new()
            });
        let notice = HelpNotice {
            user_id: identity.user_id.clone(),
            user_name: identity.name.clone(),
            session_id: self.session.id.clone(),
            requested_at: now,
            admin_link: self
                .shared
                .admin_panel_url
                .as_ref()
                .map(|u| format!("{}/{}", u.trim_end_matches('/'), self.session.id)),
            note,
            context: context
                .into_iter()
                .filter(|m| m.sender != Sender::System)
                .collect(),
        };
        if self.shared.notifiers.is_empty() {
            let mut env = Envelope::notification(
                "Help requests are not monitored right now: no staff notification channel is \
                 configured. Your request was recorded.",
                now,
            );
            env.set_meta("channels", "");
            self.fanout.publish(env);
            return;
        }
        let request = HelpRequest {
            id: rand::rng()
                .sample_iter(Alphanumeric)
                .take(REQUEST_ID_LEN)
                .map(char::from)
                .collect(),
            notice,
            deliveries: self
                .shared
                .notifiers
                .iter()
                .map(|n| Delivery::pending(n.channel(), now))
                .collect(),
        };
        // Recorded before anything is sent, so a crash cannot lose it; if the store fails, the
        // request is still sent (just not durably).
        if let Err(e) = retried(limit, || store.record_help_request(&request)).await {
            tracing::error!(session = %self.session.id, error = %e, "recording the help request in the outbox failed; sending anyway");
        }
        let labels: Vec<&str> = request
            .deliveries
            .iter()
            .map(|d| channel_label(&d.channel))
            .collect();
        let mut env = Envelope::notification(
            format!(
                "Help request sent to staff ({}). An admin will join as soon as possible.",
                dedup(labels).join(", ")
            ),
            now,
        );
        env.set_meta("channels", channels_meta(&request.deliveries));
        self.fanout.publish(env);

        let shared = Arc::clone(&self.shared);
        let mailbox = self.mailbox.clone();
        self.shared.tracker.spawn(async move {
            let outcome = deliver(&shared, &request, QUICK_ATTEMPTS).await;
            let _ = mailbox.send(Command::HelpOutcome(Box::new(outcome))).await;
        });
    }

    /// Tells the session what became of its help request's first round of deliveries.
    pub(crate) fn help_outcome(&mut self, deliveries: &[Delivery]) {
        let delivered: Vec<&str> = deliveries
            .iter()
            .filter(|d| d.state == DeliveryState::Delivered)
            .map(|d| channel_label(&d.channel))
            .collect();
        let text = if delivered.is_empty() {
            "Staff could not be reached yet; we keep trying. You can keep writing here.".to_owned()
        } else {
            format!("Staff were notified by {}.", dedup(delivered).join(", "))
        };
        let mut env = Envelope::notification(text, Utc::now());
        env.set_meta("channels", channels_meta(deliveries));
        self.fanout.publish(env);
    }
}

fn dedup(mut labels: Vec<&str>) -> Vec<&str> {
    let mut seen = Vec::new();
    labels.retain(|l| {
        let new = !seen.contains(l);
        seen.push(*l);
        new
    });
    labels
}
