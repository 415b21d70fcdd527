//! The crate's error: a channel that cannot be built ([`Error`]), with every invalid setting
//! listed at once ([`FieldProblem`]). Once a channel exists, deliveries report chatbox-core's
//! [`chatbox_core::NotifyError`] instead.
//!
//! Problems name the setting by the environment key CONTRACT §10 gives it (`EMAIL_FROM`,
//! `ADMIN_PHONES`, ...), or by the struct field when the contract names no key (`timeout_ms`), so
//! an operator can find the line to fix. A problem never quotes a password, token or secret.

use std::fmt;

use chatbox_core::ports::BoxError;

/// One invalid setting of a channel's configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldProblem {
    /// The setting: its CONTRACT §10 environment key, else the config field name.
    pub key: &'static str,
    /// What is wrong with it.
    pub reason: String,
}

impl fmt::Display for FieldProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.key, self.reason)
    }
}

/// Why a notification channel could not be built.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Settings of one channel are invalid; every problem is listed.
    #[error("invalid {channel} notification settings: {}", join(problems))]
    Invalid {
        /// The channel (`smtp`, `ses`, `sms`, `webhook`).
        channel: &'static str,
        /// Every problem found.
        problems: Vec<FieldProblem>,
    },
    /// The channel's client could not be built (TLS setup, AWS configuration loading).
    #[error("cannot build the {channel} notification client")]
    Client {
        /// The channel.
        channel: &'static str,
        /// The underlying error.
        #[source]
        source: BoxError,
    },
}

impl Error {
    /// The problems of an [`Error::Invalid`]; empty for other errors.
    pub fn problems(&self) -> &[FieldProblem] {
        match self {
            Error::Invalid { problems, .. } => problems,
            Error::Client { .. } => &[],
        }
    }
}

fn join(problems: &[FieldProblem]) -> String {
    problems
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}

/// Collects the problems of one configuration, then turns them into an [`Error::Invalid`].
#[derive(Debug, Default)]
pub(crate) struct Problems(Vec<FieldProblem>);

impl Problems {
    pub(crate) fn push(&mut self, key: &'static str, reason: impl Into<String>) {
        self.0.push(FieldProblem {
            key,
            reason: reason.into(),
        });
    }

    /// `value` must hold something other than whitespace.
    pub(crate) fn non_empty(&mut self, key: &'static str, value: &str) -> bool {
        if value.trim().is_empty() {
            self.push(key, "is empty");
            return false;
        }
        true
    }

    /// `value` must be a bare email address (`name@example.com`).
    pub(crate) fn email(&mut self, key: &'static str, value: &str) {
        if self.non_empty(key, value) && value.trim().parse::<lettre::Address>().is_err() {
            self.push(key, format!("{:?} is not an email address", value.trim()));
        }
    }

    /// `values` must list at least one address, each valid.
    pub(crate) fn emails(&mut self, key: &'static str, values: &[String]) {
        if values.is_empty() {
            self.push(key, "lists no address");
        }
        for v in values {
            if v.trim().parse::<lettre::Address>().is_err() {
                self.push(key, format!("{:?} is not an email address", v.trim()));
            }
        }
    }

    /// `value` must be an absolute `http` or `https` URL with a host.
    pub(crate) fn http_url(&mut self, key: &'static str, value: &str) {
        if !self.non_empty(key, value) {
            return;
        }
        match reqwest::Url::parse(value.trim()) {
            Ok(u) if matches!(u.scheme(), "http" | "https") && u.host().is_some() => {}
            Ok(_) => self.push(key, "must be an http:// or https:// URL with a host"),
            Err(e) => self.push(key, format!("is not a URL ({e})")),
        }
    }

    /// A timeout must be positive.
    pub(crate) fn timeout(&mut self, key: &'static str, ms: u64) {
        if ms == 0 {
            self.push(key, "must be more than 0 milliseconds");
        }
    }

    /// Free text that ends up in a header must hold no control character.
    pub(crate) fn single_line(&mut self, key: &'static str, value: &str) {
        if value.chars().any(char::is_control) {
            self.push(key, "contains a control character");
        }
    }

    pub(crate) fn into_vec(self) -> Vec<FieldProblem> {
        self.0
    }

    pub(crate) fn finish(self, channel: &'static str) -> Result<(), Error> {
        if self.0.is_empty() {
            Ok(())
        } else {
            Err(Error::Invalid {
                channel,
                problems: self.0,
            })
        }
    }
}

/// An error and its sources, `: `-separated (reqwest and the AWS SDK say why only in their
/// sources).
pub(crate) fn causes(e: &(dyn std::error::Error + 'static)) -> String {
    let mut text = e.to_string();
    let mut next = e.source();
    while let Some(source) = next {
        text.push_str(": ");
        text.push_str(&source.to_string());
        next = source.source();
    }
    text
}
