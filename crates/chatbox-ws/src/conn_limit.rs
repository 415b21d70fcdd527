//! WebSocket connection slots, per user and for the whole process. A slot is held by a [`Slot`] guard and released when the
//! guard drops — on disconnect, and equally when an upgrade fails after the check — so a failed
//! upgrade can never leak one.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use chatbox_core::UserId;

/// Counts open connections per user and in all.
#[derive(Debug)]
pub struct ConnectionLimiter {
    max: usize,
    max_total: usize,
    counts: Mutex<Counts>,
}

#[derive(Debug, Default)]
struct Counts {
    per_user: HashMap<UserId, usize>,
    total: usize,
}

/// Why a slot was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    /// The user is at their own limit.
    User,
    /// The process is at its global limit.
    Process,
}

/// One held connection slot.
#[derive(Debug)]
pub struct Slot {
    limiter: Arc<ConnectionLimiter>,
    user: UserId,
    opened: std::time::Instant,
    /// The deployment-wide slot (several replicas), freed with this one.
    shared: Option<chatbox_session::UserSlot>,
}

impl Slot {
    /// Holds the user's deployment-wide slot for as long as this one.
    pub fn share(&mut self, shared: chatbox_session::UserSlot) {
        self.shared = Some(shared);
    }
}

impl ConnectionLimiter {
    /// At most `max` connections per user and `max_total` in all (`0`: no global cap).
    pub fn new(max: usize, max_total: usize) -> Arc<Self> {
        Arc::new(Self {
            max,
            max_total: if max_total == 0 {
                usize::MAX
            } else {
                max_total
            },
            counts: Mutex::new(Counts::default()),
        })
    }

    /// Takes a slot for `user`, or says which limit refused it.
    pub fn try_acquire(self: &Arc<Self>, user: &UserId) -> Result<Slot, Refused> {
        let mut counts = self.counts.lock().unwrap_or_else(PoisonError::into_inner);
        if counts.total >= self.max_total {
            crate::metrics::connection_refused();
            return Err(Refused::Process);
        }
        let n = counts.per_user.entry(user.clone()).or_insert(0);
        if *n >= self.max {
            crate::metrics::connection_refused();
            return Err(Refused::User);
        }
        *n += 1;
        counts.total += 1;
        crate::metrics::connection_opened();
        Ok(Slot {
            opened: std::time::Instant::now(),
            limiter: Arc::clone(self),
            user: user.clone(),
            shared: None,
        })
    }

    /// Open connections of `user`.
    pub fn count(&self, user: &UserId) -> usize {
        self.counts
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .per_user
            .get(user)
            .copied()
            .unwrap_or(0)
    }

    /// Open connections in all.
    pub fn total(&self) -> usize {
        self.counts
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .total
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut counts = self
            .limiter
            .counts
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        counts.total = counts.total.saturating_sub(1);
        crate::metrics::connection_closed(self.opened.elapsed());
        if let Some(n) = counts.per_user.get_mut(&self.user) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                counts.per_user.remove(&self.user);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_are_bounded_and_released_on_drop() {
        let limiter = ConnectionLimiter::new(2, 0);
        let u = UserId::parse("u").unwrap();
        let a = limiter.try_acquire(&u).unwrap();
        let b = limiter.try_acquire(&u).unwrap();
        assert_eq!(limiter.try_acquire(&u).err(), Some(Refused::User));
        drop(a);
        assert_eq!(limiter.count(&u), 1);
        let c = limiter.try_acquire(&u).unwrap();
        drop((b, c));
        assert_eq!(limiter.count(&u), 0);
        assert_eq!(limiter.total(), 0);
    }

    #[test]
    fn the_process_cap_counts_every_user_and_frees_on_drop() {
        let limiter = ConnectionLimiter::new(5, 2);
        let (u, v, w) = (
            UserId::parse("u").unwrap(),
            UserId::parse("v").unwrap(),
            UserId::parse("w").unwrap(),
        );
        let a = limiter.try_acquire(&u).unwrap();
        let _b = limiter.try_acquire(&v).unwrap();
        assert_eq!(limiter.try_acquire(&w).err(), Some(Refused::Process));
        assert_eq!(limiter.total(), 2);
        drop(a);
        assert!(limiter.try_acquire(&w).is_ok());
        assert_eq!(limiter.count(&u), 0);
    }
}
