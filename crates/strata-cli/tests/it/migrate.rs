//! `strata migrate`: status, plan, up, down, new, lint and repair on a directory of
//! migrations, with exit codes and the database left intact on failure.

use std::path::Path;

use crate::{strata, text, write_migration};

fn notes_and_tags(dir: &Path) {
    let m = dir.join("m");
    write_migration(
        &m,
        "V1__notes",
        "-- notes\nCREATE TABLE notes(id INTEGER PRIMARY KEY, body TEXT NOT NULL);\n",
        Some("DROP TABLE notes;\n"),
    );
    write_migration(
        &m,
        "V2__tags",
        "CREATE TABLE tags(id INTEGER PRIMARY KEY, note_id INTEGER NOT NULL REFERENCES notes(id), tag TEXT NOT NULL);\nCREATE INDEX tags_by_note ON tags(note_id);\n",
        Some("DROP TABLE tags;\n"),
    );
}

#[test]
fn up_status_down_round_trip_with_snapshots() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    notes_and_tags(d);
    let plan = strata(d, &["--db", "app.db", "migrate", "plan", "--dir", "m"]);
    assert_eq!(plan.status.code(), Some(0));
    insta::assert_snapshot!("plan_on_a_new_database", text(&plan.stdout, d));

    let up = strata(d, &["--db", "app.db", "migrate", "up", "--dir", "m"]);
    assert_eq!(up.status.code(), Some(0), "{}", text(&up.stderr, d));
    insta::assert_snapshot!("up", text(&up.stdout, d));
    assert!(!d.join("app.db.pre-V1.bak").exists(), "no snapshot of a file created just now");

    let status = strata(d, &["--db", "app.db", "migrate", "status", "--dir", "m"]);
    assert_eq!(status.status.code(), Some(0));
    insta::assert_snapshot!("status_applied", text(&status.stdout, d));

    let down = strata(d, &["--db", "app.db", "migrate", "down", "--dir", "m", "--steps", "1"]);
    assert_eq!(down.status.code(), Some(0), "{}", text(&down.stderr, d));
    insta::assert_snapshot!("down_one_step", text(&down.stdout, d));
    assert!(d.join("app.db.pre-down-V2.bak").exists(), "a snapshot before the rollback");

    let json = strata(d, &["--db", "app.db", "--json", "migrate", "status", "--dir", "m"]);
    let doc: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(doc["current"], 1);
    assert_eq!(doc["latest"], 2);
}

#[test]
fn a_failing_migration_exits_3_names_the_file_and_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    notes_and_tags(d);
    assert_eq!(
        strata(d, &["--db", "app.db", "migrate", "up", "--dir", "m", "--to", "1"]).status.code(),
        Some(0)
    );
    write_migration(
        &d.join("m"),
        "V3__broken",
        "CREATE TABLE ok(x);\nINSERT INTO nowhere VALUES (1);\n",
        Some("DROP TABLE ok;\n"),
    );
    let before = strata(d, &["--db", "app.db", "schema", "show"]);

    let up = strata(d, &["--db", "app.db", "migrate", "up", "--dir", "m", "--no-snapshot"]);
    assert_eq!(up.status.code(), Some(3));
    let stderr = text(&up.stderr, d);
    assert!(stderr.starts_with("E3002 migration V3 failed: V3__broken.sql line 2"), "{stderr}");
    assert!(stderr.contains("no such table: nowhere"), "{stderr}");
    let after = strata(d, &["--db", "app.db", "schema", "show"]);
    assert_eq!(before.stdout, after.stdout, "V2 of the failed batch was rolled back too");
}

#[test]
fn rolling_back_without_a_down_file_is_refused_before_anything_runs() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    notes_and_tags(d);
    std::fs::remove_file(d.join("m/V1__notes.down.sql")).unwrap();
    assert_eq!(strata(d, &["--db", "app.db", "migrate", "up", "--dir", "m"]).status.code(), Some(0));
    let down = strata(d, &["--db", "app.db", "--json", "migrate", "down", "--dir", "m", "--to", "0"]);
    assert_eq!(down.status.code(), Some(3));
    let doc: serde_json::Value = serde_json::from_slice(&down.stdout).unwrap();
    assert_eq!(doc["code"], "E3006");
    let status = strata(d, &["--db", "app.db", "--json", "migrate", "status", "--dir", "m"]);
    let doc: serde_json::Value = serde_json::from_slice(&status.stdout).unwrap();
    assert_eq!(doc["current"], 2, "V2 was not rolled back either");
}

/// `migrate status --json` of app.db: the current version and the applied ones.
fn applied_versions(d: &Path) -> (serde_json::Value, Vec<serde_json::Value>) {
    let status = strata(d, &["--db", "app.db", "--json", "migrate", "status", "--dir", "m"]);
    let doc: serde_json::Value = serde_json::from_slice(&status.stdout).unwrap();
    let applied = doc["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["state"] == "applied")
        .map(|m| m["version"].clone())
        .collect();
    (doc["current"].clone(), applied)
}

#[test]
fn down_steps_beyond_the_applied_count_is_refused_and_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    notes_and_tags(d);
    assert_eq!(strata(d, &["--db", "app.db", "migrate", "up", "--dir", "m"]).status.code(), Some(0));
    let before = strata(d, &["--db", "app.db", "schema", "show"]);

    let down = strata(d, &["--db", "app.db", "migrate", "down", "--dir", "m", "--steps", "5"]);
    assert_eq!(down.status.code(), Some(3), "{}", text(&down.stdout, d));
    let stderr = text(&down.stderr, d);
    assert!(stderr.starts_with("E3017 "), "{stderr}");
    assert!(stderr.contains("--steps 5") && stderr.contains("2 applied"), "{stderr}");
    assert!(
        stderr.contains("--to 0") && stderr.contains("--all"),
        "the hint names the explicit forms: {stderr}"
    );
    let json = strata(d, &["--db", "app.db", "--json", "migrate", "down", "--dir", "m", "--steps", "3"]);
    assert_eq!(json.status.code(), Some(3));
    let doc: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(doc["code"], "E3017");
    assert_eq!(doc["kind"], "invalid");

    assert_eq!(applied_versions(d), (serde_json::json!(2), vec![serde_json::json!(1), serde_json::json!(2)]));
    let after = strata(d, &["--db", "app.db", "schema", "show"]);
    assert_eq!(before.stdout, after.stdout, "nothing was rolled back");
    assert!(!d.join("app.db.pre-down-V2.bak").exists(), "no snapshot either: the refusal came first");

    // Exactly the applied count is fine, and so are the explicit forms of "everything".
    let all_steps =
        strata(d, &["--db", "app.db", "migrate", "down", "--dir", "m", "--steps", "2", "--dry-run"]);
    assert_eq!(all_steps.status.code(), Some(0), "{}", text(&all_steps.stderr, d));
    let all = strata(d, &["--db", "app.db", "migrate", "down", "--dir", "m", "--all", "--no-snapshot"]);
    assert_eq!(all.status.code(), Some(0), "{}", text(&all.stderr, d));
    assert_eq!(applied_versions(d), (serde_json::Value::Null, vec![]));
    assert_eq!(strata(d, &["--db", "app.db", "migrate", "up", "--dir", "m"]).status.code(), Some(0));
    let to_zero =
        strata(d, &["--db", "app.db", "migrate", "down", "--dir", "m", "--to", "0", "--no-snapshot"]);
    assert_eq!(to_zero.status.code(), Some(0), "{}", text(&to_zero.stderr, d));
    assert_eq!(applied_versions(d), (serde_json::Value::Null, vec![]));
    // `--all` is one of the three ways to say how far, not an addition to another.
    let both = strata(d, &["--db", "app.db", "migrate", "down", "--dir", "m", "--all", "--steps", "1"]);
    assert_eq!(both.status.code(), Some(2));
}

#[test]
fn an_edited_applied_migration_is_refused_and_a_comment_edit_is_repairable() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    notes_and_tags(d);
    assert_eq!(strata(d, &["--db", "app.db", "migrate", "up", "--dir", "m"]).status.code(), Some(0));
    let v1 = d.join("m/V1__notes.sql");
    let original = std::fs::read_to_string(&v1).unwrap();
    std::fs::write(&v1, original.replace("-- notes", "-- notes, one per row")).unwrap();
    let status = strata(d, &["--db", "app.db", "migrate", "status", "--dir", "m"]);
    assert_eq!(status.status.code(), Some(1), "an inconsistent history is a problem found");
    assert!(text(&status.stdout, d).contains("edited (comments only: repair)"));
    let repair = strata(d, &["--db", "app.db", "migrate", "repair", "--dir", "m"]);
    assert_eq!(repair.status.code(), Some(0), "{}", text(&repair.stderr, d));
    assert!(text(&repair.stdout, d).starts_with("repaired V1 (notes)"));
    assert_eq!(strata(d, &["--db", "app.db", "migrate", "status", "--dir", "m"]).status.code(), Some(0));

    std::fs::write(&v1, original.replace("body TEXT NOT NULL", "body TEXT")).unwrap();
    let repair = strata(d, &["--db", "app.db", "migrate", "repair", "--dir", "m"]);
    assert_eq!(repair.status.code(), Some(3));
    assert!(text(&repair.stderr, d).starts_with("E3011 cannot repair migration V1"));
}

#[test]
fn new_writes_the_next_pair_and_lint_finds_unsafe_statements() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    notes_and_tags(d);
    let new = strata(d, &["migrate", "new", "drop_tags", "--dir", "m"]);
    assert_eq!(new.status.code(), Some(0));
    assert!(d.join("m/V3__drop_tags.sql").exists() && d.join("m/V3__drop_tags.down.sql").exists());

    let clean = strata(d, &["migrate", "lint", "--dir", "m", "--reversible"]);
    assert_eq!(clean.status.code(), Some(0), "{}", text(&clean.stdout, d));

    std::fs::write(d.join("m/V3__drop_tags.sql"), "DROP TABLE tags;\n").unwrap();
    let lint = strata(d, &["migrate", "lint", "--dir", "m"]);
    assert_eq!(lint.status.code(), Some(1));
    let out = text(&lint.stdout, d);
    assert!(out.contains("V3__drop_tags.sql:1: ") && out.contains("drop-table"), "{out}");
}

#[test]
fn the_reference_migrations_are_built_in_and_lint_clean() {
    let dir = tempfile::tempdir().unwrap();
    let lint = strata(dir.path(), &["migrate", "lint", "--reversible"]);
    assert_eq!(lint.status.code(), Some(0), "{}", text(&lint.stdout, dir.path()));
    assert_eq!(strata(dir.path(), &["init"]).status.code(), Some(0));
    let status = strata(dir.path(), &["--json", "migrate", "status"]);
    let doc: serde_json::Value = serde_json::from_slice(&status.stdout).unwrap();
    assert_eq!(doc["current"], doc["latest"], "init applied every reference migration");
}

#[test]
fn json_documents_are_stable() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    notes_and_tags(d);
    let plan = strata(d, &["--db", "app.db", "--json", "migrate", "plan", "--dir", "m"]);
    insta::assert_snapshot!("json_plan", text(&plan.stdout, d));
    let up = strata(d, &["--db", "app.db", "--json", "migrate", "up", "--dir", "m", "--to", "1"]);
    insta::assert_snapshot!("json_up", text(&up.stdout, d));
    let status = strata(d, &["--db", "app.db", "--json", "migrate", "status", "--dir", "m"]);
    insta::assert_snapshot!("json_status", text(&status.stdout, d));
    let lint = strata(d, &["--json", "migrate", "lint", "--dir", "m", "--reversible"]);
    insta::assert_snapshot!("json_lint", text(&lint.stdout, d));
    let error = strata(d, &["--db", "app.db", "--json", "migrate", "up", "--dir", "m", "--to", "7"]);
    assert_eq!(error.status.code(), Some(3));
    insta::assert_snapshot!("json_error", text(&error.stdout, d));
}

/// Snapshots do not pile up: after each migration that took one, only the newest
/// `schema.snapshot_keep` (3 by default) of the database's `pre-V*` and `pre-down-V*`
/// files are kept, and the output names every one removed; 0 keeps them all.
#[test]
fn only_the_newest_snapshots_are_kept_and_the_output_says_which_went() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let m = d.join("m");
    for v in 1..=5 {
        write_migration(
            &m,
            &format!("V{v}__t{v}"),
            &format!("CREATE TABLE t{v}(id INTEGER PRIMARY KEY);\n"),
            Some(&format!("DROP TABLE t{v};\n")),
        );
    }
    let snapshots = || {
        let mut names: Vec<String> = std::fs::read_dir(d)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .filter(|n| n.ends_with(".bak"))
            .collect();
        names.sort();
        names
    };
    let up_to = |v: &str| {
        let out = strata(d, &["--db", "app.db", "migrate", "up", "--dir", "m", "--to", v]);
        assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr, d));
        text(&out.stdout, d)
    };
    up_to("1"); // creates the file: no snapshot
    up_to("2");
    up_to("3");
    up_to("4");
    assert_eq!(snapshots(), ["app.db.pre-V2.bak", "app.db.pre-V3.bak", "app.db.pre-V4.bak"]);
    let out = up_to("5");
    assert!(out.contains("snapshot: [DIR]/app.db.pre-V5.bak"), "{out}");
    assert!(out.contains("removed older snapshot: [DIR]/app.db.pre-V2.bak (schema.snapshot_keep)"), "{out}");
    assert_eq!(snapshots(), ["app.db.pre-V3.bak", "app.db.pre-V4.bak", "app.db.pre-V5.bak"]);

    // A rollback's snapshot counts too; --json lists what went.
    let down = strata(d, &["--db", "app.db", "--json", "migrate", "down", "--dir", "m", "--steps", "1"]);
    assert_eq!(down.status.code(), Some(0), "{}", text(&down.stderr, d));
    let doc: serde_json::Value = serde_json::from_slice(&down.stdout).unwrap();
    assert_eq!(doc["removed_snapshots"].as_array().unwrap().len(), 1, "{doc}");
    assert!(doc["removed_snapshots"][0].as_str().unwrap().ends_with("app.db.pre-V3.bak"), "{doc}");
    assert_eq!(snapshots(), ["app.db.pre-V4.bak", "app.db.pre-V5.bak", "app.db.pre-down-V5.bak"]);

    // 0 keeps every snapshot: a fourth one joins the three.
    let config = d.join("keep-all.toml");
    std::fs::write(&config, "[schema]\nsnapshot_keep = 0\n").unwrap();
    let config = config.display().to_string();
    let out =
        strata(d, &["--db", "app.db", "--config", &config, "migrate", "down", "--dir", "m", "--steps", "1"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr, d));
    assert!(!text(&out.stdout, d).contains("removed older snapshot"), "{}", text(&out.stdout, d));
    assert_eq!(
        snapshots(),
        ["app.db.pre-V4.bak", "app.db.pre-V5.bak", "app.db.pre-down-V4.bak", "app.db.pre-down-V5.bak"]
    );
}

/// Issue 17 section 1: `strata migrate --dir DIR --namespace NAME` runs an
/// application's set in its own history, beside strata's reference set, without
/// touching strata's history; without a namespace the two `V1`s collide.
#[test]
fn an_application_set_migrates_in_its_namespace_beside_the_reference_set() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    notes_and_tags(d);
    let init = strata(d, &["--db", "app.db", "init"]);
    assert_eq!(init.status.code(), Some(0), "{}", text(&init.stderr, d));
    let reference_history = || {
        let conn = rusqlite::Connection::open(d.join("app.db")).unwrap();
        let mut stmt =
            conn.prepare("SELECT version, checksum FROM refinery_schema_history ORDER BY version").unwrap();
        stmt.query_map([], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?)))
            .unwrap()
            .collect::<Result<Vec<_>, _>>()
            .unwrap()
    };
    let before = reference_history();
    assert!(before.len() >= 9, "{before:?}");

    // In the default namespace the application's V1 meets strata's V1.
    let collide = strata(d, &["--db", "app.db", "migrate", "up", "--dir", "m"]);
    assert_eq!(collide.status.code(), Some(3), "{}", text(&collide.stdout, d));
    assert!(text(&collide.stderr, d).starts_with("E3003"), "{}", text(&collide.stderr, d));

    let up = strata(d, &["--db", "app.db", "migrate", "up", "--dir", "m", "--namespace", "app"]);
    assert_eq!(up.status.code(), Some(0), "{}", text(&up.stderr, d));
    let status =
        strata(d, &["--db", "app.db", "--json", "migrate", "status", "--dir", "m", "--namespace", "app"]);
    assert_eq!(status.status.code(), Some(0), "{}", text(&status.stderr, d));
    let doc: serde_json::Value = serde_json::from_slice(&status.stdout).unwrap();
    assert_eq!(doc["current"], 2, "{doc}");
    assert_eq!(reference_history(), before, "strata's history is untouched");

    let down = strata(d, &["--db", "app.db", "migrate", "down", "--dir", "m", "--namespace", "app", "--all"]);
    assert_eq!(down.status.code(), Some(0), "{}", text(&down.stderr, d));
    assert_eq!(reference_history(), before, "strata's history is untouched by the rollback");
    let conn = rusqlite::Connection::open(d.join("app.db")).unwrap();
    let notes: i64 = conn
        .query_row("SELECT count(*) FROM sqlite_schema WHERE name IN ('notes', 'tags')", [], |r| r.get(0))
        .unwrap();
    assert_eq!(notes, 0, "the application's tables are rolled back");
}
