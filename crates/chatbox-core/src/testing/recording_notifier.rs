//! A [`Notifier`] that records what it was asked to send and can be told to fail.

use std::collections::VecDeque;
use std::sync::{Mutex, MutexGuard, PoisonError};

use async_trait::async_trait;
use futures::channel::mpsc;

use crate::ports::notify::{HelpNotice, Notifier, NotifyError};

/// Records every notice; fails with queued errors first, if any.
#[derive(Debug)]
pub struct RecordingNotifier {
    channel: String,
    sent: Mutex<Vec<HelpNotice>>,
    failures: Mutex<VecDeque<NotifyError>>,
    watchers: Mutex<Vec<mpsc::UnboundedSender<HelpNotice>>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl RecordingNotifier {
    /// A notifier reporting itself as `channel`.
    pub fn new(channel: impl Into<String>) -> Self {
        Self {
            channel: channel.into(),
            sent: Mutex::new(Vec::new()),
            failures: Mutex::new(VecDeque::new()),
            watchers: Mutex::new(Vec::new()),
        }
    }

    /// The next call fails with `error` (queued; one per call).
    pub fn fail_next(&self, error: NotifyError) {
        lock(&self.failures).push_back(error);
    }

    /// A stream of every notice delivered from now on, for tests that wait for one.
    pub fn watch(&self) -> mpsc::UnboundedReceiver<HelpNotice> {
        let (tx, rx) = mpsc::unbounded();
        lock(&self.watchers).push(tx);
        rx
    }

    /// Notices delivered so far.
    pub fn sent(&self) -> Vec<HelpNotice> {
        lock(&self.sent).clone()
    }
}

#[async_trait]
impl Notifier for RecordingNotifier {
    fn channel(&self) -> &str {
        &self.channel
    }

    async fn notify(&self, notice: &HelpNotice) -> Result<(), NotifyError> {
        if let Some(e) = lock(&self.failures).pop_front() {
            return Err(e);
        }
        lock(&self.sent).push(notice.clone());
        lock(&self.watchers).retain(|w| w.unbounded_send(notice.clone()).is_ok());
        Ok(())
    }
}
