//! The background checkpointer: WAL checkpoints off the writer's commit path.
//!
//! With `wal_autocheckpoint = N`, SQLite checkpoints inside the COMMIT that takes
//! the WAL past N pages: that commit copies the WAL into the database file and
//! fsyncs both, and every write queued behind it waits. The pool instead runs a
//! PASSIVE checkpoint on a thread of its own, with a connection of its own, as soon
//! as the WAL holds N/2 frames that are not yet in the database file. The writer
//! only nudges the thread after a commit (an atomic swap; a wake-up at most once per
//! [`TICK`]), and keeps its own `wal_autocheckpoint = N` as the backstop for a WAL
//! that grows faster than the thread copies it. A PASSIVE checkpoint never waits for
//! the writer or a reader, and the writer's backstop checkpoint gives up at once
//! when this one holds the checkpoint lock, so neither stalls the other.
//!
//! `wal_autocheckpoint = 0` (an external replicator owns checkpoints) starts no
//! thread. The thread closes its connection before the writer's final checkpoint,
//! so that the writer is the last connection and SQLite removes `-wal` and `-shm`.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use rusqlite::Connection;
use strata_core::{Result, SqliteConfig};

use crate::connection;
use crate::metrics::Counters;

/// How long the thread lets commits accumulate after a nudge before it looks at the
/// WAL; it bounds the wake-ups to one per tick however fast the writer commits.
const TICK: Duration = Duration::from_millis(2);

/// How long the thread waits, without a commit, before it tries again after a
/// checkpoint that copied nothing.
const STALL_RETRY: Duration = Duration::from_millis(100);

/// The handle the writer keeps: nudge after commits, stop before closing.
pub(crate) struct Checkpointer {
    shared: Arc<Shared>,
    thread: JoinHandle<()>,
}

struct Shared {
    /// The thread is parked (or about to park) and wants a nudge.
    waiting: AtomicBool,
    stop: AtomicBool,
}

impl Checkpointer {
    /// Starts the thread for the database at `path`, unless `cfg` turns automatic
    /// checkpoints off. A thread that cannot open its connection logs a warning and
    /// ends: the writer's own `wal_autocheckpoint` then does the work, as in SQLite.
    pub(crate) fn start(path: &Path, cfg: &SqliteConfig, counters: &Arc<Counters>) -> Option<Checkpointer> {
        if cfg.wal_autocheckpoint == 0 {
            return None;
        }
        let threshold = i64::from((cfg.wal_autocheckpoint / 2).max(1));
        let shared = Arc::new(Shared { waiting: AtomicBool::new(false), stop: AtomicBool::new(false) });
        let thread = {
            let (path, cfg, shared, counters) =
                (path.to_path_buf(), cfg.clone(), Arc::clone(&shared), Arc::clone(counters));
            std::thread::Builder::new()
                .name("strata-checkpoint".into())
                .spawn(move || match connection::open_writer(&path, &cfg) {
                    Ok(conn) => run(&conn, threshold, &shared, &counters),
                    Err(err) => tracing::warn!(
                        target: "strata::pool",
                        code = err.code(),
                        "background checkpointer could not open its connection ({err}); \
                         the writer checkpoints at wal_autocheckpoint instead"
                    ),
                })
                .ok()?
        };
        Some(Checkpointer { shared, thread })
    }

    /// Tells the thread that the WAL grew. Costs an atomic swap, and a wake-up only
    /// when the thread is parked.
    pub(crate) fn nudge(&self) {
        if self.shared.waiting.swap(false, Ordering::AcqRel) {
            self.thread.thread().unpark();
        }
    }

    /// Stops the thread and waits until it has closed its connection.
    pub(crate) fn stop(self) {
        self.shared.stop.store(true, Ordering::Release);
        self.thread.thread().unpark();
        let _ = self.thread.join();
    }
}

/// The thread's body: park until nudged, let a tick of commits accumulate, then a
/// PASSIVE checkpoint if at least `threshold` frames are waiting, and again while
/// they keep coming. Before it parks, the thread looks once more after saying it
/// waits, so that a commit's nudge that arrived while it was busy is not lost. When
/// a checkpoint copies nothing (a reader holds old frames, or the writer's own
/// checkpoint holds the lock), it waits for the next commit or [`STALL_RETRY`],
/// whichever comes first: a reader that lets go is not followed by a commit.
fn run(conn: &Connection, threshold: i64, shared: &Shared, counters: &Counters) {
    let mut stalled = false;
    loop {
        shared.waiting.store(true, Ordering::SeqCst);
        if shared.stop.load(Ordering::Acquire) {
            return;
        }
        if stalled {
            std::thread::park_timeout(STALL_RETRY);
        } else if !matches!(waiting_frames(conn), Ok(frames) if frames >= threshold) {
            std::thread::park();
        }
        if shared.stop.load(Ordering::Acquire) {
            return;
        }
        std::thread::sleep(TICK);
        stalled = false;
        let (log, done) = match checkpoint_pragma(conn, NOOP) {
            Ok((log, done)) if log - done >= threshold => (log, done),
            Ok(_) => continue,
            Err(err) => {
                tracing::debug!(target: "strata::pool", code = err.code(), "wal size: {err}");
                continue;
            }
        };
        stalled = match checkpoint_pragma(conn, PASSIVE) {
            Ok((log_now, done_now)) => {
                Counters::bump(&counters.checkpoints);
                // Progress: frames copied, or the writer restarted the WAL meanwhile.
                done_now <= done && log_now >= log
            }
            Err(err) => {
                tracing::debug!(target: "strata::pool", code = err.code(), "background checkpoint: {err}");
                true
            }
        };
    }
}

/// Reads the WAL index only: how far the WAL and the last checkpoint got.
const NOOP: &str = "PRAGMA wal_checkpoint(NOOP)";
/// Copies what it can without waiting for anyone.
const PASSIVE: &str = "PRAGMA wal_checkpoint(PASSIVE)";

/// Frames in the WAL that are not in the database file yet.
fn waiting_frames(conn: &Connection) -> Result<i64> {
    let (log, done) = checkpoint_pragma(conn, NOOP)?;
    Ok(log - done)
}

/// Runs a `wal_checkpoint` PRAGMA: (frames in the WAL, frames checkpointed).
fn checkpoint_pragma(conn: &Connection, sql: &str) -> Result<(i64, i64)> {
    let mut stmt = conn.prepare_cached(sql)?;
    Ok(stmt.query_row([], |r| Ok((r.get(1)?, r.get(2)?)))?)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `wal_autocheckpoint = 0` leaves checkpoints to someone else (a replicator): no
    /// thread is started, so nothing in the pool checkpoints behind the writer.
    #[test]
    fn no_checkpointer_is_started_when_checkpoints_are_left_to_someone_else() {
        let dir = tempfile::tempdir().unwrap();
        let counters = Arc::new(Counters::default());
        let off = SqliteConfig { wal_autocheckpoint: 0, ..SqliteConfig::default() };
        assert!(Checkpointer::start(&dir.path().join("a.db"), &off, &counters).is_none());
        let on = SqliteConfig::default();
        let started = Checkpointer::start(&dir.path().join("b.db"), &on, &counters);
        started.expect("the default starts one").stop();
    }
}
