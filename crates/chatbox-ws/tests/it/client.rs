//! Test server and clients: a served router, a WebSocket client, raw HTTP, and JWT minting.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use chatbox_core::testing::{MemoryStore, ScriptedLlm};
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

async fn serve_full(
    prefix: &str,
    edge_config: EdgeConfig,
    engine_config: EngineConfig,
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
        engine_config,
    );
    let config = EdgeConfig {
        jwt_secret: SECRET.into(),
        ..edge_config
    };
    let edge = Edge::new(engine.clone(), config).unwrap();
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
