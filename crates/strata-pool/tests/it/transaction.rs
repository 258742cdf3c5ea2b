//! `Pool::transaction`: statements separated by awaits run in one `BEGIN IMMEDIATE`
//! ... `COMMIT` on the writer, a dropped handle rolls back, and the hold limit rolls
//! back with a typed error.

use strata_core::Error;

use crate::{TestDb, item_values};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn statements_across_awaits_commit_together_and_are_invisible_before() {
    let db = TestDb::new();
    let pool = db.open_with_items().await;
    let mut tx = pool.transaction().await.unwrap();
    tx.run(|c| Ok(c.execute("INSERT INTO items(v) VALUES ('a')", [])?)).await.unwrap();
    // An await between statements: a read through the pool does not see the row yet.
    assert!(item_values(&pool).await.is_empty(), "uncommitted rows are invisible to readers");
    let n: i64 = tx.run(|c| Ok(c.query_row("SELECT count(*) FROM items", [], |r| r.get(0))?)).await.unwrap();
    assert_eq!(n, 1, "the transaction sees its own row");
    tx.run(|c| Ok(c.execute("INSERT INTO items(v) VALUES ('b')", [])?)).await.unwrap();
    tx.commit().await.unwrap();
    assert_eq!(item_values(&pool).await, vec!["a".to_string(), "b".to_string()]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_step_keeps_the_transaction_and_a_dropped_handle_rolls_back() {
    let db = TestDb::new();
    let pool = db.open_with_items().await;
    let mut tx = pool.transaction().await.unwrap();
    tx.run(|c| Ok(c.execute("INSERT INTO items(v) VALUES ('a')", [])?)).await.unwrap();
    let dup = tx.run(|c| Ok(c.execute("INSERT INTO items(v) VALUES ('a')", [])?)).await;
    assert_eq!(dup.unwrap_err().code(), "E4001");
    drop(tx);
    // The writer takes other writes again, and the dropped transaction left nothing.
    pool.write(|c| Ok(c.execute("INSERT INTO items(v) VALUES ('after')", [])?)).await.unwrap();
    assert_eq!(item_values(&pool).await, vec!["after".to_string()]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn past_its_hold_limit_a_transaction_is_rolled_back_with_a_typed_error() {
    let mut db = TestDb::new();
    db.config.pool.transaction_max_ms = 200;
    let pool = db.open_with_items().await;
    let mut tx = pool.transaction().await.unwrap();
    tx.run(|c| Ok(c.execute("INSERT INTO items(v) VALUES ('held')", [])?)).await.unwrap();
    // This write queues behind the transaction and runs only once the writer let go
    // of it, which it does at the limit: no sleep, the write's answer is the signal.
    pool.write(|c| Ok(c.execute("INSERT INTO items(v) VALUES ('queued')", [])?)).await.unwrap();
    let late = tx.run(|c| Ok(c.execute("INSERT INTO items(v) VALUES ('late')", [])?)).await;
    let err = late.unwrap_err();
    assert_eq!(err.code(), "E2050", "{err}");
    assert!(matches!(err, Error::TransactionExpired { limit_ms: 200 }), "{err:?}");
    assert_eq!(tx.commit().await.unwrap_err().code(), "E2050");
    assert_eq!(item_values(&pool).await, vec!["queued".to_string()], "the held row was rolled back");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panicking_step_rolls_the_transaction_back() {
    let db = TestDb::new();
    let pool = db.open_with_items().await;
    let mut tx = pool.transaction().await.unwrap();
    tx.run(|c| Ok(c.execute("INSERT INTO items(v) VALUES ('a')", [])?)).await.unwrap();
    let panicked = tx.run(|_| -> strata_core::Result<()> { panic!("step panics") }).await;
    assert_eq!(panicked.unwrap_err().code(), "E2007");
    assert_eq!(tx.commit().await.unwrap_err().code(), "E2051");
    pool.write(|c| Ok(c.execute("INSERT INTO items(v) VALUES ('b')", [])?)).await.unwrap();
    assert_eq!(item_values(&pool).await, vec!["b".to_string()]);
}
