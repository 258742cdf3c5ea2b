//! A worker process killed with SIGKILL in the middle of its tasks loses nothing and
//! duplicates nothing: its leases expire, another worker finishes the tasks it held,
//! every task is completed exactly once, and the database file is intact.
//!
//! The test runs its own test binary again as the child worker (`STRATA_CRASH_CHILD`
//! names the database), so the child is a real process with its own connections.

#![cfg(unix)]

use std::collections::{BTreeSet, HashMap};
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::json;
use strata_core::Config;
use strata_pool::Pool;
use strata_repo::{Claimer, NewTask, PageRequest, Queue, QueueConfig, TaskStatus};

const CHILD_ENV: &str = "STRATA_CRASH_CHILD";
const TEST_NAME: &str = "crash::a_worker_process_killed_mid_task_loses_nothing_and_completes_each_task_once";
const TASKS: usize = 50;
/// Long enough that a stalled machine does not expire a lease while the child still
/// completes its tasks; the parent waits it out after the kill.
const CHILD_LEASE: Duration = Duration::from_secs(3);

#[test]
fn a_worker_process_killed_mid_task_loses_nothing_and_completes_each_task_once() {
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    match std::env::var_os(CHILD_ENV) {
        Some(path) => runtime.block_on(child(std::path::PathBuf::from(path))),
        None => runtime.block_on(parent()),
    }
}

/// The child worker: one round of five tasks completed, then five more claimed of
/// which two are completed, then it waits to be killed holding three.
async fn child(path: std::path::PathBuf) {
    let pool = Pool::open(&Config::for_path(path)).await.unwrap();
    let queue = Queue::new(pool, QueueConfig::default()).unwrap();
    for keep in [0, 3] {
        let claimed =
            queue.claim(Claimer { queue: "default", worker: "child" }, 5, CHILD_LEASE).await.unwrap();
        assert_eq!(claimed.len(), 5);
        for held in &claimed[..claimed.len() - keep] {
            tokio::time::sleep(Duration::from_millis(20)).await;
            queue.complete(held.task.id, &held.token, json!({ "by": "child" })).await.unwrap();
            println!("crash-child completed {}", held.task.id);
        }
    }
    println!("crash-child holding");
    std::thread::sleep(Duration::from_secs(600));
}

/// Kills the child when the test ends, whatever happened.
struct KillOnDrop(Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

async fn parent() {
    let dir = tempfile::tempdir().unwrap();
    let pool = crate::migrated(dir.path()).await;
    let config = QueueConfig { poll_interval_ms: 50, ..QueueConfig::default() };
    let queue = Queue::new(pool.clone(), config).unwrap();
    let tasks = (0..TASKS).map(|i| NewTask::new("job", json!({ "n": i }))).collect();
    let ids: Vec<i64> = queue.enqueue_batch(tasks).await.unwrap().iter().map(|e| e.id).collect();

    let mut child = KillOnDrop(
        Command::new(std::env::current_exe().unwrap())
            .args([TEST_NAME, "--exact", "--nocapture", "--test-threads=1"])
            .env(CHILD_ENV, pool.path())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let lines: Arc<Mutex<Vec<String>>> = Arc::default();
    let reader = {
        let stdout = child.0.stdout.take().unwrap();
        let lines = Arc::clone(&lines);
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                lines.lock().unwrap().push(line);
            }
        })
    };

    // Wait until the child has completed some tasks and holds others.
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let holding = lines.lock().unwrap().iter().any(|l| l.contains("crash-child holding"));
        if holding {
            break;
        }
        assert!(child.0.try_wait().unwrap().is_none(), "the child exited early: {:?}", lines.lock().unwrap());
        assert!(Instant::now() < deadline, "the child never started holding tasks");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let stats = queue.stats().await.unwrap();
    assert_eq!((stats[0].completed, stats[0].running), (7, 3), "{stats:?}");
    let held: BTreeSet<i64> = queue
        .list(None, Some(TaskStatus::Running), PageRequest::first(100))
        .await
        .unwrap()
        .items
        .iter()
        .map(|t| t.id)
        .collect();

    child.0.kill().unwrap();
    let status = child.0.wait().unwrap();
    assert!(!status.success(), "the child was killed, not finished");
    reader.join().unwrap();
    let reported: BTreeSet<i64> = lines
        .lock()
        .unwrap()
        .iter()
        // libtest may print `test ... ` in front of the first line of the test.
        .filter_map(|l| l.split_once("crash-child completed ").and_then(|(_, id)| id.trim().parse().ok()))
        .collect();

    // An in-process worker finishes the queue; the child's leases expire on the way.
    let mut completed_by_parent: HashMap<i64, usize> = HashMap::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    while completed_by_parent.len() + reported.len() < TASKS {
        assert!(Instant::now() < deadline, "the parent did not finish the queue");
        let next = queue.next(Claimer { queue: "default", worker: "parent" }, 10, Duration::from_secs(30));
        let Ok(claimed) = tokio::time::timeout(Duration::from_secs(30), next).await else {
            let stats = queue.stats().await.unwrap();
            panic!(
                "nothing to claim for 30 s: {stats:?}, {} by the parent, reported {reported:?}",
                completed_by_parent.len()
            );
        };
        let claimed = claimed.unwrap();
        for one in claimed {
            queue.complete(one.task.id, &one.token, json!({ "by": "parent" })).await.unwrap();
            *completed_by_parent.entry(one.task.id).or_default() += 1;
        }
    }

    for id in ids {
        let task = queue.get(id).await.unwrap();
        assert_eq!(task.status, TaskStatus::Completed, "task {id} was lost");
        let by = task.result.as_ref().and_then(|r| r["by"].as_str()).unwrap().to_string();
        match by.as_str() {
            "child" => {
                assert!(reported.contains(&id), "task {id}: the child completed it and said so");
                assert!(!completed_by_parent.contains_key(&id), "task {id} completed twice");
                assert_eq!(task.attempts, 1);
            }
            "parent" => {
                assert_eq!(completed_by_parent.get(&id), Some(&1), "task {id}: completed once by the parent");
                let expected = if held.contains(&id) { 2 } else { 1 };
                assert_eq!(
                    task.attempts, expected,
                    "task {id}: a task the child held is claimed a second time"
                );
            }
            other => panic!("task {id} completed by {other}"),
        }
    }
    assert_eq!(held.len(), 3);
    assert!(held.iter().all(|id| !reported.contains(id)));

    let integrity: String =
        pool.read(|c| Ok(c.query_row("PRAGMA integrity_check", [], |r| r.get(0))?)).await.unwrap();
    assert_eq!(integrity, "ok");
    pool.close().await.unwrap();
}
