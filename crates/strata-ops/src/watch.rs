//! The document store's watcher: a filesystem watch (`notify`: inotify on Linux) on the
//! store's directory that notices a document's file changed or removed behind
//! strata's back as it happens, without scanning the store, and reports each as a
//! health finding (`documents_watch`, kept for [`crate::health`] reports through
//! [`StoreWatcher::findings`]) and a `tracing` warning.
//!
//! strata's own work makes no such event: a put writes its file in `tmp/` and renames
//! it into place (a rename *to* a content path is ignored), dedup only touches a file's
//! time (a metadata change), and `gc`/`purge` remove only files no live row references
//! (a removal is reported only when a live `documents` row still references the file).
//! A write to a content file's data is always someone else's.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};

use notify::event::{EventKind, ModifyKind, RenameMode};
use notify::{RecursiveMode, Watcher};
use strata_core::{Error, Result, store};
use strata_pool::Pool;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::health::{Finding, Severity};

/// Findings kept at most; later ones are counted in the last one's place.
const MAX_FINDINGS: usize = 100;

/// Whether a live row references the file (a removal of an unreferenced one is gc's).
const LIVE_REFERENCE: &str = "SELECT 1 FROM documents WHERE sha256 = ?1 AND deleted_at IS NULL LIMIT 1";

/// What happened to a content file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Change {
    Changed,
    Removed,
}

/// A running watch on a document store; stops when dropped.
pub struct StoreWatcher {
    findings: Arc<Mutex<Vec<Finding>>>,
    watcher: Mutex<Option<notify::RecommendedWatcher>>,
    task: JoinHandle<()>,
}

impl std::fmt::Debug for StoreWatcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoreWatcher").finish_non_exhaustive()
    }
}

impl StoreWatcher {
    /// Watches the store `dir` (created 0700 when missing) of the pool's database.
    /// Must be called inside a tokio runtime. E5005 when the watch cannot be set up
    /// (for example, too many inotify watches).
    pub fn start(pool: Pool, dir: &Path) -> Result<StoreWatcher> {
        crate::files::create_private_dir(dir)?;
        let (send, mut receive) = mpsc::unbounded_channel::<(PathBuf, Change)>();
        let root = dir.to_path_buf();
        let mut watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
            let Ok(event) = event else { return };
            let change = match event.kind {
                EventKind::Remove(_) | EventKind::Modify(ModifyKind::Name(RenameMode::From)) => {
                    Change::Removed
                }
                EventKind::Modify(ModifyKind::Data(_)) | EventKind::Modify(ModifyKind::Any) => {
                    Change::Changed
                }
                _ => return,
            };
            for path in event.paths {
                let is_content = path
                    .file_name()
                    .and_then(|n| n.to_str())
                    .and_then(|name| store::blob_path(&root, name))
                    .is_some_and(|expected| expected == path);
                if is_content {
                    // The receiver lives as long as the watcher; a send after stop is moot.
                    let _ = send.send((path, change));
                }
            }
        })
        .map_err(|e| watch_error(dir, &e))?;
        watcher.watch(dir, RecursiveMode::Recursive).map_err(|e| watch_error(dir, &e))?;
        let findings: Arc<Mutex<Vec<Finding>>> = Arc::default();
        let kept = Arc::clone(&findings);
        let task = tokio::spawn(async move {
            while let Some((path, change)) = receive.recv().await {
                let Some(sha) = path.file_name().and_then(|n| n.to_str()).map(str::to_owned) else {
                    continue;
                };
                let key = sha.clone();
                let referenced = pool
                    .read(move |conn| Ok(conn.prepare_cached(LIVE_REFERENCE)?.exists([&key])?))
                    .await
                    .unwrap_or(true);
                if !referenced {
                    continue;
                }
                let what = match change {
                    Change::Changed => "changed",
                    Change::Removed => "removed",
                };
                let message = format!("document file {sha} was {what} outside strata ({})", path.display());
                tracing::warn!(target: "strata::documents", path = %path.display(), "{message}");
                let mut findings = kept.lock().unwrap_or_else(PoisonError::into_inner);
                if findings.iter().any(|f| f.message == message) {
                    continue;
                }
                if findings.len() < MAX_FINDINGS {
                    findings.push(Finding {
                        severity: Severity::Critical,
                        check: "documents_watch".into(),
                        message,
                    });
                }
            }
        });
        Ok(StoreWatcher { findings, watcher: Mutex::new(Some(watcher)), task })
    }

    /// What the watcher has seen so far: one critical `documents_watch` finding per
    /// file changed or removed behind strata's back.
    pub fn findings(&self) -> Vec<Finding> {
        self.findings.lock().unwrap_or_else(PoisonError::into_inner).clone()
    }

    /// Stops watching.
    pub fn stop(&self) {
        self.watcher.lock().unwrap_or_else(PoisonError::into_inner).take();
        self.task.abort();
    }
}

impl Drop for StoreWatcher {
    fn drop(&mut self) {
        self.stop();
    }
}

fn watch_error(dir: &Path, err: &notify::Error) -> Error {
    Error::FileIo { action: "watch", path: dir.to_path_buf(), message: err.to_string() }
}
