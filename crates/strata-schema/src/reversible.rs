//! The reversibility check: for every migration, up, down one step, up again must give
//! the schema before and after it exactly (compared by introspection).

use rusqlite::Connection;
use serde::Serialize;
use strata_core::Result;

use crate::diff::{Change, diff};
use crate::introspect::introspect;
use crate::migrate::{DownOptions, DownTarget, UpOptions, down, up};
use crate::set::MigrationSet;
use crate::{Version, errors};

/// A migration whose down does not undo its up.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ReversibilityProblem {
    /// The migration.
    pub version: Version,
    /// `no down file`, `down` (schema after down differs from before up) or `up again`.
    pub stage: String,
    /// The differences found (expected -> actual).
    pub changes: Vec<Change>,
}

/// The outcome of [`check_reversible`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ReversibilityReport {
    /// The migrations checked, in order.
    pub checked: Vec<Version>,
    /// What was not reversible; empty when every migration is.
    pub problems: Vec<ReversibilityProblem>,
}

impl ReversibilityReport {
    /// Ok when every migration is reversible; otherwise the first problem as an error.
    pub fn into_result(self) -> Result<ReversibilityReport> {
        match self.problems.first() {
            None => Ok(self),
            Some(p) => Err(errors::not_reversible(p.version, &crate::diff::render(&p.changes))),
        }
    }
}

/// Applies `set` one migration at a time to an in-memory database and checks, for each,
/// that down restores the previous schema and up again the same schema as before.
/// A migration that fails to apply is an error; one without a down file is a problem.
pub fn check_reversible(set: &MigrationSet) -> Result<ReversibilityReport> {
    let conn = Connection::open_in_memory()?;
    conn.execute_batch("PRAGMA foreign_keys = ON")?;
    let mut before = introspect(&conn)?;
    let mut report = ReversibilityReport { checked: Vec::new(), problems: Vec::new() };
    let quiet = |to| UpOptions { to: Some(to), dry_run: false, snapshot: false, snapshot_keep: 0 };
    for migration in set.migrations() {
        let version = migration.version();
        report.checked.push(version);
        up(&conn, set, &quiet(version))?;
        let after = introspect(&conn)?;
        if migration.down().is_none() {
            report.problems.push(ReversibilityProblem {
                version,
                stage: "no down file".into(),
                changes: Vec::new(),
            });
            before = after;
            continue;
        }
        down(&conn, set, &DownOptions { snapshot: false, ..DownOptions::new(DownTarget::Steps(1)) })?;
        let reverted = introspect(&conn)?;
        let changes = diff(&before, &reverted);
        if !changes.is_empty() {
            report.problems.push(ReversibilityProblem { version, stage: "down".into(), changes });
        }
        up(&conn, set, &quiet(version))?;
        let again = introspect(&conn)?;
        let changes = diff(&after, &again);
        if !changes.is_empty() {
            report.problems.push(ReversibilityProblem { version, stage: "up again".into(), changes });
        }
        before = again;
    }
    Ok(report)
}
