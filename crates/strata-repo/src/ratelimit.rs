//! Rate limits by GCRA, the generic cell rate algorithm (table `rate_limits`,
//! migration V7): one row per key holds the theoretical arrival time (TAT), and each
//! [`RateLimits::check`] is ONE statement in the writer, an `INSERT ... ON CONFLICT DO
//! UPDATE ... RETURNING` that does the arithmetic in SQL, so concurrent checks of one
//! key (tasks of this process, or other processes) can never admit more than the
//! quota allows.
//!
//! A [`Quota`] of `limit` units per `period` with a `burst` has the emission interval
//! `T = period / limit` (in whole microseconds) and admits a request of `cost` units at
//! time `now` when `max(tat, now) + cost * T - now <= burst * T`; then the TAT becomes
//! `max(tat, now) + cost * T`, otherwise it stays. Over any window of length `W`, at
//! most `burst + W / T` units pass: with `burst = 1`, at most `limit` per `period`;
//! with the default `burst = limit`, a full burst may follow a quiet period.
//!
//! Every operation runs in its `strata.op` span (`ratelimit.<op>`, table
//! `rate_limits`).

use std::sync::{Arc, PoisonError, RwLock};
use std::time::{Duration, Instant};

use rusqlite::{OptionalExtension, Row, params};
use strata_core::{Error, Quota, RateLimitConfig, Result};
use strata_pool::{Affected, Pool, operation};
use time::OffsetDateTime;

use crate::clock::{Clock, SystemClock, to_datetime};

/// The answer of a check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// The request passed and its cost was taken.
    Allowed {
        /// Units that could pass right now after this one.
        remaining: u64,
    },
    /// The request did not pass and nothing was taken.
    Denied {
        /// How long until the same request would pass.
        retry_after: Duration,
    },
}

impl Decision {
    /// Whether the request passed.
    pub fn is_allowed(&self) -> bool {
        matches!(self, Decision::Allowed { .. })
    }
}

/// A check writes its key's row whether it passes or not: one row in the operation log.
impl Affected for Decision {
    fn affected(&self) -> u64 {
        1
    }
}

/// The state of one key (a row of `rate_limits`) seen at a time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RateLimitStatus {
    /// The key.
    pub key: String,
    /// The quota of its last check.
    pub quota: Quota,
    /// The theoretical arrival time (UTC, to the microsecond): the key is back to a
    /// full burst from then on.
    pub tat: OffsetDateTime,
    /// Units that could pass at the time of the status.
    pub remaining: u64,
    /// Whether the last check passed.
    pub last_allowed: bool,
    /// When it was last checked (UTC).
    pub updated_at: OffsetDateTime,
}

strata_pool::one_row!(RateLimitStatus);

/// The rate limits repository.
#[derive(Debug, Clone)]
pub struct RateLimits {
    pool: Pool,
    clock: Arc<dyn Clock>,
    /// The configured quotas, shared by every clone; [`RateLimits::reload`] swaps them.
    quotas: Arc<RwLock<Arc<RateLimitConfig>>>,
}

impl RateLimits {
    /// The rate limits over `pool`, on the system clock, with no configured quotas.
    pub fn new(pool: Pool) -> Self {
        RateLimits { pool, clock: Arc::new(SystemClock), quotas: Arc::default() }
    }

    /// The rate limits over `pool` with time from `clock` and the quotas by key prefix
    /// of `config` (the `[ratelimit]` section, for [`RateLimits::check_configured`]);
    /// E1003 for a quota that cannot be used.
    pub fn with_config(pool: Pool, config: RateLimitConfig, clock: Arc<dyn Clock>) -> Result<Self> {
        config.validate()?;
        Ok(RateLimits { pool, clock, quotas: Arc::new(RwLock::new(Arc::new(config))) })
    }

    /// Replaces the configured quotas (a reloaded `[ratelimit]` section) for this
    /// handle and every clone of it, from the next check on; E1003 for a quota that
    /// cannot be used (the old quotas stay then). The state of every key (its
    /// theoretical arrival time) is kept.
    pub fn reload(&self, config: RateLimitConfig) -> Result<()> {
        config.validate()?;
        *self.quotas.write().unwrap_or_else(PoisonError::into_inner) = Arc::new(config);
        Ok(())
    }

    /// The configured quota of `key`: the one of the longest prefix it starts with.
    pub fn quota_for(&self, key: &str) -> Option<Quota> {
        self.quotas.read().unwrap_or_else(PoisonError::into_inner).quota_for(key)
    }

    const CHECK: &str = "INSERT INTO rate_limits (key, tat_us, quota, period_ms, burst, retry_after_us, updated_at) \
         VALUES (?1, ?2 + ?3, ?5, ?6, ?7, 0, ?8) \
         ON CONFLICT (key) DO UPDATE SET \
         tat_us = CASE WHEN max(tat_us, ?2) + ?3 - ?2 <= ?4 THEN max(tat_us, ?2) + ?3 ELSE tat_us END, \
         retry_after_us = CASE WHEN max(tat_us, ?2) + ?3 - ?2 <= ?4 THEN 0 ELSE max(tat_us, ?2) + ?3 - ?4 - ?2 END, \
         quota = excluded.quota, period_ms = excluded.period_ms, burst = excluded.burst, \
         updated_at = excluded.updated_at \
         RETURNING tat_us, retry_after_us";

    /// Takes `cost` units of `quota` for `key` if they are free now. E6022 for an
    /// unusable quota, a zero cost or a cost over the burst (it could never pass);
    /// E4001 for an empty key. Nothing is written on an error.
    pub async fn check(&self, key: &str, quota: Quota, cost: u32) -> Result<Decision> {
        operation("ratelimit.check", "rate_limits", self.take(key, quota, cost)).await
    }

    /// [`RateLimits::check`] without its span (for the operations that call it).
    async fn take(&self, key: &str, quota: Quota, cost: u32) -> Result<Decision> {
        let interval = quota.emission_interval_us(key)?;
        let invalid = |reason: &str| Error::InvalidQuota { key: key.to_owned(), reason: reason.to_owned() };
        if cost == 0 {
            return Err(invalid("cost must be 1 or more"));
        }
        if cost > quota.burst {
            return Err(invalid("cost is over the burst, so it could never pass"));
        }
        // Both are at most burst * interval, checked not to overflow above.
        let cost_us = interval * i64::from(cost);
        let burst_us = interval * i64::from(quota.burst);
        let now_ms = self.clock.now_ms();
        let now_us = now_ms.saturating_mul(1000);
        let key = key.to_owned();
        let period_ms = i64::try_from(quota.period_ms).unwrap_or(i64::MAX);
        let (tat_us, retry_after_us): (i64, i64) = self
            .pool
            .write(move |conn| {
                Ok(conn.prepare_cached(Self::CHECK)?.query_row(
                    params![key, now_us, cost_us, burst_us, quota.limit, period_ms, quota.burst, now_ms],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )?)
            })
            .await?;
        Ok(if retry_after_us == 0 {
            Decision::Allowed { remaining: remaining(tat_us, now_us, burst_us, interval) }
        } else {
            Decision::Denied {
                retry_after: Duration::from_micros(u64::try_from(retry_after_us).unwrap_or(0)),
            }
        })
    }

    /// [`RateLimits::check`] with the configured quota of `key`'s prefix; E4012 when
    /// no prefix matches.
    pub async fn check_configured(&self, key: &str, cost: u32) -> Result<Decision> {
        operation("ratelimit.check_configured", "rate_limits", async move {
            let quota = self.quota_for(key).ok_or_else(|| Error::QuotaMissing { key: key.to_owned() })?;
            self.take(key, quota, cost).await
        })
        .await
    }

    /// Checks until the request passes, sleeping the `retry_after` of each denial; E4011
    /// as soon as the next wait would end later than `max_wait` after the call. For
    /// workers: `limits.wait_until_allowed("scraper:github", quota, 1, max).await?`.
    pub async fn wait_until_allowed(
        &self,
        key: &str,
        quota: Quota,
        cost: u32,
        max_wait: Duration,
    ) -> Result<()> {
        operation("ratelimit.wait_until_allowed", "rate_limits", async move {
            let started = Instant::now();
            loop {
                match self.take(key, quota, cost).await? {
                    Decision::Allowed { .. } => return Ok(()),
                    Decision::Denied { retry_after } => {
                        let waited = started.elapsed();
                        if waited + retry_after > max_wait {
                            return Err(Error::RateLimited {
                                key: key.to_owned(),
                                waited_ms: u64::try_from(waited.as_millis()).unwrap_or(u64::MAX),
                                retry_after_ms: u64::try_from(retry_after.as_millis()).unwrap_or(u64::MAX),
                            });
                        }
                        tokio::time::sleep(retry_after).await;
                    }
                }
            }
        })
        .await
    }

    const GET_STATE: &str = "SELECT key, tat_us, quota, period_ms, burst, retry_after_us, updated_at \
         FROM rate_limits WHERE key = ?1";

    /// The state of `key` now, or `None` when it was never checked (or was reset).
    pub async fn status(&self, key: &str) -> Result<Option<RateLimitStatus>> {
        let key = key.to_owned();
        let now_us = self.clock.now_ms().saturating_mul(1000);
        operation("ratelimit.status", "rate_limits", async move {
            let row = self
                .pool
                .read_inline(move |conn| {
                    Ok(conn.prepare_cached(Self::GET_STATE)?.query_row([&key], state_row).optional()?)
                })
                .await?;
            let Some(StateRow { status, tat_us, retry_after_us }) = row else { return Ok(None) };
            let interval = status.quota.emission_interval_us(&status.key)?;
            let burst_us = interval * i64::from(status.quota.burst);
            Ok(Some(RateLimitStatus {
                remaining: remaining(tat_us, now_us, burst_us, interval),
                last_allowed: retry_after_us == 0,
                ..status
            }))
        })
        .await
    }

    const RESET: &str = "DELETE FROM rate_limits WHERE key = ?1";

    /// Forgets `key`'s state, so its next check starts with a full burst; whether
    /// there was any.
    pub async fn reset(&self, key: &str) -> Result<bool> {
        let key = key.to_owned();
        let write = self.pool.write(move |conn| Ok(conn.prepare_cached(Self::RESET)?.execute([&key])? > 0));
        operation("ratelimit.reset", "rate_limits", write).await
    }
}

/// Every statement this module issues, for the explain test.
pub(crate) const STATEMENTS: &[(&str, &str)] = &[
    ("ratelimit.check", RateLimits::CHECK),
    ("ratelimit.status", RateLimits::GET_STATE),
    ("ratelimit.reset", RateLimits::RESET),
];

/// Whole units that could pass at `now_us` given the TAT.
fn remaining(tat_us: i64, now_us: i64, burst_us: i64, interval: i64) -> u64 {
    let used = (tat_us - now_us).max(0);
    u64::try_from((burst_us - used).max(0) / interval).unwrap_or(0)
}

/// A row of `rate_limits` with the integers the status is computed from.
struct StateRow {
    status: RateLimitStatus,
    tat_us: i64,
    retry_after_us: i64,
}

/// Microseconds since the Unix epoch (the TAT column) as a UTC time; out of range
/// saturates as [`to_datetime`] does.
fn micros_to_datetime(us: i64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(us) * 1_000)
        .unwrap_or_else(|_| to_datetime(if us < 0 { i64::MIN } else { i64::MAX }))
}

fn state_row(row: &Row<'_>) -> rusqlite::Result<StateRow> {
    let quota = Quota {
        limit: row.get(2)?,
        period_ms: u64::try_from(row.get::<_, i64>(3)?).unwrap_or(0),
        burst: row.get(4)?,
    };
    let tat_us: i64 = row.get(1)?;
    Ok(StateRow {
        status: RateLimitStatus {
            key: row.get(0)?,
            quota,
            tat: micros_to_datetime(tat_us),
            remaining: 0,
            last_allowed: true,
            updated_at: to_datetime(row.get(6)?),
        },
        tat_us,
        retry_after_us: row.get(5)?,
    })
}
