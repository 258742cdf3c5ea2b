//! Every connection of both pools carries the PRAGMAs of DESIGN.md.

use std::sync::Arc;

use strata_pool::rusqlite::Connection;

use crate::TestDb;

#[derive(Debug, PartialEq)]
struct Pragmas {
    journal_mode: String,
    synchronous: i64,
    foreign_keys: i64,
    busy_timeout: i64,
    wal_autocheckpoint: i64,
    temp_store: i64,
    cache_size: i64,
    mmap_size: i64,
    journal_size_limit: i64,
    query_only: i64,
}

fn read_pragmas(c: &Connection) -> strata_core::Result<Pragmas> {
    let int = |name: &str| -> strata_core::Result<i64> {
        Ok(c.query_row(&format!("PRAGMA {name}"), [], |r| r.get(0))?)
    };
    Ok(Pragmas {
        journal_mode: c.query_row("PRAGMA journal_mode", [], |r| r.get(0))?,
        synchronous: int("synchronous")?,
        foreign_keys: int("foreign_keys")?,
        busy_timeout: int("busy_timeout")?,
        wal_autocheckpoint: int("wal_autocheckpoint")?,
        temp_store: int("temp_store")?,
        cache_size: int("cache_size")?,
        mmap_size: int("mmap_size")?,
        journal_size_limit: int("journal_size_limit")?,
        query_only: int("query_only")?,
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_connection_of_both_pools_has_the_pragmas() {
    let mut db = TestDb::new();
    db.config.pool.readers = 3;
    db.config.sqlite.wal_autocheckpoint = 0; // allowed: an external replicator checkpoints
    db.config.sqlite.cache_size = -4_096;
    let pool = db.open().await;
    let expected = |query_only| Pragmas {
        journal_mode: "wal".into(),
        synchronous: 1, // NORMAL
        foreign_keys: 1,
        busy_timeout: 5_000,
        wal_autocheckpoint: 0,
        temp_store: 2, // MEMORY
        cache_size: -4_096,
        mmap_size: 256 * 1024 * 1024,
        journal_size_limit: 64 * 1024 * 1024,
        query_only,
    };

    // Hold all three readers at once so that each is a different connection.
    let barrier = Arc::new(std::sync::Barrier::new(3));
    let reads: Vec<_> = (0..3)
        .map(|_| {
            let pool = pool.clone();
            let barrier = Arc::clone(&barrier);
            tokio::spawn(async move {
                pool.read(move |c| {
                    barrier.wait();
                    read_pragmas(c)
                })
                .await
            })
        })
        .collect();
    for read in reads {
        assert_eq!(read.await.unwrap().unwrap(), expected(1));
    }
    assert_eq!(pool.metrics().readers.open, 3);
    let writer = pool.write(read_pragmas).await.unwrap();
    assert_eq!(writer, expected(0));
}

/// `sqlite.synchronous = "full"` reaches the writer and every reader; the default is
/// NORMAL (checked above).
#[tokio::test]
async fn synchronous_full_reaches_the_writer_and_the_readers() {
    let mut db = TestDb::new();
    db.config.sqlite.synchronous = strata_core::Synchronous::Full;
    let pool = db.open().await;
    let writer = pool.write(read_pragmas).await.unwrap();
    assert_eq!(writer.synchronous, 2, "FULL on the writer");
    let reader = pool.read(read_pragmas).await.unwrap();
    assert_eq!(reader.synchronous, 2, "FULL on a reader");
    let (writer, reader) = pool.settings().await.unwrap();
    assert_eq!((writer.synchronous.as_str(), reader.synchronous.as_str()), ("FULL", "FULL"));
}
