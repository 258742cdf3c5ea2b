//! Backups: taken under load from a live pool, verified, with a manifest; a backup
//! that is interrupted never looks complete; list, verify and retention.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use strata_core::BackupConfig;
use strata_ops::backup::{self, BackupState};
use strata_ops::{Progress, Stage};

use crate::{count, items_db, pool, raw};

/// Megabytes of blobs in the under-load fixture.
const LOAD_MB: i64 = 100;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backup_of_100_mb_completes_and_verifies_while_a_writer_commits() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("big.db");
    {
        let conn = raw(&db);
        conn.execute_batch(&format!(
            "CREATE TABLE blobs(id INTEGER PRIMARY KEY, b BLOB NOT NULL);
             CREATE TABLE ticks(n INTEGER PRIMARY KEY);
             BEGIN;
             WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < {})
             INSERT INTO blobs(b) SELECT zeroblob(1048576) FROM c;
             COMMIT;
             PRAGMA wal_checkpoint(TRUNCATE);",
            LOAD_MB
        ))
        .unwrap();
    }
    assert!(std::fs::metadata(&db).unwrap().len() >= (LOAD_MB as u64) << 20);
    let pool = pool(&db).await;
    let stop = Arc::new(AtomicBool::new(false));
    let commits = Arc::new(AtomicU64::new(0));
    let writer = {
        let (pool, stop, commits) = (pool.clone(), Arc::clone(&stop), Arc::clone(&commits));
        tokio::spawn(async move {
            let mut n = 0i64;
            while !stop.load(Ordering::Relaxed) {
                n += 1;
                pool.write(move |conn| {
                    conn.execute("INSERT INTO ticks(n) VALUES (?1)", [n])?;
                    Ok(())
                })
                .await
                .unwrap();
                commits.fetch_add(1, Ordering::Relaxed);
                tokio::task::yield_now().await;
            }
        })
    };
    // Let the writer get going, then back up while it commits.
    while commits.load(Ordering::Relaxed) < 10 {
        tokio::task::yield_now().await;
    }
    let during_copy = Arc::new(AtomicU64::new(0));
    let copy_started = Arc::new(AtomicU64::new(u64::MAX));
    let progress = {
        let (commits, during_copy, copy_started) =
            (Arc::clone(&commits), Arc::clone(&during_copy), Arc::clone(&copy_started));
        backup::progress_fn(move |p: Progress| {
            if p.stage == Stage::Copy {
                let now = commits.load(Ordering::Relaxed);
                copy_started.fetch_min(now, Ordering::Relaxed);
                during_copy.store(now - copy_started.load(Ordering::Relaxed), Ordering::Relaxed);
            }
        })
    };
    let report = backup::create(&pool, &dir.path().join("backups"), Some(progress)).await.unwrap();
    stop.store(true, Ordering::Relaxed);
    writer.await.unwrap();
    pool.close().await.unwrap();

    assert!(report.manifest.verification.ok, "{:#?}", report.manifest.verification);
    assert!(during_copy.load(Ordering::Relaxed) > 0, "the writer committed while pages were copied");
    assert_eq!(report.manifest.size_bytes, std::fs::metadata(&report.path).unwrap().len());
    assert_eq!(report.manifest.page_count * report.manifest.page_size, report.manifest.size_bytes);
    // A consistent snapshot: ticks 1..=k without a gap, and every blob.
    let conn = strata_pool::open_read_only(&report.path).unwrap();
    let (rows, max): (i64, i64) = conn
        .query_row("SELECT count(*), coalesce(max(n), 0) FROM ticks", [], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap();
    assert_eq!(rows, max, "no tick is missing from the snapshot");
    assert!(rows > 0);
    assert_eq!(count(&report.path, "blobs"), LOAD_MB);
    let mode: String = conn.query_row("PRAGMA journal_mode", [], |r| r.get(0)).unwrap();
    assert_eq!(mode, "delete", "a backup is one self-contained file");
    assert!(backup::verify(&report.path, None).await.unwrap().ok);
}

#[tokio::test]
async fn a_backup_has_a_manifest_mode_0600_and_never_looks_complete_before_it_is() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("app.db");
    items_db(&db);
    let backups = dir.path().join("backups");
    let pool = pool(&db).await;
    // At every progress report, what a kill would leave behind must not look complete.
    // The callback runs on a blocking thread, where it may wait for `list` itself.
    let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
    let progress = {
        let (backups, seen) = (backups.clone(), Arc::clone(&seen));
        let runtime = tokio::runtime::Handle::current();
        backup::progress_fn(move |p: Progress| {
            let listed = runtime.block_on(backup::list(&backups)).unwrap();
            let states: Vec<BackupState> = listed.iter().map(|e| e.state).collect();
            assert!(!states.contains(&BackupState::Complete), "complete during {:?}: {states:?}", p.stage);
            seen.lock().unwrap().push(p.stage);
        })
    };
    let report = backup::create(&pool, &backups, Some(progress)).await.unwrap();
    pool.close().await.unwrap();
    let stages = seen.lock().unwrap().clone();
    for stage in [Stage::Copy, Stage::Verify, Stage::Hash] {
        assert!(stages.contains(&stage), "{stages:?}");
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        for file in [&report.path, &report.manifest_path] {
            assert_eq!(std::fs::metadata(file).unwrap().permissions().mode() & 0o777, 0o600, "{file:?}");
        }
    }
    let manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&report.manifest_path).unwrap()).unwrap();
    assert_eq!(manifest["sha256"].as_str().unwrap().len(), 64);
    assert_eq!(manifest["verification"]["ok"], true);
    assert!(manifest["schema"]["schema_cookie"].as_i64().unwrap() > 0);
    let entries = backup::list(&backups).await.unwrap();
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0].state, BackupState::Complete);
}

#[cfg(unix)]
#[tokio::test]
async fn a_missing_backup_directory_is_created_0700_and_an_existing_one_keeps_its_mode() {
    use std::os::unix::fs::PermissionsExt;
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("app.db");
    items_db(&db);
    let pool = pool(&db).await;
    let nested = dir.path().join("backups").join("app");
    backup::create(&pool, &nested, None).await.unwrap();
    assert_eq!(mode(&nested), 0o700, "only the owner may list the backups");
    assert_eq!(mode(&dir.path().join("backups")), 0o700, "missing parents too");
    let existing = dir.path().join("shared");
    std::fs::create_dir(&existing).unwrap();
    std::fs::set_permissions(&existing, std::fs::Permissions::from_mode(0o750)).unwrap();
    backup::create(&pool, &existing, None).await.unwrap();
    assert_eq!(mode(&existing), 0o750, "the operator's choice for an existing directory is kept");
    pool.close().await.unwrap();
}

#[tokio::test]
async fn verify_finds_a_changed_byte_and_list_shows_a_partial_file() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("app.db");
    items_db(&db);
    let backups = dir.path().join("backups");
    let pool = pool(&db).await;
    let report = backup::create(&pool, &backups, None).await.unwrap();
    pool.close().await.unwrap();
    assert!(backup::verify(&report.path, None).await.unwrap().ok);

    let mut bytes = std::fs::read(&report.path).unwrap();
    let last = bytes.len() - 10;
    bytes[last] ^= 0xFF;
    std::fs::write(&report.path, &bytes).unwrap();
    let checked = backup::verify(&report.path, None).await.unwrap();
    assert!(!checked.ok);
    assert!(checked.problems.iter().any(|p| p.contains("sha256")), "{:?}", checked.problems);

    std::fs::write(backups.join("app-20200101T000000.000Z.sqlite.partial"), b"half a backup").unwrap();
    let states: Vec<BackupState> = backup::list(&backups).await.unwrap().iter().map(|e| e.state).collect();
    assert!(states.contains(&BackupState::Partial), "{states:?}");
    let (found, failed) = backup::newest_verified(&backups, None).await.unwrap();
    assert!(found.is_none(), "the only complete backup is damaged");
    assert_eq!(failed.len(), 1);
}

#[tokio::test]
async fn prune_removes_a_stale_killed_backup_with_its_document_files() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    fake_backup(d, "2026-11-20T18:00:00.000Z");
    // Killed two hours ago: the data file half written, the store copied (one backup)
    // or already renamed into place (another), the data never renamed.
    let an_hour_ago = std::time::SystemTime::now() - std::time::Duration::from_secs(7_200);
    for (name, files) in [("app-killed1.sqlite", ".files.partial"), ("app-killed2.sqlite", ".files")] {
        let data = d.join(format!("{name}.partial"));
        std::fs::write(&data, b"half a copy").unwrap();
        std::fs::File::options().write(true).open(&data).unwrap().set_modified(an_hour_ago).unwrap();
        let shard = d.join(format!("{name}{files}")).join("ab");
        std::fs::create_dir_all(&shard).unwrap();
        std::fs::write(shard.join("ab00"), b"a document").unwrap();
    }
    // A young partial is a backup in progress: it and its files stay.
    std::fs::write(d.join("app-running.sqlite.partial"), b"in progress").unwrap();
    std::fs::create_dir_all(d.join("app-running.sqlite.files.partial")).unwrap();

    let report = backup::prune(d, &BackupConfig::default()).await.unwrap();
    let mut left: Vec<String> = std::fs::read_dir(d)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    left.sort();
    assert_eq!(
        left,
        [
            "app-20261120T180000.000Z.sqlite",
            "app-20261120T180000.000Z.sqlite.json",
            "app-running.sqlite.files.partial",
            "app-running.sqlite.partial",
        ]
    );
    assert_eq!(report.leftovers_removed.len(), 4, "{:?}", report.leftovers_removed);
    assert!(report.removed.is_empty());
}

/// Writes a fake complete backup (data + manifest) dated `at`.
fn fake_backup(dir: &std::path::Path, at: &str) {
    let stamp: String = at.chars().filter(|c| c.is_ascii_alphanumeric() || *c == '.').collect();
    let name = format!("app-{stamp}.sqlite");
    std::fs::write(dir.join(&name), b"data").unwrap();
    let manifest = serde_json::json!({
        "format": 1, "file": name, "source": "app.db", "created_at": at, "duration_ms": 1,
        "size_bytes": 4, "page_size": 4096, "page_count": 1, "sha256": "00",
        "schema": {"schema_cookie": 1, "user_version": 0, "migration": null, "tables": 1},
        "sqlite_version": "3", "verification": {"ok": true, "checked_at": at, "integrity": [],
        "page_count_expected": 1, "page_count_found": 1}
    });
    std::fs::write(dir.join(format!("{name}.json")), manifest.to_string()).unwrap();
}

#[tokio::test]
async fn prune_keeps_the_last_n_and_one_per_day_and_week() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // Four backups on 2026-11-20, two on each of the three days before, and older weeks.
    for at in [
        "2026-11-20T18:00:00.000Z",
        "2026-11-20T12:00:00.000Z",
        "2026-11-20T06:00:00.000Z",
        "2026-11-20T00:30:00.000Z",
        "2026-11-19T18:00:00.000Z",
        "2026-11-19T06:00:00.000Z",
        "2026-11-18T18:00:00.000Z",
        "2026-11-18T06:00:00.000Z",
        "2026-11-17T18:00:00.000Z",
        "2026-11-10T12:00:00.000Z",
        "2026-11-03T12:00:00.000Z",
        "2026-10-27T12:00:00.000Z",
    ] {
        fake_backup(d, at);
    }
    let policy = BackupConfig { keep_last: 2, keep_daily: 3, keep_weekly: 3, ..BackupConfig::default() };
    let report = backup::prune(d, &policy).await.unwrap();
    let kept: Vec<(String, String)> = report
        .kept
        .iter()
        .map(|(p, rule)| (p.file_name().unwrap().to_string_lossy().into_owned(), rule.clone()))
        .collect();
    let expected = [
        ("app-20261120T180000.000Z.sqlite", "last"),
        ("app-20261120T120000.000Z.sqlite", "last"),
        ("app-20261119T180000.000Z.sqlite", "daily"),
        ("app-20261118T180000.000Z.sqlite", "daily"),
        ("app-20261110T120000.000Z.sqlite", "weekly"),
        ("app-20261103T120000.000Z.sqlite", "weekly"),
    ];
    let expected: Vec<(String, String)> =
        expected.iter().map(|(a, b)| (a.to_string(), b.to_string())).collect();
    assert_eq!(kept, expected);
    assert_eq!(report.removed.len(), 6);
    assert_eq!(backup::list(d).await.unwrap().len(), 6);
    for removed in &report.removed {
        assert!(!removed.exists());
        assert!(!backup::manifest_path(removed).exists());
    }
}
