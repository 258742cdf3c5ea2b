//! What `strata audit replay` and `strata metrics replay` share: the document of a
//! spill file shown (`--dry-run`) or replayed, its rendering, and its exit code
//! (1 when the file has damaged lines).

use std::path::{Path, PathBuf};

use serde::Serialize;
use strata::repo::spill::{DAMAGED_SUFFIX, DamagedLine, ReplayReport, SpillContents};
use strata::{Config, Database, OpenReport};

use crate::audit::{Access, with_db};
use crate::output::{Outcome, Output, table};

/// A line type of a spill file as the replay commands print it.
pub trait Pending: Serialize {
    /// What one line is, singular and plural: `("audit entry", "audit entries")`.
    const NOUN: (&'static str, &'static str);
    /// The columns of the `--dry-run` table.
    const HEADERS: &'static [&'static str];
    /// The table the lines replay into (opened for writing).
    const TABLE: &'static str;
    /// This line's cells, one per header.
    fn cells(&self) -> Vec<String>;
    /// The spill file of the database at `db`.
    fn spill_path(db: &Path) -> PathBuf;
    /// Reads the spill file at `path` without replaying it.
    fn inspect(path: &Path) -> strata::Result<SpillContents<Self>>
    where
        Self: Sized;
    /// The replay `Database::open` made of this spill file, if one was waiting.
    fn replayed_at_open(report: &OpenReport) -> Option<&ReplayReport>;
    /// Replays the spill file through `db` now.
    async fn replay(db: &Database) -> strata::Result<ReplayReport>;
}

/// Runs `strata audit|metrics replay [--dry-run]` for the line type `E`: shows the
/// spill file (no database needed) or replays it, and prints the document.
pub async fn run<E: Pending>(dry_run: bool, config: &Config, out: &Output) -> strata::Result<Outcome> {
    let doc = if dry_run {
        ReplayDoc::<E>::shown(E::inspect(&E::spill_path(&config.path))?)
    } else {
        // Opening for writing replays a waiting spill file already (Database::open).
        ReplayDoc::replayed(
            with_db(config, Access::Write, &[E::TABLE], async |db| {
                match E::replayed_at_open(db.open_report()) {
                    Some(report) => Ok(report.clone()),
                    None => E::replay(db).await,
                }
            })
            .await?,
        )
    };
    out.print(&doc, render);
    Ok(doc.outcome())
}

/// The `audit replay` / `metrics replay` document.
#[derive(Serialize)]
pub struct ReplayDoc<E> {
    /// The spill file.
    path: std::path::PathBuf,
    /// Whether this was `--dry-run` (nothing replayed).
    dry_run: bool,
    /// Whole entries in the spill file.
    entries: u64,
    /// Entries inserted into the table (0 with --dry-run).
    replayed: u64,
    /// Entries already in the table (by uid), not inserted again.
    skipped: u64,
    /// Damaged lines: `line` and `reason`.
    damaged: Vec<DamagedLine>,
    /// With --dry-run, the entries waiting, in order; otherwise empty.
    pending: Vec<E>,
}

impl<E: Pending> ReplayDoc<E> {
    /// The document of `--dry-run`: what the file holds.
    pub fn shown(contents: SpillContents<E>) -> Self {
        ReplayDoc {
            path: contents.path,
            dry_run: true,
            entries: contents.entries.len() as u64,
            replayed: 0,
            skipped: 0,
            damaged: contents.damaged,
            pending: contents.entries,
        }
    }

    /// The document of a replay.
    pub fn replayed(report: ReplayReport) -> Self {
        ReplayDoc {
            path: report.path,
            dry_run: false,
            entries: report.entries,
            replayed: report.replayed,
            skipped: report.skipped,
            damaged: report.damaged,
            pending: Vec::new(),
        }
    }

    /// Exit 1 when the file has damaged lines.
    pub fn outcome(&self) -> Outcome {
        if self.damaged.is_empty() { Outcome::Success } else { Outcome::Problems }
    }
}

/// The human rendering of a [`ReplayDoc`].
pub fn render<E: Pending>(doc: &ReplayDoc<E>) -> String {
    let name = doc
        .path
        .file_name()
        .map_or_else(|| doc.path.display().to_string(), |n| n.to_string_lossy().into_owned());
    let noun = |n: u64| if n == 1 { E::NOUN.0 } else { E::NOUN.1 };
    let none = E::NOUN.1;
    let mut text = if doc.dry_run {
        let mut text = match doc.entries {
            0 => format!("{name}: no {none} wait for replay\n"),
            n => format!("{name}: {n} {} wait for replay (dry run: nothing replayed)\n", noun(n)),
        };
        if !doc.pending.is_empty() {
            text += &table(E::HEADERS, doc.pending.iter().map(Pending::cells));
        }
        text
    } else {
        match doc.entries {
            0 => format!("{name}: no {none} to replay\n"),
            n => format!(
                "{name}: replayed {} of {n} {} ({} already in the table)\n",
                doc.replayed,
                noun(n),
                doc.skipped
            ),
        }
    };
    for d in &doc.damaged {
        text += &format!("damaged: line {}: {}\n", d.line, d.reason);
    }
    if !doc.damaged.is_empty() && !doc.dry_run {
        text += &format!("the damaged lines are kept in {name}{DAMAGED_SUFFIX}\n");
    }
    text
}
