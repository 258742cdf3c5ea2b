//! strata-core, the bottom layer: the error contract (`Error`, `ErrorKind`, stable
//! `E####` codes with hints, classification of SQLite result codes), `Config` with its
//! defaults and layering, and the retry policy every layer shares. It runs no SQL and
//! depends on no other strata crate; everything else depends on it.

#![deny(missing_docs)]
// Library code proves its unwraps: each one left carries an `allow` with the reason it
// cannot fail. Unit tests (cfg(test)) and the integration tests are exempt.
#![cfg_attr(not(test), warn(clippy::unwrap_used, clippy::expect_used))]

pub mod config;
pub mod error;
pub mod quota;
pub mod retry;
pub mod store;

pub use config::{
    AuditConfig, BackupConfig, CacheConfig, CodegenConfig, Config, DEFAULT_APP_NAMESPACE, DEFAULT_DB_PATH,
    DocumentsConfig, DriftPolicy, LITESTREAM_BUSY_TIMEOUT_MS, MetricsConfig, Migrations, MonitorConfig,
    PoolConfig, QueueConfig, RateLimitConfig, ReplicationConfig, ReplicationMode, SchemaConfig, SetSources,
    SqliteConfig, Synchronous, UnknownTables,
};
pub use error::{CATALOG, ConstraintKind, Error, ErrorInfo, ErrorKind, Result, render};
pub use quota::Quota;
pub use retry::RetryPolicy;
