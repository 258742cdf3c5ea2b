//! `Database::watch_config`: hot reload of a config file. A file watch (`notify`:
//! inotify on Linux) on the file's directory notices every change to the file, also
//! an editor's write-then-rename; the file is loaded like at start (defaults, the
//! file, `STRATA_*`), compared with what it said before, and the settings that changed
//! and are reloadable (`strata_core::config::SETTINGS`) are applied to the running
//! pool, monitor, cache and rate limits and published ([`Database::config`], [`Database::config_changes`]).
//! A change to a setting that is not reloadable is reported (E1010) and ignored; a
//! file that does not load keeps the running config and reports its E1xxx error. Each
//! applied reload is a `tracing` event (`strata::config`) and an audit entry
//! (`config.reload`, actor `strata`), except on a database opened read-only (which
//! cannot write one; the event says so). A changed `log.level` goes to the log filter
//! of `Database::follow_log_level` (feature `log`), after `EnvFilter`'s own check.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use notify::{EventKind, RecursiveMode, Watcher};
use strata_core::config::Reload;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::{Config, Database, Error, Result};

/// Quiet time after the last change event before the file is read: an editor's
/// truncate-then-write comes as several events, and the file is read once, whole.
const SETTLE: Duration = Duration::from_millis(100);

/// Reload outcomes kept for [`ConfigWatch::next`] until it is called; more are dropped
/// (the tracing events and the audit entries still record them).
const EVENTS_KEPT: usize = 64;

/// What one change of the watched file did.
#[derive(Debug)]
#[non_exhaustive]
pub enum ConfigEvent {
    /// The file loaded: `applied` names the reloadable settings that changed and now
    /// run (empty when only non-reloadable ones changed), `ignored` the E1010 error of
    /// each changed setting that is not reloadable (the running value is kept).
    Reloaded {
        /// The settings taken, by dotted name (`slow_query_ms`, `retry`, ...).
        applied: Vec<&'static str>,
        /// One E1010 per changed setting that needs a restart.
        ignored: Vec<Error>,
    },
    /// The file did not load (E1001 unreadable, E1002 a bad value or unknown key,
    /// E1003 out of range): the running config is kept whole.
    Rejected(Error),
}

/// A running watch of a config file ([`Database::watch_config`]); the watch stops
/// when this is dropped.
#[derive(Debug)]
pub struct ConfigWatch {
    events: mpsc::Receiver<ConfigEvent>,
    task: JoinHandle<()>,
    path: PathBuf,
    // Dropping it ends the file watch and, with it, the task's channel.
    _watcher: notify::RecommendedWatcher,
}

impl ConfigWatch {
    /// The next change of the file, once it has been applied or rejected; `None`
    /// after the watch ended.
    pub async fn next(&mut self) -> Option<ConfigEvent> {
        self.events.recv().await
    }

    /// The watched file.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for ConfigWatch {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Database {
    /// Watches the config file `path` and applies its changes to this running
    /// database without a restart (see the module `config_watch` and the README's
    /// configuration section for which settings reload). The file as it is now is the
    /// baseline: only settings that change from here on are applied, so a setting the
    /// application set in code and the file leaves out is kept. Fails with the file's
    /// E1001/E1002/E1003 when it does not load now, E1011 when it cannot be watched.
    /// Must be called inside a tokio runtime.
    pub fn watch_config(&self, path: impl AsRef<Path>) -> Result<ConfigWatch> {
        let path = path.as_ref().to_path_buf();
        let baseline = Config::load(Some(&path))?;
        let dir = match path.parent() {
            Some(dir) if !dir.as_os_str().is_empty() => dir.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let name = path.file_name().map(|n| n.to_os_string());
        let (changed, mut changes) = mpsc::unbounded_channel::<()>();
        let watch_error =
            |e: notify::Error| Error::ConfigWatch { path: path.clone(), message: e.to_string() };
        let mut watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
            let Ok(event) = event else { return };
            if matches!(event.kind, EventKind::Access(_)) {
                return;
            }
            if event.paths.iter().any(|p| p.file_name().map(|n| n.to_os_string()) == name) {
                // The receiver lives as long as the task; a send after it ended is moot.
                let _ = changed.send(());
            }
        })
        .map_err(watch_error)?;
        watcher.watch(&dir, RecursiveMode::NonRecursive).map_err(watch_error)?;

        let (send, events) = mpsc::channel(EVENTS_KEPT);
        let db = self.clone();
        let file = path.clone();
        let task = tokio::spawn(async move {
            let mut before = baseline;
            while changes.recv().await.is_some() {
                // Settle: wait until no event came for SETTLE, then read once.
                while let Ok(Some(())) = tokio::time::timeout(SETTLE, changes.recv()).await {}
                let loaded = {
                    let file = file.clone();
                    tokio::task::spawn_blocking(move || Config::load(Some(&file)))
                        .await
                        .map_err(|e| Error::task_failed("config reload", e))
                        .and_then(|loaded| loaded)
                };
                let event = match loaded
                    .and_then(check_log_level)
                    .and_then(|after| db.config().reload(&before, &after).map(|r| (after, r)))
                {
                    Ok((_, reload)) if reload.applied.is_empty() && reload.ignored.is_empty() => continue,
                    Ok((after, reload)) => {
                        before = after;
                        db.apply_reload(&file, reload).await
                    }
                    Err(err) => {
                        tracing::error!(target: "strata::config", file = %file.display(), code = err.code(), error = %err, "config file not reloaded; the running config is kept");
                        ConfigEvent::Rejected(err)
                    }
                };
                // A full queue drops the event (nobody reads them); tracing has it.
                let _ = send.try_send(event);
            }
        });
        Ok(ConfigWatch { events, task, path, _watcher: watcher })
    }

    /// Applies a reload the running config accepted: the pool and the monitor take
    /// their settings, the config is published, the reload is logged and audited.
    async fn apply_reload(&self, file: &Path, reload: Reload) -> ConfigEvent {
        let Reload { config, applied, ignored } = reload;
        let ignored: Vec<Error> = ignored
            .into_iter()
            .map(|field| {
                let err = Error::ConfigNotReloadable { field: field.to_string() };
                tracing::warn!(target: "strata::config", file = %file.display(), code = err.code(), field, "{err}");
                err
            })
            .collect();
        if applied.is_empty() {
            return ConfigEvent::Reloaded { applied, ignored };
        }
        if let Err(err) = self.reload_components(&config) {
            // Config::reload validated it; the components check the same rules.
            tracing::error!(target: "strata::config", code = err.code(), error = %err, "config reload refused");
            return ConfigEvent::Rejected(err);
        }
        #[cfg(feature = "log")]
        if applied.contains(&"log.level") {
            let follower = self.log_level.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).clone();
            if let Some(Err(err)) = follower.map(|level| level.set(config.log.level.as_deref())) {
                // check_log_level read the directives: only a dropped subscriber is left.
                tracing::warn!(target: "strata::config", code = err.code(), error = %err, "log level not applied");
            }
        }
        self.config.send_replace(Arc::new(config));
        tracing::info!(target: "strata::config", file = %file.display(), applied = ?applied, ignored = ignored.len(), "config reloaded");
        #[cfg(feature = "repo")]
        if self.pool.is_read_only() {
            // An append would fail (E2011) and spill beside a database this process
            // promised not to write: the event above is the reload's record.
            tracing::info!(target: "strata::config", file = %file.display(), "config reload not audited: the database is open read-only");
        } else {
            let data = serde_json::json!({
                "file": file.display().to_string(),
                "applied": applied,
                "ignored": ignored.iter().filter_map(|e| match e {
                    Error::ConfigNotReloadable { field } => Some(field.as_str()),
                    _ => None,
                }).collect::<Vec<_>>(),
            });
            let entry = crate::repo::NewAuditEntry::by("strata").action("config.reload").data(data);
            if let Err(err) = self.audit().append(entry).await {
                tracing::warn!(target: "strata::config", code = err.code(), error = %err, "config reload not audited");
            }
        }
        ConfigEvent::Reloaded { applied, ignored }
    }

    /// Hands the reloadable settings of `config` to the running components: the
    /// pool, the monitor, the cache (and its sweeper) and the rate limits.
    fn reload_components(&self, config: &Config) -> Result<()> {
        self.pool.reload(config)?;
        #[cfg(feature = "repo")]
        {
            // The sweeper flag is not reloadable: keep the running one.
            let cache =
                strata_core::CacheConfig { sweeper: self.cache.config().sweeper, ..config.cache.clone() };
            self.cache.reload(cache)?;
            self.rate_limits.reload(config.ratelimit.clone())?;
        }
        #[cfg(feature = "ops")]
        if let Some(monitor) = &self.monitor {
            monitor.reload(config);
        }
        Ok(())
    }
}

/// The loaded file, when its `log.level` (if any) is one `EnvFilter` reads (E1012 else),
/// so that a directive strata-core's syntax check lets through keeps the running config.
fn check_log_level(config: Config) -> Result<Config> {
    #[cfg(feature = "log")]
    if let Some(level) = &config.log.level {
        crate::log::check(level)?;
    }
    Ok(config)
}
