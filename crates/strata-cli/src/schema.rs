//! `strata schema show|check|diff|generate|watch`: introspection, the drift check and
//! schema diffs of database files, opened read-only; `watch` prints the changes made by
//! any process as they happen (and, with `--config`, follows the file's reloadable
//! settings, the log level among them).

use std::io::{IsTerminal as _, Write as _};
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;
use strata::schema::{self, Change, ChangeKind, DriftReport, ObjectKind, Schema};
use strata::{Config, ConfigWatch, Database, SchemaEvent, WatchOptions};

use crate::cli::{MigrationDir, SchemaCommand};
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
/// Runs a `strata schema` command; `follow` watches the config file (`watch` only).
pub async fn run(
    command: &SchemaCommand,
    config: &Config,
    out: &Output,
    follow: impl Fn(&Database) -> strata::Result<Option<ConfigWatch>>,
) -> strata::Result<Outcome> {
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
        SchemaCommand::Diff { a, b, side_by_side } => {
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
                } else if *side_by_side {
                    side_by_side_diff(
                        r,
                        colour_wanted(std::io::stdout().is_terminal(), std::env::var_os("NO_COLOR")),
                    )
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
        SchemaCommand::Watch { dir, interval_ms, no_optimize } => {
            watch(dir, *interval_ms, !*no_optimize, config, out, follow).await
        }
    }
}

#[derive(Serialize)]
struct Watching {
    watching: String,
    schema_version: i64,
    fingerprint: String,
}

/// `strata schema watch`: one line (or JSON line) when it starts, then one event per
/// schema change, until SIGINT or SIGTERM.
async fn watch(
    dir: &MigrationDir,
    interval_ms: u64,
    optimize: bool,
    config: &Config,
    out: &Output,
    follow: impl Fn(&Database) -> strata::Result<Option<ConfigWatch>>,
) -> strata::Result<Outcome> {
    let set = migration_set(dir)?;
    let db = crate::audit::open(config, crate::audit::Access::Write, &[]).await?;
    let config_watch = match follow(&db) {
        Ok(watch) => watch,
        Err(err) => {
            let _ = db.close().await;
            return Err(err);
        }
    };
    let options = WatchOptions {
        interval: Duration::from_millis(interval_ms.max(1)),
        migrations: Some(Arc::new(set)),
        optimize,
    };
    let mut watch = match db.watch_schema_with(options).await {
        Ok(watch) => watch,
        Err(err) => {
            let _ = db.close().await;
            return Err(err);
        }
    };
    let started = Watching {
        watching: config.path.display().to_string(),
        schema_version: watch.schema_version(),
        fingerprint: watch.fingerprint().to_string(),
    };
    line(out, &started, |w| {
        format!("watching {} (schema_version {}); Ctrl-C to stop", w.watching, w.schema_version)
    });
    let stop = strata_serve::shutdown_signal();
    tokio::pin!(stop);
    let result = loop {
        tokio::select! {
            () = &mut stop => break Ok(Outcome::Success),
            event = watch.next() => match event {
                Some(Ok(event)) => line(out, &event, render_event),
                Some(Err(err)) if err.code() == "E2006" => break Err(err),
                Some(Err(err)) => tracing::warn!(target: "strata::watch", "{}", strata::core::render(&err)),
                None => break Ok(Outcome::Success),
            },
        }
    };
    drop(watch);
    drop(config_watch);
    let closed = db.close().await;
    let outcome = result?;
    closed?;
    Ok(outcome)
}

/// Prints `value` as one compact JSON line with `--json`, else `human`'s text; flushed
/// at once, so that a pipe sees each event as it happens.
fn line<T: Serialize>(out: &Output, value: &T, human: impl FnOnce(&T) -> String) {
    let text = if out.is_json() {
        serde_json::to_string(value).unwrap_or_else(|e| format!("{{\"error\":\"cannot render JSON: {e}\"}}"))
    } else {
        human(value)
    };
    let mut stdout = std::io::stdout().lock();
    let _ = writeln!(stdout, "{}", text.trim_end());
    let _ = stdout.flush();
}

fn render_event(event: &SchemaEvent) -> String {
    let mut text = format!(
        "schema_version {} -> {} ({})\n{}",
        event.previous_version,
        event.schema_version,
        event.fingerprint,
        schema::render(&event.changes)
    );
    if event.optimized {
        text += &format!("analyzed: {}; PRAGMA optimize ran\n", event.analyzed.join(", "));
    }
    if let Some(drift) = &event.drift {
        text += &render_drift(drift);
    }
    for create in &event.recommendations {
        text += &format!("advice: {create}\n");
    }
    text
}

/// Whether to colour: on a terminal, unless `NO_COLOR` is set to anything but empty
/// (no-color.org).
fn colour_wanted(terminal: bool, no_color: Option<std::ffi::OsString>) -> bool {
    terminal && no_color.is_none_or(|v| v.is_empty())
}

const RED: &str = "\x1b[31m";
const GREEN: &str = "\x1b[32m";
const YELLOW: &str = "\x1b[33m";
const RESET: &str = "\x1b[0m";

/// The changes in two columns, what A has on the left and what B has on the right:
/// a dropped object only on the left (red), an added one only on the right (green),
/// an altered one on both sides (yellow), `old -> new` details split between them.
fn side_by_side_diff(report: &DiffReport, colour: bool) -> String {
    let rows: Vec<(String, String, &str)> = report
        .changes
        .iter()
        .map(|c| {
            let object = format!("{} {}", object_name(c.object), c.name);
            let with =
                |detail: &str| if detail.is_empty() { object.clone() } else { format!("{object}: {detail}") };
            match c.kind {
                ChangeKind::Drop => (with(&c.detail), String::new(), RED),
                ChangeKind::Add => (String::new(), with(&c.detail), GREEN),
                ChangeKind::Alter => match c.detail.split_once(" -> ") {
                    Some((old, new)) => (with(old), with(new), YELLOW),
                    None => (with(&c.detail), with(&c.detail), YELLOW),
                },
            }
        })
        .collect();
    let width = rows
        .iter()
        .map(|(left, ..)| left.chars().count())
        .chain([report.a.chars().count(), 4])
        .max()
        .unwrap_or(0);
    let paint = |text: &str, code: &str| {
        if colour && !text.is_empty() { format!("{code}{text}{RESET}") } else { text.to_string() }
    };
    let mut text = format!("{:width$} | {}\n", report.a, report.b);
    text += &format!("{}-+-{}\n", "-".repeat(width), "-".repeat(report.b.chars().count().max(4)));
    for (left, right, code) in &rows {
        let pad = " ".repeat(width - left.chars().count());
        text += format!("{}{pad} | {}", paint(left, code), paint(right, code)).trim_end();
        text.push('\n');
    }
    text
}

fn object_name(object: ObjectKind) -> &'static str {
    match object {
        ObjectKind::Table => "table",
        ObjectKind::Column => "column",
        ObjectKind::Constraint => "constraint",
        ObjectKind::Index => "index",
        ObjectKind::Trigger => "trigger",
        ObjectKind::View => "view",
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

#[cfg(test)]
mod tests {
    use super::*;

    fn report() -> DiffReport {
        let change = |kind, object, name: &str, detail: &str| Change {
            kind,
            object,
            name: name.to_string(),
            detail: detail.to_string(),
        };
        DiffReport {
            a: "a.db".into(),
            b: "b.db".into(),
            changes: vec![
                change(ChangeKind::Add, ObjectKind::Column, "notes.pinned", "INTEGER"),
                change(ChangeKind::Drop, ObjectKind::Index, "notes_body", ""),
                change(ChangeKind::Alter, ObjectKind::Column, "notes.body", "type TEXT -> BLOB"),
            ],
        }
    }

    #[test]
    fn side_by_side_puts_a_left_and_b_right() {
        assert_eq!(
            side_by_side_diff(&report(), false),
            "a.db                         | b.db\n\
             -----------------------------+-----\n\
             \x20                            | column notes.pinned: INTEGER\n\
             index notes_body             |\n\
             column notes.body: type TEXT | column notes.body: BLOB\n"
        );
    }

    #[test]
    fn colour_only_on_a_terminal_and_never_with_no_color() {
        assert!(colour_wanted(true, None));
        assert!(colour_wanted(true, Some("".into())));
        assert!(!colour_wanted(true, Some("1".into())));
        assert!(!colour_wanted(false, None));
        let coloured = side_by_side_diff(&report(), true);
        assert!(coloured.contains("\x1b[32mcolumn notes.pinned: INTEGER\x1b[0m"), "{coloured}");
        assert!(coloured.contains("\x1b[31mindex notes_body\x1b[0m"), "{coloured}");
        assert!(coloured.contains("\x1b[33mcolumn notes.body: BLOB\x1b[0m"), "{coloured}");
    }
}
