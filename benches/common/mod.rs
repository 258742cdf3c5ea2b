//! Set-up shared by the bench targets of `benches/`: the tokio runtime, criterion's
//! test mode, the target directory the report is written to, the paired raw-against-
//! strata rounds, exact latency percentiles and the JSON files they are saved in, and
//! removing a database with its side files. Each bench target includes it with `mod common;`.

#![allow(dead_code, reason = "each bench target uses its own subset of these helpers")]

use std::fs::{self, File};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use criterion::measurement::WallTime;
use criterion::{BenchmarkGroup, SamplingMode};
use tokio::runtime::Runtime;

/// Worker threads of the benches' multi-thread tokio runtime. The timed loops run in
/// `Runtime::block_on` on the bench thread, so workers only matter for deadpool's
/// `spawn_blocking`, timers and spawned tasks. 2 and 4 were tried on the 2-core bench
/// machine: more threads than cores only added scheduling noise next to the writer
/// thread. `STRATA_BENCH_WORKERS=<n>` overrides it to compare again.
pub const WORKER_THREADS: usize = 2;

/// The benches' runtime: [`WORKER_THREADS`] workers unless `STRATA_BENCH_WORKERS` says.
pub fn runtime() -> Runtime {
    let workers = std::env::var("STRATA_BENCH_WORKERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .filter(|&n: &usize| n > 0)
        .unwrap_or(WORKER_THREADS);
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers)
        .enable_all()
        .build()
        .expect("build the tokio runtime")
}

/// Whether criterion runs this binary as a test: `cargo test --benches` does not pass
/// `--bench`, `cargo bench -- --test` passes both (criterion's own rule).
pub fn test_mode() -> bool {
    let has = |flag: &str| std::env::args().any(|arg| arg == flag);
    !has("--bench") || has("--test")
}

/// Cargo's target directory, as `cargo xtask bench` finds it: `$CARGO_TARGET_DIR`
/// (relative to the project root), else `<root>/target`.
pub fn target_dir() -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) => root.join(dir),
        None => root.join("target"),
    }
}

/// Where [`paired`] writes, inside the target directory.
pub const PAIRED_FILE: &str = "bench-paired.json";

/// A paired measurement: `rounds` rounds of `raw` and `strata` (each returns the
/// seconds of the work it timed) back to back, which goes first alternating; prints
/// the medians and saves them, with the median of the per-round ratios, under `group`
/// in `<target>/bench-paired.json` for the report (not in test mode, where criterion
/// saves nothing either). On this shared 2-core VM the whole machine's speed shifts by
/// about a third for seconds at a time; criterion measures the two sides seconds
/// apart, a round's two runs are milliseconds apart.
pub fn paired(group: &str, rounds: usize, mut raw: impl FnMut() -> f64, mut strata: impl FnMut() -> f64) {
    let rounds = if test_mode() { 3 } else { rounds };
    let (mut raws, mut stratas, mut ratios) = (Vec::new(), Vec::new(), Vec::new());
    for round in 0..rounds {
        let (r, p) = if round % 2 == 0 {
            let r = raw();
            (r, strata())
        } else {
            let p = strata();
            (raw(), p)
        };
        raws.push(r);
        stratas.push(p);
        ratios.push(p / r);
    }
    let median = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let (raw_ms, strata_ms, ratio) =
        (median(&mut raws) * 1e3, median(&mut stratas) * 1e3, median(&mut ratios));
    eprintln!(
        "{group} paired: {rounds} rounds, median raw {raw_ms:.3} ms, strata {strata_ms:.3} ms, median ratio {ratio:.3}"
    );
    if test_mode() {
        return;
    }
    save_section(
        PAIRED_FILE,
        group,
        serde_json::json!({
            "rounds": rounds, "raw_median_ms": raw_ms, "strata_median_ms": strata_ms, "median_ratio": ratio,
        }),
    );
}

/// Writes `section`, stamped with `written_at_unix`, under `group` in
/// `<target>/<file>`, keeping the other groups' sections (not in test mode, where
/// criterion saves nothing either).
pub fn save_section(file: &str, group: &str, mut section: serde_json::Value) {
    if test_mode() {
        return;
    }
    let path = target_dir().join(file);
    let mut json = fs::read_to_string(&path)
        .ok()
        .and_then(|text| serde_json::from_str::<serde_json::Value>(&text).ok())
        .filter(serde_json::Value::is_object)
        .unwrap_or_else(|| serde_json::json!({}));
    let written_at = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    section["written_at_unix"] = serde_json::json!(written_at);
    json[group] = section;
    fs::write(&path, serde_json::to_string_pretty(&json).expect("section json") + "\n")
        .unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
    eprintln!("{group}: wrote {}", path.display());
}

/// Latencies of one measurement, sorted: exact nearest-rank percentiles, no buckets.
pub struct Latencies(Vec<Duration>);

impl Latencies {
    pub fn new(mut samples: Vec<Duration>) -> Latencies {
        samples.sort_unstable();
        Latencies(samples)
    }

    /// The nearest-rank percentile `p` (0 < p <= 100).
    pub fn percentile(&self, p: f64) -> Duration {
        let Some(last) = self.0.len().checked_sub(1) else { return Duration::ZERO };
        let rank = ((p / 100.0) * self.0.len() as f64).ceil() as usize;
        self.0[rank.saturating_sub(1).min(last)]
    }

    /// The count (under `count_key`) and the percentiles in µs (one decimal), for a
    /// JSON file.
    pub fn json(&self, count_key: &str) -> serde_json::Value {
        let us = |d: Duration| (d.as_secs_f64() * 1e7).round() / 10.0;
        serde_json::json!({
            count_key: self.0.len(),
            "p50_us": us(self.percentile(50.0)),
            "p99_us": us(self.percentile(99.0)),
            "max_us": us(self.percentile(100.0)),
        })
    }

    /// One line for the console: `<count> <noun>, p50 .., p99 .., max ..`.
    pub fn line(&self, noun: &str) -> String {
        format!(
            "{} {noun}, p50 {:.1?}, p99 {:.1?}, max {:.1?}",
            self.0.len(),
            self.percentile(50.0),
            self.percentile(99.0),
            self.percentile(100.0)
        )
    }
}

/// Removes a file and the `-wal` / `-shm` / `-journal` files beside it, whichever exist.
pub fn remove_db(path: &Path) {
    for suffix in ["", "-wal", "-shm", "-journal"] {
        let mut name = path.as_os_str().to_owned();
        name.push(suffix);
        let _ = fs::remove_file(PathBuf::from(name));
    }
}

/// Whether the file at `path` is a finished fixture of version `version`: the SQLite
/// header's magic and `user_version`, read from the file itself so that no connection
/// creates `-wal` or `-shm` files beside it.
pub fn fixture_stamped(path: &Path, version: u32) -> bool {
    let mut header = [0u8; 100];
    if File::open(path).and_then(|mut f| f.read_exact(&mut header)).is_err() {
        return false;
    }
    let user_version = u32::from_be_bytes([header[60], header[61], header[62], header[63]]);
    header.starts_with(b"SQLite format 3\0") && user_version == version
}

/// A group of flat sampling: `samples` samples over `measure_secs` seconds after one
/// second of warm-up (the queue and scrape groups).
pub fn configure(group: &mut BenchmarkGroup<'_, WallTime>, samples: usize, measure_secs: u64) {
    group
        .sampling_mode(SamplingMode::Flat)
        .sample_size(samples)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(measure_secs));
}
