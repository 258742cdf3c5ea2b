//! `strata demo`: the README's first command, on the default `./strata.db`, twice.

use crate::check::no_disk_limits;
use crate::{strata, text};

#[test]
fn demo_runs_on_the_default_database_and_again_on_the_same_file() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // Without free-disk thresholds, so that a nearly full CI disk is no finding.
    let config = no_disk_limits(d);
    let first = strata(d, &["--config", &config, "demo", "--tasks", "100", "--workers", "2"]);
    assert_eq!(first.status.code(), Some(0), "{}", text(&first.stderr, d));
    assert!(d.join("strata.db").exists(), "the default database is ./strata.db");
    let human = text(&first.stdout, d);
    for expected in ["strata-schema", "strata-repo", "strata-pool", "strata-ops", "98 completed", "2 dead"] {
        assert!(human.contains(expected), "{expected} in:\n{human}");
    }
    assert!(text(&first.stderr, d).contains("enqueued 100 tasks"), "steps are printed as they finish");

    let second = strata(d, &["--config", &config, "--json", "demo", "--tasks", "100", "--workers", "2"]);
    assert_eq!(second.status.code(), Some(0), "{}", text(&second.stderr, d));
    let doc: serde_json::Value = serde_json::from_slice(&second.stdout).unwrap();
    assert_eq!(doc["created"], false);
    assert_eq!(doc["queue"]["completed"], 98);
    assert_eq!(doc["queue"]["stats"]["completed"], 196);
    assert_eq!(doc["health"]["status"], "ok");
    assert_eq!(doc["backup"]["manifest"]["verification"]["ok"], true);
}

#[test]
fn demo_with_zero_workers_is_a_typed_error() {
    let dir = tempfile::tempdir().unwrap();
    let out = strata(dir.path(), &["--json", "demo", "--workers", "0"]);
    assert_eq!(out.status.code(), Some(3));
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["code"], "E6001");
}
