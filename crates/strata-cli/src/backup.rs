//! `strata backup create|list|verify|prune`, `strata restore` and `strata recover`:
//! calls strata-ops and renders its reports, with a progress bar on stderr for the
//! long file work when stderr is a terminal (never in a pipe or a test).

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use indicatif::{ProgressBar, ProgressStyle};
use serde::Serialize;
use strata::ops::backup::{self, BackupEntry, BackupReport, BackupState, PruneReport, VerifyReport};
use strata::ops::health::{CheckLevel, HealthOptions};
use strata::ops::recover::{RecoverOptions, RecoverReport};
use strata::ops::restore::{ReplicaRestoreOptions, ReplicaRestoreReport, RestoreOptions, RestoreReport};
use strata::ops::{Progress, ProgressFn, Stage};
use strata::{Config, Database};

use crate::check::bytes;
use crate::cli::BackupCommand;
use crate::output::{Outcome, Output, table};

/// Runs one `strata backup` subcommand.
pub async fn run(command: &BackupCommand, config: &Config, out: &Output) -> strata::Result<Outcome> {
    let default_dir = config.backup.dir_for(&config.path);
    match command {
        BackupCommand::Create { out: dir } => {
            require_database(&config.path)?;
            let dir = dir.clone().unwrap_or(default_dir);
            // Read-only: the copy reads a snapshot; only the backup directory is written.
            let db = Database::open_read_only(config).await?;
            let bar = Bar::new();
            let created = strata::ops::backup::create(db.pool(), &dir, bar.callback()).await;
            bar.finish();
            db.close().await?;
            let report = created?;
            out.print(&report, render_created);
            Ok(Outcome::Success)
        }
        BackupCommand::List { dir } => {
            let dir = dir.clone().unwrap_or(default_dir);
            let list = BackupList { dir: dir.clone(), backups: backup::list(&dir).await? };
            out.print(&list, render_list);
            Ok(Outcome::Success)
        }
        BackupCommand::Verify { file } => {
            let bar = Bar::new();
            let report = backup::verify(file, bar.callback()).await;
            bar.finish();
            let report = report?;
            out.print(&report, render_verify);
            Ok(if report.ok { Outcome::Success } else { Outcome::Problems })
        }
        BackupCommand::Prune { dir } => {
            let dir = dir.clone().unwrap_or(default_dir);
            let report = backup::prune(&dir, &config.backup).await?;
            out.print(&report, render_prune);
            Ok(Outcome::Success)
        }
    }
}

/// Runs `strata restore FILE [--force]`.
pub async fn restore(file: &Path, force: bool, config: &Config, out: &Output) -> strata::Result<Outcome> {
    let bar = Bar::new();
    let options = RestoreOptions {
        force,
        progress: bar.callback(),
        documents_dir: Some(config.documents.dir_for(&config.path)),
    };
    let report = strata::ops::restore(&config.path, file, options).await;
    bar.finish();
    let report = report?;
    out.print(&report, render_restore);
    Ok(Outcome::Success)
}

/// Runs `strata restore --from-replica URL [--force]` with `litestream` from PATH, or
/// the binary `STRATA_LITESTREAM` names.
pub async fn restore_from_replica(
    replica: &str,
    force: bool,
    config: &Config,
    out: &Output,
) -> strata::Result<Outcome> {
    let bar = Bar::new();
    let litestream =
        std::env::var_os("STRATA_LITESTREAM").map_or_else(|| PathBuf::from("litestream"), PathBuf::from);
    let options = ReplicaRestoreOptions { litestream, force, progress: bar.callback() };
    let report = strata::ops::restore_from_replica(&config.path, replica, options).await;
    bar.finish();
    let report = report?;
    out.print(&report, render_replica_restore);
    Ok(Outcome::Success)
}

/// Runs `strata recover [--from DIR]`: exit 0 when the database is healthy, 1 when it
/// was damaged and has been recovered.
pub async fn recover(from: Option<&Path>, config: &Config, out: &Output) -> strata::Result<Outcome> {
    let bar = Bar::new();
    let dir = from.map(Path::to_path_buf).unwrap_or_else(|| config.backup.dir_for(&config.path));
    let options = RecoverOptions {
        dir,
        health: HealthOptions::from_config(CheckLevel::Full, config),
        progress: bar.callback(),
    };
    let report = strata::ops::recover(&config.path, options).await;
    bar.finish();
    let report = report?;
    out.print(&report, render_recover);
    Ok(if report.recovered { Outcome::Problems } else { Outcome::Success })
}

/// E2004 when the database file does not exist (a backup must not create one).
fn require_database(path: &Path) -> strata::Result<()> {
    if path.is_file() {
        return Ok(());
    }
    Err(strata::Error::cannot_open(format!("{} does not exist or is not a file", path.display())))
}

/// A progress bar on stderr, only when stderr is a terminal.
struct Bar {
    bar: Option<ProgressBar>,
    stage: Arc<Mutex<Option<Stage>>>,
}

impl Bar {
    fn new() -> Self {
        let stage = Arc::new(Mutex::new(None));
        if !std::io::stderr().is_terminal() {
            return Bar { bar: None, stage };
        }
        let bar = ProgressBar::new(0);
        // The template is a constant known to be valid; fall back to the default style.
        let style = ProgressStyle::with_template("{msg:>9} [{bar:32}] {bytes}/{total_bytes} {eta}")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> ");
        bar.set_style(style);
        Bar { bar: Some(bar), stage }
    }

    fn callback(&self) -> Option<ProgressFn> {
        let bar = self.bar.clone()?;
        let stage = Arc::clone(&self.stage);
        Some(Arc::new(move |p: Progress| {
            let Ok(mut stage) = stage.lock() else { return };
            if *stage != Some(p.stage) {
                *stage = Some(p.stage);
                bar.set_message(match p.stage {
                    Stage::Copy => "copying",
                    Stage::Verify => "verifying",
                    Stage::Hash => "hashing",
                });
                bar.reset();
            }
            bar.set_length(p.total);
            bar.set_position(p.done);
        }))
    }

    fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

#[derive(Serialize)]
struct BackupList {
    dir: PathBuf,
    backups: Vec<BackupEntry>,
}

fn render_created(r: &BackupReport) -> String {
    let m = &r.manifest;
    format!(
        "backup {}\n  {} ({} pages), sha256 {}\n  verified: integrity_check ok, {} pages as expected\n  manifest {}\n  took {} ms\n",
        r.path.display(),
        bytes(m.size_bytes),
        m.page_count,
        m.sha256,
        m.verification.page_count_found,
        r.manifest_path.display(),
        m.duration_ms
    )
}

fn render_list(l: &BackupList) -> String {
    if l.backups.is_empty() {
        return format!("no backups in {}\n", l.dir.display());
    }
    let rows = l.backups.iter().map(|b| {
        let state = match b.state {
            BackupState::Complete => "verified",
            BackupState::NoManifest => "no manifest",
            BackupState::Partial => "partial (in progress or killed)",
            BackupState::Orphan => "manifest without data",
        };
        let name = b.path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let schema =
            b.manifest.as_ref().and_then(|m| m.schema.migration).map(|v| format!("V{v}")).unwrap_or_default();
        vec![name, b.created_at.clone().unwrap_or_default(), bytes(b.size_bytes), schema, state.to_string()]
    });
    format!("{}:\n{}", l.dir.display(), table(&["file", "taken", "size", "schema", "state"], rows))
}

fn render_verify(r: &VerifyReport) -> String {
    let mut text = format!("{}: {}\n", r.path.display(), if r.ok { "ok" } else { "FAILED" });
    text += &format!(
        "  integrity_check: {}\n",
        if r.integrity.is_empty() { "ok".to_string() } else { r.integrity.join("; ") }
    );
    text += &format!("  {} pages, sha256 {}\n", r.page_count, r.sha256);
    if !r.manifest_found {
        text += "  no manifest: sha256 and page count not compared\n";
    }
    for p in &r.problems {
        text += &format!("  problem: {p}\n");
    }
    text
}

fn render_prune(r: &PruneReport) -> String {
    let mut text = String::new();
    for (path, rule) in &r.kept {
        text += &format!("keep   {} ({rule})\n", name(path));
    }
    for path in &r.removed {
        text += &format!("remove {}\n", name(path));
    }
    for path in &r.leftovers_removed {
        text += &format!("remove {} (leftover)\n", name(path));
    }
    if text.is_empty() {
        text = "no backups to prune\n".into();
    }
    text
}

fn name(path: &Path) -> String {
    path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| path.display().to_string())
}

fn render_restore(r: &RestoreReport) -> String {
    let mut text = format!(
        "restored {} from {}{}\n",
        r.database.display(),
        r.backup.display(),
        r.backup_created_at.as_ref().map(|t| format!(" (taken {t})")).unwrap_or_default()
    );
    if let Some(replaced) = &r.replaced {
        text += &format!("  the replaced database is kept as {}\n", replaced.display());
    }
    if let Some(wal) = &r.replaced_wal {
        text += &format!("  its -wal moved to {}\n", wal.display());
    }
    if r.removed_shm {
        text += "  stale -shm removed\n";
    }
    if r.documents_restored > 0 {
        text += &format!("  {} document file(s) put back into the store\n", r.documents_restored);
    }
    text
}

fn render_replica_restore(r: &ReplicaRestoreReport) -> String {
    let mut text = format!("restored {} from replica {}\n", r.database.display(), r.replica);
    text += &format!(
        "  verified: integrity_check ok, {} pages, sha256 {}\n",
        r.verification.page_count, r.verification.sha256
    );
    if let Some(replaced) = &r.replaced {
        text += &format!("  the replaced database is kept as {}\n", replaced.display());
    }
    if let Some(wal) = &r.replaced_wal {
        text += &format!("  its -wal moved to {}\n", wal.display());
    }
    if r.removed_shm {
        text += "  stale -shm removed\n";
    }
    text
}

fn render_recover(r: &RecoverReport) -> String {
    if !r.recovered {
        return format!("{}: healthy (integrity_check ok); nothing to recover\n", r.database.display());
    }
    let mut text = format!("{}: damaged, recovered\n", r.database.display());
    if let Some(health) = &r.health {
        for f in health.findings.iter().filter(|f| f.check != "free_disk") {
            text += &format!("  found: [{}] {}\n", f.check, f.message);
        }
    } else {
        text += "  found: the database file is missing\n";
    }
    for skipped in &r.skipped_backups {
        text += &format!("  skipped {}: {}\n", skipped.path.display(), skipped.problems.join("; "));
    }
    if let Some(b) = &r.backup {
        text += &format!("  restored {}\n", b.path.display());
    }
    if let Some(moved) = &r.moved_aside {
        text += &format!("  the damaged file is kept as {}\n", moved.display());
    }
    if let Some(w) = &r.loss_window {
        text += &format!("  loss window: {} to {} ({} s)\n", w.from, w.to, w.seconds);
    }
    if let Some(s) = &r.salvage {
        if let Some(why) = &s.unreadable {
            text += &format!("  salvage: nothing readable ({why})\n");
        }
        for t in s.tables_with_newer_rows() {
            text += &format!(
                "  newer than the backup: {} ({} new, {} changed row(s))\n",
                t.table, t.new_rows, t.changed_rows
            );
        }
        if let Some(path) = &s.path {
            text += &format!("  salvaged rows written to {}\n", path.display());
        }
    }
    text
}
