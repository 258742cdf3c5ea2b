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

#[test]
fn a_statement_sqlparser_cannot_parse_is_still_linted_from_its_tokens() {
    // sqlparser's SQLite dialect refuses a PRAGMA set to a keyword, DETACH, a table that
    // is both WITHOUT ROWID and STRICT, and CREATE TRIGGER IF NOT EXISTS. Each of them is
    // read from its tokens, and the statements around them are linted as usual.
    let sql = "PRAGMA journal_mode = WAL;
CREATE TABLE users_new (id INTEGER PRIMARY KEY, name TEXT NOT NULL) WITHOUT ROWID, STRICT;
DROP TABLE users;
ALTER TABLE users_new RENAME TO users;
DETACH DATABASE archive;
CREATE TRIGGER IF NOT EXISTS users_touch AFTER UPDATE ON users BEGIN
    UPDATE users SET name = trim(name) WHERE id = new.id;
END;
DROP TABLE sessions;
";
    let findings = lint_up("V9__mixed.sql", sql);
    let got: Vec<(&str, usize)> = findings.iter().map(|f| (f.rule, f.line)).collect();
    assert_eq!(
        got,
        [("not-transactional", 1), ("rebuild-without-copy", 3), ("not-transactional", 5), ("drop-table", 9)],
        "{findings:#?}"
    );
    assert_eq!(
        findings[0].message,
        "`PRAGMA journal_mode = WAL;` cannot run inside the migration transaction"
    );
}

#[test]
fn names_are_read_through_quoting_schema_prefixes_and_case() {
    let rebuild = |copy: &str| {
        format!(
            "CREATE TABLE \"users new\" (id INTEGER PRIMARY KEY);
             {copy}
             DROP TABLE main.users;
             ALTER TABLE [users new] RENAME TO USERS;"
        )
    };
    let copied =
        rebuild("INSERT INTO \"users new\" (id) SELECT u.id FROM (SELECT id FROM main.[Users]) AS u;");
    assert_eq!(lint_up("V9__rebuild.sql", &copied), []);
    let findings = lint_up("V9__rebuild.sql", &rebuild("INSERT INTO \"users new\" (id) VALUES (1);"));
    assert_eq!(findings.iter().map(|f| f.rule).collect::<Vec<_>>(), ["rebuild-without-copy"]);
    assert_eq!(findings[0].message, "table users is rebuilt but its rows are not copied");
}

#[test]
fn the_default_rules_flag_exactly_the_added_columns_sqlite_refuses() {
    let columns = [
        ("a INTEGER NOT NULL DEFAULT (-1)", None),
        ("b TEXT DEFAULT (CAST(1 AS TEXT))", None),
        ("c TEXT NOT NULL DEFAULT 'x'", None),
        ("d TEXT NOT NULL DEFAULT NULL", Some("add-column-not-null-without-default")),
        ("e INTEGER DEFAULT (60 * 60)", Some("non-deterministic-default")),
        ("f TEXT DEFAULT (strftime('%s', 'now'))", Some("non-deterministic-default")),
        ("g BLOB DEFAULT (randomblob(16))", Some("non-deterministic-default")),
        ("h TEXT DEFAULT CURRENT_DATE", Some("non-deterministic-default")),
        ("i TEXT AS (upper(c)) VIRTUAL", None),
    ];
    let conn = rusqlite::Connection::open_in_memory().unwrap();
    conn.execute_batch("CREATE TABLE t (id INTEGER PRIMARY KEY); INSERT INTO t VALUES (1);").unwrap();
    for (column, rule) in columns {
        let sql = format!("ALTER TABLE t ADD COLUMN {column};");
        let findings = lint_up("V9__columns.sql", &sql);
        assert_eq!(findings.iter().map(|f| f.rule).collect::<Vec<_>>(), Vec::from_iter(rule), "{sql}");
        let refused = conn.execute_batch(&sql).is_err();
        assert_eq!(refused, rule.is_some(), "SQLite and the lint disagree on {sql}");
    }
}
