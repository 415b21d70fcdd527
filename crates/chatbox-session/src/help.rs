//! Help requests: the session is flagged (persisted), staff are notified on every configured
//! channel independently, and the user is told. Repeated requests for one session are
//! rate-limited; a refused repeat is answered, never dropped silently.

use std::sync::{Arc, PoisonError};
use std::time::{Duration, Instant};

use chatbox_core::ports::notify::HelpNotice;
use chatbox_core::ports::store::SessionPatch;
use chatbox_core::protocol::Envelope;
use chatbox_core::{Identity, Notifier};
use chrono::Utc;

use crate::connection::ConnId;
use crate::store_call::bounded;
use crate::task::SessionTask;

/// Messages of the conversation sent to staff as context.
const HELP_CONTEXT_MESSAGES: usize = 5;
/// Attempts per notifier for a transient failure.
const NOTIFY_ATTEMPTS: u32 = 3;
/// Deadline of one notification attempt.
const NOTIFY_ATTEMPT_TIMEOUT: Duration = Duration::from_secs(10);
/// Backoff before the second attempt; doubled for each later one.
const NOTIFY_FIRST_BACKOFF: Duration = Duration::from_millis(200);

impl SessionTask {
    pub(crate) async fn help_request(
        &mut self,
        conn: ConnId,
        identity: &Identity,
        note: Option<String>,
    ) {
        let now = Utc::now();
        let allowed = self
            .shared
            .help_rate
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .check(&self.session.id, Instant::now())
            .is_ok();
        if !allowed {
            let env = Envelope::notification(
                "Help was already requested; an admin will join shortly.",
                now,
            );
            return self.fanout.direct_env(conn, env);
        }
        let patch = SessionPatch {
            help_requested_at: Some(now),
            ..Default::default()
        };
        let store = &self.shared.store;
        let saved = bounded(
            self.shared.store_timeout(),
            store.update_session(&self.session.id, &patch),
        )
        .await;
        if let Err(e) = saved {
            tracing::warn!(session = %self.session.id, error = %e, "persisting the help request failed");
        }
        self.session.help_requested = true;
        let recent = bounded(
            self.shared.store_timeout(),
            store.messages(&self.session.id, Some(HELP_CONTEXT_MESSAGES)),
        )
        .await
        .unwrap_or_else(|e| {
            tracing::warn!(session = %self.session.id, error = %e, "reading context for the help request failed");
            Vec::new()
        });
        self.shared.emit(
            &self.session,
            crate::events::SessionEventKind::HelpRequested,
        );
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
            context: recent,
        };
        for notifier in &self.shared.notifiers {
            let notifier = Arc::clone(notifier);
            let notice = notice.clone();
            self.shared
                .tracker
                .spawn(async move { notify_with_retry(notifier, notice).await });
        }
        self.fanout.publish(Envelope::notification(
            "Help request sent. An admin will join shortly.",
            now,
        ));
    }
}

/// Delivers one notice on one channel, each attempt bounded, retrying transient failures with
/// backoff.
async fn notify_with_retry(notifier: Arc<dyn Notifier>, notice: HelpNotice) {
    let mut delay = NOTIFY_FIRST_BACKOFF;
    for attempt in 1..=NOTIFY_ATTEMPTS {
        let outcome = tokio::time::timeout(NOTIFY_ATTEMPT_TIMEOUT, notifier.notify(&notice)).await;
        let transient = match outcome {
            Ok(Ok(())) => return,
            Ok(Err(e)) if !e.is_transient() => {
                tracing::error!(channel = notifier.channel(), session = %notice.session_id, error = %e, "help notification failed");
                return;
            }
            Ok(Err(e)) => e.to_string(),
            Err(_) => "timed out".to_owned(),
        };
        if attempt == NOTIFY_ATTEMPTS {
            tracing::error!(channel = notifier.channel(), session = %notice.session_id, error = %transient, "help notification failed");
            return;
        }
        tracing::warn!(channel = notifier.channel(), attempt, error = %transient, "help notification failed; retrying");
        tokio::time::sleep(delay).await;
        delay *= 2;
    }
}
