//! The BSON shape of a session document: the Go service's field names (CONTRACT §7 and the
//! reference inventory §4) plus the additive fields this service needs.
//!
//! Guarantees: documents are written with every Go field, in the Go types (strings, BSON
//! datetimes with millisecond precision, 64-bit integers); documents the Go service wrote (with
//! fields missing, `int32`/`double` numbers, empty strings for "none") read back without error.
//! Only a missing or mistyped `_id`, `uid` or `ts`, or an unreadable message, is
//! [`StoreError::Corrupt`].

use std::collections::BTreeMap;

use chatbox_core::session::{TakeoverEvent, TakeoverKind};
use chatbox_core::{FileId, Message, Sender, Session, SessionId, ShareToken, StoreError, UserId};
use chrono::{DateTime, Utc};
use mongodb::bson::{Bson, DateTime as BsonDateTime, Document, doc};

/// Session id (string).
pub const ID: &str = "_id";
/// Owner's user id.
pub const USER: &str = "uid";
/// Display name.
pub const NAME: &str = "nm";
/// Selected provider id (`""` = none).
pub const MODEL: &str = "modelId";
/// The messages array.
pub const MESSAGES: &str = "msgs";
/// Start time.
pub const START: &str = "ts";
/// End time (absent while active).
pub const END: &str = "endTs";
/// Duration in seconds (0 while active).
pub const DURATION: &str = "dur";
/// Admin-assisted flag.
pub const ADMIN_ASSISTED: &str = "adminAssisted";
/// Assisting admin's id.
pub const ADMIN_ID: &str = "assistingAdminId";
/// Assisting admin's name.
pub const ADMIN_NAME: &str = "assistingAdminName";
/// Help-requested flag.
pub const HELP: &str = "helpRequested";
/// Sum of tokens.
pub const TOKENS: &str = "totalTokens";
/// Time of the last message.
pub const LAST_ACTIVITY: &str = "lastActivity";
/// Slowest reply, ms.
pub const MAX_RESP: &str = "maxRespTime";
/// Mean reply time, ms.
pub const AVG_RESP: &str = "avgRespTime";
/// Public share token (absent when not shared; unique sparse index).
pub const SHARE_TOKEN: &str = "shareToken";
/// New: number of replies the response-time figures cover.
pub const RESP_COUNT: &str = "respCount";
/// New: time of the first help request.
pub const HELP_AT: &str = "helpRequestedAt";
/// New: takeover audit events `[{kind, adminId, adminName, at}]`.
pub const TAKEOVERS: &str = "takeovers";
/// Computed in queries, never stored: the length of `msgs`.
pub const MSG_COUNT: &str = "_msgCount";

/// Message field: content (encrypted).
pub const MSG_CONTENT: &str = "content";
/// Message field: time.
pub const MSG_TS: &str = "ts";
/// Message field: sender.
pub const MSG_SENDER: &str = "sender";
/// Message field: file id.
pub const MSG_FILE_ID: &str = "fileId";
/// Message field: file URL.
pub const MSG_FILE_URL: &str = "fileUrl";
/// Message field: string metadata.
pub const MSG_META: &str = "meta";

/// A UTC time as a BSON datetime (millisecond precision).
pub fn bson_time(t: DateTime<Utc>) -> BsonDateTime {
    BsonDateTime::from_millis(t.timestamp_millis())
}

/// A counter as BSON `int64` (saturating).
pub fn bson_int(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

/// Whole seconds from `start` to `end`, never negative.
pub fn duration_secs(start: DateTime<Utc>, end: DateTime<Utc>) -> i64 {
    (end - start).num_seconds().max(0)
}

/// The document inserted for a new session (no messages, no takeovers yet).
pub fn session_doc(s: &Session) -> Document {
    let mut d = doc! {
        ID: s.id.as_str(),
        USER: s.user_id.as_str(),
        NAME: s.name.as_str(),
        MODEL: s.model_id.as_deref().unwrap_or(""),
        MESSAGES: [],
        START: bson_time(s.start_time),
        DURATION: s.end_time.map_or(0, |e| duration_secs(s.start_time, e)),
        ADMIN_ASSISTED: s.admin_assisted,
        HELP: s.help_requested,
        TOKENS: bson_int(s.total_tokens),
        LAST_ACTIVITY: bson_time(s.last_activity),
        MAX_RESP: bson_int(s.max_response_ms),
        AVG_RESP: bson_int(s.avg_response_ms),
        RESP_COUNT: bson_int(s.response_count),
        TAKEOVERS: [],
    };
    if let Some(end) = s.end_time {
        d.insert(END, bson_time(end));
    }
    if let Some(id) = &s.assisting_admin_id {
        d.insert(ADMIN_ID, id.as_str());
    }
    if let Some(name) = &s.assisting_admin_name {
        d.insert(ADMIN_NAME, name.as_str());
    }
    if let Some(at) = s.help_requested_at {
        d.insert(HELP_AT, bson_time(at));
    }
    if let Some(token) = &s.share_token {
        d.insert(SHARE_TOKEN, token.as_str());
    }
    d
}

fn corrupt(field: &str, why: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(format!("field {field}: {why}"))
}

/// A non-empty string field; `None` when absent, null or empty.
fn opt_str<'a>(d: &'a Document, key: &str) -> Option<&'a str> {
    match d.get(key) {
        Some(Bson::String(s)) if !s.is_empty() => Some(s.as_str()),
        _ => None,
    }
}

fn req_str<'a>(d: &'a Document, key: &str) -> Result<&'a str, StoreError> {
    match d.get(key) {
        Some(Bson::String(s)) => Ok(s.as_str()),
        Some(other) => Err(corrupt(
            key,
            format!("expected a string, found {:?}", other.element_type()),
        )),
        None => Err(corrupt(key, "missing")),
    }
}

/// A number of any BSON numeric type as `u64`; absent, null or negative → 0.
pub fn num(d: &Document, key: &str) -> u64 {
    match d.get(key) {
        Some(Bson::Int32(v)) => u64::try_from(*v).unwrap_or(0),
        Some(Bson::Int64(v)) => u64::try_from(*v).unwrap_or(0),
        // Saturating float-to-int conversion; NaN becomes 0.
        Some(Bson::Double(v)) if *v > 0.0 => *v as u64,
        _ => 0,
    }
}

fn flag(d: &Document, key: &str) -> bool {
    matches!(d.get(key), Some(Bson::Boolean(true)))
}

fn opt_time(d: &Document, key: &str) -> Result<Option<DateTime<Utc>>, StoreError> {
    match d.get(key) {
        Some(Bson::DateTime(t)) => DateTime::from_timestamp_millis(t.timestamp_millis())
            .map(Some)
            .ok_or_else(|| corrupt(key, "time out of range")),
        Some(Bson::Null) | None => Ok(None),
        Some(other) => Err(corrupt(
            key,
            format!("expected a datetime, found {:?}", other.element_type()),
        )),
    }
}

/// Reads a session from a document whose messages were replaced by [`MSG_COUNT`] (or that still
/// has `msgs`).
pub fn session_from_doc(d: &Document) -> Result<Session, StoreError> {
    let start = opt_time(d, START)?.ok_or_else(|| corrupt(START, "missing"))?;
    let message_count = match d.get(MSG_COUNT) {
        Some(_) => num(d, MSG_COUNT),
        None => match d.get(MESSAGES) {
            Some(Bson::Array(a)) => a.len() as u64,
            _ => 0,
        },
    };
    Ok(Session {
        id: SessionId::parse(req_str(d, ID)?).map_err(|e| corrupt(ID, e))?,
        user_id: UserId::parse(req_str(d, USER)?).map_err(|e| corrupt(USER, e))?,
        name: opt_str(d, NAME).unwrap_or_default().to_owned(),
        model_id: opt_str(d, MODEL).map(str::to_owned),
        start_time: start,
        end_time: opt_time(d, END)?,
        last_activity: opt_time(d, LAST_ACTIVITY)?.unwrap_or(start),
        message_count,
        total_tokens: num(d, TOKENS),
        max_response_ms: num(d, MAX_RESP),
        avg_response_ms: num(d, AVG_RESP),
        response_count: num(d, RESP_COUNT),
        admin_assisted: flag(d, ADMIN_ASSISTED),
        assisting_admin_id: opt_str(d, ADMIN_ID)
            .map(UserId::parse)
            .transpose()
            .map_err(|e| corrupt(ADMIN_ID, e))?,
        assisting_admin_name: opt_str(d, ADMIN_NAME).map(str::to_owned),
        help_requested: flag(d, HELP),
        help_requested_at: opt_time(d, HELP_AT)?,
        share_token: opt_str(d, SHARE_TOKEN)
            .map(ShareToken::parse)
            .transpose()
            .map_err(|e| corrupt(SHARE_TOKEN, e))?,
    })
}

/// Reads the start and end times of a document projected to `{ts, endTs}`.
pub fn times_from_doc(d: &Document) -> Result<(DateTime<Utc>, Option<DateTime<Utc>>), StoreError> {
    let start = opt_time(d, START)?.ok_or_else(|| corrupt(START, "missing"))?;
    Ok((start, opt_time(d, END)?))
}

/// A message's document, with `content` already encrypted.
pub fn message_doc(m: &Message, content: String) -> Document {
    let mut d = doc! {
        MSG_CONTENT: content,
        MSG_TS: bson_time(m.timestamp),
        MSG_SENDER: m.sender.as_str(),
    };
    if let Some(f) = &m.file_id {
        d.insert(MSG_FILE_ID, f.as_str());
    }
    if let Some(u) = &m.file_url {
        d.insert(MSG_FILE_URL, u.as_str());
    }
    if !m.metadata.is_empty() {
        let meta: Document = m
            .metadata
            .iter()
            .map(|(k, v)| (k.clone(), Bson::String(v.clone())))
            .collect();
        d.insert(MSG_META, meta);
    }
    d
}

/// Reads a message document; `decrypt` turns stored content into plaintext.
pub fn message_from_doc(
    d: &Document,
    decrypt: impl Fn(&str) -> String,
) -> Result<Message, StoreError> {
    let sender = req_str(d, MSG_SENDER)?;
    let metadata: BTreeMap<String, String> = match d.get(MSG_META) {
        Some(Bson::Document(meta)) => meta
            .iter()
            .map(|(k, v)| {
                let v = match v {
                    Bson::String(s) => s.clone(),
                    other => other.to_string(),
                };
                (k.clone(), v)
            })
            .collect(),
        _ => BTreeMap::new(),
    };
    Ok(Message {
        content: decrypt(opt_str(d, MSG_CONTENT).unwrap_or_default()),
        timestamp: opt_time(d, MSG_TS)?.ok_or_else(|| corrupt(MSG_TS, "missing"))?,
        sender: Sender::from_wire(sender).ok_or_else(|| corrupt(MSG_SENDER, "unknown sender"))?,
        // A legacy file id that today's validation refuses is dropped, not fatal: the message
        // (and its session) stays readable; the file URL, if any, still points at the file.
        file_id: opt_str(d, MSG_FILE_ID).and_then(|raw| match FileId::parse(raw) {
            Ok(id) => Some(id),
            Err(e) => {
                tracing::warn!(error = %e, "a stored message's fileId is unreadable; reading the message without it");
                metrics::counter!("chatbox_store_unreadable_total", "kind" => "file_id").increment(1);
                None
            }
        }),
        file_url: opt_str(d, MSG_FILE_URL).map(str::to_owned),
        metadata,
    })
}

/// A takeover audit event's document.
pub fn takeover_doc(e: &TakeoverEvent) -> Document {
    let mut d = doc! {
        "kind": match e.kind {
            TakeoverKind::Join => "join",
            TakeoverKind::Leave => "leave",
        },
        "adminId": e.admin_id.as_str(),
        "adminName": e.admin_name.as_str(),
        "at": bson_time(e.at),
    };
    if let Some(reason) = &e.reason {
        d.insert("reason", reason.as_str());
    }
    d
}

/// Reads a takeover audit event's document.
pub fn takeover_from_doc(d: &Document) -> Result<TakeoverEvent, StoreError> {
    Ok(TakeoverEvent {
        kind: match req_str(d, "kind")? {
            "join" => TakeoverKind::Join,
            "leave" => TakeoverKind::Leave,
            _ => return Err(corrupt("takeovers.kind", "unknown kind")),
        },
        admin_id: UserId::parse(req_str(d, "adminId")?).map_err(|e| corrupt("adminId", e))?,
        admin_name: req_str(d, "adminName")?.to_owned(),
        at: opt_time(d, "at")?.ok_or_else(|| corrupt("at", "missing"))?,
        reason: d.get_str("reason").ok().map(str::to_owned),
    })
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    fn t(secs: i64) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2024, 3, 1, 0, 0, 0).unwrap() + chrono::Duration::seconds(secs)
    }

    #[test]
    fn a_full_session_round_trips_through_its_document() {
        let mut s = Session::new(
            SessionId::parse("s1").unwrap(),
            UserId::parse("u1").unwrap(),
            t(0),
        );
        s.name = "Hi".into();
        s.model_id = Some("openai".into());
        s.end_time = Some(t(90));
        s.last_activity = t(30);
        s.total_tokens = 7;
        s.max_response_ms = 900;
        s.avg_response_ms = 450;
        s.response_count = 2;
        s.admin_assisted = true;
        s.assisting_admin_id = Some(UserId::parse("adm").unwrap());
        s.assisting_admin_name = Some("Ada".into());
        s.help_requested = true;
        s.help_requested_at = Some(t(10));
        s.share_token = Some(ShareToken::parse("tok").unwrap());
        let d = session_doc(&s);
        assert_eq!(d.get_i64(DURATION).unwrap(), 90);
        assert_eq!(session_from_doc(&d).unwrap(), s);
    }

    #[test]
    fn a_sparse_go_document_reads_with_defaults() {
        let d = doc! {
            "_id": "go1", "uid": "u", "nm": "", "modelId": "", "ts": bson_time(t(0)),
            "msgs": [ { "content": "x", "ts": bson_time(t(1)), "sender": "user" } ],
            "totalTokens": 3_i32, "maxRespTime": 12.0_f64,
        };
        let s = session_from_doc(&d).unwrap();
        assert_eq!(s.model_id, None);
        assert_eq!(s.last_activity, t(0));
        assert_eq!(
            (s.message_count, s.total_tokens, s.max_response_ms),
            (1, 3, 12)
        );
        assert!(s.is_active() && s.share_token.is_none() && !s.admin_assisted);
    }

    #[test]
    fn missing_or_mistyped_required_fields_are_corrupt() {
        let no_ts = doc! { "_id": "x", "uid": "u" };
        assert!(matches!(
            session_from_doc(&no_ts),
            Err(StoreError::Corrupt(_))
        ));
        let bad_uid = doc! { "_id": "x", "uid": 5, "ts": bson_time(t(0)) };
        assert!(matches!(
            session_from_doc(&bad_uid),
            Err(StoreError::Corrupt(_))
        ));
        let bad_sender = doc! { "content": "x", "ts": bson_time(t(0)), "sender": "robot" };
        assert!(matches!(
            message_from_doc(&bad_sender, str::to_owned),
            Err(StoreError::Corrupt(_))
        ));
    }

    #[test]
    fn messages_and_takeovers_round_trip() {
        let mut m = Message::text(Sender::Ai, "plain", t(5));
        m.file_id = Some(FileId::parse("f1").unwrap());
        m.file_url = Some("/chatbox/files/f1".into());
        m.metadata.insert("name".into(), "a.png".into());
        let d = message_doc(&m, "plain".into());
        assert_eq!(message_from_doc(&d, str::to_owned).unwrap(), m);
        let e = TakeoverEvent {
            kind: TakeoverKind::Leave,
            admin_id: UserId::parse("adm").unwrap(),
            admin_name: "Ada".into(),
            at: t(3),
            reason: Some("timeout".into()),
        };
        assert_eq!(takeover_from_doc(&takeover_doc(&e)).unwrap(), e);
    }
}
