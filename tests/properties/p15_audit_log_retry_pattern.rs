//! Property 15: Audit log retry pattern.
//!
//! `Audit::append` retries busy and transient failures with the retry policy; when the
//! budget is spent (another process holds the write lock) or the pool is unavailable
//! (the file is gone), the entry goes to the spill file beside the database and is in
//! the `audit` table exactly once, in order, after recovery.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use proptest::prelude::*;
use strata::repo::audit::{Appended, spill_path};
use strata::repo::{AuditEntry, NewAuditEntry};
use strata::{Config, Database, PoolState, RetryPolicy};

/// Names the database the child holder process locks.
const HOLDER_ENV: &str = "STRATA_P15_HOLDER";
/// What the child prints once it holds the write lock.
const HOLDING: &str = "p15-holder: holding";
const LOCK_TEST: &str = "p15_audit_log_retry_pattern::p15_audit_log_retry_pattern_entries_spilled_while_another_process_holds_the_lock_are_in_the_table_once_in_order";

/// A config whose retry budget (the writer's busy retries and `append`'s) is spent in
/// about 100 ms, and whose reopen policy gives up fast.
fn quick(path: &Path) -> Config {
    let mut config = Config::for_path(path);
    config.retry = RetryPolicy {
        initial_delay_ms: 5,
        max_delay_ms: 20,
        max_attempts: 4,
        max_elapsed_ms: 100,
        jitter: true,
    };
    config.sqlite.busy_timeout_ms = 10;
    config.monitor.enabled = false;
    config
}

/// Every audit row, oldest first.
async fn rows(db: &Database) -> Vec<AuditEntry> {
    db.audit().tail(0, 1_000).await.unwrap()
}

fn actions(rows: &[AuditEntry]) -> Vec<String> {
    rows.iter().map(|r| r.action.clone()).collect()
}

/// Waits (at most 30 s) until the audit table holds `n` rows.
async fn wait_rows(db: &Database, n: usize) -> Vec<AuditEntry> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let rows = rows(db).await;
        if rows.len() >= n {
            return rows;
        }
        assert!(tokio::time::Instant::now() < deadline, "only {} of {n} rows: {rows:?}", rows.len());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Waits (at most 30 s) until the pool's state satisfies `done`.
async fn wait_state(db: &Database, done: impl FnMut(&PoolState) -> bool) {
    let mut rx = db.watch_state();
    tokio::time::timeout(Duration::from_secs(30), rx.wait_for(done))
        .await
        .unwrap_or_else(|_| panic!("the pool's state stayed {:?}", db.state()))
        .unwrap();
}

/// A second process (this test binary run again) holding the database's write lock
/// (`BEGIN EXCLUSIVE`) until its stdin closes; killed when dropped.
struct Holder(Child);

impl Holder {
    fn start(db: &Path) -> Holder {
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args([LOCK_TEST, "--exact", "--nocapture", "--test-threads=1"])
            .env(HOLDER_ENV, db)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let stdout = BufReader::new(child.stdout.take().unwrap());
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in stdout.lines().map_while(Result::ok) {
                if line.contains(HOLDING) {
                    let _ = tx.send(());
                }
            }
        });
        let holder = Holder(child);
        assert!(rx.recv_timeout(Duration::from_secs(60)).is_ok(), "the holder process never held the lock");
        holder
    }

    /// Closes the child's stdin so that it commits and exits; waits for it.
    fn release(mut self) {
        drop(self.0.stdin.take());
        assert!(self.0.wait().unwrap().success());
    }
}

impl Drop for Holder {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The child's side: hold the write lock until stdin closes.
fn hold(db: PathBuf) {
    let conn = strata::rusqlite::Connection::open(db).unwrap();
    conn.execute_batch("BEGIN EXCLUSIVE").unwrap();
    println!("{HOLDING}");
    let mut line = String::new();
    while std::io::stdin().read_line(&mut line).is_ok_and(|n| n > 0) {}
    conn.execute_batch("COMMIT").unwrap();
}

/// Proves that entries appended while another process holds the write lock longer
/// than the retry budget are not lost: `append` answers `Spilled`, the spill file holds
/// them, and once the lock is released the replayer puts each in the table exactly
/// once, in order, under the uid it was made with; reopening adds nothing.
#[test]
fn p15_audit_log_retry_pattern_entries_spilled_while_another_process_holds_the_lock_are_in_the_table_once_in_order()
 {
    if let Some(db) = std::env::var_os(HOLDER_ENV) {
        return hold(PathBuf::from(db));
    }
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    runtime.block_on(async {
        let dir = tempfile::tempdir().unwrap();
        let config = quick(&dir.path().join("p15.db"));
        let db = Database::open(&config).await.unwrap();
        db.audit().append(NewAuditEntry::by("p15").action("before")).await.unwrap().into_stored().unwrap();

        let holder = Holder::start(&config.path);
        let mut uids = Vec::new();
        for action in ["locked.1", "locked.2", "locked.3"] {
            let appended = db.audit().append(NewAuditEntry::by("p15").action(action)).await.unwrap();
            assert!(appended.is_spilled(), "{action} was not spilled: {appended:?}");
            uids.push(appended.uid().to_string());
        }
        let spill = spill_path(&config.path);
        assert_eq!(std::fs::read_to_string(&spill).unwrap().lines().count(), 3);
        holder.release();

        let all = wait_rows(&db, 4).await;
        assert_eq!(actions(&all), ["before", "locked.1", "locked.2", "locked.3"]);
        let replayed: Vec<String> = all[1..].iter().map(|r| r.uid.clone().unwrap()).collect();
        assert_eq!(replayed, uids);
        db.close().await.unwrap();

        let db = Database::open(&config).await.unwrap();
        assert_eq!(rows(&db).await.len(), 4, "reopening replays nothing twice");
        db.close().await.unwrap();
    });
}

/// Proves that entries appended while the database file is gone (the pool
/// unavailable) are spilled at once, and that `Database::open` replays them, in order
/// and exactly once, when the file is back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn p15_audit_log_retry_pattern_entries_spilled_while_the_file_is_unavailable_are_replayed_at_open() {
    let dir = tempfile::tempdir().unwrap();
    let config = quick(&dir.path().join("p15.db"));
    let db = Database::open(&config).await.unwrap();
    db.audit().append(NewAuditEntry::by("p15").action("before")).await.unwrap().into_stored().unwrap();
    db.pool().exclusive(|c| Ok(c.execute_batch("PRAGMA wal_checkpoint(TRUNCATE)")?)).await.unwrap();

    let away = dir.path().join("away.db");
    std::fs::rename(&config.path, &away).unwrap();
    wait_state(&db, |s| !s.is_healthy()).await;
    for action in ["gone.1", "gone.2"] {
        let appended = db.audit().append(NewAuditEntry::by("p15").action(action)).await.unwrap();
        let Appended::Spilled { cause, .. } = &appended else {
            panic!("{action} was not spilled: {appended:?}")
        };
        assert!(cause.starts_with("E2040"), "{cause}");
    }
    let _ = db.close().await;
    drop(db);

    std::fs::rename(&away, &config.path).unwrap();
    let db = Database::open(&config).await.unwrap();
    let replay = db.open_report().audit_replay.clone().expect("the spill file was replayed at open");
    assert_eq!((replay.entries, replay.replayed, replay.skipped), (2, 2, 0));
    assert_eq!(actions(&rows(&db).await), ["before", "gone.1", "gone.2"]);
    assert_eq!(std::fs::metadata(spill_path(&config.path)).unwrap().len(), 0);
    db.close().await.unwrap();
}

/// One step of an interleaving.
#[derive(Debug, Clone)]
enum Step {
    /// Append an entry.
    Append,
    /// Another connection takes the write lock (if not held).
    Lock,
    /// The lock is released (if held).
    Unlock,
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![3 => Just(Step::Append), 1 => Just(Step::Lock), 1 => Just(Step::Unlock)]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 12, failure_persistence: None, ..ProptestConfig::default() })]

    /// Proves, over random interleavings of appends and lock outages, that every
    /// appended entry ends in the table exactly once and in append order.
    #[test]
    fn p15_audit_log_retry_pattern_any_interleaving_of_appends_and_outages_keeps_each_entry_once_in_order(
        steps in proptest::collection::vec(step(), 1..14)
    ) {
        let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
        let (expected, got) = runtime.block_on(async {
            let dir = tempfile::tempdir().unwrap();
            let config = quick(&dir.path().join("p15.db"));
            let db = Database::open(&config).await.unwrap();
            let mut lock: Option<strata::rusqlite::Connection> = None;
            let mut expected = Vec::new();
            for (i, step) in steps.iter().enumerate() {
                match step {
                    Step::Append => {
                        let action = format!("step.{i}");
                        let appended = db.audit().append(NewAuditEntry::by("p15").action(action.clone())).await.unwrap();
                        assert_eq!(appended.is_spilled(), lock.is_some(), "{action}: {appended:?}");
                        expected.push(action);
                    }
                    Step::Lock if lock.is_none() => {
                        let conn = strata::rusqlite::Connection::open(&config.path).unwrap();
                        conn.execute_batch("BEGIN EXCLUSIVE").unwrap();
                        lock = Some(conn);
                    }
                    Step::Unlock => {
                        if let Some(conn) = lock.take() {
                            conn.execute_batch("COMMIT").unwrap();
                        }
                    }
                    Step::Lock => {}
                }
            }
            if let Some(conn) = lock.take() {
                conn.execute_batch("COMMIT").unwrap();
            }
            let got = actions(&wait_rows(&db, expected.len()).await);
            db.close().await.unwrap();
            (expected, got)
        });
        prop_assert_eq!(got, expected);
    }
}
