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
//! `target/bench-queue-latency.json`; and the p99 of a cache get from 8 concurrent
//! callers, which `benches/scrape.rs` writes to `target/bench-scrape-latency.json`. A
//! missing result is reported as "not run", never a crash. The report measures; it does not gate: a missed target is shown as FAIL
//! and the task still succeeds.
//!
//! Files: `targets` (the lists and their bars), `criterion` (reading criterion's
//! results), `report` (the table, per-GiB and rates sections), `latency` (the latency
//! sections) and `paired` (the paired runs' section).

mod criterion;
mod latency;
mod paired;
mod report;
mod targets;

use std::fs;
use std::path::Path;
use std::process::Command;
use std::time::SystemTime;

use crate::Result;
use criterion::{criterion_dir, target_dir};
use latency::{render_latency, render_queue_latency, render_scrape_latency};
use paired::render_paired;
use report::{render_rates, render_report};
use targets::{COMPARISONS, RATES};

/// The command whose results the report reads; extra arguments are appended (a
/// filter such as `check_1gb` runs only the matching groups of both benches).
const BENCH_COMMAND: &[&str] = &[
    "bench",
    "-p",
    "strata",
    "--bench",
    "pool",
    "--bench",
    "ops",
    "--bench",
    "queue",
    "--bench",
    "scrape",
    "--bench",
    "documents",
];

/// The report's file name inside the target directory.
const REPORT_FILE: &str = "bench-report.md";

/// The writer's commit latency during a backup, written by `benches/ops.rs` inside the
/// target directory.
pub const LATENCY_FILE: &str = "bench-ops-latency.json";

/// The queue's claim and point-read latencies, written by `benches/queue.rs` inside the
/// target directory, one section per criterion group.
pub const QUEUE_LATENCY_FILE: &str = "bench-queue-latency.json";

/// The cache's get latencies from 8 concurrent callers, written by `benches/scrape.rs`
/// inside the target directory.
pub const SCRAPE_LATENCY_FILE: &str = "bench-scrape-latency.json";

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
    report.push_str(&render_scrape_latency(&target_dir.join(SCRAPE_LATENCY_FILE), fresh_since));
    let path = target_dir.join(REPORT_FILE);
    fs::create_dir_all(&target_dir).map_err(|e| format!("cannot create {}: {e}", target_dir.display()))?;
    fs::write(&path, &report).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    println!("{report}");
    println!("wrote {}", path.display());
    Ok(())
}
