//! Integration tests of strata-repo, one module per repository; every test gets its
//! own migrated database file in a temp directory from [`migrated`].

use std::path::Path;

use strata_core::Config;
use strata_pool::Pool;

mod agents;
mod audit;
mod audit_spill;
mod cache;
mod cache_property;
mod constraints;
mod crash;
mod documents;
mod explain;
mod flags;
mod memory;
mod metrics;
mod metrics_spill;
mod op_spans;
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

/// A pool on `dir/test.db` with the reference schema applied.
pub async fn migrated(dir: &Path) -> Pool {
    migrated_with(&Config::for_path(dir.join("test.db"))).await
}

/// A pool opened with `config` with the reference schema applied.
pub async fn migrated_with(config: &Config) -> Pool {
    let pool = Pool::open(config).await.expect("the pool opens");
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
