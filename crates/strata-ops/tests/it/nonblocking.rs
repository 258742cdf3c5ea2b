//! strata-ops' one async surface: each public function that does file or database work
//! runs it off the runtime thread, so on a current-thread runtime another task keeps
//! making progress while it works; and bad input still gives its typed error.
//!
//! Two proofs. Where the work opens an SQLite file (`check_path`, `advise_path`,
//! `verify`, `newest_verified`), the file is locked by a connection that only the other
//! task releases, after it ran a few times: work done on the runtime thread would wait
//! out SQLite's 5 s busy timeout instead (the task cannot run) and fail. Where the work
//! only reads and writes plain files (`list`, `prune`, `read_manifest`), the other task
//! must have run at least once before the call returns: a call that never yields the
//! runtime thread returns before it could.

use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use rusqlite::Connection;
use strata_core::BackupConfig;
use strata_core::{Config, Error};
use strata_ops::advisor::{AdviseOptions, advise_path};
use strata_ops::backup::{self, BackupState};
use strata_ops::health::{CheckLevel, HealthOptions, check_path};
use strata_pool::Pool;

use crate::items_db;

/// Ticks the other task makes before it releases a lock it holds.
const TICKS_BEFORE_RELEASE: u64 = 3;

/// A current-thread runtime: one thread for the test's future and the other task.
fn current_thread() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap()
}

/// Runs `work()` on a current-thread runtime beside a task that ticks every
/// millisecond; returns what `work` returned and how often the task ticked while
/// `work` was in flight.
fn beside_a_ticker<T>(work: impl Future<Output = T>) -> (T, u64) {
    current_thread().block_on(async {
        let ticks = Arc::new(AtomicU64::new(0));
        let ticker = {
            let ticks = ticks.clone();
            tokio::spawn(async move {
                loop {
                    ticks.fetch_add(1, Ordering::SeqCst);
                    tokio::time::sleep(Duration::from_millis(1)).await;
                }
            })
        };
        let before = ticks.load(Ordering::SeqCst);
        let out = work.await;
        let during = ticks.load(Ordering::SeqCst) - before;
        ticker.abort();
        (out, during)
    })
}

/// Runs `work()` on a current-thread runtime while `locked` (a database in
/// rollback-journal mode) is held with an EXCLUSIVE lock that only another task of the
/// same runtime releases, after it ticked `TICKS_BEFORE_RELEASE` times. Returns what
/// `work` returned and whether the lock was released before `work` finished.
fn while_another_task_holds(locked: &Path, work: impl Future<Output = bool>) -> (bool, bool) {
    let holder = Connection::open(locked).unwrap();
    holder.query_row("PRAGMA journal_mode = DELETE", [], |r| r.get::<_, String>(0)).unwrap();
    holder.execute_batch("BEGIN EXCLUSIVE").unwrap();
    current_thread().block_on(async move {
        let released = Arc::new(AtomicU64::new(0));
        let other = {
            let released = released.clone();
            tokio::spawn(async move {
                for _ in 0..TICKS_BEFORE_RELEASE {
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
                holder.execute_batch("ROLLBACK").unwrap();
                released.store(1, Ordering::SeqCst);
                drop(holder);
            })
        };
        let ok = work.await;
        let released_before = released.load(Ordering::SeqCst) == 1;
        other.await.unwrap();
        (ok, released_before)
    })
}

/// `items.db` in rollback-journal mode (so that an EXCLUSIVE lock holds readers back).
fn delete_mode_db(dir: &Path) -> PathBuf {
    let db = dir.join("items.db");
    items_db(&db);
    let conn = Connection::open(&db).unwrap();
    conn.query_row("PRAGMA journal_mode = DELETE", [], |r| r.get::<_, String>(0)).unwrap();
    db
}

/// A verified backup of `items.db` in `dir/backups`, with its path.
fn one_backup(dir: &Path) -> PathBuf {
    let db = dir.join("source.db");
    items_db(&db);
    current_thread().block_on(async {
        let pool = Pool::open(&Config::for_path(&db)).await.unwrap();
        let report = backup::create(&pool, &dir.join("backups"), None).await.unwrap();
        pool.close().await.unwrap();
        report.path
    })
}

#[test]
fn check_path_leaves_the_runtime_free_while_it_waits_for_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let db = delete_mode_db(dir.path());
    let options = HealthOptions::new(CheckLevel::Quick);
    let (ok, released) = while_another_task_holds(&db, async {
        let report = check_path(&db, &options).await.unwrap();
        !report.is_corrupt() && report.integrity.is_empty()
    });
    assert!(ok, "the check read the file once the other task released it");
    assert!(released, "the other task ran while check_path waited");
}

#[test]
fn check_path_of_a_missing_file_is_e2004() {
    let dir = tempfile::tempdir().unwrap();
    let options = HealthOptions::new(CheckLevel::Quick);
    let err = current_thread().block_on(check_path(&dir.path().join("missing.db"), &options)).unwrap_err();
    assert!(matches!(err, Error::CannotOpen { .. }), "{err}");
}

#[test]
fn advise_path_leaves_the_runtime_free_while_it_waits_for_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let db = delete_mode_db(dir.path());
    let (ok, released) = while_another_task_holds(&db, async {
        let query = vec!["SELECT id FROM notes WHERE body = ?1".to_string()];
        let report = advise_path(&db, query, AdviseOptions::default()).await.unwrap();
        report.queries[0].recommendations.len() == 1
    });
    assert!(ok, "the advisor proposed the index on notes(body)");
    assert!(released, "the other task ran while advise_path waited");
}

#[test]
fn advise_path_of_a_missing_file_is_e2004() {
    let dir = tempfile::tempdir().unwrap();
    let queries = vec!["SELECT 1".to_string()];
    let missing = dir.path().join("missing.db");
    let err =
        current_thread().block_on(advise_path(&missing, queries, AdviseOptions::default())).unwrap_err();
    assert!(matches!(err, Error::CannotOpen { .. }), "{err}");
}

#[test]
fn verify_leaves_the_runtime_free_while_it_waits_for_the_backup() {
    let dir = tempfile::tempdir().unwrap();
    let taken = one_backup(dir.path());
    let (ok, released) =
        while_another_task_holds(&taken, async { backup::verify(&taken, None).await.unwrap().ok });
    assert!(ok, "the backup verified once the other task released it");
    assert!(released, "the other task ran while verify waited");
}

#[test]
fn verify_of_a_missing_file_is_e2004() {
    let dir = tempfile::tempdir().unwrap();
    let err =
        current_thread().block_on(backup::verify(&dir.path().join("missing.sqlite"), None)).unwrap_err();
    assert!(matches!(err, Error::CannotOpen { .. }), "{err}");
}

#[test]
fn newest_verified_leaves_the_runtime_free_while_it_waits_for_the_backup() {
    let dir = tempfile::tempdir().unwrap();
    let taken = one_backup(dir.path());
    let backups = dir.path().join("backups");
    let (ok, released) = while_another_task_holds(&taken, async {
        let (found, failed) = backup::newest_verified(&backups, None).await.unwrap();
        found.is_some_and(|report| report.path == taken) && failed.is_empty()
    });
    assert!(ok, "the backup was found and verified once the other task released it");
    assert!(released, "the other task ran while newest_verified waited");
}

#[test]
fn newest_verified_in_a_file_instead_of_a_directory_is_e5005() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("not-a-dir");
    std::fs::write(&file, b"x").unwrap();
    let err = current_thread().block_on(backup::newest_verified(&file, None)).unwrap_err();
    assert!(matches!(err, Error::FileIo { action: "list", .. }), "{err}");
}

#[test]
fn list_yields_the_runtime_while_it_reads_the_directory() {
    let dir = tempfile::tempdir().unwrap();
    let taken = one_backup(dir.path());
    let (listed, ticks) = beside_a_ticker(backup::list(&dir.path().join("backups")));
    let listed = listed.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!((listed[0].path.as_path(), listed[0].state), (taken.as_path(), BackupState::Complete));
    assert!(ticks >= 1, "the other task never ran while list worked");
}

#[test]
fn list_of_a_file_instead_of_a_directory_is_e5005() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("not-a-dir");
    std::fs::write(&file, b"x").unwrap();
    let err = current_thread().block_on(backup::list(&file)).unwrap_err();
    assert!(matches!(err, Error::FileIo { action: "list", .. }), "{err}");
}

#[test]
fn prune_yields_the_runtime_while_it_removes_backups() {
    let dir = tempfile::tempdir().unwrap();
    one_backup(dir.path());
    let policy = BackupConfig { keep_last: 1, ..BackupConfig::default() };
    let (pruned, ticks) = beside_a_ticker(backup::prune(&dir.path().join("backups"), &policy));
    assert_eq!(pruned.unwrap().kept.len(), 1);
    assert!(ticks >= 1, "the other task never ran while prune worked");
}

#[test]
fn prune_of_a_file_instead_of_a_directory_is_e5005() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("not-a-dir");
    std::fs::write(&file, b"x").unwrap();
    let err = current_thread().block_on(backup::prune(&file, &BackupConfig::default())).unwrap_err();
    assert!(matches!(err, Error::FileIo { action: "list", .. }), "{err}");
}

#[test]
fn read_manifest_yields_the_runtime_while_it_reads_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let taken = one_backup(dir.path());
    let (manifest, ticks) = beside_a_ticker(backup::read_manifest(&taken));
    assert!(manifest.unwrap().is_some_and(|m| m.verification.ok));
    assert!(ticks >= 1, "the other task never ran while read_manifest worked");
}

#[test]
fn read_manifest_of_a_damaged_manifest_is_e5010() {
    let dir = tempfile::tempdir().unwrap();
    let taken = one_backup(dir.path());
    std::fs::write(backup::manifest_path(&taken), b"{ not json").unwrap();
    let err = current_thread().block_on(backup::read_manifest(&taken)).unwrap_err();
    assert!(matches!(err, Error::ManifestInvalid { .. }), "{err}");
}
