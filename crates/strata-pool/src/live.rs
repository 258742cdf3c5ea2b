//! The settings a running pool takes from a reloaded config ([`crate::Pool::reload`]):
//! the retry policy and whether calls wait while the pool is unavailable. (The
//! slow-query threshold lives with the statement timing, in `timing.rs`.) Everything
//! else of `[pool]` and `[sqlite]` is fixed when the pool opens.

use std::sync::RwLock;
use std::sync::atomic::{AtomicBool, Ordering};

use strata_core::{Config, RetryPolicy};

/// The reloadable settings, shared by the pool handle and its writer thread.
pub(crate) struct Live {
    retry: RwLock<RetryPolicy>,
    wait_when_unavailable: AtomicBool,
}

impl Live {
    /// The settings of `config`.
    pub(crate) fn new(config: &Config) -> Live {
        Live {
            retry: RwLock::new(config.retry.clone()),
            wait_when_unavailable: AtomicBool::new(config.pool.wait_when_unavailable),
        }
    }

    /// Takes the reloadable settings of `config`.
    pub(crate) fn set(&self, config: &Config) {
        *self.retry.write().unwrap_or_else(std::sync::PoisonError::into_inner) = config.retry.clone();
        self.wait_when_unavailable.store(config.pool.wait_when_unavailable, Ordering::Release);
    }

    /// The retry policy now (read once per BEGIN, COMMIT or reopen, not per statement).
    pub(crate) fn retry(&self) -> RetryPolicy {
        self.retry.read().unwrap_or_else(std::sync::PoisonError::into_inner).clone()
    }

    /// Whether calls wait (up to the acquire timeout) while the pool is unavailable.
    pub(crate) fn wait_when_unavailable(&self) -> bool {
        self.wait_when_unavailable.load(Ordering::Acquire)
    }
}
