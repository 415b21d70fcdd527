//! The server's error type: everything that stops it from starting or serving.

use crate::config::ConfigErrors;

/// Why the server could not start or keep serving.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServerError {
    /// The configuration is invalid (every bad key is listed).
    #[error("{0}")]
    Config(#[from] ConfigErrors),
    /// The store could not be opened.
    #[error("cannot open the store: {0}")]
    Store(#[from] chatbox_store::Error),
    /// An LLM provider is misconfigured (every problem is listed).
    #[error("invalid LLM configuration: {}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "))]
    Llm(Vec<chatbox_llm::ConfigError>),
    /// `check-data` could not run.
    #[error("check-data: {0}")]
    CheckData(String),
    /// The broker the replicas share could not be reached.
    #[error("cannot connect to NATS: {0}")]
    Broker(#[from] chatbox_core::BrokerError),
    /// A staff notification channel could not be built.
    #[error("{0}")]
    Notify(#[from] chatbox_notify::Error),
    /// The JWT settings are unusable.
    #[error("invalid JWT settings: {0}")]
    Auth(#[from] chatbox_ws::auth::AuthError),
    /// Binding or serving the socket failed.
    #[error("cannot serve on {addr}: {source}")]
    Io {
        /// The address.
        addr: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
}
