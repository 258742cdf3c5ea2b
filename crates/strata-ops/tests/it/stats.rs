//! Query statistics collected from a live pool's statement hook.

use strata_ops::stats::{QueryStats, StatsReport, export_path};

use crate::pool;

#[tokio::test]
async fn statements_of_a_pool_are_counted_by_normalised_sql_and_exported() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("app.db");
    let pool = pool(&db).await;
    let stats = QueryStats::install(&pool, 100).unwrap();
    pool.write(|conn| Ok(conn.execute_batch("CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT)")?))
        .await
        .unwrap();
    for i in 0..20 {
        pool.write(move |conn| {
            conn.execute(&format!("INSERT INTO t(v) VALUES ('row {i}')"), [])?;
            Ok(())
        })
        .await
        .unwrap();
    }
    for _ in 0..5 {
        pool.read(|conn| {
            Ok(conn.query_row("SELECT count(*) FROM t WHERE v LIKE 'row%'", [], |r| r.get::<_, i64>(0))?)
        })
        .await
        .unwrap();
    }
    let values = pool
        .read(|conn| {
            let mut stmt = conn.prepare("SELECT v FROM t ORDER BY id")?;
            Ok(stmt.query_map([], |r| r.get::<_, String>(0))?.count())
        })
        .await
        .unwrap();
    assert_eq!(values, 20);
    let report = stats.report();
    let all = report.statements.iter().find(|s| s.sql == "SELECT v FROM t ORDER BY id").expect("{report:#?}");
    assert_eq!(all.rows, 20, "every result row is counted");
    let insert =
        report.statements.iter().find(|s| s.sql == "INSERT INTO t(v) VALUES(?)").expect("{report:#?}");
    assert_eq!(insert.count, 20);
    let scan = report.statements.iter().find(|s| s.sql.starts_with("SELECT count(*)")).unwrap();
    assert_eq!(scan.count, 5);
    // Rows are counted per thread between finished statements (see StatementTiming::rows),
    // so a reader's first run may carry a row of its set-up; never fewer than produced.
    assert!((5..=6).contains(&scan.rows), "one count(*) row per run, got {}", scan.rows);
    assert_eq!(scan.full_scan_steps, 5 * 19, "a full scan steps over every row but the last");
    assert!(
        scan.p50_ms <= scan.p95_ms && scan.p95_ms <= scan.p99_ms && scan.p99_ms <= scan.max_ms,
        "percentiles ordered and never above the slowest run: {scan:?}"
    );

    let file = export_path(&db);
    stats.export(&file).unwrap();
    let read = StatsReport::read(&file).unwrap().unwrap();
    assert_eq!(read.statements.len(), report.statements.len());
    stats.reset();
    assert!(stats.report().statements.is_empty());
    assert_eq!(QueryStats::install(&pool, 10).unwrap_err().code(), "E6001", "one hook per pool");
    pool.close().await.unwrap();
}

#[tokio::test]
async fn closures_and_commits_are_timed_in_microseconds_where_statements_read_zero() {
    let dir = tempfile::tempdir().unwrap();
    let pool = pool(&dir.path().join("app.db")).await;
    let stats = QueryStats::install(&pool, 100).unwrap();
    pool.write(|conn| Ok(conn.execute_batch("CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT)")?))
        .await
        .unwrap();
    for i in 0..10 {
        pool.write(move |conn| Ok(conn.execute("INSERT INTO t(v) VALUES (?1)", [i]).map(drop)?))
            .await
            .unwrap();
        pool.read(|conn| Ok(conn.query_row("SELECT count(*) FROM t", [], |r| r.get::<_, i64>(0))?))
            .await
            .unwrap();
    }
    let report = stats.report();
    let work =
        |name: &str| report.work.iter().find(|w| w.work == name).unwrap_or_else(|| panic!("{report:#?}"));
    assert_eq!(work("read").count, 10);
    assert_eq!(work("write").count, 11);
    let commits = work("commit").count;
    assert!((1..=11).contains(&commits), "one commit per batch, {commits}");
    for w in &report.work {
        assert!(w.p50_us > 0.0, "a monotonic clock never reads a closure as zero: {w:?}");
        assert!(
            w.p50_us <= w.p95_us && w.p95_us <= w.p99_us && w.p99_us <= w.max_us && w.max_us <= w.total_us,
            "{w:?}"
        );
    }
    stats.reset();
    assert!(stats.report().work.is_empty(), "reset forgets the pool's timings too");
    pool.close().await.unwrap();
}

#[tokio::test]
async fn statements_of_the_health_check_the_advisor_and_backups_are_strata_s() {
    use strata_ops::health::{CheckLevel, HealthOptions};
    use strata_ops::stats::Origin;
    let dir = tempfile::tempdir().unwrap();
    let pool = pool(&dir.path().join("app.db")).await;
    let stats = QueryStats::install(&pool, 1_000).unwrap();
    pool.write(|conn| Ok(conn.execute_batch("CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT)")?))
        .await
        .unwrap();
    pool.write(|conn| Ok(conn.execute("INSERT INTO t(v) VALUES ('a')", []).map(drop)?)).await.unwrap();
    pool.read(|conn| Ok(conn.query_row("SELECT v FROM t WHERE id = 1", [], |r| r.get::<_, String>(0))?))
        .await
        .unwrap();
    strata_ops::health::check(&pool, &HealthOptions::new(CheckLevel::Full)).await.unwrap();
    strata_ops::advise(&pool, vec!["SELECT id FROM t WHERE v = 'x'".into()], Default::default())
        .await
        .unwrap();
    strata_ops::backup::create(&pool, &dir.path().join("backups"), None).await.unwrap();

    let report = stats.report();
    let app: Vec<&str> = report
        .statements
        .iter()
        .filter(|s| s.origin == Origin::Application)
        .map(|s| s.sql.as_str())
        .collect();
    let mut expected = vec![
        "CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT)",
        "INSERT INTO t(v) VALUES(?)",
        "SELECT v FROM t WHERE id = ?",
    ];
    let mut got = app.clone();
    got.sort_unstable();
    expected.sort_unstable();
    assert_eq!(got, expected, "{report:#?}");
    assert!(
        report.statements.len() > app.len() + 3,
        "the check, advisor and backup ran statements: {report:#?}"
    );
    pool.close().await.unwrap();
}
