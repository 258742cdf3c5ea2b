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
use strata_pool::Pool;

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
pub fn verify_store(conn: &Connection, dir: &Path, hash: bool) -> Result<Option<StoreReport>> {
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
    pool.read(move |conn| verify_store(conn, &dir, hash)).await
}
