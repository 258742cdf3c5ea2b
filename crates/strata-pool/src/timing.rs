//! Statement timing: SQLite's profile trace on every pooled connection, the
//! slow-query report through `tracing`, and the hook a higher layer collects with.
//! The pool hands the raw SQL on; grouping statements by a normalised text is the
//! query statistics' concern (`strata_ops::stats::normalize_sql`).
//!
//! SQLite calls the trace function on the thread that ran the statement, so the pool
//! puts the pool's [`Timing`] in a thread-local for the length of each closure; a
//! statement run outside a pool closure is not attributed to any pool.

use std::cell::RefCell;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use rusqlite::trace::{TraceEvent, TraceEventCodes};
use rusqlite::{Connection, StatementStatus};
use strata_core::{Error, Result};

/// What the pool knows about one finished statement.
#[derive(Debug, Clone, Copy)]
pub struct StatementTiming<'a> {
    /// The statement's SQL as prepared (parameters as placeholders).
    pub sql: &'a str,
    /// Wall time from first step to reset, as SQLite measured it. SQLite's profile
    /// clock counts whole milliseconds (the VFS's `xCurrentTimeInt64`), so a statement
    /// faster than that reports 0 or 1 ms: right for the slow-query threshold, coarse
    /// for percentiles of fast statements.
    pub duration: Duration,
    /// Rows stepped through in full-table scans (`SQLITE_STMTSTATUS_FULLSCAN_STEP`).
    pub full_scan_steps: i32,
    /// Sort operations (`SQLITE_STMTSTATUS_SORT`).
    pub sorts: i32,
    /// Rows inserted into automatic indexes (`SQLITE_STMTSTATUS_AUTOINDEX`).
    pub autoindex_rows: i32,
    /// Virtual machine steps (`SQLITE_STMTSTATUS_VM_STEP`).
    pub vm_steps: i32,
    /// Result rows the statement produced, approximately: counted from SQLite's row
    /// trace while a hook is set (0 without one), per thread between two finished
    /// statements, so a statement stepped while another one on the same thread is
    /// still open shares its count with it, and a connection's first statement may
    /// carry a row of its set-up.
    pub rows: u64,
}

/// A function that receives every timed statement; set once per pool with
/// [`crate::Pool::set_statement_hook`]. It runs on the thread of the statement: keep
/// it short and non-blocking.
pub type StatementHook = Arc<dyn Fn(&StatementTiming<'_>) + Send + Sync>;

/// A piece of pool work the pool times itself, with the monotonic clock.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PoolWork {
    /// A read closure ([`crate::Pool::read`], [`crate::Pool::read_inline`]), from its
    /// first to its last instruction on the reader connection.
    Read,
    /// A write closure ([`crate::Pool::write`]) inside its batch transaction (each run,
    /// when a batch runs again after Busy).
    Write,
    /// The COMMIT of a group-commit batch.
    Commit,
}

impl PoolWork {
    /// Every kind, in a fixed order.
    pub const ALL: [PoolWork; 3] = [PoolWork::Read, PoolWork::Write, PoolWork::Commit];

    /// Its name in reports: `read`, `write`, `commit`.
    pub fn name(self) -> &'static str {
        match self {
            PoolWork::Read => "read",
            PoolWork::Write => "write",
            PoolWork::Commit => "commit",
        }
    }
}

/// What the pool measured of one piece of work: unlike a statement's time (SQLite's
/// millisecond clock), this comes from [`std::time::Instant`] and resolves microseconds.
#[derive(Debug, Clone, Copy)]
pub struct WorkTiming {
    /// What was timed.
    pub work: PoolWork,
    /// How long it took.
    pub duration: Duration,
}

/// A function that receives every timed piece of pool work; set once per pool with
/// [`crate::Pool::set_work_hook`]. It runs on the pool's threads (a reader's, the
/// writer's): keep it short and non-blocking. Without one the pool reads no clock
/// for it.
pub type WorkHook = Arc<dyn Fn(&WorkTiming) + Send + Sync>;

/// The per-pool timing state the trace callback reports into.
pub(crate) struct Timing {
    /// The slow-query threshold in nanoseconds; [`Timing::set_slow`] changes it.
    slow_ns: AtomicU64,
    hook: OnceLock<StatementHook>,
    work_hook: OnceLock<WorkHook>,
    slow_statements: AtomicU64,
}

thread_local! {
    static CURRENT: RefCell<Option<Arc<Timing>>> = const { RefCell::new(None) };
    /// Result rows produced on this thread since the last statement finished.
    static ROWS: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
}

/// The lowest slow-query threshold of any pool in the process, in nanoseconds, and
/// whether any pool has a hook: a statement below the one with no hook anywhere is
/// dismissed before the thread-local lookup, which keeps the profile callback cheap.
static LOWEST_THRESHOLD_NS: AtomicU64 = AtomicU64::new(u64::MAX);
static ANY_HOOK: AtomicBool = AtomicBool::new(false);

impl Timing {
    pub(crate) fn new(slow: Duration) -> Arc<Self> {
        let slow_ns = u64::try_from(slow.as_nanos()).unwrap_or(u64::MAX);
        LOWEST_THRESHOLD_NS.fetch_min(slow_ns, Ordering::Relaxed);
        Arc::new(Timing {
            slow_ns: AtomicU64::new(slow_ns),
            hook: OnceLock::new(),
            work_hook: OnceLock::new(),
            slow_statements: AtomicU64::new(0),
        })
    }

    /// Changes the slow-query threshold (a reloaded config): statements finishing
    /// from now on are judged by it. The process-wide lowest threshold only goes down
    /// (a raised threshold costs at most a thread-local lookup per statement).
    pub(crate) fn set_slow(&self, slow: Duration) {
        let slow_ns = u64::try_from(slow.as_nanos()).unwrap_or(u64::MAX);
        LOWEST_THRESHOLD_NS.fetch_min(slow_ns, Ordering::Relaxed);
        self.slow_ns.store(slow_ns, Ordering::Relaxed);
    }

    /// The slow-query threshold now.
    pub(crate) fn slow(&self) -> Duration {
        Duration::from_nanos(self.slow_ns.load(Ordering::Relaxed))
    }

    pub(crate) fn set_work_hook(&self, hook: WorkHook) -> Result<()> {
        self.work_hook
            .set(hook)
            .map_err(|_| Error::invalid("work hook", "a work hook is already set on this pool"))
    }

    /// Runs `f`, timing it for the work hook when there is one (else no clock is read).
    pub(crate) fn time<R>(&self, work: PoolWork, f: impl FnOnce() -> R) -> R {
        let Some(hook) = self.work_hook.get() else {
            return f();
        };
        let started = Instant::now();
        let result = f();
        hook(&WorkTiming { work, duration: started.elapsed() });
        result
    }

    /// Reports work timed elsewhere (the writer times every COMMIT for itself).
    pub(crate) fn report(&self, work: PoolWork, duration: Duration) {
        if let Some(hook) = self.work_hook.get() {
            hook(&WorkTiming { work, duration });
        }
    }

    pub(crate) fn set_hook(&self, hook: StatementHook) -> Result<()> {
        ANY_HOOK.store(true, Ordering::Relaxed);
        self.hook
            .set(hook)
            .map_err(|_| Error::invalid("statement hook", "a statement hook is already set on this pool"))
    }

    /// Statements at or above the slow-query threshold so far. (Every statement is
    /// timed, but only slow ones are counted here: a shared counter bumped by every
    /// statement of every thread would cost more than the timing itself.)
    pub(crate) fn slow_count(&self) -> u64 {
        self.slow_statements.load(Ordering::Relaxed)
    }

    fn record(&self, stmt: &rusqlite::trace::StmtRef<'_>, duration: Duration, rows: u64) {
        let threshold = self.slow();
        let slow = duration >= threshold;
        let hook = self.hook.get();
        if !slow && hook.is_none() {
            return;
        }
        let sql = stmt.sql();
        if slow {
            self.slow_statements.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(
                target: "strata::slow_query",
                sql = %sql,
                duration_ms = duration.as_secs_f64() * 1e3,
                threshold_ms = threshold.as_millis() as u64,
                "slow query"
            );
        }
        if let Some(hook) = hook {
            hook(&StatementTiming {
                sql: &sql,
                duration,
                full_scan_steps: stmt.get_status(StatementStatus::FullscanStep),
                sorts: stmt.get_status(StatementStatus::Sort),
                autoindex_rows: stmt.get_status(StatementStatus::AutoIndex),
                vm_steps: stmt.get_status(StatementStatus::VmStep),
                rows,
            });
        }
    }
}

/// Registers the profile callback on a connection the pool owns.
pub(crate) fn install(conn: &Connection) {
    conn.trace_v2(TraceEventCodes::SQLITE_TRACE_PROFILE | TraceEventCodes::SQLITE_TRACE_ROW, Some(on_trace));
}

fn on_trace(event: TraceEvent<'_>) {
    if let TraceEvent::Row(_) = event {
        // Rows are only worth counting for a hook; the check keeps the row trace cheap.
        if ANY_HOOK.load(Ordering::Relaxed) {
            ROWS.with(|rows| rows.set(rows.get() + 1));
        }
        return;
    }
    if let TraceEvent::Profile(stmt, duration) = event {
        let rows = ROWS.with(|rows| rows.replace(0));
        let nanos = u64::try_from(duration.as_nanos()).unwrap_or(u64::MAX);
        if nanos < LOWEST_THRESHOLD_NS.load(Ordering::Relaxed) && !ANY_HOOK.load(Ordering::Relaxed) {
            return;
        }
        CURRENT.with(|current| {
            if let Some(timing) = current.borrow().as_ref() {
                timing.record(&stmt, duration, rows);
            }
        });
    }
}

/// Runs `f` with `timing` as the current thread's pool; restores the previous one
/// afterwards, also when `f` panics.
pub(crate) fn scoped<R>(timing: &Arc<Timing>, f: impl FnOnce() -> R) -> R {
    struct Restore(Option<Arc<Timing>>);
    impl Drop for Restore {
        fn drop(&mut self) {
            let previous = self.0.take();
            CURRENT.with(|current| *current.borrow_mut() = previous);
        }
    }
    let previous = CURRENT.with(|current| current.borrow_mut().replace(Arc::clone(timing)));
    let _restore = Restore(previous);
    f()
}
