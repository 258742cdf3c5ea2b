//! `strata searches list|show ID` on a database seeded through the library: the table
//! and `--json` documents, paging by status and by result cursor, the typed errors, and
//! that neither command changes the file.

use serde_json::json;
use strata::repo::{NewResult, NewSearch};

use crate::queue::{json_of, run, with_db};
use crate::readonly::state;
use crate::text;

/// Two searches; the first running with three results of ranks 1 to 3.
fn seed(dir: &std::path::Path) -> i64 {
    with_db(dir, async |db| {
        let searches = db.searches();
        let mut first = NewSearch::new("sqlite wal");
        first.sources = json!(["github", "docs"]);
        let first = searches.create(first).await.unwrap();
        searches.create(NewSearch::new("rust pools")).await.unwrap();
        searches.start(first.id).await.unwrap();
        let results = (1..=3)
            .map(|rank| NewResult {
                url: format!("https://example.com/{rank}"),
                title: Some(format!("page {rank}")),
                snippet: None,
                rank,
                content_hash: None,
                data: None,
            })
            .collect();
        searches.bulk_insert_results(first.id, results).await.unwrap();
        first.id
    })
}

#[test]
fn list_and_show_page_searches_and_their_results_and_change_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let id = seed(d);
    let before = state(&d.join("app.db"));

    let list = run(d, &["searches", "list"]);
    assert_eq!(list.status.code(), Some(0), "{}", text(&list.stderr, d));
    let listed = text(&list.stdout, d);
    assert!(listed.contains("sqlite wal") && listed.contains("rust pools"), "{listed}");
    let doc = json_of(d, &["searches", "list", "--status", "running"], 0);
    let ids: Vec<i64> =
        doc["searches"].as_array().unwrap().iter().map(|s| s["id"].as_i64().unwrap()).collect();
    assert_eq!(ids, [id]);
    let paged = json_of(d, &["searches", "list", "--limit", "1"], 0);
    assert_eq!(paged["searches"].as_array().unwrap().len(), 1);
    assert_eq!(paged["next"], id);

    let shown = json_of(d, &["searches", "show", &id.to_string(), "--limit", "2"], 0);
    assert_eq!(shown["search"]["status"], "running");
    assert_eq!(shown["results_stored"], 3);
    let ranks: Vec<i64> =
        shown["results"].as_array().unwrap().iter().map(|r| r["rank"].as_i64().unwrap()).collect();
    assert_eq!(ranks, [1, 2]);
    let next = shown["next"].as_str().unwrap().to_string();
    let rest = json_of(d, &["searches", "show", &id.to_string(), "--after", &next], 0);
    let ranks: Vec<i64> =
        rest["results"].as_array().unwrap().iter().map(|r| r["rank"].as_i64().unwrap()).collect();
    assert_eq!(ranks, [3]);
    assert!(rest["next"].is_null());
    let human = run(d, &["searches", "show", &id.to_string()]);
    let human = text(&human.stdout, d);
    assert!(human.contains("status: running") && human.contains("https://example.com/3"), "{human}");

    assert_eq!(state(&d.join("app.db")), before, "the file and its -wal are unchanged");
}

#[test]
fn bad_input_is_a_typed_error() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    seed(d);
    assert_eq!(json_of(d, &["searches", "show", "999"], 3)["code"], "E4002");
    assert_eq!(json_of(d, &["searches", "list", "--status", "done"], 3)["code"], "E6001");
    assert_eq!(json_of(d, &["searches", "show", "1", "--after", "three"], 3)["code"], "E6001");
    assert_eq!(json_of(d, &["searches", "list", "--limit", "0"], 3)["code"], "E6001");
    let missing = tempfile::tempdir().unwrap();
    assert_eq!(json_of(missing.path(), &["searches", "list"], 3)["code"], "E2004");
    assert!(!missing.path().join("app.db").exists(), "nothing is created");
}
