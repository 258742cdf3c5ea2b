//! strata-schema: migrations that roll back, introspection, diff, SQL generation, drift.
//!
//! Layer: strata-schema <- strata-core only; it opens no pooled connection but works on
//! the `rusqlite::Connection` it is given (in-memory scratch databases aside). It owns
//! migration sets (embedded or a directory of `V{n}__{name}.sql` + `.down.sql` pairs),
//! the all-or-nothing runner and `refinery_schema_history`, pre-migration snapshots,
//! repair, scaffolding new migrations, the lint of unsafe statements, the `Schema` model read by introspection with
//! its fingerprint, `diff`, `generate`, the drift check, the reversibility check and
//! `explain` (EXPLAIN QUERY PLAN read into a tree of typed nodes).
//! Every entry point is a plain function returning a serialisable report, so the
//! `strata migrate` and `strata schema` commands are only parsing and rendering.

#![deny(missing_docs)]
// Library code proves its unwraps: each one left carries an `allow` with the reason it
// cannot fail. Unit tests (cfg(test)) and the integration tests are exempt.
#![cfg_attr(not(test), warn(clippy::unwrap_used, clippy::expect_used))]

pub mod diff;
pub mod drift;
mod errors;
pub mod explain;
pub mod generate;
pub mod history;
pub mod introspect;
#[cfg(feature = "lint")]
pub mod lint;
pub mod migrate;
pub mod reversible;
pub mod scaffold;
pub mod set;
pub mod snapshot;
pub mod sql;

/// A migration version: `n` of `V{n}__name`.
pub type Version = i64;

pub use diff::{Change, ChangeKind, ObjectKind, diff, render};
pub use drift::{DriftReport, drift_check, drift_check_sets, expected_schema};
pub use explain::{NodeKind, PlanNode, QueryPlan, SubqueryKind, TempBTreePurpose, explain};
pub use generate::generate;
pub use history::{
    AppliedMigration, CHECKSUM_TABLE, HISTORY_TABLE, Tables, applied_migrations, applied_migrations_of,
};
pub use introspect::{
    Check, Column, ColumnKind, ForeignKey, Index, IndexColumn, Schema, SourceSql, Table, Trigger, View,
    introspect,
};
#[cfg(feature = "lint")]
pub use lint::{Finding, RULES, Severity, lint, lint_down, lint_up};
pub use migrate::{
    DEFAULT_SNAPSHOT_KEEP, DownOptions, DownReport, DownTarget, ForeignKeyViolation, MigrationState, Plan,
    RepairReport, Repaired, Status, StatusEntry, UpOptions, UpReport, down, foreign_key_violations, plan,
    plan_down, repair, status, up,
};
pub use reversible::{ReversibilityProblem, ReversibilityReport, check_reversible};
pub use scaffold::{NewMigration, new_migration};
pub use set::{Migration, MigrationInfo, MigrationSet};

pub use snapshot::{snapshot_path, snapshot_to};
