//! `strata check [--full]`: the report, `--json`, and exit 1 when it finds problems
//! (an index page that only the full check can see).

use std::path::Path;

use crate::{strata, text};

/// A config without the free-disk thresholds, so reports do not depend on the machine.
pub fn no_disk_limits(dir: &Path) -> String {
    let file = dir.join("strata.toml");
    std::fs::write(&file, "[monitor]\nfree_disk_warn_mb = 0\nfree_disk_critical_mb = 0\n").unwrap();
    file.display().to_string()
}

/// `text` with the machine's free disk space masked.
pub fn report_text(bytes: &[u8], dir: &Path) -> String {
    text(bytes, dir)
        .lines()
        .map(|l| if l.starts_with("free disk: ") { "free disk: [FREE]" } else { l })
        .collect::<Vec<_>>()
        .join("\n")
        + "\n"
}

/// `notes(id, body)` with an index on body, 500 rows, via strata itself.
pub fn notes_db(dir: &Path) {
    assert_eq!(strata(dir, &["--db", "app.db", "init"]).status.code(), Some(0));
    let conn = rusqlite::Connection::open(dir.join("app.db")).unwrap();
    conn.execute_batch(
        "CREATE TABLE notes(id INTEGER PRIMARY KEY, body TEXT NOT NULL);
         CREATE INDEX notes_body ON notes(body);
         WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n WHERE x < 500)
         INSERT INTO notes SELECT x, printf('note-%06d', x) FROM n;
         PRAGMA wal_checkpoint(TRUNCATE);",
    )
    .unwrap();
}

#[test]
fn check_reports_a_healthy_database() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    notes_db(d);
    let config = no_disk_limits(d);
    let out = strata(d, &["--db", "app.db", "--config", &config, "check"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr, d));
    insta::assert_snapshot!("check_healthy", report_text(&out.stdout, d));

    let json = strata(d, &["--db", "app.db", "--config", &config, "--json", "check", "--full"]);
    assert_eq!(json.status.code(), Some(0));
    let doc: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(doc["status"], "ok");
    assert_eq!(doc["level"], "full");
    assert_eq!(doc["schema"]["migration"], 6);
    assert!(doc["storage"]["page_count"].as_u64().unwrap() > 0);
}

/// Makes the index entry of note 100 point at row 101: only integrity_check sees it.
pub fn damage_index(db: &Path) {
    let mut bytes = std::fs::read(db).unwrap();
    let needle: Vec<u8> = b"note-000100".iter().copied().chain([100u8]).collect();
    // Every copy: a page split can leave a stale copy of the cell in a page's free space.
    let found: Vec<usize> =
        (0..bytes.len() - needle.len()).filter(|&i| bytes[i..].starts_with(&needle)).collect();
    assert!(!found.is_empty(), "the index entry");
    for at in found {
        bytes[at + needle.len() - 1] = 101;
    }
    std::fs::write(db, bytes).unwrap();
}

#[test]
fn check_full_finds_a_damaged_index_that_quick_check_cannot_see() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    notes_db(d);
    damage_index(&d.join("app.db"));
    let config = no_disk_limits(d);
    let quick = strata(d, &["--db", "app.db", "--config", &config, "check"]);
    assert_eq!(quick.status.code(), Some(0), "{}", report_text(&quick.stdout, d));
    let full = strata(d, &["--db", "app.db", "--config", &config, "check", "--full"]);
    assert_eq!(full.status.code(), Some(1), "{}", report_text(&full.stdout, d));
    insta::assert_snapshot!("check_full_damaged_index", report_text(&full.stdout, d));
}

#[test]
fn check_of_a_missing_file_fails_with_e2004() {
    let dir = tempfile::tempdir().unwrap();
    let out = strata(dir.path(), &["--db", "nope.db", "--json", "check"]);
    assert_eq!(out.status.code(), Some(3));
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["code"], "E2004");
    assert!(!dir.path().join("nope.db").exists(), "check never creates a database");
}
