//! The registry of live sessions: which session tasks run, whose they are, and which of them are
//! idle. It is the one place that knows how many live sessions a user has, so the per-user cap is
//! enforced here, and it publishes the live count so tests and metrics can wait on it.
//!
//! A task registers when it is spawned and removes itself when it stops (only its own entry: a
//! newer task for the same session is never removed by an older one).

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use chatbox_core::{SessionId, UserId};
use tokio::sync::{mpsc, watch};

use crate::task::Command;

/// Whether a session task is idle (no open connection, no reply), shared between the task and
/// the registry without a lock.
#[derive(Debug, Default)]
pub(crate) struct TaskStatus {
    /// 0 while busy; else when the task became idle (ms since the Unix epoch, at least 1).
    idle_since_ms: AtomicU64,
}

impl TaskStatus {
    /// Records that the task is idle from now on (keeps an earlier idle time).
    pub(crate) fn set_idle(&self) {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(1, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
        self.set_idle_at(now);
    }

    fn set_idle_at(&self, ms: u64) {
        let _ =
            self.idle_since_ms
                .compare_exchange(0, ms.max(1), Ordering::Relaxed, Ordering::Relaxed);
    }

    /// Records whether the task is `idle` now, keeping in `since` when it became idle (reset
    /// when it is busy again); changes are published only when the state flips.
    pub(crate) fn track(&self, idle: bool, since: &mut Option<tokio::time::Instant>) {
        match (idle, *since) {
            (true, None) => {
                *since = Some(tokio::time::Instant::now());
                self.set_idle();
            }
            (false, Some(_)) => {
                *since = None;
                self.set_busy();
            }
            _ => {}
        }
    }

    /// Records that the task is busy.
    pub(crate) fn set_busy(&self) {
        self.idle_since_ms.store(0, Ordering::Relaxed);
    }

    fn idle_since(&self) -> Option<u64> {
        match self.idle_since_ms.load(Ordering::Relaxed) {
            0 => None,
            t => Some(t),
        }
    }
}

/// One live session.
#[derive(Debug)]
struct Entry {
    mailbox: mpsc::Sender<Command>,
    user: UserId,
    status: Arc<TaskStatus>,
}

/// Live sessions by id and by user.
#[derive(Debug)]
pub(crate) struct Registry {
    sessions: HashMap<SessionId, Entry>,
    by_user: HashMap<UserId, Vec<SessionId>>,
    live: watch::Sender<usize>,
}

impl Registry {
    pub(crate) fn new() -> Self {
        Self {
            sessions: HashMap::new(),
            by_user: HashMap::new(),
            live: watch::Sender::new(0),
        }
    }

    /// The mailbox of a live session whose task still runs.
    pub(crate) fn get(&self, id: &SessionId) -> Option<&mpsc::Sender<Command>> {
        self.sessions
            .get(id)
            .map(|e| &e.mailbox)
            .filter(|tx| !tx.is_closed())
    }

    /// Registers a new task for `id` (replacing a stopped one).
    pub(crate) fn insert(
        &mut self,
        id: SessionId,
        user: UserId,
        mailbox: mpsc::Sender<Command>,
        status: Arc<TaskStatus>,
    ) {
        if self.sessions.contains_key(&id) {
            self.unlink(&id);
        }
        self.by_user
            .entry(user.clone())
            .or_default()
            .push(id.clone());
        self.sessions.insert(
            id,
            Entry {
                mailbox,
                user,
                status,
            },
        );
        self.publish();
    }

    /// Removes `id` when its entry is the task owning `mailbox`.
    pub(crate) fn remove(&mut self, id: &SessionId, mailbox: &mpsc::Sender<Command>) {
        if self
            .sessions
            .get(id)
            .is_some_and(|e| e.mailbox.same_channel(mailbox))
        {
            self.unlink(id);
            self.publish();
        }
    }

    fn unlink(&mut self, id: &SessionId) {
        let Some(entry) = self.sessions.remove(id) else {
            return;
        };
        if let Some(ids) = self.by_user.get_mut(&entry.user) {
            ids.retain(|s| s != id);
            if ids.is_empty() {
                self.by_user.remove(&entry.user);
            }
        }
    }

    fn publish(&self) {
        self.live.send_replace(self.sessions.len());
        crate::metrics::live_sessions(self.sessions.len());
    }

    /// Number of live sessions.
    pub(crate) fn len(&self) -> usize {
        self.sessions.len()
    }

    /// A receiver of the live session count.
    pub(crate) fn watch(&self) -> watch::Receiver<usize> {
        self.live.subscribe()
    }

    /// Number of live sessions of `user`.
    pub(crate) fn user_count(&self, user: &UserId) -> usize {
        self.by_user.get(user).map_or(0, Vec::len)
    }

    /// The user's idle sessions, longest idle first.
    pub(crate) fn idle_of(&self, user: &UserId) -> Vec<mpsc::Sender<Command>> {
        let mut idle: Vec<(u64, &mpsc::Sender<Command>)> = self
            .by_user
            .get(user)
            .into_iter()
            .flatten()
            .filter_map(|id| self.sessions.get(id))
            .filter_map(|e| e.status.idle_since().map(|t| (t, &e.mailbox)))
            .collect();
        idle.sort_by_key(|(t, _)| *t);
        idle.into_iter().map(|(_, tx)| tx.clone()).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sid(s: &str) -> SessionId {
        SessionId::parse(s).unwrap()
    }

    fn uid(s: &str) -> UserId {
        UserId::parse(s).unwrap()
    }

    #[test]
    fn entries_are_counted_per_user_and_removed_only_by_their_own_task() {
        let mut r = Registry::new();
        let live = r.watch();
        let (a, _ra) = mpsc::channel(1);
        let (b, _rb) = mpsc::channel(1);
        let (newer, _rn) = mpsc::channel(1);
        r.insert(sid("s1"), uid("u1"), a.clone(), Arc::default());
        r.insert(sid("s2"), uid("u1"), b.clone(), Arc::default());
        assert_eq!(
            (r.len(), r.user_count(&uid("u1")), *live.borrow()),
            (2, 2, 2)
        );
        r.insert(sid("s1"), uid("u1"), newer.clone(), Arc::default());
        assert_eq!(
            r.user_count(&uid("u1")),
            2,
            "a replaced task is not counted twice"
        );
        r.remove(&sid("s1"), &a);
        assert!(
            r.get(&sid("s1")).is_some(),
            "a stale task cannot remove the newer one"
        );
        r.remove(&sid("s1"), &newer);
        r.remove(&sid("s2"), &b);
        assert_eq!(
            (r.len(), r.user_count(&uid("u1")), *live.borrow()),
            (0, 0, 0)
        );
    }

    #[test]
    fn idle_sessions_come_longest_idle_first_and_busy_ones_never() {
        let mut r = Registry::new();
        let chans: Vec<_> = (0..3).map(|_| mpsc::channel::<Command>(1)).collect();
        let status: Vec<Arc<TaskStatus>> = (0..3).map(|_| Arc::default()).collect();
        for (i, (tx, _)) in chans.iter().enumerate() {
            r.insert(
                sid(&format!("s{i}")),
                uid("u"),
                tx.clone(),
                status[i].clone(),
            );
        }
        status[2].set_idle_at(5);
        status[0].set_idle_at(9);
        let idle = r.idle_of(&uid("u"));
        assert_eq!(idle.len(), 2);
        assert!(idle[0].same_channel(&chans[2].0));
        assert!(idle[1].same_channel(&chans[0].0));
        status[2].set_busy();
        assert_eq!(r.idle_of(&uid("u")).len(), 1);
    }
}
