//! Lint: each unsafe pattern is flagged on fixture files, safe sets get no finding.

use strata_schema::{MigrationSet, Severity, lint, lint_up};

use crate::support::fixture;

#[test]
fn lint_flags_each_unsafe_pattern_with_file_line_and_hint() {
    let findings = lint(&MigrationSet::from_dir(fixture("lint")).unwrap());
    let got: Vec<(&str, &str, usize)> = findings.iter().map(|f| (f.file.as_str(), f.rule, f.line)).collect();
    assert_eq!(
        got,
        [
            ("V2__unsafe.sql", "missing-down", 1),
            ("V2__unsafe.sql", "drop-table", 2),
            ("V2__unsafe.sql", "drop-column", 3),
            ("V2__unsafe.sql", "add-column-not-null-without-default", 4),
            ("V2__unsafe.sql", "unique-index-on-existing-table", 5),
            ("V2__unsafe.sql", "non-deterministic-default", 6),
            ("V2__unsafe.sql", "not-transactional", 7),
            ("V2__unsafe.sql", "not-transactional", 8),
            ("V3__rebuild_without_copy.sql", "rebuild-without-copy", 2),
        ]
    );
    assert!(findings.iter().all(|f| !f.hint.is_empty() && !f.message.is_empty()));
    assert_eq!(findings[1].severity, Severity::Warning);
}

#[test]
fn a_rebuild_that_copies_its_rows_is_not_flagged() {
    let sql = "CREATE TABLE users_new (id INTEGER PRIMARY KEY, name TEXT NOT NULL);
               INSERT INTO users_new (id, name) SELECT id, coalesce(name, '') FROM users;
               DROP TABLE users;
               ALTER TABLE users_new RENAME TO users;";
    assert_eq!(lint_up("V9__rebuild.sql", sql), []);
}

#[test]
fn a_rule_is_silenced_by_naming_it_in_a_comment() {
    let sql = "-- strata:allow drop-table: the table was never used\nDROP TABLE old_stuff;";
    assert_eq!(lint_up("V9__cleanup.sql", sql), []);
}

#[test]
fn safe_migration_sets_have_no_findings() {
    for name in ["basic", "every_kind"] {
        let findings = lint(&MigrationSet::from_dir(fixture(name)).unwrap());
        assert!(findings.is_empty(), "{name}: {findings:#?}");
    }
}
