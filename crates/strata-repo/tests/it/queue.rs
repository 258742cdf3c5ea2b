//! The task queue, call by call: claim order, delays, dedup, cancel cascades, leases
//! and their tokens, retries with backoff, dead letters, operator calls, wake-ups and
//! the refusal of bad input.

use std::time::{Duration, Instant};

use serde_json::json;
use strata_core::{ConstraintKind, Error};
use strata_pool::Pool;
use strata_repo::clock::{now_ms, to_datetime, to_millis};
use strata_repo::{Claimer, Completion, NewTask, PageRequest, Queue, QueueConfig, TaskStatus};

const LEASE: Duration = Duration::from_secs(30);

async fn queue_with(dir: &std::path::Path, config: QueueConfig) -> (Pool, Queue) {
    let pool = crate::migrated(dir).await;
    let queue = Queue::new(pool.clone(), config).unwrap();
    (pool, queue)
}

async fn task_count(pool: &Pool) -> i64 {
    pool.read(|c| Ok(c.query_row("SELECT count(*) FROM tasks", [], |r| r.get(0))?)).await.unwrap()
}

fn lease_reason(err: Error) -> String {
    match err {
        Error::LeaseLost { reason, .. } => reason,
        other => panic!("expected E4007 lease lost, got {other:?}"),
    }
}

#[tokio::test]
async fn claims_take_the_highest_priority_first_then_the_oldest() {
    let dir = tempfile::tempdir().unwrap();
    let (_pool, queue) = queue_with(dir.path(), QueueConfig::default()).await;
    let now = now_ms();
    let low = queue
        .enqueue(NewTask::new("low", json!(1)).priority(1).run_after(to_datetime(now - 3_000)))
        .await
        .unwrap()
        .id;
    let high_young = queue
        .enqueue(NewTask::new("hy", json!(2)).priority(9).run_after(to_datetime(now - 1_000)))
        .await
        .unwrap()
        .id;
    let high_old = queue
        .enqueue(NewTask::new("ho", json!(3)).priority(9).run_after(to_datetime(now - 2_000)))
        .await
        .unwrap()
        .id;
    let mid = queue.enqueue(NewTask::new("mid", json!(4))).await.unwrap().id;
    queue.enqueue(NewTask::new("elsewhere", json!(5)).queue("other").priority(10)).await.unwrap();

    let first = queue.claim(Claimer { queue: "default", worker: "w1" }, 3, LEASE).await.unwrap();
    let ids: Vec<i64> = first.iter().map(|c| c.task.id).collect();
    assert_eq!(ids, vec![high_old, high_young, mid]);
    let rest = queue.claim(Claimer { queue: "default", worker: "w1" }, 3, LEASE).await.unwrap();
    assert_eq!(rest.iter().map(|c| c.task.id).collect::<Vec<_>>(), vec![low]);
    assert!(queue.claim(Claimer { queue: "default", worker: "w1" }, 3, LEASE).await.unwrap().is_empty());

    let one = &first[0];
    assert_eq!(one.task.status, TaskStatus::Running);
    assert_eq!(one.task.attempts, 1);
    assert_eq!(one.task.lease_owner.as_deref(), Some("w1"));
    assert_eq!(one.task.lease_token.as_deref(), Some(one.token.as_str()));
    assert_eq!(one.token.as_str().len(), 32);
    assert!(one.token.as_str().bytes().all(|b| b.is_ascii_hexdigit()), "{}", one.token);
    // One fresh token per claim, shared by the tasks it claimed.
    assert!(first.iter().all(|c| c.token == one.token), "the tasks of one claim share its token");
    assert_ne!(rest[0].token, one.token, "another claim gets another token");
    let err = queue.complete(rest[0].task.id, &one.token, json!(null)).await.unwrap_err();
    assert!(lease_reason(err).contains("token does not match"));
    assert_eq!(queue.get(rest[0].task.id).await.unwrap().status, TaskStatus::Running);
    // A claim returns only some columns and fills in those it set itself (queue,
    // status, owner, lease expiry, start): the tasks are the rows as stored.
    for held in first.iter().chain(&rest) {
        assert_eq!(format!("{:?}", held.task), format!("{:?}", queue.get(held.task.id).await.unwrap()));
        let expires = held.task.lease_expires_at.unwrap();
        assert_eq!(Some(expires - LEASE), held.task.started_at);
    }
}

/// Claims from the default queue: whatever comes back was due when the claim
/// returned. (A task claimed before its `run_after` fails this however slow the
/// machine; asserting an empty answer instead would fail on a machine that stalls
/// past the due time.)
async fn assert_nothing_claimed_before_it_is_due(queue: &Queue) {
    let claimed = queue.claim(Claimer { queue: "default", worker: "w" }, 10, LEASE).await.unwrap();
    let now = now_ms();
    for held in &claimed {
        assert!(to_millis(held.task.run_after) <= now, "task {} claimed before it was due", held.task.id);
    }
}

#[tokio::test]
async fn delayed_tasks_are_not_claimed_before_run_after() {
    let dir = tempfile::tempdir().unwrap();
    let (_pool, queue) = queue_with(dir.path(), QueueConfig::default()).await;
    let delayed =
        queue.enqueue(NewTask::new("later", json!({})).delay(Duration::from_millis(500))).await.unwrap();
    let future = queue
        .enqueue(NewTask::new("much later", json!({})).run_after(to_datetime(now_ms() + 60_000)))
        .await
        .unwrap();
    assert_nothing_claimed_before_it_is_due(&queue).await;
    let task = queue.get(delayed.id).await.unwrap();
    assert!(task.run_after >= task.submitted_at + Duration::from_millis(500));

    tokio::time::sleep(Duration::from_millis(550)).await;
    let claimed = queue.claim(Claimer { queue: "default", worker: "w" }, 10, LEASE).await.unwrap();
    assert_eq!(claimed.iter().map(|c| c.task.id).collect::<Vec<_>>(), vec![delayed.id]);
    assert_eq!(queue.get(future.id).await.unwrap().status, TaskStatus::Pending);
}

#[tokio::test]
async fn a_live_dedup_key_returns_the_existing_task_and_a_finished_one_frees_it() {
    let dir = tempfile::tempdir().unwrap();
    let (pool, queue) = queue_with(dir.path(), QueueConfig::default()).await;
    let first = queue.enqueue(NewTask::new("scrape", json!({"url": "a"})).dedup_key("url:a")).await.unwrap();
    assert!(!first.deduplicated);
    let again = queue.enqueue(NewTask::new("scrape", json!({"url": "a"})).dedup_key("url:a")).await.unwrap();
    assert_eq!(again.id, first.id);
    assert!(again.deduplicated);

    // Within one batch, and while the task runs, the key still dedups.
    let batch = queue
        .enqueue_batch(vec![
            NewTask::new("scrape", json!({})).dedup_key("url:b"),
            NewTask::new("scrape", json!({})).dedup_key("url:b"),
            NewTask::new("scrape", json!({})).dedup_key("url:a"),
        ])
        .await
        .unwrap();
    assert!(!batch[0].deduplicated);
    assert_eq!((batch[1].id, batch[1].deduplicated), (batch[0].id, true));
    assert_eq!((batch[2].id, batch[2].deduplicated), (first.id, true));
    assert_eq!(task_count(&pool).await, 2);

    let claimed = queue.claim(Claimer { queue: "default", worker: "w" }, 10, LEASE).await.unwrap();
    let running = queue.enqueue(NewTask::new("scrape", json!({})).dedup_key("url:a")).await.unwrap();
    assert_eq!((running.id, running.deduplicated), (first.id, true));

    for c in &claimed {
        queue.complete(c.task.id, &c.token, json!("done")).await.unwrap();
    }
    let fresh = queue.enqueue(NewTask::new("scrape", json!({})).dedup_key("url:a")).await.unwrap();
    assert!(!fresh.deduplicated);
    assert_ne!(fresh.id, first.id);
}

#[tokio::test]
async fn cancel_cascades_to_unfinished_descendants_and_refuses_finished_tasks() {
    let dir = tempfile::tempdir().unwrap();
    let (_pool, queue) = queue_with(dir.path(), QueueConfig::default()).await;
    let root = queue.enqueue(NewTask::new("root", json!({})).queue("tree")).await.unwrap().id;
    let child = queue.enqueue(NewTask::new("child", json!({})).queue("tree").parent(root)).await.unwrap().id;
    let done = queue.enqueue(NewTask::new("done", json!({})).queue("done").parent(root)).await.unwrap().id;
    let grandchild =
        queue.enqueue(NewTask::new("gc", json!({})).queue("tree").parent(done)).await.unwrap().id;
    let unrelated = queue.enqueue(NewTask::new("other", json!({})).queue("tree")).await.unwrap().id;

    let claimed = queue.claim(Claimer { queue: "done", worker: "w" }, 1, LEASE).await.unwrap();
    queue.complete(done, &claimed[0].token, json!(null)).await.unwrap();
    let running = queue.claim(Claimer { queue: "tree", worker: "w" }, 1, LEASE).await.unwrap();
    assert_eq!(running[0].task.id, root);

    assert_eq!(queue.cancel(root).await.unwrap(), 3, "root, child and grandchild");
    for id in [root, child, grandchild] {
        let task = queue.get(id).await.unwrap();
        assert_eq!(task.status, TaskStatus::Cancelled, "task {id}");
        assert!(task.completed_at.is_some());
    }
    assert_eq!(queue.get(done).await.unwrap().status, TaskStatus::Completed);
    assert_eq!(queue.get(unrelated).await.unwrap().status, TaskStatus::Pending);

    // The worker of the cancelled root finds its lease gone.
    let err = queue.complete(root, &running[0].token, json!(null)).await.unwrap_err();
    assert!(lease_reason(err).contains("cancelled"));

    for id in [done, root] {
        let err = queue.cancel(id).await.unwrap_err();
        assert_eq!(err.code(), "E4006");
        assert!(matches!(err, Error::InvalidTransition { ref to, .. } if to == "cancelled"), "{err:?}");
    }
    assert_eq!(queue.cancel(999_999).await.unwrap_err().code(), "E4002");
}

#[tokio::test]
async fn complete_needs_the_current_token_of_an_unexpired_lease() {
    let dir = tempfile::tempdir().unwrap();
    let (_pool, queue) = queue_with(dir.path(), QueueConfig::default()).await;
    let id = queue.enqueue(NewTask::new("job", json!({}))).await.unwrap().id;
    let slow = queue
        .claim(Claimer { queue: "default", worker: "slow" }, 1, Duration::from_millis(100))
        .await
        .unwrap()
        .remove(0);

    let err = queue.complete(id, &"not-the-token".into(), json!(1)).await.unwrap_err();
    assert_eq!(err.code(), "E4007");
    assert!(lease_reason(err).contains("token does not match"));

    tokio::time::sleep(Duration::from_millis(150)).await;
    let err = queue.complete(id, &slow.token, json!(1)).await.unwrap_err();
    assert!(lease_reason(err).contains("expired"));
    let err = queue.heartbeat(id, &slow.token, LEASE).await.unwrap_err();
    assert!(lease_reason(err).contains("expired"));

    // Another worker's claim takes the expired task back; the stalled worker's token
    // is dead for good, the new one works.
    let fast = queue.claim(Claimer { queue: "default", worker: "fast" }, 1, LEASE).await.unwrap().remove(0);
    assert_eq!(fast.task.id, id);
    assert_eq!(fast.task.attempts, 2);
    assert_ne!(fast.token, slow.token);
    assert_eq!(fast.task.last_error.as_deref(), Some("lease of slow expired"));
    let err = queue.fail(id, &slow.token, "late").await.unwrap_err();
    assert!(lease_reason(err).contains("token does not match"));
    queue.complete(id, &fast.token, json!({"by": "fast"})).await.unwrap();

    let task = queue.get(id).await.unwrap();
    assert_eq!(task.status, TaskStatus::Completed);
    assert_eq!(task.result, Some(json!({"by": "fast"})));
    assert_eq!((task.lease_token, task.lease_expires_at), (None, None));
    let err = queue.complete(id, &fast.token, json!(2)).await.unwrap_err();
    assert!(lease_reason(err).contains("completed, not running"));
    assert_eq!(queue.complete(424_242, &"x".into(), json!(1)).await.unwrap_err().code(), "E4002");
}

#[tokio::test]
async fn complete_many_completes_the_held_tasks_and_refuses_each_lost_one_alone() {
    let dir = tempfile::tempdir().unwrap();
    // batch_size 2: the five completions below take three writes.
    let (pool, queue) = queue_with(dir.path(), QueueConfig { batch_size: 2, ..QueueConfig::default() }).await;
    queue.enqueue_batch((0..4).map(|n| NewTask::new("job", json!(n))).collect()).await.unwrap();
    let claimed = queue.claim(Claimer { queue: "default", worker: "w" }, 4, LEASE).await.unwrap();
    assert_eq!(claimed.len(), 4);
    let writes_before = pool.metrics().writes;

    let mut done: Vec<Completion> =
        claimed.iter().map(|c| Completion::of(c, json!({"n": c.task.id}))).collect();
    done[1].token = "stale".into();
    done.push(Completion { id: 424_242, token: "x".into(), result: json!(null) });
    let answers = queue.complete_many(done).await.unwrap();
    assert_eq!(pool.metrics().writes - writes_before, 3);

    assert_eq!(answers.len(), 5, "one answer per completion, in order");
    assert!(answers[0].is_ok() && answers[2].is_ok() && answers[3].is_ok(), "{answers:?}");
    let lost = answers[1].clone().unwrap_err();
    assert!(lease_reason(lost).contains("token does not match"));
    assert_eq!(answers[4].as_ref().unwrap_err().code(), "E4002");
    for (i, c) in claimed.iter().enumerate() {
        let task = queue.get(c.task.id).await.unwrap();
        if i == 1 {
            // The refused task is untouched: still running under its real lease.
            assert_eq!(
                (task.status, task.lease_token.as_deref()),
                (TaskStatus::Running, Some(c.token.as_str()))
            );
        } else {
            assert_eq!((task.status, task.result), (TaskStatus::Completed, Some(json!({"n": c.task.id}))));
        }
    }
    // Completing again is refused for every task; nothing at all is a no-op.
    let again = queue.complete_many(vec![Completion::of(&claimed[0], json!(2))]).await.unwrap();
    assert!(lease_reason(again[0].clone().unwrap_err()).contains("completed, not running"));
    assert!(queue.complete_many(Vec::new()).await.unwrap().is_empty());
}

#[tokio::test]
async fn heartbeat_extends_a_held_lease() {
    let dir = tempfile::tempdir().unwrap();
    let (_pool, queue) = queue_with(dir.path(), QueueConfig::default()).await;
    queue.enqueue(NewTask::new("job", json!({}))).await.unwrap();
    // A first lease of 3 s: the heartbeats below must come before it ends even on a
    // slow machine, and the test then waits it out.
    let held = queue
        .claim(Claimer { queue: "default", worker: "w" }, 1, Duration::from_secs(3))
        .await
        .unwrap()
        .remove(0);
    let first = to_millis(held.task.lease_expires_at.unwrap());
    // Longer leases each time, so every heartbeat moves the expiry on however fast the
    // calls follow each other.
    let mut expires = first;
    for secs in [60, 90, 120] {
        let extended =
            to_millis(queue.heartbeat(held.task.id, &held.token, Duration::from_secs(secs)).await.unwrap());
        assert!(extended > expires, "each heartbeat moves the expiry on");
        expires = extended;
    }
    // Past the end of the first lease, the task is still held.
    while now_ms() <= first {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let other = queue.claim(Claimer { queue: "default", worker: "other" }, 1, LEASE).await.unwrap();
    assert!(other.is_empty(), "the lease is still held after its first end");
    assert!(now_ms() < expires, "the extended lease (2 minutes) had not run out either");
    queue.complete(held.task.id, &held.token, json!(null)).await.unwrap();
}

#[tokio::test]
async fn fail_schedules_a_backoff_and_the_last_attempt_makes_the_task_dead() {
    let dir = tempfile::tempdir().unwrap();
    let config = QueueConfig { retry_base_ms: 400, retry_max_ms: 600, ..QueueConfig::default() };
    let (_pool, queue) = queue_with(dir.path(), config).await;
    let id = queue.enqueue(NewTask::new("flaky", json!({})).max_attempts(3)).await.unwrap().id;

    // Attempt n waits base * 2^(n-1), at most max, with equal jitter: [full/2, full].
    for (attempt, full) in [(1u32, 400i64), (2, 600)] {
        let held = queue.claim(Claimer { queue: "default", worker: "w" }, 1, LEASE).await.unwrap().remove(0);
        assert_eq!(held.task.attempts, attempt);
        let before = now_ms();
        let task = queue.fail(id, &held.token, &format!("boom {attempt}")).await.unwrap();
        let after = now_ms();
        assert_eq!(task.status, TaskStatus::Pending);
        assert_eq!(task.last_error.as_deref(), Some(format!("boom {attempt}").as_str()));
        let run_after = to_millis(task.run_after);
        assert!(
            run_after >= before + full / 2 && run_after <= after + full,
            "attempt {attempt}: run_after {} not in [{}, {}]",
            run_after,
            before + full / 2,
            after + full
        );
        assert_nothing_claimed_before_it_is_due(&queue).await;
        tokio::time::sleep(Duration::from_millis((run_after - now_ms()).max(0) as u64 + 5)).await;
    }
    let held = queue.claim(Claimer { queue: "default", worker: "w" }, 1, LEASE).await.unwrap().remove(0);
    assert_eq!(held.task.attempts, 3);
    let task = queue.fail(id, &held.token, "boom 3").await.unwrap();
    assert_eq!(task.status, TaskStatus::Dead);
    assert!(task.completed_at.is_some());
    assert_eq!(task.last_error.as_deref(), Some("boom 3"));
    assert!(queue.claim(Claimer { queue: "default", worker: "w" }, 1, LEASE).await.unwrap().is_empty());
}

#[tokio::test]
async fn an_expired_lease_goes_back_to_pending_or_dead_when_no_attempts_are_left() {
    let dir = tempfile::tempdir().unwrap();
    let (_pool, queue) = queue_with(dir.path(), QueueConfig::default()).await;
    let once = queue.enqueue(NewTask::new("once", json!({})).max_attempts(1).priority(9)).await.unwrap().id;
    let twice = queue.enqueue(NewTask::new("twice", json!({})).max_attempts(2)).await.unwrap().id;
    assert_eq!(
        queue
            .claim(Claimer { queue: "default", worker: "crashed" }, 2, Duration::from_millis(30))
            .await
            .unwrap()
            .len(),
        2
    );
    tokio::time::sleep(Duration::from_millis(60)).await;

    assert_eq!(queue.expire_leases().await.unwrap(), 2);
    let dead = queue.get(once).await.unwrap();
    assert_eq!(dead.status, TaskStatus::Dead);
    assert_eq!(dead.last_error.as_deref(), Some("lease of crashed expired"));
    assert_eq!(queue.get(twice).await.unwrap().status, TaskStatus::Pending);
    let again = queue.claim(Claimer { queue: "default", worker: "w" }, 2, LEASE).await.unwrap();
    assert_eq!(again.iter().map(|c| c.task.id).collect::<Vec<_>>(), vec![twice]);
}

#[tokio::test]
async fn retry_revives_dead_failed_and_cancelled_tasks_and_purge_dead_deletes_only_dead() {
    let dir = tempfile::tempdir().unwrap();
    let (pool, queue) = queue_with(dir.path(), QueueConfig::default()).await;
    let mut dead = Vec::new();
    for queue_name in ["a", "a", "b"] {
        let id =
            queue.enqueue(NewTask::new("k", json!({})).queue(queue_name).max_attempts(1)).await.unwrap().id;
        let held = queue.claim(Claimer { queue: queue_name, worker: "w" }, 1, LEASE).await.unwrap().remove(0);
        assert_eq!(queue.fail(id, &held.token, "boom").await.unwrap().status, TaskStatus::Dead);
        dead.push(id);
    }
    let failed = queue.enqueue(NewTask::new("k", json!({})).queue("c").dedup_key("c1")).await.unwrap().id;
    let held = queue.claim(Claimer { queue: "c", worker: "w" }, 1, LEASE).await.unwrap().remove(0);
    let task = queue.fail_permanently(failed, &held.token, "bad input").await.unwrap();
    assert_eq!(task.status, TaskStatus::Failed);
    let dup = queue.enqueue(NewTask::new("k", json!({})).queue("c").dedup_key("c1")).await.unwrap();
    assert_eq!((dup.id, dup.deduplicated), (failed, true), "a failed task keeps its dedup key");
    let cancelled = queue.enqueue(NewTask::new("k", json!({})).queue("c")).await.unwrap().id;
    queue.cancel(cancelled).await.unwrap();
    let pending = queue.enqueue(NewTask::new("k", json!({})).queue("c")).await.unwrap().id;

    for id in [dead[0], failed, cancelled] {
        let task = queue.retry(id).await.unwrap();
        assert_eq!(task.status, TaskStatus::Pending);
        assert_eq!(task.attempts, 0);
        assert!(to_millis(task.run_after) <= now_ms());
        assert_eq!((task.completed_at, task.lease_token), (None, None));
    }
    let err = queue.retry(pending).await.unwrap_err();
    assert_eq!(err.code(), "E4006");
    assert_eq!(queue.retry(987_654).await.unwrap_err().code(), "E4002");

    let before = task_count(&pool).await;
    assert_eq!(queue.purge_dead(Some("b")).await.unwrap(), 1);
    assert_eq!(queue.purge_dead(None).await.unwrap(), 1);
    assert_eq!(queue.purge_dead(None).await.unwrap(), 0);
    assert_eq!(task_count(&pool).await, before - 2);
    assert_eq!(queue.get(dead[0]).await.unwrap().status, TaskStatus::Pending);
    assert_eq!(queue.get(dead[1]).await.unwrap_err().code(), "E4002");
}

#[tokio::test]
async fn purge_dead_deletes_in_chunks_until_none_are_left() {
    let dir = tempfile::tempdir().unwrap();
    let config = QueueConfig { batch_size: 4, ..QueueConfig::default() };
    let (pool, queue) = queue_with(dir.path(), config).await;
    let tasks = (0..10).map(|i| NewTask::new("k", json!(i)).max_attempts(1)).collect();
    queue.enqueue_batch(tasks).await.unwrap();
    let held =
        queue.claim(Claimer { queue: "default", worker: "w" }, 10, Duration::from_millis(1)).await.unwrap();
    assert_eq!(held.len(), 10);
    tokio::time::sleep(Duration::from_millis(5)).await;
    assert_eq!(queue.expire_leases().await.unwrap(), 10);
    assert_eq!(queue.purge_dead(None).await.unwrap(), 10);
    assert_eq!(task_count(&pool).await, 0);
}

#[tokio::test]
async fn enqueue_batch_answers_in_order_across_chunks() {
    let dir = tempfile::tempdir().unwrap();
    let config = QueueConfig { batch_size: 7, ..QueueConfig::default() };
    let (pool, queue) = queue_with(dir.path(), config).await;
    let tasks = (0..30).map(|i| NewTask::new("k", json!({ "n": i }))).collect();
    let answers = queue.enqueue_batch(tasks).await.unwrap();
    assert_eq!(answers.len(), 30);
    for (i, answer) in answers.iter().enumerate() {
        assert_eq!(queue.get(answer.id).await.unwrap().payload, json!({ "n": i }));
    }
    assert!(answers.windows(2).all(|w| w[0].id < w[1].id));
    assert_eq!(task_count(&pool).await, 30);
}

/// Twelve tasks in chunks of 4, the seventh naming an unknown parent.
fn tasks_with_a_bad_seventh() -> Vec<NewTask> {
    (0..12)
        .map(|i| {
            let task = NewTask::new("k", json!({ "n": i }));
            if i == 6 { task.parent(4_040) } else { task }
        })
        .collect()
}

/// `enqueue_batch` is all or nothing across its chunks: one refused task leaves no
/// task of the batch behind.
#[tokio::test]
async fn enqueue_batch_is_all_or_nothing_across_chunks() {
    let dir = tempfile::tempdir().unwrap();
    let config = QueueConfig { batch_size: 4, ..QueueConfig::default() };
    let (pool, queue) = queue_with(dir.path(), config).await;
    let err = queue.enqueue_batch(tasks_with_a_bad_seventh()).await.unwrap_err();
    assert_eq!(err.code(), "E4001");
    assert_eq!(err.constraint(), Some(ConstraintKind::ForeignKey));
    assert_eq!(task_count(&pool).await, 0, "no chunk of a refused batch is in");
    // Without the bad task, all twelve go in, in order, across three chunks.
    let good: Vec<_> = (0..12).map(|i| NewTask::new("k", json!({ "n": i }))).collect();
    let answers = queue.enqueue_batch(good).await.unwrap();
    assert_eq!(answers.len(), 12);
    assert_each_answer_is_its_task(&queue, &answers).await;
}

/// `enqueue_chunked` commits chunk by chunk: a refused chunk is rolled back whole, the
/// chunks before it stay and are named in the answer, and no chunk after it is
/// written, although the next one was made ready meanwhile.
#[tokio::test]
async fn enqueue_chunked_stops_at_a_refused_chunk_and_names_the_ones_committed() {
    let dir = tempfile::tempdir().unwrap();
    let config = QueueConfig { batch_size: 4, ..QueueConfig::default() };
    let (pool, queue) = queue_with(dir.path(), config).await;
    let outcome = queue.enqueue_chunked(tasks_with_a_bad_seventh()).await.unwrap();
    let err = outcome.refused.as_ref().expect("chunk 2 is refused");
    assert_eq!(err.code(), "E4001");
    assert_eq!(err.constraint(), Some(ConstraintKind::ForeignKey));
    assert_eq!(outcome.not_written, 8);
    assert_eq!(outcome.enqueued.len(), 4, "the first chunk's answers come back");
    assert_each_answer_is_its_task(&queue, &outcome.enqueued).await;
    assert_eq!(task_count(&pool).await, 4, "only the first chunk is in");
    let kept = queue.list(None, None, PageRequest::first(100)).await.unwrap();
    let ids: Vec<i64> = kept.items.iter().map(|task| task.id).collect();
    assert_eq!(ids, outcome.enqueued.iter().map(|e| e.id).collect::<Vec<_>>());
    assert_eq!(outcome.into_result().unwrap_err().code(), "E4001");
    // The queue goes on working, and a clean import commits everything.
    assert!(!queue.enqueue(NewTask::new("k", json!({}))).await.unwrap().deduplicated);
    let clean = (0..9).map(|i| NewTask::new("k", json!({ "n": i }))).collect();
    let outcome = queue.enqueue_chunked(clean).await.unwrap();
    assert!(outcome.refused.is_none());
    assert_eq!(outcome.not_written, 0);
    assert_each_answer_is_its_task(&queue, &outcome.into_result().unwrap()).await;
}

/// Every answer of a batch names the task that was enqueued at its place.
async fn assert_each_answer_is_its_task(queue: &Queue, answers: &[strata_repo::Enqueued]) {
    for (i, answer) in answers.iter().enumerate() {
        if !answer.deduplicated {
            assert_eq!(queue.get(answer.id).await.unwrap().payload, json!({ "n": i }), "answer {i}");
        }
    }
}

#[tokio::test]
async fn grouped_inserts_answer_each_task_and_dedup_keys_go_one_by_one() {
    let dir = tempfile::tempdir().unwrap();
    let (pool, queue) = queue_with(dir.path(), QueueConfig::default()).await;
    // 0..30 and 31..60 hold runs long enough for grouped inserts; 30 and 60 share a key.
    let tasks = (0..80)
        .map(|i| {
            let task = NewTask::new("k", json!({ "n": i }));
            if i == 30 || i == 60 { task.dedup_key("shared") } else { task }
        })
        .collect();
    let answers = queue.enqueue_batch(tasks).await.unwrap();
    assert_eq!(answers.len(), 80);
    assert_each_answer_is_its_task(&queue, &answers).await;
    assert!(answers[60].deduplicated, "the key is live: the second task answers the first");
    assert_eq!(answers[60].id, answers[30].id);
    let new: Vec<i64> = answers.iter().filter(|a| !a.deduplicated).map(|a| a.id).collect();
    assert!(new.windows(2).all(|w| w[0] < w[1]));
    assert_eq!(task_count(&pool).await, 79);
}

#[tokio::test]
async fn near_the_largest_id_every_task_goes_in_one_by_one_and_is_answered() {
    let dir = tempfile::tempdir().unwrap();
    let (pool, queue) = queue_with(dir.path(), QueueConfig::default()).await;
    // A task near i64::MAX: SQLite then picks ids at random once it reaches the end,
    // so the ids of a grouped insert could not be known without reading them back.
    pool.write(|c| {
        let now = now_ms();
        Ok(c.execute(
            "INSERT INTO tasks (id, kind, payload, run_after, submitted_at) VALUES (?1, 'k', '{}', ?2, ?2)",
            rusqlite::params![i64::MAX - 40, now],
        )?)
    })
    .await
    .unwrap();
    let tasks = (0..60).map(|i| NewTask::new("k", json!({ "n": i }))).collect();
    let answers = queue.enqueue_batch(tasks).await.unwrap();
    assert_eq!(answers.len(), 60);
    assert_each_answer_is_its_task(&queue, &answers).await;
    assert!(answers.iter().any(|a| a.id < i64::MAX - 40), "some ids were picked at random");
    assert_eq!(task_count(&pool).await, 61);
}

#[tokio::test]
async fn list_pages_by_id_and_filters_by_queue_and_status() {
    let dir = tempfile::tempdir().unwrap();
    let (_pool, queue) = queue_with(dir.path(), QueueConfig::default()).await;
    let mut ids = Vec::new();
    for i in 0..7 {
        let name = if i % 2 == 0 { "even" } else { "odd" };
        ids.push(queue.enqueue(NewTask::new("k", json!(i)).queue(name)).await.unwrap().id);
    }
    queue.claim(Claimer { queue: "even", worker: "w" }, 1, LEASE).await.unwrap();

    let mut seen = Vec::new();
    let mut page = PageRequest::first(3);
    loop {
        let got = queue.list(None, None, page).await.unwrap();
        assert!(got.items.len() <= 3);
        seen.extend(got.items.iter().map(|t| t.id));
        match got.next {
            Some(next) => page = PageRequest::after(next, 3),
            None => break,
        }
    }
    assert_eq!(seen, ids);

    let even = queue.list(Some("even"), None, PageRequest::first(100)).await.unwrap();
    assert_eq!(even.items.len(), 4);
    assert_eq!(even.next, None);
    let even_pending =
        queue.list(Some("even"), Some(TaskStatus::Pending), PageRequest::first(100)).await.unwrap();
    assert_eq!(even_pending.items.len(), 3);
    let running = queue.list(None, Some(TaskStatus::Running), PageRequest::first(100)).await.unwrap();
    assert_eq!(running.items.iter().map(|t| t.id).collect::<Vec<_>>(), vec![ids[0]]);
    assert!(
        queue.list(None, Some(TaskStatus::Dead), PageRequest::first(100)).await.unwrap().items.is_empty()
    );
    assert_eq!(queue.list(None, None, PageRequest::first(0)).await.unwrap_err().code(), "E6001");
}

#[tokio::test]
async fn stats_count_every_state_and_the_tasks_ready_now() {
    let dir = tempfile::tempdir().unwrap();
    let (_pool, queue) = queue_with(dir.path(), QueueConfig::default()).await;
    for _ in 0..3 {
        queue.enqueue(NewTask::new("k", json!({}))).await.unwrap();
    }
    queue.enqueue(NewTask::new("k", json!({})).delay(Duration::from_secs(60))).await.unwrap();
    queue.enqueue(NewTask::new("k", json!({})).queue("b")).await.unwrap();
    let held = queue.claim(Claimer { queue: "default", worker: "w" }, 2, LEASE).await.unwrap();
    queue.complete(held[0].task.id, &held[0].token, json!(null)).await.unwrap();

    let stats = queue.stats().await.unwrap();
    assert_eq!(stats.len(), 2);
    let default = &stats[1];
    assert_eq!(stats[0].queue, "b");
    assert_eq!((stats[0].pending, stats[0].ready_now), (1, 1));
    assert_eq!(default.queue, "default");
    assert_eq!(
        (default.pending, default.running, default.completed, default.dead, default.ready_now),
        (2, 1, 1, 0, 1)
    );
    let json = serde_json::to_value(&stats).unwrap();
    assert_eq!(json[1]["ready_now"], 1);
}

#[tokio::test]
async fn enqueue_wakes_a_waiting_next_long_before_the_poll_interval() {
    let dir = tempfile::tempdir().unwrap();
    let config = QueueConfig { poll_interval_ms: 10_000, ..QueueConfig::default() };
    let (_pool, queue) = queue_with(dir.path(), config).await;
    let waiting = {
        let queue = queue.clone();
        tokio::spawn(async move {
            let claimed = queue.next(Claimer { queue: "default", worker: "w" }, 1, LEASE).await.unwrap();
            (claimed, Instant::now())
        })
    };
    // Let the worker find nothing and start waiting.
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(!waiting.is_finished());
    let enqueued_at = Instant::now();
    let id = queue.enqueue(NewTask::new("wake", json!({}))).await.unwrap().id;
    let (claimed, woke_at) = tokio::time::timeout(Duration::from_secs(20), waiting).await.unwrap().unwrap();
    assert_eq!(claimed[0].task.id, id);
    let latency = woke_at.duration_since(enqueued_at);
    assert!(latency < Duration::from_secs(5), "woke after {latency:?}, the poll interval is 10 s");
}

#[tokio::test]
async fn next_waits_for_a_delayed_task_without_waiting_for_the_poll_interval() {
    let dir = tempfile::tempdir().unwrap();
    let config = QueueConfig { poll_interval_ms: 10_000, ..QueueConfig::default() };
    let (_pool, queue) = queue_with(dir.path(), config).await;
    let started = Instant::now();
    let id =
        queue.enqueue(NewTask::new("soon", json!({})).delay(Duration::from_millis(200))).await.unwrap().id;
    let claimed = tokio::time::timeout(
        Duration::from_secs(20),
        queue.next(Claimer { queue: "default", worker: "w" }, 1, LEASE),
    )
    .await
    .unwrap()
    .unwrap();
    assert_eq!(claimed[0].task.id, id);
    assert!(now_ms() >= to_millis(claimed[0].task.run_after), "not claimed before it was due");
    // Woken by the due time, not by the 10 s poll interval.
    assert!(started.elapsed() < Duration::from_secs(9), "{:?}", started.elapsed());
}

#[tokio::test]
async fn next_within_gives_up_empty_after_its_wait_and_claims_what_comes_in_time() {
    let dir = tempfile::tempdir().unwrap();
    let config = QueueConfig { poll_interval_ms: 10_000, ..QueueConfig::default() };
    let (_pool, queue) = queue_with(dir.path(), config).await;
    let started = Instant::now();
    let none = queue
        .next_within(Claimer { queue: "default", worker: "w" }, 1, LEASE, Duration::from_millis(100))
        .await
        .unwrap();
    assert!(none.is_empty());
    let waited = started.elapsed();
    assert!(waited >= Duration::from_millis(100) && waited < Duration::from_secs(9), "{waited:?}");

    // A task enqueued during the wait wakes it: claimed, not given up on.
    let waiting = {
        let queue = queue.clone();
        tokio::spawn(async move {
            queue
                .next_within(Claimer { queue: "default", worker: "w" }, 1, LEASE, Duration::from_secs(20))
                .await
        })
    };
    tokio::time::sleep(Duration::from_millis(20)).await;
    let id = queue.enqueue(NewTask::new("now", json!({}))).await.unwrap().id;
    let claimed = waiting.await.unwrap().unwrap();
    assert_eq!(claimed.iter().map(|c| c.task.id).collect::<Vec<_>>(), vec![id]);

    // Bad arguments are refused as by claim.
    let err = queue
        .next_within(Claimer { queue: "default", worker: "" }, 1, LEASE, Duration::from_millis(1))
        .await
        .unwrap_err();
    assert_eq!(err.code(), "E6001");
}

#[tokio::test]
async fn bad_input_is_refused_and_leaves_the_database_unchanged() {
    let dir = tempfile::tempdir().unwrap();
    let (pool, queue) = queue_with(dir.path(), QueueConfig::default()).await;
    queue.enqueue(NewTask::new("ok", json!({}))).await.unwrap();
    let before = task_count(&pool).await;

    let err = queue.enqueue(NewTask::new("k", json!({})).priority(11)).await.unwrap_err();
    assert_eq!(err.code(), "E6001");
    assert!(matches!(&err, Error::InvalidInput { field, .. } if field == "priority"), "{err:?}");
    for bad in [
        NewTask::new("", json!({})),
        NewTask::new("k", json!({})).queue(""),
        NewTask::new("k", json!({})).max_attempts(0),
    ] {
        assert_eq!(queue.enqueue(bad).await.unwrap_err().code(), "E6001");
    }
    // A batch with one bad task writes nothing.
    let batch = vec![NewTask::new("k", json!({})), NewTask::new("k", json!({})).priority(200)];
    assert_eq!(queue.enqueue_batch(batch).await.unwrap_err().code(), "E6001");

    // An unknown session or parent: the foreign keys refuse the row.
    for bad in [NewTask::new("k", json!({})).session(4_040), NewTask::new("k", json!({})).parent(4_040)] {
        let err = queue.enqueue(bad).await.unwrap_err();
        assert_eq!(err.code(), "E4001");
        assert_eq!(err.constraint(), Some(ConstraintKind::ForeignKey));
        assert!(!err.hint().is_empty());
    }

    // A payload that is not JSON cannot be built through NewTask (it holds a Value), so
    // the queue's own insert statement is run with one: CHECK (json_valid) refuses it.
    let insert = strata_repo::statements()
        .into_iter()
        .find(|(name, _)| *name == "queue.insert_task")
        .map(|(_, sql)| sql)
        .unwrap();
    let err = pool
        .write(move |conn| {
            let mut stmt = conn.prepare(insert)?;
            let now = now_ms();
            let id: i64 = stmt.query_row(
                rusqlite::params![
                    "default",
                    "k",
                    "{not json",
                    5,
                    3,
                    now,
                    None::<String>,
                    None::<i64>,
                    None::<i64>,
                    now
                ],
                |r| r.get(0),
            )?;
            Ok(id)
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), "E4001");
    assert_eq!(err.constraint(), Some(ConstraintKind::Check));
    assert!(!err.hint().is_empty());

    assert_eq!(task_count(&pool).await, before);
}

#[tokio::test]
async fn claim_refuses_bad_arguments() {
    let dir = tempfile::tempdir().unwrap();
    let (_pool, queue) = queue_with(dir.path(), QueueConfig::default()).await;
    assert_eq!(
        queue.claim(Claimer { queue: "default", worker: "w" }, 0, LEASE).await.unwrap_err().code(),
        "E6001"
    );
    assert_eq!(
        queue.claim(Claimer { queue: "default", worker: "w" }, 1_001, LEASE).await.unwrap_err().code(),
        "E6001"
    );
    assert_eq!(
        queue.claim(Claimer { queue: "default", worker: "" }, 1, LEASE).await.unwrap_err().code(),
        "E6001"
    );
    assert_eq!(
        queue.claim(Claimer { queue: "default", worker: "w" }, 1, Duration::ZERO).await.unwrap_err().code(),
        "E6001"
    );
    let bad = QueueConfig { batch_size: 0, ..QueueConfig::default() };
    assert_eq!(Queue::new(queue_pool(&queue), bad).unwrap_err().code(), "E6001");
}

fn queue_pool(queue: &Queue) -> Pool {
    queue.pool().clone()
}

#[test]
fn task_status_round_trips_through_its_text() {
    for status in TaskStatus::ALL {
        assert_eq!(status.as_str().parse::<TaskStatus>().unwrap(), *status);
        assert_eq!(serde_json::to_value(status).unwrap(), json!(status.as_str()));
    }
    assert_eq!("done".parse::<TaskStatus>().unwrap_err().code(), "E6001");
}

#[test]
fn queue_config_reads_a_partial_table_and_keeps_the_defaults() {
    let config: QueueConfig = serde_json::from_value(json!({"poll_interval_ms": 250})).unwrap();
    assert_eq!(config.poll_interval_ms, 250);
    assert_eq!(config.lease_ms, 30_000);
    assert_eq!(config.max_attempts, 3);
    assert_eq!(config.batch_size, 500);
    assert_eq!((config.retry_base_ms, config.retry_max_ms), (1_000, 3_600_000));
    assert!(serde_json::from_value::<QueueConfig>(json!({"poll": 1})).is_err());
}

#[tokio::test]
async fn queue_operations_log_their_name_table_and_outcome() {
    let dir = tempfile::tempdir().unwrap();
    let (_pool, queue) = queue_with(dir.path(), QueueConfig::default()).await;
    let lines = crate::op_spans::logged(async {
        queue.enqueue(NewTask::new("k", json!(1))).await.unwrap();
        queue.enqueue_batch(vec![NewTask::new("k", json!(2)), NewTask::new("k", json!(3))]).await.unwrap();
        let claimed = queue.claim(Claimer { queue: "default", worker: "w" }, 10, LEASE).await.unwrap();
        assert_eq!(claimed.len(), 3);
        queue.complete(claimed[0].task.id, &claimed[0].token, json!(null)).await.unwrap();
        let lost = queue.complete(claimed[0].task.id, &claimed[0].token, json!(null)).await.unwrap_err();
        assert_eq!(lost.code(), "E4007");
    })
    .await;
    crate::op_spans::assert_op(&lines, "queue.enqueue", "tasks", "ok", "rows=1");
    crate::op_spans::assert_op(&lines, "queue.enqueue_batch", "tasks", "ok", "rows=2");
    crate::op_spans::assert_op(&lines, "queue.claim", "tasks", "ok", "rows=3");
    crate::op_spans::assert_op(&lines, "queue.complete", "tasks", "ok", "rows=0");
    crate::op_spans::assert_op(&lines, "queue.complete", "tasks", "error", "code=\"E4007\"");
}

#[tokio::test]
async fn task_times_are_utc_date_times_and_serialize_as_rfc_3339() {
    let dir = tempfile::tempdir().unwrap();
    let (_pool, queue) = queue_with(dir.path(), QueueConfig::default()).await;
    let at = time::macros::datetime!(2030-01-02 03:04:05.006 UTC);
    let id = queue.enqueue(NewTask::new("later", json!({})).run_after(at)).await.unwrap().id;
    let task = queue.get(id).await.unwrap();
    assert_eq!(task.run_after, at, "stored as milliseconds, read back to the millisecond");
    assert_eq!((task.started_at, task.completed_at, task.lease_expires_at), (None, None, None));
    let json = serde_json::to_value(&task).unwrap();
    assert_eq!(json["run_after"], "2030-01-02T03:04:05.006Z");
    assert!(json["submitted_at"].as_str().unwrap().ends_with('Z'), "{json}");
    assert_eq!(json["started_at"], serde_json::Value::Null);
    let back: strata_repo::Task = serde_json::from_value(json).unwrap();
    assert_eq!(back, task);

    // A delay is a Duration; a heartbeat answers the new expiry as a date-time.
    let delayed = NewTask::new("soon", json!({})).delay(Duration::from_millis(1));
    assert_eq!(delayed.delay, Some(Duration::from_millis(1)));
    queue.enqueue(delayed).await.unwrap();
    let held = queue
        .next_within(Claimer { queue: "default", worker: "w" }, 1, LEASE, Duration::from_secs(30))
        .await
        .unwrap()
        .remove(0);
    let expires = queue.heartbeat(held.task.id, &held.token, Duration::from_secs(60)).await.unwrap();
    assert!(expires > held.task.lease_expires_at.unwrap() && expires > held.task.started_at.unwrap());
}
