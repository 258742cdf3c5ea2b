//! `Quota`: how much a rate-limited key may do (`limit` units per `period_ms`, in
//! bursts of at most `burst`), and the GCRA emission interval derived from it. It
//! lives here, with the config, so that `[ratelimit.quotas]` can name quotas; the
//! rate limits themselves are strata-repo's `ratelimit` module.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// How much a key may do: `limit` units per `period_ms`, in bursts of at most `burst`.
/// In a config file `burst` may be left out: it is then `limit`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(from = "QuotaFields")]
pub struct Quota {
    /// Units per period (at least 1).
    pub limit: u32,
    /// The period in ms (at least 1).
    pub period_ms: u64,
    /// The most units admitted at once after a quiet period (at least 1).
    pub burst: u32,
}

/// A quota as written in a config file, `burst` optional.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct QuotaFields {
    limit: u32,
    period_ms: u64,
    burst: Option<u32>,
}

impl From<QuotaFields> for Quota {
    fn from(fields: QuotaFields) -> Self {
        Quota {
            limit: fields.limit,
            period_ms: fields.period_ms,
            burst: fields.burst.unwrap_or(fields.limit),
        }
    }
}

impl Quota {
    /// `limit` units per `period`, with a burst of `limit`.
    pub fn per_period(limit: u32, period: Duration) -> Self {
        Quota { limit, period_ms: u64::try_from(period.as_millis()).unwrap_or(u64::MAX), burst: limit }
    }

    /// `limit` units per second, with a burst of `limit`.
    pub fn per_second(limit: u32) -> Self {
        Quota::per_period(limit, Duration::from_secs(1))
    }

    /// The same quota with a burst of `burst`.
    pub fn burst(self, burst: u32) -> Self {
        Quota { burst, ..self }
    }

    /// The emission interval `period / limit` in whole microseconds; E6022 (naming
    /// `key`) when a field is zero, the interval is under 1 us, or `burst * interval`
    /// overflows.
    pub fn emission_interval_us(&self, key: &str) -> Result<i64> {
        let invalid = |reason: &str| Error::InvalidQuota { key: key.to_owned(), reason: reason.to_owned() };
        if self.limit == 0 {
            return Err(invalid("limit must be 1 or more"));
        }
        if self.period_ms == 0 {
            return Err(invalid("period must be at least 1 ms"));
        }
        if self.burst == 0 {
            return Err(invalid("burst must be 1 or more"));
        }
        let interval = i64::try_from(self.period_ms)
            .ok()
            .and_then(|ms| ms.checked_mul(1000))
            .map(|us| us / i64::from(self.limit))
            .ok_or_else(|| invalid("period too long"))?;
        if interval == 0 {
            return Err(invalid("limit is over one unit per microsecond"));
        }
        interval.checked_mul(i64::from(self.burst)).ok_or_else(|| invalid("burst * period overflows"))?;
        Ok(interval)
    }
}
