//! Rate limits across processes: two child processes (this test binary run again,
//! `STRATA_RATELIMIT_CHILD` names the database) and the parent check one key at once,
//! each with its own pool and writer; together they are admitted exactly the burst,
//! because every check is one atomic statement under SQLite's write lock.

#![cfg(unix)]

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use strata_core::Config;
use strata_pool::Pool;
use strata_repo::{Quota, RateLimits};

const CHILD_ENV: &str = "STRATA_RATELIMIT_CHILD";
const TEST_NAME: &str =
    "ratelimit_processes::processes_sharing_one_key_are_admitted_exactly_the_burst_together";
/// 5 units per hour: nothing refills during the test, so exactly 5 pass in all.
const QUOTA: Quota = Quota { limit: 5, period_ms: 3_600_000, burst: 5 };
const KEY: &str = "scraper:shared";
/// Checks per task; each process runs `TASKS` tasks.
const CHECKS: usize = 50;
const TASKS: usize = 4;

#[test]
fn processes_sharing_one_key_are_admitted_exactly_the_burst_together() {
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    match std::env::var_os(CHILD_ENV) {
        Some(path) => runtime.block_on(child(std::path::PathBuf::from(path))),
        None => runtime.block_on(parent()),
    }
}

/// Says it is ready, waits for the parent's go file, then checks.
async fn child(path: std::path::PathBuf) {
    let pool = Pool::open(&Config::for_path(&path)).await.unwrap();
    let limits = RateLimits::new(pool.clone());
    println!("ratelimit-child ready");
    let go = path.with_extension("go");
    let deadline = Instant::now() + Duration::from_secs(60);
    while !go.exists() {
        assert!(Instant::now() < deadline, "no go from the parent");
        std::thread::sleep(Duration::from_millis(1));
    }
    let admitted = checks(&limits).await;
    println!("ratelimit-child admitted {admitted}");
    pool.close().await.unwrap();
}

/// `TASKS` concurrent tasks check `CHECKS` times each; how many were admitted.
async fn checks(limits: &RateLimits) -> usize {
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..TASKS {
        let limits = limits.clone();
        tasks.spawn(async move {
            let mut admitted = 0;
            for _ in 0..CHECKS {
                admitted += usize::from(limits.check(KEY, QUOTA, 1).await.unwrap().is_allowed());
            }
            admitted
        });
    }
    tasks.join_all().await.into_iter().sum()
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
    let limits = RateLimits::new(pool.clone());
    let mut children: Vec<(KillOnDrop, std::io::Lines<BufReader<std::process::ChildStdout>>)> = (0..2)
        .map(|_| {
            let mut child = Command::new(std::env::current_exe().unwrap())
                .args([TEST_NAME, "--exact", "--nocapture", "--test-threads=1"])
                .env(CHILD_ENV, pool.path())
                .stdout(Stdio::piped())
                .spawn()
                .unwrap();
            let lines = BufReader::new(child.stdout.take().unwrap()).lines();
            (KillOnDrop(child), lines)
        })
        .collect();
    for (_, lines) in &mut children {
        let ready = lines.by_ref().map_while(Result::ok).find(|l| l.contains("ratelimit-child ready"));
        assert!(ready.is_some(), "a child exited before it was ready");
    }
    std::fs::write(pool.path().with_extension("go"), b"go").unwrap();
    let mine = checks(&limits).await;
    let mut total = mine;
    for (mut child, lines) in children {
        // Read to the end, so the child never writes to a closed pipe.
        let rest: Vec<String> = lines.map_while(Result::ok).collect();
        let line = rest
            .iter()
            .find(|l| l.contains("ratelimit-child admitted"))
            .expect("the child reports what it was admitted");
        total += line.rsplit(' ').next().unwrap().parse::<usize>().unwrap();
        assert!(child.0.wait().unwrap().success(), "{rest:?}");
    }
    assert_eq!(total, 5, "three processes together were admitted {total} of a burst of 5 (parent {mine})");
    let status = limits.status(KEY).await.unwrap().unwrap();
    assert_eq!(status.remaining, 0);
}
