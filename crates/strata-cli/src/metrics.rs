//! `strata metrics replay [--dry-run]`: the metrics spill file
//! (`<db>.metrics-spill.jsonl`, samples kept while the database was unavailable),
//! shown or replayed into `metrics`.

use std::path::{Path, PathBuf};

use clap::Subcommand;
use strata::repo::Metrics;
use strata::repo::metrics::{MetricSpillContents, SpilledMetric, inspect_spill, spill_path};
use strata::repo::spill::ReplayReport;
use strata::{Config, Database, OpenReport};

use crate::audit::{short_json, time_text};
use crate::output::{Outcome, Output};
use crate::replay::Pending;

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
    const TABLE: &'static str = "metrics";

    fn cells(&self) -> Vec<String> {
        let labels = short_json(&self.labels, 60);
        vec![self.uid.clone(), time_text(self.ts), self.name.clone(), self.value.to_string(), labels]
    }

    fn spill_path(db: &Path) -> PathBuf {
        spill_path(db)
    }

    fn inspect(path: &Path) -> strata::Result<MetricSpillContents> {
        inspect_spill(path)
    }

    fn replayed_at_open(report: &OpenReport) -> Option<&ReplayReport> {
        report.metrics_replay.as_ref()
    }

    async fn replay(db: &Database) -> strata::Result<ReplayReport> {
        Metrics::new(db.pool().clone()).replay().await
    }
}

/// Runs `strata metrics ...`.
pub async fn run(command: &MetricsCommand, config: &Config, out: &Output) -> strata::Result<Outcome> {
    let MetricsCommand::Replay { dry_run } = command;
    crate::replay::run::<SpilledMetric>(*dry_run, config, out).await
}
