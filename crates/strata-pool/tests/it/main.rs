//! Integration tests of strata-pool against real database files in temp directories.

#![allow(missing_docs, reason = "test helpers are not public API")]

mod atomicity;
mod checkpoint;
mod close;
mod concurrency;
mod health;
mod lock_file;
mod open;
mod pragmas;
mod read_write;
mod readonly;
mod transaction;

use std::path::PathBuf;

use strata_core::Config;
use strata_pool::Pool;

/// A temp directory and a config whose database lives in it; the directory is
/// removed when the value drops.
pub struct TestDb {
    pub dir: tempfile::TempDir,
    pub config: Config,
}

impl Default for TestDb {
    fn default() -> Self {
        Self::new()
    }
}

impl TestDb {
    pub fn new() -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let config = Config::for_path(dir.path().join("test.db"));
        TestDb { dir, config }
    }

    pub fn path(&self) -> PathBuf {
        self.config.path.clone()
    }

    pub async fn open(&self) -> Pool {
        Pool::open(&self.config).await.expect("pool opens")
    }

    /// Opens the pool and creates `items(id INTEGER PRIMARY KEY, v TEXT NOT NULL)`.
    pub async fn open_with_items(&self) -> Pool {
        let pool = self.open().await;
        pool.write(|c| {
            Ok(c.execute_batch("CREATE TABLE items(id INTEGER PRIMARY KEY, v TEXT NOT NULL UNIQUE)")?)
        })
        .await
        .expect("create table");
        pool
    }
}

pub async fn count_items(pool: &Pool) -> i64 {
    pool.read(|c| Ok(c.query_row("SELECT count(*) FROM items", [], |r| r.get(0))?)).await.expect("count")
}

/// Every `v` of `items`, in order.
pub async fn item_values(pool: &Pool) -> Vec<String> {
    pool.read(|c| {
        let mut stmt = c.prepare("SELECT v FROM items ORDER BY v")?;
        let rows = stmt.query_map([], |r| r.get(0))?.collect::<Result<_, _>>()?;
        Ok(rows)
    })
    .await
    .expect("read items")
}

/// A write that holds the pool's writer until [`Gate::open`], so that a test can queue
/// writes behind it without guessing with sleeps how long the writer stays busy.
pub struct Gate {
    release: std::sync::mpsc::Sender<()>,
    task: tokio::task::JoinHandle<strata_core::Result<()>>,
}

impl Gate {
    /// Sends the holding write and returns once the writer runs it.
    pub async fn hold(pool: &Pool) -> Gate {
        let (started_tx, started_rx) = std::sync::mpsc::channel();
        let (release, release_rx) = std::sync::mpsc::channel::<()>();
        let task = {
            let pool = pool.clone();
            tokio::spawn(async move {
                pool.write(move |_| {
                    let _ = started_tx.send(());
                    // Returns when the sender is dropped by `open`.
                    let _ = release_rx.recv();
                    Ok(())
                })
                .await
            })
        };
        tokio::task::spawn_blocking(move || started_rx.recv()).await.unwrap().expect("the gate write runs");
        Gate { release, task }
    }

    /// Lets the writer go on; answers the holding write's result.
    pub async fn open(self) -> strata_core::Result<()> {
        drop(self.release);
        self.task.await.expect("the gate task")
    }
}

/// Polls `done` every 5 ms until it holds; panics with `what` after 30 s.
pub async fn eventually(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while !done() {
        assert!(std::time::Instant::now() < deadline, "never happened: {what}");
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
}
