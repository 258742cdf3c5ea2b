//! Benchmarks of `strata_ops` on a large database (issue 5): an online backup
//! (`backup::create`: page copy through a pool reader, `integrity_check` of the copy,
//! sha256, manifest, fsync and rename) beside `cp` of the same file; the commit
//! latency of a concurrent writer during one backup against the same writer without
//! a backup; and `quick_check` / `integrity_check` through `health::check_path` beside
//! the same PRAGMA on a raw `rusqlite::Connection`. Every strata bench runs beside a
//! baseline doing the least work that reaches the same result, so that each ratio is
//! the price of strata itself (for the backup that price includes the verification
//! and the hash, which `cp` does not do).
//!
//! The fixture is one file of `STRATA_BENCH_OPS_MB` MiB (default 1024; 8 when
//! criterion runs the bench as a test), built once into
//! `<target>/bench-fixtures/ops-<mb>mb.db` and reused while its size and version
//! stamp are right. The backup group works on a copy of it, so the pool's writes
//! never change the fixture. Group and function ids are parsed by the report tool
//! from `target/criterion/<group>/<function>/new/estimates.json`, and the writer's
//! latencies from `target/bench-ops-latency.json`: do not rename them. Run one group
//! at a time: `cargo bench -p strata --bench ops -- check_1gb`; a quick smoke run:
//! `STRATA_BENCH_OPS_MB=64 cargo bench -p strata --bench ops`.

mod common;

use std::cell::OnceCell;
use std::fs::{self, File};
use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use criterion::measurement::WallTime;
use criterion::{BenchmarkGroup, Criterion, SamplingMode, Throughput, criterion_group, criterion_main};
use rusqlite::{Connection, OpenFlags};
use strata_core::Config;
use strata_ops::health::{CheckLevel, HealthOptions};
use strata_ops::{Progress, Stage};
use strata_pool::Pool;
use tokio::runtime::Runtime;

use common::{Latencies, remove_db, runtime, target_dir, test_mode};

/// The fixture's size in MiB unless `STRATA_BENCH_OPS_MB` says otherwise.
const DEFAULT_MB: u64 = 1024;
/// The fixture's size when criterion runs the bench as a test (`cargo test --benches`).
const TEST_MODE_MB: u64 = 8;
/// Stored in the fixture's `user_version`; bump it when the recipe changes so that
/// an old fixture is rebuilt instead of reused.
const FIXTURE_VERSION: u32 = 1;
const PAGE_SIZE: u64 = 4096;
/// Bytes of the blob of every fixture row: with its 16-character key the row fills
/// one 4 KiB leaf page without an overflow page.
const ROW_BLOB: u64 = 4000;

/// Samples per function: criterion's minimum. Each sample is one iteration (flat
/// sampling with a budget below the real time): criterion then prints "Unable to
/// complete 10 samples", which is expected here, not a problem.
const SAMPLES: usize = 10;
/// Lower bounds of the seconds per GiB of one iteration, measured on the 2-core bench
/// machine; they size criterion's measurement time (see [`budget`]).
const BACKUP_SECS_PER_GIB: f64 = 4.0;
const CP_SECS_PER_GIB: f64 = 1.0;
const CHECK_SECS_PER_GIB: f64 = 0.5;

/// The writer of the latency measurement commits one small row this often, like a
/// busy application: paced, so that its own load does not decide the result.
const WRITE_EVERY: Duration = Duration::from_millis(1);
/// Where the latency measurement is written, inside the target directory.
const LATENCY_FILE: &str = "bench-ops-latency.json";

const CREATE_WRITES: &str = "DROP TABLE IF EXISTS bench_writes;
     CREATE TABLE bench_writes(id INTEGER PRIMARY KEY, n INTEGER NOT NULL, v TEXT NOT NULL)";
const INSERT_WRITE: &str = "INSERT INTO bench_writes(n, v) VALUES (?1, ?2)";
/// The text column of every written row.
const PAYLOAD: &str = "strata benchmark payload";
/// The checks exactly as `strata_ops::health` runs them (at most 100 messages).
const RAW_QUICK_CHECK: &str = "PRAGMA quick_check(100)";
const RAW_INTEGRITY_CHECK: &str = "PRAGMA integrity_check(100)";

// ---------------------------------------------------------------------------
// Set-up shared by the groups.
// ---------------------------------------------------------------------------

/// The fixture's size in MiB.
fn fixture_mb() -> u64 {
    match std::env::var("STRATA_BENCH_OPS_MB") {
        Ok(value) => value.trim().parse().ok().filter(|&mb: &u64| mb > 0).unwrap_or_else(|| {
            panic!("STRATA_BENCH_OPS_MB={value:?}: expected a whole number of MiB above 0")
        }),
        Err(_) if test_mode() => TEST_MODE_MB,
        Err(_) => DEFAULT_MB,
    }
}

/// Flat sampling, [`SAMPLES`] samples, and a measurement time of `secs_per_gib` per
/// sample: one iteration per sample as long as the machine is not faster than that.
fn configure(group: &mut BenchmarkGroup<'_, WallTime>, mb: u64, secs_per_gib: f64) {
    group
        .sampling_mode(SamplingMode::Flat)
        .sample_size(SAMPLES)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(budget(mb, secs_per_gib))
        .throughput(Throughput::Bytes(mb << 20));
}

fn budget(mb: u64, secs_per_gib: f64) -> Duration {
    Duration::from_secs_f64((SAMPLES as f64 * secs_per_gib * mb as f64 / 1024.0).max(1.0))
}

fn remove_dir(dir: &Path) {
    if dir.exists() {
        fs::remove_dir_all(dir).unwrap_or_else(|e| panic!("remove {}: {e}", dir.display()));
    }
}

// ---------------------------------------------------------------------------
// The fixture: built once, reused across runs.
// ---------------------------------------------------------------------------

/// The fixture database of `mb` MiB, in WAL mode like every strata database.
struct Fixture {
    mb: u64,
    path: PathBuf,
}

impl Fixture {
    fn bytes(&self) -> u64 {
        self.mb << 20
    }
}

/// Rows that make a file of about `bytes`: one row per leaf page, and the table's
/// interior pages and the index on `k` add about 0.8 %.
fn fixture_rows(bytes: u64) -> u64 {
    (bytes / PAGE_SIZE * 1000 / 1008).max(1)
}

/// A table of rows with a random 16-character key (indexed, so that
/// `integrity_check` has an index to compare with its table) and a random blob.
/// No journal and no fsync while building; the file is switched to WAL at the end.
const BUILD_FIXTURE: &str = "
    PRAGMA page_size = 4096;
    PRAGMA journal_mode = OFF;
    PRAGMA synchronous = OFF;
    CREATE TABLE blobs(id INTEGER PRIMARY KEY, k TEXT NOT NULL, v BLOB NOT NULL);";
const FILL_FIXTURE: &str = "
    WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?1)
    INSERT INTO blobs(id, k, v) SELECT i, hex(randomblob(8)), randomblob(?2) FROM n";
const INDEX_FIXTURE: &str = "CREATE INDEX blobs_k ON blobs(k)";

/// The fixture, built when missing, when its size is off by more than 3 % or when
/// its version stamp is not [`FIXTURE_VERSION`]. It is built under a temporary name
/// and renamed when complete, so an interrupted build is never reused.
fn fixture() -> Fixture {
    let mb = fixture_mb();
    let dir = target_dir().join("bench-fixtures");
    let fixture = Fixture { mb, path: dir.join(format!("ops-{mb}mb.db")) };
    if usable(&fixture.path, fixture.bytes()) {
        return fixture;
    }
    fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("create {}: {e}", dir.display()));
    remove_db(&fixture.path);
    let partial = dir.join(format!("ops-{mb}mb.db.partial"));
    remove_db(&partial);
    eprintln!("ops: building the {mb} MiB fixture {} (once; later runs reuse it)", fixture.path.display());
    let started = Instant::now();
    {
        let conn = Connection::open(&partial).expect("create the fixture");
        conn.execute_batch(BUILD_FIXTURE).expect("create the fixture's table");
        let rows = fixture_rows(fixture.bytes()) as i64;
        conn.execute(FILL_FIXTURE, (rows, ROW_BLOB as i64)).expect("fill the fixture");
        conn.execute_batch(INDEX_FIXTURE).expect("index the fixture");
        conn.execute_batch(&format!("PRAGMA user_version = {FIXTURE_VERSION}")).expect("stamp the fixture");
        let mode: String =
            conn.query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0)).expect("switch the fixture to WAL");
        assert_eq!(mode, "wal");
        conn.close().map_err(|(_, e)| e).expect("close the fixture");
    }
    File::open(&partial).and_then(|f| f.sync_all()).expect("fsync the fixture");
    fs::rename(&partial, &fixture.path).expect("rename the fixture");
    let len = fs::metadata(&fixture.path).map(|m| m.len()).unwrap_or(0);
    eprintln!("ops: fixture built in {:.1?}, {len} bytes", started.elapsed());
    assert!(usable(&fixture.path, fixture.bytes()), "the new fixture is not of the expected size");
    fixture
}

/// Whether the file at `path` is a finished fixture of about `bytes`: its size, and
/// the SQLite header's magic and `user_version` (read from the file itself, so that
/// no connection creates `-wal` or `-shm` files beside it).
fn usable(path: &Path, bytes: u64) -> bool {
    let Ok(meta) = fs::metadata(path) else { return false };
    let len = meta.len();
    if len < bytes / 100 * 97 || len > bytes / 100 * 103 {
        return false;
    }
    common::fixture_stamped(path, FIXTURE_VERSION)
}

// ---------------------------------------------------------------------------
// backup_1gb
// ---------------------------------------------------------------------------

/// A copy of the fixture with a pool open on it, and a directory for the copies.
struct BackupFixture {
    mb: u64,
    work: PathBuf,
    out: PathBuf,
    pool: Pool,
}

fn backup_fixture(rt: &Runtime) -> BackupFixture {
    let fixture = fixture();
    let work = fixture.path.with_file_name(format!("ops-{}mb.work.db", fixture.mb));
    let out = fixture.path.with_file_name("ops-out");
    remove_db(&work);
    remove_dir(&out);
    fs::copy(&fixture.path, &work).expect("copy the fixture");
    let pool = rt.block_on(Pool::open(&Config::for_path(&work))).expect("open the pool");
    BackupFixture { mb: fixture.mb, work, out, pool }
}

fn close_backup_fixture(rt: &Runtime, fixture: Option<BackupFixture>) {
    if let Some(f) = fixture {
        rt.block_on(f.pool.close()).expect("close the pool");
        remove_db(&f.work);
        remove_dir(&f.out);
    }
}

/// `cp` and an fsync of the copy: the backup's file is fsynced too, so without it the
/// baseline would only measure the page cache.
fn cp(src: &Path, dst: &Path) -> std::io::Result<u64> {
    let bytes = fs::copy(src, dst)?;
    File::open(dst)?.sync_all()?;
    Ok(bytes)
}

fn backup_1gb(c: &mut Criterion) {
    let rt = runtime();
    let mb = fixture_mb();
    let fixture: OnceCell<BackupFixture> = OnceCell::new();
    let latency: OnceCell<()> = OnceCell::new();
    let mut group = c.benchmark_group("backup_1gb");
    configure(&mut group, mb, BACKUP_SECS_PER_GIB);

    // The copy's directory is emptied before every iteration, untimed.
    group.bench_function("strata_backup", |b| {
        let f = fixture.get_or_init(|| backup_fixture(&rt));
        latency.get_or_init(|| measure_latency(&rt, f));
        b.to_async(&rt).iter_custom(|iters| {
            let (pool, out) = (f.pool.clone(), f.out.clone());
            async move {
                let mut timed = Duration::ZERO;
                for _ in 0..iters {
                    remove_dir(&out);
                    let start = Instant::now();
                    let report = strata_ops::backup::create(&pool, &out, None).await.expect("backup");
                    timed += start.elapsed();
                    assert!(report.manifest.verification.ok, "the backup did not verify");
                    black_box(report);
                }
                remove_dir(&out);
                timed
            }
        });
    });

    // `cp` is quicker: its own budget keeps it at one iteration per sample too.
    group.measurement_time(budget(mb, CP_SECS_PER_GIB));
    group.bench_function("cp", |b| {
        let f = fixture.get_or_init(|| backup_fixture(&rt));
        let dst = f.out.join("cp.db");
        b.iter_custom(|iters| {
            fs::create_dir_all(&f.out).expect("create the copies' directory");
            let mut timed = Duration::ZERO;
            for _ in 0..iters {
                let _ = fs::remove_file(&dst);
                let start = Instant::now();
                black_box(cp(&f.work, &dst).expect("cp"));
                timed += start.elapsed();
            }
            let _ = fs::remove_file(&dst);
            timed
        });
    });

    group.finish();
    close_backup_fixture(&rt, fixture.into_inner());
}

// ---------------------------------------------------------------------------
// The writer's commit latency during a backup (not a criterion measurement).
// ---------------------------------------------------------------------------

/// One `pool.write` of one row every [`WRITE_EVERY`] until `stop`; a commit that
/// takes longer delays the next one instead of queueing a burst behind it.
async fn write_until(pool: Pool, stop: Arc<AtomicBool>) -> Latencies {
    let mut tick = tokio::time::interval(WRITE_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut samples = Vec::with_capacity(1 << 16);
    let mut n = 0_i64;
    while !stop.load(Ordering::Acquire) {
        tick.tick().await;
        n += 1;
        let start = Instant::now();
        pool.write(move |conn| {
            conn.prepare_cached(INSERT_WRITE)?.execute((n, PAYLOAD))?;
            Ok(())
        })
        .await
        .expect("writer commit");
        samples.push(start.elapsed());
    }
    Latencies::new(samples)
}

/// The seconds of each stage of a backup (copy, verify, hash) from the first progress
/// report of each: the copy counts from the backup's start, the hash until its end
/// (manifest, fsync and rename included).
fn stage_secs(start: Instant, marks: &[(Stage, Instant)], end: Instant) -> Vec<(String, f64)> {
    marks
        .iter()
        .enumerate()
        .map(|(i, (stage, at))| {
            let from = if i == 0 { start } else { *at };
            let to = marks.get(i + 1).map_or(end, |(_, next)| *next);
            (format!("{stage:?}").to_lowercase(), to.duration_since(from).as_secs_f64())
        })
        .collect()
}

/// The writer during one backup, then the same writer alone for as long as the backup
/// took; prints both and writes them to `<target>/bench-ops-latency.json` (not in test
/// mode, where criterion saves nothing either).
fn measure_latency(rt: &Runtime, f: &BackupFixture) {
    let out = f.out.join("latency");
    let (with, without, backup_time, stages) = rt.block_on(async {
        f.pool.exclusive(|conn| Ok(conn.execute_batch(CREATE_WRITES)?)).await.expect("create bench_writes");

        let marks = Arc::new(Mutex::new(Vec::<(Stage, Instant)>::new()));
        let progress = {
            let marks = Arc::clone(&marks);
            strata_ops::backup::progress_fn(move |p: Progress| {
                let mut marks = marks.lock().expect("progress marks");
                if marks.last().is_none_or(|(stage, _)| *stage != p.stage) {
                    marks.push((p.stage, Instant::now()));
                }
            })
        };
        let stop = Arc::new(AtomicBool::new(false));
        let writer = tokio::spawn(write_until(f.pool.clone(), Arc::clone(&stop)));
        let start = Instant::now();
        let report = strata_ops::backup::create(&f.pool, &out, Some(progress)).await.expect("backup");
        let end = Instant::now();
        stop.store(true, Ordering::Release);
        let with = writer.await.expect("writer task");
        assert!(report.manifest.verification.ok, "the backup did not verify");
        let stages = stage_secs(start, &marks.lock().expect("progress marks"), end);
        remove_dir(&out);

        // The WAL grew while the backup's reader held its snapshot: start clean.
        f.pool
            .exclusive(|conn| Ok(conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))?))
            .await
            .expect("checkpoint");
        let stop = Arc::new(AtomicBool::new(false));
        let writer = tokio::spawn(write_until(f.pool.clone(), Arc::clone(&stop)));
        tokio::time::sleep(end - start).await;
        stop.store(true, Ordering::Release);
        let without = writer.await.expect("writer task");
        (with, without, end - start, stages)
    });

    let shown: Vec<String> = stages.iter().map(|(stage, secs)| format!("{stage} {secs:.2}s")).collect();
    eprintln!(
        "backup_1gb/writer_latency: backup of {} MiB took {backup_time:.2?} ({})",
        f.mb,
        shown.join(", ")
    );
    eprintln!("backup_1gb/writer_latency: with the backup:    {}", with.line("commits"));
    eprintln!("backup_1gb/writer_latency: without a backup:   {}", without.line("commits"));
    if test_mode() {
        return;
    }
    let written_at = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let json = serde_json::json!({
        "fixture_mb": f.mb,
        "write_every_us": WRITE_EVERY.as_micros() as u64,
        "backup_secs": backup_time.as_secs_f64(),
        "backup_stages": stages
            .iter()
            .map(|(stage, secs)| serde_json::json!({ "stage": stage, "secs": secs }))
            .collect::<Vec<_>>(),
        "with_backup": with.json("commits"),
        "without_backup": without.json("commits"),
        "written_at_unix": written_at,
    });
    let path = target_dir().join(LATENCY_FILE);
    let text = serde_json::to_string_pretty(&json).expect("latency json");
    fs::write(&path, text + "\n").unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
    eprintln!("backup_1gb/writer_latency: wrote {}", path.display());
}

// ---------------------------------------------------------------------------
// check_1gb
// ---------------------------------------------------------------------------

/// What the raw baseline does for a check: open the file read-only and run the PRAGMA.
fn raw_check(path: &Path, sql: &str) -> rusqlite::Result<Vec<String>> {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    let mut stmt = conn.prepare(sql)?;
    let messages = stmt.query_map([], |r| r.get::<_, String>(0))?.collect::<rusqlite::Result<_>>()?;
    Ok(messages)
}

fn check_1gb(c: &mut Criterion) {
    let mb = fixture_mb();
    let built: OnceCell<Fixture> = OnceCell::new();
    let mut group = c.benchmark_group("check_1gb");
    configure(&mut group, mb, CHECK_SECS_PER_GIB);
    // check_path is async (its work runs on the blocking pool, as a service calls it).
    let rt = runtime();

    // Each strata function right after its baseline, so that both meet the same
    // page cache.
    let cases = [
        ("raw_quick_check", "quick_check", RAW_QUICK_CHECK, CheckLevel::Quick),
        ("raw_integrity_check", "integrity_check", RAW_INTEGRITY_CHECK, CheckLevel::Full),
    ];
    for (raw_name, strata_name, sql, level) in cases {
        group.bench_function(raw_name, |b| {
            let f = built.get_or_init(fixture);
            b.iter(|| {
                let messages = raw_check(&f.path, sql).expect("raw check");
                assert_eq!(messages, ["ok"], "{raw_name}");
                black_box(messages)
            });
        });

        group.bench_function(strata_name, |b| {
            let f = built.get_or_init(fixture);
            let options = HealthOptions::new(level);
            b.iter(|| {
                let report =
                    rt.block_on(strata_ops::health::check_path(&f.path, &options)).expect("check_path");
                assert!(
                    report.integrity.is_empty() && !report.is_corrupt(),
                    "{strata_name}: {:?}",
                    report.findings
                );
                black_box(report)
            });
        });
    }

    group.finish();
}

// The backup of a 1 GiB file takes longer than criterion's default budget, so both
// groups set their own (see `configure`).
criterion_group!(benches, backup_1gb, check_1gb);
criterion_main!(benches);
