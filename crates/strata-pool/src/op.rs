//! Operation logging: every repository and ops operation runs through [`operation`],
//! which opens a `tracing` span `strata.op` with the operation's name and tables, and
//! when it ends records its duration, the rows it stands for and its outcome (on
//! failure the error code, and SQLite's extended result code `sqlite_code` when SQLite
//! reported it), then emits one event with the same fields: `debug` on success, `warn`
//! on failure. A service filters them by target (`strata::op`) and level. With no
//! subscriber interested the cost is a few relaxed loads per call.

use std::future::Future;
use std::time::Instant;

use strata_core::Result;
use tracing::{Instrument, field};

/// How many rows an operation's result stands for (read or written), recorded on its
/// span as `rows`.
pub trait Affected {
    /// The number of rows.
    fn affected(&self) -> u64;
}

impl Affected for () {
    fn affected(&self) -> u64 {
        0
    }
}

impl Affected for u64 {
    fn affected(&self) -> u64 {
        *self
    }
}

impl Affected for usize {
    fn affected(&self) -> u64 {
        u64::try_from(*self).unwrap_or(u64::MAX)
    }
}

impl Affected for bool {
    fn affected(&self) -> u64 {
        u64::from(*self)
    }
}

impl<T> Affected for Option<T> {
    fn affected(&self) -> u64 {
        u64::from(self.is_some())
    }
}

impl<T> Affected for Vec<T> {
    fn affected(&self) -> u64 {
        self.len().affected()
    }
}

/// Says that each of the listed types is one row to [`Affected`] (a task, a flag, a
/// session...): `strata_pool::one_row!(Task, Flag);`.
#[macro_export]
macro_rules! one_row {
    ($($ty:ty),+ $(,)?) => {
        $(impl $crate::Affected for $ty {
            fn affected(&self) -> u64 {
                1
            }
        })+
    };
}

/// The span every operation runs in: its fields are filled as the operation ends.
fn span(name: &'static str, tables: &'static str) -> tracing::Span {
    tracing::info_span!(
        target: "strata::op",
        "strata.op",
        op = name,
        tables,
        rows = field::Empty,
        duration_ms = field::Empty,
        outcome = field::Empty,
        code = field::Empty,
        sqlite_code = field::Empty,
    )
}

/// Records the end of an operation on its span and emits its event.
fn finish<T: Affected>(
    span: &tracing::Span,
    name: &'static str,
    tables: &'static str,
    started: Instant,
    result: &Result<T>,
) {
    let duration_ms = started.elapsed().as_secs_f64() * 1_000.0;
    span.record("duration_ms", duration_ms);
    match result {
        Ok(value) => {
            let rows = value.affected();
            span.record("rows", rows);
            span.record("outcome", "ok");
            tracing::debug!(target: "strata::op", parent: span, op = name, tables, rows, duration_ms, outcome = "ok", "operation finished");
        }
        Err(err) => {
            let (code, sqlite_code) = (err.code(), err.sqlite_code());
            span.record("outcome", "error");
            span.record("code", code);
            span.record("sqlite_code", sqlite_code);
            tracing::warn!(target: "strata::op", parent: span, op = name, tables, duration_ms, outcome = "error", code, sqlite_code, error = %err, "operation failed");
        }
    }
}

/// Runs the operation `name` (e.g. `"queue.enqueue"`) on `tables` (comma-separated,
/// e.g. `"tasks"`) inside its span, and records its duration, rows and outcome.
pub async fn operation<T: Affected>(
    name: &'static str,
    tables: &'static str,
    work: impl Future<Output = Result<T>>,
) -> Result<T> {
    let span = span(name, tables);
    let started = Instant::now();
    let result = work.instrument(span.clone()).await;
    finish(&span, name, tables, started, &result);
    result
}

/// [`operation`] for work that does not await: runs `work` inside the span.
pub fn operation_sync<T: Affected>(
    name: &'static str,
    tables: &'static str,
    work: impl FnOnce() -> Result<T>,
) -> Result<T> {
    let span = span(name, tables);
    let started = Instant::now();
    let result = span.in_scope(work);
    finish(&span, name, tables, started, &result);
    result
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use super::*;
    use strata_core::Error;

    /// Collects every event's fields as text.
    #[derive(Clone, Default)]
    struct Lines(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Lines {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    fn captured(run: impl FnOnce()) -> String {
        let lines = Lines::default();
        let writer = lines.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(move || writer.clone())
            .with_ansi(false)
            .with_max_level(tracing::Level::DEBUG)
            .finish();
        tracing::subscriber::with_default(subscriber, run);
        String::from_utf8(lines.0.lock().unwrap().clone()).unwrap()
    }

    #[test]
    fn a_finished_operation_logs_its_name_tables_rows_and_outcome() {
        let out = captured(|| {
            operation_sync("queue.enqueue", "tasks", || Ok(vec![1, 2, 3])).unwrap();
        });
        assert!(out.contains("operation finished"), "{out}");
        for field in ["op=\"queue.enqueue\"", "tables=\"tasks\"", "rows=3", "outcome=\"ok\"", "duration_ms="]
        {
            assert!(out.contains(field), "{field} missing in {out}");
        }
    }

    #[test]
    fn a_failed_operation_logs_its_error_code_at_warn() {
        let out = captured(|| {
            let err = operation_sync::<()>("flags.set", "flags", || Err(Error::invalid("name", "empty")));
            assert_eq!(err.unwrap_err().code(), "E6001");
        });
        assert!(out.contains("WARN"), "{out}");
        for field in ["op=\"flags.set\"", "outcome=\"error\"", "code=\"E6001\""] {
            assert!(out.contains(field), "{field} missing in {out}");
        }
    }

    #[test]
    fn a_failure_sqlite_reported_logs_its_extended_code_and_message() {
        let out = captured(|| {
            let conn = rusqlite::Connection::open_in_memory().unwrap();
            conn.execute_batch("CREATE TABLE t(k TEXT UNIQUE); INSERT INTO t VALUES ('a');").unwrap();
            let insert = || Ok(conn.execute("INSERT INTO t VALUES ('a')", [])?);
            let err = operation_sync::<usize>("t.insert", "t", insert).unwrap_err();
            assert_eq!(err.sqlite_code(), Some(rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE));
        });
        for field in ["op=\"t.insert\"", "code=\"E4001\"", "sqlite_code=2067", "t.k"] {
            assert!(out.contains(field), "{field} missing in {out}");
        }
    }

    #[test]
    fn an_async_operation_is_logged_when_its_future_ends() {
        let out = captured(|| {
            let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
            let rows = runtime.block_on(operation("audit.list", "audit_log", async { Ok(Some(1)) })).unwrap();
            assert_eq!(rows, Some(1));
        });
        assert!(out.contains("op=\"audit.list\"") && out.contains("rows=1"), "{out}");
    }
}
