//! The crate's error type for constructing a store ([`Error`]): a bad key, an unreachable
//! database, a failed migration, invalid file-storage settings. Once a store exists, operations
//! report core's [`chatbox_core::StoreError`] (or, for file storage,
//! [`chatbox_core::BlobError`]) instead, with the backend error boxed as its source.

use std::fmt;

use chatbox_core::ports::BoxError;

/// One invalid setting, named by its environment key (`S3_BUCKET`), or by the config field
/// when the contract names no key (`timeout_ms`). A problem never quotes a secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldProblem {
    /// The setting.
    pub key: &'static str,
    /// What is wrong with it.
    pub reason: String,
}

impl fmt::Display for FieldProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.key, self.reason)
    }
}

/// Why a store or cipher could not be built.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// An encryption key is not exactly 32 bytes.
    #[error("{which} must be exactly 32 bytes, got {len}")]
    KeyLength {
        /// Which key (`encryption key` or `previous encryption key`).
        which: &'static str,
        /// Its length in bytes.
        len: usize,
    },
    /// The MongoDB client could not be configured or the database could not be reached.
    #[error("cannot connect to MongoDB")]
    Mongo(#[source] mongodb::error::Error),
    /// Creating a MongoDB index failed.
    #[error("cannot create MongoDB index {name}")]
    MongoIndex {
        /// The index name.
        name: &'static str,
        /// The driver's error.
        #[source]
        source: mongodb::error::Error,
    },
    /// The SQLite data directory could not be created.
    #[error("cannot create data directory {path}")]
    DataDir {
        /// The directory.
        path: std::path::PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// Opening or migrating the SQLite database failed.
    #[error("cannot open or migrate SQLite database")]
    Sqlite(#[source] rusqlite::Error),
    /// The SQLite store's writer thread could not be started.
    #[error("cannot start the SQLite writer thread")]
    WriterThread(#[source] std::io::Error),
    /// The SQLite file was written by a newer version of this crate.
    #[error("SQLite schema version {found} is newer than this build supports ({supported})")]
    SchemaTooNew {
        /// The version found in the file.
        found: i64,
        /// The newest version this build knows.
        supported: i64,
    },
    /// File-storage settings are invalid; every problem is listed.
    #[error("invalid {what} settings: {}", join(problems))]
    InvalidConfig {
        /// Which settings (`S3 file storage`).
        what: &'static str,
        /// Every problem found.
        problems: Vec<FieldProblem>,
    },
    /// The file-storage client could not be built (AWS configuration loading failed or timed
    /// out).
    #[error("cannot build the {what} client")]
    Client {
        /// Which client (`S3`).
        what: &'static str,
        /// The underlying error.
        #[source]
        source: BoxError,
    },
    /// A blocking task could not be joined (the runtime is shutting down).
    #[error("background task failed")]
    Join(#[source] tokio::task::JoinError),
}

fn join(problems: &[FieldProblem]) -> String {
    problems
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}
