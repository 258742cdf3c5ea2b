//! `strata queue stats|list|retry|cancel|purge-dead` on a database seeded through the
//! library: the tables, the `--json` documents, paging, the operator's changes and
//! their audit rows, and the typed errors (E4002, E4006, E2004, usage errors).

use std::path::Path;
use std::time::Duration;

use serde_json::{Value, json};
use strata::repo::{Claimer, NewTask, Queue, QueueConfig};

use crate::{strata, text};

/// Runs `work` on `app.db` in `dir`, opened (and created) through the library with
/// the reference migrations, then closes it.
pub fn with_db<T>(dir: &Path, work: impl AsyncFnOnce(&strata::Database) -> T) -> T {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let mut config = strata::Config { path: dir.join("app.db"), ..Default::default() };
        config.monitor.enabled = false;
        config.monitor.query_stats = false;
        let db = strata::Database::open(&config).await.unwrap();
        let answer = work(&db).await;
        db.close().await.unwrap();
        answer
    })
}

/// Runs `strata --db app.db ARGS` in `dir`.
pub fn run(dir: &Path, args: &[&str]) -> std::process::Output {
    let all: Vec<&str> = ["--db", "app.db"].iter().chain(args).copied().collect();
    strata(dir, &all)
}

/// Runs `strata --db app.db --json ARGS`, checks the exit code and parses stdout.
pub fn json_of(dir: &Path, args: &[&str], code: i32) -> Value {
    let all: Vec<&str> = ["--db", "app.db", "--json"].iter().chain(args).copied().collect();
    crate::json_doc(dir, &all, code)
}

/// Queue `mail`: 1 dead, 2 completed... as follows (ids in order):
/// 1 dead (one attempt, failed), 2 completed, 3 failed (permanently), 4 running,
/// 5 pending in an hour, 6 pending now. Queue `reports`: 7 dead, then the tree
/// 8 <- (9 <- 11, 10), all pending.
fn seed(dir: &Path) {
    with_db(dir, async |db| {
        let queue = Queue::new(db.pool().clone(), QueueConfig::default()).unwrap();
        let lease = Duration::from_secs(600);
        let claim_one = async |name: &str| {
            let mut claimed =
                queue.claim(Claimer { queue: name, worker: "worker-1" }, 1, lease).await.unwrap();
            assert_eq!(claimed.len(), 1);
            claimed.remove(0)
        };
        queue
            .enqueue(NewTask::new("email", json!({ "to": "a@example.com" })).queue("mail").max_attempts(1))
            .await
            .unwrap();
        let c = claim_one("mail").await;
        queue.fail(c.task.id, &c.token, "smtp: connection refused").await.unwrap();
        queue.enqueue(NewTask::new("email", json!({ "to": "b@example.com" })).queue("mail")).await.unwrap();
        let c = claim_one("mail").await;
        queue.complete(c.task.id, &c.token, json!({ "sent": true })).await.unwrap();
        queue.enqueue(NewTask::new("email", json!({ "to": "bad address" })).queue("mail")).await.unwrap();
        let c = claim_one("mail").await;
        queue.fail_permanently(c.task.id, &c.token, "invalid address").await.unwrap();
        queue.enqueue(NewTask::new("email", json!({ "to": "d@example.com" })).queue("mail")).await.unwrap();
        claim_one("mail").await;
        let later = NewTask::new("digest", json!({})).queue("mail").delay(Duration::from_secs(3600));
        queue.enqueue(later).await.unwrap();
        queue
            .enqueue(NewTask::new("email", json!({ "to": "f@example.com" })).queue("mail").priority(9))
            .await
            .unwrap();

        queue
            .enqueue(NewTask::new("render", json!({ "page": 0 })).queue("reports").max_attempts(1))
            .await
            .unwrap();
        let c = claim_one("reports").await;
        queue.fail(c.task.id, &c.token, "out of memory").await.unwrap();
        let parent =
            queue.enqueue(NewTask::new("report", json!({ "month": 11 })).queue("reports")).await.unwrap().id;
        let child = NewTask::new("render", json!({ "page": 1 })).queue("reports").parent(parent);
        let child = queue.enqueue(child).await.unwrap().id;
        queue
            .enqueue(NewTask::new("render", json!({ "page": 2 })).queue("reports").parent(parent))
            .await
            .unwrap();
        queue
            .enqueue(NewTask::new("thumbnail", json!({ "page": 1 })).queue("reports").parent(child))
            .await
            .unwrap();
    });
}

#[test]
fn stats_count_every_state_per_queue() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    seed(d);
    let out = run(d, &["queue", "stats"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr, d));
    insta::assert_snapshot!("queue_stats", text(&out.stdout, d));

    let doc = json_of(d, &["queue", "stats"], 0);
    let queues = doc["queues"].as_array().unwrap();
    assert_eq!(queues.len(), 2);
    assert_eq!(
        queues[0],
        json!({ "queue": "mail", "pending": 2, "running": 1, "completed": 1, "failed": 1,
                "cancelled": 0, "dead": 1, "ready_now": 1 })
    );
    assert_eq!(queues[1]["queue"], "reports");
    assert_eq!(queues[1]["pending"], 4);
    assert_eq!(queues[1]["dead"], 1);
}

#[test]
fn list_filters_by_status_and_queue_and_pages_with_after() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    seed(d);
    let out = run(d, &["queue", "list", "--queue", "mail"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr, d));
    insta::assert_snapshot!("queue_list_mail", text(&out.stdout, d));

    let dead = json_of(d, &["queue", "list", "--status", "dead"], 0);
    let ids: Vec<i64> = dead["tasks"].as_array().unwrap().iter().map(|t| t["id"].as_i64().unwrap()).collect();
    assert_eq!(ids, [1, 7]);
    assert_eq!(dead["tasks"][0]["last_error"], "smtp: connection refused");
    // Times are RFC 3339 in UTC, not milliseconds.
    let submitted = dead["tasks"][0]["submitted_at"].as_str().unwrap();
    assert!(submitted.len() >= 20 && submitted.ends_with('Z') && &submitted[10..11] == "T", "{submitted}");
    assert_eq!(dead["tasks"][0]["lease_expires_at"], Value::Null);
    assert_eq!(dead["next"], Value::Null);

    let pending = json_of(d, &["queue", "list", "--queue", "reports", "--status", "pending"], 0);
    assert_eq!(pending["tasks"].as_array().unwrap().len(), 4);

    // Pages of 4 visit every task once, in id order.
    let mut seen = Vec::new();
    let mut after: Option<i64> = None;
    loop {
        let cursor = after.map(|a| a.to_string());
        let mut args = vec!["queue", "list", "--limit", "4"];
        if let Some(cursor) = &cursor {
            args.extend(["--after", cursor.as_str()]);
        }
        let page = json_of(d, &args, 0);
        seen.extend(page["tasks"].as_array().unwrap().iter().map(|t| t["id"].as_i64().unwrap()));
        match page["next"].as_i64() {
            Some(next) => after = Some(next),
            None => break,
        }
    }
    assert_eq!(seen, (1..=11).collect::<Vec<_>>());
    let first = run(d, &["queue", "list", "--limit", "4"]);
    assert!(text(&first.stdout, d).ends_with("next page: --after 4\n"), "{}", text(&first.stdout, d));
}

#[test]
fn retry_cancel_and_purge_change_the_tasks_and_are_audited() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    seed(d);
    let retry = run(d, &["queue", "retry", "1", "--actor", "ops-alice"]);
    assert_eq!(retry.status.code(), Some(0), "{}", text(&retry.stderr, d));
    assert_eq!(text(&retry.stdout, d), "task 1 (email on mail) is pending again, attempts reset\n");
    let doc = json_of(d, &["queue", "list", "--queue", "mail", "--status", "pending"], 0);
    let task = doc["tasks"].as_array().unwrap().iter().find(|t| t["id"] == 1).unwrap().clone();
    assert_eq!(task["attempts"], 0);

    let retried = json_of(d, &["queue", "--actor", "ops-bob", "retry", "3"], 0);
    assert_eq!(retried["task"]["status"], "pending");
    assert!(retried["audit_id"].as_i64().is_some());

    let cancel = json_of(d, &["queue", "cancel", "8", "--actor", "ops-alice"], 0);
    assert_eq!(cancel, json!({ "task_id": 8, "cancelled": 4, "audit_id": cancel["audit_id"] }));
    let cancelled = json_of(d, &["queue", "list", "--status", "cancelled"], 0);
    let ids: Vec<i64> =
        cancelled["tasks"].as_array().unwrap().iter().map(|t| t["id"].as_i64().unwrap()).collect();
    assert_eq!(ids, [8, 9, 10, 11], "the cancel reaches children and grandchildren");
    let out = run(d, &["queue", "cancel", "5"]);
    assert_eq!(text(&out.stdout, d), "cancelled task 5 and 0 descendant(s)\n");

    let purged = json_of(d, &["queue", "purge-dead", "--queue", "mail"], 0);
    assert_eq!(purged["purged"], 0, "task 1 was retried: mail has no dead task left");
    let purged = json_of(d, &["queue", "purge-dead"], 0);
    assert_eq!(purged["purged"], 1);
    assert_eq!(purged["queue"], Value::Null);
    let stats = json_of(d, &["queue", "stats"], 0);
    assert_eq!(stats["queues"][1]["dead"], 0);

    let audit = json_of(d, &["audit", "list", "--actor", "ops-alice"], 0);
    let actions: Vec<(&str, Value)> = audit["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["action"].as_str().unwrap(), e["task_id"].clone()))
        .collect();
    assert_eq!(actions, [("task.cancel", json!(8)), ("task.retry", json!(1))]);
    let by_task = json_of(d, &["audit", "list", "--task", "3"], 0);
    assert_eq!(by_task["entries"][0]["actor"], "ops-bob");
    let purges = json_of(d, &["audit", "list", "--action", "queue.purge_dead"], 0);
    assert_eq!(purges["entries"][0]["data"], json!({ "queue": null, "purged": 1 }));
}

#[test]
fn bad_ids_and_transitions_are_typed_errors() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    seed(d);
    let missing = run(d, &["queue", "retry", "999999"]);
    assert_eq!(missing.status.code(), Some(3));
    let stderr = text(&missing.stderr, d);
    assert!(stderr.starts_with("E4002 not found: task 999999\nhint: "), "{stderr}");
    assert_eq!(json_of(d, &["queue", "retry", "999999"], 3)["code"], "E4002");

    let completed = json_of(d, &["queue", "retry", "2"], 3);
    assert_eq!(completed["code"], "E4006");
    assert_eq!(completed["kind"], "invalid");
    assert!(completed["message"].as_str().unwrap().contains("completed"), "{completed}");
    assert!(!completed["hint"].as_str().unwrap().is_empty());
    assert_eq!(json_of(d, &["queue", "cancel", "2"], 3)["code"], "E4006");
    assert_eq!(json_of(d, &["queue", "cancel", "424242"], 3)["code"], "E4002");

    let audit = json_of(d, &["audit", "list"], 0);
    assert_eq!(audit["entries"], json!([]), "a refused change writes no audit row");

    let status = run(d, &["queue", "list", "--status", "stuck"]);
    assert_eq!(status.status.code(), Some(2), "a usage error");
    assert!(
        text(&status.stderr, d).contains("possible values: pending, running"),
        "{}",
        text(&status.stderr, d)
    );
    assert_eq!(run(d, &["queue", "retry", "abc"]).status.code(), Some(2));
    assert_eq!(json_of(d, &["queue", "list", "--limit", "0"], 3)["code"], "E6001");
    assert_eq!(json_of(d, &["queue", "list", "--limit", "5000"], 3)["code"], "E6001");
    assert_eq!(json_of(d, &["queue", "retry", "1", "--actor", ""], 3)["code"], "E6001");
}

#[test]
fn a_missing_database_is_e2004_and_is_not_created() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    for args in [
        &["queue", "stats"][..],
        &["queue", "list"],
        &["queue", "retry", "1"],
        &["queue", "purge-dead"],
        &["audit", "list"],
        &["audit", "tail"],
        &["flags", "list"],
        &["flags", "get", "mode"],
        &["flags", "set", "mode", "fast"],
    ] {
        let doc = json_of(d, args, 3);
        assert_eq!(doc["code"], "E2004", "{args:?}");
        assert!(doc["message"].as_str().unwrap().contains("strata init"), "{doc}");
    }
    assert!(!d.join("app.db").exists(), "nothing creates the database");

    // A SQLite file without the reference schema is E3001, not an SQL error.
    rusqlite::Connection::open(d.join("app.db")).unwrap().execute_batch("CREATE TABLE t(x);").unwrap();
    let doc = json_of(d, &["queue", "stats"], 3);
    assert_eq!(doc["code"], "E3001");
    assert!(doc["message"].as_str().unwrap().contains("no `tasks` table"), "{doc}");
}

#[test]
fn an_empty_queue_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    with_db(d, async |_| ());
    assert_eq!(text(&run(d, &["queue", "stats"]).stdout, d), "no tasks\n");
    assert_eq!(text(&run(d, &["queue", "list"]).stdout, d), "no tasks match\n");
    assert_eq!(json_of(d, &["queue", "stats"], 0), json!({ "queues": [] }));
    assert_eq!(json_of(d, &["queue", "purge-dead"], 0)["purged"], 0);
}
