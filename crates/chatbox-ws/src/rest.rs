//! REST handlers: health, readiness, and a user's own sessions (list, read, end, share) plus the
//! public shared view. A session that is not the caller's is reported as not found, never as
//! forbidden, so its existence is not revealed.

use axum::Json;
use std::net::SocketAddr;

use axum::extract::{ConnectInfo, FromRequestParts, Path, Request, State};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use chatbox_core::ports::llm::ProviderHealth;
use chatbox_core::{Identity, SessionId, ShareToken};
use chrono::Utc;
use rand::Rng;
use rand::distr::Alphanumeric;
use serde_json::{Map, Value, json};

use crate::api_error::ApiError;
use crate::auth::bearer;
use crate::router::Edge;
use crate::session_json;

/// Length of generated share tokens.
const SHARE_TOKEN_LEN: usize = 32;

/// The authenticated caller of a REST endpoint (from `Authorization: Bearer`).
#[derive(Debug, Clone)]
pub struct Caller(pub Identity);

impl FromRequestParts<Edge> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, edge: &Edge) -> Result<Self, Self::Rejection> {
        let token = bearer(&parts.headers).ok_or_else(ApiError::unauthorized)?;
        let verified = edge
            .verifier()
            .verify(token)
            .map_err(|_| ApiError::invalid_token())?;
        Ok(Caller(verified.identity))
    }
}

/// `GET healthz`.
pub async fn healthz() -> Json<Value> {
    Json(json!({"status": "healthy", "timestamp": session_json::time(Utc::now())}))
}

/// `GET readyz`: the store answers and at least one provider is ready.
pub async fn readyz(State(edge): State<Edge>) -> Response {
    let engine = edge.engine();
    let store = match engine.store().health().await {
        Ok(()) => json!({"status": "ready"}),
        Err(e) => {
            tracing::warn!(error = %e, "readiness: store not ready");
            json!({"status": "not ready", "reason": "Store connectivity check failed"})
        }
    };
    // Provider health is reported, never a reason to leave the Service: a vendor outage would
    // take every pod out at once, and users would lose even their history.
    let mut providers = Map::new();
    let mut any_ready = false;
    for p in engine.providers() {
        let state = match p.health().await {
            ProviderHealth::Ready => {
                any_ready = true;
                metrics::gauge!("chatbox_llm_provider_up", "provider_id" => p.id().to_owned())
                    .set(1.0);
                json!({"status": "ready"})
            }
            ProviderHealth::NotReady(reason) => {
                metrics::gauge!("chatbox_llm_provider_up", "provider_id" => p.id().to_owned())
                    .set(0.0);
                json!({"status": "not ready", "reason": reason})
            }
        };
        providers.insert(p.id().to_owned(), state);
    }
    let configured = !providers.is_empty();
    let llm = if any_ready {
        json!({"status": "ready", "providers_count": providers.len(), "providers": providers})
    } else if !configured {
        json!({"status": "not ready", "reason": "No LLM providers configured"})
    } else {
        json!({"status": "degraded", "reason": "No LLM provider is answering its health check", "providers": providers})
    };
    let ready = store["status"] == "ready" && configured;
    let body = json!({
        "status": if ready { "ready" } else { "not ready" },
        "timestamp": session_json::time(Utc::now()),
        "checks": {"store": store, "llm": llm},
    });
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, Json(body)).into_response()
}

/// `GET sessions`: the caller's sessions, newest activity first.
pub async fn list_sessions(
    State(edge): State<Edge>,
    Caller(who): Caller,
) -> Result<Json<Value>, ApiError> {
    let limit = edge.config().user_sessions_limit;
    let rows = edge
        .engine()
        .store()
        .user_sessions(&who.user_id, limit)
        .await?;
    let now = Utc::now();
    let sessions: Vec<Value> = rows
        .iter()
        .map(|s| session_json::session(s, now, true))
        .collect();
    let count = sessions.len();
    Ok(Json(json!({
        "sessions": sessions,
        "user_id": who.user_id,
        "count": count,
        "limit": limit,
        "truncated": count as u64 >= u64::from(limit),
    })))
}

fn parse_id(raw: &str) -> Result<SessionId, ApiError> {
    SessionId::parse(raw).map_err(|_| ApiError::not_found("Session not found"))
}

/// Loads a session the caller may read (owner, or admin when `admin_ok`).
async fn readable(
    edge: &Edge,
    who: &Identity,
    raw: &str,
    admin_ok: bool,
) -> Result<chatbox_core::Session, ApiError> {
    let id = parse_id(raw)?;
    match edge.engine().store().get_session(&id).await? {
        Some(s) if s.user_id == who.user_id || (admin_ok && who.is_admin()) => Ok(s),
        _ => Err(ApiError::not_found("Session not found")),
    }
}

/// `GET sessions/{id}`: the session with its messages (owner, or admin).
pub async fn get_session(
    State(edge): State<Edge>,
    Caller(who): Caller,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let s = readable(&edge, &who, &id, true).await?;
    let messages = edge.engine().store().messages(&s.id, None).await?;
    let mut body = session_json::session(&s, Utc::now(), s.user_id == who.user_id);
    body["messages"] = messages.iter().map(session_json::message).collect();
    Ok(Json(body))
}

/// `POST sessions/{id}/end` (owner): idempotent; the first end time stands.
pub async fn end_session(
    State(edge): State<Edge>,
    Caller(who): Caller,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let s = readable(&edge, &who, &id, false).await?;
    let outcome = edge.engine().end_session(&s.id).await?;
    Ok(Json(
        json!({"status": "ended", "end_time": session_json::time(outcome.end_time())}),
    ))
}

/// `POST sessions/{id}/share` (owner): the session's stable share token.
pub async fn share_session(
    State(edge): State<Edge>,
    Caller(who): Caller,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let s = readable(&edge, &who, &id, false).await?;
    let raw: String = rand::rng()
        .sample_iter(Alphanumeric)
        .take(SHARE_TOKEN_LEN)
        .map(char::from)
        .collect();
    let candidate = ShareToken::parse(&raw).map_err(|_| ApiError::internal())?;
    let token = edge.engine().share_session(&s.id, candidate).await?;
    Ok(Json(json!({"share_token": token})))
}

/// `DELETE sessions/{id}/share` (owner): revokes the share token.
pub async fn unshare_session(
    State(edge): State<Edge>,
    Caller(who): Caller,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let s = readable(&edge, &who, &id, false).await?;
    edge.engine().unshare_session(&s.id).await?;
    Ok(Json(json!({"status": "revoked"})))
}

/// `GET shared/{token}` (public, rate-limited per client address — behind trusted proxies, the
/// address they forward): a shared session, read-only.
pub async fn shared(
    State(edge): State<Edge>,
    Path(token): Path<String>,
    request: Request,
) -> Result<Json<Value>, ApiError> {
    let peer = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip());
    let client =
        crate::client_addr::client_ip(peer, request.headers(), &edge.config().trusted_proxies);
    edge.check_public_rate(client)?;
    let not_found = || ApiError::not_found("Shared session not found");
    let token = ShareToken::parse(&token).map_err(|_| not_found())?;
    let store = edge.engine().store();
    let s = store
        .find_by_share_token(&token)
        .await?
        .ok_or_else(not_found)?;
    let messages = store.messages(&s.id, None).await?;
    Ok(Json(json!({
        "session_id": s.id,
        "name": s.name,
        "messages": messages.iter().map(session_json::message).collect::<Vec<_>>(),
    })))
}
