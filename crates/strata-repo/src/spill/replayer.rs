//! The automatic replay of the spill files: a task that watches the pool's health
//! state and replays every waiting spill file (audit entries, then metrics samples)
//! each time the pool becomes healthy (and once when it starts), so spilled entries
//! reach their tables without anyone asking.

use std::sync::Mutex;

use strata_pool::{Pool, PoolState};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::{SpillKind, is_waiting};
use crate::{Audit, Metrics};

/// How often the task looks at the spill files while the state does not change.
const RECHECK: std::time::Duration = std::time::Duration::from_secs(1);

/// The running replay task of [`spawn_replayer`]; it ends at [`Replayer::stop`], when
/// the pool closes, or when the `Replayer` is dropped.
#[derive(Debug)]
pub struct Replayer {
    stop: watch::Sender<bool>,
    task: Mutex<Option<JoinHandle<()>>>,
}

/// Starts a tokio task that replays the spill files of `pool`'s database (the audit
/// file, then the metrics file) whenever the pool is healthy and a file holds
/// entries: at once, after every change of the pool's state to
/// [`PoolState::Healthy`], and every second (a `stat`) while it stays healthy, for
/// entries spilled because another process held the database locked. A replay that
/// fails (the pool degraded again) is reported through `tracing` and tried at the
/// next recovery; entries written meanwhile replay their file first themselves
/// ([`Audit::append`], [`Metrics::record`]).
pub fn spawn_replayer(pool: Pool) -> Replayer {
    let (stop, mut stopped) = watch::channel(false);
    let mut states = pool.watch_state();
    let (audit, metrics) = (Audit::new(pool.clone()), Metrics::new(pool.clone()));
    let task = tokio::spawn(async move {
        loop {
            let state = states.borrow_and_update().clone();
            match state {
                PoolState::Closed => return,
                PoolState::Healthy => {
                    if is_waiting(audit.spill_path()) {
                        outcome(SpillKind::Audit, audit.replay().await);
                    }
                    if is_waiting(metrics.spill_path()) {
                        outcome(SpillKind::Metrics, metrics.replay().await);
                    }
                }
                _ => {}
            }
            tokio::select! {
                // A stop, or the Replayer dropped (then `changed` fails).
                _ = stopped.changed() => return,
                changed = states.changed() => if changed.is_err() { return },
                // A busy spell (another process holding the lock) never leaves
                // `Healthy`: look again now and then.
                () = tokio::time::sleep(RECHECK) => {}
            }
        }
    });
    Replayer { stop, task: Mutex::new(Some(task)) }
}

/// Reports a replay of the task.
fn outcome(kind: SpillKind, replayed: strata_core::Result<super::ReplayReport>) {
    match replayed {
        Ok(report) => {
            tracing::debug!(target: "strata::spill", ?kind, replayed = report.replayed, "spill replayed on recovery")
        }
        Err(error) => {
            tracing::warn!(target: "strata::spill", ?kind, %error, "spill replay failed; tried again at the next recovery")
        }
    }
}

impl Replayer {
    /// Stops the task and waits for a replay in progress to end.
    pub async fn stop(&self) {
        let _ = self.stop.send(true);
        // A panic while this lock is held cannot happen (one take), so a poisoned
        // lock still holds a good Option.
        let task = self.task.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(task) = task {
            let _ = task.await;
        }
    }
}
