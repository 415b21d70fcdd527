//! Aggregation pipelines and filters for the admin queries (CONTRACT §2.1–2.2), run in the
//! database.
//!
//! Guarantees: the order matches [`chatbox_core::query::SortKey::compare`] (ties by start time,
//! then id; a missing end time sorts lowest; durations in whole seconds, measured to `now` for
//! active sessions; legacy documents without `lastActivity` use their start time); messages are
//! never shipped back with session rows. Only operators that both MongoDB ≥ 4.2 and SecantusDB
//! implement are used: `$match`, `$addFields`, `$sort`, `$skip`, `$limit`, `$project`, `$group`,
//! `$size`, `$ifNull`, `$subtract`, `$divide`, `$trunc`, `$max`, `$cond`, `$eq`, `$gt`, `$sum`.
//! (`$facet` works on both too, but a separate count lets an index serve the page's sort.)

use chatbox_core::query::{
    SessionFilter, SessionMetrics, SessionQuery, SessionStatus, SortKey, SortOrder, TimeWindow,
};
use chrono::{DateTime, Utc};
use mongodb::bson::{Bson, Document, doc};

use super::document::{
    ADMIN_ASSISTED, AVG_RESP, END, HELP, HELP_AT, ID, LAST_ACTIVITY, MAX_RESP, MESSAGES, MSG_COUNT,
    RESP_COUNT, START, TAKEOVERS, TOKENS, USER, bson_int, bson_time, num,
};

/// Computed sort field: duration in seconds.
const DUR_KEY: &str = "_dur";
/// Computed sort field: last activity, falling back to the start time.
const LAST_KEY: &str = "_la";

/// The `$match` filter of an admin list.
pub fn filter(f: &SessionFilter) -> Document {
    let mut d = Document::new();
    if let Some(u) = &f.user_id {
        d.insert(USER, u.as_str());
    }
    match f.status {
        // `null` matches a missing field too.
        Some(SessionStatus::Active) => {
            d.insert(END, Bson::Null);
        }
        Some(SessionStatus::Ended) => {
            d.insert(END, doc! { "$ne": Bson::Null });
        }
        None => {}
    }
    if let Some(v) = f.admin_assisted {
        // Missing flags (legacy documents) count as false.
        d.insert(
            ADMIN_ASSISTED,
            if v {
                Bson::Boolean(true)
            } else {
                doc! { "$ne": true }.into()
            },
        );
    }
    if let Some(v) = f.help_requested {
        d.insert(
            HELP,
            if v {
                Bson::Boolean(true)
            } else {
                doc! { "$ne": true }.into()
            },
        );
    }
    let mut range = Document::new();
    if let Some(t) = f.start_from {
        range.insert("$gte", bson_time(t));
    }
    if let Some(t) = f.start_to {
        range.insert("$lte", bson_time(t));
    }
    if !range.is_empty() {
        d.insert(START, range);
    }
    d
}

/// `$addFields` computing the message count from the array.
pub fn count_messages() -> Document {
    doc! { "$addFields": { MSG_COUNT: { "$size": { "$ifNull": [format!("${MESSAGES}"), []] } } } }
}

/// `$project` dropping the arrays a session row does not need.
pub fn drop_arrays() -> Document {
    doc! { "$project": { MESSAGES: 0, TAKEOVERS: 0 } }
}

/// `$addFields` for the last-activity sort key.
pub fn last_activity_key() -> Document {
    doc! { "$addFields": { LAST_KEY: { "$ifNull": [format!("${LAST_ACTIVITY}"), format!("${START}")] } } }
}

/// Sort by last activity, newest first (the user's own list).
pub fn newest_activity_first() -> Document {
    doc! { "$sort": { LAST_KEY: -1, START: -1, ID: -1 } }
}

/// The admin list page pipeline (the total is counted separately with [`filter`]). Sorts on a
/// stored field run before the message count and projection, so an index can serve them; computed
/// keys are added first and the arrays dropped before sorting, so the sort handles small rows.
pub fn list(q: &SessionQuery, now: DateTime<Utc>) -> Vec<Document> {
    let dir = match q.order {
        SortOrder::Asc => 1,
        SortOrder::Desc => -1,
    };
    let mut pipeline = vec![doc! { "$match": filter(&q.filter) }];
    let stored_key = match q.sort {
        SortKey::StartTime => Some(START),
        SortKey::EndTime => Some(END),
        SortKey::TotalTokens => Some(TOKENS),
        SortKey::UserId => Some(USER),
        SortKey::HelpRequestedAt => Some(HELP_AT),
        SortKey::Duration | SortKey::LastActivity | SortKey::MessageCount => None,
    };
    let key = match (stored_key, q.sort) {
        (Some(key), _) => key,
        (None, SortKey::Duration) => {
            let elapsed_ms = doc! { "$subtract": [
                { "$ifNull": [format!("${END}"), bson_time(now)] },
                format!("${START}"),
            ] };
            pipeline.push(doc! { "$addFields": { DUR_KEY: {
                "$max": [0, { "$trunc": { "$divide": [elapsed_ms, 1000] } }]
            } } });
            DUR_KEY
        }
        (None, SortKey::LastActivity) => {
            pipeline.push(last_activity_key());
            LAST_KEY
        }
        (None, _) => MSG_COUNT,
    };
    if stored_key.is_none() {
        pipeline.push(count_messages());
        pipeline.push(drop_arrays());
    }
    let mut sort = Document::new();
    sort.insert(key, dir);
    sort.insert(START, dir);
    sort.insert(ID, dir);
    pipeline.push(doc! { "$sort": sort });
    pipeline.push(doc! { "$skip": bson_int(q.offset) });
    pipeline.push(doc! { "$limit": i64::from(q.limit.get()) });
    if stored_key.is_some() {
        pipeline.push(count_messages());
        pipeline.push(drop_arrays());
    }
    pipeline
}

/// The metrics pipeline over sessions started in the window: one group document (none when no
/// session started in it).
pub fn metrics(w: TimeWindow) -> Vec<Document> {
    let replied = doc! { "$gt": [ { "$ifNull": [format!("${RESP_COUNT}"), 0] }, 0 ] };
    vec![
        doc! { "$match": { START: { "$gte": bson_time(w.start()), "$lte": bson_time(w.end()) } } },
        doc! { "$group": {
            "_id": Bson::Null,
            "total": { "$sum": 1 },
            "active": { "$sum": { "$cond": [ { "$ifNull": [format!("${END}"), false] }, 0, 1 ] } },
            "assisted": { "$sum": { "$cond": [ { "$eq": [format!("${ADMIN_ASSISTED}"), true] }, 1, 0 ] } },
            "help": { "$sum": { "$cond": [ { "$eq": [format!("${HELP}"), true] }, 1, 0 ] } },
            "tokens": { "$sum": { "$ifNull": [format!("${TOKENS}"), 0] } },
            "maxResp": { "$max": { "$ifNull": [format!("${MAX_RESP}"), 0] } },
            "avgSum": { "$sum": { "$cond": [ replied.clone(), { "$ifNull": [format!("${AVG_RESP}"), 0] }, 0 ] } },
            "avgN": { "$sum": { "$cond": [ replied, 1, 0 ] } },
        } },
    ]
}

/// The figures of the [`metrics()`] group document; all zero when no session started in the
/// window (no group). Concurrency is left to the caller.
pub fn metrics_from_group(g: Option<&Document>) -> SessionMetrics {
    let mut m = SessionMetrics::default();
    if let Some(g) = g {
        m.total_sessions = num(g, "total");
        m.active_sessions = num(g, "active");
        m.ended_sessions = m.total_sessions.saturating_sub(m.active_sessions);
        m.admin_assisted_count = num(g, "assisted");
        m.help_requested_count = num(g, "help");
        m.total_tokens = num(g, "tokens");
        m.max_response_time = num(g, "maxResp");
        m.avg_response_time = num(g, "avgSum").checked_div(num(g, "avgN")).unwrap_or(0);
    }
    m
}

/// Sessions overlapping the window: started by its end and not ended before its start.
pub fn overlapping(w: TimeWindow) -> Document {
    doc! {
        START: { "$lte": bson_time(w.end()) },
        "$or": [ { END: Bson::Null }, { END: { "$gt": bson_time(w.start()) } } ],
    }
}

#[cfg(test)]
mod tests {
    use chatbox_core::UserId;

    use super::*;

    #[test]
    fn filters_use_go_field_names_and_tolerate_missing_flags() {
        let f = SessionFilter {
            user_id: Some(UserId::parse("u1").unwrap()),
            status: Some(SessionStatus::Active),
            admin_assisted: Some(false),
            ..Default::default()
        };
        let d = filter(&f);
        assert_eq!(d.get_str("uid").unwrap(), "u1");
        assert_eq!(d.get("endTs"), Some(&Bson::Null));
        assert_eq!(
            d.get_document("adminAssisted").unwrap(),
            &doc! { "$ne": true }
        );
    }

    #[test]
    fn list_pipeline_sorts_with_tie_breakers_then_pages() {
        let q = SessionQuery {
            sort: SortKey::Duration,
            order: SortOrder::Asc,
            offset: 20,
            ..Default::default()
        };
        let p = list(&q, Utc::now());
        let stages: Vec<&str> = p
            .iter()
            .filter_map(|d| d.keys().next())
            .map(String::as_str)
            .collect();
        assert_eq!(
            stages,
            [
                "$match",
                "$addFields",
                "$addFields",
                "$project",
                "$sort",
                "$skip",
                "$limit"
            ]
        );
        let sort = p[4].get_document("$sort").unwrap();
        let keys: Vec<&String> = sort.keys().collect();
        assert_eq!(keys, ["_dur", "ts", "_id"]);
        assert!(sort.values().all(|v| v == &Bson::Int32(1)));
        assert_eq!(p[5].get_i64("$skip").unwrap(), 20);
        // A stored key sorts first, so an index can serve it.
        let p = list(&SessionQuery::default(), Utc::now());
        assert_eq!(
            p[1].get_document("$sort").unwrap(),
            &doc! { "ts": -1, "_id": -1 }
        );
    }
}
