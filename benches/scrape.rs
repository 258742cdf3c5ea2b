//! Benchmarks of the scraping service's tables (issue 18): the TTL cache's get (a hit)
//! and set, the GCRA rate-limit check from 8 tasks on 8 keys and on 1 key, and
//! `Searches::bulk_insert_results` of 100,000 rows, each beside a raw-rusqlite baseline
//! on one connection running the same statements; and the p50/p99 of a cache get from
//! 8 concurrent callers.
//!
//! The raw baselines open their connection on a database that `strata::Database::open`
//! migrated, with exactly the pool's PRAGMAs (`strata_pool::apply_pragmas`, as
//! `benches/queue.rs` does), use `prepare_cached`, and run the repositories' own SQL,
//! taken from `strata_repo::statements()` by name, so both sides run identical
//! statements: `cache.read_live` (the hit is an `UPDATE ... RETURNING` that counts it)
//! and `cache.upsert`, one autocommit statement each, as the pool's writer runs one
//! write call on its own; `ratelimit.check`, one autocommit statement per check in a
//! loop over the same keys; and per 1,000 results (`RESULT_CHUNK`) one transaction of
//! `searches.get`, `searches.insert_result` per row and `searches.add_result_count`,
//! as `bulk_insert_results` does.
//!
//! `bulk_insert_results_100k` is held to 10 %, so it is also measured paired
//! (`common::paired`, section `bulk_insert_results_100k` of `<target>/bench-paired.json`):
//! rounds each time one raw and one strata insert back to back. Each insert goes into
//! a new search; the previous search and its results are deleted before it, untimed.
//!
//! The cache-get latencies (8 tasks, 2,000 timed gets each, exact percentiles) are
//! written to `<target>/bench-scrape-latency.json` (section `cache_get_8_readers`; not in
//! test mode). Group and function ids are parsed by the report tool (`cargo xtask
//! bench`) from `target/criterion/<group>/<function>/new/`: do not rename them. Run
//! one group at a time: `cargo bench -p strata --bench scrape -- cache_get`; a smoke
//! run with 10,000 results instead of 100,000: `STRATA_BENCH_SCRAPE_SMALL=1 cargo bench
//! -p strata --bench scrape`. `cargo test --benches` uses tiny sizes.

mod common;

use std::collections::HashMap;
use std::hint::black_box;
use std::path::Path;
use std::sync::OnceLock;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};
use serde_json::json;
use strata::Database;
use strata_core::{Config, Quota};
use strata_repo::searches::RESULT_CHUNK;
use strata_repo::{CacheKey, NewResult, NewSearch, Queue, QueueConfig, Searches};
use tempfile::TempDir;
use tokio::runtime::Runtime;

use common::{Latencies, configure, paired, runtime, save_section, test_mode};

/// Entries in the cache of the cache groups, and gets/sets per iteration.
const ENTRIES: usize = 1_000;
const CACHE_OPS: usize = 1_000;
/// The cache ops per iteration when criterion runs the bench as a test.
const TEST_MODE_CACHE_OPS: usize = 50;
/// The value of every entry: 200 bytes.
const VALUE_BYTES: usize = 200;
/// The namespace of every entry and the ttl it is set with.
const NAMESPACE: &str = "bench";
const TTL: Duration = Duration::from_secs(3_600);

/// Concurrent callers of the latency measurement, and the gets each one times.
const READERS: usize = 8;
const LATENCY_GETS: usize = 2_000;
/// Where the latencies are written, inside the target directory.
const LATENCY_FILE: &str = "bench-scrape-latency.json";

/// Tasks of `ratelimit_check` and checks per task per iteration.
const CHECK_TASKS: usize = 8;
const CHECKS_PER_TASK: usize = 250;
/// A quota no check of the bench exhausts: every check passes and moves the TAT.
const QUOTA: Quota = Quota { limit: 1_000_000, period_ms: 1_000, burst: 1_000_000 };

/// Results per iteration of `bulk_insert_results_100k`.
const RESULTS: usize = 100_000;
/// The results under `STRATA_BENCH_SCRAPE_SMALL=1`.
const RESULTS_SMOKE: usize = 10_000;
/// The results when criterion runs the bench as a test.
const TEST_MODE_RESULTS: usize = 2_000;
/// Rounds of the paired bulk-insert measurement (a few in test mode).
const PAIRED_BULK_ROUNDS: usize = 21;

/// The bench's own set-up statement (not measured): a search and, by its foreign
/// key's ON DELETE CASCADE, its results.
const DELETE_SEARCH: &str = "DELETE FROM searches WHERE id = ?1";

/// The repositories' own statement `name` from `strata_repo::statements()`, so that
/// the raw loops run exactly the SQL strata runs (looked up once).
fn repo_sql(name: &str) -> &'static str {
    static BY_NAME: OnceLock<HashMap<&'static str, &'static str>> = OnceLock::new();
    BY_NAME
        .get_or_init(|| strata_repo::statements().into_iter().collect())
        .get(name)
        .copied()
        .unwrap_or_else(|| panic!("strata_repo::statements() has no `{name}`"))
}

// ---------------------------------------------------------------------------
// Set-up shared by the groups.
// ---------------------------------------------------------------------------

/// Whether `STRATA_BENCH_SCRAPE_SMALL` asks for the smoke run.
fn smoke() -> bool {
    std::env::var("STRATA_BENCH_SCRAPE_SMALL").is_ok_and(|v| !v.is_empty() && v != "0")
}

fn cache_ops() -> usize {
    if test_mode() { TEST_MODE_CACHE_OPS } else { CACHE_OPS }
}

fn results() -> usize {
    if test_mode() {
        TEST_MODE_RESULTS
    } else if smoke() {
        RESULTS_SMOKE
    } else {
        RESULTS
    }
}

/// Every bench database: strata's defaults without the pre-migration snapshot (a
/// bench file is thrown away) and without the cache sweeper (nothing expires here).
fn bench_config(path: &Path) -> Config {
    let mut config = Config::for_path(path);
    config.schema.snapshot = false;
    config.cache.sweeper = false;
    config
}

/// A database that `Database::open` created and migrated, open.
fn strata_db(rt: &Runtime, name: &str) -> (TempDir, Database) {
    let dir = tempfile::tempdir().expect("temp dir");
    let db = rt.block_on(Database::open(&bench_config(&dir.path().join(name)))).expect("open the database");
    (dir, db)
}

/// A raw connection with exactly the PRAGMAs the pool's writer gets, on a database
/// that `Database::open` migrated.
fn raw_db(rt: &Runtime, name: &str) -> (TempDir, Connection) {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join(name);
    let config = bench_config(&path);
    let db = rt.block_on(Database::open(&config)).expect("migrate the raw database");
    rt.block_on(db.close()).expect("close");
    let conn = Connection::open(&path).expect("open the raw connection");
    strata_pool::apply_pragmas(&conn, &config.sqlite).expect("the writer's pragmas");
    (dir, conn)
}

fn close_db(rt: &Runtime, db: Option<(TempDir, Database)>) {
    if let Some((_dir, db)) = db {
        rt.block_on(db.close()).expect("close the database");
    }
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

fn key(i: usize) -> String {
    format!("key-{}", i % ENTRIES)
}

fn value() -> Vec<u8> {
    (0..VALUE_BYTES).map(|i| (i % 251) as u8).collect()
}

// ---------------------------------------------------------------------------
// The cache: the raw statements.
// ---------------------------------------------------------------------------

/// `cache.upsert` of a bytes entry, as `Cache::set_bytes` binds it.
fn raw_set(conn: &Connection, key: &str, value: &[u8]) -> rusqlite::Result<usize> {
    let now = now_ms();
    let expires_at = now + TTL.as_millis() as i64;
    conn.prepare_cached(repo_sql("cache.upsert"))?.execute(params![
        NAMESPACE,
        key,
        "bytes",
        value,
        value.len() as i64,
        expires_at,
        now
    ])
}

/// `cache.read_live`: the hit, read into the same eight columns `Cache::get_entry` reads.
fn raw_get(conn: &Connection, key: &str) -> rusqlite::Result<Option<usize>> {
    conn.prepare_cached(repo_sql("cache.read_live"))?
        .query_row(params![NAMESPACE, key, now_ms()], |r| {
            let format: String = r.get(0)?;
            let value: Vec<u8> = r.get(1)?;
            let numbers: [Option<i64>; 6] =
                [r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?, r.get(6)?, r.get(7)?];
            Ok(format.len() + value.len() + black_box(numbers).len())
        })
        .optional()
}

fn fill_raw(conn: &Connection) {
    let value = value();
    for i in 0..ENTRIES {
        raw_set(conn, &key(i), &value).expect("raw set");
    }
}

fn fill_strata(rt: &Runtime, db: &Database) {
    let value = value();
    rt.block_on(async {
        for i in 0..ENTRIES {
            db.cache()
                .set_bytes(CacheKey { namespace: NAMESPACE, key: &key(i) }, &value, Some(TTL))
                .await
                .expect("strata set");
        }
    });
}

// ---------------------------------------------------------------------------
// cache_get_hit, cache_set and the 8-caller latency
// ---------------------------------------------------------------------------

fn cache_get_hit(c: &mut Criterion) {
    let rt = runtime();
    let (_raw_dir, raw) = raw_db(&rt, "cache_raw.db");
    fill_raw(&raw);
    let strata = strata_db(&rt, "cache_strata.db");
    fill_strata(&rt, &strata.1);
    cache_get_latency(&rt, &strata.1);

    let ops = cache_ops();
    let mut group = c.benchmark_group("cache_get_hit");
    configure(&mut group, 20, 5);
    group.throughput(Throughput::Elements(ops as u64));
    group.bench_function("raw", |b| {
        b.iter(|| {
            for i in 0..ops {
                assert!(raw_get(&raw, &key(i)).expect("raw get").is_some(), "a hit");
            }
        });
    });
    let cache = strata.1.cache().clone();
    group.bench_function("strata", |b| {
        b.to_async(&rt).iter(|| {
            let cache = cache.clone();
            async move {
                for i in 0..ops {
                    let entry = cache
                        .get_entry(CacheKey { namespace: NAMESPACE, key: &key(i) })
                        .await
                        .expect("strata get");
                    assert!(black_box(entry).is_some(), "a hit");
                }
            }
        });
    });
    group.finish();
    close_db(&rt, Some(strata));
}

/// The p50 and p99 of a cache get (a hit) from [`READERS`] concurrent tasks, each
/// timing [`LATENCY_GETS`] gets; written to [`LATENCY_FILE`].
fn cache_get_latency(rt: &Runtime, db: &Database) {
    let gets = if test_mode() { 50 } else { LATENCY_GETS };
    let samples = rt.block_on(async {
        let tasks: Vec<_> = (0..READERS)
            .map(|reader| {
                let cache = db.cache().clone();
                tokio::spawn(async move {
                    let mut samples = Vec::with_capacity(gets);
                    for n in 0..gets {
                        let key = key(reader * 97 + n);
                        let start = Instant::now();
                        let entry = cache
                            .get_entry(CacheKey { namespace: NAMESPACE, key: &key })
                            .await
                            .expect("strata get");
                        samples.push(start.elapsed());
                        assert!(entry.is_some(), "a hit");
                    }
                    samples
                })
            })
            .collect();
        let mut all = Vec::with_capacity(READERS * gets);
        for task in tasks {
            all.extend(task.await.expect("reader task"));
        }
        all
    });
    let latencies = Latencies::new(samples);
    eprintln!("cache_get_8_readers: {}", latencies.line("gets"));
    let mut section = latencies.json("gets");
    section["readers"] = json!(READERS);
    section["entries"] = json!(ENTRIES);
    save_section(LATENCY_FILE, "cache_get_8_readers", section);
}

fn cache_set(c: &mut Criterion) {
    let rt = runtime();
    let (_raw_dir, raw) = raw_db(&rt, "cache_set_raw.db");
    fill_raw(&raw);
    let strata = strata_db(&rt, "cache_set_strata.db");
    fill_strata(&rt, &strata.1);

    let ops = cache_ops();
    let value = value();
    let mut group = c.benchmark_group("cache_set");
    configure(&mut group, 20, 5);
    group.throughput(Throughput::Elements(ops as u64));
    group.bench_function("raw", |b| {
        b.iter(|| {
            for i in 0..ops {
                assert_eq!(raw_set(&raw, &key(i), &value).expect("raw set"), 1);
            }
        });
    });
    let cache = strata.1.cache().clone();
    group.bench_function("strata", |b| {
        b.to_async(&rt).iter(|| {
            let (cache, value) = (cache.clone(), value.clone());
            async move {
                for i in 0..ops {
                    cache
                        .set_bytes(CacheKey { namespace: NAMESPACE, key: &key(i) }, &value, Some(TTL))
                        .await
                        .expect("strata set");
                }
            }
        });
    });
    group.finish();
    close_db(&rt, Some(strata));
}

// ---------------------------------------------------------------------------
// ratelimit_check
// ---------------------------------------------------------------------------

/// The key of check `n` of task `task`: one of 8 keys, or the one key.
fn check_key(keys: usize, task: usize) -> String {
    format!("bench:scraper:{}", task % keys)
}

/// `ratelimit.check`, bound as `RateLimits::check` binds it for a cost of 1.
fn raw_check(conn: &Connection, key: &str) -> rusqlite::Result<bool> {
    // Cannot fail: QUOTA is a valid quota (limit and period positive).
    let interval = QUOTA.emission_interval_us(key).expect("a valid quota");
    let now_ms = now_ms();
    let now_us = now_ms * 1_000;
    let (_tat, retry_after): (i64, i64) = conn.prepare_cached(repo_sql("ratelimit.check"))?.query_row(
        params![
            key,
            now_us,
            interval,
            interval * i64::from(QUOTA.burst),
            QUOTA.limit,
            QUOTA.period_ms as i64,
            QUOTA.burst,
            now_ms
        ],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )?;
    Ok(retry_after == 0)
}

fn ratelimit_check(c: &mut Criterion) {
    let rt = runtime();
    let (_raw_dir, raw) = raw_db(&rt, "ratelimit_raw.db");
    let strata = strata_db(&rt, "ratelimit_strata.db");
    let per_task = if test_mode() { 10 } else { CHECKS_PER_TASK };

    let mut group = c.benchmark_group("ratelimit_check");
    configure(&mut group, 20, 5);
    group.throughput(Throughput::Elements((CHECK_TASKS * per_task) as u64));
    for (keys, name) in [(8, "8keys"), (1, "1key")] {
        // The raw loop: the same checks, one after another on one connection.
        group.bench_function(format!("raw_{name}"), |b| {
            b.iter(|| {
                for _ in 0..per_task {
                    for task in 0..CHECK_TASKS {
                        assert!(raw_check(&raw, &check_key(keys, task)).expect("raw check"), "allowed");
                    }
                }
            });
        });
        let limits = strata.1.rate_limits().clone();
        group.bench_function(format!("strata_{name}"), |b| {
            b.to_async(&rt).iter(|| {
                let limits = limits.clone();
                async move {
                    let tasks: Vec<_> = (0..CHECK_TASKS)
                        .map(|task| {
                            let (limits, key) = (limits.clone(), check_key(keys, task));
                            tokio::spawn(async move {
                                for _ in 0..per_task {
                                    let decision = limits.check(&key, QUOTA, 1).await?;
                                    assert!(decision.is_allowed(), "allowed");
                                }
                                Ok::<_, strata_core::Error>(())
                            })
                        })
                        .collect();
                    for task in tasks {
                        task.await.expect("check task").expect("strata check");
                    }
                }
            });
        });
    }
    group.finish();
    close_db(&rt, Some(strata));
}

// ---------------------------------------------------------------------------
// bulk_insert_results_100k
// ---------------------------------------------------------------------------

/// The results every insert stores: distinct urls, a rank, a hash and a small JSON.
fn new_results(n: usize) -> Vec<NewResult> {
    (0..n)
        .map(|i| NewResult {
            url: format!("https://example.com/doc/{i}"),
            title: Some(format!("document {i}")),
            snippet: Some("write-ahead logging keeps readers and the writer apart".into()),
            rank: i as i64,
            content_hash: Some(format!("{:016x}", (i as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15))),
            data: Some(format!(r#"{{"n":{i}}}"#)),
        })
        .collect()
}

/// A new search (through `searches.create`'s statement), after deleting `previous`
/// with its results; untimed set-up of one insert.
fn raw_new_search(conn: &Connection, previous: Option<i64>) -> i64 {
    if let Some(id) = previous {
        conn.execute(DELETE_SEARCH, [id]).expect("delete the previous search");
    }
    conn.prepare_cached(repo_sql("searches.create"))
        .expect("prepare")
        .query_row(params!["bench", "[]", "{}", None::<i64>, now_ms()], |r| r.get(0))
        .expect("create a search")
}

/// The results in transactions of [`RESULT_CHUNK`], as `bulk_insert_results` writes
/// them: the search's row, the rows, the count; answers how many were new.
fn raw_bulk_insert(conn: &mut Connection, search_id: i64, results: &[NewResult]) -> rusqlite::Result<u64> {
    let mut total = 0;
    for chunk in results.chunks(RESULT_CHUNK) {
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        {
            let found: Option<i64> = tx
                .prepare_cached(repo_sql("searches.get"))?
                .query_row([search_id], |r| r.get(0))
                .optional()?;
            assert!(found.is_some(), "the search exists");
            let now = now_ms();
            let mut insert = tx.prepare_cached(repo_sql("searches.insert_result"))?;
            let mut inserted = 0_i64;
            for r in chunk {
                inserted += insert.execute(params![
                    search_id,
                    r.url,
                    r.title,
                    r.snippet,
                    r.rank,
                    r.content_hash,
                    r.data.as_deref().unwrap_or("{}"),
                    now
                ])? as i64;
            }
            tx.prepare_cached(repo_sql("searches.add_result_count"))?
                .execute(params![search_id, inserted])?;
            total += inserted as u64;
        }
        tx.commit()?;
    }
    Ok(total)
}

/// The strata side's untimed set-up: the previous search deleted, a new one created.
fn strata_new_search(rt: &Runtime, searches: &Searches, db: &Database, previous: Option<i64>) -> i64 {
    rt.block_on(async {
        if let Some(id) = previous {
            db.pool().write(move |conn| Ok(conn.execute(DELETE_SEARCH, [id])?)).await.expect("delete");
        }
        searches.create(NewSearch::new("bench")).await.expect("create a search").id
    })
}

fn bulk_insert_results_100k(c: &mut Criterion) {
    let rt = runtime();
    let (_raw_dir, mut raw) = raw_db(&rt, "bulk_raw.db");
    let strata = strata_db(&rt, "bulk_strata.db");
    let queue =
        Queue::new(strata.1.pool().clone(), QueueConfig::default()).expect("the default queue config");
    let searches = Searches::new(queue);
    let n = results();
    let template = new_results(n);
    let (mut raw_search, mut strata_search) = (None, None);

    // The paired rounds first, on the files the group then uses.
    {
        let raw_round = || {
            let id = raw_new_search(&raw, raw_search);
            raw_search = Some(id);
            let start = Instant::now();
            assert_eq!(raw_bulk_insert(&mut raw, id, &template).expect("raw bulk insert"), n as u64);
            start.elapsed().as_secs_f64()
        };
        let strata_round = || {
            let id = strata_new_search(&rt, &searches, &strata.1, strata_search);
            strata_search = Some(id);
            let results = template.clone();
            let start = Instant::now();
            let done = rt.block_on(searches.bulk_insert_results(id, results)).expect("strata bulk insert");
            let secs = start.elapsed().as_secs_f64();
            assert_eq!(done.inserted, n as u64);
            secs
        };
        paired("bulk_insert_results_100k", PAIRED_BULK_ROUNDS, raw_round, strata_round);
    }

    let mut group = c.benchmark_group("bulk_insert_results_100k");
    configure(&mut group, 10, 10);
    group.throughput(Throughput::Elements(n as u64));
    group.bench_function("raw", |b| {
        b.iter_custom(|iters| {
            let mut timed = Duration::ZERO;
            for _ in 0..iters {
                let id = raw_new_search(&raw, raw_search);
                raw_search = Some(id);
                let start = Instant::now();
                black_box(raw_bulk_insert(&mut raw, id, &template).expect("raw bulk insert"));
                timed += start.elapsed();
            }
            timed
        });
    });
    group.bench_function("strata", |b| {
        b.iter_custom(|iters| {
            let mut timed = Duration::ZERO;
            for _ in 0..iters {
                let id = strata_new_search(&rt, &searches, &strata.1, strata_search);
                strata_search = Some(id);
                // The clone is the caller's vector, built before the call (untimed).
                let results = template.clone();
                let start = Instant::now();
                black_box(
                    rt.block_on(searches.bulk_insert_results(id, results)).expect("strata bulk insert"),
                );
                timed += start.elapsed();
            }
            timed
        });
    });
    group.finish();
    close_db(&rt, Some(strata));
}

criterion_group!(benches, cache_get_hit, cache_set, ratelimit_check, bulk_insert_results_100k);
criterion_main!(benches);
