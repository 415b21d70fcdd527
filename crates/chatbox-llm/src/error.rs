//! The crate's own error: an invalid provider configuration. Provider failures at run time use
//! chatbox-core's [`chatbox_core::LlmError`].

use std::fmt;

/// One invalid field of a provider's configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldProblem {
    /// The field, as written in the config (`endpoint`, `timeouts.idle_ms`, ...).
    pub field: &'static str,
    /// What is wrong with it (never contains the API key).
    pub reason: String,
}

impl fmt::Display for FieldProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.field, self.reason)
    }
}

/// Why a provider or client could not be built.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// Fields of one provider's configuration are invalid; every problem is listed.
    #[error("invalid LLM provider {provider:?}: {}", join(problems))]
    Invalid {
        /// The provider id as configured (possibly empty).
        provider: String,
        /// Every problem found.
        problems: Vec<FieldProblem>,
    },
    /// Two providers share an id.
    #[error("LLM provider id {id:?} is configured more than once")]
    DuplicateId {
        /// The repeated id.
        id: String,
    },
    /// The HTTP client could not be built (TLS setup).
    #[error("cannot build the HTTP client")]
    Client(#[source] reqwest::Error),
}

fn join(problems: &[FieldProblem]) -> String {
    problems
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}
