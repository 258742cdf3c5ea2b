//! The audit spill file (`<db>.audit-spill.jsonl`): where [`super::Audit::append`]
//! keeps entries while the database cannot take them, and their replay into `audit`.
//!
//! One entry per line, JSON, each line written whole with `O_APPEND` and fsynced
//! before `append` answers; the file is created mode 0600 and bounded by
//! `audit.spill_max_bytes` (E5050 when an entry would not fit). Every writer and every
//! replay holds an exclusive `flock` on the file, across processes, so lines never
//! interleave and a replay sees a stable file. A line cut short by a crash is closed
//! with a newline before the next entry is written, so it damages only itself.
//!
//! Replay reads the file in chunks, in order, and inserts each chunk in one write
//! (`INSERT_REPLAYED` skips a uid already in the table, so a replay interrupted by a
//! crash and run again duplicates nothing). Only after every entry is committed are
//! damaged lines copied to `<spill>.damaged` (fsynced) and the file truncated to
//! zero. It is truncated, not removed: a writer in another process that opened the
//! file and waits for its lock would otherwise append to an unlinked file.

use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use rusqlite::{Connection, params};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use strata_core::{Error, Result};

use crate::row::json_text;

/// What is appended to the database's file name to name its audit spill file.
pub const SPILL_SUFFIX: &str = ".audit-spill.jsonl";

/// What is appended to the spill file's name to name the file that keeps its damaged
/// lines after a replay.
pub const DAMAGED_SUFFIX: &str = ".damaged";

/// Entries inserted per write during a replay.
const REPLAY_CHUNK: usize = 256;

/// The audit spill file of the database at `db`: `<db>.audit-spill.jsonl` beside it.
pub fn spill_path(db: &Path) -> PathBuf {
    let mut name = db.as_os_str().to_owned();
    name.push(SPILL_SUFFIX);
    PathBuf::from(name)
}

/// One line of the spill file: an entry as `append` was given it, with the uid and
/// time it was made with.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SpilledEntry {
    /// The entry's unique id (column `uid`): 32 lowercase hex digits.
    pub uid: String,
    /// When it was appended (ms since the Unix epoch); the row keeps this time.
    pub ts: i64,
    /// Who acted.
    pub actor: String,
    /// What was done.
    pub action: String,
    /// The task acted on, if any.
    #[serde(default)]
    pub task_id: Option<i64>,
    /// Details, a JSON value.
    #[serde(default)]
    pub data: Value,
    /// The outcome, if any.
    #[serde(default)]
    pub result: Option<String>,
    /// The memory operation, for memory actions.
    #[serde(default)]
    pub memory_operation: Option<String>,
    /// The memory namespace, for memory actions.
    #[serde(default)]
    pub memory_namespace: Option<String>,
    /// The memory entry (row id), for memory actions.
    #[serde(default)]
    pub memory_entry_id: Option<i64>,
}

/// A line of the spill file that is not a whole entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DamagedLine {
    /// The line's number, from 1.
    pub line: u64,
    /// What is wrong with it (JSON's error, or that it was cut short).
    pub reason: String,
}

impl DamagedLine {
    /// The line as an error, E5051, for a report.
    pub fn to_error(&self, path: &Path) -> Error {
        Error::AuditSpillDamaged { path: path.to_path_buf(), line: self.line, reason: self.reason.clone() }
    }
}

/// What a spill file holds, read without replaying it ([`inspect`]).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SpillContents {
    /// The spill file.
    pub path: PathBuf,
    /// Its size in bytes (0 when it does not exist).
    pub bytes: u64,
    /// Its whole entries, in file order.
    pub entries: Vec<SpilledEntry>,
    /// Its damaged lines.
    pub damaged: Vec<DamagedLine>,
}

impl SpillContents {
    /// Whether entries wait for replay.
    pub fn is_waiting(&self) -> bool {
        !self.entries.is_empty()
    }
}

/// What a replay did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ReplayReport {
    /// The spill file.
    pub path: PathBuf,
    /// Whole entries read from it.
    pub entries: u64,
    /// Entries inserted into `audit`.
    pub replayed: u64,
    /// Entries whose uid was already in `audit` (a replay interrupted before its
    /// truncate), not inserted again.
    pub skipped: u64,
    /// Damaged lines, copied to `<spill>.damaged` and not replayed.
    pub damaged: Vec<DamagedLine>,
}

/// Whether the spill file at `path` holds anything (a cheap `stat`).
pub fn is_waiting(path: &Path) -> bool {
    std::fs::metadata(path).is_ok_and(|m| m.len() > 0)
}

/// Reads the spill file at `path` (nothing when it does not exist), opened read-only
/// under a shared lock (so it waits for a write or a replay in progress, and writes
/// nothing).
pub fn inspect(path: &Path) -> Result<SpillContents> {
    let mut contents =
        SpillContents { path: path.to_path_buf(), bytes: 0, entries: Vec::new(), damaged: Vec::new() };
    let file = match File::open(path) {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(contents),
        Err(e) => return Err(Error::file_io("open the audit spill file", path, &e)),
    };
    file.lock_shared().map_err(|e| Error::file_io("lock the audit spill file", path, &e))?;
    contents.bytes = file.metadata().map_err(|e| Error::file_io("read", path, &e))?.len();
    let mut lines = Lines::new(file, path);
    while let Some(line) = lines.next_line()? {
        match line {
            Ok(entry) => contents.entries.push(entry),
            Err(damaged) => contents.damaged.push(damaged),
        }
    }
    Ok(contents)
}

/// Appends `entry` as one line to the spill file at `path`, creating it (mode 0600),
/// and fsyncs it before answering. E5050 when the file would grow past `limit` bytes.
pub(crate) fn write(path: &Path, limit: u64, entry: &SpilledEntry) -> Result<()> {
    let io = |e: std::io::Error| Error::file_io("write the audit spill file", path, &e);
    let created = !path.exists();
    let mut file = lock(path, open_options(true).open(path).map_err(io)?)?;
    let size = file.metadata().map_err(io)?.len();
    // A line cut short by a crash is closed first, so it stays a damaged line of its own.
    let mut line = Vec::with_capacity(256);
    if size > 0 {
        let mut last = [0u8; 1];
        file.seek(SeekFrom::Start(size - 1)).map_err(io)?;
        file.read_exact(&mut last).map_err(io)?;
        if last[0] != b'\n' {
            line.push(b'\n');
        }
    }
    // Serialising a struct of strings, numbers and a JSON value cannot fail.
    serde_json::to_writer(&mut line, entry).map_err(|e| io(e.into()))?;
    line.push(b'\n');
    if size + line.len() as u64 > limit {
        return Err(Error::AuditSpillFull { path: path.to_path_buf(), size, limit });
    }
    file.write_all(&line).map_err(io)?;
    file.sync_data().map_err(io)?;
    if created {
        // The new directory entry is durable too.
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            File::open(dir).and_then(|d| d.sync_all()).map_err(io)?;
        }
    }
    Ok(())
}

/// Opens the existing spill file and takes its exclusive lock (waiting for another
/// writer or replay); `None` when there is no spill file.
fn open_existing(path: &Path) -> Result<Option<File>> {
    match open_options(false).open(path) {
        Ok(file) => lock(path, file).map(Some),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Error::file_io("open the audit spill file", path, &e)),
    }
}

/// Read and append, created mode 0600 when `create`.
fn open_options(create: bool) -> OpenOptions {
    let mut options = OpenOptions::new();
    options.read(true).append(true).create(create);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options
}

/// Takes the exclusive lock of the open spill file, waiting for it.
fn lock(path: &Path, file: File) -> Result<File> {
    file.lock().map_err(|e| Error::file_io("lock the audit spill file", path, &e))?;
    Ok(file)
}

/// The spill file's lines, parsed one at a time.
struct Lines {
    reader: BufReader<File>,
    path: PathBuf,
    number: u64,
    buf: Vec<u8>,
}

impl Lines {
    fn new(file: File, path: &Path) -> Lines {
        Lines { reader: BufReader::new(file), path: path.to_path_buf(), number: 0, buf: Vec::new() }
    }

    /// The next non-empty line: an entry, or what is wrong with it; `None` at the end.
    fn next_line(&mut self) -> Result<Option<std::result::Result<SpilledEntry, DamagedLine>>> {
        loop {
            self.buf.clear();
            let read = self
                .reader
                .read_until(b'\n', &mut self.buf)
                .map_err(|e| Error::file_io("read the audit spill file", &self.path, &e))?;
            if read == 0 {
                return Ok(None);
            }
            self.number += 1;
            let whole = self.buf.last() == Some(&b'\n');
            let text = self.buf.trim_ascii();
            if text.is_empty() {
                continue;
            }
            let line = self.number;
            return Ok(Some(match serde_json::from_slice::<SpilledEntry>(text) {
                Ok(entry) if whole => Ok(entry),
                Ok(_) => Err(DamagedLine { line, reason: "the line has no end (cut short)".into() }),
                Err(e) if !whole => Err(DamagedLine { line, reason: format!("cut short: {e}") }),
                Err(e) => Err(DamagedLine { line, reason: e.to_string() }),
            }));
        }
    }

    /// Up to `n` more lines.
    fn chunk(&mut self, n: usize) -> Result<Vec<std::result::Result<SpilledEntry, DamagedLine>>> {
        let mut lines = Vec::with_capacity(n);
        while lines.len() < n {
            match self.next_line()? {
                Some(line) => lines.push(line),
                None => break,
            }
        }
        Ok(lines)
    }
}

/// Inserts a replayed entry unless its uid is already in `audit`.
pub(crate) const INSERT_REPLAYED: &str = "INSERT INTO audit \
     (ts, actor, task_id, action, data, result, memory_operation_type, memory_namespace, memory_entry_id, uid) \
     SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10 \
     WHERE NOT EXISTS (SELECT 1 FROM audit WHERE uid = ?10)";

/// Inserts `entries` on `conn` (inside the caller's write), in order; answers how
/// many were inserted and how many skipped as already present.
fn insert_replayed(conn: &Connection, entries: &[SpilledEntry]) -> Result<(u64, u64)> {
    let mut stmt = conn.prepare_cached(INSERT_REPLAYED)?;
    let (mut inserted, mut skipped) = (0, 0);
    for e in entries {
        let changed = stmt.execute(params![
            e.ts,
            e.actor,
            e.task_id,
            e.action,
            json_text(&e.data),
            e.result,
            e.memory_operation,
            e.memory_namespace,
            e.memory_entry_id,
            e.uid,
        ])?;
        match changed {
            0 => skipped += 1,
            _ => inserted += 1,
        }
    }
    Ok((inserted, skipped))
}

/// Replays the spill file at `path` into `audit` through `pool`: see the module's
/// documentation. An error leaves the file as it was (entries already committed are
/// skipped by the next replay).
pub(crate) async fn replay(pool: &strata_pool::Pool, path: &Path) -> Result<ReplayReport> {
    let mut report = ReplayReport { path: path.to_path_buf(), ..ReplayReport::default() };
    let owned = path.to_path_buf();
    let opened = blocking(move || open_existing(&owned)).await?;
    let Some(file) = opened else { return Ok(report) };
    let mut lines = Lines::new(file, path);
    loop {
        let (reader, chunk) = blocking(move || {
            let mut lines = lines;
            let chunk = lines.chunk(REPLAY_CHUNK)?;
            Ok((lines, chunk))
        })
        .await?;
        lines = reader;
        if chunk.is_empty() {
            break;
        }
        let mut entries = Vec::with_capacity(chunk.len());
        for line in chunk {
            match line {
                Ok(entry) => entries.push(entry),
                Err(damaged) => {
                    tracing::warn!(target: "strata::audit", error = %damaged.to_error(path), "audit spill line not replayed");
                    report.damaged.push(damaged);
                }
            }
        }
        report.entries += entries.len() as u64;
        if !entries.is_empty() {
            let (inserted, skipped) = pool.write(move |conn| insert_replayed(conn, &entries)).await?;
            report.replayed += inserted;
            report.skipped += skipped;
        }
    }
    // Every entry is committed: keep the damaged lines aside, then empty the file.
    let file = lines.reader.into_inner();
    let owned = path.to_path_buf();
    let damaged = report.damaged.clone();
    blocking(move || finish(&owned, file, &damaged)).await?;
    tracing::info!(
        target: "strata::audit",
        path = %path.display(),
        replayed = report.replayed,
        skipped = report.skipped,
        damaged = report.damaged.len(),
        "audit spill file replayed"
    );
    Ok(report)
}

/// Copies the damaged lines' text to `<spill>.damaged` and truncates the spill file.
fn finish(path: &Path, mut file: File, damaged: &[DamagedLine]) -> Result<()> {
    let io = |e: std::io::Error| Error::file_io("empty the audit spill file", path, &e);
    if !damaged.is_empty() {
        file.seek(SeekFrom::Start(0)).map_err(io)?;
        let mut kept = Vec::new();
        for (i, line) in BufReader::new(&file).split(b'\n').enumerate() {
            let line = line.map_err(io)?;
            if damaged.iter().any(|d| d.line == i as u64 + 1) {
                kept.extend_from_slice(&line);
                kept.push(b'\n');
            }
        }
        let mut aside = path.as_os_str().to_owned();
        aside.push(DAMAGED_SUFFIX);
        let mut options = OpenOptions::new();
        options.append(true).create(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let mut out = options.open(PathBuf::from(aside)).map_err(io)?;
        out.write_all(&kept).and_then(|()| out.sync_all()).map_err(io)?;
    }
    file.set_len(0).map_err(io)?;
    file.sync_all().map_err(io)
}

/// Runs blocking file work off the runtime's threads.
async fn blocking<T: Send + 'static>(f: impl FnOnce() -> Result<T> + Send + 'static) -> Result<T> {
    tokio::task::spawn_blocking(f).await.map_err(|e| Error::task_failed("audit spill file", e))?
}
