//! Per-user WebSocket connection slots. A slot is held by a [`Slot`] guard and released when the
//! guard drops — on disconnect, and equally when an upgrade fails after the check — so a failed
//! upgrade can never leak one.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use chatbox_core::UserId;

/// Counts open connections per user.
#[derive(Debug)]
pub struct ConnectionLimiter {
    max: usize,
    counts: Mutex<HashMap<UserId, usize>>,
}

/// One held connection slot.
#[derive(Debug)]
pub struct Slot {
    limiter: Arc<ConnectionLimiter>,
    user: UserId,
}

impl ConnectionLimiter {
    /// At most `max` connections per user.
    pub fn new(max: usize) -> Arc<Self> {
        Arc::new(Self {
            max,
            counts: Mutex::new(HashMap::new()),
        })
    }

    /// Takes a slot for `user`, or `None` when they are at the limit.
    pub fn try_acquire(self: &Arc<Self>, user: &UserId) -> Option<Slot> {
        let mut counts = self.counts.lock().unwrap_or_else(PoisonError::into_inner);
        let n = counts.entry(user.clone()).or_insert(0);
        if *n >= self.max {
            return None;
        }
        *n += 1;
        Some(Slot {
            limiter: Arc::clone(self),
            user: user.clone(),
        })
    }

    /// Open connections of `user`.
    pub fn count(&self, user: &UserId) -> usize {
        self.counts
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(user)
            .copied()
            .unwrap_or(0)
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut counts = self
            .limiter
            .counts
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(n) = counts.get_mut(&self.user) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                counts.remove(&self.user);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_are_bounded_and_released_on_drop() {
        let limiter = ConnectionLimiter::new(2);
        let u = UserId::parse("u").unwrap();
        let a = limiter.try_acquire(&u).unwrap();
        let b = limiter.try_acquire(&u).unwrap();
        assert!(limiter.try_acquire(&u).is_none());
        drop(a);
        assert_eq!(limiter.count(&u), 1);
        let c = limiter.try_acquire(&u).unwrap();
        drop((b, c));
        assert_eq!(limiter.count(&u), 0);
    }
}
