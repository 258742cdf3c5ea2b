//! Benchmarks of the durable task queue (`strata_repo::Queue`, issue 4): jobs per
//! second end to end (enqueue, claim, complete) with 4 worker tasks, claiming 1 or 100
//! jobs at a time, beside a raw-rusqlite loop on one connection running the same
//! statements, every run starting on an empty `tasks` table and WAL; the latency of a one-job claim on a queue with 10,000 and with
//! 1,000,000 finished tasks (the claim index is partial, so the two should be close);
//! and the latency of `Queue::get` from 10 concurrent readers on 1,000,000 tasks.
//! `queue_worker` (issue 17) runs N no-op jobs through 4 workers of concurrency 1
//! while a producer enqueues them in batches of 100 or one at a time, once through
//! the worker runtime (`strata_repo::Worker`) and once through the hand-written
//! `next_within` / `complete` loop it replaces (bar: runtime / loop <= 1.2).
//!
//! The raw baselines open their connection with exactly the pool's PRAGMAs (WAL,
//! synchronous=NORMAL and the rest of `Config::default().sqlite`, through
//! `strata_pool::apply_pragmas`, as `benches/pool.rs` does), use `prepare_cached`, and
//! run the queue's own SQL, taken from `strata_repo::statements()`: the enqueue's INSERT
//! (the id from `last_insert_rowid`), in one transaction with a look for ids near the
//! end per `batch_size` (500) rows, as `enqueue_batch` does; the
//! claim's look for expired leases (their UPDATE only when it finds one) and claim
//! UPDATE ... RETURNING (the one-task form for single claims) in one transaction per
//! claim; the complete UPDATEs of one claim's
//! jobs in one transaction (`Queue::complete` for a single job, `Queue::complete_many`
//! for a batch). That is the
//! grouping the strata calls ask for; the pool's writer may still commit concurrent
//! calls of the 4 workers together (group commit), which the raw loop cannot.
//!
//! The claim and point-read groups work on fixtures of finished (completed) tasks,
//! built once with one `INSERT ... SELECT` over a recursive CTE into a database that
//! `strata::Database::open` migrated, cached as
//! `<target>/bench-fixtures/queue-finished-<n>.db` and reused while its version stamp
//! (`user_version`) is right. Each group works on a copy, so the fixture never changes.
//! The claim group enqueues fresh pending tasks (untimed) before it times the claims
//! and deletes every task above the fixture's afterwards, so that the number of
//! finished tasks stays what the group's name says. The point-read pool is opened
//! with `pool.readers = 10` (the default is 4) so that each of the 10 readers has a
//! connection of its own.
//!
//! `queue_jobs_full` runs the same jobs with `sqlite.synchronous = "full"` on both
//! sides (every commit fsynced), with fewer samples and no paired rounds: it reports
//! what power-loss durability costs, and holds no target. `queue_jobs_audited` runs
//! the strata side with the `tasks` table's writes captured into `audit` (`[audit]
//! tables`): what write capture costs when on. It holds no target either.
//!
//! p50 and p99 come from this bench's own exact histograms (2,000 claims per fixture,
//! 10 × 2,000 reads), measured before criterion's samples of the same group and
//! written to `<target>/bench-queue-latency.json` (one section per group, merged with
//! the sections of earlier runs; not in test mode). Group and function ids are parsed
//! by the report tool (`cargo xtask bench`) from
//! `target/criterion/<group>/<function>/new/`: do not rename them. Run one group at a
//! time: `cargo bench -p strata --bench queue -- queue_jobs`; a quick smoke run with a
//! 50,000-task fixture instead of 1,000,000: `STRATA_BENCH_QUEUE_SMALL=1 cargo bench
//! -p strata --bench queue`. `cargo test --benches` uses tiny sizes.

mod common;

use std::cell::OnceCell;
use std::collections::HashMap;
use std::fs::{self, File};
use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use criterion::{Criterion, SamplingMode, Throughput, criterion_group, criterion_main};
use rusqlite::{Connection, TransactionBehavior, params};
use serde_json::json;
use strata::Database;
use strata_core::{Config, Synchronous};
use strata_repo::{Claimer, Completion, NewTask, Queue, QueueConfig};
use tempfile::TempDir;
use tokio::runtime::Runtime;

use common::{Latencies, configure, remove_db, runtime, target_dir, test_mode};

/// Worker tasks of `queue_jobs`.
const WORKERS: usize = 4;
/// Jobs per iteration of `queue_jobs` (enqueued, claimed and completed).
const JOBS: usize = 2_000;
/// Rounds of the paired raw-against-strata measurement of `queue_jobs`, per mode.
const PAIRED_ROUNDS: usize = 21;
/// Jobs per iteration when criterion runs the bench as a test.
const TEST_MODE_JOBS: usize = 200;

/// Finished tasks of the two claim fixtures.
const FINISHED_SMALL: u64 = 10_000;
const FINISHED_LARGE: u64 = 1_000_000;
/// The large fixture under `STRATA_BENCH_QUEUE_SMALL=1`.
const FINISHED_LARGE_SMOKE: u64 = 50_000;
/// The fixtures when criterion runs the bench as a test.
const TEST_MODE_SMALL: u64 = 1_000;
const TEST_MODE_LARGE: u64 = 5_000;
/// Stored in the fixture's `user_version`; bump it when the recipe changes so that
/// an old fixture is rebuilt instead of reused.
const FIXTURE_VERSION: u32 = 2;

/// One-job claims of the latency histogram, per fixture.
const LATENCY_CLAIMS: usize = 2_000;
/// Concurrent readers of `task_point_read_1m`, each with a connection of its own.
const READERS: usize = 10;
/// Reads per reader of the latency histogram.
const LATENCY_READS: usize = 2_000;
/// Reads per reader of one criterion iteration.
const ITER_READS: usize = 100;
/// The latency samples when criterion runs the bench as a test.
const TEST_MODE_SAMPLES: usize = 100;

/// Where the latencies are written, inside the target directory.
const LATENCY_FILE: &str = "bench-queue-latency.json";

/// The queue, kind, worker and lease of every bench task.
const QUEUE: &str = "bench";
const KIND: &str = "job";
const WORKER: &str = "bench-worker";
const LEASE: Duration = Duration::from_secs(30);
/// What every job completes with.
const RESULT: &str = r#"{"ok":true}"#;

/// The queue's own statement `name` from `strata_repo::statements()`, so that the raw
/// loop runs exactly the SQL the queue runs. The list is built once: the raw loop
/// looks statements up per transaction, and building it there was a tenth of a
/// one-job claim and complete (callgrind), a cost strata's constants do not have.
fn queue_sql(name: &str) -> &'static str {
    static BY_NAME: OnceLock<HashMap<&'static str, &'static str>> = OnceLock::new();
    BY_NAME
        .get_or_init(|| strata_repo::statements().into_iter().collect())
        .get(name)
        .copied()
        .unwrap_or_else(|| panic!("strata_repo::statements() has no `{name}`"))
}

/// The fixture's finished tasks: ?1 rows, ?2 the first task's time (ms). Completed
/// tasks of the bench queue, each claimed once.
const FILL_FINISHED: &str = r#"
    WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?1)
    INSERT INTO tasks (id, queue, kind, payload, priority, status, attempts, max_attempts, run_after,
                       lease_owner, result, submitted_at, started_at, completed_at)
    SELECT i, 'bench', 'job', json_object('n', i), 5, 'completed', 1, 3, ?2 + i,
           'worker-' || (i % 4), '{"ok":true}', ?2 + i, ?2 + i, ?2 + i + 1 FROM n"#;

/// Every task added after the fixture's: ?1 the fixture's rows.
const DELETE_ADDED: &str = "DELETE FROM tasks WHERE id > ?1";

// ---------------------------------------------------------------------------
// Set-up shared by the groups.
// ---------------------------------------------------------------------------

/// Whether `STRATA_BENCH_QUEUE_SMALL` asks for the smoke-run fixture.
fn smoke() -> bool {
    std::env::var("STRATA_BENCH_QUEUE_SMALL").is_ok_and(|v| !v.is_empty() && v != "0")
}

fn jobs() -> usize {
    if test_mode() { TEST_MODE_JOBS } else { JOBS }
}

/// The finished tasks of the small and the large fixture.
fn finished_sizes() -> (u64, u64) {
    if test_mode() {
        (TEST_MODE_SMALL, TEST_MODE_LARGE)
    } else if smoke() {
        (FINISHED_SMALL, FINISHED_LARGE_SMOKE)
    } else {
        (FINISHED_SMALL, FINISHED_LARGE)
    }
}

/// Latency samples: `full` unless criterion runs the bench as a test.
fn samples(full: usize) -> usize {
    if test_mode() { TEST_MODE_SAMPLES.min(full) } else { full }
}

/// The configuration of every bench database: strata's defaults, without the
/// pre-migration snapshot (a bench file is thrown away).
fn bench_config(path: &Path) -> Config {
    let mut config = Config::for_path(path);
    config.schema.snapshot = false;
    config
}

/// [`bench_config`] with the durability `synchronous`.
fn bench_config_with(path: &Path, synchronous: Synchronous) -> Config {
    let mut config = bench_config(path);
    config.sqlite.synchronous = synchronous;
    config
}

/// Opens (creating and migrating when needed) the database of `config`.
fn open_db(rt: &Runtime, config: &Config) -> Database {
    rt.block_on(Database::open(config)).expect("open the database")
}

fn close_db(rt: &Runtime, db: Database) {
    rt.block_on(db.close()).expect("close the database");
}

fn new_queue(db: &Database) -> Queue {
    Queue::new(db.pool().clone(), QueueConfig::default()).expect("the default queue config")
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// `jobs` new tasks of the bench queue.
fn new_tasks(jobs: usize) -> Vec<NewTask> {
    (0..jobs).map(|n| NewTask::new(KIND, json!({ "n": n })).queue(QUEUE)).collect()
}

// ---------------------------------------------------------------------------
// queue_jobs: the raw baseline.
// ---------------------------------------------------------------------------

/// A raw connection with exactly the PRAGMAs the pool's writer gets, on a database
/// that `Database::open` migrated.
fn raw_db(rt: &Runtime, name: &str, synchronous: Synchronous) -> (TempDir, Connection) {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join(name);
    let config = bench_config_with(&path, synchronous);
    close_db(rt, open_db(rt, &config));
    let conn = Connection::open(&path).expect("open the raw connection");
    strata_pool::apply_pragmas(&conn, &config.sqlite).expect("the writer's pragmas");
    (dir, conn)
}

/// Tasks per `queue.insert_tasks` statement (strata-repo's `INSERT_GROUP`).
const INSERT_GROUP: usize = 25;

/// The enqueue of `jobs` tasks in one transaction, like `Queue::enqueue_batch` with
/// `batch_size = chunk`: per chunk, the seek for ids near the end, then the tasks in
/// groups of [`INSERT_GROUP`] with `queue.insert_tasks`, and the rest one by one.
fn raw_enqueue(conn: &mut Connection, jobs: usize, chunk: usize) -> rusqlite::Result<()> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let mut n = 0;
    while n < jobs {
        let end = jobs.min(n + chunk);
        {
            let now = now_ms();
            let near_end: bool = tx
                .prepare_cached(queue_sql("queue.task_id_above"))?
                .query_row([i64::MAX - (end - n) as i64], |r| r.get(0))?;
            assert!(!near_end);
            let mut group = tx.prepare_cached(queue_sql("queue.insert_tasks"))?;
            let mut insert = tx.prepare_cached(queue_sql("queue.insert_task"))?;
            let mut i = n;
            while i < end {
                if end - i >= INSERT_GROUP {
                    let payloads: Vec<String> =
                        (i..i + INSERT_GROUP).map(|j| format!(r#"{{"n":{j}}}"#)).collect();
                    let mut values: Vec<&dyn rusqlite::ToSql> = Vec::with_capacity(INSERT_GROUP * 10);
                    for payload in &payloads {
                        values.extend([
                            &QUEUE as &dyn rusqlite::ToSql,
                            &KIND,
                            payload,
                            &5,
                            &3,
                            &now,
                            &rusqlite::types::Null,
                            &rusqlite::types::Null,
                            &rusqlite::types::Null,
                            &now,
                        ]);
                    }
                    group.execute(rusqlite::params_from_iter(values))?;
                    i += INSERT_GROUP;
                } else {
                    let payload = format!(r#"{{"n":{i}}}"#);
                    insert.execute(params![
                        QUEUE,
                        KIND,
                        payload,
                        5,
                        3,
                        now,
                        None::<String>,
                        None::<i64>,
                        None::<i64>,
                        now
                    ])?;
                    i += 1;
                }
                black_box(tx.last_insert_rowid());
            }
        }
        n = end;
    }
    tx.commit()
}

/// One claim of up to `limit` jobs in its own transaction, as `Queue::claim` makes
/// it: the look for expired leases (and their UPDATE when there are any), then the
/// claim; answers each job's id and lease token.
fn raw_claim(conn: &mut Connection, limit: usize) -> rusqlite::Result<Vec<(i64, String)>> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let claimed = {
        let now = now_ms();
        let lease = LEASE.as_millis() as i64;
        let expired: bool = tx
            .prepare_cached(queue_sql("queue.lease_expired_in_queue"))?
            .query_row(params![QUEUE, now], |r| r.get(0))?;
        if expired {
            tx.prepare_cached(queue_sql("queue.expire_leases_in_queue"))?.execute(params![QUEUE, now])?;
        }
        let name = if limit == 1 { "queue.claim_one" } else { "queue.claim_ready" };
        let mut claim = tx.prepare_cached(queue_sql(name))?;
        let (id, token) = (claim.column_index("id")?, claim.column_index("lease_token")?);
        claim
            .query_map(params![WORKER, now + lease, now, QUEUE, limit as i64], |r| {
                Ok((r.get(id)?, r.get(token)?))
            })?
            .collect::<rusqlite::Result<Vec<(i64, String)>>>()?
    };
    tx.commit()?;
    Ok(claimed)
}

/// The completes of one claim's jobs in one transaction, like `Queue::complete` for
/// one job and `Queue::complete_many` for a batch.
fn raw_complete(conn: &mut Connection, claimed: &[(i64, String)]) -> rusqlite::Result<()> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    {
        let now = now_ms();
        let mut complete = tx.prepare_cached(queue_sql("queue.complete_task"))?;
        for (id, token) in claimed {
            let changed = complete.execute(params![id, token, RESULT, now])?;
            assert_eq!(changed, 1, "raw complete of task {id}");
        }
    }
    tx.commit()
}

/// Deletes every task and checkpoints the WAL away, so that the next run starts on
/// the same empty table and an empty WAL. Without it each run would start on the
/// finished tasks of all the runs before, and how many that is depends on how many
/// iterations criterion chose for this machine (a few hundred thousand rows by the
/// last sample): the samples would not measure the same work. How claims fare among
/// many finished tasks is the claim group's subject. The checkpoint keeps the
/// delete's own WAL frames out of the next run: a checkpoint they start would fall
/// inside raw's delete but in strata's next run (its checkpointer thread).
fn clear_raw(conn: &Connection) {
    conn.execute(CLEAR_TASKS, []).expect("clear the tasks");
    conn.query_row(CHECKPOINT, [], |_| Ok(())).expect("checkpoint");
}

/// [`clear_raw`] through the pool's writer (the checkpoint outside any transaction).
async fn clear_strata(pool: &strata_pool::Pool) {
    pool.write(|c| Ok(c.execute(CLEAR_TASKS, [])?)).await.expect("clear the tasks");
    pool.exclusive(|c| Ok(c.query_row(CHECKPOINT, [], |_| Ok(()))?)).await.expect("checkpoint");
}

/// Empties `tasks` between runs of `queue_jobs`.
const CLEAR_TASKS: &str = "DELETE FROM tasks";
/// Copies the WAL into the database and empties it.
const CHECKPOINT: &str = "PRAGMA wal_checkpoint(TRUNCATE)";

/// `jobs` jobs end to end on one connection, claimed `limit` at a time.
fn raw_jobs(conn: &mut Connection, jobs: usize, limit: usize) -> rusqlite::Result<usize> {
    raw_enqueue(conn, jobs, QueueConfig::default().batch_size)?;
    let mut done = 0;
    loop {
        let claimed = raw_claim(conn, limit)?;
        if claimed.is_empty() {
            return Ok(done);
        }
        raw_complete(conn, &claimed)?;
        done += claimed.len();
    }
}

// ---------------------------------------------------------------------------
// queue_jobs: strata.
// ---------------------------------------------------------------------------

/// `jobs` jobs end to end through the queue: one `enqueue_batch`, then [`WORKERS`]
/// tokio tasks that claim `limit` at a time and complete what they claimed (one job
/// with `complete`, a batch with one `complete_many`), until a claim comes back empty.
async fn strata_jobs(queue: &Queue, jobs: usize, limit: usize) -> usize {
    let enqueued = queue.enqueue_batch(new_tasks(jobs)).await.expect("enqueue");
    assert_eq!(enqueued.len(), jobs);
    let workers: Vec<_> = (0..WORKERS)
        .map(|w| {
            let queue = queue.clone();
            tokio::spawn(async move {
                let worker = format!("{WORKER}-{w}");
                let mut done = 0;
                loop {
                    let claimed =
                        queue.claim(Claimer { queue: QUEUE, worker: &worker }, limit, LEASE).await?;
                    if claimed.is_empty() {
                        return Ok::<_, strata_core::Error>(done);
                    }
                    if let [job] = claimed.as_slice() {
                        queue.complete(job.task.id, &job.token, json!({ "ok": true })).await?;
                    } else {
                        let results = claimed.iter().map(|job| Completion::of(job, json!({ "ok": true })));
                        for answer in queue.complete_many(results.collect()).await? {
                            answer?;
                        }
                    }
                    done += claimed.len();
                }
            })
        })
        .collect();
    let mut done = 0;
    for worker in workers {
        done += worker.await.expect("worker task").expect("worker");
    }
    done
}

fn queue_jobs(c: &mut Criterion) {
    queue_jobs_with(c, "queue_jobs", Synchronous::Normal);
}

/// `queue_jobs` with every commit fsynced (`synchronous = "full"`), raw and strata.
fn queue_jobs_full(c: &mut Criterion) {
    queue_jobs_with(c, "queue_jobs_full", Synchronous::Full);
}

/// The `queue_jobs` functions as group `group_name`, both sides with `synchronous`.
/// Only the default durability runs the paired rounds (its ratio has a target).
fn queue_jobs_with(c: &mut Criterion, group_name: &str, synchronous: Synchronous) {
    let rt = runtime();
    let jobs = jobs();
    let normal = synchronous == Synchronous::Normal;
    let mut group = c.benchmark_group(group_name);
    // 30 samples over 12 s rather than 10 over 5: the report takes the median, and
    // on this shared VM a slow spell of a few seconds (raw alone has run anywhere
    // from 56,000 to 90,000 jobs/s batched) could hold most of a 5 s window; over
    // 12 s it holds a minority of the samples. At the targets (10,000 jobs/s single)
    // an iteration takes 200 ms, so 30 samples fit; a slower machine makes criterion
    // print "Unable to complete 30 samples", which only means the run took longer.
    // With FULL every commit waits for an fsync, so a single-claim run takes seconds:
    // criterion's minimum of 10 samples is enough for a report without a target.
    if normal {
        configure(&mut group, 30, 12);
    } else {
        configure(&mut group, 10, 10);
        group.sampling_mode(SamplingMode::Flat);
    }
    group.throughput(Throughput::Elements(jobs as u64));

    for (name, limit) in [("single", 1), ("batch100", 100)] {
        let mut raw: Option<(TempDir, Connection)> = None;
        let mut strata: Option<(TempDir, Database)> = None;
        let new_strata = || {
            let dir = tempfile::tempdir().expect("temp dir");
            let path = dir.path().join(format!("strata_{name}.db"));
            let db = open_db(&rt, &bench_config_with(&path, synchronous));
            (dir, db)
        };

        // The paired rounds first (see common::paired), on the databases the
        // criterion functions then go on with. Every run, paired or criterion's,
        // starts on an empty `tasks` table and an empty WAL: the finished tasks of
        // the run before are deleted and checkpointed away, untimed (`clear_raw`).
        if normal {
            let (_, conn) = raw.get_or_insert_with(|| raw_db(&rt, &format!("raw_{name}.db"), synchronous));
            let (_, db) = strata.get_or_insert_with(new_strata);
            let queue = new_queue(db);
            let raw_run = || {
                let start = Instant::now();
                assert_eq!(raw_jobs(conn, jobs, limit).expect("raw jobs"), jobs);
                let took = start.elapsed().as_secs_f64();
                clear_raw(conn);
                took
            };
            let strata_run = || {
                let start = Instant::now();
                assert_eq!(rt.block_on(strata_jobs(&queue, jobs, limit)), jobs);
                let took = start.elapsed().as_secs_f64();
                rt.block_on(clear_strata(db.pool()));
                took
            };
            common::paired(&format!("queue_jobs_{name}"), PAIRED_ROUNDS, raw_run, strata_run);
        }

        group.bench_function(format!("raw_{name}"), |b| {
            let (_, conn) = raw.get_or_insert_with(|| raw_db(&rt, &format!("raw_{name}.db"), synchronous));
            b.iter_custom(|iters| {
                let mut took = Duration::ZERO;
                for _ in 0..iters {
                    let start = Instant::now();
                    assert_eq!(raw_jobs(conn, jobs, limit).expect("raw jobs"), jobs);
                    took += start.elapsed();
                    clear_raw(conn);
                }
                took
            });
        });

        group.bench_function(format!("strata_{name}"), |b| {
            let (_, db) = strata.get_or_insert_with(new_strata);
            let queue = new_queue(db);
            let pool = db.pool().clone();
            b.to_async(&rt)
                .iter_custom(|iters| timed_strata_rounds(queue.clone(), pool.clone(), iters, jobs, limit));
        });
        if let Some((_, db)) = strata {
            let m = db.pool().metrics();
            eprintln!(
                "{group_name}/strata_{name}: {} writes in {} batches ({:.2} writes per commit)",
                m.writes,
                m.batches,
                m.writes as f64 / m.batches.max(1) as f64
            );
            close_db(&rt, db);
        }
    }
    group.finish();
}

/// `iters` timed rounds of [`strata_jobs`] (`jobs` tasks, claims of `limit`), each
/// followed by an untimed clear; the time of the rounds alone.
async fn timed_strata_rounds(
    queue: Queue,
    pool: strata_pool::Pool,
    iters: u64,
    jobs: usize,
    limit: usize,
) -> Duration {
    let mut took = Duration::ZERO;
    for _ in 0..iters {
        let start = Instant::now();
        assert_eq!(strata_jobs(&queue, jobs, limit).await, jobs);
        took += start.elapsed();
        clear_strata(&pool).await;
    }
    took
}

/// `queue_jobs`' strata functions with write capture on the `tasks` table (`[audit]
/// tables = ["tasks"]`): each enqueue, claim and completion also appends an audit row
/// in its transaction (the untimed clear too). Beside `queue_jobs/strata_*` it is
/// what the switch costs when on; off (the default) installs nothing.
fn queue_jobs_audited(c: &mut Criterion) {
    let rt = runtime();
    let jobs = jobs();
    let mut group = c.benchmark_group("queue_jobs_audited");
    configure(&mut group, 30, 12);
    group.throughput(Throughput::Elements(jobs as u64));
    for (name, limit) in [("single", 1), ("batch100", 100)] {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut config = bench_config(&dir.path().join(format!("audited_{name}.db")));
        config.audit.tables = vec!["tasks".to_string()];
        let db = open_db(&rt, &config);
        let queue = new_queue(&db);
        let pool = db.pool().clone();
        group.bench_function(format!("strata_{name}"), |b| {
            b.to_async(&rt)
                .iter_custom(|iters| timed_strata_rounds(queue.clone(), pool.clone(), iters, jobs, limit));
        });
        close_db(&rt, db);
    }
    group.finish();
}

// ---------------------------------------------------------------------------
// queue_worker: the worker runtime against the hand-written loop (issue 17).
// ---------------------------------------------------------------------------

/// The no-op job of `queue_worker`.
#[derive(serde::Serialize, serde::Deserialize)]
struct Noop {
    n: usize,
}

impl strata_repo::JobKind for Noop {
    const KIND: &'static str = KIND;
}

/// Enqueues `jobs` no-op jobs on the bench queue, `per_call` per enqueue (the
/// effectum-style producer: batches of 100, or one at a time).
async fn produce(queue: &Queue, jobs: usize, per_call: usize) {
    let tasks = new_tasks(jobs);
    for chunk in tasks.chunks(per_call) {
        if let [task] = chunk {
            queue.enqueue(task.clone()).await.expect("enqueue");
        } else {
            queue.enqueue_batch(chunk.to_vec()).await.expect("enqueue");
        }
    }
}

/// `jobs` jobs through [`WORKERS`] hand-written loops of concurrency 1
/// (`next_within`, then `complete`), while the producer enqueues them.
async fn loop_jobs(queue: &Queue, jobs: usize, per_call: usize) -> usize {
    let done = Arc::new(AtomicUsize::new(0));
    let workers: Vec<_> = (0..WORKERS)
        .map(|w| {
            let (queue, done) = (queue.clone(), Arc::clone(&done));
            tokio::spawn(async move {
                let worker = format!("{WORKER}-{w}");
                while done.load(Ordering::SeqCst) < jobs {
                    let claimed = queue
                        .next_within(
                            Claimer { queue: QUEUE, worker: &worker },
                            1,
                            LEASE,
                            Duration::from_millis(50),
                        )
                        .await
                        .expect("claim");
                    for job in claimed {
                        queue
                            .complete(job.task.id, &job.token, json!({ "ok": true }))
                            .await
                            .expect("complete");
                        done.fetch_add(1, Ordering::SeqCst);
                    }
                }
            })
        })
        .collect();
    produce(queue, jobs, per_call).await;
    for worker in workers {
        worker.await.expect("worker task");
    }
    done.load(Ordering::SeqCst)
}

/// `jobs` jobs through [`WORKERS`] runtime workers of concurrency 1 with a no-op
/// handler, while the producer enqueues them; each worker stops once all are done.
async fn runtime_jobs(queue: &Queue, jobs: usize, per_call: usize) -> usize {
    let done = Arc::new(AtomicUsize::new(0));
    let all_done = Arc::new(tokio::sync::Notify::new());
    let workers: Vec<_> = (0..WORKERS)
        .map(|w| {
            let (stop, finished) = (Arc::clone(&all_done), Arc::clone(&done));
            let (done, all_done) = (Arc::clone(&done), Arc::clone(&all_done));
            let handler = move |_job: strata_repo::Job<Noop>, _ctx: strata_repo::Ctx| {
                let (done, all_done) = (Arc::clone(&done), Arc::clone(&all_done));
                async move {
                    if done.fetch_add(1, Ordering::SeqCst) + 1 == jobs {
                        all_done.notify_waiters();
                    }
                    Ok::<_, strata_repo::JobError>(json!({ "ok": true }))
                }
            };
            let builder = strata_repo::Worker::builder(queue)
                .queue(QUEUE)
                .name(format!("{WORKER}-{w}"))
                .lease(LEASE)
                .handle::<Noop>(handler);
            tokio::spawn(builder.run(async move {
                let notified = stop.notified();
                if finished.load(Ordering::SeqCst) < jobs {
                    notified.await;
                }
            }))
        })
        .collect();
    produce(queue, jobs, per_call).await;
    for worker in workers {
        worker.await.expect("worker task").expect("worker");
    }
    done.load(Ordering::SeqCst)
}

/// The worker runtime against the hand-written loop on the same queue: N no-op
/// jobs, [`WORKERS`] workers of concurrency 1, the producer enqueueing in batches of
/// 100 and one at a time. Issue 17's bar: runtime / loop <= 1.2.
fn queue_worker(c: &mut Criterion) {
    let rt = runtime();
    let jobs = jobs();
    let mut group = c.benchmark_group("queue_worker");
    configure(&mut group, 10, 10);
    group.throughput(Throughput::Elements(jobs as u64));
    let dir = tempfile::tempdir().expect("temp dir");
    let db = open_db(&rt, &bench_config(&dir.path().join("worker.db")));
    let queue = Queue::new(db.pool().clone(), QueueConfig { poll_interval_ms: 50, ..QueueConfig::default() })
        .expect("the bench queue config");
    for (name, per_call) in [("batch100", 100), ("single", 1)] {
        for (side, runtime_side) in [("loop", false), ("runtime", true)] {
            group.bench_function(format!("{side}_{name}"), |b| {
                b.to_async(&rt).iter_custom(|iters| {
                    let queue = queue.clone();
                    async move {
                        let mut took = Duration::ZERO;
                        for _ in 0..iters {
                            let start = Instant::now();
                            let done = if runtime_side {
                                runtime_jobs(&queue, jobs, per_call).await
                            } else {
                                loop_jobs(&queue, jobs, per_call).await
                            };
                            assert_eq!(done, jobs);
                            took += start.elapsed();
                            clear_strata(queue.pool()).await;
                        }
                        took
                    }
                });
            });
        }
    }
    group.finish();
    close_db(&rt, db);
}

// ---------------------------------------------------------------------------
// The fixtures of finished tasks: built once, reused across runs.
// ---------------------------------------------------------------------------

/// `10k`, `1m`, or the bare number.
fn label(rows: u64) -> String {
    if rows >= 1_000_000 && rows.is_multiple_of(1_000_000) {
        format!("{}m", rows / 1_000_000)
    } else if rows >= 1_000 && rows.is_multiple_of(1_000) {
        format!("{}k", rows / 1_000)
    } else {
        rows.to_string()
    }
}

/// The fixture of `rows` finished tasks, built when missing or when its version stamp
/// is not [`FIXTURE_VERSION`]. It is built under a temporary name and renamed when
/// complete, so an interrupted build is never reused.
fn finished_fixture(rt: &Runtime, rows: u64) -> PathBuf {
    let dir = target_dir().join("bench-fixtures");
    let path = dir.join(format!("queue-finished-{}.db", label(rows)));
    if usable(&path) {
        return path;
    }
    fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("create {}: {e}", dir.display()));
    remove_db(&path);
    let partial = dir.join(format!("queue-finished-{}.db.partial", label(rows)));
    remove_db(&partial);
    eprintln!(
        "queue: building the fixture of {rows} finished tasks {} (once; later runs reuse it)",
        path.display()
    );
    let started = Instant::now();
    close_db(rt, open_db(rt, &bench_config(&partial)));
    {
        let conn = Connection::open(&partial).expect("open the fixture");
        // No journal and no fsync while building; back to WAL at the end.
        let mode: String =
            conn.query_row("PRAGMA journal_mode = OFF", [], |r| r.get(0)).expect("journal_mode = OFF");
        assert_eq!(mode, "off");
        conn.execute_batch("PRAGMA synchronous = OFF").expect("synchronous = OFF");
        let first = now_ms() - 86_400_000 - rows as i64;
        let inserted = conn.execute(FILL_FINISHED, params![rows as i64, first]).expect("fill the fixture");
        assert_eq!(inserted as u64, rows);
        conn.execute_batch(&format!("PRAGMA user_version = {FIXTURE_VERSION}")).expect("stamp the fixture");
        let mode: String =
            conn.query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0)).expect("switch the fixture to WAL");
        assert_eq!(mode, "wal");
        conn.close().map_err(|(_, e)| e).expect("close the fixture");
    }
    File::open(&partial).and_then(|f| f.sync_all()).expect("fsync the fixture");
    remove_db(&path);
    fs::rename(&partial, &path).expect("rename the fixture");
    remove_db(&partial);
    let len = fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
    eprintln!("queue: fixture built in {:.1?}, {len} bytes", started.elapsed());
    assert!(usable(&path), "the new fixture has no version stamp");
    path
}

/// Whether the file at `path` is a finished fixture: the SQLite header's magic and
/// `user_version` (read from the file itself, so that no connection creates `-wal`
/// or `-shm` files beside it).
fn usable(path: &Path) -> bool {
    common::fixture_stamped(path, FIXTURE_VERSION)
}

/// A copy of a fixture with a database open on it.
struct WorkDb {
    rows: u64,
    path: PathBuf,
    db: Database,
    queue: Queue,
}

/// Copies the fixture of `rows` finished tasks to `<name>.work.db` and opens it with
/// `readers` reader connections.
fn work_db(rt: &Runtime, rows: u64, name: &str, readers: usize) -> WorkDb {
    let fixture = finished_fixture(rt, rows);
    let path = fixture.with_file_name(format!("queue-{name}.work.db"));
    remove_db(&path);
    fs::copy(&fixture, &path).expect("copy the fixture");
    let mut config = bench_config(&path);
    config.pool.readers = readers;
    let db = open_db(rt, &config);
    let queue = new_queue(&db);
    WorkDb { rows, path, db, queue }
}

fn close_work_db(rt: &Runtime, work: Option<WorkDb>) {
    if let Some(w) = work {
        close_db(rt, w.db);
        remove_db(&w.path);
    }
}

// ---------------------------------------------------------------------------
// Latency histograms (not criterion measurements).
// ---------------------------------------------------------------------------

/// Deletes every task the bench added to a work copy, so that it holds the fixture's
/// finished tasks only.
async fn reset_work(w: &WorkDb) {
    let rows = w.rows as i64;
    w.db.pool().write(move |conn| Ok(conn.execute(DELETE_ADDED, params![rows])?)).await.expect("reset");
}

/// [`LATENCY_CLAIMS`] one-job claims by one worker, each timed, after enqueueing as
/// many fresh pending tasks (untimed).
fn measure_claim_latency(rt: &Runtime, group: &str, w: &WorkDb) {
    let claims = samples(LATENCY_CLAIMS);
    let latencies = rt.block_on(async {
        w.queue.enqueue_batch(new_tasks(claims)).await.expect("enqueue");
        let mut samples = Vec::with_capacity(claims);
        for _ in 0..claims {
            let start = Instant::now();
            let claimed =
                w.queue.claim(Claimer { queue: QUEUE, worker: WORKER }, 1, LEASE).await.expect("claim");
            samples.push(start.elapsed());
            assert_eq!(claimed.len(), 1);
        }
        reset_work(w).await;
        Latencies::new(samples)
    });
    eprintln!("{group}/strata_claim: {} finished tasks: {}", w.rows, latencies.line("samples"));
    let mut section = latencies.json("claims");
    section["finished_tasks"] = json!(w.rows);
    common::save_section(LATENCY_FILE, group, section);
}

/// [`READERS`] tokio tasks, each doing `reads` timed `Queue::get` of random ids.
async fn concurrent_gets(queue: &Queue, rows: u64, reads: usize, seed: u64) -> Vec<Duration> {
    let readers: Vec<_> = (0..READERS as u64)
        .map(|r| {
            let queue = queue.clone();
            tokio::spawn(async move {
                let mut x = seed ^ (r + 1).wrapping_mul(0x9e37_79b9_7f4a_7c15);
                let mut samples = Vec::with_capacity(reads);
                for _ in 0..reads {
                    x = x.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
                    let id = ((x >> 33) % rows) as i64 + 1;
                    let start = Instant::now();
                    let task = queue.get(id).await.expect("get");
                    samples.push(start.elapsed());
                    assert_eq!(task.id, id);
                    black_box(task);
                }
                samples
            })
        })
        .collect();
    let mut all = Vec::with_capacity(READERS * reads);
    for reader in readers {
        all.extend(reader.await.expect("reader task"));
    }
    all
}

fn measure_read_latency(rt: &Runtime, w: &WorkDb) {
    let reads = samples(LATENCY_READS);
    let latencies = Latencies::new(rt.block_on(concurrent_gets(&w.queue, w.rows, reads, 0x5eed)));
    eprintln!(
        "task_point_read_1m/strata_get_10_readers: {} tasks, {READERS} readers: {}",
        w.rows,
        latencies.line("samples")
    );
    let mut section = latencies.json("reads");
    section["tasks"] = json!(w.rows);
    section["readers"] = json!(READERS);
    common::save_section(LATENCY_FILE, "task_point_read_1m", section);
}

// ---------------------------------------------------------------------------
// claim_finished_10k, claim_finished_1m
// ---------------------------------------------------------------------------

fn claim_group(c: &mut Criterion, group_name: &str, rows: u64) {
    let rt = runtime();
    let work: OnceCell<WorkDb> = OnceCell::new();
    let mut group = c.benchmark_group(group_name);
    configure(&mut group, 10, 3);
    group.throughput(Throughput::Elements(1));

    // Before each sample, untimed: as many pending tasks as it claims; after it, every
    // added task is deleted again.
    group.bench_function("strata_claim", |b| {
        let w = work.get_or_init(|| {
            let w = work_db(&rt, rows, group_name, Config::default().pool.readers);
            measure_claim_latency(&rt, group_name, &w);
            w
        });
        b.to_async(&rt).iter_custom(|iters| async move {
            w.queue.enqueue_batch(new_tasks(iters as usize)).await.expect("enqueue");
            let mut timed = Duration::ZERO;
            for _ in 0..iters {
                let start = Instant::now();
                let claimed =
                    w.queue.claim(Claimer { queue: QUEUE, worker: WORKER }, 1, LEASE).await.expect("claim");
                timed += start.elapsed();
                assert_eq!(claimed.len(), 1);
            }
            reset_work(w).await;
            timed
        });
    });

    group.finish();
    close_work_db(&rt, work.into_inner());
}

fn claim_finished_10k(c: &mut Criterion) {
    claim_group(c, "claim_finished_10k", finished_sizes().0);
}

fn claim_finished_1m(c: &mut Criterion) {
    claim_group(c, "claim_finished_1m", finished_sizes().1);
}

// ---------------------------------------------------------------------------
// task_point_read_1m
// ---------------------------------------------------------------------------

fn task_point_read_1m(c: &mut Criterion) {
    let rt = runtime();
    let rows = finished_sizes().1;
    let work: OnceCell<WorkDb> = OnceCell::new();
    let mut group = c.benchmark_group("task_point_read_1m");
    configure(&mut group, 10, 3);
    group.throughput(Throughput::Elements((READERS * ITER_READS) as u64));

    group.bench_function("strata_get_10_readers", |b| {
        let w = work.get_or_init(|| {
            let w = work_db(&rt, rows, "point-read", READERS);
            measure_read_latency(&rt, &w);
            w
        });
        let mut seed = 1u64;
        b.to_async(&rt).iter_custom(|iters| {
            seed += 1;
            let seed = seed;
            async move {
                let start = Instant::now();
                for i in 0..iters {
                    black_box(
                        concurrent_gets(&w.queue, w.rows, ITER_READS, seed.wrapping_mul(1_000_003) ^ i).await,
                    );
                }
                start.elapsed()
            }
        });
    });

    group.finish();
    close_work_db(&rt, work.into_inner());
}

criterion_group!(
    benches,
    queue_jobs,
    queue_jobs_full,
    queue_jobs_audited,
    queue_worker,
    claim_finished_10k,
    claim_finished_1m,
    task_point_read_1m
);
criterion_main!(benches);
