//! `strata stats`: statement times below the statement clock's resolution read `<1 ms`
//! (never `0.000`), and the JSON says what that resolution is.

use serde_json::Value;

use crate::{strata, text};

/// The cells of the query table of `strata stats` (human output), one row per
/// statement, split on runs of two or more spaces.
fn query_rows(out: &str) -> Vec<Vec<String>> {
    let section = out.split_once("\nqueries (").map(|(_, rest)| rest).expect("a queries section");
    let table = section.split_once("\n\npool").map_or(section, |(table, _)| table);
    table
        .lines()
        .skip(2) // "this command, since ...):" and the header
        .filter(|line| !line.trim().is_empty() && !line.starts_with('('))
        .map(|line| line.split("  ").map(str::trim).filter(|c| !c.is_empty()).map(String::from).collect())
        .collect()
}

#[test]
fn fast_statements_read_below_one_millisecond_never_zero() {
    let dir = tempfile::tempdir().unwrap();
    let init = strata(dir.path(), &["--db", "app.db", "init"]);
    assert_eq!(init.status.code(), Some(0), "{}", text(&init.stderr, dir.path()));
    let out = strata(dir.path(), &["--db", "app.db", "stats"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr, dir.path()));
    let stdout = text(&out.stdout, dir.path());
    let rows = query_rows(&stdout);
    assert!(rows.len() >= 5, "a count(*) per table and the PRAGMAs: {stdout}");
    let mut below = 0;
    for row in &rows {
        // count, total, p50, p95, p99, ...
        for cell in &row[1..5] {
            let value =
                cell.strip_suffix(" ms").unwrap_or_else(|| panic!("a time in ms, got {cell:?}: {stdout}"));
            if value == "<1" {
                below += 1;
            } else {
                let ms: f64 = value.parse().unwrap_or_else(|_| panic!("a number, got {cell:?}: {stdout}"));
                assert!(ms >= 1.0, "a time below the clock's 1 ms reads <1 ms, not {cell:?}: {stdout}");
            }
        }
    }
    // Each statement here takes microseconds; SQLite's millisecond clock reads most as 0.
    assert!(below > 0, "fast statements read <1 ms: {stdout}");

    let json = strata(dir.path(), &["--db", "app.db", "--json", "stats"]);
    assert_eq!(json.status.code(), Some(0), "{}", text(&json.stderr, dir.path()));
    let doc: Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(doc["queries"]["clock_resolution_ms"], 1.0, "{doc:#}");
}

#[test]
fn the_pools_reads_are_timed_in_microseconds() {
    let dir = tempfile::tempdir().unwrap();
    let init = strata(dir.path(), &["--db", "app.db", "init"]);
    assert_eq!(init.status.code(), Some(0), "{}", text(&init.stderr, dir.path()));
    let json = strata(dir.path(), &["--db", "app.db", "--json", "stats"]);
    assert_eq!(json.status.code(), Some(0), "{}", text(&json.stderr, dir.path()));
    let doc: Value = serde_json::from_slice(&json.stdout).unwrap();
    let work = doc["queries"]["work"].as_array().unwrap_or_else(|| panic!("a work list: {doc:#}"));
    let read = work.iter().find(|w| w["work"] == "read").unwrap_or_else(|| panic!("{doc:#}"));
    // `stats` reads the table names and counts in one closure, then the exported file.
    assert!(read["count"].as_u64().unwrap() >= 1, "{read}");
    assert!(read["p50_us"].as_f64().unwrap() > 0.0, "a closure is never timed as zero: {read}");

    let out = strata(dir.path(), &["--db", "app.db", "stats"]);
    let stdout = text(&out.stdout, dir.path());
    let section = stdout.split_once("\npool work (monotonic clock):\n").map(|(_, rest)| rest);
    let read_row = section.and_then(|rest| rest.lines().find(|l| l.trim_start().starts_with("read")));
    let read_row = read_row.unwrap_or_else(|| panic!("a read row: {stdout}"));
    assert!(!read_row.contains("0.000 ms") && read_row.contains(" ms"), "{read_row}");
}

#[test]
fn app_leaves_out_strata_s_own_statements() {
    let dir = tempfile::tempdir().unwrap();
    let init = strata(dir.path(), &["--db", "app.db", "init"]);
    assert_eq!(init.status.code(), Some(0), "{}", text(&init.stderr, dir.path()));
    // Every statement of `strata stats` itself is strata's: PRAGMAs, the schema
    // catalogue, the row counts.
    let all = strata(dir.path(), &["--db", "app.db", "--json", "stats"]);
    assert_eq!(all.status.code(), Some(0), "{}", text(&all.stderr, dir.path()));
    let doc: Value = serde_json::from_slice(&all.stdout).unwrap();
    let statements = doc["queries"]["statements"].as_array().unwrap();
    assert!(statements.len() >= 5, "{doc:#}");
    assert!(statements.iter().all(|s| s["origin"] == "strata"), "{doc:#}");

    let app = strata(dir.path(), &["--db", "app.db", "--json", "stats", "--app"]);
    assert_eq!(app.status.code(), Some(0), "{}", text(&app.stderr, dir.path()));
    let doc: Value = serde_json::from_slice(&app.stdout).unwrap();
    assert_eq!(doc["app_only"], true);
    assert_eq!(doc["queries"]["statements"], serde_json::json!([]), "{doc:#}");
}
