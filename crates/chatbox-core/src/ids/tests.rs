//! Unit tests for id parsing.

use super::*;

#[test]
fn parse_trims_and_accepts_go_and_uuid_ids() {
    let go = SessionId::parse(" Ab3dEf9hIj2kLm4nOp6qRs8tUv0wXy1z ").unwrap();
    assert_eq!(go.as_str(), "Ab3dEf9hIj2kLm4nOp6qRs8tUv0wXy1z");
    let uuid = SessionId::parse("3f2504e0-4f89-11d3-9a0c-0305e82c3301").unwrap();
    assert_eq!(uuid.to_string(), "3f2504e0-4f89-11d3-9a0c-0305e82c3301");
}

#[test]
fn parse_rejects_empty_long_and_control_characters() {
    assert_eq!(
        SessionId::parse("  "),
        Err(IdError::Empty { kind: "session_id" })
    );
    let long = "x".repeat(129);
    assert_eq!(
        SessionId::parse(&long),
        Err(IdError::TooLong {
            kind: "session_id",
            max: 128
        })
    );
    assert_eq!(
        UserId::parse("a\0b"),
        Err(IdError::ForbiddenChar { kind: "user_id" })
    );
    assert_eq!(
        FileId::parse("../etc"),
        Err(IdError::ForbiddenChar { kind: "file_id" })
    );
}

#[test]
fn length_is_counted_in_characters_not_bytes() {
    let wide = "é".repeat(128);
    assert!(
        SessionId::parse(&wide).is_ok(),
        "128 two-byte characters fit"
    );
}

#[test]
fn deserialize_validates() {
    let ok: UserId = serde_json::from_str("\"u1\"").unwrap();
    assert_eq!(ok.as_str(), "u1");
    assert!(serde_json::from_str::<UserId>("\"\"").is_err());
}

#[test]
fn a_slash_is_data_in_a_user_id_but_never_in_ids_used_in_paths() {
    assert_eq!(UserId::parse("team/ann").unwrap().as_str(), "team/ann");
    for refused in [
        SessionId::parse("a/b").is_err(),
        FileId::parse("a/b").is_err(),
        ShareToken::parse("a/b").is_err(),
    ] {
        assert!(refused);
    }
    assert_eq!(
        UserId::parse("team\\ann"),
        Err(IdError::ForbiddenChar { kind: "user_id" })
    );
}
