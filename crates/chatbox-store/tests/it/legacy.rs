//! Existing data this build cannot fully read never blocks: a session with a bad message still
//! answers its other messages, a bad document is skipped in lists, a legacy file id is dropped
//! rather than fatal, an element of the wrong type or an unknown takeover kind is a clear
//! `Corrupt` error, and `check_data` names exactly the bad parts.

use chatbox_core::query::SessionQuery;
use chatbox_core::{SessionId, Store, StoreError};
use chatbox_store::Cipher;
use mongodb::bson::{DateTime as BsonDateTime, doc};

use crate::support::mongo;

#[tokio::test]
async fn bad_messages_and_documents_are_skipped_and_reported() {
    let store = mongo("legacy", Cipher::new(None, None).unwrap()).await;
    let ts = BsonDateTime::from_millis(1_700_000_000_000);
    let coll = store.collection();
    coll.insert_many([
        doc! {
            "_id": "good", "uid": "u1", "nm": "Order help", "modelId": "", "ts": ts, "lastActivity": ts,
            "msgs": [
                {"content": "hello", "ts": ts, "sender": "user"},
                {"content": "bad sender", "ts": ts, "sender": "robot"},
                {"content": "a file", "ts": ts, "sender": "user", "fileId": "legacy/id", "fileUrl": "/chatbox/files/x"},
                {"content": "hi, how can I help?", "ts": ts, "sender": "ai"},
            ],
        },
        doc! { "_id": "broken", "uid": "u1", "ts": "not a date", "msgs": [] },
    ])
    .await
    .unwrap();

    let id = SessionId::parse("good").unwrap();
    let msgs = store.messages(&id, None).await.unwrap();
    let texts: Vec<&str> = msgs.iter().map(|m| m.content.as_str()).collect();
    assert_eq!(
        texts,
        ["hello", "a file", "hi, how can I help?"],
        "only the unreadable one is skipped"
    );
    assert!(msgs[1].file_id.is_none(), "a legacy file id is dropped");
    assert_eq!(msgs[1].file_url.as_deref(), Some("/chatbox/files/x"));

    let page = store.list_sessions(&SessionQuery::default()).await.unwrap();
    let ids: Vec<&str> = page.sessions.iter().map(|s| s.id.as_str()).collect();
    assert_eq!(
        ids,
        ["good"],
        "the bad document is skipped, the list still answers"
    );
    let mine = store
        .user_sessions(&chatbox_core::UserId::parse("u1").unwrap(), 10)
        .await
        .unwrap();
    assert_eq!(mine.len(), 1);

    let problems = store.check_data().await.unwrap();
    let found: Vec<(String, Option<usize>)> = problems
        .iter()
        .map(|p| (p.session.clone(), p.message))
        .collect();
    assert_eq!(
        found,
        [("good".to_owned(), Some(1)), ("broken".to_owned(), None)],
        "exactly the bad message and the bad document: {problems:?}"
    );
    assert!(problems[0].reason.contains("sender"), "{problems:?}");
}

#[tokio::test]
async fn an_existing_index_on_the_same_keys_under_another_name_does_not_block_startup() {
    let first = mongo("legacy-index", Cipher::new(None, None).unwrap()).await;
    let db = first.collection().namespace().db;
    // The database as an older deployment left it: {uid: 1} under another name.
    let coll = first.collection();
    coll.drop_index("idx_user_id").await.unwrap();
    let model = mongodb::IndexModel::builder()
        .keys(doc! { "uid": 1 })
        .options(
            mongodb::options::IndexOptions::builder()
                .name("uid_1".to_owned())
                .build(),
        )
        .build();
    coll.create_index(model).await.unwrap();
    let again = chatbox_store::MongoStore::connect(
        crate::support::mongo_config(&db),
        Cipher::new(None, None).unwrap(),
    )
    .await;
    assert!(again.is_ok(), "the server starts: {:?}", again.err());
    let names: Vec<String> = coll.list_index_names().await.unwrap();
    assert!(names.contains(&"uid_1".to_owned()), "{names:?}");
}

#[tokio::test]
async fn elements_of_the_wrong_type_and_unknown_kinds_are_named_not_fatal() {
    let store = mongo("legacy-types", Cipher::new(None, None).unwrap()).await;
    let ts = BsonDateTime::from_millis(1_700_000_000_000);
    store
        .collection()
        .insert_many([
            doc! {
                "_id": "odd", "uid": "u1", "ts": ts, "lastActivity": ts,
                "msgs": ["a bare string", {"content": "hello", "ts": ts, "sender": "user"}],
                "takeovers": ["a bare string"],
            },
            doc! {
                "_id": "promoted", "uid": "u1", "ts": ts, "lastActivity": ts, "msgs": [],
                "takeovers": [{"kind": "promote", "adminId": "a1", "adminName": "Ann", "at": ts}],
            },
            doc! { "_id": 42, "uid": "u1", "ts": ts },
            doc! { "_id": "no-user", "ts": ts },
        ])
        .await
        .unwrap();

    let odd = SessionId::parse("odd").unwrap();
    let msgs = store.messages(&odd, None).await.unwrap();
    let texts: Vec<&str> = msgs.iter().map(|m| m.content.as_str()).collect();
    assert_eq!(
        texts,
        ["hello"],
        "the element that is not a document is skipped"
    );
    match store.takeover_events(&odd).await {
        Err(StoreError::Corrupt(why)) => assert!(why.contains("not a document"), "{why}"),
        other => panic!("expected a corrupt takeovers field, got {other:?}"),
    }
    let promoted = SessionId::parse("promoted").unwrap();
    match store.takeover_events(&promoted).await {
        Err(StoreError::Corrupt(why)) => assert!(why.contains("takeovers.kind"), "{why}"),
        other => panic!("expected an unknown takeover kind, got {other:?}"),
    }

    let problems = store.check_data().await.unwrap();
    let found: Vec<(&str, Option<usize>)> = problems
        .iter()
        .map(|p| (p.session.as_str(), p.message))
        .collect();
    assert_eq!(
        found,
        [("odd", Some(0)), ("42", None), ("no-user", None)],
        "{problems:?}"
    );
    assert!(
        problems[0].reason.contains("not a document"),
        "{problems:?}"
    );
    assert!(problems[2].reason.contains("uid"), "{problems:?}");
    assert!(problems[2].reason.contains("missing"), "{problems:?}");
}
