//! Several engines over one in-memory broker, store and LLM: replicas of one deployment in one
//! process. A session has one owner; connections on other replicas see the same frames in the
//! same order, their inputs reach the owner, takeover holds across replicas, and when the owner
//! dies a client moves to another replica, resumes and is told the reply was cut.

use std::sync::Arc;
use std::time::Duration;

use chatbox_core::Store;
use chatbox_core::ports::broker::{Broker, LogFrame};
use chatbox_core::ports::llm::Chunk;
use chatbox_core::testing::{MemoryBroker, MemoryStore, Script, ScriptedLlm};
use chatbox_session::{CloseReason, ConnectRequest, Connection, Engine, EngineConfig, EngineDeps};
use serde_json::Value;

use crate::harness::{admin, closed, frame, next, say, until, usage, user};

struct Replicas {
    hub: MemoryBroker,
    engines: Vec<Engine>,
    store: Arc<MemoryStore>,
    llm: Arc<ScriptedLlm>,
}

fn replicas(names: &[&str]) -> Replicas {
    replicas_with(names, &[])
}

/// Replicas whose engines notify staff through `notifiers`.
fn replicas_with(names: &[&str], notifiers: &[Arc<dyn chatbox_core::Notifier>]) -> Replicas {
    let hub = MemoryBroker::new("hub", Duration::from_millis(600), 256);
    let store = Arc::new(MemoryStore::new());
    let llm = Arc::new(ScriptedLlm::new("gpt", "GPT"));
    let engines = names
        .iter()
        .map(|name| {
            let deps = EngineDeps {
                store: store.clone(),
                providers: vec![llm.clone()],
                notifiers: notifiers.to_vec(),
                admin_panel_url: None,
                blobs: None,
                transcriber: None,
                broker: Some(Arc::new(hub.replica(name))),
            };
            Engine::new(deps, EngineConfig::default())
        })
        .collect();
    Replicas {
        hub,
        engines,
        store,
        llm,
    }
}

/// `u1` on the first engine (which then owns the new session) and on the second, both past
/// their `connection_status`.
async fn two_devices(engines: &[Engine]) -> (Connection, Connection) {
    let mut on_a = connect(&engines[0], user("u1"), ConnectRequest::default()).await;
    next(&mut on_a).await;
    let mut on_b = connect(&engines[1], user("u1"), join(&on_a, false)).await;
    next(&mut on_b).await;
    (on_a, on_b)
}

fn join(c: &Connection, watch: bool) -> ConnectRequest {
    ConnectRequest {
        session_id: Some(c.session_id().clone()),
        last_seq: None,
        watch,
    }
}

async fn connect(e: &Engine, who: chatbox_core::Identity, req: ConnectRequest) -> Connection {
    e.connect(who, req).await.unwrap().connection
}

/// The frames with a seq, as (seq, type, content, done).
fn sequenced(frames: &[Value]) -> Vec<(u64, String, String, String)> {
    frames
        .iter()
        .filter_map(|f| {
            Some((
                f["seq"].as_u64()?,
                f["type"].as_str().unwrap_or("").to_owned(),
                f["content"].as_str().unwrap_or("").to_owned(),
                f["metadata"]["done"].as_str().unwrap_or("").to_owned(),
            ))
        })
        .collect()
}

#[tokio::test]
async fn every_replica_sees_the_same_frames_in_the_same_order() {
    let r = replicas(&["a", "b", "c"]);
    r.llm
        .push(Script::reply(["Hello", " from", " the", " owner"]));
    let mut on_a = connect(&r.engines[0], user("u1"), ConnectRequest::default()).await;
    next(&mut on_a).await;
    let mut on_b = connect(&r.engines[1], user("u1"), join(&on_a, false)).await;
    let status_b = next(&mut on_b).await;
    assert_eq!(status_b["type"], "connection_status");
    let mut on_c = connect(&r.engines[2], admin("adm"), join(&on_a, true)).await;
    assert_eq!(next(&mut on_c).await["type"], "connection_status");

    // The second device, on a replica that does not own the session, writes.
    say(&on_b, "hi from b");
    let a = until(&mut on_a, "ai_response", true).await;
    let b = until(&mut on_b, "ai_response", true).await;
    let c = until(&mut on_c, "ai_response", true).await;
    let want = sequenced(&a);
    assert!(
        want.iter()
            .any(|f| f.1 == "user_message" && f.2 == "hi from b")
    );
    assert_eq!(
        want.iter()
            .filter(|f| f.1 == "ai_response" && f.3 == "false")
            .count(),
        4
    );
    assert_eq!(sequenced(&b), want, "the second device on another replica");
    assert_eq!(sequenced(&c), want, "the watching admin on a third replica");
    assert_eq!(r.llm.requests().len(), 1, "one owner answered");
}

#[tokio::test]
async fn an_admin_on_another_replica_takes_over_and_no_ai_frame_follows() {
    let r = replicas(&["a", "b", "c"]);
    let (tx, script) = Script::channel();
    r.llm.push(script);
    let (mut on_a, mut on_b) = two_devices(&r.engines).await;
    say(&on_a, "help");
    until(&mut on_b, "loading", false).await;
    tx.unbounded_send(Ok(Chunk::Text("Let me ".into())))
        .unwrap();
    until(&mut on_b, "ai_response", false).await;

    let mut on_c = connect(&r.engines[2], admin("adm"), join(&on_a, false)).await;
    assert_eq!(next(&mut on_c).await["type"], "connection_status");
    // The provider keeps talking; nobody may hear it.
    let _ = tx.unbounded_send(Ok(Chunk::Text("more AI".into())));
    let _ = tx.unbounded_send(Ok(Chunk::Finished(usage())));
    on_c.handle(frame(
        serde_json::json!({"type": "user_message", "content": "I am here"}),
    ));
    for conn in [&mut on_a, &mut on_b, &mut on_c] {
        let mut frames = Vec::new();
        loop {
            let f = next(conn).await;
            let last = f["type"] == "user_message" && f["sender"] == "admin";
            frames.push(f);
            if last {
                break;
            }
        }
        let joined = frames.iter().position(|f| f["type"] == "admin_join");
        let joined = joined.unwrap_or_else(|| panic!("admin_join seen: {frames:?}"));
        let ai_after = frames[joined..]
            .iter()
            .any(|f| f["type"] == "ai_response" && f["metadata"]["done"] == "false");
        assert!(!ai_after, "no AI token after admin_join: {frames:?}");
    }
}

#[tokio::test]
async fn a_rest_operation_on_another_replica_runs_in_the_owner() {
    let r = replicas(&["a", "b"]);
    let mut on_a = connect(&r.engines[0], user("u1"), ConnectRequest::default()).await;
    next(&mut on_a).await;
    let id = on_a.session_id().clone();
    r.engines[1].end_session(&id).await.unwrap();
    let ended = until(&mut on_a, "notification", false).await;
    assert_eq!(ended.last().unwrap()["metadata"]["session_ended"], "true");
    let s = r.store.get_session(&id).await.unwrap().unwrap();
    assert!(!s.is_active());
    r.engines[1]
        .takeover(&id, admin("adm"))
        .await
        .expect("a takeover made on a replica that does not own the session");
    assert_eq!(until(&mut on_a, "admin_join", false).await.len(), 1);
}

#[tokio::test]
async fn a_frame_from_a_stale_owner_is_never_delivered() {
    let r = replicas(&["a", "b"]);
    r.llm.push(Script::reply(["ok"]));
    let mut on_a = connect(&r.engines[0], user("u1"), ConnectRequest::default()).await;
    let status = next(&mut on_a).await;
    let seq = status["seq"].as_u64().unwrap();
    let mut on_b = connect(&r.engines[1], user("u1"), join(&on_a, false)).await;
    next(&mut on_b).await;
    // Something writes the next seq under a lease older than the owner's.
    let stale = LogFrame {
        seq: seq + 1,
        token: 0,
        body: bytes::Bytes::from_static(br#"{"type":"notification","content":"stale"}"#),
    };
    let id = on_a.session_id().clone();
    r.hub.append(&id, stale).await.unwrap();
    say(&on_a, "hello");
    let frames = until(&mut on_b, "ai_response", true).await;
    assert!(
        frames.iter().all(|f| f["content"] != "stale"),
        "the stale frame was dropped: {frames:?}"
    );
}

#[tokio::test]
async fn when_the_owner_dies_its_client_resumes_elsewhere_and_learns_the_reply_was_cut() {
    let r = replicas(&["a", "b"]);
    let (tx, script) = Script::channel();
    r.llm.push(script);
    let (on_a, mut on_b) = two_devices(&r.engines).await;
    say(&on_b, "tell me");
    tx.unbounded_send(Ok(Chunk::Text("Half a ".into())))
        .unwrap();
    let seen = until(&mut on_b, "ai_response", false).await;
    let last_seq = seen.last().unwrap()["seq"].as_u64().unwrap();

    // Replica a dies: its leases and mail vanish and nothing it writes reaches the broker.
    r.hub.kill("a");
    let (_, reason) = closed(&mut on_b).await;
    assert_eq!(
        reason,
        CloseReason::Evicted,
        "b's connection is sent to reconnect"
    );
    drop(tx);

    let resumed = r.engines[1]
        .connect(
            user("u1"),
            ConnectRequest {
                session_id: Some(on_a.session_id().clone()),
                last_seq: Some(last_seq),
                watch: false,
            },
        )
        .await
        .unwrap();
    assert_eq!(resumed.recovered, Some(true), "resumed across owners");
    let mut c = resumed.connection;
    let frames = until(&mut c, "ai_response", true).await;
    assert_eq!(frames[0]["type"], "connection_status");
    let seqs: Vec<u64> = frames[1..]
        .iter()
        .filter_map(|f| f["seq"].as_u64())
        .collect();
    assert!(seqs.windows(2).all(|w| w[1] == w[0] + 1), "{seqs:?}");
    assert!(seqs.first().is_some_and(|s| *s > last_seq));
    let done = frames.last().unwrap();
    assert_eq!(done["metadata"]["cancelled"], "replica_lost");
    assert!(frames.iter().any(|f| f["type"] == "error"), "{frames:?}");
    assert!(
        frames.iter().all(|f| f["content"] != "Half a "),
        "nothing is repeated"
    );
}

#[tokio::test]
async fn session_events_reach_admins_on_every_replica() {
    let r = replicas(&["a", "b"]);
    let mut events = r.engines[1].subscribe_events();
    // The subscription to announcements is made in the background: wait for it by retrying.
    let mut created = None;
    for _ in 0..50 {
        let c = connect(&r.engines[0], user("u1"), ConnectRequest::default()).await;
        let id = c.session_id().clone();
        r.engines[0].end_session(&id).await.unwrap();
        if let Ok(Ok(e)) = tokio::time::timeout(Duration::from_millis(100), events.recv()).await {
            created = Some(e);
            break;
        }
    }
    let e = created.expect("an event of replica a reached replica b's admins");
    assert_eq!(e.user_id.as_str(), "u1");
}

#[tokio::test]
async fn typing_errors_and_a_release_cross_replicas() {
    let r = replicas(&["a", "b", "c"]);
    let mut on_a = connect(&r.engines[0], user("u1"), ConnectRequest::default()).await;
    next(&mut on_a).await;
    let id = on_a.session_id().clone();
    let mut on_b = connect(&r.engines[1], user("u1"), join(&on_a, false)).await;
    next(&mut on_b).await;
    // A user may not join as an admin: the error goes to that connection only, by mail.
    on_b.handle(frame(serde_json::json!({"type": "admin_join"})));
    let refused = next(&mut on_b).await;
    assert_eq!(refused["type"], "error", "{refused}");
    assert_eq!(refused["error"]["code"], "FORBIDDEN");
    // An admin on C takes the session over by REST on B (relayed to the owner A).
    let mut on_c = connect(&r.engines[2], admin("adm"), join(&on_a, true)).await;
    next(&mut on_c).await;
    r.engines[1].takeover(&id, admin("adm")).await.unwrap();
    until(&mut on_c, "admin_join", false).await;
    until(&mut on_b, "admin_join", false).await;
    // The user types on B: the assisting admin on C sees it, live only.
    on_b.handle(frame(
        serde_json::json!({"type": "typing_indicator", "metadata": {"typing": "true"}}),
    ));
    let typing = until(&mut on_c, "typing_indicator", false).await;
    let typing = typing.last().unwrap();
    assert_eq!(typing["sender"], "user");
    assert!(typing.get("seq").is_none() || typing["seq"].is_null());
    // Released by REST on C, relayed to A.
    r.engines[2].release(&id, &admin("adm")).await.unwrap();
    let left = until(&mut on_b, "admin_leave", false).await;
    assert_eq!(left.last().unwrap()["metadata"]["reason"], "release");
}

#[tokio::test]
async fn a_gap_in_the_log_sends_relayed_clients_to_resume() {
    let r = replicas(&["a", "b"]);
    r.llm.push(Script::reply(["ok"]));
    let (on_a, mut on_b) = two_devices(&r.engines).await;
    say(&on_b, "hi");
    let frames = until(&mut on_b, "ai_response", true).await;
    let seq = frames.last().unwrap()["seq"].as_u64().unwrap();
    let missing = LogFrame {
        seq: seq + 5,
        token: u64::MAX,
        body: bytes::Bytes::from_static(br#"{"type":"notification"}"#),
    };
    r.hub.append(on_a.session_id(), missing).await.unwrap();
    let (_, reason) = closed(&mut on_b).await;
    assert_eq!(
        reason,
        CloseReason::SlowConsumer,
        "resume: frames are missing"
    );
}

#[tokio::test]
async fn connection_slots_are_counted_for_the_deployment() {
    let r = replicas(&["a", "b"]);
    let u = chatbox_core::UserId::parse("u1").unwrap();
    let one = r.engines[0].connection_slot(&u, 2).await.unwrap();
    let two = r.engines[1].connection_slot(&u, 2).await.unwrap();
    assert!(one.is_some() && two.is_some());
    assert!(
        r.engines[1].connection_slot(&u, 2).await.unwrap().is_none(),
        "two slots in all, whichever replica asks"
    );
    drop(one);
    let mut freed = None;
    for _ in 0..100 {
        freed = r.engines[1].connection_slot(&u, 2).await.unwrap();
        if freed.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(freed.is_some(), "a dropped slot is free again");
    // One replica: nothing to share, the edge counts.
    let single = crate::harness::world();
    for _ in 0..3 {
        assert!(
            single
                .engine
                .connection_slot(&u, 1)
                .await
                .unwrap()
                .is_some()
        );
    }
}

#[tokio::test]
async fn a_proxy_whose_owner_is_gone_sends_its_clients_to_reconnect() {
    let r = replicas(&["a", "b"]);
    let (on_a, mut on_b) = two_devices(&r.engines).await;
    // The owner's task ends (its replica shuts down): its proxies hear `Gone`.
    r.engines[0].shutdown(Duration::from_secs(5)).await;
    let (_, reason) = closed(&mut on_b).await;
    assert_eq!(reason, CloseReason::Evicted);
    // The next connect on B owns the session: the lease was released.
    let mut again = connect(&r.engines[1], user("u1"), join(&on_a, false)).await;
    assert_eq!(next(&mut again).await["type"], "connection_status");
    say(&again, "still here");
    r.llm.push(Script::reply(["yes"]));
    let frames = until(&mut again, "ai_response", true).await;
    assert!(frames.iter().any(|f| f["content"] == "still here"));
}

#[tokio::test]
async fn a_help_request_on_another_replica_notifies_staff_once() {
    let staff = Arc::new(chatbox_core::testing::RecordingNotifier::new("smtp"));
    let notifier: Arc<dyn chatbox_core::Notifier> = staff.clone();
    let r = replicas_with(&["a", "b"], std::slice::from_ref(&notifier));
    let (_on_a, mut on_b) = two_devices(&r.engines).await;
    on_b.handle(frame(
        serde_json::json!({"type": "help_request", "content": "a human, please"}),
    ));
    // Told which channels were used, then what became of them.
    until(&mut on_b, "notification", false).await;
    let outcome = until(&mut on_b, "notification", false).await;
    let outcome = outcome.last().unwrap();
    assert_eq!(
        outcome["metadata"]["channels"], "smtp:delivered",
        "{outcome}"
    );
    assert_eq!(staff.sent().len(), 1, "sent once, by the owner");
}
