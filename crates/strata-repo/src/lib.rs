//! strata-repo, the repositories of the reference schema (layer: strata-repo <-
//! strata-core, strata-pool, and strata-schema for its tests; only the facade depends
//! on it). It owns
//! every SQL statement that reads or writes the tables of `migrations/`: the durable
//! priority task queue ([`queue`]) and the orchestration repositories (sessions,
//! agents, checkpoints, task state, the append-only audit log, namespaced memory,
//! flags and metrics), the TTL cache ([`cache`]), GCRA rate limits
//! ([`ratelimit`]), searches with their results and scraping jobs ([`searches`]) and
//! the document store beside the database ([`documents`]). Each repository is a cheap `Clone` around a [`strata_pool::Pool`]: reads go through `pool.read`, writes
//! through `pool.write` (group commit), and no repository opens a connection of its
//! own. Times are integer milliseconds since the Unix epoch (UTC); JSON columns are
//! `serde_json::Value`; every list is keyset-paginated ([`Page`]).

#![deny(missing_docs)]
// Library code proves its unwraps: each one left carries an `allow` with the reason it
// cannot fail. Unit tests (cfg(test)) and the integration tests are exempt.
#![cfg_attr(not(test), warn(clippy::unwrap_used, clippy::expect_used))]

pub mod agents;
pub mod audit;
pub mod cache;
pub mod checkpoints;
pub mod clock;
pub mod documents;
pub mod flags;
pub mod memory;
pub mod metrics;
mod page;
pub mod queue;
pub mod ratelimit;
mod row;
pub mod searches;
pub mod sessions;
pub mod spill;
pub mod state;

pub use agents::{Agent, AgentState, Agents};
pub use audit::{Appended, Audit, AuditBy, AuditEntry, AuditFilter, NewAuditEntry, append_in};
pub use cache::{
    Cache, CacheEntry, CacheKey, CacheStats, CacheValue, NamespaceStats, SweepReport, Sweeper, spawn_sweeper,
};
pub use checkpoints::{Checkpoint, Checkpoints};
pub use documents::{Document, Documents, GcReport, NewDocument, PurgeReport};
pub use flags::{Flag, FlagChange, Flags};
pub use memory::{Memory, MemoryEntry, MemoryKey, MemoryType};
pub use metrics::{Aggregate, Metric, Metrics, NewMetric, Recorded, RecordedBatch};
pub use page::{Page, PageRequest};
pub use queue::{
    ChunkedEnqueue, Claimed, Claimer, Completion, Ctx, DEFAULT_PRIORITY, DEFAULT_QUEUE, Enqueued, Handler,
    Job, JobError, JobKind, LeaseToken, MAX_PRIORITY, NewTask, Queue, QueueConfig, QueueStats, Task,
    TaskStatus, Worker, WorkerBuilder, WorkerReport,
};
pub use ratelimit::{Decision, RateLimitStatus, RateLimits};
pub use searches::{
    BulkInsert, JobOutcome, NewJob, NewResult, NewSearch, ResultCursor, ResultPage, ResultStream,
    ScrapingJob, Search, SearchResult, SearchStatus, Searches,
};
pub use sessions::{NewSession, Session, SessionOwner, SessionStatus, Sessions};
pub use state::{StateEntry, TaskState};
pub use strata_core::{CacheConfig, Quota, RateLimitConfig};

/// Every SQL statement strata-repo issues, as `(name, sql)`, for the explain test
/// that fails on a full `SCAN` or a `TEMP B-TREE`. Each module lists its own.
pub fn statements() -> Vec<(&'static str, &'static str)> {
    let lists: &[&[(&str, &str)]] = &[
        sessions::STATEMENTS,
        agents::STATEMENTS,
        checkpoints::STATEMENTS,
        state::STATEMENTS,
        audit::STATEMENTS,
        memory::STATEMENTS,
        flags::STATEMENTS,
        metrics::STATEMENTS,
        queue::STATEMENTS,
        cache::STATEMENTS,
        ratelimit::STATEMENTS,
        searches::STATEMENTS,
        documents::STATEMENTS,
    ];
    lists.iter().flat_map(|l| l.iter().copied()).collect()
}
