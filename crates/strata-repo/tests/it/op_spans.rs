//! A capturing `tracing` subscriber for the tests that check the `strata.op` spans of
//! the repositories' operations (see `strata_pool::operation`).

use std::sync::{Arc, Mutex};

/// Everything the subscriber wrote, as text.
#[derive(Clone, Default)]
pub struct Captured(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Captured {
    /// The lines written so far.
    pub fn text(&self) -> String {
        String::from_utf8(self.0.lock().unwrap().clone()).unwrap()
    }

    /// The event line of operation `op` that ended with `outcome` (`"ok"` or
    /// `"error"`); panics with everything captured when there is none.
    pub fn line(&self, op: &str, outcome: &str) -> String {
        let text = self.text();
        let (op, outcome) = (format!("op=\"{op}\""), format!("outcome=\"{outcome}\""));
        text.lines()
            .find(|l| l.contains(&op) && l.contains(&outcome))
            .unwrap_or_else(|| panic!("no {op} {outcome} line in:\n{text}"))
            .to_owned()
    }
}

/// Installs a debug-level subscriber on this thread (a `#[tokio::test]` polls its
/// futures here) until the guard is dropped.
pub fn capture() -> (Captured, tracing::subscriber::DefaultGuard) {
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .with_max_level(tracing::Level::DEBUG)
        .finish();
    (captured, tracing::subscriber::set_default(subscriber))
}
