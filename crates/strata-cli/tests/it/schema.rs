//! `strata schema`: show, check (drift, exit 1), diff of two files, generate.

use crate::{lines_of, lines_until, spawn, strata, text, write_migration};

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

/// A table made outside strata (the sqlite3 shell) with a bare non-ASCII column name.
fn make_cafe_table(path: &std::path::Path) {
    let raw = rusqlite::Connection::open(path).unwrap();
    raw.execute_batch("CREATE TABLE menu (id INTEGER PRIMARY KEY, café TEXT, \"prix 🍰\" REAL);").unwrap();
}

#[test]
fn non_ascii_names_are_shown_checked_and_opened_without_a_panic() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    make_cafe_table(&d.join("cafe.db"));
    // A table no migration set creates is reported, not fatal, unless configured so.
    std::fs::write(d.join("strict.toml"), "[schema]\nunknown_tables = \"error\"\n").unwrap();
    for json in [false, true] {
        let with = |args: &[&str]| {
            let mut all = vec!["--db", "cafe.db", "--config", "strict.toml"];
            if json {
                all.push("--json");
            }
            all.extend_from_slice(args);
            strata(d, &all)
        };
        let show = with(&["schema", "show"]);
        assert_eq!(show.status.code(), Some(0), "json {json}: {}", text(&show.stderr, d));
        assert!(text(&show.stdout, d).contains("café") && text(&show.stdout, d).contains("prix 🍰"));

        // The table is not in the (empty) migration set: drift, exit 1.
        std::fs::create_dir_all(d.join("none")).unwrap();
        let check = with(&["schema", "check", "--dir", "none"]);
        assert_eq!(check.status.code(), Some(1), "json {json}: {}", text(&check.stderr, d));
        assert!(text(&check.stdout, d).contains("menu"));

        // `init` opens it with the drift check on and `unknown_tables = "error"`: the
        // extra table is drift (E3014, exit 3) ...
        let init = with(&["init"]);
        assert_eq!(init.status.code(), Some(3), "json {json}: {}", text(&init.stderr, d));
        let shown = if json { text(&init.stdout, d) } else { text(&init.stderr, d) };
        assert!(shown.contains("E3014") && shown.contains("menu"), "{shown}");
    }
    // ... and by default (the table is reported) and with `schema.drift = "warn"` it
    // opens and migrates.
    let init = strata(d, &["--db", "cafe.db", "init"]);
    assert_eq!(init.status.code(), Some(0), "{}", text(&init.stderr, d));
    std::fs::write(d.join("warn.toml"), "[schema]\ndrift = \"warn\"\n").unwrap();
    let init = strata(d, &["--db", "cafe.db", "--config", "warn.toml", "init"]);
    assert_eq!(init.status.code(), Some(0), "{}", text(&init.stderr, d));
}

/// `strata schema watch --json` as a separate process: a change made from another
/// connection arrives as one JSON line with the diff, the drift and the ANALYZE.
#[test]
fn watch_prints_a_json_line_per_schema_change_from_another_connection() {
    use std::time::Duration;

    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write_migration(
        &d.join("m"),
        "V1__notes",
        "CREATE TABLE notes(id INTEGER PRIMARY KEY, body TEXT);\n",
        None,
    );
    assert_eq!(strata(d, &["--db", "app.db", "migrate", "up", "--dir", "m"]).status.code(), Some(0));

    let mut child =
        spawn(d, &["--json", "--db", "app.db", "schema", "watch", "--dir", "m", "--interval-ms", "50"]);
    let lines = lines_of(child.stdout.take().unwrap());
    let next = |what: &str| -> serde_json::Value {
        let line =
            lines.recv_timeout(Duration::from_secs(30)).unwrap_or_else(|e| panic!("no {what} line: {e}"));
        serde_json::from_str(&line).unwrap_or_else(|e| panic!("{what}: {e}: {line}"))
    };
    let started = next("watching");
    assert_eq!(started["watching"], "app.db");

    let other = rusqlite::Connection::open(d.join("app.db")).unwrap();
    other.execute_batch("ALTER TABLE notes ADD COLUMN pinned INTEGER;").unwrap();
    let event = next("event");
    child.kill().unwrap();
    child.wait().unwrap();

    assert_eq!(event["previous_version"], started["schema_version"]);
    assert_eq!(event["changes"][0]["kind"], "add");
    assert_eq!(event["changes"][0]["name"], "notes.pinned");
    assert_eq!(event["analyzed"], serde_json::json!(["notes"]));
    assert_eq!(event["drift"]["changes"][0]["name"], "notes.pinned", "{event}");
}

/// Issue 21: `strata schema watch --config F` follows F: raising `log.level` from
/// warn to info makes info lines appear on stderr, and the reload (of a database the
/// watch opened for writing) is an audit entry.
#[test]
fn watch_follows_a_raised_log_level_in_its_config_file_and_audits_the_reload() {
    use std::time::{Duration, Instant};

    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // The reference schema (with its audit table) is the watched set.
    assert_eq!(strata(d, &["--db", "app.db", "init"]).status.code(), Some(0));
    std::fs::write(d.join("strata.toml"), "[log]\nlevel = \"warn\"\n").unwrap();
    let mut child = spawn(d, &["--json", "--db", "app.db", "--config", "strata.toml", "schema", "watch"]);
    let started = lines_of(child.stdout.take().unwrap()).recv_timeout(Duration::from_secs(30)).unwrap();
    assert!(started.contains("\"watching\""), "{started}");
    let lines = lines_of(child.stderr.take().unwrap());

    std::fs::write(d.join("strata.toml"), "[log]\nlevel = \"info\"\n").unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    let before =
        lines_until(&lines, "reload line", |line| line.contains("INFO") && line.contains("config reloaded"));
    assert!(before.iter().any(|l| l.contains("INFO") && l.contains("log level set")), "{before:#?}");
    assert!(!before.iter().any(|l| l.contains("INFO") && !l.contains("log level set")), "{before:#?}");
    const RELOADS: &str = "SELECT count(*) FROM audit WHERE action = 'config.reload'";
    let db = rusqlite::Connection::open(d.join("app.db")).unwrap();
    let audited = loop {
        let count: i64 = db.query_row(RELOADS, [], |r| r.get(0)).unwrap();
        if count > 0 || Instant::now() > deadline {
            break count;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    child.kill().unwrap();
    child.wait().unwrap();
    assert_eq!(audited, 1, "the reload is audited");
}

/// `schema diff --side-by-side`: A's objects left, B's right; no colour into a pipe.
#[test]
fn diff_side_by_side_shows_both_files_in_columns() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write_migration(
        &d.join("m"),
        "V1__notes",
        "CREATE TABLE notes(id INTEGER PRIMARY KEY, body TEXT);\n",
        None,
    );
    for db in ["a.db", "b.db"] {
        assert_eq!(strata(d, &["--db", db, "migrate", "up", "--dir", "m"]).status.code(), Some(0));
    }
    let raw = rusqlite::Connection::open(d.join("b.db")).unwrap();
    raw.execute_batch("ALTER TABLE notes ADD COLUMN pinned INTEGER;").unwrap();
    drop(raw);
    let diff = strata(d, &["schema", "diff", "a.db", "b.db", "--side-by-side"]);
    assert_eq!(diff.status.code(), Some(1));
    assert_eq!(
        text(&diff.stdout, d),
        "a.db | b.db\n-----+-----\n     | column notes.pinned: INTEGER\n",
        "no escape codes when stdout is not a terminal"
    );
}
