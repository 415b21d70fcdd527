//! Three server processes sharing one MongoDB database and one NATS JetStream server (the ones
//! `cargo xtask test` starts): a session is served from any replica, with identical frames
//! everywhere, takeover across replicas, a per-user connection limit for the deployment, and a
//! client that survives the SIGKILL of its session's owner.

use std::net::SocketAddr;
use std::time::Duration;

use chatbox_llm::ProviderKind;
use chatbox_llm::fake::{FakeVendor, Reply};
use chatbox_ws::testing::{self, Got, Ws};
use serde_json::{Value, json};

use crate::metrics::scraped;
use crate::process::{Backend, SECRET, Server, env_for, start};

/// The NATS server of the test run. Fails loudly when none runs.
fn nats_url() -> String {
    std::env::var("CHATBOX_TEST_NATS_URL").unwrap_or_else(|_| {
        panic!(
            "CHATBOX_TEST_NATS_URL is not set: these tests need a NATS server with JetStream. Run \
             `cargo xtask test -p chatbox-server` (it starts one), or start `nats-server -js -p \
             4222` and set CHATBOX_TEST_NATS_URL=nats://127.0.0.1:4222"
        )
    })
}

struct Deployment {
    servers: Vec<Server>,
    fake: FakeVendor,
}

/// `n` replicas of one deployment named `name` (its own database and NATS prefix).
async fn deployment(name: &str, n: usize, extra: &[(&str, &str)]) -> Deployment {
    let backend = Backend::mongo(&format!("rep_{name}"));
    let fake = FakeVendor::start(ProviderKind::Openai).await.unwrap();
    let mut env = env_for(&backend, &fake.base_url());
    let prefix = format!("it{}{}", std::process::id(), name.replace('_', ""));
    for (k, v) in [
        ("NATS_URL", nats_url()),
        ("NATS_PREFIX", prefix),
        ("NATS_LEASE_TTL", "2s".to_owned()),
    ] {
        env.push((k.to_owned(), v));
    }
    for (k, v) in extra {
        env.push(((*k).to_owned(), (*v).to_owned()));
    }
    let cwd = std::env::temp_dir().join(format!("chatbox-it-rep-{}-{name}", std::process::id()));
    let mut servers = Vec::new();
    for i in 0..n {
        let mut env = env.clone();
        env.push(("CHATBOX_REPLICA".into(), format!("r{i}")));
        servers.push(start(&env, &[], &cwd).await);
    }
    Deployment { servers, fake }
}

fn user() -> String {
    testing::token(SECRET, "u1", &[])
}

fn admin() -> String {
    testing::token(SECRET, "adm", &["admin"])
}

async fn ws(addr: SocketAddr, query: &str, token: &str) -> Ws {
    testing::connect(addr, &format!("/chatbox/ws{query}"), token)
        .await
        .unwrap()
}

/// Frames with a seq, as (seq, type, sender, content, done).
fn sequenced(frames: &[Value]) -> Vec<(u64, String, String, String, String)> {
    let s = |v: &Value| v.as_str().unwrap_or_default().to_owned();
    frames
        .iter()
        .filter_map(|f| {
            Some((
                f["seq"].as_u64()?,
                s(&f["type"]),
                s(&f["sender"]),
                s(&f["content"]),
                s(&f["metadata"]["done"]),
            ))
        })
        .collect()
}

/// Reads until a frame `stop` accepts; returns every frame read.
async fn until(ws: &mut Ws, stop: impl Fn(&Value) -> bool) -> Vec<Value> {
    let mut out = Vec::new();
    loop {
        let f = testing::json(ws).await.unwrap();
        let last = stop(&f);
        out.push(f);
        if last {
            return out;
        }
    }
}

#[tokio::test]
async fn three_replicas_show_identical_frames_in_identical_order() {
    let d = deployment("same", 3, &[]).await;
    d.fake.push(
        Reply::text(["One ", "reply ", "for ", "everyone"]).chunk_delay(Duration::from_millis(5)),
    );
    let [a, b, c] = [d.servers[0].addr, d.servers[1].addr, d.servers[2].addr];
    let mut on_a = ws(a, "", &user()).await;
    let status = testing::json(&mut on_a).await.unwrap();
    let sid = status["session_id"].as_str().unwrap().to_owned();
    let mut on_b = ws(b, &format!("?session_id={sid}"), &user()).await;
    assert_eq!(
        testing::json(&mut on_b).await.unwrap()["session_id"],
        sid.as_str()
    );
    let mut on_c = ws(c, &format!("?session_id={sid}&mode=watch"), &admin()).await;
    assert_eq!(
        testing::json(&mut on_c).await.unwrap()["type"],
        "connection_status"
    );

    testing::send(
        &mut on_b,
        &json!({"type": "user_message", "content": "from b"}),
    )
    .await
    .unwrap();
    let fa = testing::until_done(&mut on_a).await.unwrap();
    let fb = testing::until_done(&mut on_b).await.unwrap();
    let fc = testing::until_done(&mut on_c).await.unwrap();
    assert_eq!(testing::reply_text(&fa), "One reply for everyone");
    let want = sequenced(&fa);
    assert_eq!(sequenced(&fb), want, "the second device on replica B");
    assert_eq!(sequenced(&fc), want, "the admin watching on replica C");
    assert_eq!(d.fake.chat_requests().len(), 1, "one replica answered");
    assert!(
        scraped(b, "chatbox_broker_proxies_started_total").await >= 1.0,
        "replica B relays the session"
    );
}

/// One takeover race: A streams, B is the user's second device, the admin joins on C.
async fn takeover_run(d: &Deployment, run: usize) {
    let [a, b, c] = [d.servers[0].addr, d.servers[1].addr, d.servers[2].addr];
    let user = testing::token(SECRET, &format!("u{run}"), &[]);
    let mut on_a = ws(a, "", &user).await;
    let status = testing::json(&mut on_a).await.unwrap();
    let sid = status["session_id"].as_str().unwrap().to_owned();
    let mut on_b = ws(b, &format!("?session_id={sid}"), &user).await;
    testing::json(&mut on_b).await.unwrap();
    // An admin of its own per run: ten at once would pass one admin's connection limit.
    let admin = testing::token(SECRET, &format!("adm{run}"), &["admin"]);
    let mut on_c = ws(c, &format!("?session_id={sid}&mode=watch"), &admin).await;
    testing::json(&mut on_c).await.unwrap();
    testing::send(
        &mut on_a,
        &json!({"type": "user_message", "content": "help"}),
    )
    .await
    .unwrap();
    // Join while the reply streams.
    until(&mut on_c, |f| f["type"] == "ai_response").await;
    testing::send(&mut on_c, &json!({"type": "admin_join"}))
        .await
        .unwrap();
    testing::send(
        &mut on_c,
        &json!({"type": "user_message", "content": "admin here"}),
    )
    .await
    .unwrap();
    for (name, conn) in [("A", &mut on_a), ("B", &mut on_b), ("C", &mut on_c)] {
        let frames = until(conn, |f| {
            f["type"] == "user_message" && f["sender"] == "admin"
        })
        .await;
        let joined = frames
            .iter()
            .position(|f| f["type"] == "admin_join")
            .unwrap_or_else(|| panic!("{name}: admin_join in {frames:?}"));
        assert!(
            !frames[joined..]
                .iter()
                .any(|f| f["type"] == "ai_response" && f["metadata"]["done"] == "false"),
            "{name}: an AI token after admin_join: {frames:?}"
        );
    }
}

#[tokio::test]
async fn an_admin_on_another_replica_takes_over_and_no_ai_token_follows_in_50_runs() {
    let d = deployment("takeover", 3, &[]).await;
    for _ in 0..50 {
        d.fake.push(
            Reply::text((0..40).map(|i| format!("t{i} "))).chunk_delay(Duration::from_millis(10)),
        );
    }
    for wave in 0..5 {
        futures::future::join_all((0..10).map(|i| takeover_run(&d, wave * 10 + i))).await;
    }
    assert_eq!(
        d.fake.chat_requests().len(),
        50,
        "every run started a reply"
    );
}

#[tokio::test]
async fn the_per_user_connection_limit_holds_across_replicas() {
    let d = deployment("limit", 3, &[("MAX_CONNECTIONS_PER_USER", "10")]).await;
    let mut open = Vec::new();
    for i in 0..10 {
        let addr = d.servers[i % 3].addr;
        let mut c = ws(addr, "", &user()).await;
        testing::json(&mut c).await.unwrap();
        open.push(c);
    }
    for s in &d.servers {
        let status = testing::upgrade_status(
            s.addr,
            "/chatbox/ws",
            &[("Authorization", &format!("Bearer {}", user()))],
        )
        .await
        .unwrap();
        assert_eq!(
            status, 429,
            "the 11th connection is refused on every replica"
        );
    }
    // One closes: a slot is free again (released in the background: retry until it is).
    drop(open.pop());
    let mut admitted = false;
    for _ in 0..100 {
        let status = testing::upgrade_status(
            d.servers[2].addr,
            "/chatbox/ws",
            &[("Authorization", &format!("Bearer {}", user()))],
        )
        .await
        .unwrap();
        if status == 101 {
            admitted = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(admitted, "a freed slot is usable on another replica");
}

#[tokio::test]
async fn a_client_survives_the_sigkill_of_its_sessions_owner() {
    let mut d = deployment("sigkill", 3, &[]).await;
    d.fake.push(
        Reply::text((0..200).map(|i| format!("w{i} "))).chunk_delay(Duration::from_millis(20)),
    );
    let (a, b) = (d.servers[0].addr, d.servers[1].addr);
    let mut on_a = ws(a, "", &user()).await;
    let sid = testing::json(&mut on_a).await.unwrap()["session_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut on_b = ws(b, &format!("?session_id={sid}"), &user()).await;
    testing::json(&mut on_b).await.unwrap();
    testing::send(
        &mut on_b,
        &json!({"type": "user_message", "content": "long answer"}),
    )
    .await
    .unwrap();
    // A few chunks through B, then the owner dies.
    let mut seen = Vec::new();
    while sequenced(&seen)
        .iter()
        .filter(|f| f.1 == "ai_response")
        .count()
        < 5
    {
        seen.push(testing::json(&mut on_b).await.unwrap());
    }
    d.servers[0].kill().await;
    // B's connection goes on until B learns the owner is gone, then is told to reconnect.
    let code = loop {
        match testing::read(&mut on_b).await.unwrap() {
            Got::Json(f) => seen.push(f),
            Got::Closed(code) => break code,
        }
    };
    assert_eq!(code, 1012, "reconnect: the session moves");
    let last_seq = seen.iter().filter_map(|f| f["seq"].as_u64()).max().unwrap();
    // Reconnect to C with last_seq; until the dead owner's lease expires the connect may be
    // refused, so retry for a bounded time.
    let c = d.servers[2].addr;
    let mut resumed = None;
    for _ in 0..100 {
        let mut conn = ws(
            c,
            &format!("?session_id={sid}&last_seq={last_seq}"),
            &user(),
        )
        .await;
        match testing::read(&mut conn).await {
            Ok(Got::Json(status)) if status["type"] == "connection_status" => {
                resumed = Some((conn, status));
                break;
            }
            _ => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
    let (mut conn, status) = resumed.expect("the session resumed on another replica");
    assert_eq!(status["metadata"]["recovered"], "true", "{status}");
    let rest = testing::until_done(&mut conn).await.unwrap();
    let done = rest.last().unwrap();
    assert_eq!(done["metadata"]["cancelled"], "replica_lost", "{rest:?}");
    assert!(rest.iter().any(|f| f["type"] == "error"), "{rest:?}");
    let all: Vec<u64> = seen
        .iter()
        .chain(&rest)
        .filter_map(|f| f["seq"].as_u64())
        .collect();
    let mut dedup = all.clone();
    dedup.sort_unstable();
    dedup.dedup();
    assert_eq!(all.len(), dedup.len(), "no frame twice: {all:?}");
    assert!(
        dedup.windows(2).all(|w| w[1] == w[0] + 1),
        "no frame missing: {dedup:?}"
    );
}

/// A NATS server of the test's own, to restart.
struct OwnNats {
    port: u16,
    dir: std::path::PathBuf,
    child: Option<std::process::Child>,
}

impl OwnNats {
    fn start(name: &str) -> Self {
        let dir =
            std::env::temp_dir().join(format!("chatbox-it-nats-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let mut nats = Self {
            port: crate::process::free_port(),
            dir,
            child: None,
        };
        nats.spawn();
        nats
    }

    fn spawn(&mut self) {
        let program = std::env::var("CHATBOX_TEST_NATS_SERVER").unwrap_or_else(|_| {
            panic!(
                "CHATBOX_TEST_NATS_SERVER is not set: this test runs its own nats-server. Run \
                 `cargo xtask test -p chatbox-server`, or set it to the path of `nats-server`"
            )
        });
        let child = std::process::Command::new(program)
            .args([
                "-a",
                "127.0.0.1",
                "-p",
                &self.port.to_string(),
                "-js",
                "-sd",
            ])
            .arg(&self.dir)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        self.child = Some(child);
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(
                std::time::Instant::now() < deadline,
                "nats-server did not start"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }
}

impl Drop for OwnNats {
    fn drop(&mut self) {
        self.stop();
    }
}

/// What became of one message.
#[derive(Debug, PartialEq)]
enum Fate {
    /// Echoed to its sender: it is in the conversation.
    Delivered,
    /// The sender got an error: it may retry.
    Refused,
    /// The connection closed first: either (at most once).
    Unknown,
}

/// Sends `text` and waits for its echo or an error.
async fn send_and_see(conn: &mut Ws, text: &str) -> Fate {
    if testing::send(conn, &json!({"type": "user_message", "content": text}))
        .await
        .is_err()
    {
        return Fate::Unknown;
    }
    loop {
        match testing::read(conn).await {
            Ok(Got::Json(f)) if f["type"] == "user_message" && f["content"] == text => {
                return Fate::Delivered;
            }
            Ok(Got::Json(f)) if f["type"] == "error" && f.get("seq").is_none() => {
                return Fate::Refused;
            }
            Ok(Got::Json(_)) => {}
            Ok(Got::Closed(_)) | Err(_) => return Fate::Unknown,
        }
    }
}

/// Opens a connection to `sid` on `addr`, retrying while the session moves.
async fn reconnect(addr: SocketAddr, sid: &str, token: &str) -> Ws {
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while std::time::Instant::now() < deadline {
        if let Ok(mut c) =
            testing::connect(addr, &format!("/chatbox/ws?session_id={sid}"), token).await
            && let Ok(Got::Json(f)) = testing::read(&mut c).await
            && f["type"] == "connection_status"
        {
            return c;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("could not reconnect to {sid} on {addr}");
}

#[tokio::test]
async fn restarting_nats_under_load_loses_no_user_message() {
    let mut nats = OwnNats::start("restart");
    let url = nats.url();
    let d = deployment("natsrestart", 2, &[("NATS_URL", url.as_str())]).await;
    let (a, b) = (d.servers[0].addr, d.servers[1].addr);
    let mut users = Vec::new();
    for u in 0..4 {
        let token = testing::token(SECRET, &format!("load{u}"), &[]);
        let mut on_a = ws(a, "", &token).await;
        let sid = testing::json(&mut on_a).await.unwrap()["session_id"]
            .as_str()
            .unwrap()
            .to_owned();
        let on_b = reconnect(b, &sid, &token).await;
        users.push((token, sid, on_a, on_b));
    }
    let mut fates: Vec<Vec<(String, Fate)>> = (0..users.len()).map(|_| Vec::new()).collect();
    // NATS goes away for longer than a lease TTL (2 s) while the users write, whatever state
    // they are in: owners lose their leases, and sessions move once it is back.
    let restart = tokio::task::spawn_blocking(move || {
        std::thread::sleep(Duration::from_millis(500));
        nats.stop();
        std::thread::sleep(Duration::from_secs(3));
        nats.spawn();
        nats
    });
    for round in 0..30 {
        let sends = users
            .iter_mut()
            .enumerate()
            .map(|(u, (_, _, on_a, on_b))| async move {
                let text = format!("m{u}-{round}");
                let conn = if round % 2 == 0 { on_a } else { on_b };
                let fate = send_and_see(conn, &text).await;
                (text, fate)
            });
        let results = futures::future::join_all(sends).await;
        for (u, (text, fate)) in results.into_iter().enumerate() {
            if fate == Fate::Unknown {
                // The connection was told to reconnect (or dropped): do so, on both replicas.
                let (token, sid, on_a, on_b) = &mut users[u];
                *on_a = reconnect(a, sid, token).await;
                *on_b = reconnect(b, sid, token).await;
            }
            fates[u].push((text, fate));
        }
    }
    let _nats = restart.await.unwrap();
    let mut delivered = 0;
    for (u, (token, sid, ..)) in users.iter().enumerate() {
        let (code, session) = testing::api(a, "GET", &format!("/chatbox/sessions/{sid}"), token)
            .await
            .unwrap();
        assert_eq!(code, 200);
        let stored: Vec<String> = session["messages"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|m| m["sender"] == "user")
            .map(|m| m["content"].as_str().unwrap().to_owned())
            .collect();
        for (text, fate) in &fates[u] {
            let times = stored.iter().filter(|s| *s == text).count();
            match fate {
                Fate::Delivered => {
                    delivered += 1;
                    assert_eq!(times, 1, "{text} was echoed: stored exactly once");
                }
                Fate::Refused | Fate::Unknown => {
                    assert!(times <= 1, "{text} ({fate:?}) stored at most once");
                }
            }
        }
    }
    let count = |want: Fate| fates.iter().flatten().filter(|(_, f)| *f == want).count();
    eprintln!(
        "NATS restart: {delivered} delivered, {} refused, {} unknown",
        count(Fate::Refused),
        count(Fate::Unknown)
    );
    assert!(
        delivered >= 4 * 20,
        "most messages went through: {delivered}"
    );
}
