//! Closing without waiting: a pool that wrote nothing closes at once while another
//! connection holds the write lock, and one that wrote gives up `PRAGMA optimize`
//! and the final checkpoint within the close bound instead of the busy timeout.

use std::path::Path;
use std::time::{Duration, Instant};

use strata_pool::rusqlite::Connection;

use crate::TestDb;

/// Generous against a loaded 2-core VM, and far below the 5 s busy timeout a close
/// used to wait for once for `PRAGMA optimize` and once for the checkpoint.
pub const QUICK: Duration = Duration::from_secs(2);

/// Another connection (for SQLite, another process) in the middle of a write
/// transaction: it holds the write lock until dropped.
pub fn hold_write_lock(db: &Path) -> Connection {
    let outside = Connection::open(db).unwrap();
    outside.execute_batch("BEGIN IMMEDIATE; INSERT INTO items(v) VALUES ('outside');").unwrap();
    outside
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pool_that_wrote_nothing_closes_at_once_while_another_connection_holds_the_write_lock() {
    let db = TestDb::new();
    db.open_with_items().await.close().await.unwrap();
    let pool = db.open().await;
    assert_eq!(crate::count_items(&pool).await, 0);
    let outside = hold_write_lock(&db.path());
    let started = Instant::now();
    let report = pool.close().await.unwrap();
    let took = started.elapsed();
    println!("close of a pool that wrote nothing, write lock held elsewhere: {} ms", took.as_millis());
    assert!(took < QUICK, "close waited {} ms for the write lock", took.as_millis());
    assert_eq!(report.commits, 0);
    assert!(!report.optimized && !report.checkpointed, "{report:?}");
    drop(outside);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pool_that_wrote_gives_up_optimize_and_checkpoint_within_the_bound() {
    let db = TestDb::new();
    let pool = db.open_with_items().await;
    pool.write(|c| Ok(c.execute("INSERT INTO items(v) VALUES ('mine')", [])?)).await.unwrap();
    let outside = hold_write_lock(&db.path());
    let started = Instant::now();
    let report = pool.close().await.unwrap();
    let took = started.elapsed();
    println!("close of a pool that wrote, write lock held elsewhere: {} ms; {report:?}", took.as_millis());
    assert!(took < QUICK, "close waited {} ms for the write lock", took.as_millis());
    assert!(report.commits >= 2, "{report:?}");
    assert!(report.checkpoint_busy && !report.checkpointed, "the checkpoint was given up: {report:?}");
    drop(outside);

    // Without anyone in the way, the same close optimises and checkpoints.
    let pool = db.open().await;
    pool.write(|c| Ok(c.execute("INSERT INTO items(v) VALUES ('again')", [])?)).await.unwrap();
    let report = pool.close().await.unwrap();
    assert!(report.optimized && report.checkpointed && !report.checkpoint_busy, "{report:?}");
    assert!(report.wal_removed, "{report:?}");
}
