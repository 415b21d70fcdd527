//! Every metric the code registers moves in one scripted conversation through the real binary,
//! scraped from `P/metrics/prometheus`; an address outside the allow-list gets 403.

use std::collections::BTreeMap;
use std::path::Path;

use axum::Router;
use axum::routing::post;
use chatbox_llm::ProviderKind;
use chatbox_llm::fake::{FakeVendor, Reply};
use chatbox_store::{Cipher, MongoConfig, MongoStore};
use chatbox_ws::testing::{self, Got, Ws};
use mongodb::bson::doc;
use serde_json::{Value, json};

use crate::process::{Backend, SECRET, env_for, start};

/// Every metric name registered in the workspace's sources, with its kind.
fn registered_metrics() -> BTreeMap<String, String> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let mut out = BTreeMap::new();
    let mut stack = vec![root.join("crates"), root.join("bins")];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap().flatten() {
            let path = entry.path();
            if path.is_dir() {
                if !path.ends_with("tests") && !path.ends_with("benches") {
                    stack.push(path);
                }
                continue;
            }
            if path.extension().is_none_or(|e| e != "rs") {
                continue;
            }
            let text = std::fs::read_to_string(&path).unwrap();
            for kind in ["counter", "gauge", "histogram"] {
                let marker = format!("metrics::{kind}!(");
                for (at, _) in text.match_indices(&marker) {
                    let rest = text[at + marker.len()..].trim_start();
                    if let Some(name) = rest.strip_prefix('"').and_then(|r| r.split('"').next()) {
                        out.insert(name.to_owned(), kind.to_owned());
                    }
                }
            }
        }
    }
    out
}

/// The total of every sample of `name` (for a histogram, its `_count`), or `None` when absent.
fn sample_total(scrape: &str, name: &str, kind: &str) -> Option<f64> {
    let series = if kind == "histogram" {
        format!("{name}_count")
    } else {
        name.to_owned()
    };
    let mut found = None;
    for line in scrape.lines().filter(|l| !l.starts_with('#')) {
        let Some(rest) = line.strip_prefix(&series) else {
            continue;
        };
        if !(rest.starts_with('{') || rest.starts_with(' ')) {
            continue;
        }
        let value: f64 = line.rsplit(' ').next()?.parse().ok()?;
        *found.get_or_insert(0.0) += value;
    }
    found
}

/// Reads frames until one satisfies `want`; fails on a close or after the client's guard.
async fn until(ws: &mut Ws, want: impl Fn(&Value) -> bool) -> Value {
    loop {
        match testing::read(ws).await.unwrap() {
            Got::Json(v) if want(&v) => return v,
            Got::Json(_) => {}
            Got::Closed(code) => panic!("closed ({code}) before the frame came"),
        }
    }
}

/// Connects to session `sid` again once the closed connections' slots are free (a slot is
/// released when its connection's task ends, just after the close).
async fn reconnect(addr: std::net::SocketAddr, sid: &str, token: &str) -> Ws {
    let path = format!("/chatbox/ws?session_id={sid}");
    for _ in 0..200 {
        if let Ok(mut ws) = testing::connect(addr, &path, token).await {
            let status = testing::json(&mut ws).await.unwrap();
            assert_eq!(status["type"], "connection_status");
            return ws;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("could not reconnect");
}

#[tokio::test]
async fn a_scripted_conversation_moves_every_registered_metric() {
    let mut registered = registered_metrics();
    assert!(registered.len() >= 20, "{registered:?}");
    // The embedded store's own metrics move on a server that uses it (checked at the end).
    let embedded: BTreeMap<String, String> = registered
        .iter()
        .filter(|(name, _)| name.starts_with(SQLITE_PREFIX))
        .map(|(n, k)| (n.clone(), k.clone()))
        .collect();
    registered.retain(|name, _| !name.starts_with(SQLITE_PREFIX));
    assert!(!embedded.is_empty(), "{registered:?}");
    // The broker's metrics exist only with several replicas: replicas.rs checks them.
    let broker: Vec<String> = registered
        .keys()
        .filter(|name| name.starts_with(BROKER_PREFIX))
        .cloned()
        .collect();
    assert_eq!(
        broker, BROKER_METRICS,
        "the broker metrics are the known ones"
    );
    registered.retain(|name, _| !name.starts_with(BROKER_PREFIX));

    let hook = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let hook_addr = hook.local_addr().unwrap();
    tokio::spawn(async move {
        let app = Router::new().route("/hook", post(|| async { "ok" }));
        let _ = axum::serve(hook, app).await;
    });

    let fake = FakeVendor::start(ProviderKind::Openai).await.unwrap();
    fake.push(Reply::text(["Hel", "lo"]).usage(5, 2));
    fake.push(Reply::status(400));
    let big = "x".repeat(2048);
    fake.push(Reply::text(vec![big; 3000]).usage(1, 3000));
    let backend = Backend::mongo("metrics");
    let Backend::Mongo { uri, database } = &backend else {
        unreachable!("a Mongo backend")
    };
    let mut env = env_for(&backend, &fake.base_url());
    for (k, v) in [
        ("MONGO_SLOW_THRESHOLD", "1ms".to_owned()),
        ("NOTIFY_WEBHOOK_URL", format!("http://{hook_addr}/hook")),
        ("RATE_LIMIT", "3".into()),
        ("MAX_CONNECTIONS_PER_USER", "2".into()),
        ("WS_WRITE_TIMEOUT", "60s".into()),
        ("TRUSTED_PROXIES", "127.0.0.1/32".into()),
    ] {
        env.push((k.into(), v));
    }
    let cwd = std::env::temp_dir().join(format!("chatbox-it-cwd-{}-metrics", std::process::id()));
    let server = start(&env, &[], &cwd).await;
    // One legacy document this build cannot read, among the user's sessions.
    let config = MongoConfig {
        uri: uri.clone(),
        database: database.clone(),
        ..MongoConfig::default()
    };
    let raw = MongoStore::connect(config, Cipher::new(None, None).unwrap())
        .await
        .unwrap();
    raw.collection()
        .insert_one(doc! { "_id": "goBroken", "uid": "u1", "ts": 12 })
        .await
        .unwrap();

    let t = testing::token(SECRET, "u1", &[]);
    let admin = testing::token(SECRET, "boss", &["admin"]);
    let (code, _) = testing::http(server.addr, "GET", "/chatbox/readyz", &[])
        .await
        .unwrap();
    assert_eq!(code, 200);

    let mut ws = testing::connect(server.addr, "/chatbox/ws", &t)
        .await
        .unwrap();
    let sid = testing::json(&mut ws).await.unwrap()["session_id"]
        .as_str()
        .unwrap()
        .to_owned();
    testing::send(&mut ws, &json!({"type": "no_such_type"}))
        .await
        .unwrap();
    until(&mut ws, |f| f["type"] == "error").await;
    testing::send(&mut ws, &json!({"type": "user_message", "content": "hi"}))
        .await
        .unwrap();
    let frames = testing::until_done(&mut ws).await.unwrap();
    assert_eq!(testing::reply_text(&frames), "Hello");
    testing::send(
        &mut ws,
        &json!({"type": "user_message", "content": "again"}),
    )
    .await
    .unwrap();
    until(&mut ws, |f| f["type"] == "error").await;
    testing::send(&mut ws, &json!({"type": "help_request"}))
        .await
        .unwrap();
    until(&mut ws, |f| {
        f["metadata"]["channels"]
            .as_str()
            .is_some_and(|c| c.contains("webhook:delivered"))
    })
    .await;

    // A second device resumes; a third is over the per-user limit.
    let mut second = testing::connect(
        server.addr,
        &format!("/chatbox/ws?session_id={sid}&last_seq=1"),
        &t,
    )
    .await
    .unwrap();
    let status = testing::json(&mut second).await.unwrap();
    assert_eq!(status["type"], "connection_status");
    let auth = format!("Bearer {t}");
    let refused = testing::upgrade_status(server.addr, "/chatbox/ws", &[("Authorization", &auth)])
        .await
        .unwrap();
    assert_eq!(refused, 429);

    // The second device stops reading while a long reply streams: it is closed as a slow
    // consumer, the first device gets the whole reply.
    testing::send(&mut ws, &json!({"type": "user_message", "content": "big"}))
        .await
        .unwrap();
    match testing::until_done(&mut ws).await {
        Ok(frames) => {
            assert_eq!(testing::reply_text(&frames).len(), 3000 * 2048);
            drop(second);
        }
        // On a loaded machine (coverage, parallel tests) this reader can fall behind too and be
        // closed the same way; it reconnects, as a client would.
        Err(e) => {
            assert!(format!("{e:?}").contains("1013"), "{e:?}");
            drop(second);
            // Wait until the reply is stored, so the new connection gets no more of it.
            let path = format!("/chatbox/sessions/{sid}");
            let mut stored = false;
            for _ in 0..1200 {
                let (_, session) = testing::api(server.addr, "GET", &path, &t).await.unwrap();
                let last = session["messages"]
                    .as_array()
                    .and_then(|m| m.last().cloned());
                if last.is_some_and(|m| m["content"].as_str().map(str::len) == Some(3000 * 2048)) {
                    stored = true;
                    break;
                }
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            }
            assert!(stored, "the long reply is stored");
            ws = reconnect(server.addr, &sid, &t).await;
        }
    }
    testing::send(
        &mut ws,
        &json!({"type": "user_message", "content": "one too many"}),
    )
    .await
    .unwrap();
    until(&mut ws, |f| f["error"]["code"] == "TOO_MANY_REQUESTS").await;

    let (code, body) = testing::api(
        server.addr,
        "POST",
        &format!("/chatbox/admin/takeover/{sid}"),
        &admin,
    )
    .await
    .unwrap();
    assert_eq!(code, 200, "{body}");
    until(&mut ws, |f| f["type"] == "admin_join").await;
    let (code, _) = testing::api(
        server.addr,
        "POST",
        &format!("/chatbox/admin/release/{sid}"),
        &admin,
    )
    .await
    .unwrap();
    assert_eq!(code, 200);
    let (code, list) = testing::api(server.addr, "GET", "/chatbox/sessions", &t)
        .await
        .unwrap();
    assert_eq!(code, 200, "the unreadable document is skipped: {list}");
    let (code, _) = testing::api(
        server.addr,
        "POST",
        &format!("/chatbox/sessions/{sid}/end"),
        &t,
    )
    .await
    .unwrap();
    assert_eq!(code, 200);

    // Outside the allow-list (a client forwarded by the trusted proxy): refused.
    let (code, _) = testing::http(
        server.addr,
        "GET",
        "/chatbox/metrics/prometheus",
        &[("X-Forwarded-For", "203.0.113.9")],
    )
    .await
    .unwrap();
    assert_eq!(code, 403);
    // Connections close asynchronously (their duration is recorded when their task ends): scrape
    // until everything moved, within a bound.
    let mut scrape = String::new();
    let mut still = Vec::new();
    for _ in 0..200 {
        let (code, body) = testing::http(server.addr, "GET", "/chatbox/metrics/prometheus", &[])
            .await
            .unwrap();
        assert_eq!(code, 200);
        scrape = body;
        still.clear();
        for (name, kind) in &registered {
            match sample_total(&scrape, name, kind) {
                None => still.push(format!("{name} ({kind}): absent")),
                Some(v) if kind != "gauge" && v <= 0.0 => still.push(format!("{name}: {v}")),
                Some(_) => {}
            }
        }
        if still.is_empty() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(
        still.is_empty(),
        "metrics that did not move: {still:#?}\n{scrape}"
    );
    let tokens = scrape
        .lines()
        .find(|l| l.starts_with("chatbox_tokens_used_total{"))
        .unwrap_or_default();
    assert!(
        tokens.contains("provider=\"openai\"") && tokens.contains("model=\"fake-model\""),
        "tokens by provider and model: {tokens}"
    );
    assert!(
        !scrape.contains(&sid) && !scrape.contains("u1"),
        "no ids in labels (unbounded cardinality)"
    );
    drop(server);
    embedded_store_metrics_move(&embedded).await;
}

/// Metrics only the embedded store has.
const SQLITE_PREFIX: &str = "chatbox_store_sqlite_";

/// Metrics only several replicas have.
const BROKER_PREFIX: &str = "chatbox_broker_";

/// The broker metrics. replicas.rs checks the proxies started (a second device on another
/// replica) and the leases lost (NATS away for longer than a lease TTL); frames dropped from
/// the log need an outage longer than the append retry budget and are not provoked.
const BROKER_METRICS: [&str; 3] = [
    "chatbox_broker_leases_lost_total",
    "chatbox_broker_log_dropped_total",
    "chatbox_broker_proxies_started_total",
];

/// The value of metric `name` (summed over its labels) on the server at `addr`.
pub async fn scraped(addr: std::net::SocketAddr, name: &str) -> f64 {
    let (code, scrape) = testing::http(addr, "GET", "/chatbox/metrics/prometheus", &[])
        .await
        .unwrap();
    assert_eq!(code, 200);
    sample_total(&scrape, name, "counter").unwrap_or(0.0)
}

/// One turn on a server with the embedded store moves each of `names`.
async fn embedded_store_metrics_move(names: &BTreeMap<String, String>) {
    let fake = FakeVendor::start(ProviderKind::Openai).await.unwrap();
    fake.push(Reply::text(["o", "k"]).usage(1, 1));
    let backend = Backend::sqlite("metrics-embedded");
    let env = env_for(&backend, &fake.base_url());
    let cwd = std::env::temp_dir().join(format!(
        "chatbox-it-cwd-{}-metrics-embedded",
        std::process::id()
    ));
    let server = start(&env, &[], &cwd).await;
    let t = testing::token(SECRET, "u2", &[]);
    let mut ws = testing::connect(server.addr, "/chatbox/ws", &t)
        .await
        .unwrap();
    testing::json(&mut ws).await.unwrap();
    testing::send(&mut ws, &json!({"type": "user_message", "content": "hi"}))
        .await
        .unwrap();
    let frames = testing::until_done(&mut ws).await.unwrap();
    assert_eq!(testing::reply_text(&frames), "ok");
    let (code, scrape) = testing::http(server.addr, "GET", "/chatbox/metrics/prometheus", &[])
        .await
        .unwrap();
    assert_eq!(code, 200);
    for (name, kind) in names {
        let moved = sample_total(&scrape, name, kind);
        assert!(
            moved.is_some_and(|v| v > 0.0),
            "{name}: {moved:?}\n{scrape}"
        );
    }
}
