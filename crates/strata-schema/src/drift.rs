//! Drift check: the schema a migration set produces compared with a live database.
//!
//! The set is applied to an in-memory database up to the live database's version;
//! fingerprints are compared first and the full diff runs only on a mismatch, so the
//! check at start-up costs one introspection of each side.

use rusqlite::Connection;
use serde::Serialize;
use strata_core::Result;

use crate::diff::{Change, ChangeKind, ObjectKind, diff, render};
use crate::introspect::{Schema, introspect};
use crate::migrate::{UpOptions, up};
use crate::set::MigrationSet;
use crate::{Version, errors, history};

/// The outcome of [`drift_check`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DriftReport {
    /// The live database's version, which the set was applied up to.
    pub version: Option<Version>,
    /// The fingerprint of the schema the migrations produce.
    pub expected_fingerprint: String,
    /// The fingerprint of the live schema.
    pub actual_fingerprint: String,
    /// What differs, from the migrations' schema to the live one; empty when clean.
    pub changes: Vec<Change>,
    /// Tables of the live database that no migration set creates (they are in
    /// `changes` too, with their indexes and triggers, as additions). Opening a
    /// `Database` reports them without failing unless `schema.unknown_tables` says
    /// `error`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub unknown_tables: Vec<String>,
}

impl DriftReport {
    /// Whether the live schema is exactly what the migrations produce.
    pub fn is_clean(&self) -> bool {
        self.changes.is_empty() && self.expected_fingerprint == self.actual_fingerprint
    }

    /// The changes other than the tables no set knows (and their indexes and
    /// triggers): what the migrations produce differently.
    pub fn known_changes(&self) -> Vec<Change> {
        self.changes.iter().filter(|c| !self.concerns_unknown(c)).cloned().collect()
    }

    fn concerns_unknown(&self, change: &Change) -> bool {
        if change.kind != ChangeKind::Add {
            return false;
        }
        let table = change.name.split('.').next().unwrap_or_default();
        match change.object {
            ObjectKind::Table | ObjectKind::Column => self.unknown_tables.iter().any(|t| t == table),
            _ => change.detail.split(" on ").nth(1).is_some_and(|rest| {
                let on = rest.split([' ', '(']).next().unwrap_or_default();
                self.unknown_tables.iter().any(|t| t == on)
            }),
        }
    }

    /// The report when clean, otherwise the drift as an error with the diff in it.
    pub fn into_result(self) -> Result<DriftReport> {
        if self.is_clean() {
            Ok(self)
        } else {
            Err(errors::drift_detected(self.changes.len(), &render(&self.changes)))
        }
    }
}

/// The schema `set` produces up to `version` (all of it for `None`), built in memory.
pub fn expected_schema(set: &MigrationSet, version: Option<Version>) -> Result<Schema> {
    let conn = Connection::open_in_memory()?;
    conn.execute_batch("PRAGMA foreign_keys = ON")?;
    let options = UpOptions { to: version, dry_run: false, snapshot: false, snapshot_keep: 0 };
    up(&conn, set, &options)?;
    introspect(&conn)
}

/// Compares the live schema of `conn` with what `set` produces at the live version.
pub fn drift_check(conn: &Connection, set: &MigrationSet) -> Result<DriftReport> {
    drift_check_sets(conn, &[set])
}

/// Compares the live schema of `conn` with what `sets` produce together, each applied
/// in the order given up to its own live version (in its own namespace). `version`
/// is the last set's. Tables no set creates are listed in `unknown_tables`.
pub fn drift_check_sets(conn: &Connection, sets: &[&MigrationSet]) -> Result<DriftReport> {
    let scratch = Connection::open_in_memory()?;
    scratch.execute_batch("PRAGMA foreign_keys = ON")?;
    let mut version = None;
    for set in sets {
        version = history::applied_migrations_of(conn, set)?.last().map(|a| a.version);
        let to = match version {
            // A version the set does not have is reported by `status`; compare with all of it.
            Some(v) if set.get(v).is_some() => Some(v),
            Some(_) => None,
            None => continue,
        };
        let options = UpOptions { to, dry_run: false, snapshot: false, snapshot_keep: 0 };
        up(&scratch, set, &options)?;
    }
    let expected = introspect(&scratch)?;
    let actual = introspect(conn)?;
    let (expected_fingerprint, actual_fingerprint) = (expected.fingerprint(), actual.fingerprint());
    let changes =
        if expected_fingerprint == actual_fingerprint { Vec::new() } else { diff(&expected, &actual) };
    let unknown_tables = actual
        .tables
        .iter()
        .filter(|t| expected.tables.iter().all(|e| e.name != t.name))
        .map(|t| t.name.clone())
        .collect();
    Ok(DriftReport { version, expected_fingerprint, actual_fingerprint, changes, unknown_tables })
}
