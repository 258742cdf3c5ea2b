//! The migration runner: all-or-nothing batches, history, rollback, repair, snapshots.

use strata_core::{Error, ErrorKind};
use strata_schema::{
    DownOptions, DownTarget, MigrationSet, MigrationState, UpOptions, applied_migrations, down,
    new_migration, plan, plan_down, repair, status, up,
};

use crate::support::{Scratch, dump, fixture, tables};

fn no_snapshot() -> UpOptions {
    UpOptions { snapshot: false, ..UpOptions::default() }
}

#[test]
fn up_applies_every_pending_migration_and_records_it_in_refinerys_format() {
    let s = Scratch::with_fixture("basic");
    let mut conn = s.open();
    let report = up(&conn, &s.set(), &no_snapshot()).unwrap();
    assert_eq!((report.from, report.to), (None, Some(3)));
    assert_eq!(report.applied.iter().map(|m| m.version).collect::<Vec<_>>(), [1, 2, 3]);
    assert_eq!(tables(&conn), ["posts", "refinery_schema_history", "strata_schema_checksums", "users"]);

    // refinery reads the history strata wrote and finds nothing to do and nothing divergent.
    let ups = refinery::load_sql_migrations(s.migrations()).unwrap();
    let runner = refinery::Runner::new(&ups);
    let applied = runner.get_applied_migrations(&mut conn).unwrap();
    assert_eq!(applied.len(), 3);
    assert_eq!(applied[2].checksum(), s.set().get(3).unwrap().checksum());
    let report = runner.run(&mut conn).unwrap();
    assert!(report.applied_migrations().is_empty());
}

#[test]
fn a_database_refinery_migrated_is_continued_by_strata() {
    let s = Scratch::with_fixture("basic");
    std::fs::remove_file(s.migrations().join("V3__user_email.sql")).unwrap();
    std::fs::remove_file(s.migrations().join("V3__user_email.down.sql")).unwrap();
    let mut conn = s.open();
    let ups = refinery::load_sql_migrations(s.migrations()).unwrap();
    refinery::Runner::new(&ups).run(&mut conn).unwrap();
    std::fs::copy(fixture("basic").join("V3__user_email.sql"), s.migrations().join("V3__user_email.sql"))
        .unwrap();

    let report = up(&conn, &s.set(), &no_snapshot()).unwrap();
    assert_eq!(report.applied.iter().map(|m| m.version).collect::<Vec<_>>(), [3]);
    assert_eq!(applied_migrations(&conn).unwrap().len(), 3);
}

#[test]
fn embedded_refinery_runner_pairs_with_down_files() {
    refinery::embed_migrations!("tests/fixtures/basic");
    let runner = migrations::runner();
    let down1 = include_str!("../fixtures/basic/V1__users.down.sql");
    let set = MigrationSet::from_refinery(&runner, &[("V1__users.down.sql", down1)]).unwrap();
    assert_eq!(set.migrations().len(), 3, "refinery does not take the down files for ups");
    assert_eq!(set.get(1).unwrap().down(), Some(down1));
    assert!(set.get(2).unwrap().down().is_none());
    assert_eq!(
        set,
        MigrationSet::from_sources(set.migrations().iter().map(|m| (m.stem(), m.up(), m.down()))).unwrap()
    );

    let err = MigrationSet::from_refinery(&runner, &[("V9__nope.down.sql", "")]).unwrap_err();
    assert_eq!(err.code(), "E3008");
    assert!(err.to_string().contains("V9__nope.down.sql"), "{err}");
}

#[test]
fn embedded_migration_macro_reads_both_files() {
    let set = MigrationSet::from_sources([
        strata_schema::embedded_migration!("tests/fixtures/basic", "V1__users"),
        strata_schema::embedded_migration!("tests/fixtures/basic", "V2__posts"),
    ])
    .unwrap();
    assert_eq!(set.latest(), Some(2));
    assert!(set.get(2).unwrap().down().unwrap().contains("DROP TABLE posts"));
}

#[test]
fn a_failing_migration_in_the_middle_of_a_batch_leaves_the_database_identical() {
    let s = Scratch::with_fixture("basic");
    let conn = s.open();
    up(&conn, &s.set().up_to(1), &no_snapshot()).unwrap();
    // The batch is V2, V3, V4; V3 fails on its second statement, after its first ran.
    s.write(
        "V3__user_email.sql",
        "ALTER TABLE users ADD COLUMN email TEXT;\n\nUPDATE users SET owner_id = 1;\n",
    );
    s.write("V4__tags.sql", "CREATE TABLE tags (id INTEGER PRIMARY KEY, label TEXT);\n");
    let before = dump(&conn);

    let err = up(&conn, &s.set(), &no_snapshot()).unwrap_err();
    assert_eq!(err.code(), "E3002");
    assert_eq!(err.kind(), ErrorKind::Schema);
    assert!(
        matches!(&err, Error::MigrationFailed { version: 3, file, line: 3, .. } if file == "V3__user_email.sql"),
        "{err:?}"
    );
    let message = err.to_string();
    assert!(message.contains("migration V3 failed"), "{message}");
    assert!(message.contains("V3__user_email.sql line 3"), "{message}");
    assert!(message.contains("no such column: owner_id"), "{message}");
    assert!(message.contains("UPDATE users SET owner_id = 1"), "{message}");
    assert_eq!(dump(&conn), before, "V2 and the history rows were rolled back with V3, V4 never ran");
    assert_eq!(applied_migrations(&conn).unwrap().iter().map(|m| m.version).collect::<Vec<_>>(), [1]);
    assert!(conn.is_autocommit());
    let fk: bool = conn.query_row("PRAGMA foreign_keys", [], |r| r.get(0)).unwrap();
    assert!(fk, "foreign keys are back on after a failed batch");
}

#[test]
fn a_table_rebuild_on_a_referenced_table_keeps_the_child_rows() {
    let s = Scratch::with_fixture("basic");
    let conn = s.open();
    up(&conn, &s.set().up_to(2), &no_snapshot()).unwrap();
    // The documented rebuild: new table, copy, drop, rename. With foreign keys on, the
    // DROP would cascade into posts (ON DELETE CASCADE).
    s.write(
        "V3__rebuild_users.sql",
        "CREATE TABLE users_new (id INTEGER PRIMARY KEY, name TEXT NOT NULL, email TEXT);
         INSERT INTO users_new (id, name) SELECT id, name FROM users;
         DROP TABLE users;
         ALTER TABLE users_new RENAME TO users;",
    );
    std::fs::remove_file(s.migrations().join("V3__user_email.sql")).unwrap();
    std::fs::remove_file(s.migrations().join("V3__user_email.down.sql")).unwrap();
    up(&conn, &s.set(), &no_snapshot()).unwrap();
    let posts: i64 = conn.query_row("SELECT count(*) FROM posts", [], |r| r.get(0)).unwrap();
    assert_eq!(posts, 2);
    let fk: bool = conn.query_row("PRAGMA foreign_keys", [], |r| r.get(0)).unwrap();
    assert!(fk, "foreign keys are restored after the batch");
}

#[test]
fn a_rebuild_that_leaves_dangling_references_is_rolled_back_naming_the_rows() {
    let s = Scratch::with_fixture("basic");
    let conn = s.open();
    up(&conn, &s.set().up_to(2), &no_snapshot()).unwrap();
    s.write(
        "V3__rebuild_users.sql",
        "CREATE TABLE users_new (id INTEGER PRIMARY KEY, name TEXT NOT NULL);
         INSERT INTO users_new (id, name) SELECT id, name FROM users WHERE id = 1;
         DROP TABLE users;
         ALTER TABLE users_new RENAME TO users;",
    );
    std::fs::remove_file(s.migrations().join("V3__user_email.sql")).unwrap();
    std::fs::remove_file(s.migrations().join("V3__user_email.down.sql")).unwrap();
    let before = dump(&conn);
    let err = up(&conn, &s.set(), &no_snapshot()).unwrap_err();
    assert_eq!(err.code(), "E3007");
    assert!(matches!(&err, Error::ForeignKeyViolations { count: 1, .. }), "{err:?}");
    let message = err.to_string();
    assert!(message.contains("V3"), "{message}");
    assert!(message.contains("posts rowid 11 (user_id) has no parent in users"), "{message}");
    assert_eq!(dump(&conn), before);
}

#[test]
fn an_edited_applied_migration_is_refused_with_its_version() {
    let s = Scratch::with_fixture("basic");
    let conn = s.open();
    up(&conn, &s.set(), &no_snapshot()).unwrap();
    s.write("V2__posts.sql", "CREATE TABLE posts (id INTEGER PRIMARY KEY);");
    let err = up(&conn, &s.set(), &no_snapshot()).unwrap_err();
    assert_eq!(err.code(), "E3003");
    assert_eq!(err.kind(), ErrorKind::Schema);
    assert!(matches!(&err, Error::MigrationDivergent { version: 2, .. }), "{err:?}");
    assert!(err.to_string().contains("migration V2 (posts) was edited after it was applied"), "{err}");
    let err = plan(&conn, &s.set(), None).unwrap_err();
    assert_eq!(err.code(), "E3003");
    assert!(err.to_string().contains("V2"), "{err}");

    let st = status(&conn, &s.set()).unwrap();
    assert!(!st.is_consistent());
    assert!(matches!(st.entries[1].state, MigrationState::Divergent { repairable: false, .. }));
}

#[test]
fn a_missing_or_out_of_order_migration_is_an_error_with_its_version() {
    let s = Scratch::with_fixture("basic");
    let conn = s.open();
    up(&conn, &s.set(), &no_snapshot()).unwrap();
    let full = s.set();
    let without_v2 =
        MigrationSet::new(full.migrations().iter().filter(|m| m.version() != 2).cloned()).unwrap();
    let err = up(&conn, &without_v2, &no_snapshot()).unwrap_err();
    assert_eq!(err.code(), "E3004");
    assert!(err.to_string().contains("migration V2 (posts) is applied but missing"), "{err}");

    let s2 = Scratch::with_fixture("basic");
    let conn2 = s2.open();
    up(&conn2, &without_v2, &no_snapshot()).unwrap();
    let err = up(&conn2, &full, &no_snapshot()).unwrap_err();
    assert_eq!(err.code(), "E3005");
    assert!(
        err.to_string().contains("migration V2 is not applied but the database is already at V3"),
        "{err}"
    );
    assert_eq!(status(&conn2, &full).unwrap().entries[1].state, MigrationState::OutOfOrder);
}

#[test]
fn up_to_stops_at_the_target_and_plan_lists_what_would_run() {
    let s = Scratch::with_fixture("basic");
    let conn = s.open();
    let p = plan(&conn, &s.set(), Some(2)).unwrap();
    assert_eq!((p.from, p.to), (None, Some(2)));
    assert_eq!(
        p.steps.iter().map(|m| (m.version, m.checksum)).collect::<Vec<_>>(),
        [(1, s.set().get(1).unwrap().checksum()), (2, s.set().get(2).unwrap().checksum())]
    );
    let report = up(&conn, &s.set(), &UpOptions { to: Some(2), ..no_snapshot() }).unwrap();
    assert_eq!(report.to, Some(2));
    assert_eq!(status(&conn, &s.set()).unwrap().pending(), [3]);

    let err = up(&conn, &s.set(), &UpOptions { to: Some(7), ..no_snapshot() }).unwrap_err();
    assert_eq!(err.code(), "E3010");
    assert_eq!(err.kind(), ErrorKind::Invalid);
    assert!(err.to_string().contains("target V7"), "{err}");
    let err = up(&conn, &s.set(), &UpOptions { to: Some(1), ..no_snapshot() }).unwrap_err();
    assert_eq!(err.code(), "E3010");
    assert!(err.to_string().contains("older than the current V2"), "{err}");
}

#[test]
fn a_dry_run_reports_the_batch_and_leaves_nothing_behind() {
    let s = Scratch::with_fixture("basic");
    let conn = s.open();
    let before = dump(&conn);
    let report = up(&conn, &s.set(), &UpOptions { dry_run: true, ..UpOptions::default() }).unwrap();
    assert!(report.dry_run);
    assert_eq!(report.applied.len(), 3);
    assert_eq!(report.snapshot, None, "a dry run takes no snapshot");
    assert_eq!(dump(&conn), before);
}

#[test]
fn rollback_runs_downs_newest_first_and_forgets_their_history() {
    let s = Scratch::with_fixture("basic");
    let conn = s.open();
    up(&conn, &s.set().up_to(1), &no_snapshot()).unwrap();
    let at_v1 = dump(&conn);
    up(&conn, &s.set(), &no_snapshot()).unwrap();

    let options = |target| DownOptions { snapshot: false, ..DownOptions::new(target) };
    let p = plan_down(&conn, &s.set(), DownTarget::Steps(1)).unwrap();
    assert_eq!((p.from, p.to), (Some(3), Some(2)));
    let report = down(&conn, &s.set(), &options(DownTarget::Steps(1))).unwrap();
    assert_eq!(report.reverted.iter().map(|m| m.version).collect::<Vec<_>>(), [3]);
    assert_eq!(report.to, Some(2));
    let report = down(&conn, &s.set(), &options(DownTarget::To(1))).unwrap();
    assert_eq!(report.reverted.iter().map(|m| m.version).collect::<Vec<_>>(), [2]);
    assert_eq!(dump(&conn), at_v1);
    down(&conn, &s.set(), &options(DownTarget::To(0))).unwrap();
    assert!(applied_migrations(&conn).unwrap().is_empty());
    assert_eq!(tables(&conn), ["refinery_schema_history", "strata_schema_checksums"], "only history is left");
}

#[test]
fn more_steps_than_applied_are_refused_not_taken_as_everything() {
    let s = Scratch::with_fixture("basic");
    let conn = s.open();
    up(&conn, &s.set(), &no_snapshot()).unwrap();
    let before = dump(&conn);
    let err = plan_down(&conn, &s.set(), DownTarget::Steps(4)).unwrap_err();
    assert_eq!(err.code(), "E3017");
    let err = down(&conn, &s.set(), &DownOptions::new(DownTarget::Steps(4))).unwrap_err();
    assert!(matches!(err, Error::StepsBeyondApplied { steps: 4, applied: 3 }), "{err:?}");
    assert_eq!(err.kind(), ErrorKind::Invalid);
    assert_eq!(dump(&conn), before, "nothing was rolled back");
    assert!(!s.dir.path().join("app.db.pre-down-V3.bak").exists(), "refused before the snapshot");
    let report =
        down(&conn, &s.set(), &DownOptions { snapshot: false, ..DownOptions::new(DownTarget::Steps(3)) });
    assert_eq!(report.unwrap().reverted.len(), 3, "exactly the applied count is allowed");
}

#[test]
fn a_missing_down_file_refuses_the_whole_rollback_before_anything_runs() {
    let s = Scratch::with_fixture("basic");
    let conn = s.open();
    up(&conn, &s.set(), &no_snapshot()).unwrap();
    std::fs::remove_file(s.migrations().join("V2__posts.down.sql")).unwrap();
    let before = dump(&conn);
    let err = down(&conn, &s.set(), &DownOptions::new(DownTarget::To(0))).unwrap_err();
    assert_eq!(err.code(), "E3006");
    assert!(matches!(&err, Error::DownMissing { version: 2, .. }), "{err:?}");
    assert!(err.to_string().contains("migration V2 (posts) has no down file"), "{err}");
    assert_eq!(dump(&conn), before, "V3's down did not run either");
    assert!(!s.dir.path().join("app.db.pre-down-V3.bak").exists(), "refused before the snapshot");
    let err = down(&conn, &s.set(), &DownOptions::new(DownTarget::To(5))).unwrap_err();
    assert_eq!(err.code(), "E3010");
    assert!(err.to_string().contains("target V5"), "{err}");
}

#[test]
fn repair_accepts_comment_and_whitespace_edits_and_says_so() {
    let s = Scratch::with_fixture("basic");
    let conn = s.open();
    up(&conn, &s.set(), &no_snapshot()).unwrap();
    let original = std::fs::read_to_string(s.migrations().join("V2__posts.sql")).unwrap();
    let edited =
        format!("-- posts belong to users\r\n{}", original.replace('\n', "\r\n").replace("    ", "\t"));
    s.write("V2__posts.sql", &edited);
    let st = status(&conn, &s.set()).unwrap();
    assert!(matches!(st.entries[1].state, MigrationState::Divergent { repairable: true, .. }));

    let report = repair(&conn, &s.set()).unwrap();
    assert_eq!(report.repaired.len(), 1);
    assert_eq!(report.repaired[0].version, 2);
    assert_eq!(report.repaired[0].new_checksum, s.set().get(2).unwrap().checksum());
    assert!(status(&conn, &s.set()).unwrap().is_consistent());
    assert!(repair(&conn, &s.set()).unwrap().repaired.is_empty());
}

#[test]
fn repair_refuses_any_change_beyond_comments_and_whitespace() {
    let s = Scratch::with_fixture("basic");
    let conn = s.open();
    up(&conn, &s.set(), &no_snapshot()).unwrap();
    let original = std::fs::read_to_string(s.migrations().join("V2__posts.sql")).unwrap();
    s.write("V2__posts.sql", &original.replace("'notes'", "'Notes'"));
    let err = repair(&conn, &s.set()).unwrap_err();
    assert_eq!(err.code(), "E3011");
    assert!(err.to_string().contains("cannot repair migration V2"), "{err}");
    assert!(!status(&conn, &s.set()).unwrap().is_consistent(), "nothing was changed");
}

#[cfg(unix)]
#[test]
fn upgrade_and_rollback_take_a_private_snapshot_of_the_previous_state() {
    use std::os::unix::fs::PermissionsExt;

    let s = Scratch::with_fixture("basic");
    let conn = s.open();
    up(&conn, &s.set().up_to(1), &no_snapshot()).unwrap();
    let at_v1 = dump(&conn);
    let report = up(&conn, &s.set(), &UpOptions::default()).unwrap();
    let path = report.snapshot.unwrap();
    assert_eq!(path, s.dir.path().join("app.db.pre-V2.bak"));
    assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
    let snap = rusqlite::Connection::open(&path).unwrap();
    assert_eq!(dump(&snap), at_v1);

    let report = down(&conn, &s.set(), &DownOptions::new(DownTarget::Steps(1))).unwrap();
    assert_eq!(report.snapshot.unwrap(), s.dir.path().join("app.db.pre-down-V3.bak"));
}

#[test]
fn an_in_memory_database_is_migrated_without_a_snapshot() {
    let conn = rusqlite::Connection::open_in_memory().unwrap();
    let set = MigrationSet::from_dir(fixture("basic")).unwrap();
    let report = up(&conn, &set, &UpOptions::default()).unwrap();
    assert_eq!(report.snapshot, None);
    assert_eq!(report.to, Some(3));
}

#[test]
fn statements_that_end_the_transaction_are_refused_before_anything_runs() {
    let s = Scratch::with_fixture("basic");
    s.write("V4__vacuum.sql", "CREATE TABLE t (a);\nVACUUM;");
    let conn = s.open();
    let err = up(&conn, &s.set(), &no_snapshot()).unwrap_err();
    assert_eq!(err.code(), "E3009");
    assert!(
        err.to_string().contains("migration V4 cannot run in a transaction: V4__vacuum.sql line 2"),
        "{err}"
    );
    assert!(tables(&conn).is_empty());
    s.write("V4__vacuum.sql", "BEGIN; CREATE TABLE t (a); COMMIT;");
    assert_eq!(up(&conn, &s.set(), &no_snapshot()).unwrap_err().code(), "E3009");
    s.write("V4__vacuum.sql", "SAVEPOINT a; CREATE TABLE t (a); ROLLBACK TO a; RELEASE a;");
    up(&conn, &s.set(), &no_snapshot()).unwrap();
}

#[test]
fn triggers_with_semicolons_in_their_body_run_as_one_statement() {
    let s = Scratch::with_fixture("basic");
    s.write(
        "V4__audit.sql",
        "CREATE TABLE audit (user_id INTEGER, at TEXT);
         CREATE TRIGGER users_audit AFTER UPDATE ON users BEGIN
             INSERT INTO audit VALUES (new.id, 'x;y');
             UPDATE audit SET at = CASE WHEN at IS NULL THEN 'now' END;
         END;
         UPDATE users SET name = name;",
    );
    let conn = s.open();
    up(&conn, &s.set(), &no_snapshot()).unwrap();
    let n: i64 = conn.query_row("SELECT count(*) FROM audit", [], |r| r.get(0)).unwrap();
    assert_eq!(n, 2);
}

#[test]
fn a_directory_with_a_stray_down_file_or_bad_name_is_refused() {
    let s = Scratch::with_fixture("basic");
    s.write("V9__orphan.down.sql", "SELECT 1;");
    let err = MigrationSet::from_dir(s.migrations()).unwrap_err();
    assert_eq!(err.code(), "E3008");
    assert!(err.to_string().contains("V9__orphan.down.sql"), "{err}");
    std::fs::remove_file(s.migrations().join("V9__orphan.down.sql")).unwrap();
    s.write("V4__bad-name.sql", "SELECT 1;");
    assert_eq!(MigrationSet::from_dir(s.migrations()).unwrap_err().code(), "E3008");
    std::fs::remove_file(s.migrations().join("V4__bad-name.sql")).unwrap();
    s.write("V3__again.sql", "SELECT 1;");
    let err = MigrationSet::from_dir(s.migrations()).unwrap_err();
    assert_eq!(err.code(), "E3008");
    assert!(err.to_string().contains("version 3 is also used"), "{err}");
}

#[test]
fn new_writes_the_next_pair_of_files() {
    let s = Scratch::with_fixture("basic");
    let created = new_migration(&s.migrations(), "add tags").unwrap();
    assert_eq!(created.version, 4);
    assert!(created.up.ends_with("V4__add_tags.sql"));
    assert!(std::fs::read_to_string(&created.down).unwrap().starts_with("-- V4__add_tags: down"));
    assert_eq!(s.set().latest(), Some(4));
    let empty = tempfile::tempdir().unwrap();
    assert_eq!(new_migration(&empty.path().join("m"), "init").unwrap().version, 1);
    assert_eq!(new_migration(&s.migrations(), "drop; table").unwrap_err().code(), "E6001", "a bad argument");
}
