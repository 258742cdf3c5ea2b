//! strata-codegen: typed Rust access generated from a live SQLite schema.
//!
//! Layer: strata-codegen <- strata-core and strata-schema only; it reads a schema through
//! the `rusqlite::Connection` it is given (or a scratch in-memory database with a
//! migrations directory applied) and returns source text; it opens no pool and runs no
//! generated code. It owns the mapping from a schema to one Rust module: per table a
//! row struct (serde derives, `Option` for nullable columns, SQLite affinity to Rust
//! types, STRICT types exact, JSON-checked columns as `serde_json::Value` or a mapped
//! type), `TryFrom<&Row>` by column name, the column list as constants, and a table type
//! whose `insert` / `get` / `update` / `delete` / keyset `list` / `find_by_<cols>` run
//! through the facade's `Pool` (`pool.read` / `pool.write`) with parameterised
//! statements and quoted identifiers; a view gets a read-only type. The output is
//! printed by prettyplease and is deterministic: the same schema and options give the
//! same bytes. `strata codegen` (strata-cli) and `cargo xtask codegen` are its callers.

#![deny(missing_docs)]
// Library code proves its unwraps: each one left carries an `allow` with the reason it
// cannot fail. Unit tests (cfg(test)) and the integration tests are exempt.
#![cfg_attr(not(test), warn(clippy::unwrap_used, clippy::expect_used))]

mod emit;
mod model;
mod names;

use std::collections::BTreeMap;
use std::path::Path;

use rusqlite::Connection;
use strata_core::{Error, Result};
use strata_schema::{MigrationSet, UpOptions};

pub use model::{Base, Column, Finder, Relation, RelationKind, model};

/// What to generate and how the generated code names things.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Options {
    /// Only these tables and views (by name); `None` generates every one.
    pub tables: Option<Vec<String>>,
    /// `table.column` -> the Rust type its JSON text is read into (`crate::Settings`),
    /// instead of `serde_json::Value`. Naming a column makes it a JSON column.
    pub json_types: BTreeMap<String, String>,
    /// The path the generated code reaches strata through: `strata` in an
    /// application, `crate` inside the facade itself.
    pub crate_path: String,
    /// The command named in the "generated, do not edit" header.
    pub command: String,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            tables: None,
            json_types: BTreeMap::new(),
            crate_path: "strata".to_string(),
            command: "strata codegen".to_string(),
        }
    }
}

/// The Rust module for the schema of `conn`: formatted source text, starting with the
/// "generated, do not edit" header. E3020 when `options.tables` names something that is
/// neither a table nor a view, E3022 when a `json_types` entry is not a column or not a
/// Rust type.
pub fn generate(conn: &Connection, options: &Options) -> Result<Generated> {
    let relations = model(conn, options)?;
    let code = emit::module(&relations, options)?;
    Ok(Generated { code, relations: relations.into_iter().map(|r| r.name).collect() })
}

/// A generated module.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Generated {
    /// The module's source text.
    pub code: String,
    /// The tables and views it covers, tables first, each by name.
    pub relations: Vec<String>,
}

/// A scratch in-memory database with every migration of the directory `dir` applied,
/// for generating from migrations without a database file.
pub fn scratch_from_migrations(dir: &Path) -> Result<Connection> {
    let set = MigrationSet::from_dir(dir)?;
    scratch_from_set(&set)
}

/// A scratch in-memory database with `set` applied.
pub fn scratch_from_set(set: &MigrationSet) -> Result<Connection> {
    let conn = Connection::open_in_memory()?;
    conn.execute_batch("PRAGMA foreign_keys = ON")?;
    let options = UpOptions { to: None, dry_run: false, snapshot: false, snapshot_keep: 0 };
    strata_schema::up(&conn, set, &options)?;
    Ok(conn)
}

/// `Ok` when `committed` equals `generated` (line endings aside); E3021 naming `path`
/// and the first differing line otherwise, for `--check`.
pub fn check(path: &Path, committed: &str, generated: &str) -> Result<()> {
    let committed = committed.replace("\r\n", "\n");
    if committed == generated {
        return Ok(());
    }
    let line = committed
        .lines()
        .zip(generated.lines())
        .position(|(a, b)| a != b)
        .unwrap_or_else(|| committed.lines().count().min(generated.lines().count()))
        + 1;
    Err(Error::CodegenStale { path: path.to_path_buf(), line })
}
