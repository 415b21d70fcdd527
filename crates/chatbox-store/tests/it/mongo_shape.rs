//! Compatibility with the Go service's documents (CONTRACT §7, inventory §4): a fixture in the
//! Go shape, encrypted with a known key, is inserted raw and read back through MongoStore; and a
//! document written by MongoStore is checked field by field against that shape.

use std::collections::BTreeSet;

use chatbox_core::ports::store::{EndOutcome, SessionPatch};
use chatbox_core::query::{SessionFilter, SessionQuery};
use chatbox_core::session::{TakeoverEvent, TakeoverKind};
use chatbox_core::{FileId, Message, Sender, Session, SessionId, ShareToken, Store, UserId};
use chatbox_store::Cipher;
use chrono::{DateTime, TimeZone, Utc};
use mongodb::bson::{Bson, DateTime as BsonDateTime, Document, doc};

use crate::support::{KEY, mongo};

/// Encrypted with `KEY` by an independent AES-256-GCM implementation (Node.js/OpenSSL).
const HELLO: &str = "AAECAwQFBgcICQoLZYDXELY4tN7HsVHKGarxQ4kocOJOyh3oRdhaaXzwbg8bxeXOK5DSsKE=";
const SECOND: &str = "ZGVmZ2hpamtsbW5vZnkuOFrDZrgikIIIj61rSmGWV73NbFNycG4qVDboBbiDGtcwpZkb3O/wy7k=";

fn t(secs: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2024, 3, 1, 0, 0, 0).unwrap() + chrono::Duration::seconds(secs)
}

fn bt(secs: i64) -> BsonDateTime {
    BsonDateTime::from_millis(t(secs).timestamp_millis())
}

/// Two documents exactly as the Go service wrote them: an ended, shared one with encrypted,
/// file and legacy-plaintext messages; an active one with the sparse fields omitted and `int32`
/// numbers (Go `int` fields).
fn go_fixture() -> [Document; 2] {
    [
        doc! {
            "_id": "Gq3k9ZpL0aB7xYtR2mN8vC4dE6fH1jK5",
            "uid": "user-42",
            "nm": "Billing question",
            "modelId": "openai-gpt4",
            "msgs": [
                { "content": HELLO, "ts": bt(10), "sender": "user" },
                { "content": SECOND, "ts": bt(20), "sender": "ai", "meta": { "tokens": "12" } },
                { "content": "legacy plaintext", "ts": bt(30), "sender": "admin",
                  "fileId": "f-9", "fileUrl": "/chatbox/files/f-9",
                  "meta": { "name": "a.png", "size": "2048" } },
            ],
            "ts": bt(0),
            "endTs": bt(600),
            "dur": 600_i64,
            "adminAssisted": false,
            "helpRequested": false,
            "totalTokens": 0_i64,
            "lastActivity": bt(30),
            "maxRespTime": 0_i64,
            "avgRespTime": 0_i64,
            "shareToken": "share-abc",
            "_ts": bt(0),
            "_mt": bt(600),
        },
        doc! {
            "_id": "Zz9y8x7w6v5u4t3s2r1q0p9o8n7m6l5k",
            "uid": "user-42",
            "nm": "",
            "modelId": "",
            "msgs": [],
            "ts": bt(1000),
            "dur": 0_i32,
            "adminAssisted": false,
            "helpRequested": false,
            "totalTokens": 0_i32,
            "maxRespTime": 0_i32,
            "avgRespTime": 0_i32,
        },
    ]
}

#[tokio::test]
async fn go_documents_read_back_through_mongo_store() {
    let store = mongo("fixture", Cipher::new(Some(KEY), None).unwrap()).await;
    store.collection().insert_many(go_fixture()).await.unwrap();

    let ended_id = SessionId::parse("Gq3k9ZpL0aB7xYtR2mN8vC4dE6fH1jK5").unwrap();
    let ended = store.get_session(&ended_id).await.unwrap().unwrap();
    let mut expected = Session::new(ended_id.clone(), UserId::parse("user-42").unwrap(), t(0));
    expected.name = "Billing question".into();
    expected.model_id = Some("openai-gpt4".into());
    expected.end_time = Some(t(600));
    expected.last_activity = t(30);
    expected.message_count = 3;
    expected.share_token = Some(ShareToken::parse("share-abc").unwrap());
    assert_eq!(ended, expected);

    let msgs = store.messages(&ended_id, None).await.unwrap();
    let mut second = Message::text(Sender::Ai, "Second message ✓ 日本語", t(20));
    second.metadata.insert("tokens".into(), "12".into());
    let mut third = Message::text(Sender::Admin, "legacy plaintext", t(30));
    third.file_id = Some(FileId::parse("f-9").unwrap());
    third.file_url = Some("/chatbox/files/f-9".into());
    third.metadata.insert("name".into(), "a.png".into());
    third.metadata.insert("size".into(), "2048".into());
    assert_eq!(
        msgs,
        vec![
            Message::text(Sender::User, "Hello from the Go service", t(10)),
            second,
            third.clone()
        ]
    );
    assert_eq!(
        store.messages(&ended_id, Some(1)).await.unwrap(),
        vec![third]
    );

    let active_id = SessionId::parse("Zz9y8x7w6v5u4t3s2r1q0p9o8n7m6l5k").unwrap();
    let active = store.get_session(&active_id).await.unwrap().unwrap();
    assert!(active.is_active());
    assert_eq!(active.model_id, None);
    assert_eq!(
        active.last_activity,
        t(1000),
        "no lastActivity: the start time"
    );
    let user = UserId::parse("user-42").unwrap();
    assert_eq!(
        store.active_session(&user).await.unwrap().map(|s| s.id),
        Some(active_id.clone())
    );
    let found = store
        .find_by_share_token(&ShareToken::parse("share-abc").unwrap())
        .await
        .unwrap();
    assert_eq!(found.map(|s| s.id), Some(ended_id.clone()));
    let page = store
        .list_sessions(&SessionQuery {
            filter: SessionFilter {
                admin_assisted: Some(false),
                ..Default::default()
            },
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(page.total, 2);
    assert_eq!(page.sessions[0].id, active_id);

    // Writing to a Go document works and keeps its shape: the end stays as the Go service set it.
    assert_eq!(
        store.end_session(&ended_id, t(9999)).await.unwrap(),
        EndOutcome::AlreadyEnded(t(600))
    );
    store
        .append_message(&active_id, &Message::text(Sender::User, "new", t(1001)))
        .await
        .unwrap();
    assert_eq!(store.messages(&active_id, None).await.unwrap().len(), 1);
    assert_eq!(
        store
            .get_session(&active_id)
            .await
            .unwrap()
            .unwrap()
            .last_activity,
        t(1001)
    );
}

#[tokio::test]
async fn tampered_foreign_and_plaintext_contents_read_back_as_stored() {
    let store = mongo("tamper", Cipher::new(Some(KEY), None).unwrap()).await;
    // Flip one bit of the ciphertext (after the 12-byte nonce) of a valid value.
    let mut raw = base64_decode(HELLO);
    raw[13] ^= 0x01;
    let tampered = base64_encode(&raw);
    let foreign = Cipher::new(Some(b"fedcba9876543210fedcba9876543210"), None)
        .unwrap()
        .encrypt("other key")
        .unwrap();
    let mut d = go_fixture()[1].clone();
    d.insert(
        "msgs",
        vec![
            Bson::Document(doc! { "content": tampered.as_str(), "ts": bt(1), "sender": "user" }),
            Bson::Document(doc! { "content": foreign.as_str(), "ts": bt(2), "sender": "user" }),
            Bson::Document(doc! { "content": "plain old text", "ts": bt(3), "sender": "ai" }),
            Bson::Document(doc! { "content": HELLO, "ts": bt(4), "sender": "user" }),
        ],
    );
    store.collection().insert_one(d).await.unwrap();
    let id = SessionId::parse("Zz9y8x7w6v5u4t3s2r1q0p9o8n7m6l5k").unwrap();
    let contents: Vec<String> = store
        .messages(&id, None)
        .await
        .unwrap()
        .into_iter()
        .map(|m| m.content)
        .collect();
    assert_eq!(
        contents,
        [
            tampered,
            foreign,
            "plain old text".to_owned(),
            "Hello from the Go service".to_owned()
        ]
    );
}

fn base64_decode(s: &str) -> Vec<u8> {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.decode(s).unwrap()
}

fn base64_encode(b: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(b)
}

fn kind(d: &Document, key: &str) -> &'static str {
    match d.get(key) {
        Some(Bson::String(_)) => "string",
        Some(Bson::DateTime(_)) => "date",
        Some(Bson::Boolean(_)) => "bool",
        Some(Bson::Int32(_)) => "int32",
        Some(Bson::Int64(_)) => "int64",
        Some(Bson::Array(_)) => "array",
        Some(Bson::Document(_)) => "doc",
        Some(_) => "other",
        None => "missing",
    }
}

fn int(d: &Document, key: &str) -> i64 {
    match d.get(key) {
        Some(Bson::Int32(v)) => i64::from(*v),
        Some(Bson::Int64(v)) => *v,
        other => panic!("{key} is not an integer: {other:?}"),
    }
}

#[tokio::test]
async fn documents_written_by_mongo_store_have_the_go_shape() {
    let cipher = Cipher::new(Some(KEY), None).unwrap();
    let store = mongo("shape", cipher.clone()).await;
    let id = SessionId::parse("shape1").unwrap();
    store
        .create_session(&Session::new(
            id.clone(),
            UserId::parse("u7").unwrap(),
            t(0),
        ))
        .await
        .unwrap();
    let fresh = store
        .collection()
        .find_one(doc! { "_id": "shape1" })
        .await
        .unwrap()
        .unwrap();
    assert_eq!(kind(&fresh, "endTs"), "missing", "active: no endTs");
    assert_eq!(
        kind(&fresh, "shareToken"),
        "missing",
        "sparse unique index: omitted"
    );
    assert_eq!(
        fresh.get_str("modelId").unwrap(),
        "",
        "no model: empty string as in Go"
    );
    assert_eq!(int(&fresh, "dur"), 0);

    let mut m = Message::text(Sender::User, "secret body", t(5));
    m.file_id = Some(FileId::parse("f1").unwrap());
    m.file_url = Some("/chatbox/files/f1".into());
    m.metadata.insert("name".into(), "x.pdf".into());
    store.append_message(&id, &m).await.unwrap();
    let mut reply = Message::text(Sender::Ai, "first answer", t(5));
    reply.metadata.insert("model_id".into(), "gpt".into());
    store.append_reply(&id, &reply, 40, 300).await.unwrap();
    let mut literal = Message::text(Sender::Ai, "$concatArrays is just text", t(5));
    literal.metadata.insert("model_id".into(), "gpt".into());
    store.append_reply(&id, &literal, 2, 101).await.unwrap();
    let patch = SessionPatch {
        name: Some("$where: not an operator".into()),
        model_id: Some("anthropic".into()),
        help_requested_at: Some(t(6)),
        assisting_admin: Some((UserId::parse("adm").unwrap(), "Ada".into())),
        reopen: false,
    };
    store.update_session(&id, &patch).await.unwrap();
    let tok = ShareToken::parse("tok-shape").unwrap();
    store.share_token(&id, &tok).await.unwrap();
    let ev = TakeoverEvent {
        kind: TakeoverKind::Join,
        admin_id: UserId::parse("adm").unwrap(),
        admin_name: "Ada".into(),
        at: t(7),
        reason: Some("takeover".into()),
    };
    store.record_takeover(&id, &ev).await.unwrap();
    assert_eq!(
        store.end_session(&id, t(65)).await.unwrap(),
        EndOutcome::Ended(t(65))
    );
    assert_eq!(
        store.end_session(&id, t(99)).await.unwrap(),
        EndOutcome::AlreadyEnded(t(65))
    );

    let d = store
        .collection()
        .find_one(doc! { "_id": "shape1" })
        .await
        .unwrap()
        .unwrap();
    let keys: BTreeSet<&str> = d.keys().map(String::as_str).collect();
    let expected: BTreeSet<&str> = [
        "_id",
        "uid",
        "nm",
        "modelId",
        "msgs",
        "ts",
        "endTs",
        "dur",
        "adminAssisted",
        "assistingAdminId",
        "assistingAdminName",
        "helpRequested",
        "totalTokens",
        "lastActivity",
        "maxRespTime",
        "avgRespTime",
        "shareToken",
        "respCount",
        "helpRequestedAt",
        "takeovers",
    ]
    .into_iter()
    .collect();
    assert_eq!(keys, expected);
    let types: Vec<(&str, &str)> = expected.iter().map(|k| (*k, kind(&d, k))).collect();
    for (k, want) in [
        ("_id", "string"),
        ("uid", "string"),
        ("nm", "string"),
        ("modelId", "string"),
        ("msgs", "array"),
        ("ts", "date"),
        ("endTs", "date"),
        ("dur", "int64"),
        ("adminAssisted", "bool"),
        ("assistingAdminId", "string"),
        ("assistingAdminName", "string"),
        ("helpRequested", "bool"),
        ("totalTokens", "int64"),
        ("lastActivity", "date"),
        ("maxRespTime", "int64"),
        ("avgRespTime", "int64"),
        ("shareToken", "string"),
        ("respCount", "int64"),
        ("helpRequestedAt", "date"),
        ("takeovers", "array"),
    ] {
        assert!(
            types.contains(&(k, want)),
            "{k} should be {want}: {types:?}"
        );
    }
    assert_eq!(d.get_str("_id").unwrap(), "shape1");
    assert_eq!(d.get_str("uid").unwrap(), "u7");
    assert_eq!(
        d.get_str("nm").unwrap(),
        "$where: not an operator",
        "names are literal"
    );
    assert_eq!(d.get_str("modelId").unwrap(), "anthropic");
    assert_eq!(d.get_datetime("ts").unwrap(), &bt(0));
    assert_eq!(
        d.get_datetime("endTs").unwrap(),
        &bt(65),
        "ending twice does not re-stamp"
    );
    assert_eq!(int(&d, "dur"), 65);
    assert!(d.get_bool("adminAssisted").unwrap());
    assert_eq!(d.get_str("assistingAdminId").unwrap(), "adm");
    assert_eq!(d.get_str("assistingAdminName").unwrap(), "Ada");
    assert!(d.get_bool("helpRequested").unwrap());
    assert_eq!(d.get_datetime("helpRequestedAt").unwrap(), &bt(6));
    assert_eq!(
        (
            int(&d, "totalTokens"),
            int(&d, "maxRespTime"),
            int(&d, "avgRespTime"),
            int(&d, "respCount")
        ),
        (42, 300, 200, 2)
    );
    assert_eq!(d.get_datetime("lastActivity").unwrap(), &bt(5));
    assert_eq!(d.get_str("shareToken").unwrap(), "tok-shape");

    let msgs = d.get_array("msgs").unwrap();
    assert_eq!(msgs.len(), 3, "the message and both replies");
    for (i, text) in [(1, "first answer"), (2, "$concatArrays is just text")] {
        let r = msgs[i].as_document().unwrap();
        assert_eq!(r.get_str("sender").unwrap(), "ai");
        assert_eq!(cipher.decrypt(r.get_str("content").unwrap()), text);
        assert_eq!(r.get_document("meta").unwrap(), &doc! { "model_id": "gpt" });
    }
    let md = msgs[0].as_document().unwrap();
    let mkeys: BTreeSet<&str> = md.keys().map(String::as_str).collect();
    assert_eq!(
        mkeys,
        ["content", "ts", "sender", "fileId", "fileUrl", "meta"]
            .into_iter()
            .collect()
    );
    let stored = md.get_str("content").unwrap();
    assert_ne!(stored, "secret body", "content is encrypted at rest");
    assert_eq!(cipher.decrypt(stored), "secret body");
    assert_eq!(md.get_datetime("ts").unwrap(), &bt(5));
    assert_eq!(md.get_str("sender").unwrap(), "user");
    assert_eq!(md.get_str("fileId").unwrap(), "f1");
    assert_eq!(md.get_str("fileUrl").unwrap(), "/chatbox/files/f1");
    assert_eq!(md.get_document("meta").unwrap(), &doc! { "name": "x.pdf" });

    let tk = d.get_array("takeovers").unwrap()[0]
        .as_document()
        .unwrap()
        .clone();
    assert_eq!(
        tk,
        doc! { "kind": "join", "adminId": "adm", "adminName": "Ada", "at": bt(7), "reason": "takeover" }
    );

    // Reopen clears endTs and dur.
    let reopen = SessionPatch {
        reopen: true,
        ..Default::default()
    };
    store.update_session(&id, &reopen).await.unwrap();
    let d = store
        .collection()
        .find_one(doc! { "_id": "shape1" })
        .await
        .unwrap()
        .unwrap();
    assert_eq!(kind(&d, "endTs"), "missing");
    assert_eq!(int(&d, "dur"), 0);
}
