//! `strata metrics replay [--dry-run]` and `strata check` over a metrics spill file as
//! a crash leaves it: the check reports it, the dry run shows it and replays nothing,
//! the replay puts each sample in once.

use std::path::Path;

use serde_json::{Value, json};

use crate::queue::{json_of, run, with_db};
use crate::text;

/// Rows of `metrics` as (name, uid), in id order.
fn samples(dir: &Path) -> Vec<(String, String)> {
    let conn = rusqlite::Connection::open(dir.join("app.db")).unwrap();
    let mut stmt = conn.prepare("SELECT name, uid FROM metrics ORDER BY id").unwrap();
    stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?))).unwrap().collect::<Result<_, _>>().unwrap()
}

#[test]
fn check_reports_a_waiting_metrics_spill_file_and_replay_shows_then_replays_it_once() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    with_db(d, async |_: &strata::Database| ());
    let sample = |uid: char, name: &str| {
        format!(
            r#"{{"uid":"{}","ts":1700000000000,"name":"{name}","value":4.5}}"#,
            uid.to_string().repeat(32)
        )
    };
    // Two whole samples, then a crash in the middle of the third.
    let text_of_file =
        format!("{}\n{}\n{}", sample('1', "rps"), sample('2', "p99"), &sample('3', "cut")[..20]);
    std::fs::write(d.join("app.db.metrics-spill.jsonl"), text_of_file).unwrap();

    let doc = json_of(d, &["check"], 1);
    let found: Vec<&str> = doc["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["check"] == "metrics_spill")
        .map(|f| f["message"].as_str().unwrap())
        .collect();
    assert_eq!(found.len(), 2, "{doc}");
    assert!(found[0].starts_with("2 metrics samples wait in app.db.metrics-spill.jsonl"), "{doc}");
    assert!(found[0].contains("`strata metrics replay`"), "{doc}");
    assert!(found[1].contains("1 damaged line(s): 3"), "{doc}");

    let dry = json_of(d, &["metrics", "replay", "--dry-run"], 1);
    assert_eq!((&dry["dry_run"], &dry["entries"], &dry["replayed"]), (&json!(true), &json!(2), &json!(0)));
    let names: Vec<&str> =
        dry["pending"].as_array().unwrap().iter().map(|s| s["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["rps", "p99"]);
    let shown = text(&run(d, &["metrics", "replay", "--dry-run"]).stdout, d);
    assert!(shown.contains("2 metrics samples wait for replay (dry run: nothing replayed)"), "{shown}");
    assert!(shown.contains(&"1".repeat(32)) && shown.contains("damaged: line 3"), "{shown}");
    assert!(samples(d).is_empty(), "a dry run replays nothing");

    let done: Value = json_of(d, &["metrics", "replay"], 1);
    assert_eq!((&done["entries"], &done["replayed"], &done["skipped"]), (&json!(2), &json!(2), &json!(0)));
    let uids: Vec<String> = samples(d).into_iter().map(|(_, uid)| uid).collect();
    assert_eq!(uids, ["1".repeat(32), "2".repeat(32)], "in file order, each once");
    assert!(d.join("app.db.metrics-spill.jsonl.damaged").exists());
    let check = json_of(d, &["check"], 0);
    assert!(!check["findings"].as_array().unwrap().iter().any(|f| f["check"] == "metrics_spill"), "{check}");
    let again = json_of(d, &["metrics", "replay"], 0);
    assert_eq!((&again["entries"], &again["replayed"]), (&json!(0), &json!(0)));
    assert_eq!(samples(d).len(), 2);
}
