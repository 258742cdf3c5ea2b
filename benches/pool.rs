//! Benchmarks of `strata_pool::Pool`: point reads on a 1,000,000-row table (one read
//! closure doing 1,000 reads, and 1,000 read calls of one read each), a one-row write
//! transaction, a 100,000-row bulk insert, and 800 one-row writes from 8 concurrent
//! tokio tasks (group commit). Every strata bench runs beside a raw-rusqlite baseline
//! that does the same work on one `rusqlite::Connection` opened with the same PRAGMAs
//! as the pool (busy_timeout, journal_mode=WAL, then synchronous, foreign_keys,
//! temp_store, cache_size, mmap_size, journal_size_limit and wal_autocheckpoint from
//! `Config::default().sqlite`) and with `prepare_cached`, so that each ratio
//! pool/raw is the price of the pool itself. Group and function ids are parsed by
//! the report tool from `target/criterion/<group>/<function>/new/estimates.json`: do
//! not rename them. Run one group at a time: `cargo bench -p strata --bench pool --
//! point_read_1m`.
//!
//! `insert_single_row_txn_full` is the one-row write transaction again with
//! `sqlite.synchronous = "full"` on both sides: each commit waits for an fsync of the
//! WAL, which is what power-loss durability costs. It is reported, with no target.
//!
//! The two comparisons held to 10 % (batched point reads, the bulk insert) are also
//! measured paired (`common::paired`): before criterion's samples, rounds each time
//! one raw run and one pool run back to back (which goes first alternates), and the
//! median of the per-round ratios is written to `<target>/bench-paired.json` for the
//! report. On this shared 2-core VM the speed of the whole machine shifts by a third
//! for seconds at a time; criterion's raw and pool samples are seconds apart and can
//! land on different sides of such a shift, while a round's two runs are
//! milliseconds apart.

mod common;

use std::cell::OnceCell;
use std::hint::black_box;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::measurement::WallTime;
use criterion::{BenchmarkGroup, Criterion, SamplingMode, Throughput, criterion_group, criterion_main};
use rusqlite::{Connection, TransactionBehavior};
use strata_core::{Config, Synchronous};
use strata_pool::Pool;
use tempfile::TempDir;
use tokio::runtime::Runtime;

use common::{paired, runtime};

/// Rows of the point-read table.
const KV_ROWS: i64 = 1_000_000;
/// Point reads per iteration of `point_read_1m`.
const READS: usize = 1_000;
/// Rows per iteration of `bulk_insert_100k`.
const BULK_ROWS: i64 = 100_000;
/// Tasks and writes per task of `concurrent_writes_8_tasks`.
const TASKS: i64 = 8;
const WRITES_PER_TASK: i64 = 100;

const POINT_READ: &str = "SELECT v FROM kv WHERE id = ?1";
const CREATE_T: &str =
    "CREATE TABLE IF NOT EXISTS t(id INTEGER PRIMARY KEY, n INTEGER NOT NULL, v TEXT NOT NULL)";
const INSERT_ONE: &str = "INSERT INTO t(n, v) VALUES (?1, ?2)";
const RESET_BULK: &str =
    "DROP TABLE IF EXISTS bulk; CREATE TABLE bulk(id INTEGER PRIMARY KEY, v TEXT NOT NULL)";
const INSERT_BULK: &str = "INSERT INTO bulk(id, v) VALUES (?1, ?2)";
/// Rounds of the paired point-read measurement (a few in test mode).
const PAIRED_ROUNDS: usize = 201;
/// Rounds of the paired bulk-insert measurement (a few in test mode). A round's ratio
/// spreads from about 0.95 to 1.2 (a WAL restart or checkpoint fsync may fall in
/// either run), so the median needs this many rounds to be good to about 0.03.
const PAIRED_BULK_ROUNDS: usize = 61;
/// The text column of every written row.
const PAYLOAD: &str = "strata benchmark payload";

// ---------------------------------------------------------------------------
// Set-up shared by the raw baseline and the pool.
// ---------------------------------------------------------------------------

/// A raw connection with exactly the PRAGMAs the pool's connections get, in the
/// pool's order: busy_timeout first, then WAL, then the rest.
fn open_raw(path: &Path) -> Connection {
    open_raw_with(path, Synchronous::Normal)
}

/// [`open_raw`] with the durability `synchronous`.
fn open_raw_with(path: &Path, synchronous: Synchronous) -> Connection {
    let conn = Connection::open(path).expect("open the raw connection");
    let sqlite = strata_core::SqliteConfig { synchronous, ..Config::default().sqlite };
    strata_pool::apply_pragmas(&conn, &sqlite).expect("the writer's pragmas");
    conn
}

/// A pool with the default configuration on `path`.
fn open_pool(rt: &Runtime, path: &Path) -> Pool {
    open_pool_with(rt, path, Synchronous::Normal)
}

/// [`open_pool`] with the durability `synchronous`.
fn open_pool_with(rt: &Runtime, path: &Path, synchronous: Synchronous) -> Pool {
    let mut config = Config::for_path(path);
    config.sqlite.synchronous = synchronous;
    rt.block_on(Pool::open(&config)).expect("open the pool")
}

fn close_pool(rt: &Runtime, pool: Option<Pool>) {
    if let Some(pool) = pool {
        rt.block_on(pool.close()).expect("close the pool");
    }
}

fn configure(group: &mut BenchmarkGroup<'_, WallTime>, samples: usize, measure_secs: u64) {
    group
        .sample_size(samples)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(measure_secs));
}

/// The same 1,000 ids for every point-read function: a fixed LCG over 1..=KV_ROWS.
fn read_ids() -> Arc<[i64]> {
    let mut x: u64 = 0x5eed_5eed;
    (0..READS)
        .map(|_| {
            x = x.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
            ((x >> 33) % KV_ROWS as u64) as i64 + 1
        })
        .collect()
}

// ---------------------------------------------------------------------------
// The work itself: one function used by both sides wherever the work is the same.
// ---------------------------------------------------------------------------

fn point_read(conn: &Connection, id: i64) -> rusqlite::Result<usize> {
    let mut stmt = conn.prepare_cached(POINT_READ)?;
    stmt.query_row([id], |row| Ok(row.get_ref(0)?.as_str()?.len()))
}

fn point_reads(conn: &Connection, ids: &[i64]) -> rusqlite::Result<usize> {
    let mut stmt = conn.prepare_cached(POINT_READ)?;
    let mut total = 0;
    for &id in ids {
        total += stmt.query_row([id], |row| Ok(row.get_ref(0)?.as_str()?.len()))?;
    }
    Ok(total)
}

fn insert_one(conn: &Connection, n: i64) -> rusqlite::Result<()> {
    conn.prepare_cached(INSERT_ONE)?.execute((n, PAYLOAD))?;
    Ok(())
}

/// What an application without a writer queue does for one write: its own
/// `BEGIN IMMEDIATE` / INSERT / `COMMIT` (rusqlite's `Transaction`, which issues
/// BEGIN and COMMIT with `execute_batch`, as the pool's writer does).
fn insert_one_txn(conn: &mut Connection, n: i64) -> rusqlite::Result<()> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    insert_one(&tx, n)?;
    tx.commit()
}

fn insert_bulk(conn: &Connection) -> rusqlite::Result<()> {
    let mut stmt = conn.prepare_cached(INSERT_BULK)?;
    for id in 1..=BULK_ROWS {
        stmt.execute((id, PAYLOAD))?;
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// point_read_1m
// ---------------------------------------------------------------------------

struct KvFixture {
    _dir: TempDir,
    raw: Connection,
    pool: Pool,
    ids: Arc<[i64]>,
}

/// Builds the 1,000,000-row table in one transaction on a connection of its own,
/// checkpoints it into the database file and closes that connection; then opens the
/// raw reader and the pool on the same file, so that both read through connections
/// opened on the finished file (the builder read faster than any fresh connection).
fn kv_fixture(rt: &Runtime) -> KvFixture {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("kv.db");
    let mut build = open_raw(&path);
    {
        let tx = build.transaction_with_behavior(TransactionBehavior::Immediate).expect("begin");
        tx.execute_batch("CREATE TABLE kv(id INTEGER PRIMARY KEY, v TEXT)").expect("create kv");
        {
            let mut stmt = tx.prepare_cached("INSERT INTO kv(id, v) VALUES (?1, ?2)").expect("prepare");
            for id in 1..=KV_ROWS {
                stmt.execute((id, format!("value-{id:07}"))).expect("insert kv row");
            }
        }
        tx.commit().expect("commit kv");
    }
    build.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(())).expect("checkpoint");
    build.close().expect("close the builder");
    let raw = open_raw(&path);
    let pool = open_pool(rt, &path);
    KvFixture { _dir: dir, raw, pool, ids: read_ids() }
}

/// The paired batches of [`READS`] point reads.
fn paired_point_reads(rt: &Runtime, f: &KvFixture) {
    let raw = || {
        let start = Instant::now();
        black_box(point_reads(&f.raw, &f.ids).expect("raw point reads"));
        start.elapsed().as_secs_f64()
    };
    let pool = || {
        let ids = Arc::clone(&f.ids);
        let start = Instant::now();
        black_box(
            rt.block_on(f.pool.read(move |conn| Ok(point_reads(conn, &ids)?))).expect("pool point reads"),
        );
        start.elapsed().as_secs_f64()
    };
    paired("point_read_1m", PAIRED_ROUNDS, raw, pool);
}

/// The paired bulk inserts, each on its own fresh table (reset untimed), as in the
/// criterion group.
fn paired_bulk_inserts(rt: &Runtime, raw_conn: &mut Connection, pool: &Pool) {
    let raw = || {
        raw_conn.execute_batch(RESET_BULK).expect("reset bulk");
        let start = Instant::now();
        let tx = raw_conn.transaction_with_behavior(TransactionBehavior::Immediate).expect("begin");
        insert_bulk(&tx).expect("raw bulk insert");
        tx.commit().expect("commit");
        start.elapsed().as_secs_f64()
    };
    let pool = || {
        rt.block_on(pool.write(|conn| Ok(conn.execute_batch(RESET_BULK)?))).expect("reset bulk");
        let start = Instant::now();
        rt.block_on(pool.write(|conn| Ok(insert_bulk(conn)?))).expect("pool bulk insert");
        start.elapsed().as_secs_f64()
    };
    paired("bulk_insert_100k", PAIRED_BULK_ROUNDS, raw, pool);
}

fn point_read_1m(c: &mut Criterion) {
    let rt = runtime();
    let fixture: OnceCell<KvFixture> = OnceCell::new();
    // Whichever function runs first builds the fixture and runs the paired rounds.
    let fixture_and_pairs = || {
        let f = kv_fixture(&rt);
        paired_point_reads(&rt, &f);
        f
    };
    let mut group = c.benchmark_group("point_read_1m");
    configure(&mut group, 20, 5);
    group.throughput(Throughput::Elements(READS as u64));

    group.bench_function("raw", |b| {
        let f = fixture.get_or_init(fixture_and_pairs);
        b.iter(|| point_reads(&f.raw, &f.ids).expect("raw point reads"));
    });

    group.bench_function("pool_batched", |b| {
        let f = fixture.get_or_init(fixture_and_pairs);
        b.to_async(&rt).iter_custom(|iters| {
            let (pool, ids) = (f.pool.clone(), Arc::clone(&f.ids));
            async move {
                let start = Instant::now();
                for _ in 0..iters {
                    let ids = Arc::clone(&ids);
                    let total = pool.read(move |conn| Ok(point_reads(conn, &ids)?)).await;
                    black_box(total.expect("pool point reads"));
                }
                start.elapsed()
            }
        });
    });

    group.bench_function("pool_per_call", |b| {
        let f = fixture.get_or_init(fixture_and_pairs);
        b.to_async(&rt).iter_custom(|iters| {
            let (pool, ids) = (f.pool.clone(), Arc::clone(&f.ids));
            async move {
                let start = Instant::now();
                for _ in 0..iters {
                    let mut total = 0;
                    for &id in ids.iter() {
                        total += pool.read(move |conn| Ok(point_read(conn, id)?)).await.expect("pool read");
                    }
                    black_box(total);
                }
                start.elapsed()
            }
        });
    });

    group.finish();
    close_pool(&rt, fixture.into_inner().map(|f| f.pool));
}

// ---------------------------------------------------------------------------
// insert_single_row_txn
// ---------------------------------------------------------------------------

/// A fresh database with table `t`, for the raw side.
fn raw_db(name: &str, synchronous: Synchronous) -> (TempDir, Connection) {
    let dir = tempfile::tempdir().expect("temp dir");
    let conn = open_raw_with(&dir.path().join(name), synchronous);
    conn.execute_batch(CREATE_T).expect("create t");
    (dir, conn)
}

/// A fresh database with table `t`, for the pool side.
fn pool_db(rt: &Runtime, name: &str, synchronous: Synchronous) -> (TempDir, Pool) {
    let dir = tempfile::tempdir().expect("temp dir");
    let pool = open_pool_with(rt, &dir.path().join(name), synchronous);
    rt.block_on(pool.write(|conn| Ok(conn.execute_batch(CREATE_T)?))).expect("create t");
    (dir, pool)
}

fn insert_single_row_txn(c: &mut Criterion) {
    single_row_txns(c, "insert_single_row_txn", Synchronous::Normal);
}

/// The one-row write transaction with every commit fsynced (`synchronous = "full"`).
fn insert_single_row_txn_full(c: &mut Criterion) {
    single_row_txns(c, "insert_single_row_txn_full", Synchronous::Full);
}

/// One-row write transactions as group `group_name`, raw and pool with `synchronous`.
fn single_row_txns(c: &mut Criterion, group_name: &str, synchronous: Synchronous) {
    let rt = runtime();
    let mut raw: Option<(TempDir, Connection)> = None;
    let mut pooled: Option<(TempDir, Pool)> = None;
    let mut group = c.benchmark_group(group_name);
    configure(&mut group, 20, 3);
    group.throughput(Throughput::Elements(1));

    group.bench_function("raw", |b| {
        let (_, conn) = raw.get_or_insert_with(|| raw_db("single_raw.db", synchronous));
        let mut n = 0;
        b.iter(|| {
            n += 1;
            insert_one_txn(conn, n).expect("raw insert");
        });
    });

    group.bench_function("pool", |b| {
        let (_, pool) = pooled.get_or_insert_with(|| pool_db(&rt, "single_pool.db", synchronous));
        b.to_async(&rt).iter_custom(|iters| {
            let pool = pool.clone();
            async move {
                let start = Instant::now();
                for n in 0..iters as i64 {
                    pool.write(move |conn| Ok(insert_one(conn, n)?)).await.expect("pool insert");
                }
                start.elapsed()
            }
        });
    });

    group.finish();
    close_pool(&rt, pooled.map(|(_, pool)| pool));
}

// ---------------------------------------------------------------------------
// bulk_insert_100k
// ---------------------------------------------------------------------------

fn bulk_insert_100k(c: &mut Criterion) {
    let rt = runtime();
    let mut raw: Option<(TempDir, Connection)> = None;
    let mut pooled: Option<(TempDir, Pool)> = None;
    let mut group = c.benchmark_group("bulk_insert_100k");
    configure(&mut group, 10, 5);
    group.sampling_mode(SamplingMode::Flat);
    group.throughput(Throughput::Elements(BULK_ROWS as u64));

    // The paired rounds first, on the files the group then uses.
    let (_, raw_conn) = raw.get_or_insert_with(|| raw_db("bulk_raw.db", Synchronous::Normal));
    let (_, pool) = pooled.get_or_insert_with(|| pool_db(&rt, "bulk_pool.db", Synchronous::Normal));
    paired_bulk_inserts(&rt, raw_conn, pool);

    // The table is dropped and created again before every iteration, untimed.
    group.bench_function("raw", |b| {
        let (_, conn) = raw.get_or_insert_with(|| raw_db("bulk_raw.db", Synchronous::Normal));
        b.iter_custom(|iters| {
            let mut timed = Duration::ZERO;
            for _ in 0..iters {
                conn.execute_batch(RESET_BULK).expect("reset bulk");
                let start = Instant::now();
                let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate).expect("begin");
                insert_bulk(&tx).expect("raw bulk insert");
                tx.commit().expect("commit");
                timed += start.elapsed();
            }
            timed
        });
    });

    group.bench_function("pool", |b| {
        let (_, pool) = pooled.get_or_insert_with(|| pool_db(&rt, "bulk_pool.db", Synchronous::Normal));
        b.to_async(&rt).iter_custom(|iters| {
            let pool = pool.clone();
            async move {
                let mut timed = Duration::ZERO;
                for _ in 0..iters {
                    pool.write(|conn| Ok(conn.execute_batch(RESET_BULK)?)).await.expect("reset bulk");
                    let start = Instant::now();
                    pool.write(|conn| Ok(insert_bulk(conn)?)).await.expect("pool bulk insert");
                    timed += start.elapsed();
                }
                timed
            }
        });
    });

    group.finish();
    close_pool(&rt, pooled.map(|(_, pool)| pool));
}

// ---------------------------------------------------------------------------
// concurrent_writes_8_tasks
// ---------------------------------------------------------------------------

fn concurrent_writes_8_tasks(c: &mut Criterion) {
    let rt = runtime();
    let mut raw: Option<(TempDir, Connection)> = None;
    let mut pooled: Option<(TempDir, Pool)> = None;
    let mut group = c.benchmark_group("concurrent_writes_8_tasks");
    configure(&mut group, 10, 5);
    group.sampling_mode(SamplingMode::Flat);
    group.throughput(Throughput::Elements((TASKS * WRITES_PER_TASK) as u64));

    // Without a writer queue: every write its own transaction, one after another.
    group.bench_function("raw_loop", |b| {
        let (_, conn) = raw.get_or_insert_with(|| raw_db("concurrent_raw.db", Synchronous::Normal));
        b.iter(|| {
            for task in 0..TASKS {
                for seq in 0..WRITES_PER_TASK {
                    insert_one_txn(conn, task * WRITES_PER_TASK + seq).expect("raw insert");
                }
            }
        });
    });

    // 8 tasks, each 100 sequential `pool.write`s; the writer commits what is queued
    // together.
    group.bench_function("pool_group_commit", |b| {
        let (_, pool) = pooled.get_or_insert_with(|| pool_db(&rt, "concurrent_pool.db", Synchronous::Normal));
        b.to_async(&rt).iter_custom(|iters| {
            let pool = pool.clone();
            async move {
                let start = Instant::now();
                for _ in 0..iters {
                    let tasks: Vec<_> = (0..TASKS)
                        .map(|task| {
                            let pool = pool.clone();
                            tokio::spawn(async move {
                                for seq in 0..WRITES_PER_TASK {
                                    let n = task * WRITES_PER_TASK + seq;
                                    pool.write(move |conn| Ok(insert_one(conn, n)?)).await?;
                                }
                                Ok::<_, strata_core::Error>(())
                            })
                        })
                        .collect();
                    for task in tasks {
                        task.await.expect("writer task").expect("pool insert");
                    }
                }
                start.elapsed()
            }
        });
    });

    group.finish();
    if let Some((_, pool)) = &pooled {
        let m = pool.metrics();
        eprintln!(
            "concurrent_writes_8_tasks/pool_group_commit: {} writes in {} batches ({:.2} writes per commit)",
            m.writes,
            m.batches,
            m.writes as f64 / m.batches.max(1) as f64
        );
    }
    close_pool(&rt, pooled.map(|(_, pool)| pool));
}

criterion_group!(
    benches,
    point_read_1m,
    insert_single_row_txn,
    insert_single_row_txn_full,
    bulk_insert_100k,
    concurrent_writes_8_tasks
);
criterion_main!(benches);
