//! The paired runs' section: strata and raw timed back to back, the median per-round ratio.

use std::fmt::Write as _;
use std::fs;
use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::report::{Outcome, format_time};
use super::targets::PAIRED;

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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bench::PAIRED_FILE;

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
        assert!(
            report.contains("- bulk_insert_results_100k (strata vs raw, 100,000 results): not run"),
            "{report}"
        );

        fs::write(&path, "{\"point_read_1m\": {\"median_ratio\": -1}}").expect("write");
        assert!(render_paired(&path, None).contains("unreadable"));
    }
}
