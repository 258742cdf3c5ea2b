//! The TTL cache: expiry on an injected clock (served before, never after, swept or
//! not), the sweeper's bounded batches, one loader run for concurrent
//! `get_or_set_with` callers, typed values, eviction of the least recently read
//! entries, hits, misses and evictions in the pool's metrics, and typed errors that
//! write nothing.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use strata_core::{Error, ErrorKind};
use strata_pool::Pool;
use strata_repo::clock::{ManualClock, to_datetime};
use strata_repo::{Cache, CacheConfig, CacheKey, CacheValue, NamespaceStats, spawn_sweeper};

use crate::migrated;

const START: i64 = 1_700_000_000_000;

fn cache_on(pool: &Pool, config: CacheConfig) -> (Cache, ManualClock) {
    let clock = ManualClock::new(START);
    (Cache::with_config(pool.clone(), config, Arc::new(clock.clone())).unwrap(), clock)
}

async fn rows(pool: &Pool) -> i64 {
    pool.read(|c| Ok(c.query_row("SELECT count(*) FROM cache", [], |r| r.get(0))?)).await.unwrap()
}

#[tokio::test]
async fn an_entry_is_served_before_expiry_and_never_after_swept_or_not() {
    let dir = tempfile::tempdir().unwrap();
    let pool = migrated(dir.path()).await;
    let (cache, clock) = cache_on(&pool, CacheConfig::default());

    cache
        .set(CacheKey { namespace: "pages", key: "a" }, &"alpha", Some(Duration::from_secs(1)))
        .await
        .unwrap();
    clock.advance(999);
    assert_eq!(
        cache.get::<String>(CacheKey { namespace: "pages", key: "a" }).await.unwrap().as_deref(),
        Some("alpha")
    );
    clock.advance(1);
    assert_eq!(
        cache.get::<String>(CacheKey { namespace: "pages", key: "a" }).await.unwrap(),
        None,
        "served at its expiry time"
    );
    assert!(cache.get_entry(CacheKey { namespace: "pages", key: "a" }).await.unwrap().is_none());
    assert!(cache.get_bytes(CacheKey { namespace: "pages", key: "a" }).await.unwrap().is_none());
    assert!(
        !cache.touch(CacheKey { namespace: "pages", key: "a" }, None).await.unwrap(),
        "touch revived an expired entry"
    );
    assert_eq!(rows(&pool).await, 1, "the expired row is still there, not swept yet");

    let report = cache.sweep_expired(10).await.unwrap();
    assert_eq!((report.deleted, report.batches), (1, 1));
    assert_eq!(rows(&pool).await, 0);
    assert_eq!(cache.get::<String>(CacheKey { namespace: "pages", key: "a" }).await.unwrap(), None);
    let stats = cache.stats();
    assert_eq!((stats.hits, stats.misses, stats.expired_swept), (1, 4, 1));
}

#[tokio::test]
async fn touch_and_set_move_the_expiry_and_none_never_expires() {
    let dir = tempfile::tempdir().unwrap();
    let pool = migrated(dir.path()).await;
    let (cache, clock) = cache_on(&pool, CacheConfig::default());

    cache.set(CacheKey { namespace: "s", key: "k" }, &1, Some(Duration::from_millis(100))).await.unwrap();
    clock.advance(90);
    assert!(
        cache.touch(CacheKey { namespace: "s", key: "k" }, Some(Duration::from_millis(100))).await.unwrap()
    );
    clock.advance(90);
    assert_eq!(
        cache.get::<i32>(CacheKey { namespace: "s", key: "k" }).await.unwrap(),
        Some(1),
        "touch did not extend the expiry"
    );
    assert!(cache.touch(CacheKey { namespace: "s", key: "k" }, None).await.unwrap());
    clock.advance(1_000_000_000);
    assert_eq!(cache.get::<i32>(CacheKey { namespace: "s", key: "k" }).await.unwrap(), Some(1));
    let entry = cache.get_entry(CacheKey { namespace: "s", key: "k" }).await.unwrap().unwrap();
    assert_eq!((entry.expires_at, entry.hits), (None, 3));

    // Setting an expired key starts it afresh.
    cache.set(CacheKey { namespace: "s", key: "old" }, &1, Some(Duration::from_millis(5))).await.unwrap();
    cache.get::<i32>(CacheKey { namespace: "s", key: "old" }).await.unwrap();
    clock.advance(10);
    cache.set(CacheKey { namespace: "s", key: "old" }, &2, None).await.unwrap();
    let entry = cache.get_entry(CacheKey { namespace: "s", key: "old" }).await.unwrap().unwrap();
    assert_eq!((entry.hits, entry.created_at), (1, to_datetime(clock_now(&clock))));
}

fn clock_now(clock: &ManualClock) -> i64 {
    use strata_repo::clock::Clock;
    clock.now_ms()
}

#[tokio::test]
async fn the_sweeper_deletes_expired_rows_in_bounded_batches() {
    let dir = tempfile::tempdir().unwrap();
    let pool = migrated(dir.path()).await;
    let (cache, clock) = cache_on(&pool, CacheConfig::default());
    let value = "x".repeat(200);
    let mut writers = tokio::task::JoinSet::new();
    for w in 0..8 {
        let (cache, value) = (cache.clone(), value.clone());
        writers.spawn(async move {
            for n in 0..125 {
                cache
                    .set(
                        CacheKey { namespace: "swept", key: &format!("{w}-{n}") },
                        &value,
                        Some(Duration::from_secs(60)),
                    )
                    .await
                    .unwrap();
            }
        });
    }
    writers.join_all().await;
    for n in 0..10 {
        cache.set(CacheKey { namespace: "kept", key: &n.to_string() }, &n, None).await.unwrap();
    }
    clock.advance(60_000);

    let report = cache.sweep_expired(100).await.unwrap();
    assert_eq!(report.deleted, 1000);
    assert_eq!(report.batches, 11, "1000 rows in batches of 100, the last one empty");
    // The bound the issue asks for ("never holds the writer for more than a few ms"),
    // kept loose for a busy debug build on a shared VM: one batch of 100 rows.
    assert!(
        report.longest_hold < Duration::from_millis(250),
        "a batch held the writer {:?}",
        report.longest_hold
    );
    assert_eq!(rows(&pool).await, 10);
    assert_eq!(cache.stats().expired_swept, 1000);
}

#[tokio::test]
async fn the_background_sweeper_empties_expired_rows_and_stops() {
    let dir = tempfile::tempdir().unwrap();
    let pool = migrated(dir.path()).await;
    let config = CacheConfig { sweep_interval_ms: 5, sweep_batch: 7, ..CacheConfig::default() };
    let (cache, clock) = cache_on(&pool, config);
    for n in 0..30 {
        cache
            .set(CacheKey { namespace: "bg", key: &n.to_string() }, &n, Some(Duration::from_millis(10)))
            .await
            .unwrap();
    }
    cache.set(CacheKey { namespace: "bg", key: "forever" }, &0, None).await.unwrap();
    clock.advance(10);
    let sweeper = spawn_sweeper(cache.clone());
    let deadline = Instant::now() + Duration::from_secs(30);
    while rows(&pool).await > 1 {
        assert!(Instant::now() < deadline, "the sweeper did not delete the expired rows within 30 s");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    sweeper.stop().await;
    assert_eq!(cache.stats().expired_swept, 30);
    assert_eq!(cache.get::<i32>(CacheKey { namespace: "bg", key: "forever" }).await.unwrap(), Some(0));
}

#[tokio::test]
async fn sixteen_concurrent_get_or_set_with_callers_of_one_key_run_the_loader_once() {
    let dir = tempfile::tempdir().unwrap();
    let pool = migrated(dir.path()).await;
    let cache = Cache::new(pool.clone());
    let loads = Arc::new(AtomicUsize::new(0));
    let start = Arc::new(tokio::sync::Barrier::new(16));
    let mut callers = tokio::task::JoinSet::new();
    for _ in 0..16 {
        let (cache, loads, start) = (cache.clone(), Arc::clone(&loads), Arc::clone(&start));
        callers.spawn(async move {
            start.wait().await;
            cache
                .get_or_set_with(
                    CacheKey { namespace: "users", key: "42" },
                    Some(Duration::from_secs(60)),
                    || async {
                        loads.fetch_add(1, Ordering::SeqCst);
                        // Long enough for every caller to arrive while it loads.
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        Ok(vec!["ann".to_owned(), "bob".to_owned()])
                    },
                )
                .await
                .unwrap()
        });
    }
    let answers = callers.join_all().await;
    assert_eq!(loads.load(Ordering::SeqCst), 1, "the loader ran more than once");
    assert!(answers.iter().all(|a| a == &["ann", "bob"]));
    let stats = cache.stats();
    assert_eq!((stats.loads, stats.misses, stats.hits), (1, 1, 15));

    // A failing loader stores nothing and its error comes back.
    let failed = cache
        .get_or_set_with::<i32, _, _>(CacheKey { namespace: "users", key: "7" }, None, || async {
            Err(Error::InvalidInput { field: "id".into(), reason: "boom".into() })
        })
        .await
        .unwrap_err();
    assert_eq!(failed.code(), "E6001");
    assert_eq!(cache.get::<i32>(CacheKey { namespace: "users", key: "7" }).await.unwrap(), None);
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Page {
    url: String,
    status: u16,
    links: Vec<String>,
}

#[tokio::test]
async fn typed_values_round_trip_through_serde_and_bytes_stay_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let pool = migrated(dir.path()).await;
    let cache = Cache::new(pool.clone());
    let page = Page { url: "https://example.com".into(), status: 200, links: vec!["/a".into()] };
    cache.set(CacheKey { namespace: "pages", key: "home" }, &page, None).await.unwrap();
    assert_eq!(cache.get::<Page>(CacheKey { namespace: "pages", key: "home" }).await.unwrap(), Some(page));
    let wrong = cache.get::<Vec<i32>>(CacheKey { namespace: "pages", key: "home" }).await.unwrap_err();
    assert_eq!(wrong.code(), "E4005");

    cache.set_bytes(CacheKey { namespace: "blobs", key: "b" }, &[0, 159, 146, 150], None).await.unwrap();
    assert_eq!(
        cache.get_bytes(CacheKey { namespace: "blobs", key: "b" }).await.unwrap(),
        Some(vec![0, 159, 146, 150])
    );
    assert_eq!(
        cache.get_entry(CacheKey { namespace: "blobs", key: "b" }).await.unwrap().unwrap().value,
        CacheValue::Bytes(vec![0, 159, 146, 150])
    );
    assert_eq!(
        cache.get::<String>(CacheKey { namespace: "blobs", key: "b" }).await.unwrap_err().code(),
        "E4005"
    );

    cache.set_json_text(CacheKey { namespace: "raw", key: "r" }, r#"{"a": [1, 2]}"#, None).await.unwrap();
    assert_eq!(
        cache.get::<serde_json::Value>(CacheKey { namespace: "raw", key: "r" }).await.unwrap(),
        Some(serde_json::json!({"a": [1, 2]}))
    );

    assert!(cache.delete(CacheKey { namespace: "pages", key: "home" }).await.unwrap());
    assert!(!cache.delete(CacheKey { namespace: "pages", key: "home" }).await.unwrap());
    for n in 0..1203 {
        cache.set(CacheKey { namespace: "many", key: &n.to_string() }, &n, None).await.unwrap();
    }
    assert_eq!(cache.delete_namespace("many").await.unwrap(), 1203);
    assert_eq!(rows(&pool).await, 2, "only the blob and the raw entry are left");
}

#[tokio::test]
async fn a_namespace_over_its_budget_evicts_its_least_recently_read_entries() {
    let dir = tempfile::tempdir().unwrap();
    let pool = migrated(dir.path()).await;
    let config = CacheConfig {
        max_namespace_bytes: Some(100),
        namespace_bytes: BTreeMap::from([("big".to_owned(), 1000)]),
        ..CacheConfig::default()
    };
    let (cache, clock) = cache_on(&pool, config);
    let thirty = vec![7_u8; 30];
    for key in ["a", "b", "c"] {
        cache.set_bytes(CacheKey { namespace: "small", key }, &thirty, None).await.unwrap();
        clock.advance(1);
    }
    cache.get_bytes(CacheKey { namespace: "small", key: "a" }).await.unwrap().unwrap();
    clock.advance(1);
    // 90 + 30 > 100: b, read least recently, goes.
    cache.set_bytes(CacheKey { namespace: "small", key: "d" }, &thirty, None).await.unwrap();
    clock.advance(1);
    let left: Vec<bool> = {
        let mut left = Vec::new();
        for key in ["a", "b", "c", "d"] {
            left.push(cache.get_bytes(CacheKey { namespace: "small", key }).await.unwrap().is_some());
            clock.advance(1);
        }
        left
    };
    assert_eq!(left, [true, false, true, true]);
    assert_eq!(cache.stats().evictions, 1);

    // An entry that needs most of the budget evicts several: a, c and d (90 + 80).
    cache.set_bytes(CacheKey { namespace: "small", key: "e" }, &[1_u8; 80], None).await.unwrap();
    assert_eq!(cache.stats().evictions, 4);
    assert!(cache.get_bytes(CacheKey { namespace: "small", key: "e" }).await.unwrap().is_some());
    // Replacing an entry counts only its new size, and other namespaces are untouched.
    cache.set_bytes(CacheKey { namespace: "small", key: "e" }, &[2_u8; 100], None).await.unwrap();
    for n in 0..20 {
        cache.set_bytes(CacheKey { namespace: "big", key: &n.to_string() }, &thirty, None).await.unwrap();
    }
    assert_eq!(cache.stats().evictions, 4);
    assert_eq!(rows(&pool).await, 21);
}

#[tokio::test]
async fn hits_misses_and_evictions_are_counted_in_the_pools_metrics() {
    let dir = tempfile::tempdir().unwrap();
    let pool = migrated(dir.path()).await;
    let config = CacheConfig { max_namespace_bytes: Some(50), ..CacheConfig::default() };
    let (cache, _clock) = cache_on(&pool, config.clone());
    let counted = |pool: &Pool| {
        let counters = pool.metrics().counters;
        let get = |name: &str| counters.get(name).copied();
        (get("cache.hits"), get("cache.misses"), get("cache.evictions"))
    };
    assert_eq!(counted(&pool), (Some(0), Some(0), Some(0)), "registered when the cache is made");

    cache.set_bytes(CacheKey { namespace: "ns", key: "a" }, &[1; 30], None).await.unwrap();
    assert!(cache.get_bytes(CacheKey { namespace: "ns", key: "a" }).await.unwrap().is_some());
    assert!(cache.get_bytes(CacheKey { namespace: "ns", key: "nothing" }).await.unwrap().is_none());
    let loaded = cache
        .get_or_set_with(CacheKey { namespace: "other", key: "b" }, None, || async { Ok(7) })
        .await
        .unwrap();
    assert_eq!(loaded, 7, "a miss, then the loader's value");
    // 30 + 30 > 50: a, the namespace's only other entry, is evicted.
    cache.set_bytes(CacheKey { namespace: "ns", key: "c" }, &[2; 30], None).await.unwrap();
    assert_eq!(cache.stats().evictions, 1);
    assert_eq!(counted(&pool), (Some(1), Some(2), Some(1)));

    // A second handle on the same pool adds to the same counters; its own stats()
    // start from zero.
    let (other, _clock) = cache_on(&pool, config);
    assert!(other.get_bytes(CacheKey { namespace: "ns", key: "c" }).await.unwrap().is_some());
    assert_eq!((other.stats().hits, cache.stats().hits), (1, 1));
    assert_eq!(counted(&pool), (Some(2), Some(2), Some(1)));
}

#[tokio::test]
async fn bad_input_is_a_typed_error_with_a_hint_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let pool = migrated(dir.path()).await;
    let config = CacheConfig { max_entry_bytes: 64, max_namespace_bytes: Some(48), ..CacheConfig::default() };
    let (cache, _clock) = cache_on(&pool, config);
    let expect = |error: Error, code: &str, kind: ErrorKind| {
        assert_eq!(error.code(), code, "{error}");
        assert_eq!(error.kind(), kind);
        assert!(!error.hint().is_empty());
        error.to_string()
    };

    let zero = cache.set(CacheKey { namespace: "ns", key: "k" }, &1, Some(Duration::ZERO)).await.unwrap_err();
    assert!(expect(zero, "E6021", ErrorKind::Invalid).contains("at least 1 ms"));
    let sub_ms = cache
        .set(CacheKey { namespace: "ns", key: "k" }, &1, Some(Duration::from_micros(999)))
        .await
        .unwrap_err();
    expect(sub_ms, "E6021", ErrorKind::Invalid);
    let huge = cache.set(CacheKey { namespace: "ns", key: "k" }, &1, Some(Duration::MAX)).await.unwrap_err();
    expect(huge, "E6021", ErrorKind::Invalid);
    let loader_ran = AtomicUsize::new(0);
    let zero = cache
        .get_or_set_with(CacheKey { namespace: "ns", key: "k" }, Some(Duration::ZERO), || async {
            loader_ran.fetch_add(1, Ordering::SeqCst);
            Ok(1)
        })
        .await
        .unwrap_err();
    expect(zero, "E6021", ErrorKind::Invalid);
    assert_eq!(loader_ran.load(Ordering::SeqCst), 0, "the loader ran for a ttl that cannot be stored");
    let touch = cache.touch(CacheKey { namespace: "ns", key: "k" }, Some(Duration::ZERO)).await.unwrap_err();
    expect(touch, "E6021", ErrorKind::Invalid);

    let big = cache.set_bytes(CacheKey { namespace: "other", key: "k" }, &[0; 65], None).await.unwrap_err();
    assert!(expect(big, "E4010", ErrorKind::Invalid).contains("max_entry_bytes of 64"));
    let over_budget =
        cache.set_bytes(CacheKey { namespace: "ns", key: "k" }, &[0; 49], None).await.unwrap_err();
    assert!(expect(over_budget, "E4010", ErrorKind::Invalid).contains("max_namespace_bytes of 48"));

    let json =
        cache.set_json_text(CacheKey { namespace: "ns", key: "k" }, "{not json", None).await.unwrap_err();
    expect(json, "E6023", ErrorKind::Invalid);
    let tuple_keys = cache
        .set(CacheKey { namespace: "ns", key: "k" }, &BTreeMap::from([((1, 2), 3)]), None)
        .await
        .unwrap_err();
    expect(tuple_keys, "E6023", ErrorKind::Invalid);

    let empty = cache.set(CacheKey { namespace: "", key: "k" }, &1, None).await.unwrap_err();
    expect(empty, "E4001", ErrorKind::Constraint);
    let empty = cache.set_bytes(CacheKey { namespace: "ns", key: "" }, &[1], None).await.unwrap_err();
    expect(empty, "E4001", ErrorKind::Constraint);

    assert_eq!(rows(&pool).await, 0, "a refused set wrote a row");
    assert_eq!(cache.sweep_expired(0).await.unwrap_err().code(), "E6001");
    let zero_limit = CacheConfig { max_entry_bytes: 0, ..CacheConfig::default() };
    assert_eq!(
        Cache::with_config(pool.clone(), zero_limit, Arc::new(ManualClock::new(0))).unwrap_err().code(),
        "E1003"
    );
}

#[tokio::test]
async fn the_table_refuses_values_that_do_not_match_their_format() {
    let dir = tempfile::tempdir().unwrap();
    let pool = migrated(dir.path()).await;
    for (format, value) in [("json", "x'7b7d'"), ("json", "'{nope'"), ("bytes", "'text'"), ("xml", "'<a/>'")]
    {
        let sql = format!(
            "INSERT INTO cache (namespace, key, format, value, size, created_at, updated_at, read_at) \
             VALUES ('n', 'k', '{format}', {value}, 2, 0, 0, 0)"
        );
        let error = pool.write(move |c| Ok(c.execute(&sql, [])?)).await.unwrap_err();
        assert_eq!(error.code(), "E4001", "{format} {value}: {error}");
    }
}

#[tokio::test]
async fn a_dropped_sweeper_ends_its_task() {
    let dir = tempfile::tempdir().unwrap();
    let pool = migrated(dir.path()).await;
    let (cache, _clock) =
        cache_on(&pool, CacheConfig { sweep_interval_ms: 3_600_000, ..CacheConfig::default() });
    let metrics = tokio::runtime::Handle::current().metrics();
    let before = metrics.num_alive_tasks();
    let sweeper = spawn_sweeper(cache);
    assert_eq!(metrics.num_alive_tasks(), before + 1);
    drop(sweeper);
    let deadline = Instant::now() + Duration::from_secs(30);
    while metrics.num_alive_tasks() > before {
        assert!(Instant::now() < deadline, "the sweeper task outlived its Sweeper");
        tokio::task::yield_now().await;
    }
}

/// The row of `(namespace, key)` as stored, to compare before and after a read.
async fn stored(pool: &Pool, namespace: &str, key: &str) -> (i64, i64) {
    let (namespace, key) = (namespace.to_owned(), key.to_owned());
    pool.read(move |c| {
        Ok(c.query_row(
            "SELECT read_at, hits FROM cache WHERE namespace = ?1 AND key = ?2",
            [namespace, key],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )?)
    })
    .await
    .unwrap()
}

#[tokio::test]
async fn peek_records_nothing_and_never_returns_an_expired_entry() {
    let dir = tempfile::tempdir().unwrap();
    let pool = migrated(dir.path()).await;
    let (cache, clock) = cache_on(&pool, CacheConfig::default());
    cache
        .set(CacheKey { namespace: "pages", key: "a" }, &"alpha", Some(Duration::from_secs(1)))
        .await
        .unwrap();
    cache.get::<String>(CacheKey { namespace: "pages", key: "a" }).await.unwrap();
    let before = stored(&pool, "pages", "a").await;
    assert_eq!(before, (START, 1));

    clock.advance(500);
    let entry = cache.peek(CacheKey { namespace: "pages", key: "a" }).await.unwrap().unwrap();
    assert_eq!(entry.value, CacheValue::Json("\"alpha\"".into()));
    assert_eq!(
        (entry.hits, entry.read_at, entry.expires_at),
        (1, to_datetime(START), Some(to_datetime(START + 1000)))
    );
    assert_eq!(stored(&pool, "pages", "a").await, before, "peek recorded a read");
    assert_eq!((cache.stats().hits, cache.stats().misses), (1, 0), "peek moved the counters");

    clock.advance(500);
    assert_eq!(
        cache.peek(CacheKey { namespace: "pages", key: "a" }).await.unwrap(),
        None,
        "peek served an expired entry"
    );
    assert_eq!(cache.peek(CacheKey { namespace: "pages", key: "nothing" }).await.unwrap(), None);
    assert_eq!(rows(&pool).await, 1, "the expired row is still there, not swept yet");
}

#[tokio::test]
async fn namespace_stats_count_entries_bytes_and_expired_rows_per_namespace() {
    let dir = tempfile::tempdir().unwrap();
    let pool = migrated(dir.path()).await;
    let (cache, clock) = cache_on(&pool, CacheConfig::default());
    assert!(cache.namespace_stats().await.unwrap().is_empty());
    cache
        .set(CacheKey { namespace: "b", key: "x" }, &"12345", Some(Duration::from_millis(10)))
        .await
        .unwrap();
    cache.set(CacheKey { namespace: "b", key: "y" }, &1, None).await.unwrap();
    cache
        .set_bytes(CacheKey { namespace: "a", key: "z" }, &[0; 4], Some(Duration::from_millis(20)))
        .await
        .unwrap();
    clock.advance(10);

    let stats = cache.namespace_stats().await.unwrap();
    let row = |namespace: &str, entries, bytes, expired| NamespaceStats {
        namespace: namespace.into(),
        entries,
        bytes,
        expired,
    };
    assert_eq!(stats, vec![row("a", 1, 4, 0), row("b", 2, 8, 1)]);
    assert_eq!(cache.namespace_stats_of("b").await.unwrap(), Some(row("b", 2, 8, 1)));
    assert_eq!(cache.namespace_stats_of("none").await.unwrap(), None);
    clock.advance(10);
    assert_eq!(cache.namespace_stats_of("a").await.unwrap(), Some(row("a", 1, 4, 1)));
    assert_eq!(cache.stats(), strata_repo::CacheStats::default(), "stats moved the counters");
}

#[tokio::test]
async fn each_cache_operation_logs_its_span_with_name_tables_and_outcome() {
    let dir = tempfile::tempdir().unwrap();
    let pool = migrated(dir.path()).await;
    let (cache, _clock) = cache_on(&pool, CacheConfig::default());
    let (log, _guard) = crate::op_spans::capture();
    cache.set(CacheKey { namespace: "pages", key: "a" }, &"alpha", None).await.unwrap();
    assert_eq!(
        cache.get::<String>(CacheKey { namespace: "pages", key: "a" }).await.unwrap().as_deref(),
        Some("alpha")
    );
    let zero_ttl =
        cache.set(CacheKey { namespace: "pages", key: "b" }, &1, Some(Duration::ZERO)).await.unwrap_err();
    assert_eq!(zero_ttl.code(), "E6021");
    assert_eq!(cache.sweep_expired(0).await.unwrap_err().code(), "E6001");

    let set = log.line("cache.set", "ok");
    assert!(set.contains("tables=\"cache\"") && set.contains("rows=1"), "{set}");
    assert!(log.line("cache.get", "ok").contains("rows=1"));
    let bad = log.line("cache.set", "error");
    assert!(bad.contains("WARN") && bad.contains("code=\"E6021\""), "{bad}");
    assert!(log.line("cache.sweep_expired", "error").contains("code=\"E6001\""));
}
