//! The pool's health state against real faults: the file removed, the file replaced
//! by another database, a full database (`max_page_count`), a writer that may only
//! read, and close.

use std::path::Path;
use std::time::Duration;

use strata_core::{ErrorKind, RetryPolicy};
use strata_pool::{Cause, Pool, PoolState};

use crate::{TestDb, count_items};

/// A retry policy that is spent within a second, so that a test sees `Unavailable`.
fn quick_retry() -> RetryPolicy {
    RetryPolicy {
        initial_delay_ms: 5,
        max_delay_ms: 50,
        max_attempts: 4,
        max_elapsed_ms: 1_000,
        jitter: true,
    }
}

/// Waits (at most 30 s) until the pool's state satisfies `done`; the state then.
async fn wait_state(pool: &Pool, what: &str, done: impl FnMut(&PoolState) -> bool) -> PoolState {
    let mut rx = pool.watch_state();
    let state = tokio::time::timeout(Duration::from_secs(30), rx.wait_for(done))
        .await
        .unwrap_or_else(|_| panic!("never happened: {what}; state is {:?}", pool.state()))
        .expect("the pool's state sender lives as long as the pool");
    state.clone()
}

/// A copy of the database, made by the pool's writer (`VACUUM INTO`).
async fn copy_of(pool: &Pool, to: &Path) {
    let to = to.to_string_lossy().into_owned();
    pool.exclusive(move |c| Ok(c.execute("VACUUM INTO ?1", [to.as_str()]).map(drop)?))
        .await
        .expect("vacuum into");
}

async fn insert(pool: &Pool, v: &str) -> strata_core::Result<()> {
    let v = v.to_string();
    pool.write(move |c| Ok(c.execute("INSERT INTO items(v) VALUES (?1)", [v.as_str()]).map(drop)?)).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_removed_file_fails_calls_fast_never_recreates_it_and_recovers_when_it_is_back() {
    let mut db = TestDb::new();
    db.config.retry = quick_retry();
    let pool = db.open_with_items().await;
    insert(&pool, "kept").await.unwrap();
    let backup = db.dir.path().join("backup.db");
    copy_of(&pool, &backup).await;
    assert_eq!(pool.state(), PoolState::Healthy);

    std::fs::remove_file(db.path()).unwrap();
    let state =
        wait_state(&pool, "unavailable after the retries", |s| matches!(s, PoolState::Unavailable { .. }))
            .await;
    assert_eq!(state.cause(), Some(&Cause::FileRemoved));

    let err = pool.read(|c| Ok(c.query_row("SELECT 1", [], |r| r.get::<_, i64>(0))?)).await.unwrap_err();
    assert_eq!(err.code(), "E2040", "{err}");
    assert_eq!(err.kind(), ErrorKind::Unavailable);
    assert!(err.to_string().contains("removed"), "{err}");
    assert!(!err.hint().is_empty());
    let err = insert(&pool, "lost").await.unwrap_err();
    assert_eq!(err.code(), "E2040", "{err}");
    assert!(!db.path().exists(), "the pool created an empty database where the file was removed");

    std::fs::rename(&backup, db.path()).unwrap();
    wait_state(&pool, "healthy once the file is back", PoolState::is_healthy).await;
    assert_eq!(count_items(&pool).await, 1);
    insert(&pool, "after").await.unwrap();
    assert_eq!(count_items(&pool).await, 2);
    pool.close().await.unwrap();
    let raw = rusqlite::Connection::open(db.path()).unwrap();
    let n: i64 = raw.query_row("SELECT count(*) FROM items", [], |r| r.get(0)).unwrap();
    assert_eq!(n, 2, "the write after recovery went to the file at the path");
    let check: String = raw.query_row("PRAGMA integrity_check", [], |r| r.get(0)).unwrap();
    assert_eq!(check, "ok");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_replaced_under_the_pool_is_noticed_and_the_new_file_is_used() {
    let db = TestDb::new();
    let pool = db.open_with_items().await;
    insert(&pool, "old").await.unwrap();
    let mut rx = pool.watch_state();

    let other = db.dir.path().join("other.db");
    {
        let raw = rusqlite::Connection::open(&other).unwrap();
        raw.execute_batch(
            "CREATE TABLE items(id INTEGER PRIMARY KEY, v TEXT NOT NULL UNIQUE);
             INSERT INTO items(v) VALUES ('new1'), ('new2'), ('new3');",
        )
        .unwrap();
    }
    std::fs::rename(&other, db.path()).unwrap();

    // The pool leaves Healthy (the watchdog sees another inode) and comes back.
    let left = tokio::time::timeout(Duration::from_secs(30), rx.wait_for(|s| !s.is_healthy()))
        .await
        .expect("the replacement is noticed within 30 s")
        .unwrap()
        .clone();
    assert_eq!(left.cause(), Some(&Cause::FileReplaced), "{left:?}");
    wait_state(&pool, "healthy on the new file", PoolState::is_healthy).await;
    assert_eq!(count_items(&pool).await, 3, "reads see the new file");
    insert(&pool, "written").await.unwrap();
    pool.close().await.unwrap();
    let raw = rusqlite::Connection::open(db.path()).unwrap();
    let n: i64 = raw.query_row("SELECT count(*) FROM items", [], |r| r.get(0)).unwrap();
    assert_eq!(n, 4, "the write went to the new file");
    let check: String = raw.query_row("PRAGMA integrity_check", [], |r| r.get(0)).unwrap();
    assert_eq!(check, "ok");
    // The old file's WAL was set aside, not applied to the new file and not deleted.
    let orphans = std::fs::read_dir(db.dir.path())
        .unwrap()
        .filter(|e| e.as_ref().unwrap().file_name().to_string_lossy().starts_with("test.db-wal.orphan-"))
        .count();
    assert_eq!(orphans, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_database_is_its_own_state_reads_keep_working_and_the_next_commit_heals_it() {
    let db = TestDb::new();
    let pool = db.open_with_items().await;
    insert(&pool, "committed").await.unwrap();
    pool.exclusive(|c| {
        let pages: i64 = c.query_row("PRAGMA page_count", [], |r| r.get(0))?;
        c.query_row(&format!("PRAGMA max_page_count = {pages}"), [], |r| r.get::<_, i64>(0))?;
        Ok(())
    })
    .await
    .unwrap();

    let big = "x".repeat(64 * 1024);
    let err = insert(&pool, &big).await.unwrap_err();
    assert_eq!(err.code(), "E5003", "{err}");
    assert_eq!(err.kind(), ErrorKind::Storage);
    let state = pool.state();
    assert!(matches!(&state, PoolState::Degraded { cause: Cause::DiskFull, .. }), "{state:?}");
    assert_eq!(count_items(&pool).await, 1, "reads keep working and committed data is intact");

    pool.exclusive(|c| {
        Ok(c.query_row("PRAGMA max_page_count = 1000000", [], |r| r.get::<_, i64>(0)).map(drop)?)
    })
    .await
    .unwrap();
    insert(&pool, &big).await.unwrap();
    assert_eq!(pool.state(), PoolState::Healthy);
    assert_eq!(count_items(&pool).await, 2);
    pool.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_writer_that_may_only_read_is_its_own_state_and_reads_keep_working() {
    let db = TestDb::new();
    let pool = db.open_with_items().await;
    insert(&pool, "committed").await.unwrap();
    // SQLite refuses every write of this connection with SQLITE_READONLY, as it does
    // on a volume remounted read-only.
    pool.exclusive(|c| Ok(c.execute_batch("PRAGMA query_only = ON")?)).await.unwrap();

    let err = insert(&pool, "refused").await.unwrap_err();
    assert_eq!(err.code(), "E4003", "{err}");
    let state = pool.state();
    assert!(matches!(&state, PoolState::Degraded { cause: Cause::ReadOnly, .. }), "{state:?}");
    assert_eq!(count_items(&pool).await, 1);

    pool.exclusive(|c| Ok(c.execute_batch("PRAGMA query_only = OFF")?)).await.unwrap();
    insert(&pool, "accepted").await.unwrap();
    assert_eq!(pool.state(), PoolState::Healthy);
    pool.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_read_only_open_stays_healthy_and_close_is_a_state_too() {
    let db = TestDb::new();
    let pool = db.open_with_items().await;
    pool.close().await.unwrap();
    assert_eq!(pool.state(), PoolState::Closed);

    let pool = Pool::open_read_only(&db.config).await.unwrap();
    let mut rx = pool.watch_state();
    assert_eq!(pool.state(), PoolState::Healthy);
    let err = insert(&pool, "refused").await.unwrap_err();
    assert_eq!(err.code(), "E2011");
    assert_eq!(pool.state(), PoolState::Healthy, "a refused write of an inspection pool is no fault");
    pool.close().await.unwrap();
    rx.changed().await.unwrap();
    assert_eq!(*rx.borrow(), PoolState::Closed);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_wait_when_unavailable_calls_wait_through_an_outage_and_succeed_once_the_file_is_back() {
    let mut db = TestDb::new();
    db.config.retry = quick_retry();
    db.config.pool.wait_when_unavailable = true;
    db.config.pool.acquire_timeout_ms = 60_000;
    let pool = db.open_with_items().await;
    insert(&pool, "kept").await.unwrap();
    let backup = db.dir.path().join("backup.db");
    copy_of(&pool, &backup).await;

    std::fs::remove_file(db.path()).unwrap();
    wait_state(&pool, "unavailable after the retries", |s| matches!(s, PoolState::Unavailable { .. })).await;
    // Both calls start while the file is gone: they wait instead of failing fast.
    let read = tokio::spawn({
        let pool = pool.clone();
        async move { count_items(&pool).await }
    });
    let write = tokio::spawn({
        let pool = pool.clone();
        async move { insert(&pool, "during").await }
    });
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while waits(&pool) < 2 && !read.is_finished() && !write.is_finished() {
        assert!(std::time::Instant::now() < deadline, "only {} calls wait", waits(&pool));
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert!(!read.is_finished() && !write.is_finished(), "the calls are waiting, not answered");

    std::fs::rename(&backup, db.path()).unwrap();
    assert_eq!(read.await.unwrap(), 1, "the read waited and ran on the file put back");
    write.await.unwrap().expect("the write waited and committed after recovery");
    assert_eq!(count_items(&pool).await, 2);
    assert_eq!(waits(&pool), 2);
    pool.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn waiting_for_an_unavailable_pool_ends_at_the_acquire_timeout_with_e2040() {
    let mut db = TestDb::new();
    db.config.retry = quick_retry();
    db.config.pool.wait_when_unavailable = true;
    db.config.pool.acquire_timeout_ms = 300;
    let pool = db.open_with_items().await;
    std::fs::remove_file(db.path()).unwrap();
    wait_state(&pool, "unavailable after the retries", |s| matches!(s, PoolState::Unavailable { .. })).await;

    let started = std::time::Instant::now();
    let err = insert(&pool, "lost").await.unwrap_err();
    assert_eq!(err.code(), "E2040", "{err}");
    assert!(err.to_string().contains("waited 300 ms"), "{err}");
    assert!(started.elapsed() >= Duration::from_millis(300), "answered after {:?}", started.elapsed());
    let err = pool.read(|c| Ok(c.query_row("SELECT 1", [], |r| r.get::<_, i64>(0))?)).await.unwrap_err();
    assert_eq!(err.code(), "E2040", "{err}");
    assert!(!db.path().exists());
    pool.close().await.unwrap();
}

/// Calls that began waiting for an unavailable pool so far.
fn waits(pool: &Pool) -> u64 {
    pool.metrics().counters.get("pool.unavailable_waits").copied().unwrap_or(0)
}
