//! Concurrency over a time window: the time-weighted average and the peak number of sessions
//! open at once, from session start/end times (CONTRACT §2.2 `avg_concurrent`/`max_concurrent`).
//!
//! Pure arithmetic so every Store backend reports the same figures: a backend fetches the
//! intervals that overlap the window and hands them to [`concurrency`].

use chrono::{DateTime, Utc};

use crate::query::TimeWindow;

/// The two concurrency figures.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Concurrency {
    /// Time-weighted mean of open sessions over the window.
    pub average: f64,
    /// Peak of simultaneously open sessions within the window.
    pub peak: u64,
}

/// Computes [`Concurrency`] for intervals `(start, end)`; `end = None` means still open, counted
/// until `min(window end, now)`. Intervals are clipped to the window; one that ends exactly when
/// another starts does not overlap it. An empty or zero-length window gives zeros.
pub fn concurrency(
    intervals: impl IntoIterator<Item = (DateTime<Utc>, Option<DateTime<Utc>>)>,
    window: TimeWindow,
    now: DateTime<Utc>,
) -> Concurrency {
    let (ws, we) = (window.start(), window.end());
    let open_until = we.min(now).max(ws);
    // (time, delta): ends (-1) sort before starts (+1) at the same instant.
    let mut events: Vec<(DateTime<Utc>, i64)> = Vec::new();
    for (start, end) in intervals {
        let s = start.max(ws);
        let e = end.unwrap_or(open_until).min(we);
        if e > s {
            events.push((s, 1));
            events.push((e, -1));
        }
    }
    events.sort_unstable();
    let span_ms = (we - ws).num_milliseconds();
    let (mut open, mut peak, mut weighted_ms) = (0i64, 0i64, 0i128);
    let mut last = ws;
    for (t, delta) in events {
        weighted_ms += i128::from(open) * i128::from((t - last).num_milliseconds());
        last = t;
        open += delta;
        peak = peak.max(open);
    }
    let average = if span_ms > 0 {
        weighted_ms as f64 / span_ms as f64
    } else {
        0.0
    };
    Concurrency {
        average,
        peak: u64::try_from(peak).unwrap_or(0),
    }
}

#[cfg(test)]
mod tests {
    use chrono::{Duration, TimeZone};

    use super::*;

    fn h(hours: i64) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2024, 1, 1, 0, 0, 0).unwrap() + Duration::hours(hours)
    }

    #[test]
    fn average_is_time_weighted_and_peak_counts_overlap() {
        let w = TimeWindow::new(h(0), h(10)).unwrap();
        // Two sessions of 5 h each, overlapping for 2 h, plus one open since h(8).
        let c = concurrency(
            [(h(0), Some(h(5))), (h(3), Some(h(8))), (h(8), None)],
            w,
            h(20),
        );
        assert_eq!(c.peak, 2);
        // 5 + 5 + 2 session-hours over 10 hours.
        assert!((c.average - 1.2).abs() < 1e-9, "{}", c.average);
    }

    #[test]
    fn back_to_back_sessions_do_not_overlap_and_outside_ones_are_clipped() {
        let w = TimeWindow::new(h(2), h(4)).unwrap();
        let c = concurrency(
            [(h(0), Some(h(3))), (h(3), Some(h(9))), (h(5), Some(h(6)))],
            w,
            h(9),
        );
        assert_eq!(c.peak, 1);
        assert!((c.average - 1.0).abs() < 1e-9);
    }

    #[test]
    fn open_sessions_count_only_until_now_and_empty_window_is_zero() {
        let w = TimeWindow::new(h(0), h(10)).unwrap();
        let c = concurrency([(h(0), None)], w, h(5));
        assert!((c.average - 0.5).abs() < 1e-9);
        let zero = TimeWindow::new(h(1), h(1)).unwrap();
        assert_eq!(
            concurrency([(h(0), None)], zero, h(5)),
            Concurrency::default()
        );
    }
}
