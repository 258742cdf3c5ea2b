//! The automatic replay of the audit spill file: a task that watches the pool's
//! health state and replays the spill file each time the pool becomes healthy (and
//! once when it starts), so spilled entries reach the table without anyone asking.

use std::sync::Mutex;

use strata_pool::PoolState;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::{Audit, spill};

/// How often the task looks at the spill file while the state does not change.
const RECHECK: std::time::Duration = std::time::Duration::from_secs(1);

/// The running replay task of [`spawn_replayer`]; it ends at [`Replayer::stop`], when
/// the pool closes, or when the `Replayer` is dropped.
#[derive(Debug)]
pub struct Replayer {
    stop: watch::Sender<bool>,
    task: Mutex<Option<JoinHandle<()>>>,
}

/// Starts a tokio task that replays `audit`'s spill file whenever the pool is healthy
/// and the file holds entries: at once, after every change of the pool's state to
/// [`PoolState::Healthy`], and every second (a `stat`) while it stays healthy, for
/// entries spilled because another process held the database locked. A replay that fails (the pool degraded again) is
/// reported through `tracing` and tried at the next recovery; entries appended
/// meanwhile replay the file first themselves ([`Audit::append`]).
pub fn spawn_replayer(audit: Audit) -> Replayer {
    let (stop, mut stopped) = watch::channel(false);
    let mut states = audit.pool.watch_state();
    let task = tokio::spawn(async move {
        loop {
            let state = states.borrow_and_update().clone();
            match state {
                PoolState::Closed => return,
                PoolState::Healthy if spill::is_waiting(&audit.spill) => match audit.replay().await {
                    Ok(report) => {
                        tracing::debug!(target: "strata::audit", replayed = report.replayed, "audit spill replayed on recovery")
                    }
                    Err(error) => {
                        tracing::warn!(target: "strata::audit", %error, "audit spill replay failed; tried again at the next recovery")
                    }
                },
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
