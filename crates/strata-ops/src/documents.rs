//! Verification of the document store beside a database: every live `documents` row
//! has its file with the right size (and, when asked, the right SHA-256), and the files
//! no row references are listed. Read-only: it changes neither the database nor the
//! store (strata-repo's `Documents::gc` removes what it lists). Part of the health
//! report ([`crate::health`]) when the store exists.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use rusqlite::Connection;
use serde::{Deserialize, Serialize};
use strata_core::store;
use strata_core::{Error, Result};
use strata_pool::{Pool, operation};

use crate::files;

/// A document whose file is missing or differs from its row.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DocumentProblem {
    /// The document's id.
    pub id: i64,
    /// Its name.
    pub name: String,
    /// The SHA-256 its row holds.
    pub sha256: String,
    /// What is wrong, for a person.
    pub reason: String,
}

/// A file in the store that no row references.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrphanFile {
    /// Its digest (file name).
    pub sha256: String,
    /// Where it is.
    pub path: PathBuf,
    /// Its size in bytes.
    pub size: u64,
}

/// What a verification of the store found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoreReport {
    /// The store's directory.
    pub dir: PathBuf,
    /// Live documents checked.
    pub documents: u64,
    /// Content files in the store.
    pub files: u64,
    /// Bytes those files hold.
    pub bytes: u64,
    /// Whether every live file was hashed (otherwise only sizes were compared).
    pub hashed: bool,
    /// Live documents whose file is missing.
    pub missing: Vec<DocumentProblem>,
    /// Live documents whose file has another size or hash than their row.
    pub changed: Vec<DocumentProblem>,
    /// Files no row (live or soft-deleted) references.
    pub orphans: Vec<OrphanFile>,
    /// Temporary files of puts that have not finished (or never will).
    pub temp_files: u64,
}

impl StoreReport {
    /// Whether a live document is missing or damaged.
    pub fn has_damage(&self) -> bool {
        !self.missing.is_empty() || !self.changed.is_empty()
    }
}

/// Whether the database has the `documents` table (V10).
const HAS_DOCUMENTS: &str = "SELECT count(*) FROM sqlite_schema WHERE type = 'table' AND name = 'documents'";

/// Every document row, live or deleted, in id order.
const ROWS: &str = "SELECT id, name, size, sha256, deleted_at IS NOT NULL FROM documents ORDER BY id";

/// Verifies the store in `dir` against the rows of `conn`'s `documents` table; `hash`
/// also reads and hashes every live file. `None` when the database has no
/// `documents` table.
pub(crate) fn verify_store(conn: &Connection, dir: &Path, hash: bool) -> Result<Option<StoreReport>> {
    let tables: i64 = conn.query_row(HAS_DOCUMENTS, [], |r| r.get(0))?;
    if tables == 0 {
        return Ok(None);
    }
    let mut report = StoreReport {
        dir: dir.to_path_buf(),
        documents: 0,
        files: 0,
        bytes: 0,
        hashed: hash,
        missing: Vec::new(),
        changed: Vec::new(),
        orphans: Vec::new(),
        temp_files: 0,
    };
    let mut referenced = BTreeSet::new();
    let mut stmt = conn.prepare(ROWS)?;
    let mut rows = stmt.query([])?;
    while let Some(row) = rows.next()? {
        let (id, name, size, sha256, deleted): (i64, String, i64, String, bool) =
            (row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?, row.get(4)?);
        referenced.insert(sha256.clone());
        if deleted {
            continue;
        }
        report.documents += 1;
        let problem =
            |reason: String| DocumentProblem { id, name: name.clone(), sha256: sha256.clone(), reason };
        let Some(path) = store::blob_path(dir, &sha256) else {
            report.changed.push(problem("its sha256 is not a digest".into()));
            continue;
        };
        let actual = match std::fs::metadata(&path) {
            Ok(meta) => meta.len(),
            Err(_) => {
                report.missing.push(problem(format!("{} is missing", path.display())));
                continue;
            }
        };
        if i64::try_from(actual).ok() != Some(size) {
            report.changed.push(problem(format!("the file holds {actual} bytes, the row says {size}")));
            continue;
        }
        if hash {
            let digest = files::sha256(&path, None)?;
            if digest != sha256 {
                report.changed.push(problem(format!("the file's sha256 is {digest}")));
            }
        }
    }
    let blobs = store::blob_files(dir).map_err(|e| Error::file_io("list", dir, &e))?;
    report.files = blobs.len() as u64;
    report.bytes = blobs.iter().map(|b| b.size).sum();
    report.orphans = blobs
        .into_iter()
        .filter(|b| !referenced.contains(&b.digest))
        .map(|b| OrphanFile { sha256: b.digest, path: b.path, size: b.size })
        .collect();
    report.temp_files = store::tmp_files(dir).map_err(|e| Error::file_io("list", dir, &e))?.len() as u64;
    Ok(Some(report))
}

/// [`verify_store`] on one of the pool's readers.
pub async fn verify(pool: &Pool, dir: &Path, hash: bool) -> Result<Option<StoreReport>> {
    let dir = dir.to_path_buf();
    operation("documents.verify", "documents", pool.read(move |conn| verify_store(conn, &dir, hash))).await
}

/// One document file a backup holds, as its manifest lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BackedUpFile {
    /// Its SHA-256 (its name in the store and in the backup's files directory).
    pub sha256: String,
    /// Its size in bytes.
    pub size: u64,
}

/// The document files of a backup live in this directory beside the backup file:
/// `<backup>.files/`, in the store's sharded layout.
pub fn backup_files_dir(backup: &Path) -> PathBuf {
    files::sidecar(backup, ".files")
}

/// Every distinct file the rows of `conn`'s `documents` table reference (live and
/// soft-deleted), sorted; empty without the table.
const REFERENCED_FILES: &str = "SELECT DISTINCT sha256, size FROM documents ORDER BY sha256";

/// Copies every file the `documents` rows of the backup copy `copy` reference from the
/// store `store` into `dest` (created 0700, which must not exist), checking each one's
/// SHA-256 while copying, fsynced. A referenced file missing from the store or
/// differing from its row is E5006: a backup never looks complete without its
/// documents. Returns what it copied (nothing, and no `dest`, when there are none).
pub(crate) fn backup_store(copy: &Path, store: &Path, dest: &Path) -> Result<Vec<BackedUpFile>> {
    let conn = strata_pool::open_read_only(copy)?;
    let tables: i64 = conn.query_row(HAS_DOCUMENTS, [], |r| r.get(0))?;
    if tables == 0 {
        return Ok(Vec::new());
    }
    let mut stmt = conn.prepare(REFERENCED_FILES)?;
    let wanted: Vec<(String, i64)> =
        stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?.collect::<rusqlite::Result<_>>()?;
    drop(stmt);
    drop(conn);
    let mut copied = Vec::new();
    for (sha256, size) in wanted {
        let invalid = |reason: String| Error::BackupInvalid { path: copy.to_path_buf(), reason };
        let (Some(from), Some(to)) = (store::blob_path(store, &sha256), store::blob_path(dest, &sha256))
        else {
            return Err(invalid(format!("a documents row holds `{sha256}`, which is not a sha256")));
        };
        files::create_private_dir(files::parent(&to))?;
        let bytes = files::copy(&from, &to, None).map_err(|err| {
            invalid(format!("document file {sha256} cannot be copied ({err}); run `strata docs verify`"))
        })?;
        let digest = files::sha256(&to, None)?;
        if i64::try_from(bytes).ok() != Some(size) || digest != sha256 {
            return Err(invalid(format!(
                "document file {sha256} differs from its row (size {bytes}, sha256 {digest}); run `strata docs verify`"
            )));
        }
        copied.push(BackedUpFile { sha256, size: bytes });
    }
    if !copied.is_empty() {
        sync_tree(dest)?;
    }
    Ok(copied)
}

/// The problems of a backup's document files: each one the manifest lists must be in
/// `<backup>.files/` with its size and SHA-256.
pub(crate) fn verify_backup_store(backup: &Path, listed: &[BackedUpFile]) -> Result<Vec<String>> {
    let dir = backup_files_dir(backup);
    let mut problems = Vec::new();
    for file in listed {
        let Some(path) = store::blob_path(&dir, &file.sha256) else {
            problems.push(format!("the manifest lists `{}`, which is not a sha256", file.sha256));
            continue;
        };
        if !path.is_file() {
            problems.push(format!("document file {} is missing from {}", file.sha256, dir.display()));
            continue;
        }
        let size = files::size(&path);
        let digest = files::sha256(&path, None)?;
        if size != file.size || digest != file.sha256 {
            problems.push(format!(
                "document file {} differs from the manifest (size {size}, sha256 {digest})",
                file.sha256
            ));
        }
    }
    Ok(problems)
}

/// Puts the document files of `backup` back into the store `store`: each listed
/// file the store lacks (or holds with another size) is copied in through the store's
/// `tmp/` and renamed into place, fsynced. Files already there are left alone; files
/// the backup does not list stay (gc removes them once no row references them).
/// Returns how many files were copied.
pub(crate) fn restore_store(backup: &Path, listed: &[BackedUpFile], store: &Path) -> Result<u64> {
    let from_dir = backup_files_dir(backup);
    let tmp = store.join(store::TMP_DIR);
    let mut restored = 0;
    for file in listed {
        let (Some(from), Some(to)) =
            (store::blob_path(&from_dir, &file.sha256), store::blob_path(store, &file.sha256))
        else {
            continue;
        };
        if files::size(&to) == file.size && to.is_file() {
            continue;
        }
        files::create_private_dir(&tmp)?;
        files::create_private_dir(files::parent(&to))?;
        let part = tmp.join(format!("{}.restore", file.sha256));
        files::remove_if_exists(&part)?;
        files::copy(&from, &part, None)?;
        files::rename(&part, &to)?;
        files::fsync_dir(files::parent(&to))?;
        restored += 1;
    }
    if restored > 0 {
        files::fsync_dir(store)?;
    }
    Ok(restored)
}

/// Fsyncs every directory under `dir` (and `dir`), deepest first, so that the files
/// copied into them survive a crash.
fn sync_tree(dir: &Path) -> Result<()> {
    for first in std::fs::read_dir(dir).map_err(|e| Error::file_io("list", dir, &e))? {
        let first = first.map_err(|e| Error::file_io("list", dir, &e))?.path();
        if first.is_dir() {
            for second in std::fs::read_dir(&first).map_err(|e| Error::file_io("list", &first, &e))? {
                let second = second.map_err(|e| Error::file_io("list", &first, &e))?.path();
                if second.is_dir() {
                    files::fsync_dir(&second)?;
                }
            }
            files::fsync_dir(&first)?;
        }
    }
    files::fsync_dir(dir)
}
