//! The report's main table, its per-GiB lines and its throughput section, and the
//! formatting the other sections share.

use std::fmt::Write as _;
use std::path::Path;
use std::time::SystemTime;

use super::criterion::{Estimate, read_estimate, read_throughput};
use super::targets::{Comparison, PER_GIB, Rate, Target};

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

/// What a comparison came to.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Outcome {
    Pass,
    Fail,
    Reported,
    NotRun,
    Unreadable,
}

impl Outcome {
    pub(super) fn cell(&self, stale: bool) -> String {
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
pub(super) fn format_time(nanos: f64) -> String {
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
pub(super) fn format_count(value: f64) -> String {
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
    use std::fs;
    use std::time::Duration;

    use super::*;
    use crate::bench::targets::{COMPARISONS, RATES};

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
        assert_eq!(report.lines().filter(|l| l.starts_with("| ") && !l.starts_with("| Bench")).count(), 24);
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
            report.contains("\n1 passed, 1 failed, 2 reported without a target, 20 not run.\n"),
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
        assert!(empty.contains("0 passed, 0 failed, 0 reported without a target, 24 not run."), "{empty}");
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
    fn the_scrape_rows_hold_cache_and_rate_limit_checks_to_their_ratio_and_show_checks_per_second() {
        let dir = tempfile::tempdir().expect("temp dir");
        let criterion = dir.path();
        write_estimate(criterion, "cache_get_hit", "strata", 60.0e6);
        write_estimate(criterion, "cache_get_hit", "raw", 50.0e6);
        write_estimate(criterion, "cache_set", "strata", 90.0e6);
        write_estimate(criterion, "cache_set", "raw", 50.0e6);
        write_estimate(criterion, "ratelimit_check", "strata_8keys", 30.0e6);
        write_estimate(criterion, "ratelimit_check", "raw_8keys", 25.0e6);
        write_elements(criterion, "ratelimit_check", "strata_8keys", 2_000);
        write_estimate(criterion, "bulk_insert_results_100k", "strata", 1.05e9);
        write_estimate(criterion, "bulk_insert_results_100k", "raw", 1.0e9);

        let report = render_report(criterion, COMPARISONS, None);
        assert_eq!(
            row(&report, "cache_get_hit", "strata"),
            "| cache_get_hit | strata | raw | 60.0 ms | 50.0 ms | ratio 1.20 | ratio ≤ 1.50 | PASS |"
        );
        assert_eq!(
            row(&report, "cache_set", "strata"),
            "| cache_set | strata | raw | 90.0 ms | 50.0 ms | ratio 1.80 | ratio ≤ 1.50 | FAIL |"
        );
        assert_eq!(
            row(&report, "ratelimit_check", "strata_8keys"),
            "| ratelimit_check | strata_8keys | raw_8keys | 30.0 ms | 25.0 ms | ratio 1.20 | ratio ≤ 1.50 | PASS |"
        );
        assert!(row(&report, "ratelimit_check", "strata_1key").ends_with("| ratio ≤ 1.50 | not run |"));
        assert_eq!(
            row(&report, "bulk_insert_results_100k", "strata"),
            "| bulk_insert_results_100k | strata | raw | 1.05 s | 1.00 s | ratio 1.05 | — | reported |"
        );
        let rates = render_rates(criterion, RATES, None);
        assert!(
            rates.contains("\n- ratelimit_check/strata_8keys: 66,667 checks/s (2000 checks in 30.0 ms)\n"),
            "{rates}"
        );
        assert!(rates.contains("\n- ratelimit_check/raw_1key: not run\n"), "{rates}");
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

    #[test]
    fn counts_group_thousands() {
        assert_eq!(format_count(0.4), "0");
        assert_eq!(format_count(999.0), "999");
        assert_eq!(format_count(1_000.0), "1,000");
        assert_eq!(format_count(61_234.4), "61,234");
        assert_eq!(format_count(1_234_567.0), "1,234,567");
    }

    #[test]
    fn times_use_a_readable_unit() {
        assert_eq!(format_time(12.345), "12.3 ns");
        assert_eq!(format_time(1_500.0), "1.50 µs");
        assert_eq!(format_time(250_000_000.0), "250 ms");
        assert_eq!(format_time(2.5e9), "2.50 s");
    }
}
