//! Property 11: Integrity checking.
//!
//! The health check finds damage in the file at the level that can see it: a
//! corrupted table page is found by the quick check (and the full one), an index
//! entry that points at the wrong row only by the full `integrity_check`, which names
//! the index; a clean file passes both. Found damage makes the report critical.

use std::path::{Path, PathBuf};

use proptest::prelude::*;
use strata::ops::{CheckLevel, HealthReport, Status};
use strata::{Config, Database, Migrations};

const PAGE: usize = 4096;
/// Rows in the fixture: every rowid fits in one byte of an index record (rowids 0
/// and 1 take none: SQLite stores those constants in the record header).
const ROWS: i64 = 120;

/// A database (rollback journal, one file) with `items(name)` indexed. Each row's
/// `tag` is stored as two bytes `00 c8`, so in a table record the name is followed by
/// a zero byte, while in the index record it is followed by the rowid (1..=120):
/// `value-000042` + `[42]` occurs only in the index (for rowids from 2 on).
fn fixture(dir: &Path) -> PathBuf {
    let path = dir.join("clean.db");
    let conn = rusqlite::Connection::open(&path).unwrap();
    conn.execute_batch(
        "CREATE TABLE items(id INTEGER PRIMARY KEY, name TEXT NOT NULL, tag INTEGER NOT NULL, pad TEXT NOT NULL);
         CREATE INDEX items_name ON items(name);",
    )
    .unwrap();
    conn.execute_batch("BEGIN").unwrap();
    for id in 1..=ROWS {
        conn.execute(
            "INSERT INTO items(id, name, tag, pad) VALUES (?1, ?2, 200, ?3)",
            rusqlite::params![id, format!("value-{id:06}"), "p".repeat(200)],
        )
        .unwrap();
    }
    conn.execute_batch("COMMIT").unwrap();
    drop(conn);
    path
}

fn copy_with(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    path
}

/// Opens `path` without migrations and takes a health report at `level`.
async fn report(path: &Path, level: CheckLevel) -> HealthReport {
    let mut config = Config::for_path(path);
    config.monitor.free_disk_warn_mb = 0;
    config.monitor.free_disk_critical_mb = 0;
    let db = Database::open_with(&config, Migrations::None).await.unwrap();
    let report = db.health(level).await.unwrap();
    db.close().await.unwrap();
    report
}

/// Leaf pages of the items table (1-based page numbers).
fn table_leaves(bytes: &[u8]) -> Vec<usize> {
    (2..=bytes.len() / PAGE)
        .filter(|&n| bytes[(n - 1) * PAGE] == 0x0D)
        .filter(|&n| bytes[(n - 1) * PAGE..n * PAGE].windows(6).any(|w| w == b"value-"))
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 10, ..ProptestConfig::default() })]

    /// Proves that the full check sees what the quick check cannot: the index entry
    /// of row `row` rewritten to point at the next row leaves the quick report free
    /// of integrity findings, while the full report is corrupt, critical and names
    /// `items_name`. A full check that ran only `quick_check` fails it.
    #[test]
    fn p11_integrity_checking_the_full_check_finds_an_index_entry_pointing_at_the_wrong_row(row in 2..ROWS) {
        let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
        let dir = tempfile::tempdir().unwrap();
        let mut bytes = std::fs::read(fixture(dir.path())).unwrap();
        let needle: Vec<u8> = format!("value-{row:06}").into_bytes().into_iter().chain([row as u8]).collect();
        let found: Vec<usize> = (0..bytes.len() - needle.len()).filter(|&i| bytes[i..].starts_with(&needle)).collect();
        prop_assert_eq!(found.len(), 1, "the index entry of row {} is unique", row);
        bytes[found[0] + needle.len() - 1] = row as u8 + 1;
        let damaged = copy_with(dir.path(), "index.db", &bytes);
        runtime.block_on(async {
            let quick = report(&damaged, CheckLevel::Quick).await;
            prop_assert!(!quick.is_corrupt() && quick.integrity.is_empty(), "quick_check cannot see it: {:?}", quick.findings);
            let full = report(&damaged, CheckLevel::Full).await;
            prop_assert!(full.is_corrupt(), "{:?}", full.findings);
            prop_assert_eq!(full.status, Status::Critical);
            prop_assert!(full.integrity.iter().any(|m| m.contains("items_name")), "{:?}", full.integrity);
            Ok(())
        })?;
    }

    /// Proves that a corrupted table page is found by both levels: `len` bytes of
    /// garbage written over the `which`-th leaf page of the table (past its page
    /// header) make the quick and the full report corrupt and critical. A check that
    /// did not read the table's pages fails it.
    #[test]
    fn p11_integrity_checking_both_levels_find_a_corrupted_table_page(which in 0usize..64, len in 64usize..1500, fill in any::<u8>()) {
        let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
        let dir = tempfile::tempdir().unwrap();
        let mut bytes = std::fs::read(fixture(dir.path())).unwrap();
        let leaves = table_leaves(&bytes);
        prop_assert!(leaves.len() >= 4, "{:?}", leaves);
        let page = leaves[which % leaves.len()];
        let at = (page - 1) * PAGE + 8;
        // Never a fill that leaves the cell pointers valid by chance.
        let fill = if fill == 0 { 0xAB } else { fill };
        bytes[at..at + len].fill(fill);
        let damaged = copy_with(dir.path(), "table.db", &bytes);
        runtime.block_on(async {
            for level in [CheckLevel::Quick, CheckLevel::Full] {
                let report = report(&damaged, level).await;
                prop_assert!(report.is_corrupt(), "{:?}: {:?}", level, report.findings);
                prop_assert_eq!(report.status, Status::Critical);
            }
            Ok(())
        })?;
    }
}

/// Proves that integrity checking does not cry wolf: the undamaged fixture passes the
/// quick and the full check with no integrity message and no corruption finding.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn p11_integrity_checking_a_clean_file_passes_both_levels() {
    let dir = tempfile::tempdir().unwrap();
    let clean = fixture(dir.path());
    for level in [CheckLevel::Quick, CheckLevel::Full] {
        let report = report(&clean, level).await;
        assert!(!report.is_corrupt() && report.integrity.is_empty(), "{level:?}: {:?}", report.findings);
        assert_ne!(report.status, Status::Critical);
    }
}
