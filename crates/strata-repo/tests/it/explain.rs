//! Every statement strata-repo issues is planned without a full table scan or a
//! temporary b-tree, and `strata_repo::statements()` really lists every statement
//! the queue runs (checked by watching the pool's statement hook under a workload).

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::json;
use strata_ops::stats::normalize_sql;
use strata_repo::{Claimer, NewTask, PageRequest, Queue, QueueConfig, TaskStatus};

#[tokio::test]
async fn no_statement_scans_a_table_or_sorts_in_a_temp_btree() {
    let dir = tempfile::tempdir().unwrap();
    let pool = crate::migrated(dir.path()).await;
    let statements = strata_repo::statements();
    assert!(!statements.is_empty());
    let problems = pool
        .write(move |conn| {
            let mut problems = Vec::new();
            for (name, sql) in &statements {
                let plan = strata_schema::explain(conn, sql)?;
                let bad: Vec<String> = plan
                    .full_scans()
                    .into_iter()
                    .chain(plan.temp_btrees())
                    .map(|node| node.detail.clone())
                    .collect();
                if !bad.is_empty() {
                    problems.push(format!("{name}: {}\n{}", bad.join("; "), plan.render()));
                }
            }
            Ok(problems)
        })
        .await
        .unwrap();
    assert!(problems.is_empty(), "statements with a full scan or a temp b-tree:\n{}", problems.join("\n"));
}

/// SQLite prepares a statement again whenever a parameter that its plan depends on is
/// bound again: a bare `LIMIT ?`, or `col = ?` where a partial index says `col = 'x'`.
/// That re-parses the SQL on every run, so no statement may do it.
#[tokio::test]
async fn no_statement_is_prepared_again_when_its_parameters_are_bound_again() {
    let dir = tempfile::tempdir().unwrap();
    let pool = crate::migrated(dir.path()).await;
    let statements = strata_repo::statements();
    let reprepared = pool
        .exclusive(move |conn| {
            conn.execute_batch("BEGIN")?;
            let mut reprepared = Vec::new();
            for (name, sql) in &statements {
                let mut stmt = conn.prepare(sql)?;
                for _ in 0..3 {
                    for i in 1..=stmt.parameter_count() {
                        stmt.raw_bind_parameter(i, 1_i64)?;
                    }
                    // Only the preparation matters: a constraint that refuses the
                    // value (text columns are STRICT) is fine.
                    let mut rows = stmt.raw_query();
                    while let Ok(Some(_)) = rows.next() {}
                }
                let count = stmt.get_status(rusqlite::StatementStatus::RePrepare);
                if count > 0 {
                    reprepared.push((*name, count));
                }
            }
            conn.execute_batch("ROLLBACK")?;
            Ok(reprepared)
        })
        .await
        .unwrap();
    assert!(
        reprepared.is_empty(),
        "statements prepared again on every bind (write `LIMIT +?`, `+col = ?`): {reprepared:?}"
    );
}

#[tokio::test]
async fn statement_names_are_unique() {
    let statements = strata_repo::statements();
    let names: BTreeSet<&str> = statements.iter().map(|(name, _)| *name).collect();
    assert_eq!(names.len(), statements.len(), "a statement name is used twice");
}

/// Transaction control the pool's writer issues around every closure.
fn is_control(sql: &str) -> bool {
    let first = sql.split_whitespace().next().unwrap_or("").to_ascii_uppercase();
    matches!(first.as_str(), "BEGIN" | "COMMIT" | "END" | "SAVEPOINT" | "RELEASE" | "ROLLBACK" | "PRAGMA")
}

#[tokio::test]
async fn every_statement_the_queue_runs_is_listed_in_statements() {
    let dir = tempfile::tempdir().unwrap();
    let pool = crate::migrated(dir.path()).await;
    let seen: Arc<Mutex<BTreeSet<String>>> = Arc::default();
    {
        let seen = Arc::clone(&seen);
        pool.set_statement_hook(Arc::new(move |timing| {
            seen.lock().unwrap().insert(timing.sql.to_string());
        }))
        .unwrap();
    }
    let config =
        QueueConfig { retry_base_ms: 1, retry_max_ms: 2, poll_interval_ms: 20, ..QueueConfig::default() };
    let queue = Queue::new(pool.clone(), config).unwrap();
    let lease = Duration::from_secs(30);

    // Enqueue (plain, dedup, batch, child), claim, complete, fail (retry and dead),
    // fail permanently, heartbeat, retry, cancel, purge, expire, get, list, stats, next.
    let parent = queue.enqueue(NewTask::new("parent", json!({})).queue("tree").dedup_key("p")).await.unwrap();
    queue.enqueue(NewTask::new("parent", json!({})).queue("tree").dedup_key("p")).await.unwrap();
    queue.enqueue(NewTask::new("child", json!({})).queue("tree").parent(parent.id)).await.unwrap();
    queue
        .enqueue_batch(vec![NewTask::new("a", json!(1)), NewTask::new("b", json!(2)).max_attempts(1)])
        .await
        .unwrap();
    queue.enqueue_batch(vec![NewTask::new("c", json!(3)), NewTask::new("d", json!(4))]).await.unwrap();
    // Enough tasks without a dedup key for one grouped insert, in a queue of their own.
    queue
        .enqueue_batch((0..30).map(|n| NewTask::new("bulk", json!(n)).queue("bulk")).collect())
        .await
        .unwrap();
    queue
        .enqueue(NewTask::new("later", json!({})).queue("other").delay(Duration::from_secs(60)))
        .await
        .unwrap();
    let claimed = queue.claim(Claimer { queue: "default", worker: "w1" }, 10, lease).await.unwrap();
    assert_eq!(claimed.len(), 4);
    queue.heartbeat(claimed[0].task.id, &claimed[0].token, lease).await.unwrap();
    queue.complete(claimed[0].task.id, &claimed[0].token, json!({"ok": true})).await.unwrap();
    let _ = queue.complete(claimed[0].task.id, &claimed[0].token, json!(null)).await.unwrap_err();
    for one in &claimed[1..3] {
        queue.fail(one.task.id, &one.token, "boom").await.unwrap();
    }
    queue.fail_permanently(claimed[3].task.id, &claimed[3].token, "never").await.unwrap();
    queue.retry(claimed[3].task.id).await.unwrap();
    // A worker shutting down gives a claim back (the worker runtime's release).
    let held = queue.claim(Claimer { queue: "default", worker: "w1" }, 1, lease).await.unwrap();
    queue.release(held[0].task.id, &held[0].token).await.unwrap();
    let short =
        queue.claim(Claimer { queue: "default", worker: "w2" }, 10, Duration::from_millis(1)).await.unwrap();
    assert!(!short.is_empty());
    tokio::time::sleep(Duration::from_millis(5)).await;
    // A claim that finds expired leases in its queue takes them back first.
    let again =
        queue.claim(Claimer { queue: "default", worker: "w2" }, 10, Duration::from_millis(1)).await.unwrap();
    assert!(!again.is_empty());
    tokio::time::sleep(Duration::from_millis(5)).await;
    queue.expire_leases().await.unwrap();
    let next = queue.next(Claimer { queue: "default", worker: "w3" }, 1, lease).await.unwrap();
    queue.cancel(parent.id).await.unwrap();
    queue.get(next[0].task.id).await.unwrap();
    assert!(
        tokio::time::timeout(
            Duration::from_millis(50),
            queue.next(Claimer { queue: "other", worker: "w4" }, 1, lease)
        )
        .await
        .is_err()
    );
    for (q, status) in [
        (None, None),
        (Some("default"), None),
        (Some("default"), Some(TaskStatus::Pending)),
        (None, Some(TaskStatus::Dead)),
        (None, Some(TaskStatus::Completed)),
    ] {
        queue.list(q, status, PageRequest::first(10)).await.unwrap();
    }
    queue.stats().await.unwrap();
    queue.purge_dead(None).await.unwrap();
    queue.purge_dead(Some("default")).await.unwrap();

    let listed: BTreeSet<String> =
        strata_repo::statements().iter().map(|(_, sql)| normalize_sql(sql)).collect();
    let seen = seen.lock().unwrap().clone();
    let unlisted: Vec<&String> =
        seen.iter().filter(|sql| !is_control(sql) && !listed.contains(&normalize_sql(sql))).collect();
    assert!(unlisted.is_empty(), "statements run but not listed in statements(): {unlisted:#?}");
    let queue_listed: BTreeSet<String> = strata_repo::statements()
        .iter()
        .filter(|(name, _)| name.starts_with("queue."))
        .map(|(_, sql)| normalize_sql(sql))
        .collect();
    let seen_normalized: BTreeSet<String> = seen.iter().map(|sql| normalize_sql(sql)).collect();
    let never_run: Vec<&String> = queue_listed.difference(&seen_normalized).collect();
    assert!(never_run.is_empty(), "the workload should exercise every queue statement: {never_run:#?}");
}
