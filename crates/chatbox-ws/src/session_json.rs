//! The REST JSON shapes of sessions and messages (CONTRACT §2): snake_case, RFC 3339 UTC times,
//! `id` and `session_id` both present, `end_time` absent while active, `share_token` only for
//! the owner.

use chatbox_core::{Message, Session};
use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{Map, Value, json};

/// RFC 3339 UTC with milliseconds.
pub fn time(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// A session row. `for_owner` includes the share token.
pub fn session(s: &Session, now: DateTime<Utc>, for_owner: bool) -> Value {
    let mut m = Map::new();
    m.insert("id".into(), json!(s.id));
    m.insert("session_id".into(), json!(s.id));
    m.insert("user_id".into(), json!(s.user_id));
    m.insert("name".into(), json!(s.name));
    m.insert(
        "model_id".into(),
        json!(s.model_id.clone().unwrap_or_default()),
    );
    m.insert("start_time".into(), json!(time(s.start_time)));
    if let Some(end) = s.end_time {
        m.insert("end_time".into(), json!(time(end)));
    }
    m.insert("is_active".into(), json!(s.is_active()));
    m.insert("duration".into(), json!(s.duration_secs(now)));
    m.insert("last_activity".into(), json!(time(s.last_activity)));
    m.insert("message_count".into(), json!(s.message_count));
    m.insert("total_tokens".into(), json!(s.total_tokens));
    m.insert("avg_response_time".into(), json!(s.avg_response_ms));
    m.insert("max_response_time".into(), json!(s.max_response_ms));
    m.insert("admin_assisted".into(), json!(s.admin_assisted));
    if let Some(name) = &s.assisting_admin_name {
        m.insert("assisting_admin_name".into(), json!(name));
    }
    if let Some(id) = &s.assisting_admin_id {
        m.insert("assisting_admin_id".into(), json!(id));
    }
    m.insert("help_requested".into(), json!(s.help_requested));
    if let Some(at) = s.help_requested_at {
        m.insert("help_requested_at".into(), json!(time(at)));
    }
    if for_owner && let Some(t) = &s.share_token {
        m.insert("share_token".into(), json!(t));
    }
    Value::Object(m)
}

/// A message.
pub fn message(msg: &Message) -> Value {
    let mut m = Map::new();
    m.insert("content".into(), json!(msg.content));
    m.insert("timestamp".into(), json!(time(msg.timestamp)));
    m.insert("sender".into(), json!(msg.sender));
    if let Some(f) = &msg.file_id {
        m.insert("file_id".into(), json!(f));
    }
    if let Some(u) = &msg.file_url {
        m.insert("file_url".into(), json!(u));
    }
    if !msg.metadata.is_empty() {
        m.insert("metadata".into(), json!(msg.metadata));
    }
    Value::Object(m)
}
