//! `strata demo`: the README's first command, on the default `./strata.db`, twice. A
//! run drains its workload with the expected completions, retries and dead letters,
//! stores and reads back documents, runs its search (jobs on the queue under a rate
//! limit, results bulk-inserted, one cached lookup), backs up, checks, degrades the
//! pool for a moment and shows its recovery; a second run on the same file works too.

use crate::check::no_disk_limits;
use crate::{json_doc, strata, text};

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
    // Every 50th task fails for good (3 attempts), every other 10th fails once.
    assert!(human.contains("100 enqueued, 112 claims, 98 completed, 14 failures, 2 dead"), "{human}");
    let steps = text(&first.stderr, d);
    assert!(steps.contains("enqueued 100 tasks"), "steps are printed as they finish");
    // Issue 19: the demo stores and reads back a few documents, one deduplicated.
    assert!(
        human.contains("documents: 4 stored (1 deduplicated), 4 read back with their sha256 verified"),
        "the documents step in:\n{human}"
    );
    // Issue 21: one degradation and its recovery, each state change printed as it happens.
    let degraded = steps.find("pool healthy -> degraded (the database file was removed)");
    let spilled = steps.find("while degraded, an audit entry is spilled to the spill file, not lost");
    let healthy = steps.find("pool degraded -> healthy");
    let replayed = steps.find("the spilled audit entry was replayed into the table, once");
    let committed = steps.find("after the recovery an audit entry commits as usual");
    assert!(
        degraded.is_some()
            && degraded < spilled
            && spilled < healthy
            && healthy < replayed
            && replayed < committed,
        "the degradation steps in order in:\n{steps}"
    );
    assert!(
        human.contains("degradation: healthy -> degraded (the database file was removed) -> healthy in ")
            && human.contains("an audit entry meanwhile was spilled, then replayed once"),
        "the degradation line in:\n{human}"
    );
    // The search step: 8 jobs of 25 results, each repeating 5 urls of the one before.
    assert!(
        human.contains("8 jobs under rate limit demo:scraper:example")
            && human.contains("165 results stored, 35 duplicates skipped")
            && human.contains("loader ran 1x, 1 cache hit(s)"),
        "the search step in:\n{human}"
    );

    let second = strata(d, &["--config", &config, "--json", "demo", "--tasks", "100", "--workers", "2"]);
    assert_eq!(second.status.code(), Some(0), "{}", text(&second.stderr, d));
    let doc: serde_json::Value = serde_json::from_slice(&second.stdout).unwrap();
    assert_eq!(doc["created"], false);
    assert_eq!(doc["queue"]["completed"], 98);
    assert_eq!(doc["queue"]["stats"]["completed"], 196);
    assert_eq!(doc["health"]["status"], "ok");
    assert_eq!(doc["backup"]["manifest"]["verification"]["ok"], true);
    assert!(
        !doc["backup"]["manifest"]["documents"].as_array().unwrap().is_empty(),
        "the backup carries the documents"
    );
    let backup = doc["backup"]["path"].as_str().expect("the backup's path");
    assert!(d.join(backup).exists(), "{backup}");
    assert!(!doc["top_statements"].as_array().unwrap().is_empty());
    let (writes, commits) =
        (doc["pool"]["writes"].as_u64().unwrap(), doc["pool"]["commits"].as_u64().unwrap());
    // Never more commits than writes; how many merge depends on timing.
    assert!(commits <= writes, "{commits} commits for {writes} writes");
    let documents = &doc["documents"];
    assert_eq!((documents["stored"].as_u64(), documents["deduplicated"].as_u64()), (Some(4), Some(1)));
    assert_eq!(documents["read_back"], 4);
    assert_eq!(
        documents["types"],
        serde_json::json!(["image/png", "text/plain", "application/json", "image/png"])
    );
    let degradation = &doc["degradation"];
    let states: Vec<&str> =
        degradation["transitions"].as_array().unwrap().iter().filter_map(|t| t["state"].as_str()).collect();
    assert_eq!(states.first(), Some(&"degraded"), "{degradation}");
    assert_eq!(states.last(), Some(&"healthy"), "{degradation}");
    assert_eq!(degradation["transitions"][0]["cause"], "the database file was removed");
    assert_eq!(degradation["audit_while_degraded"], "spilled");
    assert_eq!(degradation["replayed"], true);
    assert_eq!(degradation["written_after_recovery"], true);
    // The file was put back where it was: nothing aside, no WAL set aside as an orphan.
    let leftovers: Vec<String> = std::fs::read_dir(d)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name.contains("aside") || name.contains("orphan"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
    let check = json_doc(d, &["--config", &config, "--json", "check", "--full"], 0);
    assert_eq!(check["status"], "ok", "{check}");
    let audit =
        json_doc(d, &["--config", &config, "--json", "audit", "list", "--action", "demo.recovered"], 0);
    assert_eq!(
        audit["entries"].as_array().map(Vec::len),
        Some(2),
        "one entry per run after the recovery: {audit}"
    );
    let spilled =
        json_doc(d, &["--config", &config, "--json", "audit", "list", "--action", "demo.degraded"], 0);
    assert_eq!(
        spilled["entries"].as_array().map(Vec::len),
        Some(2),
        "the entry spilled while degraded is in the table once per run: {spilled}"
    );

    // The search step's effects, read back through the other commands.
    let search = &doc["search"];
    assert_eq!(search["jobs"], 8);
    assert_eq!(search["allowed"], 8, "every job passed the rate limit once: {search}");
    assert_eq!(search["results_inserted"], 165);
    assert_eq!(search["duplicates_skipped"], 35);
    assert_eq!(search["cached_results"], 165);
    assert_eq!(search["loader_runs"], 1, "the second lookup is served from the cache: {search}");
    assert_eq!(search["cache_hits"], 1);
    let id = search["search_id"].as_i64().expect("a search id").to_string();
    let shown = json_doc(d, &["--config", &config, "--json", "searches", "show", &id], 0);
    assert_eq!(shown["search"]["status"], "completed");
    assert_eq!(shown["search"]["result_count"], 165);
    assert_eq!(shown["results_stored"], 165);
    assert_eq!(shown["jobs"], 8);
    let tasks = json_doc(d, &["--config", &config, "--json", "queue", "stats"], 0);
    let search_queue =
        tasks["queues"].as_array().and_then(|q| q.iter().find(|q| q["queue"] == "demo-search"));
    assert_eq!(
        search_queue.map(|q| q["completed"].clone()),
        Some(16.into()),
        "each run's 8 jobs ran as queue tasks: {tasks}"
    );
    let limit =
        json_doc(d, &["--config", &config, "--json", "ratelimit", "status", "demo:scraper:example"], 0);
    assert_eq!(limit["quota"]["burst"], 4);
    let key = search["cache_key"].as_str().expect("a cache key");
    let cached = json_doc(d, &["--config", &config, "--json", "cache", "get", "demo", key], 0);
    assert_eq!(cached["value"], 165);
    assert_eq!(cached["hits"], 1);
}

#[test]
fn demo_with_zero_workers_is_a_typed_error_before_touching_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let out = strata(dir.path(), &["--json", "demo", "--workers", "0"]);
    assert_eq!(out.status.code(), Some(3));
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["code"], "E6001");
    assert!(doc["message"].as_str().unwrap_or_default().contains("workers"), "{doc}");
    assert!(!dir.path().join("strata.db").exists());
}

/// `strata::reference` reads every row the hand-written repositories write, in every
/// table of the reference schema: the demo (queue, sessions, audit, flags, metrics,
/// checkpoints, cache, rate limits, searches, documents) and the agents, memory and
/// task-state repositories fill each table, and each generated table type lists as many
/// rows as the table holds, decoding every column by name into its generated type.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_generated_reference_types_read_every_row_the_demo_and_repositories_write() {
    use strata::reference::*;
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let config_file = no_disk_limits(d);
    let demo = strata(d, &["--config", &config_file, "demo", "--tasks", "40", "--workers", "2"]);
    assert_eq!(demo.status.code(), Some(0), "{}", text(&demo.stderr, d));
    let mut config = strata::Config::for_path(d.join("strata.db"));
    config.monitor.free_disk_warn_mb = 0;
    config.monitor.free_disk_critical_mb = 0;
    let db = strata::Database::open(&config).await.unwrap();
    let task = db.queue().enqueue(strata::NewTask::new("agent", serde_json::json!({}))).await.unwrap().id;
    db.agents().spawn(task, None, "crawler").await.unwrap();
    db.memory()
        .put(
            strata::repo::MemoryKey { namespace: "notes", key: "k" },
            serde_json::json!({"a": 1}),
            strata::repo::MemoryType::Semantic,
            "ada",
        )
        .await
        .unwrap();
    strata::repo::TaskState::new(db.pool().clone()).set(task, "cursor", serde_json::json!(3)).await.unwrap();
    let pool = db.pool().clone();
    let count = |table: &'static str| {
        let pool = pool.clone();
        async move {
            let sql = format!("SELECT count(*) FROM {table}");
            pool.read(move |c| Ok(c.query_row(&sql, [], |r| r.get::<_, i64>(0))?)).await.unwrap() as usize
        }
    };
    macro_rules! same_rows {
        ($($table:literal => $ty:ident),* $(,)?) => {$(
            let listed = $ty::new(pool.clone()).list(None, 1_000_000).await
                .unwrap_or_else(|e| panic!("{}: {e}", $table)).len();
            let held = count($table).await;
            assert!(held > 0, "{} holds rows written by the repositories", $table);
            assert_eq!(listed, held, "{}: the generated type reads every row", $table);
        )*};
    }
    same_rows!(
        "agents" => AgentsTable, "audit" => AuditTable, "cache" => CacheTable,
        "checkpoints" => CheckpointsTable, "document_tags" => DocumentTagsTable,
        "documents" => DocumentsTable, "flags" => FlagsTable, "memory_entries" => MemoryEntriesTable,
        "metrics" => MetricsTable, "rate_limits" => RateLimitsTable, "scraping_jobs" => ScrapingJobsTable,
        "search_results" => SearchResultsTable, "searches" => SearchesTable, "sessions" => SessionsTable,
        "state" => StateTable, "tasks" => TasksTable,
    );
    db.close().await.unwrap();
}
