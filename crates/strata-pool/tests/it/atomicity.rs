//! Property: whatever mix of succeeding, failing and panicking closures shares a
//! batch, exactly the rows of the succeeding ones are committed. Every case queues its
//! closures behind a [`Gate`], so they are one batch by construction (checked through
//! the metrics), and a failing closure sends that batch down the savepoint path.

use proptest::prelude::*;
use strata_core::Error;

use crate::{Gate, TestDb, eventually};

#[derive(Debug, Clone, Copy)]
enum Fate {
    Commit,
    Fail,
    Panic,
}

fn fate() -> impl Strategy<Value = Fate> {
    prop_oneof![6 => Just(Fate::Commit), 2 => Just(Fate::Fail), 1 => Just(Fate::Panic)]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn a_batch_commits_exactly_the_closures_that_succeeded(fates in prop::collection::vec(fate(), 1..24)) {
        let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
        runtime.block_on(async {
            let db = TestDb::new();
            let pool = db.open_with_items().await;
            let gate = Gate::hold(&pool).await;
            let before = pool.metrics();
            let writes: Vec<_> = fates.iter().enumerate().map(|(i, fate)| {
                let pool = pool.clone();
                let fate = *fate;
                tokio::spawn(async move {
                    pool.write(move |c| {
                        // Each closure writes two rows, so a half-kept closure would show.
                        c.execute("INSERT INTO items(v) VALUES (?1)", [format!("{i}-a")])?;
                        c.execute("INSERT INTO items(v) VALUES (?1)", [format!("{i}-b")])?;
                        match fate {
                            Fate::Commit => Ok(()),
                            Fate::Fail => Err(Error::invalid("fate", "fails")),
                            Fate::Panic => panic!("fate panics"),
                        }
                    }).await
                })
            }).collect();
            let queued = fates.len() as u64 + 1;
            eventually("every closure queued behind the gate", || pool.metrics().writes_queued == queued).await;
            gate.open().await.unwrap();
            let mut expected = Vec::new();
            for (i, (write, fate)) in writes.into_iter().zip(&fates).enumerate() {
                let result = write.await.unwrap();
                match fate {
                    Fate::Commit => {
                        prop_assert!(result.is_ok(), "{result:?}");
                        expected.push(format!("{i}-a"));
                        expected.push(format!("{i}-b"));
                    }
                    Fate::Fail => prop_assert_eq!(result.unwrap_err().code(), "E6001"),
                    Fate::Panic => prop_assert_eq!(result.unwrap_err().code(), "E2007"),
                }
            }
            let after = pool.metrics();
            prop_assert_eq!(after.batches - before.batches, 1, "the closures ran as one batch");
            prop_assert_eq!(after.writes - before.writes, fates.len() as u64 + 1, "the gate's write and every closure");
            expected.sort();
            let mut rows: Vec<String> = pool.read(|c| {
                let mut stmt = c.prepare("SELECT v FROM items")?;
                let rows = stmt.query_map([], |r| r.get(0))?.collect::<Result<_, _>>()?;
                Ok(rows)
            }).await.unwrap();
            rows.sort();
            prop_assert_eq!(rows, expected);
            Ok(())
        })?;
    }
}

/// A closure runs exactly once, even when a sibling in its batch fails: it bumps a
/// counter, and the counter must read 1 after the batch committed its row.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_closure_runs_exactly_once_while_a_sibling_in_its_batch_fails() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    let db = TestDb::new();
    let pool = db.open_with_items().await;
    let gate = Gate::hold(&pool).await;
    let before = pool.metrics();
    let runs = Arc::new(AtomicUsize::new(0));
    let counted = {
        let pool = pool.clone();
        let runs = Arc::clone(&runs);
        tokio::spawn(async move {
            pool.write(move |c| {
                runs.fetch_add(1, Ordering::SeqCst);
                c.execute("INSERT INTO items(v) VALUES ('counted')", [])?;
                Ok(())
            })
            .await
        })
    };
    eventually("the counted closure queued", || pool.metrics().writes_queued == 2).await;
    let failing = {
        let pool = pool.clone();
        tokio::spawn(async move {
            pool.write(|c| {
                c.execute("INSERT INTO items(v) VALUES ('failing')", [])?;
                Err::<(), _>(Error::invalid("fate", "fails"))
            })
            .await
        })
    };
    eventually("both closures queued behind the gate", || pool.metrics().writes_queued == 3).await;
    gate.open().await.unwrap();
    counted.await.unwrap().unwrap();
    assert_eq!(failing.await.unwrap().unwrap_err().code(), "E6001");
    let after = pool.metrics();
    assert_eq!(after.batches - before.batches, 1, "both closures ran in one batch");
    assert_eq!(runs.load(Ordering::SeqCst), 1, "the closure ran exactly once");
    assert_eq!(crate::item_values(&pool).await, vec!["counted".to_string()]);
}
