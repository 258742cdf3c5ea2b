//! Restore: round trip (later writes gone, earlier ones intact, no stale WAL
//! replayed), and the refusals: open pool, existing file without force, bad backup.

use strata_ops::restore::{RestoreOptions, restore};

use crate::holder::{self, Holder, Role};
use crate::{count, pool};

async fn note(pool: &strata_pool::Pool, n: i64) {
    pool.write(move |conn| {
        conn.execute("INSERT INTO notes(id, body) VALUES (?1, 'note')", [n])?;
        Ok(())
    })
    .await
    .unwrap();
}

#[tokio::test]
async fn restore_brings_back_the_backup_and_no_stale_wal_is_replayed() {
    if holder::run_as_child() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("app.db");
    let backups = dir.path().join("backups");
    let pool = pool(&db).await;
    pool.write(|conn| {
        Ok(conn.execute_batch("CREATE TABLE notes(id INTEGER PRIMARY KEY, body TEXT NOT NULL)")?)
    })
    .await
    .unwrap();
    for n in 1..=10 {
        note(&pool, n).await;
    }
    let backup = strata_ops::backup::create(&pool, &backups, None).await.unwrap();
    for n in 11..=15 {
        note(&pool, n).await;
    }

    let refused = restore(&db, &backup.path, RestoreOptions { force: true, ..RestoreOptions::default() })
        .await
        .unwrap_err();
    assert_eq!(refused.code(), "E5008", "a database open by this process' pool is never replaced");
    pool.close().await.unwrap();

    // Later writes left in a -wal that was never checkpointed: a writer process
    // that exited without closing (a crash; a leaked connection of this process
    // would still hold the file, and restore would refuse with E5012).
    Holder::start("restore::restore_brings_back_the_backup_and_no_stale_wal_is_replayed", Role::Crash, &db);
    assert!(dir.path().join("app.db-wal").exists());

    let refused = restore(&db, &backup.path, RestoreOptions::default()).await.unwrap_err();
    assert_eq!(refused.code(), "E5009", "an existing database needs force");

    let report = restore(&db, &backup.path, RestoreOptions { force: true, ..RestoreOptions::default() })
        .await
        .unwrap();
    let replaced = report.replaced.clone().unwrap();
    assert!(report.replaced_wal.is_some(), "the old -wal moved with the replaced file");
    assert!(!dir.path().join("app.db-wal").exists());
    assert!(!dir.path().join("app.db-shm").exists());
    assert_eq!(count(&replaced, "notes"), 20, "the replaced file keeps everything it had");

    let pool = crate::pool(&db).await;
    let ids: Vec<i64> = pool
        .read(|conn| {
            let mut stmt = conn.prepare("SELECT id FROM notes ORDER BY id")?;
            let ids = stmt.query_map([], |r| r.get(0))?.collect::<Result<Vec<i64>, _>>()?;
            Ok(ids)
        })
        .await
        .unwrap();
    assert_eq!(ids, (1..=10).collect::<Vec<_>>(), "earlier writes intact, later ones gone");
    pool.close().await.unwrap();
}

#[tokio::test]
async fn a_backup_that_does_not_verify_is_not_restored() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("app.db");
    let pool = pool(&db).await;
    pool.write(|conn| Ok(conn.execute_batch("CREATE TABLE t(x); INSERT INTO t VALUES (1);")?)).await.unwrap();
    let backup = strata_ops::backup::create(&pool, &dir.path().join("b"), None).await.unwrap();
    pool.close().await.unwrap();
    let mut bytes = std::fs::read(&backup.path).unwrap();
    bytes.truncate(bytes.len() / 2);
    std::fs::write(&backup.path, bytes).unwrap();
    let before = std::fs::read(&db).unwrap();
    let err = restore(&db, &backup.path, RestoreOptions { force: true, ..RestoreOptions::default() })
        .await
        .unwrap_err();
    assert_eq!(err.code(), "E5006");
    assert_eq!(std::fs::read(&db).unwrap(), before, "the database is untouched");
}
