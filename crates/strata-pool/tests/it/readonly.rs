//! Inspection: a read-only pool changes nothing in the file (journal mode, `-wal`,
//! sidecar files), refuses writes with E2011, and does not wait for another
//! connection's write lock.

use std::path::{Path, PathBuf};
use std::time::Instant;

use strata_core::ErrorKind;
use strata_pool::Pool;
use strata_pool::rusqlite::Connection;

use crate::TestDb;
use crate::close::{QUICK, hold_write_lock};

fn sidecar(db: &Path, suffix: &str) -> PathBuf {
    let mut name = db.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

/// A database in rollback-journal mode with one table, made without strata.
fn journal_db(db: &TestDb) {
    let conn = Connection::open(db.path()).unwrap();
    conn.execute_batch(
        "PRAGMA journal_mode = DELETE;
         CREATE TABLE items(id INTEGER PRIMARY KEY, v TEXT NOT NULL UNIQUE);
         INSERT INTO items(v) VALUES ('one'), ('two');",
    )
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_read_only_pool_reads_a_rollback_journal_database_and_changes_nothing() {
    let db = TestDb::new();
    journal_db(&db);
    let before = std::fs::read(db.path()).unwrap();
    let pool = Pool::open_read_only(&db.config).await.unwrap();
    assert!(pool.is_read_only());
    assert_eq!(crate::count_items(&pool).await, 2);
    let mode: String =
        pool.read(|c| Ok(c.query_row("PRAGMA journal_mode", [], |r| r.get(0))?)).await.unwrap();
    assert_eq!(mode, "delete");

    let err = pool.write(|c| Ok(c.execute("DELETE FROM items", [])?)).await.unwrap_err();
    assert_eq!(err.code(), "E2011", "{err}");
    assert_eq!(err.kind(), ErrorKind::ReadOnly);
    let err = pool.exclusive(|_| Ok(())).await.unwrap_err();
    assert_eq!(err.code(), "E2011", "{err}");
    // A reader refuses writes too (query_only, and the file is opened read-only).
    let err = pool.read(|c| Ok(c.execute("DELETE FROM items", [])?)).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::ReadOnly, "{err}");

    let report = pool.close().await.unwrap();
    assert!(report.read_only && report.commits == 0, "{report:?}");
    assert_eq!(std::fs::read(db.path()).unwrap(), before, "byte for byte");
    assert!(!sidecar(&db.path(), "-wal").exists() && !sidecar(&db.path(), "-journal").exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_read_only_pool_of_a_wal_database_leaves_no_wal_behind_and_does_not_create_files() {
    let db = TestDb::new();
    db.open_with_items().await.close().await.unwrap();
    assert!(!sidecar(&db.path(), "-wal").exists(), "strata's close removed the -wal");
    let before = std::fs::read(db.path()).unwrap();
    let pool = Pool::open_read_only(&db.config).await.unwrap();
    assert_eq!(crate::count_items(&pool).await, 0);
    pool.close().await.unwrap();
    assert_eq!(std::fs::read(db.path()).unwrap(), before, "byte for byte");
    assert!(
        !sidecar(&db.path(), "-wal").exists() && !sidecar(&db.path(), "-shm").exists(),
        "the empty -wal and -shm SQLite made for reading are removed again"
    );

    // The single connection for inspection does the same when dropped.
    let conn = strata_pool::open_read_only(&db.path()).unwrap();
    let _: i64 = conn.query_row("SELECT count(*) FROM items", [], |r| r.get(0)).unwrap();
    drop(conn);
    assert!(!sidecar(&db.path(), "-wal").exists() && !sidecar(&db.path(), "-shm").exists());

    let missing = TestDb::new();
    let err = Pool::open_read_only(&missing.config).await.unwrap_err();
    assert_eq!(err.code(), "E2004", "{err}");
    assert!(!missing.path().exists(), "nothing is created");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_read_only_pool_does_not_wait_for_another_connections_write_lock() {
    let db = TestDb::new();
    db.open_with_items().await.close().await.unwrap();
    let outside = hold_write_lock(&db.path());
    let started = Instant::now();
    let pool = Pool::open_read_only(&db.config).await.unwrap();
    assert_eq!(crate::count_items(&pool).await, 0, "the uncommitted row is not seen");
    pool.close().await.unwrap();
    let took = started.elapsed();
    println!("open, read and close read-only, write lock held elsewhere: {} ms", took.as_millis());
    assert!(took < QUICK, "waited {} ms", took.as_millis());
    drop(outside);
}
