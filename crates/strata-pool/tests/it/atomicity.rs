//! Property: whatever mix of succeeding, failing and panicking closures shares a
//! batch, exactly the rows of the succeeding ones are committed.

use proptest::prelude::*;
use strata_core::Error;

use crate::TestDb;

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
            let mut db = TestDb::new();
            db.config.pool.write_batch_wait_us = 20_000;
            let pool = db.open_with_items().await;
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
