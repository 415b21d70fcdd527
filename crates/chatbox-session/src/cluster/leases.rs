//! The leases this replica holds, renewed together in the background.
//!
//! Guarantees, each enforced here:
//! - A held lease is renewed every third of its TTL while its holder lives.
//! - A lease the broker says is lost, or that could not be renewed for a whole TTL (the broker
//!   unreachable), is reported lost at once: its holder's token is cancelled, and the holder
//!   stops acting as owner (it can no longer prove it is one).
//! - Releasing is bounded by the broker's deadline and never fails the caller.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use chatbox_core::ports::broker::{Broker, BrokerError, Lease};
use futures::StreamExt;
use tokio_util::sync::CancellationToken;

/// Renewals in flight at once.
const RENEW_CONCURRENCY: usize = 32;

struct Held {
    lease: Lease,
    renewed: Instant,
    lost: CancellationToken,
}

/// Leases held by this replica.
pub(crate) struct Leases {
    broker: Arc<dyn Broker>,
    held: Mutex<HashMap<String, Held>>,
}

impl Leases {
    pub(crate) fn new(broker: Arc<dyn Broker>) -> Self {
        Self {
            broker,
            held: Mutex::new(HashMap::new()),
        }
    }

    fn held(&self) -> std::sync::MutexGuard<'_, HashMap<String, Held>> {
        self.held.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Keeps `lease` renewed; the token is cancelled when it is lost.
    pub(crate) fn hold(&self, lease: Lease) -> CancellationToken {
        let lost = CancellationToken::new();
        let held = Held {
            lease: lease.clone(),
            renewed: Instant::now(),
            lost: lost.clone(),
        };
        if let Some(old) = self.held().insert(lease.key, held) {
            old.lost.cancel();
        }
        lost
    }

    /// Stops renewing the lease of `key` with `token` and frees it.
    pub(crate) async fn release(&self, key: &str, token: u64) {
        let removed = {
            let mut held = self.held();
            match held.get(key) {
                Some(h) if h.lease.token == token => held.remove(key),
                _ => None,
            }
        };
        if let Some(h) = removed
            && let Err(e) = self.broker.release(&h.lease).await
        {
            tracing::warn!(key, error = %e, "could not release a lease; it will expire");
        }
    }

    /// Frees this replica's lease of `key`, whatever its token (a task that ended without
    /// releasing it must not keep its session here).
    pub(crate) async fn release_key(&self, key: &str) {
        let token = self.held().get(key).map(|h| h.lease.token);
        if let Some(token) = token {
            self.release(key, token).await;
        }
    }

    /// Number of leases held.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.held().len()
    }

    /// Renews every held lease once.
    pub(crate) async fn renew_all(&self) {
        let leases: Vec<Lease> = self.held().values().map(|h| h.lease.clone()).collect();
        let ttl = self.broker.lease_ttl();
        let results: Vec<(Lease, Result<Lease, BrokerError>)> = futures::stream::iter(leases)
            .map(|lease| async move {
                let result = self.broker.renew(&lease).await;
                (lease, result)
            })
            .buffer_unordered(RENEW_CONCURRENCY)
            .collect()
            .await;
        let now = Instant::now();
        let mut held = self.held();
        for (old, result) in results {
            let Some(h) = held
                .get_mut(&old.key)
                .filter(|h| h.lease.token == old.token)
            else {
                continue;
            };
            match result {
                Ok(lease) => {
                    h.lease = lease;
                    h.renewed = now;
                }
                Err(BrokerError::LeaseLost) => {
                    tracing::warn!(key = %old.key, "lease lost to another replica");
                    if let Some(h) = held.remove(&old.key) {
                        h.lost.cancel();
                    }
                }
                Err(e) if now.duration_since(h.renewed) >= ttl => {
                    tracing::warn!(key = %old.key, error = %e, "lease not renewed for a TTL");
                    if let Some(h) = held.remove(&old.key) {
                        h.lost.cancel();
                    }
                }
                Err(e) => tracing::debug!(key = %old.key, error = %e, "lease renewal failed"),
            }
        }
    }

    /// How often `renew_all` runs.
    pub(crate) fn period(&self) -> Duration {
        (self.broker.lease_ttl() / 3).max(Duration::from_millis(10))
    }
}

#[cfg(test)]
mod tests {
    use chatbox_core::ports::broker::Acquired;
    use chatbox_core::testing::MemoryBroker;

    use super::*;

    async fn lease(b: &MemoryBroker, key: &str) -> Lease {
        match b.acquire(key).await.unwrap() {
            Acquired::Mine(l) => l,
            Acquired::Held { .. } => panic!("free key"),
        }
    }

    #[tokio::test]
    async fn a_lease_another_replica_took_is_reported_lost() {
        let a = MemoryBroker::new("a", Duration::from_millis(100), 4);
        let leases = Leases::new(Arc::new(a.clone()));
        let stolen = leases.hold(lease(&a, "k").await);
        let b = a.replica("b");
        // Not renewed, it expires; b takes it.
        let taken = loop {
            if let Acquired::Mine(l) = b.acquire("k").await.unwrap() {
                break l;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        };
        assert!(taken.token > 0);
        leases.renew_all().await;
        assert!(
            stolen.is_cancelled(),
            "a lease another replica took is lost"
        );
        assert_eq!(leases.len(), 0);
    }

    #[tokio::test]
    async fn a_lease_is_released_by_key_whatever_its_token() {
        let a = MemoryBroker::new("a", Duration::from_secs(60), 4);
        let leases = Leases::new(Arc::new(a.clone()));
        let _lost = leases.hold(lease(&a, "k").await);
        leases.release_key("k").await;
        leases.release_key("never held").await;
        assert_eq!(leases.len(), 0);
        let b = a.replica("b");
        assert!(matches!(b.acquire("k").await.unwrap(), Acquired::Mine(_)));
    }

    #[tokio::test]
    async fn a_lease_not_renewed_for_a_ttl_is_reported_lost() {
        let a = MemoryBroker::new("a", Duration::from_millis(100), 4);
        let leases = Leases::new(Arc::new(a.clone()));
        let cut_off = leases.hold(lease(&a, "k").await);
        a.kill("a");
        leases.renew_all().await;
        assert!(!cut_off.is_cancelled(), "one failed renewal is not a loss");
        tokio::time::sleep(Duration::from_millis(120)).await;
        leases.renew_all().await;
        assert!(cut_off.is_cancelled(), "no renewal for a TTL: lost");
    }

    #[tokio::test]
    async fn renewal_keeps_a_lease_past_its_ttl_and_release_frees_it() {
        let a = MemoryBroker::new("a", Duration::from_millis(200), 4);
        let leases = Leases::new(Arc::new(a.clone()));
        let l = lease(&a, "k").await;
        let lost = leases.hold(l.clone());
        for _ in 0..4 {
            tokio::time::sleep(leases.period()).await;
            leases.renew_all().await;
        }
        assert!(!lost.is_cancelled());
        let b = a.replica("b");
        assert!(matches!(
            b.acquire("k").await.unwrap(),
            Acquired::Held { .. }
        ));
        leases.release("k", l.token).await;
        assert!(matches!(b.acquire("k").await.unwrap(), Acquired::Mine(_)));
    }
}
