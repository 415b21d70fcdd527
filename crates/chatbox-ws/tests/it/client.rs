//! Test server and clients: a served router, a WebSocket client, raw HTTP, and JWT minting.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::http::Request;
use chatbox_core::testing::{MemoryStore, ScriptedLlm};
use chatbox_session::{Engine, EngineConfig, EngineDeps};
use chatbox_ws::{Edge, EdgeConfig, router};
use fastwebsockets::{Frame, OpCode, Payload, WebSocket};
use hyper::upgrade::Upgraded;
use hyper_util::rt::TokioIo;
use jsonwebtoken::{EncodingKey, Header, encode};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

pub const SECRET: &str = "an-integration-secret-of-more-than-32-bytes";
const GUARD: Duration = Duration::from_secs(10);

pub struct Server {
    pub addr: SocketAddr,
    pub prefix: String,
    pub engine: Engine,
    pub llm: Arc<ScriptedLlm>,
}

pub async fn serve(edge_config: EdgeConfig) -> Server {
    serve_at("/chatbox", edge_config, |api| {
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
    let store = Arc::new(MemoryStore::new());
    let llm = Arc::new(ScriptedLlm::new("gpt", "GPT"));
    let engine = Engine::new(
        EngineDeps {
            store: store.clone(),
            providers: vec![llm.clone()],
            notifiers: vec![],
            admin_panel_url: None,
        },
        EngineConfig::default(),
    );
    let config = EdgeConfig {
        jwt_secret: SECRET.into(),
        ..edge_config
    };
    let edge = Edge::new(engine.clone(), config).unwrap();
    let app = mount(router(edge));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    Server {
        addr,
        prefix: prefix.into(),
        engine,
        llm,
    }
}

pub fn token(user: &str, roles: &[&str]) -> String {
    let exp = chrono::Utc::now().timestamp() + 3600;
    let claims = json!({"user_id": user, "roles": roles, "name": user, "exp": exp});
    encode(
        &Header::default(),
        &claims,
        &EncodingKey::from_secret(SECRET.as_bytes()),
    )
    .unwrap()
}

struct SpawnExecutor;

impl<F> hyper::rt::Executor<F> for SpawnExecutor
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    fn execute(&self, fut: F) {
        tokio::spawn(fut);
    }
}

pub type Ws = WebSocket<TokioIo<Upgraded>>;

/// Opens a WebSocket at `P{path_and_query}` with a bearer token.
pub async fn ws(server: &Server, path_and_query: &str, bearer: &str) -> Ws {
    let stream = TcpStream::connect(server.addr).await.unwrap();
    let req = Request::get(format!(
        "http://{}{}{}",
        server.addr, server.prefix, path_and_query
    ))
    .header("Host", server.addr.to_string())
    .header("Upgrade", "websocket")
    .header("Connection", "upgrade")
    .header(
        "Sec-WebSocket-Key",
        fastwebsockets::handshake::generate_key(),
    )
    .header("Sec-WebSocket-Version", "13")
    .header("Authorization", format!("Bearer {bearer}"))
    .body(Body::empty())
    .unwrap();
    let (ws, _) = fastwebsockets::handshake::client(&SpawnExecutor, req, stream)
        .await
        .unwrap();
    ws
}

/// What the server sent next: a JSON text frame, or the close code.
#[derive(Debug)]
pub enum Got {
    Json(Value),
    Closed(u16),
}

pub async fn read(ws: &mut Ws) -> Got {
    loop {
        let frame = tokio::time::timeout(GUARD, ws.read_frame())
            .await
            .expect("a frame in time")
            .unwrap();
        match frame.opcode {
            OpCode::Text => return Got::Json(serde_json::from_slice(&frame.payload).unwrap()),
            OpCode::Close => {
                let code = if frame.payload.len() >= 2 {
                    u16::from_be_bytes([frame.payload[0], frame.payload[1]])
                } else {
                    1005
                };
                return Got::Closed(code);
            }
            _ => continue,
        }
    }
}

pub async fn json(ws: &mut Ws) -> Value {
    match read(ws).await {
        Got::Json(v) => v,
        Got::Closed(code) => panic!("closed with {code}"),
    }
}

pub async fn closed(ws: &mut Ws) -> u16 {
    loop {
        match read(ws).await {
            Got::Closed(code) => return code,
            Got::Json(_) => continue,
        }
    }
}

/// Reads until the done frame of a reply; returns every frame read.
pub async fn until_done(ws: &mut Ws) -> Vec<Value> {
    let mut out = Vec::new();
    loop {
        let f = json(ws).await;
        let done = f["type"] == "ai_response" && f["metadata"]["done"] == "true";
        out.push(f);
        if done {
            return out;
        }
    }
}

pub async fn send(ws: &mut Ws, v: Value) {
    let text = v.to_string();
    ws.write_frame(Frame::text(Payload::Owned(text.into_bytes())))
        .await
        .unwrap();
}

pub fn reply_text(frames: &[Value]) -> String {
    frames
        .iter()
        .filter(|f| f["type"] == "ai_response" && f["metadata"]["done"] == "false")
        .map(|f| f["content"].as_str().unwrap_or_default())
        .collect()
}

/// A raw HTTP/1.1 request; returns the status and body.
pub async fn http(
    server: &Server,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
) -> (u16, String) {
    let mut stream = TcpStream::connect(server.addr).await.unwrap();
    let mut req = format!(
        "{method} {}{path} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\nContent-Length: 0\r\n",
        server.prefix, server.addr
    );
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    stream.write_all(req.as_bytes()).await.unwrap();
    let mut raw = Vec::new();
    let read = tokio::time::timeout(GUARD, stream.read_to_end(&mut raw)).await;
    let raw = String::from_utf8_lossy(&raw).into_owned();
    // A 101 keeps the socket open: the status line is all we need then.
    if read.is_err() && !raw.starts_with("HTTP/1.1 101") {
        panic!("no complete response: {raw}");
    }
    let status = raw.get(9..12).and_then(|s| s.parse().ok()).unwrap_or(0);
    let body = raw
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    (status, body)
}

/// A REST call with a bearer token, parsing the JSON body.
pub async fn api(server: &Server, method: &str, path: &str, bearer: &str) -> (u16, Value) {
    let auth = format!("Bearer {bearer}");
    let (status, body) = http(server, method, path, &[("Authorization", &auth)]).await;
    (status, serde_json::from_str(&body).unwrap_or(Value::Null))
}

/// Upgrade headers for raw requests.
pub fn upgrade_headers() -> Vec<(&'static str, String)> {
    vec![
        ("Upgrade", "websocket".into()),
        ("Connection", "Upgrade".into()),
        (
            "Sec-WebSocket-Key",
            fastwebsockets::handshake::generate_key(),
        ),
        ("Sec-WebSocket-Version", "13".into()),
    ]
}
