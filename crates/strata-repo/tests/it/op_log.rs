//! The operation log as a test sees it: the events that the operations run on this
//! thread emit (target `strata::op`), as the text a `fmt` subscriber writes.

use std::sync::{Arc, Mutex};

use tracing::subscriber::DefaultGuard;

/// The captured lines; capturing stops when it is dropped.
pub struct OpLog {
    lines: Lines,
    _guard: DefaultGuard,
}

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

impl OpLog {
    /// Captures the operation events emitted on this thread from now on (a
    /// `#[tokio::test]` runs its futures on its one thread).
    pub fn capture() -> OpLog {
        let lines = Lines::default();
        let writer = lines.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(move || writer.clone())
            .with_ansi(false)
            .with_max_level(tracing::Level::DEBUG)
            .finish();
        OpLog { lines, _guard: tracing::subscriber::set_default(subscriber) }
    }

    /// Asserts that operation `op` on `tables` ended with `outcome` ("ok" or "error")
    /// and that its event holds `field` (e.g. `rows=1`, `code="E4002"`).
    #[track_caller]
    pub fn assert_op(&self, op: &str, tables: &str, outcome: &str, field: &str) {
        let text = String::from_utf8(self.lines.0.lock().unwrap().clone()).unwrap();
        let wanted = [
            format!("op=\"{op}\""),
            format!("tables=\"{tables}\""),
            format!("outcome=\"{outcome}\""),
            field.to_string(),
        ];
        assert!(
            text.lines().any(|line| wanted.iter().all(|w| line.contains(w.as_str()))),
            "no event with {wanted:?} in:\n{text}"
        );
    }
}
