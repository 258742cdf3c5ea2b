//! Restore and recover refuse a database that another process has open, a strata
//! pool (its lock file, E5011) or a plain SQLite connection (SQLite's own locks,
//! E5012), and change nothing; once that process has exited they go ahead.

use std::path::{Path, PathBuf};

use strata_ops::recover::{RecoverOptions, recover};
use strata_ops::restore::{RestoreOptions, restore};

use crate::count;
use crate::holder::{self, Holder, Role, hashes};

/// A current-thread runtime of its own: the test body may be a holder child.
fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap()
}

fn forced() -> RestoreOptions {
    RestoreOptions { force: true, ..RestoreOptions::default() }
}

/// `app.db` with `notes` rows 1..=10 and a backup of it in `backups/`, closed.
fn notes_with_backup(rt: &tokio::runtime::Runtime, dir: &Path) -> (PathBuf, PathBuf, PathBuf) {
    let db = dir.join("app.db");
    let backups = dir.join("backups");
    let backup = rt.block_on(async {
        let pool = crate::pool(&db).await;
        pool.write(|conn| {
            conn.execute_batch("CREATE TABLE notes(id INTEGER PRIMARY KEY, body TEXT NOT NULL)")?;
            for n in 1..=10 {
                conn.execute("INSERT INTO notes(id, body) VALUES (?1, 'note')", [n])?;
            }
            Ok(())
        })
        .await
        .unwrap();
        let backup = strata_ops::backup::create(&pool, &backups, None).await.unwrap();
        pool.close().await.unwrap();
        backup.path
    });
    (db, backups, backup)
}

/// Restore and recover are refused with `code` while `role` holds the database in
/// another process, the database, `-wal` and `-shm` are untouched, and restore
/// succeeds once the holder has exited.
fn refused_while_held_then_restored(test: &str, role: Role, code: &str) {
    let rt = runtime();
    let dir = tempfile::tempdir().unwrap();
    let (db, backups, backup) = notes_with_backup(&rt, dir.path());
    let mut holder = Holder::start(test, role, &db);
    let before = hashes(&db);

    let refused = rt.block_on(restore(&db, &backup, forced())).unwrap_err();
    assert_eq!(refused.code(), code, "{refused}");
    let refused = rt.block_on(recover(&db, RecoverOptions::new(&backups))).unwrap_err();
    assert_eq!(refused.code(), code, "{refused}");
    assert_eq!(hashes(&db), before, "the database, its -wal and its -shm are untouched");
    assert_eq!(count(&db, "notes"), 11 - i64::from(role == Role::ReadTransaction), "nothing was replaced");

    holder.stop();
    let report = rt.block_on(restore(&db, &backup, forced())).unwrap();
    assert!(report.replaced.is_some());
    assert_eq!(count(&db, "notes"), 10, "the backup is in place");
    assert!(dir.path().join("app.db.strata-lock").exists(), "the lock file is never moved or removed");
}

#[test]
fn restore_and_recover_refuse_while_a_pool_of_another_process_has_the_database() {
    if holder::run_as_child() {
        return;
    }
    refused_while_held_then_restored(
        "in_use::restore_and_recover_refuse_while_a_pool_of_another_process_has_the_database",
        Role::Pool,
        "E5011",
    );
}

#[test]
fn restore_and_recover_refuse_while_another_process_reads_the_database() {
    if holder::run_as_child() {
        return;
    }
    refused_while_held_then_restored(
        "in_use::restore_and_recover_refuse_while_another_process_reads_the_database",
        Role::ReadTransaction,
        "E5012",
    );
}
