//! Drift check: the schema a migration set produces compared with a live database.
//!
//! The set is applied to an in-memory database up to the live database's version;
//! fingerprints are compared first and the full diff runs only on a mismatch, so the
//! check at start-up costs one introspection of each side.

use rusqlite::Connection;
use serde::Serialize;
use strata_core::Result;

use crate::diff::{Change, diff, render};
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
}

impl DriftReport {
    /// Whether the live schema is exactly what the migrations produce.
    pub fn is_clean(&self) -> bool {
        self.changes.is_empty() && self.expected_fingerprint == self.actual_fingerprint
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
    let version = history::applied_migrations(conn)?.last().map(|a| a.version);
    let expected = match version {
        // A version the set does not have is reported by `status`; compare with all of it.
        Some(v) if set.get(v).is_some() => expected_schema(set, Some(v))?,
        Some(_) => expected_schema(set, None)?,
        None => Schema::default(),
    };
    let actual = introspect(conn)?;
    let (expected_fingerprint, actual_fingerprint) = (expected.fingerprint(), actual.fingerprint());
    let changes =
        if expected_fingerprint == actual_fingerprint { Vec::new() } else { diff(&expected, &actual) };
    Ok(DriftReport { version, expected_fingerprint, actual_fingerprint, changes })
}
