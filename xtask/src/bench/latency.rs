//! The latency sections: a writer's commits during a backup, and the queue's claim and
//! point-read p99s, from the json files the benches write.

use std::fmt::Write as _;
use std::fs;
use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::report::{Outcome, format_time};
use super::targets::{CLAIM_P99_RATIO_AT_MOST, POINT_READ_P99_BELOW_US};

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

/// The report's section on the cache's get latency, from the file `benches/scrape.rs`
/// writes: the p99 (and p50) of a cache get (a hit) from 8 concurrent callers. Issue
/// 18 sets no bar for it, so it is reported without one.
pub fn render_scrape_latency(path: &Path, fresh_since: Option<SystemTime>) -> String {
    const TITLE: &str = "Cache get latency (cache_get_8_readers)";
    const GROUP: &str = "cache_get_8_readers";
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
    let Some(section) = json.get(GROUP) else {
        return format!("\n{TITLE}: not run (no {GROUP} in {}).\n", path.display());
    };
    let positive = |key: &str| section.get(key)?.as_f64().filter(|v| v.is_finite() && *v > 0.0);
    let count = |key: &str| section.get(key).and_then(serde_json::Value::as_u64);
    let (Some(p50_us), Some(p99_us), Some(gets)) = (positive("p50_us"), positive("p99_us"), count("gets"))
    else {
        return format!("\n{TITLE}: unreadable ({GROUP}: missing or invalid figures).\n");
    };
    let written = count("written_at_unix");
    let stale = fresh_since
        .is_some_and(|since| written.is_none_or(|at| UNIX_EPOCH + Duration::from_secs(at + 1) < since));
    let micros = |us: f64| format_time(us * 1e3);
    let readers = count("readers").map_or_else(String::new, |n| format!("{n} concurrent callers, "));
    let entries = count("entries").map_or_else(String::new, |n| format!("{n} entries, "));
    format!(
        "\n{TITLE}, exact percentiles of the bench's own samples{}:\n\n\
         - cache get (a hit): p99 {} ({readers}{entries}{gets} gets; no target), p50 {}\n",
        if stale { " (earlier run)" } else { "" },
        micros(p99_us),
        micros(p50_us),
    )
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bench::{LATENCY_FILE, QUEUE_LATENCY_FILE, SCRAPE_LATENCY_FILE};

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
    fn the_scrape_latency_section_shows_the_cache_get_p99_of_8_callers() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join(SCRAPE_LATENCY_FILE);
        assert!(render_scrape_latency(&path, None).contains("(cache_get_8_readers): not run (no "));
        let json = r#"{"cache_get_8_readers": {"gets": 16000, "readers": 8, "entries": 1000,
                       "p50_us": 85.0, "p99_us": 420.0, "max_us": 2000.0, "written_at_unix": 5}}"#;
        fs::write(&path, json).expect("write scrape latency json");
        let section = render_scrape_latency(&path, None);
        assert!(
            section.contains(
                "\n- cache get (a hit): p99 420 µs (8 concurrent callers, 1000 entries, 16000 gets; no target), \
                 p50 85.0 µs\n"
            ),
            "{section}"
        );
        assert!(render_scrape_latency(&path, Some(SystemTime::now())).contains("samples (earlier run):"));
        fs::write(&path, r#"{"cache_get_8_readers": {"gets": 3}}"#).expect("write");
        assert!(render_scrape_latency(&path, None).contains("unreadable (cache_get_8_readers: missing"));
        fs::write(&path, "{}").expect("write");
        assert!(render_scrape_latency(&path, None).contains("not run (no cache_get_8_readers in "));
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
}
