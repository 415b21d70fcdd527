//! Jittered exponential backoff between attempts that failed before the first token.
//!
//! The n-th retry waits a random time in `[d/2, d]` where `d = min(cap, base * 2^n)` ("equal
//! jitter"), so a burst of failing sessions does not retry in lock-step. A vendor's
//! `Retry-After` is honoured when it fits under the cap; when it does not, the caller gives up
//! instead of holding a user's reply for minutes.

use std::time::Duration;

use rand::Rng;

use crate::config::RetryConfig;

/// What to do after a failed attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Decision {
    /// Wait this long, then try again.
    RetryAfter(Duration),
    /// Return the error.
    GiveUp,
}

/// Decides about retry number `retry` (0 for the first retry) given the vendor's `Retry-After`.
pub(crate) fn decide(
    policy: &RetryConfig,
    retry: u32,
    retry_after: Option<Duration>,
    rng: &mut impl Rng,
) -> Decision {
    if retry.saturating_add(1) >= policy.attempts {
        return Decision::GiveUp;
    }
    let cap = Duration::from_millis(policy.cap_ms);
    let ceiling = Duration::from_millis(
        policy
            .base_ms
            .saturating_mul(1u64.checked_shl(retry).unwrap_or(u64::MAX)),
    )
    .min(cap);
    let half = ceiling / 2;
    let jittered = half + rng.random_range(Duration::ZERO..=ceiling - half);
    match retry_after {
        Some(wanted) if wanted > cap => Decision::GiveUp,
        Some(wanted) => Decision::RetryAfter(wanted.max(jittered)),
        None => Decision::RetryAfter(jittered),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> RetryConfig {
        RetryConfig {
            attempts: 4,
            base_ms: 100,
            cap_ms: 300,
        }
    }

    #[test]
    fn delays_double_within_jitter_and_stop_at_the_cap() {
        let mut rng = rand::rng();
        for _ in 0..200 {
            let Decision::RetryAfter(d0) = decide(&policy(), 0, None, &mut rng) else {
                panic!("first retry must be allowed");
            };
            assert!((50..=100).contains(&d0.as_millis()), "{d0:?}");
            let Decision::RetryAfter(d1) = decide(&policy(), 1, None, &mut rng) else {
                panic!("second retry must be allowed");
            };
            assert!((100..=200).contains(&d1.as_millis()), "{d1:?}");
            let Decision::RetryAfter(d2) = decide(&policy(), 2, None, &mut rng) else {
                panic!("third retry must be allowed");
            };
            assert!((150..=300).contains(&d2.as_millis()), "{d2:?}");
        }
    }

    #[test]
    fn gives_up_when_attempts_are_spent() {
        let mut rng = rand::rng();
        assert_eq!(decide(&policy(), 3, None, &mut rng), Decision::GiveUp);
        let single = RetryConfig {
            attempts: 1,
            ..policy()
        };
        assert_eq!(decide(&single, 0, None, &mut rng), Decision::GiveUp);
    }

    #[test]
    fn honours_retry_after_under_the_cap_and_gives_up_over_it() {
        let mut rng = rand::rng();
        assert_eq!(
            decide(&policy(), 0, Some(Duration::from_millis(250)), &mut rng),
            Decision::RetryAfter(Duration::from_millis(250))
        );
        assert_eq!(
            decide(&policy(), 0, Some(Duration::from_secs(60)), &mut rng),
            Decision::GiveUp
        );
    }

    #[test]
    fn huge_retry_numbers_do_not_overflow() {
        let many = RetryConfig {
            attempts: u32::MAX,
            ..policy()
        };
        let mut rng = rand::rng();
        assert!(
            matches!(decide(&many, 200, None, &mut rng), Decision::RetryAfter(d) if d <= Duration::from_millis(300))
        );
    }
}
