//! strata-pool, the connection layer (depends on strata-core only): the one place
//! that opens connections for an application. Readers are a deadpool pool of
//! deadpool-sqlite's `query_only` connections (recycled without a thread round trip;
//! `read_inline` runs key lookups on the caller's thread); the writer is one thread that owns the only write
//! connection and group-commits queued closures (each run exactly once, in a
//! SAVEPOINT where it shares one `BEGIN IMMEDIATE` with others), so callers never
//! see `SQLITE_BUSY` from their own process; `Pool::transaction` holds the writer for
//! an explicit transaction across awaits, bounded by `pool.transaction_max_ms`.
//! It applies the PRAGMAs of every connection, checkpoints the WAL on a background
//! thread (off the commit path), times every statement, reports slow ones through
//! `tracing`, keeps metrics, and closes cleanly. Every open pool holds the database's
//! lock file (`<db>.strata-lock`) shared, so that a restore in any process can tell.

#![deny(missing_docs)]
// Library code proves its unwraps: each one left carries an `allow` with the reason it
// cannot fail. Unit tests (cfg(test)) and the integration tests are exempt.
#![cfg_attr(not(test), warn(clippy::unwrap_used, clippy::expect_used))]

mod checkpoint;
mod connection;
mod health;
mod live;
mod lockfile;
mod metrics;
mod op;
mod pool;
mod registry;
mod timing;
mod transaction;
mod writer;

pub use connection::{ReadOnlyConnection, Settings, apply_pragmas, open_read_only};
pub use health::{Cause, PoolState};
pub use lockfile::{ExclusiveLock, LOCK_FILE_SUFFIX, lock_exclusive, lock_path, refuse_other_connections};
pub use metrics::{LATENCY_BUCKETS_US, LatencyBucket, MetricsSnapshot, ReaderGauges};
pub use op::{Affected, operation, operation_sync};
pub use pool::Pool;
pub use registry::is_open;
pub use rusqlite;
pub use timing::{PoolWork, StatementHook, StatementTiming, WorkHook, WorkTiming};
pub use transaction::Transaction;
pub use writer::{CLOSE_BUSY, CloseReport};

/// An error as one line with its code; used where deadpool wants a string.
fn render_error(err: &strata_core::Error) -> String {
    format!("{} {}", err.code(), err)
}
