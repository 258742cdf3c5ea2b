//! The operator calls: retry a task that ended, cancel a task tree, purge dead
//! tasks, get one task, list tasks a page at a time, and the per-queue counts.

use std::collections::BTreeMap;

use rusqlite::{Connection, OptionalExtension, params};
use strata_core::{Error, Result};

use super::task::{task_columns, task_from_row};
use super::{Queue, QueueStats, Task, TaskStatus};
use crate::clock::now_ms;
use crate::{Page, PageRequest};

impl Queue {
    /// Waits until task `id` has finished (completed, failed, cancelled or dead) and
    /// answers it, with the result its worker stored; after `max_wait` answers it as
    /// it is then (still pending or running). A missing task is E4002.
    pub async fn wait_for(&self, id: i64, max_wait: std::time::Duration) -> Result<Task> {
        let deadline = tokio::time::Instant::now() + max_wait;
        let poll = std::time::Duration::from_millis(self.shared.config.poll_interval_ms)
            .min(std::time::Duration::from_millis(50));
        loop {
            let task = self.get(id).await?;
            let finished = !matches!(task.status, TaskStatus::Pending | TaskStatus::Running);
            if finished || tokio::time::Instant::now() >= deadline {
                return Ok(task);
            }
            tokio::time::sleep_until(deadline.min(tokio::time::Instant::now() + poll)).await;
        }
    }

    /// Puts a dead, failed or cancelled task back to pending, claimable now, with its
    /// attempts reset to 0 (its last error is kept). Any other status is E4006; a
    /// missing task is E4002. A dedup key that another live task took meanwhile makes
    /// the retry fail with E4001.
    pub async fn retry(&self, id: i64) -> Result<Task> {
        strata_pool::operation("queue.retry", "tasks", async move {
            let task = self
                .pool
                .write(move |conn| {
                    let now = now_ms();
                    let mut stmt = conn.prepare_cached(RETRY_TASK)?;
                    match stmt.query_row(params![id, now], task_from_row).optional()? {
                        Some(task) => Ok(task),
                        None => {
                            let task = get_task(conn, id)?;
                            Err(transition_error(&task, TaskStatus::Pending))
                        }
                    }
                })
                .await?;
            self.wake(&task.queue);
            Ok(task)
        })
        .await
    }

    /// Cancels task `id` and every live (pending, running or failed) descendant, and
    /// answers how many tasks were cancelled. A running task's worker finds its lease
    /// gone (E4007) when it reports. Cancelling a task that is completed, cancelled or
    /// dead is E4006; a missing task is E4002.
    pub async fn cancel(&self, id: i64) -> Result<u64> {
        strata_pool::operation("queue.cancel", "tasks", async move {
            self.pool
                .write(move |conn| {
                    let task = get_task(conn, id)?;
                    if !task.status.is_live() {
                        return Err(transition_error(&task, TaskStatus::Cancelled));
                    }
                    let changed = conn.prepare_cached(CANCEL_TREE)?.execute(params![id, now_ms()])?;
                    Ok(changed as u64)
                })
                .await
        })
        .await
    }

    /// Deletes dead tasks, of `queue` or of every queue, `batch_size` per write
    /// transaction, and answers how many. Children of a deleted task keep living with
    /// no parent.
    pub async fn purge_dead(&self, queue: Option<&str>) -> Result<u64> {
        strata_pool::operation("queue.purge_dead", "tasks", async move {
            let chunk = i64::try_from(self.shared.config.batch_size).unwrap_or(i64::MAX);
            let queue = queue.map(str::to_string);
            let mut deleted = 0u64;
            loop {
                let queue = queue.clone();
                let changed = self
                    .pool
                    .write(move |conn| {
                        let changed = match &queue {
                            Some(queue) => {
                                conn.prepare_cached(PURGE_DEAD_IN_QUEUE)?.execute(params![queue, chunk])?
                            }
                            None => conn.prepare_cached(PURGE_DEAD)?.execute(params![chunk])?,
                        };
                        Ok(changed as u64)
                    })
                    .await?;
                deleted += changed;
                if changed < chunk as u64 {
                    return Ok(deleted);
                }
            }
        })
        .await
    }

    /// Task `id` (E4002 if there is none). A primary-key lookup, so it runs inline on
    /// the caller's thread ([`Pool::read_inline`]).
    pub async fn get(&self, id: i64) -> Result<Task> {
        strata_pool::operation("queue.get", "tasks", async move {
            self.pool.read_inline(move |conn| get_task(conn, id)).await
        })
        .await
    }

    /// Tasks in id order, of `queue` and with `status` when given, one keyset page at
    /// a time.
    pub async fn list(
        &self,
        queue: Option<&str>,
        status: Option<TaskStatus>,
        page: PageRequest,
    ) -> Result<Page<Task>> {
        strata_pool::operation("queue.list", "tasks", async move {
            let limit = page.sql_limit()?;
            let after = page.after.unwrap_or(i64::MIN);
            let queue = queue.map(str::to_string);
            let rows = self
                .pool
                .read(move |conn| {
                    let fetch = limit + 1;
                    match (&queue, status) {
                        (None, None) => query_tasks(conn, LIST_TASKS, params![after, fetch]),
                        (Some(queue), None) => {
                            query_tasks(conn, LIST_TASKS_IN_QUEUE, params![queue, after, fetch])
                        }
                        (Some(queue), Some(status)) => query_tasks(
                            conn,
                            LIST_TASKS_IN_QUEUE_WITH_STATUS,
                            params![queue, status, after, fetch],
                        ),
                        (None, Some(status)) => {
                            query_tasks(conn, LIST_TASKS_WITH_STATUS, params![status, after, fetch])
                        }
                    }
                })
                .await?;
            Ok(Page::from_rows(rows, page.limit, |task| task.id))
        })
        .await
    }

    /// How many tasks each queue has in each state, and how many are ready now, in
    /// queue name order. A queue with no tasks is not listed.
    pub async fn stats(&self) -> Result<Vec<QueueStats>> {
        strata_pool::operation("queue.stats", "tasks", async move {
            self.pool
                .read(|conn| {
                    // One read transaction: every count comes from the same snapshot.
                    let tx = conn.unchecked_transaction()?;
                    let mut stats: BTreeMap<String, QueueStats> = BTreeMap::new();
                    let mut totals: BTreeMap<String, u64> = BTreeMap::new();
                    for (queue, count) in count_per_queue(&tx, COUNT_BY_QUEUE, [])? {
                        stats_of(&mut stats, queue.clone());
                        totals.insert(queue, count);
                    }
                    for (queue, count) in count_per_queue(&tx, COUNT_PENDING_BY_QUEUE, [])? {
                        stats_of(&mut stats, queue).pending = count;
                    }
                    for (queue, count) in count_per_queue(&tx, COUNT_READY_BY_QUEUE, params![now_ms()])? {
                        stats_of(&mut stats, queue).ready_now = count;
                    }
                    let mut stmt = tx.prepare_cached(RUNNING_QUEUES)?;
                    let mut rows = stmt.query([])?;
                    while let Some(row) = rows.next()? {
                        stats_of(&mut stats, row.get(0)?).running += 1;
                    }
                    let mut stmt = tx.prepare_cached(COUNT_UNSUCCESSFUL_BY_QUEUE)?;
                    let mut rows = stmt.query([])?;
                    while let Some(row) = rows.next()? {
                        let status: TaskStatus = row.get(1)?;
                        let count: i64 = row.get(2)?;
                        *stats_of(&mut stats, row.get(0)?).count_mut(status) = count.unsigned_abs();
                    }
                    // No index counts completed tasks (the hot path would pay for it): they
                    // are what is left of the total.
                    for (queue, stats) in &mut stats {
                        let total = totals.get(queue).copied().unwrap_or(0);
                        let others =
                            stats.pending + stats.running + stats.failed + stats.cancelled + stats.dead;
                        stats.completed = total.saturating_sub(others);
                    }
                    Ok(stats.into_values().collect())
                })
                .await
        })
        .await
    }
}

/// An operator retry: ?1 id, ?2 now.
pub(super) const RETRY_TASK: &str = concat!(
    "UPDATE tasks SET status = 'pending', attempts = 0, run_after = ?2, completed_at = NULL, \
     lease_token = NULL, lease_expires_at = NULL \
     WHERE id = ?1 AND ",
    unsuccessful!(),
    " RETURNING ",
    task_columns!()
);

/// Cancels a task and its live descendants: ?1 id, ?2 now. Parents are always older
/// than their children and never change, so the tree has no cycles and `UNION ALL`
/// ends; each level is found through `tasks_parent_idx`.
pub(super) const CANCEL_TREE: &str = concat!(
    "WITH RECURSIVE tree(id) AS (\
     SELECT ?1 UNION ALL SELECT tasks.id FROM tasks JOIN tree ON tasks.parent_task_id = tree.id) \
     UPDATE tasks SET status = 'cancelled', completed_at = ?2, lease_token = NULL, lease_expires_at = NULL \
     WHERE id IN (SELECT id FROM tree) AND ",
    live!()
);

/// Up to ?1 dead tasks of every queue (walks `tasks_unsuccessful_idx`).
pub(super) const PURGE_DEAD: &str = concat!(
    "DELETE FROM tasks WHERE id IN (SELECT id FROM tasks WHERE ",
    unsuccessful!(),
    " AND status = 'dead' LIMIT +?1)"
);

/// Up to ?2 dead tasks of queue ?1 (searches `tasks_unsuccessful_idx`).
pub(super) const PURGE_DEAD_IN_QUEUE: &str = concat!(
    "DELETE FROM tasks WHERE id IN (SELECT id FROM tasks WHERE ",
    unsuccessful!(),
    " AND queue = ?1 AND status = 'dead' LIMIT +?2)"
);

/// One task by id.
pub(super) const GET_TASK: &str = concat!("SELECT ", task_columns!(), " FROM tasks WHERE id = ?1");

/// A page of every task: ?1 after, ?2 limit.
pub(super) const LIST_TASKS: &str =
    concat!("SELECT ", task_columns!(), " FROM tasks WHERE id > ?1 ORDER BY id LIMIT +?2");

/// A page of one queue's tasks: ?1 queue, ?2 after, ?3 limit (searches
/// `tasks_queue_idx`, which is in id order within a queue).
pub(super) const LIST_TASKS_IN_QUEUE: &str =
    concat!("SELECT ", task_columns!(), " FROM tasks WHERE queue = ?1 AND id > ?2 ORDER BY id LIMIT +?3");

/// A page of one queue's tasks in one status: ?1 queue, ?2 status, ?3 after, ?4 limit.
/// Walks the queue through `tasks_queue_idx` from the cursor and filters the status
/// (`+status`: a bound status would make SQLite prepare the statement again for every
/// value, to weigh the partial indexes); it is an operator's listing, and a rare status
/// in a long queue means a long walk.
pub(super) const LIST_TASKS_IN_QUEUE_WITH_STATUS: &str = concat!(
    "SELECT ",
    task_columns!(),
    " FROM tasks WHERE queue = ?1 AND +status = ?2 AND id > ?3 ORDER BY id LIMIT +?4"
);

/// A page of the tasks in one status across queues: ?1 status, ?2 after, ?3 limit.
/// Walks the rowids from the cursor and filters the status, like
/// [`LIST_TASKS_IN_QUEUE_WITH_STATUS`].
pub(super) const LIST_TASKS_WITH_STATUS: &str =
    concat!("SELECT ", task_columns!(), " FROM tasks WHERE +status = ?1 AND id > ?2 ORDER BY id LIMIT +?3");

/// Tasks per queue (walks the covering `tasks_queue_idx`).
pub(super) const COUNT_BY_QUEUE: &str = "SELECT queue, count(*) FROM tasks GROUP BY queue";

/// Pending tasks per queue (walks the covering `tasks_claim_idx`).
pub(super) const COUNT_PENDING_BY_QUEUE: &str =
    "SELECT queue, count(*) FROM tasks WHERE status = 'pending' GROUP BY queue";

/// The queue of every running task (walks `tasks_lease_expiry_idx`; a few per worker).
pub(super) const RUNNING_QUEUES: &str = "SELECT queue FROM tasks WHERE status = 'running'";

/// Failed, cancelled and dead tasks per queue and status (walks the covering
/// `tasks_unsuccessful_idx`).
pub(super) const COUNT_UNSUCCESSFUL_BY_QUEUE: &str =
    concat!("SELECT queue, status, count(*) FROM tasks WHERE ", unsuccessful!(), " GROUP BY queue, status");

/// Pending tasks due at ?1, per queue (walks the covering `tasks_claim_idx`).
pub(super) const COUNT_READY_BY_QUEUE: &str =
    "SELECT queue, count(*) FROM tasks WHERE status = 'pending' AND run_after <= ?1 GROUP BY queue";

/// The stats of `queue` in `stats`, created empty on first use.
fn stats_of(stats: &mut BTreeMap<String, QueueStats>, queue: String) -> &mut QueueStats {
    stats.entry(queue.clone()).or_insert_with(|| QueueStats { queue, ..QueueStats::default() })
}

/// Runs a `SELECT queue, count(*) ... GROUP BY queue`.
fn count_per_queue(
    conn: &Connection,
    sql: &str,
    params: impl rusqlite::Params,
) -> Result<Vec<(String, u64)>> {
    let mut stmt = conn.prepare_cached(sql)?;
    let rows =
        stmt.query_map(params, |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?.unsigned_abs())))?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// Task `id`, or E4002.
pub(super) fn get_task(conn: &Connection, id: i64) -> Result<Task> {
    conn.prepare_cached(GET_TASK)?
        .query_row(params![id], task_from_row)
        .optional()?
        .ok_or_else(|| Error::NotFound { what: format!("task {id}") })
}

fn query_tasks(conn: &Connection, sql: &str, params: impl rusqlite::Params) -> Result<Vec<Task>> {
    let mut stmt = conn.prepare_cached(sql)?;
    let tasks = stmt.query_map(params, task_from_row)?.collect::<rusqlite::Result<Vec<Task>>>()?;
    Ok(tasks)
}

fn transition_error(task: &Task, to: TaskStatus) -> Error {
    Error::InvalidTransition {
        what: format!("task {}", task.id),
        from: task.status.to_string(),
        to: to.to_string(),
    }
}
