//! The queue's value types: a task to enqueue ([`NewTask`]), a task as stored
//! ([`Task`], [`TaskStatus`]), and what the queue calls answer with ([`Enqueued`],
//! [`Claimed`], [`QueueStats`]); plus reading a `tasks` row into a [`Task`].

use std::ops::Range;
use std::time::Duration;

use rusqlite::Row;
use rusqlite::types::{FromSql, FromSqlError, Type, ValueRef};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use strata_core::{Error, Result};
use time::OffsetDateTime;

use crate::clock::to_datetime;
use crate::row::text_enum;

/// The queue a task goes to when [`NewTask::queue`] is not called.
pub const DEFAULT_QUEUE: &str = "default";

/// The priority of a task when [`NewTask::priority`] is not called (0 lowest, 10 highest).
pub const DEFAULT_PRIORITY: u8 = 5;

/// The highest priority.
pub const MAX_PRIORITY: u8 = 10;

text_enum! {
    /// Where a task is in its life.
    ///
    /// ```text
    /// pending --claim--> running --complete--> completed
    ///    ^                  |  \--fail (attempts left) / lease expired--> pending
    ///    |                  |  \--fail, lease expired (no attempts left)--> dead
    ///    |                  \--fail_permanently--> failed
    ///    \---------retry------- dead | failed | cancelled
    /// pending | running | failed --cancel--> cancelled
    /// ```
    ///
    /// `failed` is the worker's verdict that retrying cannot help
    /// ([`crate::Queue::fail_permanently`]). Unlike `dead`, a failed task is not retried
    /// automatically but still counts as live: it keeps its dedup key (the
    /// `tasks_dedup_idx` covers pending, running and failed), so the same work is not
    /// enqueued again until an operator retries or cancels it.
    pub enum TaskStatus ("status") {
        /// Waiting for a worker; claimable once `run_after` has passed.
        Pending => "pending",
        /// Held by a worker under a lease.
        Running => "running",
        /// Finished successfully; `result` holds what the worker returned.
        Completed => "completed",
        /// Given up by its worker; waits for an operator (retry or cancel).
        Failed => "failed",
        /// Cancelled by an operator, directly or through an ancestor.
        Cancelled => "cancelled",
        /// Out of attempts (the dead-letter state); waits for an operator (retry or purge).
        Dead => "dead",
    }
}

impl TaskStatus {
    /// Whether the task still holds its dedup key and can be cancelled: pending,
    /// running or failed.
    pub fn is_live(self) -> bool {
        matches!(self, TaskStatus::Pending | TaskStatus::Running | TaskStatus::Failed)
    }
}

/// A task to enqueue, built with [`NewTask::new`] and the builder methods.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NewTask {
    /// What the worker should do; not empty.
    pub kind: String,
    /// The task's input, any JSON value.
    pub payload: Value,
    /// The queue; [`DEFAULT_QUEUE`] unless set.
    #[serde(default = "default_queue")]
    pub queue: String,
    /// 0 (lowest) to 10 (highest); [`DEFAULT_PRIORITY`] unless set.
    #[serde(default = "default_priority")]
    pub priority: u8,
    /// Not claimable before this time; `None` for now or `delay`.
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub run_after: Option<OffsetDateTime>,
    /// Not claimable before this long after the enqueue; `None` for now or `run_after`.
    #[serde(default)]
    pub delay: Option<Duration>,
    /// Claims allowed before the task goes dead; the queue's default unless set.
    #[serde(default)]
    pub max_attempts: Option<u32>,
    /// While a live (pending, running or failed) task has this key, enqueueing
    /// another task with it returns the existing task instead.
    #[serde(default)]
    pub dedup_key: Option<String>,
    /// The task this one is a child of; cancelling the parent cancels it too.
    #[serde(default)]
    pub parent: Option<i64>,
    /// The session the task belongs to.
    #[serde(default)]
    pub session: Option<i64>,
}

fn default_queue() -> String {
    DEFAULT_QUEUE.to_string()
}

fn default_priority() -> u8 {
    DEFAULT_PRIORITY
}

impl NewTask {
    /// A task of `kind` with `payload`, for the default queue, at the default
    /// priority, claimable now.
    pub fn new(kind: impl Into<String>, payload: Value) -> Self {
        NewTask {
            kind: kind.into(),
            payload,
            queue: default_queue(),
            priority: DEFAULT_PRIORITY,
            run_after: None,
            delay: None,
            max_attempts: None,
            dedup_key: None,
            parent: None,
            session: None,
        }
    }

    /// Puts the task on `queue`.
    pub fn queue(mut self, queue: impl Into<String>) -> Self {
        self.queue = queue.into();
        self
    }

    /// Sets the priority, 0 (lowest) to 10 (highest); more than 10 fails the enqueue (E6001).
    pub fn priority(mut self, priority: u8) -> Self {
        self.priority = priority;
        self
    }

    /// Makes the task claimable only from `at`; replaces a delay.
    pub fn run_after(mut self, at: OffsetDateTime) -> Self {
        self.run_after = Some(at);
        self.delay = None;
        self
    }

    /// Makes the task claimable only `delay` after it is enqueued; replaces `run_after`.
    pub fn delay(mut self, delay: Duration) -> Self {
        self.delay = Some(delay);
        self.run_after = None;
        self
    }

    /// Allows `max_attempts` claims (at least 1) before the task goes dead.
    pub fn max_attempts(mut self, max_attempts: u32) -> Self {
        self.max_attempts = Some(max_attempts);
        self
    }

    /// Sets the dedup key (see [`NewTask::dedup_key`](NewTask#structfield.dedup_key)).
    pub fn dedup_key(mut self, key: impl Into<String>) -> Self {
        self.dedup_key = Some(key.into());
        self
    }

    /// Makes the task a child of task `parent`.
    pub fn parent(mut self, parent: i64) -> Self {
        self.parent = Some(parent);
        self
    }

    /// Attaches the task to session `session`.
    pub fn session(mut self, session: i64) -> Self {
        self.session = Some(session);
        self
    }

    /// Checks what the database cannot (or should not have to) check, naming the
    /// field at fault (E6001).
    pub(crate) fn validate(&self) -> Result<()> {
        if self.kind.is_empty() {
            return Err(Error::invalid("kind", "must not be empty"));
        }
        if self.queue.is_empty() {
            return Err(Error::invalid("queue", "must not be empty"));
        }
        if self.priority > MAX_PRIORITY {
            return Err(Error::invalid(
                "priority",
                format!("must be between 0 and {MAX_PRIORITY}, got {}", self.priority),
            ));
        }
        if self.max_attempts == Some(0) {
            return Err(Error::invalid("max_attempts", "must be at least 1"));
        }
        if self.run_after.is_some() && self.delay.is_some() {
            return Err(Error::invalid("run_after", "set either run_after or delay, not both"));
        }
        if self.dedup_key.as_deref() == Some("") {
            return Err(Error::invalid("dedup_key", "must not be empty when set"));
        }
        Ok(())
    }
}

/// A row of the `tasks` table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Task {
    /// The task's id.
    pub id: i64,
    /// The queue it is on.
    pub queue: String,
    /// What the worker should do.
    pub kind: String,
    /// The task's input.
    pub payload: Value,
    /// 0 (lowest) to 10 (highest).
    pub priority: u8,
    /// Where the task is in its life.
    pub status: TaskStatus,
    /// Claims so far (reset to 0 by [`crate::Queue::retry`]).
    pub attempts: u32,
    /// Claims allowed before the task goes dead.
    pub max_attempts: u32,
    /// Not claimable before this time; also the age that orders equal priorities.
    #[serde(with = "time::serde::rfc3339")]
    pub run_after: OffsetDateTime,
    /// The worker that holds (or last held) the task.
    pub lease_owner: Option<String>,
    /// When the current lease ends; `None` unless running.
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub lease_expires_at: Option<OffsetDateTime>,
    /// The token of the current lease; `None` unless running.
    pub lease_token: Option<String>,
    /// The last failure, as the worker (or the lease expiry) reported it.
    pub last_error: Option<String>,
    /// What the worker returned on completion.
    pub result: Option<Value>,
    /// The dedup key, if any.
    pub dedup_key: Option<String>,
    /// The parent task, if any.
    pub parent_task_id: Option<i64>,
    /// The session, if any.
    pub session_id: Option<i64>,
    /// When the task was enqueued.
    #[serde(with = "time::serde::rfc3339")]
    pub submitted_at: OffsetDateTime,
    /// When the task was last claimed.
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub started_at: Option<OffsetDateTime>,
    /// When the task reached completed, failed, cancelled or dead.
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub completed_at: Option<OffsetDateTime>,
}

/// The answer to an enqueue.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Enqueued {
    /// The new task's id, or the existing task's when `deduplicated`.
    pub id: i64,
    /// Whether a live task with the same dedup key existed, so nothing was inserted.
    pub deduplicated: bool,
}

/// A task a worker claimed, with the lease token that `complete`, `fail` and
/// `heartbeat` must present.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Claimed {
    /// The task, as it is after the claim (running, attempts counted).
    pub task: Task,
    /// The lease token of this claim (32 hex digits, new for every claim).
    pub token: LeaseToken,
}

strata_pool::one_row!(Task, Enqueued, Claimed);

/// The token of a claim: what `complete`, `fail`, `heartbeat` and `release` must present
/// beside the task's id. A type of its own so that it cannot be swapped with the error
/// text beside it (`queue.fail(id, &claimed.token, "timeout")`); a worker that got the
/// token as text (from another process) makes it with `LeaseToken::from`.
///
/// ```no_run
/// # async fn run(queue: strata_repo::Queue, claimed: strata_repo::Claimed) -> strata_core::Result<()> {
/// queue.fail(claimed.task.id, &claimed.token, "timeout").await?;
/// # Ok(())
/// # }
/// ```
///
/// The token and the error text cannot be swapped:
///
/// ```compile_fail
/// # async fn run(queue: strata_repo::Queue, claimed: strata_repo::Claimed) -> strata_core::Result<()> {
/// queue.fail(claimed.task.id, "timeout", &claimed.token).await?;
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct LeaseToken(String);

impl LeaseToken {
    /// The token's text (32 hex digits for a token a claim made).
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for LeaseToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<String> for LeaseToken {
    fn from(token: String) -> Self {
        LeaseToken(token)
    }
}

impl From<&str> for LeaseToken {
    fn from(token: &str) -> Self {
        LeaseToken(token.to_owned())
    }
}

impl From<LeaseToken> for String {
    fn from(token: LeaseToken) -> Self {
        token.0
    }
}

/// One finished job for [`crate::Queue::complete_many`]: the task, the lease token of
/// its claim, and its result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Completion {
    /// The task's id.
    pub id: i64,
    /// The lease token of the claim that ran it.
    pub token: LeaseToken,
    /// What the task produced (stored as JSON in `result`).
    pub result: Value,
}

impl Completion {
    /// The completion of the task `claimed` holds, with `result`.
    pub fn of(claimed: &Claimed, result: Value) -> Completion {
        Completion { id: claimed.task.id, token: claimed.token.clone(), result }
    }
}

/// How many tasks of one queue are in each state.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct QueueStats {
    /// The queue.
    pub queue: String,
    /// Pending tasks, due or not.
    pub pending: u64,
    /// Running tasks.
    pub running: u64,
    /// Completed tasks.
    pub completed: u64,
    /// Failed tasks.
    pub failed: u64,
    /// Cancelled tasks.
    pub cancelled: u64,
    /// Dead tasks.
    pub dead: u64,
    /// Pending tasks whose `run_after` has passed: claimable now.
    pub ready_now: u64,
}

impl QueueStats {
    /// The counter of `status`.
    pub(crate) fn count_mut(&mut self, status: TaskStatus) -> &mut u64 {
        match status {
            TaskStatus::Pending => &mut self.pending,
            TaskStatus::Running => &mut self.running,
            TaskStatus::Completed => &mut self.completed,
            TaskStatus::Failed => &mut self.failed,
            TaskStatus::Cancelled => &mut self.cancelled,
            TaskStatus::Dead => &mut self.dead,
        }
    }
}

/// The columns of a [`Task`], in the order [`task_from_row`] reads them; every
/// statement that returns tasks selects exactly these.
macro_rules! task_columns {
    () => {
        "id, queue, kind, payload, priority, status, attempts, max_attempts, run_after, \
         lease_owner, lease_expires_at, lease_token, last_error, result, dedup_key, \
         parent_task_id, session_id, submitted_at, started_at, completed_at"
    };
}
pub(crate) use task_columns;

/// The columns a claim returns: those of [`task_columns!`], in their order, that the
/// claim does not set to a value its caller already knows. The claim sets `status`
/// to running, `lease_owner` to the worker, `lease_expires_at` and `started_at` from
/// the time of the claim, and claims from one `queue`; [`ClaimContext`] supplies
/// those five, so the writer neither returns nor copies them.
macro_rules! claimed_columns {
    () => {
        "id, kind, payload, priority, attempts, max_attempts, run_after, lease_token, \
         last_error, result, dedup_key, parent_task_id, session_id, submitted_at, completed_at"
    };
}
pub(crate) use claimed_columns;

/// For each column of [`task_columns!`], its place among [`claimed_columns!`], or
/// `None` for a column that [`ClaimContext`] supplies.
const CLAIMED_PLACE: [Option<usize>; 20] = [
    Some(0),  // id
    None,     // queue
    Some(1),  // kind
    Some(2),  // payload
    Some(3),  // priority
    None,     // status
    Some(4),  // attempts
    Some(5),  // max_attempts
    Some(6),  // run_after
    None,     // lease_owner
    None,     // lease_expires_at
    Some(7),  // lease_token
    Some(8),  // last_error
    Some(9),  // result
    Some(10), // dedup_key
    Some(11), // parent_task_id
    Some(12), // session_id
    Some(13), // submitted_at
    None,     // started_at
    Some(14), // completed_at
];

/// What a claim set that its statement does not return (see [`claimed_columns!`]).
pub(crate) struct ClaimContext<'a> {
    /// The queue claimed from.
    pub(crate) queue: &'a str,
    /// The worker that claimed: the tasks' `lease_owner`.
    pub(crate) worker: &'a str,
    /// The time of the claim: the tasks' `started_at`.
    pub(crate) now: i64,
    /// The tasks' `lease_expires_at`.
    pub(crate) lease_expires_at: i64,
}

impl ClaimContext<'_> {
    /// The value of task column `idx` that the claim set, for the columns it supplies.
    fn value(&self, idx: usize) -> Option<ValueRef<'_>> {
        match idx {
            1 => Some(ValueRef::Text(self.queue.as_bytes())),
            5 => Some(ValueRef::Text(b"running")),
            9 => Some(ValueRef::Text(self.worker.as_bytes())),
            10 => Some(ValueRef::Integer(self.lease_expires_at)),
            18 => Some(ValueRef::Integer(self.now)),
            _ => None,
        }
    }
}

/// Reads a row of [`task_columns!`] into a [`Task`]; JSON that does not parse is E4005.
pub(crate) fn task_from_row(row: &Row<'_>) -> rusqlite::Result<Task> {
    read_task(row)
}

/// Where the columns of a task row come from: a row of a running statement, or a row
/// copied off it by [`CopiedRows`].
trait Columns {
    /// Column `idx` converted as [`Row::get`] converts it, with the same errors.
    fn get<T: FromSql>(&self, idx: usize) -> rusqlite::Result<T>;
}

impl Columns for Row<'_> {
    fn get<T: FromSql>(&self, idx: usize) -> rusqlite::Result<T> {
        Row::get(self, idx)
    }
}

/// Builds a [`Task`] from the columns of [`task_columns!`], in order.
fn read_task(row: &impl Columns) -> rusqlite::Result<Task> {
    let payload: String = row.get(3)?;
    let result: Option<String> = row.get(13)?;
    Ok(Task {
        id: row.get(0)?,
        queue: row.get(1)?,
        kind: row.get(2)?,
        payload: parse_json(3, &payload)?,
        priority: row.get(4)?,
        status: row.get(5)?,
        attempts: row.get(6)?,
        max_attempts: row.get(7)?,
        run_after: to_datetime(row.get(8)?),
        lease_owner: row.get(9)?,
        lease_expires_at: row.get::<Option<i64>>(10)?.map(to_datetime),
        lease_token: row.get(11)?,
        last_error: row.get(12)?,
        result: result.map(|text| parse_json(13, &text)).transpose()?,
        dedup_key: row.get(14)?,
        parent_task_id: row.get(15)?,
        session_id: row.get(16)?,
        submitted_at: to_datetime(row.get(17)?),
        started_at: row.get::<Option<i64>>(18)?.map(to_datetime),
        completed_at: row.get::<Option<i64>>(19)?.map(to_datetime),
    })
}

fn parse_json(idx: usize, text: &str) -> rusqlite::Result<Value> {
    serde_json::from_str(text)
        .map_err(|e| rusqlite::Error::FromSqlConversionFailure(idx, Type::Text, Box::new(e)))
}

/// Rows of [`claimed_columns!`] copied off a claim's statement as they are, to be made
/// into [`Task`]s later: what the writer thread reads for a claim. Copying costs the
/// writer, which every write waits for, a column fetch and at most a `memcpy` per
/// column; the conversions, UTF-8 checks, allocations and JSON parsing happen in
/// [`CopiedRows::tasks`], on the caller's thread.
#[derive(Default)]
pub(crate) struct CopiedRows {
    /// Columns per row (the statement's column count).
    width: usize,
    /// The cells of every row, row after row.
    cells: Vec<Cell>,
    /// The bytes of every text and blob cell.
    bytes: Vec<u8>,
}

/// One column of a copied row: a [`ValueRef`] whose bytes live in [`CopiedRows::bytes`].
enum Cell {
    Null,
    Integer(i64),
    Real(f64),
    Text(Range<usize>),
    Blob(Range<usize>),
}

impl CopiedRows {
    /// Copies every column of `row`.
    pub(crate) fn push(&mut self, row: &Row<'_>) -> rusqlite::Result<()> {
        self.width = row.as_ref().column_count();
        for idx in 0..self.width {
            let cell = match row.get_ref(idx)? {
                ValueRef::Null => Cell::Null,
                ValueRef::Integer(v) => Cell::Integer(v),
                ValueRef::Real(v) => Cell::Real(v),
                ValueRef::Text(b) => Cell::Text(self.copy(b)),
                ValueRef::Blob(b) => Cell::Blob(self.copy(b)),
            };
            self.cells.push(cell);
        }
        Ok(())
    }

    /// No row was copied.
    pub(crate) fn is_empty(&self) -> bool {
        self.cells.is_empty()
    }

    fn copy(&mut self, b: &[u8]) -> Range<usize> {
        let start = self.bytes.len();
        self.bytes.extend_from_slice(b);
        start..self.bytes.len()
    }

    /// The copied rows as tasks, in the order they were copied, with the columns the
    /// claim did not return taken from `claim`.
    pub(crate) fn tasks(&self, claim: &ClaimContext<'_>) -> rusqlite::Result<Vec<Task>> {
        match self.width {
            0 => Ok(Vec::new()),
            width => self
                .cells
                .chunks(width)
                .map(|cells| read_task(&CopiedRow { cells, bytes: &self.bytes, claim }))
                .collect(),
        }
    }
}

/// One row of [`CopiedRows`], read as a row of [`task_columns!`].
struct CopiedRow<'a> {
    cells: &'a [Cell],
    bytes: &'a [u8],
    claim: &'a ClaimContext<'a>,
}

impl Columns for CopiedRow<'_> {
    fn get<T: FromSql>(&self, idx: usize) -> rusqlite::Result<T> {
        let value = match self.claim.value(idx) {
            Some(value) => value,
            None => {
                let cell = CLAIMED_PLACE.get(idx).copied().flatten().and_then(|place| self.cells.get(place));
                match cell.ok_or(rusqlite::Error::InvalidColumnIndex(idx))? {
                    Cell::Null => ValueRef::Null,
                    Cell::Integer(v) => ValueRef::Integer(*v),
                    Cell::Real(v) => ValueRef::Real(*v),
                    Cell::Text(range) => ValueRef::Text(&self.bytes[range.clone()]),
                    Cell::Blob(range) => ValueRef::Blob(&self.bytes[range.clone()]),
                }
            }
        };
        // The errors of `Row::get`, with the column named from `task_columns!`.
        T::column_result(value).map_err(|err| match err {
            FromSqlError::InvalidType => {
                let name = task_columns!().split(',').nth(idx).unwrap_or_default().trim();
                rusqlite::Error::InvalidColumnType(idx, name.to_string(), value.data_type())
            }
            FromSqlError::OutOfRange(i) => rusqlite::Error::IntegralValueOutOfRange(idx, i),
            FromSqlError::Utf8Error(err) => rusqlite::Error::Utf8Error(idx, err),
            FromSqlError::Other(err) => {
                rusqlite::Error::FromSqlConversionFailure(idx, value.data_type(), err)
            }
            err => rusqlite::Error::FromSqlConversionFailure(idx, value.data_type(), Box::new(err)),
        })
    }
}

#[cfg(test)]
mod tests {
    use rusqlite::Connection;

    use super::{CLAIMED_PLACE, ClaimContext, CopiedRows, task_from_row};

    /// What `row_sql`'s rows hold in the columns a claim does not return.
    const CLAIM: ClaimContext<'static> =
        ClaimContext { queue: "q", worker: "w", now: 2, lease_expires_at: 20 };

    /// The columns of a running task, named as in `task_columns!`, with `id`,
    /// `payload` and `result` as given.
    fn row_sql(id: &str, payload: &str, result: &str) -> String {
        let values = [
            id,
            "'q'",
            "'k'",
            payload,
            "5",
            "'running'",
            "1",
            "3",
            "10",
            "'w'",
            "20",
            "'T0K3N'",
            "NULL",
            result,
            "NULL",
            "NULL",
            "7",
            "1",
            "2",
            "NULL",
        ];
        let names = task_columns!().split(',').map(str::trim);
        let columns: Vec<String> = values.iter().zip(names).map(|(v, n)| format!("{v} AS {n}")).collect();
        format!("SELECT {}", columns.join(", "))
    }

    /// The rows of `sql` read as tasks both ways: their `claimed_columns!` copied and
    /// completed from [`CLAIM`], and all their columns straight off the row.
    fn both_ways(sql: &str) -> (String, String) {
        let dir = tempfile::tempdir().unwrap();
        let conn = Connection::open(dir.path().join("rows.db")).unwrap();
        let mut claimed = conn.prepare(&format!("SELECT {} FROM ({sql})", claimed_columns!())).unwrap();
        let mut copied = CopiedRows::default();
        let mut rows = claimed.query([]).unwrap();
        while let Some(row) = rows.next().unwrap() {
            copied.push(row).unwrap();
        }
        drop(rows);
        let mut stmt = conn.prepare(sql).unwrap();
        let direct: rusqlite::Result<Vec<_>> = stmt.query_map([], task_from_row).unwrap().collect();
        (format!("{:?}", copied.tasks(&CLAIM)), format!("{direct:?}"))
    }

    #[test]
    fn a_claim_returns_every_task_column_but_the_five_it_supplies() {
        let task: Vec<&str> = task_columns!().split(',').map(str::trim).collect();
        let claimed: Vec<&str> = claimed_columns!().split(',').map(str::trim).collect();
        assert_eq!(task.len(), CLAIMED_PLACE.len());
        let mut supplied = Vec::new();
        for (idx, (name, place)) in task.iter().zip(CLAIMED_PLACE).enumerate() {
            match place {
                Some(place) => assert_eq!(claimed[place], *name, "{name}"),
                None => supplied.push(*name),
            }
            assert_eq!(place.is_none(), CLAIM.value(idx).is_some(), "{name}");
        }
        assert_eq!(supplied, ["queue", "status", "lease_owner", "lease_expires_at", "started_at"]);
        assert_eq!(claimed.len() + supplied.len(), task.len());
    }

    #[test]
    fn copied_rows_make_the_tasks_that_reading_the_rows_makes() {
        let sql = format!(
            "{} UNION ALL {}",
            row_sql("1", r#"'{"n":1}'"#, "NULL"),
            row_sql("2", "'[1,2]'", r#"'{"ok":true}'"#)
        );
        let (copied, direct) = both_ways(&sql);
        assert!(copied.starts_with("Ok([Task { id: 1,"), "{copied}");
        assert!(copied.contains("lease_token: Some(\"T0K3N\")"), "{copied}");
        assert_eq!(copied, direct);
        assert_eq!(both_ways(&format!("{} LIMIT 0", row_sql("1", "'{}'", "NULL"))).0, "Ok([])");
    }

    #[test]
    fn a_bad_column_is_the_same_typed_error_either_way() {
        for (what, sql) in [
            ("text id", row_sql("'x'", "'{}'", "NULL")),
            ("real id", row_sql("1.5", "'{}'", "NULL")),
            ("blob payload", row_sql("1", "x'00'", "NULL")),
            ("payload not JSON", row_sql("1", "'{'", "NULL")),
            ("result not JSON", row_sql("1", "'{}'", "'nope'")),
            ("invalid UTF-8", row_sql("1", "CAST(x'ff' AS TEXT)", "NULL")),
        ] {
            let (copied, direct) = both_ways(&sql);
            assert!(copied.starts_with("Err("), "{what}: {copied}");
            assert_eq!(copied, direct, "{what}");
        }
    }
}
