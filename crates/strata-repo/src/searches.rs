//! Searches, their results and the scraping jobs that fetch them (tables `searches`,
//! `search_results` and `scraping_jobs`, migration V8).
//!
//! A search and a scraping job share one lifecycle, enforced here (the CHECKs only
//! admit the five states):
//!
//! | from                | to                                 | note                         |
//! |---------------------|------------------------------------|------------------------------|
//! | `queued`            | `running`                          | sets `started_at` (a job also counts an attempt) |
//! | `queued`, `running` | `cancelled`                        | sets `finished_at`           |
//! | `running`           | `completed`, `failed`              | sets `finished_at`           |
//!
//! `completed`, `failed` and `cancelled` are final: any change out of them (or any
//! other change, including a state to itself) is E4006 and changes nothing.
//!
//! Results are written in bulk ([`Searches::bulk_insert_results`]): a result whose
//! `(search_id, url)` is already stored is skipped, and the answer says how many rows
//! were new. They are read in `(rank, id)` order, a keyset page at a time
//! ([`Searches::results_page`]) or through a [`ResultStream`] that holds one page in
//! memory at a time. A scraping job can be created together with the queue task that
//! runs it, in one transaction ([`Searches::create_job`]).

use rusqlite::{Connection, OptionalExtension, Row, params};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use strata_core::{Error, Result};
use strata_pool::Pool;
use time::OffsetDateTime;

use crate::clock::{now_ms, to_datetime};
use crate::page::read_page;
use crate::queue::{Enqueued, NewTask, Queue};
use crate::row::{json_column, json_text, plus_one, text_enum};
use crate::{Page, PageRequest};

text_enum! {
    /// Where a search or a scraping job is in its lifecycle (columns
    /// `searches.status` and `scraping_jobs.status`).
    pub enum SearchStatus ("status") {
        /// Submitted, not started yet.
        Queued => "queued",
        /// Being worked on; `started_at` is set.
        Running => "running",
        /// Done; final.
        Completed => "completed",
        /// Ended with an error; final.
        Failed => "failed",
        /// Stopped before it finished; final.
        Cancelled => "cancelled",
    }
}

impl SearchStatus {
    /// Whether the lifecycle allows going from `self` to `to` (the table of the
    /// module documentation).
    pub fn can_become(self, to: SearchStatus) -> bool {
        use SearchStatus::*;
        matches!(
            (self, to),
            (Queued, Running) | (Queued | Running, Cancelled) | (Running, Completed | Failed)
        )
    }

    /// Whether no transition leaves this state.
    pub fn is_final(self) -> bool {
        matches!(self, SearchStatus::Completed | SearchStatus::Failed | SearchStatus::Cancelled)
    }
}

/// One row of `searches`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Search {
    /// The search's id.
    pub id: i64,
    /// What is searched for (never empty).
    pub query: String,
    /// The sources to search, a JSON array (`[]` by default).
    pub sources: Value,
    /// Where the search is in its lifecycle.
    pub status: SearchStatus,
    /// Free-form parameters, a JSON value (`{}` by default).
    pub params: Value,
    /// How many results are stored for it.
    pub result_count: i64,
    /// Why it failed, when it did.
    pub error: Option<String>,
    /// The session it belongs to, if any (NULL once that session is deleted).
    pub session_id: Option<i64>,
    /// When it was created (ms since the Unix epoch).
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// When it started running.
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub started_at: Option<OffsetDateTime>,
    /// When it reached a final state.
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub finished_at: Option<OffsetDateTime>,
}

/// A search to create. `sources` must be a JSON array (E4001 from the CHECK otherwise).
#[derive(Debug, Clone, PartialEq)]
pub struct NewSearch {
    /// What to search for (never empty).
    pub query: String,
    /// The sources to search, a JSON array.
    pub sources: Value,
    /// Free-form parameters.
    pub params: Value,
    /// The session it belongs to.
    pub session_id: Option<i64>,
}

impl NewSearch {
    /// A search for `query` on no named source, with `{}` params and no session.
    pub fn new(query: impl Into<String>) -> Self {
        NewSearch {
            query: query.into(),
            sources: Value::Array(Vec::new()),
            params: Value::Object(Default::default()),
            session_id: None,
        }
    }
}

/// One row of `search_results`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SearchResult {
    /// The result's id.
    pub id: i64,
    /// The search it belongs to.
    pub search_id: i64,
    /// Where it was found (unique within its search).
    pub url: String,
    /// Its title.
    pub title: Option<String>,
    /// A snippet of its text.
    pub snippet: Option<String>,
    /// Its rank within the search (lower first).
    pub rank: i64,
    /// A hash of its content.
    pub content_hash: Option<String>,
    /// What the scraper extracted, a JSON value.
    pub data: Value,
    /// What the analysis made of it, once analysed.
    pub analysis: Option<Value>,
    /// When it was fetched (ms since the Unix epoch).
    #[serde(with = "time::serde::rfc3339")]
    pub fetched_at: OffsetDateTime,
}

/// A result to store. `data` is JSON text as the scraper received it (`None` stores
/// `{}`): it is checked to parse (E6050) but stored as given, without a round trip
/// through `serde_json::Value`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct NewResult {
    /// Where it was found (never empty).
    pub url: String,
    /// Its title.
    pub title: Option<String>,
    /// A snippet of its text.
    pub snippet: Option<String>,
    /// Its rank within the search.
    pub rank: i64,
    /// A hash of its content.
    pub content_hash: Option<String>,
    /// JSON text of what the scraper extracted.
    pub data: Option<String>,
}

/// What [`Searches::bulk_insert_results`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct BulkInsert {
    /// Rows that were new and are now stored.
    pub inserted: u64,
    /// Rows skipped because their `(search_id, url)` was already stored (or repeated
    /// earlier in the same call).
    pub skipped: u64,
}

/// A bulk insert stands for the rows it inserted in the operation log.
impl strata_pool::Affected for BulkInsert {
    fn affected(&self) -> u64 {
        self.inserted
    }
}

/// Where a page of results starts: after the result with this `(rank, id)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResultCursor {
    /// The rank of the last result read.
    pub rank: i64,
    /// The id of the last result read.
    pub id: i64,
}

/// A page of results in `(rank, id)` order and the cursor of the next page.
pub type ResultPage = Page<SearchResult, ResultCursor>;

/// One row of `scraping_jobs`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScrapingJob {
    /// The job's id.
    pub id: i64,
    /// The search it fetches for.
    pub search_id: i64,
    /// The source it scrapes (e.g. `github`).
    pub source: String,
    /// The url it fetches.
    pub url: String,
    /// Where it is in its lifecycle.
    pub status: SearchStatus,
    /// The queue task that runs it, if any (NULL once that task is purged).
    pub task_id: Option<i64>,
    /// How many times it started running.
    pub attempts: i64,
    /// The HTTP status of its last fetch.
    pub http_status: Option<i64>,
    /// The bytes its last fetch read.
    pub bytes: Option<i64>,
    /// Why it failed, when it did.
    pub error: Option<String>,
    /// When it was created (ms since the Unix epoch).
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// When it last started running.
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub started_at: Option<OffsetDateTime>,
    /// When it reached a final state.
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub finished_at: Option<OffsetDateTime>,
}

strata_pool::one_row!(Search, SearchResult, ScrapingJob);

/// A scraping job to create.
#[derive(Debug, Clone, PartialEq)]
pub struct NewJob {
    /// The search it fetches for (E4002 when there is none).
    pub search_id: i64,
    /// The source it scrapes (never empty).
    pub source: String,
    /// The url it fetches (never empty).
    pub url: String,
}

/// How a job ended, for [`Searches::finish_job`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JobOutcome {
    /// The fetch succeeded.
    Completed {
        /// Its HTTP status.
        http_status: i64,
        /// The bytes it read.
        bytes: i64,
    },
    /// The fetch failed.
    Failed {
        /// Its HTTP status, when it got one.
        http_status: Option<i64>,
        /// Why.
        error: String,
    },
}

/// Results per write transaction in [`Searches::bulk_insert_results`]: each chunk
/// commits on its own so that other writes go between them.
pub const RESULT_CHUNK: usize = 1_000;

/// The searches, results and scraping jobs repository. It holds the [`Queue`] so that
/// a job and its task commit together.
#[derive(Debug, Clone)]
pub struct Searches {
    pool: Pool,
    queue: Queue,
}

impl Searches {
    /// The repository over the pool of `queue`.
    pub fn new(queue: Queue) -> Self {
        Searches { pool: queue.pool().clone(), queue }
    }

    const INSERT_SEARCH: &str = "INSERT INTO searches (query, sources, params, session_id, created_at) \
         VALUES (?1, ?2, ?3, ?4, ?5) \
         RETURNING id, query, sources, status, params, result_count, error, session_id, created_at, started_at, finished_at";

    /// Creates a search in state `queued` and returns it. An empty query, sources
    /// that are not a JSON array or an unknown session is E4001, and nothing is written.
    pub async fn create(&self, new: NewSearch) -> Result<Search> {
        strata_pool::operation("searches.create", "searches", async move {
            let NewSearch { query, sources, params, session_id } = new;
            let (sources, params) = (json_text(&sources), json_text(&params));
            self.pool
                .write(move |conn| {
                    let mut stmt = conn.prepare_cached(Self::INSERT_SEARCH)?;
                    Ok(stmt.query_row(params![query, sources, params, session_id, now_ms()], search)?)
                })
                .await
        })
        .await
    }

    /// The search `id`; E4002 when there is none.
    pub async fn get(&self, id: i64) -> Result<Search> {
        strata_pool::operation("searches.get", "searches", async move {
            self.pool
                .read_inline(move |conn| get_search_in(conn, id)?.ok_or_else(|| search_not_found(id)))
                .await
        })
        .await
    }

    const SEARCHES_BY_STATUS: &str = "SELECT id, query, sources, status, params, result_count, error, session_id, created_at, started_at, finished_at \
         FROM searches WHERE status = ?1 AND id > ?2 ORDER BY id LIMIT +?3";

    /// The searches in one state, oldest first, keyset by id.
    pub async fn list_by_status(&self, status: SearchStatus, page: PageRequest) -> Result<Page<Search>> {
        strata_pool::operation("searches.list_by_status", "searches", async move {
            self.pool
                .read(move |conn| {
                    read_page(conn, Self::SEARCHES_BY_STATUS, &[&status], page, search, |s| s.id)
                })
                .await
        })
        .await
    }

    const SEARCHES: &str = "SELECT id, query, sources, status, params, result_count, error, session_id, created_at, started_at, finished_at \
         FROM searches WHERE id > ?1 ORDER BY id LIMIT +?2";

    /// Every search, oldest first, keyset by id.
    pub async fn list(&self, page: PageRequest) -> Result<Page<Search>> {
        strata_pool::operation("searches.list", "searches", async move {
            self.pool.read(move |conn| read_page(conn, Self::SEARCHES, &[], page, search, |s| s.id)).await
        })
        .await
    }

    const COUNT_SEARCHES_BY_STATUS: &str = "SELECT count(*) FROM searches WHERE status = ?1";

    /// How many searches are in `status`.
    pub async fn count_by_status(&self, status: SearchStatus) -> Result<u64> {
        self.count("searches.count_by_status", "searches", Self::COUNT_SEARCHES_BY_STATUS, status).await
    }

    /// Runs the `SELECT count(*)` statement `sql` with its one parameter, in the
    /// operation span `op` over `tables`.
    async fn count<P>(
        &self,
        op: &'static str,
        tables: &'static str,
        sql: &'static str,
        param: P,
    ) -> Result<u64>
    where
        P: rusqlite::ToSql + Send + 'static,
    {
        let read = self.pool.read(move |conn| {
            let n: i64 = conn.prepare_cached(sql)?.query_row([param], |r| r.get(0))?;
            Ok(u64::try_from(n).unwrap_or(0))
        });
        strata_pool::operation(op, tables, read).await
    }

    const TRANSITION_SEARCH: &str = "UPDATE searches SET status = ?3, \
         started_at = CASE WHEN ?3 = 'running' THEN ?4 ELSE started_at END, \
         finished_at = CASE WHEN ?3 IN ('completed', 'failed', 'cancelled') THEN ?4 ELSE finished_at END, \
         error = coalesce(?5, error) \
         WHERE id = ?1 AND status = ?2 \
         RETURNING id, query, sources, status, params, result_count, error, session_id, created_at, started_at, finished_at";

    /// Moves the search to `to` if the lifecycle allows it (see the module
    /// documentation) and returns it; `error` is stored with it when given. A change
    /// the lifecycle does not allow is E4006 and changes nothing; E4002 when there is
    /// no such search.
    pub async fn transition(&self, id: i64, to: SearchStatus, error: Option<String>) -> Result<Search> {
        strata_pool::operation("searches.transition", "searches", async move {
            self.pool
                .write(move |conn| {
                    let current = get_search_in(conn, id)?.ok_or_else(|| search_not_found(id))?;
                    allowed(current.status, to, || format!("search {id}"))?;
                    // The writer is the only connection that writes, and this closure read
                    // the status in the same transaction: the guard `status = ?2` holds.
                    let mut stmt = conn.prepare_cached(Self::TRANSITION_SEARCH)?;
                    Ok(stmt.query_row(params![id, current.status, to, now_ms(), error], search)?)
                })
                .await
        })
        .await
    }

    /// `queued` -> `running` (E4006 from anything else).
    pub async fn start(&self, id: i64) -> Result<Search> {
        self.transition(id, SearchStatus::Running, None).await
    }

    /// `running` -> `completed` (E4006 from anything else).
    pub async fn complete(&self, id: i64) -> Result<Search> {
        self.transition(id, SearchStatus::Completed, None).await
    }

    /// `running` -> `failed`, storing `error` (E4006 from anything else).
    pub async fn fail(&self, id: i64, error: &str) -> Result<Search> {
        self.transition(id, SearchStatus::Failed, Some(error.to_owned())).await
    }

    /// `queued` or `running` -> `cancelled` (E4006 from a final state).
    pub async fn cancel(&self, id: i64) -> Result<Search> {
        self.transition(id, SearchStatus::Cancelled, None).await
    }

    const INSERT_RESULT: &str = "INSERT INTO search_results \
         (search_id, url, title, snippet, rank, content_hash, data, fetched_at) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) \
         ON CONFLICT (search_id, url) DO NOTHING";

    const ADD_RESULT_COUNT: &str = "UPDATE searches SET result_count = result_count + ?2 WHERE id = ?1";

    /// Stores the results of search `search_id`, [`RESULT_CHUNK`] per write
    /// transaction, skipping every result whose `(search_id, url)` is already stored,
    /// and says how many were new; `searches.result_count` grows by that many in the
    /// same transactions. Every result's `data` is checked to be valid JSON before
    /// anything is written (E6050), and the search to exist (E4002); then nothing is
    /// written. An empty url is E4001 and rolls back its chunk (chunks before it stay:
    /// calling again with the same results skips those and stores the rest).
    pub async fn bulk_insert_results(&self, search_id: i64, results: Vec<NewResult>) -> Result<BulkInsert> {
        strata_pool::operation("searches.bulk_insert_results", "search_results,searches", async move {
            for result in &results {
                if let Some(data) = &result.data {
                    check_json(data, || format!("search_results.data of {}", result.url))?;
                }
            }
            let mut report = BulkInsert { inserted: 0, skipped: 0 };
            let mut results = results.into_iter();
            loop {
                let chunk: Vec<NewResult> = results.by_ref().take(RESULT_CHUNK).collect();
                if chunk.is_empty() {
                    break;
                }
                let total = chunk.len() as u64;
                let inserted = self
                    .pool
                    .write(move |conn| {
                        if get_search_in(conn, search_id)?.is_none() {
                            return Err(search_not_found(search_id));
                        }
                        let now = now_ms();
                        let mut insert = conn.prepare_cached(Self::INSERT_RESULT)?;
                        let mut inserted = 0_i64;
                        for r in &chunk {
                            let data = r.data.as_deref().unwrap_or("{}");
                            inserted += insert.execute(params![
                                search_id,
                                r.url,
                                r.title,
                                r.snippet,
                                r.rank,
                                r.content_hash,
                                data,
                                now
                            ])? as i64;
                        }
                        conn.prepare_cached(Self::ADD_RESULT_COUNT)?.execute(params![search_id, inserted])?;
                        // At most RESULT_CHUNK rows, so never negative.
                        Ok(u64::try_from(inserted).unwrap_or(0))
                    })
                    .await?;
                report.inserted += inserted;
                report.skipped += total - inserted;
            }
            Ok(report)
        })
        .await
    }

    const RESULTS_PAGE: &str = "SELECT id, search_id, url, title, snippet, rank, content_hash, data, analysis, fetched_at \
         FROM search_results WHERE search_id = ?1 AND (rank, id) > (?2, ?3) ORDER BY rank, id LIMIT +?4";

    /// A page of the results of search `search_id` in `(rank, id)` order: the first
    /// when `page.after` is `None`, else the one after that cursor (from
    /// [`Page::next`]). `page.limit` is 1 to 1,000 (E6001). An unknown search has no
    /// results (an empty page).
    pub async fn results_page(&self, search_id: i64, page: PageRequest<ResultCursor>) -> Result<ResultPage> {
        strata_pool::operation("searches.results_page", "search_results", async move {
            let sql_limit = page.sql_limit()?;
            let (after, limit) = (page.after, page.limit);
            self.pool
                .read(move |conn| {
                    let after = after.unwrap_or(ResultCursor { rank: i64::MIN, id: i64::MIN });
                    let mut stmt = conn.prepare_cached(Self::RESULTS_PAGE)?;
                    let rows = stmt
                        .query_map(
                            params![search_id, after.rank, after.id, plus_one(sql_limit)],
                            search_result,
                        )?
                        .collect::<rusqlite::Result<Vec<_>>>()?;
                    Ok(Page::from_rows(rows, limit, |r| ResultCursor { rank: r.rank, id: r.id }))
                })
                .await
        })
        .await
    }

    /// Every result of search `search_id`, in `(rank, id)` order, read `page_size`
    /// (1 to 1,000, E6001) at a time: the stream holds one page, whatever the number of
    /// results. E4002 when there is no such search.
    pub async fn results(&self, search_id: i64, page_size: usize) -> Result<ResultStream> {
        PageRequest::<i64>::first(page_size).sql_limit()?;
        self.get(search_id).await?;
        Ok(ResultStream { repo: self.clone(), search_id, page_size, after: None, done: false })
    }

    const COUNT_RESULTS: &str = "SELECT count(*) FROM search_results WHERE search_id = ?1";

    /// How many results are stored for search `search_id` (counted, not read from
    /// `result_count`).
    pub async fn count_results(&self, search_id: i64) -> Result<u64> {
        strata_pool::operation("searches.count_results", "search_results", async move {
            self.pool
                .read(move |conn| {
                    let n: i64 =
                        conn.prepare_cached(Self::COUNT_RESULTS)?.query_row([search_id], |r| r.get(0))?;
                    Ok(u64::try_from(n).unwrap_or(0))
                })
                .await
        })
        .await
    }

    const UPDATE_ANALYSIS: &str = "UPDATE search_results SET analysis = ?2 WHERE id = ?1 \
         RETURNING id, search_id, url, title, snippet, rank, content_hash, data, analysis, fetched_at";

    /// Stores `analysis` (JSON text, E6050 when it does not parse, and then nothing is
    /// written) as the analysis of result `id` and returns the result; E4002 when
    /// there is none.
    pub async fn update_analysis(&self, id: i64, analysis: &str) -> Result<SearchResult> {
        strata_pool::operation("searches.update_analysis", "search_results", async move {
            check_json(analysis, || "search_results.analysis".to_owned())?;
            let analysis = analysis.to_owned();
            self.pool
                .write(move |conn| {
                    let mut stmt = conn.prepare_cached(Self::UPDATE_ANALYSIS)?;
                    stmt.query_row(params![id, analysis], search_result)
                        .optional()?
                        .ok_or_else(|| Error::NotFound { what: format!("search result {id}") })
                })
                .await
        })
        .await
    }

    const INSERT_JOB: &str = "INSERT INTO scraping_jobs (search_id, source, url, task_id, created_at) \
         VALUES (?1, ?2, ?3, ?4, ?5) \
         RETURNING id, search_id, source, url, status, task_id, attempts, http_status, bytes, error, created_at, started_at, finished_at";

    /// Creates a scraping job in state `queued` and, when `task` is given, enqueues
    /// it on the queue in the same transaction and records its id as the job's
    /// `task_id`: both commit, or neither (a task the queue refuses, E6001 or E4001,
    /// leaves no job). E4002 when the search does not exist; an empty source or url is
    /// E4001. The task's payload is given as is: put the job's url in it, or read the
    /// job by `task_id` ([`Searches::job_for_task`]).
    pub async fn create_job(&self, new: NewJob, task: Option<NewTask>) -> Result<ScrapingJob> {
        strata_pool::operation("searches.create_job", "scraping_jobs,tasks", async move {
            let NewJob { search_id, source, url } = new;
            let queue = self.queue.clone();
            let queue_name = task.as_ref().map(|t| t.queue.clone());
            let job = self
                .pool
                .write(move |conn| {
                    if get_search_in(conn, search_id)?.is_none() {
                        return Err(search_not_found(search_id));
                    }
                    // The write closure may run again (a retried busy write): the task is
                    // cloned for each run.
                    let task_id = match &task {
                        Some(task) => {
                            let Enqueued { id, .. } = queue.enqueue_in(conn, task.clone())?;
                            Some(id)
                        }
                        None => None,
                    };
                    let mut stmt = conn.prepare_cached(Self::INSERT_JOB)?;
                    Ok(stmt.query_row(params![search_id, source, url, task_id, now_ms()], job)?)
                })
                .await?;
            if let Some(name) = queue_name {
                self.queue.wake_after_commit(&name);
            }
            Ok(job)
        })
        .await
    }

    /// The scraping job `id`; E4002 when there is none.
    pub async fn get_job(&self, id: i64) -> Result<ScrapingJob> {
        strata_pool::operation("searches.get_job", "scraping_jobs", async move {
            self.pool.read_inline(move |conn| get_job_in(conn, id)?.ok_or_else(|| job_not_found(id))).await
        })
        .await
    }

    const JOB_FOR_TASK: &str = "SELECT id, search_id, source, url, status, task_id, attempts, http_status, bytes, error, created_at, started_at, finished_at \
         FROM scraping_jobs WHERE task_id = ?1";

    /// The scraping job that queue task `task_id` runs; E4002 when there is none.
    pub async fn job_for_task(&self, task_id: i64) -> Result<ScrapingJob> {
        strata_pool::operation("searches.job_for_task", "scraping_jobs", async move {
            self.pool
                .read_inline(move |conn| {
                    conn.prepare_cached(Self::JOB_FOR_TASK)?
                        .query_row([task_id], job)
                        .optional()?
                        .ok_or_else(|| Error::NotFound { what: format!("scraping job of task {task_id}") })
                })
                .await
        })
        .await
    }

    const JOBS_BY_SEARCH: &str = "SELECT id, search_id, source, url, status, task_id, attempts, http_status, bytes, error, created_at, started_at, finished_at \
         FROM scraping_jobs WHERE search_id = ?1 AND id > ?2 ORDER BY id LIMIT +?3";

    /// The scraping jobs of one search, oldest first, keyset by id.
    pub async fn list_jobs(&self, search_id: i64, page: PageRequest) -> Result<Page<ScrapingJob>> {
        strata_pool::operation("searches.list_jobs", "scraping_jobs", async move {
            self.pool
                .read(move |conn| read_page(conn, Self::JOBS_BY_SEARCH, &[&search_id], page, job, |j| j.id))
                .await
        })
        .await
    }

    const COUNT_JOBS_BY_SEARCH: &str = "SELECT count(*) FROM scraping_jobs WHERE search_id = ?1";

    /// How many scraping jobs search `search_id` has.
    pub async fn count_jobs(&self, search_id: i64) -> Result<u64> {
        self.count("searches.count_jobs", "scraping_jobs", Self::COUNT_JOBS_BY_SEARCH, search_id).await
    }

    const TRANSITION_JOB: &str = "UPDATE scraping_jobs SET status = ?3, \
         attempts = attempts + (?3 = 'running'), \
         started_at = CASE WHEN ?3 = 'running' THEN ?4 ELSE started_at END, \
         finished_at = CASE WHEN ?3 IN ('completed', 'failed', 'cancelled') THEN ?4 ELSE finished_at END, \
         http_status = coalesce(?5, http_status), bytes = coalesce(?6, bytes), error = coalesce(?7, error) \
         WHERE id = ?1 AND status = ?2 \
         RETURNING id, search_id, source, url, status, task_id, attempts, http_status, bytes, error, created_at, started_at, finished_at";

    async fn transition_job(
        &self,
        id: i64,
        to: SearchStatus,
        http_status: Option<i64>,
        bytes: Option<i64>,
        error: Option<String>,
    ) -> Result<ScrapingJob> {
        self.pool
            .write(move |conn| {
                let current = get_job_in(conn, id)?.ok_or_else(|| job_not_found(id))?;
                allowed(current.status, to, || format!("scraping job {id}"))?;
                // As in `transition`: the status was read in this write transaction.
                let mut stmt = conn.prepare_cached(Self::TRANSITION_JOB)?;
                Ok(stmt
                    .query_row(params![id, current.status, to, now_ms(), http_status, bytes, error], job)?)
            })
            .await
    }

    /// `queued` -> `running`, counting an attempt (E4006 from anything else).
    pub async fn start_job(&self, id: i64) -> Result<ScrapingJob> {
        self.transition_job(id, SearchStatus::Running, None, None, None).await
    }

    /// `running` -> `completed` or `failed` with what the fetch returned (E4006 from
    /// anything else).
    pub async fn finish_job(&self, id: i64, outcome: JobOutcome) -> Result<ScrapingJob> {
        match outcome {
            JobOutcome::Completed { http_status, bytes } => {
                self.transition_job(id, SearchStatus::Completed, Some(http_status), Some(bytes), None).await
            }
            JobOutcome::Failed { http_status, error } => {
                self.transition_job(id, SearchStatus::Failed, http_status, None, Some(error)).await
            }
        }
    }

    /// `queued` or `running` -> `cancelled` (E4006 from a final state).
    pub async fn cancel_job(&self, id: i64) -> Result<ScrapingJob> {
        self.transition_job(id, SearchStatus::Cancelled, None, None, None).await
    }
}

/// The results of one search read a keyset page at a time, from
/// [`Searches::results`]: an async iterator over pages (`next_page`), so that memory
/// holds one page however many results there are. Each result is read once, in
/// `(rank, id)` order; results inserted behind the cursor while reading are not seen.
#[derive(Debug)]
pub struct ResultStream {
    repo: Searches,
    search_id: i64,
    page_size: usize,
    after: Option<ResultCursor>,
    done: bool,
}

impl ResultStream {
    /// The next page of results, or `None` once every result was read.
    pub async fn next_page(&mut self) -> Result<Option<Vec<SearchResult>>> {
        if self.done {
            return Ok(None);
        }
        let page = self
            .repo
            .results_page(self.search_id, PageRequest { after: self.after, limit: self.page_size })
            .await?;
        self.after = page.next;
        self.done = page.next.is_none();
        if page.items.is_empty() {
            return Ok(None);
        }
        Ok(Some(page.items))
    }
}

const GET_SEARCH: &str = "SELECT id, query, sources, status, params, result_count, error, session_id, created_at, started_at, finished_at \
     FROM searches WHERE id = ?1";

const GET_JOB: &str = "SELECT id, search_id, source, url, status, task_id, attempts, http_status, bytes, error, created_at, started_at, finished_at \
     FROM scraping_jobs WHERE id = ?1";

/// Every statement this module issues, for the explain test.
pub(crate) const STATEMENTS: &[(&str, &str)] = &[
    ("searches.get", GET_SEARCH),
    ("searches.create", Searches::INSERT_SEARCH),
    ("searches.list", Searches::SEARCHES),
    ("searches.list_by_status", Searches::SEARCHES_BY_STATUS),
    ("searches.count_by_status", Searches::COUNT_SEARCHES_BY_STATUS),
    ("searches.transition", Searches::TRANSITION_SEARCH),
    ("searches.insert_result", Searches::INSERT_RESULT),
    ("searches.add_result_count", Searches::ADD_RESULT_COUNT),
    ("searches.results_page", Searches::RESULTS_PAGE),
    ("searches.count_results", Searches::COUNT_RESULTS),
    ("searches.update_analysis", Searches::UPDATE_ANALYSIS),
    ("searches.get_job", GET_JOB),
    ("searches.create_job", Searches::INSERT_JOB),
    ("searches.job_for_task", Searches::JOB_FOR_TASK),
    ("searches.list_jobs", Searches::JOBS_BY_SEARCH),
    ("searches.count_jobs", Searches::COUNT_JOBS_BY_SEARCH),
    ("searches.transition_job", Searches::TRANSITION_JOB),
];

/// E6050 unless `text` parses as JSON; `field` names the value in the error.
fn check_json(text: &str, field: impl FnOnce() -> String) -> Result<()> {
    match serde_json::from_str::<serde::de::IgnoredAny>(text) {
        Ok(_) => Ok(()),
        Err(e) => Err(Error::InvalidJson { field: field(), reason: e.to_string() }),
    }
}

fn get_search_in(conn: &Connection, id: i64) -> Result<Option<Search>> {
    Ok(conn.prepare_cached(GET_SEARCH)?.query_row([id], search).optional()?)
}

fn get_job_in(conn: &Connection, id: i64) -> Result<Option<ScrapingJob>> {
    Ok(conn.prepare_cached(GET_JOB)?.query_row([id], job).optional()?)
}

fn search_not_found(id: i64) -> Error {
    Error::NotFound { what: format!("search {id}") }
}

fn job_not_found(id: i64) -> Error {
    Error::NotFound { what: format!("scraping job {id}") }
}

fn search(row: &Row<'_>) -> rusqlite::Result<Search> {
    Ok(Search {
        id: row.get(0)?,
        query: row.get(1)?,
        sources: json_column(row, 2)?,
        status: row.get(3)?,
        params: json_column(row, 4)?,
        result_count: row.get(5)?,
        error: row.get(6)?,
        session_id: row.get(7)?,
        created_at: to_datetime(row.get(8)?),
        started_at: row.get::<_, Option<i64>>(9)?.map(to_datetime),
        finished_at: row.get::<_, Option<i64>>(10)?.map(to_datetime),
    })
}

fn search_result(row: &Row<'_>) -> rusqlite::Result<SearchResult> {
    let analysis: Option<String> = row.get(8)?;
    let analysis = match analysis {
        Some(_) => Some(json_column(row, 8)?),
        None => None,
    };
    Ok(SearchResult {
        id: row.get(0)?,
        search_id: row.get(1)?,
        url: row.get(2)?,
        title: row.get(3)?,
        snippet: row.get(4)?,
        rank: row.get(5)?,
        content_hash: row.get(6)?,
        data: json_column(row, 7)?,
        analysis,
        fetched_at: to_datetime(row.get(9)?),
    })
}

fn job(row: &Row<'_>) -> rusqlite::Result<ScrapingJob> {
    Ok(ScrapingJob {
        id: row.get(0)?,
        search_id: row.get(1)?,
        source: row.get(2)?,
        url: row.get(3)?,
        status: row.get(4)?,
        task_id: row.get(5)?,
        attempts: row.get(6)?,
        http_status: row.get(7)?,
        bytes: row.get(8)?,
        error: row.get(9)?,
        created_at: to_datetime(row.get(10)?),
        started_at: row.get::<_, Option<i64>>(11)?.map(to_datetime),
        finished_at: row.get::<_, Option<i64>>(12)?.map(to_datetime),
    })
}

/// Whether the lifecycle lets `what` (a search or a scraping job) go from `from` to
/// `to`: E4006 naming both states when it does not.
fn allowed(from: SearchStatus, to: SearchStatus, what: impl FnOnce() -> String) -> Result<()> {
    if from.can_become(to) {
        return Ok(());
    }
    Err(Error::InvalidTransition { what: what(), from: from.to_string(), to: to.to_string() })
}
