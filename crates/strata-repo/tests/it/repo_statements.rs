//! `strata_repo::statements()` lists every statement the orchestration repositories,
//! the cache, the rate limits and the searches run, and a workload over all of them runs every one
//! it lists (checked by watching the pool's statement hook), so the explain test sees
//! the real statements.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::json;
use strata_ops::stats::normalize_sql;
use strata_repo::clock::ManualClock;
use strata_repo::clock::to_datetime;
use strata_repo::{
    AgentState, Agents, Audit, AuditFilter, Cache, CacheConfig, CacheKey, Checkpoints, Flags, JobOutcome,
    Memory, MemoryType, Metrics, NewAuditEntry, NewJob, NewMetric, NewResult, NewSearch, NewSession, NewTask,
    PageRequest, QueueConfig, Quota, RateLimits, SearchStatus, Searches, Sessions, TaskState,
};

use crate::migrated;
use crate::rows::task;

const ORCHESTRATION: [&str; 8] =
    ["sessions.", "agents.", "checkpoints.", "state.", "audit.", "memory.", "flags.", "metrics."];

#[tokio::test]
async fn every_orchestration_statement_is_listed_and_every_listed_one_runs() {
    let dir = tempfile::tempdir().unwrap();
    let pool = migrated(dir.path()).await;
    let t = task(&pool).await;
    let seen = record_statements(&pool);
    let page = PageRequest::first(10);

    let sessions = Sessions::new(pool.clone());
    let s = sessions
        .create(NewSession { app_name: "app".into(), user_id: "ann".into(), ..NewSession::default() })
        .await
        .unwrap()
        .id;
    sessions.get(s).await.unwrap();
    sessions.list_by_user(strata_repo::SessionOwner { app_name: "app", user_id: "ann" }, page).await.unwrap();
    sessions.list_by_status(strata_repo::SessionStatus::Created, page).await.unwrap();
    sessions.update_state(s, json!(1)).await.unwrap();
    sessions.update_metadata(s, json!(1)).await.unwrap();
    sessions.activate(s).await.unwrap();

    let agents = Agents::new(pool.clone());
    let a = agents.spawn(t, Some(s), "w").await.unwrap().id;
    agents.get(a).await.unwrap();
    agents.set_state(a, AgentState::Failed).await.unwrap();
    agents.update_resource_usage(a, json!({})).await.unwrap();
    agents.list_by_task(t, page).await.unwrap();
    agents.list_by_session(s, page).await.unwrap();

    let checkpoints = Checkpoints::new(pool.clone());
    checkpoints.save(t, 0, json!({}), Some(s)).await.unwrap();
    checkpoints.latest(t).await.unwrap();
    checkpoints.get(t, 0).await.unwrap();
    checkpoints.list(t, page).await.unwrap();
    sessions.delete(s).await.unwrap();

    let state = TaskState::new(pool.clone());
    state.set(t, "k", json!(1)).await.unwrap();
    state.get(t, "k").await.unwrap();
    state.keys(t, PageRequest::<String>::first(10)).await.unwrap();
    state.delete(t, "k").await.unwrap();

    let audit = Audit::new(pool.clone());
    let e =
        audit.append(NewAuditEntry::by("ann").action("x").task(t)).await.unwrap().into_stored().unwrap().id;
    audit.tail(0, 10).await.unwrap();
    // A spilled entry's replay (audit.replay_insert).
    let line = r#"{"uid":"0123456789abcdef0123456789abcdef","ts":1,"actor":"ann","action":"replayed"}"#;
    std::fs::write(audit.spill_path(), format!("{line}\n")).unwrap();
    assert_eq!(audit.replay().await.unwrap().replayed, 1);
    for filter in [
        AuditFilter::default(),
        AuditFilter { task_id: Some(t), ..AuditFilter::default() },
        AuditFilter { actor: Some("ann".into()), ..AuditFilter::default() },
        AuditFilter { action: Some("x".into()), ..AuditFilter::default() },
        AuditFilter { since: Some(to_datetime(0)), ..AuditFilter::default() },
    ] {
        audit.list(&filter, page).await.unwrap();
    }
    audit
        .list(
            &AuditFilter { since: Some(to_datetime(0)), ..AuditFilter::default() },
            PageRequest::after(e, 10),
        )
        .await
        .unwrap();

    let memory = Memory::new(pool.clone());
    let k = strata_repo::MemoryKey { namespace: "ns", key: "k" };
    memory.put(k, json!(1), MemoryType::Semantic, "ann").await.unwrap();
    memory.get(k).await.unwrap();
    memory.get_version(k, 1).await.unwrap();
    memory.history(k, page).await.unwrap();
    memory.list("ns", PageRequest::<String>::first(10)).await.unwrap();
    memory.delete(k, "ann").await.unwrap();

    let flags = Flags::new(pool.clone());
    flags.set("f", json!(1), strata_repo::FlagChange::by("ann")).await.unwrap();
    flags.get("f").await.unwrap();
    flags.list(PageRequest::<String>::first(10)).await.unwrap();
    flags.delete("f", strata_repo::FlagChange::by("ann")).await.unwrap();

    let metrics = Metrics::new(pool.clone());
    let at = strata_repo::clock::to_datetime;
    let m = metrics.record(NewMetric::at(at(1), "m", 1.0)).await.unwrap().id().unwrap();
    metrics.record_batch(vec![NewMetric::at(at(2), "m", 2.0)]).await.unwrap();
    // A spilled sample's replay (metrics.replay_insert).
    let line = r#"{"uid":"0123456789abcdef0123456789abcdef","ts":3,"name":"m","value":3.0}"#;
    std::fs::write(metrics.spill_path(), format!("{line}\n")).unwrap();
    assert_eq!(metrics.replay().await.unwrap().replayed, 1);
    metrics.range("m", at(0), at(10), PageRequest::after(m, 10)).await.unwrap();
    metrics.aggregate("m", at(0), at(10)).await.unwrap();
    metrics.purge_before(at(0)).await.unwrap();

    assert_listed_and_run(&seen, |name| ORCHESTRATION.iter().any(|prefix| name.starts_with(prefix)));
}

#[tokio::test]
async fn every_cache_and_rate_limit_statement_is_listed_and_every_listed_one_runs() {
    let dir = tempfile::tempdir().unwrap();
    let pool = migrated(dir.path()).await;
    let seen = record_statements(&pool);
    let config = CacheConfig { max_namespace_bytes: Some(12), ..CacheConfig::default() };
    let clock = ManualClock::new(1_700_000_000_000);
    let cache = Cache::with_config(pool.clone(), config, Arc::new(clock.clone())).unwrap();
    cache.set(CacheKey { namespace: "n", key: "a" }, &1, Some(Duration::from_millis(5))).await.unwrap();
    cache.set(CacheKey { namespace: "n", key: "b" }, &"123456789", None).await.unwrap();
    cache.get::<i32>(CacheKey { namespace: "n", key: "a" }).await.unwrap();
    cache.peek(CacheKey { namespace: "n", key: "a" }).await.unwrap();
    cache.namespace_stats().await.unwrap();
    cache.namespace_stats_of("n").await.unwrap();
    cache.touch(CacheKey { namespace: "n", key: "b" }, None).await.unwrap();
    cache.get_or_set_with(CacheKey { namespace: "n", key: "c" }, None, || async { Ok(1) }).await.unwrap();
    clock.advance(10);
    cache.sweep_expired(10).await.unwrap();
    cache.delete(CacheKey { namespace: "n", key: "b" }).await.unwrap();
    cache.delete_namespace("n").await.unwrap();

    let limits = RateLimits::new(pool.clone());
    let quota = Quota::per_second(5);
    limits.check("k", quota, 1).await.unwrap();
    limits.check("k", quota, 1).await.unwrap();
    limits.status("k").await.unwrap();
    limits.reset("k").await.unwrap();

    assert_listed_and_run(&seen, |name| name.starts_with("cache.") || name.starts_with("ratelimit."));
}

#[tokio::test]
async fn every_search_statement_is_listed_and_every_listed_one_runs() {
    let dir = tempfile::tempdir().unwrap();
    let pool = migrated(dir.path()).await;
    let seen = record_statements(&pool);
    let page = PageRequest::first(10);
    let searches = Searches::new(strata_repo::Queue::new(pool.clone(), QueueConfig::default()).unwrap());

    let id = searches.create(NewSearch::new("q")).await.unwrap().id;
    searches.get(id).await.unwrap();
    searches.list(page).await.unwrap();
    searches.list_by_status(SearchStatus::Queued, page).await.unwrap();
    searches.count_by_status(SearchStatus::Queued).await.unwrap();
    searches.start(id).await.unwrap();
    let results =
        (0..3).map(|i| NewResult { url: format!("https://x/{i}"), rank: i, ..NewResult::default() });
    searches.bulk_insert_results(id, results.collect()).await.unwrap();
    let first = searches.results_page(id, PageRequest::first(2)).await.unwrap();
    searches.results_page(id, PageRequest { after: first.next, limit: 2 }).await.unwrap();
    let mut stream = searches.results(id, 2).await.unwrap();
    while stream.next_page().await.unwrap().is_some() {}
    searches.count_results(id).await.unwrap();
    searches.update_analysis(first.items[0].id, "{}").await.unwrap();

    let job = |url: &str| NewJob { search_id: id, source: "s".into(), url: url.into() };
    let with_task =
        searches.create_job(job("https://a"), Some(NewTask::new("scrape", json!({})))).await.unwrap();
    let without = searches.create_job(job("https://b"), None).await.unwrap();
    searches.get_job(with_task.id).await.unwrap();
    searches.job_for_task(with_task.task_id.unwrap()).await.unwrap();
    searches.list_jobs(id, page).await.unwrap();
    searches.count_jobs(id).await.unwrap();
    searches.start_job(with_task.id).await.unwrap();
    searches.finish_job(with_task.id, JobOutcome::Completed { http_status: 200, bytes: 1 }).await.unwrap();
    searches.cancel_job(without.id).await.unwrap();
    searches.complete(id).await.unwrap();

    assert_listed_and_run(&seen, |name| name.starts_with("searches."));
}

/// Every statement the pool runs from now on, normalised.
fn record_statements(pool: &strata_pool::Pool) -> Arc<Mutex<BTreeSet<String>>> {
    let seen: Arc<Mutex<BTreeSet<String>>> = Arc::default();
    let hook_seen = Arc::clone(&seen);
    pool.set_statement_hook(Arc::new(move |timing| {
        hook_seen.lock().unwrap().insert(normalize_sql(timing.sql));
    }))
    .unwrap();
    seen
}

/// Every statement in `seen` (transaction control aside) is listed in `statements()`,
/// and every listed statement whose name `ours` selects was run.
fn assert_listed_and_run(seen: &Mutex<BTreeSet<String>>, ours: impl Fn(&str) -> bool) {
    let listed: BTreeSet<String> = strata_repo::statements()
        .iter()
        .filter(|(name, _)| ours(name))
        .map(|(_, sql)| normalize_sql(sql))
        .collect();
    let all_listed: BTreeSet<String> =
        strata_repo::statements().iter().map(|(_, sql)| normalize_sql(sql)).collect();
    let seen = seen.lock().unwrap().clone();
    let unlisted: Vec<&String> =
        seen.iter().filter(|sql| !is_control(sql) && !all_listed.contains(*sql)).collect();
    assert!(unlisted.is_empty(), "statements run but not listed in statements(): {unlisted:#?}");
    let never_run: Vec<&String> = listed.difference(&seen).collect();
    assert!(never_run.is_empty(), "listed statements the workload never ran: {never_run:#?}");
}

/// Transaction control the pool issues around every closure.
fn is_control(sql: &str) -> bool {
    let first = sql.split_whitespace().next().unwrap_or("").to_ascii_uppercase();
    matches!(first.as_str(), "BEGIN" | "COMMIT" | "END" | "SAVEPOINT" | "RELEASE" | "ROLLBACK" | "PRAGMA")
}

#[tokio::test]
async fn every_document_statement_is_listed_and_every_listed_one_runs() {
    let dir = tempfile::tempdir().unwrap();
    let pool = migrated(dir.path()).await;
    let seen = record_statements(&pool);
    let config = strata_core::DocumentsConfig { gc_grace_secs: 0, ..Default::default() };
    let docs = strata_repo::Documents::new(pool.clone(), config).unwrap();
    let a = docs.put(strata_repo::NewDocument::named("a").tag("t"), b"a").await.unwrap();
    let b = docs.put(strata_repo::NewDocument::named("b"), b"b").await.unwrap();
    docs.get(a.id).await.unwrap();
    docs.find_by_name("a").await.unwrap();
    docs.read(a.id).await.unwrap();
    docs.list(None, PageRequest::first(10)).await.unwrap();
    docs.list(Some("t"), PageRequest::first(10)).await.unwrap();
    docs.delete(b.id).await.unwrap();
    docs.purge(Duration::ZERO).await.unwrap();
    docs.gc().await.unwrap();
    assert_listed_and_run(&seen, |name| name.starts_with("documents."));
}
