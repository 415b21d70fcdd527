//! Classification of MongoDB driver errors into [`StoreError`]s and retry decisions, from the
//! driver's error kinds, server error codes and labels — never from error text.
//!
//! Guarantees: a duplicate key (code 11000) is [`StoreError::Conflict`]; network, server
//! selection, pool-cleared, failover and shutdown errors and those labelled
//! `RetryableWriteError`/`TransientTransactionError`/`RetryableError` are
//! [`StoreError::Unavailable`]. Such a failure is retried when the operation is idempotent, or when
//! the error proves the server did not apply it (no server selected, a command error reply, a
//! `RetryableWriteError`/`NoWritesPerformed` label); an I/O error in the middle of a non-idempotent
//! write is not retried, since the write may have happened.

use chatbox_core::StoreError;
use mongodb::error::{Error, ErrorKind, WriteFailure};

use crate::retry::Failure;

/// The duplicate key error code.
const DUPLICATE_KEY: i32 = 11000;

/// Server error codes of network trouble, failover and shutdown: the command did not run and a
/// later attempt may succeed.
const TRANSIENT_CODES: &[i32] = &[
    6,     // HostUnreachable
    7,     // HostNotFound
    89,    // NetworkTimeout
    91,    // ShutdownInProgress
    189,   // PrimarySteppedDown
    262,   // ExceededTimeLimit
    9001,  // SocketException
    10107, // NotWritablePrimary
    11600, // InterruptedAtShutdown
    11602, // InterruptedDueToReplStateChange
    13435, // NotPrimaryNoSecondaryOk
    13436, // NotPrimaryOrSecondary
];

/// Whether repeating an operation after it may have been applied is harmless.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Idempotent {
    /// Reads and writes whose repetition changes nothing more (`$set`, conditional updates).
    Yes,
    /// Writes that would apply twice (`$push`, increments).
    No,
}

/// True for a duplicate key error in any of the shapes the driver reports it.
pub(crate) fn is_duplicate_key(e: &Error) -> bool {
    match e.kind.as_ref() {
        ErrorKind::Write(WriteFailure::WriteError(w)) => w.code == DUPLICATE_KEY,
        ErrorKind::Command(c) => c.code == DUPLICATE_KEY,
        ErrorKind::InsertMany(m) => m
            .write_errors
            .as_ref()
            .is_some_and(|ws| ws.iter().any(|w| w.code == DUPLICATE_KEY)),
        _ => false,
    }
}

/// Classifies `e` for an operation with the given idempotency.
pub(crate) fn classify(e: Error, idempotent: Idempotent) -> Failure {
    if is_duplicate_key(&e) {
        return Failure::fatal(StoreError::Conflict("duplicate key"));
    }
    let labelled = e.contains_label("RetryableWriteError")
        || e.contains_label("TransientTransactionError")
        || e.contains_label("RetryableError");
    let (transient, not_applied) = match e.kind.as_ref() {
        ErrorKind::ServerSelection { .. } | ErrorKind::ConnectionPoolCleared { .. } => (true, true),
        ErrorKind::Io(_) => (true, false),
        ErrorKind::Command(c) if TRANSIENT_CODES.contains(&c.code) => (true, true),
        _ => (labelled, false),
    };
    let not_applied = not_applied
        || e.contains_label("RetryableWriteError")
        || e.contains_label("NoWritesPerformed");
    if transient {
        Failure {
            retryable: idempotent == Idempotent::Yes || not_applied,
            error: StoreError::Unavailable(Box::new(e)),
        }
    } else {
        Failure::fatal(StoreError::Backend(Box::new(e)))
    }
}

#[cfg(test)]
mod tests {
    use mongodb::bson::{doc, from_document};
    use mongodb::error::{CommandError, WriteError};

    use super::*;

    fn command(code: i32) -> Error {
        let c: CommandError =
            from_document(doc! { "code": code, "codeName": "X", "errmsg": "m" }).unwrap();
        Error::from(ErrorKind::Command(c))
    }

    #[test]
    fn duplicate_keys_are_conflicts_in_every_shape() {
        let w: WriteError = from_document(doc! { "code": 11000, "errmsg": "dup" }).unwrap();
        let write = Error::from(ErrorKind::Write(WriteFailure::WriteError(w)));
        assert!(matches!(
            classify(write, Idempotent::Yes).error,
            StoreError::Conflict(_)
        ));
        let f = classify(command(11000), Idempotent::Yes);
        assert!(matches!(f.error, StoreError::Conflict(_)) && !f.retryable);
    }

    #[test]
    fn io_errors_are_transient_but_only_retried_when_idempotent() {
        let io = || {
            Error::from(std::io::Error::new(
                std::io::ErrorKind::ConnectionReset,
                "x",
            ))
        };
        let f = classify(io(), Idempotent::Yes);
        assert!(f.error.is_transient() && f.retryable);
        let f = classify(io(), Idempotent::No);
        assert!(
            f.error.is_transient() && !f.retryable,
            "a $push may have been applied"
        );
    }

    #[test]
    fn failover_codes_are_retried_even_for_pushes_and_other_codes_are_fatal() {
        let f = classify(command(10107), Idempotent::No);
        assert!(f.error.is_transient() && f.retryable);
        let f = classify(command(2), Idempotent::Yes); // BadValue
        assert!(matches!(f.error, StoreError::Backend(_)) && !f.retryable);
    }
}
