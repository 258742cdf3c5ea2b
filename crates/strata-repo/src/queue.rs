//! The durable priority task queue over the `tasks` table: enqueue (with dedup and
//! batches), atomic claims under leases with fencing tokens, complete / fail (retry
//! with exponential backoff, then dead) / heartbeat, the operator calls (retry,
//! cancel with cascade, purge, list, stats), and in-process wake-ups for idle workers.
//!
//! # Delivery
//! Delivery is at least once. A claim commits before it returns, so a worker that
//! crashes (or a `next` future that is dropped) loses nothing: the task stays running
//! until its lease expires, and the next claim on its queue (or
//! [`Queue::expire_leases`]) puts it back to pending, or makes it dead when its
//! attempts are used up. A lease token is new for every claim, and `complete`,
//! `fail` and `heartbeat` succeed only with the current token of a running task whose
//! lease has not expired, so a worker that stalled past its lease can never complete
//! a task another worker holds (E4007).
//!
//! # Statuses
//! See [`TaskStatus`]: `failed` is only reached through [`Queue::fail_permanently`];
//! an ordinary [`Queue::fail`] retries (pending with a backoff) until the attempts are
//! used up, then the task is `dead`.

mod task;
mod worker;

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use rusqlite::{Connection, OptionalExtension, params};
use serde_json::Value;
use strata_core::{Error, Result};
use strata_pool::Pool;
use tokio::sync::Notify;

pub use task::{
    Claimed, Completion, DEFAULT_PRIORITY, DEFAULT_QUEUE, Enqueued, MAX_PRIORITY, NewTask, QueueStats, Task,
    TaskStatus,
};

use crate::clock::now_ms;
use crate::page::MAX_PAGE;
use crate::row::json_text;
use crate::{Page, PageRequest};
use task::{ClaimContext, CopiedRows, claimed_columns, task_columns, task_from_row};
pub use worker::{Ctx, Handler, Job, JobError, JobKind, Worker, WorkerBuilder, WorkerReport};

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

/// How a [`Queue`] behaves: the `[queue]` section of the one `Config` (defined in
/// strata-core so that the config file can hold it).
pub use strata_core::config::QueueConfig;

/// The durable priority task queue. Cheap to clone; every clone shares the pool and
/// the wake-ups of idle workers.
#[derive(Clone)]
pub struct Queue {
    pool: Pool,
    shared: Arc<Shared>,
}

struct Shared {
    config: QueueConfig,
    /// One wake-up per queue name that some worker has waited on.
    wakers: Mutex<HashMap<String, Arc<Notify>>>,
}

impl std::fmt::Debug for Queue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Queue").field("pool", &self.pool).field("config", &self.shared.config).finish()
    }
}

impl Queue {
    /// A queue over `pool` (which must hold the reference schema) with `config`,
    /// after validating it (E6001).
    pub fn new(pool: Pool, config: QueueConfig) -> Result<Queue> {
        config.validate()?;
        Ok(Queue { pool, shared: Arc::new(Shared { config, wakers: Mutex::new(HashMap::new()) }) })
    }

    /// The pool the queue runs on.
    pub fn pool(&self) -> &Pool {
        &self.pool
    }

    /// The configuration.
    pub fn config(&self) -> &QueueConfig {
        &self.shared.config
    }

    /// The lease of the configuration (`lease_ms`), for workers without their own.
    pub fn default_lease(&self) -> Duration {
        Duration::from_millis(self.shared.config.lease_ms)
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
        let mut ids = self.enqueue_batch(vec![task]).await?;
        Ok(ids.pop().expect("one task in, one answer out"))
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
    }

    /// Claims up to `limit` (1 to 1,000) ready tasks of `queue` for `worker`, highest
    /// priority first, then oldest (`run_after`, then id), in one statement; each gets
    /// a lease of `lease`, and the claim a fresh lease token that its tasks share (a
    /// task's complete, fail and heartbeat present it). First, in the same write, the tasks of
    /// `queue` whose lease expired go back to pending (or to dead when their attempts
    /// are used up), so they can be claimed at once. An empty answer means nothing is
    /// ready.
    pub async fn claim(
        &self,
        queue: &str,
        worker: &str,
        limit: usize,
        lease: Duration,
    ) -> Result<Vec<Claimed>> {
        Ok(self.claim_or_wake_time(queue, worker, limit, lease, false).await?.0)
    }

    /// Like [`Queue::claim`], but when nothing is ready waits and tries again until it
    /// claims at least one task. It waits for an enqueue (or retry) on `queue` in this
    /// process, the next `run_after` or lease expiry of the queue, or `poll_interval_ms`,
    /// whichever comes first: an idle worker looks at most once per poll interval.
    ///
    /// Cancellation safe: dropping the future between claims loses nothing. A claim
    /// commits before it returns, so the only thing a drop can lose is the answer of a
    /// claim in flight; its tasks stay running until their lease expires and are then
    /// claimed again (at least once delivery). To bound the wait, use
    /// [`Queue::next_within`] rather than a timeout around this call.
    pub async fn next(
        &self,
        queue: &str,
        worker: &str,
        limit: usize,
        lease: Duration,
    ) -> Result<Vec<Claimed>> {
        self.next_until(queue, worker, limit, lease, None, None).await
    }

    /// Like [`Queue::next`], but gives up after `max_wait` with an empty answer. Use
    /// it instead of wrapping `next` in a timeout: the deadline only ends a wait, never
    /// a claim in flight, so no claimed task is left running without its worker
    /// knowing.
    pub async fn next_within(
        &self,
        queue: &str,
        worker: &str,
        limit: usize,
        lease: Duration,
        max_wait: Duration,
    ) -> Result<Vec<Claimed>> {
        let deadline = tokio::time::Instant::now() + max_wait;
        self.next_until(queue, worker, limit, lease, Some(deadline), None).await
    }

    /// [`Queue::next`], with an optional deadline for the waits between claims, and an
    /// optional stop signal that ends a wait (never a claim in flight) once it is true.
    pub(crate) async fn next_until(
        &self,
        queue: &str,
        worker: &str,
        limit: usize,
        lease: Duration,
        deadline: Option<tokio::time::Instant>,
        mut stop: Option<&mut tokio::sync::watch::Receiver<bool>>,
    ) -> Result<Vec<Claimed>> {
        let waker = self.waker(queue);
        let poll = Duration::from_millis(self.shared.config.poll_interval_ms);
        loop {
            // Registered before the claim looks, so an enqueue that commits after the
            // look but before the wait still wakes this worker.
            let mut notified = std::pin::pin!(waker.notified());
            notified.as_mut().enable();
            let (claimed, wake_at) = self.claim_or_wake_time(queue, worker, limit, lease, true).await?;
            if !claimed.is_empty() {
                return Ok(claimed);
            }
            let mut wait = match wake_at {
                Some(at) => poll.min(Duration::from_millis(u64::try_from(at - now_ms()).unwrap_or(0).max(1))),
                None => poll,
            };
            if let Some(deadline) = deadline {
                let left = deadline.saturating_duration_since(tokio::time::Instant::now());
                if left.is_zero() {
                    return Ok(claimed);
                }
                wait = wait.min(left);
            }
            if stop.as_deref().is_some_and(|stop| *stop.borrow()) {
                return Ok(claimed);
            }
            let stopped = async {
                match stop.as_deref_mut() {
                    // A closed sender can never say stop: wait as if there were none.
                    Some(stop) => {
                        if stop.changed().await.is_err() {
                            std::future::pending::<()>().await;
                        }
                    }
                    None => std::future::pending::<()>().await,
                }
            };
            tokio::select! {
                () = &mut notified => {}
                () = tokio::time::sleep(wait) => {}
                () = stopped => {}
            }
        }
    }

    /// Marks task `id` completed with `result`. `token` must be the current lease
    /// token of the running task and the lease must not have expired; otherwise E4007
    /// says which (not running, another claim holds it, expired). A missing task is
    /// E4002.
    pub async fn complete(&self, id: i64, token: &str, result: Value) -> Result<()> {
        let token = token.to_string();
        let result = json_text(&result);
        self.pool
            .write(move |conn| {
                let now = now_ms();
                let changed = conn.prepare_cached(COMPLETE_TASK)?.execute(params![id, token, result, now])?;
                if changed == 1 { Ok(()) } else { Err(lease_error(conn, id, &token, now)) }
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
        let mut answers = Vec::with_capacity(done.len());
        let mut done = done.into_iter().peekable();
        while done.peek().is_some() {
            let chunk: Vec<(i64, String, String)> = done
                .by_ref()
                .take(self.shared.config.batch_size)
                .map(|c| (c.id, c.token, json_text(&c.result)))
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
    }

    /// Reports that the attempt of task `id` failed with `error`. The task goes back
    /// to pending with `run_after` = now + backoff, where the backoff is `retry_base_ms`
    /// × 2^(attempts − 1), at most `retry_max_ms`, with equal jitter (between half
    /// and all of it); when the task has used its `max_attempts`, it is dead instead.
    /// The lease rules of [`Queue::complete`] apply. Answers the task as it is now.
    pub async fn fail(&self, id: i64, token: &str, error: &str) -> Result<Task> {
        let token = token.to_string();
        let error = error.to_string();
        let (base, max) = (self.shared.config.retry_base_ms, self.shared.config.retry_max_ms);
        let task = self
            .pool
            .write(move |conn| {
                let now = now_ms();
                let task = held_task(conn, id, &token, now)?;
                if task.attempts >= task.max_attempts {
                    let mut stmt = conn.prepare_cached(FAIL_TO_DEAD)?;
                    return Ok(stmt.query_row(params![id, token, error, now], task_from_row)?);
                }
                let run_after =
                    now.saturating_add(backoff_ms(base, max, task.attempts, &mut fastrand::Rng::new()));
                let mut stmt = conn.prepare_cached(FAIL_TO_RETRY)?;
                Ok(stmt.query_row(params![id, token, error, run_after], task_from_row)?)
            })
            .await?;
        if task.status == TaskStatus::Pending {
            self.wake(&task.queue);
        }
        Ok(task)
    }

    /// Reports that task `id` cannot succeed, whatever the number of attempts left:
    /// it becomes `failed` with `error`, is not retried, and keeps its dedup key until
    /// an operator retries or cancels it. The lease rules of [`Queue::complete`] apply.
    pub async fn fail_permanently(&self, id: i64, token: &str, error: &str) -> Result<Task> {
        let token = token.to_string();
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
    }

    /// Extends the lease of task `id` to now + `extend` and answers the new expiry
    /// (ms). The lease rules of [`Queue::complete`] apply: an expired lease cannot be
    /// extended, as another worker may already have claimed the task.
    pub async fn heartbeat(&self, id: i64, token: &str, extend: Duration) -> Result<i64> {
        let extend = duration_ms("extend", extend)?;
        let token = token.to_string();
        self.pool
            .write(move |conn| {
                let now = now_ms();
                let expires = now.saturating_add(extend);
                let mut stmt = conn.prepare_cached(EXTEND_LEASE)?;
                match stmt.query_row(params![id, token, expires, now], |row| row.get(0)).optional()? {
                    Some(expires) => Ok(expires),
                    None => Err(lease_error(conn, id, &token, now)),
                }
            })
            .await
    }

    /// Sends the running task `id` straight to dead with `error`, whatever the number of
    /// attempts left (the dead letter: an operator can [`Queue::retry`] or purge it).
    /// The lease rules of [`Queue::complete`] apply. Answers the task as it is now.
    pub async fn dead_letter(&self, id: i64, token: &str, error: &str) -> Result<Task> {
        let token = token.to_string();
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
    }

    /// Gives the running task `id` back unfinished (a worker shutting down): pending,
    /// claimable now, and the attempt of this claim not counted. The lease rules of
    /// [`Queue::complete`] apply.
    pub async fn release(&self, id: i64, token: &str) -> Result<()> {
        let token = token.to_string();
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
    }

    /// Waits until task `id` has finished (completed, failed, cancelled or dead) and
    /// answers it, with the result its worker stored; after `max_wait` answers it as
    /// it is then (still pending or running). A missing task is E4002.
    pub async fn wait_for(&self, id: i64, max_wait: Duration) -> Result<Task> {
        let deadline = tokio::time::Instant::now() + max_wait;
        let poll = Duration::from_millis(self.shared.config.poll_interval_ms).min(Duration::from_millis(50));
        loop {
            let task = self.get(id).await?;
            let finished = !matches!(task.status, TaskStatus::Pending | TaskStatus::Running);
            if finished || tokio::time::Instant::now() >= deadline {
                return Ok(task);
            }
            tokio::time::sleep_until(deadline.min(tokio::time::Instant::now() + poll)).await;
        }
    }

    /// Enqueues `task` (which has a `run_after`) only while that time is still ahead,
    /// checked in the same write as the insert: the recurring jobs' tick. A tick's
    /// task is thus always pending (so live, so deduplicated) whenever anyone enqueues
    /// it, and no process can enqueue it again after a worker claimed it. `None` when
    /// the time has passed.
    pub(crate) async fn enqueue_ahead(&self, task: NewTask) -> Result<Option<Enqueued>> {
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
    }

    /// Puts a dead, failed or cancelled task back to pending, claimable now, with its
    /// attempts reset to 0 (its last error is kept). Any other status is E4006; a
    /// missing task is E4002. A dedup key that another live task took meanwhile makes
    /// the retry fail with E4001.
    pub async fn retry(&self, id: i64) -> Result<Task> {
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
    }

    /// Cancels task `id` and every live (pending, running or failed) descendant, and
    /// answers how many tasks were cancelled. A running task's worker finds its lease
    /// gone (E4007) when it reports. Cancelling a task that is completed, cancelled or
    /// dead is E4006; a missing task is E4002.
    pub async fn cancel(&self, id: i64) -> Result<u64> {
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
    }

    /// Deletes dead tasks, of `queue` or of every queue, `batch_size` per write
    /// transaction, and answers how many. Children of a deleted task keep living with
    /// no parent.
    pub async fn purge_dead(&self, queue: Option<&str>) -> Result<u64> {
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
    }

    /// Puts every task (of all queues) whose lease expired back to pending, or to dead
    /// when its attempts are used up, and answers how many. Claims do this for their
    /// own queue; this is for a sweeper or an operator.
    pub async fn expire_leases(&self) -> Result<u64> {
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
    }

    /// Task `id` (E4002 if there is none). A primary-key lookup, so it runs inline on
    /// the caller's thread ([`Pool::read_inline`]).
    pub async fn get(&self, id: i64) -> Result<Task> {
        self.pool.read_inline(move |conn| get_task(conn, id)).await
    }

    /// Tasks in id order, of `queue` and with `status` when given, one keyset page at
    /// a time.
    pub async fn list(
        &self,
        queue: Option<&str>,
        status: Option<TaskStatus>,
        page: PageRequest,
    ) -> Result<Page<Task>> {
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
    }

    /// How many tasks each queue has in each state, and how many are ready now, in
    /// queue name order. A queue with no tasks is not listed.
    pub async fn stats(&self) -> Result<Vec<QueueStats>> {
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
                    let others = stats.pending + stats.running + stats.failed + stats.cancelled + stats.dead;
                    stats.completed = total.saturating_sub(others);
                }
                Ok(stats.into_values().collect())
            })
            .await
    }

    /// The claim of [`Queue::claim`]; when it claims nothing and `want_wake_time`,
    /// also the next time something in the queue becomes claimable (the earliest
    /// future `run_after` of a pending task or lease expiry of a running one).
    async fn claim_or_wake_time(
        &self,
        queue: &str,
        worker: &str,
        limit: usize,
        lease: Duration,
        want_wake_time: bool,
    ) -> Result<(Vec<Claimed>, Option<i64>)> {
        if queue.is_empty() {
            return Err(Error::invalid("queue", "must not be empty"));
        }
        if worker.is_empty() {
            return Err(Error::invalid("worker", "must not be empty"));
        }
        let lease = duration_ms("lease", lease)?;
        let limit = PageRequest::first(limit)
            .sql_limit()
            .map_err(|_| Error::invalid("limit", format!("must be between 1 and {MAX_PAGE}, got {limit}")))?;
        // Owned copies for the writer; `queue` and `worker` stay for the tasks below.
        let (on_queue, by_worker) = (queue.to_string(), worker.to_string());
        let (raw, now, wake_at) = self
            .pool
            .write(move |conn| {
                let now = now_ms();
                let expired: bool = conn
                    .prepare_cached(LEASE_EXPIRED_IN_QUEUE)?
                    .query_row(params![on_queue, now], |r| r.get(0))?;
                if expired {
                    conn.prepare_cached(EXPIRE_LEASES_IN_QUEUE)?.execute(params![on_queue, now])?;
                }
                let mut stmt = conn.prepare_cached(if limit == 1 { CLAIM_ONE } else { CLAIM_READY })?;
                // The rows are only copied here; they become tasks below, off the
                // writer thread.
                let mut rows =
                    stmt.query(params![by_worker, now.saturating_add(lease), now, on_queue, limit])?;
                let mut raw = CopiedRows::default();
                while let Some(row) = rows.next()? {
                    raw.push(row)?;
                }
                drop(rows);
                let wake_at =
                    if raw.is_empty() && want_wake_time { next_wake_time(conn, &on_queue)? } else { None };
                Ok((raw, now, wake_at))
            })
            .await?;
        let claim = ClaimContext { queue, worker, now, lease_expires_at: now.saturating_add(lease) };
        let mut tasks = raw.tasks(&claim)?;
        // RETURNING gives no order: restore the claim order.
        tasks.sort_by(|a, b| {
            b.priority.cmp(&a.priority).then(a.run_after.cmp(&b.run_after)).then(a.id.cmp(&b.id))
        });
        let claimed = tasks
            .into_iter()
            .map(|task| {
                // CHECK tasks_running_holds_lease: a running task has a token.
                let token = task.lease_token.clone().unwrap_or_default();
                Claimed { task, token }
            })
            .collect();
        Ok((claimed, wake_at))
    }

    /// The wake-up of `queue`, created on first use.
    fn waker(&self, queue: &str) -> Arc<Notify> {
        Arc::clone(self.wakers().entry(queue.to_string()).or_default())
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

    /// Wakes the workers waiting in [`Queue::next`] on `queue`, if any.
    fn wake(&self, queue: &str) {
        let waker = self.wakers().get(queue).cloned();
        if let Some(waker) = waker {
            waker.notify_waiters();
        }
    }

    fn wakers(&self) -> std::sync::MutexGuard<'_, HashMap<String, Arc<Notify>>> {
        // The map stays consistent whatever panicked while holding it (one insert).
        self.shared.wakers.lock().unwrap_or_else(PoisonError::into_inner)
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
            run_after: task.run_after,
            delay_ms: i64::try_from(task.delay_ms.unwrap_or(0)).unwrap_or(i64::MAX),
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

/// The statuses of a live task, whose dedup key is taken: the condition of the partial
/// `tasks_dedup_idx`, word for word (see migrations/V2__tasks.sql on OR chains).
macro_rules! live {
    () => {
        "(status = 'pending' OR status = 'running' OR status = 'failed')"
    };
}

/// The statuses of a task that ended without success: the condition of the partial
/// `tasks_unsuccessful_idx`, word for word.
macro_rules! unsuccessful {
    () => {
        "(status = 'failed' OR status = 'cancelled' OR status = 'dead')"
    };
}

/// The live task holding a dedup key (uses the partial unique `tasks_dedup_idx`).
const FIND_LIVE_DEDUP: &str = concat!("SELECT id FROM tasks WHERE dedup_key = ?1 AND ", live!());

/// A new pending task.
const INSERT_TASK: &str = "INSERT INTO tasks \
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
const INSERT_TASKS: &str = concat!(
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
const TASK_ID_ABOVE: &str = "SELECT EXISTS (SELECT 1 FROM tasks WHERE id > ?1)";

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

/// Claims the ready tasks of a queue: ?1 worker, ?2 lease expiry, ?3 now, ?4 queue,
/// ?5 limit. The subquery walks `tasks_claim_idx` in claim order. The lease token is
/// 32 hex digits of 16 random bytes, as `hex` writes them (`lower` on top cost a
/// hundredth of a batched job), one per claim: the scalar subquery is evaluated once
/// per statement, where `hex(randomblob(16))` alone would run for every row (6% of a
/// batched claim's instructions, callgrind). It returns `claimed_columns!`: not the
/// five columns it sets from its own parameters, which the caller fills in.
const CLAIM_READY: &str = concat!(
    "UPDATE tasks SET status = 'running', lease_owner = ?1, lease_expires_at = ?2, \
     lease_token = (SELECT hex(randomblob(16))), attempts = attempts + 1, started_at = ?3 \
     WHERE id IN (SELECT id FROM tasks WHERE queue = ?4 AND status = 'pending' AND run_after <= ?3 \
     ORDER BY priority DESC, run_after, id LIMIT +?5) RETURNING ",
    claimed_columns!()
);

/// [`CLAIM_READY`] for one task (?5 is 1): `id = (scalar subquery)` instead of
/// `id IN (subquery)`, which spares SQLite a temporary table of ids per claim; about
/// a tenth of a one-job claim and complete, measured paired.
const CLAIM_ONE: &str = concat!(
    "UPDATE tasks SET status = 'running', lease_owner = ?1, lease_expires_at = ?2, \
     lease_token = hex(randomblob(16)), attempts = attempts + 1, started_at = ?3 \
     WHERE id = (SELECT id FROM tasks WHERE queue = ?4 AND status = 'pending' AND run_after <= ?3 \
     ORDER BY priority DESC, run_after, id LIMIT +?5) RETURNING ",
    claimed_columns!()
);

/// Expired leases of one queue back to pending, or to dead without attempts left:
/// ?1 queue, ?2 now (walks `tasks_lease_expiry_idx`, the few running tasks, and filters
/// the queue: `+queue` keeps SQLite off `tasks_queue_idx`). `run_after` is kept, so the
/// task keeps its age in the claim order.
const EXPIRE_LEASES_IN_QUEUE: &str = "UPDATE tasks SET \
     status = CASE WHEN attempts >= max_attempts THEN 'dead' ELSE 'pending' END, \
     completed_at = CASE WHEN attempts >= max_attempts THEN ?2 END, \
     last_error = 'lease of ' || lease_owner || ' expired', \
     lease_token = NULL, lease_expires_at = NULL \
     WHERE +queue = ?1 AND status = 'running' AND lease_expires_at <= ?2";

/// Whether a running task of queue ?1 holds a lease that expired by ?2: the same walk
/// of `tasks_lease_expiry_idx` as [`EXPIRE_LEASES_IN_QUEUE`], read only. A claim runs
/// the UPDATE only when this finds something: an UPDATE opens a write cursor on the
/// table and on every index its SET touches before it looks at a row, which made a
/// one-job claim pay about 19,000 instructions for the usual case of nothing to expire.
const LEASE_EXPIRED_IN_QUEUE: &str = "SELECT EXISTS (SELECT 1 FROM tasks \
     WHERE +queue = ?1 AND status = 'running' AND lease_expires_at <= ?2)";

/// Expired leases of every queue: ?1 now (uses `tasks_lease_expiry_idx`).
const EXPIRE_LEASES: &str = "UPDATE tasks SET \
     status = CASE WHEN attempts >= max_attempts THEN 'dead' ELSE 'pending' END, \
     completed_at = CASE WHEN attempts >= max_attempts THEN ?1 END, \
     last_error = 'lease of ' || lease_owner || ' expired', \
     lease_token = NULL, lease_expires_at = NULL \
     WHERE status = 'running' AND lease_expires_at <= ?1";

/// The earliest `run_after` of the pending tasks of a queue (?1).
const NEXT_RUN_AFTER: &str = "SELECT min(run_after) FROM tasks WHERE queue = ?1 AND status = 'pending'";

/// The earliest lease expiry of the running tasks of a queue (?1), through
/// `tasks_lease_expiry_idx` like [`EXPIRE_LEASES_IN_QUEUE`].
const NEXT_LEASE_EXPIRY: &str =
    "SELECT min(lease_expires_at) FROM tasks WHERE +queue = ?1 AND status = 'running'";

fn next_wake_time(conn: &Connection, queue: &str) -> Result<Option<i64>> {
    let run_after: Option<i64> =
        conn.prepare_cached(NEXT_RUN_AFTER)?.query_row(params![queue], |r| r.get(0))?;
    let expiry: Option<i64> =
        conn.prepare_cached(NEXT_LEASE_EXPIRY)?.query_row(params![queue], |r| r.get(0))?;
    Ok(match (run_after, expiry) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    })
}

/// Completes a task under its lease: ?1 id, ?2 token, ?3 result, ?4 now.
const COMPLETE_TASK: &str = "UPDATE tasks SET status = 'completed', result = ?3, completed_at = ?4, \
     lease_token = NULL, lease_expires_at = NULL \
     WHERE id = ?1 AND status = 'running' AND lease_token = ?2 AND lease_expires_at > ?4";

/// A failed attempt with attempts left: back to pending at ?4 (the backoff); ?1 id,
/// ?2 token, ?3 error. The caller checked the lease in the same write.
const FAIL_TO_RETRY: &str = concat!(
    "UPDATE tasks SET status = 'pending', last_error = ?3, run_after = ?4, \
     lease_token = NULL, lease_expires_at = NULL \
     WHERE id = ?1 AND status = 'running' AND lease_token = ?2 RETURNING ",
    task_columns!()
);

/// A failed last attempt: dead; ?1 id, ?2 token, ?3 error, ?4 now. The caller
/// checked the lease in the same write.
const FAIL_TO_DEAD: &str = concat!(
    "UPDATE tasks SET status = 'dead', last_error = ?3, completed_at = ?4, \
     lease_token = NULL, lease_expires_at = NULL \
     WHERE id = ?1 AND status = 'running' AND lease_token = ?2 RETURNING ",
    task_columns!()
);

/// The worker gives up: failed; ?1 id, ?2 token, ?3 error, ?4 now.
const FAIL_PERMANENTLY: &str = concat!(
    "UPDATE tasks SET status = 'failed', last_error = ?3, completed_at = ?4, \
     lease_token = NULL, lease_expires_at = NULL \
     WHERE id = ?1 AND status = 'running' AND lease_token = ?2 AND lease_expires_at > ?4 RETURNING ",
    task_columns!()
);

/// A heartbeat: ?1 id, ?2 token, ?3 new expiry, ?4 now.
const EXTEND_LEASE: &str = "UPDATE tasks SET lease_expires_at = ?3 \
     WHERE id = ?1 AND status = 'running' AND lease_token = ?2 AND lease_expires_at > ?4 \
     RETURNING lease_expires_at";

/// A worker gives a task back unfinished: pending now, its attempt not counted; ?1 id,
/// ?2 token, ?3 now. Answers the task's queue.
const RELEASE_TASK: &str = "UPDATE tasks SET status = 'pending', attempts = max(attempts - 1, 0), \
     run_after = ?3, lease_token = NULL, lease_expires_at = NULL \
     WHERE id = ?1 AND status = 'running' AND lease_token = ?2 AND lease_expires_at > ?3 \
     RETURNING queue";

/// An operator retry: ?1 id, ?2 now.
const RETRY_TASK: &str = concat!(
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
const CANCEL_TREE: &str = concat!(
    "WITH RECURSIVE tree(id) AS (\
     SELECT ?1 UNION ALL SELECT tasks.id FROM tasks JOIN tree ON tasks.parent_task_id = tree.id) \
     UPDATE tasks SET status = 'cancelled', completed_at = ?2, lease_token = NULL, lease_expires_at = NULL \
     WHERE id IN (SELECT id FROM tree) AND ",
    live!()
);

/// Up to ?1 dead tasks of every queue (walks `tasks_unsuccessful_idx`).
const PURGE_DEAD: &str = concat!(
    "DELETE FROM tasks WHERE id IN (SELECT id FROM tasks WHERE ",
    unsuccessful!(),
    " AND status = 'dead' LIMIT +?1)"
);

/// Up to ?2 dead tasks of queue ?1 (searches `tasks_unsuccessful_idx`).
const PURGE_DEAD_IN_QUEUE: &str = concat!(
    "DELETE FROM tasks WHERE id IN (SELECT id FROM tasks WHERE ",
    unsuccessful!(),
    " AND queue = ?1 AND status = 'dead' LIMIT +?2)"
);

/// One task by id.
const GET_TASK: &str = concat!("SELECT ", task_columns!(), " FROM tasks WHERE id = ?1");

/// A page of every task: ?1 after, ?2 limit.
const LIST_TASKS: &str =
    concat!("SELECT ", task_columns!(), " FROM tasks WHERE id > ?1 ORDER BY id LIMIT +?2");

/// A page of one queue's tasks: ?1 queue, ?2 after, ?3 limit (searches
/// `tasks_queue_idx`, which is in id order within a queue).
const LIST_TASKS_IN_QUEUE: &str =
    concat!("SELECT ", task_columns!(), " FROM tasks WHERE queue = ?1 AND id > ?2 ORDER BY id LIMIT +?3");

/// A page of one queue's tasks in one status: ?1 queue, ?2 status, ?3 after, ?4 limit.
/// Walks the queue through `tasks_queue_idx` from the cursor and filters the status
/// (`+status`: a bound status would make SQLite prepare the statement again for every
/// value, to weigh the partial indexes); it is an operator's listing, and a rare status
/// in a long queue means a long walk.
const LIST_TASKS_IN_QUEUE_WITH_STATUS: &str = concat!(
    "SELECT ",
    task_columns!(),
    " FROM tasks WHERE queue = ?1 AND +status = ?2 AND id > ?3 ORDER BY id LIMIT +?4"
);

/// A page of the tasks in one status across queues: ?1 status, ?2 after, ?3 limit.
/// Walks the rowids from the cursor and filters the status, like
/// [`LIST_TASKS_IN_QUEUE_WITH_STATUS`].
const LIST_TASKS_WITH_STATUS: &str =
    concat!("SELECT ", task_columns!(), " FROM tasks WHERE +status = ?1 AND id > ?2 ORDER BY id LIMIT +?3");

/// Tasks per queue (walks the covering `tasks_queue_idx`).
const COUNT_BY_QUEUE: &str = "SELECT queue, count(*) FROM tasks GROUP BY queue";

/// Pending tasks per queue (walks the covering `tasks_claim_idx`).
const COUNT_PENDING_BY_QUEUE: &str =
    "SELECT queue, count(*) FROM tasks WHERE status = 'pending' GROUP BY queue";

/// The queue of every running task (walks `tasks_lease_expiry_idx`; a few per worker).
const RUNNING_QUEUES: &str = "SELECT queue FROM tasks WHERE status = 'running'";

/// Failed, cancelled and dead tasks per queue and status (walks the covering
/// `tasks_unsuccessful_idx`).
const COUNT_UNSUCCESSFUL_BY_QUEUE: &str =
    concat!("SELECT queue, status, count(*) FROM tasks WHERE ", unsuccessful!(), " GROUP BY queue, status");

/// Pending tasks due at ?1, per queue (walks the covering `tasks_claim_idx`).
const COUNT_READY_BY_QUEUE: &str =
    "SELECT queue, count(*) FROM tasks WHERE status = 'pending' AND run_after <= ?1 GROUP BY queue";

/// Every statement of this module, for the explain test.
pub(crate) const STATEMENTS: &[(&str, &str)] = &[
    ("queue.find_live_dedup", FIND_LIVE_DEDUP),
    ("queue.insert_task", INSERT_TASK),
    ("queue.insert_tasks", INSERT_TASKS),
    ("queue.task_id_above", TASK_ID_ABOVE),
    ("queue.claim_ready", CLAIM_READY),
    ("queue.release_task", RELEASE_TASK),
    ("queue.claim_one", CLAIM_ONE),
    ("queue.lease_expired_in_queue", LEASE_EXPIRED_IN_QUEUE),
    ("queue.expire_leases_in_queue", EXPIRE_LEASES_IN_QUEUE),
    ("queue.expire_leases", EXPIRE_LEASES),
    ("queue.next_run_after", NEXT_RUN_AFTER),
    ("queue.next_lease_expiry", NEXT_LEASE_EXPIRY),
    ("queue.complete_task", COMPLETE_TASK),
    ("queue.fail_to_retry", FAIL_TO_RETRY),
    ("queue.fail_to_dead", FAIL_TO_DEAD),
    ("queue.fail_permanently", FAIL_PERMANENTLY),
    ("queue.extend_lease", EXTEND_LEASE),
    ("queue.retry_task", RETRY_TASK),
    ("queue.cancel_tree", CANCEL_TREE),
    ("queue.purge_dead", PURGE_DEAD),
    ("queue.purge_dead_in_queue", PURGE_DEAD_IN_QUEUE),
    ("queue.get_task", GET_TASK),
    ("queue.list_tasks", LIST_TASKS),
    ("queue.list_tasks_in_queue", LIST_TASKS_IN_QUEUE),
    ("queue.list_tasks_in_queue_with_status", LIST_TASKS_IN_QUEUE_WITH_STATUS),
    ("queue.list_tasks_with_status", LIST_TASKS_WITH_STATUS),
    ("queue.count_by_queue", COUNT_BY_QUEUE),
    ("queue.count_pending_by_queue", COUNT_PENDING_BY_QUEUE),
    ("queue.running_queues", RUNNING_QUEUES),
    ("queue.count_unsuccessful_by_queue", COUNT_UNSUCCESSFUL_BY_QUEUE),
    ("queue.count_ready_by_queue", COUNT_READY_BY_QUEUE),
];

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

fn get_task(conn: &Connection, id: i64) -> Result<Task> {
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
    match task.lease_expires_at {
        Some(expires) if expires > now => None,
        Some(expires) => Some(format!("the lease expired {} ms ago", now - expires)),
        None => Some("the task has no lease".into()),
    }
}

fn transition_error(task: &Task, to: TaskStatus) -> Error {
    Error::InvalidTransition {
        what: format!("task {}", task.id),
        from: task.status.to_string(),
        to: to.to_string(),
    }
}

/// A duration as positive milliseconds, or E6001 naming `field`.
fn duration_ms(field: &str, duration: Duration) -> Result<i64> {
    let ms = i64::try_from(duration.as_millis()).unwrap_or(i64::MAX);
    if ms <= 0 {
        return Err(Error::invalid(field, "must be at least 1 ms"));
    }
    Ok(ms)
}

/// The backoff before the retry that follows attempt number `attempts` (1-based):
/// `base` × 2^(attempts − 1), at most `max`, with equal jitter: half of it fixed and
/// the other half random, so the retry lands between half and all of it.
fn backoff_ms(base: u64, max: u64, attempts: u32, rng: &mut fastrand::Rng) -> i64 {
    let doublings = attempts.saturating_sub(1).min(63);
    let full = base.saturating_mul(1u64 << doublings).min(max);
    let half = full / 2;
    let jittered = half + rng.u64(0..=full - half);
    i64::try_from(jittered).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::backoff_ms;

    #[test]
    fn backoff_doubles_per_attempt_within_equal_jitter_and_stops_at_the_max() {
        let mut rng = fastrand::Rng::with_seed(7);
        for attempts in 1..=40u32 {
            let full = (1_000u64 << (attempts - 1).min(40)).min(3_600_000) as i64;
            for _ in 0..50 {
                let delay = backoff_ms(1_000, 3_600_000, attempts, &mut rng);
                assert!(
                    delay >= full / 2 && delay <= full,
                    "attempt {attempts}: {delay} not in [{}, {full}]",
                    full / 2
                );
            }
        }
    }
}
