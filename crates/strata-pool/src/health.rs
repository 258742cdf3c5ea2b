//! The pool's health: its state (healthy, degraded, unavailable, closed), published
//! through a `tokio::sync::watch`, the check every call makes against it, the
//! classification of errors that invalidate a connection, and the file identity
//! (device and inode) that tells when the file was removed or replaced under the pool.
//!
//! The reopen itself lives in `pool.rs` (it needs the readers and the writer); this
//! module only keeps the state and answers questions about it.

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime};

use strata_core::Error;
use tokio::sync::watch;

/// The health of a pool, as [`crate::Pool::state`] reports it and
/// [`crate::Pool::watch_state`] publishes it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum PoolState {
    /// Every call runs.
    Healthy,
    /// Something went wrong at `since`. With [`Cause::DiskFull`] or
    /// [`Cause::ReadOnly`], reads keep working and every write is tried (the first
    /// one that commits makes the pool healthy again); with any other cause the pool
    /// reopens its connections in the background with the retry policy, and calls
    /// fail fast with E2040 until a probe succeeds.
    Degraded {
        /// When the pool left [`PoolState::Healthy`].
        since: SystemTime,
        /// What went wrong.
        cause: Cause,
    },
    /// The retry policy was spent without a successful reopen: calls still fail fast
    /// with E2040, and the pool still tries to reopen, at the policy's largest delay,
    /// so that a file put back makes it healthy again.
    Unavailable {
        /// When the pool left [`PoolState::Healthy`].
        since: SystemTime,
        /// What went wrong.
        cause: Cause,
    },
    /// `close` has begun; calls fail with E2006.
    Closed,
}

impl PoolState {
    /// `healthy`, `degraded`, `unavailable` or `closed`.
    pub fn name(&self) -> &'static str {
        match self {
            PoolState::Healthy => "healthy",
            PoolState::Degraded { .. } => "degraded",
            PoolState::Unavailable { .. } => "unavailable",
            PoolState::Closed => "closed",
        }
    }

    /// Whether the state is [`PoolState::Healthy`].
    pub fn is_healthy(&self) -> bool {
        matches!(self, PoolState::Healthy)
    }

    /// The cause of a degraded or unavailable state.
    pub fn cause(&self) -> Option<&Cause> {
        match self {
            PoolState::Degraded { cause, .. } | PoolState::Unavailable { cause, .. } => Some(cause),
            _ => None,
        }
    }
}

/// Why a pool is not healthy.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Cause {
    /// The database file is no longer at its path.
    FileRemoved,
    /// Another file (another inode) is now at the database's path.
    FileReplaced,
    /// A connection failed with an error that invalidates it: cannot open (E2004),
    /// not a database (E5002) or an i/o error (E5004).
    ConnectionLost {
        /// The error's code.
        code: &'static str,
        /// The error's message.
        message: String,
    },
    /// A write failed with `SQLITE_FULL` (E5003): the disk, or the database's
    /// `max_page_count`, is full. Committed data is intact and reads keep working.
    DiskFull,
    /// A write failed with `SQLITE_READONLY` (E4003) on the writer: the volume or the
    /// file only allows reading now. Reads keep working.
    ReadOnly,
}

impl Cause {
    /// Whether calls fail fast while the pool is degraded for this cause (everything
    /// but a full disk and a read-only volume, where reads still work).
    fn blocks_calls(&self) -> bool {
        !matches!(self, Cause::DiskFull | Cause::ReadOnly)
    }
}

impl std::fmt::Display for Cause {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Cause::FileRemoved => f.write_str("the database file was removed"),
            Cause::FileReplaced => f.write_str("the database file was replaced by another file"),
            Cause::ConnectionLost { code, message } => write!(f, "{code} {message}"),
            Cause::DiskFull => f.write_str("the disk or the database is full"),
            Cause::ReadOnly => f.write_str("the database only allows reading"),
        }
    }
}

/// The cause an error gives the pool to leave [`PoolState::Healthy`], if any. `write`
/// says the error came from the writer: a reader refuses writes with `SQLITE_READONLY`
/// by design (`query_only`), so only the writer's means a read-only volume.
pub(crate) fn classify(err: &Error, write: bool) -> Option<Cause> {
    match err {
        Error::DiskFull { .. } if write => Some(Cause::DiskFull),
        Error::ReadOnly { code, .. } if write && *code == rusqlite::ffi::SQLITE_READONLY_DBMOVED => {
            Some(lost(err))
        }
        Error::ReadOnly { .. } if write => Some(Cause::ReadOnly),
        Error::CannotOpen { .. } | Error::NotADatabase { .. } | Error::SqliteIo { .. } => Some(lost(err)),
        _ => None,
    }
}

fn lost(err: &Error) -> Cause {
    Cause::ConnectionLost { code: err.code(), message: err.to_string() }
}

/// Gate values: what a call may do, one atomic load on every call.
const OPEN: u8 = 0;
/// Reads run, writes are tried (disk full, read-only).
const PROBING_WRITES: u8 = 1;
/// Calls fail fast with E2040.
const BLOCKED: u8 = 2;
/// Calls fail with E2006.
const CLOSED: u8 = 3;

/// The device and inode of the database file: another pair at the path means the
/// file was replaced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct FileId {
    dev: u64,
    ino: u64,
}

#[cfg(unix)]
fn file_id(path: &Path) -> Option<FileId> {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(path).ok().map(|m| FileId { dev: m.dev(), ino: m.ino() })
}

#[cfg(not(unix))]
fn file_id(path: &Path) -> Option<FileId> {
    // Without inodes only a removal can be seen.
    std::fs::metadata(path).ok().map(|_| FileId { dev: 0, ino: 0 })
}

/// The files SQLite keeps beside a WAL database.
const SIDECARS: [&str; 2] = ["-wal", "-shm"];

fn sidecar(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

/// A pool's health, shared by the pool, its reader manager and its background tasks.
pub(crate) struct Health {
    path: PathBuf,
    gate: AtomicU8,
    state: watch::Sender<PoolState>,
    /// The file the connections were opened on.
    identity: Mutex<Option<FileId>>,
    /// Its `-wal` and `-shm` then: after the file is removed or replaced, these still
    /// belong to the old file, and a connection to the new one must not read them.
    sidecars: Mutex<[Option<FileId>; 2]>,
    /// A background reopen is running.
    pub(crate) recovering: AtomicBool,
    /// When the pool was made; [`Health::epoch_ns`] counts from it.
    born: Instant,
    /// Readers created before `born` + this many nanoseconds belong to a file the
    /// pool reopened since, and are not lent again (0: none).
    epoch_ns: AtomicU64,
}

impl Health {
    /// A healthy pool's health, with the identity of the file at `path` now.
    pub(crate) fn new(path: &Path) -> Health {
        Health {
            path: path.to_path_buf(),
            gate: AtomicU8::new(OPEN),
            state: watch::Sender::new(PoolState::Healthy),
            identity: Mutex::new(file_id(path)),
            sidecars: Mutex::new(SIDECARS.map(|suffix| file_id(&sidecar(path, suffix)))),
            recovering: AtomicBool::new(false),
            born: Instant::now(),
            epoch_ns: AtomicU64::new(0),
        }
    }

    /// Ok when a call may run now; E2040 while the pool reopens, E2006 once closed.
    #[inline]
    pub(crate) fn check(&self) -> strata_core::Result<()> {
        match self.gate.load(Ordering::Acquire) {
            OPEN | PROBING_WRITES => Ok(()),
            CLOSED => Err(Error::PoolClosed),
            _ => Err(self.unavailable()),
        }
    }

    /// Whether `close` has begun.
    pub(crate) fn is_closed(&self) -> bool {
        self.gate.load(Ordering::Acquire) == CLOSED
    }

    /// Whether calls fail fast now (the watchdog then has nothing to look at).
    pub(crate) fn is_blocked(&self) -> bool {
        self.gate.load(Ordering::Acquire) >= BLOCKED
    }

    /// The E2040 error for the state now.
    pub(crate) fn unavailable(&self) -> Error {
        let (state, cause) = match &*self.state.borrow() {
            PoolState::Unavailable { cause, .. } => ("unavailable", cause.to_string()),
            PoolState::Degraded { cause, .. } => ("degraded", cause.to_string()),
            PoolState::Closed => return Error::PoolClosed,
            PoolState::Healthy => ("degraded", "the connections are being reopened".to_string()),
        };
        Error::PoolUnavailable { path: self.path.clone(), state, cause }
    }

    /// The state now.
    pub(crate) fn state(&self) -> PoolState {
        self.state.borrow().clone()
    }

    /// A receiver that sees every change of state.
    pub(crate) fn subscribe(&self) -> watch::Receiver<PoolState> {
        self.state.subscribe()
    }

    /// Moves the pool to [`PoolState::Degraded`] for `cause`, unless it is closed or
    /// already down for a cause that blocks calls. Returns true when the caller must
    /// start the background reopen (the cause blocks calls and no reopen runs).
    pub(crate) fn degrade(&self, cause: Cause) -> bool {
        let blocks = cause.blocks_calls();
        let changed = self.state.send_if_modified(|state| {
            let keep = match state {
                PoolState::Closed => true,
                PoolState::Degraded { cause: now, .. } | PoolState::Unavailable { cause: now, .. } => {
                    now.blocks_calls() || *now == cause
                }
                PoolState::Healthy => false,
            };
            if !keep {
                // The gate first: whoever the watch wakes finds calls gated already.
                self.gate.store(if blocks { BLOCKED } else { PROBING_WRITES }, Ordering::Release);
                *state = PoolState::Degraded { since: SystemTime::now(), cause: cause.clone() };
            }
            !keep
        });
        if !changed {
            return false;
        }
        tracing::warn!(target: "strata::pool", path = %self.path.display(), cause = %cause, "pool degraded");
        blocks && !self.recovering.swap(true, Ordering::AcqRel)
    }

    /// The retry policy was spent: [`PoolState::Degraded`] becomes
    /// [`PoolState::Unavailable`], same time and cause.
    pub(crate) fn spent(&self) {
        self.state.send_if_modified(|state| match state {
            PoolState::Degraded { since, cause } => {
                tracing::error!(target: "strata::pool", path = %self.path.display(), cause = %cause, "pool unavailable: the retry policy is spent");
                *state = PoolState::Unavailable { since: *since, cause: cause.clone() };
                true
            }
            _ => false,
        });
    }

    /// Back to [`PoolState::Healthy`] (unless closed), remembering the file now at
    /// the path as the one the connections use.
    pub(crate) fn healthy(&self) {
        self.remember_files();
        let changed = self.state.send_if_modified(|state| match state {
            PoolState::Closed | PoolState::Healthy => false,
            _ => {
                // The gate first: whoever the watch wakes may call at once.
                self.gate.store(OPEN, Ordering::Release);
                *state = PoolState::Healthy;
                true
            }
        });
        if changed {
            tracing::info!(target: "strata::pool", path = %self.path.display(), "pool healthy again");
        }
    }

    /// Records the file at the path, and its `-wal` and `-shm`, as the ones the
    /// connections use. Called once a reader has read (SQLite creates the sidecars of a
    /// WAL database then, not at open) and after each reopen.
    pub(crate) fn remember_files(&self) {
        *self.identity.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = file_id(&self.path);
        *self.sidecars.lock().unwrap_or_else(std::sync::PoisonError::into_inner) =
            SIDECARS.map(|suffix| file_id(&sidecar(&self.path, suffix)));
    }

    /// A write committed: a pool degraded by a full disk or a read-only volume is
    /// healthy again (one atomic load otherwise).
    #[inline]
    pub(crate) fn wrote(&self) {
        if self.gate.load(Ordering::Acquire) == PROBING_WRITES {
            self.healthy();
        }
    }

    /// `close` has begun.
    pub(crate) fn closed(&self) {
        self.gate.store(CLOSED, Ordering::Release);
        self.state.send_replace(PoolState::Closed);
    }

    /// Whether the file at the path is still the one the connections were opened on:
    /// `Some` cause when it was removed or replaced.
    pub(crate) fn file_changed(&self) -> Option<Cause> {
        let opened = *self.identity.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        match (opened, file_id(&self.path)) {
            (_, None) => Some(Cause::FileRemoved),
            (Some(a), Some(b)) if a != b => Some(Cause::FileReplaced),
            _ => None,
        }
    }

    /// Runs between closing the old connections and opening new ones: when another
    /// file is now at the path (or none), the `-wal` and `-shm` the old connections
    /// used are still there, and SQLite would apply the old file's WAL frames to the
    /// new file. They are renamed aside to `<name>.orphan-<unix ms>` (the old WAL may
    /// hold the old file's last commits; nothing is deleted). A sidecar that is not
    /// the one the pool used (it came with the new file) is left alone.
    pub(crate) fn set_aside_old_sidecars(&self) -> strata_core::Result<()> {
        let opened = *self.identity.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if file_id(&self.path) == opened {
            return Ok(());
        }
        let recorded = *self.sidecars.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let stamp = SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).unwrap_or_default().as_millis();
        for (suffix, recorded) in SIDECARS.iter().zip(recorded) {
            let path = sidecar(&self.path, suffix);
            if recorded.is_some() && file_id(&path) == recorded {
                let mut aside = path.clone().into_os_string();
                aside.push(format!(".orphan-{stamp}"));
                std::fs::rename(&path, &aside).map_err(|e| Error::file_io("set aside", &path, &e))?;
                tracing::warn!(target: "strata::pool", file = %path.display(), "the old file's {suffix} was set aside");
            }
        }
        Ok(())
    }

    /// From now on, readers created before this moment are discarded instead of lent.
    pub(crate) fn new_epoch(&self) {
        let ns = u64::try_from(self.born.elapsed().as_nanos()).unwrap_or(u64::MAX).max(1);
        self.epoch_ns.store(ns, Ordering::Release);
    }

    /// Whether a reader created at `created` belongs to a file reopened since.
    #[inline]
    pub(crate) fn is_stale(&self, created: Instant) -> bool {
        let epoch = self.epoch_ns.load(Ordering::Acquire);
        epoch != 0 && created < self.born + Duration::from_nanos(epoch)
    }
}
