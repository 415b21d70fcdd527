//! Per-user connection slots shared by every replica, so a per-user connection limit holds for
//! the deployment, not per replica. A slot is a lease on one of the user's `max` keys
//! (`c.<user>.<n>`): the broker grants each key to one holder, so at most `max` slots exist
//! at once; a slot is freed when its guard drops, and a dead replica's slots expire with its
//! leases.

use std::sync::Arc;

use chatbox_core::UserId;
use chatbox_core::ports::broker::Acquired;

use super::{Cluster, bounded};
use crate::engine::Engine;
use crate::error::EngineError;

/// A held connection slot (a no-op with one replica: the edge counts locally).
#[must_use = "the slot is freed when dropped"]
pub struct UserSlot {
    held: Option<(Arc<Cluster>, String, u64)>,
}

impl std::fmt::Debug for UserSlot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UserSlot")
            .field("key", &self.held.as_ref().map(|h| &h.1))
            .finish()
    }
}

impl Drop for UserSlot {
    fn drop(&mut self) {
        let Some((cluster, key, token)) = self.held.take() else {
            return;
        };
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(async move { cluster.leases.release(&key, token).await });
        }
    }
}

impl Engine {
    /// Takes one of `user`'s `max` connection slots across every replica; `Ok(None)` when all
    /// are held. With one replica there is nothing to share: always a (no-op) slot.
    pub async fn connection_slot(
        &self,
        user: &UserId,
        max: usize,
    ) -> Result<Option<UserSlot>, EngineError> {
        let Some(cluster) = self.shared.cluster.clone() else {
            return Ok(Some(UserSlot { held: None }));
        };
        // Start at a different key each time so a busy user's connects do not all probe the
        // same keys first.
        let start = rand::random_range(0..max.max(1));
        for i in 0..max {
            let key = format!("c.{user}.{}", (start + i) % max);
            if let Acquired::Mine(lease) = bounded(cluster.broker.acquire(&key)).await? {
                let token = lease.token;
                let _lost = cluster.leases.hold(lease);
                return Ok(Some(UserSlot {
                    held: Some((cluster, key, token)),
                }));
            }
        }
        Ok(None)
    }
}
