//! Searches, results and scraping jobs: the lifecycle, keyset listings, bulk inserts
//! that skip duplicates, streaming every result once in order, bad input that writes
//! nothing, and a job committed together with its queue task (or neither).

use std::time::Instant;

use serde_json::json;
use strata_core::{ConstraintKind, ErrorKind};
use strata_pool::Pool;
use strata_repo::{
    JobOutcome, NewJob, NewResult, NewSearch, NewTask, PageRequest, Queue, QueueConfig, SearchStatus,
    Searches,
};

use crate::migrated;
use crate::rows::{assert_constraint, count};

async fn repo(dir: &std::path::Path) -> (Pool, Searches) {
    let pool = migrated(dir).await;
    let queue = Queue::new(pool.clone(), QueueConfig::default()).unwrap();
    (pool, Searches::new(queue))
}

fn result(url: &str, rank: i64) -> NewResult {
    NewResult { url: url.into(), rank, ..NewResult::default() }
}

#[tokio::test]
async fn a_search_is_created_queued_and_reads_back_with_its_json() {
    let dir = tempfile::tempdir().unwrap();
    let (_pool, searches) = repo(dir.path()).await;
    let created = searches
        .create(NewSearch {
            sources: json!(["github", "web"]),
            params: json!({"lang": "rust"}),
            ..NewSearch::new("sqlite")
        })
        .await
        .unwrap();
    assert_eq!(created.status, SearchStatus::Queued);
    assert_eq!(created.sources, json!(["github", "web"]));
    assert_eq!(created.params, json!({"lang": "rust"}));
    assert_eq!((created.result_count, created.started_at, created.finished_at), (0, None, None));
    assert_eq!(searches.get(created.id).await.unwrap(), created);
}

#[tokio::test]
async fn the_lifecycle_allows_its_table_and_refuses_the_rest_changing_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let (_pool, searches) = repo(dir.path()).await;
    let id = searches.create(NewSearch::new("q")).await.unwrap().id;
    // queued -> completed skips running.
    let err = searches.complete(id).await.unwrap_err();
    assert_eq!((err.code(), err.kind()), ("E4006", ErrorKind::Invalid), "{err}");
    let running = searches.start(id).await.unwrap();
    assert_eq!(running.status, SearchStatus::Running);
    assert!(running.started_at.is_some());
    let failed = searches.fail(id, "timeout").await.unwrap();
    assert_eq!((failed.status, failed.error.as_deref()), (SearchStatus::Failed, Some("timeout")));
    assert!(failed.finished_at.is_some());
    // Out of a final state: every target is refused, with code and hint, and the row stays.
    for to in SearchStatus::ALL {
        let err = searches.transition(id, *to, Some("x".into())).await.unwrap_err();
        assert_eq!(err.code(), "E4006", "failed -> {to}: {err}");
        assert!(!err.hint().is_empty());
        assert!(err.to_string().contains("search"), "{err}");
    }
    assert_eq!(searches.get(id).await.unwrap(), failed);

    let other = searches.create(NewSearch::new("q2")).await.unwrap().id;
    assert_eq!(searches.cancel(other).await.unwrap().status, SearchStatus::Cancelled);
    assert_eq!(searches.start(other).await.unwrap_err().code(), "E4006");
    assert_eq!(searches.start(4242).await.unwrap_err().code(), "E4002");
    for from in SearchStatus::ALL {
        for to in SearchStatus::ALL {
            if from.is_final() {
                assert!(!from.can_become(*to), "{from} -> {to}");
            }
        }
    }
}

#[tokio::test]
async fn searches_list_by_status_in_keyset_pages_and_count() {
    let dir = tempfile::tempdir().unwrap();
    let (_pool, searches) = repo(dir.path()).await;
    let mut queued = Vec::new();
    for i in 0..5 {
        let id = searches.create(NewSearch::new(format!("q{i}"))).await.unwrap().id;
        if i == 2 {
            searches.start(id).await.unwrap();
        } else {
            queued.push(id);
        }
    }
    let mut seen = Vec::new();
    let mut page = PageRequest::first(2);
    loop {
        let got = searches.list_by_status(SearchStatus::Queued, page).await.unwrap();
        assert!(got.items.len() <= 2);
        seen.extend(got.items.iter().map(|s| s.id));
        match got.next {
            Some(next) => page = PageRequest::after(next, 2),
            None => break,
        }
    }
    assert_eq!(seen, queued);
    assert_eq!(searches.list(PageRequest::first(10)).await.unwrap().items.len(), 5);
    assert_eq!(searches.count_by_status(SearchStatus::Queued).await.unwrap(), 4);
    assert_eq!(searches.count_by_status(SearchStatus::Running).await.unwrap(), 1);
    assert_eq!(searches.list(PageRequest::first(0)).await.unwrap_err().code(), "E6001");
}

#[tokio::test]
async fn bulk_insert_skips_duplicates_and_reports_how_many_were_new() {
    let dir = tempfile::tempdir().unwrap();
    let (pool, searches) = repo(dir.path()).await;
    let id = searches.create(NewSearch::new("q")).await.unwrap().id;
    let first = searches
        .bulk_insert_results(id, vec![result("https://a", 1), result("https://b", 2), result("https://c", 3)])
        .await
        .unwrap();
    assert_eq!((first.inserted, first.skipped), (3, 0));
    // Two already stored, one repeated within the call, two new.
    let second = searches
        .bulk_insert_results(
            id,
            vec![
                result("https://b", 9),
                result("https://d", 4),
                result("https://a", 9),
                result("https://e", 5),
                result("https://d", 9),
            ],
        )
        .await
        .unwrap();
    assert_eq!((second.inserted, second.skipped), (2, 3));
    assert_eq!(searches.count_results(id).await.unwrap(), 5);
    assert_eq!(searches.get(id).await.unwrap().result_count, 5);
    assert_eq!(count(&pool, "search_results").await, 5);
    // The first row of a url wins: b keeps rank 2.
    let page = searches.results_page(id, PageRequest::first(10)).await.unwrap();
    let urls: Vec<(&str, i64)> = page.items.iter().map(|r| (r.url.as_str(), r.rank)).collect();
    assert_eq!(
        urls,
        [("https://a", 1), ("https://b", 2), ("https://c", 3), ("https://d", 4), ("https://e", 5)]
    );
    // The same url under another search is a different result.
    let other = searches.create(NewSearch::new("q2")).await.unwrap().id;
    let third = searches.bulk_insert_results(other, vec![result("https://a", 1)]).await.unwrap();
    assert_eq!((third.inserted, third.skipped), (1, 0));
}

#[tokio::test]
async fn bulk_insert_of_more_than_a_chunk_counts_across_chunks() {
    let dir = tempfile::tempdir().unwrap();
    let (_pool, searches) = repo(dir.path()).await;
    let id = searches.create(NewSearch::new("q")).await.unwrap().id;
    let n = strata_repo::searches::RESULT_CHUNK * 2 + 7;
    let batch: Vec<NewResult> = (0..n).map(|i| result(&format!("https://x/{i}"), i as i64)).collect();
    let report = searches.bulk_insert_results(id, batch.clone()).await.unwrap();
    assert_eq!((report.inserted, report.skipped), (n as u64, 0));
    let again = searches.bulk_insert_results(id, batch).await.unwrap();
    assert_eq!((again.inserted, again.skipped), (0, n as u64));
    assert_eq!(searches.get(id).await.unwrap().result_count, n as i64);
}

/// 100,000 results stored through `bulk_insert_results` and streamed back; the
/// 1,000,000 results of the issue, with the memory bound measured, are streamed by
/// `tests/stream_memory.rs` (a test binary of its own).
#[tokio::test]
async fn streaming_reads_every_result_once_in_rank_order_a_page_at_a_time() {
    const N: usize = 100_000;
    const PAGE: usize = 1_000;
    let dir = tempfile::tempdir().unwrap();
    let (_pool, searches) = repo(dir.path()).await;
    let id = searches.create(NewSearch::new("q")).await.unwrap().id;
    // Ranks repeat (ties are ordered by id) and are not in insertion order.
    let batch: Vec<NewResult> = (0..N)
        .map(|i| NewResult {
            data: Some(format!("{{\"i\":{i}}}")),
            ..result(&format!("https://r/{i}"), ((i * 7919) % 5_000) as i64)
        })
        .collect();
    let started = Instant::now();
    assert_eq!(searches.bulk_insert_results(id, batch).await.unwrap().inserted, N as u64);
    let inserted = started.elapsed();

    let started = Instant::now();
    let mut stream = searches.results(id, PAGE).await.unwrap();
    let mut seen = vec![false; N];
    let mut last: Option<(i64, i64)> = None;
    let mut total = 0;
    while let Some(page) = stream.next_page().await.unwrap() {
        assert!(!page.is_empty() && page.len() <= PAGE, "a page of {} rows", page.len());
        for r in page {
            let key = (r.rank, r.id);
            assert!(last.is_none_or(|l| l < key), "{last:?} then {key:?}");
            last = Some(key);
            let i = r.data["i"].as_u64().unwrap() as usize;
            assert!(!seen[i], "result {i} read twice");
            seen[i] = true;
            total += 1;
        }
    }
    assert_eq!(total, N);
    assert!(seen.iter().all(|s| *s));
    assert!(stream.next_page().await.unwrap().is_none());
    eprintln!("{N} results: bulk insert {inserted:?}, streamed in {:?}", started.elapsed());
}

#[tokio::test]
async fn bad_input_is_a_typed_error_with_a_hint_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let (pool, searches) = repo(dir.path()).await;
    // An unknown search id.
    let err = searches.bulk_insert_results(4242, vec![result("https://a", 1)]).await.unwrap_err();
    assert_eq!((err.code(), err.kind()), ("E4002", ErrorKind::NotFound), "{err}");
    assert!(!err.hint().is_empty());
    assert_eq!(count(&pool, "search_results").await, 0);
    assert_eq!(searches.get(4242).await.unwrap_err().code(), "E4002");
    assert_eq!(searches.results(4242, 10).await.unwrap_err().code(), "E4002");

    // Invalid JSON in one result of many: none is written.
    let id = searches.create(NewSearch::new("q")).await.unwrap().id;
    let batch = vec![
        result("https://a", 1),
        NewResult { data: Some("{\"open\": ".into()), ..result("https://bad", 2) },
        result("https://c", 3),
    ];
    let err = searches.bulk_insert_results(id, batch).await.unwrap_err();
    assert_eq!((err.code(), err.kind()), ("E6050", ErrorKind::Invalid), "{err}");
    assert!(err.to_string().contains("https://bad"), "{err}");
    assert!(!err.hint().is_empty());
    assert_eq!(count(&pool, "search_results").await, 0);
    assert_eq!(searches.get(id).await.unwrap().result_count, 0);

    // Invalid analysis JSON leaves the stored analysis as it was.
    searches.bulk_insert_results(id, vec![result("https://a", 1)]).await.unwrap();
    let stored = searches.results_page(id, PageRequest::first(1)).await.unwrap().items.remove(0);
    let analysed = searches.update_analysis(stored.id, r#"{"sentiment": 0.5}"#).await.unwrap();
    assert_eq!(analysed.analysis, Some(json!({"sentiment": 0.5})));
    let err = searches.update_analysis(stored.id, "not json").await.unwrap_err();
    assert_eq!(err.code(), "E6050", "{err}");
    assert_eq!(searches.results_page(id, PageRequest::first(1)).await.unwrap().items[0], analysed);
    assert_eq!(searches.update_analysis(4242, "{}").await.unwrap_err().code(), "E4002");

    // An empty query and sources that are not an array are refused by the CHECKs.
    let err = searches.create(NewSearch::new("")).await.unwrap_err();
    assert_constraint(&err, ConstraintKind::Check);
    let err =
        searches.create(NewSearch { sources: json!({"a": 1}), ..NewSearch::new("q") }).await.unwrap_err();
    assert_constraint(&err, ConstraintKind::Check);
    assert_eq!(count(&pool, "searches").await, 1);
}

#[tokio::test]
async fn a_job_and_its_queue_task_commit_together() {
    let dir = tempfile::tempdir().unwrap();
    let (pool, searches) = repo(dir.path()).await;
    let search = searches.create(NewSearch::new("q")).await.unwrap().id;
    let task = NewTask::new("scrape", json!({"url": "https://a"})).queue("scrape");
    let job = searches
        .create_job(
            NewJob { search_id: search, source: "github".into(), url: "https://a".into() },
            Some(task),
        )
        .await
        .unwrap();
    assert_eq!(job.status, SearchStatus::Queued);
    let task_id = job.task_id.expect("the job records its task");
    let queue = Queue::new(pool.clone(), QueueConfig::default()).unwrap();
    let stored = queue.get(task_id).await.unwrap();
    assert_eq!((stored.kind.as_str(), stored.queue.as_str()), ("scrape", "scrape"));
    assert_eq!(searches.job_for_task(task_id).await.unwrap(), job);
    assert_eq!(searches.count_jobs(search).await.unwrap(), 1);

    // The job's lifecycle.
    let running = searches.start_job(job.id).await.unwrap();
    assert_eq!((running.status, running.attempts), (SearchStatus::Running, 1));
    let done =
        searches.finish_job(job.id, JobOutcome::Completed { http_status: 200, bytes: 1234 }).await.unwrap();
    assert_eq!((done.status, done.http_status, done.bytes), (SearchStatus::Completed, Some(200), Some(1234)));
    assert_eq!(searches.cancel_job(job.id).await.unwrap_err().code(), "E4006");
    assert_eq!(searches.get_job(job.id).await.unwrap(), done);

    // A job without a task.
    let bare = searches
        .create_job(NewJob { search_id: search, source: "web".into(), url: "https://b".into() }, None)
        .await
        .unwrap();
    assert_eq!(bare.task_id, None);
    let listed = searches.list_jobs(search, PageRequest::first(1)).await.unwrap();
    assert_eq!(listed.items.iter().map(|j| j.id).collect::<Vec<_>>(), [job.id]);
    let rest = searches.list_jobs(search, PageRequest::after(listed.next.unwrap(), 1)).await.unwrap();
    assert_eq!((rest.items[0].id, rest.next), (bare.id, None));
}

#[tokio::test]
async fn a_refused_task_leaves_no_job_and_an_unknown_search_no_task() {
    let dir = tempfile::tempdir().unwrap();
    let (pool, searches) = repo(dir.path()).await;
    let search = searches.create(NewSearch::new("q")).await.unwrap().id;
    let new_job = || NewJob { search_id: search, source: "github".into(), url: "https://a".into() };

    // The database refuses the task (an unknown parent task): neither row commits.
    let mut orphan = NewTask::new("scrape", json!({}));
    orphan.parent = Some(999_999);
    let err = searches.create_job(new_job(), Some(orphan)).await.unwrap_err();
    assert_constraint(&err, ConstraintKind::ForeignKey);
    assert_eq!((count(&pool, "scraping_jobs").await, count(&pool, "tasks").await), (0, 0));

    // The queue refuses the task before SQL (priority over 10).
    let err = searches
        .create_job(new_job(), Some(NewTask::new("scrape", json!({})).priority(11)))
        .await
        .unwrap_err();
    assert_eq!(err.code(), "E6001", "{err}");
    assert_eq!((count(&pool, "scraping_jobs").await, count(&pool, "tasks").await), (0, 0));

    // The job is refused (empty url) after its task was inserted: the task rolls back.
    let err = searches
        .create_job(NewJob { url: "".into(), ..new_job() }, Some(NewTask::new("scrape", json!({}))))
        .await
        .unwrap_err();
    assert_constraint(&err, ConstraintKind::Check);
    assert_eq!((count(&pool, "scraping_jobs").await, count(&pool, "tasks").await), (0, 0));

    // An unknown search.
    let err = searches
        .create_job(NewJob { search_id: 4242, ..new_job() }, Some(NewTask::new("scrape", json!({}))))
        .await
        .unwrap_err();
    assert_eq!((err.code(), err.kind()), ("E4002", ErrorKind::NotFound), "{err}");
    assert_eq!((count(&pool, "scraping_jobs").await, count(&pool, "tasks").await), (0, 0));
}

#[tokio::test]
async fn deleting_a_search_deletes_its_results_and_jobs() {
    let dir = tempfile::tempdir().unwrap();
    let (pool, searches) = repo(dir.path()).await;
    let id = searches.create(NewSearch::new("q")).await.unwrap().id;
    searches.bulk_insert_results(id, vec![result("https://a", 1)]).await.unwrap();
    searches
        .create_job(NewJob { search_id: id, source: "web".into(), url: "https://a".into() }, None)
        .await
        .unwrap();
    crate::rows::raw_write(&pool, "DELETE FROM searches").await.unwrap();
    assert_eq!((count(&pool, "search_results").await, count(&pool, "scraping_jobs").await), (0, 0));
}

#[tokio::test]
async fn search_operations_log_their_name_tables_and_outcome() {
    let dir = tempfile::tempdir().unwrap();
    let (_pool, searches) = repo(dir.path()).await;
    let lines = crate::op_spans::logged(async {
        let search = searches.create(NewSearch::new("rust sqlite")).await.unwrap();
        let inserted = searches
            .bulk_insert_results(search.id, vec![result("https://a", 1), result("https://b", 2)])
            .await;
        assert_eq!(inserted.unwrap().inserted, 2);
        assert_eq!(searches.complete(search.id).await.unwrap_err().code(), "E4006");
    })
    .await;
    crate::op_spans::assert_op(&lines, "searches.create", "searches", "ok", "rows=1");
    crate::op_spans::assert_op(
        &lines,
        "searches.bulk_insert_results",
        "search_results,searches",
        "ok",
        "rows=2",
    );
    crate::op_spans::assert_op(&lines, "searches.transition", "searches", "error", "code=\"E4006\"");
}
