//! The engine: session resolution on connect (CONTRACT §3), the registry of live sessions, the
//! session operations the REST API needs, and shutdown. Engine-wide state ([`Shared`]) lives
//! here; everything about one session lives in its task (`task`).

use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use chatbox_core::ports::store::SessionPatch;
use chatbox_core::protocol::ModelInfo;
use chatbox_core::{
    BlobStore, Broker, Identity, LlmProvider, Notifier, Session, SessionId, Store, UserId,
};
use chrono::Utc;
use rand::Rng;
use rand::distr::Alphanumeric;
use tokio::sync::{broadcast, oneshot, watch};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::cluster::Cluster;
use crate::config::EngineConfig;
use crate::connection::{Connection, Participant};
use crate::delivery::InFlight;
use crate::error::EngineError;
use crate::events::{EVENT_BUFFER, SessionEvent, SessionEventKind};
use crate::rate_limit::RateLimiter;
use crate::registry::Registry;
use crate::store_call::bounded;
use crate::task::{Attach, Attached, Command};

/// Length of generated session ids (the Go service's 32 alphanumerics).
const SESSION_ID_LEN: usize = 32;
/// How often a connect retries when it raced with a session task that was stopping.
const ATTACH_ATTEMPTS: usize = 3;
/// Help requests per session allowed in [`HELP_WINDOW`].
const HELP_LIMIT: u32 = 5;
/// The help request rate window.
const HELP_WINDOW: Duration = Duration::from_secs(300);
/// How often a connect looks again while this replica's task for the session starts or stops.
pub(crate) const LEASE_ATTEMPTS: usize = 50;
/// How long it waits between looks.
pub(crate) const LEASE_RETRY: Duration = Duration::from_millis(20);
/// How long shutdown waits for tasks after cancelling the replies still in flight.
const ABORT_GRACE: Duration = Duration::from_secs(2);

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
    /// Uploaded files (`None`: uploads are off).
    pub blobs: Option<Arc<dyn BlobStore>>,
    /// The provider that transcribes voice notes (`None`: voice notes are stored untranscribed).
    pub transcriber: Option<Arc<dyn LlmProvider>>,
    /// What the replicas of a deployment share (`None`: one replica, everything in process).
    pub broker: Option<Arc<dyn Broker>>,
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

/// What every session task shares.
pub(crate) struct Shared {
    pub(crate) store: Arc<dyn Store>,
    pub(crate) providers: Vec<Arc<dyn LlmProvider>>,
    pub(crate) notifiers: Vec<Arc<dyn Notifier>>,
    pub(crate) admin_panel_url: Option<String>,
    pub(crate) blobs: Option<Arc<dyn BlobStore>>,
    pub(crate) transcriber: Option<Arc<dyn LlmProvider>>,
    pub(crate) config: EngineConfig,
    pub(crate) message_rate: Mutex<RateLimiter<UserId>>,
    pub(crate) help_rate: Mutex<RateLimiter<SessionId>>,
    pub(crate) registry: Mutex<Registry>,
    pub(crate) tracker: TaskTracker,
    /// Cancelled when shutdown begins: sessions refuse input and finish their reply.
    pub(crate) shutdown: CancellationToken,
    /// Cancelled when the shutdown deadline passes: sessions cancel their reply and stop.
    pub(crate) abort: CancellationToken,
    /// Session-level events for admins' dashboards.
    pub(crate) events: broadcast::Sender<SessionEvent>,
    /// Help notifications being delivered in this process.
    pub(crate) in_flight: InFlight,
    /// This replica's part in a deployment of several (`None`: one replica).
    pub(crate) cluster: Option<Arc<Cluster>>,
}

impl Shared {
    pub(crate) fn models(&self) -> Vec<ModelInfo> {
        self.providers
            .iter()
            .map(|p| ModelInfo {
                id: p.id().to_owned(),
                name: p.name().to_owned(),
            })
            .collect()
    }

    /// The provider for a session: its model if configured, else the first provider.
    pub(crate) fn provider_for(&self, model_id: Option<&str>) -> Option<Arc<dyn LlmProvider>> {
        model_id
            .and_then(|m| self.providers.iter().find(|p| p.id() == m))
            .or_else(|| self.providers.first())
            .cloned()
    }

    /// Tells subscribed admins that `kind` happened to `session`.
    pub(crate) fn emit(&self, session: &Session, kind: SessionEventKind) {
        match &kind {
            SessionEventKind::Ended => crate::metrics::session_ended(),
            SessionEventKind::Takeover { .. } => crate::metrics::takeover(),
            SessionEventKind::Release { .. } => crate::metrics::release(),
            SessionEventKind::Created => crate::metrics::session_created(),
            SessionEventKind::HelpRequested => crate::metrics::help_requested(),
        }
        let event = SessionEvent {
            session_id: session.id.clone(),
            user_id: session.user_id.clone(),
            at: Utc::now(),
            kind,
        };
        if let Some(cluster) = &self.cluster {
            cluster.announce(&event);
        }
        // No subscriber is not an error: nobody is watching the dashboard.
        let _ = self.events.send(event);
    }

    /// The deadline of one store call.
    pub(crate) fn store_timeout(&self) -> Duration {
        Duration::from_secs(self.config.store_timeout_secs.max(1))
    }

    pub(crate) fn registry(&self) -> MutexGuard<'_, Registry> {
        self.registry.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The chat engine. Cheap to clone; all clones share one registry.
#[derive(Clone)]
pub struct Engine {
    pub(crate) shared: Arc<Shared>,
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
        let per_minute = config.messages_per_minute;
        let shared = Shared {
            store: deps.store,
            providers: deps.providers,
            notifiers: deps.notifiers,
            admin_panel_url: deps.admin_panel_url,
            blobs: deps.blobs,
            transcriber: deps.transcriber,
            config,
            message_rate: Mutex::new(RateLimiter::new(per_minute, Duration::from_secs(60))),
            help_rate: Mutex::new(RateLimiter::new(HELP_LIMIT, HELP_WINDOW)),
            registry: Mutex::new(Registry::new()),
            tracker: TaskTracker::new(),
            shutdown: CancellationToken::new(),
            abort: CancellationToken::new(),
            events: broadcast::Sender::new(EVENT_BUFFER),
            in_flight: InFlight::default(),
            cluster: deps.broker.map(|b| Arc::new(Cluster::new(b))),
        };
        let shared = Arc::new(shared);
        if shared.cluster.is_some() && tokio::runtime::Handle::try_current().is_ok() {
            tokio::spawn(crate::cluster::run(Arc::clone(&shared)));
        }
        // Pending help notifications (from before a restart too) are retried in the background
        // when there is a runtime to run on and a channel to deliver to.
        if !shared.notifiers.is_empty() && tokio::runtime::Handle::try_current().is_ok() {
            let every = Duration::from_secs(shared.config.notify_retry_secs.max(1));
            shared
                .tracker
                .spawn(crate::delivery::sweep(Arc::clone(&shared), every));
        }
        Self {
            shared,
            closing: Arc::new(AtomicBool::new(false)),
        }
    }

    /// The configured models, in configuration order.
    pub fn models(&self) -> Vec<ModelInfo> {
        self.shared.models()
    }

    /// The store, for reads by the REST handlers. Writes to a session go through the engine
    /// ([`Engine::end_session`], [`Engine::share_session`], ...) so a live session learns of them.
    pub fn store(&self) -> &Arc<dyn Store> {
        &self.shared.store
    }

    /// Uploaded files, when uploads are on.
    pub fn blobs(&self) -> Option<&Arc<dyn BlobStore>> {
        self.shared.blobs.as_ref()
    }

    /// The providers, for readiness checks.
    pub fn providers(&self) -> &[Arc<dyn LlmProvider>] {
        &self.shared.providers
    }

    /// Number of live sessions.
    pub fn live_sessions(&self) -> usize {
        self.shared.registry().len()
    }

    /// The number of live sessions, as it changes (for gauges, and for tests that wait for a
    /// session to be evicted).
    pub fn watch_live_sessions(&self) -> watch::Receiver<usize> {
        self.shared.registry().watch()
    }

    /// Subscribes to session-level events (for admins' live dashboards).
    pub fn subscribe_events(&self) -> broadcast::Receiver<SessionEvent> {
        self.shared.events.subscribe()
    }

    /// A token cancelled when shutdown begins (for long-lived feeds that must end then).
    pub fn shutting_down(&self) -> CancellationToken {
        self.shared.shutdown.clone()
    }

    /// Connects a client: resolves its session, attaches it, and queues `connection_status`
    /// (then the replay, when resuming).
    pub async fn connect(
        &self,
        identity: Identity,
        request: ConnectRequest,
    ) -> Result<Connected, EngineError> {
        self.refuse_when_closing()?;
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

    /// Moves a client to the session a frame names (another `session_id`): a new connection,
    /// whose first frame is that session's `connection_status`. One of the caller's sessions is
    /// joined (reopened when ended); an unknown id becomes the caller's new session under that
    /// id (as the Go service did); someone else's id gives a fresh session, revealing nothing.
    pub async fn switch(
        &self,
        identity: Identity,
        id: &SessionId,
    ) -> Result<Connection, EngineError> {
        self.refuse_when_closing()?;
        let session = match self.get(id).await? {
            Some(s) if s.user_id == identity.user_id => self.reopened(s).await?,
            // Someone else's: a fresh session of the caller's, revealing nothing.
            Some(_) => self.create(&identity).await?,
            // Unknown: the caller's own new session under that id, as the Go service did (its
            // clients name their sessions).
            None => match self.create_as(&identity, id.clone()).await {
                Err(EngineError::Store(chatbox_core::StoreError::Conflict(_))) => {
                    // Created concurrently (another device): join it if it is the caller's.
                    match self.get(id).await? {
                        Some(s) if s.user_id == identity.user_id => s,
                        _ => self.create(&identity).await?,
                    }
                }
                other => other?,
            },
        };
        let (connection, _) = self
            .attach(identity, &session, Participant::Owner, None)
            .await?;
        Ok(connection)
    }

    pub(crate) fn refuse_when_closing(&self) -> Result<(), EngineError> {
        if self.closing.load(Ordering::SeqCst) {
            Err(EngineError::ShuttingDown)
        } else {
            Ok(())
        }
    }

    pub(crate) async fn get(&self, id: &SessionId) -> Result<Option<Session>, EngineError> {
        bounded(
            self.shared.store_timeout(),
            self.shared.store.get_session(id),
        )
        .await
    }

    /// The session, reopened when it had ended.
    async fn reopened(&self, mut session: Session) -> Result<Session, EngineError> {
        if !session.is_active() {
            let patch = SessionPatch {
                reopen: true,
                ..Default::default()
            };
            let store = &self.shared.store;
            bounded(
                self.shared.store_timeout(),
                store.update_session(&session.id, &patch),
            )
            .await?;
            session.end_time = None;
        }
        Ok(session)
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
            let mailbox = self.mailbox_for(session).await?;
            let (mut connection, sink) = Connection::pair(
                session.id.clone(),
                identity.clone(),
                participant,
                self.shared.config.connection_queue,
                mailbox.clone(),
            );
            let (done, attached) = oneshot::channel();
            let cmd = Command::Attach(Box::new(Attach {
                sink,
                identity: identity.clone(),
                participant,
                last_seq,
                done,
            }));
            let limit = self.shared.store_timeout();
            let sent = tokio::time::timeout(limit, mailbox.send(cmd)).await;
            if matches!(sent, Ok(Ok(())))
                && let Ok(Ok(Attached { recovered, frames })) =
                    tokio::time::timeout(limit, attached).await
            {
                connection.set_backlog(frames);
                return Ok((connection, recovered));
            }
            if sent.is_err() {
                return Err(EngineError::Busy);
            }
            // The session task stopped between lookup and attach; forget it and try again.
            drop(connection);
            self.shared.registry().remove(&session.id, &mailbox);
        }
        Err(EngineError::Busy)
    }

    async fn resolve(
        &self,
        identity: &Identity,
        request: &ConnectRequest,
    ) -> Result<(Session, Participant), EngineError> {
        if let Some(id) = &request.session_id {
            if let Some(s) = self.get(id).await? {
                if s.user_id == identity.user_id {
                    return Ok((self.reopened(s).await?, Participant::Owner));
                }
                if identity.is_admin() {
                    let role = if request.watch {
                        Participant::Watcher
                    } else {
                        Participant::Admin
                    };
                    return Ok((s, role));
                }
            }
            // Someone else's session, or none: a fresh session, revealing nothing.
            return Ok((self.create(identity).await?, Participant::Owner));
        }
        let store = &self.shared.store;
        let active = bounded(
            self.shared.store_timeout(),
            store.active_session(&identity.user_id),
        )
        .await?;
        if let Some(active) = active {
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
        self.create_as(identity, id).await
    }

    /// Creates the caller's session under `id` (`Store(Conflict)` when the id is taken).
    async fn create_as(&self, identity: &Identity, id: SessionId) -> Result<Session, EngineError> {
        let session = Session::new(id, identity.user_id.clone(), Utc::now());
        let store = &self.shared.store;
        bounded(self.shared.store_timeout(), store.create_session(&session)).await?;
        self.shared.emit(&session, SessionEventKind::Created);
        Ok(session)
    }

    /// Graceful shutdown: refuse new connections and new input, drop queued input (each sender
    /// is told), let replies in flight finish and persist; once `timeout` passes, cancel them
    /// (persisting what they produced). Every connection is then closed with 1001.
    ///
    /// New connections are refused from the moment this is called; the returned future
    /// completes when every session task has stopped, and within `timeout` plus a short grace
    /// whatever the tasks do.
    pub fn shutdown(&self, timeout: Duration) -> impl Future<Output = ()> + Send + 'static {
        self.closing.store(true, Ordering::SeqCst);
        self.shared.shutdown.cancel();
        self.shared.tracker.close();
        let shared = Arc::clone(&self.shared);
        async move {
            if tokio::time::timeout(timeout, shared.tracker.wait())
                .await
                .is_ok()
            {
                if let Some(cluster) = &shared.cluster {
                    cluster.stop.cancel();
                }
                return;
            }
            tracing::warn!("shutdown timeout: cancelling replies still in flight");
            shared.abort.cancel();
            if tokio::time::timeout(ABORT_GRACE, shared.tracker.wait())
                .await
                .is_err()
            {
                tracing::error!(
                    tasks = shared.tracker.len(),
                    "session tasks still running after shutdown; abandoning them"
                );
            }
            if let Some(cluster) = &shared.cluster {
                cluster.stop.cancel();
            }
        }
    }
}
