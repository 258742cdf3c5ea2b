//! The repositories' clock: integer milliseconds since the Unix epoch (UTC), the unit
//! of every time column of the reference schema, and their conversion to and from the
//! `time::OffsetDateTime` (UTC) and `Duration` of the public types.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use time::OffsetDateTime;

/// A time column (milliseconds since the Unix epoch) as an `OffsetDateTime` in UTC.
/// Columns hold times strata wrote, well inside `OffsetDateTime`'s range; a value
/// outside it (a hand-edited row) reads as the nearest end of the range.
pub fn to_datetime(ms: i64) -> OffsetDateTime {
    let nanos = i128::from(ms) * 1_000_000;
    OffsetDateTime::from_unix_timestamp_nanos(nanos).unwrap_or(if ms < 0 {
        OffsetDateTime::UNIX_EPOCH.replace_year(-9999).unwrap_or(OffsetDateTime::UNIX_EPOCH)
    } else {
        OffsetDateTime::UNIX_EPOCH.replace_year(9999).unwrap_or(OffsetDateTime::UNIX_EPOCH)
    })
}

/// An `OffsetDateTime` as a time column: milliseconds since the Unix epoch (any offset;
/// the instant is what counts). Saturates at `i64`'s range, far beyond year 9999.
pub fn to_millis(at: OffsetDateTime) -> i64 {
    i64::try_from(at.unix_timestamp_nanos() / 1_000_000).unwrap_or(if at.unix_timestamp() < 0 {
        i64::MIN
    } else {
        i64::MAX
    })
}

/// A `Duration` as a millisecond column or parameter, saturating at `i64::MAX`.
pub fn duration_to_ms(duration: Duration) -> i64 {
    i64::try_from(duration.as_millis()).unwrap_or(i64::MAX)
}

/// A millisecond column (a lease, a TTL, a delay) as a `Duration`; negative is zero.
pub fn ms_to_duration(ms: i64) -> Duration {
    Duration::from_millis(u64::try_from(ms).unwrap_or(0))
}

/// Now, in milliseconds since the Unix epoch.
pub fn now_ms() -> i64 {
    // A clock before 1970 is a broken machine; 0 keeps ordering sane there.
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// Where a repository reads the time from: the system clock in service, a
/// [`ManualClock`] in tests and simulations that must control expiry and rate limits.
pub trait Clock: std::fmt::Debug + Send + Sync {
    /// Now, in milliseconds since the Unix epoch.
    fn now_ms(&self) -> i64;
}

/// The system clock ([`now_ms`]), the default of every repository that takes a clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_ms(&self) -> i64 {
        now_ms()
    }
}

/// A clock that only moves when told to; clones share one time.
#[derive(Debug, Clone, Default)]
pub struct ManualClock {
    now: std::sync::Arc<std::sync::atomic::AtomicI64>,
}

impl ManualClock {
    /// A clock standing at `now_ms`.
    pub fn new(now_ms: i64) -> Self {
        ManualClock { now: std::sync::Arc::new(std::sync::atomic::AtomicI64::new(now_ms)) }
    }

    /// Sets the time to `now_ms` (it may go backwards, as a system clock can).
    pub fn set(&self, now_ms: i64) {
        self.now.store(now_ms, std::sync::atomic::Ordering::SeqCst);
    }

    /// Moves the time forward by `ms`.
    pub fn advance(&self, ms: i64) {
        self.now.fetch_add(ms, std::sync::atomic::Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now_ms(&self) -> i64 {
        self.now.load(std::sync::atomic::Ordering::SeqCst)
    }
}

#[cfg(test)]
mod conversion_tests {
    use super::*;

    #[test]
    fn a_time_column_round_trips_through_offset_date_time() {
        for ms in [0, 1, 1_733_000_000_123, -1_000, 253_402_300_799_999] {
            assert_eq!(to_millis(to_datetime(ms)), ms);
        }
        assert_eq!(to_datetime(1_000).unix_timestamp(), 1);
        assert_eq!(to_datetime(i64::MAX).year(), 9999, "out of range saturates");
    }

    #[test]
    fn durations_convert_to_millis_and_back_saturating() {
        assert_eq!(duration_to_ms(Duration::from_millis(1_500)), 1_500);
        assert_eq!(duration_to_ms(Duration::MAX), i64::MAX);
        assert_eq!(ms_to_duration(-5), Duration::ZERO);
        assert_eq!(ms_to_duration(250), Duration::from_millis(250));
    }
}
