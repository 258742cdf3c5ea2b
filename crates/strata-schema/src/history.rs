//! The migration history: refinery's `refinery_schema_history` plus strata's checksum table.
//!
//! Rows are written in refinery's format (version int4, name, RFC 3339 `applied_on`,
//! checksum as decimal text) so refinery reads a database strata migrated. Beside it,
//! `strata_schema_checksums` keeps each applied up file's normalised checksum: that is
//! what lets `repair` prove that an edit touched only comments and whitespace.
//!
//! A migration set with a namespace ([`MigrationSet::with_namespace`]) keeps its
//! history apart, in `{namespace}_schema_history` and `{namespace}_schema_checksums`
//! (same columns), so that an application's `V1` and strata's `V1` never meet. A set
//! without one (strata's reference set, and every set before namespaces existed) uses
//! the two tables above, so existing databases need no upgrade step.

use rusqlite::{Connection, OptionalExtension, params};
use serde::Serialize;
use strata_core::Result;

use crate::set::{Migration, MigrationSet};
use crate::{Version, errors};

/// refinery's history table, the record of which migrations are applied.
pub const HISTORY_TABLE: &str = "refinery_schema_history";
/// strata's companion table: the normalised checksum of every applied migration.
pub const CHECKSUM_TABLE: &str = "strata_schema_checksums";

/// refinery's own definition, byte for byte, so either tool may create the table.
const CREATE_HISTORY: &str = "CREATE TABLE IF NOT EXISTS {history}(
             version int4 PRIMARY KEY,
             name VARCHAR(255),
             applied_on VARCHAR(255),
             checksum VARCHAR(255));";
const CREATE_CHECKSUMS: &str = "CREATE TABLE IF NOT EXISTS {checksums}(
    version INTEGER PRIMARY KEY,
    normalized_checksum TEXT NOT NULL)";
const SELECT_HISTORY: &str = "SELECT version, name, applied_on, checksum FROM {history} ORDER BY version ASC";
const SELECT_NORMALIZED: &str = "SELECT normalized_checksum FROM {checksums} WHERE version = ?1";
const TABLE_EXISTS: &str = "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?1";
/// `applied_on` in RFC 3339 (UTC, milliseconds), which refinery parses.
const INSERT_HISTORY: &str = "INSERT INTO {history} (version, name, applied_on, checksum)
    VALUES (?1, ?2, strftime('%Y-%m-%dT%H:%M:%fZ', 'now'), ?3)";
const INSERT_NORMALIZED: &str =
    "INSERT OR REPLACE INTO {checksums} (version, normalized_checksum) VALUES (?1, ?2)";
const DELETE_HISTORY: &str = "DELETE FROM {history} WHERE version = ?1";
const DELETE_NORMALIZED: &str = "DELETE FROM {checksums} WHERE version = ?1";
const UPDATE_CHECKSUM: &str = "UPDATE {history} SET checksum = ?2 WHERE version = ?1";

/// The two history tables of one namespace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tables {
    /// The applied migrations, in refinery's format.
    pub history: String,
    /// The normalised checksums.
    pub checksums: String,
}

impl Tables {
    /// The tables of `set`'s namespace.
    pub fn of(set: &MigrationSet) -> Tables {
        match set.namespace() {
            None => Tables { history: HISTORY_TABLE.to_string(), checksums: CHECKSUM_TABLE.to_string() },
            Some(ns) => Tables {
                history: format!("{ns}_schema_history"),
                checksums: format!("{ns}_schema_checksums"),
            },
        }
    }

    /// `template` with `{history}` and `{checksums}` filled in (the names are checked
    /// identifiers: strata's own or `{namespace}_...` of a validated namespace).
    fn sql(&self, template: &str) -> String {
        template.replace("{history}", &self.history).replace("{checksums}", &self.checksums)
    }
}

/// One row of `refinery_schema_history`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AppliedMigration {
    /// The version.
    pub version: Version,
    /// The name it was applied under.
    pub name: String,
    /// When it was applied, RFC 3339.
    pub applied_on: String,
    /// The checksum of the up file as applied.
    pub checksum: u64,
}

/// Whether `table` exists in the main schema.
pub(crate) fn table_exists(conn: &Connection, table: &str) -> Result<bool> {
    Ok(conn.query_row(TABLE_EXISTS, [table], |_| Ok(())).optional()?.is_some())
}

/// The applied migrations of the default namespace (`refinery_schema_history`),
/// oldest first; empty when the history table does not exist.
pub fn applied_migrations(conn: &Connection) -> Result<Vec<AppliedMigration>> {
    applied_in(conn, &Tables::of(&MigrationSet::default()))
}

/// The applied migrations recorded in `set`'s namespace, oldest first.
pub fn applied_migrations_of(conn: &Connection, set: &MigrationSet) -> Result<Vec<AppliedMigration>> {
    applied_in(conn, &Tables::of(set))
}

/// The applied migrations recorded in `tables`, oldest first.
pub(crate) fn applied_in(conn: &Connection, tables: &Tables) -> Result<Vec<AppliedMigration>> {
    if !table_exists(conn, &tables.history)? {
        return Ok(Vec::new());
    }
    let mut stmt = conn.prepare(&tables.sql(SELECT_HISTORY))?;
    let rows = stmt.query_map([], |row| {
        Ok((
            row.get::<_, Version>(0)?,
            row.get::<_, Option<String>>(1)?,
            row.get::<_, Option<String>>(2)?,
            row.get::<_, Option<String>>(3)?,
        ))
    })?;
    let mut applied = Vec::new();
    for row in rows {
        let (version, name, applied_on, checksum) = row?;
        let checksum = checksum
            .as_deref()
            .and_then(|c| c.trim().parse::<u64>().ok())
            .ok_or_else(|| errors::history_unreadable(&format!("V{version} has checksum {checksum:?}")))?;
        applied.push(AppliedMigration {
            version,
            name: name.unwrap_or_default(),
            applied_on: applied_on.unwrap_or_default(),
            checksum,
        });
    }
    Ok(applied)
}

/// The normalised checksum recorded when `version` was applied by strata.
pub(crate) fn normalized_checksum(
    conn: &Connection,
    tables: &Tables,
    version: Version,
) -> Result<Option<u64>> {
    if !table_exists(conn, &tables.checksums)? {
        return Ok(None);
    }
    let text: Option<String> =
        conn.query_row(&tables.sql(SELECT_NORMALIZED), [version], |r| r.get(0)).optional()?;
    Ok(text.and_then(|t| t.parse().ok()))
}

/// Creates both history tables when missing (inside the caller's transaction).
pub(crate) fn ensure_tables(conn: &Connection, tables: &Tables) -> Result<()> {
    conn.execute_batch(&tables.sql(CREATE_HISTORY))?;
    conn.execute_batch(&tables.sql(CREATE_CHECKSUMS))?;
    Ok(())
}

/// Records `migration` as applied.
pub(crate) fn record(conn: &Connection, tables: &Tables, migration: &Migration) -> Result<()> {
    conn.execute(
        &tables.sql(INSERT_HISTORY),
        params![migration.version(), migration.name(), migration.checksum().to_string()],
    )?;
    conn.execute(
        &tables.sql(INSERT_NORMALIZED),
        params![migration.version(), migration.normalized_checksum().to_string()],
    )?;
    Ok(())
}

/// Removes `version` from the history (after its down ran).
pub(crate) fn forget(conn: &Connection, tables: &Tables, version: Version) -> Result<()> {
    conn.execute(&tables.sql(DELETE_HISTORY), [version])?;
    if table_exists(conn, &tables.checksums)? {
        conn.execute(&tables.sql(DELETE_NORMALIZED), [version])?;
    }
    Ok(())
}

/// Replaces the stored checksums of `migration` with those of its current file.
pub(crate) fn update_checksum(conn: &Connection, tables: &Tables, migration: &Migration) -> Result<()> {
    conn.execute(
        &tables.sql(UPDATE_CHECKSUM),
        params![migration.version(), migration.checksum().to_string()],
    )?;
    conn.execute_batch(&tables.sql(CREATE_CHECKSUMS))?;
    conn.execute(
        &tables.sql(INSERT_NORMALIZED),
        params![migration.version(), migration.normalized_checksum().to_string()],
    )?;
    Ok(())
}
