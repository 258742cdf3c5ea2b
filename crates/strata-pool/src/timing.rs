//! Statement timing: SQLite's profile trace on every pooled connection, the
//! slow-query report through `tracing`, and the hook a higher layer collects with.
//!
//! SQLite calls the trace function on the thread that ran the statement, so the pool
//! puts the pool's [`Timing`] in a thread-local for the length of each closure; a
//! statement run outside a pool closure is not attributed to any pool.

use std::cell::RefCell;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

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

/// The per-pool timing state the trace callback reports into.
pub(crate) struct Timing {
    slow: Duration,
    hook: OnceLock<StatementHook>,
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
        LOWEST_THRESHOLD_NS.fetch_min(u64::try_from(slow.as_nanos()).unwrap_or(u64::MAX), Ordering::Relaxed);
        Arc::new(Timing { slow, hook: OnceLock::new(), slow_statements: AtomicU64::new(0) })
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
        let slow = duration >= self.slow;
        let hook = self.hook.get();
        if !slow && hook.is_none() {
            return;
        }
        let sql = stmt.sql();
        if slow {
            self.slow_statements.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(
                target: "strata::slow_query",
                sql = %normalize_sql(&sql),
                duration_ms = duration.as_secs_f64() * 1e3,
                threshold_ms = self.slow.as_millis() as u64,
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

/// Normalises SQL for grouping: literals and parameters (`?NNN`, `:name`, `$name`,
/// `@name`) become `?`, comments go, tokens are separated by one space except around
/// `(`, `)`, `,`, `.` and `;`, and keywords keep their case. One statement called
/// with different literals or layout normalises to one text.
pub fn normalize_sql(sql: &str) -> String {
    let tokens = tokenize(sql);
    let mut out = String::with_capacity(sql.len());
    let mut previous: Option<&str> = None;
    for token in &tokens {
        let glue =
            matches!(token.as_str(), "," | ")" | "." | ";" | "(") || matches!(previous, Some("(" | "."));
        if previous.is_some() && !glue {
            out.push(' ');
        }
        out.push_str(token);
        previous = Some(token);
    }
    while out.ends_with(';') {
        out.pop();
    }
    out
}

/// Splits SQL into tokens, with literals and parameters already replaced by `?`.
fn tokenize(sql: &str) -> Vec<String> {
    let chars: Vec<char> = sql.chars().collect();
    let mut tokens = Vec::new();
    let mut i = 0;
    let word = |c: char| c.is_alphanumeric() || c == '_';
    while i < chars.len() {
        let c = chars[i];
        let next = chars.get(i + 1).copied();
        if c.is_whitespace() {
            i += 1;
        } else if c == '-' && next == Some('-') {
            while i < chars.len() && chars[i] != '\n' {
                i += 1;
            }
        } else if c == '/' && next == Some('*') {
            i += 2;
            while i < chars.len() && !(chars[i] == '*' && chars.get(i + 1) == Some(&'/')) {
                i += 1;
            }
            i = (i + 2).min(chars.len());
        } else if c == '\'' {
            i += 1;
            while i < chars.len() && !(chars[i] == '\'' && chars.get(i + 1) != Some(&'\'')) {
                i += if chars[i] == '\'' { 2 } else { 1 };
            }
            i += 1;
            tokens.push("?".to_string());
        } else if matches!(c, '"' | '`' | '[') {
            let close = if c == '[' { ']' } else { c };
            let start = i;
            i += 1;
            while i < chars.len() && chars[i] != close {
                i += 1;
            }
            i = (i + 1).min(chars.len());
            tokens.push(chars[start..i].iter().collect());
        } else if c == '?' || (matches!(c, ':' | '$' | '@') && next.is_some_and(word)) {
            i += 1;
            while i < chars.len() && word(chars[i]) {
                i += 1;
            }
            tokens.push("?".to_string());
        } else if c.is_ascii_digit() || (c == '.' && next.is_some_and(|n| n.is_ascii_digit())) {
            while i < chars.len() && (chars[i].is_ascii_alphanumeric() || chars[i] == '.') {
                i += 1;
            }
            tokens.push("?".to_string());
        } else if word(c) {
            let start = i;
            while i < chars.len() && word(chars[i]) {
                i += 1;
            }
            tokens.push(chars[start..i].iter().collect());
        } else {
            tokens.push(c.to_string());
            i += 1;
        }
    }
    tokens
}

#[cfg(test)]
mod tests {
    use super::normalize_sql;

    #[test]
    fn literals_and_parameters_become_placeholders() {
        assert_eq!(
            normalize_sql(
                "SELECT count(*)  FROM t\n WHERE id = 42 AND name = 'o''brien' AND x = ?1 AND y = :y;"
            ),
            "SELECT count(*) FROM t WHERE id = ? AND name = ? AND x = ? AND y = ?"
        );
    }

    #[test]
    fn same_statement_with_other_literals_normalises_alike() {
        assert_eq!(
            normalize_sql("insert into t(a, b) values (1, 'x') -- note"),
            normalize_sql("insert into t (a,b)   values(2.5,'yy')")
        );
    }

    #[test]
    fn identifiers_with_digits_and_quoted_names_are_kept() {
        assert_eq!(
            normalize_sql("SELECT col1 FROM \"t 2\" /* c */ WHERE v2 > 3"),
            "SELECT col1 FROM \"t 2\" WHERE v2 > ?"
        );
    }

    #[test]
    fn non_ascii_names_and_literals_are_kept_whole() {
        assert_eq!(
            normalize_sql("SELECT café FROM \"menü 🍰\" WHERE naïve = 'crème' AND [日本] > 1"),
            "SELECT café FROM \"menü 🍰\" WHERE naïve = ? AND [日本] > ?"
        );
        // Unterminated quotes end at the end of the text, on a character boundary.
        assert_eq!(normalize_sql("SELECT \"é"), "SELECT \"é");
        assert_eq!(normalize_sql("SELECT 'é"), "SELECT ?");
    }
}
