//! The queue's safety under concurrency, as a property: eight workers claim, fail at
//! random and stall past their lease at random; whatever happens, no task is held by
//! two live leases at once, no completed task is claimed again, and every task ends
//! completed or dead.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use proptest::prelude::*;
use serde_json::json;
use strata_core::Error;
use strata_repo::clock::to_millis;
use strata_repo::{Claimer, LeaseToken, NewTask, Queue, QueueConfig, TaskStatus};

const WORKERS: u64 = 8;

/// What the workers saw; times are the database's (ms).
#[derive(Debug, Clone)]
enum Event {
    Claimed {
        task: i64,
        token: LeaseToken,
        attempt: u32,
        started_at: i64,
        expires_at: i64,
    },
    Failed {
        task: i64,
        token: LeaseToken,
    },
    Completed {
        task: i64,
        token: LeaseToken,
    },
    /// A worker that stalled past its lease could still complete: must never happen.
    StalledCompleted {
        task: i64,
    },
}

#[derive(Debug, Clone, Copy)]
struct Scenario {
    tasks: usize,
    fail_percent: u32,
    stall_percent: u32,
    seed: u64,
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 12, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn no_task_is_held_by_two_live_leases_and_every_task_ends_completed_or_dead(
        tasks in 10usize..40,
        fail_percent in 0u32..35,
        stall_percent in 0u32..60,
        seed in any::<u64>(),
    ) {
        let scenario = Scenario { tasks, fail_percent, stall_percent, seed };
        let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
        runtime.block_on(run(scenario));
    }
}

async fn run(scenario: Scenario) {
    let dir = tempfile::tempdir().unwrap();
    let pool = crate::migrated(dir.path()).await;
    let config =
        QueueConfig { poll_interval_ms: 10, retry_base_ms: 1, retry_max_ms: 5, ..QueueConfig::default() };
    let queue = Queue::new(pool.clone(), config).unwrap();
    let tasks = (0..scenario.tasks).map(|i| NewTask::new("job", json!({ "n": i })).max_attempts(4)).collect();
    let ids: Vec<i64> = queue.enqueue_batch(tasks).await.unwrap().iter().map(|e| e.id).collect();

    let events: Arc<Mutex<Vec<Event>>> = Arc::default();
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let mut workers = Vec::new();
    for w in 0..WORKERS {
        let queue = queue.clone();
        let events = Arc::clone(&events);
        workers.push(tokio::spawn(worker(
            queue,
            format!("w{w}"),
            scenario,
            scenario.seed.wrapping_add(w),
            events,
            stopped.clone(),
        )));
    }

    // Done when nothing is pending or running; completed and dead are final here (no
    // operator retries), so the workers can then be stopped without losing a claim.
    // They stop only while waiting for work, so each records what it did first.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let stats = queue.stats().await.unwrap();
        if stats.iter().all(|s| s.pending == 0 && s.running == 0) {
            break;
        }
        assert!(Instant::now() < deadline, "the workers did not finish: {stats:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    stop.send(true).unwrap();
    for worker in workers {
        worker.await.expect("a worker failed");
    }

    let events = events.lock().unwrap().clone();
    check(&queue, &ids, &events).await;
    pool.close().await.unwrap();
}

async fn worker(
    queue: Queue,
    name: String,
    scenario: Scenario,
    seed: u64,
    events: Arc<Mutex<Vec<Event>>>,
    mut stopped: tokio::sync::watch::Receiver<bool>,
) {
    let mut rng = fastrand::Rng::with_seed(seed);
    let record = |event: Event| events.lock().unwrap().push(event);
    loop {
        let lease = Duration::from_millis(rng.u64(20..=50));
        // Stopped only here, between rounds; the test stops the workers once nothing
        // is left, so a claim dropped in flight could only have come back empty.
        let claimed = tokio::select! {
            claimed = queue.next(Claimer { queue: "default", worker: &name }, rng.usize(1..=3), lease) => claimed.unwrap(),
            _ = stopped.wait_for(|stop| *stop) => return,
        };
        for held in &claimed {
            let task = &held.task;
            record(Event::Claimed {
                task: task.id,
                token: held.token.clone(),
                attempt: task.attempts,
                started_at: to_millis(task.started_at.unwrap()),
                expires_at: to_millis(task.lease_expires_at.unwrap()),
            });
        }
        for held in claimed {
            let id = held.task.id;
            let roll = rng.u32(0..100);
            if roll < scenario.stall_percent {
                // Just past the lease (racing the reclaim) or well past it.
                tokio::time::sleep(lease + Duration::from_millis(rng.u64(1..=15))).await;
                match queue.complete(id, &held.token, json!({ "by": name })).await {
                    Ok(()) => record(Event::StalledCompleted { task: id }),
                    Err(err) => assert_lease_lost(err),
                }
            } else if roll < scenario.stall_percent + scenario.fail_percent {
                match queue.fail(id, &held.token, "random failure").await {
                    Ok(_) => record(Event::Failed { task: id, token: held.token }),
                    Err(err) => assert_lease_lost(err),
                }
            } else {
                tokio::time::sleep(Duration::from_millis(rng.u64(0..=3))).await;
                match queue.complete(id, &held.token, json!({ "by": name })).await {
                    Ok(()) => record(Event::Completed { task: id, token: held.token }),
                    // A loaded machine can make even a quick worker miss its lease.
                    Err(err) => assert_lease_lost(err),
                }
            }
        }
    }
}

fn assert_lease_lost(err: Error) {
    assert!(matches!(err, Error::LeaseLost { .. }), "expected E4007, got {err:?}");
}

async fn check(queue: &Queue, ids: &[i64], events: &[Event]) {
    let mut claims: HashMap<i64, Vec<(u32, i64, i64, &str)>> = HashMap::new();
    let mut completions: HashMap<i64, Vec<&str>> = HashMap::new();
    let mut failures: HashMap<i64, Vec<&str>> = HashMap::new();
    for event in events {
        match event {
            Event::Claimed { task, token, attempt, started_at, expires_at } => {
                claims.entry(*task).or_default().push((*attempt, *started_at, *expires_at, token.as_str()))
            }
            Event::Completed { task, token } => completions.entry(*task).or_default().push(token.as_str()),
            Event::Failed { task, token } => failures.entry(*task).or_default().push(token.as_str()),
            Event::StalledCompleted { task } => {
                panic!("task {task}: a worker completed it after its lease expired")
            }
        }
    }
    for &id in ids {
        let row = queue.get(id).await.unwrap();
        let mut held = claims.remove(&id).unwrap_or_default();
        held.sort_by_key(|claim| claim.0);
        assert_eq!(held.len() as u32, row.attempts, "task {id}: every claim was seen");
        for (i, claim) in held.iter().enumerate() {
            assert_eq!(claim.0, i as u32 + 1, "task {id}: attempts count claims one by one");
        }
        let failed = failures.get(&id).cloned().unwrap_or_default();
        // Two consecutive claims: the first ended by a fail, or its lease had expired
        // when the second began. Otherwise both leases were live at once.
        for pair in held.windows(2) {
            let (first, second) = (&pair[0], &pair[1]);
            assert!(
                failed.contains(&first.3) || second.1 >= first.2,
                "task {id}: claim {} began at {} while claim {} was live until {}",
                second.0,
                second.1,
                first.0,
                first.2
            );
        }
        let completed = completions.get(&id).cloned().unwrap_or_default();
        match row.status {
            TaskStatus::Completed => {
                assert_eq!(completed.len(), 1, "task {id}: completed exactly once");
                let last = held.last().unwrap();
                assert_eq!(
                    completed[0], last.3,
                    "task {id}: completed by its last claim; never claimed again"
                );
                let at = to_millis(row.completed_at.unwrap());
                assert!(at >= last.1 && at < last.2, "task {id}: completed under an unexpired lease");
            }
            TaskStatus::Dead => assert!(completed.is_empty(), "task {id}: dead but completed"),
            other => panic!("task {id} ended {other}, not completed or dead"),
        }
    }
}
