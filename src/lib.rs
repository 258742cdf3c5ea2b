//! strata, the facade (top library layer; depends on every library crate, and only
//! strata-cli depends on it): re-exports the layers and offers [`Database`], the one
//! handle an application opens. Today `Database::open` opens the pool; later layers
//! add migrations, the drift check, repositories and background monitoring to it.

#![deny(missing_docs)]

pub use strata_core::{self as core, Config, ConstraintKind, Error, ErrorKind, Result, RetryPolicy};
pub use strata_ops as ops;
pub use strata_pool::{self as pool, CloseReport, MetricsSnapshot, Pool, Settings};
pub use strata_repo as repo;
pub use strata_schema as schema;

/// An open strata database: the pool and, as later layers arrive, what runs around it.
#[derive(Debug, Clone)]
pub struct Database {
    pool: Pool,
}

impl Database {
    /// Validates `config`, opens (creating if missing) the database file with the
    /// PRAGMAs of every connection, and starts the writer.
    pub async fn open(config: &Config) -> Result<Database> {
        let pool = Pool::open(config).await?;
        tracing::debug!(target: "strata", path = %config.path.display(), created = pool.created(), "database opened");
        Ok(Database { pool })
    }

    /// The connection pool: `read`, `write`, `metrics`.
    pub fn pool(&self) -> &Pool {
        &self.pool
    }

    /// Stops new work, finishes work in flight, optimises and checkpoints, and closes
    /// every connection.
    pub async fn close(&self) -> Result<CloseReport> {
        self.pool.close().await
    }
}
