//! Repositories from `Database` (issue 17 point 5): the queue configured by the
//! `[queue]` section of the one TOML config, flags, audit, sessions and searches from the
//! handle.

use serde_json::json;
use strata::repo::{Claimer, NewSession};
use strata::{Config, DEFAULT_QUEUE, Database, Migrations, NewTask};

fn config_from_toml(dir: &tempfile::TempDir, extra: &str) -> strata::Result<Config> {
    let path = dir.path().join("repos.db");
    Config::from_toml_str(&format!("path = {:?}\n{extra}", path.display().to_string()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_queue_takes_its_configuration_from_the_queue_section_of_the_config() {
    let dir = tempfile::tempdir().unwrap();
    let config = config_from_toml(&dir, "[queue]\nlease_ms = 5000\nmax_attempts = 7\n").unwrap();
    assert_eq!(config.queue.lease_ms, 5_000);
    let db = Database::open_with(&config, Migrations::Reference).await.unwrap();
    assert_eq!(db.queue().config().lease_ms, 5_000);
    assert_eq!(db.queue().config().max_attempts, 7);

    let enqueued =
        db.queue().enqueue(NewTask::new("check", json!({"url": "https://example.com"}))).await.unwrap();
    let clone = db.clone();
    let claimed = clone
        .queue()
        .next(Claimer { queue: DEFAULT_QUEUE, worker: "w1" }, 1, db.queue().default_lease())
        .await
        .unwrap();
    assert_eq!(claimed[0].task.id, enqueued.id);
    assert_eq!(claimed[0].task.max_attempts, 7, "the config's default attempts");
    db.close().await.unwrap();
}

#[test]
fn a_queue_value_out_of_range_is_a_config_error_naming_the_field() {
    let dir = tempfile::tempdir().unwrap();
    let err = config_from_toml(&dir, "[queue]\nlease_ms = 0\n").unwrap_err();
    assert_eq!(err.code(), "E1003", "{err}");
    assert!(err.to_string().contains("queue.lease_ms"), "{err}");
    let err = config_from_toml(&dir, "[queue]\nlease = 3\n").unwrap_err();
    assert_eq!(err.code(), "E1002", "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flags_audit_and_sessions_come_from_the_database_handle() {
    let dir = tempfile::tempdir().unwrap();
    let db = Database::open_with(&config_from_toml(&dir, "").unwrap(), Migrations::Reference).await.unwrap();
    let by_ops = strata::repo::FlagChange::by("ops").description("checks run");
    db.flags().set("checker.enabled", json!(true), by_ops).await.unwrap();
    assert!(db.flags().is_enabled("checker.enabled", false).await.unwrap());
    assert_eq!(db.flags().get("checker.missing").await.unwrap(), None);
    let audit = db.audit().list(&Default::default(), Default::default()).await.unwrap();
    assert!(audit.items.iter().any(|e| e.action == "flag.set" && e.actor == "ops"), "{audit:?}");
    let session = db
        .sessions()
        .create(NewSession { app_name: "links".into(), user_id: "user-1".into(), ..NewSession::default() })
        .await
        .unwrap();
    assert_eq!(db.sessions().get(session.id).await.unwrap().user_id, "user-1");
    db.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scraping_job_from_db_searches_is_claimed_from_db_queue() {
    use strata::repo::{NewJob, NewResult, NewSearch};

    let dir = tempfile::tempdir().unwrap();
    let config = config_from_toml(&dir, "").unwrap();
    let db = Database::open_with(&config, Migrations::Reference).await.unwrap();
    let searches = db.searches();
    let search = searches.create(NewSearch::new("sqlite wal")).await.unwrap();
    let job = searches
        .create_job(
            NewJob { search_id: search.id, source: "web".into(), url: "https://sqlite.org/wal.html".into() },
            Some(NewTask::new("scrape", json!({"url": "https://sqlite.org/wal.html"}))),
        )
        .await
        .unwrap();
    let claimed = db
        .clone()
        .queue()
        .next(Claimer { queue: DEFAULT_QUEUE, worker: "w1" }, 1, db.queue().default_lease())
        .await
        .unwrap();
    assert_eq!(Some(claimed[0].task.id), job.task_id);
    assert_eq!(searches.job_for_task(claimed[0].task.id).await.unwrap().id, job.id);
    let stored = searches
        .bulk_insert_results(
            search.id,
            vec![NewResult { url: "https://sqlite.org/wal.html".into(), ..NewResult::default() }],
        )
        .await
        .unwrap();
    assert_eq!(stored.inserted, 1);
    db.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_audit_section_captures_the_listed_tables_writes_and_nothing_by_default() {
    // Listed: every write of `tasks` leaves its audit row.
    let dir = tempfile::tempdir().unwrap();
    let config = config_from_toml(&dir, "[audit]\ntables = [\"tasks\"]\n").unwrap();
    let db = Database::open_with(&config, Migrations::Reference).await.unwrap();
    let id = db.queue().enqueue(NewTask::new("check", json!({}))).await.unwrap().id;
    db.queue().cancel(id).await.unwrap();
    let rows: Vec<(Option<i64>, String)> = db
        .pool()
        .read(|c| {
            let mut stmt =
                c.prepare("SELECT task_id, action FROM audit WHERE actor = 'strata.capture' ORDER BY id")?;
            Ok(stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?.collect::<Result<Vec<_>, _>>()?)
        })
        .await
        .unwrap();
    assert_eq!(rows, [(Some(id), "tasks.insert".to_string()), (Some(id), "tasks.update".to_string())]);
    db.close().await.unwrap();

    // The default: nothing captured.
    let dir = tempfile::tempdir().unwrap();
    let db = Database::open_with(&config_from_toml(&dir, "").unwrap(), Migrations::Reference).await.unwrap();
    db.queue().enqueue(NewTask::new("check", json!({}))).await.unwrap();
    let audited: i64 =
        db.pool().read(|c| Ok(c.query_row("SELECT count(*) FROM audit", [], |r| r.get(0))?)).await.unwrap();
    assert_eq!(audited, 0);
    db.close().await.unwrap();

    // A listed table the database does not have: open fails with E6001.
    let dir = tempfile::tempdir().unwrap();
    let config = config_from_toml(&dir, "[audit]\ntables = [\"orders\"]\n").unwrap();
    let err = Database::open_with(&config, Migrations::Reference).await.unwrap_err();
    assert_eq!(err.code(), "E6001", "{err}");
    assert!(err.to_string().contains("no table `orders`"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_metrics_cache_and_rate_limits_take_their_types_from_strata_repo() {
    use std::time::Duration;
    use strata::repo::clock::{now_ms, to_datetime};
    use strata::repo::{
        Aggregate, CacheEntry, CacheKey, Decision, MemoryEntry, MemoryKey, MemoryType, NewMetric,
        PageRequest, Quota, RateLimitStatus,
    };

    let dir = tempfile::tempdir().unwrap();
    let db = Database::open_with(&config_from_toml(&dir, "").unwrap(), Migrations::Reference).await.unwrap();
    // Whole milliseconds, as the columns store them.
    let start = to_datetime(now_ms() - 1_000);
    let goal = MemoryKey { namespace: "agent-7", key: "goal" };
    let entry: MemoryEntry = db.memory().put(goal, json!("ship"), MemoryType::Semantic, "ann").await.unwrap();
    assert!(entry.created_at >= start);

    db.metrics().record(NewMetric::at(start, "checks", 2.0)).await.unwrap();
    let end = start + Duration::from_secs(60);
    let sum: Aggregate = db.metrics().aggregate("checks", start, end).await.unwrap();
    assert_eq!(sum.sum, Some(2.0));
    let samples = db.metrics().range("checks", start, end, PageRequest::first(5)).await.unwrap().items;
    assert_eq!(samples[0].ts, start);

    db.cache()
        .set(CacheKey { namespace: "pages", key: "a" }, &1, Some(Duration::from_secs(60)))
        .await
        .unwrap();
    let cached: CacheEntry =
        db.cache().get_entry(CacheKey { namespace: "pages", key: "a" }).await.unwrap().unwrap();
    assert!(cached.expires_at.unwrap() > cached.created_at + Duration::from_secs(59));

    let decision: Decision = db.rate_limits().check("api", Quota::per_second(2), 1).await.unwrap();
    assert!(decision.is_allowed());
    let status: RateLimitStatus = db.rate_limits().status("api").await.unwrap().unwrap();
    assert!(status.tat > status.updated_at && status.updated_at >= start, "{status:?}");
    db.close().await.unwrap();
}
