//! Integration tests of strata-repo, one module per repository; every test gets its
//! own migrated database file in a temp directory from [`migrated`].

use std::cell::RefCell;
use std::path::Path;
use std::sync::{Arc, Mutex, Once};

use strata_core::Config;
use strata_pool::Pool;

mod agents;
mod audit;
mod cache;
mod cache_property;
mod constraints;
mod crash;
mod documents;
mod explain;
mod flags;
mod memory;
mod metrics;
mod op_log;
mod queue;
mod queue_property;
mod ratelimit;
mod ratelimit_processes;
mod repo_statements;
mod rows;
mod searches;
mod sessions;
mod worker;

/// The reference migrations of this repository's `migrations/`.
pub fn reference() -> strata_schema::MigrationSet {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../migrations");
    strata_schema::MigrationSet::from_dir(dir).expect("migrations/ is a valid set")
}

thread_local! {
    /// Where the test subscriber writes on this thread: the buffer of a running
    /// [`logged`], else nowhere.
    static CAPTURE: RefCell<Option<Arc<Mutex<Vec<u8>>>>> = const { RefCell::new(None) };
}

/// The test subscriber's writer: this thread's [`CAPTURE`] buffer.
struct ThreadCapture;

impl std::io::Write for ThreadCapture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        CAPTURE.with(|c| {
            if let Some(out) = c.borrow().as_ref() {
                out.lock().unwrap().extend_from_slice(buf);
            }
        });
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Runs `work` (on this thread: a current-thread test runtime) and returns the lines
/// that events at debug and above wrote meanwhile on this thread, the operation spans'
/// end events among them. The subscriber is global and installed once: a scoped one
/// (`set_default`) can miss events of callsites that another test thread registered
/// at the same moment.
pub async fn logged(work: impl Future<Output = ()>) -> Vec<String> {
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
    let out = Arc::new(Mutex::new(Vec::new()));
    CAPTURE.with(|c| *c.borrow_mut() = Some(Arc::clone(&out)));
    work.await;
    CAPTURE.with(|c| *c.borrow_mut() = None);
    let text = String::from_utf8(out.lock().unwrap().clone()).unwrap();
    text.lines().map(str::to_owned).collect()
}

/// A pool on `dir/test.db` with the reference schema applied.
pub async fn migrated(dir: &Path) -> Pool {
    let config = Config::for_path(dir.join("test.db"));
    let pool = Pool::open(&config).await.expect("the pool opens");
    let set = reference();
    pool.exclusive(move |conn| {
        strata_schema::up(
            conn,
            &set,
            &strata_schema::UpOptions { snapshot: false, ..strata_schema::UpOptions::default() },
        )
        .map(|_| ())
    })
    .await
    .expect("the reference migrations apply");
    pool
}

#[tokio::test]
async fn the_fixture_applies_the_reference_schema() {
    let dir = tempfile::tempdir().unwrap();
    let pool = migrated(dir.path()).await;
    let tables: i64 = pool
        .read(|c| {
            Ok(c.query_row("SELECT count(*) FROM sqlite_schema WHERE name = 'tasks'", [], |r| r.get(0))?)
        })
        .await
        .unwrap();
    assert_eq!(tables, 1);
}
