//! The background monitor records a report, exports query statistics, and takes
//! scheduled backups with retention.

use std::time::{Duration, Instant};

use strata_core::Config;
use strata_ops::backup;
use strata_ops::health::Status;
use strata_ops::monitor::Monitor;
use strata_ops::stats::{QueryStats, export_path};
use strata_pool::Pool;

/// A config for `db` with an hour between the monitor's rounds and the free-disk
/// thresholds off (the test machine's disk is not the subject).
fn quiet_config(db: &std::path::Path) -> Config {
    let mut config = Config::for_path(db);
    config.monitor.interval_secs = 3_600;
    config.monitor.free_disk_warn_mb = 0;
    config.monitor.free_disk_critical_mb = 0;
    config
}

#[tokio::test]
async fn the_monitor_takes_a_report_at_once_and_stops_on_request() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("app.db");
    let config = quiet_config(&db);
    let pool = Pool::open(&config).await.unwrap();
    let stats = QueryStats::install(&pool, 10).unwrap();
    let monitor = Monitor::spawn(pool.clone(), Some(stats));
    let mut waited = Duration::ZERO;
    while (monitor.state().checks == 0 || !export_path(&db).exists()) && waited < Duration::from_secs(20) {
        tokio::time::sleep(Duration::from_millis(20)).await;
        waited += Duration::from_millis(20);
    }
    let report = monitor.latest().expect("a report");
    assert_eq!(report.status, Status::Ok, "{report:#?}");
    assert!(report.pragmas.iter().any(|p| p.scope == "writer" && p.name == "synchronous" && p.ok()));
    assert!(report.pragmas.iter().all(|p| p.ok()), "{:#?}", report.pragmas);
    assert!(export_path(&db).exists());
    monitor.stop().await;
    pool.close().await.unwrap();
}

/// Rewrites the time in the manifest of the backup `path` to `at` (RFC 3339), as if
/// the backup had been taken then.
async fn date_backup(path: &std::path::Path, at: &str) {
    let mut manifest = backup::read_manifest(path).await.unwrap().expect("a manifest");
    manifest.created_at = at.to_string();
    std::fs::write(backup::manifest_path(path), serde_json::to_string_pretty(&manifest).unwrap()).unwrap();
}

#[tokio::test]
async fn a_scheduled_backup_is_due_after_the_newest_on_disk_and_retention_follows_it() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("app.db");
    let mut config = quiet_config(&db);
    // An hour between backups: far longer than the test, so only the backups already
    // on disk (taken days ago) can make one due now.
    config.backup.interval_minutes = 60;
    config.backup.keep_last = 1;
    config.backup.keep_daily = 0;
    config.backup.keep_weekly = 0;
    let pool = Pool::open(&config).await.unwrap();
    let backups = backup::default_dir(&pool);
    let mut old = Vec::new();
    for at in ["2020-01-01T00:00:00Z", "2020-01-02T00:00:00Z"] {
        let report = backup::create(&pool, &backups, None).await.unwrap();
        date_backup(&report.path, at).await;
        old.push(report.path);
    }
    assert_eq!(backup::list(&backups).await.unwrap().len(), 2);

    let monitor = Monitor::spawn(pool.clone(), None);
    let deadline = Instant::now() + Duration::from_secs(30);
    while monitor.state().last_backup.is_none() && monitor.state().last_error.is_none() {
        assert!(Instant::now() < deadline, "no scheduled backup within 30 s: {:?}", monitor.state());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let state = monitor.state();
    monitor.stop().await;
    assert_eq!(state.last_error, None);
    let taken = state.last_backup.expect("a scheduled backup").path;

    // Retention ran after it: keep_last = 1 keeps the new backup only.
    let left: Vec<_> = backup::list(&backups).await.unwrap().into_iter().map(|entry| entry.path).collect();
    assert_eq!(left, vec![taken.clone()], "the two old backups were pruned");
    for path in &old {
        assert!(!path.exists() && !backup::manifest_path(path).exists(), "{} was pruned", path.display());
    }
    assert!(backup::verify(&taken, None).await.unwrap().ok);

    // The newest backup is now minutes old, so a monitor that starts again takes none:
    // wait for its first report, by which time it has decided.
    let monitor = Monitor::spawn(pool.clone(), None);
    let deadline = Instant::now() + Duration::from_secs(30);
    while monitor.state().checks == 0 {
        assert!(Instant::now() < deadline, "no report within 30 s");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    monitor.stop().await;
    assert!(monitor.state().last_backup.is_none(), "no backup is due yet: {:?}", monitor.state());
    assert_eq!(backup::list(&backups).await.unwrap().len(), 1);
    pool.close().await.unwrap();
}

/// Waits (30 s at most) until `done` holds for the monitor's state.
async fn wait_for(monitor: &Monitor, what: &str, done: impl Fn(&strata_ops::monitor::MonitorState) -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !done(&monitor.state()) {
        assert!(Instant::now() < deadline, "{what} within 30 s: {:?}", monitor.state());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn the_monitor_runs_full_checks_on_their_schedule_and_reports_findings() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("app.db");
    let mut config = Config::for_path(&db);
    config.monitor.interval_secs = 1;
    config.monitor.full_check_secs = 1;
    // More free space than any disk has: a warning finding on every report.
    config.monitor.free_disk_warn_mb = u64::MAX / (1 << 21);
    config.monitor.free_disk_critical_mb = 0;
    let pool = Pool::open(&config).await.unwrap();
    let monitor = Monitor::spawn(pool.clone(), None);
    wait_for(&monitor, "a full check", |s| s.last_full_check.is_some()).await;
    monitor.stop().await;
    let state = monitor.state();
    assert!(state.checks >= 2, "the first round is quick, a later one full: {state:?}");
    let report = state.last.expect("a report");
    assert_eq!(report.status, Status::Warning, "{report:#?}");
    assert!(report.findings.iter().any(|f| f.check == "free_disk"), "{:#?}", report.findings);
    assert_eq!(state.last_error, None);
    pool.close().await.unwrap();
}

#[tokio::test]
async fn a_scheduled_backup_that_fails_is_recorded_with_its_code() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("app.db");
    let mut config = quiet_config(&db);
    config.backup.interval_minutes = 60;
    // The backup directory's path is a file: no backup can be written there.
    let blocked = dir.path().join("not-a-dir");
    std::fs::write(&blocked, b"a file").unwrap();
    config.backup.dir = Some(blocked.clone());
    let pool = Pool::open(&config).await.unwrap();
    let monitor = Monitor::spawn(pool.clone(), None);
    wait_for(&monitor, "the failed backup", |s| s.last_error.is_some()).await;
    monitor.stop().await;
    let state = monitor.state();
    let error = state.last_error.expect("an error");
    assert!(error.starts_with("scheduled backup: E5005 "), "{error}");
    assert!(state.last_backup.is_none());
    assert_eq!(std::fs::read(&blocked).unwrap(), b"a file", "nothing was written over the file");
    pool.close().await.unwrap();
}

#[tokio::test]
async fn a_reloaded_interval_takes_effect_while_the_monitor_runs() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("app.db");
    let config = quiet_config(&db);
    let pool = Pool::open(&config).await.unwrap();
    let monitor = Monitor::spawn(pool.clone(), None);
    let deadline = Instant::now() + Duration::from_secs(30);
    while monitor.state().checks == 0 {
        assert!(Instant::now() < deadline, "no first report");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // An hour between rounds: without the reload no second report comes in this test.
    let mut reloaded = config.clone();
    reloaded.monitor.interval_secs = 1;
    monitor.reload(&reloaded);
    while monitor.state().checks < 3 {
        assert!(
            Instant::now() < deadline,
            "the 1 s interval was not taken: {} reports",
            monitor.state().checks
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    monitor.stop().await;
    pool.close().await.unwrap();
}
