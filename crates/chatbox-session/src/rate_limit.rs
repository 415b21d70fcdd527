//! A sliding-window rate limiter keyed by user: at most `limit` events per `window`, with the
//! time until the next allowed event when refused. Times are passed in, so tests need no clock.

use std::collections::{HashMap, VecDeque};
use std::hash::Hash;
use std::time::{Duration, Instant};

/// The most keys tracked; beyond this, keys with no recent events are pruned first.
const MAX_KEYS: usize = 100_000;

/// Sliding-window limiter.
#[derive(Debug)]
pub struct RateLimiter<K> {
    limit: usize,
    window: Duration,
    events: HashMap<K, VecDeque<Instant>>,
}

impl<K: Hash + Eq + Clone> RateLimiter<K> {
    /// At most `limit` events per `window` per key.
    pub fn new(limit: u32, window: Duration) -> Self {
        Self {
            limit: usize::try_from(limit).unwrap_or(usize::MAX).max(1),
            window,
            events: HashMap::new(),
        }
    }

    /// Records an event for `key` at `now` if allowed; otherwise returns how long to wait.
    pub fn check(&mut self, key: &K, now: Instant) -> Result<(), Duration> {
        if self.events.len() >= MAX_KEYS && !self.events.contains_key(key) {
            let window = self.window;
            self.events
                .retain(|_, q| q.back().is_some_and(|t| now.duration_since(*t) < window));
        }
        let q = self.events.entry(key.clone()).or_default();
        while q
            .front()
            .is_some_and(|t| now.duration_since(*t) >= self.window)
        {
            q.pop_front();
        }
        if q.len() >= self.limit {
            let oldest = q.front().copied().unwrap_or(now);
            return Err(self
                .window
                .saturating_sub(now.duration_since(oldest))
                .max(Duration::from_millis(1)));
        }
        q.push_back(now);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allows_limit_per_window_then_says_when() {
        let start = Instant::now();
        let mut rl = RateLimiter::new(3, Duration::from_secs(60));
        for i in 0..3 {
            assert!(rl.check(&"u1", start + Duration::from_secs(i)).is_ok());
        }
        let wait = rl
            .check(&"u1", start + Duration::from_secs(10))
            .unwrap_err();
        assert_eq!(
            wait,
            Duration::from_secs(50),
            "the oldest event leaves the window at 60 s"
        );
        assert!(
            rl.check(&"u2", start + Duration::from_secs(10)).is_ok(),
            "keys are independent"
        );
        assert!(
            rl.check(&"u1", start + Duration::from_secs(60)).is_ok(),
            "window slid"
        );
    }
}
