//! `restore`: replace a database with a verified backup. The backup is verified
//! first; a database that anyone has open is never replaced: not by a pool of this
//! process (E5008), nor a pool of another process (its lock file, E5011), nor any
//! other SQLite connection (E5012); the lock file is held exclusively until the new
//! file is in place, and never moved or removed. The replaced
//! file is kept as `<db>.replaced-<time>` (its `-wal` moved with it as
//! `<db>.replaced-<time>-wal`), and the old `-shm` is removed, so nothing of the old
//! database can be replayed onto the restored one.

use std::path::{Path, PathBuf};
use std::time::Instant;

use serde::{Deserialize, Serialize};
use strata_core::{Error, Result};

use crate::backup::{self, VerifyReport};
use crate::{ProgressFn, clock, files};

/// How to restore.
#[derive(Clone, Default)]
pub struct RestoreOptions {
    /// Replace an existing database (it is kept as `<db>.replaced-<time>` either way).
    pub force: bool,
    /// Receives verify, hash and copy progress.
    pub progress: Option<ProgressFn>,
    /// The document store to put the backup's document files back into; `None` is
    /// the default, `<db>.files/`.
    pub documents_dir: Option<PathBuf>,
}

impl std::fmt::Debug for RestoreOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RestoreOptions").field("force", &self.force).finish_non_exhaustive()
    }
}

/// What `restore` did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RestoreReport {
    /// The database that was restored.
    pub database: PathBuf,
    /// The backup it was restored from.
    pub backup: PathBuf,
    /// When that backup was taken, from its manifest.
    pub backup_created_at: Option<String>,
    /// The verification of the backup done first.
    pub verification: VerifyReport,
    /// Where the replaced database was moved, if there was one.
    pub replaced: Option<PathBuf>,
    /// Where the replaced database's `-wal` was moved, if there was one.
    pub replaced_wal: Option<PathBuf>,
    /// Whether a stale `-shm` was removed.
    pub removed_shm: bool,
    /// Bytes written.
    pub bytes: u64,
    /// Document files put back into the store (those it lacked).
    #[serde(default)]
    pub documents_restored: u64,
    /// How long it took, milliseconds.
    pub duration_ms: u64,
}

/// Replaces the database at `db` with the backup file `backup`, after verifying it.
/// Fails with E5008 while a pool of this process has `db` open, E5011 while a pool
/// of another process has it open (or another restore runs), E5012 while another
/// SQLite connection has it open, E5006 when the backup does not verify, and E5009
/// when `db` exists and `force` is off.
pub async fn restore(db: &Path, backup: &Path, options: RestoreOptions) -> Result<RestoreReport> {
    let (db, backup) = (db.to_path_buf(), backup.to_path_buf());
    tokio::task::spawn_blocking(move || restore_blocking(&db, &backup, &options))
        .await
        .map_err(|e| Error::task_failed("restore", e))?
}

/// [`restore`] on the calling thread.
pub fn restore_blocking(db: &Path, backup: &Path, options: &RestoreOptions) -> Result<RestoreReport> {
    let started = Instant::now();
    let _lock = refuse_if_open(db)?;
    let verification = backup::verify(backup, options.progress.clone())?;
    if !verification.ok {
        return Err(Error::BackupInvalid {
            path: backup.to_path_buf(),
            reason: verification.problems.join("; "),
        });
    }
    if db.exists() && !options.force {
        return Err(Error::RestoreRefused {
            path: db.to_path_buf(),
            reason: "the database exists; force replaces it and keeps it as <db>.replaced-<time>".into(),
        });
    }
    let store = store_dir(db, options.documents_dir.as_deref());
    let placed = replace_with(db, backup, &store, "replaced", options.progress.as_ref())?;
    tracing::info!(target: "strata::backup", db = %db.display(), backup = %backup.display(), "database restored");
    Ok(RestoreReport {
        database: db.to_path_buf(),
        backup: backup.to_path_buf(),
        backup_created_at: verification.manifest.as_ref().map(|m| m.created_at.clone()),
        verification,
        replaced: placed.moved,
        replaced_wal: placed.moved_wal,
        removed_shm: placed.removed_shm,
        bytes: placed.bytes,
        documents_restored: placed.documents,
        duration_ms: started.elapsed().as_millis() as u64,
    })
}

/// Makes sure nothing has `db` open and keeps it that way for strata: E5008 when a
/// pool of this process has it open, E5011 when another process holds its lock file,
/// E5012 when another SQLite connection has it. The lock file stays held exclusively
/// (new pools fail with E5011) until the returned lock is dropped.
pub(crate) fn refuse_if_open(db: &Path) -> Result<strata_pool::ExclusiveLock> {
    if strata_pool::is_open(db) {
        return Err(Error::DatabaseInUse { path: db.to_path_buf() });
    }
    let lock = strata_pool::lock_exclusive(db)?;
    strata_pool::refuse_other_connections(db)?;
    Ok(lock)
}

/// The document store of the database at `db`: `dir`, or the default `<db>.files/`.
pub(crate) fn store_dir(db: &Path, dir: Option<&Path>) -> PathBuf {
    match dir {
        Some(dir) => dir.to_path_buf(),
        None => strata_core::DocumentsConfig::default().dir_for(db),
    }
}

/// What [`replace_with`] moved and wrote.
pub(crate) struct Placed {
    pub moved: Option<PathBuf>,
    pub moved_wal: Option<PathBuf>,
    pub moved_shm: Option<PathBuf>,
    pub removed_shm: bool,
    pub bytes: u64,
    pub documents: u64,
}

/// Switches the file at `path` to `journal_mode=WAL` (persistent in its header) and
/// closes it, which removes the `-wal` and `-shm` it made.
fn wal_mode(path: &Path) -> Result<()> {
    let conn = rusqlite::Connection::open(path)?;
    conn.query_row("PRAGMA journal_mode = WAL", [], |r| r.get::<_, String>(0))?;
    conn.close().map_err(|(_, e)| Error::from(e))?;
    Ok(())
}

/// Puts the backup's document files back into `store` (first: when the restored rows
/// appear, their files are there), copies `backup` next to `db`, switches the copy to
/// WAL, moves the old database and its `-wal` aside as `<db>.<label>-<time>` (the
/// `-shm` is removed, or moved too for `corrupt`), and renames the copy into place;
/// fsynced.
pub(crate) fn replace_with(
    db: &Path,
    backup: &Path,
    store: &Path,
    label: &str,
    progress: Option<&ProgressFn>,
) -> Result<Placed> {
    let listed = backup::read_manifest(backup)?.map(|m| m.documents).unwrap_or_default();
    let documents = crate::documents::restore_store(backup, &listed, store)?;
    let partial = files::sidecar(db, ".restore.partial");
    files::remove_if_exists(&partial)?;
    let bytes = match files::copy(backup, &partial, progress) {
        Ok(bytes) => bytes,
        Err(err) => {
            let _ = files::remove_if_exists(&partial);
            return Err(err);
        }
    };
    // Backups are single files in rollback-journal mode; the live database runs in WAL.
    if let Err(err) = wal_mode(&partial) {
        let _ = files::remove_if_exists(&partial);
        return Err(err);
    }
    let aside = files::sidecar(db, &format!(".{label}-{}", clock::file_stamp(clock::now())));
    let moved = files::move_if_exists(db, &aside)?.then(|| aside.clone());
    let aside_wal = files::wal_path(&aside);
    let moved_wal = files::move_if_exists(&files::wal_path(db), &aside_wal)?.then_some(aside_wal);
    let (moved_shm, removed_shm) = if label == "corrupt" {
        let aside_shm = files::shm_path(&aside);
        (files::move_if_exists(&files::shm_path(db), &aside_shm)?.then_some(aside_shm), false)
    } else {
        (None, files::remove_if_exists(&files::shm_path(db))?)
    };
    files::rename(&partial, db)?;
    files::fsync_dir(files::parent(db))?;
    Ok(Placed { moved, moved_wal, moved_shm, removed_shm, bytes, documents })
}
