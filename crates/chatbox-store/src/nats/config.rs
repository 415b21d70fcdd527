//! [`NatsConfig`]: where the NATS broker connects, how it names itself and its data on the
//! server, and its limits, with defaults beside it. The URL may carry credentials, so `Debug`
//! shows it without them.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use crate::error::FieldProblem;

/// Default [`NatsConfig::url`].
pub const DEFAULT_URL: &str = "nats://127.0.0.1:4222";
/// Default [`NatsConfig::prefix`].
pub const DEFAULT_PREFIX: &str = "chatbox";
/// Default [`NatsConfig::lease_ttl`].
pub const DEFAULT_LEASE_TTL: Duration = Duration::from_secs(10);
/// Default [`NatsConfig::history`] (the session engine's default replay window).
pub const DEFAULT_HISTORY: usize = 2048;
/// Default [`NatsConfig::log_max_age`].
pub const DEFAULT_LOG_MAX_AGE: Duration = Duration::from_secs(24 * 3600);
/// Default [`NatsConfig::op_timeout`].
pub const DEFAULT_OP_TIMEOUT: Duration = Duration::from_secs(5);
/// The shortest lease TTL and log age: JetStream refuses a stream `max_age` below 100 ms.
pub const MIN_MAX_AGE: Duration = Duration::from_millis(100);
/// The longest prefix, in characters (it names a stream and a bucket).
pub const MAX_PREFIX_LEN: usize = 64;

/// How to reach NATS (with JetStream enabled) and what to keep there.
#[derive(Clone, PartialEq, Eq)]
pub struct NatsConfig {
    /// Server URL (`nats://host:port`, `tls://host:port`, or several separated by commas); may
    /// carry `user:password@` or `token@`, which is never logged.
    pub url: String,
    /// This replica's name, unique among the live replicas of the deployment (the connection
    /// name too).
    pub replica: String,
    /// A NATS `.creds` file (user JWT and NKey seed) to authenticate with.
    pub credentials: Option<PathBuf>,
    /// A PEM file of CA certificates to trust for TLS to the server.
    pub tls_ca: Option<PathBuf>,
    /// Refuse to talk to a server without TLS (flag).
    pub require_tls: bool,
    /// Prefix of every subject, stream and bucket of the deployment (`A-Z a-z 0-9 - _`, at most
    /// [`MAX_PREFIX_LEN`] characters): replicas share data exactly when they share it.
    pub prefix: String,
    /// How long a lease lives without renewal (at least [`MIN_MAX_AGE`]). Every replica of a
    /// deployment must use the same value: it is the lease bucket's `max_age`.
    pub lease_ttl: Duration,
    /// How many frames each session's log keeps at least (frames, at least 1).
    pub history: usize,
    /// How long a frame stays in a log at most (zero: until pushed out by `history`).
    pub log_max_age: Duration,
    /// Deadline of connecting and of every broker operation.
    pub op_timeout: Duration,
}

impl Default for NatsConfig {
    fn default() -> Self {
        Self {
            url: DEFAULT_URL.to_owned(),
            replica: String::new(),
            credentials: None,
            tls_ca: None,
            require_tls: false,
            prefix: DEFAULT_PREFIX.to_owned(),
            lease_ttl: DEFAULT_LEASE_TTL,
            history: DEFAULT_HISTORY,
            log_max_age: DEFAULT_LOG_MAX_AGE,
            op_timeout: DEFAULT_OP_TIMEOUT,
        }
    }
}

impl fmt::Debug for NatsConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NatsConfig")
            .field("url", &without_userinfo(&self.url))
            .field("replica", &self.replica)
            .field("credentials", &self.credentials)
            .field("tls_ca", &self.tls_ca)
            .field("require_tls", &self.require_tls)
            .field("prefix", &self.prefix)
            .field("lease_ttl", &self.lease_ttl)
            .field("history", &self.history)
            .field("log_max_age", &self.log_max_age)
            .field("op_timeout", &self.op_timeout)
            .finish()
    }
}

impl NatsConfig {
    /// Every invalid setting (empty when the config is usable), each named by its field.
    pub fn problems(&self) -> Vec<FieldProblem> {
        let mut p = Vec::new();
        let mut push = |key, reason: String| p.push(FieldProblem { key, reason });
        if self.url.trim().is_empty() {
            push("url", "is empty".into());
        }
        if self.replica.trim().is_empty() {
            push(
                "replica",
                "is empty: every replica needs a unique name".into(),
            );
        }
        let prefix_ok = self
            .prefix
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if self.prefix.is_empty() || self.prefix.len() > MAX_PREFIX_LEN || !prefix_ok {
            push(
                "prefix",
                format!("must be 1 to {MAX_PREFIX_LEN} of A-Z, a-z, 0-9, '-' and '_'"),
            );
        }
        if self.lease_ttl < MIN_MAX_AGE {
            push("lease_ttl", format!("must be at least {MIN_MAX_AGE:?}"));
        }
        if self.history == 0 || i64::try_from(self.history).is_err() {
            push("history", "must be at least 1 (and fit in an i64)".into());
        }
        if !self.log_max_age.is_zero() && self.log_max_age < MIN_MAX_AGE {
            push(
                "log_max_age",
                format!("must be zero or at least {MIN_MAX_AGE:?}"),
            );
        }
        if self.op_timeout.is_zero() {
            push("op_timeout", "must be positive".into());
        }
        p
    }
}

/// `url` with any `user:password@` or `token@` of each server replaced, for logs.
pub(crate) fn without_userinfo(url: &str) -> String {
    url.split(',')
        .map(|server| {
            let (scheme, rest) = match server.split_once("://") {
                Some((scheme, rest)) => (Some(scheme), rest),
                None => (None, server),
            };
            let rest = match rest.rsplit_once('@') {
                Some((_, host)) => format!("<redacted>@{host}"),
                None => rest.to_owned(),
            };
            match scheme {
                Some(scheme) => format!("{scheme}://{rest}"),
                None => rest,
            }
        })
        .collect::<Vec<_>>()
        .join(",")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_are_hidden_in_every_spelling_of_a_url() {
        assert_eq!(
            without_userinfo("nats://ann:secret@a:4222,tok3n@b:4222,c:4222"),
            "nats://<redacted>@a:4222,<redacted>@b:4222,c:4222"
        );
        assert_eq!(without_userinfo("nats://a:4222"), "nats://a:4222");
    }

    #[test]
    fn the_default_needs_only_a_replica_name() {
        let problems = NatsConfig::default().problems();
        let keys: Vec<&str> = problems.iter().map(|p| p.key).collect();
        assert_eq!(keys, ["replica"]);
        let named = NatsConfig {
            replica: "r1".into(),
            ..NatsConfig::default()
        };
        assert_eq!(named.problems(), []);
    }

    #[test]
    fn every_bad_setting_is_listed() {
        let bad = NatsConfig {
            url: " ".into(),
            replica: String::new(),
            prefix: "a.b".into(),
            lease_ttl: Duration::from_millis(10),
            history: 0,
            log_max_age: Duration::from_millis(1),
            op_timeout: Duration::ZERO,
            ..NatsConfig::default()
        };
        let keys: Vec<&str> = bad.problems().iter().map(|p| p.key).collect();
        assert_eq!(
            keys,
            [
                "url",
                "replica",
                "prefix",
                "lease_ttl",
                "history",
                "log_max_age",
                "op_timeout"
            ]
        );
    }

    #[test]
    fn debug_hides_url_credentials() {
        let config = NatsConfig {
            url: "nats://ann:s3cret@a.example:4222,tls://tok3n@b.example".into(),
            ..NatsConfig::default()
        };
        let shown = format!("{config:?}");
        assert!(
            !shown.contains("s3cret") && !shown.contains("tok3n"),
            "{shown}"
        );
        assert!(
            shown.contains("nats://<redacted>@a.example:4222"),
            "{shown}"
        );
        assert!(shown.contains("tls://<redacted>@b.example"), "{shown}");
    }
}
