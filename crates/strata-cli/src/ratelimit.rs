//! `strata ratelimit status|check|reset KEY`: the GCRA rate limits as an operator
//! sees them. Every subcommand needs an existing database with the reference schema
//! (E2004 otherwise; nothing is created). `status` opens the database read-only and
//! changes nothing (E4002 for a key that was never checked or was reset). `check`
//! consumes: it takes `--cost` units of the quota of `--limit/--period-ms/--burst`,
//! or of the config's `[ratelimit.quotas]` entry for the key's longest prefix (E4012
//! when neither gives one), and exits 1 when the request is denied. `reset` forgets
//! the key's state and appends an audit row (`ratelimit.reset`) with the actor of
//! `--actor`.

use std::time::Duration;

use clap::{Args, Subcommand};
use serde::Serialize;
use serde_json::json;
use strata::repo::{Decision, NewAuditEntry, Quota, RateLimitStatus};
use strata::{Config, Error};

use crate::audit::{Access, ActorArg, record, time_text, with_db};
use crate::output::{Outcome, Output};

/// `strata ratelimit [--actor NAME] ...`
#[derive(Debug, Args)]
pub struct RateLimitArgs {
    /// Who acts.
    #[command(flatten)]
    pub actor: ActorArg,
    /// What to do.
    #[command(subcommand)]
    pub command: RateLimitCommand,
}

/// The subcommands of `strata ratelimit`.
#[derive(Debug, Subcommand)]
pub enum RateLimitCommand {
    /// The state of a key now: its quota, the units that could pass now and whether
    /// its last check passed (read-only; E4002 for a key never checked or reset).
    Status {
        /// The key.
        key: String,
    },
    /// Take --cost units for the key if they are free now (this consumes them); exit 0
    /// when allowed, 1 when denied (with the time until it would pass).
    Check(CheckArgs),
    /// Forget the key's state, so that its next check starts with a full burst.
    Reset {
        /// The key.
        key: String,
    },
}

/// `strata ratelimit check KEY [--limit N --period-ms P [--burst B]] [--cost C]`
#[derive(Debug, Args)]
pub struct CheckArgs {
    /// The key.
    pub key: String,
    /// Units per period [default: the config's quota for the key's longest prefix].
    #[arg(long, value_name = "N", requires = "period_ms", allow_negative_numbers = true)]
    pub limit: Option<i64>,
    /// The period in milliseconds (with --limit).
    #[arg(long, value_name = "P", requires = "limit", allow_negative_numbers = true)]
    pub period_ms: Option<i64>,
    /// Units that may pass at once after a quiet period [default: --limit].
    #[arg(long, value_name = "B", requires = "limit", allow_negative_numbers = true)]
    pub burst: Option<i64>,
    /// Units this request takes.
    #[arg(long, value_name = "C", default_value_t = 1, allow_negative_numbers = true)]
    pub cost: i64,
}

/// A quota as the JSON documents show it.
#[derive(Serialize)]
struct QuotaDoc {
    limit: u32,
    period_ms: u64,
    burst: u32,
}

impl From<Quota> for QuotaDoc {
    fn from(q: Quota) -> Self {
        QuotaDoc { limit: q.limit, period_ms: q.period_ms, burst: q.burst }
    }
}

/// The `ratelimit status` document.
#[derive(Serialize)]
struct StatusDoc {
    key: String,
    quota: QuotaDoc,
    remaining: u64,
    last_allowed: bool,
    tat_us: i64,
    #[serde(with = "time::serde::rfc3339")]
    updated_at: time::OffsetDateTime,
}

/// The `ratelimit check` document.
#[derive(Serialize)]
struct CheckDoc {
    key: String,
    quota: QuotaDoc,
    cost: u32,
    allowed: bool,
    /// Units that could pass right after this check (allowed only).
    remaining: Option<u64>,
    /// Milliseconds until the same request would pass (denied only).
    retry_after_ms: Option<u64>,
}

/// The `ratelimit reset` document.
#[derive(Serialize)]
struct ResetDoc {
    key: String,
    reset: bool,
    audit_id: Option<i64>,
}

/// Runs one `strata ratelimit` subcommand.
pub async fn run(args: &RateLimitArgs, config: &Config, out: &Output) -> strata::Result<Outcome> {
    match &args.command {
        RateLimitCommand::Status { key } => {
            let status = with_db(config, Access::Read, &["rate_limits"], async |db| {
                db.rate_limits().status(key).await?.ok_or_else(|| Error::NotFound {
                    what: format!("rate limit state of `{key}` (never checked, or reset)"),
                })
            })
            .await?;
            out.print(&status_doc(status), render_status);
            Ok(Outcome::Success)
        }
        RateLimitCommand::Check(check) => {
            let key = check.key.as_str();
            let cost = units(key, "cost", check.cost)?;
            let flags_quota = match (check.limit, check.period_ms) {
                (Some(limit), Some(period_ms)) => {
                    let limit = units(key, "limit", limit)?;
                    let burst = check.burst.map(|b| units(key, "burst", b)).transpose()?.unwrap_or(limit);
                    let period_ms = u64::try_from(period_ms).ok().filter(|p| *p > 0).ok_or_else(|| {
                        Error::InvalidQuota {
                            key: key.to_string(),
                            reason: format!("period must be at least 1 ms, not {period_ms}"),
                        }
                    })?;
                    Some(Quota { limit, period_ms, burst })
                }
                _ => None,
            };
            let (quota, decision) = with_db(config, Access::Write, &["rate_limits"], async |db| {
                let limits = db.rate_limits();
                let quota = match flags_quota {
                    Some(quota) => quota,
                    None => {
                        limits.quota_for(key).ok_or_else(|| Error::QuotaMissing { key: key.to_string() })?
                    }
                };
                Ok((quota, limits.check(key, quota, cost).await?))
            })
            .await?;
            let doc = CheckDoc {
                key: key.to_string(),
                quota: quota.into(),
                cost,
                allowed: decision.is_allowed(),
                remaining: match decision {
                    Decision::Allowed { remaining } => Some(remaining),
                    Decision::Denied { .. } => None,
                },
                retry_after_ms: match decision {
                    Decision::Allowed { .. } => None,
                    Decision::Denied { retry_after } => Some(millis_up(retry_after)),
                },
            };
            out.print(&doc, render_check);
            Ok(if doc.allowed { Outcome::Success } else { Outcome::Problems })
        }
        RateLimitCommand::Reset { key } => {
            let actor = args.actor.resolve()?;
            let reset = with_db(config, Access::Write, &["rate_limits", "audit"], async |db| {
                let reset = db.rate_limits().reset(key).await?;
                let entry = NewAuditEntry::by(actor)
                    .action("ratelimit.reset")
                    .data(json!({ "key": key, "reset": reset }));
                Ok(ResetDoc { key: key.clone(), reset, audit_id: record(db, entry).await })
            })
            .await?;
            out.print(&reset, |r| match r.reset {
                true => format!("reset rate limit {}: its next check starts with a full burst\n", r.key),
                false => format!("rate limit {} had no state: nothing reset\n", r.key),
            });
            Ok(Outcome::Success)
        }
    }
}

/// A count of units from the command line: 1 or more and at most u32::MAX; E6022
/// naming the key and the field otherwise (zero and negative numbers included).
fn units(key: &str, field: &str, value: i64) -> strata::Result<u32> {
    u32::try_from(value).ok().filter(|v| *v > 0).ok_or_else(|| Error::InvalidQuota {
        key: key.to_string(),
        reason: format!("{field} must be 1 to {}, not {value}", u32::MAX),
    })
}

/// Whole milliseconds, rounded up so that waiting them is always enough.
fn millis_up(d: Duration) -> u64 {
    u64::try_from(d.as_micros().div_ceil(1000)).unwrap_or(u64::MAX)
}

fn status_doc(s: RateLimitStatus) -> StatusDoc {
    StatusDoc {
        key: s.key,
        quota: s.quota.into(),
        remaining: s.remaining,
        last_allowed: s.last_allowed,
        tat_us: i64::try_from(s.tat.unix_timestamp_nanos() / 1_000).unwrap_or(i64::MAX),
        updated_at: s.updated_at,
    }
}

fn quota_text(q: &QuotaDoc) -> String {
    format!("{} per {} ms, burst {}", q.limit, q.period_ms, q.burst)
}

fn render_status(s: &StatusDoc) -> String {
    format!(
        "key: {}\nquota: {}\nremaining now: {}\nlast check: {}\nlast checked: {}\n",
        s.key,
        quota_text(&s.quota),
        s.remaining,
        if s.last_allowed { "allowed" } else { "denied" },
        time_text(strata::repo::clock::to_millis(s.updated_at)),
    )
}

fn render_check(c: &CheckDoc) -> String {
    match (c.remaining, c.retry_after_ms) {
        (Some(remaining), _) => format!(
            "allowed: {} took {} unit(s) of {}; {remaining} left now\n",
            c.key,
            c.cost,
            quota_text(&c.quota)
        ),
        (None, retry) => format!(
            "denied: {} over {}; retry in {} ms (nothing taken)\n",
            c.key,
            quota_text(&c.quota),
            retry.unwrap_or(0)
        ),
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::{millis_up, units};

    #[test]
    fn units_are_one_or_more_and_retry_rounds_up() {
        assert_eq!(units("k", "limit", 5).unwrap(), 5);
        for bad in [0, -1, i64::from(u32::MAX) + 1] {
            assert_eq!(units("k", "limit", bad).unwrap_err().code(), "E6022", "{bad}");
        }
        assert_eq!(millis_up(Duration::from_micros(1)), 1);
        assert_eq!(millis_up(Duration::from_micros(2000)), 2);
    }
}
