//! Embedding chatbox in a host application: the host's own axum app, with its own routes and its
//! own login, nests chatbox's router under `/support` and issues the JWT chatbox verifies.
//!
//! ```text
//! cargo run --example embed
//! open http://127.0.0.1:3000/            (the host's page; "Log in as ann" opens the chat)
//! ```
//!
//! The host signs tokens with the secret it gives chatbox (`JWT_SECRET`); chatbox never sees
//! the host's users otherwise. This example runs chatbox in dev mode (embedded store, demo
//! model); a real host passes its production settings the same way.

use std::net::SocketAddr;

use axum::Router;
use axum::extract::Query;
use axum::response::{Html, Redirect};
use axum::routing::get;
use chatbox_server::config::Args;
use chatbox_server::env::MapEnv;
use chatbox_server::{App, load};
use jsonwebtoken::{EncodingKey, Header, encode};
use serde::{Deserialize, Serialize};

/// The secret the host and chatbox share (from the host's secret store in real life).
const SECRET: &str = "host-and-chatbox-share-this-secret-0123456789";

#[derive(Serialize)]
struct Claims<'a> {
    user_id: &'a str,
    name: &'a str,
    roles: Vec<&'a str>,
    exp: i64,
}

#[derive(Deserialize)]
struct Login {
    user: String,
}

/// The host's own login: here anyone may be `ann`; a real host checks its session first.
async fn login(Query(who): Query<Login>) -> Redirect {
    let user: String = who
        .user
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .take(32)
        .collect();
    let claims = Claims {
        user_id: &user,
        name: &user,
        roles: vec!["user"],
        exp: chrono::Utc::now().timestamp() + 3600,
    };
    match encode(
        &Header::default(),
        &claims,
        &EncodingKey::from_secret(SECRET.as_bytes()),
    ) {
        // The chat page reads the token once from the query, keeps it in memory and strips it
        // from the address bar.
        Ok(token) => Redirect::to(&format!("/support/chat.html?token={token}")),
        Err(_) => Redirect::to("/"),
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt().init();
    let env = MapEnv::from_pairs([
        ("JWT_SECRET", SECRET),
        ("CHATBOX_PATH_PREFIX", "/support"),
        ("CHATBOX_DATA_DIR", "./embed-example-data"),
    ]);
    let args = Args {
        dev: true,
        ..Args::default()
    };
    let settings = load(&args, &env)?;
    let chatbox = App::build(&settings).await?;

    let host = Router::new()
        .route(
            "/",
            get(|| async {
                Html("<h1>Host app</h1><p><a href=\"/login?user=ann\">Log in as ann and chat with support</a></p>")
            }),
        )
        .route("/login", get(login))
        .merge(chatbox.router());

    let listener = tokio::net::TcpListener::bind("127.0.0.1:3000").await?;
    tracing::info!("host app on http://127.0.0.1:3000/ with chatbox under /support");
    let engine = chatbox.engine().clone();
    axum::serve(
        listener,
        host.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(async move {
        let _ = tokio::signal::ctrl_c().await;
        // Finish replies in flight and close sockets with 1001 before the host exits.
        engine.shutdown(std::time::Duration::from_secs(10)).await;
    })
    .await?;
    Ok(())
}
