//! The help-request outbox in MongoDB: its own collection (`<collection>_help_requests`), one
//! document per request — `{_id, sessionId, requestedAt, notice, deliveries}` — with the notice
//! (it holds the user's note and the last messages) encrypted like message content. A delivery's
//! outcome replaces that channel's array element in one update.

use chatbox_core::outbox::{Delivery, HelpRequest};
use chatbox_core::ports::notify::HelpNotice;
use chatbox_core::{SessionId, StoreError};
use futures::TryStreamExt;
use mongodb::bson::{Bson, Document, doc, from_bson, to_bson};
use mongodb::options::IndexOptions;
use mongodb::{Collection, IndexModel};

use super::MongoStore;
use super::classify::Idempotent;
use super::document::bson_time;
use crate::error::Error;

/// The suffix of the outbox collection's name.
pub const COLLECTION_SUFFIX: &str = "_help_requests";

fn corrupt(id: &str, what: &str, e: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(format!("help request {id}: {what}: {e}"))
}

/// Creates the outbox's indexes (a no-op when they exist).
pub(super) async fn create_indexes(coll: &Collection<Document>) -> Result<(), Error> {
    for (name, keys) in [
        (
            "idx_help_session",
            doc! { "sessionId": 1, "requestedAt": 1 },
        ),
        (
            "idx_help_pending",
            doc! { "deliveries.state": 1, "requestedAt": 1 },
        ),
    ] {
        let options = IndexOptions::builder().name(name.to_owned()).build();
        let model = IndexModel::builder().keys(keys).options(options).build();
        coll.create_index(model)
            .await
            .map_err(|source| Error::MongoIndex { name, source })?;
    }
    Ok(())
}

impl MongoStore {
    fn request_doc(&self, request: &HelpRequest) -> Result<Document, StoreError> {
        let notice = serde_json::to_string(&request.notice)
            .map_err(|e| corrupt(&request.id, "notice", e))?;
        let deliveries =
            to_bson(&request.deliveries).map_err(|e| corrupt(&request.id, "deliveries", e))?;
        Ok(doc! {
            "_id": &request.id,
            "sessionId": request.session_id().as_str(),
            "requestedAt": bson_time(request.requested_at()),
            "notice": self.cipher.encrypt(&notice)?,
            "deliveries": deliveries,
        })
    }

    fn request_from_doc(&self, d: &Document) -> Result<HelpRequest, StoreError> {
        let id = d
            .get_str("_id")
            .map_err(|e| corrupt("?", "_id", e))?
            .to_owned();
        let notice = d.get_str("notice").map_err(|e| corrupt(&id, "notice", e))?;
        let notice: HelpNotice = serde_json::from_str(&self.cipher.decrypt(notice))
            .map_err(|e| corrupt(&id, "notice", e))?;
        let deliveries = d
            .get("deliveries")
            .cloned()
            .unwrap_or(Bson::Array(Vec::new()));
        let deliveries: Vec<Delivery> =
            from_bson(deliveries).map_err(|e| corrupt(&id, "deliveries", e))?;
        Ok(HelpRequest {
            id,
            notice,
            deliveries,
        })
    }

    pub(super) async fn outbox_insert(&self, request: &HelpRequest) -> Result<(), StoreError> {
        let d = self.request_doc(request)?;
        let result = self
            .run(
                "record_help_request",
                Idempotent::No,
                self.op_timeout,
                || {
                    let d = d.clone();
                    async move { self.outbox.insert_one(d).await }
                },
            )
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(StoreError::Conflict(_)) => {
                Err(StoreError::Conflict("help request id already exists"))
            }
            Err(e) => Err(e),
        }
    }

    pub(super) async fn outbox_update(
        &self,
        request_id: &str,
        delivery: &Delivery,
    ) -> Result<(), StoreError> {
        let value = to_bson(delivery).map_err(|e| corrupt(request_id, "delivery", e))?;
        let filter = doc! { "_id": request_id, "deliveries.channel": &delivery.channel };
        let update = doc! { "$set": { "deliveries.$": value } };
        // Setting the same outcome twice is harmless, so a retry is safe.
        let r = self
            .run("update_delivery", Idempotent::Yes, self.op_timeout, || {
                let (filter, update) = (filter.clone(), update.clone());
                async move { self.outbox.update_one(filter, update).await }
            })
            .await?;
        if r.matched_count == 0 {
            Err(StoreError::NotFound)
        } else {
            Ok(())
        }
    }

    pub(super) async fn outbox_find(
        &self,
        name: &'static str,
        filter: Document,
        limit: Option<u32>,
    ) -> Result<Vec<HelpRequest>, StoreError> {
        let docs: Vec<Document> = self
            .run(name, Idempotent::Yes, self.op_timeout, || {
                let filter = filter.clone();
                async move {
                    let mut find = self
                        .outbox
                        .find(filter)
                        .sort(doc! { "requestedAt": 1, "_id": 1 });
                    if let Some(n) = limit {
                        find = find.limit(i64::from(n));
                    }
                    find.await?.try_collect().await
                }
            })
            .await?;
        docs.iter().map(|d| self.request_from_doc(d)).collect()
    }

    pub(super) async fn outbox_pending(&self, limit: u32) -> Result<Vec<HelpRequest>, StoreError> {
        let filter = doc! { "deliveries.state": "pending" };
        self.outbox_find("pending_help_requests", filter, Some(limit))
            .await
    }

    pub(super) async fn outbox_of_session(
        &self,
        id: &SessionId,
    ) -> Result<Vec<HelpRequest>, StoreError> {
        let filter = doc! { "sessionId": id.as_str() };
        self.outbox_find("help_requests", filter, None).await
    }
}
