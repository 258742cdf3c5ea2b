//! The writer: one thread that owns the only write connection and group-commits.
//!
//! Callers send write closures through a bounded channel. The thread takes what is
//! queued (up to `write_batch_max`, waiting up to `write_batch_wait_us` for more),
//! runs the closures within one `BEGIN IMMEDIATE` transaction, commits once, and
//! only then answers each caller. Every closure runs exactly once. A closure that
//! fails or panics loses only its own changes: a closure runs inside a SAVEPOINT when
//! the transaction already holds another closure's changes, and only a failing
//! closure's savepoint is rolled back. BEGIN and COMMIT that meet Busy are retried as
//! the retry policy allows; no closure runs again.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rusqlite::Connection;
use strata_core::{Config, Error, ReplicationMode, Result};
use tokio::sync::{mpsc, oneshot};

use crate::checkpoint::Checkpointer;
use crate::metrics::Counters;
use crate::timing::{self, PoolWork, Timing};
use crate::transaction::{self, Begin, Step};

/// A queued write, its closure type erased.
pub(crate) trait WriteJob: Send {
    /// Runs the closure on `conn`; keeps the value for `answer`.
    fn run(&mut self, conn: &Connection) -> Result<()>;
    /// Sends the kept value (or `err`) to the caller.
    fn answer(self: Box<Self>, err: Option<Error>);
}

/// A write closure and the channel its caller waits on.
pub(crate) struct Job<F, T> {
    /// The closure, taken when it runs: it runs at most once.
    pub(crate) f: Option<F>,
    pub(crate) value: Option<T>,
    pub(crate) reply: oneshot::Sender<Result<T>>,
}

impl<F, T> WriteJob for Job<F, T>
where
    F: FnOnce(&Connection) -> Result<T> + Send,
    T: Send,
{
    fn run(&mut self, conn: &Connection) -> Result<()> {
        // The writer runs each job once; a second call would be a bug of the writer.
        let f = self.f.take().ok_or_else(|| Error::invalid("write closure", "it already ran"))?;
        self.value = Some(f(conn)?);
        Ok(())
    }

    fn answer(self: Box<Self>, err: Option<Error>) {
        let result = match (err, self.value) {
            (Some(err), _) => Err(err),
            (None, Some(value)) => Ok(value),
            (None, None) => Err(Error::PoolClosed),
        };
        // The caller may have given up waiting; then nobody needs the answer.
        let _ = self.reply.send(result);
    }
}

/// A closure that gets the writer connection to itself, outside any transaction.
pub(crate) trait ExclusiveJob: Send {
    /// Runs the closure and answers the caller.
    fn run(self: Box<Self>, conn: &Connection);
    /// Answers the caller with `err` without running.
    fn refuse(self: Box<Self>, err: Error);
}

/// An exclusive closure and the channel its caller waits on.
pub(crate) struct Exclusive<F, T> {
    pub(crate) f: F,
    pub(crate) reply: oneshot::Sender<Result<T>>,
}

impl<F, T> ExclusiveJob for Exclusive<F, T>
where
    F: FnOnce(&Connection) -> Result<T> + Send,
    T: Send,
{
    fn run(self: Box<Self>, conn: &Connection) {
        let Exclusive { f, reply } = *self;
        let mut result = match catch_unwind(AssertUnwindSafe(|| f(conn))) {
            Ok(result) => result,
            Err(panic) => Err(Error::WritePanicked { message: panic_message(&*panic) }),
        };
        if !conn.is_autocommit() {
            // Nothing may stay open across closures: roll back what was left.
            let _ = conn.execute_batch("ROLLBACK");
            if result.is_ok() {
                result = Err(Error::invalid(
                    "exclusive closure",
                    "it left a transaction open; it was rolled back",
                ));
            }
        }
        let _ = reply.send(result);
    }

    fn refuse(self: Box<Self>, err: Error) {
        let _ = self.reply.send(Err(err));
    }
}

/// What the writer thread receives.
pub(crate) enum Msg {
    /// A write closure.
    Write(Box<dyn WriteJob>),
    /// A closure that runs alone on the writer connection, between batches.
    Exclusive(Box<dyn ExclusiveJob>),
    /// An explicit transaction: the writer serves its steps until it ends.
    Transaction(Begin),
    /// Finish the queue, optimise, checkpoint, close; answer with the report.
    Close(oneshot::Sender<Result<CloseReport>>),
    /// Close the connection and open the file at the path again (the pool's
    /// background reopen after the file was removed, replaced or failed).
    Reopen(Reopen),
}

/// A reopen of the writer connection: `between` runs after the old connection
/// closed and before the new one opens.
pub(crate) struct Reopen {
    pub(crate) between: Box<dyn FnOnce() -> Result<()> + Send>,
    pub(crate) reply: oneshot::Sender<Result<()>>,
}

/// What closing a pool did. A pool whose writer committed nothing (and a read-only
/// pool) skips `PRAGMA optimize` and the final checkpoint: `commits` is 0 and
/// `optimized` and `checkpointed` are false. A pool that committed runs both, each
/// given up after [`CLOSE_BUSY`] when another connection holds the lock it needs.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct CloseReport {
    /// The pool was opened read-only: it had no writer, and closing it only closed
    /// its readers.
    pub read_only: bool,
    /// COMMITs the writer connection made since the pool opened (0: optimize and
    /// the final checkpoint were skipped).
    pub commits: u64,
    /// `PRAGMA optimize` ran to the end (false when skipped or given up).
    pub optimized: bool,
    /// The final `wal_checkpoint(TRUNCATE)` ran and finished (false when skipped,
    /// given up, or blocked).
    pub checkpointed: bool,
    /// Frames in the WAL when the final checkpoint ran (0 when it did not run).
    pub wal_frames: i64,
    /// Frames the final checkpoint copied into the database.
    pub checkpointed_frames: i64,
    /// The final checkpoint ran but could not finish within [`CLOSE_BUSY`]: another
    /// connection held the write lock or a reader held the WAL.
    pub checkpoint_busy: bool,
    /// No `-wal` or `-shm` file was left beside the database.
    pub wal_removed: bool,
}

/// How long `PRAGMA optimize` and the final checkpoint at close wait for a lock that
/// another connection holds before giving up (the writer's busy timeout while
/// closing). Both are optional upkeep: a close must not wait seconds for another
/// process's transaction.
pub const CLOSE_BUSY: Duration = Duration::from_millis(100);

/// Upkeep at close, run only when the pool committed something.
const OPTIMIZE: &str = "PRAGMA optimize";
const CHECKPOINT_TRUNCATE: &str = "PRAGMA wal_checkpoint(TRUNCATE)";

/// Everything the writer thread needs.
pub(crate) struct Writer {
    pub(crate) conn: Connection,
    pub(crate) rx: mpsc::Receiver<Msg>,
    pub(crate) config: Config,
    pub(crate) counters: Arc<Counters>,
    pub(crate) timing: Arc<Timing>,
    /// The reloadable settings: the retry policy of BEGIN and COMMIT.
    pub(crate) live: Arc<crate::live::Live>,
    /// Writes in the previous batch; more than one means concurrent writers.
    pub(crate) last_batch: usize,
    /// What a COMMIT has been taking, a moving average ([`Writer::record_commit`]);
    /// it bounds the wait to fill a batch ([`batch_wait`]).
    pub(crate) commit_cost: Duration,
    /// The background checkpointer, nudged after commits; `None` when
    /// `wal_autocheckpoint` is 0 or it could not start.
    pub(crate) checkpointer: Option<Checkpointer>,
    /// A reopen closed the connection and could not open a new one: `conn` is an
    /// in-memory placeholder, and every write is refused with this until a reopen
    /// succeeds.
    pub(crate) lost: Option<Error>,
}

/// Counts every COMMIT SQLite performs on the writer connection.
pub(crate) fn count_commits(conn: &Connection, counters: &Arc<Counters>) -> Result<()> {
    let counters = Arc::clone(counters);
    conn.commit_hook(Some(move || {
        Counters::bump(&counters.commits);
        false
    }))?;
    Ok(())
}

/// How long the writer polls for the next message before it parks its thread.
const SPIN_BEFORE_PARK: Duration = Duration::from_micros(50);

/// The writer's sleep between polls while it waits to fill a batch (the kernel's
/// timer slack makes it some tens of microseconds).
const POLL_SLEEP: Duration = Duration::from_micros(10);

/// The wait for more writes is at most this fraction (1/N) of what a commit takes.
const WAIT_PER_COMMIT: u32 = 4;

/// How long the writer may wait to fill a batch: `write_batch_wait_us`, but no more
/// than a quarter of what a commit has been taking (`commit_cost`). A wait pays when
/// it saves commits that cost more than the wait, and the writer idles while it waits.
/// A WAL commit with `synchronous=NORMAL` does not fsync: on a fast disk it takes tens
/// of microseconds, and there a wait of 200 us, or of one commit's time, made the
/// queue's 100-task claims and completes with 4 workers 12% and 4% slower than no
/// wait, and a quarter of a commit as fast as no wait (paired rounds, `queue_jobs`).
/// Where commits are slow (0.8 ms and more), the configured wait applies in full.
fn batch_wait(write_batch_wait_us: u64, commit_cost: Duration) -> Duration {
    Duration::from_micros(write_batch_wait_us).min(commit_cost / WAIT_PER_COMMIT)
}

/// The statements that frame a batch and its closures.
const BEGIN: &str = "BEGIN IMMEDIATE";
const COMMIT: &str = "COMMIT";
const ROLLBACK: &str = "ROLLBACK";
const SAVEPOINT: &str = "SAVEPOINT strata_write";
const RELEASE: &str = "RELEASE strata_write";
const ROLLBACK_TO: &str = "ROLLBACK TO strata_write";

/// State of one job inside a batch.
struct Slot {
    job: Box<dyn WriteJob>,
    /// The answer's error, once known; `None` after the closure succeeded.
    outcome: Option<Error>,
    panicked: bool,
    /// The closure succeeded and its changes wait for the transaction's COMMIT.
    pending: bool,
}

impl Writer {
    /// The thread's body: batches until the channel closes or `Close` arrives.
    pub(crate) fn run(mut self) {
        let timing = Arc::clone(&self.timing);
        timing::scoped(&timing, || {
            let mut close = None;
            // A message other than a write that ended the previous batch.
            let mut pending: Option<Msg> = None;
            loop {
                let msg = match pending.take() {
                    Some(msg) => msg,
                    None => match self.next_message() {
                        Some(msg) => msg,
                        None => break,
                    },
                };
                if let Some(lost) = &self.lost {
                    match msg {
                        Msg::Write(job) => {
                            job.answer(Some(lost.clone()));
                            continue;
                        }
                        Msg::Exclusive(job) => {
                            job.refuse(lost.clone());
                            continue;
                        }
                        Msg::Transaction(begin) => {
                            let _ = begin.ready.send(Err(lost.clone()));
                            continue;
                        }
                        Msg::Close(_) | Msg::Reopen(_) => {}
                    }
                }
                match msg {
                    Msg::Reopen(Reopen { between, reply }) => {
                        let _ = reply.send(self.reopen(between));
                    }
                    Msg::Write(job) => {
                        let mut batch = vec![job];
                        pending = self.collect(&mut batch);
                        self.commit_batch(batch);
                        self.nudge_checkpointer();
                    }
                    Msg::Exclusive(job) => {
                        job.run(&self.conn);
                        self.nudge_checkpointer();
                    }
                    Msg::Transaction(begin) => {
                        self.serve_transaction(begin);
                        self.nudge_checkpointer();
                    }
                    Msg::Close(reply) => {
                        close = Some(reply);
                        break;
                    }
                }
            }
            // Answer everything still queued, then close the connection.
            self.rx.close();
            while let Ok(msg) = self.rx.try_recv() {
                match msg {
                    Msg::Write(job) => job.answer(Some(Error::PoolClosed)),
                    Msg::Exclusive(job) => job.refuse(Error::PoolClosed),
                    Msg::Transaction(begin) => {
                        let _ = begin.ready.send(Err(Error::PoolClosed));
                    }
                    Msg::Close(reply) => {
                        let _ = reply.send(Err(Error::PoolClosed));
                    }
                    Msg::Reopen(Reopen { reply, .. }) => {
                        let _ = reply.send(Err(Error::PoolClosed));
                    }
                }
            }
            if let Some(reply) = close {
                let report = self.shutdown();
                let _ = reply.send(report);
            }
        });
    }

    /// The next message: spins briefly first, because writers that were just
    /// answered usually send their next write within microseconds and parking the
    /// thread costs more than that; then blocks.
    fn next_message(&mut self) -> Option<Msg> {
        let started = Instant::now();
        while started.elapsed() < SPIN_BEFORE_PARK {
            match self.rx.try_recv() {
                Ok(msg) => return Some(msg),
                Err(mpsc::error::TryRecvError::Disconnected) => return None,
                Err(mpsc::error::TryRecvError::Empty) => {
                    for _ in 0..64 {
                        std::hint::spin_loop();
                    }
                }
            }
        }
        self.rx.blocking_recv()
    }

    /// Fills `batch` with the writes that are queued; returns the first message that
    /// is not a write, which ends the batch. When the last batch held several writes
    /// (writers are running concurrently), waits for as many to arrive again, so that
    /// they share one commit, for at most [`batch_wait`]; a lone writer never waits.
    fn collect(&mut self, batch: &mut Vec<Box<dyn WriteJob>>) -> Option<Msg> {
        let max = self.config.pool.write_batch_max;
        let wait = batch_wait(self.config.pool.write_batch_wait_us, self.commit_cost);
        let target = self.last_batch.clamp(1, max);
        let started = Instant::now();
        let stop = loop {
            if batch.len() >= max {
                break None;
            }
            match self.rx.try_recv() {
                Ok(Msg::Write(job)) => batch.push(job),
                Ok(other) => break Some(other),
                Err(mpsc::error::TryRecvError::Disconnected) => break None,
                Err(mpsc::error::TryRecvError::Empty) => {
                    let waited = started.elapsed();
                    if batch.len() >= target || waited >= wait {
                        break None;
                    }
                    if waited < SPIN_BEFORE_PARK {
                        // Poll first: a sender then finds nobody to wake, which costs
                        // it a syscall less per write.
                        std::hint::spin_loop();
                        continue;
                    }
                    // Then poll between short sleeps, which leave the CPU to the
                    // writers. Not a timer of the async runtime: its 1 ms tick made a
                    // wait of 200 us into 1 ms whenever fewer writers turned up.
                    std::thread::sleep(POLL_SLEEP.min(wait - waited));
                }
            }
        };
        self.last_batch = batch.len();
        stop
    }

    /// Runs one batch to its answers: every closure exactly once, in one
    /// transaction, committed once.
    fn commit_batch(&mut self, jobs: Vec<Box<dyn WriteJob>>) {
        let mut slots: Vec<Slot> = jobs
            .into_iter()
            .map(|job| Slot { job, outcome: None, panicked: false, pending: false })
            .collect();
        Counters::bump(&self.counters.batches);
        self.run_batch(&mut slots);
        for slot in slots {
            Counters::bump(&self.counters.writes);
            if slot.panicked {
                Counters::bump(&self.counters.panicked_writes);
            } else if slot.outcome.is_some() {
                Counters::bump(&self.counters.failed_writes);
            }
            slot.job.answer(slot.outcome);
        }
    }

    /// BEGIN IMMEDIATE (retried by the policy while the database is busy: no closure
    /// has run in it yet), each closure once, COMMIT (retried by the policy while
    /// busy: the transaction stays open). A closure runs inside a SAVEPOINT only when
    /// the transaction already holds another closure's changes to protect; a closure
    /// that fails (or panics) loses its savepoint, or, with nothing to protect, the
    /// whole transaction, which the next closure begins again. (A SAVEPOINT and a
    /// RELEASE per closure were about 12% of the writer's instructions in one-job
    /// queue claims and completes; the first closure of a transaction, and so every
    /// batch of one, goes without.) Every closure runs exactly once: an error of
    /// the batch (BEGIN or COMMIT failing for good) becomes the answer of every
    /// closure it touched, and a closure that meets a retryable error itself
    /// (`Busy`) is answered with it, for its caller to retry.
    fn run_batch(&mut self, slots: &mut [Slot]) {
        let mut open = false;
        // The open transaction holds changes of a closure that succeeded.
        let mut dirty = false;
        let mut index = 0;
        while index < slots.len() {
            if !open {
                if let Err(err) = self.begin() {
                    for slot in &mut slots[index..] {
                        slot.outcome = Some(err.clone());
                    }
                    return;
                }
                open = true;
            }
            let protect = dirty;
            if protect && let Err(err) = self.exec(SAVEPOINT) {
                self.abandon(slots, index, err.into());
                return;
            }
            let conn = &self.conn;
            let commits_before = self.counters.commits.load(std::sync::atomic::Ordering::Relaxed);
            let slot = &mut slots[index];
            let job = &mut slot.job;
            let outcome = match catch_unwind(AssertUnwindSafe(|| {
                self.timing.time(PoolWork::Write, || job.run(conn))
            })) {
                Ok(Ok(())) => None,
                Ok(Err(err)) => Some(err),
                Err(panic) => {
                    slot.panicked = true;
                    Some(Error::WritePanicked { message: panic_message(&*panic) })
                }
            };
            if self.conn.is_autocommit() {
                // The closure ended the transaction itself (a raw COMMIT or ROLLBACK),
                // or SQLite rolled it back after an error: the closures before it in
                // this transaction are committed when a COMMIT happened, and lost
                // otherwise, and cannot run again.
                let committed =
                    self.counters.commits.load(std::sync::atomic::Ordering::Relaxed) != commits_before;
                let slot = &mut slots[index];
                slot.outcome = Some(outcome.unwrap_or_else(|| {
                    Error::invalid("write closure", "the closure ended the batch transaction itself")
                }));
                for earlier in &mut slots[..index] {
                    if earlier.pending {
                        earlier.pending = false;
                        if !committed {
                            earlier.outcome = Some(Error::Interrupted {
                                code: rusqlite::ffi::SQLITE_ABORT,
                                message: "another closure of the batch rolled the transaction back".into(),
                            });
                        }
                    }
                }
                open = false;
                dirty = false;
                index += 1;
                continue;
            }
            let step = match outcome {
                None => {
                    slots[index].pending = true;
                    dirty = true;
                    if protect { self.exec(RELEASE) } else { Ok(()) }
                }
                Some(err) => {
                    slots[index].outcome = Some(err);
                    if protect {
                        self.exec(ROLLBACK_TO).and_then(|()| self.exec(RELEASE))
                    } else {
                        open = false;
                        self.exec(ROLLBACK)
                    }
                }
            };
            if let Err(err) = step {
                self.abandon(slots, index + 1, err.into());
                return;
            }
            index += 1;
        }
        if open && let Err(err) = self.commit() {
            self.abandon(slots, slots.len(), err);
        }
    }

    /// BEGIN IMMEDIATE, retried by the policy while another connection holds the
    /// write lock.
    fn begin(&self) -> Result<()> {
        self.live.retry().run_blocking(|attempt| {
            if attempt > 1 {
                Counters::bump(&self.counters.busy_retries);
            }
            Ok(self.exec(BEGIN)?)
        })
    }

    /// COMMIT, retried by the policy while it is busy (SQLite keeps the transaction
    /// open then), and timed.
    fn commit(&mut self) -> Result<()> {
        let started = Instant::now();
        let committed = self.live.retry().run_blocking(|attempt| {
            if attempt > 1 {
                Counters::bump(&self.counters.busy_retries);
            }
            match self.exec(COMMIT) {
                Ok(()) => Ok(Ok(())),
                // SQLite rolled back: another try cannot commit it any more.
                Err(err) if self.conn.is_autocommit() => Ok(Err(Error::from(err))),
                Err(err) => Err(Error::from(err)),
            }
        });
        let committed = committed.and_then(|outcome| outcome);
        let took = started.elapsed();
        self.record_commit(took);
        if committed.is_ok() {
            self.timing.report(PoolWork::Commit, took);
        }
        committed
    }

    /// Rolls back the open transaction after `err` broke it: the closures whose
    /// changes were waiting in it, and those from `next` on that have not run, are
    /// answered with `err`.
    fn abandon(&self, slots: &mut [Slot], next: usize, err: Error) {
        if !self.conn.is_autocommit() {
            let _ = self.exec(ROLLBACK);
        }
        for (i, slot) in slots.iter_mut().enumerate() {
            if slot.pending || (i >= next && slot.outcome.is_none()) {
                slot.pending = false;
                slot.outcome = Some(err.clone());
            }
        }
    }

    /// Serves an explicit transaction: BEGIN IMMEDIATE, then its steps as they
    /// arrive, until COMMIT, ROLLBACK, the handle's drop, or the hold limit, past
    /// which it rolls back (the handle then answers E2050). A step that panics or
    /// ends the transaction itself rolls it back too (E2051 after).
    fn serve_transaction(&mut self, begin: Begin) {
        let Begin { steps, ready, state, limit } = begin;
        if let Err(err) = self.begin() {
            let _ = ready.send(Err(err));
            return;
        }
        if ready.send(Ok(())).is_err() {
            // The caller gave up waiting: nobody will use the transaction.
            let _ = self.exec(ROLLBACK);
            return;
        }
        let deadline = Instant::now() + limit;
        let end = |state_now: u8| {
            state.store(state_now, std::sync::atomic::Ordering::Release);
        };
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let step = match steps.recv_timeout(left) {
                Ok(step) => step,
                Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
                    end(transaction::EXPIRED);
                    let _ = self.exec(ROLLBACK);
                    tracing::warn!(target: "strata::pool", limit_ms = limit.as_millis() as u64, "a transaction held the writer past its limit; rolled back");
                    return;
                }
                Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => {
                    // Dropped without commit: roll back.
                    end(transaction::ENDED);
                    let _ = self.exec(ROLLBACK);
                    return;
                }
            };
            match step {
                Step::Run(job) => {
                    if Instant::now() >= deadline {
                        end(transaction::EXPIRED);
                        let _ = self.exec(ROLLBACK);
                        job.refuse(Error::TransactionExpired { limit_ms: limit.as_millis() as u64 });
                        return;
                    }
                    let conn = &self.conn;
                    Counters::bump(&self.counters.writes);
                    let panicked = self.timing.time(PoolWork::Write, || job.run(conn));
                    if panicked || self.conn.is_autocommit() {
                        if panicked {
                            Counters::bump(&self.counters.panicked_writes);
                        }
                        end(transaction::ENDED);
                        if !self.conn.is_autocommit() {
                            let _ = self.exec(ROLLBACK);
                        }
                        return;
                    }
                }
                Step::Commit(reply) => {
                    if Instant::now() >= deadline {
                        end(transaction::EXPIRED);
                        let _ = self.exec(ROLLBACK);
                        let _ =
                            reply.send(Err(Error::TransactionExpired { limit_ms: limit.as_millis() as u64 }));
                        return;
                    }
                    Counters::bump(&self.counters.batches);
                    let committed = self.commit();
                    if committed.is_err() && !self.conn.is_autocommit() {
                        let _ = self.exec(ROLLBACK);
                    }
                    end(transaction::ENDED);
                    let _ = reply.send(committed);
                    return;
                }
                Step::Rollback(reply) => {
                    end(transaction::ENDED);
                    let _ = reply.send(self.exec(ROLLBACK).map_err(Error::from));
                    return;
                }
            }
        }
    }

    /// Adds one COMMIT's time to [`Writer::commit_cost`], an exponential moving
    /// average with weight 1/8 (the first commit sets it), so that the checkpoint a
    /// commit sometimes runs, and its fsyncs, counts, spread over the commits around it.
    fn record_commit(&mut self, took: Duration) {
        self.commit_cost = if self.commit_cost.is_zero() { took } else { (self.commit_cost * 7 + took) / 8 };
    }

    /// Runs one of the control statements, prepared once and cached.
    fn exec(&self, sql: &str) -> rusqlite::Result<()> {
        self.conn.prepare_cached(sql)?.execute([]).map(drop)
    }

    /// Closes the connection (and the checkpointer's), then opens the file at the
    /// path again, never creating it. The old connection closes first, then
    /// `between` runs (it sets aside the old file's `-wal`: a new connection must not
    /// meet it). When the open fails, writes are refused
    /// with the error until a reopen succeeds.
    fn reopen(&mut self, between: Box<dyn FnOnce() -> Result<()> + Send>) -> Result<()> {
        if let Some(checkpointer) = self.checkpointer.take() {
            checkpointer.stop();
        }
        let placeholder = Connection::open_in_memory()?;
        let old = std::mem::replace(&mut self.conn, placeholder);
        if let Err((_, err)) = old.close() {
            tracing::debug!(target: "strata::pool", error = %err, "reopen: the old writer connection did not close cleanly");
        }
        let opened = between()
            .and_then(|()| crate::connection::open_writer(&self.config.path, &self.config.sqlite))
            .and_then(|conn| {
                timing::install(&conn);
                count_commits(&conn, &self.counters)?;
                Ok(conn)
            });
        match opened {
            Ok(conn) => {
                self.conn = conn;
                self.lost = None;
                self.checkpointer =
                    Checkpointer::start(&self.config.path, &self.config.sqlite, &self.counters);
                Ok(())
            }
            Err(err) => {
                self.lost = Some(Error::PoolUnavailable {
                    path: self.config.path.clone(),
                    state: "degraded",
                    cause: format!("the writer connection could not be reopened: {err}"),
                });
                Err(err)
            }
        }
    }

    /// Tells the background checkpointer that the WAL may have grown.
    fn nudge_checkpointer(&self) {
        if let Some(checkpointer) = &self.checkpointer {
            checkpointer.nudge();
        }
    }

    /// Stops the checkpointer (closing its connection, so that this one is the last),
    /// then, if this pool committed anything, `PRAGMA optimize` and a TRUNCATE
    /// checkpoint with the busy timeout lowered to [`CLOSE_BUSY`], and closes the
    /// connection. A pool that committed nothing has nothing to optimise or
    /// checkpoint, and skips both: they would wait for another process's write lock.
    fn shutdown(mut self) -> Result<CloseReport> {
        if let Some(checkpointer) = self.checkpointer.take() {
            checkpointer.stop();
        }
        let commits = self.counters.commits.load(std::sync::atomic::Ordering::Relaxed);
        let mut report = CloseReport { commits, ..Default::default() };
        if commits > 0 {
            self.upkeep(&mut report);
        } else {
            tracing::debug!(target: "strata::pool", "nothing committed: close skips optimize and checkpoint");
        }
        let path = self.conn.path().map(std::path::PathBuf::from);
        self.conn.close().map_err(|(_, e)| Error::from(e))?;
        if let Some(path) = path {
            let sidecar = |suffix: &str| {
                let mut p = path.clone().into_os_string();
                p.push(suffix);
                std::path::PathBuf::from(p)
            };
            report.wal_removed = !sidecar("-wal").exists() && !sidecar("-shm").exists();
        }
        Ok(report)
    }
}

impl Writer {
    /// `PRAGMA optimize` and `wal_checkpoint(TRUNCATE)`, each given up quietly (a
    /// debug trace, and the report says so) when it meets a lock it cannot get within
    /// [`CLOSE_BUSY`]. With `[replication] mode = "litestream"` the checkpoint is
    /// Litestream's, not strata's: it is skipped.
    fn upkeep(&self, report: &mut CloseReport) {
        if let Err(err) = self.conn.busy_timeout(CLOSE_BUSY) {
            tracing::debug!(target: "strata::pool", error = %err, "close: busy timeout not lowered; upkeep skipped");
            return;
        }
        match self.conn.execute_batch(OPTIMIZE) {
            Ok(()) => report.optimized = true,
            Err(err) => tracing::debug!(target: "strata::pool", error = %err, "close: optimize given up"),
        }
        if self.config.replication.mode == ReplicationMode::Litestream {
            // Litestream owns checkpoints: it must read the WAL before it goes.
            tracing::debug!(target: "strata::pool", "close: checkpoint left to Litestream");
            return;
        }
        let checkpoint = self.conn.query_row(CHECKPOINT_TRUNCATE, [], |r| {
            Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(1)?, r.get::<_, i64>(2)?))
        });
        match checkpoint {
            Ok((busy, log, done)) => {
                report.checkpoint_busy = busy != 0;
                report.checkpointed = busy == 0;
                report.wal_frames = log;
                report.checkpointed_frames = done;
                if busy != 0 {
                    tracing::debug!(target: "strata::pool", "close: checkpoint given up, the WAL is in use");
                }
            }
            Err(err) => {
                report.checkpoint_busy = true;
                tracing::debug!(target: "strata::pool", error = %err, "close: checkpoint given up");
            }
        }
    }
}

pub(crate) fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = panic.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = panic.downcast_ref::<String>() {
        s.clone()
    } else {
        "non-string panic payload".to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_batch_wait_is_the_configured_one_only_where_commits_are_slow() {
        let us = Duration::from_micros;
        // A fast disk: a quarter of the commit's 60 us.
        assert_eq!(batch_wait(200, us(60)), us(15));
        // A slow one: the configured 200 us, not a quarter of 2 ms.
        assert_eq!(batch_wait(200, us(2_000)), us(200));
        // No commit measured yet, or a wait of 0 configured: no wait.
        assert_eq!(batch_wait(200, Duration::ZERO), Duration::ZERO);
        assert_eq!(batch_wait(0, us(2_000)), Duration::ZERO);
    }
}
