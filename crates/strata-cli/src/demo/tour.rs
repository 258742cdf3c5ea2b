//! The tour behind `strata demo`: one run through every layer on a real database
//! file, through the public API of `strata` alone. It opens (creating and migrating) the database, sets flags, opens sessions,
//! stores and reads back a few documents, enqueues a workload with priorities and
//! injected failures, runs workers until the queue is drained (retries and dead letters
//! included), runs a small search (its scraping jobs on the queue under a rate limit,
//! results bulk-inserted, one cached lookup), takes a verified backup, runs a full check,
//! degrades the pool for a moment (the database file moved away under it and put back)
//! and shows its state changes as they happen and its recovery, and collects the query
//! statistics and the index advice of what it ran. Every step is timed and attributed to the layer that did the work. A
//! second run on the same file works: set-up is idempotent (flags are upserts, the
//! schema is already migrated) and each run's tasks carry the run's own id.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde::Serialize;
use serde_json::json;

use strata::ops::{self, AdviceReport, BackupReport, CheckLevel, HealthReport, StatementStats, WorkStats};
use strata::repo::{
    self, CacheKey, Claimer, Decision, JobOutcome, NewAuditEntry, NewJob, NewMetric, NewResult, NewSearch,
    NewSession, NewTask, Queue, QueueConfig, QueueStats, Quota,
};
use strata::{Config, Database, MetricsSnapshot, PoolState, Result};

/// How long an idle worker waits for a retry to come due before it looks again
/// whether the queue is drained.
const IDLE_WAIT: Duration = Duration::from_millis(100);

/// The queue the demo's tasks go to.
pub const DEMO_QUEUE: &str = "demo";

/// The queue the demo search's scraping jobs go to.
pub const SEARCH_QUEUE: &str = "demo-search";

/// The source the demo search scrapes.
const SEARCH_SOURCE: &str = "example";

/// The rate-limit key every scraping job of the demo search checks before it fetches.
pub const SEARCH_RATE_KEY: &str = "demo:scraper:example";

/// The quota of [`SEARCH_RATE_KEY`]: 200 fetches a second, at most 4 at once, so the
/// 8 jobs of a run wait for the limit after the first 4 unless fetching is slower.
const SEARCH_QUOTA: Quota = Quota { limit: 200, period_ms: 1_000, burst: 4 };

/// Scraping jobs of the demo search.
pub const SEARCH_JOBS: usize = 8;

/// Results each job finds: ranks `job * SEARCH_STRIDE ..` `+ RESULTS_PER_JOB`, so each
/// job repeats the last 5 urls of the one before and those are skipped as duplicates.
const RESULTS_PER_JOB: usize = 25;
const SEARCH_STRIDE: usize = 20;

/// The cache namespace of the demo's cached lookup.
pub const CACHE_NAMESPACE: &str = "demo";

/// How long the degradation scene waits for each state change (the pool looks at its
/// file every 250 ms; a loaded machine may take longer).
const STATE_WAIT: Duration = Duration::from_secs(30);

/// How big a run is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct DemoOptions {
    /// Tasks to enqueue (every 50th fails for good and ends dead, every 10th fails
    /// once and succeeds on its retry).
    pub tasks: usize,
    /// Concurrent workers draining the queue.
    pub workers: usize,
    /// Sessions the tasks belong to.
    pub sessions: usize,
    /// Tasks a worker claims at once.
    pub claim_batch: usize,
}

impl Default for DemoOptions {
    fn default() -> Self {
        DemoOptions { tasks: 2_000, workers: 4, sessions: 20, claim_batch: 16 }
    }
}

/// One timed step of the tour.
#[derive(Debug, Clone, Serialize)]
pub struct Step {
    /// The crate that did the work, such as `strata-repo`.
    pub layer: &'static str,
    /// What was done, in one line.
    pub what: String,
    /// How long it took, milliseconds.
    pub ms: u64,
}

/// What the queue part of the run did.
#[derive(Debug, Clone, Serialize)]
pub struct QueueSummary {
    /// Tasks enqueued by this run.
    pub enqueued: u64,
    /// Claims made (a retried task is claimed more than once).
    pub claims: u64,
    /// Tasks completed by this run's workers.
    pub completed: u64,
    /// Failures reported (each schedules a retry, or ends the task dead).
    pub failures: u64,
    /// Tasks of this run that ended dead.
    pub dead: u64,
    /// Tasks per second from the first claim to the drained queue.
    pub tasks_per_sec: f64,
    /// The demo queue's counts after the run (all runs on this file).
    pub stats: Option<QueueStats>,
}

/// What the document store part of the run did.
#[derive(Debug, Clone, Serialize)]
pub struct DocumentsSummary {
    /// Documents this run stored.
    pub stored: u64,
    /// Of those, how many found their content stored already (deduplicated).
    pub deduplicated: u64,
    /// Documents read back with their SHA-256 verified.
    pub read_back: u64,
    /// The MIME types detected, in the order stored.
    pub types: Vec<String>,
}

/// What the search part of the run did.
#[derive(Debug, Clone, Serialize)]
pub struct SearchSummary {
    /// The search this run created (completed at the end of the step).
    pub search_id: i64,
    /// Scraping jobs created, each with its queue task in one transaction.
    pub jobs: u64,
    /// The rate-limit key the jobs checked before each fetch.
    pub rate_limit_key: String,
    /// Checks that passed (one per job).
    pub allowed: u64,
    /// Checks that were denied and waited for their `retry_after`.
    pub denied: u64,
    /// Results stored by the bulk inserts.
    pub results_inserted: u64,
    /// Results skipped because their url was already stored for the search.
    pub duplicates_skipped: u64,
    /// The cache key of the cached lookup (namespace [`CACHE_NAMESPACE`]).
    pub cache_key: String,
    /// What the cached lookup returned (the search's stored results).
    pub cached_results: u64,
    /// How many times the lookup's loader ran over two lookups (1: the second was
    /// served from the cache).
    pub loader_runs: u64,
    /// Cache hits of the two lookups.
    pub cache_hits: u64,
}

/// One state the pool entered during the degradation scene.
#[derive(Debug, Clone, Serialize)]
pub struct Transition {
    /// `healthy`, `degraded`, `unavailable` or `closed`.
    pub state: &'static str,
    /// Why the pool is not healthy, if it is not.
    pub cause: Option<String>,
    /// Milliseconds since the fault was made.
    pub at_ms: u64,
}

/// What the degradation scene did and saw.
#[derive(Debug, Clone, Serialize)]
pub struct DegradationSummary {
    /// The fault made under the running pool.
    pub fault: String,
    /// The states the pool published from the fault to its recovery, in order (the
    /// last one is `healthy`).
    pub transitions: Vec<Transition>,
    /// What became of the audit entry written while the pool was degraded:
    /// `spilled` (to the audit spill file beside the database, fsynced), `stored`, or
    /// the code of its error.
    pub audit_while_degraded: String,
    /// Whether that spilled entry was then replayed into the table (once, by the
    /// replayer `Database::open` started, when the pool was healthy again).
    pub replayed: bool,
    /// Whether an audit write after the recovery committed.
    pub written_after_recovery: bool,
    /// From the fault to healthy again, milliseconds.
    pub recovered_ms: u64,
}

/// The report of `strata demo`.
#[derive(Debug, Clone, Serialize)]
pub struct DemoReport {
    /// The database file.
    pub path: String,
    /// The id of this run (milliseconds since the epoch at its start).
    pub run: i64,
    /// Whether the file was created by this run.
    pub created: bool,
    /// The sizes the run used.
    pub options: DemoOptions,
    /// Every step, in order.
    pub steps: Vec<Step>,
    /// The queue's part.
    pub queue: QueueSummary,
    /// The search's part.
    pub search: SearchSummary,
    /// The pool's counters at the end: writes against commits shows group commit.
    pub pool: MetricsSnapshot,
    /// The documents stored and read back.
    pub documents: DocumentsSummary,
    /// The verified backup (with the document files their rows reference).
    pub backup: BackupReport,
    /// The full check.
    pub health: HealthReport,
    /// The pool degraded for a moment and its recovery.
    pub degradation: DegradationSummary,
    /// The statements that took the most time, slowest first (at most 8).
    pub top_statements: Vec<StatementStats>,
    /// The pool's read closures, write closures and commits, timed in microseconds.
    pub pool_work: Vec<WorkStats>,
    /// The advisor on those statements.
    pub advice: AdviceReport,
    /// The whole run, milliseconds.
    pub total_ms: u64,
}

/// Runs the tour on the database of `config` (created if missing). `progress`
/// receives each step as it finishes.
pub async fn run(config: &Config, options: DemoOptions, progress: impl Fn(&Step)) -> Result<DemoReport> {
    validate(&options)?;
    let started = Instant::now();
    let run = repo::clock::now_ms();
    let mut steps = Vec::new();
    let mut step = |layer: &'static str, what: String, since: Instant| {
        let s = Step { layer, what, ms: since.elapsed().as_millis() as u64 };
        progress(&s);
        steps.push(s);
    };

    let mut config = config.clone();
    config.monitor.query_stats = true;
    let t = Instant::now();
    let db = Database::open(&config).await?;
    let applied = db.open_report().migrated.as_ref().map_or(0, |m| m.applied.len());
    let opened = match (db.open_report().created, applied) {
        (true, n) => {
            format!("created {} and applied {n} migration(s) of the reference schema", config.path.display())
        }
        (false, 0) => format!("opened {}: schema up to date, no drift", config.path.display()),
        (false, n) => format!("opened {} and applied {n} pending migration(s)", config.path.display()),
    };
    step("strata-schema", opened, t);

    let result = tour(&db, &options, run, &mut step).await;
    let closed = db.close().await;
    let (
        (queue, search),
        pool,
        documents,
        (backup, health, degradation),
        (top_statements, pool_work),
        advice,
    ) = result?;
    closed?;
    Ok(DemoReport {
        path: config.path.display().to_string(),
        run,
        created: db.open_report().created,
        options,
        steps,
        queue,
        search,
        pool,
        documents,
        backup,
        health,
        degradation,
        top_statements,
        pool_work,
        advice,
        total_ms: started.elapsed().as_millis() as u64,
    })
}

/// What the tour hands back: the statements and the pool's work come from one report.
type Parts = (
    (QueueSummary, SearchSummary),
    MetricsSnapshot,
    DocumentsSummary,
    (BackupReport, HealthReport, DegradationSummary),
    (Vec<StatementStats>, Vec<WorkStats>),
    AdviceReport,
);

/// Everything between open and close.
async fn tour(
    db: &Database,
    options: &DemoOptions,
    run: i64,
    step: &mut impl FnMut(&'static str, String, Instant),
) -> Result<Parts> {
    let pool = db.pool().clone();
    let flags = repo::Flags::new(pool.clone());
    let sessions = repo::Sessions::new(pool.clone());
    let queue = Queue::new(
        pool.clone(),
        QueueConfig { poll_interval_ms: 50, retry_base_ms: 5, retry_max_ms: 50, ..QueueConfig::default() },
    )?;

    let t = Instant::now();
    let by_demo = repo::FlagChange::by("demo");
    flags
        .set("demo.workers", json!(options.workers), by_demo.clone().description("workers of strata demo"))
        .await?;
    flags.set("scraper.enabled", json!(true), by_demo.clone().description("scrape tasks run")).await?;
    flags.set("summarizer.model", json!("small"), by_demo.description("model of summarize tasks")).await?;
    step("strata-repo", "set 3 flags, each audited in its own transaction".into(), t);

    let t = Instant::now();
    let mut session_ids = Vec::with_capacity(options.sessions);
    for i in 0..options.sessions {
        let s = sessions
            .create(NewSession {
                app_name: "demo".into(),
                user_id: format!("user-{i}"),
                state: json!({"run": run}),
                metadata: json!({"source": "strata demo"}),
            })
            .await?;
        sessions.activate(s.id).await?;
        session_ids.push(s.id);
    }
    step("strata-repo", format!("opened {} sessions (created -> active)", options.sessions), t);

    let t = Instant::now();
    let documents = store_documents(db, run).await?;
    step(
        "strata-repo",
        format!(
            "stored {} documents ({}; {} deduplicated) beside the database and read each back, hash verified",
            documents.stored,
            documents.types.join(", "),
            documents.deduplicated
        ),
        t,
    );

    let t = Instant::now();
    let tasks = workload(options, run, &session_ids);
    let enqueued = queue.enqueue_batch(tasks).await?.len() as u64;
    step("strata-repo", format!("enqueued {enqueued} tasks on queue `{DEMO_QUEUE}` in chunks of 500"), t);

    let t = Instant::now();
    let counters = Arc::new(Counters::default());
    let mut workers = Vec::with_capacity(options.workers);
    for w in 0..options.workers {
        let (queue, counters) = (queue.clone(), Arc::clone(&counters));
        let audit = repo::Audit::new(pool.clone());
        let checkpoints = repo::Checkpoints::new(pool.clone());
        let batch = options.claim_batch;
        workers.push(tokio::spawn(async move {
            work(&queue, &audit, &checkpoints, &format!("demo-worker-{w}"), batch, &counters).await
        }));
    }
    for worker in workers {
        worker.await.map_err(|e| strata::Error::task_failed("demo worker", e))??;
    }
    let drained = t.elapsed();
    let summary = QueueSummary {
        enqueued,
        claims: counters.claims.load(Ordering::Relaxed),
        completed: counters.completed.load(Ordering::Relaxed),
        failures: counters.failures.load(Ordering::Relaxed),
        dead: counters.dead.load(Ordering::Relaxed),
        tasks_per_sec: enqueued as f64 / drained.as_secs_f64().max(1e-9),
        stats: queue.stats().await?.into_iter().find(|s| s.queue == DEMO_QUEUE),
    };
    step(
        "strata-repo",
        format!(
            "{} workers drained the queue: {} completed, {} failures retried with backoff, {} dead ({:.0} tasks/s)",
            options.workers, summary.completed, summary.failures, summary.dead, summary.tasks_per_sec
        ),
        t,
    );

    let t = Instant::now();
    for id in &session_ids {
        sessions.terminate(*id).await?;
    }
    let metrics = repo::Metrics::new(pool.clone());
    metrics
        .record_batch(vec![
            NewMetric::now("demo.tasks_per_sec", summary.tasks_per_sec).labels(json!({"run": run})),
            NewMetric::now("demo.dead", summary.dead as f64).labels(json!({"run": run})),
        ])
        .await?;
    step("strata-repo", format!("terminated {} sessions and recorded 2 metrics", session_ids.len()), t);

    let search = search(db, &queue, run, step).await?;

    let metrics = pool.metrics();
    step(
        "strata-pool",
        format!(
            "{} write calls in {} commits (group commit), {} reads, {} busy retries, 0 SQLITE_BUSY seen by the caller",
            metrics.writes, metrics.commits, metrics.reader_acquires, metrics.busy_retries
        ),
        Instant::now(),
    );

    let t = Instant::now();
    let backup = db.backup().await?;
    step(
        "strata-ops",
        format!(
            "backup {} ({} pages), verified: {}",
            backup.path.display(),
            backup.manifest.page_count,
            if backup.manifest.verification.ok { "integrity_check ok" } else { "FAILED" }
        ),
        t,
    );

    let t = Instant::now();
    let health = db.health(CheckLevel::Full).await?;
    let status = match health.status {
        ops::Status::Ok => "ok",
        ops::Status::Warning => "warning",
        ops::Status::Critical => "critical",
    };
    step("strata-ops", format!("integrity_check, foreign_key_check, PRAGMA audit: {status}"), t);

    let degradation = degradation(db, run, step).await?;

    let t = Instant::now();
    // query_stats is switched on above, so the collector is there.
    let report = db.query_stats().map(ops::QueryStats::report);
    let (top, work): (Vec<StatementStats>, Vec<WorkStats>) =
        report.map(|r| (r.statements.into_iter().take(8).collect(), r.work)).unwrap_or_default();
    let selects: Vec<String> = top
        .iter()
        .filter(|s| s.sql.trim_start().to_ascii_uppercase().starts_with("SELECT"))
        .map(|s| s.sql.clone())
        .collect();
    let advice = ops::advise(&pool, selects, ops::AdviseOptions::default()).await?;
    step(
        "strata-ops",
        format!(
            "query statistics of {} statements; the advisor proposes {} index(es)",
            top.len(),
            advice.indexes.len()
        ),
        t,
    );
    Ok(((summary, search), metrics, documents, (backup, health, degradation), (top, work), advice))
}

/// The degradation scene: the database file is moved away under the running pool
/// (as a careless `mv` or a cleanup script would), the pool notices and degrades, a
/// audit entry written meanwhile is spilled to the spill file, the file is put back,
/// the pool reopens and is healthy again, and the entry is replayed into the table.
/// Each state change is a step as it happens. The file is put back whatever happens
/// in between.
async fn degradation(
    db: &Database,
    run: i64,
    step: &mut impl FnMut(&'static str, String, Instant),
) -> Result<DegradationSummary> {
    let path = db.pool().path().to_path_buf();
    let mut aside = path.clone().into_os_string();
    aside.push(".demo-aside");
    let aside = std::path::PathBuf::from(aside);
    let states = watch_states(db);
    let fault = Instant::now();
    std::fs::rename(&path, &aside).map_err(|e| strata::Error::file_io("move aside", &path, &e))?;
    let seen = degraded_and_back(db, run, &path, &aside, states, fault, step).await;
    if aside.exists() {
        // The scene failed half-way: the file goes back before the error is reported.
        std::fs::rename(&aside, &path).map_err(|e| strata::Error::file_io("put back", &aside, &e))?;
    }
    let (transitions, audit_while_degraded, spilled_uid) = seen?;

    let replayed = match spilled_uid {
        Some(uid) => {
            let t = Instant::now();
            wait_for_replay(db, uid).await?;
            step("strata-repo", "the spilled audit entry was replayed into the table, once".into(), t);
            true
        }
        None => false,
    };
    let t = Instant::now();
    db.audit()
        .append(NewAuditEntry::by("demo").action("demo.recovered").result(format!("run {run}")))
        .await?;
    step("strata-repo", "after the recovery an audit entry commits as usual".into(), t);
    Ok(DegradationSummary {
        fault: format!("{} moved away under the running pool, then put back", path.display()),
        recovered_ms: transitions.last().map_or(0, |t| t.at_ms),
        transitions,
        audit_while_degraded,
        replayed,
        written_after_recovery: true,
    })
}

/// The pool's states as it publishes them, from now on.
fn watch_states(db: &Database) -> tokio::sync::mpsc::UnboundedReceiver<PoolState> {
    let mut watch = db.pool().watch_state();
    watch.mark_unchanged();
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        while watch.changed().await.is_ok() {
            let state = watch.borrow_and_update().clone();
            if tx.send(state).is_err() {
                return;
            }
        }
    });
    rx
}

/// Waits (up to [`STATE_WAIT`]) until the audit entry `uid` is in the table: the
/// replayer moves it there from the spill file once the pool is healthy.
async fn wait_for_replay(db: &Database, uid: String) -> Result<()> {
    const IN_TABLE: &str = "SELECT count(*) FROM audit WHERE uid = ?1";
    let deadline = Instant::now() + STATE_WAIT;
    loop {
        let uid = uid.clone();
        let n: i64 = db.pool().read(move |c| Ok(c.query_row(IN_TABLE, [uid], |r| r.get(0))?)).await?;
        if n == 1 {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(strata::Error::task_failed(
                "demo degradation",
                "the spilled entry was not replayed within 30 s",
            ));
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The part of the scene while the file is away: waits for the pool to leave
/// healthy, writes an audit entry, puts the file back and waits for healthy again.
/// Returns the states seen, what became of the entry, and its uid when spilled.
async fn degraded_and_back(
    db: &Database,
    run: i64,
    path: &std::path::Path,
    aside: &std::path::Path,
    mut states: tokio::sync::mpsc::UnboundedReceiver<PoolState>,
    fault: Instant,
    step: &mut impl FnMut(&'static str, String, Instant),
) -> Result<(Vec<Transition>, String, Option<String>)> {
    let mut transitions = Vec::new();
    let mut previous = "healthy";
    let mut next = async |transitions: &mut Vec<Transition>| -> Result<PoolState> {
        let state =
            tokio::time::timeout(STATE_WAIT, states.recv()).await.ok().flatten().ok_or_else(|| {
                strata::Error::task_failed(
                    "demo degradation",
                    "the pool did not change its state within 30 s",
                )
            })?;
        transitions.push(Transition {
            state: state.name(),
            cause: state.cause().map(ToString::to_string),
            at_ms: fault.elapsed().as_millis() as u64,
        });
        Ok(state)
    };
    let show = |previous: &str, t: &Transition| match &t.cause {
        Some(cause) => format!("pool {previous} -> {} ({cause}) {} ms after the fault", t.state, t.at_ms),
        None => format!("pool {previous} -> {} {} ms after the fault", t.state, t.at_ms),
    };

    let left = next(&mut transitions).await?;
    step("strata-pool", show(previous, &transitions[transitions.len() - 1]), fault);
    previous = left.name();

    // While degraded, writes fail fast (E2040) instead of waiting on a file that is
    // not there; an audit entry is not lost: it goes to the spill file beside the
    // database, fsynced, and is replayed once the pool is healthy again.
    let t = Instant::now();
    let entry = NewAuditEntry::by("demo").action("demo.degraded").result(format!("run {run}"));
    let (outcome, spilled_uid) = match db.audit().append(entry).await {
        Ok(appended) if appended.is_spilled() => ("spilled".to_string(), Some(appended.uid().to_string())),
        Ok(_) => ("stored".to_string(), None),
        Err(e) => (e.code().to_string(), None),
    };
    let said = match outcome.as_str() {
        "spilled" => format!("while {previous}, an audit entry is spilled to the spill file, not lost"),
        "stored" => format!("while {previous}, an audit entry was stored"),
        code => format!("while {previous}, an audit entry failed with {code}"),
    };
    step("strata-repo", said, t);

    std::fs::rename(aside, path).map_err(|e| strata::Error::file_io("put back", aside, &e))?;
    loop {
        let state = next(&mut transitions).await?;
        step("strata-pool", show(previous, &transitions[transitions.len() - 1]), fault);
        previous = state.name();
        if state.is_healthy() {
            return Ok((transitions, outcome, spilled_uid));
        }
    }
}

/// Stores a few documents of different types (one of them twice: its content is stored
/// once) and reads each back with its hash verified.
async fn store_documents(db: &Database, run: i64) -> Result<DocumentsSummary> {
    let docs = db.documents();
    let png: &[u8] = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\0\x01\0\0\0\x01\x08\x06\0\0\0\x1f\x15\xc4\x89";
    let report = format!("run {run}: every task of the demo queue was claimed, handled and acknowledged\n");
    let manifest = serde_json::to_vec(&json!({"run": run, "queue": DEMO_QUEUE}))
        .map_err(|e| strata::Error::invalid("manifest", e.to_string()))?;
    let items: [(&str, Vec<u8>); 4] = [
        ("pixel.png", png.to_vec()),
        ("report.txt", report.into_bytes()),
        ("run.json", manifest),
        ("pixel-copy.png", png.to_vec()),
    ];
    let mut summary = DocumentsSummary { stored: 0, deduplicated: 0, read_back: 0, types: Vec::new() };
    let mut seen = std::collections::BTreeSet::new();
    for (name, bytes) in items {
        let new = repo::NewDocument::named(name).tag("demo").metadata(json!({"run": run})).created_by("demo");
        let doc = docs.put(new, &bytes).await?;
        summary.stored += 1;
        if !seen.insert(doc.sha256.clone()) {
            summary.deduplicated += 1;
        }
        summary.types.push(doc.mime.clone());
        if docs.read(doc.id).await? == bytes {
            summary.read_back += 1;
        }
    }
    Ok(summary)
}

/// The search step: a search whose [`SEARCH_JOBS`] scraping jobs are enqueued on
/// [`SEARCH_QUEUE`] in the transactions that create their rows, worked one at a time
/// under [`SEARCH_QUOTA`] (a GCRA check of [`SEARCH_RATE_KEY`] before each fetch),
/// their results bulk-inserted with the duplicates skipped; then the count of stored
/// results looked up twice through the cache, the second time served from it.
async fn search(
    db: &Database,
    queue: &Queue,
    run: i64,
    step: &mut impl FnMut(&'static str, String, Instant),
) -> Result<SearchSummary> {
    let t = Instant::now();
    let searches = repo::Searches::new(queue.clone());
    let search = searches
        .create(NewSearch {
            query: "sqlite durability".into(),
            sources: json!([SEARCH_SOURCE]),
            params: json!({"run": run}),
            session_id: None,
        })
        .await?;
    for page in 0..SEARCH_JOBS {
        let url = format!("https://{SEARCH_SOURCE}.com/search?q=sqlite+durability&page={}", page + 1);
        let task = NewTask::new("scrape", json!({"run": run, "search_id": search.id, "page": page}))
            .queue(SEARCH_QUEUE)
            .dedup_key(format!("demo-{run}-search-{page}"));
        let job = NewJob { search_id: search.id, source: SEARCH_SOURCE.into(), url };
        searches.create_job(job, Some(task)).await?;
    }
    step(
        "strata-repo",
        format!(
            "search {}: {SEARCH_JOBS} scraping jobs enqueued on queue `{SEARCH_QUEUE}`, each in its row's transaction",
            search.id
        ),
        t,
    );

    let t = Instant::now();
    searches.start(search.id).await?;
    let limits = db.rate_limits();
    let (mut allowed, mut denied, mut inserted, mut skipped) = (0, 0, 0, 0);
    let lease = Duration::from_secs(30);
    while let Some(claimed) =
        queue.claim(Claimer { queue: SEARCH_QUEUE, worker: "demo-scraper" }, 1, lease).await?.pop()
    {
        loop {
            match limits.check(SEARCH_RATE_KEY, SEARCH_QUOTA, 1).await? {
                Decision::Allowed { .. } => break,
                Decision::Denied { retry_after } => {
                    denied += 1;
                    tokio::time::sleep(retry_after).await;
                }
            }
        }
        allowed += 1;
        let job = searches.job_for_task(claimed.task.id).await?;
        searches.start_job(job.id).await?;
        let page = claimed.task.payload["page"].as_u64().unwrap_or(0) as usize;
        let results = page_results(page);
        let bytes = results.iter().map(|r| r.url.len() as i64).sum::<i64>();
        let stored = searches.bulk_insert_results(search.id, results).await?;
        inserted += stored.inserted;
        skipped += stored.skipped;
        searches.finish_job(job.id, JobOutcome::Completed { http_status: 200, bytes }).await?;
        queue.complete(claimed.task.id, &claimed.token, json!({"inserted": stored.inserted})).await?;
    }
    searches.complete(search.id).await?;
    step(
        "strata-repo",
        format!(
            "{allowed} jobs fetched under rate limit `{SEARCH_RATE_KEY}` ({} per {} ms, {denied} waits); \
             {inserted} results bulk-inserted, {skipped} duplicates skipped",
            SEARCH_QUOTA.limit, SEARCH_QUOTA.period_ms
        ),
        t,
    );

    let t = Instant::now();
    let cache = db.cache();
    let key = format!("search-{}-results", search.id);
    let loads = AtomicU64::new(0);
    let hits_before = cache.stats().hits;
    let mut cached_results = 0;
    for _ in 0..2 {
        cached_results = cache
            .get_or_set_with(
                CacheKey { namespace: CACHE_NAMESPACE, key: &key },
                Some(Duration::from_secs(600)),
                || async {
                    loads.fetch_add(1, Ordering::Relaxed);
                    searches.count_results(search.id).await
                },
            )
            .await?;
    }
    let loader_runs = loads.load(Ordering::Relaxed);
    let cache_hits = cache.stats().hits - hits_before;
    step(
        "strata-repo",
        format!(
            "cached lookup `{CACHE_NAMESPACE}/{key}` twice: loader ran {loader_runs}x, {cache_hits} served from the cache"
        ),
        t,
    );
    Ok(SearchSummary {
        search_id: search.id,
        jobs: SEARCH_JOBS as u64,
        rate_limit_key: SEARCH_RATE_KEY.into(),
        allowed,
        denied,
        results_inserted: inserted,
        duplicates_skipped: skipped,
        cache_key: key,
        cached_results,
        loader_runs,
        cache_hits,
    })
}

/// The results the demo's scraper "finds" on `page`: [`RESULTS_PER_JOB`] ranked
/// urls, the first 5 of them also on the page before.
fn page_results(page: usize) -> Vec<NewResult> {
    let first = page * SEARCH_STRIDE;
    (first..first + RESULTS_PER_JOB)
        .map(|rank| NewResult {
            url: format!("https://{SEARCH_SOURCE}.com/doc/{rank}"),
            title: Some(format!("document {rank}")),
            snippet: Some("write-ahead logging keeps readers and the writer apart".into()),
            rank: rank as i64,
            content_hash: Some(format!("{:016x}", (rank as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15))),
            data: Some(format!(r#"{{"page":{page}}}"#)),
        })
        .collect()
}

/// Refuses sizes that make no sense (E6001).
fn validate(options: &DemoOptions) -> Result<()> {
    let fields = [
        ("tasks", options.tasks, 1, 1_000_000),
        ("workers", options.workers, 1, 64),
        ("sessions", options.sessions, 1, 10_000),
        ("claim_batch", options.claim_batch, 1, 1_000),
    ];
    for (field, value, min, max) in fields {
        if !(min..=max).contains(&value) {
            return Err(strata::Error::invalid(
                field,
                format!("must be between {min} and {max}, got {value}"),
            ));
        }
    }
    Ok(())
}

/// The tasks of one run: kinds with their priorities, every 10th failing once,
/// every 50th failing for good.
fn workload(options: &DemoOptions, run: i64, sessions: &[i64]) -> Vec<NewTask> {
    const KINDS: [(&str, u8); 4] = [("scrape", 5), ("summarize", 7), ("embed", 3), ("notify", 9)];
    (0..options.tasks)
        .map(|i| {
            let (kind, priority) = KINDS[i % KINDS.len()];
            let fail_times = match i {
                i if i % 50 == 49 => u32::MAX,
                i if i % 10 == 9 => 1,
                _ => 0,
            };
            NewTask::new(kind, json!({"run": run, "n": i, "fail_times": fail_times}))
                .queue(DEMO_QUEUE)
                .priority(priority)
                .max_attempts(3)
                .dedup_key(format!("demo-{run}-{i}"))
                .session(sessions[i % sessions.len()])
        })
        .collect()
}

#[derive(Debug, Default)]
struct Counters {
    claims: AtomicU64,
    completed: AtomicU64,
    failures: AtomicU64,
    dead: AtomicU64,
}

/// One worker: claims batches, checkpoints each task, fails the ones the workload
/// marks, completes the rest with an audit row, until the demo queue has nothing
/// pending or running.
async fn work(
    queue: &Queue,
    audit: &repo::Audit,
    checkpoints: &repo::Checkpoints,
    worker: &str,
    batch: usize,
    counters: &Counters,
) -> Result<()> {
    let lease = Duration::from_secs(30);
    loop {
        let claimed = queue.claim(Claimer { queue: DEMO_QUEUE, worker }, batch, lease).await?;
        if claimed.is_empty() {
            let stats = queue.stats().await?.into_iter().find(|s| s.queue == DEMO_QUEUE);
            match stats {
                Some(s) if s.pending + s.running > 0 => {
                    // Retries wait out their backoff: next_within() wakes at the
                    // earliest run_after or lease expiry, and gives up after IDLE_WAIT
                    // (never in the middle of a claim), so the loop looks at the
                    // queue again.
                    let more = queue
                        .next_within(Claimer { queue: DEMO_QUEUE, worker }, batch, lease, IDLE_WAIT)
                        .await?;
                    counters.claims.fetch_add(more.len() as u64, Ordering::Relaxed);
                    handle(queue, audit, checkpoints, worker, more, counters).await?;
                    continue;
                }
                _ => return Ok(()),
            }
        }
        counters.claims.fetch_add(claimed.len() as u64, Ordering::Relaxed);
        handle(queue, audit, checkpoints, worker, claimed, counters).await?;
    }
}

async fn handle(
    queue: &Queue,
    audit: &repo::Audit,
    checkpoints: &repo::Checkpoints,
    worker: &str,
    claimed: Vec<repo::Claimed>,
    counters: &Counters,
) -> Result<()> {
    for c in claimed {
        let task = &c.task;
        let fail_times = task.payload["fail_times"].as_u64().unwrap_or(0);
        let state = json!({"step": "started", "worker": worker});
        checkpoints.save(task.id, i64::from(task.attempts), state, task.session_id).await?;
        if u64::from(task.attempts) <= fail_times {
            let failed = queue.fail(task.id, &c.token, "injected failure of the demo workload").await?;
            counters.failures.fetch_add(1, Ordering::Relaxed);
            if failed.status == repo::TaskStatus::Dead {
                counters.dead.fetch_add(1, Ordering::Relaxed);
            }
            continue;
        }
        queue.complete(task.id, &c.token, json!({"worker": worker, "attempts": task.attempts})).await?;
        audit
            .append(
                NewAuditEntry::by(worker)
                    .action(format!("{}.completed", task.kind))
                    .task(task.id)
                    .result("ok"),
            )
            .await?;
        counters.completed.fetch_add(1, Ordering::Relaxed);
    }
    Ok(())
}
