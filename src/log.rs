//! `strata::log` (feature `log`, on by default): a `tracing` filter whose level follows
//! the config's `log.level`, so that editing the watched config file changes what a
//! running service logs. [`filter`] makes a reloadable `EnvFilter` layer for the
//! application's subscriber and a [`LogLevel`] handle on it; given to
//! [`Database::follow_log_level`](crate::Database::follow_log_level), the handle takes
//! the running config's `log.level`, and [`Database::watch_config`](crate::Database::watch_config)
//! applies every change of it (with the `strata::config` event and the audit entry of
//! any reload). A directive `EnvFilter` cannot read keeps the running level and config
//! (E1012).
//!
//! ```
//! use tracing_subscriber::prelude::*;
//!
//! # #[tokio::main]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # let dir = tempfile::tempdir()?;
//! # let file = dir.path().join("strata.toml");
//! # let db_path = dir.path().join("app.db");
//! # std::fs::write(&file, format!("path = {db_path:?}\n[log]\nlevel = \"info\"\n"))?;
//! // The application's subscriber, with strata's filter in front of its output; "warn"
//! // is the level while the config names none.
//! let (filter, log) = strata::log::filter("warn")?;
//! tracing_subscriber::registry().with(filter).with(tracing_subscriber::fmt::layer()).init();
//!
//! let db = strata::Database::open(&strata::Config::load(Some(&file))?).await?;
//! db.follow_log_level(log.clone())?; // the file's `[log] level = "info"` from now on
//! assert_eq!(log.current(), "info");
//! let watch = db.watch_config(&file)?; // and whatever the file says next
//! # drop(watch);
//! # db.close().await?;
//! # Ok(())
//! # }
//! ```

use std::sync::{Arc, Mutex};

use tracing_subscriber::{EnvFilter, reload};

use crate::{Error, Result};

/// The filter layer [`filter`] makes: an `EnvFilter` that [`LogLevel::set`] replaces
/// while the subscriber runs.
pub type Filter<S> = reload::Layer<EnvFilter, S>;

/// Checks `log.level` directives fully (E1012): strata-core's syntax check, then
/// `EnvFilter`'s own parser (which also reads span field values).
pub fn check(directives: &str) -> Result<()> {
    strata_core::config::check_log_directives(directives)?;
    parse(directives).map(drop)
}

/// A reloadable filter layer for a subscriber of type `S` (such as
/// `tracing_subscriber::Registry`) and the handle that changes its level. `default`
/// is the level while the config names none (`EnvFilter` directives, such as the
/// value of `RUST_LOG`); E1012 when `EnvFilter` cannot read it.
///
/// Install the subscriber as the global default (`init`, `set_global_default`). A
/// reload re-evaluates which callsites are enabled on the thread that reloads (the
/// config watch's task); when a thread-scoped subscriber (`set_default`) is the only
/// one in the process, that thread does not see it and the change may not take.
pub fn filter<S>(default: &str) -> Result<(Filter<S>, LogLevel)>
where
    S: tracing::Subscriber + 'static,
{
    let (layer, handle) = reload::Layer::new(parse(default)?);
    let level = LogLevel {
        default: default.into(),
        current: Arc::new(Mutex::new(default.to_string())),
        reload: Arc::new(move |filter| handle.reload(filter).map_err(|e| e.to_string())),
    };
    Ok((layer, level))
}

/// A handle on the level of a subscriber's [`filter`]; clones share it.
#[derive(Clone)]
pub struct LogLevel {
    default: Arc<str>,
    current: Arc<Mutex<String>>,
    reload: Arc<dyn Fn(EnvFilter) -> std::result::Result<(), String> + Send + Sync>,
}

impl std::fmt::Debug for LogLevel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LogLevel").field("default", &self.default).field("current", &self.current()).finish()
    }
}

impl LogLevel {
    /// Sets the filter to `level` (`log.level`'s directives), or back to the default
    /// with `None`. E1012 when the directives do not read (the filter is unchanged),
    /// E1013 when the subscriber the filter belonged to is gone.
    pub fn set(&self, level: Option<&str>) -> Result<()> {
        let directives = match level {
            Some(level) => {
                check(level)?;
                level
            }
            None => &self.default,
        };
        (self.reload)(parse(directives)?).map_err(|reason| Error::LogFilterGone { reason })?;
        *self.current.lock().unwrap_or_else(|poisoned| poisoned.into_inner()) = directives.to_string();
        tracing::info!(target: "strata::config", level = directives, "log level set");
        Ok(())
    }

    /// The directives the filter runs with now.
    pub fn current(&self) -> String {
        self.current.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).clone()
    }

    /// The directives used while the config names no level.
    pub fn default_level(&self) -> &str {
        &self.default
    }
}

/// `EnvFilter`'s own parser (no environment variable), E1012 naming the directives.
fn parse(directives: &str) -> Result<EnvFilter> {
    EnvFilter::builder()
        .parse(directives)
        .map_err(|e| Error::LogLevelInvalid { directive: directives.to_string(), reason: e.to_string() })
}
