//! How failures are classified: [`ErrorKind`] says what a caller does about an error,
//! [`ConstraintKind`] which constraint refused a row (and the hint for it).

use std::fmt;

/// How a failure should be handled by a caller; stable across versions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ErrorKind {
    /// The database was locked by another connection; retrying later can succeed.
    Busy,
    /// A passing condition (interrupted statement, protocol race); retrying can succeed.
    Transient,
    /// A UNIQUE, PRIMARY KEY, FOREIGN KEY, CHECK or NOT NULL constraint refused the row.
    Constraint,
    /// The row or object asked for does not exist.
    NotFound,
    /// The request itself is wrong: bad SQL, bad argument, bad type.
    Invalid,
    /// The schema is not what the code expects (migrations, drift).
    Schema,
    /// The database file is damaged or is not a database.
    Corruption,
    /// The disk or the database is full.
    Storage,
    /// The database, or the location it lives in, only allows reading.
    ReadOnly,
    /// Configuration is missing or wrong.
    Config,
    /// The operating system failed a read or a write.
    Io,
    /// The database cannot be reached: cannot open, pool closed.
    Unavailable,
    /// A bug in strata itself (a panic, a task that died); never retryable.
    Internal,
}

impl ErrorKind {
    /// The kind's name as written in `--json` output and in `docs/errors.md`.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::Busy => "busy",
            ErrorKind::Transient => "transient",
            ErrorKind::Constraint => "constraint",
            ErrorKind::NotFound => "not_found",
            ErrorKind::Invalid => "invalid",
            ErrorKind::Schema => "schema",
            ErrorKind::Corruption => "corruption",
            ErrorKind::Storage => "storage",
            ErrorKind::ReadOnly => "read_only",
            ErrorKind::Config => "config",
            ErrorKind::Io => "io",
            ErrorKind::Unavailable => "unavailable",
            ErrorKind::Internal => "internal",
        }
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Which constraint refused a row; kept from SQLite's extended result code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ConstraintKind {
    /// `SQLITE_CONSTRAINT_UNIQUE`.
    Unique,
    /// `SQLITE_CONSTRAINT_PRIMARYKEY`.
    PrimaryKey,
    /// `SQLITE_CONSTRAINT_FOREIGNKEY`.
    ForeignKey,
    /// `SQLITE_CONSTRAINT_CHECK`.
    Check,
    /// `SQLITE_CONSTRAINT_NOTNULL`.
    NotNull,
    /// Any other constraint (trigger, rowid, datatype of a STRICT table, ...).
    Other,
}

impl ConstraintKind {
    /// What to do about a violation of this kind of constraint: the hint of an E4001
    /// error of this kind.
    pub fn hint(self) -> &'static str {
        match self {
            ConstraintKind::Unique => {
                "the value is already taken: use another, or update the existing row (INSERT ... ON CONFLICT DO UPDATE)"
            }
            ConstraintKind::PrimaryKey => {
                "a row with this key exists: let SQLite choose the id (leave it out), or update the existing row (INSERT ... ON CONFLICT DO UPDATE)"
            }
            ConstraintKind::ForeignKey => {
                "the referenced parent row does not exist (or still has children): insert the parent row first, or delete the child rows first"
            }
            ConstraintKind::Check => {
                "a value breaks the CHECK named in the message: change the value; the table's CREATE statement (`strata schema show`) has the rule"
            }
            ConstraintKind::NotNull => {
                "give a value for the column named in the message, or a DEFAULT in the schema"
            }
            ConstraintKind::Other => {
                "a trigger or another rule of the schema refused the row: read the message, and the triggers in `strata schema show`"
            }
        }
    }
}

impl fmt::Display for ConstraintKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ConstraintKind::Unique => "unique",
            ConstraintKind::PrimaryKey => "primary key",
            ConstraintKind::ForeignKey => "foreign key",
            ConstraintKind::Check => "check",
            ConstraintKind::NotNull => "not null",
            ConstraintKind::Other => "other",
        })
    }
}
