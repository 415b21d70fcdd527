//! Reading existing data that this build cannot fully understand (documents written by the Go
//! service or by hand): one bad message never makes its session unreadable, and one bad session
//! document never turns a list into an error. The bad part is skipped, logged with the session
//! id, and counted in `chatbox_store_unreadable_total{kind}`; `check` lists every such part for
//! an operator before switching over.

use chatbox_core::{Message, Session, StoreError};
use futures::TryStreamExt;
use mongodb::bson::{Bson, Document, doc};

use super::MongoStore;
use super::document as f;

/// Keeps a readable item; logs and counts an unreadable one.
pub(super) fn keep<T>(kind: &'static str, session: &str, read: Result<T, StoreError>) -> Option<T> {
    match read {
        Ok(v) => Some(v),
        Err(e) => {
            tracing::warn!(session, kind, error = %e, "unreadable stored data skipped");
            metrics::counter!("chatbox_store_unreadable_total", "kind" => kind).increment(1);
            None
        }
    }
}

fn doc_id(d: &Document) -> String {
    match d.get(f::ID) {
        Some(Bson::String(s)) => s.clone(),
        Some(other) => other.to_string(),
        None => "<no _id>".into(),
    }
}

/// Session rows, skipping documents that cannot be read.
pub(super) fn sessions(docs: &[Document]) -> Vec<Session> {
    docs.iter()
        .filter_map(|d| keep("session", &doc_id(d), f::session_from_doc(d)))
        .collect()
}

/// A session's messages, skipping the ones that cannot be read.
pub(super) fn messages(
    session: &str,
    items: &[Bson],
    decrypt: impl Fn(&str) -> String,
) -> Vec<Message> {
    items
        .iter()
        .filter_map(|m| {
            let read = match m {
                Bson::Document(m) => f::message_from_doc(m, &decrypt),
                _ => Err(StoreError::Corrupt(
                    "a msgs element is not a document".into(),
                )),
            };
            keep("message", session, read)
        })
        .collect()
}

/// One part of the stored data this build cannot read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataProblem {
    /// The session document's `_id`.
    pub session: String,
    /// The message's position in `msgs`, when the problem is one message.
    pub message: Option<usize>,
    /// Why it cannot be read.
    pub reason: String,
}

impl MongoStore {
    /// Scans every session document (read-only) and reports each document and message this
    /// build cannot read, with the reason (`chatbox-server check-data`).
    pub async fn check_data(&self) -> Result<Vec<DataProblem>, StoreError> {
        // Each round trip has the admin-query deadline; the scan as a whole may take long.
        let limit = self.admin_timeout;
        let timed_out =
            || StoreError::Unavailable("check-data: the server did not answer in time".into());
        let mut cursor = tokio::time::timeout(limit, self.coll.find(doc! {}))
            .await
            .map_err(|_| timed_out())?
            .map_err(|e| StoreError::Unavailable(Box::new(e)))?;
        let mut problems = Vec::new();
        while let Some(d) = tokio::time::timeout(limit, cursor.try_next())
            .await
            .map_err(|_| timed_out())?
            .map_err(|e| StoreError::Unavailable(Box::new(e)))?
        {
            let session = doc_id(&d);
            if let Err(e) = f::session_from_doc(&d) {
                problems.push(DataProblem {
                    session: session.clone(),
                    message: None,
                    reason: e.to_string(),
                });
            }
            let Some(Bson::Array(items)) = d.get(f::MESSAGES) else {
                continue;
            };
            for (i, m) in items.iter().enumerate() {
                let read = match m {
                    Bson::Document(m) => {
                        f::message_from_doc(m, |c| self.cipher.decrypt(c)).map(|_| ())
                    }
                    _ => Err(StoreError::Corrupt("not a document".into())),
                };
                if let Err(e) = read {
                    problems.push(DataProblem {
                        session: session.clone(),
                        message: Some(i),
                        reason: e.to_string(),
                    });
                }
            }
        }
        Ok(problems)
    }
}
