//! [`MongoConfig`]: where the MongoDB store connects and its deadlines, with defaults beside it.
//! The connection string may carry credentials, so `Debug` never shows it.

use serde::{Deserialize, Serialize};

use crate::retry::RetryConfig;

/// Default [`MongoConfig::uri`].
pub const DEFAULT_URI: &str = "mongodb://localhost:27017";
/// Default [`MongoConfig::database`] (the Go service's).
pub const DEFAULT_DATABASE: &str = "chat";
/// Default [`MongoConfig::collection`] (the Go service's).
pub const DEFAULT_COLLECTION: &str = "sessions";
/// Default [`MongoConfig::server_selection_timeout_ms`].
pub const DEFAULT_SERVER_SELECTION_TIMEOUT_MS: u64 = 5_000;
/// Default [`MongoConfig::connect_timeout_ms`].
pub const DEFAULT_CONNECT_TIMEOUT_MS: u64 = 5_000;
/// Default [`MongoConfig::operation_timeout_ms`].
pub const DEFAULT_OPERATION_TIMEOUT_MS: u64 = 10_000;
/// Default [`MongoConfig::admin_query_timeout_ms`].
pub const DEFAULT_ADMIN_QUERY_TIMEOUT_MS: u64 = 30_000;
/// Default [`MongoConfig::max_pool_size`].
pub const DEFAULT_MAX_POOL_SIZE: u32 = 32;

/// How to reach MongoDB.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MongoConfig {
    /// Connection string (`mongodb://` or `mongodb+srv://` URI; may carry credentials, so it is
    /// never logged).
    pub uri: String,
    /// Database name (the server maps `MONGO_DATABASE`).
    pub database: String,
    /// Collection name (the server maps `MONGO_COLLECTION`).
    pub collection: String,
    /// How long to wait for a usable server before an attempt fails (milliseconds).
    pub server_selection_timeout_ms: u64,
    /// TCP connect timeout (milliseconds).
    pub connect_timeout_ms: u64,
    /// Deadline of one attempt of a session or message operation (milliseconds).
    pub operation_timeout_ms: u64,
    /// Deadline of one attempt of an admin list or metrics query (milliseconds).
    pub admin_query_timeout_ms: u64,
    /// Largest number of pooled connections (count).
    pub max_pool_size: u32,
    /// Create the five indexes at connect (flag).
    pub create_indexes: bool,
    /// Retry of transient failures.
    pub retry: RetryConfig,
    /// Operations slower than this are logged and counted (milliseconds; 0 = never).
    pub slow_threshold_ms: u64,
}

impl Default for MongoConfig {
    fn default() -> Self {
        Self {
            uri: DEFAULT_URI.to_owned(),
            database: DEFAULT_DATABASE.to_owned(),
            collection: DEFAULT_COLLECTION.to_owned(),
            server_selection_timeout_ms: DEFAULT_SERVER_SELECTION_TIMEOUT_MS,
            connect_timeout_ms: DEFAULT_CONNECT_TIMEOUT_MS,
            operation_timeout_ms: DEFAULT_OPERATION_TIMEOUT_MS,
            admin_query_timeout_ms: DEFAULT_ADMIN_QUERY_TIMEOUT_MS,
            max_pool_size: DEFAULT_MAX_POOL_SIZE,
            create_indexes: true,
            retry: RetryConfig::default(),
            slow_threshold_ms: 0,
        }
    }
}

impl std::fmt::Debug for MongoConfig {
    fn fmt(&self, fm: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        fm.debug_struct("MongoConfig")
            .field("uri", &"<redacted>")
            .field("database", &self.database)
            .field("collection", &self.collection)
            .field("operation_timeout_ms", &self.operation_timeout_ms)
            .field("retry", &self.retry)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::MongoConfig;

    #[test]
    fn debug_never_shows_the_connection_string_or_its_credentials() {
        let config = MongoConfig {
            uri: "mongodb://chat:hunter2@db.internal:27017/?authSource=admin".into(),
            database: "support".into(),
            ..MongoConfig::default()
        };
        let shown = format!("{config:?}");
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(!shown.contains("db.internal"), "{shown}");
        assert!(shown.contains("uri: \"<redacted>\""), "{shown}");
        assert!(shown.contains("database: \"support\""), "{shown}");
        assert!(shown.contains("collection: \"sessions\""), "{shown}");
    }
}
