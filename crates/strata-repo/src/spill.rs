//! Spill files: where append-only writes whose order and idempotence strata controls
//! (audit entries, metrics samples) wait while the database cannot take them, and
//! their replay, in order and exactly once, when it can again. One file per kind
//! beside the database (`<db>` + [`SpillKind::suffix`]); the line type says which
//! ([`SpillLine`]), and this module owns everything else.
//!
//! One line per entry, JSON, each write whole with `O_APPEND` and fsynced before the
//! writer answers; the file is created mode 0600 and bounded by the kind's
//! `spill_max_bytes` (E5050 / E5052 when the lines would not fit). Every writer and
//! every replay holds an exclusive `flock` on the file, across processes, so lines
//! never interleave and a replay sees a stable file. A line cut short by a crash is
//! closed with a newline before the next write, so it damages only itself.
//!
//! Replay reads the file in chunks, in order, and inserts each chunk in one write
//! ([`SpillLine::INSERT_REPLAYED`] skips a uid already in the table, so a replay
//! interrupted by a crash and run again duplicates nothing). Only after every entry
//! is committed are damaged lines copied to `<spill>.damaged` (fsynced) and the file
//! truncated to zero. It is truncated, not removed: a writer in another process that
//! opened the file and waits for its lock would otherwise append to an unlinked file.
//!
//! [`write_or_spill`] is the writer's side: retry busy and transient failures with
//! the retry policy, replay a waiting file first, and spill when the budget is spent
//! or the pool is degraded. [`spawn_replayer`] (file `spill/replayer.rs`) replays
//! every kind's file whenever the pool becomes healthy.

mod replayer;

pub use replayer::{Replayer, spawn_replayer};

use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use rusqlite::Connection;
use serde::Serialize;
use serde::de::DeserializeOwned;
use strata_core::{Error, Result};
use strata_pool::Pool;

/// What is appended to the spill file's name to name the file that keeps its damaged
/// lines after a replay.
pub const DAMAGED_SUFFIX: &str = ".damaged";

/// Entries inserted per write during a replay.
const REPLAY_CHUNK: usize = 256;

/// Which spill file: each kind has its own file, bound and error codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SpillKind {
    /// Audit entries (`<db>.audit-spill.jsonl`, `audit.spill_max_bytes`, E5050/E5051).
    Audit,
    /// Metrics samples (`<db>.metrics-spill.jsonl`, `metrics.spill_max_bytes`,
    /// E5052/E5053).
    Metrics,
}

impl SpillKind {
    /// What is appended to the database's file name to name this kind's spill file.
    pub const fn suffix(self) -> &'static str {
        match self {
            SpillKind::Audit => ".audit-spill.jsonl",
            SpillKind::Metrics => ".metrics-spill.jsonl",
        }
    }

    /// This kind's spill file for the database at `db`: `<db>` + [`SpillKind::suffix`].
    pub fn path(self, db: &Path) -> PathBuf {
        let mut name = db.as_os_str().to_owned();
        name.push(self.suffix());
        PathBuf::from(name)
    }

    /// The bound of this kind's spill file in `config`.
    fn limit(self, config: &strata_core::Config) -> u64 {
        match self {
            SpillKind::Audit => config.audit.spill_max_bytes,
            SpillKind::Metrics => config.metrics.spill_max_bytes,
        }
    }

    /// The error of a write that would make the file larger than its bound.
    fn full(self, path: &Path, size: u64, limit: u64) -> Error {
        let path = path.to_path_buf();
        match self {
            SpillKind::Audit => Error::AuditSpillFull { path, size, limit },
            SpillKind::Metrics => Error::MetricsSpillFull { path, size, limit },
        }
    }
}

/// One line of a spill file: a serialisable entry with a unique id, and how a chunk
/// of them goes into its table.
pub trait SpillLine: Serialize + DeserializeOwned + Clone + Send + Sync + 'static {
    /// Which spill file the lines go to.
    const KIND: SpillKind;

    /// The entry's unique id (32 lowercase hex digits).
    fn uid(&self) -> &str;

    /// The table's CHECKs, for an entry about to be spilled: the same E4001 that the
    /// insert would give, so that an entry the table would refuse never waits.
    fn check(&self) -> Result<()>;

    /// The statement that inserts one replayed line unless its uid is already in the
    /// table (`INSERT ... SELECT ... WHERE NOT EXISTS (... uid = ?)`).
    const INSERT_REPLAYED: &'static str;

    /// Runs [`SpillLine::INSERT_REPLAYED`] for this line; answers the rows changed
    /// (0 when its uid was already in the table).
    fn insert_replayed(&self, stmt: &mut rusqlite::CachedStatement<'_>) -> rusqlite::Result<usize>;
}

/// Inserts `lines` on `conn` (inside the caller's write), in order, skipping a uid
/// already in the table; answers how many were inserted and how many skipped.
fn insert_replayed<L: SpillLine>(conn: &Connection, lines: &[L]) -> Result<(u64, u64)> {
    let mut stmt = conn.prepare_cached(L::INSERT_REPLAYED)?;
    let (mut inserted, mut skipped) = (0, 0);
    for line in lines {
        match line.insert_replayed(&mut stmt)? {
            0 => skipped += 1,
            _ => inserted += 1,
        }
    }
    Ok((inserted, skipped))
}

/// A line of a spill file that is not a whole entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DamagedLine {
    /// The line's number, from 1.
    pub line: u64,
    /// What is wrong with it (JSON's error, or that it was cut short).
    pub reason: String,
    /// The file's kind, which picks the error code.
    #[serde(skip)]
    kind: SpillKind,
}

impl DamagedLine {
    /// The line as an error, E5051 (audit) or E5053 (metrics), for a report.
    pub fn to_error(&self, path: &Path) -> Error {
        let (path, line, reason) = (path.to_path_buf(), self.line, self.reason.clone());
        match self.kind {
            SpillKind::Audit => Error::AuditSpillDamaged { path, line, reason },
            SpillKind::Metrics => Error::MetricsSpillDamaged { path, line, reason },
        }
    }
}

/// What a spill file holds, read without replaying it ([`inspect`]).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SpillContents<L> {
    /// The spill file.
    pub path: PathBuf,
    /// Its size in bytes (0 when it does not exist).
    pub bytes: u64,
    /// Its whole entries, in file order.
    pub entries: Vec<L>,
    /// Its damaged lines.
    pub damaged: Vec<DamagedLine>,
}

impl<L> SpillContents<L> {
    /// Whether entries wait for replay.
    pub fn is_waiting(&self) -> bool {
        !self.entries.is_empty()
    }
}

impl<L> strata_pool::Affected for SpillContents<L> {
    fn affected(&self) -> u64 {
        self.entries.len() as u64
    }
}

/// What a replay did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ReplayReport {
    /// The spill file.
    pub path: PathBuf,
    /// Whole entries read from it.
    pub entries: u64,
    /// Entries inserted into the table.
    pub replayed: u64,
    /// Entries whose uid was already in the table (a replay interrupted before its
    /// truncate), not inserted again.
    pub skipped: u64,
    /// Damaged lines, copied to `<spill>.damaged` and not replayed.
    pub damaged: Vec<DamagedLine>,
}

impl strata_pool::Affected for ReplayReport {
    fn affected(&self) -> u64 {
        self.replayed
    }
}

/// Whether the spill file at `path` holds anything (a cheap `stat`).
pub fn is_waiting(path: &Path) -> bool {
    std::fs::metadata(path).is_ok_and(|m| m.len() > 0)
}

/// Reads the spill file at `path` (nothing when it does not exist), opened read-only
/// under a shared lock (so it waits for a write or a replay in progress, and writes
/// nothing).
pub fn inspect<L: SpillLine>(path: &Path) -> Result<SpillContents<L>> {
    let mut contents =
        SpillContents { path: path.to_path_buf(), bytes: 0, entries: Vec::new(), damaged: Vec::new() };
    let file = match File::open(path) {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(contents),
        Err(e) => return Err(Error::file_io("open the spill file", path, &e)),
    };
    file.lock_shared().map_err(|e| Error::file_io("lock the spill file", path, &e))?;
    contents.bytes = file.metadata().map_err(|e| Error::file_io("read", path, &e))?.len();
    let mut lines = Lines::<L>::new(file, path);
    while let Some(line) = lines.next_line()? {
        match line {
            Ok(entry) => contents.entries.push(entry),
            Err(damaged) => contents.damaged.push(damaged),
        }
    }
    Ok(contents)
}

/// [`inspect`] off the runtime's threads.
pub(crate) async fn inspect_async<L: SpillLine>(path: &Path) -> Result<SpillContents<L>> {
    let path = path.to_path_buf();
    blocking(move || inspect::<L>(&path)).await
}

/// Appends `entries` as lines to the spill file at `path`, creating it (mode 0600),
/// in one write, and fsyncs it before answering. The kind's "full" error (E5050,
/// E5052) when the file would grow past `limit` bytes: then nothing is written.
pub(crate) fn write<L: SpillLine>(path: &Path, limit: u64, entries: &[L]) -> Result<()> {
    let io = |e: std::io::Error| Error::file_io("write the spill file", path, &e);
    let created = !path.exists();
    let mut file = lock(path, open_options(true).open(path).map_err(io)?)?;
    let size = file.metadata().map_err(io)?.len();
    // A line cut short by a crash is closed first, so it stays a damaged line of its own.
    let mut text = Vec::with_capacity(256 * entries.len());
    if size > 0 {
        let mut last = [0u8; 1];
        file.seek(SeekFrom::Start(size - 1)).map_err(io)?;
        file.read_exact(&mut last).map_err(io)?;
        if last[0] != b'\n' {
            text.push(b'\n');
        }
    }
    for entry in entries {
        // Serialising a struct of strings, numbers and JSON values cannot fail.
        serde_json::to_writer(&mut text, entry).map_err(|e| io(e.into()))?;
        text.push(b'\n');
    }
    if size + text.len() as u64 > limit {
        return Err(L::KIND.full(path, size, limit));
    }
    file.write_all(&text).map_err(io)?;
    file.sync_data().map_err(io)?;
    if created {
        // The new directory entry is durable too.
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            File::open(dir).and_then(|d| d.sync_all()).map_err(io)?;
        }
    }
    Ok(())
}

/// Where [`write_or_spill`] put the entries.
#[derive(Debug)]
pub(crate) enum Written<T> {
    /// In the table: what the insert answered.
    Stored(T),
    /// In the spill file, fsynced, because of `cause` (`code message`).
    Spilled {
        /// The error that made them spill, as `code message`.
        cause: String,
    },
}

/// Writes `entries` through `pool` with `insert` (one write, all or nothing), or
/// spills them to their kind's file beside the database. Busy and transient failures
/// are retried with the config's retry policy (the attempts and the elapsed time
/// count from the call); when that budget is spent, or the pool is degraded or
/// unavailable (E2040, a full disk, a read-only volume, an i/o error), the entries
/// are written to the spill file instead (the kind's "full" error when they do not
/// fit). While the spill file holds entries, they are replayed first, so the table
/// keeps their order. Entries the table's CHECKs refuse are E4001 either way; any
/// other error (E2006 after close, ...) is returned as it is.
pub(crate) async fn write_or_spill<L, T, F>(pool: &Pool, entries: Vec<L>, insert: F) -> Result<Written<T>>
where
    L: SpillLine,
    T: Send + 'static,
    F: Fn(&Connection, &[L]) -> Result<T> + Clone + Send + 'static,
{
    let path = L::KIND.path(pool.path());
    if is_waiting(&path) {
        // Degraded or unavailable: the replay would fail; the entries go after the others.
        if let Some(why) = pool.state().cause() {
            let err = Error::PoolUnavailable {
                path: pool.path().to_path_buf(),
                state: pool.state().name(),
                cause: why.to_string(),
            };
            return spill(pool, &path, entries, cause(&err)).await;
        }
        if let Err(err) = replay::<L>(pool, &path).await {
            return spill(pool, &path, entries, cause(&err)).await;
        }
    }
    let policy = &pool.config().retry;
    let budget = Duration::from_millis(policy.max_elapsed_ms);
    let started = Instant::now();
    let mut delays = policy.delays();
    loop {
        let (rows, insert) = (entries.clone(), insert.clone());
        let err = match pool.write(move |conn| insert(conn, &rows)).await {
            Ok(stored) => return Ok(Written::Stored(stored)),
            Err(err) => err,
        };
        if err.is_retryable() {
            match delays.next() {
                Some(delay) if started.elapsed() + delay <= budget => {
                    tokio::time::sleep(delay).await;
                    continue;
                }
                _ => return spill(pool, &path, entries, cause(&err)).await,
            }
        }
        if spills(&err) {
            return spill(pool, &path, entries, cause(&err)).await;
        }
        return Err(err);
    }
}

/// Writes `entries` to the spill file at `path`, after the checks the table would make.
pub(crate) async fn spill<L: SpillLine, T>(
    pool: &Pool,
    path: &Path,
    entries: Vec<L>,
    cause: String,
) -> Result<Written<T>> {
    for entry in &entries {
        entry.check()?;
    }
    let (owned, limit) = (path.to_path_buf(), L::KIND.limit(pool.config()));
    let uids: Vec<String> = entries.iter().map(|e| e.uid().to_owned()).collect();
    blocking(move || write(&owned, limit, &entries)).await?;
    tracing::warn!(
        target: "strata::spill",
        kind = ?L::KIND,
        first_uid = uids.first().map(String::as_str).unwrap_or_default(),
        entries = uids.len(),
        cause = %cause,
        path = %path.display(),
        "entries spilled"
    );
    Ok(Written::Spilled { cause })
}

/// Whether an error (once retries are spent, for a retryable one) sends entries to
/// the spill file: the database cannot take writes now but may again. Not after
/// close (E2006), and never for what the entry itself or the schema got wrong.
fn spills(err: &Error) -> bool {
    use strata_core::ErrorKind;
    !matches!(err, Error::PoolClosed)
        && matches!(
            err.kind(),
            ErrorKind::Busy
                | ErrorKind::Transient
                | ErrorKind::Unavailable
                | ErrorKind::Storage
                | ErrorKind::ReadOnly
                | ErrorKind::Io
                | ErrorKind::Corruption
        )
}

/// An error as `code message`.
fn cause(err: &Error) -> String {
    format!("{} {err}", err.code())
}

/// A 128-bit random unique id as 32 lowercase hex digits.
pub(crate) fn new_uid() -> String {
    format!("{:032x}", fastrand::u128(..))
}

/// The CHECK failure E4001 that SQLite gives for `what`.
pub(crate) fn refused(what: &str) -> Result<()> {
    let code = rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_CONSTRAINT_CHECK);
    Err(rusqlite::Error::SqliteFailure(code, Some(format!("CHECK constraint failed: {what}"))).into())
}

/// Opens the existing spill file and takes its exclusive lock (waiting for another
/// writer or replay); `None` when there is no spill file.
fn open_existing(path: &Path) -> Result<Option<File>> {
    match open_options(false).open(path) {
        Ok(file) => lock(path, file).map(Some),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Error::file_io("open the spill file", path, &e)),
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
    file.lock().map_err(|e| Error::file_io("lock the spill file", path, &e))?;
    Ok(file)
}

/// A spill file's lines, parsed one at a time.
struct Lines<L> {
    reader: BufReader<File>,
    path: PathBuf,
    number: u64,
    buf: Vec<u8>,
    entry: std::marker::PhantomData<L>,
}

impl<L: SpillLine> Lines<L> {
    fn new(file: File, path: &Path) -> Lines<L> {
        Lines {
            reader: BufReader::new(file),
            path: path.to_path_buf(),
            number: 0,
            buf: Vec::new(),
            entry: std::marker::PhantomData,
        }
    }

    /// The next non-empty line: an entry, or what is wrong with it; `None` at the end.
    fn next_line(&mut self) -> Result<Option<std::result::Result<L, DamagedLine>>> {
        loop {
            self.buf.clear();
            let read = self
                .reader
                .read_until(b'\n', &mut self.buf)
                .map_err(|e| Error::file_io("read the spill file", &self.path, &e))?;
            if read == 0 {
                return Ok(None);
            }
            self.number += 1;
            let whole = self.buf.last() == Some(&b'\n');
            let text = self.buf.trim_ascii();
            if text.is_empty() {
                continue;
            }
            let (line, kind) = (self.number, L::KIND);
            let damaged = |reason: String| DamagedLine { line, reason, kind };
            return Ok(Some(match serde_json::from_slice::<L>(text) {
                Ok(entry) if whole => Ok(entry),
                Ok(_) => Err(damaged("the line has no end (cut short)".into())),
                Err(e) if !whole => Err(damaged(format!("cut short: {e}"))),
                Err(e) => Err(damaged(e.to_string())),
            }));
        }
    }

    /// Up to `n` more lines.
    fn chunk(&mut self, n: usize) -> Result<Vec<std::result::Result<L, DamagedLine>>> {
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

/// Replays the spill file at `path` into its table through `pool`: see the module's
/// documentation. An error leaves the file as it was (entries already committed are
/// skipped by the next replay).
pub(crate) async fn replay<L: SpillLine>(pool: &Pool, path: &Path) -> Result<ReplayReport> {
    let mut report = ReplayReport { path: path.to_path_buf(), ..ReplayReport::default() };
    let owned = path.to_path_buf();
    let opened = blocking(move || open_existing(&owned)).await?;
    let Some(file) = opened else { return Ok(report) };
    let mut lines = Lines::<L>::new(file, path);
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
                    tracing::warn!(target: "strata::spill", kind = ?L::KIND, error = %damaged.to_error(path), "spill line not replayed");
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
        target: "strata::spill",
        kind = ?L::KIND,
        path = %path.display(),
        replayed = report.replayed,
        skipped = report.skipped,
        damaged = report.damaged.len(),
        "spill file replayed"
    );
    Ok(report)
}

/// Copies the damaged lines' text to `<spill>.damaged` and truncates the spill file.
fn finish(path: &Path, mut file: File, damaged: &[DamagedLine]) -> Result<()> {
    let io = |e: std::io::Error| Error::file_io("empty the spill file", path, &e);
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
    tokio::task::spawn_blocking(f).await.map_err(|e| Error::task_failed("spill file", e))?
}
