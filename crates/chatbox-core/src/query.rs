//! Admin list and metrics queries (CONTRACT §2.1–2.2) as validated types.
//!
//! The edge hands raw `key=value` pairs to [`SessionQuery::from_pairs`] and
//! [`TimeWindow::from_pairs`]; every bad value comes back as a [`QueryError`] that names the
//! parameter and what is allowed, so the 400 a client sees says how to fix the request. Backends
//! receive only valid queries. [`SessionFilter::matches`] and [`SortKey::compare`] give the
//! reference semantics the in-memory store uses and the database backends must agree with.

use std::cmp::Ordering;
use std::fmt;

use chrono::{DateTime, Duration, NaiveDate, NaiveTime, Utc};

use crate::ids::UserId;
use crate::session::Session;

/// A query parameter with a value that is not allowed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid {param} {value:?}; allowed: {allowed}")]
pub struct QueryError {
    /// The parameter name as the client spelled it.
    pub param: &'static str,
    /// The rejected value (truncated to 100 characters).
    pub value: String,
    /// What would have been accepted.
    pub allowed: &'static str,
}

impl QueryError {
    fn new(param: &'static str, value: &str, allowed: &'static str) -> Self {
        Self {
            param,
            value: value.chars().take(100).collect(),
            allowed,
        }
    }
}

/// Active or ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionStatus {
    /// No end time.
    Active,
    /// Has an end time.
    Ended,
}

/// The admin sort keys: the contract's seven, plus `help_requested_at` for the staff's queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SortKey {
    /// `start_time` (the default).
    #[default]
    StartTime,
    /// `end_time`; active sessions (no end) sort as the smallest value.
    EndTime,
    /// `duration`: end − start, or now − start while active.
    Duration,
    /// `last_activity`.
    LastActivity,
    /// `message_count`.
    MessageCount,
    /// `total_tokens`.
    TotalTokens,
    /// `user_id`.
    UserId,
    /// `help_requested_at`; sessions without a help request sort as the smallest value. With
    /// `help_requested=true&status=active&admin_assisted=false&sort_order=asc` this is the
    /// staff's queue, longest waiting first.
    HelpRequestedAt,
}

impl SortKey {
    /// The allowed spellings, for error messages.
    pub const ALLOWED: &'static str = "start_time, end_time, duration, last_activity, message_count, total_tokens, user_id, \
         help_requested_at";

    /// Parses the `sort_by` parameter.
    pub fn parse(raw: &str) -> Result<Self, QueryError> {
        Ok(match raw {
            "start_time" => Self::StartTime,
            "end_time" => Self::EndTime,
            "duration" => Self::Duration,
            "last_activity" => Self::LastActivity,
            "message_count" => Self::MessageCount,
            "total_tokens" => Self::TotalTokens,
            "user_id" => Self::UserId,
            "help_requested_at" => Self::HelpRequestedAt,
            _ => return Err(QueryError::new("sort_by", raw, Self::ALLOWED)),
        })
    }

    /// Orders two sessions ascending by this key, ties broken by start time then id so that paging
    /// is stable. `now` measures the duration of active sessions.
    pub fn compare(self, a: &Session, b: &Session, now: DateTime<Utc>) -> Ordering {
        let primary = match self {
            Self::StartTime => a.start_time.cmp(&b.start_time),
            Self::EndTime => a.end_time.cmp(&b.end_time),
            Self::Duration => a.duration_secs(now).cmp(&b.duration_secs(now)),
            Self::LastActivity => a.last_activity.cmp(&b.last_activity),
            Self::MessageCount => a.message_count.cmp(&b.message_count),
            Self::TotalTokens => a.total_tokens.cmp(&b.total_tokens),
            Self::UserId => a.user_id.cmp(&b.user_id),
            Self::HelpRequestedAt => a.help_requested_at.cmp(&b.help_requested_at),
        };
        primary
            .then_with(|| a.start_time.cmp(&b.start_time))
            .then_with(|| a.id.cmp(&b.id))
    }
}

/// Ascending or descending.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SortOrder {
    /// Smallest first.
    Asc,
    /// Largest first (the default).
    #[default]
    Desc,
}

impl SortOrder {
    /// Parses the `sort_order` parameter.
    pub fn parse(raw: &str) -> Result<Self, QueryError> {
        match raw {
            "asc" => Ok(Self::Asc),
            "desc" => Ok(Self::Desc),
            _ => Err(QueryError::new("sort_order", raw, "asc, desc")),
        }
    }
}

/// A page size between 1 and 1000.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct PageLimit(u32);

impl PageLimit {
    /// The default page size.
    pub const DEFAULT: PageLimit = PageLimit(100);
    /// The largest page size.
    pub const MAX: u32 = 1000;

    /// A limit from a number; out of range is an error, never silently reset.
    pub fn new(n: u32) -> Result<Self, QueryError> {
        if (1..=Self::MAX).contains(&n) {
            Ok(Self(n))
        } else {
            Err(QueryError::new(
                "limit",
                &n.to_string(),
                "an integer from 1 to 1000",
            ))
        }
    }

    /// Parses the `limit` parameter.
    pub fn parse(raw: &str) -> Result<Self, QueryError> {
        raw.parse::<u32>()
            .map_err(|_| QueryError::new("limit", raw, "an integer from 1 to 1000"))
            .and_then(Self::new)
    }

    /// The limit as a number.
    pub fn get(self) -> u32 {
        self.0
    }
}

impl Default for PageLimit {
    fn default() -> Self {
        Self::DEFAULT
    }
}

impl fmt::Display for PageLimit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// Which sessions an admin list includes. `None` fields do not filter.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SessionFilter {
    /// Exact owner.
    pub user_id: Option<UserId>,
    /// Active or ended.
    pub status: Option<SessionStatus>,
    /// Admin-assisted flag.
    pub admin_assisted: Option<bool>,
    /// Help-requested flag.
    pub help_requested: Option<bool>,
    /// Start time ≥ this.
    pub start_from: Option<DateTime<Utc>>,
    /// Start time ≤ this.
    pub start_to: Option<DateTime<Utc>>,
}

impl SessionFilter {
    /// True when `s` passes every set condition.
    pub fn matches(&self, s: &Session) -> bool {
        self.user_id.as_ref().is_none_or(|u| &s.user_id == u)
            && self.status.is_none_or(|st| match st {
                SessionStatus::Active => s.is_active(),
                SessionStatus::Ended => !s.is_active(),
            })
            && self.admin_assisted.is_none_or(|v| s.admin_assisted == v)
            && self.help_requested.is_none_or(|v| s.help_requested == v)
            && self.start_from.is_none_or(|t| s.start_time >= t)
            && self.start_to.is_none_or(|t| s.start_time <= t)
    }
}

/// A complete admin list query.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SessionQuery {
    /// Which sessions.
    pub filter: SessionFilter,
    /// Sort key.
    pub sort: SortKey,
    /// Sort direction.
    pub order: SortOrder,
    /// Page size.
    pub limit: PageLimit,
    /// Rows to skip.
    pub offset: u64,
}

impl SessionQuery {
    /// Builds a query from URL query pairs. Unknown parameter names are ignored; a known parameter
    /// with a bad value is an error naming it.
    pub fn from_pairs<'a>(
        pairs: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Result<Self, QueryError> {
        let mut q = SessionQuery::default();
        for (key, value) in pairs {
            match key {
                "user_id" if !value.is_empty() => {
                    q.filter.user_id = Some(UserId::parse(value).map_err(|_| {
                        QueryError::new("user_id", value, "a user id of at most 255 characters")
                    })?);
                }
                "status" if !value.is_empty() => {
                    q.filter.status = Some(match value {
                        "active" => SessionStatus::Active,
                        "ended" => SessionStatus::Ended,
                        _ => return Err(QueryError::new("status", value, "active, ended")),
                    });
                }
                "admin_assisted" if !value.is_empty() => {
                    q.filter.admin_assisted = Some(parse_bool("admin_assisted", value)?);
                }
                "help_requested" if !value.is_empty() => {
                    q.filter.help_requested = Some(parse_bool("help_requested", value)?);
                }
                "start_time" | "start_time_from" if !value.is_empty() => {
                    q.filter.start_from = Some(parse_time_bound(param_name(key), value, false)?);
                }
                "end_time" | "start_time_to" if !value.is_empty() => {
                    q.filter.start_to = Some(parse_time_bound(param_name(key), value, true)?);
                }
                "sort_by" if !value.is_empty() => q.sort = SortKey::parse(value)?,
                "sort_order" if !value.is_empty() => q.order = SortOrder::parse(value)?,
                "limit" if !value.is_empty() => q.limit = PageLimit::parse(value)?,
                "offset" if !value.is_empty() => {
                    q.offset = value
                        .parse()
                        .map_err(|_| QueryError::new("offset", value, "an integer ≥ 0"))?;
                }
                _ => {}
            }
        }
        Ok(q)
    }

    /// Orders two sessions as this query wants them.
    pub fn compare(&self, a: &Session, b: &Session, now: DateTime<Utc>) -> Ordering {
        let asc = self.sort.compare(a, b, now);
        match self.order {
            SortOrder::Asc => asc,
            SortOrder::Desc => asc.reverse(),
        }
    }
}

fn param_name(key: &str) -> &'static str {
    match key {
        "start_time" => "start_time",
        "start_time_from" => "start_time_from",
        "end_time" => "end_time",
        _ => "start_time_to",
    }
}

fn parse_bool(param: &'static str, value: &str) -> Result<bool, QueryError> {
    match value {
        "true" => Ok(true),
        "false" => Ok(false),
        _ => Err(QueryError::new(param, value, "true, false")),
    }
}

/// Parses an RFC 3339 time or a `YYYY-MM-DD` date. A date-only upper bound (`end = true`) covers
/// the whole day: it becomes the last nanosecond of that day (UTC).
pub fn parse_time_bound(
    param: &'static str,
    raw: &str,
    end: bool,
) -> Result<DateTime<Utc>, QueryError> {
    const ALLOWED: &str = "an RFC 3339 time (2024-05-01T12:00:00Z) or a date (2024-05-01)";
    if let Ok(t) = DateTime::parse_from_rfc3339(raw) {
        return Ok(t.with_timezone(&Utc));
    }
    let date = NaiveDate::parse_from_str(raw, "%Y-%m-%d")
        .map_err(|_| QueryError::new(param, raw, ALLOWED))?;
    let start = date.and_time(NaiveTime::MIN).and_utc();
    if end {
        Ok(start + Duration::days(1) - Duration::nanoseconds(1))
    } else {
        Ok(start)
    }
}

/// A closed time window `[start, end]` for metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimeWindow {
    start: DateTime<Utc>,
    end: DateTime<Utc>,
}

impl TimeWindow {
    /// The default metrics window length.
    pub const DEFAULT_LENGTH: Duration = Duration::hours(24);

    /// A window; `end` before `start` is an error.
    pub fn new(start: DateTime<Utc>, end: DateTime<Utc>) -> Result<Self, QueryError> {
        if end < start {
            return Err(QueryError::new(
                "end_time",
                &end.to_rfc3339(),
                "a time after start_time",
            ));
        }
        Ok(Self { start, end })
    }

    /// Builds the window from `start_time` / `end_time` pairs (same formats as the list); the
    /// defaults are the 24 hours before `now`.
    pub fn from_pairs<'a>(
        pairs: impl IntoIterator<Item = (&'a str, &'a str)>,
        now: DateTime<Utc>,
    ) -> Result<Self, QueryError> {
        let (mut start, mut end) = (None, None);
        for (key, value) in pairs {
            match key {
                "start_time" if !value.is_empty() => {
                    start = Some(parse_time_bound("start_time", value, false)?);
                }
                "end_time" if !value.is_empty() => {
                    end = Some(parse_time_bound("end_time", value, true)?);
                }
                _ => {}
            }
        }
        let end = end.unwrap_or(now);
        let start = start.unwrap_or(end - Self::DEFAULT_LENGTH);
        Self::new(start, end)
    }

    /// Window start.
    pub fn start(&self) -> DateTime<Utc> {
        self.start
    }

    /// Window end.
    pub fn end(&self) -> DateTime<Utc> {
        self.end
    }
}

/// One page of an admin list.
#[derive(Debug, Clone, PartialEq)]
pub struct SessionPage {
    /// The rows of this page, in query order.
    pub sessions: Vec<Session>,
    /// How many sessions match the filter before paging.
    pub total: u64,
}

/// Aggregate figures over sessions that started in a window (CONTRACT §2.2).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SessionMetrics {
    /// Sessions started in the window.
    pub total_sessions: u64,
    /// Of those, still active.
    pub active_sessions: u64,
    /// Of those, ended.
    pub ended_sessions: u64,
    /// Of those, assisted by an admin.
    pub admin_assisted_count: u64,
    /// Of those, with a help request.
    pub help_requested_count: u64,
    /// Sum of their tokens.
    pub total_tokens: u64,
    /// Mean of their average response times, ms (sessions without replies excluded).
    pub avg_response_time: u64,
    /// Largest of their max response times, ms.
    pub max_response_time: u64,
    /// Time-weighted mean number of sessions open during the window.
    pub avg_concurrent: f64,
    /// Peak number of sessions open at once during the window.
    pub max_concurrent: u64,
}

#[cfg(test)]
mod tests;
