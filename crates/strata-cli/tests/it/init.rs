//! `strata init` and the contract every command shares: output, `--json`, exit
//! codes, and what happens on bad input.

use std::os::unix::fs::PermissionsExt;
use std::process::Command;

use crate::{strata, text};

#[test]
fn init_creates_the_default_database_and_says_what_it_did() {
    let dir = tempfile::tempdir().unwrap();
    let out = strata(dir.path(), &["init"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr, dir.path()));
    insta::assert_snapshot!(text(&out.stdout, dir.path()));
    let db = dir.path().join("strata.db");
    assert_eq!(std::fs::metadata(&db).unwrap().permissions().mode() & 0o777, 0o600);
    assert!(!dir.path().join("strata.db-wal").exists());

    let again = strata(dir.path(), &["init"]);
    assert_eq!(again.status.code(), Some(0));
    assert!(text(&again.stdout, dir.path()).starts_with("opened existing strata.db"));
}

#[test]
fn init_json_is_one_document_with_the_settings() {
    let dir = tempfile::tempdir().unwrap();
    let out = strata(dir.path(), &["--db", "app.db", "--json", "init"]);
    assert_eq!(out.status.code(), Some(0));
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).expect("stdout is JSON");
    assert_eq!(doc["path"], "app.db");
    assert_eq!(doc["created"], true);
    assert_eq!(doc["writer"]["journal_mode"], "wal");
    assert_eq!(doc["writer"]["foreign_keys"], true);
    assert_eq!(doc["reader"]["query_only"], true);
    assert_eq!(doc["close"]["wal_removed"], true);
}

#[test]
fn the_database_path_comes_from_strata_db_when_no_flag_is_given() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_strata"))
        .args(["init"])
        .current_dir(dir.path())
        .env("STRATA_DB", "from-env.db")
        .env_remove("STRATA_CONFIG")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert!(dir.path().join("from-env.db").exists());
    assert!(!dir.path().join("strata.db").exists());
}

#[test]
fn a_failure_prints_code_and_hint_and_exits_3() {
    let dir = tempfile::tempdir().unwrap();
    let out = strata(dir.path(), &["--db", "missing/dir/x.db", "init"]);
    assert_eq!(out.status.code(), Some(3));
    insta::assert_snapshot!(text(&out.stderr, dir.path()));

    let out = strata(dir.path(), &["--db", "missing/dir/x.db", "--json", "init"]);
    assert_eq!(out.status.code(), Some(3));
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).expect("error is JSON on stdout");
    assert_eq!(doc["code"], "E2001");
    assert_eq!(doc["kind"], "unavailable");
    assert!(doc["message"].as_str().unwrap().contains("missing/dir"));
    assert!(!doc["hint"].as_str().unwrap().is_empty());
}

#[test]
fn a_text_file_is_refused_and_left_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let notes = dir.path().join("notes.txt");
    std::fs::write(&notes, "shopping: milk, eggs\n").unwrap();
    let out = strata(dir.path(), &["--db", "notes.txt", "init"]);
    assert_eq!(out.status.code(), Some(3));
    assert!(text(&out.stderr, dir.path()).starts_with("E5002 file is not a database"));
    assert_eq!(std::fs::read_to_string(&notes).unwrap(), "shopping: milk, eggs\n");
}

#[test]
fn a_config_file_with_an_unknown_key_names_it() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("strata.toml"), "[pool]\nreaders = 2\nreader = 3\n").unwrap();
    let out = strata(dir.path(), &["--config", "strata.toml", "init"]);
    assert_eq!(out.status.code(), Some(3));
    let stderr = text(&out.stderr, dir.path());
    assert!(stderr.starts_with("E1002 config field `pool.reader`"), "{stderr}");
    assert!(!dir.path().join("strata.db").exists(), "nothing opened on a bad config");
}

#[test]
fn a_usage_error_exits_2() {
    let dir = tempfile::tempdir().unwrap();
    assert_eq!(strata(dir.path(), &["no-such-command"]).status.code(), Some(2));
    assert_eq!(strata(dir.path(), &["init", "--no-such-flag"]).status.code(), Some(2));
}

/// Runs `strata` with the test-only switch that makes it panic on purpose.
fn panicking(dir: &std::path::Path, place: &str, args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_strata"))
        .args(args)
        .current_dir(dir)
        .env("STRATA_TEST_PANIC", place)
        .env_remove("STRATA_DB")
        .env_remove("STRATA_CONFIG")
        .env_remove("RUST_LOG")
        .env_remove("RUST_BACKTRACE")
        .output()
        .expect("strata runs")
}

#[test]
fn a_panic_is_an_internal_error_with_code_and_hint_and_exits_3() {
    let dir = tempfile::tempdir().unwrap();
    for place in ["main", "thread"] {
        let out = panicking(dir.path(), place, &["init"]);
        assert_eq!(out.status.code(), Some(3), "{place}: {}", text(&out.stderr, dir.path()));
        let stderr = text(&out.stderr, dir.path());
        let mut lines = stderr.lines();
        let first = lines.next().unwrap_or_default();
        assert!(
            first.starts_with("E9001 internal error: panicked at crates/strata-cli/src/"),
            "{place}: {stderr}"
        );
        assert!(first.contains("STRATA_TEST_PANIC"), "{place}: the panic's message is shown: {stderr}");
        assert_eq!(
            lines.next(),
            Some("hint: this is a bug in strata: please report it with the command and this message"),
            "{place}: {stderr}"
        );
        assert_eq!(lines.next(), None, "{place}: nothing but the error: {stderr}");
        assert!(out.stdout.is_empty());

        let out = panicking(dir.path(), place, &["--json", "init"]);
        assert_eq!(out.status.code(), Some(3), "{place}");
        let doc: serde_json::Value =
            serde_json::from_slice(&out.stdout).expect("the error is JSON on stdout");
        assert_eq!(doc["code"], "E9001");
        assert_eq!(doc["kind"], "internal");
        assert!(doc["message"].as_str().unwrap().contains("STRATA_TEST_PANIC"), "{doc}");
        assert!(doc["hint"].as_str().unwrap().contains("report it"), "{doc}");
        assert!(out.stderr.is_empty(), "{place}: {}", text(&out.stderr, dir.path()));
    }
    assert!(!dir.path().join("strata.db").exists(), "the panic came before the command ran");
}

#[test]
fn a_background_task_that_panicked_is_e9002_and_its_location_is_logged() {
    let dir = tempfile::tempdir().unwrap();
    let out = panicking(dir.path(), "task", &["--json", "init"]);
    assert_eq!(out.status.code(), Some(3));
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).expect("the error is JSON on stdout");
    assert_eq!(doc["code"], "E9002");
    assert_eq!(doc["kind"], "internal");
    assert!(doc["message"].as_str().unwrap().starts_with("background task test failed: "), "{doc}");
    assert!(doc["message"].as_str().unwrap().contains("STRATA_TEST_PANIC=task"), "{doc}");
    let stderr = text(&out.stderr, dir.path());
    assert!(stderr.contains("a thread panicked at crates/strata-cli/src/panic.rs:"), "{stderr}");
}
