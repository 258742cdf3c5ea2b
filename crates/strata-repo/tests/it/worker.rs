//! The worker runtime on real files: typed jobs and their stored results, retries with
//! the queue's backoff, permanent errors to dead, panics, timeouts, lease heartbeats,
//! batched claims, graceful shutdown (finish or release) and recurring jobs enqueued
//! once per tick by two processes' worth of handles on one file.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use strata_core::Config;
use strata_pool::Pool;
use strata_repo::{
    Ctx, Job, JobError, JobKind, NewTask, Queue, QueueConfig, TaskStatus, Worker, WorkerReport,
};
use tokio::sync::oneshot;

const DEADLINE: Duration = Duration::from_secs(30);

/// A queue whose retries come back within milliseconds and whose idle workers look
/// every 20 ms.
fn fast() -> QueueConfig {
    QueueConfig { poll_interval_ms: 20, retry_base_ms: 1, retry_max_ms: 5, ..QueueConfig::default() }
}

async fn queue(dir: &std::path::Path) -> Queue {
    Queue::new(crate::migrated(dir).await, fast()).unwrap()
}

/// A running worker and the switch that shuts it down.
struct Running {
    stop: oneshot::Sender<()>,
    done: tokio::task::JoinHandle<strata_core::Result<WorkerReport>>,
}

impl Running {
    fn start(builder: strata_repo::WorkerBuilder) -> Running {
        let (stop, stopped) = oneshot::channel::<()>();
        let done = tokio::spawn(builder.run(async move {
            let _ = stopped.await;
        }));
        Running { stop, done }
    }

    async fn shut_down(self) -> WorkerReport {
        self.stop.send(()).unwrap();
        tokio::time::timeout(DEADLINE, self.done).await.unwrap().unwrap().unwrap()
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Add {
    a: i64,
    b: i64,
}

impl JobKind for Add {
    const KIND: &'static str = "add";
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Sum {
    sum: i64,
    worker: String,
}

async fn add(job: Job<Add>, ctx: Ctx) -> Result<Sum, JobError> {
    Ok(Sum { sum: job.payload.a + job.payload.b, worker: ctx.worker().to_string() })
}

#[tokio::test]
async fn a_typed_job_runs_and_its_enqueuer_awaits_the_stored_result() {
    let dir = tempfile::tempdir().unwrap();
    let queue = queue(dir.path()).await;
    let id = queue.enqueue_job(&Add { a: 2, b: 40 }).await.unwrap().id;
    let worker = Running::start(Worker::builder(&queue).name("w1").handle::<Add>(add));

    let task = queue.wait_for(id, DEADLINE).await.unwrap();
    assert_eq!(task.status, TaskStatus::Completed, "{task:?}");
    assert_eq!(task.result_as::<Sum>().unwrap(), Some(Sum { sum: 42, worker: "w1".into() }));
    let report = worker.shut_down().await;
    assert_eq!(report.completed, 1, "{report:?}");
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Flaky {
    fail_first: u32,
    permanent: bool,
}

impl JobKind for Flaky {
    const KIND: &'static str = "flaky";
}

async fn flaky(job: Job<Flaky>, _ctx: Ctx) -> Result<u32, JobError> {
    if job.attempt() <= job.payload.fail_first {
        if job.payload.permanent {
            return Err(JobError::permanent("cannot ever work"));
        }
        // Any std error through `?` is a retry.
        "not a number".parse::<i32>()?;
    }
    Ok(job.attempt())
}

#[tokio::test]
async fn an_error_retries_with_backoff_and_a_permanent_error_goes_straight_to_dead() {
    let dir = tempfile::tempdir().unwrap();
    let queue = queue(dir.path()).await;
    let retried = queue.enqueue_job(&Flaky { fail_first: 2, permanent: false }).await.unwrap().id;
    let permanent = queue
        .enqueue(NewTask::job(&Flaky { fail_first: 1, permanent: true }).unwrap().max_attempts(5))
        .await
        .unwrap()
        .id;
    let worker = Running::start(Worker::builder(&queue).handle::<Flaky>(flaky));

    let task = queue.wait_for(retried, DEADLINE).await.unwrap();
    assert_eq!(task.status, TaskStatus::Completed, "{task:?}");
    assert_eq!(task.result_as::<u32>().unwrap(), Some(3), "two failed attempts, then the third succeeded");
    assert_eq!(task.last_error.as_deref(), Some("invalid digit found in string"));

    let task = queue.wait_for(permanent, DEADLINE).await.unwrap();
    assert_eq!(task.status, TaskStatus::Dead, "{task:?}");
    assert_eq!(task.attempts, 1, "no second attempt after a permanent error");
    assert_eq!(task.last_error.as_deref(), Some("cannot ever work"));
    let report = worker.shut_down().await;
    assert_eq!((report.completed, report.retried, report.dead), (1, 2, 1), "{report:?}");
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Explode;

impl JobKind for Explode {
    const KIND: &'static str = "explode";
}

async fn explode(job: Job<Explode>, _ctx: Ctx) -> Result<&'static str, JobError> {
    if job.attempt() == 1 {
        panic!("boom on attempt one");
    }
    Ok("survived")
}

#[tokio::test]
async fn a_panicking_handler_fails_its_job_and_the_worker_lives_on() {
    let dir = tempfile::tempdir().unwrap();
    let queue = queue(dir.path()).await;
    let id = queue.enqueue_job(&Explode).await.unwrap().id;
    let later = queue.enqueue_job(&Add { a: 1, b: 1 }).await.unwrap().id;
    let worker = Running::start(Worker::builder(&queue).handle::<Explode>(explode).handle::<Add>(add));

    let task = queue.wait_for(id, DEADLINE).await.unwrap();
    assert_eq!(task.status, TaskStatus::Completed, "{task:?}");
    assert_eq!(task.attempts, 2);
    assert_eq!(task.last_error.as_deref(), Some("the handler panicked: boom on attempt one"));
    assert_eq!(queue.wait_for(later, DEADLINE).await.unwrap().status, TaskStatus::Completed);
    let report = worker.shut_down().await;
    assert_eq!((report.panicked, report.completed), (1, 2), "{report:?}");
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Slow {
    ms: u64,
}

impl JobKind for Slow {
    const KIND: &'static str = "slow";
}

async fn slow(job: Job<Slow>, _ctx: Ctx) -> Result<u64, JobError> {
    tokio::time::sleep(Duration::from_millis(job.payload.ms)).await;
    Ok(job.payload.ms)
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Hang;

impl JobKind for Hang {
    const KIND: &'static str = "hang";
    const TIMEOUT: Option<Duration> = Some(Duration::from_millis(200));
}

async fn hang(_job: Job<Hang>, _ctx: Ctx) -> Result<(), JobError> {
    tokio::time::sleep(Duration::from_secs(3_600)).await;
    Ok(())
}

#[tokio::test]
async fn heartbeats_keep_a_job_longer_than_its_lease_and_a_timeout_stops_a_hung_one() {
    let dir = tempfile::tempdir().unwrap();
    let queue = queue(dir.path()).await;
    // Over three leases long: without renewals the lease expires and `complete` is
    // refused. Renewals come every 300 ms, so a loaded machine has 600 ms of slack.
    let long = queue.enqueue_job(&Slow { ms: 3_000 }).await.unwrap().id;
    let hung = queue.enqueue(NewTask::job(&Hang).unwrap().max_attempts(1)).await.unwrap().id;
    let builder = Worker::builder(&queue)
        .concurrency(2)
        .lease(Duration::from_millis(900))
        .handle::<Slow>(slow)
        .handle::<Hang>(hang);
    let worker = Running::start(builder);

    let task = queue.wait_for(long, DEADLINE).await.unwrap();
    assert_eq!(task.status, TaskStatus::Completed, "{task:?}");
    assert_eq!(task.attempts, 1, "the lease never expired, so there was no second claim");
    let task = queue.wait_for(hung, DEADLINE).await.unwrap();
    assert_eq!(task.status, TaskStatus::Dead, "{task:?}");
    assert_eq!(task.last_error.as_deref(), Some("timed out after 200 ms"));
    let report = worker.shut_down().await;
    assert_eq!((report.completed, report.timed_out, report.lease_lost), (1, 1, 0), "{report:?}");
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Meet;

impl JobKind for Meet {
    const KIND: &'static str = "meet";
}

#[tokio::test]
async fn free_slots_are_claimed_in_one_batch_and_run_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let queue = queue(dir.path()).await;
    let ids: Vec<i64> = queue
        .enqueue_batch((0..4).map(|_| NewTask::job(&Meet).unwrap()).collect())
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.id)
        .collect();
    // Each job waits for all four: only a worker running four at once gets past it.
    let barrier = Arc::new(tokio::sync::Barrier::new(4));
    let meet = move |job: Job<Meet>, _ctx: Ctx| {
        let barrier = Arc::clone(&barrier);
        async move {
            tokio::time::timeout(DEADLINE, barrier.wait()).await.map_err(JobError::retry)?;
            Ok::<_, JobError>(job.task.lease_token)
        }
    };
    let worker = Running::start(Worker::builder(&queue).concurrency(4).handle::<Meet>(meet));

    let mut tokens = Vec::new();
    for id in ids {
        let task = queue.wait_for(id, DEADLINE).await.unwrap();
        assert_eq!((task.status, task.attempts), (TaskStatus::Completed, 1), "{task:?}");
        tokens.push(task.result_as::<String>().unwrap().unwrap());
    }
    tokens.dedup();
    assert_eq!(tokens.len(), 1, "one claim (one lease token) took all four: {tokens:?}");
    worker.shut_down().await;
}

#[tokio::test]
async fn shutdown_lets_a_short_job_finish_and_releases_one_past_the_grace() {
    let dir = tempfile::tempdir().unwrap();
    let queue = queue(dir.path()).await;
    let short = queue.enqueue_job(&Slow { ms: 400 }).await.unwrap().id;
    let endless = queue.enqueue_job(&Slow { ms: 3_600_000 }).await.unwrap().id;
    let worker = Running::start(
        Worker::builder(&queue).concurrency(2).shutdown_grace(Duration::from_secs(2)).handle::<Slow>(slow),
    );
    // Both claimed and running before the shutdown is asked.
    let deadline = tokio::time::Instant::now() + DEADLINE;
    while queue.get(endless).await.unwrap().status != TaskStatus::Running
        || queue.get(short).await.unwrap().status != TaskStatus::Running
    {
        assert!(tokio::time::Instant::now() < deadline, "the worker never claimed both");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let report = worker.shut_down().await;

    assert_eq!(queue.get(short).await.unwrap().status, TaskStatus::Completed);
    let released = queue.get(endless).await.unwrap();
    assert_eq!((released.status, released.attempts), (TaskStatus::Pending, 0), "{released:?}");
    assert_eq!(released.lease_token, None);
    assert_eq!((report.completed, report.released), (1, 1), "{report:?}");
}

#[tokio::test]
async fn a_payload_that_does_not_decode_goes_to_dead_and_an_unknown_kind_is_retried() {
    let dir = tempfile::tempdir().unwrap();
    let queue = queue(dir.path()).await;
    let bad = queue.enqueue(NewTask::new("add", serde_json::json!({"a": "two"}))).await.unwrap().id;
    let unknown =
        queue.enqueue(NewTask::new("nobody", serde_json::json!(null)).max_attempts(2)).await.unwrap().id;
    let worker = Running::start(Worker::builder(&queue).handle::<Add>(add));

    let task = queue.wait_for(bad, DEADLINE).await.unwrap();
    assert_eq!((task.status, task.attempts), (TaskStatus::Dead, 1), "{task:?}");
    assert!(task.last_error.unwrap().starts_with("the payload of a add job does not decode"));
    let task = queue.wait_for(unknown, DEADLINE).await.unwrap();
    assert_eq!((task.status, task.attempts), (TaskStatus::Dead, 2), "{task:?}");
    assert_eq!(task.last_error.as_deref(), Some("no handler for kind nobody on this worker"));
    worker.shut_down().await;
}

#[tokio::test]
async fn bad_settings_and_a_bad_cron_expression_are_refused_before_anything_runs() {
    let dir = tempfile::tempdir().unwrap();
    let queue = queue(dir.path()).await;
    let err = Worker::builder(&queue).concurrency(0).run(async {}).await.unwrap_err();
    assert_eq!(err.code(), "E6001", "{err}");
    let err =
        Worker::builder(&queue).recurring("every tuesday", &Add { a: 1, b: 2 }).unwrap().run(async {}).await;
    let err = err.unwrap_err();
    assert!(err.to_string().contains("\"every tuesday\" is not a cron expression"), "{err}");
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Tick;

impl JobKind for Tick {
    const KIND: &'static str = "tick";
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_recurring_job_is_enqueued_once_per_tick_by_two_handles_on_one_file() {
    let dir = tempfile::tempdir().unwrap();
    let first = queue(dir.path()).await;
    // A second pool on the same file: what a second process holds.
    let second =
        Queue::new(Pool::open(&Config::for_path(dir.path().join("test.db"))).await.unwrap(), fast()).unwrap();
    let ran = Arc::new(AtomicU32::new(0));
    let worker = |queue: &Queue, name: &str| {
        let ran = Arc::clone(&ran);
        let tick = move |_job: Job<Tick>, _ctx: Ctx| {
            let ran = Arc::clone(&ran);
            async move {
                ran.fetch_add(1, Ordering::SeqCst);
                Ok::<_, JobError>(())
            }
        };
        Running::start(
            Worker::builder(queue).name(name).recurring("* * * * * *", &Tick).unwrap().handle::<Tick>(tick),
        )
    };
    let (a, b) = (worker(&first, "a"), worker(&second, "b"));
    let deadline = tokio::time::Instant::now() + DEADLINE;
    while ran.load(Ordering::SeqCst) < 3 {
        assert!(tokio::time::Instant::now() < deadline, "three ticks never ran");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    a.shut_down().await;
    b.shut_down().await;

    let (tasks, keys): (i64, i64) = first
        .pool()
        .read(|c| {
            Ok(c.query_row(
                "SELECT count(*), count(DISTINCT dedup_key) FROM tasks WHERE kind = 'tick'",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )?)
        })
        .await
        .unwrap();
    assert!(tasks >= 3, "{tasks} ticks enqueued");
    assert_eq!(tasks, keys, "one task per tick, whoever enqueued it");
    let completed = first.stats().await.unwrap().iter().map(|s| s.completed).sum::<u64>();
    assert_eq!(completed, u64::from(ran.load(Ordering::SeqCst)), "each completed tick ran once");
}
