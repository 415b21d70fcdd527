//! Reply chunks encoded from a template. A reply streams many `ai_response` chunk frames that
//! differ only in their text, timestamp and `seq`; [`ChunkFrames`] serializes the rest once per
//! reply and writes each chunk into a caller's buffer, byte for byte what
//! `Envelope::ai_chunk(..).with_session(..).with_seq(..).encode()` gives (tested below against
//! it, for arbitrary text).

use std::io::Write as _;

use chrono::{DateTime, Utc};

use super::envelope::write_utc_timestamp;
use crate::SessionId;

/// The fixed parts of one reply's chunk frames.
#[derive(Debug, Clone)]
pub struct ChunkFrames {
    /// `{"type":"ai_response","session_id":"…","content":`
    head: String,
    /// `,"model_id":"…","timestamp":"`
    middle: String,
}

/// After the timestamp: sender and the metadata of a chunk, then `seq`.
const TAIL: &str =
    "\",\"sender\":\"ai\",\"metadata\":{\"done\":\"false\",\"streaming\":\"true\"},\"seq\":";

fn json_string(s: &str) -> String {
    // Serializing a string cannot fail.
    serde_json::to_string(s).unwrap_or_else(|_| String::from("\"\""))
}

impl ChunkFrames {
    /// The template for chunks of `model_id`'s reply in `session_id`.
    pub fn new(session_id: &SessionId, model_id: &str) -> Self {
        Self {
            head: format!(
                "{{\"type\":\"ai_response\",\"session_id\":{},\"content\":",
                json_string(session_id.as_str())
            ),
            middle: format!(",\"model_id\":{},\"timestamp\":\"", json_string(model_id)),
        }
    }

    /// Writes the chunk frame of `text` at `now` with `seq` into `out` (cleared first); the
    /// bytes are UTF-8.
    pub fn write(&self, out: &mut Vec<u8>, text: &str, now: DateTime<Utc>, seq: u64) {
        out.clear();
        out.reserve(self.head.len() + self.middle.len() + TAIL.len() + text.len() + 48);
        out.extend_from_slice(self.head.as_bytes());
        // The envelope's serializer escapes the same way; writing to a Vec cannot fail.
        let _ = serde_json::to_writer(&mut *out, text);
        out.extend_from_slice(self.middle.as_bytes());
        write_utc_timestamp(out, now);
        out.extend_from_slice(TAIL.as_bytes());
        let _ = write!(out, "{seq}}}");
    }
}

/// The `pong` frames of one connection's session.
#[derive(Debug, Clone)]
pub struct PongFrame {
    /// `{"type":"pong","session_id":"…","timestamp":"`
    head: String,
}

impl PongFrame {
    /// The template for `session_id`.
    pub fn new(session_id: &SessionId) -> Self {
        Self {
            head: format!(
                "{{\"type\":\"pong\",\"session_id\":{},\"timestamp\":\"",
                json_string(session_id.as_str())
            ),
        }
    }

    /// Writes the pong at `now` into `out` (cleared first); the bytes are UTF-8.
    pub fn write(&self, out: &mut Vec<u8>, now: DateTime<Utc>) {
        const TAIL: &str = "\",\"sender\":\"system\"}";
        out.clear();
        out.reserve(self.head.len() + 31 + TAIL.len());
        out.extend_from_slice(self.head.as_bytes());
        write_utc_timestamp(out, now);
        out.extend_from_slice(TAIL.as_bytes());
    }

    /// The pong at `now`.
    pub fn at(&self, now: DateTime<Utc>) -> String {
        let mut out = Vec::new();
        self.write(&mut out, now);
        // The head is a `String` and the rest ASCII.
        String::from_utf8(out)
            .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
    }
}

/// True for a frame that is exactly `{"type":"ping"}` or `{"type": "ping"}` (what browsers'
/// and Python's JSON encoders write), with whitespace around it: the common keep-alive,
/// answered without parsing. Any other ping takes the full parse.
pub fn is_bare_ping(bytes: &[u8]) -> bool {
    matches!(
        bytes.trim_ascii(),
        b"{\"type\":\"ping\"}" | b"{\"type\": \"ping\"}"
    )
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;
    use proptest::prelude::*;

    use super::*;
    use crate::protocol::Envelope;

    fn via_envelope(
        sid: &SessionId,
        model: &str,
        text: &str,
        now: DateTime<Utc>,
        seq: u64,
    ) -> String {
        Envelope::ai_chunk(text, model, now)
            .with_session(sid)
            .with_seq(seq)
            .encode()
    }

    #[test]
    fn a_chunk_is_the_envelope_encoding_byte_for_byte() {
        let sid = SessionId::parse("s-\"1\"").unwrap();
        let now = Utc.with_ymd_and_hms(2026, 11, 28, 15, 4, 5).unwrap()
            + chrono::Duration::microseconds(123_456);
        let frames = ChunkFrames::new(&sid, "gpt \"4\"");
        let mut out = Vec::new();
        for text in ["hello", "", "line\nbreak \"quoted\" \\ \u{1}", "日本語 🎉"] {
            frames.write(&mut out, text, now, 1_764_000_000_000_001);
            assert_eq!(
                String::from_utf8(out.clone()).unwrap(),
                via_envelope(&sid, "gpt \"4\"", text, now, 1_764_000_000_000_001)
            );
        }
    }

    #[test]
    fn a_pong_is_the_envelope_encoding_byte_for_byte() {
        let sid = SessionId::parse("s \"2\"").unwrap();
        let now = Utc.with_ymd_and_hms(2026, 11, 28, 15, 4, 5).unwrap()
            + chrono::Duration::milliseconds(7);
        assert_eq!(
            PongFrame::new(&sid).at(now),
            Envelope::pong(now).with_session(&sid).encode()
        );
    }

    #[test]
    fn only_the_bare_ping_takes_the_fast_path() {
        let yes: [&[u8]; 2] = [b"{\"type\":\"ping\"}", b" {\"type\": \"ping\"}\n"];
        for frame in yes {
            assert!(is_bare_ping(frame), "{}", String::from_utf8_lossy(frame));
            // Whatever the fast path accepts, the full parse reads as a ping too.
            let parsed = crate::protocol::ClientFrame::parse(frame, Utc::now()).unwrap();
            assert_eq!(parsed.command, crate::protocol::ClientCommand::Ping);
        }
        let no: [&[u8]; 5] = [
            b"{\"type\":\"ping\",\"session_id\":\"x\"}",
            b"{\"type\":\"pong\"}",
            b"{\"type\":\"p ing\"}",
            b"{\"type\":\"ping\"",
            b"",
        ];
        for frame in no {
            assert!(!is_bare_ping(frame), "{}", String::from_utf8_lossy(frame));
        }
    }

    proptest! {
        #[test]
        fn any_text_and_time_encode_as_the_envelope_does(
            text in any::<String>(),
            model in "[a-z0-9 .-]+",
            secs in 0i64..4_000_000_000,
            nanos in 0u32..1_000_000_000,
            seq in any::<u64>(),
        ) {
            let sid = SessionId::parse("session-1").unwrap();
            let now = Utc.timestamp_opt(secs, nanos).single().unwrap();
            let mut out = b"leftover".to_vec();
            ChunkFrames::new(&sid, &model).write(&mut out, &text, now, seq);
            prop_assert_eq!(String::from_utf8(out).unwrap(), via_envelope(&sid, &model, &text, now, seq));
        }

        #[test]
        fn any_time_is_written_as_chrono_writes_it(
            secs in -70_000_000_000i64..300_000_000_000,
            nanos in prop_oneof![
                Just(0u32),
                (0u32..1000).prop_map(|m| m * 1_000_000),
                (0u32..1_000_000).prop_map(|u| u * 1_000),
                0u32..1_000_000_000,
                1_000_000_000u32..2_000_000_000,
            ],
        ) {
            let Some(t) = Utc.timestamp_opt(secs, nanos).single() else {
                return Ok(());
            };
            let mut out = Vec::new();
            super::super::envelope::write_utc_timestamp(&mut out, t);
            let expected = super::super::envelope::format_timestamp(
                &super::super::envelope::utc_timestamp(t),
            );
            prop_assert_eq!(String::from_utf8(out).unwrap(), expected);
        }
    }
}
