//! GCRA rate limits: strata's answers equal those of an in-memory leaky bucket (the
//! continuous-state formulation GCRA is equivalent to) on random sequences; eight
//! concurrent tasks on one key never get more admitted than the quota allows in any
//! window; waiting, status, reset, configured quotas and typed errors.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use proptest::prelude::*;
use proptest::test_runner::{Config as ProptestConfig, TestRunner};
use strata_core::ErrorKind;
use strata_pool::Pool;
use strata_repo::clock::{ManualClock, to_datetime};
use strata_repo::{Decision, Quota, RateLimitConfig, RateLimits};

use crate::migrated;

const START: i64 = 1_700_000_000_000;

/// The leaky bucket: `level` microseconds of work queued at `last`, draining one
/// microsecond per microsecond; a request of `cost` units adds `cost * T` and passes
/// when the level then stays within `burst * T`. Written without looking at the SQL.
#[derive(Debug, Default)]
struct LeakyBucket {
    level_us: i64,
    last_us: i64,
}

impl LeakyBucket {
    fn check(&mut self, quota: Quota, now_ms: i64, cost: u32) -> Decision {
        let now_us = now_ms * 1000;
        let unit = (quota.period_ms as i64 * 1000) / i64::from(quota.limit);
        let capacity = unit * i64::from(quota.burst);
        let level = (self.level_us - (now_us - self.last_us)).max(0);
        let needed = unit * i64::from(cost);
        if level + needed <= capacity {
            self.level_us = level + needed;
            self.last_us = now_us;
            Decision::Allowed { remaining: ((capacity - self.level_us) / unit) as u64 }
        } else {
            self.level_us = level;
            self.last_us = now_us;
            Decision::Denied { retry_after: Duration::from_micros((level + needed - capacity) as u64) }
        }
    }
}

#[derive(Debug, Clone)]
struct Case {
    quota: Quota,
    /// (ms since the previous check, cost)
    steps: Vec<(i64, u32)>,
}

fn cases() -> impl Strategy<Value = Case> {
    (1u32..20, 1u64..3000, 1u32..20).prop_flat_map(|(limit, period_ms, burst)| {
        let quota = Quota { limit, period_ms, burst };
        let gap = 0..=(2 * period_ms as i64 / i64::from(limit)).max(1);
        prop::collection::vec((gap, 1..=burst), 1..40).prop_map(move |steps| Case { quota, steps })
    })
}

#[test]
fn strata_answers_every_random_sequence_like_the_reference_leaky_bucket() {
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let pool = runtime.block_on(migrated(dir.path()));
    let clock = ManualClock::new(START);
    let limits =
        RateLimits::with_config(pool.clone(), RateLimitConfig::default(), Arc::new(clock.clone())).unwrap();
    let next_key = AtomicU64::new(0);
    let mut runner =
        TestRunner::new(ProptestConfig { cases: 64, failure_persistence: None, ..ProptestConfig::default() });
    runner
        .run(&cases(), |case| {
            let key = format!("prop:{}", next_key.fetch_add(1, Ordering::SeqCst));
            let mut model = LeakyBucket { level_us: 0, last_us: START * 1000 };
            let mut now = START + 1_000_000 * i64::try_from(next_key.load(Ordering::SeqCst)).unwrap();
            for (i, (gap, cost)) in case.steps.iter().enumerate() {
                now += gap;
                clock.set(now);
                let strata = runtime.block_on(limits.check(&key, case.quota, *cost)).unwrap();
                let expected = model.check(case.quota, now, *cost);
                prop_assert_eq!(strata, expected, "step {} of {:?}", i, case);
            }
            Ok(())
        })
        .unwrap();
}

/// Eight tasks check one key concurrently, three times each, at every tick of a
/// manual clock; returns the admitted count per tick time.
async fn eight_tasks_per_tick(pool: &Pool, quota: Quota, ticks: i64, step_ms: i64) -> Vec<(i64, u64)> {
    let clock = ManualClock::new(START);
    let limits =
        RateLimits::with_config(pool.clone(), RateLimitConfig::default(), Arc::new(clock.clone())).unwrap();
    let key = format!("shared:{}:{}", quota.limit, quota.burst);
    let mut admitted = Vec::new();
    for tick in 0..ticks {
        let now = START + tick * step_ms;
        clock.set(now);
        let mut tasks = tokio::task::JoinSet::new();
        for _ in 0..8 {
            let (limits, key) = (limits.clone(), key.clone());
            tasks.spawn(async move {
                let mut passed = 0;
                for _ in 0..3 {
                    passed += u64::from(limits.check(&key, quota, 1).await.unwrap().is_allowed());
                }
                passed
            });
        }
        admitted.push((now, tasks.join_all().await.into_iter().sum()));
    }
    admitted
}

#[tokio::test]
async fn eight_concurrent_tasks_on_one_key_never_get_more_than_the_quota_in_any_window() {
    let dir = tempfile::tempdir().unwrap();
    let pool = migrated(dir.path()).await;
    for quota in [Quota::per_second(10).burst(1), Quota::per_second(10), Quota::per_second(7).burst(3)] {
        let admitted = eight_tasks_per_tick(&pool, quota, 80, 37).await;
        let unit_us = quota.emission_interval_us("shared").unwrap();
        let window_ms = i64::try_from(quota.period_ms).unwrap();
        // GCRA's bound: over a window of length W, at most burst + W / T units pass;
        // a window of one period holds times up to period - 1 ms apart.
        let bound = u64::from(quota.burst) + u64::try_from((window_ms - 1) * 1000 / unit_us).unwrap();
        for (start, _) in &admitted {
            let in_window: u64 =
                admitted.iter().filter(|(t, _)| *t >= *start && *t < start + window_ms).map(|(_, n)| n).sum();
            assert!(
                in_window <= bound,
                "{quota:?}: {in_window} admitted in the window from {start}, bound {bound}"
            );
        }
        if quota.burst == 1 {
            assert_eq!(bound, u64::from(quota.limit), "with burst 1 the bound is the quota itself");
        }
        // Every tick asks for 24; the totals must be exactly the model's, so nothing
        // was lost to a race either.
        let mut model = LeakyBucket { level_us: 0, last_us: START * 1000 };
        let expected: Vec<(i64, u64)> = admitted
            .iter()
            .map(|(t, _)| (*t, (0..24).filter(|_| model.check(quota, *t, 1).is_allowed()).count() as u64))
            .collect();
        assert_eq!(admitted, expected, "{quota:?}");
    }
}

#[tokio::test]
async fn wait_until_allowed_sleeps_until_the_quota_admits_and_gives_up_past_max_wait() {
    let dir = tempfile::tempdir().unwrap();
    let pool = migrated(dir.path()).await;
    let limits = RateLimits::new(pool.clone());
    let quota = Quota::per_period(1, Duration::from_secs(1)).burst(1);
    assert!(limits.check("worker", quota, 1).await.unwrap().is_allowed());
    let waited = limits.wait_until_allowed("worker", quota, 1, Duration::from_millis(50)).await.unwrap_err();
    assert_eq!(waited.code(), "E4011");
    assert_eq!(waited.kind(), ErrorKind::Busy);
    assert!(waited.is_retryable());
    limits.wait_until_allowed("worker", quota, 1, Duration::from_secs(30)).await.unwrap();
    assert!(!limits.check("worker", quota, 1).await.unwrap().is_allowed(), "the wait took no unit");
}

#[tokio::test]
async fn status_shows_what_is_left_and_reset_starts_afresh() {
    let dir = tempfile::tempdir().unwrap();
    let pool = migrated(dir.path()).await;
    let clock = ManualClock::new(START);
    let limits =
        RateLimits::with_config(pool.clone(), RateLimitConfig::default(), Arc::new(clock.clone())).unwrap();
    let quota = Quota::per_second(5);
    assert_eq!(limits.status("api").await.unwrap(), None);
    assert_eq!(limits.check("api", quota, 2).await.unwrap(), Decision::Allowed { remaining: 3 });
    assert_eq!(limits.check("api", quota, 3).await.unwrap(), Decision::Allowed { remaining: 0 });
    assert_eq!(
        limits.check("api", quota, 1).await.unwrap(),
        Decision::Denied { retry_after: Duration::from_millis(200) }
    );
    let status = limits.status("api").await.unwrap().unwrap();
    assert_eq!((status.remaining, status.last_allowed, status.quota), (0, false, quota));
    // Five units of 200 ms each taken at START: the key is back to a full burst 1 s later.
    assert_eq!(status.tat, to_datetime(START + 1_000));
    assert_eq!(status.updated_at, to_datetime(START));
    clock.advance(400);
    assert_eq!(limits.status("api").await.unwrap().unwrap().remaining, 2);
    assert!(limits.reset("api").await.unwrap());
    assert!(!limits.reset("api").await.unwrap());
    assert_eq!(limits.status("api").await.unwrap(), None);
    assert_eq!(limits.check("api", quota, 5).await.unwrap(), Decision::Allowed { remaining: 0 });
}

#[tokio::test]
async fn configured_quotas_apply_by_the_longest_key_prefix() {
    let dir = tempfile::tempdir().unwrap();
    let pool = migrated(dir.path()).await;
    let quotas = BTreeMap::from([
        ("scraper:".to_owned(), Quota::per_second(100)),
        ("scraper:github".to_owned(), Quota::per_second(1)),
    ]);
    let limits =
        RateLimits::with_config(pool.clone(), RateLimitConfig { quotas }, Arc::new(ManualClock::new(START)))
            .unwrap();
    assert_eq!(limits.quota_for("scraper:github:api"), Some(Quota::per_second(1)));
    assert!(limits.check_configured("scraper:github", 1).await.unwrap().is_allowed());
    assert!(!limits.check_configured("scraper:github", 1).await.unwrap().is_allowed());
    assert_eq!(
        limits.check_configured("scraper:gitlab", 1).await.unwrap(),
        Decision::Allowed { remaining: 99 }
    );
    let missing = limits.check_configured("mailer", 1).await.unwrap_err();
    assert_eq!((missing.code(), missing.kind()), ("E4012", ErrorKind::Invalid));
    let bad = BTreeMap::from([("x".to_owned(), Quota::per_second(0))]);
    assert_eq!(
        RateLimits::with_config(pool.clone(), RateLimitConfig { quotas: bad }, Arc::new(ManualClock::new(0)))
            .unwrap_err()
            .code(),
        "E1003"
    );
}

#[tokio::test]
async fn bad_quotas_and_costs_are_typed_errors_and_write_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let pool = migrated(dir.path()).await;
    let limits = RateLimits::new(pool.clone());
    let second = Quota::per_second(10);
    for (quota, cost, reason) in [
        (Quota { limit: 0, ..second }, 1, "limit"),
        (Quota { period_ms: 0, ..second }, 1, "period"),
        (Quota { burst: 0, ..second }, 1, "burst"),
        (second, 0, "cost"),
        (second, 11, "over the burst"),
        (Quota { limit: 2_000_000, period_ms: 1, burst: 1 }, 1, "microsecond"),
        (Quota { limit: 1, period_ms: u64::MAX, burst: 1 }, 1, "too long"),
        (Quota { limit: 1, period_ms: i64::MAX as u64 / 1000, burst: u32::MAX }, 1, "overflows"),
    ] {
        let error = limits.check("k", quota, cost).await.unwrap_err();
        assert_eq!((error.code(), error.kind()), ("E6022", ErrorKind::Invalid), "{quota:?} {cost}: {error}");
        assert!(error.to_string().contains(reason), "{error} should say {reason}");
        assert!(!error.hint().is_empty());
    }
    let empty = limits.check("", second, 1).await.unwrap_err();
    assert_eq!(empty.code(), "E4001");
    let count: i64 =
        pool.read(|c| Ok(c.query_row("SELECT count(*) FROM rate_limits", [], |r| r.get(0))?)).await.unwrap();
    assert_eq!(count, 0, "a refused check wrote a row");
}

#[tokio::test]
async fn each_ratelimit_operation_logs_its_span_with_name_tables_and_outcome() {
    let dir = tempfile::tempdir().unwrap();
    let limits = RateLimits::new(migrated(dir.path()).await);
    let (log, _guard) = crate::op_spans::capture();
    assert!(limits.check("api", Quota::per_second(5), 1).await.unwrap().is_allowed());
    assert_eq!(limits.check("api", Quota::per_second(5), 0).await.unwrap_err().code(), "E6022");
    assert_eq!(limits.check_configured("nothing:x", 1).await.unwrap_err().code(), "E4012");
    assert!(limits.reset("api").await.unwrap());

    let check = log.line("ratelimit.check", "ok");
    assert!(check.contains("tables=\"rate_limits\"") && check.contains("rows=1"), "{check}");
    let bad = log.line("ratelimit.check", "error");
    assert!(bad.contains("WARN") && bad.contains("code=\"E6022\""), "{bad}");
    assert!(log.line("ratelimit.check_configured", "error").contains("code=\"E4012\""));
    assert!(log.line("ratelimit.reset", "ok").contains("rows=1"));
}
