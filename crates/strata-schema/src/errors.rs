//! Construction of every error this crate returns, one function per failure, so
//! that call sites stay short and each message is built in one place.

use std::path::Path;

use strata_core::Error;

use crate::Version;

/// E3002: a statement of a migration failed; the batch was rolled back.
pub(crate) fn migration_failed(
    version: Version,
    file: &str,
    line: usize,
    statement: &str,
    message: &str,
) -> Error {
    Error::MigrationFailed {
        version,
        file: file.into(),
        line,
        statement: excerpt(statement),
        message: message.into(),
    }
}

/// E3003: an applied migration's file changed after it was applied.
pub(crate) fn migration_divergent(version: Version, name: &str, applied: &str, file: u64) -> Error {
    Error::MigrationDivergent {
        version,
        name: name.into(),
        applied_checksum: applied.into(),
        file_checksum: file,
    }
}

/// E3004: a migration recorded as applied has no file in the set.
pub(crate) fn migration_missing(version: Version, name: &str) -> Error {
    Error::MigrationMissing { version, name: name.into() }
}

/// E3005: a migration in the set is older than the newest applied one but was never applied.
pub(crate) fn migration_out_of_order(version: Version, current: Version) -> Error {
    Error::MigrationOutOfOrder { version, current }
}

/// E3006: a rollback needs a down file that does not exist; nothing ran.
pub(crate) fn down_missing(version: Version, name: &str) -> Error {
    Error::DownMissing { version, name: name.into() }
}

/// E3017: a rollback by steps asked for more migrations than are applied; nothing ran.
pub(crate) fn steps_beyond_applied(steps: usize, applied: usize) -> Error {
    Error::StepsBeyondApplied { steps, applied }
}

/// E3007: `foreign_key_check` found rows after the batch; the batch was rolled back.
pub(crate) fn foreign_key_violations(versions: &str, rows: &[crate::ForeignKeyViolation]) -> Error {
    let shown: Vec<String> = rows.iter().take(10).map(ToString::to_string).collect();
    let more = if rows.len() > 10 { format!(" and {} more", rows.len() - 10) } else { String::new() };
    Error::ForeignKeyViolations {
        batch: versions.into(),
        count: rows.len(),
        rows: format!("{}{more}", shown.join("; ")),
    }
}

/// E3008: a migration file name or set is malformed (name, duplicate version, orphan down file).
pub(crate) fn migration_set_invalid(what: &str, reason: &str) -> Error {
    Error::MigrationSetInvalid { what: what.into(), reason: reason.into() }
}

/// E3009: a statement that cannot run inside the migration transaction.
pub(crate) fn migration_not_transactional(
    version: Version,
    file: &str,
    line: usize,
    statement: &str,
) -> Error {
    Error::MigrationNotTransactional { version, file: file.into(), line, statement: excerpt(statement) }
}

/// E3010: `--to` names a version the set or the history does not have.
pub(crate) fn target_unknown(version: Version, why: &str) -> Error {
    Error::MigrationTargetUnknown { version, reason: why.into() }
}

/// E3011: repair was asked for a change that is more than comments or whitespace.
pub(crate) fn repair_refused(version: Version, reason: &str) -> Error {
    Error::RepairRefused { version, reason: reason.into() }
}

/// E3012: the history table holds a row strata cannot read.
pub(crate) fn history_unreadable(reason: &str) -> Error {
    Error::HistoryUnreadable { reason: reason.into() }
}

/// E3013: the connection is already inside a transaction.
pub(crate) fn connection_in_transaction() -> Error {
    Error::MigrationInTransaction
}

/// E3014: the live schema differs from what the migration set produces.
pub(crate) fn drift_detected(changes: usize, rendered: &str) -> Error {
    Error::DriftDetected { changes, diff: rendered.into() }
}

/// E3015: a schema change cannot be generated as SQL.
pub(crate) fn generate_unsupported(object: &str, reason: &str) -> Error {
    Error::GenerateUnsupported { object: object.into(), reason: reason.into() }
}

/// E3016: the reversibility check found a migration whose down does not restore the schema.
pub(crate) fn not_reversible(version: Version, rendered: &str) -> Error {
    Error::NotReversible { version, diff: rendered.into() }
}

/// E5005: a file operation failed (snapshot, new migration files, reading a directory).
pub(crate) fn file_io(action: &'static str, path: &Path, err: &std::io::Error) -> Error {
    Error::file_io(action, path, err)
}

/// The first line of a statement, shortened, for error messages.
fn excerpt(statement: &str) -> String {
    let line = statement.lines().map(str::trim).find(|l| !l.is_empty()).unwrap_or("");
    let mut out: String = line.chars().take(80).collect();
    if out.len() < line.len() || statement.trim().lines().count() > 1 {
        out.push_str(" ...");
    }
    out
}
