//! Property 10: Health monitoring data collection.
//!
//! The health report and the pool's metrics describe the database as it is: the
//! page figures, file sizes and schema version match what SQLite and the file system
//! say independently, the metrics count every write, failure and panic, and the
//! background monitor collects reports (quick, and full at its interval) on its own.

use std::path::Path;
use std::time::{Duration, Instant};

use proptest::prelude::*;
use strata::ops::{CheckLevel, Status};
use strata::schema::Migration;
use strata::{Config, Database, Error, MigrationSet, Migrations};

fn items_set() -> MigrationSet {
    let up = "CREATE TABLE items(id INTEGER PRIMARY KEY, v TEXT NOT NULL);\nCREATE TABLE other(x);";
    MigrationSet::new([Migration::new("V1__items", up, None).unwrap()]).unwrap()
}

/// A config without disk-space thresholds (the test machine's free space is not the
/// subject) and without background checkpoints, so the `-wal` holds still.
fn config(path: &Path) -> Config {
    let mut config = Config::for_path(path);
    config.monitor.free_disk_warn_mb = 0;
    config.monitor.free_disk_critical_mb = 0;
    config.sqlite.wal_autocheckpoint = 0;
    config
}

/// `PRAGMA page_count`, `page_size` and `freelist_count`, from a plain connection.
fn pragmas(path: &Path) -> (u64, u64, u64) {
    let conn = rusqlite::Connection::open(path).unwrap();
    let get = |p: &str| conn.query_row(&format!("PRAGMA {p}"), [], |r| r.get::<_, i64>(0)).unwrap() as u64;
    (get("page_count"), get("page_size"), get("freelist_count"))
}

fn file_len(path: &str) -> u64 {
    std::fs::metadata(path).map(|m| m.len()).unwrap_or(0)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 10, ..ProptestConfig::default() })]

    /// Proves that the collected figures are the database's own: after `writes`
    /// writes of rows of `size` bytes (some failing, some panicking), a quick health
    /// report's page count, page size, freelist, database and WAL sizes equal what a
    /// plain SQLite connection and the file system report, its schema figures
    /// (tables, newest migration) are right, and the pool's metrics count exactly the
    /// writes, failed and panicked ones. A stale or invented figure fails it.
    #[test]
    fn p10_health_monitoring_data_collection_reports_the_figures_sqlite_and_the_disk_report(
        writes in prop::collection::vec((1usize..20, 1usize..3000, 0u8..10), 1..12),
    ) {
        let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("app.db");
        runtime.block_on(async {
            let db = Database::open_with(&config(&path), Migrations::from(items_set())).await.unwrap();
            let before = db.pool().metrics();
            let (mut failed, mut panicked) = (0u64, 0u64);
            for &(rows, size, fate) in &writes {
                let result = db.pool().write(move |c| {
                    for _ in 0..rows {
                        c.execute("INSERT INTO items(v) VALUES (?1)", ["x".repeat(size)])?;
                    }
                    match fate {
                        0 => Err(Error::invalid("write", "fails on purpose")),
                        1 => panic!("panics on purpose"),
                        _ => Ok(()),
                    }
                }).await;
                match fate {
                    0 => failed += 1,
                    1 => panicked += 1,
                    _ => prop_assert!(result.is_ok()),
                }
            }
            // Taken before the health check, which reads the writer's settings.
            let after = db.pool().metrics();
            prop_assert_eq!(after.writes - before.writes, writes.len() as u64);
            prop_assert_eq!(after.failed_writes - before.failed_writes, failed);
            prop_assert_eq!(after.panicked_writes - before.panicked_writes, panicked);
            prop_assert!(after.commits > before.commits || failed + panicked == writes.len() as u64);
            let report = db.health(CheckLevel::Quick).await.unwrap();
            let (page_count, page_size, freelist) = pragmas(&path);
            prop_assert_eq!(report.storage.page_count, page_count);
            prop_assert_eq!(report.storage.page_size, page_size);
            prop_assert_eq!(report.storage.freelist_count, freelist);
            prop_assert_eq!(report.storage.db_bytes, file_len(path.to_str().unwrap()));
            prop_assert_eq!(report.storage.wal_bytes, file_len(&format!("{}-wal", path.display())));
            prop_assert!(report.storage.wal_bytes > 0, "the writes are in the WAL");
            let schema = report.schema.clone().expect("schema figures");
            prop_assert_eq!(schema.migration, Some(1));
            // items, other, and the two migration history tables.
            prop_assert_eq!(schema.tables, 4, "{:?}", schema);
            prop_assert_eq!(report.status, Status::Ok, "{:?}", report.findings);
            prop_assert!(report.integrity.is_empty());

            db.close().await.unwrap();
            Ok(())
        })?;
    }
}

/// Proves that the background monitor collects data by itself: with
/// `monitor.enabled`, a 1 s interval and a full check every second, the monitor
/// takes reports (their count grows), runs a full integrity check, and its latest
/// report describes the live file (the page count of rows written after it
/// started). A monitor that stopped collecting, or never ran a full check, fails it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn p10_health_monitoring_data_collection_the_monitor_collects_reports_on_its_own() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("app.db");
    let mut config = config(&path);
    config.monitor.enabled = true;
    config.monitor.interval_secs = 1;
    config.monitor.full_check_secs = 1;
    let db = Database::open_with(&config, Migrations::from(items_set())).await.unwrap();
    let monitor = db.monitor().expect("the monitor runs");
    db.pool()
        .write(|c| {
            for i in 0..500 {
                c.execute("INSERT INTO items(v) VALUES (?1)", [format!("{i:0>500}")])?;
            }
            Ok(())
        })
        .await
        .unwrap();
    let written_pages = pragmas(&path).0;
    let deadline = Instant::now() + Duration::from_secs(30);
    let state = loop {
        let state = monitor.state();
        let current = state.last.as_ref().is_some_and(|r| r.storage.page_count == written_pages);
        if state.checks >= 3 && state.last_full_check.is_some() && current {
            break state;
        }
        assert!(Instant::now() < deadline, "the monitor collected too little in 30 s: {state:#?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(state.last_error.is_none(), "{:?}", state.last_error);
    let last = state.last.unwrap();
    assert_eq!(last.status, Status::Ok, "{:?}", last.findings);
    assert!(last.storage.db_bytes + last.storage.wal_bytes >= 500 * 500, "{:?}", last.storage);
    db.close().await.unwrap();
}
