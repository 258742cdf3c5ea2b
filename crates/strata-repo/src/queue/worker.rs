//! The worker runtime over [`Queue`]: typed jobs registered per kind, handlers
//! `async fn(Job<T>, Ctx) -> Result<O, JobError>`, a concurrency limit with batched
//! claims, automatic lease heartbeats, per-job timeouts, panics caught as failures,
//! graceful shutdown, and recurring jobs from cron expressions enqueued once per tick
//! across every process that shares the file.
//!
//! What happens to a claimed job:
//! - `Ok(output)`: completed, `output` stored as the task's JSON `result`
//!   ([`Queue::wait_for`] awaits it);
//! - `Err(JobError::Retry)` (any `std::error::Error` through `?`): [`Queue::fail`],
//!   pending again after the queue's backoff, dead once its attempts are used up;
//! - `Err(JobError::Permanent)`, a payload that does not decode, a panic, or the
//!   job's timeout: see each below; a permanent error and an undecodable payload go
//!   straight to dead ([`Queue::dead_letter`]); a panic and a timeout count as a
//!   failed attempt (retried);
//! - the lease is renewed every third of it while the handler runs; when a renewal
//!   is refused (the lease was lost), the handler is stopped and nothing is written;
//! - shutdown: no new claims; running handlers get the grace period to finish, then
//!   are stopped and their tasks released (pending, the attempt not counted).

use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;
use strata_core::{Error, Result};
use tokio::sync::{Semaphore, watch};
use tokio::task::JoinSet;

use super::{Claimed, Claimer, DEFAULT_QUEUE, Enqueued, LeaseToken, NewTask, Queue, Task};

/// A job type: its serde payload is the task's, and [`JobKind::KIND`] the task's
/// `kind` that routes it to its handler.
pub trait JobKind: Serialize + DeserializeOwned + Send + 'static {
    /// The task kind of this job type (unique per queue).
    const KIND: &'static str;
    /// How long one attempt may run before it is stopped and counted as failed;
    /// `None` uses the worker's [`WorkerBuilder::timeout`].
    const TIMEOUT: Option<Duration> = None;
}

/// A claimed job handed to its handler: the decoded payload and the task row.
#[derive(Debug, Clone)]
pub struct Job<T> {
    /// The decoded payload.
    pub payload: T,
    /// The task as claimed (running, this attempt counted).
    pub task: Task,
}

impl<T> Job<T> {
    /// The task's id.
    pub fn id(&self) -> i64 {
        self.task.id
    }

    /// Which attempt this is (1 for the first).
    pub fn attempt(&self) -> u32 {
        self.task.attempts
    }
}

/// What a handler gets beside its job: the queue (to enqueue follow-up jobs) and the
/// worker's name.
#[derive(Debug, Clone)]
pub struct Ctx {
    queue: Queue,
    worker: Arc<str>,
}

impl Ctx {
    /// The queue the job came from.
    pub fn queue(&self) -> &Queue {
        &self.queue
    }

    /// The name of the worker running the job (the tasks' `lease_owner`).
    pub fn worker(&self) -> &str {
        &self.worker
    }
}

/// Why a handler did not finish its job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JobError {
    /// Try again after the queue's backoff (dead once the attempts are used up).
    Retry(String),
    /// It cannot succeed: straight to dead, no further attempt.
    Permanent(String),
}

impl JobError {
    /// A failure worth retrying.
    pub fn retry(error: impl fmt::Display) -> JobError {
        JobError::Retry(error.to_string())
    }

    /// A failure that no retry can fix.
    pub fn permanent(error: impl fmt::Display) -> JobError {
        JobError::Permanent(error.to_string())
    }
}

impl fmt::Display for JobError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            JobError::Retry(message) | JobError::Permanent(message) => f.write_str(message),
        }
    }
}

/// Any error through `?` in a handler is a failure worth retrying.
impl<E: std::error::Error> From<E> for JobError {
    fn from(error: E) -> JobError {
        JobError::retry(error)
    }
}

/// A boxed handler future.
type BoxFuture = Pin<Box<dyn Future<Output = std::result::Result<Value, JobError>> + Send>>;

/// A handler of job type `T`: any `Fn(Job<T>, Ctx) -> impl Future<Output =
/// Result<O, JobError>>` where the output `O` serializes (it is stored as the result).
pub trait Handler<T>: Send + Sync + 'static {
    /// Runs the job; the output as JSON.
    fn call(&self, job: Job<T>, ctx: Ctx) -> BoxFuture;
}

impl<T, F, Fut, O> Handler<T> for F
where
    F: Fn(Job<T>, Ctx) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = std::result::Result<O, JobError>> + Send + 'static,
    O: Serialize,
{
    fn call(&self, job: Job<T>, ctx: Ctx) -> BoxFuture {
        let running = self(job, ctx);
        Box::pin(async move {
            let output = running.await?;
            serde_json::to_value(output)
                .map_err(|e| JobError::permanent(format!("the output does not serialize: {e}")))
        })
    }
}

/// A registered kind: decodes the payload and calls the handler.
struct Route {
    run: Arc<dyn Fn(Task, Ctx) -> BoxFuture + Send + Sync>,
    timeout: Option<Duration>,
}

/// A recurring job: a cron expression and the payload of every tick.
struct Recurring {
    kind: &'static str,
    expression: String,
    payload: Value,
}

impl NewTask {
    /// A task carrying `job` as its payload, of kind `T::KIND`. A payload that does not
    /// serialize (a map with non-string keys) is E6001.
    pub fn job<T: JobKind>(job: &T) -> Result<NewTask> {
        let payload = serde_json::to_value(job).map_err(|e| Error::invalid("payload", e.to_string()))?;
        Ok(NewTask::new(T::KIND, payload))
    }
}

impl Task {
    /// The stored result decoded as `O`; `None` while there is none (not completed).
    pub fn result_as<O: DeserializeOwned>(&self) -> Result<Option<O>> {
        self.result
            .clone()
            .map(serde_json::from_value)
            .transpose()
            .map_err(|e| Error::invalid("result", e.to_string()))
    }
}

impl Queue {
    /// Enqueues `job` on the default queue ([`NewTask::job`] for more options).
    pub async fn enqueue_job<T: JobKind>(&self, job: &T) -> Result<Enqueued> {
        self.enqueue(NewTask::job(job)?).await
    }
}

impl From<&Queue> for Queue {
    fn from(queue: &Queue) -> Queue {
        queue.clone()
    }
}

/// The entry point of the runtime: `Worker::builder(queue)`.
#[derive(Debug)]
pub struct Worker;

impl Worker {
    /// A worker on `queue` (a [`Queue`], or anything that converts to one), with
    /// concurrency 1, the queue's default lease, no timeout and a 30 s shutdown grace.
    pub fn builder(queue: impl Into<Queue>) -> WorkerBuilder {
        let queue = queue.into();
        WorkerBuilder {
            lease: queue.default_lease(),
            queue,
            queue_name: DEFAULT_QUEUE.to_string(),
            name: format!("worker-{}-{:08x}", std::process::id(), fastrand::u32(..)),
            concurrency: 1,
            timeout: None,
            grace: Duration::from_secs(30),
            routes: HashMap::new(),
            recurring: Vec::new(),
        }
    }
}

/// Configures and runs a worker ([`Worker::builder`]).
pub struct WorkerBuilder {
    queue: Queue,
    queue_name: String,
    name: String,
    concurrency: usize,
    lease: Duration,
    timeout: Option<Duration>,
    grace: Duration,
    routes: HashMap<&'static str, Route>,
    recurring: Vec<Recurring>,
}

impl fmt::Debug for WorkerBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WorkerBuilder")
            .field("queue", &self.queue_name)
            .field("name", &self.name)
            .field("concurrency", &self.concurrency)
            .field("kinds", &self.routes.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

impl WorkerBuilder {
    /// Runs the jobs of job type `T` with `handler`.
    pub fn handle<T: JobKind>(mut self, handler: impl Handler<T>) -> Self {
        let handler = Arc::new(handler);
        let run = move |task: Task, ctx: Ctx| -> BoxFuture {
            match serde_json::from_value::<T>(task.payload.clone()) {
                Ok(payload) => handler.call(Job { payload, task }, ctx),
                Err(e) => {
                    let error =
                        JobError::permanent(format!("the payload of a {} job does not decode: {e}", T::KIND));
                    Box::pin(async move { Err(error) })
                }
            }
        };
        self.routes.insert(T::KIND, Route { run: Arc::new(run), timeout: T::TIMEOUT });
        self
    }

    /// The queue to take jobs from (default `default`).
    pub fn queue(mut self, name: impl Into<String>) -> Self {
        self.queue_name = name.into();
        self
    }

    /// The worker's name, recorded as the tasks' lease owner (default
    /// `worker-<pid>-<random>`).
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = name.into();
        self
    }

    /// How many jobs run at once (default 1); free slots are claimed in one batch.
    pub fn concurrency(mut self, n: usize) -> Self {
        self.concurrency = n;
        self
    }

    /// The lease of each claim (default the queue's `lease_ms`), renewed every third
    /// of it while the handler runs.
    pub fn lease(mut self, lease: Duration) -> Self {
        self.lease = lease;
        self
    }

    /// How long one attempt may run, for job types without their own
    /// [`JobKind::TIMEOUT`] (default none).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// How long running jobs may take to finish after shutdown is asked before they
    /// are stopped and released (default 30 s).
    pub fn shutdown_grace(mut self, grace: Duration) -> Self {
        self.grace = grace;
        self
    }

    /// Enqueues a `T` job with `payload` at every tick of the cron `expression`
    /// (five fields, or six with seconds first; UTC). Every process running this
    /// schedule enqueues each tick ahead of time under the dedup key
    /// `cron:<kind>:<tick ms>`, so a tick's job exists once whatever the number of
    /// processes. A bad expression is E6001 from [`WorkerBuilder::run`].
    pub fn recurring<T: JobKind>(mut self, expression: &str, payload: &T) -> Result<Self> {
        let payload = serde_json::to_value(payload).map_err(|e| Error::invalid("payload", e.to_string()))?;
        self.recurring.push(Recurring { kind: T::KIND, expression: expression.to_string(), payload });
        Ok(self)
    }

    /// Runs the worker until `shutdown` completes, then shuts down gracefully and
    /// answers what it did. Invalid settings are E6001 before anything runs; a
    /// database error while claiming is logged and retried after the poll interval.
    pub async fn run(self, shutdown: impl Future<Output = ()> + Send + 'static) -> Result<WorkerReport> {
        if self.concurrency == 0 || self.concurrency > 1_000 {
            return Err(Error::invalid("concurrency", "must be between 1 and 1000"));
        }
        if self.lease < Duration::from_millis(3) {
            return Err(Error::invalid("lease", "must be at least 3 ms"));
        }
        let schedules = self
            .recurring
            .iter()
            .map(|r| {
                let cron = parse_cron(&r.expression)?;
                let task = NewTask::new(r.kind, r.payload.clone()).queue(self.queue_name.clone());
                Ok((cron, task))
            })
            .collect::<Result<Vec<_>>>()?;
        let (stop_tx, stop) = watch::channel(false);
        let (abort_tx, abort) = watch::channel(false);
        let stop_tx = Arc::new(stop_tx);
        let signal = Arc::clone(&stop_tx);
        let watcher = tokio::spawn(async move {
            shutdown.await;
            signal.send_replace(true);
        });
        let mut timers = JoinSet::new();
        for (cron, task) in schedules {
            timers.spawn(tick_loop(self.queue.clone(), cron, task, stop.clone()));
        }
        let shared = Arc::new(Shared {
            queue: self.queue.clone(),
            ctx: Ctx { queue: self.queue.clone(), worker: Arc::from(self.name.as_str()) },
            routes: self.routes,
            lease: self.lease,
            timeout: self.timeout,
            counts: Counts::default(),
        });
        let slots = Arc::new(Semaphore::new(self.concurrency));
        let mut jobs = JoinSet::new();
        let mut claim_stop = stop.clone();
        let poll = Duration::from_millis(self.queue.config().poll_interval_ms);
        loop {
            while jobs.try_join_next().is_some() {}
            if *claim_stop.borrow() {
                break;
            }
            let first = tokio::select! {
                permit = Arc::clone(&slots).acquire_owned() => permit,
                _ = claim_stop.changed() => continue,
            };
            // The semaphore is never closed, so acquiring cannot fail.
            let Ok(first) = first else { break };
            let mut permits = vec![first];
            while let Ok(permit) = Arc::clone(&slots).try_acquire_owned() {
                permits.push(permit);
            }
            let claimed = self
                .queue
                .next_until(
                    Claimer { queue: &self.queue_name, worker: &self.name },
                    permits.len(),
                    self.lease,
                    None,
                    Some(&mut claim_stop),
                )
                .await;
            match claimed {
                Ok(claimed) => {
                    for (claim, permit) in claimed.into_iter().zip(permits) {
                        let shared = Arc::clone(&shared);
                        let abort = abort.clone();
                        jobs.spawn(async move {
                            run_job(&shared, claim, abort).await;
                            drop(permit);
                        });
                    }
                }
                Err(error) => {
                    tracing::warn!(%error, "the worker could not claim; trying again after the poll interval");
                    drop(permits);
                    let _ = tokio::time::timeout(poll, claim_stop.changed()).await;
                }
            }
        }
        let drained =
            tokio::time::timeout(self.grace, async { while jobs.join_next().await.is_some() {} }).await;
        if drained.is_err() {
            abort_tx.send_replace(true);
            while jobs.join_next().await.is_some() {}
        }
        while timers.join_next().await.is_some() {}
        watcher.abort();
        Ok(shared.counts.report())
    }
}

/// What every job of one worker shares.
struct Shared {
    queue: Queue,
    ctx: Ctx,
    routes: HashMap<&'static str, Route>,
    lease: Duration,
    timeout: Option<Duration>,
    counts: Counts,
}

/// The worker's counters.
#[derive(Default)]
struct Counts {
    completed: AtomicU64,
    retried: AtomicU64,
    dead: AtomicU64,
    panicked: AtomicU64,
    timed_out: AtomicU64,
    released: AtomicU64,
    lease_lost: AtomicU64,
}

impl Counts {
    fn bump(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }

    fn report(&self) -> WorkerReport {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        WorkerReport {
            completed: get(&self.completed),
            retried: get(&self.retried),
            dead: get(&self.dead),
            panicked: get(&self.panicked),
            timed_out: get(&self.timed_out),
            released: get(&self.released),
            lease_lost: get(&self.lease_lost),
        }
    }
}

/// What a worker did between `run` and its shutdown.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct WorkerReport {
    /// Jobs completed (their results stored).
    pub completed: u64,
    /// Attempts that failed and were handed back for a retry (or dead when their
    /// attempts were used up), panics and timeouts included.
    pub retried: u64,
    /// Jobs sent straight to dead (a permanent error or an undecodable payload).
    pub dead: u64,
    /// Handlers that panicked (also counted in `retried`).
    pub panicked: u64,
    /// Attempts stopped at their timeout (also counted in `retried`).
    pub timed_out: u64,
    /// Jobs given back unfinished at shutdown.
    pub released: u64,
    /// Jobs whose lease was lost (a renewal or the final write refused).
    pub lease_lost: u64,
}

/// How one attempt ended.
enum Outcome {
    Done(std::result::Result<Value, JobError>),
    Panicked(String),
    TimedOut(Duration),
    Released,
    LeaseLost,
}

/// Runs one claimed job to its end: the handler in its own task (so a panic is
/// caught), heartbeats every third of the lease, the timeout, and the abort of a
/// shutdown past its grace; then writes the outcome under the claim's lease.
async fn run_job(shared: &Shared, claim: Claimed, mut abort: watch::Receiver<bool>) {
    let Claimed { task, token } = claim;
    let id = task.id;
    let Some(route) = shared.routes.get(task.kind.as_str()) else {
        // Another worker version may know the kind: an ordinary failure retries it.
        let error = format!("no handler for kind {} on this worker", task.kind);
        finish(shared, id, &token, Outcome::Done(Err(JobError::Retry(error)))).await;
        return;
    };
    let timeout = route.timeout.or(shared.timeout);
    let mut handler = tokio::spawn((route.run)(task, shared.ctx.clone()));
    let beat_every = shared.lease / 3;
    let mut beat = tokio::time::interval_at(tokio::time::Instant::now() + beat_every, beat_every);
    let deadline = timeout.map(|t| tokio::time::Instant::now() + t);
    let outcome = loop {
        tokio::select! {
            joined = &mut handler => break match joined {
                Ok(result) => Outcome::Done(result),
                Err(e) if e.is_panic() => Outcome::Panicked(panic_message(e.into_panic())),
                Err(_) => Outcome::Released,
            },
            _ = beat.tick() => {
                if let Err(error) = shared.queue.heartbeat(id, &token, shared.lease).await {
                    tracing::warn!(%error, id, "lease renewal refused; stopping the job");
                    handler.abort();
                    break Outcome::LeaseLost;
                }
            }
            () = sleep_until(deadline) => {
                handler.abort();
                // The deadline is set when this branch can fire.
                break Outcome::TimedOut(timeout.unwrap_or_default());
            }
            Ok(()) = abort.changed() => {
                handler.abort();
                break Outcome::Released;
            }
        }
    };
    finish(shared, id, &token, outcome).await;
}

/// Sleeps until `deadline`, or forever without one.
async fn sleep_until(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// Writes how an attempt ended and counts it.
async fn finish(shared: &Shared, id: i64, token: &LeaseToken, outcome: Outcome) {
    let counts = &shared.counts;
    let queue = &shared.queue;
    let written = match outcome {
        Outcome::Done(Ok(output)) => queue.complete(id, token, output).await.map(|()| &counts.completed),
        Outcome::Done(Err(JobError::Retry(error))) => {
            queue.fail(id, token, &error).await.map(|_| &counts.retried)
        }
        Outcome::Done(Err(JobError::Permanent(error))) => {
            queue.dead_letter(id, token, &error).await.map(|_| &counts.dead)
        }
        Outcome::Panicked(message) => {
            Counts::bump(&counts.panicked);
            queue.fail(id, token, &format!("the handler panicked: {message}")).await.map(|_| &counts.retried)
        }
        Outcome::TimedOut(after) => {
            Counts::bump(&counts.timed_out);
            let error = format!("timed out after {} ms", after.as_millis());
            queue.fail(id, token, &error).await.map(|_| &counts.retried)
        }
        Outcome::Released => queue.release(id, token).await.map(|()| &counts.released),
        Outcome::LeaseLost => Ok(&counts.lease_lost),
    };
    match written {
        Ok(counter) => Counts::bump(counter),
        Err(error) => {
            tracing::warn!(%error, id, "the job's outcome was not written (its lease is gone)");
            Counts::bump(&counts.lease_lost);
        }
    }
}

/// The message of a caught panic.
pub(crate) fn panic_message(payload: Box<dyn std::any::Any + Send>) -> String {
    match payload.downcast::<String>() {
        Ok(message) => *message,
        Err(payload) => {
            payload.downcast_ref::<&str>().map_or_else(|| "a non-text panic".to_string(), |s| s.to_string())
        }
    }
}

/// Parses a cron expression of five fields, or six with seconds (E6001).
fn parse_cron(expression: &str) -> Result<croner::Cron> {
    croner::parser::CronParser::builder()
        .seconds(croner::parser::Seconds::Optional)
        .build()
        .parse(expression)
        .map_err(|e| Error::invalid("recurring", format!("{expression:?} is not a cron expression: {e}")))
}

/// Enqueues `task` ahead of every tick of `cron` until `stop`: each tick's task is
/// written while the tick is still ahead, under the tick's dedup key, so that all the
/// processes running the schedule make one task per tick.
async fn tick_loop(queue: Queue, cron: croner::Cron, task: NewTask, mut stop: watch::Receiver<bool>) {
    loop {
        if *stop.borrow() {
            return;
        }
        let now = chrono::Utc::now();
        let next = match cron.find_next_occurrence(&now, false) {
            Ok(next) => next,
            Err(error) => {
                tracing::warn!(%error, "the cron expression has no next tick; its schedule ends");
                return;
            }
        };
        let at = next.timestamp_millis();
        let tick = task
            .clone()
            .run_after(crate::clock::to_datetime(at))
            .dedup_key(format!("cron:{}:{at}", task.kind));
        if let Err(error) = queue.enqueue_ahead(tick).await {
            tracing::warn!(%error, "a recurring job's tick was not enqueued");
        }
        let wait = (next - chrono::Utc::now()).to_std().unwrap_or_default();
        tokio::select! {
            () = tokio::time::sleep(wait) => {}
            _ = stop.changed() => return,
        }
    }
}
