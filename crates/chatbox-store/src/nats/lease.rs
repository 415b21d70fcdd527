//! Leases as entries of one JetStream KV bucket (`<prefix>-leases`), whose `max_age` is the
//! lease TTL and whose history is 1.
//!
//! A lease key is stored under its [`token`]. The entry's value is JSON `{"by": replica}` as
//! acquired, then `{"by": replica, "token": N}` once renewed.
//!
//! Guarantees:
//! - **Exclusive.** Acquiring is a KV `create`, which the server accepts only when the key has
//!   no live value (none, a delete marker, or one that aged out), so one replica wins.
//! - **Fencing token.** The token is the revision the `create` wrote: a stream sequence, which
//!   only grows, so every later lease of a key has a greater token. A value written at
//!   acquisition carries no token because it *is* that revision; a renewal keeps the token in
//!   the value since the revision moves on.
//! - **Expiry.** Every write (acquire or renew) lives `lease_ttl` before JetStream ages it out,
//!   after which the key is free; a renewal must name the revision it last saw, so it fails
//!   with [`BrokerError::LeaseLost`] once the lease aged out or another replica acquired it.
//! - **Release** writes a delete marker only while the lease's revision is still the key's
//!   latest, so a stale release never frees another replica's lease.

use bytes::Bytes;
use chatbox_core::BrokerError;
use chatbox_core::ports::broker::{Acquired, Lease};
use serde::{Deserialize, Serialize};

use async_nats::jetstream::kv::{CreateErrorKind, EntryErrorKind, Operation, UpdateErrorKind};

use super::NatsBroker;
use super::classify::{backend, failure};
use super::keys::token;

/// How many times `acquire` retries when the key changes state between its create and read
/// (the holder's value aged out or was released in between).
const ACQUIRE_ATTEMPTS: usize = 5;

/// A lease entry's value.
#[derive(Debug, Serialize, Deserialize)]
struct Holder {
    /// The holding replica.
    by: String,
    /// The fencing token, once the entry's revision no longer is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    token: Option<u64>,
}

impl Holder {
    fn to_bytes(&self) -> Result<Bytes, BrokerError> {
        serde_json::to_vec(self)
            .map(Bytes::from)
            .map_err(|e| BrokerError::Backend(Box::new(e)))
    }
}

impl NatsBroker {
    pub(super) async fn acquire_lease(&self, key: &str) -> Result<Acquired, BrokerError> {
        let kv_key = token(key);
        let value = Holder {
            by: self.replica.clone(),
            token: None,
        }
        .to_bytes()?;
        for _ in 0..ACQUIRE_ATTEMPTS {
            match self.leases.create(&kv_key, value.clone()).await {
                Ok(revision) => {
                    return Ok(Acquired::Mine(Lease {
                        key: key.to_owned(),
                        token: revision,
                        revision,
                    }));
                }
                Err(e) if e.kind() == CreateErrorKind::AlreadyExists => {}
                Err(e) => {
                    let transient = e.kind() == CreateErrorKind::Publish;
                    return Err(failure(&self.client, e, transient));
                }
            }
            match self.leases.entry(kv_key.clone()).await {
                Ok(Some(entry)) if entry.operation == Operation::Put => {
                    let holder: Holder = serde_json::from_slice(&entry.value).map_err(|e| {
                        backend(format!(
                            "the lease of {key:?} holds an unreadable value: {e}"
                        ))
                    })?;
                    return Ok(Acquired::Held {
                        by: holder.by,
                        token: holder.token.unwrap_or(entry.revision),
                    });
                }
                // Released or aged out since the create failed: try again.
                Ok(_) => {}
                Err(e) => {
                    let transient = e.kind() == EntryErrorKind::TimedOut;
                    return Err(failure(&self.client, e, transient));
                }
            }
        }
        Err(BrokerError::Unavailable(
            format!("the lease of {key:?} kept changing hands; try again").into(),
        ))
    }

    pub(super) async fn renew_lease(&self, lease: &Lease) -> Result<Lease, BrokerError> {
        let value = Holder {
            by: self.replica.clone(),
            token: Some(lease.token),
        }
        .to_bytes()?;
        match self
            .leases
            .update(token(&lease.key), value, lease.revision)
            .await
        {
            Ok(revision) => Ok(Lease {
                revision,
                ..lease.clone()
            }),
            Err(e) if e.kind() == UpdateErrorKind::WrongLastRevision => Err(BrokerError::LeaseLost),
            Err(e) => {
                let transient = e.kind() == UpdateErrorKind::TimedOut;
                Err(failure(&self.client, e, transient))
            }
        }
    }

    pub(super) async fn release_lease(&self, lease: &Lease) -> Result<(), BrokerError> {
        match self
            .leases
            .delete_expect_revision(token(&lease.key), Some(lease.revision))
            .await
        {
            Ok(()) => Ok(()),
            // Not the key's latest revision: the lease is no longer held, nothing to free.
            Err(e) if e.kind() == UpdateErrorKind::WrongLastRevision => Ok(()),
            Err(e) => {
                let transient = e.kind() == UpdateErrorKind::TimedOut;
                Err(failure(&self.client, e, transient))
            }
        }
    }
}
