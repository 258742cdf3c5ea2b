//! `cargo xtask bench`: runs the criterion benches and writes `target/bench-report.md`.
//!
//! Every bench that matters runs beside a raw-rusqlite baseline of the same work; this
//! module owns the list of those comparisons ([`COMPARISONS`]) with their targets, reads
//! criterion's `estimates.json` files and renders one table row per comparison. Under
//! the table come the seconds per GiB of the benches over a large file ([`PER_GIB`],
//! sized by the byte throughput in criterion's `benchmark.json`) and the commit latency
//! of a writer during a backup, which `benches/ops.rs` writes to
//! `target/bench-ops-latency.json` because it is not a criterion measurement; the jobs
//! per second of the queue benches ([`RATES`], from criterion's element throughput);
//! and the queue's p99 latencies (a claim among 10k and among 1M finished tasks, a
//! task point read from 10 concurrent readers), which `benches/queue.rs` writes to
//! `target/bench-queue-latency.json`. A missing result is reported as "not run", never
//! a crash. The report measures; it does not gate: a missed target is shown as FAIL
//! and the task still succeeds.

use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::Result;

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

/// Every rate the report shows, in order: issue 4's jobs per second, the raw loops
/// beside them for reference.
pub const RATES: &[Rate] = &[
    Rate { group: "queue_jobs", function: "strata_batch100", unit: "jobs", at_least: Some(50_000.0) },
    Rate { group: "queue_jobs", function: "strata_single", unit: "jobs", at_least: Some(10_000.0) },
    Rate { group: "queue_jobs", function: "raw_batch100", unit: "jobs", at_least: None },
    Rate { group: "queue_jobs", function: "raw_single", unit: "jobs", at_least: None },
    Rate { group: "queue_jobs_full", function: "strata_batch100", unit: "jobs", at_least: None },
    Rate { group: "queue_jobs_full", function: "strata_single", unit: "jobs", at_least: None },
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

/// The command whose results the report reads; extra arguments are appended (a
/// filter such as `check_1gb` runs only the matching groups of both benches).
const BENCH_COMMAND: &[&str] =
    &["bench", "-p", "strata", "--bench", "pool", "--bench", "ops", "--bench", "queue"];

/// The report's file name inside the target directory.
const REPORT_FILE: &str = "bench-report.md";

/// The writer's commit latency during a backup, written by `benches/ops.rs` inside the
/// target directory.
pub const LATENCY_FILE: &str = "bench-ops-latency.json";

/// The queue's claim and point-read latencies, written by `benches/queue.rs` inside the
/// target directory, one section per criterion group.
pub const QUEUE_LATENCY_FILE: &str = "bench-queue-latency.json";

/// The paired runs, written by the benches inside the target directory.
pub const PAIRED_FILE: &str = "bench-paired.json";

/// `cargo xtask bench [--report-only] [ARGS]...` for the project at `root`.
pub fn run(root: &Path, args: &[String]) -> Result {
    let report_only = args.first().is_some_and(|arg| arg == "--report-only");
    let fresh_since = if report_only {
        if args.len() > 1 {
            return Err("--report-only takes no other arguments".into());
        }
        None
    } else {
        let started = SystemTime::now();
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let shown: Vec<&str> = BENCH_COMMAND.iter().copied().chain(args.iter().map(String::as_str)).collect();
        println!("running: cargo {}", shown.join(" "));
        let status = Command::new(cargo)
            .current_dir(root)
            .args(BENCH_COMMAND)
            .args(args)
            .status()
            .map_err(|e| format!("cannot run cargo bench: {e}"))?;
        if !status.success() {
            return Err(format!("cargo bench failed ({status}); no report written"));
        }
        Some(started)
    };

    let target_dir = target_dir(root);
    let mut report = render_report(&criterion_dir(&target_dir), COMPARISONS, fresh_since);
    report.push_str(&render_paired(&target_dir.join(PAIRED_FILE), fresh_since));
    report.push_str(&render_latency(&target_dir.join(LATENCY_FILE), fresh_since));
    report.push_str(&render_rates(&criterion_dir(&target_dir), RATES, fresh_since));
    report.push_str(&render_queue_latency(&target_dir.join(QUEUE_LATENCY_FILE), fresh_since));
    let path = target_dir.join(REPORT_FILE);
    fs::create_dir_all(&target_dir).map_err(|e| format!("cannot create {}: {e}", target_dir.display()))?;
    fs::write(&path, &report).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    println!("{report}");
    println!("wrote {}", path.display());
    Ok(())
}

/// The report for `comparisons` from the results under `criterion_dir`. With
/// `fresh_since`, results written before that moment are marked as from an earlier run.
pub fn render_report(
    criterion_dir: &Path,
    comparisons: &[Comparison],
    fresh_since: Option<SystemTime>,
) -> String {
    let mut out = String::new();
    let mut tally = Tally::default();
    // Writing into a String cannot fail, so the `fmt::Result`s below are always `Ok`.
    let _ = writeln!(out, "# strata bench report\n");
    let _ = writeln!(
        out,
        "Written by `cargo xtask bench` from criterion's results in `{}`.\n\
         Times are criterion's median estimates. A ratio is strata's time over the raw rusqlite\n\
         baseline's (lower is better); a speedup is the baseline's time over strata's (higher\n\
         is better).\n",
        criterion_dir.display()
    );
    let _ = writeln!(
        out,
        "| Bench | strata | Baseline | strata time | Baseline time | Measured | Target | Result |"
    );
    let _ = writeln!(
        out,
        "|-------|--------|----------|-------------|---------------|----------|--------|--------|"
    );
    for comparison in comparisons {
        let strata = read_estimate(criterion_dir, comparison.group, comparison.strata, fresh_since);
        let baseline = read_estimate(criterion_dir, comparison.group, comparison.baseline, fresh_since);
        let row = Row::new(comparison, &strata, &baseline);
        tally.add(&row.outcome);
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} | {} | {} |",
            comparison.group,
            comparison.strata,
            comparison.baseline,
            strata.cell(),
            baseline.cell(),
            row.measured,
            target_cell(comparison.target),
            row.outcome.cell(strata.is_stale() || baseline.is_stale()),
        );
    }
    let _ = writeln!(
        out,
        "\n{} passed, {} failed, {} reported without a target, {} not run.",
        tally.passed, tally.failed, tally.reported, tally.not_run
    );
    let _ =
        writeln!(out, "\nPer GiB of the file worked on (median time over the size of the bench's file):\n");
    for (group, function) in PER_GIB {
        let estimate = read_estimate(criterion_dir, group, function, fresh_since);
        let _ = writeln!(
            out,
            "- {group}/{function}: {}",
            per_gib_cell(criterion_dir, group, function, &estimate)
        );
    }
    out
}

/// `2.10 s per GiB (1024 MiB file)`, or why there is no such figure.
fn per_gib_cell(criterion_dir: &Path, group: &str, function: &str, estimate: &Estimate) -> String {
    let Some(nanos) = estimate.nanos() else { return estimate.cell() };
    let Some(bytes) = read_throughput(criterion_dir, group, function, "Bytes") else {
        return format!("{} (no byte throughput in benchmark.json)", format_time(nanos));
    };
    let per_gib = nanos * (1u64 << 30) as f64 / bytes as f64;
    let stale = if estimate.is_stale() { " (earlier run)" } else { "" };
    format!("{} per GiB ({} MiB file){stale}", format_time(per_gib), bytes >> 20)
}

/// The bytes or elements one iteration works on: `throughput.<kind>` (`Bytes`,
/// `Elements`) of criterion's `benchmark.json`.
fn read_throughput(criterion_dir: &Path, group: &str, function: &str, kind: &str) -> Option<u64> {
    let path = criterion_dir
        .join(criterion_dir_name(group))
        .join(criterion_dir_name(function))
        .join("new")
        .join("benchmark.json");
    let json = serde_json::from_str::<serde_json::Value>(&fs::read_to_string(path).ok()?).ok()?;
    json.pointer(&format!("/throughput/{kind}")).and_then(serde_json::Value::as_u64).filter(|&n| n > 0)
}

/// The report's section on the commit latency of a writer during a backup, from the
/// file `benches/ops.rs` writes: p99 (and p50) with the backup running and without.
pub fn render_latency(path: &Path, fresh_since: Option<SystemTime>) -> String {
    const TITLE: &str = "Writer commit latency during a backup (backup_1gb)";
    let text = match fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return format!("\n{TITLE}: not run (no {}).\n", path.display());
        }
        Err(e) => return format!("\n{TITLE}: unreadable ({}: {e}).\n", path.display()),
    };
    let Some(latency) = Latency::parse(&text) else {
        return format!("\n{TITLE}: unreadable ({}: missing or invalid figures).\n", path.display());
    };
    let stale = fresh_since.is_some_and(|since| {
        let written = fs::metadata(path).and_then(|m| m.modified()).ok();
        written.is_none_or(|written| written + Duration::from_secs(1) < since)
    });
    let micros = |us: f64| format_time(us * 1e3);
    let mut out = format!(
        "\n{TITLE}{}:\n\n\
         - p99 {} with the backup, {} without ({:.2}× as long); p50 {} and {}\n\
         - {} and {} commits of one row, one every {}, over a {} backup of a {} MiB file\n",
        if stale { " (earlier run)" } else { "" },
        micros(latency.with.p99_us),
        micros(latency.without.p99_us),
        latency.with.p99_us / latency.without.p99_us,
        micros(latency.with.p50_us),
        micros(latency.without.p50_us),
        latency.with.commits,
        latency.without.commits,
        micros(latency.write_every_us),
        format_time(latency.backup_secs * 1e9),
        latency.fixture_mb,
    );
    if !latency.stages.is_empty() {
        let stages: Vec<String> = latency
            .stages
            .iter()
            .map(|(stage, secs)| format!("{stage} {}", format_time(secs * 1e9)))
            .collect();
        let _ = writeln!(out, "- the backup's stages: {}", stages.join(", "));
    }
    out
}

/// The report's section on throughput: each of `rates` per second (criterion's element
/// throughput of the function over its median time), against its bar.
pub fn render_rates(criterion_dir: &Path, rates: &[Rate], fresh_since: Option<SystemTime>) -> String {
    let mut out = String::from("\nThroughput (elements per iteration over the median time):\n\n");
    for rate in rates {
        let estimate = read_estimate(criterion_dir, rate.group, rate.function, fresh_since);
        let _ = writeln!(
            out,
            "- {}/{}: {}",
            rate.group,
            rate.function,
            rate_cell(criterion_dir, rate, &estimate)
        );
    }
    out
}

/// `61,234 jobs/s (target ≥ 50,000 jobs/s): PASS`, or why there is no such figure.
fn rate_cell(criterion_dir: &Path, rate: &Rate, estimate: &Estimate) -> String {
    let Some(nanos) = estimate.nanos() else { return estimate.cell() };
    let Some(elements) = read_throughput(criterion_dir, rate.group, rate.function, "Elements") else {
        return format!("{} (no element throughput in benchmark.json)", format_time(nanos));
    };
    let per_sec = elements as f64 * 1e9 / nanos;
    let unit = rate.unit;
    let mut cell =
        format!("{} {unit}/s ({elements} {unit} in {})", format_count(per_sec), format_time(nanos));
    if let Some(least) = rate.at_least {
        let outcome = if per_sec >= least { Outcome::Pass } else { Outcome::Fail };
        let _ = write!(
            cell,
            ", target ≥ {} {unit}/s: {}",
            format_count(least),
            outcome.cell(estimate.is_stale())
        );
    } else if estimate.is_stale() {
        cell.push_str(" (earlier run)");
    }
    cell
}

/// The report's section on the queue's latencies, from the file `benches/queue.rs`
/// writes: the p99 of a one-job claim among many finished tasks over the p99 among few
/// (at most [`CLAIM_P99_RATIO_AT_MOST`]), and the p99 of a task point read from 10
/// concurrent readers (below [`POINT_READ_P99_BELOW_US`]).
pub fn render_queue_latency(path: &Path, fresh_since: Option<SystemTime>) -> String {
    const TITLE: &str = "Queue latency (claim_finished_10k, claim_finished_1m, task_point_read_1m)";
    let text = match fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return format!("\n{TITLE}: not run (no {}).\n", path.display());
        }
        Err(e) => return format!("\n{TITLE}: unreadable ({}: {e}).\n", path.display()),
    };
    let Ok(json) = serde_json::from_str::<serde_json::Value>(&text) else {
        return format!("\n{TITLE}: unreadable ({}: not JSON).\n", path.display());
    };
    let section = |group: &str| match json.get(group) {
        None => Err(format!("not run (no {group} in the file)")),
        Some(value) => QueueLatency::parse(value, fresh_since)
            .ok_or_else(|| format!("unreadable ({group}: missing or invalid figures)")),
    };
    let micros = |us: f64| format_time(us * 1e3);
    let mut out = format!("\n{TITLE}, exact percentiles of the bench's own samples:\n\n");

    let claim = match (section("claim_finished_10k"), section("claim_finished_1m")) {
        (Ok(few), Ok(many)) => {
            let ratio = many.p99_us / few.p99_us;
            let outcome = if ratio <= CLAIM_P99_RATIO_AT_MOST { Outcome::Pass } else { Outcome::Fail };
            format!(
                "p99 {} among {} finished tasks, {} among {}: {ratio:.2}× (target ≤ {CLAIM_P99_RATIO_AT_MOST:.2}×): {}; \
                 p50 {} and {}; {} and {} one-job claims",
                micros(many.p99_us),
                many.size,
                micros(few.p99_us),
                few.size,
                outcome.cell(few.stale || many.stale),
                micros(many.p50_us),
                micros(few.p50_us),
                many.count,
                few.count,
            )
        }
        (Err(why), _) | (_, Err(why)) => why,
    };
    let _ = writeln!(out, "- claim: {claim}");

    let read = match section("task_point_read_1m") {
        Ok(read) => {
            let outcome = if read.p99_us < POINT_READ_P99_BELOW_US { Outcome::Pass } else { Outcome::Fail };
            let readers = read.readers.map_or_else(String::new, |n| format!("{n} readers, "));
            format!(
                "p99 {} ({readers}{} tasks; target < {}): {}; p50 {}; {} reads",
                micros(read.p99_us),
                read.size,
                micros(POINT_READ_P99_BELOW_US),
                outcome.cell(read.stale),
                micros(read.p50_us),
                read.count,
            )
        }
        Err(why) => why,
    };
    let _ = writeln!(out, "- task point read: {read}");
    out
}

/// The comparisons the benches also measure paired (`benches/common::paired`): the
/// section, what one round's run is, and the most strata's time may be over raw's.
pub const PAIRED: &[(&str, &str, f64)] = &[
    ("point_read_1m", "pool_batched vs raw, 1,000 reads", 1.10),
    ("bulk_insert_100k", "pool vs raw, 100,000 rows", 1.10),
    ("queue_jobs_single", "strata_single vs raw_single, 2,000 jobs", 1.5),
    ("queue_jobs_batch100", "strata_batch100 vs raw_batch100, 2,000 jobs", 1.5),
];

/// The paired measurements of the benches: per section, the median over rounds of
/// (strata's time / raw's time), each round timing the two back to back, against the
/// section's bar in [`PAIRED`].
pub fn render_paired(path: &Path, fresh_since: Option<SystemTime>) -> String {
    const TITLE: &str =
        "Paired runs (raw and strata back to back in alternating rounds; median per-round ratio)";
    let text = match fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return format!("\n{TITLE}: not run (no {}).\n", path.display());
        }
        Err(e) => return format!("\n{TITLE}: unreadable ({}: {e}).\n", path.display()),
    };
    let json = serde_json::from_str::<serde_json::Value>(&text).ok();
    let mut out = format!("\n{TITLE}:\n\n");
    for &(group, what, most) in PAIRED {
        let section = json.as_ref().and_then(|json| json.get(group));
        let number = |key: &str| section?.get(key)?.as_f64().filter(|v| v.is_finite() && *v > 0.0);
        let line = match (
            number("median_ratio"),
            number("raw_median_ms"),
            number("strata_median_ms"),
            number("rounds"),
        ) {
            _ if section.is_none() => "not run".to_string(),
            (Some(ratio), Some(raw_ms), Some(strata_ms), Some(rounds)) => {
                let written =
                    section.and_then(|s| s.get("written_at_unix")).and_then(serde_json::Value::as_u64);
                let stale = fresh_since.is_some_and(|since| {
                    written.is_none_or(|at| UNIX_EPOCH + Duration::from_secs(at + 1) < since)
                });
                let outcome = if ratio <= most { Outcome::Pass } else { Outcome::Fail };
                format!(
                    "median ratio {ratio:.3} over {rounds} rounds (target ≤ {most:.2}): {}; \
                     median run {} raw, {} strata",
                    outcome.cell(stale),
                    format_time(raw_ms * 1e6),
                    format_time(strata_ms * 1e6),
                )
            }
            _ => "unreadable (missing or invalid figures)".to_string(),
        };
        let _ = writeln!(out, "- {group} ({what}): {line}");
    }
    out
}

/// One group's section of `bench-queue-latency.json`.
#[derive(Debug, Clone, PartialEq)]
struct QueueLatency {
    /// Claims or reads measured.
    count: u64,
    /// Finished tasks (claims) or tasks (reads) in the database.
    size: u64,
    readers: Option<u64>,
    p50_us: f64,
    p99_us: f64,
    /// Written before this run started.
    stale: bool,
}

impl QueueLatency {
    fn parse(json: &serde_json::Value, fresh_since: Option<SystemTime>) -> Option<QueueLatency> {
        let positive = |key: &str| json.get(key)?.as_f64().filter(|v| v.is_finite() && *v > 0.0);
        let count = json.get("claims").or_else(|| json.get("reads"))?.as_u64()?;
        let size = json.get("finished_tasks").or_else(|| json.get("tasks"))?.as_u64()?;
        let written = json.get("written_at_unix").and_then(serde_json::Value::as_u64);
        // Seconds in the file; a second of slack, as for criterion's files.
        let stale = fresh_since
            .is_some_and(|since| written.is_none_or(|at| UNIX_EPOCH + Duration::from_secs(at + 1) < since));
        Some(QueueLatency {
            count,
            size,
            readers: json.get("readers").and_then(serde_json::Value::as_u64),
            p50_us: positive("p50_us")?,
            p99_us: positive("p99_us")?,
            stale,
        })
    }
}

/// The figures of `bench-ops-latency.json` the report shows.
#[derive(Debug, Clone, PartialEq)]
struct Latency {
    fixture_mb: u64,
    write_every_us: f64,
    backup_secs: f64,
    stages: Vec<(String, f64)>,
    with: Commits,
    without: Commits,
}

#[derive(Debug, Clone, PartialEq)]
struct Commits {
    commits: u64,
    p50_us: f64,
    p99_us: f64,
}

impl Latency {
    fn parse(text: &str) -> Option<Latency> {
        let json = serde_json::from_str::<serde_json::Value>(text).ok()?;
        let positive = |pointer: &str| json.pointer(pointer)?.as_f64().filter(|v| v.is_finite() && *v > 0.0);
        let commits = |side: &str| {
            Some(Commits {
                commits: json.pointer(&format!("/{side}/commits"))?.as_u64()?,
                p50_us: positive(&format!("/{side}/p50_us"))?,
                p99_us: positive(&format!("/{side}/p99_us"))?,
            })
        };
        // In the bench's order: copy, verify, hash. Optional; shown when present.
        let stages = json
            .get("backup_stages")
            .and_then(serde_json::Value::as_array)
            .map(|stages| {
                let stage = |s: &serde_json::Value| {
                    Some((s.get("stage")?.as_str()?.to_string(), s.get("secs")?.as_f64()?))
                };
                stages.iter().filter_map(stage).collect()
            })
            .unwrap_or_default();
        Some(Latency {
            fixture_mb: json.get("fixture_mb")?.as_u64()?,
            write_every_us: positive("/write_every_us")?,
            backup_secs: positive("/backup_secs")?,
            stages,
            with: commits("with_backup")?,
            without: commits("without_backup")?,
        })
    }
}

/// The directory criterion writes into: `$CRITERION_HOME`, else `<target>/criterion`.
pub fn criterion_dir(target_dir: &Path) -> PathBuf {
    match std::env::var_os("CRITERION_HOME") {
        Some(home) => PathBuf::from(home),
        None => target_dir.join("criterion"),
    }
}

/// Cargo's target directory: `$CARGO_TARGET_DIR` (relative to `root`), else `root/target`.
pub fn target_dir(root: &Path) -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) => root.join(dir),
        None => root.join("target"),
    }
}

/// The directory name criterion gives an id: the characters that file systems refuse
/// become `_`, and the name is cut to 64 bytes (criterion's `make_filename_safe`).
pub fn criterion_dir_name(id: &str) -> String {
    const MAX_LEN: usize = 64;
    let mut name = id.replace(['?', '"', '/', '\\', '*', '<', '>', ':', '|', '^'], "_");
    let mut end = name.len().min(MAX_LEN);
    while !name.is_char_boundary(end) {
        end -= 1;
    }
    name.truncate(end);
    if cfg!(windows) {
        name = name.trim_end().to_lowercase();
    }
    name
}

/// One measured function, as far as the report is concerned.
#[derive(Debug, Clone, PartialEq)]
enum Estimate {
    /// No `estimates.json`: the bench was not run (or filtered out).
    NotRun,
    /// The file exists but holds no usable median.
    Unreadable(String),
    /// The median time in nanoseconds; `stale` when written before this run started.
    Measured { nanos: f64, stale: bool },
}

impl Estimate {
    fn nanos(&self) -> Option<f64> {
        match self {
            Estimate::Measured { nanos, .. } => Some(*nanos),
            _ => None,
        }
    }

    fn is_stale(&self) -> bool {
        matches!(self, Estimate::Measured { stale: true, .. })
    }

    fn cell(&self) -> String {
        match self {
            Estimate::NotRun => "not run".into(),
            Estimate::Unreadable(_) => "unreadable".into(),
            Estimate::Measured { nanos, .. } => format_time(*nanos),
        }
    }
}

fn read_estimate(
    criterion_dir: &Path,
    group: &str,
    function: &str,
    fresh_since: Option<SystemTime>,
) -> Estimate {
    let path = criterion_dir
        .join(criterion_dir_name(group))
        .join(criterion_dir_name(function))
        .join("new")
        .join("estimates.json");
    let text = match fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Estimate::NotRun,
        Err(e) => return Estimate::Unreadable(format!("{}: {e}", path.display())),
    };
    // The median, not the mean: on a shared 2-core VM a few samples stall for
    // reasons outside the bench (another guest, a host flush), and the mean carries
    // them into the ratio while the median does not.
    let median = serde_json::from_str::<serde_json::Value>(&text)
        .ok()
        .and_then(|json| json.pointer("/median/point_estimate").and_then(serde_json::Value::as_f64));
    let Some(nanos) = median.filter(|n| n.is_finite() && *n > 0.0) else {
        return Estimate::Unreadable(format!("{}: no positive median.point_estimate", path.display()));
    };
    // File times can be coarser than the clock; a second of slack keeps this run's
    // results from looking older than the moment the run started.
    let stale = fresh_since.is_some_and(|since| {
        let written = fs::metadata(&path).and_then(|m| m.modified()).ok();
        written.is_none_or(|written| written + Duration::from_secs(1) < since)
    });
    Estimate::Measured { nanos, stale }
}

/// What a comparison came to.
#[derive(Debug, Clone, PartialEq)]
enum Outcome {
    Pass,
    Fail,
    Reported,
    NotRun,
    Unreadable,
}

impl Outcome {
    fn cell(&self, stale: bool) -> String {
        let text = match self {
            Outcome::Pass => "PASS",
            Outcome::Fail => "FAIL",
            Outcome::Reported => "reported",
            Outcome::NotRun => "not run",
            Outcome::Unreadable => "unreadable estimates.json",
        };
        if stale { format!("{text} (earlier run)") } else { text.to_string() }
    }
}

/// The computed columns of one row.
struct Row {
    measured: String,
    outcome: Outcome,
}

impl Row {
    fn new(comparison: &Comparison, strata: &Estimate, baseline: &Estimate) -> Row {
        let (Some(strata_ns), Some(baseline_ns)) = (strata.nanos(), baseline.nanos()) else {
            let unreadable =
                matches!(strata, Estimate::Unreadable(_)) || matches!(baseline, Estimate::Unreadable(_));
            let outcome = if unreadable { Outcome::Unreadable } else { Outcome::NotRun };
            return Row { measured: "—".into(), outcome };
        };
        let ratio = strata_ns / baseline_ns;
        let speedup = baseline_ns / strata_ns;
        let (measured, outcome) = match comparison.target {
            Target::None => (format!("ratio {ratio:.2}"), Outcome::Reported),
            Target::RatioAtMost(most) => {
                (format!("ratio {ratio:.2}"), if ratio <= most { Outcome::Pass } else { Outcome::Fail })
            }
            Target::SpeedupAtLeast(least) => (
                format!("speedup {speedup:.2}×"),
                if speedup >= least { Outcome::Pass } else { Outcome::Fail },
            ),
        };
        Row { measured, outcome }
    }
}

fn target_cell(target: Target) -> String {
    match target {
        Target::None => "—".into(),
        Target::RatioAtMost(most) => format!("ratio ≤ {most:.2}"),
        Target::SpeedupAtLeast(least) => format!("speedup ≥ {least:.1}×"),
    }
}

/// Nanoseconds in the unit that keeps the number readable, three significant digits.
fn format_time(nanos: f64) -> String {
    let (value, unit) = if nanos < 1e3 {
        (nanos, "ns")
    } else if nanos < 1e6 {
        (nanos / 1e3, "µs")
    } else if nanos < 1e9 {
        (nanos / 1e6, "ms")
    } else {
        (nanos / 1e9, "s")
    };
    let decimals = if value >= 100.0 {
        0
    } else if value >= 10.0 {
        1
    } else {
        2
    };
    format!("{value:.decimals$} {unit}")
}

/// A count rounded to a whole number, with `,` between thousands: `61,234`.
fn format_count(value: f64) -> String {
    let digits = format!("{:.0}", value.max(0.0));
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, digit) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(digit);
    }
    out
}

/// Counts of outcomes for the summary line.
#[derive(Debug, Default)]
struct Tally {
    passed: usize,
    failed: usize,
    reported: usize,
    not_run: usize,
}

impl Tally {
    fn add(&mut self, outcome: &Outcome) {
        match outcome {
            Outcome::Pass => self.passed += 1,
            Outcome::Fail => self.failed += 1,
            Outcome::Reported => self.reported += 1,
            Outcome::NotRun | Outcome::Unreadable => self.not_run += 1,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An estimates.json whose median is `median_ns`; its mean is far off (a stalled
    /// sample), and the report must not use it.
    fn write_estimate(criterion_dir: &Path, group: &str, function: &str, median_ns: f64) {
        let dir = criterion_dir.join(group).join(function).join("new");
        fs::create_dir_all(&dir).expect("create estimate dir");
        let mean_ns = median_ns * 3.0;
        let json = format!(
            "{{\"mean\":{{\"confidence_interval\":{{\"confidence_level\":0.95,\"lower_bound\":{lo},\
             \"upper_bound\":{hi}}},\"point_estimate\":{mean_ns},\"standard_error\":1.0}},\
             \"median\":{{\"point_estimate\":{median_ns}}}}}",
            lo = mean_ns * 0.99,
            hi = mean_ns * 1.01
        );
        fs::write(dir.join("estimates.json"), json).expect("write estimates.json");
    }

    fn row<'a>(report: &'a str, group: &str, strata: &str) -> &'a str {
        let prefix = format!("| {group} | {strata} |");
        report
            .lines()
            .find(|line| line.starts_with(&prefix))
            .unwrap_or_else(|| panic!("no row {prefix} in\n{report}"))
    }

    #[test]
    fn the_report_has_a_row_per_comparison_with_times_ratio_target_and_result() {
        let dir = tempfile::tempdir().expect("temp dir");
        let criterion = dir.path();
        write_estimate(criterion, "point_read_1m", "raw", 1_000.0);
        write_estimate(criterion, "point_read_1m", "pool_batched", 1_050.0);
        write_estimate(criterion, "point_read_1m", "pool_per_call", 3_000.0);
        write_estimate(criterion, "insert_single_row_txn", "raw", 10_000.0);
        write_estimate(criterion, "insert_single_row_txn", "pool", 20_000.0);
        write_estimate(criterion, "concurrent_writes_8_tasks", "raw_loop", 80_000_000.0);
        write_estimate(criterion, "concurrent_writes_8_tasks", "pool_group_commit", 20_000_000.0);

        let report = render_report(criterion, COMPARISONS, None);
        assert_eq!(report.lines().filter(|l| l.starts_with("| ") && !l.starts_with("| Bench")).count(), 15);
        assert_eq!(
            row(&report, "point_read_1m", "pool_batched"),
            "| point_read_1m | pool_batched | raw | 1.05 µs | 1.00 µs | ratio 1.05 | — | reported |"
        );
        assert_eq!(
            row(&report, "point_read_1m", "pool_per_call"),
            "| point_read_1m | pool_per_call | raw | 3.00 µs | 1.00 µs | ratio 3.00 | — | reported |"
        );
        assert_eq!(
            row(&report, "insert_single_row_txn", "pool"),
            "| insert_single_row_txn | pool | raw | 20.0 µs | 10.0 µs | ratio 2.00 | ratio ≤ 1.50 | FAIL |"
        );
        assert_eq!(
            row(&report, "bulk_insert_100k", "pool"),
            "| bulk_insert_100k | pool | raw | not run | not run | — | — | not run |"
        );
        assert_eq!(
            row(&report, "concurrent_writes_8_tasks", "pool_group_commit"),
            "| concurrent_writes_8_tasks | pool_group_commit | raw_loop | 20.0 ms | 80.0 ms | speedup 4.00× \
             | speedup ≥ 3.0× | PASS |"
        );
        assert!(
            report.contains("\n1 passed, 1 failed, 2 reported without a target, 11 not run.\n"),
            "{report}"
        );
    }

    #[test]
    fn a_missing_baseline_or_a_broken_file_is_reported_not_a_crash() {
        let dir = tempfile::tempdir().expect("temp dir");
        let criterion = dir.path();
        write_estimate(criterion, "bulk_insert_100k", "pool", 5.0e8);
        let broken = criterion.join("insert_single_row_txn/pool/new");
        fs::create_dir_all(&broken).expect("create dir");
        fs::write(broken.join("estimates.json"), "{\"mean\": {}}").expect("write");
        write_estimate(criterion, "insert_single_row_txn", "raw", 1.0);

        let report = render_report(criterion, COMPARISONS, None);
        assert!(row(&report, "bulk_insert_100k", "pool").ends_with("| 500 ms | not run | — | — | not run |"));
        assert!(row(&report, "insert_single_row_txn", "pool").ends_with("| unreadable estimates.json |"));
        let empty = render_report(&criterion.join("nothing-here"), COMPARISONS, None);
        assert!(empty.contains("0 passed, 0 failed, 0 reported without a target, 15 not run."), "{empty}");
        assert!(empty.contains("\n- check_1gb/quick_check: not run\n"), "{empty}");
    }

    #[test]
    fn results_older_than_this_run_are_marked() {
        let dir = tempfile::tempdir().expect("temp dir");
        write_estimate(dir.path(), "insert_single_row_txn", "raw", 1_000.0);
        write_estimate(dir.path(), "insert_single_row_txn", "pool", 1_000.0);
        let later = SystemTime::now() + Duration::from_secs(60);
        let report = render_report(dir.path(), COMPARISONS, Some(later));
        assert!(
            row(&report, "insert_single_row_txn", "pool").ends_with("| PASS (earlier run) |"),
            "{report}"
        );
        let report =
            render_report(dir.path(), COMPARISONS, Some(SystemTime::now() - Duration::from_secs(60)));
        assert!(row(&report, "insert_single_row_txn", "pool").ends_with("| PASS |"), "{report}");
    }

    fn write_paired(path: &Path, ratio: f64, written_at_unix: u64) {
        let json = format!(
            "{{\"point_read_1m\":{{\"rounds\":201,\"raw_median_ms\":4.8,\
             \"strata_median_ms\":5.0,\"median_ratio\":{ratio},\"written_at_unix\":{written_at_unix}}}}}"
        );
        fs::write(path, json).expect("write paired json");
    }

    #[test]
    fn the_paired_point_reads_are_held_to_their_ratio_and_marked_when_old() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join(PAIRED_FILE);
        assert!(render_paired(&path, None).contains(": not run (no "));
        let now = SystemTime::now().duration_since(UNIX_EPOCH).expect("clock").as_secs();

        write_paired(&path, 1.042, now);
        let report = render_paired(&path, None);
        assert!(
            report.contains(
                "- point_read_1m (pool_batched vs raw, 1,000 reads): median ratio 1.042 over 201 rounds \
                 (target ≤ 1.10): PASS; median run 4.80 ms raw, 5.00 ms strata"
            ),
            "{report}"
        );
        write_paired(&path, 1.25, now);
        assert!(render_paired(&path, None).contains("(target ≤ 1.10): FAIL;"));
        let later = SystemTime::now() + Duration::from_secs(60);
        assert!(render_paired(&path, Some(later)).contains("FAIL (earlier run)"));
        assert!(report.contains("- bulk_insert_100k (pool vs raw, 100,000 rows): not run"), "{report}");

        fs::write(&path, "{\"point_read_1m\": {\"median_ratio\": -1}}").expect("write");
        assert!(render_paired(&path, None).contains("unreadable"));
    }

    fn write_throughput(criterion_dir: &Path, group: &str, function: &str, bytes: u64) {
        let dir = criterion_dir.join(group).join(function).join("new");
        fs::create_dir_all(&dir).expect("create benchmark dir");
        let json = format!(
            "{{\"group_id\":\"{group}\",\"function_id\":\"{function}\",\"value_str\":null,\
             \"throughput\":{{\"Bytes\":{bytes}}},\"full_id\":\"{group}/{function}\"}}"
        );
        fs::write(dir.join("benchmark.json"), json).expect("write benchmark.json");
    }

    #[test]
    fn the_ops_rows_compare_backup_with_cp_and_checks_with_raw_and_show_time_per_gib() {
        let dir = tempfile::tempdir().expect("temp dir");
        let criterion = dir.path();
        write_estimate(criterion, "backup_1gb", "strata_backup", 8.0e9);
        write_estimate(criterion, "backup_1gb", "cp", 2.0e9);
        write_throughput(criterion, "backup_1gb", "strata_backup", 1 << 30);
        write_estimate(criterion, "check_1gb", "quick_check", 1.05e9);
        write_estimate(criterion, "check_1gb", "raw_quick_check", 1.0e9);
        write_throughput(criterion, "check_1gb", "quick_check", 64 << 20);
        write_estimate(criterion, "check_1gb", "integrity_check", 1.5e9);

        let report = render_report(criterion, COMPARISONS, None);
        assert_eq!(
            row(&report, "backup_1gb", "strata_backup"),
            "| backup_1gb | strata_backup | cp | 8.00 s | 2.00 s | ratio 4.00 | — | reported |"
        );
        assert_eq!(
            row(&report, "check_1gb", "quick_check"),
            "| check_1gb | quick_check | raw_quick_check | 1.05 s | 1.00 s | ratio 1.05 | ratio ≤ 1.10 | PASS |"
        );
        assert!(row(&report, "check_1gb", "integrity_check").ends_with("| — | ratio ≤ 1.10 | not run |"));
        assert!(
            report.contains("\n- backup_1gb/strata_backup: 8.00 s per GiB (1024 MiB file)\n"),
            "{report}"
        );
        assert!(report.contains("\n- check_1gb/quick_check: 16.8 s per GiB (64 MiB file)\n"), "{report}");
        assert!(
            report.contains("\n- backup_1gb/cp: 2.00 s (no byte throughput in benchmark.json)\n"),
            "{report}"
        );
        assert!(report.contains("\n- check_1gb/raw_integrity_check: not run\n"), "{report}");
    }

    const LATENCY_JSON: &str = r#"{
        "backup_secs": 8.5,
        "backup_stages": [
            {"stage": "copy", "secs": 5.0}, {"stage": "verify", "secs": 2.0}, {"stage": "hash", "secs": 1.5}
        ],
        "fixture_mb": 1024,
        "with_backup": {"commits": 8000, "max_us": 30000.0, "p50_us": 80.0, "p99_us": 4000.0},
        "without_backup": {"commits": 8400, "max_us": 1500.0, "p50_us": 50.0, "p99_us": 125.0},
        "write_every_us": 1000,
        "written_at_unix": 1
    }"#;

    #[test]
    fn the_latency_section_shows_p99_with_and_without_a_backup() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join(LATENCY_FILE);
        fs::write(&path, LATENCY_JSON).expect("write latency json");
        let section = render_latency(&path, None);
        assert!(
            section.contains(
                "- p99 4.00 ms with the backup, 125 µs without (32.00× as long); p50 80.0 µs and 50.0 µs\n"
            ),
            "{section}"
        );
        assert!(
            section.contains("- 8000 and 8400 commits of one row, one every 1.00 ms, over a 8.50 s backup of a 1024 MiB file\n"),
            "{section}"
        );
        assert!(
            section.contains("- the backup's stages: copy 5.00 s, verify 2.00 s, hash 1.50 s\n"),
            "{section}"
        );
        let later = SystemTime::now() + Duration::from_secs(60);
        assert!(render_latency(&path, Some(later)).contains("(backup_1gb) (earlier run):"));
    }

    #[test]
    fn a_missing_or_broken_latency_file_is_reported_not_a_crash() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join(LATENCY_FILE);
        assert!(render_latency(&path, None).contains("(backup_1gb): not run (no "));
        fs::write(&path, r#"{"fixture_mb": 64, "with_backup": {}}"#).expect("write latency json");
        assert!(render_latency(&path, None).contains("(backup_1gb): unreadable ("));
        fs::write(&path, "not json").expect("write latency json");
        assert!(render_latency(&path, None).contains("(backup_1gb): unreadable ("));
    }

    fn write_elements(criterion_dir: &Path, group: &str, function: &str, elements: u64) {
        let dir = criterion_dir.join(group).join(function).join("new");
        fs::create_dir_all(&dir).expect("create benchmark dir");
        let json = format!(
            "{{\"group_id\":\"{group}\",\"function_id\":\"{function}\",\"value_str\":null,\
             \"throughput\":{{\"Elements\":{elements}}},\"full_id\":\"{group}/{function}\"}}"
        );
        fs::write(dir.join("benchmark.json"), json).expect("write benchmark.json");
    }

    #[test]
    fn the_queue_rows_compare_strata_with_the_raw_loop() {
        let dir = tempfile::tempdir().expect("temp dir");
        let criterion = dir.path();
        write_estimate(criterion, "queue_jobs", "strata_single", 150.0e6);
        write_estimate(criterion, "queue_jobs", "raw_single", 100.0e6);
        write_estimate(criterion, "queue_jobs", "strata_batch100", 40.0e6);
        write_estimate(criterion, "queue_jobs", "raw_batch100", 20.0e6);

        let report = render_report(criterion, COMPARISONS, None);
        assert_eq!(
            row(&report, "queue_jobs", "strata_single"),
            "| queue_jobs | strata_single | raw_single | 150 ms | 100 ms | ratio 1.50 | — | reported |"
        );
        assert_eq!(
            row(&report, "queue_jobs", "strata_batch100"),
            "| queue_jobs | strata_batch100 | raw_batch100 | 40.0 ms | 20.0 ms | ratio 2.00 | — | reported |"
        );
    }

    #[test]
    fn the_rates_section_shows_jobs_per_second_against_the_targets() {
        let dir = tempfile::tempdir().expect("temp dir");
        let criterion = dir.path();
        // 2,000 jobs in 25 ms = 80,000 jobs/s; in 250 ms = 8,000 jobs/s.
        write_estimate(criterion, "queue_jobs", "strata_batch100", 25.0e6);
        write_elements(criterion, "queue_jobs", "strata_batch100", 2_000);
        write_estimate(criterion, "queue_jobs", "strata_single", 250.0e6);
        write_elements(criterion, "queue_jobs", "strata_single", 2_000);
        write_estimate(criterion, "queue_jobs", "raw_batch100", 10.0e6);

        let section = render_rates(criterion, RATES, None);
        assert!(
            section.contains(
                "\n- queue_jobs/strata_batch100: 80,000 jobs/s (2000 jobs in 25.0 ms), \
                 target ≥ 50,000 jobs/s: PASS\n"
            ),
            "{section}"
        );
        assert!(
            section.contains(
                "\n- queue_jobs/strata_single: 8,000 jobs/s (2000 jobs in 250 ms), target ≥ 10,000 jobs/s: FAIL\n"
            ),
            "{section}"
        );
        assert!(
            section
                .contains("\n- queue_jobs/raw_batch100: 10.0 ms (no element throughput in benchmark.json)\n"),
            "{section}"
        );
        assert!(section.contains("\n- queue_jobs/raw_single: not run\n"), "{section}");

        write_elements(criterion, "queue_jobs", "raw_batch100", 2_000);
        let later = SystemTime::now() + Duration::from_secs(60);
        let stale = render_rates(criterion, RATES, Some(later));
        assert!(stale.contains("target ≥ 50,000 jobs/s: PASS (earlier run)\n"), "{stale}");
        assert!(
            stale.contains(
                "\n- queue_jobs/raw_batch100: 200,000 jobs/s (2000 jobs in 10.0 ms) (earlier run)\n"
            ),
            "{stale}"
        );
    }

    fn queue_latency_json(written_at: u64) -> String {
        format!(
            r#"{{
                "claim_finished_10k": {{"claims": 2000, "finished_tasks": 10000, "max_us": 900.0,
                                        "p50_us": 60.0, "p99_us": 200.0, "written_at_unix": {written_at}}},
                "claim_finished_1m": {{"claims": 2000, "finished_tasks": 1000000, "max_us": 1900.0,
                                       "p50_us": 70.0, "p99_us": 300.0, "written_at_unix": {written_at}}},
                "task_point_read_1m": {{"reads": 20000, "tasks": 1000000, "readers": 10, "max_us": 3000.0,
                                        "p50_us": 40.0, "p99_us": 450.0, "written_at_unix": {written_at}}}
            }}"#
        )
    }

    fn unix_now() -> u64 {
        SystemTime::now().duration_since(UNIX_EPOCH).expect("clock after 1970").as_secs()
    }

    #[test]
    fn the_queue_latency_section_shows_the_claim_p99_ratio_and_the_point_read_p99() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join(QUEUE_LATENCY_FILE);
        fs::write(&path, queue_latency_json(unix_now())).expect("write queue latency json");
        let section = render_queue_latency(&path, Some(SystemTime::now() - Duration::from_secs(60)));
        assert!(
            section.contains(
                "\n- claim: p99 300 µs among 1000000 finished tasks, 200 µs among 10000: 1.50× \
                 (target ≤ 2.00×): PASS; p50 70.0 µs and 60.0 µs; 2000 and 2000 one-job claims\n"
            ),
            "{section}"
        );
        assert!(
            section.contains(
                "\n- task point read: p99 450 µs (10 readers, 1000000 tasks; target < 1.00 ms): PASS; \
                 p50 40.0 µs; 20000 reads\n"
            ),
            "{section}"
        );

        // Slow claims among many finished tasks and a slow read fail; an old file is marked.
        let slow = queue_latency_json(1)
            .replace("\"p99_us\": 300.0", "\"p99_us\": 500.0")
            .replace("\"p99_us\": 450.0", "\"p99_us\": 1000.0");
        fs::write(&path, slow).expect("write queue latency json");
        let section = render_queue_latency(&path, Some(SystemTime::now()));
        assert!(section.contains(": 2.50× (target ≤ 2.00×): FAIL (earlier run); "), "{section}");
        assert!(section.contains("target < 1.00 ms): FAIL (earlier run); "), "{section}");
        assert!(render_queue_latency(&path, None).contains("): FAIL; "));
    }

    #[test]
    fn a_missing_or_partial_queue_latency_file_is_reported_not_a_crash() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join(QUEUE_LATENCY_FILE);
        assert!(render_queue_latency(&path, None).contains("task_point_read_1m): not run (no "));
        fs::write(&path, "not json").expect("write");
        assert!(render_queue_latency(&path, None).contains("task_point_read_1m): unreadable ("));

        // Only the 10k claim group ran; the read section has no p99.
        let partial = r#"{"claim_finished_10k": {"claims": 100, "finished_tasks": 10000, "p50_us": 1.0,
                          "p99_us": 2.0}, "task_point_read_1m": {"reads": 5, "tasks": 9}}"#;
        fs::write(&path, partial).expect("write");
        let section = render_queue_latency(&path, None);
        assert!(section.contains("\n- claim: not run (no claim_finished_1m in the file)\n"), "{section}");
        assert!(
            section.contains(
                "\n- task point read: unreadable (task_point_read_1m: missing or invalid figures)\n"
            ),
            "{section}"
        );
    }

    #[test]
    fn counts_group_thousands() {
        assert_eq!(format_count(0.4), "0");
        assert_eq!(format_count(999.0), "999");
        assert_eq!(format_count(1_000.0), "1,000");
        assert_eq!(format_count(61_234.4), "61,234");
        assert_eq!(format_count(1_234_567.0), "1,234,567");
    }

    #[test]
    fn directory_names_follow_criterion() {
        assert_eq!(criterion_dir_name("point_read_1m"), "point_read_1m");
        assert_eq!(criterion_dir_name("a/b:c*d"), "a_b_c_d");
        assert_eq!(criterion_dir_name(&"x".repeat(80)).len(), 64);
    }

    #[test]
    fn times_use_a_readable_unit() {
        assert_eq!(format_time(12.345), "12.3 ns");
        assert_eq!(format_time(1_500.0), "1.50 µs");
        assert_eq!(format_time(250_000_000.0), "250 ms");
        assert_eq!(format_time(2.5e9), "2.50 s");
    }
}
