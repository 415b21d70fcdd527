//! `chatbox-server check-data` on a collection holding Go-written documents, one of them with an
//! unreadable message and one unreadable as a whole: the report names exactly those, and the
//! server still serves the readable parts.

use chatbox_store::{Cipher, MongoConfig, MongoStore};
use chatbox_ws::testing;
use mongodb::bson::{DateTime as BsonDateTime, doc};

use crate::process::{Backend, SECRET, env_for, start};

fn check_data(env: &[(String, String)]) -> (bool, String) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_chatbox-server"))
        .arg("check-data")
        .env_clear()
        .envs(env.iter().map(|(k, v)| (k, v)))
        .current_dir(std::env::temp_dir())
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

#[tokio::test]
async fn check_data_reports_exactly_the_unreadable_parts_and_the_rest_is_served() {
    let backend = Backend::mongo("check-data");
    let Backend::Mongo { uri, database } = &backend else {
        unreachable!("a Mongo backend")
    };
    let env = env_for(&backend, "http://127.0.0.1:1/v1");
    let (clean, report) = check_data(&env);
    assert!(clean, "an empty collection is clean: {report}");
    assert!(report.contains("0 unreadable"), "{report}");

    let config = MongoConfig {
        uri: uri.clone(),
        database: database.clone(),
        ..MongoConfig::default()
    };
    let key = Some(&b"0123456789abcdef0123456789abcdef"[..]);
    let store = MongoStore::connect(config, Cipher::new(key, None).unwrap())
        .await
        .unwrap();
    let ts = BsonDateTime::now();
    store
        .collection()
        .insert_many([
            doc! {
                "_id": "goSession1", "uid": "u1", "nm": "Help", "modelId": "", "ts": ts, "lastActivity": ts,
                "msgs": [
                    {"content": "legacy plaintext", "ts": ts, "sender": "user"},
                    {"content": "?", "ts": ts, "sender": "martian"},
                ],
            },
            doc! { "_id": "goSession2", "uid": "u1", "ts": 12 },
        ])
        .await
        .unwrap();
    let (clean, report) = check_data(&env);
    assert!(!clean, "problems make the command fail: {report}");
    assert!(report.contains("session goSession1 message 1:"), "{report}");
    assert!(report.contains("session goSession2:"), "{report}");
    assert!(report.contains("2 unreadable"), "{report}");

    let server = start(
        &env,
        &[],
        &std::env::temp_dir().join("chatbox-it-check-data"),
    )
    .await;
    let t = testing::token(SECRET, "u1", &[]);
    let (code, list) = testing::api(server.addr, "GET", "/chatbox/sessions", &t)
        .await
        .unwrap();
    assert_eq!(
        (code, &list["count"]),
        (200, &serde_json::json!(1)),
        "{list}"
    );
    let (code, one) = testing::api(server.addr, "GET", "/chatbox/sessions/goSession1", &t)
        .await
        .unwrap();
    assert_eq!(code, 200);
    assert_eq!(one["messages"][0]["content"], "legacy plaintext");
    assert_eq!(one["messages"].as_array().unwrap().len(), 1);
}
