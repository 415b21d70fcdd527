//! The engine: session resolution on connect (CONTRACT §3), the registry of live sessions, and
//! shutdown.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, PoisonError};
use std::time::Duration;

use chatbox_core::ports::store::SessionPatch;
use chatbox_core::protocol::ModelInfo;
use chatbox_core::{Identity, LlmProvider, Notifier, Session, SessionId, Store};
use chrono::Utc;
use rand::Rng;
use rand::distr::Alphanumeric;
use tokio::sync::{mpsc, oneshot};

use crate::actor::{Actor, Attach, Command, Shared};
use crate::config::EngineConfig;
use crate::connection::{Connection, Participant};
use crate::error::EngineError;

/// Length of generated session ids (the Go service's 32 alphanumerics).
const SESSION_ID_LEN: usize = 32;
/// How often a connect retries when it raced with a session task that was stopping.
const ATTACH_ATTEMPTS: usize = 3;

/// The engine's collaborators.
pub struct EngineDeps {
    /// Session storage.
    pub store: Arc<dyn Store>,
    /// LLM providers in configuration order; the first is the default model.
    pub providers: Vec<Arc<dyn LlmProvider>>,
    /// Staff notification channels.
    pub notifiers: Vec<Arc<dyn Notifier>>,
    /// Base URL of the admin panel for links in notifications.
    pub admin_panel_url: Option<String>,
}

/// What a connecting client asks for (from the WebSocket URL).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ConnectRequest {
    /// `?session_id`: the session to join or resume.
    pub session_id: Option<SessionId>,
    /// `?last_seq`: resume after this seq.
    pub last_seq: Option<u64>,
    /// `?mode=watch`: an admin watching read-only.
    pub watch: bool,
}

/// The result of a connect.
#[derive(Debug)]
pub struct Connected {
    /// The connection, already holding its `connection_status` (and any replay) to write.
    pub connection: Connection,
    /// `Some(true/false)` when the client asked to resume: whether every missed frame follows.
    pub recovered: Option<bool>,
}

/// The chat engine. Cheap to clone; all clones share one registry.
#[derive(Clone)]
pub struct Engine {
    shared: Arc<Shared>,
    closing: Arc<AtomicBool>,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("providers", &self.shared.models())
            .finish_non_exhaustive()
    }
}

impl Engine {
    /// An engine over these collaborators.
    pub fn new(deps: EngineDeps, config: EngineConfig) -> Self {
        let shared = Shared::new(
            deps.store,
            deps.providers,
            deps.notifiers,
            deps.admin_panel_url,
            config,
        );
        Self {
            shared: Arc::new(shared),
            closing: Arc::new(AtomicBool::new(false)),
        }
    }

    /// The configured models, in configuration order.
    pub fn models(&self) -> Vec<ModelInfo> {
        self.shared.models()
    }

    /// The store, for the REST handlers.
    pub fn store(&self) -> &Arc<dyn Store> {
        &self.shared.store
    }

    /// The providers, for readiness checks.
    pub fn providers(&self) -> &[Arc<dyn LlmProvider>] {
        &self.shared.providers
    }

    /// Number of live sessions.
    pub fn live_sessions(&self) -> usize {
        self.shared
            .registry
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }

    /// Connects a client: resolves its session, attaches it, and queues `connection_status`
    /// (then the replay, when resuming).
    pub async fn connect(
        &self,
        identity: Identity,
        request: ConnectRequest,
    ) -> Result<Connected, EngineError> {
        if self.closing.load(Ordering::SeqCst) {
            return Err(EngineError::ShuttingDown);
        }
        let (session, participant) = self.resolve(&identity, &request).await?;
        let same = request.session_id.as_ref() == Some(&session.id);
        let last_seq = if same { request.last_seq } else { None };
        let (connection, mut recovered) = self
            .attach(identity, &session, participant, last_seq)
            .await?;
        if request.last_seq.is_some() && !same {
            recovered = Some(false);
        }
        Ok(Connected {
            connection,
            recovered,
        })
    }

    /// Moves a client to another of its own sessions (a frame naming another `session_id`):
    /// a new connection to that session, whose first frame is its `connection_status`. A session
    /// that is not the caller's is `NotFound`, whether or not it exists.
    pub async fn switch(
        &self,
        identity: Identity,
        id: &SessionId,
    ) -> Result<Connection, EngineError> {
        if self.closing.load(Ordering::SeqCst) {
            return Err(EngineError::ShuttingDown);
        }
        let store = &self.shared.store;
        let mut session = store
            .get_session(id)
            .await?
            .filter(|s| s.user_id == identity.user_id)
            .ok_or(EngineError::NotFound)?;
        if !session.is_active() {
            let patch = SessionPatch {
                reopen: true,
                ..Default::default()
            };
            store.update_session(&session.id, &patch).await?;
            session.end_time = None;
        }
        let (connection, _) = self
            .attach(identity, &session, Participant::Owner, None)
            .await?;
        Ok(connection)
    }

    /// Attaches a new connection to `session`'s task (spawning it if needed).
    async fn attach(
        &self,
        identity: Identity,
        session: &Session,
        participant: Participant,
        last_seq: Option<u64>,
    ) -> Result<(Connection, Option<bool>), EngineError> {
        for _ in 0..ATTACH_ATTEMPTS {
            let mailbox = self.mailbox_for(session);
            let (connection, sink) = Connection::pair(
                session.id.clone(),
                identity.clone(),
                participant,
                self.shared.config.connection_queue,
                mailbox.clone(),
            );
            let (done, attached) = oneshot::channel();
            let cmd = Command::Attach(Box::new(Attach {
                sink,
                user: session.user_id.clone(),
                last_seq,
                done,
            }));
            if mailbox.send(cmd).await.is_ok()
                && let Ok(recovered) = attached.await
            {
                return Ok((connection, recovered));
            }
            // The session task stopped between lookup and attach; forget it and try again.
            drop(connection);
            self.forget(&session.id, &mailbox);
        }
        Err(EngineError::Busy)
    }

    async fn resolve(
        &self,
        identity: &Identity,
        request: &ConnectRequest,
    ) -> Result<(Session, Participant), EngineError> {
        let store = &self.shared.store;
        if let Some(id) = &request.session_id {
            if let Some(mut s) = store.get_session(id).await? {
                if s.user_id == identity.user_id {
                    if !s.is_active() {
                        let patch = SessionPatch {
                            reopen: true,
                            ..Default::default()
                        };
                        store.update_session(&s.id, &patch).await?;
                        s.end_time = None;
                    }
                    return Ok((s, Participant::Owner));
                }
                if identity.is_admin() && request.watch {
                    return Ok((s, Participant::Watcher));
                }
            }
            // Someone else's session, or none: a fresh session, revealing nothing.
            return Ok((self.create(identity).await?, Participant::Owner));
        }
        if let Some(active) = store.active_session(&identity.user_id).await? {
            return Ok((active, Participant::Owner));
        }
        Ok((self.create(identity).await?, Participant::Owner))
    }

    async fn create(&self, identity: &Identity) -> Result<Session, EngineError> {
        let id: String = rand::rng()
            .sample_iter(Alphanumeric)
            .take(SESSION_ID_LEN)
            .map(char::from)
            .collect();
        let id = SessionId::parse(&id)
            .map_err(|e| EngineError::Store(chatbox_core::StoreError::Corrupt(e.to_string())))?;
        let session = Session::new(id, identity.user_id.clone(), Utc::now());
        self.shared.store.create_session(&session).await?;
        Ok(session)
    }

    fn mailbox_for(&self, session: &Session) -> mpsc::Sender<Command> {
        let mut registry = self
            .shared
            .registry
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(tx) = registry.get(&session.id).filter(|tx| !tx.is_closed()) {
            return tx.clone();
        }
        let (tx, rx) = mpsc::channel(self.shared.config.session_mailbox.max(1));
        let actor = Actor::new(Arc::clone(&self.shared), session.clone(), tx.clone());
        self.shared.tracker.spawn(actor.run(rx));
        registry.insert(session.id.clone(), tx.clone());
        tx
    }

    fn forget(&self, id: &SessionId, stale: &mpsc::Sender<Command>) {
        let mut registry = self
            .shared
            .registry
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if registry.get(id).is_some_and(|tx| tx.same_channel(stale)) {
            registry.remove(id);
        }
    }

    /// Graceful shutdown: refuse new connections, let replies in flight finish and persist
    /// (cancelling and persisting what they produced once `timeout` passes), then close every
    /// connection with 1001.
    pub async fn shutdown(&self, timeout: Duration) {
        self.closing.store(true, Ordering::SeqCst);
        let senders: Vec<mpsc::Sender<Command>> = self
            .shared
            .registry
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .values()
            .cloned()
            .collect();
        for tx in &senders {
            let _ = tx.send(Command::Shutdown).await;
        }
        self.shared.tracker.close();
        if tokio::time::timeout(timeout, self.shared.tracker.wait())
            .await
            .is_err()
        {
            tracing::warn!("shutdown timeout: cancelling replies still in flight");
            for tx in &senders {
                let _ = tx.send(Command::Abort).await;
            }
            let _ = tokio::time::timeout(Duration::from_secs(5), self.shared.tracker.wait()).await;
        }
    }
}
