//! `/metrics`: the dashboard's view in the Prometheus text exposition format, written
//! by prometheus-client from a registry built fresh for each scrape (the values are
//! the pool's own counters, so nothing is double-counted between scrapes).

use std::fmt::Write;

use prometheus_client::encoding::{EncodeMetric, MetricEncoder, NoLabelSet};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::{ConstGauge, Gauge};
use prometheus_client::metrics::{MetricType, TypedMetric};
use prometheus_client::registry::{Registry, Unit};

use crate::collect::View;

/// Labels of a metric that has them (`queue`, `state`, `statement`, ...).
type Labels = Vec<(String, String)>;

/// The metrics of `view`, as text.
pub fn encode(view: &View) -> Result<String, std::fmt::Error> {
    let mut registry = Registry::with_prefix("strata");
    let pool = &view.pool;
    let gauge = |registry: &mut Registry, name: &str, help: &str, value: i64| {
        registry.register(name, help, ConstGauge::new(value));
    };
    let counter = |registry: &mut Registry, name: &str, help: &str, value: u64| {
        registry.register(name, help, ConstCounter::new(value));
    };
    gauge(&mut registry, "pool_readers_open", "Reader connections open", pool.readers.open as i64);
    gauge(&mut registry, "pool_readers_in_use", "Reader connections lent out", pool.readers.in_use as i64);
    gauge(&mut registry, "pool_readers_waiting", "Callers waiting for a reader", pool.readers.waiting as i64);
    gauge(&mut registry, "pool_readers_max", "Reader connections at most", pool.readers.max as i64);
    gauge(
        &mut registry,
        "pool_writes_queued",
        "Write closures queued for the writer",
        pool.writes_queued as i64,
    );
    counter(&mut registry, "pool_acquires", "Reader acquisitions", pool.reader_acquires);
    counter(&mut registry, "pool_acquire_timeouts", "Acquisitions that timed out", pool.acquire_timeouts);
    counter(&mut registry, "pool_busy_retries", "Batches run again after SQLITE_BUSY", pool.busy_retries);
    counter(&mut registry, "pool_writes", "Write closures committed", pool.writes);
    counter(&mut registry, "pool_failed_writes", "Write closures that failed", pool.failed_writes);
    counter(&mut registry, "pool_batches", "Write batches run", pool.batches);
    counter(&mut registry, "pool_commits", "Transactions committed", pool.commits);
    counter(
        &mut registry,
        "pool_slow_statements",
        "Statements at or above the slow-query threshold",
        pool.slow_statements,
    );
    let mut buckets = Vec::with_capacity(pool.acquire_latency.len());
    let mut count = 0;
    for bucket in &pool.acquire_latency {
        count += bucket.count;
        let bound = bucket.le_us.map_or(f64::MAX, |us| us as f64 / 1e6);
        buckets.push((bound, bucket.count));
    }
    registry.register_with_unit(
        "pool_acquire_wait",
        "Time a caller waited for a connection",
        Unit::Seconds,
        BucketHistogram { sum: pool.acquire_latency_sum_us as f64 / 1e6, count, buckets },
    );

    let status = Family::<Labels, Gauge>::default();
    if let Some(current) = view.status {
        let current = crate::page::status_name(current);
        for name in ["ok", "warning", "critical"] {
            status.get_or_create(&vec![("status".into(), name.into())]).set(i64::from(name == current));
        }
    }
    registry.register("health_status", "1 for the status of the latest health report", status);
    if let Some(storage) = &view.storage {
        gauge_bytes(&mut registry, "database_size", "Size of the database file", storage.db_bytes);
        gauge_bytes(&mut registry, "wal_size", "Size of the -wal file", storage.wal_bytes);
        gauge_bytes(
            &mut registry,
            "freelist_size",
            "Bytes of free pages inside the database",
            storage.freelist_count * storage.page_size,
        );
        if let Some(free) = storage.free_disk_bytes {
            gauge_bytes(&mut registry, "disk_free", "Free space on the database's volume", free);
        }
    }

    let calls = Family::<Labels, Gauge>::default();
    let p95 = Family::<Labels, Gauge<f64, std::sync::atomic::AtomicU64>>::default();
    for statement in &view.statements {
        let labels = vec![("statement".to_string(), short(&statement.sql))];
        calls.get_or_create(&labels).set(statement.count as i64);
        p95.get_or_create(&labels).set(statement.p95_ms / 1000.0);
    }
    registry.register("statement_calls", "Runs of the slowest statements (by p95)", calls);
    if let Some(commits) = &view.commits {
        let quantiles = Family::<Labels, Gauge<f64, std::sync::atomic::AtomicU64>>::default();
        for (q, us) in [("0.5", commits.p50_us), ("0.95", commits.p95_us), ("0.99", commits.p99_us)] {
            quantiles.get_or_create(&vec![("quantile".to_string(), q.to_string())]).set(us / 1e6);
        }
        registry.register_with_unit(
            "commit_latency",
            "Writer COMMIT latency quantiles since the query statistics started",
            Unit::Seconds,
            quantiles,
        );
        registry.register(
            "commits_timed",
            "COMMITs timed by the query statistics",
            ConstCounter::new(commits.count),
        );
    }
    registry.register_with_unit(
        "statement_p95",
        "95th percentile duration of the slowest statements",
        Unit::Seconds,
        p95,
    );

    let tasks = Family::<Labels, Gauge>::default();
    for q in &view.queues {
        for (state, n) in [
            ("pending", q.pending),
            ("running", q.running),
            ("completed", q.completed),
            ("failed", q.failed),
            ("cancelled", q.cancelled),
            ("dead", q.dead),
        ] {
            tasks
                .get_or_create(&vec![("queue".into(), q.queue.clone()), ("state".into(), state.into())])
                .set(n as i64);
        }
    }
    registry.register("queue_tasks", "Tasks per queue and state", tasks);
    if let Some(age) = view.oldest_ready_age_secs {
        registry.register_with_unit(
            "queue_oldest_ready_age",
            "Age of the oldest task ready to claim",
            Unit::Seconds,
            ConstGauge::new(age as i64),
        );
    }
    if let Some(age) =
        view.backups.iter().filter(|b| b.verified == Some(true)).filter_map(|b| b.age_secs).min()
    {
        registry.register_with_unit(
            "backup_last_verified_age",
            "Age of the newest verified backup",
            Unit::Seconds,
            ConstGauge::new(age as i64),
        );
    }
    gauge(
        &mut registry,
        "backups",
        "Backups in the backup directory (the newest few)",
        view.backups.len() as i64,
    );

    let mut text = String::new();
    prometheus_client::encoding::text::encode(&mut text, &registry)?;
    Ok(text)
}

fn gauge_bytes(registry: &mut Registry, name: &str, help: &str, value: u64) {
    registry.register_with_unit(name, help, Unit::Bytes, ConstGauge::new(value as i64));
}

/// A statement as a label value: one line, at most 120 characters.
fn short(sql: &str) -> String {
    let mut one_line = String::new();
    for word in sql.split_whitespace() {
        if !one_line.is_empty() {
            one_line.push(' ');
        }
        let _ = write!(one_line, "{word}");
    }
    match one_line.char_indices().nth(120) {
        Some((at, _)) => format!("{}...", &one_line[..at]),
        None => one_line,
    }
}

/// A histogram whose buckets were counted elsewhere (the pool's acquire latency):
/// prometheus-client's own `Histogram` can only observe values one by one.
#[derive(Debug)]
struct BucketHistogram {
    sum: f64,
    count: u64,
    /// (upper bound, count in this bucket), in order; `f64::MAX` for +Inf.
    buckets: Vec<(f64, u64)>,
}

impl TypedMetric for BucketHistogram {
    const TYPE: MetricType = MetricType::Histogram;
}

impl EncodeMetric for BucketHistogram {
    fn encode(&self, mut encoder: MetricEncoder) -> Result<(), std::fmt::Error> {
        encoder.encode_histogram::<NoLabelSet>(self.sum, self.count, &self.buckets, None)
    }

    fn metric_type(&self) -> MetricType {
        Self::TYPE
    }
}
