//! Test server and clients: a served router, a WebSocket client, raw HTTP, and JWT minting.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use chatbox_core::testing::{MemoryBlobStore, MemoryStore, ScriptedLlm};
use chatbox_session::{Engine, EngineConfig, EngineDeps};
pub use chatbox_ws::testing::{Ws, reply_text};
use chatbox_ws::{Edge, EdgeConfig, router, testing};
use serde_json::Value;
use tokio::net::TcpListener;

pub const SECRET: &str = "an-integration-secret-of-more-than-32-bytes";

pub struct Server {
    pub addr: SocketAddr,
    pub prefix: String,
    pub engine: Engine,
    pub llm: Arc<ScriptedLlm>,
    pub blobs: Arc<MemoryBlobStore>,
}

pub async fn serve(edge_config: EdgeConfig) -> Server {
    serve_engine(edge_config, EngineConfig::default()).await
}

/// [`serve`] with engine settings of the test's choosing.
pub async fn serve_engine(edge_config: EdgeConfig, engine_config: EngineConfig) -> Server {
    serve_full("/chatbox", edge_config, engine_config, |api| {
        Router::new().nest("/chatbox", api)
    })
    .await
}

/// Serves the API the way a host app would: `mount` nests it into the host's router.
pub async fn serve_at(
    prefix: &str,
    edge_config: EdgeConfig,
    mount: impl FnOnce(Router) -> Router,
) -> Server {
    serve_full(prefix, edge_config, EngineConfig::default(), mount).await
}

/// [`serve`] with the edge adjusted by `hook` (e.g. `Edge::with_metrics`).
pub async fn serve_hooked(edge_config: EdgeConfig, hook: impl FnOnce(Edge) -> Edge) -> Server {
    serve_inner(
        "/chatbox",
        edge_config,
        EngineConfig::default(),
        |api| Router::new().nest("/chatbox", api),
        hook,
    )
    .await
}

async fn serve_full(
    prefix: &str,
    edge_config: EdgeConfig,
    engine_config: EngineConfig,
    mount: impl FnOnce(Router) -> Router,
) -> Server {
    serve_inner(prefix, edge_config, engine_config, mount, |e| e).await
}

async fn serve_inner(
    prefix: &str,
    edge_config: EdgeConfig,
    engine_config: EngineConfig,
    mount: impl FnOnce(Router) -> Router,
    hook: impl FnOnce(Edge) -> Edge,
) -> Server {
    let store = Arc::new(MemoryStore::new());
    let llm = Arc::new(ScriptedLlm::new("gpt", "GPT"));
    let blobs = Arc::new(MemoryBlobStore::new());
    let engine = Engine::new(
        EngineDeps {
            store: store.clone(),
            providers: vec![llm.clone()],
            notifiers: vec![],
            admin_panel_url: None,
            blobs: Some(blobs.clone()),
            transcriber: None,
            broker: None,
        },
        engine_config,
    );
    let config = EdgeConfig {
        jwt_secret: SECRET.into(),
        ..edge_config
    };
    let edge = hook(Edge::new(engine.clone(), config).unwrap());
    let app = mount(router(edge));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let service = app.into_make_service_with_connect_info::<SocketAddr>();
    tokio::spawn(async move { axum::serve(listener, service).await });
    Server {
        addr,
        prefix: prefix.into(),
        engine,
        llm,
        blobs,
    }
}

pub fn token(user: &str, roles: &[&str]) -> String {
    testing::token(SECRET, user, roles)
}

pub async fn ws(server: &Server, path_and_query: &str, bearer: &str) -> Ws {
    testing::connect(
        server.addr,
        &format!("{}{path_and_query}", server.prefix),
        bearer,
    )
    .await
    .unwrap()
}

pub async fn json(ws: &mut Ws) -> Value {
    testing::json(ws).await.unwrap()
}

pub async fn closed(ws: &mut Ws) -> u16 {
    testing::closed(ws).await.unwrap()
}

pub async fn until_done(ws: &mut Ws) -> Vec<Value> {
    testing::until_done(ws).await.unwrap()
}

pub async fn send(ws: &mut Ws, v: Value) {
    testing::send(ws, &v).await.unwrap();
}

pub async fn http(
    server: &Server,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
) -> (u16, String) {
    testing::http(
        server.addr,
        method,
        &format!("{}{path}", server.prefix),
        headers,
    )
    .await
    .unwrap()
}

pub async fn api(server: &Server, method: &str, path: &str, bearer: &str) -> (u16, Value) {
    testing::api(
        server.addr,
        method,
        &format!("{}{path}", server.prefix),
        bearer,
    )
    .await
    .unwrap()
}

/// The status of a hand-made upgrade request to `P{path}`.
pub async fn upgrade(server: &Server, path: &str, headers: &[(&str, &str)]) -> u16 {
    testing::upgrade_status(server.addr, &format!("{}{path}", server.prefix), headers)
        .await
        .unwrap()
}

/// A raw HTTP/1.1 request with a body; returns status, headers (lower-cased names) and body.
pub async fn request(
    server: &Server,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> (u16, Vec<(String, String)>, Vec<u8>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(server.addr).await.unwrap();
    let mut head = format!(
        "{method} {}{path} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\nContent-Length: {}\r\n",
        server.prefix,
        server.addr,
        body.len()
    );
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes()).await.unwrap();
    // The server may answer (413, 415) before reading the whole body; that is fine.
    let _ = stream.write_all(body).await;
    let mut raw = Vec::new();
    let _ = tokio::time::timeout(
        std::time::Duration::from_secs(30),
        stream.read_to_end(&mut raw),
    )
    .await
    .expect("the server answers");
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or(raw.len());
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let status = head.get(9..12).and_then(|s| s.parse().ok()).unwrap_or(0);
    let headers = head
        .lines()
        .skip(1)
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    let body = raw.get(split + 4..).unwrap_or_default().to_vec();
    (status, headers, body)
}

/// One multipart body with `parts` of (field name, file name, bytes).
pub fn multipart(parts: &[(&str, Option<&str>, &[u8])]) -> (String, Vec<u8>) {
    let boundary = "chatbox-test-boundary-7d93";
    let mut body = Vec::new();
    for (name, file, bytes) in parts {
        body.extend_from_slice(format!("--{boundary}\r\n").as_bytes());
        match file {
            Some(f) => body.extend_from_slice(
                format!(
                    "Content-Disposition: form-data; name=\"{name}\"; filename=\"{f}\"\r\nContent-Type: application/octet-stream\r\n\r\n"
                )
                .as_bytes(),
            ),
            None => body.extend_from_slice(
                format!("Content-Disposition: form-data; name=\"{name}\"\r\n\r\n").as_bytes(),
            ),
        }
        body.extend_from_slice(bytes);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={boundary}"), body)
}
