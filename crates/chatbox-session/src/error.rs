//! The engine's error type.

use chatbox_core::StoreError;
use chatbox_core::protocol::ErrorCode;

/// Why the engine could not do what a connection asked.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EngineError {
    /// The store failed.
    #[error("storage failed")]
    Store(#[from] StoreError),
    /// A store call did not finish within the engine's deadline (it may still have been applied).
    #[error("storage did not answer in time")]
    StoreTimeout,
    /// The user has as many live sessions as allowed and none of them is idle.
    #[error("too many live sessions for this user")]
    TooManySessions,
    /// The server is shutting down and accepts no new work.
    #[error("server shutting down")]
    ShuttingDown,
    /// The session's mailbox is full.
    #[error("session busy")]
    Busy,
    /// No LLM provider is configured.
    #[error("no LLM provider configured")]
    NoProvider,
    /// The session does not exist for this user (never says whether it exists for another).
    #[error("session not found")]
    NotFound,
    /// Another admin already assists the session.
    #[error("another admin assists this session")]
    Conflict,
    /// The caller may not do this (not an admin, or not the assisting admin).
    #[error("not allowed")]
    Forbidden,
    /// The broker the replicas share failed (the session may be moving between replicas).
    #[error("replica broker unavailable")]
    Broker(#[from] chatbox_core::BrokerError),
    /// The feature is switched off in this deployment.
    #[error("{0} is disabled on this server")]
    Disabled(&'static str),
}

impl EngineError {
    /// The contract code a client sees.
    pub fn code(&self) -> ErrorCode {
        match self {
            Self::Store(_) | Self::StoreTimeout => ErrorCode::StorageError,
            Self::TooManySessions => ErrorCode::TooManyRequests,
            Self::ShuttingDown | Self::Busy | Self::Broker(_) => ErrorCode::SessionBusy,
            Self::NoProvider => ErrorCode::LlmUnavailable,
            Self::NotFound => ErrorCode::NotFound,
            Self::Conflict => ErrorCode::Conflict,
            Self::Forbidden => ErrorCode::Forbidden,
            Self::Disabled(_) => ErrorCode::FeatureDisabled,
        }
    }
}
