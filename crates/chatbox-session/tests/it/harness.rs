//! Test harness: an engine over MemoryStore, ScriptedLlm and (for files) MemoryBlobStore, and
//! frame readers.

use std::sync::Arc;
use std::time::Duration;

use chatbox_core::ports::llm::{Chunk, LlmError, Usage};
use chatbox_core::protocol::ClientFrame;
use chatbox_core::testing::{
    FaultyStore, MemoryBlobStore, MemoryStore, RecordingNotifier, Script, ScriptedLlm,
};
use chatbox_core::{Identity, UserId};
use chatbox_session::{
    CloseReason, ConnectRequest, Connection, Engine, EngineConfig, EngineDeps, Outbound,
};
use chrono::Utc;
use futures::channel::mpsc::UnboundedSender;
use serde_json::Value;

/// Guards against a hung test; never a timing assertion.
const RECV_GUARD: Duration = Duration::from_secs(10);

pub struct World {
    pub engine: Engine,
    /// What the engine stored (read it directly; it sits under `faults`).
    pub store: Arc<MemoryStore>,
    /// The engine's store: `store` behind a fault injector (no faults unless a test plans them).
    pub faults: Arc<FaultyStore>,
    pub llm: Arc<ScriptedLlm>,
    pub llm2: Arc<ScriptedLlm>,
    pub notifier: Arc<RecordingNotifier>,
    /// Uploaded files (the engine sees them only in a `world_with_files`).
    pub blobs: Arc<MemoryBlobStore>,
    /// The transcriber (the engine has it only in a `world_with_files(_, true)`).
    pub whisper: Arc<ScriptedLlm>,
}

pub fn world() -> World {
    world_with(EngineConfig::default())
}

pub fn world_with(config: EngineConfig) -> World {
    build_world(config, false, false)
}

/// A world whose engine has the blob store, and the transcriber when `transcriber` is true.
pub fn world_with_files(config: EngineConfig, transcriber: bool) -> World {
    build_world(config, true, transcriber)
}

fn build_world(config: EngineConfig, with_blobs: bool, with_transcriber: bool) -> World {
    let blobs = Arc::new(MemoryBlobStore::new());
    let whisper = Arc::new(ScriptedLlm::new("whisper", "Whisper"));
    let store = Arc::new(MemoryStore::new());
    let faults = Arc::new(FaultyStore::new(store.clone()));
    let llm = Arc::new(ScriptedLlm::new("gpt", "GPT"));
    let llm2 = Arc::new(ScriptedLlm::new("claude", "Claude"));
    let notifier = Arc::new(RecordingNotifier::new("email"));
    let deps = EngineDeps {
        store: faults.clone(),
        providers: vec![llm.clone(), llm2.clone()],
        notifiers: vec![notifier.clone()],
        admin_panel_url: Some("https://admin.example/sessions".into()),
        blobs: with_blobs.then(|| blobs.clone() as Arc<dyn chatbox_core::BlobStore>),
        transcriber: with_transcriber
            .then(|| whisper.clone() as Arc<dyn chatbox_core::LlmProvider>),
        broker: None,
    };
    World {
        engine: Engine::new(deps, config),
        store,
        faults,
        llm,
        llm2,
        notifier,
        blobs,
        whisper,
    }
}

pub fn user(id: &str) -> Identity {
    Identity::new(UserId::parse(id).unwrap(), None, vec![])
}

pub fn admin(id: &str) -> Identity {
    Identity::new(
        UserId::parse(id).unwrap(),
        Some("Ada".into()),
        vec!["admin".into()],
    )
}

pub async fn connect(world: &World, who: Identity, req: ConnectRequest) -> Connection {
    world.engine.connect(who, req).await.unwrap().connection
}

pub async fn next(conn: &mut Connection) -> Value {
    match tokio::time::timeout(RECV_GUARD, conn.recv())
        .await
        .expect("a frame in time")
    {
        Outbound::Frame(f) => serde_json::from_str(&f).unwrap(),
        Outbound::Close(reason) => panic!("connection closed: {reason:?}"),
    }
}

/// The close that ends `conn`, after any frames still queued (returned too).
pub async fn closed(conn: &mut Connection) -> (Vec<Value>, CloseReason) {
    let mut frames = Vec::new();
    loop {
        match tokio::time::timeout(RECV_GUARD, conn.recv())
            .await
            .expect("a frame or a close in time")
        {
            Outbound::Frame(f) => frames.push(serde_json::from_str(&f).unwrap()),
            Outbound::Close(reason) => return (frames, reason),
        }
    }
}

/// Waits until the engine has exactly `n` live sessions.
pub async fn live_sessions(world: &World, n: usize) {
    let mut live = world.engine.watch_live_sessions();
    tokio::time::timeout(RECV_GUARD * 6, live.wait_for(|k| *k == n))
        .await
        .expect("the live session count in time")
        .expect("the engine is alive");
}

/// Usage reported by paced replies: 3 tokens in, 2 out.
pub fn usage() -> Usage {
    Usage {
        input_tokens: 3,
        output_tokens: 2,
        estimated: false,
    }
}

/// Every input sent so far on `c` has been handled by the session task (queued or run): a ping
/// goes through the same mailbox, so its pong comes after them.
pub async fn settled(c: &mut Connection) {
    c.handle(frame(serde_json::json!({"type": "ping"})));
    assert_eq!(next(c).await["type"], "pong");
}

/// Reads frames until one of `kind` arrives; returns all read, in order.
pub async fn until(conn: &mut Connection, kind: &str, done_only: bool) -> Vec<Value> {
    let mut out = Vec::new();
    loop {
        let f = next(conn).await;
        let hit = f["type"] == kind && (!done_only || f["metadata"]["done"] == "true");
        out.push(f);
        if hit {
            return out;
        }
    }
}

pub fn frame(json: Value) -> ClientFrame {
    ClientFrame::parse(json.to_string().as_bytes(), Utc::now()).unwrap()
}

pub fn say(conn: &Connection, text: &str) {
    conn.handle(frame(
        serde_json::json!({"type": "user_message", "content": text}),
    ));
}

pub fn envelope_types(frames: &[Value]) -> Vec<String> {
    frames
        .iter()
        .map(|f| f["type"].as_str().unwrap_or("").to_owned())
        .collect()
}

pub fn text_of(frames: &[Value]) -> String {
    frames
        .iter()
        .filter(|f| f["type"] == "ai_response" && f["metadata"]["done"] == "false")
        .map(|f| f["content"].as_str().unwrap_or(""))
        .collect()
}

pub fn seqs(frames: &[Value]) -> Vec<u64> {
    frames.iter().filter_map(|f| f["seq"].as_u64()).collect()
}

/// A connection of `u1` whose message `text` is being answered by a reply paced by the returned
/// sender (its `loading` frame already read).
pub async fn paced_reply(
    world: &World,
    text: &str,
) -> (UnboundedSender<Result<Chunk, LlmError>>, Connection) {
    let (tx, script) = Script::channel();
    world.llm.push(script);
    let mut c = connect(world, user("u1"), ConnectRequest::default()).await;
    next(&mut c).await;
    say(&c, text);
    until(&mut c, "loading", false).await;
    (tx, c)
}
