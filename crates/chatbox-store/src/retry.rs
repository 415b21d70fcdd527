//! Retry of transient store failures with capped exponential backoff.
//!
//! Guarantees: an operation is attempted at most [`RetryConfig::max_attempts`] times; only a
//! failure its backend marked retryable is retried (for MongoDB that is decided from the driver's
//! error kinds and labels, never from error text, and writes that are not idempotent are retried
//! only when the server cannot have applied them). The last error is returned unchanged. Sleeping
//! between attempts is a plain `tokio` timer, so dropping the future cancels the whole operation.

use std::future::Future;
use std::time::Duration;

use chatbox_core::StoreError;
use serde::{Deserialize, Serialize};

/// Default [`RetryConfig::max_attempts`].
pub const DEFAULT_MAX_ATTEMPTS: u32 = 3;
/// Default [`RetryConfig::initial_backoff_ms`].
pub const DEFAULT_INITIAL_BACKOFF_MS: u64 = 100;
/// Default [`RetryConfig::max_backoff_ms`].
pub const DEFAULT_MAX_BACKOFF_MS: u64 = 2_000;

/// How transient failures are retried.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RetryConfig {
    /// Attempts in total, including the first (count; 1 disables retrying).
    pub max_attempts: u32,
    /// Wait before the second attempt (milliseconds); doubled before each further attempt.
    pub initial_backoff_ms: u64,
    /// Upper bound of any single wait (milliseconds).
    pub max_backoff_ms: u64,
}

impl Default for RetryConfig {
    fn default() -> Self {
        Self {
            max_attempts: DEFAULT_MAX_ATTEMPTS,
            initial_backoff_ms: DEFAULT_INITIAL_BACKOFF_MS,
            max_backoff_ms: DEFAULT_MAX_BACKOFF_MS,
        }
    }
}

impl RetryConfig {
    /// The wait before attempt number `attempt + 1` (`attempt` starts at 1).
    pub fn backoff(&self, attempt: u32) -> Duration {
        let factor = 1u64 << attempt.saturating_sub(1).min(20);
        Duration::from_millis(
            self.initial_backoff_ms
                .saturating_mul(factor)
                .min(self.max_backoff_ms),
        )
    }
}

/// One failed attempt: the error and whether trying again is safe and useful.
#[derive(Debug)]
pub(crate) struct Failure {
    pub(crate) error: StoreError,
    pub(crate) retryable: bool,
}

impl Failure {
    /// A failure that is never retried.
    pub(crate) fn fatal(error: StoreError) -> Self {
        Self {
            error,
            retryable: false,
        }
    }
}

impl From<StoreError> for Failure {
    fn from(error: StoreError) -> Self {
        Self::fatal(error)
    }
}

/// Runs `attempt` until it succeeds, fails with a non-retryable error, or the attempts run out.
pub(crate) async fn with_retry<T, F, Fut>(
    config: &RetryConfig,
    operation: &'static str,
    mut attempt: F,
) -> Result<T, StoreError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, Failure>>,
{
    let mut n = 1u32;
    loop {
        match attempt().await {
            Ok(v) => return Ok(v),
            Err(f) if f.retryable && n < config.max_attempts.max(1) => {
                let wait = config.backoff(n);
                tracing::warn!(
                    operation,
                    attempt = n,
                    wait_ms = u64::try_from(wait.as_millis()).unwrap_or(u64::MAX),
                    error = %f.error,
                    "transient store failure; retrying"
                );
                tokio::time::sleep(wait).await;
                n += 1;
            }
            Err(f) => return Err(f.error),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU32, Ordering};

    use super::*;

    fn transient() -> Failure {
        Failure {
            error: StoreError::Unavailable("down".into()),
            retryable: true,
        }
    }

    #[test]
    fn backoff_doubles_and_is_capped() {
        let c = RetryConfig::default();
        assert_eq!(c.backoff(1), Duration::from_millis(100));
        assert_eq!(c.backoff(2), Duration::from_millis(200));
        assert_eq!(c.backoff(10), Duration::from_millis(2000));
        assert_eq!(c.backoff(u32::MAX), Duration::from_millis(2000));
    }

    #[tokio::test(start_paused = true)]
    async fn transient_failures_are_retried_until_success() {
        let calls = AtomicU32::new(0);
        let out = with_retry(&RetryConfig::default(), "test", || async {
            if calls.fetch_add(1, Ordering::SeqCst) < 2 {
                Err(transient())
            } else {
                Ok(7)
            }
        })
        .await;
        assert_eq!(out.unwrap(), 7);
        assert_eq!(calls.load(Ordering::SeqCst), 3);
    }

    #[tokio::test(start_paused = true)]
    async fn attempts_are_bounded_and_the_last_error_is_returned() {
        let calls = AtomicU32::new(0);
        let out: Result<(), _> = with_retry(&RetryConfig::default(), "test", || async {
            calls.fetch_add(1, Ordering::SeqCst);
            Err(transient())
        })
        .await;
        assert!(matches!(out, Err(StoreError::Unavailable(_))));
        assert_eq!(calls.load(Ordering::SeqCst), 3);
    }

    #[tokio::test(start_paused = true)]
    async fn fatal_failures_are_not_retried() {
        let calls = AtomicU32::new(0);
        let out: Result<(), _> = with_retry(&RetryConfig::default(), "test", || async {
            calls.fetch_add(1, Ordering::SeqCst);
            Err(Failure::fatal(StoreError::NotFound))
        })
        .await;
        assert!(matches!(out, Err(StoreError::NotFound)));
        assert_eq!(calls.load(Ordering::SeqCst), 1);
    }

    #[test]
    fn config_rejects_unknown_fields_and_fills_defaults() {
        let c: RetryConfig = serde_json::from_str(r#"{"max_attempts":5}"#).unwrap();
        assert_eq!(c.max_attempts, 5);
        assert_eq!(c.initial_backoff_ms, DEFAULT_INITIAL_BACKOFF_MS);
        assert!(serde_json::from_str::<RetryConfig>(r#"{"attempts":5}"#).is_err());
    }
}
