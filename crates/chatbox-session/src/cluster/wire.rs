//! Mail between replicas: what a proxy (a replica serving connections of a session another
//! replica owns) and the owner tell each other. JSON, internal to one deployment: every replica
//! of a deployment runs the same version (a rolling upgrade that changes this format must drain
//! first; unknown mail is logged and dropped, never a panic).

use chatbox_core::protocol::ClientFrame;
use chatbox_core::{Identity, SessionId, UserId};
use serde::{Deserialize, Serialize};

use crate::connection::Participant;
use crate::error::EngineError;
use crate::ops::{OpOutcome, SessionOp};

/// One message between replicas about one session.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct Mail {
    pub(crate) session: SessionId,
    /// The sending replica (where answers go).
    pub(crate) from: String,
    pub(crate) body: Body,
}

/// What the mail says. Proxy → owner first, then owner → proxy.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) enum Body {
    /// A connection of the proxy's joins the session.
    Attach {
        conn: u64,
        identity: Identity,
        participant: Participant,
    },
    /// A connection of the proxy's went away.
    Detach { conn: u64 },
    /// A validated client frame from a connection of the proxy's.
    Input { conn: u64, frame: ClientFrame },
    /// The proxy's connections to the session, sent every lease period: the owner forgets
    /// remote connections it has not heard of for a lease TTL.
    Present { conns: Vec<u64> },
    /// A session operation (REST) made on the proxy's replica.
    Call { id: u64, call: Call },

    /// The connection is attached: its `connection_status` (the seq it carries is where the
    /// connection's live frames start).
    Attached { conn: u64, status: String },
    /// A frame for one connection only (errors, pongs, refusals).
    Direct { conn: u64, frame: String },
    /// A frame without seq for every connection but `except` (typing indicators).
    Live { except: Option<u64>, frame: String },
    /// The replica does not run the session (any more): the proxy's connections reconnect.
    Gone,
    /// The outcome of a `Call`.
    Answer {
        id: u64,
        outcome: Result<Outcome, WireError>,
    },
}

/// A session operation made on a replica that does not own the session.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) enum Call {
    Op(SessionOp),
    Takeover(Identity),
    Release(UserId),
}

/// What a call did.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) enum Outcome {
    Op(OpOutcome),
    Done,
}

/// An engine error as it crosses replicas (store errors lose their detail, logged where they
/// happened).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) enum WireError {
    Storage,
    StoreTimeout,
    ShuttingDown,
    Busy,
    NotFound,
    Conflict,
    Forbidden,
    Other,
}

impl From<&EngineError> for WireError {
    fn from(e: &EngineError) -> Self {
        match e {
            EngineError::Store(_) => Self::Storage,
            EngineError::StoreTimeout => Self::StoreTimeout,
            EngineError::ShuttingDown => Self::ShuttingDown,
            EngineError::Busy => Self::Busy,
            EngineError::NotFound => Self::NotFound,
            EngineError::Conflict => Self::Conflict,
            EngineError::Forbidden => Self::Forbidden,
            _ => Self::Other,
        }
    }
}

impl From<WireError> for EngineError {
    fn from(e: WireError) -> Self {
        match e {
            WireError::Storage => Self::Store(chatbox_core::StoreError::Unavailable(
                "on the owning replica".into(),
            )),
            WireError::StoreTimeout => Self::StoreTimeout,
            WireError::ShuttingDown => Self::ShuttingDown,
            WireError::Busy | WireError::Other => Self::Busy,
            WireError::NotFound => Self::NotFound,
            WireError::Conflict => Self::Conflict,
            WireError::Forbidden => Self::Forbidden,
        }
    }
}

impl Mail {
    pub(crate) fn encode(&self) -> bytes::Bytes {
        // Serializing these types cannot fail (no maps with non-string keys, no custom impls
        // that error).
        bytes::Bytes::from(serde_json::to_vec(self).unwrap_or_default())
    }

    pub(crate) fn decode(bytes: &[u8]) -> Option<Self> {
        match serde_json::from_slice(bytes) {
            Ok(mail) => Some(mail),
            Err(e) => {
                tracing::warn!(error = %e, "unreadable mail from another replica dropped");
                None
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn engine_errors_cross_replicas_as_their_kind() {
        let cases = [
            (EngineError::StoreTimeout, WireError::StoreTimeout),
            (EngineError::ShuttingDown, WireError::ShuttingDown),
            (EngineError::Busy, WireError::Busy),
            (EngineError::NotFound, WireError::NotFound),
            (EngineError::Conflict, WireError::Conflict),
            (EngineError::Forbidden, WireError::Forbidden),
        ];
        for (error, wire) in cases {
            assert_eq!(WireError::from(&error), wire);
            let back = EngineError::from(wire);
            assert_eq!(back.code(), error.code(), "{error:?}");
        }
        let storage = EngineError::Store(chatbox_core::StoreError::Conflict("x"));
        assert_eq!(WireError::from(&storage), WireError::Storage);
        assert!(matches!(
            EngineError::from(WireError::Storage),
            EngineError::Store(_)
        ));
        assert_eq!(
            WireError::from(&EngineError::TooManySessions),
            WireError::Other
        );
        assert!(matches!(
            EngineError::from(WireError::Other),
            EngineError::Busy
        ));
    }

    #[test]
    fn mail_round_trips_and_garbage_is_dropped() {
        let mail = Mail {
            session: SessionId::parse("s1").unwrap(),
            from: "a".into(),
            body: Body::Detach { conn: 7 },
        };
        let back = Mail::decode(&mail.encode()).unwrap();
        assert_eq!(back.from, "a");
        assert!(matches!(back.body, Body::Detach { conn: 7 }));
        assert!(Mail::decode(b"{not json").is_none());
    }
}
