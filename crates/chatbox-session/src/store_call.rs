//! Deadlines and retries for the engine's store calls: the one place where the engine's storage
//! policy is decided (CONTRACT: every await on I/O has a deadline).
//!
//! - [`bounded`]: one call, abandoned after the configured deadline (`EngineError::StoreTimeout`).
//! - [`retried`]: a write retried with backoff while the store reports a transient failure. A
//!   call that ran out of time is not retried: it may have been applied, and a second append
//!   would duplicate it.

use std::future::Future;
use std::time::Duration;

use crate::error::EngineError;

/// Attempts of a retried write (the first included).
const WRITE_ATTEMPTS: u32 = 3;
/// Backoff before the second attempt; doubled for each later one.
const FIRST_BACKOFF: Duration = Duration::from_millis(100);

/// Runs one store call with a deadline.
pub(crate) async fn bounded<T>(
    limit: Duration,
    call: impl Future<Output = Result<T, chatbox_core::StoreError>>,
) -> Result<T, EngineError> {
    match tokio::time::timeout(limit, call).await {
        Ok(result) => result.map_err(EngineError::from),
        Err(_) => Err(EngineError::StoreTimeout),
    }
}

/// Runs a store write with a deadline per attempt, retrying transient failures with backoff.
pub(crate) async fn retried<T, F, Fut>(limit: Duration, mut call: F) -> Result<T, EngineError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, chatbox_core::StoreError>>,
{
    let mut backoff = FIRST_BACKOFF;
    let mut attempt = 1;
    loop {
        match bounded(limit, call()).await {
            Err(EngineError::Store(e)) if e.is_transient() && attempt < WRITE_ATTEMPTS => {
                tracing::debug!(attempt, error = %e, "transient store failure; retrying");
                tokio::time::sleep(backoff).await;
                backoff *= 2;
                attempt += 1;
            }
            other => return other,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU32, Ordering};

    use chatbox_core::StoreError;

    use super::*;

    fn transient() -> StoreError {
        StoreError::Unavailable("network".into())
    }

    #[tokio::test(start_paused = true)]
    async fn a_call_past_its_deadline_is_a_store_timeout() {
        let r: Result<(), _> = bounded(
            Duration::from_secs(1),
            std::future::pending::<Result<(), _>>(),
        )
        .await;
        assert!(matches!(r, Err(EngineError::StoreTimeout)));
    }

    #[tokio::test(start_paused = true)]
    async fn transient_failures_are_retried_then_reported() {
        let calls = AtomicU32::new(0);
        let r = retried(Duration::from_secs(1), || {
            let n = calls.fetch_add(1, Ordering::SeqCst);
            async move { if n < 2 { Err(transient()) } else { Ok(n) } }
        })
        .await;
        assert_eq!(r.ok(), Some(2), "the third attempt succeeds");

        calls.store(0, Ordering::SeqCst);
        let r: Result<(), _> = retried(Duration::from_secs(1), || {
            calls.fetch_add(1, Ordering::SeqCst);
            async { Err(transient()) }
        })
        .await;
        assert!(matches!(
            r,
            Err(EngineError::Store(StoreError::Unavailable(_)))
        ));
        assert_eq!(calls.load(Ordering::SeqCst), WRITE_ATTEMPTS);
    }

    #[tokio::test(start_paused = true)]
    async fn permanent_failures_and_timeouts_are_not_retried() {
        let calls = AtomicU32::new(0);
        let r: Result<(), _> = retried(Duration::from_secs(1), || {
            calls.fetch_add(1, Ordering::SeqCst);
            async { Err(StoreError::Corrupt("bad".into())) }
        })
        .await;
        assert!(matches!(r, Err(EngineError::Store(StoreError::Corrupt(_)))));
        assert_eq!(calls.load(Ordering::SeqCst), 1);

        calls.store(0, Ordering::SeqCst);
        let r: Result<(), _> = retried(Duration::from_secs(1), || {
            calls.fetch_add(1, Ordering::SeqCst);
            std::future::pending()
        })
        .await;
        assert!(matches!(r, Err(EngineError::StoreTimeout)));
        assert_eq!(
            calls.load(Ordering::SeqCst),
            1,
            "a timed-out write may have landed"
        );
    }
}
