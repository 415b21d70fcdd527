//! The `log` channel for dev mode: each notice becomes one `tracing` event at `info`, so a
//! developer sees help requests without any mail or SMS account.
//!
//! The event carries only the user id, session id, request time and admin link as fields —
//! never the user's name, note or message text, which the house keeps out of logs.

use async_trait::async_trait;
use chatbox_core::ports::notify::HelpNotice;
use chatbox_core::{Notifier, NotifyError};

/// The channel name.
const CHANNEL: &str = "log";

/// Logs each notice; never fails.
#[derive(Debug, Clone, Copy, Default)]
pub struct LogNotifier;

impl LogNotifier {
    /// The log channel.
    pub fn new() -> Self {
        Self
    }
}

#[async_trait]
impl Notifier for LogNotifier {
    fn channel(&self) -> &str {
        CHANNEL
    }

    async fn notify(&self, notice: &HelpNotice) -> Result<(), NotifyError> {
        tracing::info!(
            channel = CHANNEL,
            user = %notice.user_id,
            session = %notice.session_id,
            requested_at = %crate::template::format_time(notice.requested_at),
            link = notice.admin_link.as_deref().unwrap_or("-"),
            "help requested"
        );
        Ok(())
    }
}
