//! Integration tests of strata-pool against real database files in temp directories.

#![allow(missing_docs, reason = "test helpers are not public API")]

mod atomicity;
mod checkpoint;
mod concurrency;
mod open;
mod pragmas;
mod read_write;

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
