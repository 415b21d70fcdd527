//! Which task serves a session in this process: its owner (spawned when there is none, within
//! the user's live-session cap; with several replicas only with the session's lease in hand) or,
//! when another replica owns it, a proxy relaying that owner.

use std::sync::Arc;

use chatbox_core::{Session, UserId};
use tokio::sync::mpsc;

use crate::cluster::owner::OwnerLink;
use crate::cluster::proxy::ProxyTask;
use crate::cluster::{Claim, Cluster};
use crate::engine::{Engine, LEASE_ATTEMPTS, LEASE_RETRY};
use crate::error::EngineError;
use crate::registry::{Registry, TaskStatus};
use crate::task::{Command, SessionTask};

impl Engine {
    /// The live task of `session`, spawned when there is none. A user at the live-session cap
    /// first has their longest-idle session evicted; with none idle, `TooManySessions`. With
    /// several replicas the task is the session's owner when this replica gets its lease, and
    /// a proxy relaying the owner otherwise.
    pub(crate) async fn mailbox_for(
        &self,
        session: &Session,
    ) -> Result<mpsc::Sender<Command>, EngineError> {
        let Some(cluster) = self.shared.cluster.clone() else {
            let mut registry = self.shared.registry();
            if let Some(tx) = registry.get(&session.id) {
                return Ok(tx.clone());
            }
            self.make_room(&mut registry, &session.user_id)?;
            return Ok(self.spawn_owner(&mut registry, session, None));
        };
        for _ in 0..LEASE_ATTEMPTS {
            {
                let mut registry = self.shared.registry();
                if let Some(tx) = registry.get(&session.id) {
                    return Ok(tx.clone());
                }
                self.make_room(&mut registry, &session.user_id)?;
            }
            match crate::cluster::claim(&self.shared, &cluster, &session.id).await? {
                Claim::Owner(link) => {
                    let mut registry = self.shared.registry();
                    return Ok(self.spawn_owner(&mut registry, session, Some(*link)));
                }
                Claim::Proxy(owner, token) => {
                    let mut registry = self.shared.registry();
                    if let Some(tx) = registry.get(&session.id) {
                        return Ok(tx.clone());
                    }
                    return Ok(self.spawn_proxy(&mut registry, &cluster, session, (owner, token)));
                }
                // This replica's own task for it is starting or stopping: look again.
                Claim::Wait => tokio::time::sleep(LEASE_RETRY).await,
            }
        }
        // Still held here with no task for it: a task that ended without releasing it. Free it
        // so that the next connect claims the session afresh.
        if self.shared.registry().get(&session.id).is_none() {
            let key = crate::cluster::session_key(&session.id);
            cluster.leases.release_key(&key).await;
        }
        Err(EngineError::Busy)
    }

    /// Evicts the user's longest-idle session when they are at the live-session cap.
    fn make_room(&self, registry: &mut Registry, user: &UserId) -> Result<(), EngineError> {
        let cap = self.shared.config.max_sessions_per_user.max(1);
        if registry.user_count(user) >= cap {
            // An evicted task removes itself when it stops; until then the user is briefly one
            // over the cap. A task that became busy meanwhile ignores the request.
            let evicted = registry
                .idle_of(user)
                .into_iter()
                .any(|tx| tx.try_send(Command::Evict).is_ok());
            if !evicted {
                return Err(EngineError::TooManySessions);
            }
        }
        Ok(())
    }

    fn spawn_owner(
        &self,
        registry: &mut Registry,
        session: &Session,
        link: Option<OwnerLink>,
    ) -> mpsc::Sender<Command> {
        let (tx, rx) = mpsc::channel(self.shared.config.session_mailbox.max(1));
        let status = Arc::new(TaskStatus::default());
        let task = SessionTask::new(
            Arc::clone(&self.shared),
            session.clone(),
            tx.clone(),
            Arc::clone(&status),
            link,
        );
        let span =
            tracing::info_span!(parent: None, "session", id = %session.id, user = %session.user_id);
        self.register(registry, session, (tx, status), task.run(rx), span)
    }

    fn spawn_proxy(
        &self,
        registry: &mut Registry,
        cluster: &Arc<Cluster>,
        session: &Session,
        (owner, token): (String, u64),
    ) -> mpsc::Sender<Command> {
        let (tx, rx) = mpsc::channel(self.shared.config.session_mailbox.max(1));
        let status = Arc::new(TaskStatus::default());
        let task = ProxyTask::new(
            Arc::clone(&self.shared),
            Arc::clone(cluster),
            session.id.clone(),
            (owner, token),
            tx.clone(),
            Arc::clone(&status),
        );
        let span = tracing::info_span!(parent: None, "proxy", id = %session.id);
        self.register(registry, session, (tx, status), task.run(rx), span)
    }

    /// Runs a session's task (owner or proxy) and registers its mailbox.
    fn register(
        &self,
        registry: &mut Registry,
        session: &Session,
        (tx, status): (mpsc::Sender<Command>, Arc<TaskStatus>),
        task: impl std::future::Future<Output = ()> + Send + 'static,
        span: tracing::Span,
    ) -> mpsc::Sender<Command> {
        self.shared
            .tracker
            .spawn(tracing::Instrument::instrument(task, span));
        registry.insert(
            session.id.clone(),
            session.user_id.clone(),
            tx.clone(),
            status,
        );
        tx
    }
}
