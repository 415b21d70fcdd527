//! [`NatsBroker`]: core's [`Broker`] port over NATS with JetStream (server 2.9 or later), so the
//! replicas of one deployment share leases, session frame logs, mail and announcements.
//!
//! Everything lives under the configured prefix (`nats/keys.rs`): leases in the KV bucket
//! `<prefix>-leases` (`nats/lease.rs`), frame logs in the stream `<prefix>-frames`
//! (`nats/log.rs`), mail and announcements on plain subjects (`nats/mail.rs`). Any string (a
//! lease key, a session id, a replica name) becomes one subject token by unpadded base64url of
//! its UTF-8, so no key can reach into another's subject.
//!
//! Guarantees:
//! - [`NatsBroker::connect`] validates the config (every problem listed at once), connects and
//!   creates the bucket and stream when missing, all within `op_timeout`. It refuses a lease
//!   bucket whose `max_age` is not this replica's `lease_ttl`, and a frame stream that keeps
//!   fewer than `history` frames per session, since either would break the port's promises.
//! - Every operation completes or fails within `op_timeout`: running out of it, a lost
//!   connection or an unavailable JetStream is [`BrokerError::Unavailable`]; anything else
//!   unexpected is [`BrokerError::Backend`] (`nats/classify.rs`). Nothing here panics on what the
//!   server or other replicas wrote.
//! - Credentials (in the URL or a `.creds` file) are never logged or shown by `Debug`.
//!
//! Passes core's Broker conformance suite against a real nats-server (`tests/it/nats.rs`).

mod classify;
mod config;
mod connect;
mod keys;
mod lease;
mod log;
mod mail;

use std::fmt;
use std::time::Duration;

use async_nats::jetstream::context::{CreateStreamError, CreateStreamErrorKind, KeyValueErrorKind};
use async_nats::jetstream::kv;
use async_nats::jetstream::stream::{self, DiscardPolicy, StorageType};
use async_nats::jetstream::{self, Context};
use async_nats::{Client, ConnectErrorKind};
use async_trait::async_trait;
use bytes::Bytes;
use chatbox_core::ports::broker::{Acquired, FrameStream, Lease, LogFrame, MessageStream};
use chatbox_core::{Broker, BrokerError, SessionId};

use self::classify::{backend, failure, within};
use self::keys::Names;

pub use self::config::{
    DEFAULT_HISTORY, DEFAULT_LEASE_TTL, DEFAULT_LOG_MAX_AGE, DEFAULT_OP_TIMEOUT, DEFAULT_PREFIX,
    DEFAULT_URL, MAX_PREFIX_LEN, MIN_MAX_AGE, NatsConfig,
};
pub use self::log::{SEQ_HEADER, TOKEN_HEADER};

/// The broker of one replica: one NATS connection, shared by every operation.
pub struct NatsBroker {
    client: Client,
    js: Context,
    leases: kv::Store,
    frames: stream::Stream,
    names: Names,
    replica: String,
    lease_ttl: Duration,
    history: usize,
    op_timeout: Duration,
    /// Encrypts frame bodies in the log (messages are content, as in the store).
    cipher: crate::Cipher,
}

impl fmt::Debug for NatsBroker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NatsBroker")
            .field("replica", &self.replica)
            .field("prefix", &self.names.prefix())
            .field("lease_ttl", &self.lease_ttl)
            .field("history", &self.history)
            .field("op_timeout", &self.op_timeout)
            .finish_non_exhaustive()
    }
}

impl NatsBroker {
    /// Connects replica `config.replica` and makes sure the lease bucket and the frame stream
    /// exist. Fails with `Unavailable` when the server cannot be reached within
    /// `config.op_timeout`, with `Backend` for a bad config, refused credentials or TLS, or a
    /// bucket or stream configured incompatibly.
    pub async fn connect(config: NatsConfig) -> Result<Self, BrokerError> {
        let problems = config.problems();
        if !problems.is_empty() {
            return Err(connect::invalid_config(problems));
        }
        within(config.op_timeout, Self::connect_now(config)).await
    }

    async fn connect_now(config: NatsConfig) -> Result<Self, BrokerError> {
        let (options, servers) = connect::options(&config).await?;
        let client = options.connect(servers).await.map_err(|e| {
            let transient = matches!(
                e.kind(),
                ConnectErrorKind::TimedOut
                    | ConnectErrorKind::Io
                    | ConnectErrorKind::Dns
                    | ConnectErrorKind::MaxReconnects
            );
            if transient {
                BrokerError::Unavailable(Box::new(e))
            } else {
                BrokerError::Backend(Box::new(e))
            }
        })?;
        let mut js = jetstream::new(client.clone());
        js.set_timeout(config.op_timeout);
        let names = Names::new(&config.prefix);
        let leases = lease_bucket(&client, &js, &names, config.lease_ttl).await?;
        let frames = frame_stream(&client, &js, &names, &config).await?;
        tracing::info!(
            replica = %config.replica,
            prefix = %config.prefix,
            "connected to NATS"
        );
        Ok(Self {
            client,
            js,
            leases,
            frames,
            names,
            replica: config.replica,
            lease_ttl: config.lease_ttl,
            history: config.history,
            op_timeout: config.op_timeout,
            cipher: crate::Cipher::plaintext(),
        })
    }

    /// Encrypts the frames this replica writes to session logs with `cipher` (the store's:
    /// AES-256-GCM), and decrypts what it reads; frames that do not decrypt are read as they
    /// are. Without it frames are kept in the clear, as clients receive them.
    pub fn with_cipher(mut self, cipher: crate::Cipher) -> Self {
        self.cipher = cipher;
        self
    }
}

/// The lease bucket, created when missing; refused when its TTL is not `ttl`.
///
/// The bucket's stream is made here with the settings async-nats gives a KV bucket, rather
/// than by `create_key_value`, whose account query fails to parse a 2.9 server's answer.
async fn lease_bucket(
    client: &Client,
    js: &Context,
    names: &Names,
    ttl: Duration,
) -> Result<kv::Store, BrokerError> {
    let bucket = names.lease_bucket();
    let wanted = stream::Config {
        name: format!("KV_{bucket}"),
        description: Some("Chatbox leases: who runs which session".to_owned()),
        subjects: vec![format!("$KV.{bucket}.>")],
        max_messages_per_subject: 1,
        max_age: ttl,
        storage: StorageType::File,
        allow_rollup: true,
        deny_delete: true,
        allow_direct: true,
        discard: DiscardPolicy::New,
        num_replicas: 1,
        ..stream::Config::default()
    };
    let stream = js
        .get_or_create_stream(wanted)
        .await
        .map_err(|e| stream_failed(client, e))?;
    let found = stream.cached_info().config.max_age;
    if found != ttl {
        return Err(backend(format!(
            "the lease bucket {bucket} expires leases after {found:?}, this replica's lease_ttl \
             is {ttl:?}: every replica must use the same lease_ttl"
        )));
    }
    js.get_key_value(bucket.as_str()).await.map_err(|e| {
        let transient = e.kind() == KeyValueErrorKind::GetBucket;
        failure(client, e, transient)
    })
}

/// The port error of failing to get or create a stream.
fn stream_failed(client: &Client, e: CreateStreamError) -> BrokerError {
    let transient = match e.kind() {
        CreateStreamErrorKind::TimedOut | CreateStreamErrorKind::JetStreamUnavailable => true,
        CreateStreamErrorKind::JetStream(js) => classify::transient_jetstream(&js),
        _ => false,
    };
    failure(client, e, transient)
}

/// The frame stream, created when missing; refused when it keeps fewer than `history` frames
/// per session.
async fn frame_stream(
    client: &Client,
    js: &Context,
    names: &Names,
    config: &NatsConfig,
) -> Result<stream::Stream, BrokerError> {
    let history = i64::try_from(config.history).unwrap_or(i64::MAX);
    let wanted = stream::Config {
        name: names.frame_stream(),
        description: Some("Chatbox session frame logs".to_owned()),
        subjects: vec![names.frame_subjects()],
        max_messages_per_subject: history,
        max_age: config.log_max_age,
        storage: StorageType::File,
        discard: DiscardPolicy::Old,
        ..stream::Config::default()
    };
    let stream = js
        .get_or_create_stream(wanted)
        .await
        .map_err(|e| stream_failed(client, e))?;
    let kept = stream.cached_info().config.max_messages_per_subject;
    if kept > 0 && kept < history {
        return Err(backend(format!(
            "the frame stream {} keeps {kept} frames per session, this replica's history is {}",
            names.frame_stream(),
            config.history
        )));
    }
    Ok(stream)
}

#[async_trait]
impl Broker for NatsBroker {
    fn replica(&self) -> &str {
        &self.replica
    }

    fn lease_ttl(&self) -> Duration {
        self.lease_ttl
    }

    fn history(&self) -> usize {
        self.history
    }

    async fn acquire(&self, key: &str) -> Result<Acquired, BrokerError> {
        within(self.op_timeout, self.acquire_lease(key)).await
    }

    async fn renew(&self, lease: &Lease) -> Result<Lease, BrokerError> {
        within(self.op_timeout, self.renew_lease(lease)).await
    }

    async fn release(&self, lease: &Lease) -> Result<(), BrokerError> {
        within(self.op_timeout, self.release_lease(lease)).await
    }

    async fn append(&self, session: &SessionId, frame: LogFrame) -> Result<(), BrokerError> {
        within(self.op_timeout, self.append_frame(session, frame)).await
    }

    async fn append_batch(
        &self,
        session: &SessionId,
        frames: Vec<LogFrame>,
    ) -> Result<(), BrokerError> {
        within(self.op_timeout, self.append_frames(session, frames)).await
    }

    async fn read(&self, session: &SessionId) -> Result<FrameStream, BrokerError> {
        within(self.op_timeout, self.read_log(session)).await
    }

    async fn last(&self, session: &SessionId) -> Result<Option<LogFrame>, BrokerError> {
        within(self.op_timeout, self.last_frame(session)).await
    }

    async fn claim_log(
        &self,
        session: &SessionId,
        token: u64,
    ) -> Result<Option<LogFrame>, BrokerError> {
        within(self.op_timeout, self.claim(session, token)).await
    }

    async fn send(&self, to: &str, message: Bytes) -> Result<(), BrokerError> {
        within(self.op_timeout, self.send_mail(to, message)).await
    }

    async fn mail(&self) -> Result<MessageStream, BrokerError> {
        within(self.op_timeout, self.mail_stream()).await
    }

    async fn announce(&self, message: Bytes) -> Result<(), BrokerError> {
        within(self.op_timeout, self.announce_all(message)).await
    }

    async fn announcements(&self) -> Result<MessageStream, BrokerError> {
        within(self.op_timeout, self.announcement_stream()).await
    }
}
