//! [`SqliteConfig`]: where the embedded database file lives and how hard it syncs, with defaults
//! beside it.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// Default [`SqliteConfig::data_dir`].
pub const DEFAULT_DATA_DIR: &str = "./chatbox-data";
/// Default [`SqliteConfig::file_name`].
pub const DEFAULT_FILE_NAME: &str = "chatbox.sqlite3";
/// Default [`SqliteConfig::busy_timeout_ms`].
pub const DEFAULT_BUSY_TIMEOUT_MS: u64 = 5_000;
/// Default [`SqliteConfig::full_sync`].
pub const DEFAULT_FULL_SYNC: bool = true;

/// Where and how the embedded database is kept.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SqliteConfig {
    /// Directory holding the database file (path; created when missing).
    pub data_dir: PathBuf,
    /// The database file's name inside `data_dir` (file name).
    pub file_name: String,
    /// How long a write waits for a lock held by another process (milliseconds).
    pub busy_timeout_ms: u64,
    /// `true`: fsync on every commit (`synchronous=FULL`, survives power loss); `false`: WAL's
    /// `NORMAL` (survives a process crash, may lose the last commits on power loss) (flag).
    pub full_sync: bool,
}

impl Default for SqliteConfig {
    fn default() -> Self {
        Self {
            data_dir: PathBuf::from(DEFAULT_DATA_DIR),
            file_name: DEFAULT_FILE_NAME.to_owned(),
            busy_timeout_ms: DEFAULT_BUSY_TIMEOUT_MS,
            full_sync: DEFAULT_FULL_SYNC,
        }
    }
}

impl SqliteConfig {
    /// The database file's full path.
    pub fn path(&self) -> PathBuf {
        self.data_dir.join(&self.file_name)
    }
}
