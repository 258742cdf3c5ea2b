//! A capturing `tracing` subscriber for the tests that check the `strata.op` spans of
//! the repositories' operations (see `strata_pool::operation`).

use std::cell::RefCell;
use std::sync::{Arc, Mutex, Once};

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

thread_local! {
    /// Where the test subscriber writes on this thread: the buffer of a live
    /// [`capture`], else nowhere.
    static CAPTURE: RefCell<Option<Captured>> = const { RefCell::new(None) };
}

/// The test subscriber's writer: this thread's [`CAPTURE`] buffer.
struct ThreadCapture;

impl std::io::Write for ThreadCapture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        CAPTURE.with(|c| {
            if let Some(out) = c.borrow_mut().as_mut() {
                std::io::Write::write_all(out, buf)?;
            }
            Ok::<_, std::io::Error>(())
        })?;
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Stops this thread's capture when dropped.
pub struct CaptureGuard;

impl Drop for CaptureGuard {
    fn drop(&mut self) {
        CAPTURE.with(|c| *c.borrow_mut() = None);
    }
}

/// Captures what events at debug and above write on this thread (a `#[tokio::test]`
/// polls its futures here) until the guard is dropped. The subscriber is global and
/// installed once per test binary: a scoped one (`set_default`) misses the events of
/// callsites that another test thread registers at the same moment.
pub fn capture() -> (Captured, CaptureGuard) {
    static INSTALL: Once = Once::new();
    INSTALL.call_once(|| {
        let subscriber = tracing_subscriber::fmt()
            .with_writer(|| ThreadCapture)
            .with_ansi(false)
            .with_max_level(tracing::Level::DEBUG)
            .finish();
        tracing::subscriber::set_global_default(subscriber)
            .expect("no other global subscriber in this binary");
    });
    let captured = Captured::default();
    CAPTURE.with(|c| *c.borrow_mut() = Some(captured.clone()));
    (captured, CaptureGuard)
}

/// Runs `work` under [`capture`] and returns the lines written meanwhile.
pub async fn logged(work: impl Future<Output = ()>) -> Vec<String> {
    let (log, guard) = capture();
    work.await;
    drop(guard);
    log.text().lines().map(str::to_owned).collect()
}

/// Asserts that one of `lines` is the end of operation `op` on `tables` with `outcome`
/// ("ok" or "error") and holds `field` (e.g. `rows=1`, `code="E4002"`).
#[track_caller]
pub fn assert_op(lines: &[String], op: &str, tables: &str, outcome: &str, field: &str) {
    let wanted = [
        format!("op=\"{op}\""),
        format!("tables=\"{tables}\""),
        format!("outcome=\"{outcome}\""),
        field.into(),
    ];
    assert!(
        lines.iter().any(|line| wanted.iter().all(|w| line.contains(w.as_str()))),
        "no event with {wanted:?} in:\n{}",
        lines.join("\n")
    );
}
