//! Claims: the ready tasks of a queue under a fresh lease (expired leases of the
//! queue first), and the waits of idle workers between claims (`next`).

use std::time::Duration;

use rusqlite::{Connection, params};
use strata_core::{Error, Result};

use super::task::{ClaimContext, CopiedRows, claimed_columns};
use super::{Claimed, LeaseToken, Queue, duration_ms};
use crate::PageRequest;
use crate::clock::now_ms;
use crate::page::MAX_PAGE;

/// Who claims and from where: `Claimer { queue: "emails", worker: "w1" }`, a struct
/// with named fields so that a call site cannot swap the queue and the worker (both
/// `&str`) without it showing. Both must be non-empty (E4001 otherwise).
///
/// ```
/// # async fn f(q: &strata_repo::Queue) -> strata_core::Result<()> {
/// use strata_repo::Claimer;
/// q.claim(Claimer { queue: "emails", worker: "w1" }, 10, std::time::Duration::from_secs(30)).await?;
/// # Ok(()) }
/// ```
///
/// The bare pair of strings the claims took before (which compiled just as well
/// with the two swapped) does not compile:
///
/// ```compile_fail
/// # async fn f(q: &strata_repo::Queue) -> strata_core::Result<()> {
/// q.claim("emails", "w1", 10, std::time::Duration::from_secs(30)).await?;
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Claimer<'a> {
    /// The queue to claim from.
    pub queue: &'a str,
    /// The worker that claims (recorded on each claimed task).
    pub worker: &'a str,
}

impl Queue {
    /// Claims up to `limit` (1 to 1,000) ready tasks of `at.queue` for `at.worker`, highest
    /// priority first, then oldest (`run_after`, then id), in one statement; each gets
    /// a lease of `lease`, and the claim a fresh lease token that its tasks share (a
    /// task's complete, fail and heartbeat present it). First, in the same write, the tasks of
    /// `queue` whose lease expired go back to pending (or to dead when their attempts
    /// are used up), so they can be claimed at once. An empty answer means nothing is
    /// ready.
    pub async fn claim(&self, at: Claimer<'_>, limit: usize, lease: Duration) -> Result<Vec<Claimed>> {
        Ok(self.claim_or_wake_time(at.queue, at.worker, limit, lease, false).await?.0)
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
    pub async fn next(&self, at: Claimer<'_>, limit: usize, lease: Duration) -> Result<Vec<Claimed>> {
        self.next_until(at, limit, lease, None, None).await
    }

    /// Like [`Queue::next`], but gives up after `max_wait` with an empty answer. Use
    /// it instead of wrapping `next` in a timeout: the deadline only ends a wait, never
    /// a claim in flight, so no claimed task is left running without its worker
    /// knowing.
    pub async fn next_within(
        &self,
        at: Claimer<'_>,
        limit: usize,
        lease: Duration,
        max_wait: Duration,
    ) -> Result<Vec<Claimed>> {
        let deadline = tokio::time::Instant::now() + max_wait;
        self.next_until(at, limit, lease, Some(deadline), None).await
    }

    /// [`Queue::next`], with an optional deadline for the waits between claims, and an
    /// optional stop signal that ends a wait (never a claim in flight) once it is true.
    pub(crate) async fn next_until(
        &self,
        at: Claimer<'_>,
        limit: usize,
        lease: Duration,
        deadline: Option<tokio::time::Instant>,
        mut stop: Option<&mut tokio::sync::watch::Receiver<bool>>,
    ) -> Result<Vec<Claimed>> {
        let Claimer { queue, worker } = at;
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
        let answer = strata_pool::operation("queue.claim", "tasks", async move {
            self.claim_in_span(queue, worker, limit, lease, want_wake_time).await
        })
        .await?;
        Ok((answer.claimed, answer.wake_at))
    }

    /// The body of [`Queue::claim_or_wake_time`], in its span.
    async fn claim_in_span(
        &self,
        queue: &str,
        worker: &str,
        limit: usize,
        lease: Duration,
        want_wake_time: bool,
    ) -> Result<ClaimAnswer> {
        if queue.is_empty() {
            return Err(Error::invalid("queue", "must not be empty"));
        }
        if worker.is_empty() {
            return Err(Error::invalid("worker", "must not be empty"));
        }
        let lease = duration_ms("lease", lease)?;
        let limit = PageRequest::<i64>::first(limit)
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
                let token = LeaseToken::from(task.lease_token.clone().unwrap_or_default());
                Claimed { task, token }
            })
            .collect();
        Ok(ClaimAnswer { claimed, wake_at })
    }
}

/// What a claim answers: the tasks it claimed and, when it claimed none, the next time
/// something in the queue becomes claimable. Stands for the claimed rows in the
/// operation log.
struct ClaimAnswer {
    claimed: Vec<Claimed>,
    wake_at: Option<i64>,
}

impl strata_pool::Affected for ClaimAnswer {
    fn affected(&self) -> u64 {
        strata_pool::Affected::affected(&self.claimed)
    }
}

/// Claims the ready tasks of a queue: ?1 worker, ?2 lease expiry, ?3 now, ?4 queue,
/// ?5 limit. The subquery walks `tasks_claim_idx` in claim order. The lease token is
/// 32 hex digits of 16 random bytes, as `hex` writes them (`lower` on top cost a
/// hundredth of a batched job), one per claim: the scalar subquery is evaluated once
/// per statement, where `hex(randomblob(16))` alone would run for every row (6% of a
/// batched claim's instructions, callgrind). It returns `claimed_columns!`: not the
/// five columns it sets from its own parameters, which the caller fills in.
pub(super) const CLAIM_READY: &str = concat!(
    "UPDATE tasks SET status = 'running', lease_owner = ?1, lease_expires_at = ?2, \
     lease_token = (SELECT hex(randomblob(16))), attempts = attempts + 1, started_at = ?3 \
     WHERE id IN (SELECT id FROM tasks WHERE queue = ?4 AND status = 'pending' AND run_after <= ?3 \
     ORDER BY priority DESC, run_after, id LIMIT +?5) RETURNING ",
    claimed_columns!()
);

/// [`CLAIM_READY`] for one task (?5 is 1): `id = (scalar subquery)` instead of
/// `id IN (subquery)`, which spares SQLite a temporary table of ids per claim; about
/// a tenth of a one-job claim and complete, measured paired.
pub(super) const CLAIM_ONE: &str = concat!(
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
pub(super) const EXPIRE_LEASES_IN_QUEUE: &str = "UPDATE tasks SET \
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
pub(super) const LEASE_EXPIRED_IN_QUEUE: &str = "SELECT EXISTS (SELECT 1 FROM tasks \
     WHERE +queue = ?1 AND status = 'running' AND lease_expires_at <= ?2)";

/// The earliest `run_after` of the pending tasks of a queue (?1).
pub(super) const NEXT_RUN_AFTER: &str =
    "SELECT min(run_after) FROM tasks WHERE queue = ?1 AND status = 'pending'";

/// The earliest lease expiry of the running tasks of a queue (?1), through
/// `tasks_lease_expiry_idx` like [`EXPIRE_LEASES_IN_QUEUE`].
pub(super) const NEXT_LEASE_EXPIRY: &str =
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
