//! The admin REST API (CONTRACT §2, §2.1, §2.2, §4): session lists with filters, sorts and
//! paging, one user's sessions, metrics, a session's full history, and takeover / release.
//!
//! Every route checks the caller before it looks anything up: no token → 401, a user's token →
//! 403, then the per-admin rate limit (`admin_rate_limit` per `admin_rate_window_secs`) → 429.
//! A bad query parameter is a 400 naming the parameter and the allowed values.

use axum::Json;
use axum::extract::{FromRequestParts, Path, Query, State};
use axum::http::request::Parts;
use chatbox_core::query::{SessionQuery, TimeWindow};
use chatbox_core::{Identity, SessionId, UserId};
use chrono::Utc;
use serde_json::{Value, json};

use crate::api_error::ApiError;
use crate::rest::Caller;
use crate::router::Edge;
use crate::session_json;

/// An authenticated admin within their rate limit.
#[derive(Debug, Clone)]
pub struct AdminCaller(pub Identity);

impl FromRequestParts<Edge> for AdminCaller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, edge: &Edge) -> Result<Self, Self::Rejection> {
        let Caller(who) = Caller::from_request_parts(parts, edge).await?;
        if !who.is_admin() {
            return Err(ApiError::forbidden());
        }
        edge.check_admin_rate(&who.user_id)?;
        Ok(AdminCaller(who))
    }
}

type Pairs = Query<Vec<(String, String)>>;

fn pairs(q: &Pairs) -> impl Iterator<Item = (&str, &str)> {
    q.0.iter().map(|(k, v)| (k.as_str(), v.as_str()))
}

fn session_id(raw: &str) -> Result<SessionId, ApiError> {
    SessionId::parse(raw).map_err(|_| ApiError::not_found("Session not found"))
}

async fn page(edge: &Edge, query: SessionQuery) -> Result<Json<Value>, ApiError> {
    let page = edge.engine().store().list_sessions(&query).await?;
    let now = Utc::now();
    let sessions: Vec<Value> = page
        .sessions
        .iter()
        .map(|s| session_json::session(s, now, false))
        .collect();
    Ok(Json(json!({
        "count": sessions.len(),
        "sessions": sessions,
        "total": page.total,
        "limit": query.limit.get(),
        "offset": query.offset,
    })))
}

/// `GET admin/sessions`: every session matching the filters, sorted and paged (CONTRACT §2.1).
pub async fn list_sessions(
    State(edge): State<Edge>,
    AdminCaller(_): AdminCaller,
    query: Pairs,
) -> Result<Json<Value>, ApiError> {
    let query = SessionQuery::from_pairs(pairs(&query))
        .map_err(|e| ApiError::bad_request(e.to_string()))?;
    page(&edge, query).await
}

/// `GET admin/users/{user_id}/sessions`: the same, for one user.
pub async fn user_sessions(
    State(edge): State<Edge>,
    AdminCaller(_): AdminCaller,
    Path(user): Path<String>,
    query: Pairs,
) -> Result<Json<Value>, ApiError> {
    let user = UserId::parse(&user).map_err(|_| {
        ApiError::bad_request("invalid user_id; allowed: a user id of at most 255 characters")
    })?;
    let mut query = SessionQuery::from_pairs(pairs(&query))
        .map_err(|e| ApiError::bad_request(e.to_string()))?;
    query.filter.user_id = Some(user);
    page(&edge, query).await
}

/// `GET admin/sessions/{id}`: one session with its whole history, takeover audit trail and help
/// requests with each channel's delivery state (the outbox).
pub async fn get_session(
    State(edge): State<Edge>,
    AdminCaller(_): AdminCaller,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let id = session_id(&id)?;
    let store = edge.engine().store();
    let s = store
        .get_session(&id)
        .await?
        .ok_or_else(|| ApiError::not_found("Session not found"))?;
    let messages = store.messages(&id, None).await?;
    let takeovers = store.takeover_events(&id).await?;
    let help_requests = store.help_requests(&id).await?;
    let mut body = session_json::session(&s, Utc::now(), false);
    body["messages"] = messages.iter().map(session_json::message).collect();
    body["takeovers"] = takeovers
        .iter()
        .map(|t| {
            json!({
                "kind": t.kind,
                "admin_id": t.admin_id,
                "admin_name": t.admin_name,
                "at": session_json::time(t.at),
                "reason": t.reason,
            })
        })
        .collect();
    body["help_requests"] = help_requests
        .iter()
        .map(|r| {
            json!({
                "id": r.id,
                "requested_at": session_json::time(r.requested_at()),
                "deliveries": r.deliveries.iter().map(|d| json!({
                    "channel": d.channel,
                    "state": d.state.as_str(),
                    "attempts": d.attempts,
                    "last_error": d.last_error,
                    "updated_at": session_json::time(d.updated_at),
                })).collect::<Vec<_>>(),
            })
        })
        .collect();
    Ok(Json(body))
}

/// `GET admin/metrics?start_time=&end_time=` (CONTRACT §2.2; default the last 24 hours).
pub async fn metrics(
    State(edge): State<Edge>,
    AdminCaller(_): AdminCaller,
    query: Pairs,
) -> Result<Json<Value>, ApiError> {
    let now = Utc::now();
    let window = TimeWindow::from_pairs(pairs(&query), now)
        .map_err(|e| ApiError::bad_request(e.to_string()))?;
    let m = edge.engine().store().metrics(window, now).await?;
    Ok(Json(json!({
        "total_sessions": m.total_sessions,
        "active_sessions": m.active_sessions,
        "ended_sessions": m.ended_sessions,
        "admin_assisted_count": m.admin_assisted_count,
        "help_requested_count": m.help_requested_count,
        "total_tokens": m.total_tokens,
        "avg_response_time": m.avg_response_time,
        "max_response_time": m.max_response_time,
        "avg_concurrent": m.avg_concurrent,
        "max_concurrent": m.max_concurrent,
        "time_range": {
            "start": session_json::time(window.start()),
            "end": session_json::time(window.end()),
        },
    })))
}

/// `POST admin/takeover/{id}`: the caller assists the session from now on (409 when another
/// admin does).
pub async fn takeover(
    State(edge): State<Edge>,
    AdminCaller(admin): AdminCaller,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let id = session_id(&id)?;
    let admin_id = admin.user_id.clone();
    edge.engine().takeover(&id, admin).await?;
    Ok(Json(json!({
        "message": "Session taken over",
        "session_id": id,
        "admin_id": admin_id,
    })))
}

/// `POST admin/release/{id}`: the assisting admin leaves; the AI answers again (403 for anyone
/// else).
pub async fn release(
    State(edge): State<Edge>,
    AdminCaller(admin): AdminCaller,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let id = session_id(&id)?;
    edge.engine().release(&id, &admin).await?;
    Ok(Json(json!({
        "message": "Session released",
        "session_id": id,
        "admin_id": admin.user_id,
    })))
}
