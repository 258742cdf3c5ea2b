//! Property 12: Automatic backup creation.
//!
//! Backups are taken without anyone asking: the background monitor takes a verified
//! backup (data file and manifest) when none is newer than `backup.interval_minutes`,
//! and no more than one per interval; opening a database that has migrations pending
//! first takes a snapshot of the file as it was. Each copy holds exactly the data of
//! its moment and passes `integrity_check`.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use proptest::prelude::*;
use strata::schema::Migration;
use strata::{Config, Database, MigrationSet, Migrations};

fn v1() -> Migration {
    Migration::new("V1__items", "CREATE TABLE items(id INTEGER PRIMARY KEY, v TEXT NOT NULL);", None).unwrap()
}

fn v2() -> Migration {
    Migration::new("V2__more", "CREATE TABLE more(x);\nUPDATE items SET v = 'migrated';", None).unwrap()
}

/// A database at V1 holding `rows` rows, closed.
async fn seeded(path: &Path, rows: usize) -> Vec<String> {
    let db =
        Database::open_with(&Config::for_path(path), Migrations::from(MigrationSet::new([v1()]).unwrap()))
            .await
            .unwrap();
    let values: Vec<String> = (0..rows).map(|i| format!("row-{i}")).collect();
    let written = values.clone();
    db.pool()
        .write(move |c| {
            for v in &written {
                c.execute("INSERT INTO items(v) VALUES (?1)", [v])?;
            }
            Ok(())
        })
        .await
        .unwrap();
    db.close().await.unwrap();
    values
}

/// The rows of `items`, the tables and `integrity_check`'s verdict of a copy, read
/// with a plain connection.
fn read_copy(path: &Path) -> (Vec<String>, Vec<String>, String) {
    let conn =
        rusqlite::Connection::open_with_flags(path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY).unwrap();
    let strings = |sql: &str| -> Vec<String> {
        let mut stmt = conn.prepare(sql).unwrap();
        stmt.query_map([], |r| r.get(0)).unwrap().collect::<Result<_, _>>().unwrap()
    };
    let rows = strings("SELECT v FROM items ORDER BY id");
    let tables = strings("SELECT name FROM sqlite_schema WHERE type = 'table' ORDER BY name");
    let integrity = conn.query_row("PRAGMA integrity_check", [], |r| r.get(0)).unwrap();
    (rows, tables, integrity)
}

/// The backup data files in `dir`.
fn backups_in(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else { return Vec::new() };
    let mut files: Vec<PathBuf> =
        entries.map(|e| e.unwrap().path()).filter(|p| p.extension().is_some_and(|e| e == "sqlite")).collect();
    files.sort();
    files
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 4, ..ProptestConfig::default() })]

    /// Proves that the monitor backs up by itself: a database of `rows` rows opened
    /// with `monitor.enabled` and `backup.interval_minutes = 1` gets, without any
    /// call, one backup in `backups/` beside it, with its manifest, whose verification
    /// passed, whose page count and size match the file, and which holds exactly those
    /// rows; after further monitor rounds within the interval there is still one. A
    /// monitor that never backs up, or backs up every round, fails it.
    #[test]
    fn p12_automatic_backup_creation_the_monitor_takes_one_verified_backup_per_interval(rows in 0usize..200) {
        let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("app.db");
        runtime.block_on(async {
            let values = seeded(&path, rows).await;
            let mut config = Config::for_path(&path);
            config.monitor.enabled = true;
            config.monitor.interval_secs = 1;
            config.monitor.free_disk_warn_mb = 0;
            config.monitor.free_disk_critical_mb = 0;
            config.backup.interval_minutes = 1;
            let db = Database::open_with(&config, Migrations::from(MigrationSet::new([v1()]).unwrap())).await.unwrap();
            let monitor = db.monitor().expect("the monitor runs");
            let deadline = Instant::now() + Duration::from_secs(30);
            let state = loop {
                let state = monitor.state();
                if state.last_backup.is_some() && state.checks >= 3 {
                    break state;
                }
                prop_assert!(Instant::now() < deadline, "no backup within 30 s: {:?}", state);
                tokio::time::sleep(Duration::from_millis(50)).await;
            };
            db.close().await.unwrap();
            prop_assert!(state.last_error.is_none(), "{:?}", state.last_error);
            let backup = state.last_backup.unwrap();
            let backups = dir.path().join("backups");
            prop_assert_eq!(backup.path.parent(), Some(backups.as_path()));
            prop_assert_eq!(backups_in(&dir.path().join("backups")), vec![backup.path.clone()], "one backup per interval");
            prop_assert!(backup.manifest_path.exists());
            let manifest = &backup.manifest;
            prop_assert!(manifest.verification.ok, "{:?}", manifest.verification);
            prop_assert_eq!(manifest.size_bytes, std::fs::metadata(&backup.path).unwrap().len());
            let conn = rusqlite::Connection::open(&backup.path).unwrap();
            let pages: u64 = conn.query_row("PRAGMA page_count", [], |r| r.get::<_, i64>(0)).unwrap() as u64;
            drop(conn);
            prop_assert_eq!(manifest.page_count, pages);
            let (copied, _, integrity) = read_copy(&backup.path);
            prop_assert_eq!(copied, values);
            prop_assert_eq!(integrity, "ok");
            Ok(())
        })?;
    }
}

/// Proves that migrating takes a snapshot first: a database at V1 with rows, opened
/// with a set that adds V2 (which changes every row), reports a snapshot
/// `app.db.pre-V2.bak` that holds the V1 schema and the rows as they were, and
/// passes `integrity_check`, while the database itself moved on. An open that
/// migrated without a snapshot, or snapshotted after migrating, fails it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn p12_automatic_backup_creation_a_migration_snapshots_the_file_first() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("app.db");
    let values = seeded(&path, 25).await;
    let set = MigrationSet::new([v1(), v2()]).unwrap();
    let db = Database::open_with(&Config::for_path(&path), Migrations::from(set)).await.unwrap();
    let snapshot = db.open_report().migrated.as_ref().unwrap().snapshot.clone().expect("a snapshot");
    db.close().await.unwrap();
    assert_eq!(snapshot, dir.path().join("app.db.pre-V2.bak"));
    let (rows, tables, integrity) = read_copy(&snapshot);
    assert_eq!(rows, values, "the rows as they were before V2");
    assert!(!tables.contains(&"more".to_string()), "{tables:?}");
    assert_eq!(integrity, "ok");
    let (now, tables, _) = read_copy(&path);
    assert!(now.iter().all(|v| v == "migrated") && tables.contains(&"more".to_string()));
}
