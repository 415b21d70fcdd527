//! Which store: MongoDB when `MONGO_URI` (or `mongo.uri`) is set, with its database, collection,
//! timeouts and retry policy; else the embedded SQLite store under `CHATBOX_DATA_DIR`.

use std::path::PathBuf;
use std::time::Duration;

use super::file::MongoSection;
use super::resolver::Resolver;
use super::{DEFAULT_DATA_DIR, MongoSettings, StoreSettings};

/// Resolves the store settings.
pub(super) fn resolve(
    r: &mut Resolver<'_>,
    mongo: MongoSection,
    data_dir: Option<String>,
) -> StoreSettings {
    match r
        .pick("MONGO_URI", "mongo.uri", mongo.uri)
        .filter(|(_, v)| !v.is_empty())
    {
        Some((key, uri)) => {
            if !(uri.starts_with("mongodb://") || uri.starts_with("mongodb+srv://")) {
                r.error(
                    &key,
                    "<hidden>",
                    "must start with mongodb:// or mongodb+srv://",
                );
            }
            StoreSettings::Mongo(MongoSettings {
                uri,
                database: r
                    .pick("MONGO_DATABASE", "mongo.database", mongo.database)
                    .map_or_else(|| "chat".into(), |(_, v)| v),
                collection: r
                    .pick("MONGO_COLLECTION", "mongo.collection", mongo.collection)
                    .map_or_else(|| "sessions".into(), |(_, v)| v),
                connect_timeout: r.duration(
                    "MONGO_CONNECT_TIMEOUT",
                    "mongo.connect_timeout",
                    mongo.connect_timeout,
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
            })
        }
        None => StoreSettings::Sqlite {
            data_dir: PathBuf::from(
                r.pick("CHATBOX_DATA_DIR", "chatbox.data_dir", data_dir)
                    .map_or_else(|| DEFAULT_DATA_DIR.into(), |(_, v)| v),
            ),
        },
    }
}
