//! strata-core, the bottom layer: the error contract (`Error`, `ErrorKind`, stable
//! `E####` codes with hints, classification of SQLite result codes), `Config` with its
//! defaults and layering, and the retry policy every layer shares. It runs no SQL and
//! depends on no other strata crate; everything else depends on it.

#![deny(missing_docs)]

pub mod config;
pub mod error;
pub mod quota;
pub mod retry;

pub use config::{
    BackupConfig, CacheConfig, Config, DEFAULT_DB_PATH, DriftPolicy, MigrationSource, MonitorConfig,
    PoolConfig, QueueConfig, RateLimitConfig, SchemaConfig, SqliteConfig, Synchronous,
};
pub use error::{CATALOG, ConstraintKind, Error, ErrorInfo, ErrorKind, Result, render};
pub use quota::Quota;
pub use retry::RetryPolicy;
