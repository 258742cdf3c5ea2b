//! Property 6: Transaction atomicity.
//!
//! A transaction's statements are seen together or not at all: by readers while it
//! is open (nothing), after it commits (everything), after it rolls back or its
//! handle is dropped (nothing), and in the files a crash would leave while it is open
//! (nothing, even when SQLite had to spill its uncommitted pages into the WAL). Write
//! closures that share one group commit keep each closure's statements together.

use std::path::Path;

use proptest::prelude::*;
use strata::schema::Migration;
use strata::{Config, Database, Error, MigrationSet, Migrations};

const INSERT: &str = "INSERT INTO items(step, v) VALUES (?1, ?2)";
const COUNT: &str = "SELECT count(*) FROM items";

fn items_set() -> MigrationSet {
    let up = "CREATE TABLE items(id INTEGER PRIMARY KEY, step INTEGER NOT NULL, v TEXT NOT NULL);";
    MigrationSet::new([Migration::new("V1__items", up, None).unwrap()]).unwrap()
}

/// A database whose writer keeps few pages in memory (`cache_size = 8`), so that a
/// transaction of a few hundred rows spills uncommitted pages into the WAL, and that
/// never checkpoints (no checkpoint can run while the files are copied).
async fn open(path: &Path) -> Database {
    let mut config = Config::for_path(path);
    config.sqlite.cache_size = 8;
    config.sqlite.wal_autocheckpoint = 0;
    Database::open_with(&config, Migrations::from(items_set())).await.unwrap()
}

async fn count(db: &Database) -> i64 {
    db.pool().read(|c| Ok(c.query_row(COUNT, [], |r| r.get(0))?)).await.unwrap()
}

/// What a crash would leave now: the database, its `-wal` and `-shm`, copied aside
/// and opened with a plain connection, which recovers from the WAL as after a crash.
fn crash_copy_count(path: &Path, dir: &Path) -> i64 {
    let copy = dir.join("crash.db");
    for suffix in ["", "-wal", "-shm"] {
        let from = format!("{}{suffix}", path.display());
        let to = format!("{}{suffix}", copy.display());
        let _ = std::fs::remove_file(&to);
        if Path::new(&from).exists() {
            std::fs::copy(&from, &to).unwrap();
        }
    }
    let conn = rusqlite::Connection::open(&copy).unwrap();
    let n = conn.query_row(COUNT, [], |r| r.get(0)).unwrap();
    drop(conn);
    n
}

#[derive(Debug, Clone, Copy)]
enum End {
    Commit,
    Rollback,
    Drop,
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 12, ..ProptestConfig::default() })]

    /// Proves that an explicit transaction is atomic: its steps (rows inserted
    /// across awaits, some steps large enough to spill into the WAL) are invisible
    /// to readers and absent from a crash copy of the files while it is open; after
    /// `commit` every row is there, after `rollback` or a dropped handle none is. A
    /// reader that saw part of the transaction, a crash copy holding any of its
    /// rows, or a commit that lost a step fails it.
    #[test]
    fn p06_transaction_atomicity_all_steps_or_none_for_readers_and_after_a_crash(
        steps in prop::collection::vec(prop_oneof![4 => 1usize..5, 1 => 150usize..400], 1..5),
        end in prop_oneof![Just(End::Commit), Just(End::Rollback), Just(End::Drop)],
    ) {
        let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("app.db");
        runtime.block_on(async {
            let db = open(&path).await;
            let wal = format!("{}-wal", path.display());
            let wal_len = || std::fs::metadata(&wal).map(|m| m.len()).unwrap_or(0);
            let wal_before = wal_len();
            let mut tx = db.transaction().await.unwrap();
            for (step, &rows) in steps.iter().enumerate() {
                tx.run(move |c| {
                    for i in 0..rows {
                        c.execute(INSERT, strata::params![step as i64, format!("{i:0>1000}")])?;
                    }
                    Ok(())
                }).await.unwrap();
                if rows >= 150 {
                    prop_assert!(wal_len() > wal_before, "a large step spills uncommitted pages into the WAL");
                }
                prop_assert_eq!(count(&db).await, 0, "a reader saw part of an open transaction");
                prop_assert_eq!(crash_copy_count(&path, dir.path()), 0, "a crash copy holds part of an open transaction");
            }
            let total: usize = steps.iter().sum();
            match end {
                End::Commit => tx.commit().await.unwrap(),
                End::Rollback => tx.rollback().await.unwrap(),
                End::Drop => drop(tx),
            }
            let expected = match end {
                End::Commit => total as i64,
                End::Rollback | End::Drop => 0,
            };
            // A dropped handle's rollback reaches the writer before the next write.
            db.pool().write(|_| Ok(())).await.unwrap();
            prop_assert_eq!(count(&db).await, expected, "{:?}", end);
            prop_assert_eq!(crash_copy_count(&path, dir.path()), expected, "{:?} as a crash would leave it", end);
            db.close().await.unwrap();
            Ok(())
        })?;
    }
}

#[derive(Debug, Clone, Copy)]
enum Fate {
    Commit,
    Fail,
    Panic,
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 12, ..ProptestConfig::default() })]

    /// Proves that each write closure is atomic inside the group commit it shares:
    /// concurrent closures insert `rows` rows each and then succeed, return an error
    /// or panic; afterwards every closure that succeeded has all its rows and every
    /// other none (a closure whose rows are half there fails it), and the answers are
    /// `Ok`, E6001 and E2007.
    #[test]
    fn p06_transaction_atomicity_each_write_closure_is_all_or_nothing_in_a_shared_commit(
        closures in prop::collection::vec((1usize..6, prop_oneof![6 => Just(Fate::Commit), 2 => Just(Fate::Fail), 1 => Just(Fate::Panic)]), 1..16),
    ) {
        let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
        let dir = tempfile::tempdir().unwrap();
        runtime.block_on(async {
            let db = open(&dir.path().join("app.db")).await;
            let writes: Vec<_> = closures.iter().enumerate().map(|(step, &(rows, fate))| {
                let db = db.clone();
                tokio::spawn(async move {
                    db.pool().write(move |c| {
                        for i in 0..rows {
                            c.execute(INSERT, strata::params![step as i64, i.to_string()])?;
                        }
                        match fate {
                            Fate::Commit => Ok(()),
                            Fate::Fail => Err(Error::invalid("fate", "fails after its inserts")),
                            Fate::Panic => panic!("fails after its inserts"),
                        }
                    }).await
                })
            }).collect();
            for (write, &(_, fate)) in writes.into_iter().zip(&closures) {
                let result = write.await.unwrap();
                let code = result.err().map(|e| e.code());
                let expected = match fate {
                    Fate::Commit => None,
                    Fate::Fail => Some("E6001"),
                    Fate::Panic => Some("E2007"),
                };
                prop_assert_eq!(code, expected);
            }
            let per_step: Vec<(i64, i64)> = db.pool().read(|c| {
                let mut stmt = c.prepare("SELECT step, count(*) FROM items GROUP BY step ORDER BY step")?;
                let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?.collect::<Result<_, _>>()?;
                Ok(rows)
            }).await.unwrap();
            let expected: Vec<(i64, i64)> = closures.iter().enumerate()
                .filter(|(_, (_, fate))| matches!(fate, Fate::Commit))
                .map(|(step, (rows, _))| (step as i64, *rows as i64))
                .collect();
            prop_assert_eq!(per_step, expected);
            db.close().await.unwrap();
            Ok(())
        })?;
    }
}
