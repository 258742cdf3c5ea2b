//! The comparisons, rates and paired runs the report shows, each with its target.

/// One row of the report: strata's way of doing some work against the raw baseline.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Comparison {
    /// The criterion group, such as `point_read_1m`.
    pub group: &'static str,
    /// The function measuring strata, such as `pool_batched`.
    pub strata: &'static str,
    /// The function measuring raw rusqlite doing the same work, such as `raw`.
    pub baseline: &'static str,
    /// What counts as good enough.
    pub target: Target,
}

/// The bar a comparison is held to.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Target {
    /// Reported for information; no bar.
    None,
    /// strata's time over the baseline's time must be at most this.
    RatioAtMost(f64),
    /// The baseline's time over strata's time must be at least this.
    SpeedupAtLeast(f64),
}

/// Every comparison the report shows, in order. A new bench adds a row here.
pub const COMPARISONS: &[Comparison] = &[
    // This row and bulk_insert_100k are held to their bar (ratio <= 1.10) by the
    // paired measurement ([`render_paired`]): criterion's two medians are seconds
    // apart, and this VM's speed shifts by a third for seconds at a time.
    Comparison { group: "point_read_1m", strata: "pool_batched", baseline: "raw", target: Target::None },
    Comparison { group: "point_read_1m", strata: "pool_per_call", baseline: "raw", target: Target::None },
    Comparison {
        group: "insert_single_row_txn",
        strata: "pool",
        baseline: "raw",
        target: Target::RatioAtMost(1.5),
    },
    // The same one-row transaction with synchronous = "full" on both sides: what
    // power-loss durability costs per write. Reported, no bar.
    Comparison { group: "insert_single_row_txn_full", strata: "pool", baseline: "raw", target: Target::None },
    Comparison { group: "bulk_insert_100k", strata: "pool", baseline: "raw", target: Target::None },
    Comparison {
        group: "concurrent_writes_8_tasks",
        strata: "pool_group_commit",
        baseline: "raw_loop",
        target: Target::SpeedupAtLeast(3.0),
    },
    // Issue 5 sets no bar for the backup: besides the copy it runs integrity_check
    // on the copy and hashes it, which `cp` (with an fsync) does not do; the ratio
    // is reported, and the latency section shows what the backup costs a writer.
    Comparison { group: "backup_1gb", strata: "strata_backup", baseline: "cp", target: Target::None },
    // The same PRAGMA on the same file; everything else check_path reads (page
    // counts, schema version, foreign_key_check, file sizes) costs next to nothing
    // on a file of this shape, so strata may add at most 10 %.
    Comparison {
        group: "check_1gb",
        strata: "quick_check",
        baseline: "raw_quick_check",
        target: Target::RatioAtMost(1.10),
    },
    Comparison {
        group: "check_1gb",
        strata: "integrity_check",
        baseline: "raw_integrity_check",
        target: Target::RatioAtMost(1.10),
    },
    // Issue 4: the queue end to end (enqueue, claim, complete) with 4 workers against a
    // raw loop of the same statements on one connection. The ratio (<= 1.5) is held by
    // the paired rounds ([`PAIRED`]), as for the pool; the absolute jobs per second
    // are held to their own targets in the rates section ([`RATES`]).
    Comparison { group: "queue_jobs", strata: "strata_single", baseline: "raw_single", target: Target::None },
    Comparison {
        group: "queue_jobs",
        strata: "strata_batch100",
        baseline: "raw_batch100",
        target: Target::None,
    },
    // The queue with every commit fsynced (synchronous = "full"), both sides. No bar.
    Comparison {
        group: "queue_jobs_full",
        strata: "strata_single",
        baseline: "raw_single",
        target: Target::None,
    },
    Comparison {
        group: "queue_jobs_full",
        strata: "strata_batch100",
        baseline: "raw_batch100",
        target: Target::None,
    },
    // Issue 17: the worker runtime against the hand-written loop it replaces (4 workers
    // of concurrency 1, producer in batches of 100 and of 1).
    Comparison {
        group: "queue_worker",
        strata: "runtime_batch100",
        baseline: "loop_batch100",
        target: Target::RatioAtMost(1.2),
    },
    Comparison {
        group: "queue_worker",
        strata: "runtime_single",
        baseline: "loop_single",
        target: Target::RatioAtMost(1.2),
    },
    // Issue 19: the document store against std::fs (+ fsync, rename, dir fsync) and a
    // raw rusqlite row; strata also hashes (and sniffs) what it stores and reads.
    Comparison {
        group: "document_put_4kb",
        strata: "strata",
        baseline: "raw",
        target: Target::RatioAtMost(1.25),
    },
    Comparison {
        group: "document_put_4mb",
        strata: "strata",
        baseline: "raw",
        target: Target::RatioAtMost(1.25),
    },
    Comparison {
        group: "document_get_4kb",
        strata: "strata",
        baseline: "raw",
        target: Target::RatioAtMost(1.25),
    },
    Comparison {
        group: "document_get_4mb",
        strata: "strata",
        baseline: "raw",
        target: Target::RatioAtMost(1.25),
    },
    // Issue 18: the scraping service's tables (`benches/scrape.rs`). 1,000 cache gets
    // (a hit is an UPDATE ... RETURNING that counts it) or sets, one write call each,
    // against one autocommit statement each.
    Comparison {
        group: "cache_get_hit",
        strata: "strata",
        baseline: "raw",
        target: Target::RatioAtMost(1.5),
    },
    Comparison { group: "cache_set", strata: "strata", baseline: "raw", target: Target::RatioAtMost(1.5) },
    // 2,000 checks from 8 tasks, on 8 keys and on 1 key, against the raw loop of the
    // same single statement on one connection.
    Comparison {
        group: "ratelimit_check",
        strata: "strata_8keys",
        baseline: "raw_8keys",
        target: Target::RatioAtMost(1.5),
    },
    Comparison {
        group: "ratelimit_check",
        strata: "strata_1key",
        baseline: "raw_1key",
        target: Target::RatioAtMost(1.5),
    },
    // Held to its bar (ratio <= 1.10) by the paired rounds ([`PAIRED`]), as
    // bulk_insert_100k is.
    Comparison { group: "bulk_insert_results_100k", strata: "strata", baseline: "raw", target: Target::None },
];

/// A function whose throughput (criterion's elements per iteration over its median
/// time) the report shows per second, with the least that counts as good enough.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rate {
    /// The criterion group, such as `queue_jobs`.
    pub group: &'static str,
    /// The function, such as `strata_batch100`.
    pub function: &'static str,
    /// What one element is, such as `jobs`.
    pub unit: &'static str,
    /// The fewest elements per second that pass; `None` is reported without a bar.
    pub at_least: Option<f64>,
}

/// Every rate the report shows, in order: issue 4's jobs per second and issue 18's
/// rate-limit checks per second, the raw loops beside them for reference.
pub const RATES: &[Rate] = &[
    Rate { group: "queue_jobs", function: "strata_batch100", unit: "jobs", at_least: Some(50_000.0) },
    Rate { group: "queue_jobs", function: "strata_single", unit: "jobs", at_least: Some(10_000.0) },
    Rate { group: "queue_jobs", function: "raw_batch100", unit: "jobs", at_least: None },
    Rate { group: "queue_jobs", function: "raw_single", unit: "jobs", at_least: None },
    Rate { group: "queue_jobs_full", function: "strata_batch100", unit: "jobs", at_least: None },
    Rate { group: "queue_jobs_full", function: "strata_single", unit: "jobs", at_least: None },
    Rate { group: "queue_jobs_audited", function: "strata_single", unit: "jobs", at_least: None },
    Rate { group: "ratelimit_check", function: "strata_8keys", unit: "checks", at_least: None },
    Rate { group: "ratelimit_check", function: "raw_8keys", unit: "checks", at_least: None },
    Rate { group: "ratelimit_check", function: "strata_1key", unit: "checks", at_least: None },
    Rate { group: "ratelimit_check", function: "raw_1key", unit: "checks", at_least: None },
];

/// Issue 4's bar for the p99 of a claim among 1M finished tasks over the p99 among 10k.
pub const CLAIM_P99_RATIO_AT_MOST: f64 = 2.0;
/// Issue 4's bar for the p99 of a task point read (µs, exclusive).
pub const POINT_READ_P99_BELOW_US: f64 = 1_000.0;

/// The functions (group, function) whose time is also shown per GiB of the file
/// they work on: the size is criterion's byte throughput of the function.
pub const PER_GIB: &[(&str, &str)] = &[
    ("backup_1gb", "strata_backup"),
    ("backup_1gb", "cp"),
    ("check_1gb", "quick_check"),
    ("check_1gb", "raw_quick_check"),
    ("check_1gb", "integrity_check"),
    ("check_1gb", "raw_integrity_check"),
];

/// The comparisons the benches also measure paired (`benches/common::paired`): the
/// section, what one round's run is, and the most strata's time may be over raw's.
pub const PAIRED: &[(&str, &str, f64)] = &[
    ("point_read_1m", "pool_batched vs raw, 1,000 reads", 1.10),
    ("bulk_insert_100k", "pool vs raw, 100,000 rows", 1.10),
    ("queue_jobs_single", "strata_single vs raw_single, 2,000 jobs", 1.5),
    ("queue_jobs_batch100", "strata_batch100 vs raw_batch100, 2,000 jobs", 1.5),
    ("bulk_insert_results_100k", "strata vs raw, 100,000 results", 1.10),
    ("document_put_4kb", "strata vs raw, 50 puts of 4 KiB", 1.25),
    ("document_put_4mb", "strata vs raw, 4 puts of 4 MiB", 1.25),
];
