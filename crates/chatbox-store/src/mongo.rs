//! [`MongoStore`]: the MongoDB [`Store`], reading and writing the Go service's session documents
//! (CONTRACT §7) in `MongoConfig::database`.`MongoConfig::collection`.
//!
//! Guarantees: each operation is one atomic single-document write or one read (ending a session
//! sets `endTs` and `dur` in one conditional update, so ending twice never re-stamps); every Go
//! field is written when it changes; message content is encrypted by the [`Cipher`] before it is
//! sent; each attempt has a deadline and transient failures are retried per [`RetryConfig`] as
//! `classify` decides. Dropping a future abandons the operation: the driver either sent the
//! single write or did not.

mod classify;
mod config;
pub mod document;
pub mod indexes;
pub mod outbox;
pub mod pipeline;
mod tolerant;
mod updates;

use std::future::Future;
use std::time::Duration;

use async_trait::async_trait;
use chatbox_core::concurrency::concurrency;
use chatbox_core::outbox::{Delivery, HelpRequest};
use chatbox_core::ports::store::{EndOutcome, SessionPatch};
use chatbox_core::query::{SessionMetrics, SessionPage, SessionQuery, TimeWindow};
use chatbox_core::session::TakeoverEvent;
use chatbox_core::{Message, Session, SessionId, ShareToken, Store, StoreError, UserId};
use chrono::{DateTime, Utc};
use futures::TryStreamExt;
use mongodb::bson::{Bson, Document, doc};
use mongodb::options::ClientOptions;
use mongodb::{Client, Collection};

use self::classify::{Idempotent, classify};
use self::document as f;
use self::updates::if_null;
use crate::crypto::Cipher;
use crate::error::Error;
use crate::retry::{Failure, RetryConfig, with_retry};

pub use self::config::{
    DEFAULT_ADMIN_QUERY_TIMEOUT_MS, DEFAULT_COLLECTION, DEFAULT_CONNECT_TIMEOUT_MS,
    DEFAULT_DATABASE, DEFAULT_MAX_POOL_SIZE, DEFAULT_OPERATION_TIMEOUT_MS,
    DEFAULT_SERVER_SELECTION_TIMEOUT_MS, DEFAULT_URI, MongoConfig,
};
pub use self::tolerant::DataProblem;

/// The MongoDB [`Store`]. Cheap to clone (the driver's client is shared).
#[derive(Clone)]
pub struct MongoStore {
    client: Client,
    coll: Collection<Document>,
    outbox: Collection<Document>,
    cipher: Cipher,
    op_timeout: Duration,
    admin_timeout: Duration,
    retry: RetryConfig,
    slow_threshold: Option<Duration>,
    database: String,
}

impl std::fmt::Debug for MongoStore {
    fn fmt(&self, fm: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        fm.debug_struct("MongoStore")
            .field("namespace", &self.coll.namespace().to_string())
            .field("cipher", &self.cipher)
            .finish_non_exhaustive()
    }
}

impl MongoStore {
    /// Connects, checks the server answers, and creates the indexes (unless disabled).
    pub async fn connect(config: MongoConfig, cipher: Cipher) -> Result<Self, Error> {
        let mut opts = ClientOptions::parse(&config.uri)
            .await
            .map_err(Error::Mongo)?;
        opts.app_name.get_or_insert_with(|| "chatbox".to_owned());
        opts.server_selection_timeout =
            Some(Duration::from_millis(config.server_selection_timeout_ms));
        opts.connect_timeout = Some(Duration::from_millis(config.connect_timeout_ms));
        opts.max_pool_size = Some(config.max_pool_size.max(1));
        let client = Client::with_options(opts).map_err(Error::Mongo)?;
        let db = client.database(&config.database);
        db.run_command(doc! { "ping": 1 })
            .await
            .map_err(Error::Mongo)?;
        let store = Self {
            coll: db.collection(&config.collection),
            outbox: db.collection(&format!(
                "{}{}",
                config.collection,
                outbox::COLLECTION_SUFFIX
            )),
            client,
            cipher,
            op_timeout: Duration::from_millis(config.operation_timeout_ms),
            admin_timeout: Duration::from_millis(config.admin_query_timeout_ms),
            retry: config.retry.clone(),
            slow_threshold: (config.slow_threshold_ms > 0)
                .then(|| Duration::from_millis(config.slow_threshold_ms)),
            database: config.database.clone(),
        };
        if config.create_indexes {
            indexes::create(&store.coll).await?;
            outbox::create_indexes(&store.outbox).await?;
        }
        tracing::info!(database = %config.database, collection = %config.collection, "MongoDB store connected");
        Ok(store)
    }

    /// The underlying collection (for tools and tests that need raw access).
    pub fn collection(&self) -> &Collection<Document> {
        &self.coll
    }

    /// The database name.
    pub fn database_name(&self) -> &str {
        &self.database
    }

    /// Runs `op` with the per-attempt deadline `limit` and the retry policy.
    async fn run<T, F, Fut>(
        &self,
        name: &'static str,
        idempotent: Idempotent,
        limit: Duration,
        mut op: F,
    ) -> Result<T, StoreError>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, mongodb::error::Error>>,
    {
        let started = std::time::Instant::now();
        let result = with_retry(&self.retry, name, || {
            let attempt = op();
            async move {
                match tokio::time::timeout(limit, attempt).await {
                    Ok(Ok(v)) => Ok(v),
                    Ok(Err(e)) => Err(classify(e, idempotent)),
                    Err(_) => Err(Failure {
                        error: StoreError::Unavailable(format!("{name} timed out").into()),
                        retryable: idempotent == Idempotent::Yes,
                    }),
                }
            }
        })
        .await;
        let took = started.elapsed();
        if self.slow_threshold.is_some_and(|slow| took >= slow) {
            metrics::counter!("chatbox_store_slow_operations_total", "backend" => "mongo", "op" => name)
                .increment(1);
            tracing::warn!(
                op = name,
                took_ms = took.as_millis() as u64,
                "slow MongoDB operation"
            );
        }
        result
    }

    /// Session rows from a pipeline that ends with the message count and the arrays dropped.
    async fn sessions(
        &self,
        name: &'static str,
        pipeline: Vec<Document>,
    ) -> Result<Vec<Session>, StoreError> {
        let docs: Vec<Document> = self
            .run(name, Idempotent::Yes, self.op_timeout, || {
                let p = pipeline.clone();
                async move { self.coll.aggregate(p).await?.try_collect().await }
            })
            .await?;
        Ok(tolerant::sessions(&docs))
    }

    /// Updates one session by id; `NotFound` when no document matched.
    async fn update_by_id(
        &self,
        name: &'static str,
        idempotent: Idempotent,
        id: &SessionId,
        update: impl Into<mongodb::options::UpdateModifications> + Clone + Send,
    ) -> Result<(), StoreError> {
        let r = self
            .run(name, idempotent, self.op_timeout, || {
                let u = update.clone();
                async move { self.coll.update_one(doc! { f::ID: id.as_str() }, u).await }
            })
            .await?;
        if r.matched_count == 0 {
            Err(StoreError::NotFound)
        } else {
            Ok(())
        }
    }

    async fn find_fields(
        &self,
        name: &'static str,
        id: &SessionId,
        fields: Document,
    ) -> Result<Option<Document>, StoreError> {
        self.run(name, Idempotent::Yes, self.op_timeout, || {
            let p = fields.clone();
            async move {
                self.coll
                    .find_one(doc! { f::ID: id.as_str() })
                    .projection(p)
                    .await
            }
        })
        .await
    }

    async fn exists(&self, id: &SessionId) -> Result<bool, StoreError> {
        Ok(self
            .find_fields("exists", id, doc! { f::ID: 1 })
            .await?
            .is_some())
    }
}

#[async_trait]
impl Store for MongoStore {
    async fn create_session(&self, session: &Session) -> Result<(), StoreError> {
        let d = f::session_doc(session);
        // Not retried after an ambiguous network error: a retried insert that had landed would
        // report a duplicate id, indistinguishable from a real clash.
        self.run("create_session", Idempotent::No, self.op_timeout, || {
            let d = d.clone();
            async move { self.coll.insert_one(d).await }
        })
        .await
        .map(|_| ())
        .map_err(|e| match e {
            StoreError::Conflict(_) => {
                StoreError::Conflict("session id or share token already exists")
            }
            other => other,
        })
    }

    async fn get_session(&self, id: &SessionId) -> Result<Option<Session>, StoreError> {
        let rows = self
            .sessions(
                "get_session",
                vec![
                    doc! { "$match": { f::ID: id.as_str() } },
                    pipeline::count_messages(),
                    pipeline::drop_arrays(),
                ],
            )
            .await?;
        Ok(rows.into_iter().next())
    }

    async fn messages(
        &self,
        id: &SessionId,
        last: Option<usize>,
    ) -> Result<Vec<Message>, StoreError> {
        if last == Some(0) {
            return if self.exists(id).await? {
                Ok(Vec::new())
            } else {
                Err(StoreError::NotFound)
            };
        }
        let msgs = match last {
            Some(n) => {
                let n = i32::try_from(n).unwrap_or(i32::MAX);
                Bson::Document(doc! { "$slice": [if_null(f::MESSAGES, Bson::Array(vec![])), -n] })
            }
            None => Bson::Int32(1),
        };
        let pipeline = vec![
            doc! { "$match": { f::ID: id.as_str() } },
            doc! { "$project": { f::MESSAGES: msgs } },
        ];
        let docs: Vec<Document> = self
            .run("messages", Idempotent::Yes, self.op_timeout, || {
                let p = pipeline.clone();
                async move { self.coll.aggregate(p).await?.try_collect().await }
            })
            .await?;
        let d = docs.into_iter().next().ok_or(StoreError::NotFound)?;
        let Some(Bson::Array(items)) = d.get(f::MESSAGES) else {
            return Ok(Vec::new());
        };
        Ok(tolerant::messages(id.as_str(), items, |c| {
            self.cipher.decrypt(c)
        }))
    }

    async fn append_message(&self, id: &SessionId, message: &Message) -> Result<(), StoreError> {
        let m = f::message_doc(message, self.cipher.encrypt(&message.content)?);
        let update = updates::append_message(m, message.timestamp);
        self.update_by_id("append_message", Idempotent::No, id, update)
            .await
    }

    async fn update_session(&self, id: &SessionId, patch: &SessionPatch) -> Result<(), StoreError> {
        // One pipeline update: the whole patch applies atomically.
        let Some(stages) = updates::patch(patch) else {
            return if self.exists(id).await? {
                Ok(())
            } else {
                Err(StoreError::NotFound)
            };
        };
        self.update_by_id("update_session", Idempotent::Yes, id, stages)
            .await
    }

    async fn append_reply(
        &self,
        id: &SessionId,
        message: &Message,
        tokens: u64,
        response_ms: u64,
    ) -> Result<(), StoreError> {
        let m = f::message_doc(message, self.cipher.encrypt(&message.content)?);
        // The message and the statistics go in the same single-document update, so both are
        // stored or neither. Like any append it is not idempotent: `classify` retries it only
        // when the server cannot have applied it.
        let stages = updates::append_reply(m, message.timestamp, tokens, response_ms);
        self.update_by_id("append_reply", Idempotent::No, id, stages)
            .await
    }

    async fn end_session(
        &self,
        id: &SessionId,
        at: DateTime<Utc>,
    ) -> Result<EndOutcome, StoreError> {
        let current = self
            .find_fields("end_session", id, doc! { f::START: 1, f::END: 1 })
            .await?
            .ok_or(StoreError::NotFound)?;
        let (start, end) = f::times_from_doc(&current)?;
        if let Some(end) = end {
            return Ok(EndOutcome::AlreadyEnded(end));
        }
        let update =
            doc! { "$set": { f::END: f::bson_time(at), f::DURATION: f::duration_secs(start, at) } };
        let r = self
            .run("end_session", Idempotent::Yes, self.op_timeout, || {
                let u = update.clone();
                async move {
                    self.coll
                        .update_one(doc! { f::ID: id.as_str(), f::END: Bson::Null }, u)
                        .await
                }
            })
            .await?;
        if r.matched_count == 1 {
            return Ok(EndOutcome::Ended(at));
        }
        // Someone else ended it between our read and write: report theirs.
        let now = self
            .find_fields("end_session", id, doc! { f::START: 1, f::END: 1 })
            .await?
            .ok_or(StoreError::NotFound)?;
        f::times_from_doc(&now)?
            .1
            .map(EndOutcome::AlreadyEnded)
            .ok_or_else(|| StoreError::Corrupt("session neither active nor ended".into()))
    }

    async fn active_session(&self, user: &UserId) -> Result<Option<Session>, StoreError> {
        let rows = self
            .sessions(
                "active_session",
                vec![
                    doc! { "$match": { f::USER: user.as_str(), f::END: Bson::Null } },
                    doc! { "$sort": { f::START: -1, f::ID: -1 } },
                    doc! { "$limit": 1 },
                    pipeline::count_messages(),
                    pipeline::drop_arrays(),
                ],
            )
            .await?;
        Ok(rows.into_iter().next())
    }

    async fn user_sessions(&self, user: &UserId, limit: u32) -> Result<Vec<Session>, StoreError> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        self.sessions(
            "user_sessions",
            vec![
                doc! { "$match": { f::USER: user.as_str() } },
                pipeline::last_activity_key(),
                pipeline::newest_activity_first(),
                doc! { "$limit": i64::from(limit) },
                pipeline::count_messages(),
                pipeline::drop_arrays(),
            ],
        )
        .await
    }

    async fn list_sessions(&self, query: &SessionQuery) -> Result<SessionPage, StoreError> {
        let pipeline = pipeline::list(query, Utc::now());
        let filter = pipeline::filter(&query.filter);
        let page = self.run("list_sessions", Idempotent::Yes, self.admin_timeout, || {
            let p = pipeline.clone();
            async move {
                self.coll
                    .aggregate(p)
                    .allow_disk_use(true)
                    .await?
                    .try_collect::<Vec<Document>>()
                    .await
            }
        });
        let total = self.run("list_sessions", Idempotent::Yes, self.admin_timeout, || {
            let fl = filter.clone();
            async move { self.coll.count_documents(fl).await }
        });
        let (docs, total) = futures::future::try_join(page, total).await?;
        let sessions = tolerant::sessions(&docs);
        Ok(SessionPage { sessions, total })
    }

    async fn metrics(
        &self,
        window: TimeWindow,
        now: DateTime<Utc>,
    ) -> Result<SessionMetrics, StoreError> {
        let pipeline = pipeline::metrics(window);
        let groups: Vec<Document> = self
            .run("metrics", Idempotent::Yes, self.admin_timeout, || {
                let p = pipeline.clone();
                async move { self.coll.aggregate(p).await?.try_collect().await }
            })
            .await?;
        let mut m = pipeline::metrics_from_group(groups.first());
        let filter = pipeline::overlapping(window);
        let docs: Vec<Document> = self
            .run("metrics", Idempotent::Yes, self.admin_timeout, || {
                let fl = filter.clone();
                async move {
                    self.coll
                        .find(fl)
                        .projection(doc! { f::START: 1, f::END: 1 })
                        .await?
                        .try_collect()
                        .await
                }
            })
            .await?;
        let intervals = docs
            .iter()
            .map(f::times_from_doc)
            .collect::<Result<Vec<_>, _>>()?;
        let c = concurrency(intervals, window, now);
        m.avg_concurrent = c.average;
        m.max_concurrent = c.peak;
        Ok(m)
    }

    async fn share_token(
        &self,
        id: &SessionId,
        candidate: &ShareToken,
    ) -> Result<ShareToken, StoreError> {
        let filter = doc! { f::ID: id.as_str(), f::SHARE_TOKEN: { "$in": [Bson::Null, ""] } };
        let update = doc! { "$set": { f::SHARE_TOKEN: candidate.as_str() } };
        let r = self
            .run("share_token", Idempotent::Yes, self.op_timeout, || {
                let (fl, u) = (filter.clone(), update.clone());
                async move { self.coll.update_one(fl, u).await }
            })
            .await
            .map_err(|e| match e {
                StoreError::Conflict(_) => StoreError::Conflict("share token already in use"),
                other => other,
            })?;
        if r.matched_count == 1 {
            return Ok(candidate.clone());
        }
        let d = self
            .find_fields("share_token", id, doc! { f::SHARE_TOKEN: 1 })
            .await?
            .ok_or(StoreError::NotFound)?;
        match d.get(f::SHARE_TOKEN) {
            Some(Bson::String(s)) => ShareToken::parse(s)
                .map_err(|e| StoreError::Corrupt(format!("field shareToken: {e}"))),
            _ => Err(StoreError::Unavailable(
                "share token changed concurrently; retry".into(),
            )),
        }
    }

    async fn revoke_share_token(&self, id: &SessionId) -> Result<(), StoreError> {
        self.update_by_id(
            "revoke_share_token",
            Idempotent::Yes,
            id,
            doc! { "$unset": { f::SHARE_TOKEN: "" } },
        )
        .await
    }

    async fn find_by_share_token(&self, token: &ShareToken) -> Result<Option<Session>, StoreError> {
        let rows = self
            .sessions(
                "find_by_share_token",
                vec![
                    doc! { "$match": { f::SHARE_TOKEN: token.as_str() } },
                    doc! { "$limit": 1 },
                    pipeline::count_messages(),
                    pipeline::drop_arrays(),
                ],
            )
            .await?;
        Ok(rows.into_iter().next())
    }

    async fn record_takeover(
        &self,
        id: &SessionId,
        event: &TakeoverEvent,
    ) -> Result<(), StoreError> {
        let update = doc! { "$push": { f::TAKEOVERS: f::takeover_doc(event) } };
        self.update_by_id("record_takeover", Idempotent::No, id, update)
            .await
    }

    async fn takeover_events(&self, id: &SessionId) -> Result<Vec<TakeoverEvent>, StoreError> {
        let d = self
            .find_fields("takeover_events", id, doc! { f::TAKEOVERS: 1 })
            .await?
            .ok_or(StoreError::NotFound)?;
        match d.get(f::TAKEOVERS) {
            Some(Bson::Array(items)) => items
                .iter()
                .map(|e| match e {
                    Bson::Document(e) => f::takeover_from_doc(e),
                    _ => Err(StoreError::Corrupt(
                        "field takeovers: an element is not a document".into(),
                    )),
                })
                .collect(),
            _ => Ok(Vec::new()),
        }
    }

    async fn record_help_request(&self, request: &HelpRequest) -> Result<(), StoreError> {
        self.outbox_insert(request).await
    }

    async fn update_delivery(
        &self,
        request_id: &str,
        delivery: &Delivery,
    ) -> Result<(), StoreError> {
        self.outbox_update(request_id, delivery).await
    }

    async fn pending_help_requests(&self, limit: u32) -> Result<Vec<HelpRequest>, StoreError> {
        self.outbox_pending(limit).await
    }

    async fn help_requests(&self, id: &SessionId) -> Result<Vec<HelpRequest>, StoreError> {
        self.outbox_of_session(id).await
    }

    async fn health(&self) -> Result<(), StoreError> {
        let db = self.client.database(&self.database);
        self.run("health", Idempotent::Yes, self.op_timeout, || {
            let db = db.clone();
            async move { db.run_command(doc! { "ping": 1 }).await }
        })
        .await
        .map(|_| ())
    }
}
