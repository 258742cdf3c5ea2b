//! `strata demo`: runs the tour ([`tour`]) on the database and prints each step
//! as it finishes (stderr, so that `--json` stays one document on stdout), then the
//! report: what each layer did and how long it took.

use std::fmt::Write as _;

mod tour;

use strata::Config;
use strata::ops::stats::{STATEMENT_CLOCK_RESOLUTION_MS, display_ms};

use crate::check::bytes;
use crate::output::{Outcome, Output};
use tour::{DemoOptions, DemoReport, Step};

/// Runs `strata demo`.
pub async fn run(tasks: usize, workers: usize, config: &Config, out: &Output) -> strata::Result<Outcome> {
    let options = DemoOptions { tasks, workers, ..DemoOptions::default() };
    let report = tour::run(config, options, |step: &Step| {
        eprintln!("  [{:>13}] {:>6} ms  {}", step.layer, step.ms, step.what);
    })
    .await?;
    out.print(&report, render);
    // A warning (little free disk, say) is in the report; only data at risk is exit 1.
    let critical = report.health.status == strata::ops::Status::Critical;
    Ok(if critical { Outcome::Problems } else { Outcome::Success })
}

fn render(r: &DemoReport) -> String {
    let mut text = String::new();
    // Writing to a String cannot fail.
    let _ = writeln!(text, "strata demo on {} (run {})", r.path, r.run);
    let rows = r.steps.iter().map(|s| vec![s.layer.to_string(), s.ms.to_string(), s.what.clone()]);
    let _ = writeln!(text, "{}", crate::output::table(&["layer", "ms", "what"], rows));
    let q = &r.queue;
    let _ = writeln!(
        text,
        "queue: {} enqueued, {} claims, {} completed, {} failures, {} dead, {:.0} tasks/s",
        q.enqueued, q.claims, q.completed, q.failures, q.dead, q.tasks_per_sec
    );
    let s = &r.search;
    let _ = writeln!(
        text,
        "search {}: {} jobs under rate limit {} ({} waits), {} results stored, {} duplicates skipped; \
         cached lookup {}: loader ran {}x, {} cache hit(s)",
        s.search_id,
        s.jobs,
        s.rate_limit_key,
        s.denied,
        s.results_inserted,
        s.duplicates_skipped,
        s.cache_key,
        s.loader_runs,
        s.cache_hits
    );
    let _ = writeln!(
        text,
        "pool: {} writes in {} commits ({:.1} writes per commit), {} busy retries",
        r.pool.writes,
        r.pool.commits,
        r.pool.writes as f64 / r.pool.commits.max(1) as f64,
        r.pool.busy_retries
    );
    let d = &r.documents;
    let _ = writeln!(
        text,
        "documents: {} stored ({} deduplicated), {} read back with their sha256 verified",
        d.stored, d.deduplicated, d.read_back
    );
    let _ = writeln!(
        text,
        "backup: {} ({}, sha256 {}…, {} document file(s))",
        r.backup.path.display(),
        bytes(r.backup.manifest.size_bytes),
        &r.backup.manifest.sha256[..12.min(r.backup.manifest.sha256.len())],
        r.backup.manifest.documents.len()
    );
    let g = &r.degradation;
    let mut states = String::from("healthy");
    for t in &g.transitions {
        let _ = match &t.cause {
            Some(cause) => write!(states, " -> {} ({cause})", t.state),
            None => write!(states, " -> {}", t.state),
        };
    }
    let meanwhile = match (g.audit_while_degraded.as_str(), g.replayed) {
        ("spilled", true) => "an audit entry meanwhile was spilled, then replayed once".to_string(),
        ("spilled", false) => "an audit entry meanwhile was spilled and is waiting".to_string(),
        ("stored", _) => "an audit entry meanwhile was stored".to_string(),
        (code, _) => format!("an audit entry meanwhile failed with {code}"),
    };
    let _ = writeln!(text, "degradation: {states} in {} ms; {meanwhile}", g.recovered_ms);
    let _ = writeln!(text, "slowest statements (total time):");
    for s in r.top_statements.iter().take(5) {
        let _ = writeln!(
            text,
            "  {:>8}  {:>6}x  p99 {:>6}  {}",
            display_ms(s.total_ms, STATEMENT_CLOCK_RESOLUTION_MS),
            s.count,
            display_ms(s.p99_ms, STATEMENT_CLOCK_RESOLUTION_MS),
            one_line(&s.sql)
        );
    }
    if !r.pool_work.is_empty() {
        // The pool's own monotonic clock: microseconds, unlike the statements above.
        let us = |v: f64| display_ms(v / 1e3, 0.001);
        let work: Vec<String> = r
            .pool_work
            .iter()
            .map(|w| format!("{} {}x p50 {} p99 {}", w.work, w.count, us(w.p50_us), us(w.p99_us)))
            .collect();
        let _ = writeln!(text, "pool timing: {}", work.join(", "));
    }
    if r.advice.indexes.is_empty() {
        let _ = writeln!(text, "index advice: none needed, every statement above uses an index");
    } else {
        let _ = writeln!(text, "index advice:");
        for index in &r.advice.indexes {
            let _ = writeln!(text, "  {}", index.create_sql);
        }
    }
    let _ = writeln!(text, "done in {} ms; run it again: the set-up is idempotent", r.total_ms);
    text
}

/// The SQL on one line, cut at 90 characters.
fn one_line(sql: &str) -> String {
    let flat = sql.split_whitespace().collect::<Vec<_>>().join(" ");
    match flat.char_indices().nth(90) {
        Some((cut, _)) => format!("{}…", &flat[..cut]),
        None => flat,
    }
}
