//! `restore`: replace a database with a verified backup. The backup is verified
//! first; a database that anyone has open is never replaced: not by a pool of this
//! process (E5008), nor a pool of another process (its lock file, E5011), nor any
//! other SQLite connection (E5012); the lock file is held exclusively until the new
//! file is in place, and never moved or removed. The replaced
//! file is kept as `<db>.replaced-<time>` (its `-wal` moved with it as
//! `<db>.replaced-<time>-wal`), and the old `-shm` is removed, so nothing of the old
//! database can be replayed onto the restored one.
//!
//! [`restore_from_replica`] does the same with a Litestream replica: `litestream
//! restore -o <db>.replica-restore URL` writes the replica's newest state beside the
//! database, strata verifies it like a backup (E5022 when it does not verify), and
//! only then puts it in place, keeping the replaced file the same way.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use serde::{Deserialize, Serialize};
use strata_core::{Error, Result};
use strata_pool::operation;

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
    let work = tokio::task::spawn_blocking(move || restore_blocking(&db, &backup, &options));
    operation("restore", "*", async { work.await.map_err(|e| Error::task_failed("restore", e))? }).await
}

/// [`restore`] on the calling thread.
pub(crate) fn restore_blocking(db: &Path, backup: &Path, options: &RestoreOptions) -> Result<RestoreReport> {
    let started = Instant::now();
    let _lock = refuse_if_open(db)?;
    let verification = backup::verify_blocking(backup, options.progress.clone())?;
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
    let listed = backup::read_manifest_blocking(backup)?.map(|m| m.documents).unwrap_or_default();
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

/// How to restore from a Litestream replica.
#[derive(Clone)]
pub struct ReplicaRestoreOptions {
    /// The `litestream` binary to run.
    pub litestream: PathBuf,
    /// Replace an existing database (it is kept as `<db>.replaced-<time>` either way).
    pub force: bool,
    /// Receives verify, hash and copy progress.
    pub progress: Option<ProgressFn>,
}

impl std::fmt::Debug for ReplicaRestoreOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReplicaRestoreOptions")
            .field("litestream", &self.litestream)
            .field("force", &self.force)
            .finish_non_exhaustive()
    }
}

/// What `restore_from_replica` did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReplicaRestoreReport {
    /// The database that was restored.
    pub database: PathBuf,
    /// The replica URL it was restored from, as Litestream was given it.
    pub replica: String,
    /// strata's verification of the file Litestream restored, done before it was
    /// put in place.
    pub verification: VerifyReport,
    /// Where the replaced database was moved, if there was one.
    pub replaced: Option<PathBuf>,
    /// Where the replaced database's `-wal` was moved, if there was one.
    pub replaced_wal: Option<PathBuf>,
    /// Whether a stale `-shm` was removed.
    pub removed_shm: bool,
    /// Bytes written.
    pub bytes: u64,
    /// How long it took (Litestream's download included), milliseconds.
    pub duration_ms: u64,
}

/// The replica URL Litestream is given: `file://` and `s3://` style URLs as they are,
/// a plain path as a `file://` URL of its absolute form (Litestream reads a plain
/// path as a database to look up in its config file).
pub fn replica_url(replica: &str) -> Result<String> {
    if replica.contains("://") {
        return Ok(replica.to_string());
    }
    let path = std::path::absolute(replica).map_err(|e| Error::file_io("resolve", Path::new(replica), &e))?;
    Ok(format!("file://{}", path.display()))
}

/// Replaces the database at `db` with the newest state of the Litestream replica at
/// `replica` (a URL, or a replica directory), after strata verified it: the refusals
/// of [`restore`] (E5008, E5011, E5012, E5009), then E5020 when Litestream cannot be
/// run, E5021 when its restore fails, E5022 when the restored file does not verify.
/// Nothing is replaced unless every step passed.
pub async fn restore_from_replica(
    db: &Path,
    replica: &str,
    options: ReplicaRestoreOptions,
) -> Result<ReplicaRestoreReport> {
    let (db, replica) = (db.to_path_buf(), replica.to_string());
    let work = tokio::task::spawn_blocking(move || restore_from_replica_blocking(&db, &replica, &options));
    operation("restore.replica", "*", async { work.await.map_err(|e| Error::task_failed("restore", e))? })
        .await
}

/// [`restore_from_replica`] on the calling thread.
pub(crate) fn restore_from_replica_blocking(
    db: &Path,
    replica: &str,
    options: &ReplicaRestoreOptions,
) -> Result<ReplicaRestoreReport> {
    let started = Instant::now();
    let url = replica_url(replica)?;
    let _lock = refuse_if_open(db)?;
    if db.exists() && !options.force {
        return Err(Error::RestoreRefused {
            path: db.to_path_buf(),
            reason: "the database exists; force replaces it and keeps it as <db>.replaced-<time>".into(),
        });
    }
    let restored = files::sidecar(db, ".replica-restore");
    remove_with_sidecars(&restored)?;
    let outcome = litestream_restore(&options.litestream, &url, &restored)
        .and_then(|()| backup::verify_blocking(&restored, options.progress.clone()))
        .and_then(|verification| {
            if !verification.ok {
                return Err(Error::ReplicaInvalid {
                    url: url.clone(),
                    reason: verification.problems.join("; "),
                });
            }
            let placed =
                replace_with(db, &restored, &store_dir(db, None), "replaced", options.progress.as_ref())?;
            Ok((verification, placed))
        });
    remove_with_sidecars(&restored)?;
    let (verification, placed) = outcome?;
    tracing::info!(target: "strata::backup", db = %db.display(), replica = %url, "database restored from replica");
    Ok(ReplicaRestoreReport {
        database: db.to_path_buf(),
        replica: url,
        verification,
        replaced: placed.moved,
        replaced_wal: placed.moved_wal,
        removed_shm: placed.removed_shm,
        bytes: placed.bytes,
        duration_ms: started.elapsed().as_millis() as u64,
    })
}

/// Runs `litestream restore -o OUT URL`: E5020 when it cannot start, E5021 when it
/// fails (with its exit status and the last lines it wrote).
fn litestream_restore(litestream: &Path, url: &str, out: &Path) -> Result<()> {
    let output =
        Command::new(litestream).arg("restore").arg("-o").arg(out).arg(url).output().map_err(|e| {
            Error::ReplicatorUnavailable { program: litestream.to_path_buf(), message: e.to_string() }
        })?;
    if output.status.success() && out.is_file() {
        return Ok(());
    }
    let stderr = String::from_utf8_lossy(&output.stderr);
    let last: Vec<&str> = stderr.lines().rev().filter(|l| !l.trim().is_empty()).take(3).collect();
    let said = last.into_iter().rev().collect::<Vec<_>>().join("; ");
    let message = if output.status.success() {
        format!("it wrote no database ({said})")
    } else {
        format!("{}: {said}", output.status)
    };
    Err(Error::ReplicaRestoreFailed { url: url.to_string(), message })
}

/// Removes `path` and its `-wal` and `-shm`, where they exist.
fn remove_with_sidecars(path: &Path) -> Result<()> {
    files::remove_if_exists(path)?;
    files::remove_if_exists(&files::wal_path(path))?;
    files::remove_if_exists(&files::shm_path(path))?;
    Ok(())
}
