//! `recover`: detect corruption with a full check, move the damaged database aside
//! (kept, never deleted), restore the newest backup that verifies, and report what
//! was lost: the window between that backup and the last write to the damaged file,
//! and the tables whose rows in the damaged file are newer than the backup. Those
//! rows, where they can still be read, are salvaged into `<db>.salvage.sqlite`.
//!
//! The damaged file and the backup are read through `strata_pool::open_read_only`;
//! the salvage file is a new database that strata-ops creates and writes itself.

use std::path::{Path, PathBuf};
use std::time::Instant;

use rusqlite::Connection;
use rusqlite::types::Value;
use serde::{Deserialize, Serialize};
use strata_core::{Error, Result};
use strata_pool::operation;

use crate::backup::{self, VerifyReport};
use crate::health::{self, CheckLevel, HealthOptions, HealthReport};
use crate::restore::{refuse_if_open, replace_with};
use crate::{ProgressFn, clock, files};

/// Where to recover from.
#[derive(Clone)]
pub struct RecoverOptions {
    /// The backup directory to restore from.
    pub dir: PathBuf,
    /// The thresholds of the full check.
    pub health: HealthOptions,
    /// Receives verify, hash and copy progress.
    pub progress: Option<ProgressFn>,
}

impl RecoverOptions {
    /// Recover from the backups in `dir`, default thresholds, no progress.
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        RecoverOptions { dir: dir.into(), health: HealthOptions::new(CheckLevel::Full), progress: None }
    }
}

impl std::fmt::Debug for RecoverOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RecoverOptions").field("dir", &self.dir).finish_non_exhaustive()
    }
}

/// What `recover` did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecoverReport {
    /// The database.
    pub database: PathBuf,
    /// The full check that decided; `None` when the database file was missing.
    pub health: Option<HealthReport>,
    /// Whether the database was found damaged (or missing) and replaced.
    pub recovered: bool,
    /// The backup restored, with its verification.
    pub backup: Option<VerifyReport>,
    /// Newer backups that did not verify and were passed over.
    pub skipped_backups: Vec<VerifyReport>,
    /// Where the damaged database (and its `-wal`/`-shm`) was moved.
    pub moved_aside: Option<PathBuf>,
    /// The time between the backup and the last write to the damaged files.
    pub loss_window: Option<LossWindow>,
    /// What could be read from the damaged file that the backup does not have.
    pub salvage: Option<SalvageReport>,
    /// How long it took, milliseconds.
    pub duration_ms: u64,
}

/// The time during which committed writes may be lost.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LossWindow {
    /// When the restored backup was taken.
    pub from: String,
    /// The last modification of the damaged database or its `-wal`.
    pub to: String,
    /// `to - from`, seconds (0 when the backup is newer).
    pub seconds: i64,
}

/// Rows read from the damaged file that are not in the backup.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SalvageReport {
    /// The salvage database, when rows were written to it.
    pub path: Option<PathBuf>,
    /// Why nothing could be read at all (the schema of the damaged file is unreadable).
    pub unreadable: Option<String>,
    /// One entry per table of the damaged file.
    pub tables: Vec<SalvagedTable>,
}

/// What salvage found in one table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SalvagedTable {
    /// The table.
    pub table: String,
    /// Rows that could be read from the damaged file.
    pub readable_rows: u64,
    /// Readable rows whose rowid the backup does not have.
    pub new_rows: u64,
    /// Readable rows the backup has with other values.
    pub changed_rows: u64,
    /// The first read error, when part of the table could not be read.
    pub error: Option<String>,
}

impl SalvageReport {
    /// Tables with rows newer than the backup.
    pub fn tables_with_newer_rows(&self) -> impl Iterator<Item = &SalvagedTable> {
        self.tables.iter().filter(|t| t.new_rows + t.changed_rows > 0)
    }
}

/// Checks the database at `db` in full; if it is damaged (or missing), moves it
/// aside, restores the newest backup of `options.dir` that verifies, and salvages
/// the rows newer than that backup. A healthy database is left alone. Fails with
/// E5008 while a pool of this process has `db` open, E5011 while a pool of another
/// process has it open (or a restore runs), E5012 while another SQLite connection has
/// it open, and E5007 when no backup verifies (then nothing is moved).
pub async fn recover(db: &Path, options: RecoverOptions) -> Result<RecoverReport> {
    let db = db.to_path_buf();
    let work = tokio::task::spawn_blocking(move || recover_blocking(&db, &options));
    operation("recover", "*", async { work.await.map_err(|e| Error::task_failed("recover", e))? }).await
}

/// [`recover`] on the calling thread.
pub(crate) fn recover_blocking(db: &Path, options: &RecoverOptions) -> Result<RecoverReport> {
    let started = Instant::now();
    let _lock = refuse_if_open(db)?;
    let mut health_options = options.health.clone();
    health_options.level = CheckLevel::Full;
    let health = if db.exists() { Some(health::check_path_blocking(db, &health_options)?) } else { None };
    let mut report = RecoverReport {
        database: db.to_path_buf(),
        recovered: false,
        backup: None,
        skipped_backups: Vec::new(),
        moved_aside: None,
        loss_window: None,
        salvage: None,
        health,
        duration_ms: 0,
    };
    if report.health.as_ref().is_some_and(|h| !h.is_corrupt()) {
        report.duration_ms = started.elapsed().as_millis() as u64;
        return Ok(report);
    }
    let (chosen, skipped) = backup::newest_verified_blocking(&options.dir, options.progress.clone())?;
    let Some(chosen) = chosen else {
        let reason = if skipped.is_empty() {
            "there are no complete backups".to_string()
        } else {
            format!("{} backup(s), none verifies", skipped.len())
        };
        return Err(Error::NoBackup { dir: options.dir.clone(), reason });
    };
    let last_write = [db.to_path_buf(), files::wal_path(db)].iter().filter_map(|p| clock::modified(p)).max();
    let store = crate::restore::store_dir(db, options.health.documents_dir.as_deref());
    let placed = replace_with(db, &chosen.path, &store, "corrupt", options.progress.as_ref())?;
    tracing::warn!(
        target: "strata::backup",
        db = %db.display(),
        backup = %chosen.path.display(),
        "damaged database moved aside and the newest verified backup restored"
    );
    if let (Some(manifest), Some(to)) = (&chosen.manifest, last_write)
        && let Some(from) = clock::parse(&manifest.created_at)
    {
        report.loss_window = Some(LossWindow {
            from: manifest.created_at.clone(),
            to: clock::rfc3339(to),
            seconds: (to - from).whole_seconds().max(0),
        });
    }
    if let Some(damaged) = &placed.moved {
        report.salvage = Some(salvage(damaged, &chosen.path, &files::sidecar(db, ".salvage.sqlite")));
    }
    let _ = (&placed.moved_wal, &placed.moved_shm);
    report.moved_aside = placed.moved;
    report.recovered = true;
    report.backup = Some(chosen);
    report.skipped_backups = skipped;
    report.duration_ms = started.elapsed().as_millis() as u64;
    Ok(report)
}

const LIST_TABLES: &str = "SELECT name, sql FROM sqlite_schema WHERE type = 'table' AND sql IS NOT NULL \
     AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' ORDER BY name";

/// Reads every table of `damaged` (ascending by rowid until an error, then
/// descending from the end), compares each row with `backup`, and writes the rows the
/// backup does not have (or has with other values) into a new database at `target`.
/// An existing `target` is moved aside first. Never fails: what could not be read is
/// reported.
pub(crate) fn salvage(damaged: &Path, backup: &Path, target: &Path) -> SalvageReport {
    let mut report = SalvageReport { path: None, unreadable: None, tables: Vec::new() };
    let opened = strata_pool::open_read_only(damaged).and_then(|d| {
        let tables = list_tables(&d)?;
        Ok((d, tables))
    });
    let (damaged_conn, tables) = match opened {
        Ok(opened) => opened,
        Err(err) => {
            report.unreadable = Some(format!("{} {err}", err.code()));
            return report;
        }
    };
    let backup_conn = strata_pool::open_read_only(backup).ok();
    let partial = files::sidecar(target, ".partial");
    let _ = files::remove_if_exists(&partial);
    let mut out: Option<Connection> = None;
    for (table, create_sql) in tables {
        let mut entry = SalvagedTable {
            table: table.clone(),
            readable_rows: 0,
            new_rows: 0,
            changed_rows: 0,
            error: None,
        };
        let columns = match writable_columns(&damaged_conn, &table) {
            Ok(columns) if !columns.is_empty() => columns,
            Ok(_) => continue,
            Err(err) => {
                entry.error = Some(format!("{} {err}", err.code()));
                report.tables.push(entry);
                continue;
            }
        };
        let list = columns.iter().map(|c| quote(c)).collect::<Vec<_>>().join(", ");
        let rows = read_rows(&damaged_conn, &table, &list, &mut entry);
        let mut newer = Vec::new();
        for (rowid, values) in rows {
            let in_backup = backup_conn.as_ref().and_then(|b| backup_row(b, &table, &list, rowid));
            match in_backup {
                Some(old) if old == values => {}
                Some(_) => {
                    entry.changed_rows += 1;
                    newer.push(values);
                }
                None => {
                    entry.new_rows += 1;
                    newer.push(values);
                }
            }
        }
        if !newer.is_empty() {
            if out.is_none() {
                match files::create_new(&partial).map(drop).and_then(|()| Ok(Connection::open(&partial)?)) {
                    Ok(conn) => out = Some(conn),
                    Err(err) => entry.error = Some(format!("cannot create the salvage file: {err}")),
                }
            }
            if let Some(out) = &out
                && let Err(err) = write_rows(out, &create_sql, &table, &list, columns.len(), &newer)
            {
                entry.error = Some(format!("cannot write salvaged rows: {err}"));
            }
        }
        report.tables.push(entry);
    }
    if let Some(out) = out {
        let closed = out.close().map_err(|(_, e)| Error::from(e));
        if closed.is_ok() && files::fsync(&partial).is_ok() {
            if target.exists() {
                let aside = files::sidecar(target, &format!("-{}", clock::file_stamp(clock::now())));
                let _ = files::move_if_exists(target, &aside);
            }
            if files::rename(&partial, target).is_ok() {
                report.path = Some(target.to_path_buf());
            }
        }
    }
    report
}

fn list_tables(conn: &Connection) -> Result<Vec<(String, String)>> {
    let mut stmt = conn.prepare(LIST_TABLES)?;
    let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// The stored, non-generated columns of `table` (`PRAGMA table_xinfo`, hidden = 0).
fn writable_columns(conn: &Connection, table: &str) -> Result<Vec<String>> {
    let mut stmt = conn.prepare("SELECT name, hidden FROM pragma_table_xinfo(?1)")?;
    let rows = stmt.query_map([table], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)))?;
    let mut columns = Vec::new();
    for row in rows {
        let (name, hidden) = row?;
        if hidden == 0 {
            columns.push(name);
        }
    }
    Ok(columns)
}

fn quote(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// Readable rows of a rowid table: ascending until the first error, then descending
/// from the end down to the last row read. WITHOUT ROWID tables are reported as an
/// error (no rowid to compare by).
fn read_rows(
    conn: &Connection,
    table: &str,
    list: &str,
    entry: &mut SalvagedTable,
) -> Vec<(i64, Vec<Value>)> {
    let mut rows = Vec::new();
    let ascending = format!("SELECT rowid, {list} FROM {} ORDER BY rowid", quote(table));
    let last = scan(conn, &ascending, None, &mut rows);
    if let Err(err) = last {
        entry.error = Some(err);
        let after = rows.last().map(|(rowid, _)| *rowid).unwrap_or(i64::MIN);
        let descending =
            format!("SELECT rowid, {list} FROM {} WHERE rowid > ?1 ORDER BY rowid DESC", quote(table));
        let mut tail = Vec::new();
        let _ = scan(conn, &descending, Some(after), &mut tail);
        tail.reverse();
        rows.extend(tail);
    }
    entry.readable_rows = rows.len() as u64;
    rows
}

/// Runs a row query into `rows` until it ends (`Ok`) or fails (`Err` with the message).
fn scan(
    conn: &Connection,
    sql: &str,
    param: Option<i64>,
    rows: &mut Vec<(i64, Vec<Value>)>,
) -> std::result::Result<(), String> {
    let describe = |e: rusqlite::Error| {
        let e = Error::from(e);
        format!("{} {e}", e.code())
    };
    let mut stmt = conn.prepare(sql).map_err(describe)?;
    let width = stmt.column_count();
    let mut query = match param {
        Some(p) => stmt.query([p]),
        None => stmt.query([]),
    }
    .map_err(describe)?;
    loop {
        match query.next() {
            Ok(Some(row)) => {
                let rowid: i64 = row.get(0).map_err(describe)?;
                let values = (1..width).map(|i| row.get::<_, Value>(i)).collect::<rusqlite::Result<Vec<_>>>();
                rows.push((rowid, values.map_err(describe)?));
            }
            Ok(None) => return Ok(()),
            Err(e) => return Err(describe(e)),
        }
    }
}

fn backup_row(conn: &Connection, table: &str, list: &str, rowid: i64) -> Option<Vec<Value>> {
    let sql = format!("SELECT {list} FROM {} WHERE rowid = ?1", quote(table));
    let mut stmt = conn.prepare_cached(&sql).ok()?;
    let width = stmt.column_count();
    stmt.query_row([rowid], |row| (0..width).map(|i| row.get::<_, Value>(i)).collect()).ok()
}

fn write_rows(
    out: &Connection,
    create_sql: &str,
    table: &str,
    list: &str,
    width: usize,
    rows: &[Vec<Value>],
) -> Result<()> {
    out.execute_batch("BEGIN")?;
    let written = (|| {
        out.execute_batch(create_sql)?;
        let placeholders = vec!["?"; width].join(", ");
        let mut insert = out
            .prepare(&format!("INSERT OR REPLACE INTO {} ({list}) VALUES ({placeholders})", quote(table)))?;
        for values in rows {
            insert.execute(rusqlite::params_from_iter(values.iter()))?;
        }
        Ok::<_, Error>(())
    })();
    match written {
        Ok(()) => Ok(out.execute_batch("COMMIT")?),
        Err(err) => {
            let _ = out.execute_batch("ROLLBACK");
            Err(err)
        }
    }
}
