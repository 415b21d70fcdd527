//! Which store: MongoDB when `MONGO_URI` (or `mongo.uri`, or the Go file's `dbs.chat.uri` /
//! `database.uri`) is set, with its database, collection, timeouts, retry policy and slow-operation
//! threshold; else the embedded SQLite store under `CHATBOX_DATA_DIR`.

use std::path::PathBuf;
use std::time::Duration;

use super::file::{DatabaseSection, DbsSection, MongoSection};
use super::resolver::Resolver;
use super::{DEFAULT_DATA_DIR, MongoSettings, StoreSettings};

/// The Go file's spellings of the Mongo settings.
pub(super) struct GoMongo {
    pub(super) dbs: DbsSection,
    pub(super) database: DatabaseSection,
}

/// The data directory (embedded store, local uploads).
pub(super) fn data_dir(r: &Resolver<'_>, file: Option<String>) -> PathBuf {
    PathBuf::from(
        r.pick("CHATBOX_DATA_DIR", "chatbox.data_dir", file)
            .map_or_else(|| DEFAULT_DATA_DIR.into(), |(_, v)| v),
    )
}

/// Resolves the store settings.
pub(super) fn resolve(
    r: &mut Resolver<'_>,
    mongo: MongoSection,
    go: GoMongo,
    data_dir: PathBuf,
) -> StoreSettings {
    let GoMongo { dbs, database } = go;
    let chat = dbs.chat;
    let uri = r
        .pick_first(
            "MONGO_URI",
            vec![
                ("mongo.uri", mongo.uri),
                ("dbs.chat.uri", chat.uri),
                ("database.uri", database.uri),
            ],
        )
        .filter(|(_, v)| !v.is_empty());
    let Some((key, uri)) = uri else {
        return StoreSettings::Sqlite { data_dir };
    };
    if !(uri.starts_with("mongodb://") || uri.starts_with("mongodb+srv://")) {
        r.error(
            &key,
            "<hidden>",
            "must start with mongodb:// or mongodb+srv://",
        );
    }
    let slow = r.duration_first(
        "MONGO_SLOW_THRESHOLD",
        vec![
            ("mongo.slow_threshold", mongo.slow_threshold),
            ("dbs.slowThreshold", dbs.slow_threshold.map(|f| f.raw())),
        ],
        Duration::ZERO,
    );
    StoreSettings::Mongo(MongoSettings {
        uri,
        database: r
            .pick_first(
                "MONGO_DATABASE",
                vec![
                    ("mongo.database", mongo.database),
                    ("dbs.chat.database", chat.database),
                ],
            )
            .map_or_else(|| "chat".into(), |(_, v)| v),
        collection: r
            .pick_first(
                "MONGO_COLLECTION",
                vec![
                    ("mongo.collection", mongo.collection),
                    ("dbs.chat.collection", chat.collection),
                ],
            )
            .map_or_else(|| "sessions".into(), |(_, v)| v),
        connect_timeout: r.duration_first(
            "MONGO_CONNECT_TIMEOUT",
            vec![
                ("mongo.connect_timeout", mongo.connect_timeout),
                (
                    "dbs.chat.connectTimeout",
                    chat.connect_timeout.map(|f| f.raw()),
                ),
            ],
            Duration::from_secs(10),
        ),
        retry_attempts: r.number(
            "MONGO_RETRY_ATTEMPTS",
            "mongo.retry_attempts",
            mongo.retry_attempts,
            3,
            |n| (1..=10).contains(n),
            "attempts from 1 to 10",
        ),
        retry_delay: r.duration(
            "MONGO_RETRY_DELAY",
            "mongo.retry_delay",
            mongo.retry_delay,
            Duration::from_millis(100),
        ),
        retry_max_delay: r.duration(
            "MONGO_RETRY_MAX_DELAY",
            "mongo.retry_max_delay",
            mongo.retry_max_delay,
            Duration::from_secs(2),
        ),
        slow_threshold: (!slow.is_zero()).then_some(slow),
    })
}
