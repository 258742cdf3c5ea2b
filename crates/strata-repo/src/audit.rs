//! The audit log: who did what, to which task or memory entry (table `audit`,
//! migration V4). Append only: this module has no update or delete, and the table's
//! triggers refuse both (E4001, constraint kind `other`), so the log can only grow.
//!
//! Other repositories write their audit rows inside their own write closure with
//! [`append_in`], so a change and its audit row commit or roll back together.
//!
//! Every entry carries a unique id (`uid`, 128 random bits made at append time,
//! migration V11). [`Audit::append`] retries busy and transient failures with the
//! retry policy; when the budget is spent or the pool is degraded, the entry goes to
//! the spill file beside the database (`<db>.audit-spill.jsonl`: the crate's generic
//! spill file, `spill.rs`, with the audit line of `audit/spill.rs`) and is replayed,
//! in order and exactly once (by uid), when the pool is healthy again: by
//! [`spawn_replayer`] (which the facade starts), by the next append, or by
//! [`Audit::replay`] (`strata audit replay`).
//!
//! With `[audit] tables` configured, [`capture_writes`] (file `audit/capture.rs`)
//! makes every write of those tables append its own audit row in its transaction.
//!
//! Listing ([`Audit::list`]) is newest first and keyset-paginated. Each filter
//! combination runs one of five fixed statements, picked by the most selective filter
//! present — task, then actor, then action, then the time range — with the others
//! applied as residual terms; every one is served by an index without a sort.

mod capture;
pub mod spill;

pub use crate::spill::Replayer;
pub use capture::{CAPTURE_ACTOR, capture_writes};
pub use spill::{
    DamagedLine, ReplayReport, SpillContents, SpilledEntry, inspect as inspect_spill, spill_path,
};

use std::path::{Path, PathBuf};

use rusqlite::{Connection, OptionalExtension, Row, params};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use strata_core::{Error, Result};
use strata_pool::{Pool, operation};
use time::OffsetDateTime;

use crate::clock::{now_ms, to_datetime, to_millis};
use crate::row::{json_column, json_text, plus_one};
use crate::spill::Written;
use crate::{Page, PageRequest};

/// One row of `audit`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditEntry {
    /// The entry's id; ids grow in append order.
    pub id: i64,
    /// When it was appended (UTC; RFC 3339 in JSON).
    #[serde(with = "time::serde::rfc3339")]
    pub ts: OffsetDateTime,
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
    /// The entry's unique id, made when it was appended (32 lowercase hex digits,
    /// column `uid`, migration V11); `None` for rows appended before V11.
    pub uid: Option<String>,
}

/// An audit entry to append; build it with [`NewAuditEntry::by`], [`AuditBy::action`] and the setters.
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

/// The first half of a [`NewAuditEntry`]: who acts; [`AuditBy::action`] names what
/// was done and gives the entry. Made by [`NewAuditEntry::by`], so that the actor and
/// the action (both strings) are named at the call site and cannot be swapped silently.
#[derive(Debug, Clone, PartialEq, Eq)]
#[must_use = "an actor without an action is no entry: call .action(...)"]
pub struct AuditBy {
    actor: String,
}

impl AuditBy {
    /// The entry of this actor doing `action`, with `{}` as data and nothing else set.
    pub fn action(self, action: impl Into<String>) -> NewAuditEntry {
        NewAuditEntry {
            actor: self.actor,
            action: action.into(),
            task_id: None,
            data: Value::Object(serde_json::Map::new()),
            result: None,
            memory_operation: None,
            memory_namespace: None,
            memory_entry_id: None,
        }
    }
}

impl NewAuditEntry {
    /// An entry of `actor`, to be finished with what was done:
    /// `NewAuditEntry::by("cli").action("flag.set")`.
    ///
    /// ```
    /// # use strata_repo::NewAuditEntry;
    /// let entry = NewAuditEntry::by("cli").action("flag.set");
    /// assert_eq!((entry.actor.as_str(), entry.action.as_str()), ("cli", "flag.set"));
    /// ```
    ///
    /// The bare pair of strings (which compiled just as well swapped) does not
    /// compile, nor does an actor without its action:
    ///
    /// ```compile_fail
    /// let entry = strata_repo::NewAuditEntry::new("cli", "flag.set");
    /// ```
    ///
    /// ```compile_fail
    /// let entry: strata_repo::NewAuditEntry = strata_repo::NewAuditEntry::by("cli");
    /// ```
    pub fn by(actor: impl Into<String>) -> AuditBy {
        AuditBy { actor: actor.into() }
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

strata_pool::one_row!(AuditEntry, Appended);

/// Which audit entries to list; every field left `None` does not filter. `since` is
/// inclusive, `until` exclusive (to the millisecond, the column's unit).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditFilter {
    /// Only entries of this task.
    pub task_id: Option<i64>,
    /// Only entries of this actor.
    pub actor: Option<String>,
    /// Only entries of this action.
    pub action: Option<String>,
    /// Only entries at or after this time.
    #[serde(with = "time::serde::rfc3339::option")]
    pub since: Option<OffsetDateTime>,
    /// Only entries before this time.
    #[serde(with = "time::serde::rfc3339::option")]
    pub until: Option<OffsetDateTime>,
}

/// The audit log repository: append and read, never change.
#[derive(Debug, Clone)]
pub struct Audit {
    pool: Pool,
    /// The spill file, `<db>.audit-spill.jsonl`.
    spill: PathBuf,
}

const INSERT_AUDIT: &str = "INSERT INTO audit \
     (ts, actor, task_id, action, data, result, memory_operation_type, memory_namespace, memory_entry_id, uid) \
     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10) \
     RETURNING id, ts, actor, task_id, action, data, result, memory_operation_type, memory_namespace, memory_entry_id, uid";

/// Appends `entry` on `conn`, inside the caller's transaction, and returns the stored
/// row. Repositories call it from their own write closure so that a change and its
/// audit row are one atomic unit.
pub fn append_in(conn: &Connection, entry: &NewAuditEntry) -> Result<AuditEntry> {
    insert(conn, &SpilledEntry::made_now(entry.clone()))
}

/// Inserts `entry` with its own time and uid.
fn insert(conn: &Connection, entry: &SpilledEntry) -> Result<AuditEntry> {
    let mut stmt = conn.prepare_cached(INSERT_AUDIT)?;
    Ok(stmt.query_row(
        params![
            entry.ts,
            entry.actor,
            entry.task_id,
            entry.action,
            json_text(&entry.data),
            entry.result,
            entry.memory_operation,
            entry.memory_namespace,
            entry.memory_entry_id,
            entry.uid,
        ],
        audit_entry,
    )?)
}

/// What [`Audit::append`] did with an entry. Either way the entry is durable and
/// will be in the table exactly once: a spilled entry is replayed, in order, once
/// the database is back.
#[derive(Debug, Clone, PartialEq)]
pub enum Appended {
    /// The entry is in the table: the stored row.
    Stored(AuditEntry),
    /// The database could not take it (the retry policy was spent on busy or
    /// transient failures, or the pool is degraded or unavailable), so the entry was
    /// written to the spill file and fsynced.
    Spilled {
        /// The entry as written to the spill file, uid and time included.
        entry: SpilledEntry,
        /// The spill file.
        path: PathBuf,
        /// The error that made it spill, as `code message`.
        cause: String,
    },
}

impl Appended {
    /// The entry's unique id, stored or spilled.
    pub fn uid(&self) -> &str {
        match self {
            // Every row `append` stores has a uid: it sets one.
            Appended::Stored(row) => row.uid.as_deref().unwrap_or_default(),
            Appended::Spilled { entry, .. } => &entry.uid,
        }
    }

    /// The stored row, when the entry went to the table.
    pub fn stored(&self) -> Option<&AuditEntry> {
        match self {
            Appended::Stored(row) => Some(row),
            Appended::Spilled { .. } => None,
        }
    }

    /// The stored row, when the entry went to the table, by value.
    pub fn into_stored(self) -> Option<AuditEntry> {
        match self {
            Appended::Stored(row) => Some(row),
            Appended::Spilled { .. } => None,
        }
    }

    /// Whether the entry went to the spill file.
    pub fn is_spilled(&self) -> bool {
        matches!(self, Appended::Spilled { .. })
    }
}

impl SpilledEntry {
    /// `entry` with a new uid and the time now.
    fn made_now(entry: NewAuditEntry) -> SpilledEntry {
        SpilledEntry {
            uid: crate::spill::new_uid(),
            ts: now_ms(),
            actor: entry.actor,
            action: entry.action,
            task_id: entry.task_id,
            data: entry.data,
            result: entry.result,
            memory_operation: entry.memory_operation,
            memory_namespace: entry.memory_namespace,
            memory_entry_id: entry.memory_entry_id,
        }
    }
}

impl Audit {
    /// The repository over `pool`. Its spill file is `<db>.audit-spill.jsonl`
    /// ([`spill_path`]), bounded by the pool's `audit.spill_max_bytes`.
    pub fn new(pool: Pool) -> Self {
        let spill = spill_path(pool.path());
        Audit { pool, spill }
    }

    /// Appends `entry` and answers where it went ([`Appended`]).
    ///
    /// Busy and transient failures are retried with the config's retry policy
    /// (`[retry]`, the same budget the pool spends on a busy database: the attempts
    /// and the elapsed time count from the call). When that budget is spent, or the
    /// pool is degraded or unavailable (E2040, a full disk, a read-only volume, an
    /// i/o error), the entry is written to the spill file instead and the call
    /// answers `Ok(Appended::Spilled)`; a full spill file is E5050. While the spill
    /// file holds entries, they are replayed first, so the log keeps its order. An
    /// entry the table's CHECKs refuse (an empty actor or action, memory fields
    /// without an operation) is E4001 whether or not the database is reachable, and
    /// any other error (E2006 after close, ...) is returned as it is.
    pub async fn append(&self, entry: NewAuditEntry) -> Result<Appended> {
        operation("audit.append", "audit", async move {
            let entry = SpilledEntry::made_now(entry);
            let written = crate::spill::write_or_spill(&self.pool, vec![entry.clone()], |conn, rows| {
                insert(conn, &rows[0])
            })
            .await?;
            Ok(match written {
                Written::Stored(row) => Appended::Stored(row),
                Written::Spilled { cause } => Appended::Spilled { entry, path: self.spill.clone(), cause },
            })
        })
        .await
    }

    /// The spill file of this repository's database.
    pub fn spill_path(&self) -> &Path {
        &self.spill
    }

    /// Replays the spill file into the table now: every whole entry, in order, each
    /// once (a uid already in the table is skipped); damaged lines are reported and
    /// kept in `<spill>.damaged`; the file is truncated only after everything is
    /// committed. Without a spill file the report is empty. An error (the database
    /// still unavailable) leaves the file for the next replay.
    pub async fn replay(&self) -> Result<ReplayReport> {
        operation("audit.replay", "audit", crate::spill::replay::<SpilledEntry>(&self.pool, &self.spill))
            .await
    }

    /// What the spill file holds, without replaying it.
    pub async fn pending(&self) -> Result<SpillContents> {
        operation("audit.pending", "audit", crate::spill::inspect_async(&self.spill)).await
    }

    // The filtered listings bind ?1 task, ?2 actor, ?3 action, ?4 since, ?5 until,
    // ?6 the id cursor (rows below it) and ?7 the limit. `+col` keeps SQLite from
    // considering another index for a residual term.

    const AUDIT_BY_TASK: &str = "SELECT id, ts, actor, task_id, action, data, result, memory_operation_type, memory_namespace, memory_entry_id, uid \
         FROM audit WHERE task_id = ?1 AND id < ?6 \
         AND (?2 IS NULL OR +actor = ?2) AND (?3 IS NULL OR +action = ?3) AND +ts >= ?4 AND +ts < ?5 \
         ORDER BY id DESC LIMIT +?7";

    const AUDIT_BY_ACTOR: &str = "SELECT id, ts, actor, task_id, action, data, result, memory_operation_type, memory_namespace, memory_entry_id, uid \
         FROM audit WHERE actor = ?2 AND id < ?6 AND (?1 IS NULL OR +task_id = ?1) \
         AND (?3 IS NULL OR +action = ?3) AND +ts >= ?4 AND +ts < ?5 \
         ORDER BY id DESC LIMIT +?7";

    const AUDIT_BY_ACTION: &str = "SELECT id, ts, actor, task_id, action, data, result, memory_operation_type, memory_namespace, memory_entry_id, uid \
         FROM audit WHERE action = ?3 AND id < ?6 AND (?1 IS NULL OR +task_id = ?1) \
         AND (?2 IS NULL OR +actor = ?2) AND +ts >= ?4 AND +ts < ?5 \
         ORDER BY id DESC LIMIT +?7";

    const AUDIT_ALL: &str = "SELECT id, ts, actor, task_id, action, data, result, memory_operation_type, memory_namespace, memory_entry_id, uid \
         FROM audit WHERE id < ?6 AND (?1 IS NULL OR +task_id = ?1) AND (?2 IS NULL OR +actor = ?2) \
         AND (?3 IS NULL OR +action = ?3) AND +ts >= ?4 AND +ts < ?5 \
         ORDER BY id DESC LIMIT +?7";

    // Time range only: the order is (ts, id) newest first, served by audit_ts_idx.
    // Binds ?1 since, ?2 until (already lowered to the cursor's ts + 1), ?3 the
    // cursor's ts, ?4 the cursor's id, ?5 the limit.
    const AUDIT_BY_TIME: &str = "SELECT id, ts, actor, task_id, action, data, result, memory_operation_type, memory_namespace, memory_entry_id, uid \
         FROM audit WHERE ts >= ?1 AND ts < ?2 AND (ts, id) < (?3, ?4) \
         ORDER BY ts DESC, id DESC LIMIT +?5";

    const AUDIT_CURSOR_TS: &str = "SELECT ts FROM audit WHERE id = ?1";

    /// The entries that match `filter`, newest first, keyset-paginated (the cursor is
    /// the last entry's id). Newest means highest id (append order), except for a
    /// filter on the time range alone, which is ordered by `(ts, id)` newest first.
    pub async fn list(&self, filter: &AuditFilter, page: PageRequest) -> Result<Page<AuditEntry>> {
        operation("audit.list", "audit", async move {
            let limit = page.sql_limit()?;
            let filter = filter.clone();
            self.pool
                .read(move |conn| {
                    let since = filter.since.map_or(i64::MIN, to_millis);
                    let until = filter.until.map_or(i64::MAX, to_millis);
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
                        stmt.query_map(
                            params![since, until, cursor_ts, cursor_id, plus_one(limit)],
                            audit_entry,
                        )?
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
        })
        .await
    }

    const AUDIT_TAIL: &str = "SELECT id, ts, actor, task_id, action, data, result, memory_operation_type, memory_namespace, memory_entry_id, uid \
         FROM audit WHERE id > ?1 ORDER BY id LIMIT +?2";

    /// Up to `limit` (1 to 1,000) entries appended after entry `after`, oldest first:
    /// to follow the log, pass the id of the last entry seen (0 at the start).
    pub async fn tail(&self, after: i64, limit: usize) -> Result<Vec<AuditEntry>> {
        operation("audit.tail", "audit", async move {
            let limit = PageRequest::<i64>::first(limit).sql_limit()?;
            self.pool
                .read(move |conn| {
                    let mut stmt = conn.prepare_cached(Self::AUDIT_TAIL)?;
                    Ok(stmt
                        .query_map(params![after, limit], audit_entry)?
                        .collect::<rusqlite::Result<Vec<_>>>()?)
                })
                .await
        })
        .await
    }
}

/// Starts the task that replays the spill files of `audit`'s database whenever its
/// pool is healthy: the audit file, and the metrics file too
/// ([`crate::spill::spawn_replayer`]).
pub fn spawn_replayer(audit: Audit) -> Replayer {
    crate::spill::spawn_replayer(audit.pool)
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
    ("audit.replay_insert", spill::INSERT_REPLAYED),
];

fn audit_entry(row: &Row<'_>) -> rusqlite::Result<AuditEntry> {
    Ok(AuditEntry {
        id: row.get(0)?,
        ts: to_datetime(row.get(1)?),
        actor: row.get(2)?,
        task_id: row.get(3)?,
        action: row.get(4)?,
        data: json_column(row, 5)?,
        result: row.get(6)?,
        memory_operation: row.get(7)?,
        memory_namespace: row.get(8)?,
        memory_entry_id: row.get(9)?,
        uid: row.get(10)?,
    })
}
