//! `strata migrate status|plan|up|down|new|lint|repair`: calls strata-schema on the
//! database (or on the migration files alone) and renders its reports.

use std::sync::Arc;

use serde::Serialize;
use strata::schema::{
    self, DownOptions, DownReport, DownTarget, Finding, MigrationInfo, MigrationState, NewMigration, Plan,
    RepairReport, ReversibilityReport, Severity, Status, UpOptions,
};
use strata::{Config, Database, MigrationSet, Migrations, UpReport};

use crate::cli::{MigrateCommand, MigrationDir};
use crate::output::{Outcome, Output, table};

/// The migration set of `--dir` (in the history namespace of `--namespace`), or the
/// reference migrations built into strata.
pub fn migration_set(dir: &MigrationDir) -> strata::Result<MigrationSet> {
    let set = match &dir.dir {
        Some(dir) => MigrationSet::from_dir(dir)?,
        None => strata::reference_migrations()?,
    };
    match &dir.namespace {
        Some(namespace) => set.with_namespace(namespace),
        None => Ok(set),
    }
}

/// Runs one `strata migrate` subcommand.
pub async fn run(command: &MigrateCommand, config: &Config, out: &Output) -> strata::Result<Outcome> {
    match command {
        MigrateCommand::Status(dir) => {
            let set = migration_set(dir)?;
            let conn = strata::pool::open_read_only(&config.path)?;
            let status = schema::status(&conn, &set)?;
            out.print(&status, render_status);
            Ok(if status.is_consistent() { Outcome::Success } else { Outcome::Problems })
        }
        MigrateCommand::Plan { dir, to } => {
            let set = migration_set(dir)?;
            let plan = match strata::pool::open_read_only(&config.path) {
                Ok(conn) => schema::plan(&conn, &set, *to)?,
                // No database yet: everything up to `to` would run.
                Err(err) if !config.path.exists() && err.code() == "E2004" => {
                    let conn = strata::pool::rusqlite::Connection::open_in_memory()?;
                    schema::plan(&conn, &set, *to)?
                }
                Err(err) => return Err(err),
            };
            out.print(&plan, |p| render_plan(p, "would apply"));
            Ok(Outcome::Success)
        }
        MigrateCommand::Up { dir, to, dry_run, no_snapshot } => {
            let set = migration_set(dir)?;
            let (to, dry_run, snapshot) = (*to, *dry_run, !no_snapshot);
            let snapshot_keep = config.schema.snapshot_keep;
            let report = on_writer(config, set, move |conn, set, created| {
                // A file created just now holds nothing worth a snapshot.
                let snapshot = snapshot && !created;
                schema::up(conn, set, &UpOptions { to, dry_run, snapshot, snapshot_keep })
            })
            .await?;
            out.print(&report, render_up);
            Ok(Outcome::Success)
        }
        MigrateCommand::Down { dir, to, steps, all, dry_run, no_snapshot } => {
            let set = migration_set(dir)?;
            // clap lets exactly one of --to, --steps and --all through.
            let target = match (to, steps, all) {
                (Some(to), _, _) => DownTarget::To(*to),
                (None, Some(steps), _) => DownTarget::Steps(*steps),
                (None, None, true) => DownTarget::To(0),
                (None, None, false) => {
                    return Err(strata::Error::invalid("--to/--steps/--all", "give one of them"));
                }
            };
            let options = DownOptions {
                target,
                dry_run: *dry_run,
                snapshot: !no_snapshot,
                snapshot_keep: config.schema.snapshot_keep,
            };
            let report =
                on_writer(config, set, move |conn, set, _| schema::down(conn, set, &options)).await?;
            out.print(&report, render_down);
            Ok(Outcome::Success)
        }
        MigrateCommand::New { name, dir } => {
            let created = schema::new_migration(dir, name)?;
            out.print(&created, render_new);
            Ok(Outcome::Success)
        }
        MigrateCommand::Lint { dir, reversible } => {
            let set = migration_set(dir)?;
            let report = LintReport {
                findings: schema::lint(&set),
                reversibility: if *reversible { Some(schema::check_reversible(&set)?) } else { None },
            };
            out.print(&report, render_lint);
            let reversible_ok = report.reversibility.as_ref().is_none_or(|r| r.problems.is_empty());
            Ok(if report.findings.is_empty() && reversible_ok { Outcome::Success } else { Outcome::Problems })
        }
        MigrateCommand::Repair(dir) => {
            let set = migration_set(dir)?;
            let report = on_writer(config, set, |conn, set, _| schema::repair(conn, set)).await?;
            out.print(&report, render_repair);
            Ok(Outcome::Success)
        }
    }
}

/// Opens the database without migrating it and runs `f` alone on the writer
/// connection, where the migration runner manages its own transaction. `f` also
/// learns whether the file was created by this open.
async fn on_writer<T, F>(config: &Config, set: MigrationSet, f: F) -> strata::Result<T>
where
    F: FnOnce(&strata::pool::rusqlite::Connection, &MigrationSet, bool) -> strata::Result<T> + Send + 'static,
    T: Send + 'static,
{
    let db = Database::open_with(config, Migrations::None).await?;
    let created = db.open_report().created;
    let set = Arc::new(set);
    let result = db.pool().exclusive(move |conn| f(conn, &set, created)).await;
    db.close().await?;
    result
}

#[derive(Serialize)]
struct LintReport {
    findings: Vec<Finding>,
    reversibility: Option<ReversibilityReport>,
}

fn version(v: Option<i64>) -> String {
    v.map_or_else(|| "none".to_string(), |v| format!("V{v}"))
}

fn render_status(status: &Status) -> String {
    let rows = status.entries.iter().map(|e| {
        let state = match &e.state {
            MigrationState::Applied => "applied".to_string(),
            MigrationState::Pending => "pending".to_string(),
            MigrationState::Divergent { repairable: true, .. } => {
                "edited (comments only: repair)".to_string()
            }
            MigrationState::Divergent { .. } => "edited after apply".to_string(),
            MigrationState::Missing => "missing file".to_string(),
            MigrationState::OutOfOrder => "out of order".to_string(),
        };
        vec![
            format!("V{}", e.version),
            e.name.clone(),
            state,
            e.applied_on.clone().unwrap_or_default(),
            if e.has_down { "yes" } else { "no" }.to_string(),
        ]
    });
    let mut text = table(&["version", "name", "state", "applied on", "down"], rows);
    text += &format!("current: {}  latest: {}\n", version(status.current), version(status.latest));
    text
}

fn steps(steps: &[MigrationInfo]) -> String {
    table(
        &["version", "file", "checksum", "down"],
        steps.iter().map(|s| {
            vec![
                format!("V{}", s.version),
                s.file.clone(),
                s.checksum.to_string(),
                if s.has_down { "yes" } else { "no" }.to_string(),
            ]
        }),
    )
}

fn render_plan(plan: &Plan, verb: &str) -> String {
    if plan.steps.is_empty() {
        return format!("nothing to do: at {}\n", version(plan.from));
    }
    format!("{verb} {} -> {}:\n{}", version(plan.from), version(plan.to), steps(&plan.steps))
}

/// Where the snapshot went, and which older ones `schema.snapshot_keep` removed.
fn snapshot_lines(snapshot: &Option<std::path::PathBuf>, removed: &[std::path::PathBuf]) -> String {
    let mut text = snapshot
        .as_ref()
        .map(|p| format!("snapshot: {} (restore it to get back)\n", p.display()))
        .unwrap_or_default();
    for old in removed {
        text += &format!("removed older snapshot: {} (schema.snapshot_keep)\n", old.display());
    }
    text
}

fn render_up(r: &UpReport) -> String {
    let snapshots = snapshot_lines(&r.snapshot, &r.removed_snapshots);
    render_run(("apply", "applied"), r.from, r.to, &r.applied, r.dry_run, &snapshots)
}

fn render_down(r: &DownReport) -> String {
    let snapshots = snapshot_lines(&r.snapshot, &r.removed_snapshots);
    render_run(("roll back", "rolled back"), r.from, r.to, &r.reverted, r.dry_run, &snapshots)
}

/// What `up` or `down` did: `(verb, past tense)`, the versions and the migrations.
fn render_run(
    (verb, done): (&str, &str),
    from: Option<i64>,
    to: Option<i64>,
    ran: &[MigrationInfo],
    dry_run: bool,
    snapshots: &str,
) -> String {
    if ran.is_empty() {
        return format!("nothing to {verb}: at {}\n", version(from));
    }
    let done = if dry_run { "dry run, rolled back:" } else { done };
    format!("{done} {} -> {}\n{}{snapshots}", version(from), version(to), steps(ran))
}

fn render_new(n: &NewMigration) -> String {
    format!("created {}\n        {}\n", n.up.display(), n.down.display())
}

fn render_lint(r: &LintReport) -> String {
    let mut text = String::new();
    for f in &r.findings {
        let severity = match f.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        text += &format!("{}:{}: {severity}[{}] {}\n  hint: {}\n", f.file, f.line, f.rule, f.message, f.hint);
    }
    if let Some(rev) = &r.reversibility {
        for p in &rev.problems {
            text += &format!("V{}: not reversible ({}):\n{}", p.version, p.stage, schema::render(&p.changes));
        }
        if rev.problems.is_empty() {
            text +=
                &format!("reversible: up, down, up is the identity for {} migration(s)\n", rev.checked.len());
        }
    }
    if r.findings.is_empty() {
        text += "lint: no findings\n";
    }
    text
}

fn render_repair(r: &RepairReport) -> String {
    if r.repaired.is_empty() {
        return "nothing to repair\n".to_string();
    }
    let mut text = String::new();
    for f in &r.repaired {
        text += &format!(
            "repaired V{} ({}): checksum {} -> {} (comments/whitespace only)\n",
            f.version, f.name, f.old_checksum, f.new_checksum
        );
    }
    text
}
