//! What `read` and `write` promise: readers cannot write, a failing or panicking
//! closure loses only its own changes (and a closure run again for it answers from
//! the run that committed), open transactions are never lent again,
//! statements are timed, closures and commits are timed for the work hook, and close
//! leaves a clean file.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use strata_core::{ConstraintKind, Error, ErrorKind};
use strata_pool::Pool;

use crate::{Gate, TestDb, count_items, eventually, item_values};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reader_cannot_write_and_gets_a_typed_error() {
    let db = TestDb::new();
    let pool = db.open_with_items().await;
    let err = pool.read(|c| Ok(c.execute("INSERT INTO items(v) VALUES ('x')", [])?)).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::ReadOnly, "{err}");
    assert_eq!(err.code(), "E4003");
    assert!(!err.hint().is_empty());
    assert_eq!(count_items(&pool).await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_failing_or_panicking_closure_loses_only_its_own_savepoint() {
    let db = TestDb::new();
    let pool = db.open_with_items().await;
    let batches_before = pool.metrics().batches;

    // Hold the writer busy until the four writes below are queued: they share a batch.
    let gate = Gate::hold(&pool).await;
    let ok1 = pool.write(|c| Ok(c.execute("INSERT INTO items(v) VALUES ('kept-1')", [])?));
    let failing = pool.write(|c| {
        c.execute("INSERT INTO items(v) VALUES ('gone-err')", [])?;
        Err::<(), _>(Error::invalid("demo", "the closure refuses"))
    });
    let panicking = pool.write(|c| -> strata_core::Result<()> {
        c.execute("INSERT INTO items(v) VALUES ('gone-panic')", [])?;
        panic!("closure panicked on purpose");
    });
    let ok2 = pool.write(|c| Ok(c.execute("INSERT INTO items(v) VALUES ('kept-2')", [])?));
    let release = async {
        eventually("the gate and four writes queued", || pool.metrics().writes_queued == 5).await;
        gate.open().await
    };
    let (ok1, failing, panicking, ok2, gate) = tokio::join!(ok1, failing, panicking, ok2, release);
    gate.unwrap();

    ok1.unwrap();
    ok2.unwrap();
    assert_eq!(failing.unwrap_err().code(), "E6001");
    let panicked = panicking.unwrap_err();
    assert_eq!(panicked.code(), "E2007");
    assert!(panicked.to_string().contains("closure panicked on purpose"), "{panicked}");
    assert_eq!(
        pool.metrics().batches - batches_before,
        2,
        "the gate, then the four writes in one transaction"
    );

    let rows = item_values(&pool).await;
    assert_eq!(rows, vec!["kept-1", "kept-2"]);
    pool.write(|c| Ok(c.execute("INSERT INTO items(v) VALUES ('next')", [])?))
        .await
        .expect("the next write works");
    assert_eq!(count_items(&pool).await, 3);
    assert_eq!(pool.metrics().panicked_writes, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_closure_run_again_for_a_failing_neighbour_answers_from_the_run_that_committed() {
    let db = TestDb::new();
    let pool = db.open_with_items().await;
    let runs = Arc::new(std::sync::atomic::AtomicUsize::new(0));

    // The gate holds the writer until both writes are queued: they share a batch.
    let gate = Gate::hold(&pool).await;
    let counted = {
        let runs = Arc::clone(&runs);
        pool.write(move |c| {
            let run = runs.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 1;
            c.execute("INSERT INTO items(v) VALUES (?1)", [format!("run-{run}")])?;
            Ok(run)
        })
    };
    let failing = pool.write(|c| {
        c.execute("INSERT INTO items(v) VALUES ('gone')", [])?;
        Err::<(), _>(Error::invalid("demo", "the closure refuses"))
    });
    let release = async {
        eventually("the gate and two writes queued", || pool.metrics().writes_queued == 3).await;
        gate.open().await
    };
    let (counted, failing, gate) = tokio::join!(counted, failing, release);
    gate.unwrap();
    assert_eq!(failing.unwrap_err().code(), "E6001");

    // Whichever run committed, the answer is that run's, and it committed once.
    let run = counted.unwrap();
    assert_eq!(run, runs.load(std::sync::atomic::Ordering::SeqCst), "the answer is the last run's");
    let rows = item_values(&pool).await;
    assert_eq!(rows, vec![format!("run-{run}")]);
    assert_eq!(pool.metrics().failed_writes, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_constraint_failure_is_typed_and_keeps_the_committed_row() {
    let db = TestDb::new();
    let pool = db.open_with_items().await;
    pool.write(|c| Ok(c.execute("INSERT INTO items(v) VALUES ('a')", [])?)).await.unwrap();
    let err = pool.write(|c| Ok(c.execute("INSERT INTO items(v) VALUES ('a')", [])?)).await.unwrap_err();
    assert_eq!(err.constraint(), Some(ConstraintKind::Unique));
    assert_eq!(err.code(), "E4001");
    assert_eq!(count_items(&pool).await, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_closure_that_commits_by_hand_fails_alone() {
    let db = TestDb::new();
    let pool = db.open_with_items().await;
    let gate = {
        let pool = pool.clone();
        tokio::spawn(async move {
            pool.write(|_| {
                std::thread::sleep(Duration::from_millis(200));
                Ok(())
            })
            .await
        })
    };
    tokio::time::sleep(Duration::from_millis(50)).await;
    let rogue = pool.write(|c| Ok(c.execute_batch("INSERT INTO items(v) VALUES ('rogue'); COMMIT;")?));
    let fine = pool.write(|c| Ok(c.execute("INSERT INTO items(v) VALUES ('fine')", [])?));
    let (rogue, fine) = tokio::join!(rogue, fine);
    gate.await.unwrap().unwrap();
    assert!(rogue.is_err(), "a closure may not end the batch transaction");
    fine.unwrap();
    let n: i64 = pool
        .read(|c| Ok(c.query_row("SELECT count(*) FROM items WHERE v = 'fine'", [], |r| r.get(0))?))
        .await
        .unwrap();
    assert_eq!(n, 1);
}

/// Which of the pool's read calls a test goes through.
#[derive(Clone, Copy)]
enum Via {
    /// `Pool::read`: the closure runs on a blocking thread.
    Blocking,
    /// `Pool::read_inline`: the closure runs on the caller's thread.
    Inline,
}

async fn read_via<T: Send + 'static>(
    pool: &Pool,
    via: Via,
    f: impl FnOnce(&rusqlite::Connection) -> strata_core::Result<T> + Send + 'static,
) -> strata_core::Result<T> {
    match via {
        Via::Blocking => pool.read(f).await,
        Via::Inline => pool.read_inline(f).await,
    }
}

/// With one reader: a read leaves a transaction open, a writer commits, and the next
/// read (through `via` too) is not inside a transaction and sees the row; the reader
/// left open was discarded. Answers the database (its directory lives as long) and
/// the pool.
async fn a_reader_left_in_a_transaction_is_discarded(via: Via) -> (TestDb, Pool) {
    let mut db = TestDb::new();
    db.config.pool.readers = 1;
    let pool = db.open_with_items().await;
    read_via(&pool, via, |c| Ok(c.execute_batch("BEGIN; SELECT count(*) FROM items;")?)).await.unwrap();
    // A writer commits in between: a reader stuck in the old transaction would not see it.
    pool.write(|c| Ok(c.execute("INSERT INTO items(v) VALUES ('new')", [])?)).await.unwrap();
    let (autocommit, n) = read_via(&pool, via, |c| {
        Ok((c.is_autocommit(), c.query_row("SELECT count(*) FROM items", [], |r| r.get::<_, i64>(0))?))
    })
    .await
    .unwrap();
    assert!(autocommit, "the next reader is not inside a transaction");
    assert_eq!(n, 1, "and sees the committed row");
    assert_eq!(pool.metrics().discarded_readers, 1);
    (db, pool)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_transaction_left_open_is_never_handed_to_the_next_reader() {
    a_reader_left_in_a_transaction_is_discarded(Via::Blocking).await;
}

/// Installs `pool`'s statement hook: the SQL of every timed statement, in order.
fn record_statements(pool: &Pool) -> Arc<Mutex<Vec<String>>> {
    let seen = Arc::new(Mutex::new(Vec::<String>::new()));
    let sink = Arc::clone(&seen);
    pool.set_statement_hook(Arc::new(move |t: &strata_pool::StatementTiming<'_>| {
        sink.lock().unwrap().push(t.sql.to_string());
    }))
    .unwrap();
    seen
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_statement_is_timed_and_slow_ones_are_counted() {
    let mut db = TestDb::new();
    db.config.slow_query_ms = 0; // every statement counts as slow
    let pool = db.open_with_items().await;
    let seen = record_statements(&pool);
    let again = pool.set_statement_hook(Arc::new(|_: &strata_pool::StatementTiming<'_>| {}));
    assert_eq!(again.unwrap_err().code(), "E6001", "one hook per pool");

    let slow_before = pool.metrics().slow_statements;
    pool.write(|c| Ok(c.execute("INSERT INTO items(v) VALUES (?1)", ["w"])?)).await.unwrap();
    pool.read(|c| Ok(c.query_row("SELECT v FROM items WHERE id = ?1", [1], |r| r.get::<_, String>(0))?))
        .await
        .unwrap();
    let seen = seen.lock().unwrap().clone();
    assert!(seen.iter().any(|s| s.contains("INSERT INTO items")), "{seen:?}");
    assert!(seen.iter().any(|s| s.contains("SELECT v FROM items WHERE id = ?1")), "{seen:?}");
    let metrics = pool.metrics();
    let timed = seen.len() as u64;
    assert!(timed >= 2);
    assert_eq!(
        metrics.slow_statements - slow_before,
        timed,
        "with a 0 ms threshold every timed statement is slow"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reads_writes_and_commits_are_timed_with_the_monotonic_clock() {
    let db = TestDb::new();
    let pool = db.open_with_items().await;
    let seen = Arc::new(Mutex::new(Vec::<strata_pool::WorkTiming>::new()));
    let sink = Arc::clone(&seen);
    pool.set_work_hook(Arc::new(move |t: &strata_pool::WorkTiming| sink.lock().unwrap().push(*t))).unwrap();
    let again = pool.set_work_hook(Arc::new(|_: &strata_pool::WorkTiming| {}));
    assert_eq!(again.unwrap_err().code(), "E6001", "one work hook per pool");

    pool.write(|c| Ok(c.execute("INSERT INTO items(v) VALUES (?1)", ["w"])?)).await.unwrap();
    pool.read(|c| Ok(c.query_row("SELECT v FROM items WHERE id = ?1", [1], |r| r.get::<_, String>(0))?))
        .await
        .unwrap();
    pool.read_inline(|c| Ok(c.query_row("SELECT count(*) FROM items", [], |r| r.get::<_, i64>(0))?))
        .await
        .unwrap();
    // A closure that sleeps 2 ms is timed at 2 ms at least: the whole closure is timed.
    pool.read(|_| {
        std::thread::sleep(Duration::from_millis(2));
        Ok(())
    })
    .await
    .unwrap();
    let seen = seen.lock().unwrap().clone();
    let of = |work: strata_pool::PoolWork| seen.iter().filter(|t| t.work == work).collect::<Vec<_>>();
    assert_eq!(of(strata_pool::PoolWork::Write).len(), 1, "{seen:?}");
    assert_eq!(of(strata_pool::PoolWork::Commit).len(), 1, "{seen:?}");
    let reads = of(strata_pool::PoolWork::Read);
    assert_eq!(reads.len(), 3, "read and read_inline: {seen:?}");
    // SQLite's profile clock reads most of these statements as 0 ms; this clock never
    // reads a closure that ran a statement as zero.
    assert!(seen.iter().all(|t| t.duration > Duration::ZERO), "{seen:?}");
    assert!(reads[2].duration >= Duration::from_millis(2), "{seen:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn close_finishes_work_checkpoints_and_removes_the_wal() {
    let db = TestDb::new();
    let pool = db.open_with_items().await;
    let pending: Vec<_> = (0..20)
        .map(|i| {
            let pool = pool.clone();
            tokio::spawn(async move {
                pool.write(move |c| Ok(c.execute("INSERT INTO items(v) VALUES (?1)", [i])?)).await
            })
        })
        .collect();
    for p in pending {
        p.await.unwrap().unwrap();
    }
    let report = pool.close().await.expect("close");
    assert!(report.optimized);
    assert!(!report.checkpoint_busy);
    assert!(report.wal_removed, "{report:?}");
    let wal = db.dir.path().join("test.db-wal");
    assert!(!wal.exists() && !db.dir.path().join("test.db-shm").exists());
    assert_eq!(pool.write(|_| Ok(())).await.unwrap_err().code(), "E2006");
    assert_eq!(pool.read(|_| Ok(())).await.unwrap_err().code(), "E2006");
    let raw = rusqlite::Connection::open(db.path()).unwrap();
    let n: i64 = raw.query_row("SELECT count(*) FROM items", [], |r| r.get(0)).unwrap();
    assert_eq!(n, 20, "everything written before close is in the file");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reads_see_committed_writes_immediately() {
    let db = TestDb::new();
    let pool = db.open_with_items().await;
    for i in 0..10 {
        pool.write(move |c| Ok(c.execute("INSERT INTO items(v) VALUES (?1)", [i])?)).await.unwrap();
        assert_eq!(count_items(&pool).await, i + 1);
    }
    tokio::time::sleep(Duration::from_millis(1)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exclusive_work_runs_outside_any_transaction_between_batches() {
    let db = TestDb::new();
    let pool = db.open_with_items().await;
    let fk_off_inside = pool
        .exclusive(|c| {
            assert!(c.is_autocommit(), "no batch transaction around an exclusive closure");
            c.execute_batch("PRAGMA foreign_keys = OFF")?;
            let off: i64 = c.query_row("PRAGMA foreign_keys", [], |r| r.get(0))?;
            c.execute_batch(
                "BEGIN IMMEDIATE; INSERT INTO items(v) VALUES ('own-tx'); COMMIT; PRAGMA foreign_keys = ON;",
            )?;
            Ok(off)
        })
        .await
        .unwrap();
    assert_eq!(fk_off_inside, 0, "a PRAGMA that is a no-op inside a transaction takes effect");
    assert_eq!(count_items(&pool).await, 1);

    let err =
        pool.exclusive(|c| Ok(c.execute_batch("BEGIN; INSERT INTO items(v) VALUES ('left-open');")?)).await;
    assert_eq!(err.unwrap_err().code(), "E6001", "a transaction left open is refused");
    assert_eq!(count_items(&pool).await, 1, "and rolled back");
    pool.write(|c| Ok(c.execute("INSERT INTO items(v) VALUES ('after')", [])?)).await.expect("writes go on");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn read_only_inspection_changes_nothing_and_refuses_writes() {
    let db = TestDb::new();
    {
        let raw = rusqlite::Connection::open(db.path()).unwrap();
        raw.execute_batch("CREATE TABLE t(x); INSERT INTO t VALUES (1);").unwrap();
    }
    let before = std::fs::read(db.path()).unwrap();
    let conn = strata_pool::open_read_only(&db.path()).unwrap();
    let mode: String = conn.query_row("PRAGMA journal_mode", [], |r| r.get(0)).unwrap();
    assert_eq!(mode, "delete", "the journal mode of someone else's file is left alone");
    let err = strata_core::Error::from(conn.execute("INSERT INTO t VALUES (2)", []).unwrap_err());
    assert_eq!(err.kind(), ErrorKind::ReadOnly);
    drop(conn);
    assert_eq!(std::fs::read(db.path()).unwrap(), before);

    let missing = strata_pool::open_read_only(&db.dir.path().join("nope.db")).unwrap_err();
    assert_eq!(missing.code(), "E2004");
    std::fs::write(db.dir.path().join("notes.txt"), "not a database at all, just some text to fill a page")
        .unwrap();
    let text = strata_pool::open_read_only(&db.dir.path().join("notes.txt")).unwrap_err();
    assert_eq!(text.code(), "E5002");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_inline_read_sees_committed_rows_is_timed_and_cannot_write() {
    let mut db = TestDb::new();
    db.config.slow_query_ms = 0; // every statement counts as slow
    let pool = db.open_with_items().await;
    let seen = record_statements(&pool);
    pool.write(|c| Ok(c.execute("INSERT INTO items(v) VALUES ('inline')", [])?)).await.unwrap();
    let v: String = pool
        .read_inline(|c| Ok(c.query_row("SELECT v FROM items WHERE id = ?1", [1], |r| r.get(0))?))
        .await
        .unwrap();
    assert_eq!(v, "inline");
    assert!(seen.lock().unwrap().iter().any(|s| s.contains("SELECT v FROM items WHERE id = ?1")));

    let err = pool.read_inline(|c| Ok(c.execute("DELETE FROM items", [])?)).await.unwrap_err();
    assert_eq!(err.code(), "E4003", "{err}");
    assert_eq!(count_items(&pool).await, 1, "nothing deleted");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_inline_read_that_leaves_a_transaction_or_panics_loses_its_reader() {
    let (_db, pool) = a_reader_left_in_a_transaction_is_discarded(Via::Inline).await;
    let panicking = pool.clone();
    let joined = tokio::spawn(async move {
        panicking
            .read_inline(|c| -> strata_core::Result<()> {
                c.execute_batch("BEGIN; SELECT 1;")?;
                panic!("a bug in an inline read")
            })
            .await
    })
    .await;
    assert!(joined.unwrap_err().is_panic(), "the panic reaches the caller");
    assert_eq!(pool.metrics().discarded_readers, 2, "the reader it panicked on is not lent again");
    let autocommit = pool.read_inline(|c| Ok(c.is_autocommit())).await.unwrap();
    assert!(autocommit);
    assert_eq!(count_items(&pool).await, 1);
}
