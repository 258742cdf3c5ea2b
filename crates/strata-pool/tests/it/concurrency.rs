//! Many writers at once: no Busy reaches callers, group commit batches them, and
//! another process holding the lock is waited out.

use std::sync::Arc;
use std::time::Duration;

use crate::{Gate, TestDb, count_items, eventually};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sixteen_tasks_of_500_writes_never_see_busy_and_lose_nothing() {
    let db = TestDb::new();
    let pool = db.open_with_items().await;
    let mut tasks = Vec::new();
    for task in 0..16 {
        let pool = pool.clone();
        tasks.push(tokio::spawn(async move {
            for i in 0..500 {
                let v = format!("{task}-{i}");
                pool.write(move |c| Ok(c.execute("INSERT INTO items(v) VALUES (?1)", [&v])?)).await?;
            }
            Ok::<_, strata_core::Error>(())
        }));
    }
    for task in tasks {
        task.await.expect("task ran").expect("no write failed, Busy included");
    }
    assert_eq!(count_items(&pool).await, 8_000);
    let check: String =
        pool.read(|c| Ok(c.query_row("PRAGMA integrity_check", [], |r| r.get(0))?)).await.unwrap();
    assert_eq!(check, "ok");
    assert_eq!(pool.metrics().failed_writes, 0);
}

/// Writes that queue up while the writer is busy are committed together: each round
/// holds the writer with a [`Gate`], lets 8 tasks queue one write each behind it, and
/// then releases it. However fast or slow the machine, the 8 go in one COMMIT.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn group_commit_uses_far_fewer_commits_than_write_calls() {
    const ROUNDS: u64 = 20;
    const TASKS: u64 = 8;
    let db = TestDb::new();
    let pool = db.open_with_items().await;
    let before = pool.metrics();
    for round in 0..ROUNDS {
        let gate = Gate::hold(&pool).await;
        let writes: Vec<_> = (0..TASKS)
            .map(|task| {
                let pool = pool.clone();
                let v = format!("{round}-{task}");
                tokio::spawn(async move {
                    pool.write(move |c| Ok(c.execute("INSERT INTO items(v) VALUES (?1)", [&v])?)).await
                })
            })
            .collect();
        // The gate's write runs; the 8 wait behind it.
        eventually("8 writes queued behind the gate", || pool.metrics().writes_queued == TASKS + 1).await;
        gate.open().await.unwrap();
        for write in writes {
            write.await.unwrap().unwrap();
        }
    }
    let after = pool.metrics();
    let writes = after.writes - before.writes;
    let commits = after.commits - before.commits;
    assert_eq!(writes, ROUNDS * (TASKS + 1), "8 writes and the gate's per round");
    assert_eq!(count_items(&pool).await, (ROUNDS * TASKS) as i64);
    assert_eq!(commits, ROUNDS * 2, "per round one COMMIT for the gate and one for the 8 queued writes");
    assert_eq!(after.batches - before.batches, commits, "one COMMIT per batch");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lock_held_by_another_process_is_retried_not_returned() {
    let mut db = TestDb::new();
    db.config.sqlite.busy_timeout_ms = 20;
    db.config.retry.initial_delay_ms = 10;
    db.config.retry.max_delay_ms = 50;
    db.config.retry.max_attempts = 1_000;
    db.config.retry.max_elapsed_ms = 60_000;
    let pool = db.open_with_items().await;

    let other = rusqlite::Connection::open(db.path()).unwrap();
    other.execute_batch("BEGIN IMMEDIATE; INSERT INTO items(v) VALUES ('other')").unwrap();
    let ours = {
        let pool = pool.clone();
        tokio::spawn(async move {
            pool.write(|c| Ok(c.execute("INSERT INTO items(v) VALUES ('ours')", [])?)).await
        })
    };
    // The other process lets go only once our write has met its lock and retried.
    eventually("a busy retry", || pool.metrics().busy_retries > 0).await;
    other.execute_batch("COMMIT").unwrap();
    ours.await.unwrap().expect("write waits the lock out");
    assert_eq!(count_items(&pool).await, 2);
    assert!(pool.metrics().busy_retries > 0, "the batch met Busy and was retried");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn busy_past_the_retry_policy_is_a_typed_busy_error() {
    let mut db = TestDb::new();
    db.config.sqlite.busy_timeout_ms = 10;
    db.config.retry.initial_delay_ms = 5;
    db.config.retry.max_delay_ms = 10;
    db.config.retry.max_attempts = 3;
    let pool = db.open_with_items().await;
    let other = rusqlite::Connection::open(db.path()).unwrap();
    other.execute_batch("BEGIN IMMEDIATE").unwrap();
    let err = pool.write(|c| Ok(c.execute("INSERT INTO items(v) VALUES ('x')", [])?)).await.unwrap_err();
    assert_eq!(err.code(), "E2008");
    assert!(err.is_retryable());
    other.execute_batch("ROLLBACK").unwrap();
    pool.write(|c| Ok(c.execute("INSERT INTO items(v) VALUES ('y')", [])?))
        .await
        .expect("the next write works");
    assert_eq!(count_items(&pool).await, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reader_exhaustion_times_out_within_the_bound() {
    let mut db = TestDb::new();
    db.config.pool.readers = 1;
    db.config.pool.acquire_timeout_ms = 200;
    let pool = db.open().await;
    let gate = Arc::new(std::sync::Barrier::new(2));
    let (release, release_rx) = std::sync::mpsc::channel::<()>();
    let held = {
        let pool = pool.clone();
        let gate = Arc::clone(&gate);
        tokio::spawn(async move {
            pool.read(move |_| {
                gate.wait();
                // Held until the test has its error.
                let _ = release_rx.recv();
                Ok(())
            })
            .await
        })
    };
    tokio::task::spawn_blocking(move || gate.wait()).await.unwrap();
    let started = std::time::Instant::now();
    let err = pool.read(|_| Ok(())).await.unwrap_err();
    let waited = started.elapsed();
    drop(release);
    assert_eq!(err.code(), "E2005", "{err}");
    assert!(err.is_retryable());
    // The bound, plus room for a loaded machine's scheduling; never a hang.
    assert!(waited >= Duration::from_millis(190) && waited < Duration::from_secs(2), "waited {waited:?}");
    held.await.unwrap().unwrap();
    assert_eq!(pool.metrics().acquire_timeouts, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_write_queue_is_back_pressure_ending_in_the_timeout_error() {
    let mut db = TestDb::new();
    db.config.pool.write_queue = 1;
    db.config.pool.acquire_timeout_ms = 150;
    let pool = db.open_with_items().await;
    let gate = Gate::hold(&pool).await;
    // The writer is busy; one write fits in the queue, the next one cannot.
    let queued = {
        let pool = pool.clone();
        tokio::spawn(
            async move { pool.write(|c| Ok(c.execute("INSERT INTO items(v) VALUES ('q')", [])?)).await },
        )
    };
    eventually("the second write queued", || pool.metrics().writes_queued == 2).await;
    let started = std::time::Instant::now();
    let err = pool.write(|c| Ok(c.execute("INSERT INTO items(v) VALUES ('late')", [])?)).await.unwrap_err();
    assert_eq!(err.code(), "E2005");
    let waited = started.elapsed();
    assert!(waited >= Duration::from_millis(140) && waited < Duration::from_secs(5), "{waited:?}");
    gate.open().await.unwrap();
    queued.await.unwrap().unwrap();
    assert_eq!(count_items(&pool).await, 1, "the timed-out write did not run");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_table_locked_by_a_statement_of_the_same_connection_is_not_retried() {
    let db = TestDb::new();
    let pool = db.open_with_items().await;
    pool.write(|c| Ok(c.execute_batch("INSERT INTO items(v) VALUES ('a'), ('b')")?)).await.unwrap();
    let runs = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counted = Arc::clone(&runs);
    let err = pool
        .write(move |c| {
            counted.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            // A SELECT still stepping holds the table: SQLite answers SQLITE_LOCKED,
            // which no retry can clear while the statement lives.
            let mut select = c.prepare("SELECT v FROM items")?;
            let mut rows = select.query([])?;
            let _first = rows.next()?;
            c.execute_batch("DROP TABLE items")?;
            Ok(())
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), "E2010", "{err}");
    assert_eq!(err.sqlite_code(), Some(rusqlite::ffi::SQLITE_LOCKED));
    assert!(!err.is_retryable());
    assert_eq!(runs.load(std::sync::atomic::Ordering::SeqCst), 1, "the closure ran once, not once per retry");
    assert_eq!(pool.metrics().busy_retries, 0);
    assert_eq!(count_items(&pool).await, 2, "the table and its rows are still there");
}
