//! Metrics samples are not lost while the database cannot take them: a record or a
//! batch past the busy budget, or while the file is gone, goes to the metrics spill
//! file and is replayed once, in order; a full spill file (E5052), a line cut short by
//! a crash (E5053) and a replay run twice are each handled without losing or
//! duplicating what was kept.

use std::time::Duration;

use strata_core::ConstraintKind;
use strata_pool::{Pool, PoolState};
use strata_repo::audit::spawn_replayer;
use strata_repo::metrics::spill_path;
use strata_repo::{Audit, Metrics, NewMetric, Recorded};

use crate::audit_spill::{Holder, quick, wait_state};
use crate::migrated_with;
use crate::rows::assert_constraint;

/// Every sample in the table, in id order, as (name, uid).
async fn samples(pool: &Pool) -> Vec<(String, Option<String>)> {
    pool.read(|c| {
        let mut stmt = c.prepare("SELECT name, uid FROM metrics ORDER BY id")?;
        let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?.collect::<Result<_, _>>()?;
        Ok(rows)
    })
    .await
    .unwrap()
}

fn names(rows: &[(String, Option<String>)]) -> Vec<&str> {
    rows.iter().map(|(name, _)| name.as_str()).collect()
}

fn sample(name: &str) -> NewMetric {
    NewMetric::now(name, 1.0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn records_past_the_busy_budget_spill_and_the_next_record_replays_them_first_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let config = quick(dir.path());
    let pool = migrated_with(&config).await;
    let metrics = Metrics::new(pool.clone());
    assert!(!metrics.record(sample("before")).await.unwrap().is_spilled());

    let holder = Holder::hold(&config.path);
    let mut uids = Vec::new();
    for name in ["held.1", "held.2"] {
        let recorded = metrics.record(sample(name)).await.unwrap();
        let Recorded::Spilled { cause, path, sample } = &recorded else {
            panic!("not spilled: {recorded:?}")
        };
        assert!(cause.starts_with("E2008"), "spilled for busy: {cause}");
        assert_eq!(path, &spill_path(&config.path));
        assert_eq!(sample.uid.len(), 32);
        uids.push(sample.uid.clone());
    }
    let batch = metrics.record_batch(vec![sample("held.3"), sample("held.4")]).await.unwrap();
    assert_eq!((batch.stored, batch.spilled), (0, 2), "{batch:?}");
    let spill = spill_path(&config.path);
    assert_eq!(std::fs::read_to_string(&spill).unwrap().lines().count(), 4);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(&spill).unwrap().permissions().mode() & 0o777, 0o600);
    }
    assert_eq!(names(&samples(&pool).await), ["before"], "nothing reached the table while it was locked");

    holder.release();
    assert!(!metrics.record(sample("after")).await.unwrap().is_spilled());
    let all = samples(&pool).await;
    assert_eq!(names(&all), ["before", "held.1", "held.2", "held.3", "held.4", "after"]);
    let replayed: Vec<&str> = all[1..3].iter().map(|(_, uid)| uid.as_deref().unwrap()).collect();
    assert_eq!(replayed, uids, "each spilled sample is in the table under its own uid");
    assert_eq!(std::fs::metadata(&spill).unwrap().len(), 0, "the spill file is emptied after the replay");
    assert_eq!(metrics.replay().await.unwrap().entries, 0);
    assert_eq!(samples(&pool).await.len(), 6, "a second replay adds nothing");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unavailable_database_spills_samples_at_once_and_the_replayer_puts_them_in_on_recovery() {
    let dir = tempfile::tempdir().unwrap();
    let config = quick(dir.path());
    let pool = migrated_with(&config).await;
    let metrics = Metrics::new(pool.clone());
    let replayer = spawn_replayer(Audit::new(pool.clone()));
    metrics.record(sample("before")).await.unwrap();
    // Nothing of the table waits in the -wal while the file is away.
    pool.exclusive(|c| Ok(c.execute_batch("PRAGMA wal_checkpoint(TRUNCATE)")?)).await.unwrap();

    let away = dir.path().join("away.db");
    std::fs::rename(&config.path, &away).unwrap();
    wait_state(&pool, |s| !s.is_healthy()).await;
    let recorded = metrics.record(sample("gone.1")).await.unwrap();
    let Recorded::Spilled { cause, .. } = &recorded else { panic!("not spilled: {recorded:?}") };
    assert!(cause.starts_with("E2040"), "spilled for the unavailable pool: {cause}");
    let batch = metrics.record_batch(vec![sample("gone.2"), sample("gone.3")]).await.unwrap();
    assert_eq!((batch.stored, batch.spilled), (0, 2));
    // A sample the table would refuse is refused now too, and never spilled.
    let err = metrics.record(sample("")).await.unwrap_err();
    assert_constraint(&err, ConstraintKind::Check);
    assert_eq!(metrics.pending().await.unwrap().entries.len(), 3);

    std::fs::rename(&away, &config.path).unwrap();
    wait_state(&pool, PoolState::is_healthy).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while samples(&pool).await.len() < 4 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the replayer never replayed: {:?}",
            samples(&pool).await
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(names(&samples(&pool).await), ["before", "gone.1", "gone.2", "gone.3"]);
    replayer.stop().await;
    pool.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_metrics_spill_file_refuses_the_samples_with_e5052_and_loses_nothing_already_kept() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = quick(dir.path());
    config.metrics.spill_max_bytes = 400;
    let pool = migrated_with(&config).await;
    let metrics = Metrics::new(pool.clone());

    let holder = Holder::hold(&config.path);
    let mut kept = Vec::new();
    let err = loop {
        let name = format!("held.{}", kept.len());
        match metrics.record(sample(&name)).await {
            Ok(recorded) => {
                assert!(recorded.is_spilled());
                kept.push(name);
            }
            Err(err) => break err,
        }
        assert!(kept.len() < 10, "the spill file never filled up");
    };
    assert_eq!(err.code(), "E5052", "{err}");
    assert!(err.to_string().contains("metrics-spill.jsonl"), "{err}");
    assert!(!err.hint().is_empty());
    assert!(!kept.is_empty());
    assert!(std::fs::metadata(spill_path(&config.path)).unwrap().len() <= 400);

    holder.release();
    let report = metrics.replay().await.unwrap();
    assert_eq!(report.replayed, kept.len() as u64);
    assert_eq!(names(&samples(&pool).await), kept);
}

#[tokio::test]
async fn a_metrics_line_cut_short_by_a_crash_is_reported_kept_aside_and_the_rest_replayed() {
    let dir = tempfile::tempdir().unwrap();
    let config = quick(dir.path());
    let pool = migrated_with(&config).await;
    let metrics = Metrics::new(pool.clone());
    let spill = spill_path(&config.path);
    let line = |uid: char, name: &str| {
        format!(r#"{{"uid":"{}","ts":1,"name":"{name}","value":2.5}}"#, uid.to_string().repeat(32))
    };
    // Two whole lines, then a crash in the middle of the third.
    let cut = &line('c', "cut")[..30];
    std::fs::write(&spill, format!("{}\n{}\n{cut}", line('a', "one"), line('b', "two"))).unwrap();

    let pending = metrics.pending().await.unwrap();
    assert_eq!((pending.entries.len(), pending.damaged.len()), (2, 1));
    let report = metrics.replay().await.unwrap();
    assert_eq!((report.entries, report.replayed, report.skipped), (2, 2, 0));
    let err = report.damaged[0].to_error(&spill);
    assert_eq!(err.code(), "E5053");
    assert!(err.to_string().contains("line 3"), "{err}");
    assert_eq!(names(&samples(&pool).await), ["one", "two"]);
    let mut aside = spill.clone().into_os_string();
    aside.push(".damaged");
    assert_eq!(std::fs::read_to_string(aside).unwrap(), format!("{cut}\n"), "the cut line is kept aside");
    assert_eq!(std::fs::metadata(&spill).unwrap().len(), 0);
}

#[tokio::test]
async fn a_metrics_replay_run_again_after_a_crash_before_its_truncate_duplicates_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let config = quick(dir.path());
    let pool = migrated_with(&config).await;
    let metrics = Metrics::new(pool.clone());
    let spill = spill_path(&config.path);
    let text: String = (0..600)
        .map(|i| format!(r#"{{"uid":"{i:032x}","ts":{i},"name":"m.{i}","value":{i}}}"#) + "\n")
        .collect();
    std::fs::write(&spill, &text).unwrap();
    assert_eq!(metrics.replay().await.unwrap().replayed, 600);
    // A crash after the commits and before the truncate leaves the file as it was.
    std::fs::write(&spill, &text).unwrap();
    let report = metrics.replay().await.unwrap();
    assert_eq!((report.entries, report.replayed, report.skipped), (600, 0, 600));
    let all = samples(&pool).await;
    assert_eq!(all.len(), 600);
    assert!(all.iter().enumerate().all(|(i, (name, _))| name == &format!("m.{i}")), "in file order");
}
