//! The background checkpointer: the WAL is copied into the database file by a thread
//! of the pool's own while writes go on, and not at all when `wal_autocheckpoint = 0`
//! leaves checkpoints to an external replicator.

use std::time::{Duration, Instant};

use rusqlite::Connection;
use strata_pool::Pool;

use crate::TestDb;

/// (frames in the WAL, frames already copied into the database file), read from a
/// connection of the test's own.
fn wal_state(db: &TestDb) -> (i64, i64) {
    let conn = Connection::open(db.path()).unwrap();
    conn.query_row("PRAGMA wal_checkpoint(NOOP)", [], |r| Ok((r.get(1)?, r.get(2)?))).unwrap()
}

/// Rows `from..to` in one-row write transactions of 1 KiB each: a WAL frame or more
/// per row.
async fn write_rows_from(pool: &Pool, from: usize, to: usize) {
    for n in from..to {
        let v = format!("{n:0>1024}");
        pool.write(move |c| Ok(c.execute("INSERT INTO items(v) VALUES (?1)", [&v])?)).await.unwrap();
    }
}

/// 300 rows: at least 300 WAL frames.
async fn write_rows(pool: &Pool) {
    write_rows_from(pool, 0, 300).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_wal_is_checkpointed_in_the_background_while_writes_go_on() {
    let mut db = TestDb::new();
    db.config.sqlite.wal_autocheckpoint = 100; // background checkpoints from 50 frames
    let pool = db.open_with_items().await;
    write_rows(&pool).await;
    // On a slow machine the writer's own checkpoint at 100 frames may have done all
    // the work so far: go on writing until the background thread has run.
    let mut rows = 300;
    let deadline = Instant::now() + Duration::from_secs(30);
    while pool.metrics().background_checkpoints == 0 {
        assert!(Instant::now() < deadline, "no background checkpoint after {rows} rows");
        write_rows_from(&pool, rows, rows + 50).await;
        rows += 50;
    }

    the_checkpointer_catches_up(&db, &pool).await;
    // Nothing was lost on the way, and closing still leaves no -wal or -shm behind.
    assert_eq!(crate::count_items(&pool).await, rows as i64);
    let report = pool.close().await.unwrap();
    assert!(report.wal_removed, "{report:?}");
}

/// Waits up to 30 s, without writing, until a background checkpoint has run and
/// fewer than 50 frames wait in the WAL.
async fn the_checkpointer_catches_up(db: &TestDb, pool: &Pool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (log, done) = wal_state(db);
        if pool.metrics().background_checkpoints > 0 && log - done < 50 {
            return;
        }
        assert!(Instant::now() < deadline, "no background checkpoint: wal {log} frames, {done} copied");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// A reader that pins the WAL makes every checkpoint copy nothing; once it lets go,
/// the checkpointer copies the WAL although no commit follows to wake it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_checkpoint_held_up_by_a_reader_is_tried_again_without_new_commits() {
    let mut db = TestDb::new();
    db.config.sqlite.wal_autocheckpoint = 100;
    let pool = db.open_with_items().await;
    let reader = Connection::open(db.path()).unwrap();
    reader.execute_batch("BEGIN; SELECT count(*) FROM items;").unwrap();
    write_rows(&pool).await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    let (log, done) = wal_state(&db);
    assert!(log - done >= 250, "the reader held the WAL: {log} frames, {done} copied");

    reader.execute_batch("COMMIT").unwrap();
    the_checkpointer_catches_up(&db, &pool).await;
    assert_eq!(crate::count_items(&pool).await, 300);
    pool.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wal_autocheckpoint_zero_leaves_the_wal_to_an_external_replicator() {
    let mut db = TestDb::new();
    db.config.sqlite.wal_autocheckpoint = 0;
    let pool = db.open_with_items().await;
    write_rows(&pool).await;

    // No checkpointer thread exists with wal_autocheckpoint = 0 (checkpoint.rs's
    // `no_checkpointer_is_started_when_checkpoints_are_left_to_someone_else`), and the
    // writer's own autocheckpoint is off: what the WAL holds now, it holds for good.
    let (log, done) = wal_state(&db);
    assert!(log >= 300, "every commit is still in the WAL: {log} frames");
    assert_eq!(done, 0, "nobody checkpointed");
    assert_eq!(pool.metrics().background_checkpoints, 0);
    pool.close().await.unwrap();
}

/// `[replication] mode = "litestream"` leaves every checkpoint to Litestream although
/// `sqlite.wal_autocheckpoint` asks for them: no checkpointer thread, no autocheckpoint
/// on any connection, and the busy timeout Litestream's docs recommend.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn litestream_replication_turns_strata_checkpoints_off_on_every_connection() {
    let mut db = TestDb::new();
    db.config.sqlite.wal_autocheckpoint = 100;
    db.config.sqlite.busy_timeout_ms = 100;
    db.config.replication.mode = strata_core::ReplicationMode::Litestream;
    let pool = db.open_with_items().await;
    write_rows(&pool).await;

    let (writer, reader) = pool.settings().await.unwrap();
    for (scope, settings) in [("writer", &writer), ("reader", &reader)] {
        assert_eq!(settings.wal_autocheckpoint, 0, "{scope}");
        assert_eq!(settings.busy_timeout_ms, i64::from(strata_core::LITESTREAM_BUSY_TIMEOUT_MS), "{scope}");
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    let (log, done) = wal_state(&db);
    assert!(log >= 300, "every commit is still in the WAL: {log} frames");
    assert_eq!(done, 0, "nobody but the replicator may checkpoint");
    assert_eq!(pool.metrics().background_checkpoints, 0);
    pool.close().await.unwrap();
}

/// Closing a pool in litestream mode checkpoints nothing either: no final
/// `wal_checkpoint(TRUNCATE)`, and no checkpoint by SQLite when the last connection
/// closes. The WAL is left for Litestream, which must read it before it goes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn closing_a_pool_in_litestream_mode_leaves_the_wal_to_litestream() {
    let mut db = TestDb::new();
    db.config.replication.mode = strata_core::ReplicationMode::Litestream;
    let pool = db.open_with_items().await;
    write_rows(&pool).await;
    let report = pool.close().await.unwrap();
    assert!(!report.checkpointed, "{report:?}");
    let wal = std::fs::metadata(format!("{}-wal", db.path().display())).map(|m| m.len()).unwrap_or(0);
    assert!(wal > 300 * 1024, "every commit is still in the WAL: {wal} bytes");
}
