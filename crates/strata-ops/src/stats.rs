//! Query statistics: every statement the pool times, grouped by normalised SQL, with
//! count, total, p50/p95/p99 and max time and the counters SQLite keeps per statement
//! (full-scan steps, sorts, automatic-index rows, VM steps) and the result rows; and
//! the pool's read closures, write closures and commits, timed in microseconds. Memory is bounded: at
//! most `capacity` distinct statements (later ones are counted as dropped), and a
//! fixed histogram per statement. Fed by `Pool::set_statement_hook` and
//! `Pool::set_work_hook`.

use std::cell::Cell;
use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use strata_core::{Error, Result};
use strata_pool::{Pool, PoolWork, StatementTiming, WorkTiming, operation_sync};

use strata_schema::sql::{Token, TokenKind, tokenize};

use crate::{clock, files};

mod normalize;
pub use normalize::normalize_sql;

/// Histogram buckets: bucket `i` holds durations below `2^(i/4)` microseconds, so
/// each bucket is about 19% wide; 112 buckets reach past 4 hours.
const BUCKETS: usize = 112;
/// Raw SQL texts remembered for their normalised form (a cache, cleared when full).
const RAW_CACHE: usize = 4_096;

/// Per-statement statistics collected from a pool. Cheap to clone (shared).
#[derive(Clone)]
pub struct QueryStats {
    inner: Arc<Mutex<Inner>>,
}

impl std::fmt::Debug for QueryStats {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("QueryStats").finish_non_exhaustive()
    }
}

struct Inner {
    capacity: usize,
    since: String,
    raw: HashMap<String, usize>,
    by_sql: HashMap<String, usize>,
    /// Normalised statements registered as strata's own ([`QueryStats::mark_own`]);
    /// kept across resets.
    own: HashSet<String>,
    entries: Vec<Entry>,
    dropped: u64,
    /// Read closures, write closures and commits, in [`PoolWork::ALL`] order.
    work: [Times; 3],
}

/// Count, total, maximum and a histogram of durations.
#[derive(Clone)]
struct Times {
    count: u64,
    total: Duration,
    max: Duration,
    histogram: [u32; BUCKETS],
}

struct Entry {
    sql: String,
    times: Times,
    full_scan_steps: u64,
    sorts: u64,
    autoindex_rows: u64,
    vm_steps: u64,
    rows: u64,
}

/// One statement's statistics, times in milliseconds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StatementStats {
    /// The normalised SQL (literals and parameters as `?`).
    pub sql: String,
    /// How many times it ran.
    pub count: u64,
    /// Total time.
    pub total_ms: f64,
    /// Mean time.
    pub mean_ms: f64,
    /// Median (histogram upper bound, ~19% resolution).
    pub p50_ms: f64,
    /// 95th percentile.
    pub p95_ms: f64,
    /// 99th percentile.
    pub p99_ms: f64,
    /// Slowest run.
    pub max_ms: f64,
    /// Rows stepped through in full-table scans, summed.
    pub full_scan_steps: u64,
    /// Sort operations, summed.
    pub sorts: u64,
    /// Rows inserted into automatic indexes, summed.
    pub autoindex_rows: u64,
    /// Virtual machine steps, summed (a measure of work done).
    pub vm_steps: u64,
    /// Result rows produced, summed over the runs (0 in files exported before it
    /// was counted).
    #[serde(default)]
    pub rows: u64,
    /// Who runs it: strata itself (its migration history, introspection, PRAGMAs,
    /// transaction control, the repositories' and the queue's statements) or the
    /// application (`application` in files exported before it was recorded).
    #[serde(default)]
    pub origin: Origin,
}

/// Who runs a statement, so that an application can look at its own statements only.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Origin {
    /// SQL the application wrote.
    #[default]
    Application,
    /// SQL strata runs for itself or for its repositories: see [`is_strata_sql`] and
    /// [`QueryStats::mark_own`].
    Strata,
}

/// The resolution of statement times, in milliseconds: SQLite's profile clock (the
/// VFS's `xCurrentTimeInt64`) counts whole milliseconds on Unix, so a statement
/// faster than that reads 0 (or, across a tick, 1) ms.
pub const STATEMENT_CLOCK_RESOLUTION_MS: f64 = 1.0;

/// The statistics at one moment, slowest in total first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StatsReport {
    /// Since when (creation or the last reset), RFC 3339.
    pub since: String,
    /// When this report was taken, RFC 3339.
    pub taken_at: String,
    /// The resolution of the statements' times ([`STATEMENT_CLOCK_RESOLUTION_MS`]):
    /// a time below it means "faster than the clock can tell", shown as `<1 ms`
    /// ([`display_ms`]), not as zero.
    #[serde(default = "statement_clock_resolution_ms")]
    pub clock_resolution_ms: f64,
    /// Distinct statements kept at most.
    pub capacity: usize,
    /// Statement runs not recorded because the table was full.
    pub dropped: u64,
    /// The statements, by total time, slowest first.
    pub statements: Vec<StatementStats>,
    /// The pool's read closures, write closures and commits, timed with the monotonic
    /// clock (microseconds); empty in files exported before they were timed.
    #[serde(default)]
    pub work: Vec<WorkStats>,
}

/// One kind of pool work's statistics, times in microseconds (monotonic clock).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WorkStats {
    /// `read` (a read closure), `write` (a write closure) or `commit` (a batch's COMMIT).
    pub work: String,
    /// How many were timed.
    pub count: u64,
    /// Total time.
    pub total_us: f64,
    /// Mean time.
    pub mean_us: f64,
    /// Median (histogram upper bound, ~19% resolution).
    pub p50_us: f64,
    /// 95th percentile.
    pub p95_us: f64,
    /// 99th percentile.
    pub p99_us: f64,
    /// Slowest.
    pub max_us: f64,
}

impl QueryStats {
    /// An empty collector for at most `capacity` distinct statements.
    pub fn new(capacity: usize) -> Self {
        QueryStats {
            inner: Arc::new(Mutex::new(Inner {
                capacity: capacity.max(1),
                since: clock::rfc3339(clock::now()),
                raw: HashMap::new(),
                by_sql: HashMap::new(),
                own: HashSet::new(),
                entries: Vec::new(),
                dropped: 0,
                work: std::array::from_fn(|_| Times::new()),
            })),
        }
    }

    /// A collector installed as `pool`'s statement hook and work hook (one of each per
    /// pool: E6001 if one is set already).
    pub fn install(pool: &Pool, capacity: usize) -> Result<Self> {
        let stats = QueryStats::new(capacity);
        let hook = stats.clone();
        pool.set_statement_hook(Arc::new(move |t: &StatementTiming<'_>| hook.record(t)))?;
        let hook = stats.clone();
        pool.set_work_hook(Arc::new(move |t: &WorkTiming| hook.record_work(t)))?;
        Ok(stats)
    }

    /// Registers statements as strata's own (their origin reads
    /// [`Origin::Strata`]), such as the repositories' catalogue
    /// (`strata_repo::statements()`), which the facade registers. The SQL is normalised
    /// here, so literals and layout need not match the statements as run.
    pub fn mark_own<'a>(&self, sqls: impl IntoIterator<Item = &'a str>) {
        let mut inner = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        inner.own.extend(sqls.into_iter().map(normalize_sql));
    }

    /// Records one timed piece of pool work (a read or write closure, a commit).
    pub fn record_work(&self, t: &WorkTiming) {
        let mut inner = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        let slot = PoolWork::ALL.iter().position(|&w| w == t.work).unwrap_or(0);
        inner.work[slot].add(t.duration);
    }

    /// Records one finished statement.
    pub fn record(&self, t: &StatementTiming<'_>) {
        let mut inner = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        let own = STRATA_WORK.with(Cell::get);
        let index = match inner.raw.get(t.sql) {
            Some(&index) => Some(index),
            None => {
                let sql = normalize_sql(t.sql);
                let index = match inner.by_sql.get(&sql) {
                    Some(&index) => Some(index),
                    None if inner.entries.len() < inner.capacity => {
                        let index = inner.entries.len();
                        inner.entries.push(Entry::new(sql.clone()));
                        inner.by_sql.insert(sql, index);
                        Some(index)
                    }
                    None => None,
                };
                if let Some(index) = index {
                    if inner.raw.len() >= RAW_CACHE {
                        inner.raw.clear();
                    }
                    inner.raw.insert(t.sql.to_string(), index);
                }
                index
            }
        };
        match index {
            Some(index) => {
                inner.entries[index].add(t);
                if own && !inner.own.contains(&inner.entries[index].sql) {
                    let sql = inner.entries[index].sql.clone();
                    inner.own.insert(sql);
                }
            }
            None => inner.dropped += 1,
        }
    }

    /// The statistics now, slowest in total first.
    pub fn report(&self) -> StatsReport {
        let inner = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        let mut statements: Vec<StatementStats> = inner
            .entries
            .iter()
            .map(|entry| {
                let mut stats = entry.stats();
                if inner.own.contains(&stats.sql) || is_strata_sql(&stats.sql) {
                    stats.origin = Origin::Strata;
                }
                stats
            })
            .collect();
        statements.sort_by(|a, b| b.total_ms.total_cmp(&a.total_ms).then_with(|| a.sql.cmp(&b.sql)));
        StatsReport {
            since: inner.since.clone(),
            taken_at: clock::rfc3339(clock::now()),
            clock_resolution_ms: STATEMENT_CLOCK_RESOLUTION_MS,
            capacity: inner.capacity,
            dropped: inner.dropped,
            statements,
            work: PoolWork::ALL
                .iter()
                .zip(&inner.work)
                .filter(|(_, times)| times.count > 0)
                .map(|(work, times)| times.work_stats(work.name()))
                .collect(),
        }
    }

    /// Forgets everything recorded so far.
    pub fn reset(&self) {
        let mut inner = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        inner.raw.clear();
        inner.by_sql.clear();
        inner.entries.clear();
        inner.dropped = 0;
        inner.work = std::array::from_fn(|_| Times::new());
        inner.since = clock::rfc3339(clock::now());
    }

    /// Writes the report as JSON to `path` (through a temp file and a rename), where
    /// `strata stats` and `strata advise` of another process can read it.
    pub fn export(&self, path: &Path) -> Result<()> {
        operation_sync("stats.export", "", || self.export_unlogged(path))
    }

    /// [`QueryStats::export`] outside its operation span.
    fn export_unlogged(&self, path: &Path) -> Result<()> {
        let report = self.report();
        let text = serde_json::to_string_pretty(&report)
            .map_err(|e| Error::invalid("query statistics", e.to_string()))?;
        let temp = files::sidecar(path, ".partial");
        let _ = files::remove_if_exists(&temp);
        let mut file = files::create_new(&temp)?;
        std::io::Write::write_all(&mut file, text.as_bytes())
            .map_err(|e| Error::file_io("write", &temp, &e))?;
        drop(file);
        files::rename(&temp, path)
    }
}

impl StatsReport {
    /// The report with only the statements of `origin` (the pool's work is kept: it
    /// is not split by origin).
    pub fn only(mut self, origin: Origin) -> StatsReport {
        self.statements.retain(|s| s.origin == origin);
        self
    }

    /// Reads a report written by [`QueryStats::export`]; `Ok(None)` when there is none.
    /// A file exported before statements had an `origin` reads them as the
    /// application's, except those strata's by shape ([`is_strata_sql`]).
    pub fn read(path: &Path) -> Result<Option<StatsReport>> {
        match std::fs::read_to_string(path) {
            Ok(text) => {
                let mut report: StatsReport = serde_json::from_str(&text).map_err(|e| {
                    Error::invalid("query statistics file", format!("{}: {e}", path.display()))
                })?;
                for statement in &mut report.statements {
                    if is_strata_sql(&statement.sql) {
                        statement.origin = Origin::Strata;
                    }
                }
                Ok(Some(report))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(Error::file_io("read", path, &e)),
        }
    }
}

/// A time for people: `<R ms` when `ms` is below the clock's resolution `R` (the
/// clock could not tell it from zero), else `ms` with as many decimals as the
/// resolution has (`12 ms` for a millisecond clock, `0.042 ms` for a microsecond one).
pub fn display_ms(ms: f64, resolution_ms: f64) -> String {
    let decimals = if resolution_ms > 0.0 { (-resolution_ms.log10().floor()).max(0.0) as usize } else { 3 };
    if ms < resolution_ms { format!("<{resolution_ms:.decimals$} ms") } else { format!("{ms:.decimals$} ms") }
}

thread_local! {
    /// Set while strata-ops runs its own work on a pool's thread ([`as_strata`]).
    static STRATA_WORK: Cell<bool> = const { Cell::new(false) };
}

/// Runs `f` with every statement it runs on this thread counted as strata's own. The
/// statement hook runs on the thread of the statement, inside the pool closure, so
/// strata-ops wraps the bodies of the closures it hands a pool (health check, backup,
/// advisor) in it.
pub(crate) fn as_strata<R>(f: impl FnOnce() -> R) -> R {
    struct Restore(bool);
    impl Drop for Restore {
        fn drop(&mut self) {
            STRATA_WORK.with(|flag| flag.set(self.0));
        }
    }
    let _restore = Restore(STRATA_WORK.with(|flag| flag.replace(true)));
    f()
}

/// Tables strata keeps for itself; a statement that names one is strata's.
const STRATA_TABLES: &[&str] = &[strata_schema::HISTORY_TABLE, strata_schema::CHECKSUM_TABLE];

/// The pool's transaction control around write closures (strata-pool's writer).
const POOL_CONTROL: &[&str] = &[
    "BEGIN IMMEDIATE",
    "COMMIT",
    "ROLLBACK",
    "SAVEPOINT strata_write",
    "RELEASE strata_write",
    "ROLLBACK TO strata_write",
];

/// Whether a normalised statement is strata's by its shape alone: PRAGMAs (connection
/// set-up, health checks, introspection), reads of the schema catalogue
/// (`sqlite_schema`, `sqlite_master`, `pragma_*` table functions), the migration
/// history and checksum tables, and the pool's transaction control. The repositories'
/// statements are registered with [`QueryStats::mark_own`] instead.
pub fn is_strata_sql(normalised: &str) -> bool {
    if POOL_CONTROL.iter().any(|c| normalised.eq_ignore_ascii_case(c)) {
        return true;
    }
    let tokens = tokenize(normalised);
    tokens.iter().enumerate().any(|(i, token)| {
        (i == 0 && token.is("PRAGMA"))
            || token.is("sqlite_schema")
            || token.is("sqlite_master")
            || is_pragma_function(&tokens, i)
            || STRATA_TABLES.iter().any(|table| token.ident().eq_ignore_ascii_case(table))
    })
}

/// Whether token `i` calls a PRAGMA table function: `FROM pragma_table_info(?)`,
/// `JOIN pragma_index_list(...)`, `, pragma_foreign_key_list(...)` (a table of the
/// application that happens to be named `pragma_...` is not called).
fn is_pragma_function(tokens: &[Token<'_>], i: usize) -> bool {
    let token = &tokens[i];
    let named = token.kind == TokenKind::Word && token.text.to_ascii_lowercase().starts_with("pragma_");
    let called = tokens.get(i + 1).is_some_and(|next| next.is_punct('('));
    let in_from = i
        .checked_sub(1)
        .is_some_and(|p| tokens[p].is("FROM") || tokens[p].is("JOIN") || tokens[p].is_punct(','));
    named && called && in_from
}

/// The resolution a report read from a file had when it did not say: the statement clock's.
fn statement_clock_resolution_ms() -> f64 {
    STATEMENT_CLOCK_RESOLUTION_MS
}

/// Where the monitor exports a database's query statistics: `<db>.query-stats.json`.
pub fn export_path(db: &Path) -> std::path::PathBuf {
    files::sidecar(db, ".query-stats.json")
}

impl Entry {
    fn new(sql: String) -> Self {
        Entry {
            sql,
            times: Times::new(),
            full_scan_steps: 0,
            sorts: 0,
            autoindex_rows: 0,
            vm_steps: 0,
            rows: 0,
        }
    }

    fn add(&mut self, t: &StatementTiming<'_>) {
        self.times.add(t.duration);
        self.full_scan_steps += t.full_scan_steps.max(0) as u64;
        self.sorts += t.sorts.max(0) as u64;
        self.autoindex_rows += t.autoindex_rows.max(0) as u64;
        self.vm_steps += t.vm_steps.max(0) as u64;
        self.rows += t.rows;
    }

    fn stats(&self) -> StatementStats {
        let t = &self.times;
        let ms = |us: f64| us / 1e3;
        StatementStats {
            sql: self.sql.clone(),
            count: t.count,
            total_ms: ms(t.total_us()),
            mean_ms: ms(t.mean_us()),
            p50_ms: ms(t.percentile_us(0.50)),
            p95_ms: ms(t.percentile_us(0.95)),
            p99_ms: ms(t.percentile_us(0.99)),
            max_ms: ms(t.max_us()),
            full_scan_steps: self.full_scan_steps,
            sorts: self.sorts,
            autoindex_rows: self.autoindex_rows,
            vm_steps: self.vm_steps,
            rows: self.rows,
            origin: Origin::Application,
        }
    }
}

impl Times {
    fn new() -> Self {
        Times { count: 0, total: Duration::ZERO, max: Duration::ZERO, histogram: [0; BUCKETS] }
    }

    fn add(&mut self, d: Duration) {
        self.count += 1;
        self.total += d;
        self.max = self.max.max(d);
        let bucket = bucket(d);
        self.histogram[bucket] = self.histogram[bucket].saturating_add(1);
    }

    fn total_us(&self) -> f64 {
        self.total.as_secs_f64() * 1e6
    }

    fn max_us(&self) -> f64 {
        self.max.as_secs_f64() * 1e6
    }

    fn mean_us(&self) -> f64 {
        if self.count == 0 { 0.0 } else { self.total_us() / self.count as f64 }
    }

    /// The upper bound of the bucket holding the `p` quantile, at most the maximum.
    fn percentile_us(&self, p: f64) -> f64 {
        let max_us = self.max_us();
        let wanted = ((self.count as f64) * p).ceil().max(1.0) as u64;
        let mut seen = 0u64;
        for (i, &n) in self.histogram.iter().enumerate() {
            seen += u64::from(n);
            if seen >= wanted {
                return upper_bound_us(i).min(max_us);
            }
        }
        max_us
    }

    fn work_stats(&self, work: &str) -> WorkStats {
        WorkStats {
            work: work.to_string(),
            count: self.count,
            total_us: self.total_us(),
            mean_us: self.mean_us(),
            p50_us: self.percentile_us(0.50),
            p95_us: self.percentile_us(0.95),
            p99_us: self.percentile_us(0.99),
            max_us: self.max_us(),
        }
    }
}

/// The bucket of a duration: the smallest `i` with `d < 2^(i/4)` µs.
fn bucket(d: Duration) -> usize {
    let us = d.as_secs_f64() * 1e6;
    if us < 1.0 {
        return 0;
    }
    ((us.log2() * 4.0).floor() as usize + 1).min(BUCKETS - 1)
}

/// The upper bound of bucket `i`, microseconds.
fn upper_bound_us(i: usize) -> f64 {
    2f64.powf(i as f64 / 4.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn timing(sql: &str, ms: u64) -> StatementTiming<'_> {
        StatementTiming {
            sql,
            duration: Duration::from_millis(ms),
            full_scan_steps: 10,
            sorts: 1,
            autoindex_rows: 0,
            vm_steps: 100,
            rows: 3,
        }
    }

    #[test]
    fn statements_group_by_normalised_sql_with_percentiles() {
        let stats = QueryStats::new(10);
        for i in 1..=100u64 {
            let sql = format!("SELECT * FROM t WHERE id = {i}");
            stats.record(&timing(&sql, i));
        }
        let report = stats.report();
        assert_eq!(report.statements.len(), 1);
        let s = &report.statements[0];
        assert_eq!(s.sql, "SELECT * FROM t WHERE id = ?");
        assert_eq!(s.count, 100);
        assert_eq!(s.full_scan_steps, 1_000);
        assert!((s.total_ms - 5_050.0).abs() < 1e-6);
        // Each percentile is within one bucket (~19%) above the true value.
        for (got, want) in [(s.p50_ms, 50.0), (s.p95_ms, 95.0), (s.p99_ms, 99.0)] {
            assert!(got >= want && got <= want * 1.2, "{got} vs {want}");
        }
        assert_eq!(s.max_ms, 100.0);
    }

    #[test]
    fn times_below_the_clock_resolution_read_as_below_it_never_zero() {
        assert_eq!(display_ms(0.0, 1.0), "<1 ms");
        assert_eq!(display_ms(0.999, 1.0), "<1 ms");
        assert_eq!(display_ms(1.0, 1.0), "1 ms");
        assert_eq!(display_ms(53.8, 1.0), "54 ms");
        assert_eq!(display_ms(0.0004, 0.001), "<0.001 ms");
        assert_eq!(display_ms(0.0421, 0.001), "0.042 ms");
        let stats = QueryStats::new(10);
        for _ in 0..10 {
            stats.record(&timing("SELECT 1", 0));
        }
        let report = stats.report();
        let s = &report.statements[0];
        for ms in [s.total_ms, s.p50_ms, s.p95_ms, s.p99_ms, s.max_ms] {
            assert_eq!(display_ms(ms, report.clock_resolution_ms), "<1 ms");
        }
    }

    #[test]
    fn strata_statements_are_told_from_the_applications() {
        for own in [
            "PRAGMA page_size",
            "SELECT name FROM sqlite_schema WHERE type = ?",
            "SELECT * FROM pragma_table_info(?)",
            "SELECT version FROM refinery_schema_history ORDER BY version",
            "SELECT checksum FROM \"strata_schema_checksums\"",
            "BEGIN IMMEDIATE",
            "RELEASE strata_write",
        ] {
            assert!(is_strata_sql(&normalize_sql(own)), "{own}");
        }
        for app in [
            "SELECT * FROM orders WHERE id = ?",
            "INSERT INTO pragma_notes(v) VALUES(?)",
            "SELECT * FROM pragma_notes",
        ] {
            assert!(!is_strata_sql(&normalize_sql(app)), "{app}");
        }
        let stats = QueryStats::new(10);
        stats.mark_own(["SELECT id FROM tasks WHERE queue = ?1 LIMIT +?2"]);
        stats.record(&timing("SELECT id FROM tasks WHERE queue = 'q' LIMIT 5", 0));
        stats.record(&timing("PRAGMA page_count", 0));
        stats.record(&timing("SELECT * FROM orders WHERE id = 7", 0));
        let report = stats.report();
        let origin = |sql: &str| report.statements.iter().find(|s| s.sql.starts_with(sql)).unwrap().origin;
        assert_eq!(origin("SELECT id FROM tasks"), Origin::Strata);
        assert_eq!(origin("PRAGMA"), Origin::Strata);
        assert_eq!(origin("SELECT * FROM orders"), Origin::Application);
        let app = report.only(Origin::Application);
        assert_eq!(app.statements.len(), 1);
        assert_eq!(app.statements[0].sql, "SELECT * FROM orders WHERE id = ?");
    }

    #[test]
    fn a_file_from_before_origins_reads_strata_statements_by_shape() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("old.query-stats.json");
        let statement = |sql: &str| {
            serde_json::json!({"sql": sql, "count": 1, "total_ms": 0.0, "mean_ms": 0.0, "p50_ms": 0.0,
                "p95_ms": 0.0, "p99_ms": 0.0, "max_ms": 0.0, "full_scan_steps": 0, "sorts": 0,
                "autoindex_rows": 0, "vm_steps": 0})
        };
        let old = serde_json::json!({"since": "2026-01-01T00:00:00Z", "taken_at": "2026-01-01T00:00:00Z",
            "capacity": 10, "dropped": 0,
            "statements": [statement("PRAGMA page_size"), statement("SELECT * FROM orders WHERE id = ?")]});
        std::fs::write(&path, old.to_string()).unwrap();
        let report = StatsReport::read(&path).unwrap().unwrap();
        assert_eq!(report.clock_resolution_ms, 1.0);
        assert!(report.work.is_empty());
        assert_eq!(report.statements[0].origin, Origin::Strata);
        assert_eq!(report.statements[1].origin, Origin::Application);
    }

    #[test]
    fn memory_is_bounded_and_reset_forgets() {
        let stats = QueryStats::new(2);
        for table in ["a", "b", "c", "d"] {
            stats.record(&timing(&format!("SELECT 1 FROM {table}"), 1));
        }
        let report = stats.report();
        assert_eq!(report.statements.len(), 2);
        assert_eq!(report.dropped, 2);
        stats.reset();
        let report = stats.report();
        assert!(report.statements.is_empty());
        assert_eq!(report.dropped, 0);
    }
}
