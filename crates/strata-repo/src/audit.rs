//! The audit log: who did what, to which task or memory entry (table `audit`,
//! migration V4). Append only: this module has no update or delete, and the table's
//! triggers refuse both (E4001, constraint kind `other`), so the log can only grow.
//!
//! Other repositories write their audit rows inside their own write closure with
//! [`append_in`], so a change and its audit row commit or roll back together.
//!
//! With `[audit] tables` configured, [`capture_writes`] (file `audit/capture.rs`)
//! makes every write of those tables append its own audit row in its transaction.
//!
//! Listing ([`Audit::list`]) is newest first and keyset-paginated. Each filter
//! combination runs one of five fixed statements, picked by the most selective filter
//! present — task, then actor, then action, then the time range — with the others
//! applied as residual terms; every one is served by an index without a sort.

mod capture;

pub use capture::{CAPTURE_ACTOR, capture_writes};

use rusqlite::{Connection, OptionalExtension, Row, params};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use strata_core::{Error, Result};
use strata_pool::Pool;

use crate::clock::now_ms;
use crate::row::{json_column, json_text, plus_one};
use crate::{Page, PageRequest};

/// One row of `audit`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditEntry {
    /// The entry's id; ids grow in append order.
    pub id: i64,
    /// When it was appended (ms since the Unix epoch).
    pub ts: i64,
    /// Who acted (never empty).
    pub actor: String,
    /// The task acted on, if any (not a foreign key: the entry outlives the task).
    pub task_id: Option<i64>,
    /// What was done (never empty), such as `flag.set` or `memory.put`.
    pub action: String,
    /// Details, a JSON value (`{}` by default).
    pub data: Value,
    /// The outcome, if recorded.
    pub result: Option<String>,
    /// The memory operation, for memory actions (`put`, `delete`); the column
    /// `memory_operation_type` (named `memory_operation` before V9).
    pub memory_operation: Option<String>,
    /// The memory namespace, for memory actions.
    pub memory_namespace: Option<String>,
    /// The memory entry (row id), for memory actions.
    pub memory_entry_id: Option<i64>,
}

/// An audit entry to append; build it with [`NewAuditEntry::new`] and the setters.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NewAuditEntry {
    /// Who acted (an empty actor is refused by a CHECK, E4001).
    pub actor: String,
    /// What was done (an empty action is refused by a CHECK, E4001).
    pub action: String,
    /// The task acted on, if any.
    pub task_id: Option<i64>,
    /// Details, a JSON value.
    pub data: Value,
    /// The outcome, if any.
    pub result: Option<String>,
    /// The memory operation (column `memory_operation_type`); required when a
    /// namespace or entry id is given.
    pub memory_operation: Option<String>,
    /// The memory namespace.
    pub memory_namespace: Option<String>,
    /// The memory entry (row id).
    pub memory_entry_id: Option<i64>,
}

impl NewAuditEntry {
    /// An entry of `actor` doing `action`, with `{}` as data and nothing else set.
    pub fn new(actor: impl Into<String>, action: impl Into<String>) -> Self {
        NewAuditEntry {
            actor: actor.into(),
            action: action.into(),
            task_id: None,
            data: Value::Object(serde_json::Map::new()),
            result: None,
            memory_operation: None,
            memory_namespace: None,
            memory_entry_id: None,
        }
    }

    /// Sets the task acted on.
    pub fn task(mut self, task_id: i64) -> Self {
        self.task_id = Some(task_id);
        self
    }

    /// Sets the details.
    pub fn data(mut self, data: Value) -> Self {
        self.data = data;
        self
    }

    /// Sets the outcome.
    pub fn result(mut self, result: impl Into<String>) -> Self {
        self.result = Some(result.into());
        self
    }

    /// Sets the memory operation, namespace and entry id of a memory action.
    pub fn memory(
        mut self,
        operation: impl Into<String>,
        namespace: impl Into<String>,
        entry_id: Option<i64>,
    ) -> Self {
        self.memory_operation = Some(operation.into());
        self.memory_namespace = Some(namespace.into());
        self.memory_entry_id = entry_id;
        self
    }
}

/// Which audit entries to list; every field left `None` does not filter. Times are
/// ms since the Unix epoch: `since` inclusive, `until` exclusive.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditFilter {
    /// Only entries of this task.
    pub task_id: Option<i64>,
    /// Only entries of this actor.
    pub actor: Option<String>,
    /// Only entries of this action.
    pub action: Option<String>,
    /// Only entries at or after this time.
    pub since: Option<i64>,
    /// Only entries before this time.
    pub until: Option<i64>,
}

/// The audit log repository: append and read, never change.
#[derive(Debug, Clone)]
pub struct Audit {
    pool: Pool,
}

const INSERT_AUDIT: &str = "INSERT INTO audit \
     (ts, actor, task_id, action, data, result, memory_operation_type, memory_namespace, memory_entry_id) \
     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9) \
     RETURNING id, ts, actor, task_id, action, data, result, memory_operation_type, memory_namespace, memory_entry_id";

/// Appends `entry` on `conn`, inside the caller's transaction, and returns the stored
/// row. Repositories call it from their own write closure so that a change and its
/// audit row are one atomic unit.
pub fn append_in(conn: &Connection, entry: &NewAuditEntry) -> Result<AuditEntry> {
    let mut stmt = conn.prepare_cached(INSERT_AUDIT)?;
    Ok(stmt.query_row(
        params![
            now_ms(),
            entry.actor,
            entry.task_id,
            entry.action,
            json_text(&entry.data),
            entry.result,
            entry.memory_operation,
            entry.memory_namespace,
            entry.memory_entry_id,
        ],
        audit_entry,
    )?)
}

impl Audit {
    /// The repository over `pool`.
    pub fn new(pool: Pool) -> Self {
        Audit { pool }
    }

    /// Appends `entry` in its own write and returns the stored row.
    pub async fn append(&self, entry: NewAuditEntry) -> Result<AuditEntry> {
        self.pool.write(move |conn| append_in(conn, &entry)).await
    }

    // The filtered listings bind ?1 task, ?2 actor, ?3 action, ?4 since, ?5 until,
    // ?6 the id cursor (rows below it) and ?7 the limit. `+col` keeps SQLite from
    // considering another index for a residual term.

    const AUDIT_BY_TASK: &str = "SELECT id, ts, actor, task_id, action, data, result, memory_operation_type, memory_namespace, memory_entry_id \
         FROM audit WHERE task_id = ?1 AND id < ?6 \
         AND (?2 IS NULL OR +actor = ?2) AND (?3 IS NULL OR +action = ?3) AND +ts >= ?4 AND +ts < ?5 \
         ORDER BY id DESC LIMIT +?7";

    const AUDIT_BY_ACTOR: &str = "SELECT id, ts, actor, task_id, action, data, result, memory_operation_type, memory_namespace, memory_entry_id \
         FROM audit WHERE actor = ?2 AND id < ?6 AND (?1 IS NULL OR +task_id = ?1) \
         AND (?3 IS NULL OR +action = ?3) AND +ts >= ?4 AND +ts < ?5 \
         ORDER BY id DESC LIMIT +?7";

    const AUDIT_BY_ACTION: &str = "SELECT id, ts, actor, task_id, action, data, result, memory_operation_type, memory_namespace, memory_entry_id \
         FROM audit WHERE action = ?3 AND id < ?6 AND (?1 IS NULL OR +task_id = ?1) \
         AND (?2 IS NULL OR +actor = ?2) AND +ts >= ?4 AND +ts < ?5 \
         ORDER BY id DESC LIMIT +?7";

    const AUDIT_ALL: &str = "SELECT id, ts, actor, task_id, action, data, result, memory_operation_type, memory_namespace, memory_entry_id \
         FROM audit WHERE id < ?6 AND (?1 IS NULL OR +task_id = ?1) AND (?2 IS NULL OR +actor = ?2) \
         AND (?3 IS NULL OR +action = ?3) AND +ts >= ?4 AND +ts < ?5 \
         ORDER BY id DESC LIMIT +?7";

    // Time range only: the order is (ts, id) newest first, served by audit_ts_idx.
    // Binds ?1 since, ?2 until (already lowered to the cursor's ts + 1), ?3 the
    // cursor's ts, ?4 the cursor's id, ?5 the limit.
    const AUDIT_BY_TIME: &str = "SELECT id, ts, actor, task_id, action, data, result, memory_operation_type, memory_namespace, memory_entry_id \
         FROM audit WHERE ts >= ?1 AND ts < ?2 AND (ts, id) < (?3, ?4) \
         ORDER BY ts DESC, id DESC LIMIT +?5";

    const AUDIT_CURSOR_TS: &str = "SELECT ts FROM audit WHERE id = ?1";

    /// The entries that match `filter`, newest first, keyset-paginated (the cursor is
    /// the last entry's id). Newest means highest id (append order), except for a
    /// filter on the time range alone, which is ordered by `(ts, id)` newest first.
    pub async fn list(&self, filter: &AuditFilter, page: PageRequest) -> Result<Page<AuditEntry>> {
        let limit = page.sql_limit()?;
        let filter = filter.clone();
        self.pool
            .read(move |conn| {
                let since = filter.since.unwrap_or(i64::MIN);
                let until = filter.until.unwrap_or(i64::MAX);
                let rows = if filter.task_id.is_none()
                    && filter.actor.is_none()
                    && filter.action.is_none()
                    && (filter.since.is_some() || filter.until.is_some())
                {
                    let (cursor_ts, cursor_id) = match page.after {
                        None => (i64::MAX, i64::MAX),
                        Some(id) => {
                            let ts: i64 = conn
                                .prepare_cached(Self::AUDIT_CURSOR_TS)?
                                .query_row([id], |r| r.get(0))
                                .optional()?
                                .ok_or_else(|| Error::invalid("after", format!("no audit entry {id}")))?;
                            (ts, id)
                        }
                    };
                    // Rows at the cursor's ts or earlier: lets the index seek start there.
                    let until = until.min(cursor_ts.saturating_add(1));
                    let mut stmt = conn.prepare_cached(Self::AUDIT_BY_TIME)?;
                    stmt.query_map(params![since, until, cursor_ts, cursor_id, plus_one(limit)], audit_entry)?
                        .collect::<rusqlite::Result<Vec<_>>>()?
                } else {
                    let sql = if filter.task_id.is_some() {
                        Self::AUDIT_BY_TASK
                    } else if filter.actor.is_some() {
                        Self::AUDIT_BY_ACTOR
                    } else if filter.action.is_some() {
                        Self::AUDIT_BY_ACTION
                    } else {
                        Self::AUDIT_ALL
                    };
                    let before = page.after.unwrap_or(i64::MAX);
                    let mut stmt = conn.prepare_cached(sql)?;
                    stmt.query_map(
                        params![
                            filter.task_id,
                            filter.actor,
                            filter.action,
                            since,
                            until,
                            before,
                            plus_one(limit)
                        ],
                        audit_entry,
                    )?
                    .collect::<rusqlite::Result<Vec<_>>>()?
                };
                Ok(Page::from_rows(rows, page.limit, |e| e.id))
            })
            .await
    }

    const AUDIT_TAIL: &str = "SELECT id, ts, actor, task_id, action, data, result, memory_operation_type, memory_namespace, memory_entry_id \
         FROM audit WHERE id > ?1 ORDER BY id LIMIT +?2";

    /// Up to `limit` (1 to 1,000) entries appended after entry `after`, oldest first:
    /// to follow the log, pass the id of the last entry seen (0 at the start).
    pub async fn tail(&self, after: i64, limit: usize) -> Result<Vec<AuditEntry>> {
        let limit = PageRequest::<i64>::first(limit).sql_limit()?;
        self.pool
            .read(move |conn| {
                let mut stmt = conn.prepare_cached(Self::AUDIT_TAIL)?;
                Ok(stmt
                    .query_map(params![after, limit], audit_entry)?
                    .collect::<rusqlite::Result<Vec<_>>>()?)
            })
            .await
    }
}

/// Every statement this module issues, for the explain test.
pub(crate) const STATEMENTS: &[(&str, &str)] = &[
    ("audit.append", INSERT_AUDIT),
    ("audit.list_by_task", Audit::AUDIT_BY_TASK),
    ("audit.list_by_actor", Audit::AUDIT_BY_ACTOR),
    ("audit.list_by_action", Audit::AUDIT_BY_ACTION),
    ("audit.list_all", Audit::AUDIT_ALL),
    ("audit.list_by_time", Audit::AUDIT_BY_TIME),
    ("audit.cursor_ts", Audit::AUDIT_CURSOR_TS),
    ("audit.tail", Audit::AUDIT_TAIL),
];

fn audit_entry(row: &Row<'_>) -> rusqlite::Result<AuditEntry> {
    Ok(AuditEntry {
        id: row.get(0)?,
        ts: row.get(1)?,
        actor: row.get(2)?,
        task_id: row.get(3)?,
        action: row.get(4)?,
        data: json_column(row, 5)?,
        result: row.get(6)?,
        memory_operation: row.get(7)?,
        memory_namespace: row.get(8)?,
        memory_entry_id: row.get(9)?,
    })
}
