//! Property 7: Automatic transaction rollback.
//!
//! Whatever ends a unit of work badly rolls it back without the caller doing
//! anything: a write closure that returns an error or panics, a full disk half way
//! through a closure (`max_page_count`), an explicit transaction whose step panics,
//! whose handle is dropped after a failed step, or that outlives its hold limit.
//! Afterwards the failed unit left no row, the rows committed before are intact, the
//! writer holds no transaction (another connection takes the write lock at once) and
//! the next write commits.

use std::path::Path;
use std::time::Duration;

use proptest::prelude::*;
use strata::schema::Migration;
use strata::{Config, Database, Error, MigrationSet, Migrations};

const INSERT: &str = "INSERT INTO items(v) VALUES (?1)";
const COUNT: &str = "SELECT count(*) FROM items";
/// `pool.transaction_max_ms` for the hold-limit fault (the other faults keep the
/// default, so that a stalled machine cannot expire their transactions).
const HOLD_LIMIT_MS: u64 = 1_000;

fn items_set() -> MigrationSet {
    let up = "CREATE TABLE items(id INTEGER PRIMARY KEY, v TEXT NOT NULL);";
    MigrationSet::new([Migration::new("V1__items", up, None).unwrap()]).unwrap()
}

/// The faults that end a unit of work.
#[derive(Debug, Clone, Copy)]
enum Fault {
    /// A write closure inserts rows, then returns an error.
    ClosureErr,
    /// A write closure inserts rows, then panics.
    ClosurePanics,
    /// A write closure runs out of pages half way (`SQLITE_FULL`).
    DiskFull,
    /// A transaction step inserts rows, then panics.
    StepPanics,
    /// A transaction step fails (a duplicate key) and the caller drops the handle.
    StepErrThenDrop,
    /// The transaction outlives `pool.transaction_max_ms`.
    HoldLimit,
}

fn fault() -> impl Strategy<Value = Fault> {
    prop_oneof![
        Just(Fault::ClosureErr),
        Just(Fault::ClosurePanics),
        Just(Fault::DiskFull),
        Just(Fault::StepPanics),
        Just(Fault::StepErrThenDrop),
        Just(Fault::HoldLimit),
    ]
}

/// Inserts `rows` rows in the current unit, values `failed-{i}`.
fn insert_rows(c: &rusqlite::Connection, rows: usize) -> strata::Result<()> {
    for i in 0..rows {
        c.execute(INSERT, [format!("failed-{i}")])?;
    }
    Ok(())
}

/// Runs the unit of work that `fault` ends, with `rows` rows inserted first, and
/// answers the code it failed with.
async fn failing_unit(db: &Database, fault: Fault, rows: usize) -> String {
    let err: Error = match fault {
        Fault::ClosureErr => db
            .pool()
            .write(move |c| -> strata::Result<()> {
                insert_rows(c, rows)?;
                Err(Error::invalid("unit", "fails after its inserts"))
            })
            .await
            .unwrap_err(),
        Fault::ClosurePanics => db
            .pool()
            .write(move |c| -> strata::Result<()> {
                insert_rows(c, rows)?;
                panic!("fails after its inserts")
            })
            .await
            .unwrap_err(),
        Fault::DiskFull => {
            db.pool()
                .write(|c| {
                    let pages: i64 = c.query_row("PRAGMA page_count", [], |r| r.get(0))?;
                    c.execute_batch(&format!("PRAGMA max_page_count = {}", pages + 2))?;
                    Ok(())
                })
                .await
                .unwrap();
            let err = db
                .pool()
                .write(move |c| -> strata::Result<()> {
                    insert_rows(c, rows)?;
                    for i in 0..10_000 {
                        c.execute(INSERT, [format!("{i:0>2000}")])?;
                    }
                    Ok(())
                })
                .await
                .unwrap_err();
            db.pool().write(|c| Ok(c.execute_batch("PRAGMA max_page_count = 1073741823")?)).await.unwrap();
            err
        }
        Fault::StepPanics => {
            let mut tx = db.transaction().await.unwrap();
            tx.run(move |c| insert_rows(c, rows)).await.unwrap();
            let panicked = tx.run(|_| -> strata::Result<()> { panic!("a step panics") }).await.unwrap_err();
            assert_eq!(panicked.code(), "E2007");
            let later = tx.run(|_| Ok(())).await.unwrap_err();
            assert_eq!(later.code(), "E2051", "{later}");
            later
        }
        Fault::StepErrThenDrop => {
            let mut tx = db.transaction().await.unwrap();
            tx.run(move |c| insert_rows(c, rows)).await.unwrap();
            let err = tx
                .run(|c| Ok(c.execute("INSERT INTO items(id, v) VALUES (1, 'a duplicate key')", [])?))
                .await
                .unwrap_err();
            drop(tx);
            err
        }
        Fault::HoldLimit => {
            let mut tx = db.transaction().await.unwrap();
            tx.run(move |c| insert_rows(c, rows)).await.unwrap();
            tokio::time::sleep(Duration::from_millis(HOLD_LIMIT_MS + 50)).await;
            // Queued behind the transaction: it runs once the writer let it go.
            db.pool().write(|_| Ok(())).await.unwrap();
            tx.run(|_| Ok(())).await.unwrap_err()
        }
    };
    err.code().to_string()
}

/// Whether another connection can take the write lock without waiting: the writer
/// holds no transaction.
fn write_lock_free(path: &Path) -> bool {
    let conn = rusqlite::Connection::open(path).unwrap();
    conn.busy_timeout(Duration::ZERO).unwrap();
    let free = conn.execute_batch("BEGIN IMMEDIATE; ROLLBACK;").is_ok();
    drop(conn);
    free
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 18, ..ProptestConfig::default() })]

    /// Proves that a failed unit of work is rolled back automatically: after `fault`
    /// ends a unit that inserted `rows` rows (the caller never calls `rollback`), the
    /// answer is the fault's code, none of those rows is there, the `committed` rows
    /// from before are intact, another connection can take the write lock at once,
    /// and the next write commits. A unit left open or half kept fails it.
    #[test]
    fn p07_automatic_transaction_rollback_after_errors_panics_full_disk_and_expiry(
        fault in fault(),
        rows in 1usize..30,
        committed in 1usize..10,
    ) {
        let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("app.db");
        let mut config = Config::for_path(&path);
        if matches!(fault, Fault::HoldLimit) {
            config.pool.transaction_max_ms = HOLD_LIMIT_MS;
        }
        runtime.block_on(async {
            let db = Database::open_with(&config, Migrations::from(items_set())).await.unwrap();
            db.pool().write(move |c| {
                for i in 0..committed {
                    c.execute(INSERT, [format!("kept-{i}")])?;
                }
                Ok(())
            }).await.unwrap();

            let code = failing_unit(&db, fault, rows).await;
            let expected = match fault {
                Fault::ClosureErr => "E6001",
                Fault::ClosurePanics => "E2007",
                Fault::DiskFull => "E5003",
                Fault::StepPanics => "E2051",
                Fault::StepErrThenDrop => "E4001",
                Fault::HoldLimit => "E2050",
            };
            prop_assert_eq!(code.as_str(), expected, "{:?}", fault);

            // The next write commits (and, after a full disk, makes the pool healthy).
            db.pool().write(|c| Ok(c.execute(INSERT, ["after"])?)).await.unwrap();
            let values: Vec<String> = db.pool().read(|c| {
                let mut stmt = c.prepare("SELECT v FROM items ORDER BY id")?;
                let rows = stmt.query_map([], |r| r.get(0))?.collect::<Result<_, _>>()?;
                Ok(rows)
            }).await.unwrap();
            let mut expected_values: Vec<String> = (0..committed).map(|i| format!("kept-{i}")).collect();
            expected_values.push("after".into());
            prop_assert_eq!(values, expected_values, "{:?} left rows behind", fault);
            let total: i64 = db.pool().read(|c| Ok(c.query_row(COUNT, [], |r| r.get(0))?)).await.unwrap();
            prop_assert_eq!(total, committed as i64 + 1);
            prop_assert!(write_lock_free(&path), "{:?}: the writer still holds a transaction", fault);
            prop_assert!(db.state().is_healthy(), "{:?}: {:?}", fault, db.state());
            db.close().await.unwrap();
            Ok(())
        })?;
    }
}
