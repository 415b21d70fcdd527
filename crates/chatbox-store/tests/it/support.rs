//! Shared test fixtures: temporary SQLite stores, per-test MongoDB databases, the known key.

use chatbox_store::{Cipher, MongoConfig, MongoStore, SqliteConfig, SqliteStore};

/// The key the fixtures are encrypted with.
pub const KEY: &[u8] = b"0123456789abcdef0123456789abcdef";

/// A unique suffix for a test's directory or database name.
pub fn unique(tag: &str) -> String {
    format!("{tag}_{}_{:x}", std::process::id(), rand::random::<u64>())
}

/// Where this run's SQLite files go: a per-process directory under cargo's per-target temporary
/// directory. The first call sweeps directories that earlier runs left behind (older than an
/// hour, so a concurrent run is never disturbed).
fn run_dir() -> std::path::PathBuf {
    static SWEEP: std::sync::Once = std::sync::Once::new();
    let parent = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("chatbox-store-it");
    SWEEP.call_once(|| {
        let stale = |e: &std::fs::DirEntry| {
            e.metadata()
                .and_then(|m| m.modified())
                .ok()
                .and_then(|t| t.elapsed().ok())
                .is_some_and(|age| age > std::time::Duration::from_secs(3600))
        };
        if let Ok(entries) = std::fs::read_dir(&parent) {
            for e in entries.flatten().filter(stale) {
                let _ = std::fs::remove_dir_all(e.path());
            }
        }
    });
    parent.join(std::process::id().to_string())
}

/// A fresh directory for one SQLite store.
pub fn temp_dir(tag: &str) -> std::path::PathBuf {
    run_dir().join(unique(tag))
}

/// A fresh SQLite store in its own temporary directory.
pub async fn sqlite(tag: &str, cipher: Cipher) -> SqliteStore {
    let dir = temp_dir(tag);
    let config = SqliteConfig {
        data_dir: dir,
        full_sync: false,
        ..SqliteConfig::default()
    };
    SqliteStore::open(config, cipher)
        .await
        .unwrap_or_else(|e| panic!("open sqlite: {e}"))
}

/// The MongoDB-wire server the tests use, from `CHATBOX_TEST_MONGO_URI`. Fails (never skips)
/// when it is unset.
pub fn mongo_uri() -> String {
    match std::env::var("CHATBOX_TEST_MONGO_URI") {
        Ok(uri) if !uri.trim().is_empty() => uri,
        _ => panic!(
            "CHATBOX_TEST_MONGO_URI is not set: run `cargo xtask test -p chatbox-store`, or start \
             `secantusd-py --port 27217 --storage-path :memory:` and set \
             CHATBOX_TEST_MONGO_URI=mongodb://127.0.0.1:27217"
        ),
    }
}

/// The config of a MongoStore on database `db` of the test server.
pub fn mongo_config(db: &str) -> MongoConfig {
    MongoConfig {
        uri: mongo_uri(),
        database: db.to_owned(),
        ..MongoConfig::default()
    }
}

/// A MongoStore on a fresh database of its own.
pub async fn mongo(tag: &str, cipher: Cipher) -> MongoStore {
    let db = unique(tag);
    MongoStore::connect(mongo_config(&db), cipher)
        .await
        .unwrap_or_else(|e| panic!("connect to {}: {e:?}", mongo_uri()))
}
