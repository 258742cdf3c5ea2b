//! Enqueueing: one task, an all-or-nothing batch, or chunks committed one by one;
//! dedup against live tasks, grouped inserts, and the wake-up of the queue's workers.

use std::sync::Arc;

use rusqlite::{Connection, OptionalExtension, params};
use strata_core::{Error, Result};

use super::{Enqueued, NewTask, Queue, QueueConfig};
use crate::clock::{duration_to_ms, now_ms, to_millis};
use crate::row::json_text;

/// The answer of [`Queue::enqueue_chunked`]: what was committed, and why the rest
/// was not.
#[derive(Debug)]
#[must_use = "a refused chunk is reported here, not as an Err"]
pub struct ChunkedEnqueue {
    /// One answer per committed task, in the order given: every task of the chunks
    /// before the refused one.
    pub enqueued: Vec<Enqueued>,
    /// The error of the chunk the database refused (E4001, or a pool failure); `None`
    /// when every task was committed.
    pub refused: Option<Error>,
    /// Tasks given that were not committed: the refused chunk and every one after it.
    pub not_written: usize,
}

/// A chunked enqueue stands for the tasks it committed in the operation log.
impl strata_pool::Affected for ChunkedEnqueue {
    fn affected(&self) -> u64 {
        strata_pool::Affected::affected(&self.enqueued)
    }
}

impl ChunkedEnqueue {
    /// The answers when every task was committed, else the error of the refused chunk
    /// (the committed tasks stay committed).
    pub fn into_result(self) -> Result<Vec<Enqueued>> {
        match self.refused {
            None => Ok(self.enqueued),
            Some(error) => Err(error),
        }
    }
}

impl Queue {
    /// Enqueues `task` (which has a `run_after`) only while that time is still ahead,
    /// checked in the same write as the insert: the recurring jobs' tick. A tick's
    /// task is thus always pending (so live, so deduplicated) whenever anyone enqueues
    /// it, and no process can enqueue it again after a worker claimed it. `None` when
    /// the time has passed.
    pub(crate) async fn enqueue_ahead(&self, task: NewTask) -> Result<Option<Enqueued>> {
        strata_pool::operation("queue.enqueue_ahead", "tasks", async move {
            task.validate()?;
            let row = InsertRow::new(task, &self.shared.config);
            let queue = row.queue.clone();
            let answer = self
                .pool
                .write(move |conn| {
                    let now = now_ms();
                    if row.run_after(now) <= now {
                        return Ok(None);
                    }
                    Ok(insert_chunk(conn, std::slice::from_ref(&row))?.pop())
                })
                .await?;
            self.wake(&queue);
            Ok(answer)
        })
        .await
    }

    /// Enqueues one task. When `task` has a dedup key that a live (pending, running or
    /// failed) task holds, nothing is inserted and the existing task's id comes back
    /// with `deduplicated` set; the lookup and the insert run in one write, so two
    /// concurrent enqueues cannot both insert. Invalid input is E6001 before any SQL;
    /// what only the database can check (an unknown parent or session) is E4001, and
    /// then nothing was written.
    #[allow(
        clippy::expect_used,
        reason = "enqueue_batch answers one entry per task given, and it was given one"
    )]
    pub async fn enqueue(&self, task: NewTask) -> Result<Enqueued> {
        strata_pool::operation("queue.enqueue", "tasks", async move {
            let mut ids = self.insert_batch(vec![task]).await?;
            Ok(ids.pop().expect("one task in, one answer out"))
        })
        .await
    }

    /// Enqueues many tasks all or nothing, and answers in the order given. Every task
    /// is validated before anything is written (E6001). All of them are inserted in one
    /// write transaction (`batch_size` rows per statement group): when the database
    /// refuses one (E4001, an unknown parent or session), none is committed. A dedup
    /// key repeated within the batch dedups against the first task with it.
    ///
    /// This is the default because a caller that gets an error can retry the whole
    /// batch. For imports too large for one transaction, [`Queue::enqueue_chunked`]
    /// commits `batch_size` tasks at a time and says which ones were committed.
    pub async fn enqueue_batch(&self, tasks: Vec<NewTask>) -> Result<Vec<Enqueued>> {
        strata_pool::operation("queue.enqueue_batch", "tasks", self.insert_batch(tasks)).await
    }

    /// The batch of [`Queue::enqueue_batch`], in the span of the caller's operation.
    async fn insert_batch(&self, tasks: Vec<NewTask>) -> Result<Vec<Enqueued>> {
        for task in &tasks {
            task.validate()?;
        }
        let config = &self.shared.config;
        let rows: Vec<InsertRow> = tasks.into_iter().map(|task| InsertRow::new(task, config)).collect();
        let queues = queue_names(&rows);
        let chunk = config.batch_size;
        let answers = self
            .pool
            .write(move |conn| {
                let mut answers = Vec::with_capacity(rows.len());
                for part in rows.chunks(chunk) {
                    answers.extend(insert_chunk(conn, part)?);
                }
                Ok(answers)
            })
            .await?;
        for queue in &queues {
            self.wake(queue);
        }
        Ok(answers)
    }

    /// Enqueues many tasks `batch_size` per write transaction, for batches too large
    /// to hold the writer in one: each chunk commits on its own, so that other writes
    /// go between them. Every task is validated before anything is written (E6001, and
    /// then nothing is). A chunk that the database refuses is rolled back whole and no
    /// chunk after it is written; the answer names the tasks that were committed before
    /// it, in the order given, beside the error ([`ChunkedEnqueue::refused`]).
    pub async fn enqueue_chunked(&self, tasks: Vec<NewTask>) -> Result<ChunkedEnqueue> {
        strata_pool::operation("queue.enqueue_chunked", "tasks", async move {
            for task in &tasks {
                task.validate()?;
            }
            let config = &self.shared.config;
            let total = tasks.len();
            let mut enqueued = Vec::with_capacity(total);
            let mut tasks = tasks.into_iter();
            let mut next_chunk = || -> Vec<InsertRow> {
                tasks.by_ref().take(config.batch_size).map(|task| InsertRow::new(task, config)).collect()
            };
            let mut chunk = Arc::new(next_chunk());
            // The chunk written before, dropped while the writer inserts the next one.
            let mut written: Option<Arc<Vec<InsertRow>>> = None;
            while !chunk.is_empty() {
                let queues = queue_names(&chunk);
                // The next chunk is made ready while the writer inserts this one: a
                // `biased` join polls the write first, which queues it, and only then
                // makes the next chunk. The writer gets a share of the chunk, so that
                // its rows are freed here, on the thread that allocated them.
                let rows = Arc::clone(&chunk);
                let write = self.pool.write(move |conn| insert_chunk(conn, &rows));
                let (done, next) = tokio::join!(biased; write, async {
                    drop(written.take());
                    Arc::new(next_chunk())
                });
                match done {
                    Ok(answers) => enqueued.extend(answers),
                    Err(error) => {
                        let not_written = total - enqueued.len();
                        return Ok(ChunkedEnqueue { enqueued, refused: Some(error), not_written });
                    }
                }
                for queue in &queues {
                    self.wake(queue);
                }
                written = Some(std::mem::replace(&mut chunk, next));
            }
            Ok(ChunkedEnqueue { enqueued, refused: None, not_written: 0 })
        })
        .await
    }

    /// Enqueues `task` on `conn`, the writer inside a write closure of another
    /// repository, so that the task commits or rolls back with that closure's other
    /// rows (a scraping job and the task that runs it). Validates first (E6001); a
    /// dedup key that a live task holds answers that task, as [`Queue::enqueue`] does.
    /// The caller wakes the queue's workers with [`Queue::wake_after_commit`] once the
    /// write committed.
    #[allow(
        clippy::expect_used,
        reason = "insert_chunk answers one entry per row given, and it was given one"
    )]
    pub(crate) fn enqueue_in(&self, conn: &Connection, task: NewTask) -> Result<Enqueued> {
        task.validate()?;
        let row = InsertRow::new(task, &self.shared.config);
        let mut answers = insert_chunk(conn, std::slice::from_ref(&row))?;
        Ok(answers.pop().expect("one row in, one answer out"))
    }

    /// Wakes the idle workers of `queue` after a write that enqueued on it through
    /// [`Queue::enqueue_in`] committed.
    pub(crate) fn wake_after_commit(&self, queue: &str) {
        self.wake(queue);
    }
}

/// A task ready to bind, its defaults resolved (the time of a delay is resolved in
/// the write, so it counts from the commit's clock).
struct InsertRow {
    queue: String,
    kind: String,
    payload: String,
    priority: i64,
    max_attempts: i64,
    run_after: Option<i64>,
    delay_ms: i64,
    dedup_key: Option<String>,
    parent: Option<i64>,
    session: Option<i64>,
}

impl InsertRow {
    fn new(task: NewTask, config: &QueueConfig) -> InsertRow {
        InsertRow {
            payload: json_text(&task.payload),
            queue: task.queue,
            kind: task.kind,
            priority: i64::from(task.priority),
            max_attempts: i64::from(task.max_attempts.unwrap_or(config.max_attempts)),
            run_after: task.run_after.map(to_millis),
            delay_ms: task.delay.map_or(0, duration_to_ms),
            dedup_key: task.dedup_key,
            parent: task.parent,
            session: task.session,
        }
    }

    /// When the task becomes ready: its `run_after`, else `now` plus its delay.
    fn run_after(&self, now: i64) -> i64 {
        self.run_after.unwrap_or_else(|| now.saturating_add(self.delay_ms))
    }
}

/// The live task holding a dedup key (uses the partial unique `tasks_dedup_idx`).
pub(super) const FIND_LIVE_DEDUP: &str = concat!("SELECT id FROM tasks WHERE dedup_key = ?1 AND ", live!());

/// A new pending task.
pub(super) const INSERT_TASK: &str = "INSERT INTO tasks \
     (queue, kind, payload, priority, max_attempts, run_after, dedup_key, parent_task_id, session_id, submitted_at) \
     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)";

/// Tasks per [`INSERT_TASKS`] statement.
const INSERT_GROUP: usize = 25;

/// The parameters of one task in [`INSERT_TASKS`], in [`INSERT_TASK`]'s order.
macro_rules! task_values {
    () => {
        "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
    };
}

/// Five tasks' parameters of [`INSERT_TASKS`].
macro_rules! five_task_values {
    () => {
        concat!(
            task_values!(),
            ", ",
            task_values!(),
            ", ",
            task_values!(),
            ", ",
            task_values!(),
            ", ",
            task_values!()
        )
    };
}

/// [`INSERT_TASK`] for [`INSERT_GROUP`] tasks in one statement: a third cheaper per
/// task than one statement each (measured paired on 2,000-task enqueues: 0.68).
pub(super) const INSERT_TASKS: &str = concat!(
    "INSERT INTO tasks \
     (queue, kind, payload, priority, max_attempts, run_after, dedup_key, parent_task_id, session_id, submitted_at) \
     VALUES ",
    five_task_values!(),
    ", ",
    five_task_values!(),
    ", ",
    five_task_values!(),
    ", ",
    five_task_values!(),
    ", ",
    five_task_values!()
);

/// Whether a task id above ?1 exists (a seek on the primary key).
pub(super) const TASK_ID_ABOVE: &str = "SELECT EXISTS (SELECT 1 FROM tasks WHERE id > ?1)";

/// The distinct queue names of `rows`, to wake once their insert committed.
fn queue_names(rows: &[InsertRow]) -> Vec<String> {
    let mut names: Vec<&str> = rows.iter().map(|row| row.queue.as_str()).collect();
    names.sort_unstable();
    names.dedup();
    names.into_iter().map(str::to_string).collect()
}

/// Inserts a chunk of new tasks and answers each one's id in order. A task whose dedup
/// key is live answers the task that holds it. Runs of [`INSERT_GROUP`] tasks without
/// a dedup key go in one [`INSERT_TASKS`] each, the rest one by one.
///
/// A grouped insert answers its ids without `RETURNING`, whose row order SQLite leaves
/// open: SQLite gives a new row the largest id plus one, unless the largest id is
/// already `i64::MAX` (then it picks ids at random). So when no id is within the
/// chunk's length of `i64::MAX` (one seek per chunk), a group's ids are the
/// [`INSERT_GROUP`] ids up to the last one inserted; otherwise every task of the chunk
/// goes in one by one.
fn insert_chunk(conn: &Connection, rows: &[InsertRow]) -> Result<Vec<Enqueued>> {
    let now = now_ms();
    let mut find = conn.prepare_cached(FIND_LIVE_DEDUP)?;
    let mut insert = conn.prepare_cached(INSERT_TASK)?;
    let mut answers = Vec::with_capacity(rows.len());
    let group = INSERT_GROUP as i64;
    let sequential = rows.len() >= INSERT_GROUP && {
        let room = i64::MAX.saturating_sub(i64::try_from(rows.len()).unwrap_or(i64::MAX));
        !conn.prepare_cached(TASK_ID_ABOVE)?.query_row([room], |r| r.get::<_, bool>(0))?
    };
    let mut i = 0;
    while i < rows.len() {
        let next = &rows[i..rows.len().min(i + INSERT_GROUP)];
        if sequential && next.len() == INSERT_GROUP && next.iter().all(|row| row.dedup_key.is_none()) {
            insert_group(conn, next, now)?;
            let last = conn.last_insert_rowid();
            answers.extend((last - group + 1..=last).map(|id| Enqueued { id, deduplicated: false }));
            i += INSERT_GROUP;
            continue;
        }
        let row = &rows[i];
        i += 1;
        if let Some(key) = &row.dedup_key
            && let Some(id) = find.query_row(params![key], |r| r.get(0)).optional()?
        {
            answers.push(Enqueued { id, deduplicated: true });
            continue;
        }
        insert.execute(params![
            row.queue,
            row.kind,
            row.payload,
            row.priority,
            row.max_attempts,
            row.run_after(now),
            row.dedup_key,
            row.parent,
            row.session,
            now
        ])?;
        // Not `RETURNING id`: RETURNING builds a temporary table on every execution,
        // which costs about as much as the insert itself. The writer is this connection's
        // only user, so the last rowid is this insert's.
        answers.push(Enqueued { id: conn.last_insert_rowid(), deduplicated: false });
    }
    Ok(answers)
}

/// One [`INSERT_TASKS`] of `group` ([`INSERT_GROUP`] tasks without a dedup key).
fn insert_group(conn: &Connection, group: &[InsertRow], now: i64) -> Result<()> {
    let run_after: Vec<i64> = group.iter().map(|row| row.run_after(now)).collect();
    let mut values: Vec<&dyn rusqlite::ToSql> = Vec::with_capacity(group.len() * 10);
    for (row, run_after) in group.iter().zip(&run_after) {
        values.extend([
            &row.queue as &dyn rusqlite::ToSql,
            &row.kind,
            &row.payload,
            &row.priority,
            &row.max_attempts,
            run_after,
            &row.dedup_key,
            &row.parent,
            &row.session,
            &now,
        ]);
    }
    conn.prepare_cached(INSERT_TASKS)?.execute(rusqlite::params_from_iter(values))?;
    Ok(())
}
