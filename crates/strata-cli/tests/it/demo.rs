//! `strata demo`: the README's first command, on the default `./strata.db`, twice.

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
    assert!(text(&first.stderr, d).contains("enqueued 100 tasks"), "steps are printed as they finish");
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
fn demo_with_zero_workers_is_a_typed_error() {
    let dir = tempfile::tempdir().unwrap();
    let out = strata(dir.path(), &["--json", "demo", "--workers", "0"]);
    assert_eq!(out.status.code(), Some(3));
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["code"], "E6001");
}
