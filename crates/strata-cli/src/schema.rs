//! `strata schema show|check|diff|generate`: introspection, the drift check and
//! schema diffs of database files, opened read-only.

use serde::Serialize;
use strata::Config;
use strata::schema::{self, Change, DriftReport, Schema};

use crate::cli::SchemaCommand;
use crate::migrate::migration_set;
use crate::output::{Outcome, Output};

#[derive(Serialize)]
struct DiffReport {
    a: String,
    b: String,
    changes: Vec<Change>,
}

#[derive(Serialize)]
struct GenerateReport {
    a: String,
    b: String,
    sql: String,
}

/// Runs one `strata schema` subcommand.
pub async fn run(command: &SchemaCommand, config: &Config, out: &Output) -> strata::Result<Outcome> {
    match command {
        SchemaCommand::Show => {
            let conn = strata::pool::open_read_only(&config.path)?;
            let schema = schema::introspect(&conn)?;
            out.print(&schema, Schema::render);
            Ok(Outcome::Success)
        }
        SchemaCommand::Check(dir) => {
            let set = migration_set(dir)?;
            let conn = strata::pool::open_read_only(&config.path)?;
            let report = schema::drift_check(&conn, &set)?;
            out.print(&report, render_drift);
            Ok(if report.is_clean() { Outcome::Success } else { Outcome::Problems })
        }
        SchemaCommand::Diff { a, b } => {
            let from = introspect_file(a)?;
            let to = introspect_file(b)?;
            let report = DiffReport {
                a: a.display().to_string(),
                b: b.display().to_string(),
                changes: schema::diff(&from, &to),
            };
            out.print(&report, |r| {
                if r.changes.is_empty() {
                    format!("{} and {} have the same schema\n", r.a, r.b)
                } else {
                    format!("--- {}\n+++ {}\n{}", r.a, r.b, schema::render(&r.changes))
                }
            });
            Ok(if report.changes.is_empty() { Outcome::Success } else { Outcome::Problems })
        }
        SchemaCommand::Generate { a, b } => {
            let from = introspect_file(a)?;
            let to = introspect_file(b)?;
            let report = GenerateReport {
                a: a.display().to_string(),
                b: b.display().to_string(),
                sql: schema::generate(&from, &to)?,
            };
            out.print(&report, |r| {
                if r.sql.trim().is_empty() {
                    "-- the schemas are the same\n".to_string()
                } else {
                    r.sql.clone()
                }
            });
            Ok(Outcome::Success)
        }
    }
}

/// The schema of the database file at `path`, opened read-only.
fn introspect_file(path: &std::path::Path) -> strata::Result<Schema> {
    let conn = strata::pool::open_read_only(path)?;
    schema::introspect(&conn)
}

fn render_drift(report: &DriftReport) -> String {
    let at = report.version.map_or_else(|| "no migration".to_string(), |v| format!("V{v}"));
    if report.is_clean() {
        format!(
            "no drift: the schema is what the migrations produce at {at} ({})\n",
            report.expected_fingerprint
        )
    } else {
        format!(
            "drift: {} difference(s) from what the migrations produce at {at}\n{}",
            report.changes.len(),
            schema::render(&report.changes)
        )
    }
}
