//! `strata check [--full]`: the report, `--json`, and exit 1 when it finds problems
//! (an index page that only the full check can see).

use std::path::Path;

use crate::{json_doc, strata, text};

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
    assert_eq!(doc["schema"]["migration"], 12);
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

/// A database strata does not manage (no strata migration history), in rollback-journal
/// mode: strata's wish for WAL is advice, so `check --full` says so and exits 0. The
/// same setting on a database strata manages stays a warning (exit 1).
#[test]
fn check_advises_on_a_third_party_rollback_journal_database_and_exits_0() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let conn = rusqlite::Connection::open(d.join("theirs.db")).unwrap();
    conn.execute_batch(
        "PRAGMA journal_mode = DELETE;
         CREATE TABLE people(id INTEGER PRIMARY KEY, name TEXT NOT NULL);
         INSERT INTO people(name) VALUES ('ada'), ('grace');",
    )
    .unwrap();
    drop(conn);
    let config = no_disk_limits(d);
    let out = strata(d, &["--db", "theirs.db", "--config", &config, "check", "--full"]);
    let report = report_text(&out.stdout, d);
    assert_eq!(out.status.code(), Some(0), "{report}{}", text(&out.stderr, d));
    assert!(report.contains("status: ok\n"), "{report}");
    assert!(report.contains("info [pragma] file journal_mode is delete, expected wal"), "{report}");
    let doc = json_doc(d, &["--db", "theirs.db", "--config", &config, "--json", "check", "--full"], 0);
    assert_eq!(doc["status"], "ok");
    assert_eq!(doc["managed"], false);
    assert_eq!(doc["findings"][0]["severity"], "info");
    assert_eq!(doc["findings"][0]["check"], "pragma");

    // strata's own database, switched to a rollback journal behind its back.
    notes_db(d);
    let conn = rusqlite::Connection::open(d.join("app.db")).unwrap();
    let mode: String = conn.query_row("PRAGMA journal_mode = DELETE", [], |r| r.get(0)).unwrap();
    assert_eq!(mode, "delete");
    drop(conn);
    let doc = json_doc(d, &["--db", "app.db", "--config", &config, "--json", "check"], 1);
    assert_eq!(doc["status"], "warning");
    assert_eq!(doc["managed"], true);
    assert_eq!(doc["findings"][0]["severity"], "warning");
}

/// A reader that never lets go (a replicator, a forgotten transaction) keeps the WAL
/// from resetting: `check` warns once it is far above the size checkpoints keep it
/// under, and names the usual causes.
#[test]
fn check_warns_when_the_wal_grows_far_beyond_what_checkpoints_keep_it_under() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // Checkpoints keep this WAL under 64 KiB: warn above 128 KiB.
    let config = d.join("strata.toml");
    std::fs::write(
        &config,
        "[monitor]\nfree_disk_warn_mb = 0\nfree_disk_critical_mb = 0\n\
         [sqlite]\njournal_size_limit = 65536\nwal_autocheckpoint = 10\n",
    )
    .unwrap();
    let config = config.display().to_string();
    let writer = rusqlite::Connection::open(d.join("app.db")).unwrap();
    writer
        .execute_batch(
            "PRAGMA journal_mode = WAL;
             PRAGMA wal_autocheckpoint = 10;
             PRAGMA journal_size_limit = 65536;
             CREATE TABLE blobs(id INTEGER PRIMARY KEY, body BLOB NOT NULL);
             INSERT INTO blobs(body) VALUES (zeroblob(1000));",
        )
        .unwrap();
    let doc = json_doc(d, &["--db", "app.db", "--config", &config, "--json", "check"], 0);
    assert!(doc["findings"].as_array().unwrap().is_empty(), "{doc}");

    // A long-lived read transaction pins the WAL while 1 MiB is written.
    let reader = rusqlite::Connection::open(d.join("app.db")).unwrap();
    reader.execute_batch("BEGIN; SELECT count(*) FROM blobs;").unwrap();
    for _ in 0..64 {
        writer.execute("INSERT INTO blobs(body) VALUES (zeroblob(16384))", []).unwrap();
    }
    let wal = std::fs::metadata(d.join("app.db-wal")).unwrap().len();
    assert!(wal > 1024 * 1024, "the WAL kept growing: {wal} bytes");
    let out = strata(d, &["--db", "app.db", "--config", &config, "check"]);
    let report = report_text(&out.stdout, d);
    assert_eq!(out.status.code(), Some(1), "{report}");
    assert!(report.contains("warning [wal_growth] the -wal file is"), "{report}");
    assert!(report.contains("a long-lived read transaction, a replicator"), "{report}");
    reader.execute_batch("COMMIT").unwrap();
}

/// The durability level is part of the report: the default NORMAL, or FULL when the
/// config asks for it.
#[test]
fn check_reports_the_durability_level() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    notes_db(d);
    let out = strata(d, &["--db", "app.db", "check"]);
    assert!(text(&out.stdout, d).contains("durability: synchronous=NORMAL"), "{}", text(&out.stdout, d));
    let full = d.join("full.toml");
    std::fs::write(&full, "[sqlite]\nsynchronous = \"full\"\n").unwrap();
    let full = full.display().to_string();
    let out = strata(d, &["--db", "app.db", "--config", &full, "check"]);
    assert!(text(&out.stdout, d).contains("durability: synchronous=FULL"), "{}", text(&out.stdout, d));
    let out = strata(d, &["--db", "app.db", "--config", &full, "--json", "check"]);
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["synchronous"], "full");
}

/// `check` reports the replication mode, and warns when strata's settings fight a
/// Litestream it can see beside the database (Litestream 0.5's `.<db>-litestream`
/// directory and `_litestream_seq` table), or when the config says Litestream and no
/// Litestream is there (nothing would checkpoint the WAL).
#[test]
fn check_reports_replication_and_warns_when_settings_fight_a_visible_litestream() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    notes_db(d);
    let plain = no_disk_limits(d);
    let litestream = d.join("litestream.toml");
    std::fs::write(
        &litestream,
        "[monitor]\nfree_disk_warn_mb = 0\nfree_disk_critical_mb = 0\n[replication]\nmode = \"litestream\"\n",
    )
    .unwrap();
    let litestream = litestream.display().to_string();

    let out = strata(d, &["--db", "app.db", "--config", &plain, "check"]);
    let report = report_text(&out.stdout, d);
    assert_eq!(out.status.code(), Some(0), "{report}");
    assert!(report.contains("replication: none\n"), "{report}");

    // What Litestream 0.5 leaves beside and inside a database it replicates.
    std::fs::create_dir(d.join(".app.db-litestream")).unwrap();
    let conn = rusqlite::Connection::open(d.join("app.db")).unwrap();
    conn.execute_batch("CREATE TABLE _litestream_seq (id INTEGER PRIMARY KEY, seq INTEGER);").unwrap();
    drop(conn);
    let out = strata(d, &["--db", "app.db", "--config", &plain, "check"]);
    let report = report_text(&out.stdout, d);
    assert_eq!(out.status.code(), Some(1), "{report}");
    assert!(
        report.contains(
            "warning [replication] Litestream replicates this database (directory .app.db-litestream, \
             table _litestream_seq) but replication.mode is none: strata's checkpointer and \
             wal_autocheckpoint = 1000 checkpoint the WAL"
        ),
        "{report}"
    );

    let out = strata(d, &["--db", "app.db", "--config", &litestream, "check"]);
    let report = report_text(&out.stdout, d);
    assert_eq!(out.status.code(), Some(0), "{report}");
    assert!(
        report
            .contains("replication: litestream (seen: directory .app.db-litestream, table _litestream_seq)"),
        "{report}"
    );
    let doc = json_doc(d, &["--db", "app.db", "--config", &litestream, "--json", "check"], 0);
    assert_eq!(doc["replication"]["mode"], "litestream", "{doc}");
    assert_eq!(doc["replication"]["litestream_seen"].as_array().map(Vec::len), Some(2), "{doc}");

    std::fs::remove_dir(d.join(".app.db-litestream")).unwrap();
    let conn = rusqlite::Connection::open(d.join("app.db")).unwrap();
    conn.execute_batch("DROP TABLE _litestream_seq;").unwrap();
    drop(conn);
    let out = strata(d, &["--db", "app.db", "--config", &litestream, "check"]);
    let report = report_text(&out.stdout, d);
    assert_eq!(out.status.code(), Some(1), "{report}");
    assert!(
        report.contains("warning [replication] replication.mode is litestream but no Litestream state"),
        "{report}"
    );
}
