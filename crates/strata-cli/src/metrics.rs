//! `strata metrics replay [--dry-run]`: the metrics spill file
//! (`<db>.metrics-spill.jsonl`, samples kept while the database was unavailable),
//! shown or replayed into `metrics`.

use clap::Subcommand;
use strata::Config;
use strata::repo::Metrics;
use strata::repo::metrics::{SpilledMetric, inspect_spill, spill_path};

use crate::audit::{Access, time_text, with_db};
use crate::output::{Outcome, Output};
use crate::replay::{Pending, ReplayDoc, render};

/// `strata metrics ...`
#[derive(Debug, Subcommand)]
pub enum MetricsCommand {
    /// The metrics spill file (`<db>.metrics-spill.jsonl`: samples kept while the
    /// database was unavailable): replays it into the table, each sample once and in
    /// order, and empties it. Damaged lines (a crash mid-write) are reported, kept in
    /// `<spill>.damaged` and exit 1. With --dry-run, only shows what it holds (this
    /// works while the database is unavailable).
    Replay {
        /// Show the spill file's samples; replay nothing.
        #[arg(long)]
        dry_run: bool,
    },
}

impl Pending for SpilledMetric {
    const NOUN: (&'static str, &'static str) = ("metrics sample", "metrics samples");
    const HEADERS: &'static [&'static str] = &["uid", "time", "name", "value", "labels"];

    fn cells(&self) -> Vec<String> {
        vec![
            self.uid.clone(),
            time_text(self.ts),
            self.name.clone(),
            self.value.to_string(),
            crate::audit::short_json(&self.labels, 60),
        ]
    }
}

/// Runs `strata metrics ...`.
pub async fn run(command: &MetricsCommand, config: &Config, out: &Output) -> strata::Result<Outcome> {
    let MetricsCommand::Replay { dry_run } = command;
    let doc = if *dry_run {
        ReplayDoc::<SpilledMetric>::shown(inspect_spill(&spill_path(&config.path))?)
    } else {
        // Opening for writing replays a waiting spill file already (Database::open).
        ReplayDoc::replayed(
            with_db(config, Access::Write, &["metrics"], async |db| match &db.open_report().metrics_replay {
                Some(report) => Ok(report.clone()),
                None => Metrics::new(db.pool().clone()).replay().await,
            })
            .await?,
        )
    };
    out.print(&doc, render);
    Ok(doc.outcome())
}
