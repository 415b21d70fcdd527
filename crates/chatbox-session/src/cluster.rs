//! Several replicas without sticky sessions (with a [`Broker`]; one replica needs none).
//!
//! Exactly one replica runs a session's task at a time: the one holding the session's lease
//! (`leases`). Its fan-out appends every `seq` frame to the session's log in the broker (`log`),
//! so every replica can relay the frames in one order and a resume works anywhere. A replica
//! whose client joins a session another replica owns runs a proxy task for it (`proxy`): it
//! relays the log to its connections and mails their inputs to the owner (`wire`), which treats
//! them as its own connections (`owner`).
//!
//! Guarantees, each enforced in one place:
//! - **One owner**: a task is spawned only with the lease in hand (`Engine::mailbox_for`), and
//!   stops when the lease is lost (`leases`), closing its connections with 1012 so they come
//!   back to whoever owns the session next.
//! - **Fencing**: a frame from an owner whose lease is older than one already seen in the log is
//!   never delivered (`proxy`).
//! - **Monotonic seqs across owners**: a new owner continues after the last seq in the log, never
//!   from a clock (`log::first_seq`).
//! - **An interrupted reply is ended**: when the previous owner died mid-reply, the new owner
//!   ends it with an error and a done frame saying so (`log::Inherited`).

pub(crate) mod leases;
pub(crate) mod log;
pub(crate) mod owner;
pub(crate) mod proxy;
pub(crate) mod slots;
pub(crate) mod wire;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bytes::Bytes;
use chatbox_core::Broker;
use futures::StreamExt;
use tokio::sync::mpsc;

use crate::engine::Shared;
use crate::events::SessionEvent;
use crate::task::Command;
use leases::Leases;
use wire::{Body, Mail};

/// How long a broker call may take before the engine treats the broker as unavailable.
pub(crate) const BROKER_TIMEOUT: Duration = Duration::from_secs(5);

/// The lease key of a session.
pub(crate) fn session_key(id: &chatbox_core::SessionId) -> String {
    format!("s.{id}")
}

/// This replica's part in a deployment of several.
pub(crate) struct Cluster {
    pub(crate) broker: Arc<dyn Broker>,
    pub(crate) leases: Leases,
    /// Mail to post, sent in order by one task (`post` never blocks a session task).
    outbox: mpsc::UnboundedSender<(String, Bytes)>,
    outbox_rx: std::sync::Mutex<Option<mpsc::UnboundedReceiver<(String, Bytes)>>>,
    next_call: AtomicU64,
    /// Cancelled once every session task has stopped (end of shutdown): the background work
    /// (renewal, mail) lives until then, since tasks finishing their replies still need it.
    pub(crate) stop: tokio_util::sync::CancellationToken,
}

/// An event as replicas announce it.
#[derive(serde::Serialize, serde::Deserialize)]
struct Announced {
    from: String,
    event: SessionEvent,
}

impl Cluster {
    pub(crate) fn new(broker: Arc<dyn Broker>) -> Self {
        let (outbox, rx) = mpsc::unbounded_channel();
        Self {
            leases: Leases::new(Arc::clone(&broker)),
            broker,
            outbox,
            outbox_rx: std::sync::Mutex::new(Some(rx)),
            next_call: AtomicU64::new(1),
            stop: tokio_util::sync::CancellationToken::new(),
        }
    }

    /// This replica's name.
    pub(crate) fn replica(&self) -> &str {
        self.broker.replica()
    }

    /// Queues mail to replica `to` (sent in posting order; failures are logged).
    pub(crate) fn post(&self, to: &str, session: &chatbox_core::SessionId, body: Body) {
        let mail = Mail {
            session: session.clone(),
            from: self.replica().to_owned(),
            body,
        };
        let _ = self.outbox.send((to.to_owned(), mail.encode()));
    }

    /// Sends mail to replica `to` now, within the broker deadline.
    pub(crate) async fn send(
        &self,
        to: &str,
        session: &chatbox_core::SessionId,
        body: Body,
    ) -> Result<(), chatbox_core::BrokerError> {
        let mail = Mail {
            session: session.clone(),
            from: self.replica().to_owned(),
            body,
        };
        match tokio::time::timeout(BROKER_TIMEOUT, self.broker.send(to, mail.encode())).await {
            Ok(result) => result,
            Err(_) => Err(chatbox_core::BrokerError::Unavailable(
                "mail timed out".into(),
            )),
        }
    }

    /// A call id unique in this replica.
    pub(crate) fn next_call(&self) -> u64 {
        self.next_call.fetch_add(1, Ordering::Relaxed)
    }

    /// Tells the other replicas' admins about `event`.
    pub(crate) fn announce(&self, event: &SessionEvent) {
        let announced = Announced {
            from: self.replica().to_owned(),
            event: event.clone(),
        };
        let Ok(bytes) = serde_json::to_vec(&announced) else {
            return;
        };
        // Through the outbox task, so the caller never waits on the broker.
        let _ = self.outbox.send((String::new(), Bytes::from(bytes)));
    }
}

/// What a replica may do with a session (`claim`).
pub(crate) enum Claim {
    /// It holds the lease: run the session's task.
    Owner(Box<owner::OwnerLink>),
    /// Another replica runs it, under a lease with this fencing token: relay.
    Proxy(String, u64),
    /// This replica's own task for it is starting or stopping.
    Wait,
}

/// Takes the lease of `session` if it is free; otherwise says who holds it.
pub(crate) async fn claim(
    shared: &Shared,
    cluster: &Arc<Cluster>,
    session: &chatbox_core::SessionId,
) -> Result<Claim, crate::error::EngineError> {
    use chatbox_core::ports::broker::Acquired;
    let broker = &cluster.broker;
    let key = session_key(session);
    let acquired = bounded(broker.acquire(&key)).await?;
    let lease = match acquired {
        Acquired::Mine(lease) => lease,
        Acquired::Held { by, .. } if by == cluster.replica() => return Ok(Claim::Wait),
        Acquired::Held { by, token } => return Ok(Claim::Proxy(by, token)),
    };
    let inherited = match log::Inherited::claim(&**broker, session, lease.token).await {
        Ok(inherited) => inherited,
        Err(e) => {
            let _ = bounded(broker.release(&lease)).await;
            return Err(e.into());
        }
    };
    let (tap, append) = log::LogTap::new(Arc::clone(broker), session.clone(), lease.token);
    // Tracked: shutdown waits until the last frames are in the log.
    shared.tracker.spawn(append);
    let token = lease.token;
    let lost = cluster.leases.hold(lease);
    Ok(Claim::Owner(Box::new(owner::OwnerLink {
        cluster: Arc::clone(cluster),
        lease_key: key,
        token,
        lost,
        inherited,
        tap,
    })))
}

/// Which replica retries pending help notifications: the holder of the `sweeper` lease.
#[derive(Default)]
pub(crate) struct Sweeper {
    lost: Option<tokio_util::sync::CancellationToken>,
}

impl Sweeper {
    /// True when this replica sweeps (always with one replica).
    pub(crate) async fn is_mine(&mut self, shared: &Shared) -> bool {
        let Some(cluster) = &shared.cluster else {
            return true;
        };
        if self.lost.as_ref().is_some_and(|l| !l.is_cancelled()) {
            return true;
        }
        match bounded(cluster.broker.acquire("sweeper")).await {
            Ok(chatbox_core::ports::broker::Acquired::Mine(lease)) => {
                self.lost = Some(cluster.leases.hold(lease));
                true
            }
            Ok(_) => false,
            Err(e) => {
                tracing::debug!(error = %e, "sweeper lease unavailable");
                false
            }
        }
    }
}

/// A broker call within [`BROKER_TIMEOUT`].
async fn bounded<T>(
    call: impl std::future::Future<Output = Result<T, chatbox_core::BrokerError>>,
) -> Result<T, chatbox_core::BrokerError> {
    match tokio::time::timeout(BROKER_TIMEOUT, call).await {
        Ok(result) => result,
        Err(_) => Err(chatbox_core::BrokerError::Unavailable(
            "broker call timed out".into(),
        )),
    }
}

/// The replica's background work: lease renewal, the outbox, mail delivery and announcements,
/// until the cluster's `stop` (after every session task stopped). Subscribing is retried until
/// the broker answers.
pub(crate) async fn run(shared: Arc<Shared>) {
    let Some(cluster) = shared.cluster.clone() else {
        return;
    };
    let stop = cluster.stop.clone();
    tokio::spawn(renew(Arc::clone(&cluster), stop.clone()));
    if let Some(rx) = cluster
        .outbox_rx
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .take()
    {
        tokio::spawn(outbox(Arc::clone(&cluster.broker), rx, stop.clone()));
    }
    let mut wait = Duration::from_millis(100);
    let (mail, announcements) = loop {
        let subscribed = async {
            let mail = bounded(cluster.broker.mail()).await?;
            let announcements = bounded(cluster.broker.announcements()).await?;
            Ok::<_, chatbox_core::BrokerError>((mail, announcements))
        };
        match subscribed.await {
            Ok(streams) => break streams,
            Err(e) => {
                tracing::warn!(error = %e, "cannot subscribe to the broker; retrying");
                tokio::select! {
                    () = stop.cancelled() => return,
                    () = tokio::time::sleep(wait) => {}
                }
                wait = (wait * 2).min(Duration::from_secs(5));
            }
        }
    };
    tokio::spawn(deliver(Arc::clone(&shared), mail, stop.clone()));
    rebroadcast(shared, announcements, stop).await;
}

async fn renew(cluster: Arc<Cluster>, stop: tokio_util::sync::CancellationToken) {
    let mut tick = tokio::time::interval(cluster.leases.period());
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = stop.cancelled() => return,
            _ = tick.tick() => cluster.leases.renew_all().await,
        }
    }
}

/// Sends posted mail in order; an empty destination is an announcement. At `stop` it sends
/// what is already queued (the last owners' `Gone`) and ends.
async fn outbox(
    broker: Arc<dyn Broker>,
    mut rx: mpsc::UnboundedReceiver<(String, Bytes)>,
    stop: tokio_util::sync::CancellationToken,
) {
    loop {
        let next = tokio::select! {
            biased;
            next = rx.recv() => next,
            () = stop.cancelled() => rx.try_recv().ok(),
        };
        let Some((to, bytes)) = next else {
            return;
        };
        let sent = if to.is_empty() {
            tokio::time::timeout(BROKER_TIMEOUT, broker.announce(bytes)).await
        } else {
            tokio::time::timeout(BROKER_TIMEOUT, broker.send(&to, bytes)).await
        };
        match sent {
            Ok(Ok(())) => {}
            Ok(Err(e)) => tracing::debug!(to, error = %e, "mail not delivered"),
            Err(_) => tracing::warn!(to, "mail timed out"),
        }
    }
}

/// Hands mail to the session task (owner or proxy) it is about; mail about a session this
/// replica does not run is answered with `Gone`.
async fn deliver(
    shared: Arc<Shared>,
    mut mail: chatbox_core::ports::broker::MessageStream,
    stop: tokio_util::sync::CancellationToken,
) {
    loop {
        let bytes = tokio::select! {
            () = stop.cancelled() => return,
            next = mail.next() => match next {
                Some(bytes) => bytes,
                None => return,
            },
        };
        let Some(mail) = Mail::decode(&bytes) else {
            continue;
        };
        let mailbox = shared.registry().get(&mail.session).cloned();
        match mailbox {
            Some(tx) => {
                if let Err(e) = tx.try_send(Command::Remote(Box::new(mail))) {
                    let mail = match e {
                        mpsc::error::TrySendError::Full(Command::Remote(m))
                        | mpsc::error::TrySendError::Closed(Command::Remote(m)) => *m,
                        _ => continue,
                    };
                    owner::refuse(&shared, mail);
                }
            }
            None => owner::refuse(&shared, mail),
        }
    }
}

/// Other replicas' session events, re-sent to this replica's admin subscribers.
async fn rebroadcast(
    shared: Arc<Shared>,
    mut announcements: chatbox_core::ports::broker::MessageStream,
    stop: tokio_util::sync::CancellationToken,
) {
    loop {
        let bytes = tokio::select! {
            () = stop.cancelled() => return,
            next = announcements.next() => match next {
                Some(bytes) => bytes,
                None => return,
            },
        };
        let Some(cluster) = &shared.cluster else {
            return;
        };
        match serde_json::from_slice::<Announced>(&bytes) {
            Ok(a) if a.from != cluster.replica() => {
                let _ = shared.events.send(a.event);
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "unreadable announcement dropped"),
        }
    }
}
