//! Go compatibility: every frame shape the Go service and its web client exchange (reference §2)
//! decodes and re-encodes without losing or changing any field.

use chatbox_core::protocol::{Envelope, FrameType, decode};
use chrono::DateTime;
use serde_json::Value;

const FIXTURE: &str = include_str!("../fixtures/go_frames.json");

/// Compares two frames as JSON, treating timestamps as instants (the offset's spelling may
/// change from `+00:00` to `Z`, never the moment).
fn assert_same_frame(original: &Value, reencoded: &Value) {
    let (Value::Object(a), Value::Object(b)) = (original, reencoded) else {
        panic!("frames must be objects: {original} / {reencoded}");
    };
    // Key order is not part of JSON (and depends on serde_json's `preserve_order` feature).
    let mut keys_a: Vec<&String> = a.keys().collect();
    let mut keys_b: Vec<&String> = b.keys().collect();
    keys_a.sort();
    keys_b.sort();
    assert_eq!(keys_a, keys_b, "same fields in {original}");
    for (key, va) in a {
        let vb = &b[key];
        if key == "timestamp" {
            let ta = DateTime::parse_from_rfc3339(va.as_str().unwrap()).unwrap();
            let tb = DateTime::parse_from_rfc3339(vb.as_str().unwrap()).unwrap();
            assert_eq!(ta, tb, "timestamp instant");
            assert_eq!(ta.offset(), tb.offset(), "timestamp offset kept");
        } else {
            assert_eq!(va, vb, "field {key} of {original}");
        }
    }
}

#[test]
fn every_go_frame_round_trips_without_loss() {
    let frames: Vec<Value> = serde_json::from_str(FIXTURE).unwrap();
    assert!(frames.len() >= 20, "the fixture covers every §2 shape");
    for frame in &frames {
        let bytes = serde_json::to_vec(frame).unwrap();
        let env = decode(&bytes).unwrap_or_else(|e| panic!("{e}: {frame}"));
        assert!(
            !matches!(env.kind, FrameType::Other(_)),
            "known type: {frame}"
        );
        let back: Value = serde_json::from_str(&env.encode()).unwrap();
        assert_same_frame(frame, &back);
    }
}

#[test]
fn go_numeric_metadata_from_the_web_client_is_accepted() {
    // The Go web client sent `size` as a number, which the Go server rejected (§12.10).
    let frame = br#"{"type":"file_upload","session_id":"s","file_id":"f","file_url":"/u","metadata":{"filename":"a.pdf","size":20480,"type":"application/pdf"}}"#;
    let env: Envelope = decode(frame).unwrap();
    assert_eq!(env.meta("size"), Some("20480"));
}
