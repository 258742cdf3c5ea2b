//! Property 9: Detailed technical logging.
//!
//! A failed operation leaves one `warn` event on target `strata::op`, captured here by a
//! real `tracing` subscriber writing JSON lines, that names the operation and carries
//! strata's error code, SQLite's extended result code and SQLite's own message: for a
//! constraint violation on a real table and for a database file replaced by garbage.

use std::cell::RefCell;
use std::future::Future;
use std::sync::{Arc, Mutex, Once};

use serde_json::Value;
use strata::query::sea_query::Query;
use strata::{Config, Database, MigrationSet, Migrations};

/// Everything a subscriber wrote, shared with its writer.
#[derive(Clone, Default)]
pub(crate) struct Captured(Arc<Mutex<Vec<u8>>>);

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
    /// The `strata::op` events written so far (JSON objects), and forgets them.
    pub(crate) fn take_op_events(&self) -> Vec<Value> {
        let bytes = std::mem::take(&mut *self.0.lock().unwrap());
        String::from_utf8(bytes)
            .unwrap()
            .lines()
            .map(|line| serde_json::from_str::<Value>(line).unwrap())
            .filter(|event| event["target"] == "strata::op")
            .collect()
    }
}

thread_local! {
    /// Where the suite's subscriber writes on this thread: the [`Captured`] of a running
    /// [`with_json_subscriber`], else nowhere.
    static CAPTURE: RefCell<Option<Captured>> = const { RefCell::new(None) };
}

/// The suite's subscriber writer: this thread's [`CAPTURE`].
struct ThreadCapture;

impl std::io::Write for ThreadCapture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        CAPTURE.with(|c| match c.borrow_mut().as_mut() {
            Some(out) => out.write(buf),
            None => Ok(buf.len()),
        })
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Runs `work` on a current-thread runtime under a JSON subscriber at `debug` that
/// writes into the returned [`Captured`] (the operations' events are emitted on the
/// calling thread when their future ends, so every one of them is captured). The
/// subscriber is global, installed once, and writes to the buffer of the thread it
/// runs on: a scoped one (`with_default`) missed events whose callsites another test
/// thread registered at the same moment.
pub(crate) fn with_json_subscriber<T>(work: impl FnOnce(&Captured) -> T) -> T {
    static INSTALL: Once = Once::new();
    INSTALL.call_once(|| {
        let subscriber = tracing_subscriber::fmt()
            .json()
            .with_current_span(true)
            .with_writer(|| ThreadCapture)
            .with_max_level(tracing::Level::DEBUG)
            .finish();
        tracing::subscriber::set_global_default(subscriber).expect("the suite's only global subscriber");
    });
    let captured = Captured::default();
    CAPTURE.with(|c| *c.borrow_mut() = Some(captured.clone()));
    let result = work(&captured);
    CAPTURE.with(|c| *c.borrow_mut() = None);
    result
}

/// `future` on a fresh current-thread runtime.
pub(crate) fn block_on<F: Future>(future: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(future)
}

/// The only failure event of `op` among `events`.
fn failure<'a>(events: &'a [Value], op: &str) -> &'a Value {
    let failed: Vec<&Value> = events.iter().filter(|e| e["fields"]["op"] == op).collect();
    assert_eq!(failed.len(), 1, "one end event for {op}: {events:#?}");
    let event = failed[0];
    assert_eq!(event["level"], "WARN", "{event}");
    assert_eq!(event["fields"]["outcome"], "error", "{event}");
    assert_eq!(event["span"]["name"], "strata.op", "{event}");
    event
}

/// A constraint violation through the facade's `execute_query` is logged with E4001,
/// SQLITE_CONSTRAINT_UNIQUE (2067), SQLite's message naming `users.email`, and the
/// operation `execute`.
#[test]
fn p09_detailed_technical_logging_of_a_constraint_violation() {
    let dir = tempfile::tempdir().unwrap();
    let set = MigrationSet::from_sources([(
        "V1__users",
        "CREATE TABLE users(id INTEGER PRIMARY KEY, email TEXT NOT NULL UNIQUE);",
        None,
    )])
    .unwrap();
    let config = Config::for_path(dir.path().join("app.db"));
    let events = with_json_subscriber(|captured| {
        block_on(async {
            let db = Database::open_with(&config, Migrations::from(set)).await.unwrap();
            let insert = Query::insert()
                .into_table("users")
                .columns(["email"])
                .values_panic(["a@x".into()])
                .to_owned();
            assert_eq!(db.execute_query(&insert).await.unwrap(), 1);
            captured.take_op_events();
            let err = db.execute_query(&insert).await.unwrap_err();
            assert_eq!(err.code(), "E4001");
            db.close().await.unwrap();
        });
        captured.take_op_events()
    });
    let event = failure(&events, "execute");
    assert_eq!(event["fields"]["code"], "E4001", "{event}");
    assert_eq!(event["fields"]["sqlite_code"], 2067, "{event}");
    let error = event["fields"]["error"].as_str().unwrap();
    assert!(error.contains("users.email"), "SQLite's message in {event}");
    assert!(event["fields"]["duration_ms"].is_number(), "{event}");
}

/// A database file replaced by garbage is logged, when `Database::open` meets it, with
/// its code, SQLITE_NOTADB (26) and SQLite's "file is not a database".
#[test]
fn p09_detailed_technical_logging_of_a_file_that_is_not_a_database() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("app.db");
    std::fs::write(&path, vec![0x5a_u8; 8192]).unwrap();
    let config = Config::for_path(&path);
    let (events, code) = with_json_subscriber(|captured| {
        let err = block_on(Database::open_with(&config, Migrations::None))
            .map(|_| ())
            .expect_err("garbage does not open");
        (captured.take_op_events(), err.code())
    });
    let event = failure(&events, "database.open");
    assert_eq!(event["fields"]["code"], code, "{event}");
    assert_eq!(event["fields"]["sqlite_code"], 26, "{event}");
    let error = event["fields"]["error"].as_str().unwrap();
    assert!(error.contains("not a database"), "SQLite's message in {event}");
}
