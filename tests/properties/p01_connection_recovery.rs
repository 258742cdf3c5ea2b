//! Property 1: Connection recovery behaviour.

use std::path::Path;
use std::time::Duration;

use strata::{Cause, Config, Database, Migrations, Pool, PoolState, RetryPolicy};

/// A retry policy spent within a second, so that the pool reaches `Unavailable`.
fn quick_retry() -> RetryPolicy {
    RetryPolicy {
        initial_delay_ms: 5,
        max_delay_ms: 50,
        max_attempts: 4,
        max_elapsed_ms: 1_000,
        jitter: true,
    }
}

/// A database with `items`, opened through the facade with `config` (property 2's
/// tests use it too).
pub(crate) async fn open(config: &Config) -> Database {
    let db = Database::open_with(config, Migrations::None).await.unwrap();
    db.pool()
        .write(|c| Ok(c.execute_batch("CREATE TABLE items(id INTEGER PRIMARY KEY, v TEXT NOT NULL)")?))
        .await
        .unwrap();
    db
}

/// Inserts `v` into `items` through the writer.
pub(crate) async fn insert(pool: &Pool, v: &str) -> strata::Result<()> {
    let v = v.to_string();
    pool.write(move |c| Ok(c.execute("INSERT INTO items(v) VALUES (?1)", [v.as_str()]).map(drop)?)).await
}

async fn count(pool: &Pool) -> strata::Result<i64> {
    pool.read(|c| Ok(c.query_row("SELECT count(*) FROM items", [], |r| r.get(0))?)).await
}

/// A consistent copy of the database at `to`, made by its writer.
async fn copy_to(pool: &Pool, to: &Path) {
    let to = to.to_string_lossy().into_owned();
    pool.exclusive(move |c| Ok(c.execute("VACUUM INTO ?1", [to.as_str()]).map(drop)?)).await.unwrap();
}

/// Within 30 s, the first state that satisfies `done`.
async fn wait_state(db: &Database, what: &str, done: impl FnMut(&PoolState) -> bool) -> PoolState {
    let mut states = db.watch_state();
    let state = tokio::time::timeout(Duration::from_secs(30), states.wait_for(done))
        .await
        .unwrap_or_else(|_| panic!("never happened: {what}; state {:?}", db.state()));
    state.unwrap().clone()
}

/// Proves that the pool recovers by itself from losing its file: removed, the pool
/// leaves `Healthy` (cause `FileRemoved`), fails calls fast with the typed E2040 and
/// its hint, reaches `Unavailable` once the retry policy is spent, never creates an
/// empty database in the file's place, and when the file is back it is `Healthy`
/// again with every committed row; replaced by another database, it reopens on the
/// new file (reads and writes go there).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn p01_connection_recovery_reopens_after_the_file_is_removed_or_replaced() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("app.db");
    let mut config = Config::for_path(&path);
    config.retry = quick_retry();
    let db = open(&config).await;
    let pool = db.pool();
    insert(pool, "one").await.unwrap();
    insert(pool, "two").await.unwrap();
    let saved = dir.path().join("saved.db");
    copy_to(pool, &saved).await;

    // Removed.
    std::fs::remove_file(&path).unwrap();
    let state = wait_state(&db, "unavailable once the retries are spent", |s| {
        matches!(s, PoolState::Unavailable { .. })
    })
    .await;
    assert_eq!(state.cause(), Some(&Cause::FileRemoved));
    let err = count(pool).await.unwrap_err();
    assert_eq!((err.code(), err.kind()), ("E2040", strata::ErrorKind::Unavailable), "{err}");
    assert!(!err.hint().is_empty());
    assert_eq!(insert(pool, "refused").await.unwrap_err().code(), "E2040");
    assert!(!path.exists(), "an empty database was created in the removed file's place");

    std::fs::rename(&saved, &path).unwrap();
    wait_state(&db, "healthy once the file is back", PoolState::is_healthy).await;
    assert_eq!(count(pool).await.unwrap(), 2, "every committed row is there");
    insert(pool, "three").await.unwrap();

    // Replaced by another database.
    let other = dir.path().join("other.db");
    {
        let raw = rusqlite::Connection::open(&other).unwrap();
        raw.execute_batch(
            "CREATE TABLE items(id INTEGER PRIMARY KEY, v TEXT NOT NULL); INSERT INTO items(v) VALUES ('x');",
        )
        .unwrap();
    }
    std::fs::rename(&other, &path).unwrap();
    let left = wait_state(&db, "the replacement is noticed", |s| !s.is_healthy()).await;
    assert_eq!(left.cause(), Some(&Cause::FileReplaced), "{left:?}");
    wait_state(&db, "healthy on the new file", PoolState::is_healthy).await;
    assert_eq!(count(pool).await.unwrap(), 1, "reads see the new file");
    insert(pool, "new").await.unwrap();
    db.close().await.unwrap();
    let raw = rusqlite::Connection::open(&path).unwrap();
    let n: i64 = raw.query_row("SELECT count(*) FROM items", [], |r| r.get(0)).unwrap();
    assert_eq!(n, 2, "the write after recovery went to the file at the path");
}

/// Proves the other half of recovery: with `pool.wait_when_unavailable`, a call made
/// during the outage waits (bounded by the acquire timeout) and succeeds once the
/// pool has reopened, instead of failing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn p01_connection_recovery_lets_waiting_calls_through_once_the_pool_is_back() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("app.db");
    let mut config = Config::for_path(&path);
    config.retry = quick_retry();
    config.pool.wait_when_unavailable = true;
    config.pool.acquire_timeout_ms = 60_000;
    let db = open(&config).await;
    insert(db.pool(), "one").await.unwrap();
    let saved = dir.path().join("saved.db");
    copy_to(db.pool(), &saved).await;

    std::fs::remove_file(&path).unwrap();
    wait_state(&db, "unavailable", |s| matches!(s, PoolState::Unavailable { .. })).await;
    let pool = db.pool().clone();
    let during = tokio::spawn(async move {
        insert(&pool, "during").await?;
        count(&pool).await
    });
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while db.pool().metrics().counters.get("pool.unavailable_waits").copied().unwrap_or(0) == 0 {
        assert!(std::time::Instant::now() < deadline, "the call did not wait");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    std::fs::rename(&saved, &path).unwrap();
    assert_eq!(during.await.unwrap().expect("the call waited out the outage"), 2);
    db.close().await.unwrap();
}
