//! strata-repo, the repositories of the reference schema (layer: strata-repo <-
//! strata-core, strata-schema, strata-pool; only the facade depends on it). It owns
//! every SQL statement that reads or writes the tables of `migrations/`: the durable
//! priority task queue ([`queue`]) and the orchestration repositories (sessions,
//! agents, checkpoints, task state, the append-only audit log, namespaced memory,
//! flags and metrics). Each repository is a cheap `Clone` around a
//! [`strata_pool::Pool`]: reads go through `pool.read`, writes through `pool.write`
//! (group commit), and no repository opens a connection of its own. Times are
//! integer milliseconds since the Unix epoch (UTC); JSON columns are
//! `serde_json::Value`; every list is keyset-paginated ([`Page`]).

#![deny(missing_docs)]

pub mod clock;
mod page;

pub use page::{Page, PageRequest};

/// Every SQL statement strata-repo issues, as `(name, sql)`, for the explain test
/// that fails on a full `SCAN` or a `TEMP B-TREE`. Each module lists its own.
pub fn statements() -> Vec<(&'static str, &'static str)> {
    let lists: &[&[(&str, &str)]] = &[];
    lists.iter().flat_map(|l| l.iter().copied()).collect()
}
