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

/// The Go service's own `config.toml`, as an operator switching binaries would keep it: only
/// the port, prefix and Mongo location are changed for the test; secrets come from the
/// environment, as they do in the Go deployment.
#[tokio::test]
async fn the_go_config_file_starts_the_server_with_its_settings_and_one_warning_per_unused_key() {
    let Backend::Mongo { uri, database } = Backend::mongo("gocfg") else {
        unreachable!("a Mongo backend")
    };
    let port = crate::process::free_port();
    let sample = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/go-config.toml"
    ))
    .unwrap();
    let text = sample
        .replace("port = 8080", &format!("port = {port}"))
        .replace("path_prefix = \"/chatbox\"", "path_prefix = \"/gosupport\"")
        .replace("mongodb://chatbox-mongo:27017/chat", &uri)
        .replace("database = \"chat\"", &format!("database = \"{database}\""))
        .replace("collection = \"sessions\"", "collection = \"go_sessions\"");
    let dir = std::env::temp_dir().join(format!("chatbox-it-gocfg-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("config.toml");
    std::fs::write(&path, text).unwrap();

    // Go-written data in the file's database and collection.
    let config = MongoConfig {
        uri: uri.clone(),
        database: database.clone(),
        collection: "go_sessions".into(),
        ..MongoConfig::default()
    };
    let store = MongoStore::connect(config, Cipher::new(None, None).unwrap())
        .await
        .unwrap();
    let ts = BsonDateTime::now();
    store
        .collection()
        .insert_one(doc! {
            "_id": "goSession9", "uid": "ann", "nm": "From Go", "modelId": "gpt-4", "ts": ts,
            "lastActivity": ts, "msgs": [{"content": "hello from go", "ts": ts, "sender": "user"}],
        })
        .await
        .unwrap();

    let env: Vec<(String, String)> = [
        ("JWT_SECRET", SECRET),
        ("LLM_PROVIDER_1_API_KEY", "sk-openai"),
        ("LLM_PROVIDER_2_API_KEY", "sk-anthropic"),
        ("SMTP_PASS", "mail-password"),
    ]
    .iter()
    .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
    .collect();
    let path = path.display().to_string();
    let server =
        crate::process::start_at(port, "/gosupport", &env, &["--config", &path], &dir).await;

    let t = testing::token(SECRET, "ann", &[]);
    let (code, list) = testing::api(server.addr, "GET", "/gosupport/sessions", &t)
        .await
        .unwrap();
    assert_eq!(
        (code, &list["count"]),
        (200, &serde_json::json!(1)),
        "{list}"
    );
    let (code, one) = testing::api(server.addr, "GET", "/gosupport/sessions/goSession9", &t)
        .await
        .unwrap();
    assert_eq!(code, 200, "{one}");
    assert_eq!(one["messages"][0]["content"], "hello from go");

    // cors_allowed_origins: a host page on that origin may call the API; preflight answered.
    let (code, headers, _) = testing::http_with_headers(
        server.addr,
        "OPTIONS",
        "/gosupport/sessions",
        &[
            ("Origin", "https://app.example.com"),
            ("Access-Control-Request-Method", "GET"),
            ("Access-Control-Request-Headers", "authorization"),
        ],
    )
    .await
    .unwrap();
    let header = |name: &str| {
        headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    };
    assert_eq!(code, 200);
    assert_eq!(
        header("access-control-allow-origin").as_deref(),
        Some("https://app.example.com")
    );
    assert_eq!(
        header("access-control-allow-credentials").as_deref(),
        Some("true")
    );
    let (_, headers, _) = testing::http_with_headers(
        server.addr,
        "GET",
        "/gosupport/healthz",
        &[("Origin", "https://evil.example")],
    )
    .await
    .unwrap();
    assert!(
        !headers
            .iter()
            .any(|(k, _)| k == "access-control-allow-origin"),
        "an origin not in the list gets no CORS grant: {headers:?}"
    );

    let out = server.output();
    let warnings = out.matches(" is not used: ").count();
    assert_eq!(warnings, 12, "one warning per unused Go key:\n{out}");
    assert!(out.contains("kubernetes is not used"), "{out}");
    assert!(
        !out.contains("sk-openai"),
        "secrets never reach the log:\n{out}"
    );
}

/// A deployment with MongoDB and a provider but no `JWT_SECRET` (say, a typo in a Secret's
/// name) must not start in dev mode against production data.
#[test]
fn production_settings_without_a_jwt_secret_exit_naming_it() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_chatbox-server"))
        .env_clear()
        .env("MONGO_URI", "mongodb://127.0.0.1:1")
        .env("LLM_PROVIDER_1_ID", "p")
        .env("LLM_PROVIDER_1_TYPE", "openai")
        .env("LLM_PROVIDER_1_ENDPOINT", "http://127.0.0.1:1/v1")
        .env("LLM_PROVIDER_1_MODEL", "m")
        .env("SERVER_PORT", crate::process::free_port().to_string())
        .current_dir(std::env::temp_dir())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "must not start: {stderr}");
    assert!(stderr.contains("JWT_SECRET"), "{stderr}");
    assert!(
        !String::from_utf8_lossy(&out.stdout).contains("token"),
        "no dev banner"
    );
}
