//! strata, the facade (top library layer; depends on every library crate, and only
//! strata-cli depends on it): re-exports the layers and offers [`Database`], the one
//! handle an application opens. `Database::open` opens the pool, applies the
//! migrations (the reference schema built into the library, an application's own
//! embedded set, or none) and checks the live schema for drift; it also makes the
//! cache and rate limits of the `[cache]` and `[ratelimit]` config sections and starts
//! the cache's sweeper.
//!
//! A complete program: its own migrations beside strata's reference schema, a
//! transaction, a typed query, a queue worker and a backup (the README's "Use it from
//! Rust" shows the same code; `tests/readme.rs` keeps the two identical):
//!
//! ```
//! use std::time::Duration;
//!
//! use strata::schema::Migration;
//! use strata::{Config, Ctx, Database, Job, JobError, JobKind, MigrationSet, Migrations, NewTask, Worker};
//!
//! #[derive(Debug, serde::Deserialize)]
//! struct Note {
//!     id: i64,
//!     body: String,
//! }
//!
//! /// A typed job: count the words of a note.
//! #[derive(serde::Serialize, serde::Deserialize)]
//! struct CountWords {
//!     note: i64,
//! }
//!
//! impl JobKind for CountWords {
//!     const KIND: &'static str = "count_words";
//! }
//!
//! /// Its handler: an error through `?` retries with the queue's backoff.
//! async fn count_words(job: Job<CountWords>, ctx: Ctx) -> Result<usize, JobError> {
//!     let id = job.payload.note;
//!     const BODY: &str = "SELECT body FROM notes WHERE id = ?1";
//!     let body: String = ctx.queue().pool().read(move |c| Ok(c.query_row(BODY, [id], |r| r.get(0))?)).await?;
//!     Ok(body.split_whitespace().count())
//! }
//!
//! # #[tokio::main]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # let dir = tempfile::tempdir()?;
//! # let path = dir.path().join("app.db");
//! // strata's reference schema (queue, flags, audit, ...) and the application's own table.
//! let notes = Migration::new(
//!     "V100__notes",
//!     "CREATE TABLE notes(id INTEGER PRIMARY KEY, body TEXT NOT NULL);",
//!     Some("DROP TABLE notes;"),
//! )?;
//! let set = MigrationSet::new(strata::reference_migrations()?.migrations().iter().cloned().chain([notes]))?;
//! let db = Database::open_with(&Config::for_path(path), Migrations::Set(set)).await?;
//!
//! // A transaction: the closure's statements commit together, or not at all.
//! let id = db
//!     .pool()
//!     .write(|c| {
//!         c.execute("INSERT INTO notes(body) VALUES (?1)", strata::params!["hello strata world"])?;
//!         Ok(c.last_insert_rowid())
//!     })
//!     .await?;
//!
//! // A typed query: columns to fields by name, on the reader pool.
//! let all: Vec<Note> = db.query_as("SELECT id, body FROM notes", ()).await?;
//! assert_eq!((all[0].id, all[0].body.as_str()), (id, "hello strata world"));
//!
//! // A queue worker: enqueue a typed job, run it, await the result it stored.
//! let job = db.queue().enqueue(NewTask::job(&CountWords { note: id })?).await?;
//! let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
//! let worker = Worker::builder(&db).concurrency(4).handle::<CountWords>(count_words);
//! let worker = tokio::spawn(worker.run(async move { stopped.await.unwrap_or(()) }));
//! let done = db.queue().wait_for(job.id, Duration::from_secs(30)).await?;
//! assert_eq!(done.result_as::<usize>()?, Some(3));
//! stop.send(()).ok();
//! worker.await??;
//!
//! // A verified online backup, into backups/ beside the database.
//! let backup = db.backup().await?;
//! assert!(backup.path.exists());
//! db.close().await?;
//! # Ok(())
//! # }
//! ```

#![deny(missing_docs)]
// Library code proves its unwraps: each one left carries an `allow` with the reason it
// cannot fail. Unit tests (cfg(test)) and the integration tests are exempt.
#![cfg_attr(not(test), warn(clippy::unwrap_used, clippy::expect_used))]

use std::sync::Arc;

pub use strata_core::{
    self as core, Config, ConstraintKind, DriftPolicy, Error, ErrorKind, MigrationSource, Result,
    RetryPolicy, Synchronous,
};
#[cfg(all(feature = "repo", feature = "ops"))]
pub mod demo;
mod rows;
pub use rows::{RowStream, json};

/// SQLite's Rust binding, the same build strata uses: for closures given to
/// [`Pool::read`] / [`Pool::write`] (`Connection`, `Row`, `params_from_iter`, types).
pub use strata_pool::rusqlite;
/// `.optional()` on a `query_row` result: no row becomes `None` instead of an error.
pub use strata_pool::rusqlite::OptionalExtension;
/// `params![a, b]`: positional parameters for a statement inside a pool closure.
pub use strata_pool::rusqlite::params;

#[cfg(feature = "ops")]
pub use strata_ops as ops;
pub use strata_pool::{self as pool, CloseReport, MetricsSnapshot, Pool, Settings};
#[cfg(feature = "repo")]
pub use strata_repo::{
    self as repo, Ctx, DEFAULT_QUEUE, Job, JobError, JobKind, NewTask, Queue, QueueConfig, Worker,
    WorkerBuilder, WorkerReport,
};
/// Where every migration stands ([`Database::migration_status`]); named apart from
/// `ops::Status`, the health verdict.
pub use strata_schema::Status as MigrationStatus;
pub use strata_schema::{
    self as schema, DownReport, DownTarget, DriftReport, MigrationSet, MigrationState, UpReport,
};

/// The reference migrations of `migrations/`, embedded at build time as
/// `(stem, up, down)`.
const REFERENCE_MIGRATIONS: &[(&str, &str, Option<&str>)] =
    include!(concat!(env!("OUT_DIR"), "/reference_migrations.rs"));

/// The reference schema (`migrations/` of this repository) as a migration set.
pub fn reference_migrations() -> Result<MigrationSet> {
    MigrationSet::from_sources(REFERENCE_MIGRATIONS.iter().copied())
}

/// Which migrations [`Database::open_with`] applies.
#[derive(Debug, Clone)]
pub enum Migrations {
    /// The reference schema built into strata.
    Reference,
    /// An application's own set (embedded with `embed_migrations!` or
    /// `MigrationSet::from_sources`).
    Set(MigrationSet),
    /// No migrations and no drift check.
    None,
}

/// What opening did besides connecting.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct OpenReport {
    /// The file did not exist and was created.
    pub created: bool,
    /// The migrations applied, when a set was given.
    pub migrated: Option<UpReport>,
    /// The drift check, when a set was given and the policy is not `off`.
    pub drift: Option<DriftReport>,
}

/// An open strata database: the pool, the migration set it was opened with, and,
/// as later layers arrive, what runs around it.
#[derive(Debug, Clone)]
pub struct Database {
    pool: Pool,
    migrations: Option<Arc<MigrationSet>>,
    report: OpenReport,
    #[cfg(feature = "ops")]
    stats: Option<ops::QueryStats>,
    #[cfg(feature = "ops")]
    monitor: Option<Arc<ops::Monitor>>,
    #[cfg(feature = "repo")]
    cache: repo::Cache,
    #[cfg(feature = "repo")]
    rate_limits: repo::RateLimits,
    #[cfg(feature = "repo")]
    sweeper: Option<Arc<repo::Sweeper>>,
    /// Built once, so that every clone shares the wake-ups of idle workers.
    #[cfg(feature = "repo")]
    queue: repo::Queue,
}

/// Whether the database has the reference schema's `cache` table (V7).
#[cfg(feature = "repo")]
const HAS_CACHE_TABLE: &str = "SELECT count(*) FROM sqlite_schema WHERE type = 'table' AND name = 'cache'";

impl Database {
    /// Opens the database of `config`: the pool, then the migrations that
    /// `config.schema.migrations` names, then the drift check.
    pub async fn open(config: &Config) -> Result<Database> {
        let migrations = match config.schema.migrations {
            MigrationSource::Reference => Migrations::Reference,
            MigrationSource::None => Migrations::None,
        };
        Database::open_with(config, migrations).await
    }

    /// Opens the database of `config` with `migrations`: validates the config, opens
    /// (creating if missing) the file with the PRAGMAs of every connection, applies
    /// the pending migrations in one transaction (after a snapshot of an existing
    /// file, unless `schema.snapshot` is off), and compares the live schema with the
    /// set. Drift is E3014 unless `schema.drift` says to warn or not to check. With
    /// `cache.sweeper` on and a `cache` table in the database, the cache's sweeper
    /// starts.
    pub async fn open_with(config: &Config, migrations: Migrations) -> Result<Database> {
        let set = match migrations {
            Migrations::Reference => Some(reference_migrations()?),
            Migrations::Set(set) => Some(set),
            Migrations::None => None,
        };
        let pool = Pool::open(config).await?;
        let mut report = OpenReport { created: pool.created(), ..OpenReport::default() };
        let set = set.map(Arc::new);
        if let Some(set) = &set {
            match prepare_schema(&pool, config, Arc::clone(set), &mut report).await {
                Ok(()) => {}
                Err(err) => {
                    // Nothing is half-done: the migration batch rolled back whole.
                    let _ = pool.close().await;
                    return Err(err);
                }
            }
        }
        #[cfg(feature = "ops")]
        let stats = match config.monitor.query_stats {
            true => {
                let stats = ops::QueryStats::install(&pool, config.monitor.query_stats_capacity)?;
                // The repositories' (and the queue's) statements are strata's, not the
                // application's: an application can filter them out (`Origin`).
                #[cfg(feature = "repo")]
                stats.mark_own(repo::statements().iter().map(|(_, sql)| *sql));
                Some(stats)
            }
            false => None,
        };
        #[cfg(feature = "ops")]
        let monitor =
            config.monitor.enabled.then(|| Arc::new(ops::Monitor::spawn(pool.clone(), stats.clone())));
        #[cfg(feature = "repo")]
        let (cache, rate_limits, sweeper, queue) = {
            let clock: Arc<dyn repo::clock::Clock> = Arc::new(repo::clock::SystemClock);
            // Pool::open validated the config, [cache] and [ratelimit] included.
            let cache = repo::Cache::with_config(pool.clone(), config.cache.clone(), Arc::clone(&clock))?;
            let rate_limits = repo::RateLimits::with_config(pool.clone(), config.ratelimit.clone(), clock)?;
            let sweeper = match config.cache.sweeper {
                true => {
                    let tables: i64 =
                        pool.read_inline(|c| Ok(c.query_row(HAS_CACHE_TABLE, [], |r| r.get(0))?)).await?;
                    (tables > 0).then(|| Arc::new(repo::spawn_sweeper(cache.clone())))
                }
                false => None,
            };
            (cache, rate_limits, sweeper, repo::Queue::new(pool.clone(), config.queue.clone())?)
        };
        tracing::debug!(target: "strata", path = %config.path.display(), created = report.created, "database opened");
        Ok(Database {
            pool,
            migrations: set,
            report,
            #[cfg(feature = "ops")]
            stats,
            #[cfg(feature = "ops")]
            monitor,
            #[cfg(feature = "repo")]
            cache,
            #[cfg(feature = "repo")]
            rate_limits,
            #[cfg(feature = "repo")]
            sweeper,
            #[cfg(feature = "repo")]
            queue,
        })
    }

    /// Opens the existing database of `config` for inspection, changing nothing in
    /// it: a read-only pool ([`Pool::open_read_only`]: read-only connections, no
    /// writer, no PRAGMA that writes, no checkpoint), no migrations, no drift check,
    /// no monitor, no cache sweeper, and no query statistics exported at close (they would replace
    /// those of the application that runs on the file). Writes fail with E2011, and
    /// so do [`Database::health`] (it audits the writer's settings) and anything else
    /// that needs the writer; [`Database::backup`] works. A missing file is E2004.
    pub async fn open_read_only(config: &Config) -> Result<Database> {
        let pool = Pool::open_read_only(config).await?;
        #[cfg(feature = "repo")]
        let (cache, rate_limits, queue) = {
            let clock: Arc<dyn repo::clock::Clock> = Arc::new(repo::clock::SystemClock);
            // Both write through the writer (a cache hit records its read): on a read-only
            // pool their calls fail with E2011, but the handles exist as for any Database.
            let cache = repo::Cache::with_config(pool.clone(), config.cache.clone(), Arc::clone(&clock))?;
            let rate_limits = repo::RateLimits::with_config(pool.clone(), config.ratelimit.clone(), clock)?;
            (cache, rate_limits, repo::Queue::new(pool.clone(), config.queue.clone())?)
        };
        tracing::debug!(target: "strata", path = %config.path.display(), "database opened read-only");
        Ok(Database {
            pool,
            migrations: None,
            report: OpenReport::default(),
            #[cfg(feature = "ops")]
            stats: None,
            #[cfg(feature = "ops")]
            monitor: None,
            #[cfg(feature = "repo")]
            cache,
            #[cfg(feature = "repo")]
            rate_limits,
            #[cfg(feature = "repo")]
            sweeper: None,
            #[cfg(feature = "repo")]
            queue,
        })
    }

    /// The connection pool: `read`, `write`, `exclusive`, `metrics`.
    pub fn pool(&self) -> &Pool {
        &self.pool
    }

    #[cfg(feature = "repo")]
    /// The task queue, configured by the `[queue]` section of the config. Every call
    /// (and every clone of the database) returns the same queue, so an enqueue wakes
    /// the idle workers of any of them.
    pub fn queue(&self) -> &repo::Queue {
        &self.queue
    }

    #[cfg(feature = "repo")]
    /// The feature flags (every change audited).
    pub fn flags(&self) -> repo::Flags {
        repo::Flags::new(self.pool.clone())
    }

    #[cfg(feature = "repo")]
    /// The searches, their results and scraping jobs; a job's queue task goes on
    /// [`Database::queue`], in the same transaction as the job.
    pub fn searches(&self) -> repo::Searches {
        repo::Searches::new(self.queue.clone())
    }

    #[cfg(feature = "repo")]
    /// The append-only audit log.
    pub fn audit(&self) -> repo::Audit {
        repo::Audit::new(self.pool.clone())
    }

    #[cfg(feature = "repo")]
    /// The sessions and their lifecycle.
    pub fn sessions(&self) -> repo::Sessions {
        repo::Sessions::new(self.pool.clone())
    }

    #[cfg(feature = "repo")]
    /// The agents registry.
    pub fn agents(&self) -> repo::Agents {
        repo::Agents::new(self.pool.clone())
    }

    #[cfg(feature = "repo")]
    /// Checkpoints of long-running work.
    pub fn checkpoints(&self) -> repo::Checkpoints {
        repo::Checkpoints::new(self.pool.clone())
    }

    #[cfg(feature = "repo")]
    /// Namespaced memory entries.
    pub fn memory(&self) -> repo::Memory {
        repo::Memory::new(self.pool.clone())
    }

    #[cfg(feature = "repo")]
    /// Metrics samples and their aggregates.
    pub fn metrics(&self) -> repo::Metrics {
        repo::Metrics::new(self.pool.clone())
    }

    #[cfg(feature = "repo")]
    /// Per-task key/value state.
    pub fn task_state(&self) -> repo::TaskState {
        repo::TaskState::new(self.pool.clone())
    }

    /// The migration set the database was opened with, if any.
    pub fn migrations(&self) -> Option<&MigrationSet> {
        self.migrations.as_deref()
    }

    /// Applies the pending migrations of the set the database was opened with, in one
    /// transaction, after a snapshot of the file when `schema.snapshot` is on. Opening
    /// already applies them; this is for migrations that became pending later (after a
    /// [`Database::rollback`]). Without a set (opened with [`Migrations::None`]) it is
    /// E6040.
    pub async fn migrate(&self) -> Result<UpReport> {
        let set = self.require_migrations("migrate")?;
        let options = schema::UpOptions {
            to: None,
            dry_run: false,
            snapshot: self.pool.config().schema.snapshot,
            snapshot_keep: self.pool.config().schema.snapshot_keep,
        };
        self.pool.exclusive(move |conn| schema::up(conn, &set, &options)).await
    }

    /// Rolls the database back with the down files of its migration set:
    /// `DownTarget::To(v)` reverts every migration newer than `v` (`To(0)` reverts
    /// all), `DownTarget::Steps(n)` the newest `n`. All or nothing, in one
    /// transaction, after a snapshot when `schema.snapshot` is on; a migration without
    /// a down file is E3006 and nothing is reverted. Without a set it is E6040.
    pub async fn rollback(&self, target: DownTarget) -> Result<DownReport> {
        let set = self.require_migrations("rollback")?;
        let options = schema::DownOptions {
            target,
            dry_run: false,
            snapshot: self.pool.config().schema.snapshot,
            snapshot_keep: self.pool.config().schema.snapshot_keep,
        };
        self.pool.exclusive(move |conn| schema::down(conn, &set, &options)).await
    }

    /// Where every migration of the set (and of the history) stands: applied,
    /// pending, divergent, missing or out of order. Runs on a reader. Without a set it
    /// is E6040.
    pub async fn migration_status(&self) -> Result<MigrationStatus> {
        let set = self.require_migrations("migration status")?;
        self.pool.read(move |conn| schema::status(conn, &set)).await
    }

    /// The set the database was opened with, or E6040 naming `action`.
    fn require_migrations(&self, action: &'static str) -> Result<Arc<MigrationSet>> {
        self.migrations.clone().ok_or(Error::NoMigrationSet { action })
    }

    /// What opening did: created, migrated, drift.
    pub fn open_report(&self) -> &OpenReport {
        &self.report
    }

    #[cfg(feature = "ops")]
    /// The per-statement query statistics, when `monitor.query_stats` is on.
    pub fn query_stats(&self) -> Option<&ops::QueryStats> {
        self.stats.as_ref()
    }

    #[cfg(feature = "ops")]
    /// The background monitor, when `monitor.enabled` is on.
    pub fn monitor(&self) -> Option<&ops::Monitor> {
        self.monitor.as_deref()
    }

    #[cfg(feature = "repo")]
    /// The TTL cache, with the limits of the `[cache]` config section.
    pub fn cache(&self) -> &repo::Cache {
        &self.cache
    }

    #[cfg(feature = "repo")]
    /// The rate limits, with the quotas of the `[ratelimit]` config section.
    pub fn rate_limits(&self) -> &repo::RateLimits {
        &self.rate_limits
    }

    #[cfg(feature = "repo")]
    /// The cache's background sweeper, when `cache.sweeper` is on and the database has
    /// a `cache` table.
    pub fn sweeper(&self) -> Option<&repo::Sweeper> {
        self.sweeper.as_deref()
    }

    #[cfg(feature = "ops")]
    /// A health report of the live database (`quick_check`, or `integrity_check` at
    /// [`ops::CheckLevel::Full`]) with the thresholds of `monitor` in the config.
    pub async fn health(&self, level: ops::CheckLevel) -> Result<ops::HealthReport> {
        let options = ops::HealthOptions::from_config(level, self.pool.config());
        ops::check(&self.pool, &options).await
    }

    #[cfg(feature = "ops")]
    /// A verified online backup into the configured directory (`backup.dir`, or
    /// `backups/` beside the database).
    pub async fn backup(&self) -> Result<ops::BackupReport> {
        let dir = ops::backup::default_dir(&self.pool);
        ops::backup::create(&self.pool, &dir, None).await
    }

    /// Stops the monitor and the cache's sweeper, exports the query statistics beside
    /// the database, stops new work, finishes work in flight, optimises and
    /// checkpoints, and closes every connection.
    pub async fn close(&self) -> Result<CloseReport> {
        #[cfg(feature = "ops")]
        if let Some(monitor) = &self.monitor {
            monitor.stop().await;
        }
        #[cfg(feature = "repo")]
        if let Some(sweeper) = &self.sweeper {
            sweeper.stop().await;
        }
        #[cfg(feature = "ops")]
        if let Some(stats) = &self.stats {
            let path = ops::stats::export_path(self.pool.path());
            if let Err(err) = stats.export(&path) {
                tracing::warn!(target: "strata", error = %err, "query statistics not exported");
            }
        }
        self.pool.close().await
    }
}

/// `Worker::builder(&db)`: a worker on the database's queue.
#[cfg(feature = "repo")]
impl From<&Database> for Queue {
    fn from(db: &Database) -> Queue {
        db.queue.clone()
    }
}

/// Applies the pending migrations of `set`, then runs the drift check per policy.
async fn prepare_schema(
    pool: &Pool,
    config: &Config,
    set: Arc<MigrationSet>,
    report: &mut OpenReport,
) -> Result<()> {
    let options = schema::UpOptions {
        to: None,
        dry_run: false,
        snapshot: config.schema.snapshot && !report.created,
        snapshot_keep: config.schema.snapshot_keep,
    };
    let up_set = Arc::clone(&set);
    report.migrated = Some(pool.exclusive(move |conn| schema::up(conn, &up_set, &options)).await?);
    if config.schema.drift == DriftPolicy::Off {
        return Ok(());
    }
    let drift = pool.read(move |conn| schema::drift_check(conn, &set)).await?;
    if !drift.is_clean() {
        if config.schema.drift == DriftPolicy::Error {
            // A report with changes always turns into the E3014 error here.
            return drift.into_result().map(drop);
        }
        tracing::warn!(
            target: "strata::schema",
            changes = drift.changes.len(),
            diff = %schema::render(&drift.changes),
            "schema drift: the database differs from its migrations"
        );
    }
    report.drift = Some(drift);
    Ok(())
}
