//! The background monitor records a report and exports query statistics.

use std::time::Duration;

use strata_core::Config;
use strata_ops::health::Status;
use strata_ops::monitor::Monitor;
use strata_ops::stats::{QueryStats, export_path};
use strata_pool::Pool;

#[tokio::test]
async fn the_monitor_takes_a_report_at_once_and_stops_on_request() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("app.db");
    let mut config = Config::for_path(&db);
    config.monitor.interval_secs = 3_600;
    config.monitor.free_disk_warn_mb = 0;
    config.monitor.free_disk_critical_mb = 0;
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
