//! Who else has a database open, across processes: the lock file beside every
//! database (`<db>.strata-lock`), which every pool holds shared while it is open and
//! restore and recover hold exclusively while they replace the file, and a probe of
//! SQLite's own locks for connections that are not strata pools.

use std::fs::{File, OpenOptions, TryLockError};
use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::config::DbConfig;
use rusqlite::{Connection, OpenFlags};
use strata_core::{Error, Result};

/// What is appended to the database's file name to name its lock file.
pub const LOCK_FILE_SUFFIX: &str = ".strata-lock";

/// The lock file of the database at `db`: `<db>.strata-lock` beside it. It is
/// created with mode 0600 and never moved or removed by strata.
pub fn lock_path(db: &Path) -> PathBuf {
    let mut name = db.as_os_str().to_owned();
    name.push(LOCK_FILE_SUFFIX);
    PathBuf::from(name)
}

/// The lock file of a database held exclusively; released when dropped.
#[derive(Debug)]
pub struct ExclusiveLock {
    /// `None` when the file system does not support locks (then only the SQLite probe guards).
    _file: Option<File>,
}

/// Takes the lock file of `db` exclusively, without waiting. Fails with E5011 while
/// another pool (of any process, this one included) or another restore holds it, and
/// with E5005 when the lock file cannot be created (the directory is not writable, so
/// the database could not be replaced either).
pub fn lock_exclusive(db: &Path) -> Result<ExclusiveLock> {
    let lock = lock_path(db);
    let file = open_lock_file(&lock).map_err(|e| Error::file_io("open the lock file", &lock, &e))?;
    match file.try_lock() {
        Ok(()) => Ok(ExclusiveLock { _file: Some(file) }),
        Err(TryLockError::WouldBlock) => Err(Error::DatabaseLocked { path: db.to_path_buf(), lock }),
        Err(TryLockError::Error(e)) => {
            tracing::warn!(
                target: "strata::pool",
                lock = %lock.display(),
                error = %e,
                "file locks are not supported here; only SQLite's own locks guard the database"
            );
            Ok(ExclusiveLock { _file: None })
        }
    }
}

/// Takes the lock file of `db` shared, for a pool, without waiting. Fails with E5011
/// while a restore or recovery holds it exclusively. When the lock file cannot be
/// created or opened (a read-only directory or file) or locks are not supported, the
/// pool goes on without it (`Ok(None)`, traced at debug): readers never fail because
/// of the lock file.
pub(crate) fn lock_shared(db: &Path) -> Result<Option<File>> {
    let lock = lock_path(db);
    match open_lock_file(&lock).or_else(|_| File::open(&lock)) {
        Ok(file) => try_shared(db, lock, file),
        Err(e) => {
            tracing::debug!(target: "strata::pool", lock = %lock.display(), error = %e, "no lock file; the pool goes on without it");
            Ok(None)
        }
    }
}

/// Like [`lock_shared`] for a read-only pool, which creates nothing: the lock file is
/// locked shared only when it already exists. A restore in progress (the lock held
/// exclusively) still refuses the open with E5011.
pub(crate) fn lock_shared_if_present(db: &Path) -> Result<Option<File>> {
    let lock = lock_path(db);
    match File::open(&lock) {
        Ok(file) => try_shared(db, lock, file),
        Err(_) => Ok(None),
    }
}

/// Takes a shared lock on the opened lock `file` without waiting.
fn try_shared(db: &Path, lock: PathBuf, file: File) -> Result<Option<File>> {
    match file.try_lock_shared() {
        Ok(()) => Ok(Some(file)),
        Err(TryLockError::WouldBlock) => Err(Error::DatabaseLocked { path: db.to_path_buf(), lock }),
        Err(TryLockError::Error(e)) => {
            tracing::debug!(target: "strata::pool", lock = %lock.display(), error = %e, "cannot lock the lock file; the pool goes on without it");
            Ok(None)
        }
    }
}

/// Asks SQLite for the database at `db` alone, without changing it, and fails with
/// E5012 when another connection has it: a probe connection in `locking_mode =
/// EXCLUSIVE` with no busy timeout runs `BEGIN EXCLUSIVE; ROLLBACK`, which needs an
/// EXCLUSIVE lock on the file. Every WAL connection that has read the database holds
/// a SHARED lock on it until it closes (idle or not), and a rollback-journal
/// connection holds one for each read transaction, so either makes the probe busy.
/// The probe writes nothing: it does not checkpoint on close when a `-wal` was
/// already there (kept as it is), and otherwise checkpoints only the empty `-wal` it
/// made, which removes it again. A missing file, or one SQLite cannot read as a
/// database (damaged), has no connections to protect and passes.
pub fn refuse_other_connections(db: &Path) -> Result<()> {
    if !db.is_file() {
        return Ok(());
    }
    let wal_existed = wal_path(db).exists();
    let probed = probe(db, wal_existed);
    match probed {
        Ok(()) => Ok(()),
        Err(rusqlite::Error::SqliteFailure(e, message))
            if matches!(e.code, rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked) =>
        {
            Err(Error::DatabaseConnected {
                path: db.to_path_buf(),
                reason: format!(
                    "SQLite refused this process the file alone ({})",
                    message.unwrap_or_else(|| e.to_string())
                ),
            })
        }
        Err(e) => {
            tracing::debug!(target: "strata::pool", db = %db.display(), error = %e, "the connection probe could not read the database; nothing holds it as a database");
            Ok(())
        }
    }
}

/// Takes the EXCLUSIVE lock through SQLite, drops it and closes the probe.
const PROBE_EXCLUSIVE: &str = "BEGIN EXCLUSIVE; ROLLBACK";

/// The probe connection of [`refuse_other_connections`].
fn probe(db: &Path, wal_existed: bool) -> rusqlite::Result<()> {
    let conn =
        Connection::open_with_flags(db, OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX)?;
    conn.busy_timeout(Duration::ZERO)?;
    // A -wal that was there (a crashed writer's) is left exactly as it is.
    conn.set_db_config(DbConfig::SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, wal_existed)?;
    // Set before the first read: in WAL mode the probe then keeps its index in memory
    // and neither creates nor writes the -shm.
    conn.query_row("PRAGMA locking_mode = EXCLUSIVE", [], |r| r.get::<_, String>(0))?;
    conn.execute_batch(PROBE_EXCLUSIVE)?;
    conn.close().map_err(|(_, e)| e)
}

/// `<db>-wal`.
fn wal_path(db: &Path) -> PathBuf {
    let mut name = db.as_os_str().to_owned();
    name.push("-wal");
    PathBuf::from(name)
}

/// Opens (creating with mode 0600) the lock file for reading and writing.
fn open_lock_file(lock: &Path) -> std::io::Result<File> {
    let mut options = OpenOptions::new();
    options.read(true).write(true).create(true).truncate(false);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options.open(lock)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lock_file_that_cannot_be_created_lets_the_pool_go_on_without_it() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("missing").join("app.db");
        assert!(lock_shared(&db).unwrap().is_none());
        assert_eq!(lock_exclusive(&db).unwrap_err().code(), "E5005", "restore cannot replace it either");
    }

    #[test]
    fn the_lock_file_is_named_after_the_database() {
        assert_eq!(lock_path(Path::new("/srv/app.db")), Path::new("/srv/app.db.strata-lock"));
    }
}
