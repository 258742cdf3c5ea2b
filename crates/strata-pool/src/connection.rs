//! Opening connections: checks of the path before SQLite sees it, creation of a new
//! database file with mode 0600, the PRAGMAs every connection gets, and the typed
//! errors for each way opening can fail.

use std::fs::OpenOptions;
use std::io::ErrorKind as IoKind;
use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::{Connection, OpenFlags};
use strata_core::{Error, Result, SqliteConfig};

/// The PRAGMAs every connection gets besides `busy_timeout` and the journal mode,
/// in the order they are applied. Values come from typed config fields, never from
/// user strings.
fn common_pragmas(cfg: &SqliteConfig) -> String {
    format!(
        "PRAGMA synchronous = {};
         PRAGMA foreign_keys = ON;
         PRAGMA temp_store = MEMORY;
         PRAGMA cache_size = {};
         PRAGMA mmap_size = {};
         PRAGMA journal_size_limit = {};
         PRAGMA wal_autocheckpoint = {};",
        cfg.synchronous.pragma_value(),
        cfg.cache_size,
        cfg.mmap_size,
        cfg.journal_size_limit,
        cfg.wal_autocheckpoint
    )
}

/// Makes sure the database file exists, creating it empty with mode 0600 when it
/// does not. Returns whether it was created.
pub(crate) fn ensure_file(path: &Path) -> Result<bool> {
    let parent = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    if !parent.is_dir() {
        return Err(Error::DirectoryMissing { path: parent });
    }
    if path.is_dir() {
        return Err(Error::CannotOpen {
            code: rusqlite::ffi::SQLITE_CANTOPEN_ISDIR,
            message: format!("{} is a directory", path.display()),
        });
    }
    let mut options = OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    match options.open(path) {
        Ok(_) => Ok(true),
        Err(e) if e.kind() == IoKind::AlreadyExists => Ok(false),
        Err(e) => Err(classify_io(path, &e, "create")),
    }
}

/// Maps an operating-system error on `path` to the open-failure family.
fn classify_io(path: &Path, err: &std::io::Error, action: &'static str) -> Error {
    match err.kind() {
        IoKind::PermissionDenied => Error::PermissionDenied { path: path.to_path_buf() },
        IoKind::ReadOnlyFilesystem => {
            Error::ReadOnlyLocation { path: path.to_path_buf(), message: err.to_string() }
        }
        IoKind::NotFound => Error::DirectoryMissing { path: path.parent().unwrap_or(path).to_path_buf() },
        _ if err.raw_os_error() == Some(1) => Error::PermissionDenied { path: path.to_path_buf() },
        _ => Error::file_io(action, path, err),
    }
}

/// Opens the one write connection: busy_timeout first, then WAL (set once here),
/// then the common PRAGMAs. A file that is not a database is left untouched.
pub(crate) fn open_writer(path: &Path, cfg: &SqliteConfig) -> Result<Connection> {
    let flags =
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX | OpenFlags::SQLITE_OPEN_URI;
    let conn = Connection::open_with_flags(path, flags).map_err(|e| open_error(path, e))?;
    // SQLite silently falls back to read-only when the file cannot be written.
    if conn.is_readonly(rusqlite::MAIN_DB).map_err(Error::from)? {
        return Err(match OpenOptions::new().append(true).open(path) {
            Err(e) => classify_io(path, &e, "open"),
            Ok(_) => Error::ReadOnlyLocation {
                path: path.to_path_buf(),
                message: "sqlite opened the file read-only".into(),
            },
        });
    }
    apply_pragmas(&conn, cfg).map_err(|e| match e {
        Error::CannotOpen { .. } | Error::ReadOnly { .. } => location_error(path, e),
        other => other,
    })?;
    conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
    Ok(conn)
}

/// Applies the writer's PRAGMAs to `conn` in strata's order: `busy_timeout` first,
/// then `journal_mode = WAL`, then the rest. Public so that a raw baseline (benches)
/// or a tool can configure a connection exactly like the pool's writer.
pub fn apply_pragmas(conn: &Connection, cfg: &SqliteConfig) -> Result<()> {
    conn.busy_timeout(Duration::from_millis(u64::from(cfg.busy_timeout_ms)))?;
    let mode: String = conn.query_row("PRAGMA journal_mode = WAL", [], |row| row.get(0))?;
    if !mode.eq_ignore_ascii_case("wal") {
        let path = conn.path().unwrap_or_default().into();
        return Err(Error::ReadOnlyLocation {
            path,
            message: format!("journal_mode stayed `{mode}`, WAL could not be enabled"),
        });
    }
    conn.execute_batch(&common_pragmas(cfg))?;
    Ok(())
}

/// Turns off the checkpoint SQLite runs when the last connection to a database
/// closes (`SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE`): with a replicator such as Litestream,
/// a WAL frame must not reach the database file before the replicator has read it,
/// so strata's connections leave the WAL as it is when they close.
pub(crate) fn leave_checkpoints_to_replicator(conn: &Connection) -> Result<()> {
    conn.set_db_config(rusqlite::config::DbConfig::SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, true)?;
    Ok(())
}

/// Prepared statements kept per connection by `prepare_cached`.
const STATEMENT_CACHE: usize = 128;

/// Prepares a reader connection: busy_timeout, the common PRAGMAs, `query_only`.
pub(crate) fn prepare_reader(conn: &Connection, cfg: &SqliteConfig) -> Result<()> {
    conn.busy_timeout(Duration::from_millis(u64::from(cfg.busy_timeout_ms)))?;
    conn.execute_batch(&common_pragmas(cfg))?;
    conn.execute_batch("PRAGMA query_only = ON;")?;
    conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
    Ok(())
}

/// Open failures that concern the location are reported as such.
fn open_error(path: &Path, err: rusqlite::Error) -> Error {
    location_error(path, Error::from(err))
}

/// A cannot-open or read-only error becomes E2003 when the directory refuses files.
fn location_error(path: &Path, err: Error) -> Error {
    match err {
        Error::CannotOpen { .. } | Error::ReadOnly { .. } => {
            let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
            let probe = dir.join(format!(".strata-probe-{}", std::process::id()));
            match OpenOptions::new().write(true).create_new(true).open(&probe) {
                Ok(_) => {
                    let _ = std::fs::remove_file(&probe);
                    err
                }
                Err(e) if e.kind() == IoKind::PermissionDenied || e.raw_os_error() == Some(1) => {
                    Error::ReadOnlyLocation {
                        path: dir.to_path_buf(),
                        message: format!("{err}; directory not writable"),
                    }
                }
                Err(e) => classify_io(dir, &e, "write"),
            }
        }
        other => other,
    }
}

/// The settings a connection actually runs with, read back from SQLite.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Settings {
    /// SQLite library version, e.g. `3.50.2`.
    pub sqlite_version: String,
    /// `PRAGMA journal_mode`.
    pub journal_mode: String,
    /// `PRAGMA synchronous` as a name (`OFF`, `NORMAL`, `FULL`, `EXTRA`).
    pub synchronous: String,
    /// `PRAGMA foreign_keys`.
    pub foreign_keys: bool,
    /// `PRAGMA busy_timeout`, milliseconds.
    pub busy_timeout_ms: i64,
    /// `PRAGMA temp_store` as a name (`DEFAULT`, `FILE`, `MEMORY`).
    pub temp_store: String,
    /// `PRAGMA cache_size`.
    pub cache_size: i64,
    /// `PRAGMA mmap_size`, bytes.
    pub mmap_size: i64,
    /// `PRAGMA journal_size_limit`, bytes.
    pub journal_size_limit: i64,
    /// `PRAGMA wal_autocheckpoint`, pages.
    pub wal_autocheckpoint: i64,
    /// `PRAGMA query_only`.
    pub query_only: bool,
    /// `PRAGMA page_size`, bytes.
    pub page_size: i64,
    /// `PRAGMA page_count`.
    pub page_count: i64,
}

/// Reads back the settings of `conn`.
pub(crate) fn settings(conn: &Connection) -> Result<Settings> {
    let int = |pragma: &str| -> Result<i64> { Ok(conn.query_row(pragma, [], |r| r.get(0))?) };
    let named =
        |value: i64, names: &[&str]| names.get(value as usize).copied().unwrap_or("UNKNOWN").to_string();
    Ok(Settings {
        sqlite_version: rusqlite::version().to_string(),
        journal_mode: conn.query_row("PRAGMA journal_mode", [], |r| r.get(0))?,
        synchronous: named(int("PRAGMA synchronous")?, &["OFF", "NORMAL", "FULL", "EXTRA"]),
        foreign_keys: int("PRAGMA foreign_keys")? != 0,
        busy_timeout_ms: int("PRAGMA busy_timeout")?,
        temp_store: named(int("PRAGMA temp_store")?, &["DEFAULT", "FILE", "MEMORY"]),
        cache_size: int("PRAGMA cache_size")?,
        mmap_size: int("PRAGMA mmap_size")?,
        journal_size_limit: int("PRAGMA journal_size_limit")?,
        wal_autocheckpoint: int("PRAGMA wal_autocheckpoint")?,
        query_only: int("PRAGMA query_only")? != 0,
        page_size: int("PRAGMA page_size")?,
        page_count: int("PRAGMA page_count")?,
    })
}

/// Opens any SQLite file read-only for inspection (schema dumps, diffs, checks of
/// files strata does not manage): `SQLITE_OPEN_READ_ONLY` and `query_only`. Nothing
/// is created and nothing is written: not the journal mode, not a checkpoint. The
/// file must exist and be a database.
///
/// SQLite needs a `-wal` and a `-shm` file to read a WAL database and creates them
/// (empty) when they are missing; when the returned connection is dropped, such files
/// are removed again if they are still empty and no other connection uses the
/// database, so that inspecting a WAL database leaves its
/// directory as it was.
pub fn open_read_only(path: &Path) -> Result<ReadOnlyConnection> {
    require_file(path)?;
    let sidecars = Sidecars::before_open(path);
    let conn = open_read_only_connection(path).inspect_err(|_| sidecars.clean())?;
    Ok(ReadOnlyConnection { conn: Some(conn), sidecars })
}

/// E2004 when `path` is not an existing file: a read-only open never creates one.
pub(crate) fn require_file(path: &Path) -> Result<()> {
    if path.is_file() {
        return Ok(());
    }
    Err(Error::CannotOpen {
        code: rusqlite::ffi::SQLITE_CANTOPEN,
        message: format!("{} does not exist or is not a file", path.display()),
    })
}

/// The one connection behind [`open_read_only`].
fn open_read_only_connection(path: &Path) -> Result<Connection> {
    let flags =
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX | OpenFlags::SQLITE_OPEN_URI;
    let conn = Connection::open_with_flags(path, flags).map_err(|e| open_error(path, e))?;
    conn.busy_timeout(Duration::from_millis(5_000))?;
    // Reading the header proves it is a database (E5002 otherwise).
    conn.query_row("PRAGMA schema_version", [], |r| r.get::<_, i64>(0))?;
    conn.execute_batch("PRAGMA query_only = ON;")?;
    Ok(conn)
}

/// A connection opened by [`open_read_only`]: use it as a `&Connection` (it
/// dereferences to one). Dropping it closes the connection, then removes the empty
/// `-wal` and `-shm` files that opening it created, when no other connection uses
/// the database.
#[derive(Debug)]
pub struct ReadOnlyConnection {
    /// Always `Some` until dropped.
    conn: Option<Connection>,
    sidecars: Sidecars,
}

impl std::ops::Deref for ReadOnlyConnection {
    type Target = Connection;

    #[allow(
        clippy::expect_used,
        reason = "`conn` is only taken in `drop`, after which nothing can dereference"
    )]
    fn deref(&self) -> &Connection {
        self.conn.as_ref().expect("connection present until drop")
    }
}

impl Drop for ReadOnlyConnection {
    fn drop(&mut self) {
        if let Some(conn) = self.conn.take()
            && let Err((_, err)) = conn.close()
        {
            tracing::debug!(target: "strata::pool", error = %err, "read-only connection did not close cleanly");
        }
        self.sidecars.clean();
    }
}

/// Whether opening a database read-only is about to create its `-wal` and `-shm`.
///
/// A read-only connection to a WAL database opens (creating when missing) the `-wal`
/// and `-shm` files, and cannot remove them when it closes: removing them is the
/// last connection's checkpoint-on-close, which a read-only connection cannot run.
/// Reading without them needs `immutable=1`, which turns off locking and would read
/// torn pages if another process checkpointed meanwhile. So the files are let be
/// created, and [`Sidecars::clean`] removes them afterwards by SQLite's own rule:
/// a read-write connection that reads (opening the WAL) and closes; if it is the
/// last connection to the database, SQLite checkpoints the WAL, which is empty (zero
/// frames: nothing is written to the database file), and deletes both files. If any
/// other connection has the database open, nothing happens. It runs only when both
/// files were absent before the open, the header says WAL, and the `-wal` is still
/// empty; its busy timeout is 0, so it never waits.
#[derive(Debug, Clone)]
pub(crate) struct Sidecars {
    /// The database, when both sidecars were absent before a read-only open of a
    /// WAL database; `None` when there is nothing to clean up.
    created_for: Option<PathBuf>,
}

/// Reads the schema cookie: a read transaction, which opens the WAL.
const READ_SCHEMA_COOKIE: &str = "PRAGMA schema_version";

impl Sidecars {
    /// Notes, before the first read-only connection opens `path`, whether it will
    /// create the `-wal` and `-shm` files.
    pub(crate) fn before_open(path: &Path) -> Sidecars {
        let absent = !sidecar(path, "-wal").exists() && !sidecar(path, "-shm").exists();
        let created_for = (absent && header_says_wal(path)).then(|| path.to_path_buf());
        Sidecars { created_for }
    }

    /// Removes the sidecars the read-only open created, once every read-only
    /// connection is closed: see the type's documentation. Failing quietly: the files
    /// are empty, and any later connection to the database removes them.
    pub(crate) fn clean(&self) {
        let Some(path) = &self.created_for else { return };
        let wal = sidecar(path, "-wal");
        match std::fs::metadata(&wal) {
            Ok(meta) if meta.len() == 0 => {}
            // Gone already, or another connection has written to it since: leave it.
            _ => return,
        }
        let cleaned = (|| -> rusqlite::Result<()> {
            let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
            let conn = Connection::open_with_flags(path, flags)?;
            conn.busy_timeout(Duration::ZERO)?;
            conn.execute_batch("PRAGMA query_only = ON;")?;
            conn.query_row(READ_SCHEMA_COOKIE, [], |r| r.get::<_, i64>(0))?;
            conn.close().map_err(|(_, e)| e)
        })();
        if let Err(err) = cleaned {
            tracing::debug!(target: "strata::pool", error = %err, "empty -wal/-shm of a read-only open left in place");
        }
    }
}

/// `path` with `suffix` appended (`-wal`, `-shm`).
fn sidecar(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

/// Whether the database header marks the file as WAL (file format versions 2 at
/// offsets 18 and 19). Reads 20 bytes; anything unreadable is "no".
fn header_says_wal(path: &Path) -> bool {
    use std::io::Read;
    let mut header = [0u8; 20];
    std::fs::File::open(path).and_then(|mut f| f.read_exact(&mut header)).is_ok()
        && header[..16] == *b"SQLite format 3\0"
        && header[18] == 2
}

/// The URI that opens `path` read-only (`file:...?mode=ro`), for openers that take a
/// path and use SQLite's default flags (deadpool-sqlite's manager). Every byte that
/// a URI path may not hold as it is (`?`, `#`, `%`, spaces, non-ASCII) is escaped.
pub(crate) fn read_only_uri(path: &Path) -> PathBuf {
    let mut uri = String::from("file:");
    for &byte in path.as_os_str().as_encoded_bytes() {
        if byte.is_ascii_alphanumeric() || b"/-_.~".contains(&byte) {
            uri.push(char::from(byte));
        } else {
            uri.push_str(&format!("%{byte:02X}"));
        }
    }
    uri.push_str("?mode=ro");
    PathBuf::from(uri)
}
