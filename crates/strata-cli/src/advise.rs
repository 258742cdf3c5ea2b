//! `strata advise [--query SQL]...`: index recommendations with the plan before and
//! after, for the given queries or the slowest SELECTs of the exported statistics.

use strata::Config;
use strata::ops::advisor::{self, AdviceReport, AdviseOptions};
use strata::ops::stats::{StatsReport, export_path};

use crate::output::{Outcome, Output};

/// SELECTs taken from the exported statistics when no `--query` is given.
const SLOWEST: usize = 10;

/// Runs `strata advise`.
pub async fn run(queries: &[String], config: &Config, out: &Output) -> strata::Result<Outcome> {
    let queries = if queries.is_empty() { slowest_selects(config)? } else { queries.to_vec() };
    let report = advisor::advise_path(&config.path, queries, AdviseOptions::default()).await?;
    out.print(&report, render);
    Ok(Outcome::Success)
}

fn slowest_selects(config: &Config) -> strata::Result<Vec<String>> {
    let none = || {
        strata::Error::invalid(
            "--query",
            "give the queries to advise on; no exported query statistics name any SELECT",
        )
    };
    let report = StatsReport::read(&export_path(&config.path))?.ok_or_else(none)?;
    let selects: Vec<String> = report
        .statements
        .into_iter()
        .filter(|s| s.sql.trim_start().to_ascii_uppercase().starts_with("SELECT"))
        .take(SLOWEST)
        .map(|s| s.sql)
        .collect();
    if selects.is_empty() { Err(none()) } else { Ok(selects) }
}

fn render(r: &AdviceReport) -> String {
    let mut text = format!("statistics: {}\n", r.statistics);
    for (i, q) in r.queries.iter().enumerate() {
        text += &format!("\n[{}] {}\n", i + 1, q.sql);
        if !q.plan_before.is_empty() {
            text += &indent(&q.plan_before);
        }
        if let Some(note) = &q.note {
            text += &format!("  -> {note}\n");
        }
        for rec in &q.recommendations {
            text += &format!("  -> {}\n", rec.create_sql);
        }
        if let Some(after) = &q.plan_after {
            text += "  with it:\n";
            text += &indent(after);
        }
    }
    if r.indexes.is_empty() {
        text += "\nno index to add\n";
    } else {
        text += "\nindexes to add:\n";
        for rec in &r.indexes {
            text += &format!("{}\n", rec.create_sql);
        }
    }
    text
}

fn indent(block: &str) -> String {
    block.lines().map(|l| format!("    {l}\n")).collect()
}
