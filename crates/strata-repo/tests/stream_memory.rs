//! Streaming 1,000,000 search results (issue 18): every result read once, in
//! `(rank, id)` order, while the process's resident memory stays bounded by the page
//! size, not by the result count. Its own test binary so that no other test
//! allocates beside it while it samples the resident set after every page.

use std::path::Path;

use strata_core::Config;
use strata_pool::Pool;
use strata_repo::{NewSearch, Queue, QueueConfig, Searches};

/// Results of the search.
const N: i64 = 1_000_000;
/// Results per page of the stream.
const PAGE: usize = 1_000;
/// The most the resident set may grow above what it was when the stream started.
/// One page of results is a few hundred KiB and SQLite's page cache is capped below at
/// 2 MiB per connection; holding every result would take hundreds of MiB.
const BOUND: u64 = 64 << 20;

/// 1,000,000 results of search ?1, inserted by SQLite itself: ranks repeat (ties are
/// ordered by id) and are not in insertion order; `data` holds the result's number.
const FILL: &str = "WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < ?2 - 1) \
     INSERT INTO search_results (search_id, url, title, snippet, rank, content_hash, data, fetched_at) \
     SELECT ?1, 'https://r/' || i, 'result ' || i, 'a snippet of the text of the result', \
            (i * 7919) % 5000, hex(i), json_object('i', i), 1 FROM n";

/// The resident set of this process (`VmRSS` of /proc/self/status), in bytes.
fn resident_bytes() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("read /proc/self/status");
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).expect("a VmRSS line");
    let kib: u64 = line.split_whitespace().nth(1).and_then(|n| n.parse().ok()).expect("VmRSS in kB");
    kib * 1024
}

/// A pool on `dir/test.db` with the reference schema, without memory-mapped I/O (the
/// file's mapped pages would count as resident) and with a 2 MiB page cache.
async fn migrated(dir: &Path) -> Pool {
    let mut config = Config::for_path(dir.join("test.db"));
    config.sqlite.mmap_size = 0;
    config.sqlite.cache_size = -2_048;
    let pool = Pool::open(&config).await.expect("the pool opens");
    let set =
        strata_schema::MigrationSet::from_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join("../../migrations"))
            .expect("migrations/ is a valid set");
    pool.exclusive(move |conn| {
        let options = strata_schema::UpOptions { snapshot: false, ..strata_schema::UpOptions::default() };
        strata_schema::up(conn, &set, &options).map(|_| ())
    })
    .await
    .expect("the reference migrations apply");
    pool
}

#[cfg(target_os = "linux")]
#[tokio::test]
async fn streaming_a_million_results_reads_each_once_in_order_in_bounded_memory() {
    let dir = tempfile::tempdir().unwrap();
    let pool = migrated(dir.path()).await;
    let searches = Searches::new(Queue::new(pool.clone(), QueueConfig::default()).unwrap());
    let id = searches.create(NewSearch::new("q")).await.unwrap().id;
    pool.write(move |conn| Ok(conn.execute(FILL, [id, N])?)).await.unwrap();
    assert_eq!(searches.count_results(id).await.unwrap(), N as u64);

    let mut seen = vec![false; N as usize];
    let mut stream = searches.results(id, PAGE).await.unwrap();
    let start = resident_bytes();
    let mut peak = start;
    let (mut last, mut total, mut pages) = (None, 0, 0);
    while let Some(page) = stream.next_page().await.unwrap() {
        assert!(!page.is_empty() && page.len() <= PAGE, "a page of {} rows", page.len());
        pages += 1;
        for r in page {
            let key = (r.rank, r.id);
            assert!(last.is_none_or(|l| l < key), "{last:?} then {key:?}");
            last = Some(key);
            let i = r.data["i"].as_u64().unwrap() as usize;
            assert!(!seen[i], "result {i} read twice");
            seen[i] = true;
            total += 1;
        }
        peak = peak.max(resident_bytes());
    }
    let grew = peak.saturating_sub(start);
    assert_eq!(total, N);
    assert_eq!(pages, N as usize / PAGE);
    assert!(seen.iter().all(|s| *s), "every result was read");
    assert!(grew < BOUND, "streaming {N} results grew the resident set by {grew} bytes (bound {BOUND})");
    eprintln!("{N} results in {pages} pages; resident set grew by {grew} bytes at most");
}
