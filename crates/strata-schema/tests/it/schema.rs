//! Introspection, fingerprint, diff, generate, drift and reversibility.

use rusqlite::Connection;
use strata_schema::{
    ChangeKind, ColumnKind, MigrationSet, ObjectKind, UpOptions, check_reversible, diff, drift_check,
    expected_schema, generate, introspect, render, up,
};

use crate::support::{Scratch, fixture};

fn every_kind() -> Connection {
    let conn = Connection::open_in_memory().unwrap();
    up(&conn, &MigrationSet::from_dir(fixture("every_kind")).unwrap(), &UpOptions::default()).unwrap();
    conn
}

/// Applies `sql` the way the runner would: foreign keys off, one transaction.
fn apply(conn: &Connection, sql: &str) {
    conn.execute_batch("PRAGMA foreign_keys = OFF; BEGIN;").unwrap();
    if let Err(e) = conn.execute_batch(sql) {
        panic!("{e}\n--- sql ---\n{sql}");
    }
    conn.execute_batch("COMMIT; PRAGMA foreign_keys = ON;").unwrap();
}

#[test]
fn introspection_reads_every_object_kind() {
    let schema = introspect(&every_kind()).unwrap();
    assert_eq!(
        schema.tables.iter().map(|t| t.name.as_str()).collect::<Vec<_>>(),
        ["events", "owners", "pets"]
    );
    let pets = schema.table("pets").unwrap();
    assert!(pets.without_rowid);
    assert_eq!(pets.primary_key, ["owner_id", "id"]);
    assert_eq!(pets.column("weight_kg").unwrap().kind, ColumnKind::GeneratedVirtual);
    assert_eq!(pets.column("name_upper").unwrap().generated.as_deref(), Some("upper(name)"));
    assert_eq!(pets.foreign_keys[0].on_delete, "CASCADE");
    assert_eq!(pets.checks.len(), 2);
    assert!(schema.table("events").unwrap().strict);
    let owners = schema.table("owners").unwrap();
    assert!(owners.autoincrement);
    assert_eq!(owners.unique, [vec!["email".to_string()]]);
    assert_eq!(owners.column("email").unwrap().collation.as_deref(), Some("NOCASE"));
    assert_eq!(schema.indexes.len(), 3);
    assert_eq!(schema.indexes[0].partial.as_deref(), Some("kind <> 'noise'"));
    assert_eq!(schema.indexes[1].columns[0].expr.as_deref(), Some("substr(email, instr(email, '@') + 1)"));
    insta::assert_snapshot!("schema_show", schema.render());
    insta::assert_json_snapshot!("schema_json", schema);
}

#[test]
fn the_fingerprint_ignores_formatting_and_sees_structure() {
    let a = Connection::open_in_memory().unwrap();
    a.execute_batch("CREATE TABLE t (a INTEGER NOT NULL, b TEXT -- note\n, CHECK (a > 0));").unwrap();
    let b = Connection::open_in_memory().unwrap();
    b.execute_batch("create table t(a INTEGER not null,b TEXT,check(a>0))").unwrap();
    let (sa, sb) = (introspect(&a).unwrap(), introspect(&b).unwrap());
    assert_eq!(sa, sb);
    assert_eq!(sa.fingerprint(), sb.fingerprint());
    b.execute_batch("ALTER TABLE t ADD COLUMN c").unwrap();
    assert_ne!(sa.fingerprint(), introspect(&b).unwrap().fingerprint());
}

#[test]
fn diff_lists_changes_by_object_and_renders_them() {
    let a = introspect(&every_kind()).unwrap();
    let conn = every_kind();
    conn.execute_batch(
        "ALTER TABLE events ADD COLUMN source TEXT;
         DROP INDEX pets_by_name;
         DROP VIEW heavy_pets;
         CREATE VIEW heavy_pets AS SELECT id FROM pets WHERE weight_g >= 20000;
         CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT);",
    )
    .unwrap();
    let b = introspect(&conn).unwrap();
    let changes = diff(&a, &b);
    assert!(
        changes.iter().any(|c| c.kind == ChangeKind::Add
            && c.object == ObjectKind::Column
            && c.name == "events.source")
    );
    assert!(diff(&a, &a).is_empty());
    insta::assert_snapshot!("schema_diff", render(&changes));
}

#[test]
fn diff_renders_a_change_to_every_object_kind() {
    let a = introspect(&every_kind()).unwrap();
    let conn = every_kind();
    conn.execute_batch(
        "PRAGMA foreign_keys = OFF;
         DROP VIEW heavy_pets;
         DROP TRIGGER pets_audit;
         -- pets: rowid table now, FK action, CHECK and generated column changed.
         CREATE TABLE pets_new (
             id INTEGER NOT NULL,
             owner_id INTEGER NOT NULL REFERENCES owners (id) ON DELETE RESTRICT,
             name TEXT NOT NULL CHECK (length(name) > 1),
             weight_g INTEGER NOT NULL DEFAULT 0,
             weight_kg REAL GENERATED ALWAYS AS (weight_g / 1000.0) STORED,
             name_upper TEXT AS (upper(name)) STORED,
             PRIMARY KEY (owner_id, id),
             CONSTRAINT heavy_enough CHECK (weight_g >= 0)
         );
         DROP TABLE pets;
         ALTER TABLE pets_new RENAME TO pets;
         CREATE INDEX pets_by_name ON pets (name);
         -- events: STRICT dropped, a column added.
         CREATE TABLE events_new (id INTEGER PRIMARY KEY, kind TEXT NOT NULL, payload ANY,
             at INTEGER NOT NULL DEFAULT 0, source TEXT);
         DROP TABLE events;
         ALTER TABLE events_new RENAME TO events;
         CREATE UNIQUE INDEX events_kind_at ON events (kind, at) WHERE kind NOT IN ('noise', 'debug');
         DROP INDEX owners_email_domain;
         CREATE INDEX owners_email_domain ON owners (lower(substr(email, instr(email, '@') + 1)));
         CREATE VIEW heavy_pets AS SELECT id, name, weight_kg FROM pets WHERE weight_g >= 10000;
         CREATE TRIGGER pets_audit AFTER DELETE ON pets BEGIN
             INSERT INTO events (kind, payload) VALUES ('gone', old.name);
         END;
         CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT);
         PRAGMA foreign_keys = ON;",
    )
    .unwrap();
    let b = introspect(&conn).unwrap();
    let changes = diff(&a, &b);
    for object in [ObjectKind::Table, ObjectKind::Column, ObjectKind::Constraint, ObjectKind::Index] {
        assert!(changes.iter().any(|c| c.object == object), "no {object:?} change: {changes:#?}");
    }
    for object in [ObjectKind::Trigger, ObjectKind::View] {
        assert!(changes.iter().any(|c| c.object == object && c.kind == ChangeKind::Alter), "{changes:#?}");
    }
    insta::assert_snapshot!("schema_diff_every_kind", render(&changes));

    // And the SQL generated from that diff turns a into b.
    let target = every_kind();
    apply(&target, &generate(&a, &b).unwrap());
    assert_eq!(diff(&introspect(&target).unwrap(), &b), []);
}

#[test]
fn generate_uses_alter_table_where_sqlite_allows_it() {
    let conn = Connection::open_in_memory().unwrap();
    conn.execute_batch(
        "CREATE TABLE t (a INTEGER PRIMARY KEY, b TEXT, old TEXT); INSERT INTO t VALUES (1, 'x', 'y');",
    )
    .unwrap();
    let a = introspect(&conn).unwrap();
    let target = Connection::open_in_memory().unwrap();
    target
        .execute_batch("CREATE TABLE t (a INTEGER PRIMARY KEY, b TEXT, c INTEGER NOT NULL DEFAULT 7);")
        .unwrap();
    let b = introspect(&target).unwrap();
    let sql = generate(&a, &b).unwrap();
    assert_eq!(
        sql,
        "ALTER TABLE \"t\" DROP COLUMN \"old\";\nALTER TABLE \"t\" ADD COLUMN c INTEGER NOT NULL DEFAULT 7;\n"
    );
    apply(&conn, &sql);
    assert_eq!(introspect(&conn).unwrap(), b);
    let c: i64 = conn.query_row("SELECT c FROM t", [], |r| r.get(0)).unwrap();
    assert_eq!(c, 7);
}

#[test]
fn generate_rebuilds_a_table_keeping_rows_indexes_triggers_and_child_rows() {
    let conn = every_kind();
    conn.execute_batch(
        "INSERT INTO owners (id, email) VALUES (1, 'a@x.org');
         INSERT INTO pets (id, owner_id, name, weight_g) VALUES (1, 1, 'rex', 12000);",
    )
    .unwrap();
    let a = introspect(&conn).unwrap();
    let target = every_kind();
    // Changing a column's type and adding a CHECK needs the 12-step rebuild.
    target
        .execute_batch(
            "PRAGMA foreign_keys = OFF;
             CREATE TABLE owners2 (id INTEGER PRIMARY KEY AUTOINCREMENT, email TEXT NOT NULL COLLATE NOCASE,
                 created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')), UNIQUE (email),
                 CHECK (email LIKE '%@%'));
             DROP TABLE owners; ALTER TABLE owners2 RENAME TO owners;
             CREATE INDEX owners_email_domain ON owners (substr(email, instr(email, '@') + 1));",
        )
        .unwrap();
    let b = introspect(&target).unwrap();
    let sql = generate(&a, &b).unwrap();
    assert!(sql.contains("CREATE TABLE \"_strata_new_owners\""), "{sql}");
    assert!(sql.ends_with("PRAGMA foreign_key_check;\n"), "{sql}");
    apply(&conn, &sql);
    assert_eq!(diff(&introspect(&conn).unwrap(), &b), []);
    let pets: i64 = conn.query_row("SELECT count(*) FROM pets", [], |r| r.get(0)).unwrap();
    assert_eq!(pets, 1, "the child row survived the rebuild of its parent");
    let owners: i64 = conn.query_row("SELECT count(*) FROM owners", [], |r| r.get(0)).unwrap();
    assert_eq!(owners, 1);
}

#[test]
fn drift_check_is_clean_for_a_migrated_database_and_reports_a_hand_made_change() {
    let s = Scratch::with_fixture("basic");
    let conn = s.open();
    up(&conn, &s.set().up_to(2), &UpOptions { snapshot: false, ..UpOptions::default() }).unwrap();
    let report = drift_check(&conn, &s.set()).unwrap();
    assert!(report.is_clean(), "{report:?}");
    assert_eq!(report.version, Some(2));
    assert_eq!(expected_schema(&s.set(), Some(2)).unwrap().fingerprint(), report.actual_fingerprint);

    conn.execute_batch("CREATE INDEX users_name ON users (name);").unwrap();
    let report = drift_check(&conn, &s.set()).unwrap();
    assert!(!report.is_clean());
    assert_eq!(render(&report.changes), "+ index users_name: index users_name on users (name)\n");
    let err = report.into_result().unwrap_err();
    assert_eq!(err.code(), "E3014");
    assert_eq!(err.kind(), strata_core::ErrorKind::Schema);
    assert!(matches!(err, strata_core::Error::DriftDetected { changes: 1, .. }), "{err:?}");
    assert!(err.to_string().contains("schema drift: 1 difference"), "{err}");
}

#[test]
fn every_prefix_of_the_fixture_sets_is_reversible() {
    for name in ["basic", "every_kind"] {
        let report = check_reversible(&MigrationSet::from_dir(fixture(name)).unwrap()).unwrap();
        assert!(report.problems.is_empty(), "{name}: {report:#?}");
        assert!(!report.checked.is_empty());
    }
}

#[test]
fn a_down_that_forgets_something_is_not_reversible() {
    let s = Scratch::with_fixture("basic");
    s.write("V2__posts.down.sql", "DROP TABLE posts;\nCREATE TABLE leftover (x);");
    let report = check_reversible(&s.set()).unwrap();
    assert_eq!(report.problems.len(), 2, "down leaves `leftover`, so up again differs too: {report:#?}");
    assert_eq!((report.problems[0].version, report.problems[0].stage.as_str()), (2, "down"));
    let err = report.into_result().unwrap_err();
    assert_eq!(err.code(), "E3016");
    assert!(matches!(err, strata_core::Error::NotReversible { version: 2, .. }), "{err:?}");
    assert!(err.to_string().contains("migration V2 is not reversible"), "{err}");
}
