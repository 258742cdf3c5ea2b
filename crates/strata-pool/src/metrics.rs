//! Pool metrics: counters the readers and the writer update, an acquire-latency
//! histogram, named counters the layers above register (`Pool::counter`, such as the
//! cache's hits), and the serialisable snapshot `Pool::metrics()` returns.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::Serialize;

/// Upper bounds of the acquire-latency buckets, in microseconds; the last bucket
/// counts everything slower.
pub const LATENCY_BUCKETS_US: [u64; 11] =
    [10, 50, 100, 500, 1_000, 5_000, 10_000, 50_000, 100_000, 500_000, 1_000_000];

/// Live counters; cheap to update from any thread.
#[derive(Default)]
pub(crate) struct Counters {
    pub(crate) reader_acquires: AtomicU64,
    pub(crate) writer_acquires: AtomicU64,
    pub(crate) acquire_timeouts: AtomicU64,
    pub(crate) busy_retries: AtomicU64,
    pub(crate) discarded_readers: AtomicU64,
    pub(crate) writes: AtomicU64,
    pub(crate) failed_writes: AtomicU64,
    pub(crate) panicked_writes: AtomicU64,
    pub(crate) batches: AtomicU64,
    pub(crate) commits: AtomicU64,
    pub(crate) checkpoints: AtomicU64,
    pub(crate) queued_writes: AtomicU64,
    latency: [AtomicU64; LATENCY_BUCKETS_US.len() + 1],
    latency_sum_us: AtomicU64,
    /// The named counters of [`Counters::named`], by name.
    named: Mutex<BTreeMap<&'static str, Arc<AtomicU64>>>,
}

impl Counters {
    pub(crate) fn bump(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn record_acquire(&self, waited: Duration) {
        let micros = waited.as_micros() as u64;
        let bucket =
            LATENCY_BUCKETS_US.iter().position(|&bound| micros <= bound).unwrap_or(LATENCY_BUCKETS_US.len());
        self.latency[bucket].fetch_add(1, Ordering::Relaxed);
        self.latency_sum_us.fetch_add(micros, Ordering::Relaxed);
    }

    /// The named counter `name`, registered on first use: every call with one name
    /// returns the same counter.
    pub(crate) fn named(&self, name: &'static str) -> Arc<AtomicU64> {
        // A panic while this lock is held cannot leave the map half-updated (one
        // insert or clone), so a poisoned lock is still a good map.
        let mut named = self.named.lock().unwrap_or_else(|p| p.into_inner());
        Arc::clone(named.entry(name).or_default())
    }

    fn named_values(&self) -> BTreeMap<String, u64> {
        let named = self.named.lock().unwrap_or_else(|p| p.into_inner());
        named.iter().map(|(name, value)| ((*name).to_owned(), value.load(Ordering::Relaxed))).collect()
    }

    fn latency(&self) -> Vec<LatencyBucket> {
        self.latency
            .iter()
            .enumerate()
            .map(|(i, count)| LatencyBucket {
                le_us: LATENCY_BUCKETS_US.get(i).copied(),
                count: count.load(Ordering::Relaxed),
            })
            .collect()
    }
}

/// A point-in-time copy of the pool's metrics.
#[derive(Debug, Clone, Serialize)]
pub struct MetricsSnapshot {
    /// Reader pool gauges.
    pub readers: ReaderGauges,
    /// Writes waiting in the queue or running now.
    pub writes_queued: u64,
    /// Reader connections handed out.
    pub reader_acquires: u64,
    /// Write closures accepted into the queue.
    pub writer_acquires: u64,
    /// Acquires (reader or writer queue) that ran out of time.
    pub acquire_timeouts: u64,
    /// Times a write batch met Busy and was retried whole.
    pub busy_retries: u64,
    /// Reader connections dropped because a closure left a transaction open or
    /// panicked on them.
    pub discarded_readers: u64,
    /// Write closures run to an answer.
    pub writes: u64,
    /// Write closures that returned an error (their savepoint rolled back).
    pub failed_writes: u64,
    /// Write closures that panicked (their savepoint rolled back).
    pub panicked_writes: u64,
    /// Group-commit transactions the writer ran.
    pub batches: u64,
    /// COMMITs SQLite performed on the writer connection (counted by its commit hook).
    pub commits: u64,
    /// PASSIVE checkpoints the background checkpointer ran (off the commit path).
    pub background_checkpoints: u64,
    /// Statements at or above the slow-query threshold.
    pub slow_statements: u64,
    /// Acquire latency histogram over readers and the writer queue.
    pub acquire_latency: Vec<LatencyBucket>,
    /// The acquire latencies added up, microseconds: with the buckets' counts, the
    /// mean wait (a Prometheus histogram's `_sum`).
    pub acquire_latency_sum_us: u64,
    /// The named counters the layers above registered with `Pool::counter`, by name
    /// (the cache's `cache.hits`, `cache.misses` and `cache.evictions`, say); the pool
    /// only keeps them.
    pub counters: BTreeMap<String, u64>,
}

/// Reader pool gauges.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct ReaderGauges {
    /// Configured maximum.
    pub max: usize,
    /// Connections open now.
    pub open: usize,
    /// Open and free.
    pub idle: usize,
    /// Open and lent to a closure.
    pub in_use: usize,
    /// Callers waiting for a reader.
    pub waiting: usize,
}

/// One histogram bucket: acquires that waited at most `le_us` microseconds
/// (`None`: slower than every bound).
#[derive(Debug, Clone, Copy, Serialize)]
pub struct LatencyBucket {
    /// Upper bound in microseconds; `None` for the overflow bucket.
    pub le_us: Option<u64>,
    /// Acquires in this bucket.
    pub count: u64,
}

pub(crate) fn snapshot(counters: &Counters, readers: ReaderGauges, slow_statements: u64) -> MetricsSnapshot {
    let load = |c: &AtomicU64| c.load(Ordering::Relaxed);
    MetricsSnapshot {
        readers,
        writes_queued: load(&counters.queued_writes),
        reader_acquires: load(&counters.reader_acquires),
        writer_acquires: load(&counters.writer_acquires),
        acquire_timeouts: load(&counters.acquire_timeouts),
        busy_retries: load(&counters.busy_retries),
        discarded_readers: load(&counters.discarded_readers),
        writes: load(&counters.writes),
        failed_writes: load(&counters.failed_writes),
        panicked_writes: load(&counters.panicked_writes),
        batches: load(&counters.batches),
        commits: load(&counters.commits),
        background_checkpoints: load(&counters.checkpoints),
        slow_statements,
        acquire_latency: counters.latency(),
        acquire_latency_sum_us: load(&counters.latency_sum_us),
        counters: counters.named_values(),
    }
}
