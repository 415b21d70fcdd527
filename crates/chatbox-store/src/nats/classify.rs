//! How async-nats failures map onto [`BrokerError`], in one place.
//!
//! Guarantees:
//! - A failure while the connection is down, a timeout, a missing JetStream responder or a
//!   JetStream cluster without a leader is `Unavailable` (retrying may help); anything else
//!   unexpected is `Backend`. The async-nats error is always kept as the source.
//! - [`within`] bounds a whole operation by the broker's deadline; running out of it is
//!   `Unavailable`.

use std::future::Future;
use std::time::Duration;

use async_nats::connection::State;
use async_nats::jetstream::ErrorCode;
use chatbox_core::BrokerError;

/// Runs `op` within `deadline`.
pub(crate) async fn within<T>(
    deadline: Duration,
    op: impl Future<Output = Result<T, BrokerError>>,
) -> Result<T, BrokerError> {
    tokio::time::timeout(deadline, op)
        .await
        .unwrap_or_else(|elapsed| Err(BrokerError::Unavailable(Box::new(elapsed))))
}

/// The port error for `err`: `Unavailable` when `transient` (the caller's reading of the error
/// kind) or when the client is not connected right now, else `Backend`.
pub(crate) fn failure<E>(client: &async_nats::Client, err: E, transient: bool) -> BrokerError
where
    E: std::error::Error + Send + Sync + 'static,
{
    if transient || client.connection_state() != State::Connected {
        BrokerError::Unavailable(Box::new(err))
    } else {
        BrokerError::Backend(Box::new(err))
    }
}

/// Whether a JetStream API error says the service is only temporarily unable to answer.
pub(crate) fn transient_jetstream(err: &async_nats::jetstream::Error) -> bool {
    [
        ErrorCode::CLUSTER_NOT_AVAILABLE,
        ErrorCode::CLUSTER_NOT_ACTIVE,
        ErrorCode::CLUSTER_NOT_LEADER,
        ErrorCode::CLUSTER_NOT_ASSIGNED,
    ]
    .contains(&err.error_code())
        || err.code() == 503
        || err.code() == 408
}

/// A failure found by this crate rather than reported by async-nats.
pub(crate) fn backend(what: impl Into<String>) -> BrokerError {
    BrokerError::Backend(what.into().into())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn api_error(code: u16, err_code: u64) -> async_nats::jetstream::Error {
        let json = format!(r#"{{"code":{code},"err_code":{err_code},"description":"x"}}"#);
        serde_json::from_str(&json).expect("a JetStream API error")
    }

    #[test]
    fn a_leaderless_or_unavailable_jetstream_is_transient_and_the_rest_is_not() {
        assert!(transient_jetstream(&api_error(503, 10008)), "unavailable");
        assert!(transient_jetstream(&api_error(408, 1)), "request timeout");
        assert!(
            transient_jetstream(&api_error(500, 10007)),
            "cluster not assigned"
        );
        assert!(
            !transient_jetstream(&api_error(404, 10059)),
            "stream not found"
        );
        assert!(!transient_jetstream(&api_error(400, 10058)), "name in use");
    }

    #[test]
    fn a_failure_found_here_is_a_backend_error() {
        assert!(matches!(backend("broken"), BrokerError::Backend(_)));
    }
}
