//! strata-ops, operating a database (layer: strata-ops <- strata-core, strata-schema,
//! strata-pool; only the facade depends on it). It owns the health report
//! ([`health`]), the background monitor ([`monitor`]), verified online backups with
//! manifests and retention ([`backup`]), restore ([`restore`]), corruption recovery
//! with salvage ([`recover`]), the Litestream config for replication
//! ([`replication`]; restoring from a replica is in [`restore`]), per-statement query
//! statistics fed by the pool's timing hook ([`stats`]), the index advisor
//! ([`advisor`]) and the verification of the document store beside the database
//! ([`documents`]) with its watcher ([`watch`]). It is the only layer
//! that writes backup files. Every entry point that reads or writes a database or
//! files is an async function: its blocking work runs on tokio's blocking pool (a
//! panic or cancellation there is E9002), so an async caller never stalls its runtime
//! and never wraps a call itself. It returns a serialisable report.

#![deny(missing_docs)]
// Library code proves its unwraps: each one left carries an `allow` with the reason it
// cannot fail. Unit tests (cfg(test)) and the integration tests are exempt.
#![cfg_attr(not(test), warn(clippy::unwrap_used, clippy::expect_used))]

pub mod advisor;
pub mod backup;
mod clock;
pub mod documents;
mod files;
pub mod health;
pub mod monitor;
mod oplog;
pub mod recover;
pub mod replication;
pub mod restore;
pub mod stats;
pub mod watch;

use std::sync::Arc;

use serde::Serialize;

pub use advisor::{AdviceReport, AdviseOptions, QueryAdvice, Recommendation, advise, advise_path};
pub use backup::{BackupEntry, BackupReport, BackupState, Manifest, PruneReport, VerifyReport};
pub use documents::{DocumentProblem, OrphanFile, StoreReport};
pub use health::{CheckLevel, Finding, HealthOptions, HealthReport, Severity, Status, check, check_path};
pub use monitor::{Monitor, MonitorState};
pub use recover::{RecoverOptions, RecoverReport, recover};
pub use restore::{
    ReplicaRestoreOptions, ReplicaRestoreReport, RestoreOptions, RestoreReport, restore, restore_from_replica,
};
pub use stats::{Origin, QueryStats, StatementStats, StatsReport, WorkStats};
pub use watch::StoreWatcher;

/// What a long file operation is doing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Stage {
    /// Copying pages or bytes.
    Copy,
    /// Checking integrity.
    Verify,
    /// Computing the sha256.
    Hash,
}

/// Progress of a long file operation, in bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Progress {
    /// What is being done.
    pub stage: Stage,
    /// Bytes done.
    pub done: u64,
    /// Bytes in all.
    pub total: u64,
}

/// A progress callback (a CLI draws a bar with it); called from a blocking thread.
pub type ProgressFn = Arc<dyn Fn(Progress) + Send + Sync>;

/// Runs the blocking `work` of the public function `task` on tokio's blocking pool; a
/// panic or a cancellation there is E9002 naming `task`.
pub(crate) async fn blocking<T: Send + 'static>(
    task: &'static str,
    work: impl FnOnce() -> strata_core::Result<T> + Send + 'static,
) -> strata_core::Result<T> {
    tokio::task::spawn_blocking(work).await.map_err(|e| strata_core::Error::task_failed(task, e))?
}
