//! Metrics: timestamped samples of named series with JSON labels (table `metrics`,
//! migration V6): record one or many (chunked), read a series over a time range in
//! time order, aggregate a range, and drop old samples. Times are UTC
//! `OffsetDateTime`s, stored as integer milliseconds; every operation runs in its
//! `strata.op` span (`metrics.<op>`, table `metrics`).

use rusqlite::{OptionalExtension, Row, params};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use strata_core::{Error, Result};
use strata_pool::{Affected, Pool, operation};
use time::OffsetDateTime;

use crate::clock::{to_datetime, to_millis};
use crate::row::{json_column, json_text, plus_one};
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

/// The id of a recorded sample: one row in the operation log.
struct RecordedId(i64);

impl Affected for RecordedId {
    fn affected(&self) -> u64 {
        1
    }
}

/// The metrics repository.
#[derive(Debug, Clone)]
pub struct Metrics {
    pool: Pool,
}

const INSERT_METRIC: &str = "INSERT INTO metrics (ts, name, value, labels) VALUES (?1, ?2, ?3, ?4)";

impl Metrics {
    /// The repository over `pool`.
    pub fn new(pool: Pool) -> Self {
        Metrics { pool }
    }

    /// Records one sample and returns its id.
    pub async fn record(&self, sample: NewMetric) -> Result<i64> {
        let labels = json_text(&sample.labels);
        let ts = to_millis(sample.ts);
        let write = self.pool.write(move |conn| {
            conn.prepare_cached(INSERT_METRIC)?.execute(params![ts, sample.name, sample.value, labels])?;
            Ok(RecordedId(conn.last_insert_rowid()))
        });
        operation("metrics.record", "metrics", write).await.map(|RecordedId(id)| id)
    }

    /// Records `samples` in writes of [`BATCH_CHUNK`] rows and returns how many were
    /// written. Each chunk is atomic; when a chunk fails, the chunks before it stay
    /// written and the error names nothing else (the count is lost with it).
    pub async fn record_batch(&self, samples: Vec<NewMetric>) -> Result<usize> {
        operation("metrics.record_batch", "metrics", async move {
            let mut written = 0;
            for chunk in samples.chunks(BATCH_CHUNK) {
                let rows: Vec<(i64, String, f64, String)> = chunk
                    .iter()
                    .map(|s| (to_millis(s.ts), s.name.clone(), s.value, json_text(&s.labels)))
                    .collect();
                written += self
                    .pool
                    .write(move |conn| {
                        let mut stmt = conn.prepare_cached(INSERT_METRIC)?;
                        for (ts, name, value, labels) in &rows {
                            stmt.execute(params![ts, name, value, labels])?;
                        }
                        Ok(rows.len())
                    })
                    .await?;
            }
            Ok(written)
        })
        .await
    }

    const METRIC_CURSOR_TS: &str = "SELECT ts FROM metrics WHERE id = ?1";

    const SERIES_RANGE: &str = "SELECT id, ts, name, value, labels FROM metrics \
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
];

fn metric(row: &Row<'_>) -> rusqlite::Result<Metric> {
    Ok(Metric {
        id: row.get(0)?,
        ts: to_datetime(row.get(1)?),
        name: row.get(2)?,
        value: row.get(3)?,
        labels: json_column(row, 4)?,
    })
}
