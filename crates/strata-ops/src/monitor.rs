//! The background monitor: a tokio task that takes a health report every
//! `monitor.interval_secs` (a full integrity check every `monitor.full_check_secs`),
//! keeps the latest, emits `tracing` events when the status or the findings change,
//! takes scheduled backups (`backup.interval_minutes` after the newest one in the
//! backup directory, then `prune`), and exports the query statistics beside the
//! database for `strata stats` and `strata advise`. [`Monitor::reload`] changes its
//! intervals and thresholds while it runs (a reloaded config file).

use std::path::Path;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use serde::Serialize;
use strata_core::{Config, Result};
use strata_pool::{Pool, operation};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::backup::{self, BackupReport, BackupState};
use crate::clock;
use crate::health::{self, CheckLevel, Finding, HealthOptions, HealthReport, Severity, Status};
use crate::stats::{self, QueryStats};

/// What the monitor has seen so far.
#[derive(Debug, Clone, Default, Serialize)]
pub struct MonitorState {
    /// The latest health report.
    pub last: Option<HealthReport>,
    /// When the latest full check ran (RFC 3339).
    pub last_full_check: Option<String>,
    /// The latest scheduled backup.
    pub last_backup: Option<BackupReport>,
    /// The latest error of a check or a backup, rendered with its code.
    pub last_error: Option<String>,
    /// Health reports taken.
    pub checks: u64,
}

/// A running monitor; stop it with [`Monitor::stop`] (dropping it stops it too).
pub struct Monitor {
    state: Arc<Mutex<MonitorState>>,
    stop: watch::Sender<bool>,
    /// The config the task runs with: the pool's at spawn, then each reloaded one.
    settings: watch::Sender<Config>,
    task: Mutex<Option<JoinHandle<()>>>,
}

impl std::fmt::Debug for Monitor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Monitor").finish_non_exhaustive()
    }
}

impl Monitor {
    /// Starts the monitor for `pool` with the pool's `monitor` and `backup` config;
    /// `stats`, when given, is exported beside the database on every round. Must be
    /// called inside a tokio runtime.
    pub fn spawn(pool: Pool, stats: Option<QueryStats>) -> Monitor {
        let state = Arc::new(Mutex::new(MonitorState::default()));
        let (stop, stopped) = watch::channel(false);
        let (settings, config) = watch::channel(pool.config().clone());
        let task = tokio::spawn(run(pool, stats, Arc::clone(&state), stopped, config));
        Monitor { state, stop, settings, task: Mutex::new(Some(task)) }
    }

    /// Takes the monitor's settings from `config` while it runs: `monitor.interval_secs`
    /// and `full_check_secs` (the next report comes one new interval from now), the
    /// health thresholds (from the next report) and `backup.interval_minutes` and the
    /// `keep_*` retention (from the next scheduled backup). The backup directory and
    /// whether the monitor runs at all stay as they were at spawn.
    pub fn reload(&self, config: &Config) {
        self.settings.send_modify(|running| {
            running.monitor = config.monitor.clone();
            running.backup.interval_minutes = config.backup.interval_minutes;
            running.backup.keep_last = config.backup.keep_last;
            running.backup.keep_daily = config.backup.keep_daily;
            running.backup.keep_weekly = config.backup.keep_weekly;
        });
    }

    /// A copy of what the monitor has seen.
    pub fn state(&self) -> MonitorState {
        self.state.lock().unwrap_or_else(PoisonError::into_inner).clone()
    }

    /// The latest health report.
    pub fn latest(&self) -> Option<HealthReport> {
        self.state().last
    }

    /// Stops the task and waits for a round in progress to end.
    pub async fn stop(&self) {
        let _ = self.stop.send(true);
        let task = self.task.lock().unwrap_or_else(PoisonError::into_inner).take();
        if let Some(task) = task {
            let _ = task.await;
        }
    }
}

impl Drop for Monitor {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
    }
}

async fn run(
    pool: Pool,
    stats: Option<QueryStats>,
    state: Arc<Mutex<MonitorState>>,
    mut stopped: watch::Receiver<bool>,
    mut settings: watch::Receiver<Config>,
) {
    let mut config = settings.borrow_and_update().clone();
    let mut last_full = Instant::now();
    // A failed scheduled backup is tried again one interval later, not every round.
    let mut backup_failed_at: Option<Instant> = None;
    let mut ticker = ticker_for(&config);
    loop {
        tokio::select! {
            _ = ticker.tick() => {}
            _ = stopped.changed() => break,
            changed = settings.changed() => {
                // The sender lives in the Monitor: gone means stopped.
                if changed.is_err() {
                    break;
                }
                config = settings.borrow_and_update().clone();
                // The next report comes one new interval from now: a fresh
                // interval's first tick is immediate, and is taken here.
                ticker = ticker_for(&config);
                ticker.tick().await;
                tracing::info!(target: "strata::monitor", interval_secs = config.monitor.interval_secs, "monitor settings reloaded");
                continue;
            }
        }
        if *stopped.borrow() || pool.is_closed() {
            break;
        }
        let full_every =
            (config.monitor.full_check_secs > 0).then(|| Duration::from_secs(config.monitor.full_check_secs));
        let backup_every = (config.backup.interval_minutes > 0)
            .then(|| Duration::from_secs(config.backup.interval_minutes * 60));
        let full = full_every.is_some_and(|e| last_full.elapsed() >= e);
        let level = if full { CheckLevel::Full } else { CheckLevel::Quick };
        let options = HealthOptions::from_config(level, &config);
        match operation("monitor.tick", "*", health::check(&pool, &options)).await {
            Ok(report) => {
                if full {
                    last_full = Instant::now();
                }
                let mut state = state.lock().unwrap_or_else(PoisonError::into_inner);
                announce(state.last.as_ref(), &report);
                if full {
                    state.last_full_check = Some(report.checked_at.clone());
                }
                state.last = Some(report);
                state.checks += 1;
            }
            Err(err) if pool.is_closed() => {
                let _ = err;
                break;
            }
            Err(err) => record_error(&state, "health check", &err),
        }
        if let Some(stats) = &stats
            && let Err(err) = stats.export(&stats::export_path(pool.path()))
        {
            record_error(&state, "query statistics export", &err);
        }
        if let Some(every) = backup_every
            && backup_failed_at.is_none_or(|at| at.elapsed() >= every)
        {
            let dir = backup::default_dir(&pool);
            let due = tokio::task::spawn_blocking(move || backup_due(&dir, every))
                .await
                .map_err(|e| strata_core::Error::task_failed("backup schedule", e))
                .and_then(|due| due);
            let taken = match due {
                Ok(false) => None,
                Ok(true) => Some(scheduled_backup(&pool, &config.backup).await),
                Err(err) => Some(Err(err)),
            };
            match taken {
                None => {}
                Some(Ok(report)) => {
                    backup_failed_at = None;
                    state.lock().unwrap_or_else(PoisonError::into_inner).last_backup = Some(report);
                }
                Some(Err(err)) => {
                    backup_failed_at = Some(Instant::now());
                    record_error(&state, "scheduled backup", &err);
                }
            }
        }
    }
}

/// Whether a scheduled backup is due: the newest complete backup in `dir` was taken
/// `every` or longer ago, or there is none. Counted from the backups on disk rather
/// than from this process's start, so a service that restarts more often than
/// `every` still takes its backups, and one that starts long after the last backup
/// takes one at once.
fn backup_due(dir: &Path, every: Duration) -> Result<bool> {
    let newest = backup::list_blocking(dir)?.into_iter().find(|entry| entry.state == BackupState::Complete);
    let Some(at) = newest.and_then(|entry| entry.created_at).and_then(|text| clock::parse(&text)) else {
        return Ok(true);
    };
    Ok(clock::now() - at >= every)
}

/// A backup into the configured directory, then retention.
/// The monitor's ticker for `config`: the first tick at once, then every
/// `monitor.interval_secs`.
fn ticker_for(config: &Config) -> tokio::time::Interval {
    let mut ticker = tokio::time::interval(Duration::from_secs(config.monitor.interval_secs.max(1)));
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    ticker
}

async fn scheduled_backup(pool: &Pool, policy: &strata_core::BackupConfig) -> Result<BackupReport> {
    let dir = backup::default_dir(pool);
    let report = backup::create(pool, &dir, None).await?;
    let policy = policy.clone();
    let pruned = backup::prune(&dir, &policy).await?;
    if !pruned.removed.is_empty() {
        tracing::info!(target: "strata::backup", removed = pruned.removed.len(), "old backups pruned");
    }
    Ok(report)
}

fn record_error(state: &Mutex<MonitorState>, what: &str, err: &strata_core::Error) {
    tracing::warn!(target: "strata::monitor", code = err.code(), error = %err, "{what} failed");
    state.lock().unwrap_or_else(PoisonError::into_inner).last_error =
        Some(format!("{what}: {} {err}", err.code()));
}

/// Emits the tracing events for what changed since `previous`.
fn announce(previous: Option<&HealthReport>, report: &HealthReport) {
    let known = |f: &Finding| previous.is_some_and(|p| p.findings.iter().any(|o| o.check == f.check));
    for finding in report.findings.iter().filter(|f| !known(f)) {
        match finding.severity {
            Severity::Critical => tracing::error!(
                target: "strata::monitor", check = %finding.check, path = %report.path.display(),
                "{}", finding.message
            ),
            Severity::Warning => tracing::warn!(
                target: "strata::monitor", check = %finding.check, path = %report.path.display(),
                "{}", finding.message
            ),
            Severity::Info => tracing::info!(
                target: "strata::monitor", check = %finding.check, path = %report.path.display(),
                "{}", finding.message
            ),
        }
    }
    if let Some(previous) = previous {
        for gone in previous.findings.iter().filter(|f| !report.findings.iter().any(|n| n.check == f.check)) {
            tracing::info!(target: "strata::monitor", check = %gone.check, "resolved: {}", gone.message);
        }
    }
    let before = previous.map(|p| p.status);
    if before != Some(report.status) {
        let status = match report.status {
            Status::Ok => "ok",
            Status::Warning => "warning",
            Status::Critical => "critical",
        };
        tracing::info!(target: "strata::monitor", status, findings = report.findings.len(), "database health changed");
    }
}
