//! Unit tests for admin query parsing and ordering.

use chrono::TimeZone;

use super::*;
use crate::ids::SessionId;

#[test]
fn defaults_match_the_contract() {
    let q = SessionQuery::from_pairs([]).unwrap();
    assert_eq!(q.sort, SortKey::StartTime);
    assert_eq!(q.order, SortOrder::Desc);
    assert_eq!(q.limit.get(), 100);
    assert_eq!(q.offset, 0);
}

#[test]
fn every_sort_key_parses_and_unknown_names_the_allowed_values() {
    for key in SortKey::ALLOWED.split(", ") {
        let q = SessionQuery::from_pairs([("sort_by", key)]).unwrap();
        assert_eq!(SortKey::parse(key).unwrap(), q.sort);
    }
    let err = SessionQuery::from_pairs([("sort_by", "name")]).unwrap_err();
    assert_eq!(err.param, "sort_by");
    assert_eq!(
        err.to_string(),
        "invalid sort_by \"name\"; allowed: start_time, end_time, duration, last_activity, \
         message_count, total_tokens, user_id, help_requested_at"
    );
}

#[test]
fn limit_out_of_range_is_an_error_not_a_reset() {
    assert_eq!(
        SessionQuery::from_pairs([("limit", "1000")])
            .unwrap()
            .limit
            .get(),
        1000
    );
    for bad in ["0", "1001", "-1", "ten", "5abc"] {
        let err = SessionQuery::from_pairs([("limit", bad)]).unwrap_err();
        assert_eq!(err.param, "limit", "{bad}");
    }
}

#[test]
fn filters_parse_both_spellings_and_date_only_end_is_inclusive() {
    let q = SessionQuery::from_pairs([
        ("user_id", "u1"),
        ("status", "ended"),
        ("admin_assisted", "true"),
        ("help_requested", "false"),
        ("start_time", "2024-05-01"),
        ("end_time", "2024-05-02"),
        ("offset", "20"),
        ("sort_order", "asc"),
        ("unrelated", "x"),
    ])
    .unwrap();
    assert_eq!(q.filter.user_id.as_ref().unwrap().as_str(), "u1");
    assert_eq!(q.filter.status, Some(SessionStatus::Ended));
    assert_eq!(q.filter.admin_assisted, Some(true));
    assert_eq!(q.filter.help_requested, Some(false));
    assert_eq!(
        q.filter.start_from.unwrap().to_rfc3339(),
        "2024-05-01T00:00:00+00:00"
    );
    assert_eq!(
        q.filter.start_to.unwrap().to_rfc3339(),
        "2024-05-02T23:59:59.999999999+00:00"
    );
    assert_eq!(q.offset, 20);
    let q = SessionQuery::from_pairs([("start_time_from", "2024-05-01T10:00:00+02:00")]).unwrap();
    assert_eq!(
        q.filter.start_from.unwrap().to_rfc3339(),
        "2024-05-01T08:00:00+00:00"
    );
    for (k, v) in [
        ("status", "open"),
        ("admin_assisted", "yes"),
        ("start_time_to", "May 1"),
        ("offset", "-3"),
        ("user_id", &"u".repeat(256)),
    ] {
        assert_eq!(SessionQuery::from_pairs([(k, v)]).unwrap_err().param, k);
    }
}

#[test]
fn window_defaults_to_last_day_and_rejects_reversed_range() {
    let now = Utc.with_ymd_and_hms(2024, 5, 2, 12, 0, 0).unwrap();
    let w = TimeWindow::from_pairs([], now).unwrap();
    assert_eq!(w.end(), now);
    assert_eq!(w.start(), now - Duration::hours(24));
    let err = TimeWindow::from_pairs(
        [("start_time", "2024-05-03"), ("end_time", "2024-05-01")],
        now,
    )
    .unwrap_err();
    assert_eq!(err.param, "end_time");
}

#[test]
fn filter_and_sort_semantics() {
    let t0 = Utc.with_ymd_and_hms(2024, 5, 1, 0, 0, 0).unwrap();
    let mut a = Session::new(
        SessionId::parse("a").unwrap(),
        UserId::parse("u1").unwrap(),
        t0,
    );
    let mut b = Session::new(
        SessionId::parse("b").unwrap(),
        UserId::parse("u2").unwrap(),
        t0 + Duration::hours(1),
    );
    a.end_time = Some(t0 + Duration::hours(5));
    b.message_count = 3;
    let now = t0 + Duration::hours(2);
    assert_eq!(
        SortKey::Duration.compare(&a, &b, now),
        Ordering::Greater,
        "5h vs 1h"
    );
    assert_eq!(SortKey::MessageCount.compare(&a, &b, now), Ordering::Less);
    assert_eq!(
        SortKey::EndTime.compare(&a, &b, now),
        Ordering::Greater,
        "active sorts lowest"
    );
    let f = SessionFilter {
        status: Some(SessionStatus::Active),
        ..Default::default()
    };
    assert!(!f.matches(&a));
    assert!(f.matches(&b));
    let f = SessionFilter {
        start_to: Some(t0),
        ..Default::default()
    };
    assert!(f.matches(&a) && !f.matches(&b));
}
