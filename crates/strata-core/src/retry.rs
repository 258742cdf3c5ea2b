//! The retry policy every layer uses: exponential backoff with equal jitter, bounded
//! by attempts and by elapsed time. The pool's busy retries and the task queue's
//! retry of a failed task both take their delays from [`RetryPolicy::delay_after`],
//! so "backoff" means one thing; the policy is plain, serialisable settings so that
//! it can live in the config file.

use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// When and how often a retryable failure ([`Error::is_retryable`]) is tried again.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RetryPolicy {
    /// The first delay, before jitter.
    pub initial_delay_ms: u64,
    /// The largest delay between two attempts.
    pub max_delay_ms: u64,
    /// Attempts in all, the first one included; 1 means no retry.
    pub max_attempts: u32,
    /// Give up once this much time has passed since the first attempt.
    pub max_elapsed_ms: u64,
    /// Add random jitter to each delay so that competing retries spread out: half of
    /// each delay is fixed, the other half random (equal jitter).
    pub jitter: bool,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            initial_delay_ms: 5,
            max_delay_ms: 1_000,
            max_attempts: 10,
            max_elapsed_ms: 30_000,
            jitter: true,
        }
    }
}

impl RetryPolicy {
    /// A policy that never retries.
    pub fn never() -> Self {
        RetryPolicy { max_attempts: 1, ..RetryPolicy::default() }
    }

    /// The delays between attempts, in order: [`RetryPolicy::delay_after`] attempt 1,
    /// 2, ...; at most `max_attempts - 1` of them and at most `max_elapsed_ms` in sum.
    pub fn delays(&self) -> impl Iterator<Item = Duration> + Send + use<> {
        let policy = self.clone();
        let limit = Duration::from_millis(self.max_elapsed_ms);
        let mut total = Duration::ZERO;
        (1..self.max_attempts).map_while(move |attempt| {
            let delay = policy.delay_after(attempt);
            total = total.saturating_add(delay);
            (total <= limit).then_some(delay)
        })
    }

    /// The delay after failed attempt number `attempt` (1-based): `initial_delay_ms`
    /// × 2^(attempt − 1), at most `max_delay_ms`; with `jitter`, equal jitter: half of
    /// it fixed and the other half random, so the delay lands between half and all of
    /// it (never above the cap, never near zero).
    pub fn delay_after(&self, attempt: u32) -> Duration {
        let full = self.full_delay_ms(attempt);
        let ms = if self.jitter {
            let half = full / 2;
            half + fastrand::u64(0..=full - half)
        } else {
            full
        };
        Duration::from_millis(ms)
    }

    /// The un-jittered delay after attempt `attempt`, in milliseconds.
    fn full_delay_ms(&self, attempt: u32) -> u64 {
        let doublings = attempt.saturating_sub(1).min(63);
        let cap = self.max_delay_ms.max(self.initial_delay_ms);
        self.initial_delay_ms.saturating_mul(1u64 << doublings).min(cap)
    }

    /// Checks the policy's ranges; errors name the field under `retry.`.
    pub fn validate(&self) -> Result<()> {
        if self.max_attempts == 0 {
            return Err(invalid("retry.max_attempts", "must be at least 1"));
        }
        if self.initial_delay_ms > self.max_delay_ms {
            return Err(invalid("retry.initial_delay_ms", "must not exceed retry.max_delay_ms"));
        }
        Ok(())
    }

    /// Runs `op` until it succeeds, fails with a non-retryable error, or the policy
    /// is spent; sleeps the thread between attempts. `op` gets the attempt number
    /// (1-based). The last error is returned as it was.
    pub fn run_blocking<T>(&self, mut op: impl FnMut(u32) -> Result<T>) -> Result<T> {
        let started = Instant::now();
        let mut delays = self.delays();
        let mut attempt = 1;
        loop {
            match op(attempt) {
                Err(err) if err.is_retryable() => match delays.next() {
                    Some(delay)
                        if started.elapsed() + delay <= Duration::from_millis(self.max_elapsed_ms) =>
                    {
                        std::thread::sleep(delay);
                        attempt += 1;
                    }
                    _ => return Err(err),
                },
                other => return other,
            }
        }
    }
}

fn invalid(field: &str, reason: &str) -> Error {
    Error::ConfigInvalid { field: field.into(), reason: reason.into() }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn busy() -> Error {
        Error::Busy { code: rusqlite::ffi::SQLITE_BUSY, message: "database is locked".into() }
    }

    #[test]
    fn delays_grow_are_capped_and_respect_max_attempts() {
        let policy = RetryPolicy {
            initial_delay_ms: 10,
            max_delay_ms: 40,
            max_attempts: 6,
            jitter: false,
            ..Default::default()
        };
        let delays: Vec<Duration> = policy.delays().collect();
        let expected = [10, 20, 40, 40, 40].map(Duration::from_millis);
        assert_eq!(delays.len(), expected.len());
        for (got, want) in delays.iter().zip(expected) {
            assert!(got.abs_diff(want) <= Duration::from_millis(1), "{delays:?}");
        }
    }

    #[test]
    fn jitter_keeps_each_delay_between_half_and_all_of_its_base() {
        let policy =
            RetryPolicy { initial_delay_ms: 10, max_delay_ms: 10, max_attempts: 50, ..Default::default() };
        let delays: Vec<Duration> = policy.delays().collect();
        assert_eq!(delays.len(), 49);
        for delay in delays {
            assert!(delay >= Duration::from_millis(5) && delay <= Duration::from_millis(10), "{delay:?}");
        }
    }

    #[test]
    fn delay_after_doubles_per_attempt_within_equal_jitter_and_stops_at_the_max() {
        // The queue's retry of a failed task: 1 s doubling up to an hour.
        let policy = RetryPolicy { initial_delay_ms: 1_000, max_delay_ms: 3_600_000, ..Default::default() };
        for attempt in 1..=70u32 {
            let full = (1_000u64 << (attempt - 1).min(40)).min(3_600_000);
            for _ in 0..50 {
                let delay = policy.delay_after(attempt).as_millis() as u64;
                assert!(
                    delay >= full / 2 && delay <= full,
                    "attempt {attempt}: {delay} not in [{}, {full}]",
                    full / 2
                );
            }
        }
    }

    #[test]
    fn delays_stop_at_the_elapsed_budget() {
        let policy = RetryPolicy {
            initial_delay_ms: 10,
            max_delay_ms: 10,
            max_attempts: 100,
            max_elapsed_ms: 35,
            jitter: false,
        };
        assert_eq!(policy.delays().count(), 3, "10 + 10 + 10 fit in 35 ms, a fourth does not");
    }

    #[test]
    fn run_blocking_retries_retryable_errors_only() {
        let policy =
            RetryPolicy { initial_delay_ms: 1, max_delay_ms: 2, max_attempts: 5, ..Default::default() };
        let mut calls = 0;
        let value = policy.run_blocking(|attempt| {
            calls += 1;
            if attempt < 3 { Err(busy()) } else { Ok(attempt) }
        });
        assert_eq!(value.unwrap(), 3);
        assert_eq!(calls, 3);

        let mut calls = 0;
        let err = policy
            .run_blocking::<()>(|_| {
                calls += 1;
                Err(Error::invalid("x", "bad"))
            })
            .unwrap_err();
        assert_eq!((err.code(), calls), ("E6001", 1), "non-retryable errors are not retried");

        let mut calls = 0;
        let err = policy
            .run_blocking::<()>(|_| {
                calls += 1;
                Err(busy())
            })
            .unwrap_err();
        assert_eq!((err.code(), calls), ("E2008", 5), "gives up after max_attempts");
    }

    #[test]
    fn validate_names_the_field() {
        let err = RetryPolicy { max_attempts: 0, ..Default::default() }.validate().unwrap_err();
        assert!(err.to_string().contains("retry.max_attempts"), "{err}");
        let err = RetryPolicy { initial_delay_ms: 5, max_delay_ms: 1, ..Default::default() }
            .validate()
            .unwrap_err();
        assert!(err.to_string().contains("retry.initial_delay_ms"), "{err}");
    }
}
