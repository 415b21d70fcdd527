//! The update documents of the session writes, in the Go service's field names (CONTRACT §7):
//! appending a message, appending a finished AI reply together with its statistics, and
//! applying a [`SessionPatch`].
//!
//! Guarantees: each builder yields the modifications of ONE `update_one` on the session
//! document, so what it changes is applied atomically or not at all. Values that come from users
//! (names, message documents) enter pipeline updates through `$literal`, so text that looks like
//! an operator or a `$field` path is stored as written. A reply's statistics follow
//! `Session::record_response` exactly: tokens add up, the maximum is kept, and the mean is
//! recomputed from the stored mean and count and truncated to whole milliseconds.

use chatbox_core::ports::store::SessionPatch;
use chrono::{DateTime, Utc};
use mongodb::bson::{Bson, Document, doc};

use super::document as f;

/// A pipeline value taken literally (never as a `$field` path or an operator).
pub(super) fn literal(v: impl Into<Bson>) -> Document {
    doc! { "$literal": v.into() }
}

/// A pipeline value: `field`, or `default` when the document lacks it (legacy documents).
pub(super) fn if_null(field: &str, default: impl Into<Bson>) -> Document {
    doc! { "$ifNull": [format!("${field}"), default.into()] }
}

/// Appends the (already encrypted) message document `message` sent at `at`: pushes it to the
/// messages array (whose size is the message count) and moves the last activity.
pub(super) fn append_message(message: Document, at: DateTime<Utc>) -> Document {
    doc! {
        "$push": { f::MESSAGES: message },
        "$set": { f::LAST_ACTIVITY: f::bson_time(at) },
    }
}

/// Appends the (already encrypted) reply document `message` sent at `at` and folds `tokens` and
/// `response_ms` into the session's figures, as one pipeline stage: every expression of a
/// `$set` stage sees the document as it was before the update.
pub(super) fn append_reply(
    message: Document,
    at: DateTime<Utc>,
    tokens: u64,
    response_ms: u64,
) -> Vec<Document> {
    let (tokens, ms) = (f::bson_int(tokens), f::bson_int(response_ms));
    let count = if_null(f::RESP_COUNT, 0_i64);
    let total_ms =
        doc! { "$add": [ { "$multiply": [if_null(f::AVG_RESP, 0_i64), count.clone()] }, ms ] };
    vec![doc! { "$set": {
        f::MESSAGES: { "$concatArrays": [ if_null(f::MESSAGES, Bson::Array(Vec::new())), [ literal(message) ] ] },
        f::LAST_ACTIVITY: literal(f::bson_time(at)),
        f::TOKENS: { "$add": [if_null(f::TOKENS, 0_i64), tokens] },
        f::MAX_RESP: { "$max": [if_null(f::MAX_RESP, 0_i64), ms] },
        f::AVG_RESP: { "$toLong": { "$trunc": { "$divide": [total_ms, { "$add": [count.clone(), 1_i64] }] } } },
        f::RESP_COUNT: { "$add": [count, 1_i64] },
    } }]
}

/// The pipeline applying `patch`, or `None` when it changes nothing. The first help request
/// time is kept; reopening clears the end time and the stored duration.
pub(super) fn patch(patch: &SessionPatch) -> Option<Vec<Document>> {
    let mut set = Document::new();
    if let Some(name) = &patch.name {
        set.insert(f::NAME, literal(name.as_str()));
    }
    if let Some(model) = &patch.model_id {
        set.insert(f::MODEL, literal(model.as_str()));
    }
    if let Some(at) = patch.help_requested_at {
        set.insert(f::HELP, true);
        set.insert(f::HELP_AT, if_null(f::HELP_AT, f::bson_time(at)));
    }
    if let Some((admin_id, admin_name)) = &patch.assisting_admin {
        set.insert(f::ADMIN_ASSISTED, true);
        set.insert(f::ADMIN_ID, literal(admin_id.as_str()));
        set.insert(f::ADMIN_NAME, literal(admin_name.as_str()));
    }
    if patch.reopen {
        set.insert(f::DURATION, 0_i64);
    }
    if set.is_empty() {
        return None;
    }
    let mut stages = vec![doc! { "$set": set }];
    if patch.reopen {
        stages.push(doc! { "$unset": [f::END] });
    }
    Some(stages)
}

#[cfg(test)]
mod tests;
