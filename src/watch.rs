//! `Database::watch_schema`: notices a schema change made by any process, and re-plans.
//!
//! A background task reads `PRAGMA schema_version` (a read of the file header, on a
//! reader) every interval. When it moved and the introspected schema differs, the task
//! emits a [`SchemaEvent`]: the diff, the drift check against the migration set (when
//! the database has applied migrations), `ANALYZE` of the changed tables and `PRAGMA
//! optimize` on the writer, and the advisor's index recommendations for the
//! application's SELECTs seen so far by the query statistics, which it also logs.

use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;
use strata_schema::{Change, ObjectKind, Schema, introspect};
use tokio::sync::mpsc;

use crate::{Database, DriftReport, MigrationSet, Pool, Result, ops, schema};

/// The schema cookie: SQLite increments it on every schema change, by any connection.
const SCHEMA_VERSION: &str = "PRAGMA schema_version";
/// Lets SQLite re-analyse what its statistics say is stale, after the per-table ANALYZE.
const OPTIMIZE: &str = "PRAGMA optimize";
/// The statement that gathers the planner's statistics of one table (name appended, quoted).
const ANALYZE: &str = "ANALYZE ";
/// The application's slowest SELECTs the advisor looks at after a change.
const ADVISED_SELECTS: usize = 10;

/// How [`Database::watch_schema_with`] watches.
#[derive(Debug, Clone)]
pub struct WatchOptions {
    /// How often `PRAGMA schema_version` is read.
    pub interval: Duration,
    /// The set to re-run the drift check against; `None`: no drift check.
    pub migrations: Option<Arc<MigrationSet>>,
    /// Run `ANALYZE` on the changed tables and `PRAGMA optimize` (needs the writer;
    /// skipped on a read-only database).
    pub optimize: bool,
}

impl Default for WatchOptions {
    fn default() -> Self {
        WatchOptions { interval: Duration::from_secs(1), migrations: None, optimize: true }
    }
}

/// One schema change, as the watcher saw it.
#[derive(Debug, Clone, Serialize)]
pub struct SchemaEvent {
    /// `PRAGMA schema_version` before the change.
    pub previous_version: i64,
    /// `PRAGMA schema_version` after it.
    pub schema_version: i64,
    /// The new schema's fingerprint.
    pub fingerprint: String,
    /// Tables, columns, indexes, triggers and views added, dropped or altered.
    pub changes: Vec<Change>,
    /// The tables `ANALYZE` ran on (changed tables that still exist).
    pub analyzed: Vec<String>,
    /// Whether `ANALYZE` and `PRAGMA optimize` ran.
    pub optimized: bool,
    /// The drift check against the migration set, when there is one and the database
    /// has applied migrations.
    pub drift: Option<DriftReport>,
    /// `CREATE INDEX` statements the advisor recommends for the application's SELECTs
    /// seen so far (needs `monitor.query_stats`).
    pub recommendations: Vec<String>,
}

/// A running schema watcher: [`SchemaWatch::next`] waits for the next event. Dropping
/// it stops the watcher.
#[derive(Debug)]
pub struct SchemaWatch {
    events: mpsc::Receiver<Result<SchemaEvent>>,
    task: tokio::task::JoinHandle<()>,
    schema_version: i64,
    fingerprint: String,
}

impl SchemaWatch {
    /// The next schema change (or an error reading the database; the watcher goes on
    /// unless the pool closed); `None` once the watcher ended.
    pub async fn next(&mut self) -> Option<Result<SchemaEvent>> {
        self.events.recv().await
    }

    /// `PRAGMA schema_version` when the watch started.
    pub fn schema_version(&self) -> i64 {
        self.schema_version
    }

    /// The schema's fingerprint when the watch started.
    pub fn fingerprint(&self) -> &str {
        &self.fingerprint
    }
}

impl Drop for SchemaWatch {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Database {
    /// Watches the schema for changes by any process, every second, with the drift
    /// check against the set the database was opened with. See [`WatchOptions`].
    pub async fn watch_schema(&self) -> Result<SchemaWatch> {
        self.watch_schema_with(WatchOptions {
            migrations: self.migrations.clone(),
            ..WatchOptions::default()
        })
        .await
    }

    /// Watches the schema with `options`. The schema is read before this returns, so
    /// a change made after it is reported.
    pub async fn watch_schema_with(&self, options: WatchOptions) -> Result<SchemaWatch> {
        let pool = self.pool.clone();
        let (schema_version, schema) = read_schema(&pool).await?;
        let fingerprint = schema.fingerprint();
        let (tx, events) = mpsc::channel(16);
        let stats = self.stats.clone();
        let task = tokio::spawn(watch(pool, options, stats, schema_version, schema, tx));
        Ok(SchemaWatch { events, task, schema_version, fingerprint })
    }
}

async fn watch(
    pool: Pool,
    options: WatchOptions,
    stats: Option<ops::QueryStats>,
    mut version: i64,
    mut schema: Schema,
    tx: mpsc::Sender<Result<SchemaEvent>>,
) {
    let mut ticks = tokio::time::interval(options.interval);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        if pool.is_closed() {
            return;
        }
        let read = pool.read_inline(|c| Ok(c.query_row(SCHEMA_VERSION, [], |r| r.get::<_, i64>(0))?)).await;
        match read {
            Ok(now) if now == version => continue,
            Ok(_) => {}
            Err(err) => {
                if tx.send(Err(err)).await.is_err() {
                    return;
                }
                continue;
            }
        }
        match changed(&pool, &options, stats.as_ref(), version, &schema).await {
            Ok((next_version, next_schema, event)) => {
                version = next_version;
                schema = next_schema;
                if let Some(event) = event {
                    tracing::info!(
                        target: "strata::watch",
                        schema_version = event.schema_version,
                        changes = event.changes.len(),
                        analyzed = ?event.analyzed,
                        "schema changed:\n{}",
                        schema::render(&event.changes)
                    );
                    for create in &event.recommendations {
                        tracing::info!(target: "strata::watch", "advisor recommends: {create}");
                    }
                    if tx.send(Ok(event)).await.is_err() {
                        return;
                    }
                }
            }
            Err(err) => {
                if tx.send(Err(err)).await.is_err() {
                    return;
                }
            }
        }
    }
}

/// The version and schema to watch from next, and the event for the change from
/// `version` to now (`None` when only the cookie moved, as a VACUUM or a first
/// ANALYZE elsewhere makes it).
async fn changed(
    pool: &Pool,
    options: &WatchOptions,
    stats: Option<&ops::QueryStats>,
    version: i64,
    old: &Schema,
) -> Result<(i64, Schema, Option<SchemaEvent>)> {
    let (now, new) = read_schema(pool).await?;
    let changes = schema::diff(old, &new);
    if changes.is_empty() {
        return Ok((now, new, None));
    }
    let tables = changed_tables(&changes, old, &new);
    let optimized = options.optimize && !pool.is_read_only();
    let mut watch_from = now;
    if optimized {
        let to_analyze = tables.clone();
        pool.write(move |c| {
            for table in &to_analyze {
                c.execute_batch(&format!("{ANALYZE}\"{}\"", table.replace('"', "\"\"")))?;
            }
            c.execute_batch(OPTIMIZE)?;
            Ok(())
        })
        .await?;
        // The first ANALYZE creates sqlite_stat1, which moves the cookie: watch from
        // after it, unless another process changed the schema meanwhile.
        let (after, again) = read_schema(pool).await?;
        if again == new {
            watch_from = after;
        }
    }
    let drift = match &options.migrations {
        Some(set) => {
            let set = Arc::clone(set);
            pool.read(move |c| {
                if schema::applied_migrations(c)?.is_empty() {
                    return Ok(None);
                }
                Ok(Some(schema::drift_check(c, &set)?))
            })
            .await?
        }
        None => None,
    };
    let recommendations = match stats {
        Some(stats) => advise(pool, stats).await?,
        None => Vec::new(),
    };
    let event = SchemaEvent {
        previous_version: version,
        schema_version: now,
        fingerprint: new.fingerprint(),
        changes,
        analyzed: if optimized { tables } else { Vec::new() },
        optimized,
        drift,
        recommendations,
    };
    Ok((watch_from, new, Some(event)))
}

/// `PRAGMA schema_version` and the schema, read in one read transaction.
async fn read_schema(pool: &Pool) -> Result<(i64, Schema)> {
    pool.read(|c| {
        let tx = c.unchecked_transaction()?;
        let version: i64 = tx.query_row(SCHEMA_VERSION, [], |r| r.get(0))?;
        let schema = introspect(&tx)?;
        tx.finish()?;
        Ok((version, schema))
    })
    .await
}

/// The tables a change touches that exist in `new`, by name.
fn changed_tables(changes: &[Change], old: &Schema, new: &Schema) -> Vec<String> {
    let index_table =
        |name: &str| new.indexes.iter().chain(&old.indexes).find(|i| i.name == name).map(|i| i.table.clone());
    let mut tables: Vec<String> = changes
        .iter()
        .filter_map(|c| match c.object {
            ObjectKind::Table | ObjectKind::Constraint => Some(c.name.clone()),
            ObjectKind::Column => c.name.split_once('.').map(|(t, _)| t.to_string()),
            ObjectKind::Index => index_table(&c.name),
            ObjectKind::Trigger | ObjectKind::View => None,
        })
        .filter(|t| new.table(t).is_some())
        .collect();
    tables.sort();
    tables.dedup();
    tables
}

/// The advisor's `CREATE INDEX` statements for the application's slowest SELECTs.
async fn advise(pool: &Pool, stats: &ops::QueryStats) -> Result<Vec<String>> {
    let queries: Vec<String> = stats
        .report()
        .only(ops::Origin::Application)
        .statements
        .into_iter()
        .filter(|s| s.sql.trim_start().to_ascii_uppercase().starts_with("SELECT"))
        .take(ADVISED_SELECTS)
        .map(|s| s.sql)
        .collect();
    if queries.is_empty() {
        return Ok(Vec::new());
    }
    let report = ops::advise(pool, queries, ops::AdviseOptions::default()).await?;
    Ok(report.indexes.into_iter().map(|r| r.create_sql).collect())
}
