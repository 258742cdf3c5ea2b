//! Corruption injected into copies of a test database: each damage is found by the
//! check level that can see it, and `recover` brings back the newest backup with the
//! loss window and the salvaged rows.

use std::path::{Path, PathBuf};

use strata_ops::health::{CheckLevel, HealthOptions, Status, check_path};
use strata_ops::recover::{RecoverOptions, recover};

use crate::{ITEMS, add_items, count, items_db, raw};

const PAGE: usize = 4096;

fn fixture() -> (tempfile::TempDir, PathBuf, Vec<u8>) {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("app.db");
    items_db(&db);
    let bytes = std::fs::read(&db).unwrap();
    (dir, db, bytes)
}

/// Page numbers (1-based) whose b-tree page type is `kind` (0x0D table leaf, 0x0A index leaf).
fn pages_of_type(bytes: &[u8], kind: u8) -> Vec<usize> {
    (2..=bytes.len() / PAGE).filter(|&n| bytes[(n - 1) * PAGE] == kind).collect()
}

/// Leaf pages of the `items` table (table leaves holding item names).
fn item_leaves(bytes: &[u8]) -> Vec<usize> {
    pages_of_type(bytes, 0x0D)
        .into_iter()
        .filter(|&n| bytes[(n - 1) * PAGE..n * PAGE].windows(6).any(|w| w == b"value-"))
        .collect()
}

fn damaged_copy(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    path
}

async fn findings(path: &Path, level: CheckLevel) -> (Status, Vec<String>) {
    let report = check_path(path, &HealthOptions::new(level)).await.unwrap();
    let checks = report.findings.iter().filter(|f| f.check != "free_disk").map(|f| f.check.clone()).collect();
    (report.status, checks)
}

async fn is_corrupt(path: &Path, level: CheckLevel) -> bool {
    check_path(path, &HealthOptions::new(level)).await.unwrap().is_corrupt()
}

#[tokio::test]
async fn the_clean_fixture_passes_both_levels() {
    let (_dir, db, _) = fixture();
    for level in [CheckLevel::Quick, CheckLevel::Full] {
        let report = check_path(&db, &HealthOptions::new(level)).await.unwrap();
        assert!(!report.is_corrupt(), "{report:#?}");
        assert!(report.integrity.is_empty());
        assert_eq!(report.schema.as_ref().unwrap().tables, 2);
        assert!(report.storage.page_count > 100);
    }
}

#[tokio::test]
async fn a_damaged_table_page_is_found_by_quick_check() {
    let (dir, _db, mut bytes) = fixture();
    let page = item_leaves(&bytes)[1];
    let at = (page - 1) * PAGE;
    bytes[at + 8..at + 400].fill(0xAB);
    let copy = damaged_copy(dir.path(), "table.db", &bytes);
    assert!(is_corrupt(&copy, CheckLevel::Quick).await, "{:?}", findings(&copy, CheckLevel::Quick).await);
    assert!(is_corrupt(&copy, CheckLevel::Full).await);
}

#[tokio::test]
async fn a_damaged_index_entry_is_found_only_by_the_full_check() {
    let (dir, _db, mut bytes) = fixture();
    // The index record of row 100 is `value-000100` followed by its rowid in one byte.
    let needle: Vec<u8> = b"value-000100".iter().copied().chain([100u8]).collect();
    let index_pages = pages_of_type(&bytes, 0x0A);
    let at = index_pages
        .iter()
        .find_map(|&p| {
            let page = &bytes[(p - 1) * PAGE..p * PAGE];
            page.windows(needle.len()).position(|w| w == needle).map(|i| (p - 1) * PAGE + i)
        })
        .expect("the index entry of row 100");
    bytes[at + needle.len() - 1] = 101;
    let copy = damaged_copy(dir.path(), "index.db", &bytes);
    let (status, checks) = findings(&copy, CheckLevel::Quick).await;
    assert!(
        !checks.iter().any(|c| c == "integrity" || c == "corrupt"),
        "quick_check cannot see it: {checks:?}"
    );
    assert_ne!(status, Status::Critical);
    let report = check_path(&copy, &HealthOptions::new(CheckLevel::Full)).await.unwrap();
    assert!(report.is_corrupt(), "{report:#?}");
    assert_eq!(report.status, Status::Critical);
    assert!(report.integrity.iter().any(|m| m.contains("items_name")), "{:?}", report.integrity);
}

#[tokio::test]
async fn a_damaged_page_one_is_found_at_open() {
    let (dir, _db, mut bytes) = fixture();
    bytes[100..140].fill(0xEE);
    let copy = damaged_copy(dir.path(), "page1.db", &bytes);
    let report = check_path(&copy, &HealthOptions::new(CheckLevel::Quick)).await.unwrap();
    assert!(report.is_corrupt(), "{report:#?}");
    assert_eq!(report.status, Status::Critical);
}

#[tokio::test]
async fn a_truncated_file_is_found_by_quick_check() {
    let (dir, _db, bytes) = fixture();
    let copy = damaged_copy(dir.path(), "truncated.db", &bytes[..bytes.len() / 2]);
    assert!(is_corrupt(&copy, CheckLevel::Quick).await, "{:?}", findings(&copy, CheckLevel::Quick).await);
}

/// What a crash leaves: the database, its -wal with committed transactions that were
/// never checkpointed, and the -shm, copied while the writer is still open.
fn crashed_copy_with_hot_wal(dir: &Path) -> PathBuf {
    let live = dir.join("live.db");
    items_db(&live);
    let conn = raw(&live);
    conn.execute_batch("PRAGMA wal_autocheckpoint = 0;").unwrap();
    add_items(&conn, ITEMS + 1, ITEMS + 50);
    let copy = dir.join("crashed.db");
    for suffix in ["", "-wal", "-shm"] {
        std::fs::copy(format!("{}{suffix}", live.display()), format!("{}{suffix}", copy.display())).unwrap();
    }
    drop(conn);
    copy
}

#[tokio::test]
async fn a_deleted_hot_wal_with_committed_data_is_found_before_open() {
    let dir = tempfile::tempdir().unwrap();
    let copy = crashed_copy_with_hot_wal(dir.path());
    // With its -wal the copy is whole: the 50 committed rows are there.
    let intact = check_path(&copy, &HealthOptions::new(CheckLevel::Quick)).await.unwrap();
    assert!(!intact.is_corrupt(), "{intact:#?}");
    std::fs::remove_file(format!("{}-wal", copy.display())).unwrap();
    let (status, checks) = findings(&copy, CheckLevel::Quick).await;
    assert_eq!(status, Status::Critical);
    assert!(checks.contains(&"wal_lost".to_string()), "{checks:?}");
}

#[tokio::test]
async fn recover_restores_the_newest_backup_reports_the_window_and_salvages_newer_rows() {
    let (dir, db, _) = fixture();
    let backups = dir.path().join("backups");
    let pool = crate::pool(&db).await;
    let backup = strata_ops::backup::create(&pool, &backups, None).await.unwrap();
    pool.write(|conn| {
        conn.execute("INSERT INTO notes(body) VALUES ('written after the backup')", [])?;
        Ok(())
    })
    .await
    .unwrap();
    pool.close().await.unwrap();
    {
        let conn = raw(&db);
        add_items(&conn, ITEMS + 1, ITEMS + 300);
        conn.execute_batch("PRAGMA wal_checkpoint(TRUNCATE);").unwrap();
    }
    // Damage an early table page of items; the newer rows sit at the end of the file.
    let mut bytes = std::fs::read(&db).unwrap();
    let page = item_leaves(&bytes)[1];
    bytes[(page - 1) * PAGE + 8..(page - 1) * PAGE + 400].fill(0xAB);
    std::fs::write(&db, &bytes).unwrap();

    let report = recover(&db, RecoverOptions::new(&backups)).await.unwrap();
    assert!(report.recovered, "{report:#?}");
    assert!(report.health.as_ref().unwrap().is_corrupt());
    assert_eq!(report.backup.as_ref().unwrap().path, backup.path);
    let window = report.loss_window.as_ref().expect("a loss window");
    assert_eq!(window.from, backup.manifest.created_at);
    assert!(window.seconds >= 0);
    let moved = report.moved_aside.clone().unwrap();
    assert!(moved.exists(), "the damaged file is kept");
    assert_eq!(count(&db, "items"), ITEMS, "the backup is back");
    assert_eq!(count(&db, "notes"), 0);

    let salvage = report.salvage.as_ref().unwrap();
    let items = salvage.tables.iter().find(|t| t.table == "items").unwrap();
    assert!(items.new_rows >= 250, "{items:?}");
    assert!(items.error.is_some(), "the damaged page is reported: {items:?}");
    let notes = salvage.tables.iter().find(|t| t.table == "notes").unwrap();
    assert_eq!(notes.new_rows, 1);
    let salvaged = salvage.path.clone().unwrap();
    assert_eq!(count(&salvaged, "notes"), 1);
    assert_eq!(count(&salvaged, "items") as u64, items.new_rows);

    // A healthy database is left alone.
    let again = recover(&db, RecoverOptions::new(&backups)).await.unwrap();
    assert!(!again.recovered);
}

#[tokio::test]
async fn recover_after_a_deleted_hot_wal_restores_the_backup() {
    let dir = tempfile::tempdir().unwrap();
    let copy = crashed_copy_with_hot_wal(dir.path());
    std::fs::remove_file(format!("{}-wal", copy.display())).unwrap();
    let backups = dir.path().join("backups");
    // The backup of the live database holds the rows the lost -wal had.
    let live = dir.path().join("live.db");
    let pool = crate::pool(&live).await;
    strata_ops::backup::create(&pool, &backups, None).await.unwrap();
    pool.close().await.unwrap();

    let report = recover(&copy, RecoverOptions::new(&backups)).await.unwrap();
    assert!(report.recovered);
    assert!(report.health.unwrap().findings.iter().any(|f| f.check == "wal_lost"));
    assert!(report.loss_window.is_some());
    assert_eq!(count(&copy, "items"), ITEMS + 50);
}

#[tokio::test]
async fn recover_without_a_verified_backup_changes_nothing() {
    let (dir, db, bytes) = fixture();
    let copy = damaged_copy(dir.path(), "truncated.db", &bytes[..bytes.len() / 2]);
    let err = recover(&copy, RecoverOptions::new(dir.path().join("none"))).await.unwrap_err();
    assert_eq!(err.code(), "E5007");
    assert_eq!(std::fs::read(&copy).unwrap().len(), bytes.len() / 2, "the file is where it was");
    let _ = db;
}
