//! Metrics: timestamped samples of named series with JSON labels (table `metrics`,
//! migration V6): record one or many (chunked), read a series over a time range in
//! time order, aggregate a range, and drop old samples. Times are UTC
//! `OffsetDateTime`s, stored as integer milliseconds; every operation runs in its
//! `strata.op` span (`metrics.<op>`, table `metrics`).
//!
//! Every sample carries a unique id (`uid`, 128 random bits made at record time,
//! migration V12). [`Metrics::record`] and [`Metrics::record_batch`] retry busy and
//! transient failures with the retry policy; when the budget is spent or the pool is
//! degraded, the samples go to the spill file beside the database
//! (`<db>.metrics-spill.jsonl`, the crate's generic spill file, `spill.rs`) and are
//! replayed, in order and exactly once (by uid), when the pool is healthy again: by
//! the replayer the facade starts ([`crate::spill::spawn_replayer`]), by the next
//! record, or by [`Metrics::replay`] (`strata metrics replay`).

use std::path::{Path, PathBuf};

use rusqlite::{Connection, OptionalExtension, Row, params};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use strata_core::{Error, Result};
use strata_pool::{Affected, Pool, operation};
use time::OffsetDateTime;

use crate::clock::{to_datetime, to_millis};
use crate::row::{json_column, json_text, plus_one};
use crate::spill::{self, ReplayReport, SpillContents, SpillKind, SpillLine, Written};
use crate::{Page, PageRequest};

/// Rows written per write closure by [`Metrics::record_batch`].
pub const BATCH_CHUNK: usize = 500;

/// One row of `metrics`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Metric {
    /// The sample's id.
    pub id: i64,
    /// When it was taken (UTC, millisecond precision; RFC 3339 in JSON).
    #[serde(with = "time::serde::rfc3339")]
    pub ts: OffsetDateTime,
    /// The series (never empty).
    pub name: String,
    /// The value.
    pub value: f64,
    /// Labels, a JSON value (`{}` by default).
    pub labels: Value,
    /// The sample's unique id, made when it was recorded (32 lowercase hex digits,
    /// column `uid`, migration V12); `None` for samples recorded before V12.
    pub uid: Option<String>,
}

strata_pool::one_row!(Metric);

/// A sample to record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NewMetric {
    /// When it was taken (stored to the millisecond; RFC 3339 in JSON).
    #[serde(with = "time::serde::rfc3339")]
    pub ts: OffsetDateTime,
    /// The series (an empty name is refused by a CHECK, E4001).
    pub name: String,
    /// The value.
    pub value: f64,
    /// Labels, a JSON value.
    pub labels: Value,
}

impl NewMetric {
    /// A sample of `name` taken now, without labels.
    pub fn now(name: impl Into<String>, value: f64) -> Self {
        NewMetric::at(OffsetDateTime::now_utc(), name, value)
    }

    /// A sample of `name` taken at `ts`, without labels.
    pub fn at(ts: OffsetDateTime, name: impl Into<String>, value: f64) -> Self {
        NewMetric { ts, name: name.into(), value, labels: Value::Object(serde_json::Map::new()) }
    }

    /// Sets the labels.
    pub fn labels(mut self, labels: Value) -> Self {
        self.labels = labels;
        self
    }
}

/// count/min/max/avg/sum of a series over a time range; min, max, avg and sum are
/// `None` when the range holds no sample.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Aggregate {
    /// How many samples.
    pub count: i64,
    /// The smallest value.
    pub min: Option<f64>,
    /// The largest value.
    pub max: Option<f64>,
    /// The mean value.
    pub avg: Option<f64>,
    /// The sum of the values.
    pub sum: Option<f64>,
}

/// An aggregate stands for the samples it summarises in the operation log.
impl Affected for Aggregate {
    fn affected(&self) -> u64 {
        u64::try_from(self.count).unwrap_or(0)
    }
}

/// One line of the metrics spill file: a sample as `record` was given it, with the
/// uid it was made with.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SpilledMetric {
    /// The sample's unique id (column `uid`): 32 lowercase hex digits.
    pub uid: String,
    /// When it was taken (ms since the Unix epoch).
    pub ts: i64,
    /// The series.
    pub name: String,
    /// The value.
    pub value: f64,
    /// Labels, a JSON value.
    #[serde(default)]
    pub labels: Value,
}

impl SpilledMetric {
    /// `sample` with a new uid.
    fn made_now(sample: NewMetric) -> SpilledMetric {
        SpilledMetric {
            uid: spill::new_uid(),
            ts: to_millis(sample.ts),
            name: sample.name,
            value: sample.value,
            labels: sample.labels,
        }
    }
}

/// What the metrics spill file holds ([`Metrics::pending`], [`inspect_spill`]).
pub type MetricSpillContents = SpillContents<SpilledMetric>;

/// The metrics spill file of the database at `db`: `<db>.metrics-spill.jsonl` beside it.
pub fn spill_path(db: &Path) -> PathBuf {
    SpillKind::Metrics.path(db)
}

/// Reads the metrics spill file at `path` (nothing when it does not exist), under a
/// shared lock, without replaying it.
pub fn inspect_spill(path: &Path) -> Result<MetricSpillContents> {
    spill::inspect(path)
}

/// Inserts a replayed sample unless its uid is already in `metrics`.
const INSERT_REPLAYED: &str = "INSERT INTO metrics (ts, name, value, labels, uid) \
     SELECT ?1, ?2, ?3, ?4, ?5 WHERE NOT EXISTS (SELECT 1 FROM metrics WHERE uid = ?5)";

impl SpillLine for SpilledMetric {
    const KIND: SpillKind = SpillKind::Metrics;

    fn uid(&self) -> &str {
        &self.uid
    }

    /// The table's CHECK on the name, and a finite value: JSON has no NaN or infinity,
    /// so such a sample could not be read back from the file (E6001).
    fn check(&self) -> Result<()> {
        if self.name.is_empty() {
            return spill::refused("name <> ''");
        }
        if !self.value.is_finite() {
            return Err(Error::invalid("value", format!("{} cannot be kept in the spill file", self.value)));
        }
        Ok(())
    }

    const INSERT_REPLAYED: &'static str = INSERT_REPLAYED;

    fn insert_replayed(&self, stmt: &mut rusqlite::CachedStatement<'_>) -> rusqlite::Result<usize> {
        stmt.execute(params![self.ts, self.name, self.value, json_text(&self.labels), self.uid])
    }
}

/// What [`Metrics::record`] did with a sample. Either way the sample is durable and
/// will be in the table exactly once: a spilled sample is replayed, in order, once
/// the database is back.
#[derive(Debug, Clone, PartialEq)]
pub enum Recorded {
    /// The sample is in the table: its row id.
    Stored(i64),
    /// The database could not take it (the retry policy was spent on busy or
    /// transient failures, or the pool is degraded or unavailable), so the sample was
    /// written to the spill file and fsynced.
    Spilled {
        /// The sample as written to the spill file, uid included.
        sample: SpilledMetric,
        /// The spill file.
        path: PathBuf,
        /// The error that made it spill, as `code message`.
        cause: String,
    },
}

impl Recorded {
    /// The row id, when the sample went to the table.
    pub fn id(&self) -> Option<i64> {
        match self {
            Recorded::Stored(id) => Some(*id),
            Recorded::Spilled { .. } => None,
        }
    }

    /// Whether the sample went to the spill file.
    pub fn is_spilled(&self) -> bool {
        matches!(self, Recorded::Spilled { .. })
    }
}

/// A recorded sample: one row in the operation log.
impl Affected for Recorded {
    fn affected(&self) -> u64 {
        1
    }
}

/// What [`Metrics::record_batch`] did with its samples: how many went to the table,
/// and how many (the chunks from the first that the database could not take on) to
/// the spill file.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct RecordedBatch {
    /// Samples in the table.
    pub stored: usize,
    /// Samples in the spill file, waiting for replay.
    pub spilled: usize,
    /// Why they spilled (`code message`), when some did.
    pub cause: Option<String>,
}

impl RecordedBatch {
    /// Every sample taken, stored or spilled.
    pub fn total(&self) -> usize {
        self.stored + self.spilled
    }
}

/// The samples taken: rows in the operation log.
impl Affected for RecordedBatch {
    fn affected(&self) -> u64 {
        self.total() as u64
    }
}

/// The metrics repository.
#[derive(Debug, Clone)]
pub struct Metrics {
    pool: Pool,
    /// The spill file, `<db>.metrics-spill.jsonl`.
    spill: PathBuf,
}

const INSERT_METRIC: &str = "INSERT INTO metrics (ts, name, value, labels, uid) VALUES (?1, ?2, ?3, ?4, ?5)";

/// Inserts `samples` on `conn` (inside the caller's write), with their own uids;
/// answers the last row id.
fn insert(conn: &Connection, samples: &[SpilledMetric]) -> Result<i64> {
    let mut stmt = conn.prepare_cached(INSERT_METRIC)?;
    for s in samples {
        stmt.execute(params![s.ts, s.name, s.value, json_text(&s.labels), s.uid])?;
    }
    Ok(conn.last_insert_rowid())
}

impl Metrics {
    /// The repository over `pool`. Its spill file is `<db>.metrics-spill.jsonl`
    /// ([`spill_path`]), bounded by the pool's `metrics.spill_max_bytes`.
    pub fn new(pool: Pool) -> Self {
        let spill = spill_path(pool.path());
        Metrics { pool, spill }
    }

    /// Records one sample and answers where it went ([`Recorded`]).
    ///
    /// Busy and transient failures are retried with the config's retry policy
    /// (`[retry]`). When that budget is spent, or the pool is degraded or unavailable
    /// (E2040, a full disk, a read-only volume, an i/o error), the sample is written
    /// to the spill file instead and the call answers `Ok(Recorded::Spilled)`; a full
    /// spill file is E5052. While the spill file holds samples, they are replayed
    /// first, so the table keeps their order. A sample the table refuses (an empty
    /// name) is E4001 whether or not the database is reachable.
    pub async fn record(&self, sample: NewMetric) -> Result<Recorded> {
        operation("metrics.record", "metrics", async move {
            let line = SpilledMetric::made_now(sample);
            Ok(match spill::write_or_spill(&self.pool, vec![line.clone()], insert).await? {
                Written::Stored(id) => Recorded::Stored(id),
                Written::Spilled { cause } => {
                    Recorded::Spilled { sample: line, path: self.spill.clone(), cause }
                }
            })
        })
        .await
    }

    /// Records `samples` in writes of [`BATCH_CHUNK`] rows, each chunk atomic, and
    /// answers how many went to the table and how many to the spill file. A chunk
    /// goes to the spill file as [`Metrics::record`]'s sample does (one write of its
    /// lines, all or nothing), and so do all chunks after it, to keep their order.
    /// When a chunk fails otherwise (or does not fit in the spill file, E5052), the
    /// chunks before it stay taken and the error names nothing else.
    pub async fn record_batch(&self, samples: Vec<NewMetric>) -> Result<RecordedBatch> {
        operation("metrics.record_batch", "metrics", async move {
            let mut done = RecordedBatch::default();
            let lines: Vec<SpilledMetric> = samples.into_iter().map(SpilledMetric::made_now).collect();
            for chunk in lines.chunks(BATCH_CHUNK) {
                let chunk = chunk.to_vec();
                let n = chunk.len();
                if let Some(cause) = &done.cause {
                    spill::spill::<_, ()>(&self.pool, &self.spill, chunk, cause.clone()).await?;
                    done.spilled += n;
                    continue;
                }
                match spill::write_or_spill(&self.pool, chunk, insert).await? {
                    Written::Stored(_) => done.stored += n,
                    Written::Spilled { cause } => {
                        done.spilled += n;
                        done.cause = Some(cause);
                    }
                }
            }
            Ok(done)
        })
        .await
    }

    /// The spill file of this repository's database.
    pub fn spill_path(&self) -> &Path {
        &self.spill
    }

    /// Replays the spill file into the table now: every whole sample, in order, each
    /// once (a uid already in the table is skipped); damaged lines are reported (E5053)
    /// and kept in `<spill>.damaged`; the file is truncated only after everything is
    /// committed. Without a spill file the report is empty. An error (the database
    /// still unavailable) leaves the file for the next replay.
    pub async fn replay(&self) -> Result<ReplayReport> {
        operation("metrics.replay", "metrics", spill::replay::<SpilledMetric>(&self.pool, &self.spill)).await
    }

    /// What the spill file holds, without replaying it.
    pub async fn pending(&self) -> Result<MetricSpillContents> {
        operation("metrics.pending", "metrics", spill::inspect_async(&self.spill)).await
    }

    const METRIC_CURSOR_TS: &str = "SELECT ts FROM metrics WHERE id = ?1";

    const SERIES_RANGE: &str = "SELECT id, ts, name, value, labels, uid FROM metrics \
         WHERE name = ?1 AND ts >= ?2 AND ts < ?3 AND (ts, id) > (?4, ?5) \
         ORDER BY ts, id LIMIT +?6";

    /// The samples of series `name` with `from <= ts < to`, in time order (ties by
    /// id), keyset-paginated (the cursor is the last sample's id). A cursor whose
    /// sample was purged since is E6001.
    pub async fn range(
        &self,
        name: &str,
        from: OffsetDateTime,
        to: OffsetDateTime,
        page: PageRequest,
    ) -> Result<Page<Metric>> {
        operation("metrics.range", "metrics", self.read_range(name, to_millis(from), to_millis(to), page))
            .await
    }

    async fn read_range(&self, name: &str, from: i64, to: i64, page: PageRequest) -> Result<Page<Metric>> {
        let limit = page.sql_limit()?;
        let name = name.to_owned();
        self.pool
            .read(move |conn| {
                let (cursor_ts, cursor_id) = match page.after {
                    None => (i64::MIN, i64::MIN),
                    Some(id) => {
                        let ts: i64 = conn
                            .prepare_cached(Self::METRIC_CURSOR_TS)?
                            .query_row([id], |r| r.get(0))
                            .optional()?
                            .ok_or_else(|| Error::invalid("after", format!("no metric sample {id}")))?;
                        (ts, id)
                    }
                };
                // Start the index seek at the cursor's ts, not at `from`.
                let from = from.max(cursor_ts);
                let mut stmt = conn.prepare_cached(Self::SERIES_RANGE)?;
                let rows = stmt
                    .query_map(params![name, from, to, cursor_ts, cursor_id, plus_one(limit)], metric)?
                    .collect::<rusqlite::Result<Vec<_>>>()?;
                Ok(Page::from_rows(rows, page.limit, |m| m.id))
            })
            .await
    }

    const SERIES_AGGREGATE: &str = "SELECT count(*), min(value), max(value), avg(value), sum(value) \
         FROM metrics WHERE name = ?1 AND ts >= ?2 AND ts < ?3";

    /// count/min/max/avg/sum of series `name` over `from <= ts < to`.
    pub async fn aggregate(&self, name: &str, from: OffsetDateTime, to: OffsetDateTime) -> Result<Aggregate> {
        let name = name.to_owned();
        let (from, to) = (to_millis(from), to_millis(to));
        let read = self.pool.read(move |conn| {
            Ok(conn.prepare_cached(Self::SERIES_AGGREGATE)?.query_row(params![name, from, to], |r| {
                Ok(Aggregate {
                    count: r.get(0)?,
                    min: r.get(1)?,
                    max: r.get(2)?,
                    avg: r.get(3)?,
                    sum: r.get(4)?,
                })
            })?)
        });
        operation("metrics.aggregate", "metrics", read).await
    }

    const PURGE_BEFORE: &str =
        "DELETE FROM metrics WHERE id IN (SELECT id FROM metrics WHERE ts < ?1 LIMIT +?2)";

    /// Deletes every sample (of every series) taken before `ts`, in writes of
    /// [`BATCH_CHUNK`] rows so the writer is never held long, and returns how many
    /// went: the retention of the metrics table.
    pub async fn purge_before(&self, ts: OffsetDateTime) -> Result<usize> {
        let ts = to_millis(ts);
        operation("metrics.purge_before", "metrics", async move {
            let mut purged = 0;
            loop {
                let chunk = BATCH_CHUNK as i64;
                let deleted = self
                    .pool
                    .write(move |conn| {
                        Ok(conn.prepare_cached(Self::PURGE_BEFORE)?.execute(params![ts, chunk])?)
                    })
                    .await?;
                purged += deleted;
                if deleted < BATCH_CHUNK {
                    return Ok(purged);
                }
            }
        })
        .await
    }
}

/// Every statement this module issues, for the explain test.
pub(crate) const STATEMENTS: &[(&str, &str)] = &[
    ("metrics.record", INSERT_METRIC),
    ("metrics.cursor_ts", Metrics::METRIC_CURSOR_TS),
    ("metrics.range", Metrics::SERIES_RANGE),
    ("metrics.aggregate", Metrics::SERIES_AGGREGATE),
    ("metrics.purge_before", Metrics::PURGE_BEFORE),
    ("metrics.replay_insert", INSERT_REPLAYED),
];

fn metric(row: &Row<'_>) -> rusqlite::Result<Metric> {
    Ok(Metric {
        id: row.get(0)?,
        ts: to_datetime(row.get(1)?),
        name: row.get(2)?,
        value: row.get(3)?,
        labels: json_column(row, 4)?,
        uid: row.get(5)?,
    })
}
