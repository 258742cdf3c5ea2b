//! `strata schema`: show, check (drift, exit 1), diff of two files, generate.

use crate::{strata, text, write_migration};

#[test]
fn check_diff_and_generate_find_a_hand_made_change() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write_migration(
        &d.join("m"),
        "V1__notes",
        "CREATE TABLE notes(id INTEGER PRIMARY KEY, body TEXT NOT NULL);\n",
        Some("DROP TABLE notes;\n"),
    );
    assert_eq!(strata(d, &["--db", "a.db", "migrate", "up", "--dir", "m"]).status.code(), Some(0));
    assert_eq!(strata(d, &["--db", "b.db", "migrate", "up", "--dir", "m"]).status.code(), Some(0));
    let clean = strata(d, &["--db", "a.db", "schema", "check", "--dir", "m"]);
    assert_eq!(clean.status.code(), Some(0), "{}", text(&clean.stdout, d));
    let same = strata(d, &["schema", "diff", "a.db", "b.db"]);
    assert_eq!(same.status.code(), Some(0));

    // Someone changes b.db by hand.
    let raw = rusqlite::Connection::open(d.join("b.db")).unwrap();
    raw.execute_batch("ALTER TABLE notes ADD COLUMN pinned INTEGER NOT NULL DEFAULT 0; CREATE INDEX notes_pinned ON notes(pinned);").unwrap();
    drop(raw);

    let drift = strata(d, &["--db", "b.db", "schema", "check", "--dir", "m"]);
    assert_eq!(drift.status.code(), Some(1));
    insta::assert_snapshot!("check_drift", text(&drift.stdout, d));

    let diff = strata(d, &["schema", "diff", "a.db", "b.db"]);
    assert_eq!(diff.status.code(), Some(1));
    insta::assert_snapshot!("diff", text(&diff.stdout, d));

    let show = strata(d, &["--db", "b.db", "schema", "show"]);
    assert_eq!(show.status.code(), Some(0));
    insta::assert_snapshot!("show", text(&show.stdout, d));

    let generate = strata(d, &["--json", "schema", "generate", "a.db", "b.db"]);
    assert_eq!(generate.status.code(), Some(0));
    let doc: serde_json::Value = serde_json::from_slice(&generate.stdout).unwrap();
    let sql = doc["sql"].as_str().unwrap();
    assert!(sql.contains("pinned") && sql.contains("notes_pinned"), "{sql}");
    let a = rusqlite::Connection::open(d.join("a.db")).unwrap();
    a.execute_batch(&format!("BEGIN; {sql} COMMIT;")).expect("generated sql applies");
    drop(a);
    assert_eq!(strata(d, &["schema", "diff", "a.db", "b.db"]).status.code(), Some(0), "a now matches b");
}

#[test]
fn schema_commands_on_a_missing_or_foreign_file_fail_typed_and_touch_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let missing = strata(d, &["--db", "nope.db", "schema", "show"]);
    assert_eq!(missing.status.code(), Some(3));
    assert!(text(&missing.stderr, d).starts_with("E2004"));
    assert!(!d.join("nope.db").exists(), "inspection creates nothing");
    std::fs::write(d.join("notes.txt"), "plain text, not sqlite, long enough to have a header").unwrap();
    let foreign = strata(d, &["schema", "diff", "notes.txt", "notes.txt"]);
    assert_eq!(foreign.status.code(), Some(3));
    assert!(text(&foreign.stderr, d).starts_with("E5002"));
}
