//! What `strata audit replay` and `strata metrics replay` share: the document of a
//! spill file shown (`--dry-run`) or replayed, its rendering, and its exit code
//! (1 when the file has damaged lines).

use serde::Serialize;
use strata::repo::spill::{DAMAGED_SUFFIX, DamagedLine, ReplayReport, SpillContents};

use crate::output::{Outcome, table};

/// A line type of a spill file as the replay commands print it.
pub trait Pending: Serialize {
    /// What one line is, singular and plural: `("audit entry", "audit entries")`.
    const NOUN: (&'static str, &'static str);
    /// The columns of the `--dry-run` table.
    const HEADERS: &'static [&'static str];
    /// This line's cells, one per header.
    fn cells(&self) -> Vec<String>;
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
