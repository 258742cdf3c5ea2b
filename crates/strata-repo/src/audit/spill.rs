//! The audit spill file (`<db>.audit-spill.jsonl`): where [`super::Audit::append`]
//! keeps entries while the database cannot take them, and how they go into `audit`
//! when replayed. The file mechanics (locked, fsynced JSON lines, the bound
//! `audit.spill_max_bytes` and E5050, damaged lines and E5051, chunked in-order
//! replay) are the crate's generic spill file, [`crate::spill`]; this module names
//! the audit line and its insert.

use std::path::{Path, PathBuf};

use rusqlite::params;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use strata_core::Result;

pub use crate::spill::{DAMAGED_SUFFIX, DamagedLine, ReplayReport, is_waiting};
use crate::spill::{SpillKind, SpillLine, refused};

use crate::row::json_text;

/// What is appended to the database's file name to name its audit spill file.
pub const SPILL_SUFFIX: &str = SpillKind::Audit.suffix();

/// What the audit spill file holds ([`inspect`]).
pub type SpillContents = crate::spill::SpillContents<SpilledEntry>;

/// The audit spill file of the database at `db`: `<db>.audit-spill.jsonl` beside it.
pub fn spill_path(db: &Path) -> PathBuf {
    SpillKind::Audit.path(db)
}

/// One line of the spill file: an entry as `append` was given it, with the uid and
/// time it was made with.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SpilledEntry {
    /// The entry's unique id (column `uid`): 32 lowercase hex digits.
    pub uid: String,
    /// When it was appended (ms since the Unix epoch); the row keeps this time.
    pub ts: i64,
    /// Who acted.
    pub actor: String,
    /// What was done.
    pub action: String,
    /// The task acted on, if any.
    #[serde(default)]
    pub task_id: Option<i64>,
    /// Details, a JSON value.
    #[serde(default)]
    pub data: Value,
    /// The outcome, if any.
    #[serde(default)]
    pub result: Option<String>,
    /// The memory operation, for memory actions.
    #[serde(default)]
    pub memory_operation: Option<String>,
    /// The memory namespace, for memory actions.
    #[serde(default)]
    pub memory_namespace: Option<String>,
    /// The memory entry (row id), for memory actions.
    #[serde(default)]
    pub memory_entry_id: Option<i64>,
}

/// Reads the audit spill file at `path` (nothing when it does not exist), under a
/// shared lock, without replaying it.
pub fn inspect(path: &Path) -> Result<SpillContents> {
    crate::spill::inspect(path)
}

/// Inserts a replayed entry unless its uid is already in `audit`.
pub(crate) const INSERT_REPLAYED: &str = "INSERT INTO audit \
     (ts, actor, task_id, action, data, result, memory_operation_type, memory_namespace, memory_entry_id, uid) \
     SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10 \
     WHERE NOT EXISTS (SELECT 1 FROM audit WHERE uid = ?10)";

impl SpillLine for SpilledEntry {
    const KIND: SpillKind = SpillKind::Audit;

    fn uid(&self) -> &str {
        &self.uid
    }

    fn check(&self) -> Result<()> {
        if self.actor.is_empty() {
            return refused("actor <> ''");
        }
        if self.action.is_empty() {
            return refused("action <> ''");
        }
        if self.memory_operation.as_deref() == Some("") {
            return refused("memory_operation_type IS NULL OR memory_operation_type <> ''");
        }
        if self.memory_operation.is_none()
            && (self.memory_namespace.is_some() || self.memory_entry_id.is_some())
        {
            return refused("audit_memory_fields_need_operation");
        }
        Ok(())
    }

    const INSERT_REPLAYED: &'static str = INSERT_REPLAYED;

    fn insert_replayed(&self, stmt: &mut rusqlite::CachedStatement<'_>) -> rusqlite::Result<usize> {
        stmt.execute(params![
            self.ts,
            self.actor,
            self.task_id,
            self.action,
            json_text(&self.data),
            self.result,
            self.memory_operation,
            self.memory_namespace,
            self.memory_entry_id,
            self.uid,
        ])
    }
}
