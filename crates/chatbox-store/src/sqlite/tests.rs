//! Unit tests of the SQLite store's storage details: config, encryption at rest, WAL,
//! durability across reopen.

use chatbox_core::Sender;
use chrono::TimeZone;

use super::*;

const KEY: &[u8] = b"0123456789abcdef0123456789abcdef";

fn temp_config(tag: &str) -> SqliteConfig {
    let dir = std::env::temp_dir().join(format!(
        "chatbox-store-unit-{tag}-{}-{}",
        std::process::id(),
        rand::random::<u64>()
    ));
    SqliteConfig {
        data_dir: dir,
        ..SqliteConfig::default()
    }
}

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2024, 3, 1, 0, 0, 0).unwrap()
}

#[test]
fn config_defaults_and_rejects_unknown_fields() {
    let c = SqliteConfig::default();
    assert_eq!(c.path(), PathBuf::from("./chatbox-data/chatbox.sqlite3"));
    let parsed: SqliteConfig = serde_json::from_str(r#"{"data_dir":"/var/lib/x"}"#).unwrap();
    assert_eq!(parsed.data_dir, PathBuf::from("/var/lib/x"));
    assert_eq!(parsed.busy_timeout_ms, DEFAULT_BUSY_TIMEOUT_MS);
    assert!(serde_json::from_str::<SqliteConfig>(r#"{"dir":"/x"}"#).is_err());
}

#[tokio::test]
async fn content_is_encrypted_at_rest_in_wal_mode_and_survives_reopen() {
    let config = temp_config("rest");
    let cipher = Cipher::new(Some(KEY), None).unwrap();
    let store = SqliteStore::open(config.clone(), cipher.clone())
        .await
        .unwrap();
    let id = SessionId::parse("s-rest").unwrap();
    let s = Session::new(id.clone(), UserId::parse("u1").unwrap(), t0());
    store.create_session(&s).await.unwrap();
    let m = Message::text(Sender::User, "very secret words", t0());
    store.append_message(&id, &m).await.unwrap();

    let (raw, mode) = store
        .run(|conn| {
            let raw: String = conn
                .query_row("SELECT content FROM messages", [], |r| r.get(0))
                .map_err(store_error)?;
            let mode: String = conn
                .query_row("PRAGMA journal_mode", [], |r| r.get(0))
                .map_err(store_error)?;
            Ok((raw, mode))
        })
        .await
        .unwrap();
    assert_ne!(raw, "very secret words");
    assert_eq!(cipher.decrypt(&raw), "very secret words");
    assert_eq!(mode.to_lowercase(), "wal");
    drop(store);

    let reopened = SqliteStore::open(config.clone(), cipher).await.unwrap();
    assert_eq!(reopened.messages(&id, None).await.unwrap(), vec![m]);
    assert_eq!(
        reopened
            .get_session(&id)
            .await
            .unwrap()
            .unwrap()
            .message_count,
        1
    );
    drop(reopened);
    std::fs::remove_dir_all(&config.data_dir).unwrap();
}

#[tokio::test]
async fn an_unwritable_data_dir_is_a_startup_error() {
    let file =
        std::env::temp_dir().join(format!("chatbox-store-notadir-{}", rand::random::<u64>()));
    std::fs::write(&file, b"x").unwrap();
    let config = SqliteConfig {
        data_dir: file.join("sub"),
        ..SqliteConfig::default()
    };
    let err = SqliteStore::open(config, Cipher::plaintext())
        .await
        .unwrap_err();
    assert!(matches!(err, Error::DataDir { .. }), "{err}");
    std::fs::remove_file(&file).unwrap();
}

#[test]
fn the_default_admin_page_is_read_from_an_index_without_sorting() {
    let mut conn = Connection::open_in_memory().unwrap();
    schema::migrate(&mut conn).unwrap();
    let plan = |sql: &str| -> String {
        let mut stmt = conn.prepare(&format!("EXPLAIN QUERY PLAN {sql}")).unwrap();
        let rows = stmt.query_map([], |r| r.get::<_, String>(3)).unwrap();
        rows.map(Result::unwrap).collect::<Vec<_>>().join("; ")
    };
    let default = plan("SELECT id FROM sessions ORDER BY start_ms DESC, id DESC LIMIT 100");
    assert!(
        default.contains("idx_sessions_start") && !default.contains("TEMP B-TREE"),
        "{default}"
    );
    let by_user = plan(
        "SELECT id FROM sessions WHERE user_id = 'u' ORDER BY start_ms DESC, id DESC LIMIT 100",
    );
    assert!(!by_user.contains("TEMP B-TREE"), "{by_user}");
}
