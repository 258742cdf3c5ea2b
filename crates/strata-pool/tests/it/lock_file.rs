//! Who else has the database: every open pool holds `<db>.strata-lock` shared (0600,
//! never removed), so an exclusive taker (restore, recover) is refused while any pool
//! is open, in this process too, and a pool cannot open while the exclusive lock is
//! held; the SQLite probe finds connections that are not pools and changes nothing.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use strata_pool::{Pool, lock_exclusive, lock_path, refuse_other_connections};

use crate::TestDb;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_open_pool_holds_the_lock_file_shared_until_it_closes() {
    let db = TestDb::new();
    let first = db.open().await;
    let lock = lock_path(&db.path());
    assert_eq!(lock.file_name().unwrap(), "test.db.strata-lock");
    assert_eq!(std::fs::metadata(&lock).unwrap().permissions().mode() & 0o777, 0o600);
    let second = db.open().await;

    // flock is per open file description: this process's own pools conflict too.
    let refused = lock_exclusive(&db.path()).unwrap_err();
    assert_eq!(refused.code(), "E5011", "{refused}");
    first.close().await.unwrap();
    let refused = lock_exclusive(&db.path()).unwrap_err();
    assert_eq!(refused.code(), "E5011", "the second pool still holds it");
    drop(second);

    let held = lock_exclusive(&db.path()).expect("a dropped pool lets the lock go");
    let refused = Pool::open(&db.config).await.unwrap_err();
    assert_eq!(refused.code(), "E5011", "no pool opens during a restore: {refused}");
    drop(held);
    let pool = db.open().await;
    pool.close().await.unwrap();
    assert!(lock.exists(), "the lock file is never removed");
}

/// A read-only pool creates nothing, so it locks the lock file only when one is there:
/// then it holds it shared like any pool, and a restore in progress refuses it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_read_only_pool_holds_an_existing_lock_file_and_creates_none() {
    let db = TestDb::new();
    let lock = lock_path(&db.path());
    let conn = strata_pool::rusqlite::Connection::open(db.path()).unwrap();
    conn.execute_batch("CREATE TABLE t(x)").unwrap();
    drop(conn);
    let reader = Pool::open_read_only(&db.config).await.unwrap();
    assert!(!lock.exists(), "an inspection creates no lock file");
    reader.close().await.unwrap();

    db.open().await.close().await.unwrap();
    assert!(lock.exists());
    let reader = Pool::open_read_only(&db.config).await.unwrap();
    assert_eq!(lock_exclusive(&db.path()).unwrap_err().code(), "E5011", "the read-only pool holds it");
    drop(reader);
    let held = lock_exclusive(&db.path()).expect("a dropped read-only pool lets it go");
    assert_eq!(Pool::open_read_only(&db.config).await.unwrap_err().code(), "E5011");
    drop(held);
}

/// The contents of the database and of each of its sidecar files that exists.
fn hashes(db: &Path) -> Vec<(String, Vec<u8>)> {
    ["", "-wal", "-shm", "-journal"]
        .iter()
        .filter_map(|suffix| {
            let path = format!("{}{suffix}", db.display());
            let bytes = std::fs::read(&path).ok()?;
            Some((path, bytes))
        })
        .collect()
}

fn journal_mode(db: &Path) -> String {
    let conn = rusqlite::Connection::open(db).unwrap();
    conn.query_row("PRAGMA journal_mode", [], |r| r.get(0)).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_probe_passes_a_database_nobody_has_open_and_changes_nothing() {
    let db = TestDb::new();
    let pool = db.open_with_items().await;
    pool.close().await.unwrap();
    let before = hashes(&db.path());
    assert_eq!(before.len(), 1, "a closed WAL database is one file: {before:?}");
    refuse_other_connections(&db.path()).unwrap();
    assert_eq!(hashes(&db.path()), before, "no -wal or -shm left behind, the file unchanged");
    assert_eq!(journal_mode(&db.path()), "wal");

    // A crashed writer's -wal (and -shm) are kept exactly as they are.
    let crashed = rusqlite::Connection::open(db.path()).unwrap();
    crashed.execute_batch("PRAGMA wal_autocheckpoint = 0; INSERT INTO items(v) VALUES ('late');").unwrap();
    let before = hashes(&db.path());
    assert_eq!(before.len(), 3, "{before:?}");
    // The writer stays open, so the probe must say so.
    let refused = refuse_other_connections(&db.path()).unwrap_err();
    assert_eq!(refused.code(), "E5012", "{refused}");
    assert_eq!(hashes(&db.path()), before);
}

#[test]
fn the_probe_finds_idle_and_reading_connections_in_wal_and_rollback_mode() {
    for mode in ["WAL", "DELETE"] {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("plain.db");
        let setup = rusqlite::Connection::open(&path).unwrap();
        setup
            .execute_batch(&format!(
                "PRAGMA journal_mode = {mode}; CREATE TABLE t(x); INSERT INTO t VALUES (1);"
            ))
            .unwrap();
        setup.close().unwrap();
        refuse_other_connections(&path).unwrap();

        let other = rusqlite::Connection::open(&path).unwrap();
        other.execute_batch("BEGIN").unwrap();
        let _: i64 = other.query_row("SELECT count(*) FROM t", [], |r| r.get(0)).unwrap();
        let before = hashes(&path);
        let refused = refuse_other_connections(&path).unwrap_err();
        assert_eq!(refused.code(), "E5012", "{mode}: a reader in a transaction: {refused}");
        assert_eq!(hashes(&path), before, "{mode}");
        other.execute_batch("COMMIT").unwrap();
        let idle = refuse_other_connections(&path);
        if mode == "WAL" {
            // A WAL connection keeps its SHARED lock on the file while it is open.
            assert_eq!(idle.unwrap_err().code(), "E5012", "an idle WAL connection");
        } else {
            // A rollback-journal connection holds no lock between transactions.
            idle.unwrap();
        }
        other.close().unwrap();
        refuse_other_connections(&path).unwrap();
        assert_eq!(journal_mode(&path), mode.to_lowercase());
    }
}
