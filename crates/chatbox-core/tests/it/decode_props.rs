//! Property tests of the frame codec: decoding never panics, and every valid envelope survives
//! encode → decode unchanged.

use chatbox_core::Sender;
use chatbox_core::protocol::{
    ClientFrame, Envelope, ErrorBody, ErrorCode, FrameType, ModelInfo, decode,
};
use chrono::{DateTime, FixedOffset, TimeZone, Utc};
use proptest::prelude::*;

fn frame_type() -> impl Strategy<Value = FrameType> {
    prop_oneof![
        Just(FrameType::UserMessage),
        Just(FrameType::AiResponse),
        Just(FrameType::FileUpload),
        Just(FrameType::VoiceMessage),
        Just(FrameType::Error),
        Just(FrameType::ConnectionStatus),
        Just(FrameType::TypingIndicator),
        Just(FrameType::HelpRequest),
        Just(FrameType::AdminJoin),
        Just(FrameType::AdminLeave),
        Just(FrameType::ModelSelect),
        Just(FrameType::Loading),
        Just(FrameType::Notification),
        Just(FrameType::Ping),
        Just(FrameType::Pong),
        Just(FrameType::Auth),
        "[a-z_]{1,20}".prop_map(|s| FrameType::from_wire(&s)),
    ]
}

/// Text without NUL (decode strips NUL, so it would not round-trip by design).
fn text() -> impl Strategy<Value = String> {
    "[^\u{0}]{0,40}"
}

fn timestamp() -> impl Strategy<Value = DateTime<FixedOffset>> {
    (0i64..4_000_000_000, 0u32..1_000_000_000, -14i32..=14).prop_map(|(secs, nanos, off_h)| {
        let offset = FixedOffset::east_opt(off_h * 3600)
            .unwrap_or_else(|| FixedOffset::east_opt(0).unwrap());
        Utc.timestamp_opt(secs, nanos)
            .single()
            .unwrap_or_default()
            .with_timezone(&offset)
    })
}

fn sender() -> impl Strategy<Value = Sender> {
    prop_oneof![
        Just(Sender::User),
        Just(Sender::Ai),
        Just(Sender::Admin),
        Just(Sender::System)
    ]
}

prop_compose! {
    fn envelope()(
        kind in frame_type(),
        session_id in proptest::option::of(text()),
        content in proptest::option::of(text()),
        file_id in proptest::option::of(text()),
        file_url in proptest::option::of(text()),
        model_id in proptest::option::of(text()),
        models in proptest::option::of(proptest::collection::vec((text(), text()), 0..3)),
        timestamp in proptest::option::of(timestamp()),
        sender in proptest::option::of(sender()),
        metadata in proptest::option::of(proptest::collection::btree_map(text(), text(), 0..4)),
        error in proptest::option::of((text(), text(), any::<bool>(), proptest::option::of(any::<u64>()))),
        user_id in proptest::option::of(text()),
        seq in proptest::option::of(any::<u64>()),
    ) -> Envelope {
        let mut env = Envelope::new(kind);
        env.session_id = session_id;
        env.content = content;
        env.file_id = file_id;
        env.file_url = file_url;
        env.model_id = model_id;
        env.models = models.map(|m| m.into_iter().map(|(id, name)| ModelInfo { id, name }).collect());
        env.timestamp = timestamp;
        env.sender = sender;
        env.metadata = metadata;
        env.error = error.map(|(code, message, recoverable, retry_after)| ErrorBody { code, message, recoverable, retry_after });
        env.user_id = user_id;
        env.seq = seq;
        env
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn decode_of_any_bytes_is_ok_or_a_typed_error(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
        let now = Utc::now();
        if let Err(e) = ClientFrame::parse(&bytes, now) {
            // Every error maps to a contract code and has a message.
            prop_assert!(ErrorCode::ALL.contains(&e.code()));
            prop_assert!(!e.to_string().is_empty());
        }
    }

    #[test]
    fn decode_of_json_shaped_noise_never_panics(
        kind in proptest::option::of(prop_oneof![text().prop_map(serde_json::Value::from), any::<i64>().prop_map(serde_json::Value::from)]),
        content in proptest::option::of(prop_oneof![text().prop_map(serde_json::Value::from), any::<bool>().prop_map(serde_json::Value::from)]),
        meta in proptest::collection::btree_map(text(), prop_oneof![text().prop_map(serde_json::Value::from), any::<f64>().prop_map(serde_json::Value::from), Just(serde_json::Value::Null), Just(serde_json::json!([1]))], 0..4),
        ts in proptest::option::of(text()),
    ) {
        let mut obj = serde_json::Map::new();
        if let Some(k) = kind { obj.insert("type".into(), k); }
        if let Some(c) = content { obj.insert("content".into(), c); }
        obj.insert("metadata".into(), serde_json::Value::Object(meta.into_iter().collect()));
        if let Some(t) = ts { obj.insert("timestamp".into(), t.into()); }
        let bytes = serde_json::to_vec(&serde_json::Value::Object(obj)).unwrap();
        // Whatever the shape, the outcome is an envelope or an error with a contract code.
        if let Err(e) = ClientFrame::parse(&bytes, Utc::now()) {
            prop_assert!(ErrorCode::ALL.contains(&e.code()), "{e:?}");
        }
        if let Err(e) = decode(&bytes) {
            prop_assert!(ErrorCode::ALL.contains(&e.code()), "{e:?}");
        }
    }

    #[test]
    fn encode_then_decode_round_trips_every_valid_envelope(env in envelope()) {
        let json = env.encode();
        let back = decode(json.as_bytes()).map_err(|e| TestCaseError::fail(format!("{e}: {json}")))?;
        prop_assert_eq!(back, env);
    }
}
