//! The lease of a claimed task: complete, fail (retry with backoff, then dead), fail
//! permanently, heartbeat; each only with the current token of an unexpired lease
//! (E4007); and the sweep of expired leases over every queue.

use std::sync::Arc;
use std::time::Duration;

use rusqlite::{Connection, OptionalExtension, params};
use serde_json::Value;
use strata_core::{Error, Result};
use tokio::sync::Notify;

use super::admin::get_task;
use super::task::{task_columns, task_from_row};
use super::{Completion, LeaseToken, Queue, Task, TaskStatus, duration_ms};
use crate::clock::{now_ms, to_datetime, to_millis};
use crate::row::json_text;
use time::OffsetDateTime;

impl Queue {
    /// Sends the running task `id` straight to dead with `error`, whatever the number of
    /// attempts left (the dead letter: an operator can [`Queue::retry`] or purge it).
    /// The lease rules of [`Queue::complete`] apply. Answers the task as it is now.
    pub async fn dead_letter(&self, id: i64, token: &LeaseToken, error: &str) -> Result<Task> {
        strata_pool::operation("queue.dead_letter", "tasks", async move {
            let token = token.as_str().to_owned();
            let error = error.to_string();
            self.pool
                .write(move |conn| {
                    let now = now_ms();
                    held_task(conn, id, &token, now)?;
                    Ok(conn
                        .prepare_cached(FAIL_TO_DEAD)?
                        .query_row(params![id, token, error, now], task_from_row)?)
                })
                .await
        })
        .await
    }

    /// Gives the running task `id` back unfinished (a worker shutting down): pending,
    /// claimable now, and the attempt of this claim not counted. The lease rules of
    /// [`Queue::complete`] apply.
    pub async fn release(&self, id: i64, token: &LeaseToken) -> Result<()> {
        strata_pool::operation("queue.release", "tasks", async move {
            let token = token.as_str().to_owned();
            let queue = self
                .pool
                .write(move |conn| {
                    let now = now_ms();
                    let mut stmt = conn.prepare_cached(RELEASE_TASK)?;
                    match stmt.query_row(params![id, token, now], |row| row.get::<_, String>(0)).optional()? {
                        Some(queue) => Ok(queue),
                        None => Err(lease_error(conn, id, &token, now)),
                    }
                })
                .await?;
            self.wake(&queue);
            Ok(())
        })
        .await
    }

    /// Marks task `id` completed with `result`. `token` must be the current lease
    /// token of the running task and the lease must not have expired; otherwise E4007
    /// says which (not running, another claim holds it, expired). A missing task is
    /// E4002.
    pub async fn complete(&self, id: i64, token: &LeaseToken, result: Value) -> Result<()> {
        strata_pool::operation("queue.complete", "tasks", async move {
            let token = token.as_str().to_owned();
            let result = json_text(&result);
            self.pool
                .write(move |conn| {
                    let now = now_ms();
                    let changed =
                        conn.prepare_cached(COMPLETE_TASK)?.execute(params![id, token, result, now])?;
                    if changed == 1 { Ok(()) } else { Err(lease_error(conn, id, &token, now)) }
                })
                .await
        })
        .await
    }

    /// Completes many tasks, `batch_size` per write transaction, so that a worker that
    /// claimed a batch pays one commit for it instead of one per task. Each task is
    /// checked as [`Queue::complete`] checks it, and the answer has one entry per
    /// completion, in the order given: `Ok(())`, or the E4007/E4002 error of a task
    /// whose lease is gone (that task is left as it is; the others complete). An
    /// outer error means a write failed as a whole: its chunk completed nothing, the
    /// chunks before it stay committed.
    pub async fn complete_many(&self, done: Vec<Completion>) -> Result<Vec<Result<()>>> {
        strata_pool::operation("queue.complete_many", "tasks", async move {
            let mut answers = Vec::with_capacity(done.len());
            let mut done = done.into_iter().peekable();
            while done.peek().is_some() {
                let chunk: Vec<(i64, String, String)> = done
                    .by_ref()
                    .take(self.shared.config.batch_size)
                    .map(|c| (c.id, String::from(c.token), json_text(&c.result)))
                    .collect();
                let outcomes = self
                    .pool
                    .write(move |conn| {
                        let now = now_ms();
                        let mut complete = conn.prepare_cached(COMPLETE_TASK)?;
                        let mut outcomes = Vec::with_capacity(chunk.len());
                        for (id, token, result) in &chunk {
                            let changed = complete.execute(params![id, token, result, now])?;
                            outcomes.push(if changed == 1 {
                                Ok(())
                            } else {
                                Err(lease_error(conn, *id, token, now))
                            });
                        }
                        Ok(outcomes)
                    })
                    .await?;
                answers.extend(outcomes);
            }
            Ok(answers)
        })
        .await
    }

    /// Reports that the attempt of task `id` failed with `error`. The task goes back
    /// to pending with `run_after` = now + backoff, where the backoff is `retry_base_ms`
    /// × 2^(attempts − 1), at most `retry_max_ms`, with equal jitter (between half
    /// and all of it: [`QueueConfig::retry_policy`](strata_core::config::QueueConfig::retry_policy),
    /// the same arithmetic as every retry of strata); when the task has used its
    /// `max_attempts`, it is dead instead.
    /// The lease rules of [`Queue::complete`] apply. Answers the task as it is now.
    pub async fn fail(&self, id: i64, token: &LeaseToken, error: &str) -> Result<Task> {
        strata_pool::operation("queue.fail", "tasks", async move {
            let token = token.as_str().to_owned();
            let error = error.to_string();
            let backoff = self.shared.config.retry_policy();
            let task = self
                .pool
                .write(move |conn| {
                    let now = now_ms();
                    let task = held_task(conn, id, &token, now)?;
                    if task.attempts >= task.max_attempts {
                        let mut stmt = conn.prepare_cached(FAIL_TO_DEAD)?;
                        return Ok(stmt.query_row(params![id, token, error, now], task_from_row)?);
                    }
                    let delay = backoff.delay_after(task.attempts).as_millis();
                    let run_after = now.saturating_add(i64::try_from(delay).unwrap_or(i64::MAX));
                    let mut stmt = conn.prepare_cached(FAIL_TO_RETRY)?;
                    Ok(stmt.query_row(params![id, token, error, run_after], task_from_row)?)
                })
                .await?;
            if task.status == TaskStatus::Pending {
                self.wake(&task.queue);
            }
            Ok(task)
        })
        .await
    }

    /// Reports that task `id` cannot succeed, whatever the number of attempts left:
    /// it becomes `failed` with `error`, is not retried, and keeps its dedup key until
    /// an operator retries or cancels it. The lease rules of [`Queue::complete`] apply.
    pub async fn fail_permanently(&self, id: i64, token: &LeaseToken, error: &str) -> Result<Task> {
        strata_pool::operation("queue.fail_permanently", "tasks", async move {
            let token = token.as_str().to_owned();
            let error = error.to_string();
            self.pool
                .write(move |conn| {
                    let now = now_ms();
                    let mut stmt = conn.prepare_cached(FAIL_PERMANENTLY)?;
                    match stmt.query_row(params![id, token, error, now], task_from_row).optional()? {
                        Some(task) => Ok(task),
                        None => Err(lease_error(conn, id, &token, now)),
                    }
                })
                .await
        })
        .await
    }

    /// Extends the lease of task `id` to now + `extend` and answers the new expiry.
    /// The lease rules of [`Queue::complete`] apply: an expired lease cannot be
    /// extended, as another worker may already have claimed the task.
    pub async fn heartbeat(&self, id: i64, token: &LeaseToken, extend: Duration) -> Result<OffsetDateTime> {
        let extended = strata_pool::operation("queue.heartbeat", "tasks", async move {
            let extend = duration_ms("extend", extend)?;
            let token = token.as_str().to_owned();
            self.pool
                .write(move |conn| {
                    let now = now_ms();
                    let expires = now.saturating_add(extend);
                    let mut stmt = conn.prepare_cached(EXTEND_LEASE)?;
                    match stmt.query_row(params![id, token, expires, now], |row| row.get(0)).optional()? {
                        Some(expires) => Ok(Extended(expires)),
                        None => Err(lease_error(conn, id, &token, now)),
                    }
                })
                .await
        })
        .await?;
        Ok(to_datetime(extended.0))
    }

    /// Puts every task (of all queues) whose lease expired back to pending, or to dead
    /// when its attempts are used up, and answers how many. Claims do this for their
    /// own queue; this is for a sweeper or an operator.
    pub async fn expire_leases(&self) -> Result<u64> {
        strata_pool::operation("queue.expire_leases", "tasks", async move {
            let changed = self
                .pool
                .write(|conn| Ok(conn.prepare_cached(EXPIRE_LEASES)?.execute(params![now_ms()])? as u64))
                .await?;
            if changed > 0 {
                let wakers: Vec<Arc<Notify>> = self.wakers().values().cloned().collect();
                for waker in wakers {
                    waker.notify_waiters();
                }
            }
            Ok(changed)
        })
        .await
    }
}

/// The new lease expiry a heartbeat answers: one task row in the operation log.
struct Extended(i64);
strata_pool::one_row!(Extended);

/// Completes a task under its lease: ?1 id, ?2 token, ?3 result, ?4 now.
pub(super) const COMPLETE_TASK: &str = "UPDATE tasks SET status = 'completed', result = ?3, completed_at = ?4, \
     lease_token = NULL, lease_expires_at = NULL \
     WHERE id = ?1 AND status = 'running' AND lease_token = ?2 AND lease_expires_at > ?4";

/// A failed attempt with attempts left: back to pending at ?4 (the backoff); ?1 id,
/// ?2 token, ?3 error. The caller checked the lease in the same write.
pub(super) const FAIL_TO_RETRY: &str = concat!(
    "UPDATE tasks SET status = 'pending', last_error = ?3, run_after = ?4, \
     lease_token = NULL, lease_expires_at = NULL \
     WHERE id = ?1 AND status = 'running' AND lease_token = ?2 RETURNING ",
    task_columns!()
);

/// A failed last attempt: dead; ?1 id, ?2 token, ?3 error, ?4 now. The caller
/// checked the lease in the same write.
pub(super) const FAIL_TO_DEAD: &str = concat!(
    "UPDATE tasks SET status = 'dead', last_error = ?3, completed_at = ?4, \
     lease_token = NULL, lease_expires_at = NULL \
     WHERE id = ?1 AND status = 'running' AND lease_token = ?2 RETURNING ",
    task_columns!()
);

/// The worker gives up: failed; ?1 id, ?2 token, ?3 error, ?4 now.
pub(super) const FAIL_PERMANENTLY: &str = concat!(
    "UPDATE tasks SET status = 'failed', last_error = ?3, completed_at = ?4, \
     lease_token = NULL, lease_expires_at = NULL \
     WHERE id = ?1 AND status = 'running' AND lease_token = ?2 AND lease_expires_at > ?4 RETURNING ",
    task_columns!()
);

/// A heartbeat: ?1 id, ?2 token, ?3 new expiry, ?4 now.
pub(super) const EXTEND_LEASE: &str = "UPDATE tasks SET lease_expires_at = ?3 \
     WHERE id = ?1 AND status = 'running' AND lease_token = ?2 AND lease_expires_at > ?4 \
     RETURNING lease_expires_at";

/// A worker gives a task back unfinished: pending now, its attempt not counted; ?1 id,
/// ?2 token, ?3 now. Answers the task's queue.
pub(super) const RELEASE_TASK: &str = "UPDATE tasks SET status = 'pending', attempts = max(attempts - 1, 0), \
     run_after = ?3, lease_token = NULL, lease_expires_at = NULL \
     WHERE id = ?1 AND status = 'running' AND lease_token = ?2 AND lease_expires_at > ?3 \
     RETURNING queue";

/// Expired leases of every queue: ?1 now (uses `tasks_lease_expiry_idx`).
pub(super) const EXPIRE_LEASES: &str = "UPDATE tasks SET \
     status = CASE WHEN attempts >= max_attempts THEN 'dead' ELSE 'pending' END, \
     completed_at = CASE WHEN attempts >= max_attempts THEN ?1 END, \
     last_error = 'lease of ' || lease_owner || ' expired', \
     lease_token = NULL, lease_expires_at = NULL \
     WHERE status = 'running' AND lease_expires_at <= ?1";

/// Task `id` if `token` holds its lease at `now`; otherwise why not (E4007, E4002).
fn held_task(conn: &Connection, id: i64, token: &str, now: i64) -> Result<Task> {
    let task = get_task(conn, id)?;
    match lease_problem(&task, token, now) {
        None => Ok(task),
        Some(reason) => Err(Error::LeaseLost { task_id: id, reason }),
    }
}

/// Why a lease update matched no row: E4002 when the task is gone, else E4007 with
/// the reason.
fn lease_error(conn: &Connection, id: i64, token: &str, now: i64) -> Error {
    match held_task(conn, id, token, now) {
        Err(err) => err,
        // The update's WHERE and lease_problem test the same conditions in the same
        // write, so this arm only runs if they disagree; report it as lost anyway.
        Ok(_) => Error::LeaseLost { task_id: id, reason: "the lease could not be confirmed".into() },
    }
}

/// Why `token` does not hold the lease of `task` at `now`, or `None` when it does.
fn lease_problem(task: &Task, token: &str, now: i64) -> Option<String> {
    if task.status != TaskStatus::Running {
        return Some(format!("the task is {}, not running", task.status));
    }
    if task.lease_token.as_deref() != Some(token) {
        return Some("the token does not match: the task was claimed again by another worker".into());
    }
    match task.lease_expires_at.map(to_millis) {
        Some(expires) if expires > now => None,
        Some(expires) => Some(format!("the lease expired {} ms ago", now - expires)),
        None => Some("the task has no lease".into()),
    }
}
