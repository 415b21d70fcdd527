//! [`MemoryBroker`]: the [`Broker`] port in memory. Several handles made with
//! [`MemoryBroker::replica`] share one hub, so several engines in one test process behave like
//! replicas of one deployment. Same semantics as the NATS broker (one conformance suite).

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use bytes::Bytes;
use futures::StreamExt;
use futures::channel::mpsc::{UnboundedSender, unbounded};

use crate::ids::SessionId;
use crate::ports::broker::{
    Acquired, Broker, BrokerError, FrameStream, Lease, LogFrame, MessageStream,
};

struct Held {
    by: String,
    token: u64,
    revision: u64,
    expires: Instant,
}

#[derive(Default)]
struct Log {
    frames: VecDeque<LogFrame>,
    readers: Vec<UnboundedSender<Result<LogFrame, BrokerError>>>,
}

#[derive(Default)]
struct State {
    leases: HashMap<String, Held>,
    /// Tokens and revisions come from one counter, so both only grow.
    counter: u64,
    logs: HashMap<SessionId, Log>,
    mail: HashMap<String, Vec<UnboundedSender<Bytes>>>,
    announcements: Vec<UnboundedSender<Bytes>>,
    /// Replicas killed: their calls fail.
    dead: Vec<String>,
}

struct Hub {
    ttl: Duration,
    history: usize,
    state: Mutex<State>,
}

/// An in-memory broker handle for one replica.
#[derive(Clone)]
pub struct MemoryBroker {
    hub: Arc<Hub>,
    name: String,
}

impl std::fmt::Debug for MemoryBroker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemoryBroker")
            .field("replica", &self.name)
            .finish_non_exhaustive()
    }
}

impl MemoryBroker {
    /// A new hub, and the handle of its replica `replica`.
    pub fn new(replica: &str, lease_ttl: Duration, history: usize) -> Self {
        let hub = Hub {
            ttl: lease_ttl,
            history: history.max(1),
            state: Mutex::new(State::default()),
        };
        Self {
            hub: Arc::new(hub),
            name: replica.to_owned(),
        }
    }

    /// The handle of another replica on the same hub.
    pub fn replica(&self, name: &str) -> Self {
        Self {
            hub: Arc::clone(&self.hub),
            name: name.to_owned(),
        }
    }

    /// Replica `name` dies: its leases are forgotten (as if expired), its mail stops, and every
    /// later call through its handles fails with `Unavailable`, as for a process cut off.
    pub fn kill(&self, name: &str) {
        let mut state = self.state();
        state.leases.retain(|_, held| held.by != name);
        state.mail.remove(name);
        state.dead.push(name.to_owned());
    }

    fn alive(&self) -> Result<(), BrokerError> {
        if self.state().dead.contains(&self.name) {
            Err(BrokerError::Unavailable(
                format!("replica {} is dead", self.name).into(),
            ))
        } else {
            Ok(())
        }
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.hub
            .state
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

/// A held lease that is live now.
fn live<'a>(state: &'a State, key: &str, now: Instant) -> Option<&'a Held> {
    state.leases.get(key).filter(|h| h.expires > now)
}

#[async_trait]
impl Broker for MemoryBroker {
    fn replica(&self) -> &str {
        &self.name
    }

    fn lease_ttl(&self) -> Duration {
        self.hub.ttl
    }

    fn history(&self) -> usize {
        self.hub.history
    }

    async fn acquire(&self, key: &str) -> Result<Acquired, BrokerError> {
        self.alive()?;
        let now = Instant::now();
        let mut state = self.state();
        if let Some(held) = live(&state, key, now) {
            return Ok(Acquired::Held {
                by: held.by.clone(),
                token: held.token,
            });
        }
        state.counter += 1;
        let token = state.counter;
        let held = Held {
            by: self.name.clone(),
            token,
            revision: token,
            expires: now + self.hub.ttl,
        };
        state.leases.insert(key.to_owned(), held);
        Ok(Acquired::Mine(Lease {
            key: key.to_owned(),
            token,
            revision: token,
        }))
    }

    async fn renew(&self, lease: &Lease) -> Result<Lease, BrokerError> {
        self.alive()?;
        let now = Instant::now();
        let mut state = self.state();
        state.counter += 1;
        let revision = state.counter;
        match state.leases.get_mut(&lease.key) {
            Some(held)
                if held.expires > now
                    && held.token == lease.token
                    && held.revision == lease.revision =>
            {
                held.revision = revision;
                held.expires = now + self.hub.ttl;
                Ok(Lease {
                    revision,
                    ..lease.clone()
                })
            }
            _ => Err(BrokerError::LeaseLost),
        }
    }

    async fn release(&self, lease: &Lease) -> Result<(), BrokerError> {
        let mut state = self.state();
        if state
            .leases
            .get(&lease.key)
            .is_some_and(|h| h.token == lease.token && h.revision == lease.revision)
        {
            state.leases.remove(&lease.key);
        }
        Ok(())
    }

    async fn append(&self, session: &SessionId, frame: LogFrame) -> Result<(), BrokerError> {
        self.alive()?;
        let history = self.hub.history;
        let mut state = self.state();
        let log = state.logs.entry(session.clone()).or_default();
        log.readers
            .retain(|r| r.unbounded_send(Ok(frame.clone())).is_ok());
        log.frames.push_back(frame);
        while log.frames.len() > history {
            log.frames.pop_front();
        }
        Ok(())
    }

    async fn read(&self, session: &SessionId) -> Result<FrameStream, BrokerError> {
        self.alive()?;
        let (tx, rx) = unbounded();
        let mut state = self.state();
        let log = state.logs.entry(session.clone()).or_default();
        for frame in &log.frames {
            // The receiver is still here: sending cannot fail.
            let _ = tx.unbounded_send(Ok(frame.clone()));
        }
        log.readers.push(tx);
        Ok(rx.boxed())
    }

    async fn last(&self, session: &SessionId) -> Result<Option<LogFrame>, BrokerError> {
        let state = self.state();
        Ok(state
            .logs
            .get(session)
            .and_then(|log| log.frames.back().cloned()))
    }

    async fn claim_log(
        &self,
        session: &SessionId,
        token: u64,
    ) -> Result<Option<LogFrame>, BrokerError> {
        self.alive()?;
        let history = self.hub.history;
        let mut state = self.state();
        let log = state.logs.entry(session.clone()).or_default();
        let last = log.frames.back().cloned();
        let marker = LogFrame {
            seq: last.as_ref().map_or(0, |f| f.seq),
            token,
            body: Bytes::new(),
        };
        log.readers
            .retain(|r| r.unbounded_send(Ok(marker.clone())).is_ok());
        log.frames.push_back(marker);
        while log.frames.len() > history {
            log.frames.pop_front();
        }
        Ok(last)
    }

    async fn send(&self, to: &str, message: Bytes) -> Result<(), BrokerError> {
        self.alive()?;
        let mut state = self.state();
        let listeners = state.mail.entry(to.to_owned()).or_default();
        listeners.retain(|l| !l.is_closed());
        match listeners.first() {
            Some(listener) => {
                let _ = listener.unbounded_send(message);
                Ok(())
            }
            None => Err(BrokerError::NoRecipient(to.to_owned())),
        }
    }

    async fn mail(&self) -> Result<MessageStream, BrokerError> {
        let (tx, rx) = unbounded();
        self.state()
            .mail
            .entry(self.name.clone())
            .or_default()
            .push(tx);
        Ok(rx.boxed())
    }

    async fn announce(&self, message: Bytes) -> Result<(), BrokerError> {
        self.alive()?;
        self.state()
            .announcements
            .retain(|l| l.unbounded_send(message.clone()).is_ok());
        Ok(())
    }

    async fn announcements(&self) -> Result<MessageStream, BrokerError> {
        let (tx, rx) = unbounded();
        self.state().announcements.push(tx);
        Ok(rx.boxed())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::broker_conformance::{self, World};

    struct Memory(MemoryBroker);

    impl World for Memory {
        type B = MemoryBroker;
        async fn replica(&self, name: &str) -> MemoryBroker {
            self.0.replica(name)
        }
        async fn pause(&self, d: Duration) {
            std::thread::sleep(d);
        }
    }

    #[test]
    fn memory_broker_passes_the_conformance_suite() {
        futures::executor::block_on(broker_conformance::run_all(|| async {
            Memory(MemoryBroker::new("a", Duration::from_millis(50), 16))
        }));
    }

    #[test]
    fn a_killed_replica_loses_its_leases_and_mail() {
        futures::executor::block_on(async {
            let a = MemoryBroker::new("a", Duration::from_secs(60), 4);
            let b = a.replica("b");
            let _mail = b.mail().await.unwrap();
            let Acquired::Mine(_) = b.acquire("k").await.unwrap() else {
                panic!("free key");
            };
            a.kill("b");
            assert!(matches!(a.acquire("k").await, Ok(Acquired::Mine(_))));
            assert!(matches!(
                a.send("b", Bytes::new()).await,
                Err(BrokerError::NoRecipient(_))
            ));
        });
    }
}
