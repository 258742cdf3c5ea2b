//! Opening: new files are 0600, and each way opening fails has its typed error and
//! leaves existing files as they were.

use std::os::unix::fs::PermissionsExt;

use strata_core::{Config, ErrorKind};
use strata_pool::Pool;

use crate::TestDb;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_database_file_is_created_with_mode_0600() {
    let db = TestDb::new();
    let pool = db.open().await;
    assert!(pool.created());
    let mode = std::fs::metadata(db.path()).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    pool.close().await.unwrap();
    let again = db.open().await;
    assert!(!again.created(), "a second open finds the file");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_text_file_is_not_a_database_and_stays_untouched() {
    let db = TestDb::new();
    let text = b"these are my notes, not a database\n".repeat(200);
    std::fs::write(db.path(), &text).unwrap();
    let err = Pool::open(&db.config).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Corruption);
    assert_eq!(err.code(), "E5002", "{err}");
    assert!(err.hint().contains("untouched"), "{}", err.hint());
    assert_eq!(std::fs::read(db.path()).unwrap(), text, "byte for byte");
    assert!(!db.dir.path().join("test.db-wal").exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_parent_directory_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("no").join("such");
    let err = Pool::open(&Config::for_path(missing.join("x.db"))).await.unwrap_err();
    assert_eq!(err.code(), "E2001");
    assert!(err.to_string().contains(&missing.display().to_string()), "{err}");
    assert!(!missing.exists(), "nothing was created");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_location_we_may_not_write_is_a_permission_error() {
    // sysfs refuses new files even to root.
    let err = Pool::open(&Config::for_path("/sys/strata-test.db")).await.unwrap_err();
    assert_eq!(err.code(), "E2002", "{err}");
    assert_eq!(err.kind(), ErrorKind::Unavailable);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_directory_in_place_of_the_file_cannot_be_opened() {
    let db = TestDb::new();
    std::fs::create_dir(db.path()).unwrap();
    let err = Pool::open(&db.config).await.unwrap_err();
    assert_eq!(err.code(), "E2004", "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invalid_config_is_refused_before_anything_opens() {
    let mut db = TestDb::new();
    db.config.pool.readers = 0;
    let err = Pool::open(&db.config).await.unwrap_err();
    assert_eq!(err.code(), "E1003");
    assert!(!db.path().exists());
}

/// Makes a directory refuse new files for as long as it lives: `chattr +i` (works
/// for root too) or, failing that, mode 0555.
struct Unwritable(std::path::PathBuf);

impl Unwritable {
    fn new(dir: &std::path::Path) -> Self {
        let immutable =
            std::process::Command::new("chattr").arg("+i").arg(dir).status().is_ok_and(|s| s.success());
        if !immutable {
            std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o555)).unwrap();
        }
        let probe = dir.join("probe");
        assert!(std::fs::write(&probe, b"x").is_err(), "test set-up: {} is still writable", dir.display());
        Unwritable(dir.to_path_buf())
    }
}

impl Drop for Unwritable {
    fn drop(&mut self) {
        let _ = std::process::Command::new("chattr").arg("-i").arg(&self.0).status();
        let _ = std::fs::set_permissions(&self.0, std::fs::Permissions::from_mode(0o755));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_in_a_read_only_directory_is_a_read_only_location_error() {
    let db = TestDb::new();
    let dir = db.dir.path().join("ro");
    std::fs::create_dir(&dir).unwrap();
    let path = dir.join("app.db");
    {
        // A database in rollback-journal mode: WAL needs to create files beside it.
        let raw = rusqlite::Connection::open(&path).unwrap();
        raw.execute_batch("CREATE TABLE t(x); INSERT INTO t VALUES (1);").unwrap();
    }
    let before = std::fs::read(&path).unwrap();
    let _guard = Unwritable::new(&dir);
    let err = Pool::open(&Config::for_path(&path)).await.unwrap_err();
    assert_eq!(err.code(), "E2003", "{err}");
    assert_eq!(err.kind(), ErrorKind::ReadOnly);
    assert_eq!(std::fs::read(&path).unwrap(), before, "the database is untouched");
}

/// A multi-thread runtime of its own, for tests that drop a pool outside it.
fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime")
}

/// Opens a pool on `rt`, commits one row and reads it back (so that a reader
/// connection exists), and hands the pool out of the runtime.
fn pool_with_one_row(rt: &tokio::runtime::Runtime, db: &TestDb) -> Pool {
    rt.block_on(async {
        let pool = db.open_with_items().await;
        pool.write(|c| Ok(c.execute("INSERT INTO items(v) VALUES ('kept')", [])?)).await.unwrap();
        assert_eq!(crate::count_items(&pool).await, 1);
        pool
    })
}

/// Opens the database again on `rt`: the row of [`pool_with_one_row`] is in the file.
fn assert_the_row_was_kept(rt: &tokio::runtime::Runtime, db: &TestDb) {
    let again = rt.block_on(db.open());
    assert_eq!(rt.block_on(crate::count_items(&again)), 1, "the committed row is in the file");
    rt.block_on(again.close()).unwrap();
}

#[test]
fn a_pool_dropped_without_close_outside_its_runtime_does_not_panic_and_keeps_its_rows() {
    let db = TestDb::new();
    let rt = runtime();
    let pool = pool_with_one_row(&rt, &db);
    // Plain synchronous code, not inside the runtime: deadpool lets a reader go on a
    // blocking thread of the current runtime, and there is none here.
    drop(pool);
    assert_the_row_was_kept(&rt, &db);
}

#[test]
fn a_pool_that_outlives_its_runtime_drops_without_panic() {
    let db = TestDb::new();
    let rt = runtime();
    let pool = pool_with_one_row(&rt, &db);
    drop(rt);
    drop(pool);
    assert_the_row_was_kept(&runtime(), &db);
}
