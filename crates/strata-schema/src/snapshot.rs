//! Pre-migration snapshots: a copy of a file database taken with SQLite's backup API.
//!
//! The snapshot is `<db>.<label>.bak` beside the database (`app.db.pre-V7.bak`), created
//! with mode 0600 before a single page is written, so its content is never readable by
//! other users. In-memory and temporary databases are not snapshotted.

use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::Connection;
use rusqlite::backup::Backup;
use strata_core::Result;

use crate::errors;

/// Pages copied per backup step; the pause between steps lets other connections work.
const PAGES_PER_STEP: i32 = 1024;
const PAUSE_BETWEEN_STEPS: Duration = Duration::from_millis(0);

/// The file a snapshot labelled `label` of the database at `db` is written to.
pub fn snapshot_path(db: &Path, label: &str) -> PathBuf {
    let mut name = db.file_name().map(|n| n.to_os_string()).unwrap_or_default();
    name.push(format!(".{label}.bak"));
    db.with_file_name(name)
}

/// The file behind `conn`, or `None` for an in-memory or temporary database.
pub fn database_file(conn: &Connection) -> Option<PathBuf> {
    conn.path().filter(|p| !p.is_empty()).map(PathBuf::from)
}

/// Copies the database behind `conn` to `dest` (replacing it) with the backup API.
pub fn snapshot_to(conn: &Connection, dest: &Path) -> Result<()> {
    match std::fs::remove_file(dest) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(errors::file_io("replace", dest, &e)),
    }
    create_private(dest)?;
    let mut target = Connection::open(dest)?;
    Backup::new(conn, &mut target)?.run_to_completion(PAGES_PER_STEP, PAUSE_BETWEEN_STEPS, None)?;
    target.close().map_err(|(_, e)| e)?;
    Ok(())
}

/// Takes the snapshot labelled `label` of a file database; `None` for an in-memory one.
pub(crate) fn take(conn: &Connection, label: &str) -> Result<Option<PathBuf>> {
    let Some(db) = database_file(conn) else { return Ok(None) };
    let dest = snapshot_path(&db, label);
    snapshot_to(conn, &dest)?;
    Ok(Some(dest))
}

/// Keeps the newest `keep` pre-migration snapshots of the database whose snapshot
/// `taken` is (`<db>.pre-*.bak` beside it, newest by modification time, then by name)
/// and removes the rest; answers the files removed. `taken` itself is always kept.
pub(crate) fn prune(taken: &Path, keep: usize) -> Result<Vec<PathBuf>> {
    let (Some(dir), Some(name)) = (taken.parent(), taken.file_name().and_then(|n| n.to_str())) else {
        return Ok(Vec::new());
    };
    // `app.db.pre-V7.bak` and `app.db.pre-down-V7.bak` share the prefix `app.db.pre-`.
    let Some(prefix) = name.find(".pre-").map(|at| &name[..at + ".pre-".len()]) else {
        return Ok(Vec::new());
    };
    let dir = if dir.as_os_str().is_empty() { Path::new(".") } else { dir };
    let entries = std::fs::read_dir(dir).map_err(|e| errors::file_io("list", dir, &e))?;
    let mut snapshots: Vec<(std::time::SystemTime, PathBuf)> = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| errors::file_io("list", dir, &e))?;
        let file = entry.file_name();
        let Some(file) = file.to_str() else { continue };
        if file.starts_with(prefix) && file.ends_with(".bak") && file != name {
            let modified = entry.metadata().and_then(|m| m.modified()).unwrap_or(std::time::UNIX_EPOCH);
            snapshots.push((modified, entry.path()));
        }
    }
    // Newest first; `taken` is the newest of all and takes one of the `keep` places.
    snapshots.sort_by(|a, b| b.cmp(a));
    let mut removed = Vec::new();
    for (_, path) in snapshots.into_iter().skip(keep.saturating_sub(1)) {
        std::fs::remove_file(&path).map_err(|e| errors::file_io("remove", &path, &e))?;
        removed.push(path);
    }
    Ok(removed)
}

/// Creates an empty file readable and writable by its owner only.
fn create_private(path: &Path) -> Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options.open(path).map(drop).map_err(|e| errors::file_io("create", path, &e))
}
