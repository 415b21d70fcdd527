//! Unit tests of the SQLite store's storage details: config, encryption at rest, WAL,
//! checkpoints, durability across reopen, rows this build cannot read, and how rusqlite errors
//! are classified.

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

#[tokio::test]
async fn checkpoint_empties_the_write_ahead_log_and_keeps_every_write() {
    let config = temp_config("checkpoint");
    let cipher = Cipher::new(Some(KEY), None).unwrap();
    let store = SqliteStore::open(config.clone(), cipher.clone())
        .await
        .unwrap();
    assert_eq!(store.path(), config.path());
    let id = SessionId::parse("s-ckpt").unwrap();
    let s = Session::new(id.clone(), UserId::parse("u1").unwrap(), t0());
    store.create_session(&s).await.unwrap();
    let m = Message::text(Sender::User, "kept across the checkpoint", t0());
    store.append_message(&id, &m).await.unwrap();

    let wal = PathBuf::from(format!("{}-wal", config.path().display()));
    let wal_len = || std::fs::metadata(&wal).unwrap().len();
    assert!(wal_len() > 0, "the writes are in the write-ahead log");
    store.checkpoint().await.unwrap();
    assert_eq!(
        wal_len(),
        0,
        "the log was copied into the file and truncated"
    );
    assert_eq!(store.messages(&id, None).await.unwrap(), vec![m.clone()]);
    drop(store);

    let reopened = SqliteStore::open(config.clone(), cipher).await.unwrap();
    assert_eq!(reopened.messages(&id, None).await.unwrap(), vec![m]);
    drop(reopened);
    std::fs::remove_dir_all(&config.data_dir).unwrap();
}

#[tokio::test]
async fn debug_names_the_file_but_never_the_key() {
    let config = temp_config("debug");
    let store = SqliteStore::open(config.clone(), Cipher::new(Some(KEY), None).unwrap())
        .await
        .unwrap();
    let shown = format!("{store:?}");
    assert!(shown.starts_with("SqliteStore"), "{shown}");
    assert!(
        shown.contains(&format!("{:?}", config.path())),
        "the path is shown: {shown}"
    );
    assert!(!shown.contains("0123456789abcdef"), "{shown}");
    drop(store);
    std::fs::remove_dir_all(&config.data_dir).unwrap();
}

#[tokio::test]
async fn rows_this_build_cannot_read_are_corrupt_errors_naming_the_column() {
    let config = temp_config("corrupt");
    let store = SqliteStore::open(config.clone(), Cipher::plaintext())
        .await
        .unwrap();
    let good = SessionId::parse("s-good").unwrap();
    store
        .create_session(&Session::new(
            good.clone(),
            UserId::parse("u1").unwrap(),
            t0(),
        ))
        .await
        .unwrap();
    // Rows as a hand edit or a newer build might leave them.
    store
        .write(|tx| {
            tx.execute_batch(
                "INSERT INTO sessions (id, user_id, start_ms, last_activity_ms) \
                     VALUES ('s-bad-user', '', 0, 0);
                 INSERT INTO takeovers (session_id, seq, kind, admin_id, admin_name, at_ms) \
                     VALUES ('s-good', 1, 'promote', 'a1', 'Ann', 0);",
            )
            .map_err(store_error)
        })
        .await
        .unwrap();

    let bad_user = SessionId::parse("s-bad-user").unwrap();
    match store.get_session(&bad_user).await {
        Err(StoreError::Corrupt(why)) => assert!(why.starts_with("user_id: "), "{why}"),
        other => panic!("expected a corrupt user_id, got {other:?}"),
    }
    match store.takeover_events(&good).await {
        Err(StoreError::Corrupt(why)) => assert_eq!(why, "unknown takeover kind"),
        other => panic!("expected an unknown takeover kind, got {other:?}"),
    }
    // The readable session is untouched by its neighbour.
    let read = store.get_session(&good).await.unwrap().unwrap();
    assert_eq!(read.user_id.as_str(), "u1");
    drop(store);
    std::fs::remove_dir_all(&config.data_dir).unwrap();
}

#[test]
fn busy_and_locked_are_transient_constraints_conflicts_and_the_rest_backend_errors() {
    use rusqlite::ffi;
    let failure = |code| rusqlite::Error::SqliteFailure(ffi::Error::new(code), None);
    let cases = [
        (failure(ffi::SQLITE_BUSY), "Unavailable"),
        (failure(ffi::SQLITE_LOCKED), "Unavailable"),
        (failure(ffi::SQLITE_CONSTRAINT), "Conflict"),
        (failure(ffi::SQLITE_CORRUPT), "Backend"),
        (rusqlite::Error::QueryReturnedNoRows, "Backend"),
    ];
    for (error, want) in cases {
        let shown = format!("{error:?}");
        let kind = match store_error(error) {
            StoreError::Unavailable(_) => "Unavailable",
            StoreError::Conflict(_) => "Conflict",
            StoreError::Backend(_) => "Backend",
            other => panic!("{shown}: unexpected {other:?}"),
        };
        assert_eq!(kind, want, "{shown}");
    }
}
