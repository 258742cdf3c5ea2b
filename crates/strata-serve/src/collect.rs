//! What the dashboard shows, gathered from the database: the health report (the
//! monitor's latest, else a check of our own), pool metrics, query statistics, queue
//! counts, backups, and the ring buffer of samples the charts are drawn from.

use std::collections::VecDeque;
use std::path::Path;
use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::Serialize;
use strata::ops::stats::{StatementStats, StatsReport, WorkStats};
use strata::ops::{self, CheckLevel, HealthOptions, HealthReport};
use strata::repo::{Queue, QueueConfig, QueueStats};
use strata::{Database, MetricsSnapshot, Result};

use crate::ServeOptions;

/// One point of the charts, taken every refresh interval.
#[derive(Debug, Clone, Serialize)]
pub struct Sample {
    /// When, milliseconds since the Unix epoch.
    pub at_ms: u64,
    /// Size of the `-wal` file, bytes.
    pub wal_bytes: u64,
    /// Acquire latency percentiles over the interval, microseconds (the upper bound
    /// of the pool histogram's bucket that holds the percentile; `None` when nothing
    /// was acquired).
    pub latency_p50_us: Option<u64>,
    /// See `latency_p50_us`.
    pub latency_p95_us: Option<u64>,
    /// See `latency_p50_us`.
    pub latency_p99_us: Option<u64>,
    /// Pending and running tasks over every queue.
    pub queue_depth: u64,
    /// Transactions committed through the pool per second over the interval
    /// (SQLite's commit hook: a group commit of many writes counts once).
    pub commits_per_sec: f64,
    /// Write closures the pool ran per second over the interval (several go in one
    /// commit under group commit).
    pub writes_per_sec: f64,
    /// COMMIT latency percentiles of the writer, microseconds (monotonic clock), since
    /// the query statistics started: live when the database collects them
    /// (`monitor.query_stats`), else from the file an application exported; `None`
    /// when neither has timed a commit.
    pub commit_p50_us: Option<f64>,
    /// See `commit_p50_us`.
    pub commit_p95_us: Option<f64>,
    /// See `commit_p50_us`.
    pub commit_p99_us: Option<f64>,
}

/// Everything the page, `/api/stats` and `/metrics` show, taken at one moment.
#[derive(Debug, Clone, Serialize)]
pub struct View {
    /// The database's file name (never its directory).
    pub file: String,
    /// The latest health report, with paths cut to file names; `None` before the
    /// first check.
    pub health: Option<HealthReport>,
    /// The verdict of the latest health report.
    pub status: Option<ops::Status>,
    /// The error of the latest check, when it failed.
    pub health_error: Option<String>,
    /// Bytes of the database, its WAL, its freelist and free disk.
    pub storage: Option<ops::health::Storage>,
    /// The pool's counters.
    pub pool: MetricsSnapshot,
    /// The database was opened read-only (`strata serve`): the pool is the server's
    /// own readers, and commits of other processes are not counted.
    pub read_only: bool,
    /// Where the statements come from: `live`, `exported` or `none`.
    pub statements_from: &'static str,
    /// The slowest statements by p95, at most [`TOP_STATEMENTS`].
    pub statements: Vec<StatementStats>,
    /// The writer's COMMIT times from the same statistics as `statements`, when any
    /// commit was timed.
    pub commits: Option<WorkStats>,
    /// Task counts per queue and state; empty without the reference schema.
    pub queues: Vec<QueueStats>,
    /// Age of the oldest task that is ready to claim, seconds.
    pub oldest_ready_age_secs: Option<u64>,
    /// The newest backups, at most [`RECENT_BACKUPS`].
    pub backups: Vec<BackupRow>,
    /// The samples of the charts, oldest first.
    pub history: Vec<Sample>,
}

/// One backup as the dashboard shows it.
#[derive(Debug, Clone, Serialize)]
pub struct BackupRow {
    /// The backup's file name.
    pub file: String,
    /// complete, no_manifest, partial or orphan.
    pub state: ops::backup::BackupState,
    /// Bytes.
    pub size_bytes: u64,
    /// When it was taken (RFC 3339).
    pub created_at: Option<String>,
    /// Whether its verification passed (`None` without a manifest).
    pub verified: Option<bool>,
    /// Age in seconds, from its manifest's time.
    pub age_secs: Option<u64>,
}

/// The statements shown.
pub const TOP_STATEMENTS: usize = 10;
/// The backups shown.
pub const RECENT_BACKUPS: usize = 5;

/// The dashboard's shared state: the database, the latest health report and the
/// samples. Cheap to clone (an `Arc`).
#[derive(Clone)]
pub struct Dashboard {
    inner: Arc<Inner>,
}

struct Inner {
    db: Database,
    refresh: Duration,
    health_interval: Duration,
    capacity: usize,
    history: Mutex<VecDeque<Sample>>,
    health: Mutex<Option<Result<HealthReport>>>,
    /// The database's file name and the directory it is in, cut from what is shown.
    file: String,
    dir: String,
}

impl Dashboard {
    /// The state over `db`, with the sampler running until the last clone is dropped.
    pub fn start(db: Database, options: &ServeOptions) -> Dashboard {
        let path = db.pool().path().to_path_buf();
        let file = path.file_name().map(|f| f.to_string_lossy().into_owned()).unwrap_or_default();
        let dir = path.parent().map(|d| d.display().to_string()).unwrap_or_default();
        let inner = Arc::new(Inner {
            db,
            refresh: options.refresh.max(Duration::from_millis(100)),
            health_interval: options.health_interval,
            capacity: options.history.max(2),
            history: Mutex::new(VecDeque::new()),
            health: Mutex::new(None),
            file,
            dir,
        });
        tokio::spawn(sampler(Arc::downgrade(&inner)));
        Dashboard { inner }
    }

    /// How often the page refreshes.
    pub fn refresh(&self) -> Duration {
        self.inner.refresh
    }

    /// The latest health report, taking one first when there is none yet.
    pub async fn health(&self) -> Result<HealthReport> {
        let cached = self.inner.health.lock().unwrap_or_else(PoisonError::into_inner).clone();
        match cached {
            Some(result) => result,
            None => {
                let result = check(&self.inner.db).await;
                *self.inner.health.lock().unwrap_or_else(PoisonError::into_inner) = Some(result.clone());
                result
            }
        }
    }

    /// `report` with the database's directory cut from every path and message.
    pub fn redact(&self, report: &HealthReport) -> HealthReport {
        let text = serde_json::to_string(report).unwrap_or_default();
        serde_json::from_str(&self.redact_text(&text)).unwrap_or_else(|_| {
            let mut report = report.clone();
            report.path = self.inner.file.clone().into();
            report.findings.clear();
            report.integrity.clear();
            report
        })
    }

    /// `text` with the database's directory cut out.
    pub fn redact_text(&self, text: &str) -> String {
        match self.inner.dir.is_empty() {
            true => text.to_string(),
            false => text.replace(&format!("{}/", self.inner.dir), "").replace(&self.inner.dir, "."),
        }
    }

    /// Everything the page shows, now.
    pub async fn view(&self) -> View {
        let health = self.health().await;
        let db = &self.inner.db;
        let pool = db.pool().metrics();
        let (statements_from, statements, commits) = statements(db);
        let (queues, oldest_ready_age_secs) = queues(db).await;
        let backups = backups(db).await;
        let history =
            self.inner.history.lock().unwrap_or_else(PoisonError::into_inner).iter().cloned().collect();
        let (report, status, storage, health_error) = match &health {
            Ok(report) => {
                (Some(self.redact(report)), Some(report.status), Some(report.storage.clone()), None)
            }
            Err(err) => (None, None, None, Some(self.redact_text(&format!("{} {err}", err.code())))),
        };
        View {
            file: self.inner.file.clone(),
            health: report,
            status,
            health_error,
            storage,
            pool,
            read_only: db.pool().is_read_only(),
            statements_from,
            statements,
            commits,
            queues,
            oldest_ready_age_secs,
            backups,
            history,
        }
    }
}

/// Takes a sample (and a health report) every refresh interval until the dashboard
/// is dropped.
async fn sampler(inner: Weak<Inner>) {
    let mut previous: Option<(MetricsSnapshot, u64)> = None;
    let mut checked: Option<std::time::Instant> = None;
    loop {
        let Some(strong) = inner.upgrade() else { return };
        let dash = Dashboard { inner: strong };
        if dash.inner.db.pool().is_closed() {
            return;
        }
        let monitored = dash.inner.db.monitor().and_then(|m| m.latest());
        let due = checked.is_none_or(|at| at.elapsed() >= dash.inner.health_interval);
        let report = match monitored {
            Some(report) => Some(Ok(report)),
            None if due => {
                checked = Some(std::time::Instant::now());
                Some(check(&dash.inner.db).await)
            }
            None => None,
        };
        if let Some(report) = report {
            *dash.inner.health.lock().unwrap_or_else(PoisonError::into_inner) = Some(report);
        }
        let metrics = dash.inner.db.pool().metrics();
        let now = now_ms();
        let (depth, _) = queues(&dash.inner.db).await;
        let (.., commits) = statements(&dash.inner.db);
        let mut sample =
            sample(&metrics, previous.as_ref(), now, wal_bytes(dash.inner.db.pool().path()), &depth);
        if let Some(c) = commits {
            (sample.commit_p50_us, sample.commit_p95_us, sample.commit_p99_us) =
                (Some(c.p50_us), Some(c.p95_us), Some(c.p99_us));
        }
        {
            let mut history = dash.inner.history.lock().unwrap_or_else(PoisonError::into_inner);
            if history.len() == dash.inner.capacity {
                history.pop_front();
            }
            history.push_back(sample);
        }
        previous = Some((metrics, now));
        let refresh = dash.inner.refresh;
        drop(dash);
        tokio::time::sleep(refresh).await;
    }
}

/// A health report: on the live pool when it has a writer, else of the file through
/// a read-only connection (a read-only pool has no writer settings to audit).
async fn check(db: &Database) -> Result<HealthReport> {
    let options = HealthOptions::from_config(CheckLevel::Quick, db.pool().config());
    match db.pool().is_read_only() {
        false => ops::check(db.pool(), &options).await,
        true => ops::health::check_path(db.pool().path(), &options).await,
    }
}

/// One chart point from the metrics now and those of the previous sample.
fn sample(
    now: &MetricsSnapshot,
    previous: Option<&(MetricsSnapshot, u64)>,
    at_ms: u64,
    wal_bytes: u64,
    queues: &[QueueStats],
) -> Sample {
    let counts: Vec<(Option<u64>, u64)> = now
        .acquire_latency
        .iter()
        .enumerate()
        .map(|(i, b)| {
            let before = previous.and_then(|(p, _)| p.acquire_latency.get(i)).map_or(0, |p| p.count);
            (b.le_us, b.count.saturating_sub(before))
        })
        .collect();
    let per_sec = |count: fn(&MetricsSnapshot) -> u64| match previous {
        Some((p, then)) if at_ms > *then => {
            count(now).saturating_sub(count(p)) as f64 * 1000.0 / (at_ms - then) as f64
        }
        _ => 0.0,
    };
    let commits_per_sec = per_sec(|m| m.commits);
    let writes_per_sec = per_sec(|m| m.writes);
    Sample {
        at_ms,
        wal_bytes,
        latency_p50_us: percentile(&counts, 0.50),
        latency_p95_us: percentile(&counts, 0.95),
        latency_p99_us: percentile(&counts, 0.99),
        queue_depth: queues.iter().map(|q| q.pending + q.running).sum(),
        commits_per_sec,
        writes_per_sec,
        commit_p50_us: None,
        commit_p95_us: None,
        commit_p99_us: None,
    }
}

/// The upper bound of the bucket that holds quantile `q` of `buckets` (the overflow
/// bucket counts as twice the largest bound).
fn percentile(buckets: &[(Option<u64>, u64)], q: f64) -> Option<u64> {
    let total: u64 = buckets.iter().map(|(_, c)| c).sum();
    if total == 0 {
        return None;
    }
    let rank = (q * total as f64).ceil().max(1.0) as u64;
    let largest = buckets.iter().filter_map(|(le, _)| *le).max().unwrap_or(0);
    let mut seen = 0;
    for (le, count) in buckets {
        seen += count;
        if seen >= rank {
            return Some(le.unwrap_or(largest * 2));
        }
    }
    Some(largest * 2)
}

/// The live statistics, else those a running application exported beside the file.
fn statements(db: &Database) -> (&'static str, Vec<StatementStats>, Option<WorkStats>) {
    let (from, report) = match db.query_stats() {
        Some(stats) => ("live", Some(stats.report())),
        None => match StatsReport::read(&ops::stats::export_path(db.pool().path())) {
            Ok(Some(report)) => ("exported", Some(report)),
            _ => ("none", None),
        },
    };
    let (mut statements, work) = report.map(|r| (r.statements, r.work)).unwrap_or_default();
    statements.sort_by(|a, b| b.p95_ms.total_cmp(&a.p95_ms));
    statements.truncate(TOP_STATEMENTS);
    let commits = work.into_iter().find(|w| w.work == "commit" && w.count > 0);
    (from, statements, commits)
}

/// Pending tasks ready to claim now: the submission time of the oldest.
const OLDEST_READY: &str = "SELECT min(submitted_at) FROM tasks WHERE status = 'pending' AND run_after <= ?1";

/// Task counts per queue and the age of the oldest ready task; nothing when the file
/// has no task queue.
async fn queues(db: &Database) -> (Vec<QueueStats>, Option<u64>) {
    if !has_table(db, "tasks").await {
        return (Vec::new(), None);
    }
    let stats = match Queue::new(db.pool().clone(), QueueConfig::default()) {
        Ok(queue) => queue.stats().await.unwrap_or_default(),
        Err(_) => Vec::new(),
    };
    let now = now_ms() as i64;
    let oldest: Option<i64> = db
        .pool()
        .read(move |conn| Ok(conn.query_row(OLDEST_READY, [now], |r| r.get::<_, Option<i64>>(0))?))
        .await
        .ok()
        .flatten();
    (stats, oldest.map(|at| (now.saturating_sub(at).max(0) / 1000) as u64))
}

/// Whether the database has a table `name`.
const HAS_TABLE: &str = "SELECT count(*) FROM sqlite_schema WHERE type = 'table' AND name = ?1";

async fn has_table(db: &Database, name: &'static str) -> bool {
    db.pool()
        .read(move |conn| Ok(conn.query_row(HAS_TABLE, [name], |r| r.get::<_, i64>(0))?))
        .await
        .is_ok_and(|n| n > 0)
}

/// The newest backups in the configured backup directory.
async fn backups(db: &Database) -> Vec<BackupRow> {
    let dir = ops::backup::default_dir(db.pool());
    let mut entries = ops::backup::list(&dir).await.unwrap_or_default();
    entries.sort_by(|a, b| b.created_at.cmp(&a.created_at));
    entries.truncate(RECENT_BACKUPS);
    entries
        .into_iter()
        .map(|e| BackupRow {
            file: e.path.file_name().map(|f| f.to_string_lossy().into_owned()).unwrap_or_default(),
            state: e.state,
            size_bytes: e.size_bytes,
            age_secs: e.manifest.as_ref().and_then(|m| age_secs(&m.created_at)),
            verified: e.manifest.as_ref().map(|m| m.verification.ok),
            created_at: e.created_at,
        })
        .collect()
}

/// Seconds since an RFC 3339 time.
fn age_secs(rfc3339: &str) -> Option<u64> {
    let then = time::OffsetDateTime::parse(rfc3339, &time::format_description::well_known::Rfc3339).ok()?;
    let then_ms = u64::try_from(then.unix_timestamp_nanos() / 1_000_000).ok()?;
    Some(now_ms().saturating_sub(then_ms) / 1000)
}

fn wal_bytes(db: &Path) -> u64 {
    let mut wal = db.as_os_str().to_owned();
    wal.push("-wal");
    std::fs::metadata(wal).map(|m| m.len()).unwrap_or(0)
}

fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentile_is_the_bound_of_the_bucket_that_holds_it() {
        let buckets = [(Some(10), 50), (Some(100), 45), (Some(1000), 4), (None, 1)];
        assert_eq!(percentile(&buckets, 0.50), Some(10));
        assert_eq!(percentile(&buckets, 0.95), Some(100));
        assert_eq!(percentile(&buckets, 0.99), Some(1000));
        assert_eq!(percentile(&buckets, 1.0), Some(2000));
        assert_eq!(percentile(&[(Some(10), 0)], 0.5), None);
    }

    /// A sample's rates are the pool's counters over the interval: three one-row
    /// writes in one second, each its own commit, read 3 writes/s and 3 commits/s.
    #[tokio::test]
    async fn a_sample_counts_writes_and_commits_per_second_over_its_interval() {
        let dir = tempfile::tempdir().unwrap();
        let pool = strata::Pool::open(&strata::Config::for_path(dir.path().join("a.db"))).await.unwrap();
        pool.write(|c| Ok(c.execute_batch("CREATE TABLE t(x)")?)).await.unwrap();
        let before = pool.metrics();
        for x in 0..3 {
            pool.write(move |c| Ok(c.execute("INSERT INTO t VALUES (?1)", [x])?)).await.unwrap();
        }
        let after = pool.metrics();
        let point = sample(&after, Some(&(before, 1_000)), 2_000, 0, &[]);
        assert_eq!((point.writes_per_sec, point.commits_per_sec), (3.0, 3.0));
        assert_eq!(sample(&after, None, 2_000, 0, &[]).writes_per_sec, 0.0, "no interval, no rate");
        pool.close().await.unwrap();
    }
}
