//! The migration runner: status, plan, up, down, repair, all-or-nothing and SQLite-aware.
//!
//! Every batch (up or down) runs in one `BEGIN IMMEDIATE` transaction together with its
//! history rows. `PRAGMA foreign_keys` is a no-op inside a transaction, so it is turned
//! off *before* `BEGIN` (a table rebuild must not cascade) and restored afterwards;
//! `PRAGMA foreign_key_check` must come back clean before `COMMIT`, otherwise the batch
//! is rolled back and the dangling rows are named. History is verified inside the
//! transaction, so two processes migrating at once cannot both apply a version.

use std::fmt;
use std::path::PathBuf;

use rusqlite::Connection;
use serde::Serialize;
use strata_core::Result;

use crate::history::{self, AppliedMigration, Tables};
use crate::set::{Migration, MigrationInfo, MigrationSet};
use crate::{Version, errors, snapshot, sql};

/// Where one migration of the set stands against the database.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "state")]
pub enum MigrationState {
    /// Applied, and the file is unchanged.
    Applied,
    /// In the set, newer than every applied migration: `up` would apply it.
    Pending,
    /// Applied, but the file changed since (or its name did).
    Divergent {
        /// The checksum recorded when it was applied.
        applied_checksum: u64,
        /// The name recorded when it was applied.
        applied_name: String,
        /// Whether the change is only comments/whitespace/line endings (`repair` fixes it).
        repairable: bool,
    },
    /// Recorded as applied, but no file in the set has its version.
    Missing,
    /// In the set, not applied, yet older than the newest applied migration.
    OutOfOrder,
}

/// One line of [`Status`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StatusEntry {
    /// The version.
    pub version: Version,
    /// The name (from the file, or from the history when the file is missing).
    pub name: String,
    /// The up file, when the set has one.
    pub file: Option<String>,
    /// The file's checksum, when the set has the file.
    pub checksum: Option<u64>,
    /// When it was applied, if it was.
    pub applied_on: Option<String>,
    /// Whether the set has a down file for it.
    pub has_down: bool,
    /// Where it stands.
    #[serde(flatten)]
    pub state: MigrationState,
}

/// Every migration of the set and of the history, and where each stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Status {
    /// The newest applied version; `None` for a database nothing was applied to.
    pub current: Option<Version>,
    /// The newest version of the set.
    pub latest: Option<Version>,
    /// One entry per version found in the set or the history, ordered by version.
    pub entries: Vec<StatusEntry>,
}

impl Status {
    /// Whether no migration is divergent, missing or out of order.
    pub fn is_consistent(&self) -> bool {
        self.entries.iter().all(|e| matches!(e.state, MigrationState::Applied | MigrationState::Pending))
    }

    /// The versions `up` would apply.
    pub fn pending(&self) -> Vec<Version> {
        self.entries.iter().filter(|e| e.state == MigrationState::Pending).map(|e| e.version).collect()
    }
}

/// What `up` or `down` would run, in order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Plan {
    /// The version before the plan runs.
    pub from: Option<Version>,
    /// The version after it ran.
    pub to: Option<Version>,
    /// The migrations, in the order they would run (newest first for a rollback).
    pub steps: Vec<MigrationInfo>,
}

/// Options of [`up`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpOptions {
    /// Stop after this version (`--to`); `None` applies everything pending.
    pub to: Option<Version>,
    /// Run the batch, report, then roll it back (`--dry-run`).
    pub dry_run: bool,
    /// Take a `<db>.pre-V{n}.bak` snapshot of a file database before changing it.
    pub snapshot: bool,
    /// After a migration that took a snapshot succeeded, keep only this many of the
    /// newest snapshots of the database (`pre-V*` and `pre-down-V*` alike) and remove
    /// the older ones; 0 keeps every snapshot.
    pub snapshot_keep: usize,
}

/// Snapshots kept by default: the newest three.
pub const DEFAULT_SNAPSHOT_KEEP: usize = 3;

impl Default for UpOptions {
    fn default() -> Self {
        UpOptions { to: None, dry_run: false, snapshot: true, snapshot_keep: DEFAULT_SNAPSHOT_KEEP }
    }
}

/// What [`up`] did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UpReport {
    /// The version before.
    pub from: Option<Version>,
    /// The version after (for a dry run: the version it would have reached).
    pub to: Option<Version>,
    /// The migrations applied, oldest first.
    pub applied: Vec<MigrationInfo>,
    /// Whether the batch was rolled back on purpose.
    pub dry_run: bool,
    /// The snapshot taken before the batch, if any.
    pub snapshot: Option<PathBuf>,
    /// Older snapshots removed after the batch succeeded (`snapshot_keep`).
    pub removed_snapshots: Vec<PathBuf>,
}

/// How far [`down`] rolls back.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DownTarget {
    /// Revert every migration newer than this version (`--to`); `To(0)` reverts all.
    To(Version),
    /// Revert the newest `n` applied migrations (`--steps`); more than are applied is
    /// refused (E3017), never taken as "all".
    Steps(usize),
}

/// Options of [`down`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DownOptions {
    /// How far to roll back.
    pub target: DownTarget,
    /// Run the rollback, report, then undo it.
    pub dry_run: bool,
    /// Take a `<db>.pre-down-V{n}.bak` snapshot of a file database first.
    pub snapshot: bool,
    /// As [`UpOptions::snapshot_keep`]: the newest snapshots kept after a rollback
    /// that took one; 0 keeps every snapshot.
    pub snapshot_keep: usize,
}

impl DownOptions {
    /// Roll back to `target` with a snapshot and for real.
    pub fn new(target: DownTarget) -> DownOptions {
        DownOptions { target, dry_run: false, snapshot: true, snapshot_keep: DEFAULT_SNAPSHOT_KEEP }
    }
}

/// What [`down`] did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DownReport {
    /// The version before.
    pub from: Option<Version>,
    /// The version after.
    pub to: Option<Version>,
    /// The migrations reverted, newest first.
    pub reverted: Vec<MigrationInfo>,
    /// Whether the rollback was undone on purpose.
    pub dry_run: bool,
    /// The snapshot taken before the rollback, if any.
    pub snapshot: Option<PathBuf>,
    /// Older snapshots removed after the rollback succeeded (`snapshot_keep`).
    pub removed_snapshots: Vec<PathBuf>,
}

/// One migration whose stored checksum [`repair`] replaced.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Repaired {
    /// The version.
    pub version: Version,
    /// The name.
    pub name: String,
    /// The checksum that was recorded.
    pub old_checksum: u64,
    /// The checksum of the file now.
    pub new_checksum: u64,
}

/// What [`repair`] did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RepairReport {
    /// The migrations whose checksums were updated; empty when nothing diverged.
    pub repaired: Vec<Repaired>,
}

/// A row that `PRAGMA foreign_key_check` reported.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ForeignKeyViolation {
    /// The child table.
    pub table: String,
    /// The child row (`None` for a `WITHOUT ROWID` table).
    pub rowid: Option<i64>,
    /// The parent table the row refers to.
    pub parent: String,
    /// The child columns of the foreign key.
    pub columns: Vec<String>,
}

impl fmt::Display for ForeignKeyViolation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.rowid {
            Some(rowid) => write!(f, "{} rowid {rowid}", self.table)?,
            None => write!(f, "{} (without rowid)", self.table)?,
        }
        write!(f, " ({}) has no parent in {}", self.columns.join(", "), self.parent)
    }
}

/// Where every migration of `set` stands against the database; never fails on divergence.
pub fn status(conn: &Connection, set: &MigrationSet) -> Result<Status> {
    let applied = history::applied_in(conn, &Tables::of(set))?;
    let current = applied.last().map(|a| a.version);
    let mut entries = Vec::new();
    for app in &applied {
        let entry = match set.get(app.version) {
            None => StatusEntry {
                version: app.version,
                name: app.name.clone(),
                file: None,
                checksum: None,
                applied_on: Some(app.applied_on.clone()),
                has_down: false,
                state: MigrationState::Missing,
            },
            Some(m) => {
                let state = if m.name() == app.name && m.checksum() == app.checksum {
                    MigrationState::Applied
                } else {
                    let repairable = m.name() == app.name
                        && history::normalized_checksum(conn, &Tables::of(set), app.version)?
                            == Some(m.normalized_checksum());
                    MigrationState::Divergent {
                        applied_checksum: app.checksum,
                        applied_name: app.name.clone(),
                        repairable,
                    }
                };
                StatusEntry { applied_on: Some(app.applied_on.clone()), ..entry_of(m, state) }
            }
        };
        entries.push(entry);
    }
    for m in set.migrations() {
        if applied.iter().any(|a| a.version == m.version()) {
            continue;
        }
        let state = match current {
            Some(current) if m.version() < current => MigrationState::OutOfOrder,
            _ => MigrationState::Pending,
        };
        entries.push(entry_of(m, state));
    }
    entries.sort_by_key(|e| e.version);
    Ok(Status { current, latest: set.latest(), entries })
}

fn entry_of(m: &Migration, state: MigrationState) -> StatusEntry {
    StatusEntry {
        version: m.version(),
        name: m.name().to_string(),
        file: Some(m.up_file()),
        checksum: Some(m.checksum()),
        applied_on: None,
        has_down: m.down().is_some(),
        state,
    }
}

/// What `up` would apply (to `to`, or to the newest version), in order, with checksums.
///
/// Fails like `up` would: on a divergent, missing or out-of-order migration.
pub fn plan(conn: &Connection, set: &MigrationSet, to: Option<Version>) -> Result<Plan> {
    let applied = history::applied_in(conn, &Tables::of(set))?;
    let pending = pending_migrations(&applied, set, to)?;
    let from = applied.last().map(|a| a.version);
    Ok(Plan { from, to: pending.last().map(|m| m.version()).or(from), steps: infos(&pending) })
}

/// What `down` would revert, newest first; refuses when a down file is missing.
pub fn plan_down(conn: &Connection, set: &MigrationSet, target: DownTarget) -> Result<Plan> {
    let applied = history::applied_in(conn, &Tables::of(set))?;
    let reverting = reverting_migrations(&applied, set, target)?;
    let from = applied.last().map(|a| a.version);
    let to = applied.iter().rev().map(|a| a.version).find(|v| reverting.iter().all(|m| m.version() != *v));
    Ok(Plan { from, to, steps: infos(&reverting) })
}

/// Applies the pending migrations of `set` in one transaction (see the module docs).
///
/// A failure leaves the database as it was; the error names the version, the file, the
/// statement and SQLite's message.
pub fn up(conn: &Connection, set: &MigrationSet, options: &UpOptions) -> Result<UpReport> {
    let applied = history::applied_in(conn, &Tables::of(set))?;
    let from = applied.last().map(|a| a.version);
    let pending = pending_migrations(&applied, set, options.to)?;
    if pending.is_empty() {
        return Ok(UpReport {
            from,
            to: from,
            applied: Vec::new(),
            dry_run: options.dry_run,
            snapshot: None,
            removed_snapshots: Vec::new(),
        });
    }
    check_transactional(pending.iter().map(|m| (*m, m.up_file(), m.up())))?;
    let snapshot = match (options.snapshot && !options.dry_run, pending.first()) {
        (true, Some(first)) => snapshot::take(conn, &format!("pre-V{}", first.version()))?,
        _ => None,
    };
    let label = label(&pending);
    let applied_now = in_batch(conn, options.dry_run, &label, |conn| {
        history::ensure_tables(conn, &Tables::of(set))?;
        // Verified again under the write lock: another process may have migrated meanwhile.
        let applied = history::applied_in(conn, &Tables::of(set))?;
        let pending = pending_migrations(&applied, set, options.to)?;
        for migration in &pending {
            run_script(conn, migration, &migration.up_file(), migration.up())?;
            history::record(conn, &Tables::of(set), migration)?;
        }
        Ok(pending)
    })?;
    let to = applied_now.last().map(|m| m.version()).or(from);
    let removed_snapshots = prune_after(&snapshot, options.snapshot_keep)?;
    Ok(UpReport {
        from,
        to,
        applied: infos(&applied_now),
        dry_run: options.dry_run,
        snapshot,
        removed_snapshots,
    })
}

/// Runs the down files of the newest applied migrations, newest first, in one transaction,
/// and removes their history rows. A missing down file refuses before anything runs.
pub fn down(conn: &Connection, set: &MigrationSet, options: &DownOptions) -> Result<DownReport> {
    let applied = history::applied_in(conn, &Tables::of(set))?;
    let from = applied.last().map(|a| a.version);
    let reverting = reverting_migrations(&applied, set, options.target)?;
    if reverting.is_empty() {
        return Ok(DownReport {
            from,
            to: from,
            reverted: Vec::new(),
            dry_run: options.dry_run,
            snapshot: None,
            removed_snapshots: Vec::new(),
        });
    }
    check_transactional(reverting.iter().map(|m| (*m, m.down_file(), m.down().unwrap_or(""))))?;
    let snapshot = match (options.snapshot && !options.dry_run, from) {
        (true, Some(from)) => snapshot::take(conn, &format!("pre-down-V{from}"))?,
        _ => None,
    };
    let label = label(&reverting);
    let reverted = in_batch(conn, options.dry_run, &label, |conn| {
        let applied = history::applied_in(conn, &Tables::of(set))?;
        let reverting = reverting_migrations(&applied, set, options.target)?;
        for migration in &reverting {
            // reverting_migrations refused any migration without a down file.
            let down = migration.down().unwrap_or_default();
            run_script(conn, migration, &migration.down_file(), down)?;
            history::forget(conn, &Tables::of(set), migration.version())?;
        }
        Ok(reverting)
    })?;
    let to = applied.iter().rev().map(|a| a.version).find(|v| reverted.iter().all(|m| m.version() != *v));
    let removed_snapshots = prune_after(&snapshot, options.snapshot_keep)?;
    Ok(DownReport {
        from,
        to,
        reverted: infos(&reverted),
        dry_run: options.dry_run,
        snapshot,
        removed_snapshots,
    })
}

/// After a run that took `snapshot`, keeps the newest `keep` snapshots of its database.
fn prune_after(snapshot: &Option<PathBuf>, keep: usize) -> Result<Vec<PathBuf>> {
    match snapshot {
        Some(taken) if keep > 0 => snapshot::prune(taken, keep),
        _ => Ok(Vec::new()),
    }
}

/// Accepts applied files that changed only in comments, whitespace or line endings by
/// storing their new checksums. Any other divergence refuses the whole repair.
pub fn repair(conn: &Connection, set: &MigrationSet) -> Result<RepairReport> {
    let applied = history::applied_in(conn, &Tables::of(set))?;
    let mut fixes = Vec::new();
    for app in &applied {
        let Some(m) = set.get(app.version) else { continue };
        if m.checksum() == app.checksum && m.name() == app.name {
            continue;
        }
        if m.name() != app.name {
            return Err(errors::repair_refused(
                app.version,
                &format!("it was applied as `{}` and the file is named `{}`", app.name, m.name()),
            ));
        }
        match history::normalized_checksum(conn, &Tables::of(set), app.version)? {
            None => {
                return Err(errors::repair_refused(
                    app.version,
                    "no normalised checksum was recorded when it was applied (applied by another tool)",
                ));
            }
            Some(stored) if stored != m.normalized_checksum() => {
                return Err(errors::repair_refused(
                    app.version,
                    "the file changed in more than comments, whitespace or line endings",
                ));
            }
            Some(_) => fixes.push((m, app.checksum)),
        }
    }
    if fixes.is_empty() {
        return Ok(RepairReport { repaired: Vec::new() });
    }
    if !conn.is_autocommit() {
        return Err(errors::connection_in_transaction());
    }
    conn.execute_batch("BEGIN IMMEDIATE")?;
    let result = fixes.iter().try_for_each(|(m, _)| history::update_checksum(conn, &Tables::of(set), m));
    match result.and_then(|()| Ok(conn.execute_batch("COMMIT")?)) {
        Ok(()) => {}
        Err(e) => {
            rollback(conn);
            return Err(e);
        }
    }
    let repaired = fixes
        .into_iter()
        .map(|(m, old)| Repaired {
            version: m.version(),
            name: m.name().to_string(),
            old_checksum: old,
            new_checksum: m.checksum(),
        })
        .collect();
    Ok(RepairReport { repaired })
}

/// Checks the history against the set and returns what `up` to `to` would apply.
fn pending_migrations<'s>(
    applied: &[AppliedMigration],
    set: &'s MigrationSet,
    to: Option<Version>,
) -> Result<Vec<&'s Migration>> {
    verify_applied(applied, set)?;
    let current = applied.last().map(|a| a.version);
    if let Some(to) = to {
        if set.get(to).is_none() {
            return Err(errors::target_unknown(to, "is not in the migration set"));
        }
        if let Some(current) = current.filter(|c| to < *c) {
            return Err(errors::target_unknown(
                to,
                &format!("is older than the current V{current}; use down"),
            ));
        }
    }
    let mut pending = Vec::new();
    for m in set.migrations() {
        if applied.iter().any(|a| a.version == m.version()) {
            continue;
        }
        if let Some(current) = current.filter(|c| m.version() < *c) {
            return Err(errors::migration_out_of_order(m.version(), current));
        }
        if to.is_none_or(|to| m.version() <= to) {
            pending.push(m);
        }
    }
    Ok(pending)
}

/// Divergent and missing migrations are errors, never warnings.
fn verify_applied(applied: &[AppliedMigration], set: &MigrationSet) -> Result<()> {
    for app in applied {
        match set.get(app.version) {
            None => return Err(errors::migration_missing(app.version, &app.name)),
            Some(m) if m.name() != app.name || m.checksum() != app.checksum => {
                return Err(errors::migration_divergent(
                    app.version,
                    m.name(),
                    &format!("{} ({})", app.checksum, app.name),
                    m.checksum(),
                ));
            }
            Some(_) => {}
        }
    }
    Ok(())
}

/// The applied migrations `target` reverts, newest first; each must have a down file.
fn reverting_migrations<'s>(
    applied: &[AppliedMigration],
    set: &'s MigrationSet,
    target: DownTarget,
) -> Result<Vec<&'s Migration>> {
    verify_applied(applied, set)?;
    let chosen: Vec<&AppliedMigration> = match target {
        DownTarget::To(to) => {
            if to != 0 && !applied.iter().any(|a| a.version == to) {
                return Err(errors::target_unknown(
                    to,
                    "is not applied; roll back to an applied version or 0",
                ));
            }
            applied.iter().rev().take_while(|a| a.version > to).collect()
        }
        // More steps than applied would silently mean "everything": only `To(0)` says that.
        DownTarget::Steps(n) if n > applied.len() => {
            return Err(errors::steps_beyond_applied(n, applied.len()));
        }
        DownTarget::Steps(n) => applied.iter().rev().take(n).collect(),
    };
    let mut reverting = Vec::new();
    for app in chosen {
        // verify_applied proved every applied version is in the set.
        let Some(m) = set.get(app.version) else {
            return Err(errors::migration_missing(app.version, &app.name));
        };
        if m.down().is_none() {
            return Err(errors::down_missing(m.version(), m.name()));
        }
        reverting.push(m);
    }
    Ok(reverting)
}

/// Refuses, before anything runs, statements that would end the batch's transaction.
fn check_transactional<'a>(scripts: impl Iterator<Item = (&'a Migration, String, &'a str)>) -> Result<()> {
    for (migration, file, script) in scripts {
        for statement in sql::split_statements(script) {
            if !runs_in_transaction(&statement) {
                return Err(errors::migration_not_transactional(
                    migration.version(),
                    &file,
                    statement.line,
                    statement.text,
                ));
            }
        }
    }
    Ok(())
}

/// Whether SQLite can run `statement` inside the batch's transaction without ending it.
pub(crate) fn runs_in_transaction(statement: &sql::Statement<'_>) -> bool {
    let second = statement.tokens.get(1);
    match statement.verb().as_str() {
        "BEGIN" | "COMMIT" | "END" | "VACUUM" => false,
        "ROLLBACK" => second.is_some_and(|t| t.is("TO")),
        _ => true,
    }
}

fn run_script(conn: &Connection, migration: &Migration, file: &str, script: &str) -> Result<()> {
    for statement in sql::split_statements(script) {
        if let Err(e) = conn.execute_batch(statement.text) {
            return Err(errors::migration_failed(
                migration.version(),
                file,
                statement.line,
                statement.text,
                &sqlite_message(&e),
            ));
        }
    }
    Ok(())
}

fn sqlite_message(err: &rusqlite::Error) -> String {
    match err {
        rusqlite::Error::SqliteFailure(_, Some(message)) => message.clone(),
        other => other.to_string(),
    }
}

fn infos(migrations: &[&Migration]) -> Vec<MigrationInfo> {
    migrations.iter().map(|m| m.info()).collect()
}

fn label(migrations: &[&Migration]) -> String {
    let versions: Vec<String> = migrations.iter().map(|m| format!("V{}", m.version())).collect();
    format!("migration batch {}", versions.join(", "))
}

const FOREIGN_KEYS: &str = "PRAGMA foreign_keys";
const FOREIGN_KEY_CHECK: &str = "PRAGMA foreign_key_check";
const FOREIGN_KEY_COLUMNS: &str =
    "SELECT \"from\" FROM pragma_foreign_key_list(?1) WHERE id = ?2 ORDER BY seq";

/// Runs `work` in one transaction with foreign keys off, checks them, then commits (or,
/// for a dry run, rolls back). Foreign-key enforcement is restored in every case.
fn in_batch<T>(
    conn: &Connection,
    dry_run: bool,
    label: &str,
    work: impl FnOnce(&Connection) -> Result<T>,
) -> Result<T> {
    if !conn.is_autocommit() {
        return Err(errors::connection_in_transaction());
    }
    let foreign_keys_on: bool = conn.query_row(FOREIGN_KEYS, [], |r| r.get(0))?;
    if foreign_keys_on {
        conn.execute_batch("PRAGMA foreign_keys = OFF")?;
    }
    let result = run_in_transaction(conn, dry_run, label, work);
    if foreign_keys_on {
        let restored = conn.execute_batch("PRAGMA foreign_keys = ON");
        if let (Ok(_), Err(e)) = (&result, restored) {
            return Err(e.into());
        }
    }
    result
}

fn run_in_transaction<T>(
    conn: &Connection,
    dry_run: bool,
    label: &str,
    work: impl FnOnce(&Connection) -> Result<T>,
) -> Result<T> {
    conn.execute_batch("BEGIN IMMEDIATE")?;
    let outcome = work(conn).and_then(|value| {
        let violations = foreign_key_violations(conn)?;
        if violations.is_empty() {
            Ok(value)
        } else {
            Err(errors::foreign_key_violations(label, &violations))
        }
    });
    match outcome {
        Ok(value) if !dry_run => match conn.execute_batch("COMMIT") {
            Ok(()) => Ok(value),
            Err(e) => {
                rollback(conn);
                Err(e.into())
            }
        },
        Ok(value) => {
            conn.execute_batch("ROLLBACK")?;
            Ok(value)
        }
        Err(e) => {
            rollback(conn);
            Err(e)
        }
    }
}

/// Rolls back if a transaction is still open; the original error is what matters.
fn rollback(conn: &Connection) {
    if !conn.is_autocommit() {
        // Ignored on purpose: the caller is already returning the error that caused this.
        let _ = conn.execute_batch("ROLLBACK");
    }
}

/// The rows `PRAGMA foreign_key_check` reports for the whole database.
pub fn foreign_key_violations(conn: &Connection) -> Result<Vec<ForeignKeyViolation>> {
    let mut stmt = conn.prepare(FOREIGN_KEY_CHECK)?;
    let rows = stmt.query_map([], |row| {
        Ok((
            row.get::<_, String>(0)?,
            row.get::<_, Option<i64>>(1)?,
            row.get::<_, String>(2)?,
            row.get::<_, i64>(3)?,
        ))
    })?;
    let mut violations = Vec::new();
    for row in rows {
        let (table, rowid, parent, fk_id) = row?;
        let mut cols = conn.prepare(FOREIGN_KEY_COLUMNS)?;
        let columns =
            cols.query_map(rusqlite::params![table, fk_id], |r| r.get(0))?.collect::<Result<_, _>>()?;
        violations.push(ForeignKeyViolation { table, rowid, parent, columns });
    }
    Ok(violations)
}
