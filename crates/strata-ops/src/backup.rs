//! Verified online backups: `create` (SQLite backup API while the service keeps
//! writing), `list`, `verify`, `prune` (retention), and the JSON manifest beside
//! every backup.
//!
//! The copy runs on one of the pool's reader connections inside a single read
//! transaction: in WAL mode that pins one snapshot, so the pool's writer keeps
//! committing while the pages are copied step by step (with progress), and the
//! backup is never restarted by those writes. The destination is a new file that is
//! not the application's database, so strata-ops opens its connection itself
//! (read-write for the copy, then `strata_pool::open_read_only` to verify).
//!
//! A backup is written as `<name>.partial`, switched to `journal_mode=DELETE` (one
//! self-contained file), fsynced, verified (`integrity_check`, page count), hashed;
//! then its manifest `<name>.json` is written and only then the data file is renamed
//! to `<name>`. A killed backup therefore leaves at most a `.partial` file (which
//! `list` shows as such and `prune` removes), never a file that looks complete.
//!
//! A database with a document store (V10's `documents`) is backed up with its files:
//! every file the snapshot's rows reference is copied from the store into
//! `<name>.files/` (sha256 checked while copying; a missing or changed file fails the
//! backup with E5006) before the manifest, which lists each file with its hash, is
//! written. `verify` re-checks them; restore and recover put them back.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rusqlite::backup::{Backup, StepResult};
use rusqlite::{Connection, OpenFlags};
use serde::{Deserialize, Serialize};
use strata_core::{BackupConfig, Error, Result};
use strata_pool::{Pool, operation};

use crate::health::{self, SchemaVersion};
use crate::{Progress, ProgressFn, Stage, clock, files};

/// The manifest format written by this version.
pub const MANIFEST_FORMAT: u32 = 1;
/// Suffix of a backup being written.
pub const PARTIAL_SUFFIX: &str = ".partial";
/// Suffix of a backup's manifest (after the backup's own file name).
pub const MANIFEST_SUFFIX: &str = ".json";
/// Extension of backup data files.
pub const BACKUP_EXTENSION: &str = "sqlite";
/// Pages copied per backup step; one progress report each.
const PAGES_PER_STEP: i32 = 2_048;
/// A `.partial` file older than this is left over from a killed backup.
const STALE_PARTIAL: Duration = Duration::from_secs(3_600);

/// The JSON document written beside every backup.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    /// Manifest format version.
    pub format: u32,
    /// The backup's file name (in the same directory as the manifest).
    pub file: String,
    /// The database that was backed up.
    pub source: PathBuf,
    /// When the snapshot was taken (RFC 3339, UTC).
    pub created_at: String,
    /// How long creating it took, milliseconds (copy, verify, hash).
    pub duration_ms: u64,
    /// The backup file's size, bytes.
    pub size_bytes: u64,
    /// Page size of the copy.
    pub page_size: u64,
    /// Pages in the copy (= pages of the source snapshot).
    pub page_count: u64,
    /// Hex sha256 of the backup file.
    pub sha256: String,
    /// The source's schema version at the snapshot.
    pub schema: SchemaVersion,
    /// The SQLite library that wrote the copy.
    pub sqlite_version: String,
    /// The verification done before the backup was given its final name.
    pub verification: Verification,
    /// The document files the backup's `documents` rows reference, copied into
    /// `<backup>.files/` and checked before the backup was given its final name; empty
    /// (and left out of the JSON) for a database without documents.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub documents: Vec<crate::documents::BackedUpFile>,
}

/// The result of checking a backup copy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Verification {
    /// `integrity_check` said ok and the page count matched.
    pub ok: bool,
    /// When it was checked (RFC 3339, UTC).
    pub checked_at: String,
    /// `integrity_check` messages; empty when it said ok.
    pub integrity: Vec<String>,
    /// Pages expected (the source snapshot) and found.
    pub page_count_expected: u64,
    /// Pages in the copy.
    pub page_count_found: u64,
}

/// What `create` did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BackupReport {
    /// The backup file.
    pub path: PathBuf,
    /// Its manifest file.
    pub manifest_path: PathBuf,
    /// The manifest written.
    pub manifest: Manifest,
}

/// Where a backup file stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BackupState {
    /// The data file and its manifest are there; it verified when created.
    Complete,
    /// A data file without a manifest: not written by `create` (or its manifest was
    /// removed); never chosen by `recover`.
    NoManifest,
    /// A `.partial` file: a backup in progress, or killed.
    Partial,
    /// A manifest whose data file is missing.
    Orphan,
}

/// One entry of `list`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BackupEntry {
    /// The data file (or, for an orphan, where it should be).
    pub path: PathBuf,
    /// Where it stands.
    pub state: BackupState,
    /// Size of the data file, bytes.
    pub size_bytes: u64,
    /// When it was taken: the manifest's time, else the file's modification time.
    pub created_at: Option<String>,
    /// The manifest, when there is one.
    pub manifest: Option<Manifest>,
}

/// What `verify` found about one backup file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VerifyReport {
    /// The backup file.
    pub path: PathBuf,
    /// No problem found.
    pub ok: bool,
    /// What did not verify.
    pub problems: Vec<String>,
    /// Whether a manifest was found (and so the sha256 and page count were compared).
    pub manifest_found: bool,
    /// The sha256 computed now.
    pub sha256: String,
    /// Pages in the file.
    pub page_count: u64,
    /// `integrity_check` messages; empty when it said ok.
    pub integrity: Vec<String>,
    /// The manifest, when there is one.
    pub manifest: Option<Manifest>,
    /// How long verifying took, milliseconds.
    pub duration_ms: u64,
}

/// What `prune` did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PruneReport {
    /// Backups kept, newest first, with the rule that kept each (`last`, `daily`, `weekly`).
    pub kept: Vec<(PathBuf, String)>,
    /// Backups removed (data file and manifest).
    pub removed: Vec<PathBuf>,
    /// Leftovers removed: `.partial` files older than an hour, manifests without data.
    pub leftovers_removed: Vec<PathBuf>,
}

/// The backup directory for a pool's database: the config's `backup.dir`, or
/// `backups/` beside the database.
pub fn default_dir(pool: &Pool) -> PathBuf {
    pool.config().backup.dir_for(pool.path())
}

/// Takes a verified online backup of the pool's database into `dir` (created with
/// mode 0700 if missing) while the pool keeps serving reads and writes. `progress` receives the
/// copy (bytes of pages), the verification and the hashing.
pub async fn create(pool: &Pool, dir: &Path, progress: Option<ProgressFn>) -> Result<BackupReport> {
    operation("backup.create", "*", create_unlogged(pool, dir, progress)).await
}

/// [`create`] outside its operation span.
async fn create_unlogged(pool: &Pool, dir: &Path, progress: Option<ProgressFn>) -> Result<BackupReport> {
    let started = Instant::now();
    let source = pool.path().to_path_buf();
    files::create_private_dir(dir)?;
    let at = clock::now();
    let stem = source.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_else(|| "db".into());
    let name = format!("{stem}-{}.{BACKUP_EXTENSION}", clock::file_stamp(at));
    let path = dir.join(&name);
    let partial = files::sidecar(&path, PARTIAL_SUFFIX);
    let copy = {
        let (partial, progress) = (partial.clone(), progress.clone());
        pool.read(move |conn| crate::stats::as_strata(|| copy_snapshot(conn, &partial, progress.as_ref())))
            .await
    };
    let copied = match copy {
        Ok(copied) => copied,
        Err(err) => {
            let _ = files::remove_if_exists(&partial);
            return Err(err);
        }
    };
    let store = pool.config().documents.dir_for(&source);
    let finish = move || -> Result<BackupReport> {
        // The document files go first, into `<backup>.files.partial/`, renamed to
        // `<backup>.files/` before the manifest is written and the data file renamed:
        // the backup never looks complete before its documents are in place.
        let files_dir = crate::documents::backup_files_dir(&path);
        let files_partial = files::sidecar(&files_dir, PARTIAL_SUFFIX);
        let documents = (|| {
            let _ = std::fs::remove_dir_all(&files_partial);
            let documents = crate::documents::backup_store(&partial, &store, &files_partial)?;
            if !documents.is_empty() {
                files::rename(&files_partial, &files_dir)?;
                files::fsync_dir(dir_of(&path))?;
            }
            Ok::<_, Error>(documents)
        })();
        let done = documents.and_then(|documents| {
            finish_backup(&partial, &path, copied, progress.as_ref(), |manifest| {
                manifest.source = source.clone();
                manifest.created_at = clock::rfc3339(at);
                manifest.duration_ms = started.elapsed().as_millis() as u64;
                manifest.documents = documents;
            })
        });
        if done.is_err() {
            let _ = files::remove_if_exists(&partial);
            let _ = std::fs::remove_dir_all(&files_partial);
            let _ = std::fs::remove_dir_all(&files_dir);
        }
        done
    };
    let report = tokio::task::spawn_blocking(finish).await.map_err(|e| Error::task_failed("backup", e))??;
    tracing::info!(
        target: "strata::backup",
        path = %report.path.display(),
        bytes = report.manifest.size_bytes,
        duration_ms = report.manifest.duration_ms,
        "backup created and verified"
    );
    Ok(report)
}

/// What the copy step learned, for the manifest.
struct Copied {
    page_count: u64,
    page_size: u64,
    schema: SchemaVersion,
}

const START_READ: &str = "BEGIN DEFERRED; SELECT count(*) FROM sqlite_schema;";

/// Copies the snapshot of `src` into a new file `partial`, self-contained
/// (`journal_mode=DELETE`) and fsynced.
fn copy_snapshot(src: &Connection, partial: &Path, progress: Option<&ProgressFn>) -> Result<Copied> {
    drop(files::create_new(partial)?);
    let mut dst = Connection::open_with_flags(
        partial,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    // One read transaction for the whole copy: one snapshot, writers go on.
    src.execute_batch(START_READ)?;
    let copied = (|| {
        let schema = health::schema_version(src)?;
        let page_size: i64 = src.query_row("PRAGMA page_size", [], |r| r.get(0))?;
        let page_size = page_size as u64;
        let backup = Backup::new(src, &mut dst)?;
        loop {
            let step = backup.step(PAGES_PER_STEP)?;
            let p = backup.progress();
            if let Some(progress) = progress {
                let total = p.pagecount.max(0) as u64 * page_size;
                let done = (p.pagecount - p.remaining).max(0) as u64 * page_size;
                progress(Progress { stage: Stage::Copy, done, total });
            }
            match step {
                StepResult::Done => break,
                StepResult::More => {}
                // Only this function uses the destination and the source is only read:
                // a busy step is a passing lock; wait a moment.
                _ => std::thread::sleep(Duration::from_millis(5)),
            }
        }
        let page_count = backup.progress().pagecount.max(0) as u64;
        Ok::<_, Error>(Copied { page_count, page_size, schema })
    })();
    let ended = src.execute_batch("COMMIT");
    let copied = copied?;
    ended?;
    // The copy carries the source's WAL flag; make it one self-contained file.
    dst.query_row("PRAGMA journal_mode = DELETE", [], |r| r.get::<_, String>(0))?;
    dst.close().map_err(|(_, e)| Error::from(e))?;
    files::fsync(partial)?;
    Ok(copied)
}

/// Verifies and hashes `partial`, writes the manifest, and renames it to `path`.
fn finish_backup(
    partial: &Path,
    path: &Path,
    copied: Copied,
    progress: Option<&ProgressFn>,
    fill: impl FnOnce(&mut Manifest),
) -> Result<BackupReport> {
    let verification = verify_copy(partial, copied.page_count, progress)?;
    if !verification.ok {
        let reason = if verification.integrity.is_empty() {
            format!("{} pages, expected {}", verification.page_count_found, verification.page_count_expected)
        } else {
            format!("integrity_check: {}", verification.integrity[0])
        };
        return Err(Error::BackupInvalid { path: partial.to_path_buf(), reason });
    }
    let sha256 = files::sha256(partial, progress)?;
    let file = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let mut manifest = Manifest {
        format: MANIFEST_FORMAT,
        file,
        source: PathBuf::new(),
        created_at: String::new(),
        duration_ms: 0,
        size_bytes: files::size(partial),
        page_size: copied.page_size,
        page_count: copied.page_count,
        sha256,
        schema: copied.schema,
        sqlite_version: rusqlite::version().to_string(),
        verification,
        documents: Vec::new(),
    };
    fill(&mut manifest);
    let manifest_path = manifest_path(path);
    write_manifest(&manifest_path, &manifest)?;
    files::rename(partial, path)?;
    files::fsync_dir(files::parent(path))?;
    Ok(BackupReport { path: path.to_path_buf(), manifest_path, manifest })
}

/// `integrity_check` and the page count of a copy, read-only.
fn verify_copy(path: &Path, expected_pages: u64, progress: Option<&ProgressFn>) -> Result<Verification> {
    let total = files::size(path);
    if let Some(progress) = progress {
        progress(Progress { stage: Stage::Verify, done: 0, total });
    }
    let conn = strata_pool::open_read_only(path)?;
    let (integrity, found) = match health::integrity_check(&conn) {
        Ok(messages) => {
            let pages: i64 = conn.query_row("PRAGMA page_count", [], |r| r.get(0))?;
            (messages, pages.max(0) as u64)
        }
        Err(err) => (vec![err.to_string()], 0),
    };
    if let Some(progress) = progress {
        progress(Progress { stage: Stage::Verify, done: total, total });
    }
    Ok(Verification {
        ok: integrity.is_empty() && found == expected_pages,
        checked_at: clock::rfc3339(clock::now()),
        integrity,
        page_count_expected: expected_pages,
        page_count_found: found,
    })
}

/// The manifest of the backup at `path`: `<path>.json`.
pub fn manifest_path(path: &Path) -> PathBuf {
    files::sidecar(path, MANIFEST_SUFFIX)
}

/// Writes a manifest through a temp file and a rename, fsynced.
fn write_manifest(path: &Path, manifest: &Manifest) -> Result<()> {
    let temp = files::sidecar(path, PARTIAL_SUFFIX);
    let _ = files::remove_if_exists(&temp);
    let text = serde_json::to_string_pretty(manifest)
        .map_err(|e| Error::ManifestInvalid { path: path.to_path_buf(), reason: e.to_string() })?;
    let mut file = files::create_new(&temp)?;
    std::io::Write::write_all(&mut file, text.as_bytes()).map_err(|e| Error::file_io("write", &temp, &e))?;
    file.sync_all().map_err(|e| Error::file_io("fsync", &temp, &e))?;
    files::rename(&temp, path)
}

/// Reads the manifest of the backup at `path`; `Ok(None)` when there is none.
pub async fn read_manifest(path: &Path) -> Result<Option<Manifest>> {
    let path = path.to_path_buf();
    crate::blocking("backup read_manifest", move || read_manifest_blocking(&path)).await
}

/// [`read_manifest`] on the calling thread.
pub(crate) fn read_manifest_blocking(path: &Path) -> Result<Option<Manifest>> {
    let manifest = manifest_path(path);
    let text = match std::fs::read_to_string(&manifest) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(Error::file_io("read", &manifest, &e)),
    };
    serde_json::from_str(&text)
        .map(Some)
        .map_err(|e| Error::ManifestInvalid { path: manifest, reason: e.to_string() })
}

/// The backups in `dir`, newest first (by their time). A missing directory is an
/// empty list.
pub async fn list(dir: &Path) -> Result<Vec<BackupEntry>> {
    let dir = dir.to_path_buf();
    let work = crate::blocking("backup list", move || list_blocking(&dir));
    operation("backup.list", "", work).await
}

/// [`list`] on the calling thread.
pub(crate) fn list_blocking(dir: &Path) -> Result<Vec<BackupEntry>> {
    let read = match std::fs::read_dir(dir) {
        Ok(read) => read,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(Error::file_io("list", dir, &e)),
    };
    let mut entries = Vec::new();
    for item in read {
        let item = item.map_err(|e| Error::file_io("list", dir, &e))?;
        let path = item.path();
        let name = item.file_name().to_string_lossy().into_owned();
        let data_ext = format!(".{BACKUP_EXTENSION}");
        let entry = if name.ends_with(&data_ext) {
            let manifest = read_manifest_blocking(&path).ok().flatten();
            let state = if manifest.is_some() { BackupState::Complete } else { BackupState::NoManifest };
            entry(path, state, manifest)
        } else if name.ends_with(&format!("{data_ext}{PARTIAL_SUFFIX}")) {
            entry(path, BackupState::Partial, None)
        } else if let Some(data) = name.strip_suffix(MANIFEST_SUFFIX)
            && data.ends_with(&data_ext)
            && !dir.join(data).exists()
        {
            let data = dir.join(data);
            let manifest = read_manifest_blocking(&data).ok().flatten();
            entry(data, BackupState::Orphan, manifest)
        } else {
            continue;
        };
        entries.push(entry);
    }
    entries.sort_by(|a, b| b.created_at.cmp(&a.created_at).then_with(|| b.path.cmp(&a.path)));
    Ok(entries)
}

fn entry(path: PathBuf, state: BackupState, manifest: Option<Manifest>) -> BackupEntry {
    let created_at = manifest
        .as_ref()
        .map(|m| m.created_at.clone())
        .or_else(|| clock::modified(&path).map(clock::rfc3339));
    BackupEntry { size_bytes: files::size(&path), path, state, created_at, manifest }
}

/// Re-checks one backup file: sha256 and page count against its manifest (when it
/// has one) and `integrity_check`, all read-only. `progress` receives the hashing and
/// the verification.
pub async fn verify(path: &Path, progress: Option<ProgressFn>) -> Result<VerifyReport> {
    let path = path.to_path_buf();
    let work = crate::blocking("backup verify", move || verify_blocking(&path, progress));
    operation("backup.verify", "*", work).await
}

/// [`verify`] on the calling thread.
pub(crate) fn verify_blocking(path: &Path, progress: Option<ProgressFn>) -> Result<VerifyReport> {
    let started = Instant::now();
    if !path.is_file() {
        return Err(Error::CannotOpen {
            code: rusqlite::ffi::SQLITE_CANTOPEN,
            message: format!("{} does not exist or is not a file", path.display()),
        });
    }
    let mut problems = Vec::new();
    let manifest = match read_manifest_blocking(path) {
        Ok(manifest) => manifest,
        Err(err) => {
            problems.push(err.to_string());
            None
        }
    };
    let sha256 = files::sha256(path, progress.as_ref())?;
    let expected_pages = manifest.as_ref().map(|m| m.page_count);
    let checked = match verify_copy(path, expected_pages.unwrap_or(0), progress.as_ref()) {
        Ok(v) => v,
        Err(err) => Verification {
            ok: false,
            checked_at: clock::rfc3339(clock::now()),
            integrity: vec![format!("{} {err}", err.code())],
            page_count_expected: expected_pages.unwrap_or(0),
            page_count_found: 0,
        },
    };
    if !checked.integrity.is_empty() {
        problems.push(format!("integrity_check: {}", checked.integrity.join("; ")));
    }
    if let Some(m) = &manifest {
        if m.sha256 != sha256 {
            problems.push(format!("sha256 {sha256} differs from the manifest's {}", m.sha256));
        }
        if m.page_count != checked.page_count_found {
            problems.push(format!("{} pages, the manifest says {}", checked.page_count_found, m.page_count));
        }
        if !m.verification.ok {
            problems.push("the manifest records a failed verification".into());
        }
        problems.extend(crate::documents::verify_backup_store(path, &m.documents)?);
    }
    Ok(VerifyReport {
        path: path.to_path_buf(),
        ok: problems.is_empty(),
        problems,
        manifest_found: manifest.is_some(),
        sha256,
        page_count: checked.page_count_found,
        integrity: checked.integrity,
        manifest,
        duration_ms: started.elapsed().as_millis() as u64,
    })
}

/// Applies the retention of `policy` to `dir`: keeps the newest `keep_last`
/// backups, plus the newest of each of the last `keep_daily` days and of each of the
/// last `keep_weekly` ISO weeks that have backups; removes the other complete
/// backups, `.partial` files older than an hour and manifests without data. Files
/// without a manifest are never touched.
pub async fn prune(dir: &Path, policy: &BackupConfig) -> Result<PruneReport> {
    let (dir, policy) = (dir.to_path_buf(), policy.clone());
    let work = crate::blocking("backup prune", move || prune_blocking(&dir, &policy));
    operation("backup.prune", "", work).await
}

/// [`prune`] on the calling thread.
pub(crate) fn prune_blocking(dir: &Path, policy: &BackupConfig) -> Result<PruneReport> {
    let entries = list_blocking(dir)?;
    let mut report = PruneReport::default();
    let complete: Vec<&BackupEntry> = entries.iter().filter(|e| e.state == BackupState::Complete).collect();
    let mut days = Vec::new();
    let mut weeks = Vec::new();
    for (i, entry) in complete.iter().enumerate() {
        let at = entry.created_at.as_deref().and_then(clock::parse);
        let day = at.map(|t| t.date());
        let week = at.map(|t| t.date().to_iso_week_date()).map(|(year, week, _)| (year, week));
        let rule = if i < policy.keep_last {
            Some("last")
        } else if day.is_some() && !days.contains(&day) && days.len() < policy.keep_daily {
            Some("daily")
        } else if week.is_some() && !weeks.contains(&week) && weeks.len() < policy.keep_weekly {
            Some("weekly")
        } else {
            None
        };
        // A kept backup is the newest of its day and week, whichever rule kept it.
        if rule.is_some() {
            if !days.contains(&day) {
                days.push(day);
            }
            if !weeks.contains(&week) {
                weeks.push(week);
            }
        }
        match rule {
            Some(rule) => report.kept.push((entry.path.clone(), rule.to_string())),
            None => {
                files::remove_if_exists(&entry.path)?;
                files::remove_if_exists(&manifest_path(&entry.path))?;
                remove_dir_if_exists(&crate::documents::backup_files_dir(&entry.path))?;
                report.removed.push(entry.path.clone());
            }
        }
    }
    for entry in &entries {
        match entry.state {
            BackupState::Partial => {
                let stale = std::fs::metadata(&entry.path)
                    .and_then(|m| m.modified())
                    .ok()
                    .and_then(|t| t.elapsed().ok())
                    .is_some_and(|age| age > STALE_PARTIAL);
                if stale {
                    files::remove_if_exists(&entry.path)?;
                    report.leftovers_removed.push(entry.path.clone());
                    // A killed backup of a database with a document store can also
                    // leave its files, copied (`.files.partial/`) or already renamed
                    // (`.files/`) before the data file was: they belong to no backup.
                    let data = entry.path.with_extension("");
                    let files_dir = crate::documents::backup_files_dir(&data);
                    for dir in [files::sidecar(&files_dir, PARTIAL_SUFFIX), files_dir] {
                        if dir.is_dir() {
                            remove_dir_if_exists(&dir)?;
                            report.leftovers_removed.push(dir);
                        }
                    }
                }
            }
            BackupState::Orphan => {
                let manifest = manifest_path(&entry.path);
                files::remove_if_exists(&manifest)?;
                report.leftovers_removed.push(manifest);
            }
            BackupState::Complete | BackupState::NoManifest => {}
        }
    }
    if !report.removed.is_empty() || !report.leftovers_removed.is_empty() {
        files::fsync_dir(dir)?;
    }
    Ok(report)
}

/// The newest complete backup in `dir` that verifies now, with its report; the
/// reports of newer ones that did not verify come second. `progress` receives the
/// verification of each.
pub async fn newest_verified(
    dir: &Path,
    progress: Option<ProgressFn>,
) -> Result<(Option<VerifyReport>, Vec<VerifyReport>)> {
    let dir = dir.to_path_buf();
    crate::blocking("backup newest_verified", move || newest_verified_blocking(&dir, progress)).await
}

/// [`newest_verified`] on the calling thread.
pub(crate) fn newest_verified_blocking(
    dir: &Path,
    progress: Option<ProgressFn>,
) -> Result<(Option<VerifyReport>, Vec<VerifyReport>)> {
    let mut failed = Vec::new();
    for entry in list_blocking(dir)?.into_iter().filter(|e| e.state == BackupState::Complete) {
        let report = verify_blocking(&entry.path, progress.clone())?;
        if report.ok {
            return Ok((Some(report), failed));
        }
        failed.push(report);
    }
    Ok((None, failed))
}

/// The directory a backup file is in.
fn dir_of(path: &Path) -> &Path {
    files::parent(path)
}

/// Removes a directory tree when it exists.
fn remove_dir_if_exists(dir: &Path) -> Result<()> {
    match std::fs::remove_dir_all(dir) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(Error::file_io("remove", dir, &e)),
    }
}

/// Keeps `Arc` in the public signature readable: a progress callback from a closure.
pub fn progress_fn(f: impl Fn(Progress) + Send + Sync + 'static) -> ProgressFn {
    Arc::new(f)
}
