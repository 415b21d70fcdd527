//! The frame envelope: the JSON object every WebSocket text frame carries, in both directions.
//!
//! [`decode`] is total: any byte string yields an [`Envelope`] or a typed [`FrameError`], never a
//! panic. It ignores unknown fields, strips NUL bytes from every string, accepts numbers and
//! booleans as metadata values (stringified, as the Go web client sent `size` as a number) and
//! keeps the timestamp's UTC offset so that a frame re-encodes as it came.

use std::collections::BTreeMap;

use chrono::{DateTime, FixedOffset, SecondsFormat, Utc};
use serde::ser::SerializeMap;
use serde::{Deserialize, Serialize, Serializer};
use serde_json::{Map, Value};

use super::error_code::ErrorCode;
use super::frame_type::FrameType;
use super::inbound::FrameError;
use crate::sender::Sender;

/// Frame metadata: string keys to string values, ordered for stable output.
pub type Metadata = BTreeMap<String, String>;

/// One `{id, name}` entry of `models`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModelInfo {
    /// Provider id, the value `model_select` takes.
    pub id: String,
    /// Display name.
    pub name: String,
}

/// The `error` object of an `error` frame.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    /// A contract code (kept as a string so that codes from the Go service round-trip).
    pub code: String,
    /// Human-readable text, safe to show; never internals.
    pub message: String,
    /// Whether the client may retry or carry on.
    pub recoverable: bool,
    /// Milliseconds to wait before retrying, for rate limits.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_after: Option<u64>,
}

impl ErrorBody {
    /// A recoverable error with a contract code.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            code: code.as_str().to_owned(),
            message: message.into(),
            recoverable: true,
            retry_after: None,
        }
    }
}

/// The wire envelope. All fields but `type` are optional on the wire; `None` fields are omitted
/// when encoding.
#[derive(Debug, Clone, PartialEq)]
pub struct Envelope {
    /// `type`.
    pub kind: FrameType,
    /// `session_id`.
    pub session_id: Option<String>,
    /// `content`.
    pub content: Option<String>,
    /// `file_id`.
    pub file_id: Option<String>,
    /// `file_url`.
    pub file_url: Option<String>,
    /// `model_id`.
    pub model_id: Option<String>,
    /// `models` (server → client).
    pub models: Option<Vec<ModelInfo>>,
    /// `timestamp`, with the offset it was written in.
    pub timestamp: Option<DateTime<FixedOffset>>,
    /// `sender`. On decode, a value that is not a known sender is dropped (the server sets the
    /// sender of inbound frames itself).
    pub sender: Option<Sender>,
    /// `metadata`.
    pub metadata: Option<Metadata>,
    /// `error`.
    pub error: Option<ErrorBody>,
    /// `user_id` (server → client on `connection_status`).
    pub user_id: Option<String>,
    /// `seq` (server → client, per session).
    pub seq: Option<u64>,
}

impl Envelope {
    /// An envelope of `kind` with every other field empty.
    pub fn new(kind: FrameType) -> Self {
        Self {
            kind,
            session_id: None,
            content: None,
            file_id: None,
            file_url: None,
            model_id: None,
            models: None,
            timestamp: None,
            sender: None,
            metadata: None,
            error: None,
            user_id: None,
            seq: None,
        }
    }

    /// Serializes to the JSON text of one frame.
    pub fn encode(&self) -> String {
        // Serializing plain strings, numbers and string maps cannot fail.
        serde_json::to_string(self).unwrap_or_else(|_| String::from("{\"type\":\"error\"}"))
    }

    /// A metadata value, if present.
    pub fn meta(&self, key: &str) -> Option<&str> {
        self.metadata
            .as_ref()
            .and_then(|m| m.get(key))
            .map(String::as_str)
    }

    /// Sets (creating the map if needed) one metadata entry.
    pub fn set_meta(&mut self, key: impl Into<String>, value: impl Into<String>) {
        self.metadata
            .get_or_insert_with(Metadata::new)
            .insert(key.into(), value.into());
    }
}

/// Formats a timestamp as the server writes them: RFC 3339, UTC, `Z`, sub-second digits only as
/// needed.
pub(crate) fn format_timestamp(t: &DateTime<FixedOffset>) -> String {
    let utc_offset = t.offset().local_minus_utc() == 0;
    t.to_rfc3339_opts(SecondsFormat::AutoSi, utc_offset)
}

/// Writes `t` as [`format_timestamp`] does for a UTC time, without building a string: the
/// hot paths' frames (reply chunks, pongs) each carry one.
pub(crate) fn write_utc_timestamp(out: &mut Vec<u8>, t: DateTime<Utc>) {
    use chrono::{Datelike, Timelike};
    let year = u32::try_from(t.year()).ok().filter(|y| *y <= 9999);
    // Years of other widths and leap seconds: as chrono writes them.
    let (Some(year), nanos @ 0..=999_999_999) = (year, t.nanosecond()) else {
        out.extend_from_slice(format_timestamp(&utc_timestamp(t)).as_bytes());
        return;
    };
    let mut b = *b"0000-00-00T00:00:00.000000000Z";
    digits(&mut b[0..4], year);
    digits(&mut b[5..7], t.month());
    digits(&mut b[8..10], t.day());
    digits(&mut b[11..13], t.hour());
    digits(&mut b[14..16], t.minute());
    digits(&mut b[17..19], t.second());
    // Only the non-zero groups of three sub-second digits, as `SecondsFormat::AutoSi`.
    let width = match nanos {
        0 => 0,
        n if n % 1_000_000 == 0 => 3,
        n if n % 1_000 == 0 => 6,
        _ => 9,
    };
    let end = if width == 0 {
        19
    } else {
        digits(&mut b[20..29], nanos);
        20 + width
    };
    b[end] = b'Z';
    out.extend_from_slice(&b[..=end]);
}

/// Writes `v` in decimal, zero-padded to fill `out`.
fn digits(out: &mut [u8], mut v: u32) {
    for d in out.iter_mut().rev() {
        *d = b'0' + (v % 10) as u8;
        v /= 10;
    }
}

/// Converts a UTC time to the envelope's timestamp type.
pub(crate) fn utc_timestamp(t: DateTime<Utc>) -> DateTime<FixedOffset> {
    t.fixed_offset()
}

impl Serialize for Envelope {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(None)?;
        m.serialize_entry("type", &self.kind)?;
        if let Some(v) = &self.session_id {
            m.serialize_entry("session_id", v)?;
        }
        if let Some(v) = &self.content {
            m.serialize_entry("content", v)?;
        }
        if let Some(v) = &self.file_id {
            m.serialize_entry("file_id", v)?;
        }
        if let Some(v) = &self.file_url {
            m.serialize_entry("file_url", v)?;
        }
        if let Some(v) = &self.model_id {
            m.serialize_entry("model_id", v)?;
        }
        if let Some(v) = &self.models {
            m.serialize_entry("models", v)?;
        }
        if let Some(v) = &self.timestamp {
            m.serialize_entry("timestamp", &format_timestamp(v))?;
        }
        if let Some(v) = &self.sender {
            m.serialize_entry("sender", v)?;
        }
        if let Some(v) = &self.metadata {
            m.serialize_entry("metadata", v)?;
        }
        if let Some(v) = &self.error {
            m.serialize_entry("error", v)?;
        }
        if let Some(v) = &self.user_id {
            m.serialize_entry("user_id", v)?;
        }
        if let Some(v) = &self.seq {
            m.serialize_entry("seq", v)?;
        }
        m.end()
    }
}

/// Decodes one frame. Total: returns a typed error for anything that is not a well-typed
/// envelope, and never panics.
pub fn decode(bytes: &[u8]) -> Result<Envelope, FrameError> {
    let value: Value = serde_json::from_slice(bytes).map_err(|_| FrameError::NotJson)?;
    let Value::Object(mut obj) = value else {
        return Err(FrameError::NotAnObject);
    };
    let kind = match obj.remove("type") {
        None | Some(Value::Null) => return Err(FrameError::MissingField("type")),
        Some(Value::String(s)) => FrameType::from_wire(&strip_nul(s)),
        Some(_) => {
            return Err(FrameError::WrongType {
                field: "type",
                expected: "a string",
            });
        }
    };
    let mut env = Envelope::new(kind);
    env.session_id = take_string(&mut obj, "session_id")?;
    env.content = take_string(&mut obj, "content")?;
    env.file_id = take_string(&mut obj, "file_id")?;
    env.file_url = take_string(&mut obj, "file_url")?;
    env.model_id = take_string(&mut obj, "model_id")?;
    env.user_id = take_string(&mut obj, "user_id")?;
    env.timestamp = match take_string(&mut obj, "timestamp")? {
        None => None,
        Some(s) if s.is_empty() => None,
        Some(s) => Some(DateTime::parse_from_rfc3339(&s).map_err(|_| FrameError::BadTimestamp)?),
    };
    env.sender = take_string(&mut obj, "sender")?.and_then(|s| Sender::from_wire(&s));
    env.metadata = take_metadata(&mut obj)?;
    env.models = match obj.remove("models") {
        None | Some(Value::Null) => None,
        Some(v) => Some(serde_json::from_value::<Vec<ModelInfo>>(v).map_err(|_| {
            FrameError::WrongType {
                field: "models",
                expected: "an array of {id, name}",
            }
        })?),
    };
    env.error = match obj.remove("error") {
        None | Some(Value::Null) => None,
        Some(v) => {
            Some(
                serde_json::from_value::<ErrorBody>(v).map_err(|_| FrameError::WrongType {
                    field: "error",
                    expected: "{code, message, recoverable}",
                })?,
            )
        }
    };
    env.seq = match obj.remove("seq") {
        None | Some(Value::Null) => None,
        Some(v) => Some(v.as_u64().ok_or(FrameError::WrongType {
            field: "seq",
            expected: "a non-negative integer",
        })?),
    };
    Ok(env)
}

fn strip_nul(s: String) -> String {
    if s.contains('\0') {
        s.replace('\0', "")
    } else {
        s
    }
}

fn take_string(
    obj: &mut Map<String, Value>,
    field: &'static str,
) -> Result<Option<String>, FrameError> {
    match obj.remove(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(strip_nul(s))),
        Some(_) => Err(FrameError::WrongType {
            field,
            expected: "a string",
        }),
    }
}

fn take_metadata(obj: &mut Map<String, Value>) -> Result<Option<Metadata>, FrameError> {
    let map = match obj.remove("metadata") {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::Object(map)) => map,
        Some(_) => {
            return Err(FrameError::WrongType {
                field: "metadata",
                expected: "an object",
            });
        }
    };
    let mut out = Metadata::new();
    for (key, value) in map {
        let key = strip_nul(key);
        let text = match value {
            Value::String(s) => strip_nul(s),
            Value::Number(n) => n.to_string(),
            Value::Bool(b) => b.to_string(),
            Value::Null => continue,
            Value::Array(_) | Value::Object(_) => {
                return Err(FrameError::BadMetadata {
                    key: key.chars().take(100).collect(),
                });
            }
        };
        out.insert(key, text);
    }
    Ok(Some(out))
}
