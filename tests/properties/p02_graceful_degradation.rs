//! Property 2: Graceful degradation on connection failure.

use std::time::Duration;

use strata::repo::{NewMetric, Recorded};
use strata::{Cause, Config, Database, ErrorKind, Pool, PoolState};

use crate::p01_connection_recovery::{insert, open};

async fn values(pool: &Pool) -> strata::Result<Vec<String>> {
    pool.read(|c| {
        let mut stmt = c.prepare("SELECT v FROM items ORDER BY id")?;
        let rows = stmt.query_map([], |r| r.get(0))?.collect::<Result<_, _>>()?;
        Ok(rows)
    })
    .await
}

/// Proves that a full disk (the database's `max_page_count` reached) degrades instead
/// of failing everything: the write that does not fit fails with its own typed error
/// (E5003, kind storage), the pool says why (`Degraded`, `DiskFull`), every committed
/// row stays readable and the file stays intact, and once there is room the next
/// commit makes the pool healthy again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn p02_graceful_degradation_on_a_full_disk_keeps_reads_and_committed_data() {
    let dir = tempfile::tempdir().unwrap();
    let db = open(&Config::for_path(dir.path().join("app.db"))).await;
    let pool = db.pool();
    insert(pool, "committed").await.unwrap();
    pool.exclusive(|c| {
        let pages: i64 = c.query_row("PRAGMA page_count", [], |r| r.get(0))?;
        c.query_row(&format!("PRAGMA max_page_count = {pages}"), [], |r| r.get::<_, i64>(0))?;
        Ok(())
    })
    .await
    .unwrap();

    let err = insert(pool, &"x".repeat(256 * 1024)).await.unwrap_err();
    assert_eq!((err.code(), err.kind()), ("E5003", ErrorKind::Storage), "{err}");
    assert!(!err.hint().is_empty());
    assert!(matches!(db.state(), PoolState::Degraded { cause: Cause::DiskFull, .. }), "{:?}", db.state());
    assert_eq!(values(pool).await.unwrap(), ["committed"], "reads go on, committed data is intact");
    let check: String =
        pool.read(|c| Ok(c.query_row("PRAGMA quick_check", [], |r| r.get(0))?)).await.unwrap();
    assert_eq!(check, "ok");

    pool.exclusive(|c| {
        Ok(c.query_row("PRAGMA max_page_count = 1000000", [], |r| r.get::<_, i64>(0)).map(drop)?)
    })
    .await
    .unwrap();
    insert(pool, "after").await.unwrap();
    assert_eq!(db.state(), PoolState::Healthy);
    assert_eq!(values(pool).await.unwrap(), ["committed", "after"]);
    db.close().await.unwrap();
}

/// Proves that a database that may only be read degrades to reading: a writer refused
/// with `SQLITE_READONLY` (as on a volume remounted read-only) fails writes with the
/// typed E4003 while reads go on (`Degraded`, `ReadOnly`), and a read-only open of the
/// same file serves reads and refuses writes with E2011 without becoming unhealthy.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn p02_graceful_degradation_on_a_read_only_database_keeps_reads() {
    let dir = tempfile::tempdir().unwrap();
    let config = Config::for_path(dir.path().join("app.db"));
    let db = open(&config).await;
    let pool = db.pool();
    insert(pool, "committed").await.unwrap();

    pool.exclusive(|c| Ok(c.execute_batch("PRAGMA query_only = ON")?)).await.unwrap();
    let err = insert(pool, "refused").await.unwrap_err();
    assert_eq!((err.code(), err.kind()), ("E4003", ErrorKind::ReadOnly), "{err}");
    assert!(matches!(db.state(), PoolState::Degraded { cause: Cause::ReadOnly, .. }), "{:?}", db.state());
    assert_eq!(values(pool).await.unwrap(), ["committed"]);

    let inspect = Database::open_read_only(&config).await.unwrap();
    assert_eq!(values(inspect.pool()).await.unwrap(), ["committed"]);
    let err = insert(inspect.pool(), "refused").await.unwrap_err();
    assert_eq!((err.code(), err.kind()), ("E2011", ErrorKind::ReadOnly), "{err}");
    assert_eq!(inspect.state(), PoolState::Healthy);
    inspect.close().await.unwrap();

    pool.exclusive(|c| Ok(c.execute_batch("PRAGMA query_only = OFF")?)).await.unwrap();
    insert(pool, "accepted").await.unwrap();
    assert_eq!(db.state(), PoolState::Healthy);
    db.close().await.unwrap();
}

/// Proves that while the database is unavailable (its file removed), calls that need
/// it fail fast with a typed error (E2040, kind unavailable, with a hint) instead of
/// hanging, and everything that does not touch the pool keeps working: the running
/// config, the state and its watch, config validation, and the error catalog's
/// explanations.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn p02_graceful_degradation_keeps_work_without_the_database_going_while_it_is_unavailable() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("app.db");
    let db = open(&Config::for_path(&path)).await;
    insert(db.pool(), "committed").await.unwrap();
    std::fs::remove_file(&path).unwrap();
    let mut states = db.watch_state();
    tokio::time::timeout(Duration::from_secs(30), states.wait_for(|s| !s.is_healthy()))
        .await
        .expect("the removal is noticed within 30 s")
        .unwrap();

    let started = std::time::Instant::now();
    let err = values(db.pool()).await.unwrap_err();
    assert_eq!((err.code(), err.kind()), ("E2040", ErrorKind::Unavailable), "{err}");
    assert!(err.hint().contains("retry later"), "{}", err.hint());
    assert!(started.elapsed() < Duration::from_secs(5), "the call failed fast, not after a timeout");

    assert_eq!(db.config().path, path);
    assert!(db.state().cause().is_some());
    assert_eq!(Config::from_toml_str("[pool]\nreaders = 0\n").unwrap_err().code(), "E1003");
    let e2040 =
        strata::core::CATALOG.iter().find(|info| info.code == "E2040").expect("E2040 is in the catalog");
    assert!(!e2040.hint.is_empty() && !e2040.cause.is_empty());
    db.close().await.unwrap();
}

/// Every metrics sample, in id order, as (name, uid).
async fn metric_rows(db: &Database) -> Vec<(String, String)> {
    db.pool()
        .read(|c| {
            let mut stmt = c.prepare("SELECT name, uid FROM metrics ORDER BY id")?;
            let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?.collect::<Result<_, _>>()?;
            Ok(rows)
        })
        .await
        .unwrap()
}

/// Proves that metrics samples recorded while the database is unavailable (its file
/// moved away) are not lost: `record` and `record_batch` answer that they spilled
/// (E2040) to `<db>.metrics-spill.jsonl`; once the file is back, the running
/// replayer puts each in `metrics` exactly once, in record order, under the uid it
/// was made with; a replay of the same lines run again (a crash before the truncate)
/// and a reopen add nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn p02_graceful_degradation_metrics_spill_while_unavailable_and_replay_once() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = Config::for_path(dir.path().join("app.db"));
    config.monitor.enabled = false;
    let db = Database::open(&config).await.unwrap();
    let metrics = db.metrics();
    assert!(!metrics.record(NewMetric::now("before", 1.0)).await.unwrap().is_spilled());
    db.pool().exclusive(|c| Ok(c.execute_batch("PRAGMA wal_checkpoint(TRUNCATE)")?)).await.unwrap();

    let away = dir.path().join("away.db");
    std::fs::rename(&config.path, &away).unwrap();
    let mut states = db.watch_state();
    tokio::time::timeout(Duration::from_secs(30), states.wait_for(|s| !s.is_healthy()))
        .await
        .expect("the move is noticed within 30 s")
        .unwrap();
    let mut uids = Vec::new();
    for name in ["gone.1", "gone.2"] {
        match metrics.record(NewMetric::now(name, 2.0)).await.unwrap() {
            Recorded::Spilled { sample, cause, .. } => {
                assert!(cause.starts_with("E2040"), "{cause}");
                uids.push(sample.uid);
            }
            stored => panic!("{name} was not spilled: {stored:?}"),
        }
    }
    let batch =
        metrics.record_batch(vec![NewMetric::now("gone.3", 3.0), NewMetric::now("gone.4", 4.0)]).await;
    assert_eq!(batch.as_ref().map(|b| (b.stored, b.spilled)).unwrap(), (0, 2), "{batch:?}");
    let spill = strata::repo::metrics::spill_path(&config.path);
    let spilled = std::fs::read_to_string(&spill).unwrap();
    assert_eq!(spilled.lines().count(), 4);

    std::fs::rename(&away, &config.path).unwrap();
    tokio::time::timeout(Duration::from_secs(30), states.wait_for(PoolState::is_healthy))
        .await
        .expect("the pool recovers within 30 s")
        .unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while metric_rows(&db).await.len() < 5 {
        assert!(tokio::time::Instant::now() < deadline, "never replayed: {:?}", db.state());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let rows = metric_rows(&db).await;
    let names: Vec<&str> = rows.iter().map(|(name, _)| name.as_str()).collect();
    assert_eq!(names, ["before", "gone.1", "gone.2", "gone.3", "gone.4"]);
    assert_eq!(rows[1..3].iter().map(|(_, uid)| uid.clone()).collect::<Vec<_>>(), uids);

    // The same lines again, as a replay that crashed before its truncate leaves them.
    std::fs::write(&spill, &spilled).unwrap();
    let again = metrics.replay().await.unwrap();
    assert_eq!((again.entries, again.replayed, again.skipped), (4, 0, 4));
    db.close().await.unwrap();
    std::fs::write(&spill, &spilled).unwrap();
    let db = Database::open(&config).await.unwrap();
    assert_eq!(db.open_report().metrics_replay.as_ref().map(|r| r.skipped), Some(4));
    assert_eq!(metric_rows(&db).await, rows, "each sample is in the table once");
    db.close().await.unwrap();
}
