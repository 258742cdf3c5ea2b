//! `strata audit list|tail`: the filters (task, actor, action, time as RFC 3339 or
//! milliseconds), keyset paging with `--after`, `tail` oldest first, and
//! `tail --follow --json` printing new entries as JSON Lines while they are appended.

use std::path::Path;
use std::time::Duration;

use serde_json::{Value, json};

use crate::queue::{json_of, run, with_db};
use crate::{lines_of, spawn, text};

/// 2023-11-14T22:13:20.000Z.
const T0: i64 = 1_700_000_000_000;

/// Appends an audit row with a chosen time. The library stamps rows with the clock,
/// so rows with fixed times (for the time filters) are written with SQL.
fn append(dir: &Path, ts: i64, actor: &str, action: &str, task: Option<i64>, data: Value) {
    let conn = rusqlite::Connection::open(dir.join("app.db")).unwrap();
    conn.execute(
        "INSERT INTO audit (ts, actor, task_id, action, data, result) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        rusqlite::params![ts, actor, task, action, data.to_string(), task.map(|_| "ok")],
    )
    .unwrap();
}

/// Eight entries, one a second from T0: ids 1 to 8.
fn seed(dir: &Path) {
    with_db(dir, async |_: &strata::Database| ());
    let rows = [
        ("alice", "task.retry", Some(1), json!({ "queue": "mail" })),
        ("bob", "flag.set", None, json!({ "name": "mode", "old": null, "new": "fast" })),
        ("alice", "task.cancel", Some(2), json!({ "cancelled": 3 })),
        ("carol", "queue.purge_dead", None, json!({ "queue": null, "purged": 12 })),
        ("bob", "task.retry", Some(1), json!({ "queue": "mail" })),
        ("alice", "flag.set", None, json!({ "name": "mode", "old": "fast", "new": "slow" })),
        ("carol", "task.retry", Some(5), json!({ "queue": "reports" })),
        ("bob", "task.cancel", Some(1), json!({ "cancelled": 1 })),
    ];
    for (i, (actor, action, task, data)) in rows.into_iter().enumerate() {
        append(dir, T0 + 1_000 * i as i64, actor, action, task, data);
    }
}

fn ids(doc: &Value) -> Vec<i64> {
    doc["entries"].as_array().unwrap().iter().map(|e| e["id"].as_i64().unwrap()).collect()
}

#[test]
fn list_is_newest_first_and_filters() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    seed(d);
    let out = run(d, &["audit", "list"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr, d));
    insta::assert_snapshot!("audit_list", text(&out.stdout, d));

    assert_eq!(ids(&json_of(d, &["audit", "list", "--actor", "alice"], 0)), [6, 3, 1]);
    assert_eq!(ids(&json_of(d, &["audit", "list", "--task", "1"], 0)), [8, 5, 1]);
    assert_eq!(ids(&json_of(d, &["audit", "list", "--action", "flag.set"], 0)), [6, 2]);
    assert_eq!(ids(&json_of(d, &["audit", "list", "--task", "1", "--actor", "bob"], 0)), [8, 5]);
    // --since is inclusive, --until exclusive; RFC 3339 (any offset) or milliseconds.
    let since = "2023-11-14T22:13:22Z";
    let until = (T0 + 5_000).to_string();
    assert_eq!(ids(&json_of(d, &["audit", "list", "--since", since, "--until", &until], 0)), [5, 4, 3]);
    let since = "2023-11-14T23:13:25+01:00";
    assert_eq!(ids(&json_of(d, &["audit", "list", "--since", since, "--action", "task.retry"], 0)), [7]);
    let doc = json_of(d, &["audit", "list", "--actor", "nobody"], 0);
    assert_eq!(doc, json!({ "entries": [], "next": null }));
    assert_eq!(text(&run(d, &["audit", "list", "--actor", "nobody"]).stdout, d), "no audit entries match\n");

    let entry = &json_of(d, &["audit", "list", "--limit", "1"], 0)["entries"][0];
    assert_eq!(
        *entry,
        json!({ "id": 8, "ts": "2023-11-14T22:13:27Z", "actor": "bob", "task_id": 1, "action": "task.cancel",
                "data": { "cancelled": 1 }, "result": "ok", "memory_operation": null,
                "memory_namespace": null, "memory_entry_id": null, "uid": null })
    );
}

#[test]
fn list_pages_visit_every_entry_once() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    seed(d);
    for filter in [&[][..], &["--since", "0"], &["--actor", "bob"]] {
        let mut seen = Vec::new();
        let mut after: Option<String> = None;
        loop {
            let mut args = vec!["audit", "list", "--limit", "3"];
            args.extend(filter);
            if let Some(after) = &after {
                args.extend(["--after", after.as_str()]);
            }
            let page = json_of(d, &args, 0);
            seen.extend(ids(&page));
            match page["next"].as_i64() {
                Some(next) => after = Some(next.to_string()),
                None => break,
            }
        }
        let expected: Vec<i64> =
            if filter.contains(&"bob") { vec![8, 5, 2] } else { (1..=8).rev().collect() };
        assert_eq!(seen, expected, "{filter:?}");
    }
    let first = text(&run(d, &["audit", "list", "--limit", "3"]).stdout, d);
    assert!(first.ends_with("next page: --after 6\n"), "{first}");
}

#[test]
fn bad_filters_are_e6001() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    seed(d);
    let doc = json_of(d, &["audit", "list", "--since", "yesterday"], 3);
    assert_eq!(doc["code"], "E6001");
    assert!(doc["message"].as_str().unwrap().contains("--since"), "{doc}");
    let out = run(d, &["audit", "list", "--until", "2023-13-01T00:00:00Z"]);
    assert_eq!(out.status.code(), Some(3));
    assert!(text(&out.stderr, d).starts_with("E6001 invalid --until: "), "{}", text(&out.stderr, d));
    let doc = json_of(d, &["audit", "list", "--since", "2000", "--until", "1000"], 3);
    assert_eq!(doc["code"], "E6001");
    assert_eq!(json_of(d, &["audit", "list", "--limit", "1001"], 3)["code"], "E6001");
    assert_eq!(run(d, &["audit", "list", "--task", "x"]).status.code(), Some(2));
}

#[test]
fn tail_prints_the_last_entries_or_those_after_an_id_oldest_first() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    seed(d);
    let out = run(d, &["audit", "tail", "--limit", "3"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr, d));
    insta::assert_snapshot!("audit_tail", text(&out.stdout, d));

    let doc = json_of(d, &["audit", "tail", "--limit", "3"], 0);
    assert_eq!(ids(&doc), [6, 7, 8]);
    assert_eq!(doc["last_id"], 8);
    let doc = json_of(d, &["audit", "tail", "--after", "2", "--limit", "2"], 0);
    assert_eq!(ids(&doc), [3, 4]);
    assert_eq!(doc["last_id"], 4);
    let doc = json_of(d, &["audit", "tail", "--after", "8"], 0);
    assert_eq!(doc, json!({ "entries": [], "last_id": 8 }));
    assert_eq!(text(&run(d, &["audit", "tail", "--after", "8"]).stdout, d), "no audit entries\n");
}

#[test]
fn tail_follow_prints_new_entries_as_json_lines() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    seed(d);
    let mut child = spawn(d, &["--db", "app.db", "--json", "audit", "tail", "--after", "6", "--follow"]);
    let lines = lines_of(child.stdout.take().unwrap());
    let next = || -> Value {
        let line = lines.recv_timeout(Duration::from_secs(30)).expect("a line within 30 s");
        serde_json::from_str(&line).unwrap()
    };
    assert_eq!(next()["id"], 7);
    assert_eq!(next()["id"], 8);
    append(d, T0 + 60_000, "dave", "flag.set", None, json!({ "name": "late" }));
    let late = next();
    assert_eq!((late["id"].clone(), late["actor"].clone()), (json!(9), json!("dave")));
    child.kill().unwrap();
    child.wait().unwrap();
}

/// A spill file as a crash leaves it: two whole entries, then a line cut short.
fn spill_with_a_cut_line(dir: &Path) {
    let line = |uid: char, action: &str| {
        format!(r#"{{"uid":"{}","ts":{T0},"actor":"svc","action":"{action}"}}"#, uid.to_string().repeat(32))
    };
    let cut = &line('c', "cut")[..40];
    let text = format!("{}\n{}\n{cut}", line('a', "spilled.1"), line('b', "spilled.2"));
    std::fs::write(dir.join("app.db.audit-spill.jsonl"), text).unwrap();
}

#[test]
fn check_reports_a_waiting_spill_file_and_replay_shows_then_replays_it_once() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    with_db(d, async |_: &strata::Database| ());
    spill_with_a_cut_line(d);

    let doc = json_of(d, &["check"], 1);
    let findings: Vec<&Value> =
        doc["findings"].as_array().unwrap().iter().filter(|f| f["check"] == "audit_spill").collect();
    assert_eq!(findings.len(), 2, "{doc}");
    assert!(
        findings[0]["message"]
            .as_str()
            .unwrap()
            .starts_with("2 audit entries wait in app.db.audit-spill.jsonl")
    );
    assert!(findings[1]["message"].as_str().unwrap().contains("1 damaged line(s): 3"), "{doc}");
    let out = run(d, &["check"]);
    assert!(
        text(&out.stdout, d).contains("warning [audit_spill] 2 audit entries wait"),
        "{}",
        text(&out.stdout, d)
    );

    let dry = json_of(d, &["audit", "replay", "--dry-run"], 1);
    assert_eq!(
        (dry["dry_run"].clone(), dry["entries"].clone(), dry["replayed"].clone()),
        (json!(true), json!(2), json!(0))
    );
    let pending: Vec<&str> =
        dry["pending"].as_array().unwrap().iter().map(|e| e["action"].as_str().unwrap()).collect();
    assert_eq!(pending, ["spilled.1", "spilled.2"]);
    assert_eq!(dry["damaged"][0]["line"], 3);
    let out = run(d, &["audit", "replay", "--dry-run"]);
    let shown = text(&out.stdout, d);
    assert!(shown.contains("2 audit entries wait for replay (dry run: nothing replayed)"), "{shown}");
    assert!(shown.contains(&"a".repeat(32)) && shown.contains("damaged: line 3"), "{shown}");
    assert_eq!(json_of(d, &["audit", "list"], 0)["entries"], json!([]), "a dry run replays nothing");

    let done = json_of(d, &["audit", "replay"], 1);
    assert_eq!(
        (done["entries"].clone(), done["replayed"].clone(), done["skipped"].clone()),
        (json!(2), json!(2), json!(0))
    );
    assert_eq!(done["damaged"][0]["line"], 3);
    let listed = json_of(d, &["audit", "list"], 0);
    let uids: Vec<&str> =
        listed["entries"].as_array().unwrap().iter().map(|e| e["uid"].as_str().unwrap()).collect();
    assert_eq!(uids, ["b".repeat(32), "a".repeat(32)], "newest first, each once");
    assert!(d.join("app.db.audit-spill.jsonl.damaged").exists());

    let doc = json_of(d, &["check"], 0);
    assert!(!doc["findings"].as_array().unwrap().iter().any(|f| f["check"] == "audit_spill"), "{doc}");
    let again = json_of(d, &["audit", "replay"], 0);
    assert_eq!((again["entries"].clone(), again["replayed"].clone()), (json!(0), json!(0)));
    assert_eq!(json_of(d, &["audit", "list"], 0)["entries"].as_array().unwrap().len(), 2);
}

#[test]
fn replay_dry_run_needs_no_database() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    spill_with_a_cut_line(d);
    let dry = json_of(d, &["audit", "replay", "--dry-run"], 1);
    assert_eq!(dry["entries"], 2);
    assert!(!d.join("app.db").exists(), "the dry run created no database");
}
