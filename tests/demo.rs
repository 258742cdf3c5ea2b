//! `strata::demo`, the tour behind `strata demo`: a run drains its workload with the
//! expected completions, retries and dead letters, runs its search (jobs on the queue
//! under a rate limit, results bulk-inserted, one cached lookup), backs up, checks,
//! and a second run on the same file works too.

use strata::Config;
use strata::demo::{self, DemoOptions};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_drains_its_workload_backs_up_checks_and_runs_again_on_the_same_file() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = Config::for_path(dir.path().join("strata.db"));
    config.monitor.free_disk_warn_mb = 0;
    config.monitor.free_disk_critical_mb = 0;
    let options = DemoOptions { tasks: 200, workers: 3, sessions: 5, claim_batch: 8 };

    let first = demo::run(&config, options, |_| {}).await.unwrap();
    assert!(first.created);
    // Every 50th task fails for good (3 attempts), every other 10th fails once.
    assert_eq!(first.queue.dead, 4);
    assert_eq!(first.queue.completed, 196);
    assert_eq!(first.queue.failures, 4 * 3 + 16);
    assert_eq!(first.queue.claims, 200 + 4 * 2 + 16);
    // Never more commits than writes; how many merge depends on timing (a loaded or
    // instrumented run may commit each alone), which the pool's own tests pin down.
    assert!(first.pool.commits <= first.pool.writes, "a commit per write at most");
    assert_eq!((first.documents.stored, first.documents.deduplicated, first.documents.read_back), (4, 1, 4));
    assert_eq!(first.documents.types, ["image/png", "text/plain", "application/json", "image/png"]);
    assert!(first.backup.manifest.verification.ok);
    assert!(!first.backup.manifest.documents.is_empty(), "the backup carries the document files");
    assert!(first.backup.path.exists());
    assert_eq!(first.health.status, strata::ops::Status::Ok, "{:?}", first.health.findings);
    assert!(!first.top_statements.is_empty());
    // The search: 8 jobs of 25 results, each repeating 5 urls of the one before; one
    // loader run for two cached lookups.
    let search = &first.search;
    assert_eq!((search.jobs, search.allowed), (8, 8), "every job passed the rate limit once");
    assert_eq!((search.results_inserted, search.duplicates_skipped), (165, 35));
    assert_eq!((search.cached_results, search.loader_runs, search.cache_hits), (165, 1, 1));
    for layer in ["strata-schema", "strata-repo", "strata-pool", "strata-ops"] {
        assert!(first.steps.iter().any(|s| s.layer == layer), "a step of {layer}");
    }

    let second = demo::run(&config, options, |_| {}).await.unwrap();
    assert!(!second.created);
    assert_eq!(second.queue.completed, 196, "a second run does its own workload");
    let stats = second.queue.stats.unwrap();
    assert_eq!((stats.completed, stats.dead, stats.pending, stats.running), (392, 8, 0, 0));
    assert_ne!(second.search.search_id, first.search.search_id, "a second run makes its own search");
    assert_eq!((second.search.results_inserted, second.search.loader_runs), (165, 1));

    let db = strata::Database::open(&config).await.unwrap();
    let stored = db.searches().get(second.search.search_id).await.unwrap();
    assert_eq!((stored.status, stored.result_count), (strata::repo::SearchStatus::Completed, 165));
    let jobs = db.searches().list_jobs(stored.id, strata::repo::PageRequest::first(100)).await.unwrap();
    assert_eq!(jobs.items.len(), 8);
    for job in &jobs.items {
        assert_eq!(job.status, strata::repo::SearchStatus::Completed, "{job:?}");
        let task = db.queue().get(job.task_id.expect("the job's queue task")).await.unwrap();
        assert_eq!(task.status, strata::repo::TaskStatus::Completed, "{task:?}");
    }
    let status = db.rate_limits().status(demo::SEARCH_RATE_KEY).await.unwrap().expect("the key's state");
    assert_eq!(status.quota.burst, 4);
    db.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_refuses_nonsense_sizes_before_touching_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let config = Config::for_path(dir.path().join("strata.db"));
    let options = DemoOptions { workers: 0, ..DemoOptions::default() };
    let err = demo::run(&config, options, |_| {}).await.unwrap_err();
    assert_eq!(err.code(), "E6001");
    assert!(err.to_string().contains("workers"), "{err}");
    assert!(!config.path.exists());
}
