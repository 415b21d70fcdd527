//! NatsBroker against a real nats-server with JetStream (`CHATBOX_TEST_NATS_URL`, from `cargo
//! xtask test`): the Broker conformance suite (each behaviour under a prefix of its own, so its
//! bucket and stream are its own), a log message with bad headers read as an error item, a
//! lease bucket of another TTL refused, connecting to nobody failing within the deadline, and,
//! on nats-servers of the tests' own, credentials in the URL and what a read and the log do
//! when the server restarts.

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use async_nats::HeaderMap;
use async_nats::jetstream;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chatbox_core::ports::broker::LogFrame;
use chatbox_core::testing::broker_conformance::{self, World, frame, session};
use chatbox_core::{Broker, BrokerError};
use chatbox_store::nats::{SEQ_HEADER, TOKEN_HEADER};
use chatbox_store::{NatsBroker, NatsConfig};
use futures::StreamExt;

use crate::support::{temp_dir, unique};

/// The lease TTL of the suite: short, so expiry is quick to see, and well above JetStream's
/// 100 ms floor.
const LEASE_TTL: Duration = Duration::from_secs(1);
/// The history of the suite's logs.
const HISTORY: usize = 16;
/// The longest the whole conformance suite may take.
const SUITE_DEADLINE: Duration = Duration::from_secs(120);

/// The NATS server the tests use. Fails (never skips) when it is unset.
fn nats_url() -> String {
    match std::env::var("CHATBOX_TEST_NATS_URL") {
        Ok(url) if !url.trim().is_empty() => url,
        _ => panic!(
            "CHATBOX_TEST_NATS_URL is not set: run `cargo xtask test -p chatbox-store`, which \
             starts nats-server, or start `nats-server -js -p 4222 -sd /tmp/nats-test` and set \
             CHATBOX_TEST_NATS_URL=nats://127.0.0.1:4222"
        ),
    }
}

/// The nats-server program, for tests that run a server of their own.
fn nats_server_program() -> String {
    std::env::var("CHATBOX_TEST_NATS_SERVER")
        .ok()
        .filter(|p| !p.trim().is_empty())
        .unwrap_or_else(|| "nats-server".to_owned())
}

fn config(url: String, prefix: &str, replica: &str) -> NatsConfig {
    NatsConfig {
        url,
        replica: replica.to_owned(),
        prefix: prefix.to_owned(),
        lease_ttl: LEASE_TTL,
        history: HISTORY,
        log_max_age: Duration::from_secs(3600),
        op_timeout: Duration::from_secs(10),
        ..NatsConfig::default()
    }
}

async fn connect(prefix: &str, replica: &str) -> NatsBroker {
    NatsBroker::connect(config(nats_url(), prefix, replica))
        .await
        .unwrap_or_else(|e| panic!("connect {replica} to {}: {e:?}", nats_url()))
}

/// A deployment of its own: every replica shares one fresh prefix.
struct Nats {
    prefix: String,
}

impl World for Nats {
    type B = NatsBroker;
    async fn replica(&self, name: &str) -> NatsBroker {
        connect(&self.prefix, name).await
    }
    async fn pause(&self, d: Duration) {
        tokio::time::sleep(d).await;
    }
}

/// Deletes the streams (frame logs, lease buckets) of every prefix starting with `run`.
async fn delete_streams(run: &str) {
    let client = async_nats::connect(nats_url()).await.unwrap();
    let js = jetstream::new(client);
    let names: Vec<String> = js
        .stream_names()
        .filter_map(|n| async { n.ok() })
        .collect()
        .await;
    for name in names {
        if name.starts_with(run) || name.starts_with(&format!("KV_{run}")) {
            js.delete_stream(&name).await.unwrap();
        }
    }
}

#[tokio::test]
async fn nats_broker_passes_the_conformance_suite() {
    let run = unique("conf");
    let worlds = AtomicUsize::new(0);
    let suite = Box::pin(broker_conformance::run_all(|| async {
        let n = worlds.fetch_add(1, Ordering::Relaxed);
        Nats {
            prefix: format!("{run}-{n}"),
        }
    }));
    let finished = tokio::time::timeout(SUITE_DEADLINE, suite).await;
    delete_streams(&run).await;
    assert!(
        finished.is_ok(),
        "the conformance suite did not finish within {SUITE_DEADLINE:?}"
    );
}

#[tokio::test]
async fn a_log_message_with_bad_headers_is_an_error_item() {
    let prefix = unique("badhdr");
    let broker = connect(&prefix, "a").await;
    let s = session("bad headers");
    broker.append(&s, frame(1, 1)).await.unwrap();

    let js = jetstream::new(async_nats::connect(nats_url()).await.unwrap());
    let subject = format!("{prefix}.frames.{}", URL_SAFE_NO_PAD.encode("bad headers"));
    let mut headers = HeaderMap::new();
    headers.insert(SEQ_HEADER, "two");
    headers.insert(TOKEN_HEADER, "1");
    let publish = |headers: Option<HeaderMap>| {
        let (js, subject) = (js.clone(), subject.clone());
        async move {
            let ack = match headers {
                Some(h) => js.publish_with_headers(subject, h, "{}".into()).await,
                None => js.publish(subject, "{}".into()).await,
            };
            ack.unwrap().await.unwrap();
        }
    };
    publish(Some(headers)).await;
    publish(None).await;
    broker.append(&s, frame(4, 1)).await.unwrap();

    let mut reader = broker.read(&s).await.unwrap();
    let mut next = async || {
        tokio::time::timeout(Duration::from_secs(10), reader.next())
            .await
            .expect("the log is read")
            .expect("the log goes on")
    };
    assert_eq!(next().await.unwrap(), frame(1, 1));
    assert!(
        matches!(next().await, Err(BrokerError::Backend(_))),
        "a bad seq header"
    );
    assert!(
        matches!(next().await, Err(BrokerError::Backend(_))),
        "no headers"
    );
    assert_eq!(next().await.unwrap(), frame(4, 1), "the read goes on");

    publish(None).await;
    assert!(matches!(
        broker.last(&s).await,
        Err(BrokerError::Backend(_))
    ));
    delete_streams(&prefix).await;
}

#[tokio::test]
async fn a_lease_bucket_with_another_ttl_is_refused() {
    let prefix = unique("ttl");
    connect(&prefix, "a").await;
    let other = NatsConfig {
        lease_ttl: LEASE_TTL * 2,
        ..config(nats_url(), &prefix, "b")
    };
    let refused = NatsBroker::connect(other).await;
    delete_streams(&prefix).await;
    let Err(BrokerError::Backend(e)) = refused else {
        panic!("a replica with another lease_ttl connects: {refused:?}");
    };
    assert!(e.to_string().contains("lease_ttl"), "{e}");
}

#[tokio::test]
async fn connecting_to_nobody_is_unavailable_within_the_deadline() {
    let deadline = Duration::from_millis(500);
    // A port that refuses connections, and one that accepts them but never speaks NATS.
    let closed = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let silent = TcpListener::bind("127.0.0.1:0").unwrap();
    let silent_addr = silent.local_addr().unwrap();
    for addr in [closed, silent_addr] {
        let started = Instant::now();
        let result = NatsBroker::connect(NatsConfig {
            op_timeout: deadline,
            ..config(format!("nats://{addr}"), "nobody", "a")
        })
        .await;
        assert!(
            matches!(result, Err(BrokerError::Unavailable(_))),
            "connecting to {addr}: {result:?}"
        );
        assert!(
            started.elapsed() < deadline * 4,
            "connecting to {addr} took {:?}",
            started.elapsed()
        );
    }
}

/// A nats-server of the test's own (JetStream on, storing in a fresh directory), stopped on
/// drop.
struct OwnServer {
    child: Child,
    port: u16,
    dir: std::path::PathBuf,
    args: Vec<String>,
}

impl OwnServer {
    async fn start(args: &[&str]) -> Self {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let dir = temp_dir("nats-own");
        let args: Vec<String> = args.iter().map(ToString::to_string).collect();
        let child = Self::spawn(port, &dir, &args).await;
        Self {
            child,
            port,
            dir,
            args,
        }
    }

    async fn spawn(port: u16, dir: &std::path::Path, args: &[String]) -> Child {
        let child = Command::new(nats_server_program())
            .args(["-a", "127.0.0.1", "-p", &port.to_string(), "-js", "-sd"])
            .arg(dir)
            .args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("start {}: {e}", nats_server_program()));
        let started = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "nats-server starts"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        child
    }

    /// Stops the server and starts it again on the same port and storage.
    async fn restart(&mut self) {
        self.stop();
        self.child = Self::spawn(self.port, &self.dir, &self.args).await;
    }

    fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    fn url(&self, userinfo: &str) -> String {
        format!("nats://{userinfo}127.0.0.1:{}", self.port)
    }
}

impl Drop for OwnServer {
    fn drop(&mut self) {
        self.stop();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

#[tokio::test]
async fn credentials_in_the_url_authenticate() {
    let server = OwnServer::start(&["--user", "ann", "--pass", "p@ss"]).await;
    let broker = NatsBroker::connect(config(server.url("ann:p%40ss@"), "auth", "a")).await;
    assert!(broker.is_ok(), "the right password: {broker:?}");
    for wrong in ["", "ann:nope@", "tok3n@"] {
        let refused = NatsBroker::connect(config(server.url(wrong), "auth", "a")).await;
        assert!(
            matches!(refused, Err(BrokerError::Backend(_))),
            "{wrong:?}: {refused:?}"
        );
    }
}

#[tokio::test]
async fn a_read_across_a_server_restart_fails_or_goes_on_and_the_log_is_kept() {
    let mut server = OwnServer::start(&[]).await;
    let broker = NatsBroker::connect(config(server.url(""), "restart", "a"))
        .await
        .unwrap();
    let s = session("restart");
    broker.append(&s, frame(1, 1)).await.unwrap();
    let mut reader = broker.read(&s).await.unwrap();
    let wait = Duration::from_secs(30);
    let first = tokio::time::timeout(wait, reader.next()).await.unwrap();
    assert_eq!(first.unwrap().unwrap(), frame(1, 1));

    server.restart().await;
    let started = Instant::now();
    while let Err(e) = broker.append(&s, frame(2, 1)).await {
        assert!(
            matches!(e, BrokerError::Unavailable(_)) && started.elapsed() < wait,
            "appends resume after a reconnect: {e:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // The server forgot the read's consumer. async-nats notices by a failed pull (about 15 s),
    // which the read reports as an `Unavailable` item; it then makes a new consumer where the
    // read was, which takes a while longer on a 2.9 server. Never silence, never a panic.
    match tokio::time::timeout(wait, reader.next()).await.unwrap() {
        Some(Ok(got)) => assert_eq!(got, frame(2, 1), "the read goes on"),
        Some(Err(e)) => assert!(matches!(e, BrokerError::Unavailable(_)), "{e:?}"),
        None => panic!("the read ended"),
    }
    let mut again = broker.read(&s).await.unwrap();
    for want in [frame(1, 1), frame(2, 1)] {
        let got = tokio::time::timeout(wait, again.next()).await.unwrap();
        assert_eq!(got.unwrap().unwrap(), want, "the log outlived the restart");
    }
}

#[tokio::test]
async fn frames_are_encrypted_in_the_log_and_read_back_in_the_clear() {
    let prefix = unique("sealed");
    let key = b"0123456789abcdef0123456789abcdef";
    let cipher = chatbox_store::Cipher::new(Some(key), None).unwrap();
    let broker = connect(&prefix, "a").await.with_cipher(cipher);
    let s = session("sealed");
    let secret = LogFrame {
        seq: 1,
        token: 1,
        body: bytes::Bytes::from_static(br#"{"content":"my card number"}"#),
    };
    broker.append(&s, secret.clone()).await.unwrap();
    broker
        .append_batch(
            &s,
            vec![LogFrame {
                seq: 2,
                ..secret.clone()
            }],
        )
        .await
        .unwrap();

    // On the server: ciphertext only.
    let js = jetstream::new(async_nats::connect(nats_url()).await.unwrap());
    let stream = js.get_stream(format!("{prefix}-frames")).await.unwrap();
    let subject = format!("{prefix}.frames.{}", URL_SAFE_NO_PAD.encode("sealed"));
    let stored = stream
        .get_last_raw_message_by_subject(&subject)
        .await
        .unwrap();
    let stored = String::from_utf8_lossy(&stored.payload).into_owned();
    assert!(!stored.contains("card"), "stored in the clear: {stored}");

    // Through the broker: the frames as written.
    assert_eq!(
        broker.last(&s).await.unwrap(),
        Some(LogFrame {
            seq: 2,
            ..secret.clone()
        })
    );
    let mut reader = broker.read(&s).await.unwrap();
    let first = tokio::time::timeout(Duration::from_secs(10), reader.next())
        .await
        .expect("the log is read")
        .expect("a frame")
        .unwrap();
    assert_eq!(first, secret);
    // A marker (empty body) stays empty.
    let marker = LogFrame {
        seq: 2,
        token: 5,
        body: bytes::Bytes::new(),
    };
    broker.append(&s, marker.clone()).await.unwrap();
    assert_eq!(broker.last(&s).await.unwrap(), Some(marker));
    // A replica without the key reads ciphertext, never a panic.
    let plain = connect(&prefix, "b").await;
    let mut other = plain.read(&s).await.unwrap();
    let sealed = other.next().await.unwrap().unwrap();
    assert_eq!(sealed.seq, 1);
    assert_ne!(sealed.body, secret.body);
    delete_streams(&prefix).await;
}

#[tokio::test]
async fn every_operation_fails_as_unavailable_once_the_server_is_gone() {
    let mut server = OwnServer::start(&[]).await;
    let mut cfg = config(server.url(""), "gone", "a");
    cfg.op_timeout = Duration::from_secs(1);
    let broker = NatsBroker::connect(cfg).await.unwrap();
    let shown = format!("{broker:?}");
    assert!(shown.contains("gone") && shown.contains("\"a\""), "{shown}");
    assert_eq!(broker.replica(), "a");
    let chatbox_core::ports::broker::Acquired::Mine(lease) = broker.acquire("k").await.unwrap()
    else {
        panic!("a free key");
    };
    let s = session("gone");
    broker.append(&s, frame(1, 1)).await.unwrap();
    server.stop();
    let unavailable = |what: &str, r: Result<(), BrokerError>| {
        assert!(
            matches!(r, Err(BrokerError::Unavailable(_))),
            "{what} with the server gone: {r:?}"
        );
    };
    unavailable("acquire", broker.acquire("k2").await.map(|_| ()));
    unavailable("renew", broker.renew(&lease).await.map(|_| ()));
    unavailable("append", broker.append(&s, frame(2, 1)).await);
    unavailable(
        "append a batch",
        broker.append_batch(&s, vec![frame(3, 1)]).await,
    );
    unavailable("last", broker.last(&s).await.map(|_| ()));
    unavailable("claim", broker.claim_log(&s, 9).await.map(|_| ()));
    unavailable("read", broker.read(&s).await.map(|_| ()));
    unavailable("send", broker.send("b", bytes::Bytes::new()).await);
}

#[tokio::test]
async fn a_replica_keeping_more_history_than_the_stream_or_no_name_is_refused() {
    let prefix = unique("hist");
    let _first = connect(&prefix, "a").await;
    let mut more = config(nats_url(), &prefix, "b");
    more.history = HISTORY * 2;
    let refused = NatsBroker::connect(more).await;
    assert!(
        matches!(refused, Err(BrokerError::Backend(_))),
        "{refused:?}"
    );
    let nameless = NatsBroker::connect(config(nats_url(), &prefix, "")).await;
    assert!(
        matches!(nameless, Err(BrokerError::Backend(_))),
        "{nameless:?}"
    );
    delete_streams(&prefix).await;
}

#[tokio::test]
async fn a_deleted_log_stream_or_a_server_without_jetstream_is_an_error_not_a_panic() {
    let prefix = unique("nostream");
    let broker = connect(&prefix, "a").await;
    let s = session("orphan");
    broker.append(&s, frame(1, 1)).await.unwrap();
    delete_streams(&prefix).await;
    assert!(broker.last(&s).await.is_err(), "the stream is gone");
    assert!(broker.read(&s).await.is_err(), "the stream is gone");

    // A server without JetStream (the later flag wins): the broker cannot create its bucket
    // and stream.
    let plain = OwnServer::start(&["-js=false"]).await;
    let mut cfg = config(plain.url(""), "nojs", "a");
    cfg.op_timeout = Duration::from_secs(2);
    let refused = NatsBroker::connect(cfg).await;
    assert!(refused.is_err(), "no JetStream: {refused:?}");
}

#[tokio::test]
async fn an_unreadable_creds_file_is_a_configuration_error() {
    let mut cfg = config("nats://127.0.0.1:9".into(), "creds", "a");
    cfg.credentials = Some(temp_dir("nats-creds").join("missing.creds"));
    let refused = NatsBroker::connect(cfg).await;
    assert!(
        matches!(refused, Err(BrokerError::Backend(_))),
        "{refused:?}"
    );
}
