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
//!
//! The calls live beside their statements: `enqueue.rs` (enqueue, batches, chunks),
//! `claim.rs` (claims and the waits of idle workers), `lease.rs` (complete, fail,
//! heartbeat, lease expiry), `admin.rs` (the operator calls: retry, cancel, purge,
//! get, list, stats); `task.rs` holds the value types.

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

mod admin;
mod claim;
mod enqueue;
mod lease;
mod task;
mod worker;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use strata_core::{Error, Result};
use strata_pool::Pool;
use tokio::sync::Notify;

pub use claim::Claimer;
pub use enqueue::ChunkedEnqueue;
pub use task::{
    Claimed, Completion, DEFAULT_PRIORITY, DEFAULT_QUEUE, Enqueued, LeaseToken, MAX_PRIORITY, NewTask,
    QueueStats, Task, TaskStatus,
};
pub(crate) use worker::panic_message;
pub use worker::{Ctx, Handler, Job, JobError, JobKind, Worker, WorkerBuilder, WorkerReport};

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

    /// The wake-up of `queue`, created on first use.
    fn waker(&self, queue: &str) -> Arc<Notify> {
        Arc::clone(self.wakers().entry(queue.to_string()).or_default())
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

/// A duration as positive milliseconds, or E6001 naming `field`.
fn duration_ms(field: &str, duration: Duration) -> Result<i64> {
    let ms = i64::try_from(duration.as_millis()).unwrap_or(i64::MAX);
    if ms <= 0 {
        return Err(Error::invalid(field, "must be at least 1 ms"));
    }
    Ok(ms)
}

/// Every statement of this module, for the explain test.
pub(crate) const STATEMENTS: &[(&str, &str)] = &[
    ("queue.find_live_dedup", enqueue::FIND_LIVE_DEDUP),
    ("queue.insert_task", enqueue::INSERT_TASK),
    ("queue.insert_tasks", enqueue::INSERT_TASKS),
    ("queue.task_id_above", enqueue::TASK_ID_ABOVE),
    ("queue.claim_ready", claim::CLAIM_READY),
    ("queue.release_task", lease::RELEASE_TASK),
    ("queue.claim_one", claim::CLAIM_ONE),
    ("queue.lease_expired_in_queue", claim::LEASE_EXPIRED_IN_QUEUE),
    ("queue.expire_leases_in_queue", claim::EXPIRE_LEASES_IN_QUEUE),
    ("queue.expire_leases", lease::EXPIRE_LEASES),
    ("queue.next_run_after", claim::NEXT_RUN_AFTER),
    ("queue.next_lease_expiry", claim::NEXT_LEASE_EXPIRY),
    ("queue.complete_task", lease::COMPLETE_TASK),
    ("queue.fail_to_retry", lease::FAIL_TO_RETRY),
    ("queue.fail_to_dead", lease::FAIL_TO_DEAD),
    ("queue.fail_permanently", lease::FAIL_PERMANENTLY),
    ("queue.extend_lease", lease::EXTEND_LEASE),
    ("queue.retry_task", admin::RETRY_TASK),
    ("queue.cancel_tree", admin::CANCEL_TREE),
    ("queue.purge_dead", admin::PURGE_DEAD),
    ("queue.purge_dead_in_queue", admin::PURGE_DEAD_IN_QUEUE),
    ("queue.get_task", admin::GET_TASK),
    ("queue.list_tasks", admin::LIST_TASKS),
    ("queue.list_tasks_in_queue", admin::LIST_TASKS_IN_QUEUE),
    ("queue.list_tasks_in_queue_with_status", admin::LIST_TASKS_IN_QUEUE_WITH_STATUS),
    ("queue.list_tasks_with_status", admin::LIST_TASKS_WITH_STATUS),
    ("queue.count_by_queue", admin::COUNT_BY_QUEUE),
    ("queue.count_pending_by_queue", admin::COUNT_PENDING_BY_QUEUE),
    ("queue.running_queues", admin::RUNNING_QUEUES),
    ("queue.count_unsuccessful_by_queue", admin::COUNT_UNSUCCESSFUL_BY_QUEUE),
    ("queue.count_ready_by_queue", admin::COUNT_READY_BY_QUEUE),
];
