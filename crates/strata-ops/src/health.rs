//! The health report: quick or integrity check, `foreign_key_check`, the PRAGMA audit,
//! storage figures (pages, freelist, WAL, free disk), the schema version, and an
//! overall status with one finding per problem.
//!
//! [`check_path`] inspects any file through `strata_pool::open_read_only` and never
//! changes it; [`check`] inspects the database of an open pool on one of its readers
//! and also audits the settings the pool's connections run with. Both first look at
//! the files themselves: a `-shm` wal-index that counts committed frames which the
//! `-wal` file no longer holds means committed transactions were lost (a hot WAL was
//! deleted), which no check inside SQLite can see.

use std::path::{Path, PathBuf};
use std::time::Instant;

use rusqlite::Connection;
use serde::Serialize;
use strata_core::{Error, ErrorKind, MonitorConfig, ReplicationMode, Result, SqliteConfig, Synchronous};
use strata_pool::{Pool, Settings, operation};

use crate::{clock, files};

/// How thoroughly the database is checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CheckLevel {
    /// `PRAGMA quick_check`: page and b-tree structure, O(N); does not compare
    /// indexes with their tables.
    Quick,
    /// `PRAGMA integrity_check`: also that every index matches its table; slower.
    Full,
}

/// The overall verdict of a report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Nothing found.
    Ok,
    /// Something needs attention soon (WAL growing, little disk, settings).
    Warning,
    /// The data is at risk or damaged (corruption, lost WAL, disk nearly full).
    Critical,
}

/// How serious one finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    /// Advice only: the status stays `ok` and `strata check` exits 0. strata's
    /// preferred settings on a database it does not manage are reported this way.
    Info,
    /// Needs attention.
    Warning,
    /// Data at risk.
    Critical,
}

/// One problem found, with the check that found it and why it matters.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct Finding {
    /// How serious it is.
    pub severity: Severity,
    /// The check that found it: `integrity`, `corrupt`, `not_a_database`, `wal_lost`,
    /// `foreign_keys`, `pragma`, `replication`, `wal_size`, `wal_growth`, `free_disk`,
    /// `db_size`, `freelist`, `documents`, `documents_orphans`, `documents_watch`.
    pub check: String,
    /// What was found, for a person.
    pub message: String,
}

/// Checks whose findings mean the file is damaged (or lost committed data).
pub const CORRUPTION_CHECKS: &[&str] = &["integrity", "corrupt", "not_a_database", "wal_lost"];

/// One row of `PRAGMA foreign_key_check`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct ForeignKeyRow {
    /// The child table.
    pub table: String,
    /// The child row (`None` for a WITHOUT ROWID table).
    pub rowid: Option<i64>,
    /// The parent table it refers to.
    pub parent: String,
}

/// Foreign key violations: how many, and the first few.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct ForeignKeys {
    /// Every violation counted.
    pub count: usize,
    /// The first `monitor.foreign_key_limit` of them.
    pub shown: Vec<ForeignKeyRow>,
}

/// One setting compared with what strata expects.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct PragmaCheck {
    /// `file` (stored in the database), `writer` or `reader` (a pool connection).
    pub scope: String,
    /// The PRAGMA.
    pub name: String,
    /// What strata expects.
    pub expected: String,
    /// What SQLite reports.
    pub actual: String,
}

impl PragmaCheck {
    /// Whether the setting is as expected.
    pub fn ok(&self) -> bool {
        self.expected.eq_ignore_ascii_case(&self.actual)
    }
}

/// Sizes and space.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct Storage {
    /// `PRAGMA page_size`.
    pub page_size: u64,
    /// `PRAGMA page_count`.
    pub page_count: u64,
    /// `PRAGMA freelist_count`: pages that are allocated but unused.
    pub freelist_count: u64,
    /// The database file, bytes.
    pub db_bytes: u64,
    /// The `-wal` file, bytes (0 when there is none).
    pub wal_bytes: u64,
    /// Free space for this user on the volume of the database, bytes, when known.
    pub free_disk_bytes: Option<u64>,
    /// The volumes strata writes to, with their free space: the database's (which
    /// holds its WAL) and, when the document store exists on another volume, the
    /// store's.
    #[serde(default)]
    pub volumes: Vec<Volume>,
}

/// Free space on one volume strata writes to.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct Volume {
    /// What lives there: `database` (the database and its WAL) or `documents`.
    pub role: String,
    /// A directory on the volume. Not serialised: reports go to dashboards that must
    /// not show where the database lives.
    #[serde(skip)]
    pub path: PathBuf,
    /// Free space for this user, bytes.
    pub free_bytes: u64,
    /// The volume's size, bytes.
    pub total_bytes: u64,
}

/// The volume that holds `dir`, with its free and total space; `None` when the
/// operating system does not say.
fn volume(role: &str, dir: &Path) -> Option<Volume> {
    Some(Volume {
        role: role.into(),
        path: dir.to_path_buf(),
        free_bytes: fs4::available_space(dir).ok()?,
        total_bytes: fs4::total_space(dir).ok()?,
    })
}

/// Whether two paths are on the same volume (always true where that cannot be told).
fn same_volume(a: &Path, b: &Path) -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        match (std::fs::metadata(a), std::fs::metadata(b)) {
            (Ok(a), Ok(b)) => a.dev() == b.dev(),
            _ => true,
        }
    }
    #[cfg(not(unix))]
    {
        let _ = (a, b);
        true
    }
}

/// Which schema the database is at.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct SchemaVersion {
    /// `PRAGMA schema_version`: bumped by SQLite on every schema change.
    pub schema_cookie: i64,
    /// `PRAGMA user_version`.
    pub user_version: i64,
    /// The newest migration in `refinery_schema_history`, when there is one.
    pub migration: Option<i64>,
    /// Tables, not counting SQLite's own.
    pub tables: usize,
}

/// Everything one health check found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct HealthReport {
    /// The database file.
    pub path: PathBuf,
    /// When the check ran (RFC 3339, UTC).
    pub checked_at: String,
    /// Quick or full.
    pub level: CheckLevel,
    /// The worst severity among the findings; `ok` when there are none.
    pub status: Status,
    /// Every problem found, worst first.
    pub findings: Vec<Finding>,
    /// The messages of quick_check/integrity_check; empty when it said `ok`.
    pub integrity: Vec<String>,
    /// Foreign key violations.
    pub foreign_keys: ForeignKeys,
    /// The PRAGMA audit.
    pub pragmas: Vec<PragmaCheck>,
    /// Sizes and free space.
    pub storage: Storage,
    /// Schema version figures; `None` when the schema could not be read.
    pub schema: Option<SchemaVersion>,
    /// Whether strata manages the database: it holds strata's migration history
    /// (`strata_schema_checksums`). On a database strata does not manage, strata's
    /// preferred file settings (WAL) are advice (`info`), not warnings.
    pub managed: bool,
    /// The durability strata's connections commit with (`sqlite.synchronous`): what an
    /// acknowledged write survives. `synchronous` is a setting of each connection, not
    /// of the file, so this is the configured level; [`check`] also audits the pool's
    /// connections against it.
    pub synchronous: Synchronous,
    /// Who replicates the database: the configured mode and the replicator seen.
    #[serde(default)]
    pub replication: Replication,
    /// How long the check took, milliseconds.
    pub duration_ms: u64,
    /// The document store's verification, when the database has a `documents` table
    /// and the store's directory exists (sizes on a quick check, hashes on a full one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub documents: Option<crate::documents::StoreReport>,
}

impl HealthReport {
    /// Whether a finding says the file is damaged or lost committed data.
    pub fn is_corrupt(&self) -> bool {
        self.findings.iter().any(|f| CORRUPTION_CHECKS.contains(&f.check.as_str()))
    }

    /// Whether anything worse than advice was found (exit 1 for `strata check`).
    pub fn has_problems(&self) -> bool {
        self.findings.iter().any(|f| f.severity > Severity::Info)
    }
}

/// Replication as the check sees it: what the config says, and what is beside the
/// database.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct Replication {
    /// The configured `replication.mode`.
    pub mode: ReplicationMode,
    /// Signs of Litestream found beside the database: its sidecar directory
    /// (`.<db>-litestream`) and its tables (`_litestream_seq`, `_litestream_lock`).
    /// Empty when none was seen.
    pub litestream_seen: Vec<String>,
}

/// Adds findings made outside the check (the document store's watcher) to `report`,
/// worst first, and raises its status to match.
pub fn add_findings(report: &mut HealthReport, findings: impl IntoIterator<Item = Finding>) {
    report.findings.extend(findings);
    report.findings.sort_by_key(|f| std::cmp::Reverse(f.severity));
    report.status = match report.findings.iter().map(|f| f.severity).max() {
        None | Some(Severity::Info) => Status::Ok,
        Some(Severity::Warning) => Status::Warning,
        Some(Severity::Critical) => Status::Critical,
    };
}

/// What to check and the thresholds to judge by.
#[derive(Debug, Clone)]
pub struct HealthOptions {
    /// Quick or full.
    pub level: CheckLevel,
    /// Thresholds (`wal_warn_mb`, `free_disk_*`, `db_size_warn_mb`, ...).
    pub limits: MonitorConfig,
    /// The SQLite settings strata runs with (`Config::connection_settings`): the
    /// durability reported, and the `journal_size_limit` and `wal_autocheckpoint` a
    /// healthy WAL stays near.
    pub sqlite: SqliteConfig,
    /// The configured replicator (`replication.mode`).
    pub replication: ReplicationMode,
    /// The document store's directory; `None` is the default, `<db>.files/`.
    pub documents_dir: Option<PathBuf>,
}

impl HealthOptions {
    /// Options with the default thresholds and settings.
    pub fn new(level: CheckLevel) -> Self {
        HealthOptions {
            level,
            limits: MonitorConfig::default(),
            sqlite: SqliteConfig::default(),
            replication: ReplicationMode::None,
            documents_dir: None,
        }
    }

    /// Options with the thresholds (`monitor`), the connection settings (`sqlite` as
    /// `[replication]` adjusts it) and the replication mode of `config`.
    pub fn from_config(level: CheckLevel, config: &strata_core::Config) -> Self {
        HealthOptions {
            level,
            limits: config.monitor.clone(),
            sqlite: config.connection_settings(),
            replication: config.replication.mode,
            documents_dir: Some(config.documents.dir_for(&config.path)),
        }
    }
}

/// Checks the database file at `path` without changing it (read-only connection).
/// A file that SQLite refuses (damaged page 1, not a database) gives a report with a
/// critical finding, not an error; a missing file is an error (E2004).
pub async fn check_path(path: &Path, options: &HealthOptions) -> Result<HealthReport> {
    let (path, options) = (path.to_path_buf(), options.clone());
    let work = crate::blocking("health check", move || check_path_blocking(&path, &options));
    operation("health.check_path", "*", work).await
}

/// [`check_path`] on the calling thread.
pub(crate) fn check_path_blocking(path: &Path, options: &HealthOptions) -> Result<HealthReport> {
    let started = Instant::now();
    if !path.is_file() {
        return Err(Error::CannotOpen {
            code: rusqlite::ffi::SQLITE_CANTOPEN,
            message: format!("{} does not exist or is not a file", path.display()),
        });
    }
    // The wal-index must be read before any connection opens the file: the first
    // connection rebuilds it from whatever -wal file it finds.
    let mut report = file_level(path, options);
    match strata_pool::open_read_only(path) {
        Ok(conn) => inspect(&conn, options, &mut report),
        Err(err) => report.findings.push(finding_for_error(&err, "opening")),
    }
    Ok(finish(report, options, started))
}

/// Checks the database of an open pool on one of its readers, and audits the
/// settings of the pool's writer and readers against its config.
pub async fn check(pool: &Pool, options: &HealthOptions) -> Result<HealthReport> {
    operation("health.check", "*", check_unlogged(pool, options)).await
}

/// [`check`] outside its operation span.
async fn check_unlogged(pool: &Pool, options: &HealthOptions) -> Result<HealthReport> {
    let started = Instant::now();
    let path = pool.path().to_path_buf();
    let mut report = {
        let (path, options) = (path.clone(), options.clone());
        tokio::task::spawn_blocking(move || file_level(&path, &options))
            .await
            .map_err(|e| Error::task_failed("health check", e))?
    };
    let (writer, reader) = pool.settings().await?;
    let opts = options.clone();
    let mut report = pool
        .read(move |conn| {
            crate::stats::as_strata(|| inspect(conn, &opts, &mut report));
            Ok(report)
        })
        .await?;
    let expected = pool.config().connection_settings();
    report.pragmas.extend(audit_connection("writer", &writer, &expected, false));
    report.pragmas.extend(audit_connection("reader", &reader, &expected, true));
    Ok(finish(report, options, started))
}

/// The report so far from the files alone: sizes, free disk, the wal-index check.
fn file_level(path: &Path, options: &HealthOptions) -> HealthReport {
    let wal = files::wal_path(path);
    let db_dir = files::parent(path);
    let mut volumes: Vec<Volume> = volume("database", db_dir).into_iter().collect();
    let store = documents_dir(path, options);
    if store.is_dir() && !same_volume(db_dir, &store) {
        volumes.extend(volume("documents", &store));
    }
    let storage = Storage {
        db_bytes: files::size(path),
        wal_bytes: files::size(&wal),
        free_disk_bytes: fs4::available_space(db_dir).ok(),
        volumes,
        ..Storage::default()
    };
    let mut findings = Vec::new();
    if let Some(lost) = lost_wal_frames(path) {
        findings.push(Finding {
            severity: Severity::Critical,
            check: "wal_lost".into(),
            message: format!(
                "the -wal file is missing or shorter than the wal-index says: {lost} committed \
                 frame(s) that were never checkpointed are lost (a hot WAL was deleted or truncated)"
            ),
        });
    }
    HealthReport {
        path: path.to_path_buf(),
        checked_at: clock::rfc3339(clock::now()),
        level: options.level,
        status: Status::Ok,
        findings,
        integrity: Vec::new(),
        foreign_keys: ForeignKeys::default(),
        pragmas: Vec::new(),
        storage,
        schema: None,
        managed: false,
        synchronous: options.sqlite.synchronous,
        replication: Replication {
            mode: options.replication,
            litestream_seen: litestream_dir(path).into_iter().collect(),
        },
        duration_ms: 0,
        documents: None,
    }
}

/// The document store of the database at `path`: the configured one, or `<db>.files/`.
fn documents_dir(path: &Path, options: &HealthOptions) -> PathBuf {
    match &options.documents_dir {
        Some(dir) => dir.clone(),
        None => strata_core::DocumentsConfig::default().dir_for(path),
    }
}

/// Litestream 0.5's state directory beside the database: `.<name>-litestream`.
fn litestream_dir(path: &Path) -> Option<String> {
    let name = path.file_name()?.to_string_lossy();
    let dir = files::parent(path).join(format!(".{name}-litestream"));
    dir.is_dir().then(|| format!("directory {}", dir.file_name().unwrap_or_default().to_string_lossy()))
}

/// Litestream 0.5's tables in the database itself.
const LITESTREAM_TABLES: &str = "SELECT name FROM sqlite_schema WHERE type = 'table' \
     AND name IN ('_litestream_seq', '_litestream_lock') ORDER BY name";

/// The Litestream tables in the database, as `table NAME`.
fn litestream_tables(conn: &Connection) -> Result<Vec<String>> {
    let mut stmt = conn.prepare(LITESTREAM_TABLES)?;
    let names = stmt.query_map([], |r| r.get::<_, String>(0))?;
    names.map(|n| Ok(format!("table {}", n?))).collect()
}

/// Size of the wal-index header (two copies) and the checkpoint info that follows.
const SHM_HEADER: usize = 136;
/// `WALINDEX_MAX_VERSION` of SQLite's wal.c.
const WAL_INDEX_VERSION: u32 = 3_007_000;
/// The WAL file header, and each frame's header, in bytes.
const WAL_HEADER: u64 = 32;
const WAL_FRAME_HEADER: u64 = 24;

/// Frames the `-shm` wal-index counts as committed but not checkpointed that the
/// `-wal` file does not hold; `None` when nothing is missing (or there is no index).
/// The index is in native byte order: `mxFrame` at 16, `szPage` at 14, `isInit` at
/// 12, `nBackfill` of the checkpoint info at 96.
fn lost_wal_frames(path: &Path) -> Option<u32> {
    let shm = std::fs::read(files::shm_path(path)).ok()?;
    if shm.len() < SHM_HEADER {
        return None;
    }
    let u32_at = |at: usize| u32::from_ne_bytes([shm[at], shm[at + 1], shm[at + 2], shm[at + 3]]);
    let version = u32_at(0);
    let initialised = shm[12] == 1;
    let page_field = u16::from_ne_bytes([shm[14], shm[15]]);
    let max_frame = u32_at(16);
    let backfilled = u32_at(96);
    if version != WAL_INDEX_VERSION || !initialised || max_frame <= backfilled {
        return None;
    }
    // szPage holds (size & 0xff00) | (size >> 16), so 65536 is stored as 1.
    let page_size = if page_field == 1 { 65_536 } else { u64::from(page_field) };
    let needed = WAL_HEADER + u64::from(max_frame) * (WAL_FRAME_HEADER + page_size);
    let wal = files::wal_path(path);
    let present = std::fs::metadata(&wal).map(|m| m.len()).unwrap_or(0);
    (present < needed).then(|| max_frame - backfilled)
}

/// Runs the SQL checks on `conn` into `report`. Errors of a damaged file become
/// findings; nothing here fails the check itself.
fn inspect(conn: &Connection, options: &HealthOptions, report: &mut HealthReport) {
    let limits = &options.limits;
    // Storage and schema figures first: they read page 1 and the schema only.
    let int = |sql: &str| conn.query_row(sql, [], |r| r.get::<_, i64>(0));
    match (int("PRAGMA page_size"), int("PRAGMA page_count"), int("PRAGMA freelist_count")) {
        (Ok(size), Ok(count), Ok(free)) => {
            report.storage.page_size = size as u64;
            report.storage.page_count = count as u64;
            report.storage.freelist_count = free as u64;
        }
        (Err(err), ..) | (_, Err(err), _) | (.., Err(err)) => {
            report.findings.push(finding_for_error(&err.into(), "reading the page counts"));
        }
    }
    match schema_version(conn) {
        Ok(version) => report.schema = Some(version),
        Err(err) => report.findings.push(finding_for_error(&err, "reading the schema")),
    }
    report.managed = conn.query_row(HAS_STRATA_HISTORY, [], |r| r.get::<_, bool>(0)).unwrap_or(false);
    if let Ok(tables) = litestream_tables(conn) {
        report.replication.litestream_seen.extend(tables);
    }
    if let Ok(mode) = conn.query_row("PRAGMA journal_mode", [], |r| r.get::<_, String>(0)) {
        report.pragmas.push(PragmaCheck {
            scope: "file".into(),
            name: "journal_mode".into(),
            expected: "wal".into(),
            actual: mode.to_ascii_lowercase(),
        });
    }

    let sql = match options.level {
        CheckLevel::Quick => QUICK_CHECK,
        CheckLevel::Full => INTEGRITY_CHECK,
    };
    match integrity_messages(conn, sql) {
        Ok(messages) => {
            if !messages.is_empty() {
                let check = match options.level {
                    CheckLevel::Quick => "quick_check",
                    CheckLevel::Full => "integrity_check",
                };
                report.findings.push(Finding {
                    severity: Severity::Critical,
                    check: "integrity".into(),
                    message: format!("{check} found {} problem(s), first: {}", messages.len(), messages[0]),
                });
            }
            report.integrity = messages;
        }
        // integrity_check itself may stop with SQLITE_CORRUPT: that is a finding.
        Err(err) => report.findings.push(finding_for_error(&err, "running the check")),
    }

    match foreign_keys(conn, limits.foreign_key_limit) {
        Ok(fks) => {
            if fks.count > 0 {
                report.findings.push(Finding {
                    severity: Severity::Warning,
                    check: "foreign_keys".into(),
                    message: format!("{} row(s) refer to a parent row that does not exist", fks.count),
                });
            }
            report.foreign_keys = fks;
        }
        Err(err) => report.findings.push(finding_for_error(&err, "running foreign_key_check")),
    }

    let dir = documents_dir(&report.path, options);
    if dir.is_dir() {
        match crate::documents::verify_store(conn, &dir, options.level == CheckLevel::Full) {
            Ok(store) => report.documents = store,
            Err(err) => report.findings.push(finding_for_error(&err, "verifying the document store")),
        }
    }
}

/// `PRAGMA quick_check`, at most this many messages.
const QUICK_CHECK: &str = "PRAGMA quick_check(100)";
/// `PRAGMA integrity_check`, at most this many messages.
const INTEGRITY_CHECK: &str = "PRAGMA integrity_check(100)";

/// The messages of a quick/integrity check; empty for `ok`.
pub(crate) fn integrity_messages(conn: &Connection, sql: &str) -> Result<Vec<String>> {
    let mut stmt = conn.prepare(sql)?;
    let rows = stmt.query_map([], |r| r.get::<_, String>(0))?;
    let mut messages = Vec::new();
    for row in rows {
        let message = row?;
        if message != "ok" {
            messages.push(message);
        }
    }
    Ok(messages)
}

/// `PRAGMA integrity_check` on `conn`: the messages, or the SQLite error that stopped it.
pub(crate) fn integrity_check(conn: &Connection) -> Result<Vec<String>> {
    integrity_messages(conn, INTEGRITY_CHECK)
}

const FOREIGN_KEY_CHECK: &str = "PRAGMA foreign_key_check";

fn foreign_keys(conn: &Connection, limit: usize) -> Result<ForeignKeys> {
    let mut stmt = conn.prepare(FOREIGN_KEY_CHECK)?;
    let mut rows = stmt.query([])?;
    let mut fks = ForeignKeys::default();
    while let Some(row) = rows.next()? {
        fks.count += 1;
        if fks.shown.len() < limit {
            fks.shown.push(ForeignKeyRow { table: row.get(0)?, rowid: row.get(1)?, parent: row.get(2)? });
        }
    }
    Ok(fks)
}

const COUNT_TABLES: &str =
    "SELECT count(*) FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\'";
const HAS_HISTORY: &str =
    "SELECT count(*) FROM sqlite_schema WHERE type = 'table' AND name = 'refinery_schema_history'";
const NEWEST_MIGRATION: &str = "SELECT max(version) FROM refinery_schema_history";
/// Whether strata's own migration history (beside refinery's) is in the file.
const HAS_STRATA_HISTORY: &str =
    "SELECT count(*) > 0 FROM sqlite_schema WHERE type = 'table' AND name = 'strata_schema_checksums'";

/// The schema cookie, user_version, newest migration and table count.
pub(crate) fn schema_version(conn: &Connection) -> Result<SchemaVersion> {
    let int = |sql: &str| conn.query_row(sql, [], |r| r.get::<_, i64>(0));
    let migration = if int(HAS_HISTORY)? > 0 {
        conn.query_row(NEWEST_MIGRATION, [], |r| r.get::<_, Option<i64>>(0))?
    } else {
        None
    };
    Ok(SchemaVersion {
        schema_cookie: int("PRAGMA schema_version")?,
        user_version: int("PRAGMA user_version")?,
        migration,
        tables: int(COUNT_TABLES)? as usize,
    })
}

/// A finding for an error met while `doing` something: corruption is critical and
/// named as such; anything else is a warning that names the error.
fn finding_for_error(err: &Error, doing: &str) -> Finding {
    let check = match err {
        Error::NotADatabase { .. } => "not_a_database",
        _ if err.kind() == ErrorKind::Corruption => "corrupt",
        Error::SqliteIo { .. } => "corrupt",
        _ => "error",
    };
    let severity = if check == "error" { Severity::Warning } else { Severity::Critical };
    Finding { severity, check: check.into(), message: format!("{doing}: {} {err}", err.code()) }
}

/// Compares one pool connection's settings with the config.
fn audit_connection(scope: &str, s: &Settings, expected: &SqliteConfig, reader: bool) -> Vec<PragmaCheck> {
    let row = |name: &str, expected: String, actual: String| PragmaCheck {
        scope: scope.into(),
        name: name.into(),
        expected,
        actual,
    };
    let on = |b: bool| if b { "on" } else { "off" }.to_string();
    let mut rows = vec![
        row("journal_mode", "wal".into(), s.journal_mode.to_ascii_lowercase()),
        row("synchronous", expected.synchronous.pragma_value().into(), s.synchronous.clone()),
        row("foreign_keys", "on".into(), on(s.foreign_keys)),
        row("busy_timeout", expected.busy_timeout_ms.to_string(), s.busy_timeout_ms.to_string()),
        row("temp_store", "MEMORY".into(), s.temp_store.clone()),
        row("cache_size", expected.cache_size.to_string(), s.cache_size.to_string()),
        row("mmap_size", expected.mmap_size.to_string(), s.mmap_size.to_string()),
        row("journal_size_limit", expected.journal_size_limit.to_string(), s.journal_size_limit.to_string()),
        row("wal_autocheckpoint", expected.wal_autocheckpoint.to_string(), s.wal_autocheckpoint.to_string()),
    ];
    rows.push(row("query_only", on(reader), on(s.query_only)));
    rows
}

/// A size for people, in binary units with one decimal: `512 B`, `1.5 MiB`. The CLI
/// and the dashboard print the report's sizes with it.
pub fn display_bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = n as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 { format!("{n} B") } else { format!("{value:.1} {}", UNITS[unit]) }
}

/// How many times its steady size a WAL may grow before `check` warns.
const WAL_GROWTH_FACTOR: u64 = 2;

/// The size a WAL stays near when checkpoints can do their work: the larger of
/// `journal_size_limit` (what a reset WAL is truncated to) and the autocheckpoint
/// threshold in bytes; 0 when neither bounds it (no limit and no autocheckpoint).
fn steady_wal_bytes(sqlite: &SqliteConfig, page_size: u64) -> u64 {
    let limit = u64::try_from(sqlite.journal_size_limit).unwrap_or(0);
    let page = if page_size == 0 { 4_096 } else { page_size };
    limit.max(u64::from(sqlite.wal_autocheckpoint) * page)
}

/// The WAL size Litestream keeps a replicated database near: its PASSIVE checkpoints
/// run once the WAL holds `min-checkpoint-page-count` (1,000) pages, and
/// `journal_size_limit` is what a reset WAL is truncated to.
fn litestream_steady_wal_bytes(sqlite: &SqliteConfig, page_size: u64) -> u64 {
    let limit = u64::try_from(sqlite.journal_size_limit).unwrap_or(0);
    let page = if page_size == 0 { 4_096 } else { page_size };
    limit.max(LITESTREAM_MIN_CHECKPOINT_PAGES * page)
}

/// Litestream's default `min-checkpoint-page-count`.
const LITESTREAM_MIN_CHECKPOINT_PAGES: u64 = 1_000;

/// The `replication` findings: strata's checkpoints fighting a Litestream it can see,
/// and a Litestream mode with no Litestream beside the database.
fn replication_findings(
    replication: &Replication,
    sqlite: &SqliteConfig,
    add: &mut impl FnMut(Severity, &str, String),
) {
    let seen = replication.litestream_seen.join(", ");
    match replication.mode {
        ReplicationMode::None if !seen.is_empty() && sqlite.wal_autocheckpoint > 0 => add(
            Severity::Warning,
            "replication",
            format!(
                "Litestream replicates this database ({seen}) but replication.mode is none: strata's \
                 checkpointer and wal_autocheckpoint = {} checkpoint the WAL behind Litestream's back; \
                 set [replication] mode = \"litestream\" so that Litestream owns checkpoints",
                sqlite.wal_autocheckpoint
            ),
        ),
        ReplicationMode::Litestream if seen.is_empty() => add(
            Severity::Warning,
            "replication",
            "replication.mode is litestream but no Litestream state is beside the database (no \
             .<db>-litestream directory, no _litestream_seq table): with strata's checkpoints off and \
             no replicator running, nothing checkpoints the WAL and nothing is replicated; start \
             `litestream replicate` (see `strata replicate`)"
                .to_string(),
        ),
        _ => {}
    }
}

/// Whether `free` bytes are fewer than `mb` MiB.
fn free_below(free: u64, mb: u64) -> bool {
    free < mb.saturating_mul(1024 * 1024)
}

/// Adds the threshold findings, sorts, sets the status and the duration.
fn finish(mut report: HealthReport, options: &HealthOptions, started: Instant) -> HealthReport {
    const MB: u64 = 1024 * 1024;
    let limits = &options.limits;
    let storage = report.storage.clone();
    let mut add = |severity, check: &str, message: String| {
        report.findings.push(Finding { severity, check: check.into(), message });
    };
    let managed = report.managed;
    for p in report.pragmas.iter().filter(|p| !p.ok()) {
        // The file's own settings are strata's to expect only on a database it manages;
        // a pool connection's settings are strata's own, wherever they are wrong.
        let (severity, advice) = if p.scope == "file" && !managed {
            (Severity::Info, " (strata's preference; this database is not managed by strata)")
        } else {
            (Severity::Warning, "")
        };
        add(
            severity,
            "pragma",
            format!("{} {} is {}, expected {}{advice}", p.scope, p.name, p.actual, p.expected),
        );
    }
    replication_findings(&report.replication, &options.sqlite, &mut add);
    let steady = match options.replication {
        ReplicationMode::None => steady_wal_bytes(&options.sqlite, storage.page_size),
        ReplicationMode::Litestream => litestream_steady_wal_bytes(&options.sqlite, storage.page_size),
    };
    if steady > 0 && storage.wal_bytes > WAL_GROWTH_FACTOR * steady {
        add(
            Severity::Warning,
            "wal_growth",
            format!(
                "the -wal file is {} MiB, more than {WAL_GROWTH_FACTOR}x the {} KiB that checkpoints keep \
                 it under ({}): checkpoints cannot reset it. Usual causes: a long-lived read \
                 transaction, a replicator holding a read (e.g. Litestream), or checkpoints turned off \
                 (wal_autocheckpoint = 0 with nobody else checkpointing)",
                storage.wal_bytes / MB,
                steady / 1024,
                match options.replication {
                    ReplicationMode::None => "journal_size_limit, wal_autocheckpoint",
                    ReplicationMode::Litestream =>
                        "journal_size_limit, Litestream's min-checkpoint-page-count; replication.mode = litestream",
                }
            ),
        );
    }
    if storage.wal_bytes > limits.wal_warn_mb * MB {
        add(
            Severity::Warning,
            "wal_size",
            format!(
                "the -wal file is {} MiB (warning above {} MiB): a long reader may be blocking checkpoints",
                storage.wal_bytes / MB,
                limits.wal_warn_mb
            ),
        );
    }
    for v in &storage.volumes {
        let percent = v.free_bytes.saturating_mul(100).checked_div(v.total_bytes).unwrap_or(100);
        let what = match v.role.as_str() {
            "documents" => format!("the document store's volume ({})", v.path.display()),
            _ => "the volume".to_string(),
        };
        let by_percent = |threshold: u8| threshold > 0 && percent < u64::from(threshold);
        let (severity, limit) = if free_below(v.free_bytes, limits.free_disk_critical_mb) {
            (Some(Severity::Critical), format!("critical below {} MiB", limits.free_disk_critical_mb))
        } else if by_percent(limits.free_disk_critical_percent) {
            (Some(Severity::Critical), format!("critical below {}%", limits.free_disk_critical_percent))
        } else if free_below(v.free_bytes, limits.free_disk_warn_mb) {
            (Some(Severity::Warning), format!("warning below {} MiB", limits.free_disk_warn_mb))
        } else if by_percent(limits.free_disk_warn_percent) {
            (Some(Severity::Warning), format!("warning below {}%", limits.free_disk_warn_percent))
        } else {
            (None, String::new())
        };
        if let Some(severity) = severity {
            let message = format!("{} MiB ({percent}%) free on {what} ({limit})", v.free_bytes / MB);
            tracing::warn!(target: "strata::health", volume = %v.path.display(), free_bytes = v.free_bytes, "{message}");
            add(severity, "free_disk", message);
        }
    }
    if limits.db_size_warn_mb > 0 && storage.db_bytes > limits.db_size_warn_mb * MB {
        add(
            Severity::Warning,
            "db_size",
            format!(
                "the database is {} MiB (warning above {} MiB)",
                storage.db_bytes / MB,
                limits.db_size_warn_mb
            ),
        );
    }
    if storage.page_count > 0
        && storage.freelist_count * 100 > storage.page_count * u64::from(limits.freelist_warn_percent)
        && storage.freelist_count > 1_000
    {
        add(
            Severity::Warning,
            "freelist",
            format!(
                "{} of {} pages are free ({}%): VACUUM would return the space",
                storage.freelist_count,
                storage.page_count,
                storage.freelist_count * 100 / storage.page_count
            ),
        );
    }
    if let Some(store) = &report.documents {
        for (what, problems) in [("missing", &store.missing), ("changed", &store.changed)] {
            if let Some(first) = problems.first() {
                add(
                    Severity::Critical,
                    "documents",
                    format!(
                        "{} document file(s) {what} behind strata's back, first: document {} ({}): {}",
                        problems.len(),
                        first.id,
                        first.name,
                        first.reason
                    ),
                );
            }
        }
        if !store.orphans.is_empty() {
            let bytes: u64 = store.orphans.iter().map(|o| o.size).sum();
            add(
                Severity::Info,
                "documents_orphans",
                format!(
                    "{} file(s) ({}) in the store that no document references: `strata docs gc` removes them",
                    store.orphans.len(),
                    display_bytes(bytes)
                ),
            );
        }
    }
    report.findings.sort_by_key(|f| std::cmp::Reverse(f.severity));
    report.status = match report.findings.iter().map(|f| f.severity).max() {
        None | Some(Severity::Info) => Status::Ok,
        Some(Severity::Warning) => Status::Warning,
        Some(Severity::Critical) => Status::Critical,
    };
    report.duration_ms = started.elapsed().as_millis() as u64;
    report
}
