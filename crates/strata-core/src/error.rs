//! The error contract: one `Error` enum, stable `E####` codes, a kind and a hint each.
//!
//! Every code has one entry in [`CATALOG`]: its kind, the message as a template, the
//! cause and the fix. `docs/errors.md` is generated from that table by
//! `cargo xtask codegen`, so the table is the single place a code is described.

use std::fmt;
use std::path::PathBuf;

use rusqlite::ffi;

/// `Result` with strata's [`Error`] as the default error type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

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

/// Every failure strata reports. Each variant has a stable code (see [`CATALOG`]).
/// Errors own plain data only, so they are `Clone` and can be given to every caller
/// of a failed batch.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// E1001: the configuration file could not be read.
    #[error("cannot read config file {path}: {message}")]
    ConfigRead {
        /// The file that was asked for.
        path: PathBuf,
        /// What the operating system said.
        message: String,
    },
    /// E1002: a configuration value has the wrong type or the key is unknown.
    #[error("config field `{field}`: {message}")]
    ConfigParse {
        /// The field, as a dotted path (`retry.max_attempts`); empty when unknown.
        field: String,
        /// What was wrong with it.
        message: String,
    },
    /// E1003: a configuration value parsed but is out of range.
    #[error("config field `{field}` is invalid: {reason}")]
    ConfigInvalid {
        /// The field, as a dotted path.
        field: String,
        /// Why the value cannot be used.
        reason: String,
    },
    /// E2001: the directory that should hold the database does not exist.
    #[error("directory {} does not exist", path.display())]
    DirectoryMissing {
        /// The missing directory.
        path: PathBuf,
    },
    /// E2002: the operating system refused access to the database file or directory.
    #[error("permission denied for {}", path.display())]
    PermissionDenied {
        /// The file or directory access was refused for.
        path: PathBuf,
    },
    /// E2003: the database file or its directory cannot be written.
    #[error("{} is on a read-only location: {message}", path.display())]
    ReadOnlyLocation {
        /// The file or directory that cannot be written.
        path: PathBuf,
        /// What SQLite or the operating system said.
        message: String,
    },
    /// E2004: SQLite could not open the database file.
    #[error("cannot open database: {message}")]
    CannotOpen {
        /// SQLite's extended result code (`SQLITE_CANTOPEN_*`).
        code: i32,
        /// What SQLite said.
        message: String,
    },
    /// E2005: no connection became free within the acquire timeout.
    #[error("no {pool} connection free within {waited_ms} ms")]
    AcquireTimeout {
        /// `reader` or `writer`.
        pool: &'static str,
        /// How long the caller waited.
        waited_ms: u64,
    },
    /// E2006: the pool was closed; no new work is taken.
    #[error("the connection pool is closed")]
    PoolClosed,
    /// E2007: a write closure panicked; its savepoint was rolled back.
    #[error("write closure panicked: {message}")]
    WritePanicked {
        /// The panic's message.
        message: String,
    },
    /// E2008: the database stayed locked by another connection through every retry.
    #[error("database is busy: {message}")]
    Busy {
        /// SQLite's extended result code.
        code: i32,
        /// What SQLite said.
        message: String,
    },
    /// E2009: a statement was interrupted or met a passing protocol error.
    #[error("statement interrupted: {message}")]
    Interrupted {
        /// SQLite's extended result code.
        code: i32,
        /// What SQLite said.
        message: String,
    },
    /// E2010: a table is locked by another statement of the same connection
    /// (`SQLITE_LOCKED`); retrying cannot clear it while that statement lives.
    #[error("table is locked by a statement of the same connection: {message}")]
    Locked {
        /// SQLite's extended result code (`SQLITE_LOCKED_*`).
        code: i32,
        /// What SQLite said.
        message: String,
    },
    /// E2011: a write was sent to a pool opened read-only for inspection.
    #[error("pool is read-only: {path} was opened for inspection")]
    PoolReadOnly {
        /// The database file.
        path: PathBuf,
    },
    /// E2020: the dashboard server could not listen on its address.
    #[error("cannot listen on {addr}: {message}")]
    ServeListen {
        /// The address asked for.
        addr: String,
        /// What the operating system said.
        message: String,
    },
    /// E3001: the schema changed under a prepared statement or is not as expected.
    #[error("schema error: {message}")]
    Schema {
        /// What was found.
        message: String,
    },
    /// E3002: a statement of a migration failed; the whole batch was rolled back.
    #[error("migration V{version} failed: {file} line {line}: {message} in `{statement}`")]
    MigrationFailed {
        /// The migration's version.
        version: i64,
        /// The file that failed (`V7__add_owner.sql` or its `.down.sql`).
        file: String,
        /// The line of the statement in the file, 1-based.
        line: usize,
        /// The first line of the statement that failed, shortened.
        statement: String,
        /// What SQLite said.
        message: String,
    },
    /// E3003: an applied migration's file changed after it was applied.
    #[error(
        "migration V{version} ({name}) was edited after it was applied: checksum {file_checksum} differs from applied {applied_checksum}"
    )]
    MigrationDivergent {
        /// The version.
        version: i64,
        /// The name in the file.
        name: String,
        /// The checksum (and name) recorded in refinery_schema_history.
        applied_checksum: String,
        /// The checksum of the file now.
        file_checksum: u64,
    },
    /// E3004: a migration recorded as applied has no file in the set.
    #[error("migration V{version} ({name}) is applied but missing from the migration set")]
    MigrationMissing {
        /// The version.
        version: i64,
        /// The name it was applied under.
        name: String,
    },
    /// E3005: a migration older than the newest applied one was never applied.
    #[error("migration V{version} is not applied but the database is already at V{current}")]
    MigrationOutOfOrder {
        /// The unapplied version.
        version: i64,
        /// The newest applied version.
        current: i64,
    },
    /// E3006: a rollback needs a down file that does not exist; nothing ran.
    #[error("migration V{version} ({name}) has no down file; nothing was rolled back")]
    DownMissing {
        /// The version.
        version: i64,
        /// The name.
        name: String,
    },
    /// E3007: foreign_key_check found rows after the batch; the batch was rolled back.
    #[error("{batch} left {count} dangling foreign key reference(s): {rows}")]
    ForeignKeyViolations {
        /// The batch, e.g. `migration batch V3, V4`.
        batch: String,
        /// How many rows foreign_key_check reported.
        count: usize,
        /// The first rows, `posts rowid 11 (user_id) has no parent in users; ...`.
        rows: String,
    },
    /// E3008: a migration set is malformed: file name, duplicate version, stray down file.
    #[error("invalid migration set: {what}: {reason}")]
    MigrationSetInvalid {
        /// The file or name at fault.
        what: String,
        /// What is wrong with it.
        reason: String,
    },
    /// E3009: a migration holds a statement that cannot run inside a transaction.
    #[error("migration V{version} cannot run in a transaction: {file} line {line}: `{statement}`")]
    MigrationNotTransactional {
        /// The version.
        version: i64,
        /// The file.
        file: String,
        /// The line of the statement.
        line: usize,
        /// The statement, shortened.
        statement: String,
    },
    /// E3010: `--to` names a version the set or the history does not have.
    #[error("target V{version} {reason}")]
    MigrationTargetUnknown {
        /// The version asked for.
        version: i64,
        /// Why it cannot be used (`is not in the migration set`, ...).
        reason: String,
    },
    /// E3011: repair was asked to accept a change beyond comments and whitespace.
    #[error("cannot repair migration V{version}: {reason}")]
    RepairRefused {
        /// The version.
        version: i64,
        /// Why.
        reason: String,
    },
    /// E3012: refinery_schema_history holds a row strata cannot read.
    #[error("refinery_schema_history is unreadable: {reason}")]
    HistoryUnreadable {
        /// What is wrong.
        reason: String,
    },
    /// E3013: migrations were asked to run on a connection already inside a transaction.
    #[error("the connection is inside a transaction; migrations need to manage their own")]
    MigrationInTransaction,
    /// E3014: the live schema differs from what the migration set produces.
    #[error("schema drift: {changes} difference(s) from the migration set:\n{diff}")]
    DriftDetected {
        /// How many differences.
        changes: usize,
        /// The rendered diff, one change per line.
        diff: String,
    },
    /// E3015: a schema change cannot be expressed as SQL.
    #[error("cannot generate sql for {object}: {reason}")]
    GenerateUnsupported {
        /// The object (`table notes`).
        object: String,
        /// Why.
        reason: String,
    },
    /// E3016: a migration's down does not restore the schema its up started from.
    #[error("migration V{version} is not reversible: up, down, up differs:\n{diff}")]
    NotReversible {
        /// The version.
        version: i64,
        /// The rendered diff.
        diff: String,
    },
    /// E3017: a rollback by steps asked for more migrations than are applied.
    #[error("cannot roll back --steps {steps}: only {applied} applied; nothing was rolled back")]
    StepsBeyondApplied {
        /// The number of steps asked for.
        steps: usize,
        /// The number of applied migrations.
        applied: usize,
    },
    /// E4001: a constraint refused the row. [`Error::table`], [`Error::columns`] and
    /// [`Error::constraint_name`] say where, [`Error::hint`] what to do for its kind.
    #[error("{}", constraint_display(*constraint, message))]
    Constraint {
        /// Which constraint.
        constraint: ConstraintKind,
        /// SQLite's extended result code.
        code: i32,
        /// What SQLite said (names the table and column).
        message: String,
    },
    /// E4002: a query that must return a row returned none.
    #[error("not found: {what}")]
    NotFound {
        /// What was looked for.
        what: String,
    },
    /// E4006: a state change that the entity's lifecycle does not allow.
    #[error("{what} cannot go from {from} to {to}")]
    InvalidTransition {
        /// The entity, such as `session 7` or `task 12`.
        what: String,
        /// Its current state.
        from: String,
        /// The state that was asked for.
        to: String,
    },
    /// E4007: a task's lease token does not match: the lease expired or another
    /// worker holds the task now.
    #[error("task {task_id}: the lease is not held: {reason}")]
    LeaseLost {
        /// The task.
        task_id: i64,
        /// Why the lease is not held (expired, claimed by another worker, not running).
        reason: String,
    },
    /// E4010: a cache value is larger than its namespace allows.
    #[error("cache entry `{namespace}/{key}` is {size} bytes, over the {limit_name} of {limit} bytes")]
    CacheEntryTooLarge {
        /// The namespace.
        namespace: String,
        /// The key.
        key: String,
        /// The value's size in bytes.
        size: u64,
        /// Which limit it is over (`max_entry_bytes` or `max_namespace_bytes`).
        limit_name: &'static str,
        /// The limit in bytes.
        limit: u64,
    },
    /// E4011: a rate limit kept denying for longer than the caller would wait.
    #[error(
        "rate limit `{key}` still denies after {waited_ms} ms; the next unit passes in {retry_after_ms} ms"
    )]
    RateLimited {
        /// The rate limit key.
        key: String,
        /// How long the caller waited.
        waited_ms: u64,
        /// How long until the request would pass.
        retry_after_ms: u64,
    },
    /// E4012: no quota was given and none is configured for the key's prefix.
    #[error("no rate limit quota configured for `{key}`")]
    QuotaMissing {
        /// The rate limit key.
        key: String,
    },
    /// E4003: a write was attempted where only reads are allowed.
    #[error("attempt to write a read-only database: {message}")]
    ReadOnly {
        /// SQLite's extended result code.
        code: i32,
        /// What SQLite said.
        message: String,
    },
    /// E4004: SQLite refused the statement (syntax, missing table, bad argument, ...).
    #[error("sql error: {message}")]
    Sql {
        /// SQLite's extended result code.
        code: i32,
        /// What SQLite said.
        message: String,
    },
    /// E4005: a value could not be converted between Rust and SQLite.
    #[error("value conversion failed: {message}")]
    Conversion {
        /// What could not be converted.
        message: String,
    },
    /// E4020: a row could not be read into the Rust type a typed query asked for.
    #[error("cannot read a row into {target}: {message}")]
    RowDecode {
        /// The Rust type asked for.
        target: String,
        /// Which column and why (a name without a field, a type that does not fit).
        message: String,
    },
    /// E4021: a flag's JSON value is not of the type it was read as.
    #[error("flag `{name}` is not {target}: {message}")]
    FlagType {
        /// The flag.
        name: String,
        /// What it was read as (`a bool`, a Rust type name).
        target: String,
        /// Why the value does not fit.
        message: String,
    },
    /// E5001: the database file is damaged.
    #[error("database disk image is malformed: {message}")]
    Corrupt {
        /// SQLite's extended result code.
        code: i32,
        /// What SQLite said.
        message: String,
    },
    /// E5002: the file is not an SQLite database (or is encrypted).
    #[error("file is not a database: {message}")]
    NotADatabase {
        /// SQLite's extended result code.
        code: i32,
        /// What SQLite said.
        message: String,
    },
    /// E5003: the disk or the database is full.
    #[error("database or disk is full: {message}")]
    DiskFull {
        /// SQLite's extended result code.
        code: i32,
        /// What SQLite said.
        message: String,
    },
    /// E5004: SQLite met an I/O error from the operating system.
    #[error("disk i/o error: {message}")]
    SqliteIo {
        /// SQLite's extended result code (`SQLITE_IOERR_*`).
        code: i32,
        /// What SQLite said.
        message: String,
    },
    /// E5005: a file operation of strata's own failed.
    #[error("{action} {}: {message}", path.display())]
    FileIo {
        /// What strata was doing (`create`, `read`, `rename`, ...).
        action: &'static str,
        /// The file it was doing it to.
        path: PathBuf,
        /// What the operating system said.
        message: String,
    },
    /// E5006: a backup file failed verification (integrity, page count or checksum).
    #[error("backup {} failed verification: {reason}", path.display())]
    BackupInvalid {
        /// The backup file.
        path: PathBuf,
        /// What did not verify.
        reason: String,
    },
    /// E5007: no backup that verifies was found where backups were looked for.
    #[error("no verified backup in {}: {reason}", dir.display())]
    NoBackup {
        /// The directory searched.
        dir: PathBuf,
        /// What was found instead.
        reason: String,
    },
    /// E5008: the database is open by a pool of this process, so it cannot be replaced.
    #[error("{} is open by a pool of this process", path.display())]
    DatabaseInUse {
        /// The database file.
        path: PathBuf,
    },
    /// E5009: a restore would replace an existing database and was not forced.
    #[error("restore refused for {}: {reason}", path.display())]
    RestoreRefused {
        /// The database file that would be replaced.
        path: PathBuf,
        /// Why nothing was replaced.
        reason: String,
    },
    /// E5010: a backup manifest is missing, unreadable or does not match its file.
    #[error("backup manifest {}: {reason}", path.display())]
    ManifestInvalid {
        /// The manifest (or the backup it should describe).
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// E5011: another process holds the database's strata lock file (a pool is open on
    /// the database, or a restore or recovery is running), so it cannot be replaced.
    #[error("{} is in use by another process: it holds {}", path.display(), lock.display())]
    DatabaseLocked {
        /// The database file.
        path: PathBuf,
        /// The lock file beside it.
        lock: PathBuf,
    },
    /// E5012: SQLite connections outside strata (or left open) have the database open,
    /// so it cannot be replaced.
    #[error("{} has other open connections: {reason}", path.display())]
    DatabaseConnected {
        /// The database file.
        path: PathBuf,
        /// What SQLite answered when asked for the database to itself.
        reason: String,
    },
    /// E6020: the index advisor cannot read a query.
    #[error("cannot advise on `{sql}`: {reason}")]
    AdviseUnsupported {
        /// The query, shortened.
        sql: String,
        /// Why.
        reason: String,
    },
    /// E6021: a cache time to live that cannot be used.
    #[error("invalid cache ttl for `{namespace}/{key}`: {reason}")]
    InvalidTtl {
        /// The namespace.
        namespace: String,
        /// The key.
        key: String,
        /// What is wrong with it.
        reason: String,
    },
    /// E6022: a rate limit quota or cost that cannot be used.
    #[error("invalid rate limit quota for `{key}`: {reason}")]
    InvalidQuota {
        /// The rate limit key (or key prefix, for a configured quota).
        key: String,
        /// What is wrong with it.
        reason: String,
    },
    /// E6023: a cache value that cannot be stored.
    #[error("invalid cache value for `{namespace}/{key}`: {reason}")]
    InvalidCacheValue {
        /// The namespace.
        namespace: String,
        /// The key.
        key: String,
        /// What is wrong with it (invalid JSON, a type serde cannot write).
        reason: String,
    },
    /// E6050: JSON text given for a search, result or scraping job column is not
    /// valid JSON.
    #[error("invalid json for {field}: {reason}")]
    InvalidJson {
        /// Which value (`search_results.data of https://...`, `search_results.analysis`).
        field: String,
        /// What the JSON parser said.
        reason: String,
    },
    /// E6030: the dashboard was asked to listen beyond loopback without
    /// `--allow-remote` and a bearer token.
    #[error("{addr} is not a loopback address: serving it needs --allow-remote and a token")]
    ServeRemoteRefused {
        /// The address asked for.
        addr: String,
    },
    /// E6031: the dashboard's bearer token could not be read or is unusable.
    #[error("unusable serve token from {origin}: {reason}")]
    ServeToken {
        /// Where the token came from (`--token-file PATH` or `STRATA_SERVE_TOKEN`).
        origin: String,
        /// What is wrong with it.
        reason: String,
    },
    /// E6001: an argument is out of range or malformed.
    #[error("invalid {field}: {reason}")]
    InvalidInput {
        /// The argument or field.
        field: String,
        /// What is wrong with it.
        reason: String,
    },
    /// E6040: a migration call on a facade `Database` that was opened without a
    /// migration set.
    #[error("no migration set: {action} needs the database to be opened with migrations")]
    NoMigrationSet {
        /// What was asked: `migrate`, `rollback` or `migration status`.
        action: &'static str,
    },
    /// E9001: strata panicked: a bug, reported instead of a crash.
    #[error("internal error: panicked at {location}: {message}")]
    Panicked {
        /// The panic's message.
        message: String,
        /// Where it panicked: `file:line:column`, or `unknown`.
        location: String,
    },
    /// E9002: a background task (a closure on a blocking thread) panicked or was
    /// cancelled before it answered.
    #[error("background task {task} failed: {reason}")]
    TaskFailed {
        /// What the task was doing (`backup`, `restore`, `health check`, ...).
        task: &'static str,
        /// The panic's message, or that the task was cancelled.
        reason: String,
    },
    /// E2050: an explicit transaction held the writer past `pool.transaction_max_ms`
    /// and was rolled back.
    #[error("transaction held the writer past its limit of {limit_ms} ms and was rolled back")]
    TransactionExpired {
        /// The configured hold limit.
        limit_ms: u64,
    },
    /// E2051: an explicit transaction was used after it ended (rolled back after a
    /// step panicked or ended it itself).
    #[error("the transaction is over: {reason}")]
    TransactionEnded {
        /// Why it ended.
        reason: String,
    },
}

/// The description of one error code: the row of `docs/errors.md`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ErrorInfo {
    /// Stable code, `E` and four digits.
    pub code: &'static str,
    /// The classification of the code.
    pub kind: ErrorKind,
    /// The message as a template, placeholders in braces.
    pub message: &'static str,
    /// Why it happens.
    pub cause: &'static str,
    /// What to do about it; shown as `hint:` under the message.
    pub hint: &'static str,
}

macro_rules! catalog {
    ($($name:ident = $code:literal, $kind:ident, $message:literal, $cause:literal, $hint:literal;)*) => {
        /// One constant per code, named after it.
        pub mod codes {
            use super::{ErrorInfo, ErrorKind};
            $(
                #[doc = concat!("`", $code, "`: ", $message)]
                pub const $name: ErrorInfo = ErrorInfo {
                    code: $code,
                    kind: ErrorKind::$kind,
                    message: $message,
                    cause: $cause,
                    hint: $hint,
                };
            )*
        }
        /// Every error code strata can return, in code order.
        pub const CATALOG: &[ErrorInfo] = &[$(codes::$name),*];
    };
}

catalog! {
    E1001 = "E1001", Config, "cannot read config file {path}: {message}",
        "the file given by --config or STRATA_CONFIG is missing or unreadable",
        "check the path and its permissions, or leave --config out to use the defaults";
    E1002 = "E1002", Config, "config field `{field}`: {message}",
        "a value has the wrong type, or the key is not a known setting",
        "fix or remove the named field; every key is listed in the Config docs";
    E1003 = "E1003", Config, "config field `{field}` is invalid: {reason}",
        "a value parsed but is out of its allowed range",
        "set the named field to a value inside the range the message gives";
    E2001 = "E2001", Unavailable, "directory {path} does not exist",
        "the parent directory of the database path is missing",
        "create the directory first (mkdir -p) or point --db / STRATA_DB elsewhere";
    E2002 = "E2002", Unavailable, "permission denied for {path}",
        "the process may not read or write the database file or its directory",
        "run as the owner of the file, or fix its mode (strata creates files 0600)";
    E2003 = "E2003", ReadOnly, "{path} is on a read-only location: {message}",
        "the file system is mounted read-only, or the directory cannot hold the -wal and -shm files",
        "move the database to a writable directory; WAL mode needs to create files beside it";
    E2004 = "E2004", Unavailable, "cannot open database: {message}",
        "the file could not be opened by SQLite (a directory, a broken path, too many open files)",
        "check that the path names a regular file in an existing, writable directory";
    E2005 = "E2005", Busy, "no {pool} connection free within {waited_ms} ms",
        "every connection stayed in use, or the write queue stayed full, for the whole acquire timeout",
        "shorten the work done inside read/write closures, or raise pool.readers / acquire_timeout_ms";
    E2006 = "E2006", Unavailable, "the connection pool is closed",
        "work was submitted after Database::close() or Pool::close() began",
        "open the database again; do not share a handle past close()";
    E2007 = "E2007", Invalid, "write closure panicked: {message}",
        "a closure passed to write() panicked; only its own savepoint was rolled back",
        "fix the panic in the closure; the other writes of the batch were committed";
    E2008 = "E2008", Busy, "database is busy: {message}",
        "another process held the database lock through busy_timeout and every retry",
        "find the other writer (sqlite3 shell, a second service); raise busy_timeout_ms or retry.max_elapsed_ms";
    E2009 = "E2009", Transient, "statement interrupted: {message}",
        "the statement was interrupted or met a passing locking-protocol race",
        "retry the operation; it is safe because nothing was committed";
    E2010 = "E2010", Invalid, "table is locked by a statement of the same connection: {message}",
        "a statement of the same connection (or of a shared-cache connection) still reads or writes the table; retrying does not clear it",
        "finish or reset the other statement (read its rows to the end or drop it) before changing the table; do not retry";
    E2011 = "E2011", ReadOnly, "pool is read-only: {path} was opened for inspection",
        "write() or exclusive() was called on a pool opened with Pool::open_read_only (or Database::open_read_only), which starts no writer and changes nothing in the file",
        "open the database with Pool::open / Database::open to change it; the strata commands that write (init, migrate up, flags set, queue retry) do";
    E2020 = "E2020", Unavailable, "cannot listen on {addr}: {message}",
        "the dashboard server could not bind its address: another process listens on the port, the address is not one of this machine's, or the port needs privileges",
        "pick another --listen address or port (127.0.0.1:0 takes a free one), or stop what holds the port";
    E2050 = "E2050", Busy, "transaction held the writer past its limit of {limit_ms} ms and was rolled back",
        "an explicit transaction (Pool::transaction) stayed open longer than pool.transaction_max_ms; the writer rolled it back to take other writes again",
        "do less between BEGIN and COMMIT (no slow awaits while it is open), or raise pool.transaction_max_ms; then run the transaction again";
    E2051 = "E2051", Invalid, "the transaction is over: {reason}",
        "a step of an explicit transaction panicked or ended the transaction itself (a raw COMMIT or ROLLBACK), so it was rolled back and takes no more steps",
        "begin a new transaction with Pool::transaction and run it again; do not run COMMIT or ROLLBACK inside a step";
    E3001 = "E3001", Schema, "schema error: {message}",
        "the schema changed while a statement was prepared, or is not what the code expects",
        "run `strata migrate status` and `strata schema check` to compare the database with the migrations";
    E3002 = "E3002", Schema, "migration V{version} failed: {file} line {line}: {message} in `{statement}`",
        "a statement of the migration was refused by SQLite; the whole batch and its history rows were rolled back",
        "fix the statement named in the message and run `strata migrate up` again; the database is unchanged";
    E3003 = "E3003", Schema, "migration V{version} ({name}) was edited after it was applied: checksum {file_checksum} differs from applied {applied_checksum}",
        "an applied migration file changed (or was renamed) after it ran, so the file no longer describes the database",
        "restore the file from version control and put the change in a new migration; `strata migrate repair` accepts comment or whitespace edits";
    E3004 = "E3004", Schema, "migration V{version} ({name}) is applied but missing from the migration set",
        "the history records a migration whose file is not in the set (deleted, renamed, or a binary older than the database)",
        "restore the missing file, or run the binary that matches this database";
    E3005 = "E3005", Schema, "migration V{version} is not applied but the database is already at V{current}",
        "a migration was added with a version lower than one already applied, usually after a merge",
        "renumber the new migration above the current version with `strata migrate new`";
    E3006 = "E3006", Schema, "migration V{version} ({name}) has no down file; nothing was rolled back",
        "a rollback needs the down file of every migration it reverts, and this one has none",
        "write V{n}__{name}.down.sql beside the up file, or roll back to a version above this one";
    E3007 = "E3007", Schema, "{batch} left {count} dangling foreign key reference(s): {rows}",
        "after the batch, foreign_key_check found child rows whose parent row is gone; the batch was rolled back",
        "copy the parent rows in the migration, or delete or fix the rows named in the message first";
    E3008 = "E3008", Schema, "invalid migration set: {what}: {reason}",
        "a migration file is misnamed, two files share a version, or a down file has no up file beside it",
        "name files V{n}__{name}.sql and V{n}__{name}.down.sql, use each version once and keep downs beside their ups";
    E3009 = "E3009", Schema, "migration V{version} cannot run in a transaction: {file} line {line}: `{statement}`",
        "the migration holds BEGIN, COMMIT, ROLLBACK, END or VACUUM, which would end the batch's transaction",
        "remove the statement; strata wraps every batch in one transaction, and VACUUM can run afterwards on its own";
    E3010 = "E3010", Invalid, "target V{version} {reason}",
        "`--to` names a version that the migration set or the history does not have, or one in the wrong direction",
        "run `strata migrate status` to list the versions, then pass one of them (or 0 to roll back everything)";
    E3011 = "E3011", Schema, "cannot repair migration V{version}: {reason}",
        "repair only accepts files that changed in comments, whitespace or line endings since they were applied",
        "restore the applied file from version control and put the real change in a new migration";
    E3012 = "E3012", Schema, "refinery_schema_history is unreadable: {reason}",
        "a row of the history table has a checksum or version that is not a number",
        "inspect the table with `sqlite3`; restore the pre-migration snapshot if it was edited by hand";
    E3013 = "E3013", Schema, "the connection is inside a transaction; migrations need to manage their own",
        "migrate was called on a connection with an open transaction, where foreign keys cannot be switched off",
        "commit or roll back first, or give the migration its own connection";
    E3014 = "E3014", Schema, "schema drift: {changes} difference(s) from the migration set:\n{diff}",
        "the live schema is not what the applied migrations produce: someone changed it by hand, or a migration was edited",
        "put the change into a migration (`strata schema generate` writes the sql), or revert it; `strata schema check` shows the diff";
    E3015 = "E3015", Schema, "cannot generate sql for {object}: {reason}",
        "the change needs something strata cannot write as sql (a virtual table rebuild, a schema without its CREATE text)",
        "write that part of the migration by hand";
    E3016 = "E3016", Schema, "migration V{version} is not reversible: up, down, up differs:\n{diff}",
        "the down file does not undo its up exactly, so a rollback would leave a different schema",
        "make the down file drop or restore exactly what the up file creates or changes, then run `strata migrate lint --reversible`";
    E3017 = "E3017", Invalid, "cannot roll back --steps {steps}: only {applied} applied; nothing was rolled back",
        "`migrate down --steps N` asked for more migrations than the history holds; rolling back everything is never implied",
        "pass a smaller --steps, or say that everything goes with --to 0 or --all";
    E4001 = "E4001", Constraint, "{constraint} constraint failed: {table}.{column}, ... (or the CHECK's name; a foreign key names nothing)",
        "a UNIQUE, PRIMARY KEY, FOREIGN KEY, CHECK or NOT NULL constraint (or a trigger) refused the row; Error::table() and Error::columns() say where",
        "the hint depends on the constraint: unique or primary key, use another value or update the existing row (ON CONFLICT DO UPDATE); not null, give the column a value; check, change the value to pass the named CHECK; foreign key, insert the parent row first (or delete the children first)";
    E4002 = "E4002", NotFound, "not found: {what}",
        "a query that must return one row returned none",
        "check the id or key; list what exists with the matching `strata ... list` command";
    E4003 = "E4003", ReadOnly, "attempt to write a read-only database: {message}",
        "a write was issued on a reader connection (query_only) or on a read-only file",
        "send writes through pool.write(); check the file's mode and mount if it happens there";
    E4004 = "E4004", Invalid, "sql error: {message}",
        "the statement was refused by SQLite: a syntax error, a missing table or column, a wrong argument",
        "read SQLite's message; run `strata schema show` to see the tables and columns that exist";
    E4005 = "E4005", Invalid, "value conversion failed: {message}",
        "a column value did not fit the Rust type it was read into, or a parameter could not be bound",
        "match the Rust type to the column's declared type, or read it as an Option for NULLs";
    E4006 = "E4006", Invalid, "{what} cannot go from {from} to {to}",
        "the requested state change is not an edge of the entity's lifecycle (a terminated session cannot be resumed)",
        "read the current state first; the allowed transitions are listed in the repository's docs";
    E4007 = "E4007", Invalid, "task {task_id}: the lease is not held: {reason}",
        "the worker's lease expired (or the task was cancelled) and another worker may hold the task now",
        "drop this attempt's result; heartbeat more often than the lease lasts, or claim with a longer lease";
    E4010 = "E4010", Invalid, "cache entry `{namespace}/{key}` is {size} bytes, over the {limit_name} of {limit} bytes",
        "the value is larger than the cache's max entry size, or than the namespace's whole size budget; nothing was written",
        "store a smaller value (or a reference to it), or raise max_entry_bytes / max_namespace_bytes of the cache";
    E4011 = "E4011", Busy, "rate limit `{key}` still denies after {waited_ms} ms; the next unit passes in {retry_after_ms} ms",
        "wait_until_allowed would have to wait longer than its max_wait for the quota to admit the request",
        "retry later, lower the cost of the request, or pass a longer max_wait";
    E4012 = "E4012", Invalid, "no rate limit quota configured for `{key}`",
        "check_configured found no configured key prefix that the key starts with",
        "add a quota for the key's prefix to the rate limits' quotas, or pass the quota in the call";
    E4020 = "E4020", Invalid, "cannot read a row into {target}: {message}",
        "a typed query (query_as, query_one, query_optional, query_stream) met a column whose value does not fit the field of the same name, or a field no column fills",
        "name every column after its field (SELECT a AS field), read NULLs into Option, and JSON text through #[serde(with = \"strata::json\")]";
    E4021 = "E4021", Invalid, "flag `{name}` is not {target}: {message}",
        "get_as or is_enabled (Flags) read a flag whose JSON value does not have the asked type (is_enabled needs true or false)",
        "set the flag to a value of that type (`strata flags set NAME true`), or read it with the type it holds";
    E5001 = "E5001", Corruption, "database disk image is malformed: {message}",
        "the database file is damaged (torn write, bad disk, a copy taken without the -wal file)",
        "stop writing; run `strata check --full`, then `strata recover` to restore the newest verified backup";
    E5002 = "E5002", Corruption, "file is not a database: {message}",
        "the file exists but does not start with the SQLite header, or is encrypted",
        "check the path: it points at some other file; strata left it untouched";
    E5003 = "E5003", Storage, "database or disk is full: {message}",
        "the volume has no free space, or max_page_count was reached",
        "free disk space (old backups, the -wal file after a checkpoint) and retry; nothing was committed";
    E5004 = "E5004", Io, "disk i/o error: {message}",
        "the operating system failed a read, write, fsync or lock on the database files",
        "check the disk and the kernel log; run `strata check --full` once the disk is healthy";
    E5005 = "E5005", Io, "{action} {path}: {message}",
        "a file operation of strata's own (config, backup, snapshot) failed",
        "check that the path exists, has free space and that the process may write it";
    E5006 = "E5006", Corruption, "backup {path} failed verification: {reason}",
        "the backup copy is damaged, truncated, or differs from the sha256 or page count its manifest recorded",
        "do not restore it; take a new backup with `strata backup create` and check the disk that holds backups";
    E5007 = "E5007", Unavailable, "no verified backup in {dir}: {reason}",
        "the backup directory holds no backup that passes verification (or does not exist)",
        "point --from at the directory that holds the backups, or restore a known good copy by hand";
    E5008 = "E5008", Invalid, "{path} is open by a pool of this process",
        "a database cannot be replaced while this process still has connections to it",
        "close the pool (Database::close) first, then restore or recover";
    E5009 = "E5009", Invalid, "restore refused for {path}: {reason}",
        "the restore would replace an existing database and was not forced",
        "pass --force (RestoreOptions::force) to replace it; the old file is kept as <db>.replaced-<time>";
    E5010 = "E5010", Corruption, "backup manifest {path}: {reason}",
        "the JSON manifest beside a backup is missing, unreadable or describes another file",
        "run `strata backup verify FILE` to re-check the backup itself; take a new backup if in doubt";
    E5011 = "E5011", Invalid, "{path} is in use by another process: it holds {lock}",
        "every strata pool holds a shared lock on <db>.strata-lock while it is open, and restore and recover hold it exclusively while they replace the file; another process holds it now",
        "stop what has the database open (a running service, another `strata` command) or let the running restore finish, then run the command again";
    E5012 = "E5012", Invalid, "{path} has other open connections: {reason}",
        "a SQLite connection that is not a strata pool (a sqlite3 shell, another program, a leaked connection) holds a lock on the database, so SQLite would not give it to restore or recover alone",
        "close the other connections to the database (sqlite3 shells, other programs), then run the command again; nothing was changed";
    E6001 = "E6001", Invalid, "invalid {field}: {reason}",
        "an argument is out of range or malformed",
        "correct the named argument as the message says";
    E6020 = "E6020", Invalid, "cannot advise on `{sql}`: {reason}",
        "the advisor reads single SELECT statements over tables of the database; this one is not",
        "pass a SELECT (or the SELECT part of the statement) that runs against this database";
    E6021 = "E6021", Invalid, "invalid cache ttl for `{namespace}/{key}`: {reason}",
        "the time to live is zero or too large to add to the current time; nothing was written",
        "pass a ttl of at least 1 ms, or None for an entry that never expires";
    E6022 = "E6022", Invalid, "invalid rate limit quota for `{key}`: {reason}",
        "the quota, period, burst or cost is zero, or so large that the arithmetic overflows, or the cost is over the burst; nothing was written",
        "use a quota, burst and cost of at least 1, a period of at least 1 ms and a cost no larger than the burst";
    E6023 = "E6023", Invalid, "invalid cache value for `{namespace}/{key}`: {reason}",
        "the JSON text is not valid JSON, or serde could not write the value as JSON; nothing was written",
        "pass valid JSON, or store the value as bytes with set_bytes";
    E6030 = "E6030", Invalid, "{addr} is not a loopback address: serving it needs --allow-remote and a token",
        "`strata serve` binds to loopback only unless told otherwise: the dashboard shows the database's health, statements and queues to whoever can reach it",
        "listen on 127.0.0.1 (the default), or pass --allow-remote with --token-file FILE (or STRATA_SERVE_TOKEN); every request then needs `Authorization: Bearer <token>`";
    E6031 = "E6031", Invalid, "unusable serve token from {origin}: {reason}",
        "the bearer token file cannot be read, or the token is empty or shorter than 16 characters, or holds whitespace inside",
        "write a long random token to the file (for example `openssl rand -hex 32 > token; chmod 600 token`) or set STRATA_SERVE_TOKEN";
    E6040 = "E6040", Invalid, "no migration set: {action} needs the database to be opened with migrations",
        "migrate, rollback or migration_status was called on a Database opened with Migrations::None (or MigrationSource::None), so there is no set to apply, revert or compare",
        "open the database with the migrations it should follow (Migrations::Reference or Migrations::Set), or run them through strata_schema on db.pool().exclusive(...)";
    E6050 = "E6050", Invalid, "invalid json for {field}: {reason}",
        "the JSON text given for a search result's data or analysis does not parse; nothing was written",
        "pass valid JSON text (check it with serde_json or `jq .`), or `{}` for no data";
    E9001 = "E9001", Internal, "internal error: panicked at {location}: {message}",
        "strata reached a state its code assumed impossible (a panic); the command stopped where it was",
        "this is a bug in strata: please report it with the command and this message";
    E9002 = "E9002", Internal, "background task {task} failed: {reason}",
        "a task strata ran on a blocking thread panicked, or was cancelled because the runtime shut down, before it answered",
        "this is a bug in strata unless the process was shutting down: please report it with the command and this message";
}

impl Error {
    /// The catalog entry of this error: code, kind, template, cause and hint.
    pub fn info(&self) -> &'static ErrorInfo {
        use codes::*;
        match self {
            Error::ConfigRead { .. } => &E1001,
            Error::ConfigParse { .. } => &E1002,
            Error::ConfigInvalid { .. } => &E1003,
            Error::DirectoryMissing { .. } => &E2001,
            Error::PermissionDenied { .. } => &E2002,
            Error::ReadOnlyLocation { .. } => &E2003,
            Error::CannotOpen { .. } => &E2004,
            Error::AcquireTimeout { .. } => &E2005,
            Error::PoolClosed => &E2006,
            Error::WritePanicked { .. } => &E2007,
            Error::Busy { .. } => &E2008,
            Error::Interrupted { .. } => &E2009,
            Error::Locked { .. } => &E2010,
            Error::PoolReadOnly { .. } => &E2011,
            Error::Schema { .. } => &E3001,
            Error::MigrationFailed { .. } => &E3002,
            Error::MigrationDivergent { .. } => &E3003,
            Error::MigrationMissing { .. } => &E3004,
            Error::MigrationOutOfOrder { .. } => &E3005,
            Error::DownMissing { .. } => &E3006,
            Error::ForeignKeyViolations { .. } => &E3007,
            Error::MigrationSetInvalid { .. } => &E3008,
            Error::MigrationNotTransactional { .. } => &E3009,
            Error::MigrationTargetUnknown { .. } => &E3010,
            Error::RepairRefused { .. } => &E3011,
            Error::HistoryUnreadable { .. } => &E3012,
            Error::MigrationInTransaction => &E3013,
            Error::DriftDetected { .. } => &E3014,
            Error::GenerateUnsupported { .. } => &E3015,
            Error::NotReversible { .. } => &E3016,
            Error::StepsBeyondApplied { .. } => &E3017,
            Error::Constraint { .. } => &E4001,
            Error::NotFound { .. } => &E4002,
            Error::ReadOnly { .. } => &E4003,
            Error::InvalidTransition { .. } => &E4006,
            Error::LeaseLost { .. } => &E4007,
            Error::CacheEntryTooLarge { .. } => &E4010,
            Error::RateLimited { .. } => &E4011,
            Error::QuotaMissing { .. } => &E4012,
            Error::Sql { .. } => &E4004,
            Error::Conversion { .. } => &E4005,
            Error::RowDecode { .. } => &E4020,
            Error::FlagType { .. } => &E4021,
            Error::Corrupt { .. } => &E5001,
            Error::NotADatabase { .. } => &E5002,
            Error::DiskFull { .. } => &E5003,
            Error::SqliteIo { .. } => &E5004,
            Error::FileIo { .. } => &E5005,
            Error::BackupInvalid { .. } => &E5006,
            Error::NoBackup { .. } => &E5007,
            Error::DatabaseInUse { .. } => &E5008,
            Error::RestoreRefused { .. } => &E5009,
            Error::ManifestInvalid { .. } => &E5010,
            Error::DatabaseLocked { .. } => &E5011,
            Error::DatabaseConnected { .. } => &E5012,
            Error::AdviseUnsupported { .. } => &E6020,
            Error::InvalidTtl { .. } => &E6021,
            Error::InvalidQuota { .. } => &E6022,
            Error::InvalidCacheValue { .. } => &E6023,
            Error::InvalidJson { .. } => &E6050,
            Error::ServeRemoteRefused { .. } => &E6030,
            Error::ServeToken { .. } => &E6031,
            Error::ServeListen { .. } => &E2020,
            Error::InvalidInput { .. } => &E6001,
            Error::NoMigrationSet { .. } => &E6040,
            Error::Panicked { .. } => &E9001,
            Error::TaskFailed { .. } => &E9002,
            Error::TransactionExpired { .. } => &E2050,
            Error::TransactionEnded { .. } => &E2051,
        }
    }

    /// The stable code, such as `E2005`.
    pub fn code(&self) -> &'static str {
        self.info().code
    }

    /// The classification a caller branches on.
    pub fn kind(&self) -> ErrorKind {
        self.info().kind
    }

    /// One actionable sentence for the person who reads the error. A constraint
    /// error's hint is its kind's ([`ConstraintKind::hint`]).
    pub fn hint(&self) -> &'static str {
        match self {
            Error::Constraint { constraint, .. } => constraint.hint(),
            _ => self.info().hint,
        }
    }

    /// Whether the same operation may succeed if tried again unchanged.
    pub fn is_retryable(&self) -> bool {
        matches!(self.kind(), ErrorKind::Busy | ErrorKind::Transient)
    }

    /// The constraint that refused a row, when this is a constraint error.
    pub fn constraint(&self) -> Option<ConstraintKind> {
        match self {
            Error::Constraint { constraint, .. } => Some(*constraint),
            _ => None,
        }
    }

    /// The table of a UNIQUE, PRIMARY KEY or NOT NULL violation, parsed from SQLite's
    /// message (`UNIQUE constraint failed: pages.url`). `None` for other errors, and
    /// for FOREIGN KEY and CHECK violations: SQLite's message names no table for them
    /// (a CHECK has [`Error::constraint_name`]), nor for a unique index on an
    /// expression.
    pub fn table(&self) -> Option<&str> {
        self.constraint_targets().next().map(|(table, _)| table)
    }

    /// The columns of a UNIQUE, PRIMARY KEY or NOT NULL violation in the order of the
    /// key (`UNIQUE constraint failed: orders.shop, orders.number` gives
    /// `["shop", "number"]`); empty where [`Error::table`] is `None`.
    pub fn columns(&self) -> Vec<&str> {
        self.constraint_targets().map(|(_, column)| column).collect()
    }

    /// The name of the CHECK constraint that refused the row (`CONSTRAINT name CHECK
    /// (...)`; SQLite gives the expression's text for an unnamed one), or of the
    /// unique index on an expression. `None` otherwise.
    pub fn constraint_name(&self) -> Option<&str> {
        let Error::Constraint { constraint, message, .. } = self else { return None };
        let detail = constraint_detail(message)?;
        match constraint {
            ConstraintKind::Check => Some(detail),
            ConstraintKind::Unique | ConstraintKind::PrimaryKey => {
                detail.strip_prefix("index '").and_then(|rest| rest.strip_suffix('\''))
            }
            _ => None,
        }
    }

    /// `(table, column)` pairs of a UNIQUE, PRIMARY KEY or NOT NULL message.
    fn constraint_targets(&self) -> impl Iterator<Item = (&str, &str)> {
        let detail = match self {
            Error::Constraint {
                constraint: ConstraintKind::Unique | ConstraintKind::PrimaryKey | ConstraintKind::NotNull,
                message,
                ..
            } => constraint_detail(message).filter(|d| !d.starts_with("index '")),
            _ => None,
        };
        detail.into_iter().flat_map(|d| d.split(", ")).filter_map(|target| target.split_once('.'))
    }

    /// SQLite's extended result code, when the error came from SQLite.
    pub fn sqlite_code(&self) -> Option<i32> {
        match self {
            Error::Busy { code, .. }
            | Error::Interrupted { code, .. }
            | Error::Locked { code, .. }
            | Error::Constraint { code, .. }
            | Error::ReadOnly { code, .. }
            | Error::Sql { code, .. }
            | Error::Corrupt { code, .. }
            | Error::SqliteIo { code, .. }
            | Error::CannotOpen { code, .. }
            | Error::NotADatabase { code, .. }
            | Error::DiskFull { code, .. } => Some(*code),
            _ => None,
        }
    }

    /// A file operation failed; the message is the operating system's.
    pub fn file_io(action: &'static str, path: impl Into<PathBuf>, err: &std::io::Error) -> Self {
        Error::FileIo { action, path: path.into(), message: err.to_string() }
    }

    /// An argument was out of range or malformed.
    pub fn invalid(field: impl Into<String>, reason: impl Into<String>) -> Self {
        Error::InvalidInput { field: field.into(), reason: reason.into() }
    }

    /// A background task failed to answer: `err` is what awaiting its join handle
    /// returned (tokio's `JoinError`: a panic or a cancellation), `task` what it did.
    pub fn task_failed(task: &'static str, err: impl fmt::Display) -> Self {
        Error::TaskFailed { task, reason: err.to_string() }
    }

    /// Classifies an SQLite extended result code and message into a variant.
    pub fn from_sqlite_code(extended: i32, message: impl Into<String>) -> Self {
        let message = message.into();
        let code = extended;
        match extended & 0xff {
            ffi::SQLITE_BUSY => Error::Busy { code, message },
            // Held by this connection's own statement (or a shared-cache sibling):
            // waiting does not release it, so it is not Busy and not retried.
            ffi::SQLITE_LOCKED => Error::Locked { code, message },
            ffi::SQLITE_INTERRUPT | ffi::SQLITE_PROTOCOL => Error::Interrupted { code, message },
            ffi::SQLITE_CONSTRAINT => {
                let constraint = match extended {
                    ffi::SQLITE_CONSTRAINT_UNIQUE => ConstraintKind::Unique,
                    ffi::SQLITE_CONSTRAINT_PRIMARYKEY => ConstraintKind::PrimaryKey,
                    ffi::SQLITE_CONSTRAINT_FOREIGNKEY => ConstraintKind::ForeignKey,
                    ffi::SQLITE_CONSTRAINT_CHECK => ConstraintKind::Check,
                    ffi::SQLITE_CONSTRAINT_NOTNULL => ConstraintKind::NotNull,
                    _ => ConstraintKind::Other,
                };
                Error::Constraint { constraint, code, message }
            }
            ffi::SQLITE_CORRUPT => Error::Corrupt { code, message },
            ffi::SQLITE_NOTADB => Error::NotADatabase { code, message },
            ffi::SQLITE_FULL => Error::DiskFull { code, message },
            ffi::SQLITE_IOERR => Error::SqliteIo { code, message },
            ffi::SQLITE_CANTOPEN => Error::CannotOpen { code, message },
            ffi::SQLITE_READONLY => Error::ReadOnly { code, message },
            ffi::SQLITE_SCHEMA => Error::Schema { message },
            _ => Error::Sql { code, message },
        }
    }
}

impl From<rusqlite::Error> for Error {
    fn from(err: rusqlite::Error) -> Self {
        match err {
            rusqlite::Error::SqliteFailure(e, msg) => {
                let message = msg.unwrap_or_else(|| e.to_string());
                Error::from_sqlite_code(e.extended_code, message)
            }
            rusqlite::Error::QueryReturnedNoRows => Error::NotFound { what: "query returned no rows".into() },
            rusqlite::Error::FromSqlConversionFailure(..)
            | rusqlite::Error::IntegralValueOutOfRange(..)
            | rusqlite::Error::Utf8Error(..)
            | rusqlite::Error::InvalidColumnType(..)
            | rusqlite::Error::ToSqlConversionFailure(..)
            | rusqlite::Error::NulError(..) => Error::Conversion { message: err.to_string() },
            rusqlite::Error::InvalidPath(path) => Error::CannotOpen {
                code: ffi::SQLITE_CANTOPEN,
                message: format!("invalid path {}", path.display()),
            },
            other => Error::Sql { code: ffi::SQLITE_MISUSE, message: other.to_string() },
        }
    }
}

/// What SQLite's constraint message says after its own `KIND constraint failed: `
/// prefix (`pages.url`, a CHECK's name); `None` when the message has no such prefix
/// (a trigger's `RAISE` text) or nothing after it (a foreign key).
fn constraint_detail(message: &str) -> Option<&str> {
    let (_, detail) = message.split_once(" constraint failed: ")?;
    Some(detail.trim()).filter(|d| !d.is_empty())
}

/// E4001's text: the kind once, then where (`unique constraint failed:
/// pages.url`), instead of SQLite's message after our own prefix.
fn constraint_display(constraint: ConstraintKind, message: &str) -> String {
    match (constraint_detail(message), message.contains(" constraint failed")) {
        (Some(detail), _) => format!("{constraint} constraint failed: {detail}"),
        (None, true) => format!("{constraint} constraint failed"),
        (None, false) => format!("{constraint} constraint failed: {message}"),
    }
}

/// How an error is shown to a person: `E4001 message` then `hint: ...`.
pub fn render(err: &Error) -> String {
    format!("{} {}\nhint: {}", err.code(), err, err.hint())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn failure(extended: i32) -> rusqlite::Error {
        rusqlite::Error::SqliteFailure(ffi::Error::new(extended), Some("m".into()))
    }

    #[test]
    fn extended_result_codes_map_to_their_kind() {
        use ffi::*;
        let cases: &[(i32, ErrorKind, &str, Option<ConstraintKind>)] = &[
            (SQLITE_BUSY, ErrorKind::Busy, "E2008", None),
            (SQLITE_BUSY_RECOVERY, ErrorKind::Busy, "E2008", None),
            (SQLITE_BUSY_SNAPSHOT, ErrorKind::Busy, "E2008", None),
            (SQLITE_BUSY_TIMEOUT, ErrorKind::Busy, "E2008", None),
            (SQLITE_LOCKED, ErrorKind::Invalid, "E2010", None),
            (SQLITE_LOCKED_SHAREDCACHE, ErrorKind::Invalid, "E2010", None),
            (SQLITE_LOCKED_VTAB, ErrorKind::Invalid, "E2010", None),
            (SQLITE_CONSTRAINT_UNIQUE, ErrorKind::Constraint, "E4001", Some(ConstraintKind::Unique)),
            (SQLITE_CONSTRAINT_PRIMARYKEY, ErrorKind::Constraint, "E4001", Some(ConstraintKind::PrimaryKey)),
            (SQLITE_CONSTRAINT_FOREIGNKEY, ErrorKind::Constraint, "E4001", Some(ConstraintKind::ForeignKey)),
            (SQLITE_CONSTRAINT_CHECK, ErrorKind::Constraint, "E4001", Some(ConstraintKind::Check)),
            (SQLITE_CONSTRAINT_NOTNULL, ErrorKind::Constraint, "E4001", Some(ConstraintKind::NotNull)),
            (SQLITE_CONSTRAINT_TRIGGER, ErrorKind::Constraint, "E4001", Some(ConstraintKind::Other)),
            (SQLITE_CORRUPT, ErrorKind::Corruption, "E5001", None),
            (SQLITE_CORRUPT_INDEX, ErrorKind::Corruption, "E5001", None),
            (SQLITE_CORRUPT_SEQUENCE, ErrorKind::Corruption, "E5001", None),
            (SQLITE_NOTADB, ErrorKind::Corruption, "E5002", None),
            (SQLITE_FULL, ErrorKind::Storage, "E5003", None),
            (SQLITE_IOERR, ErrorKind::Io, "E5004", None),
            (SQLITE_IOERR_READ, ErrorKind::Io, "E5004", None),
            (SQLITE_IOERR_SHORT_READ, ErrorKind::Io, "E5004", None),
            (SQLITE_IOERR_WRITE, ErrorKind::Io, "E5004", None),
            (SQLITE_IOERR_FSYNC, ErrorKind::Io, "E5004", None),
            (SQLITE_IOERR_NOMEM, ErrorKind::Io, "E5004", None),
            (SQLITE_CANTOPEN, ErrorKind::Unavailable, "E2004", None),
            (SQLITE_CANTOPEN_ISDIR, ErrorKind::Unavailable, "E2004", None),
            (SQLITE_READONLY, ErrorKind::ReadOnly, "E4003", None),
            (SQLITE_READONLY_RECOVERY, ErrorKind::ReadOnly, "E4003", None),
            (SQLITE_READONLY_CANTLOCK, ErrorKind::ReadOnly, "E4003", None),
            (SQLITE_READONLY_ROLLBACK, ErrorKind::ReadOnly, "E4003", None),
            (SQLITE_READONLY_DBMOVED, ErrorKind::ReadOnly, "E4003", None),
            (SQLITE_READONLY_CANTINIT, ErrorKind::ReadOnly, "E4003", None),
            (SQLITE_READONLY_DIRECTORY, ErrorKind::ReadOnly, "E4003", None),
            (SQLITE_INTERRUPT, ErrorKind::Transient, "E2009", None),
            (SQLITE_SCHEMA, ErrorKind::Schema, "E3001", None),
            (SQLITE_ERROR, ErrorKind::Invalid, "E4004", None),
        ];
        for &(extended, kind, code, constraint) in cases {
            let err = crate::error::Error::from(failure(extended));
            assert_eq!(err.kind(), kind, "kind of extended code {extended}");
            assert_eq!(err.code(), code, "code of extended code {extended}");
            assert_eq!(err.constraint(), constraint, "constraint of extended code {extended}");
            if kind != ErrorKind::Schema {
                assert_eq!(err.sqlite_code(), Some(extended), "sqlite code kept for {extended}");
            }
            assert_eq!(err.is_retryable(), matches!(kind, ErrorKind::Busy | ErrorKind::Transient));
        }
    }

    #[test]
    fn rusqlite_errors_without_a_result_code_are_classified() {
        assert_eq!(Error::from(rusqlite::Error::QueryReturnedNoRows).kind(), ErrorKind::NotFound);
        let conversion = rusqlite::Error::InvalidColumnType(0, "x".into(), rusqlite::types::Type::Text);
        assert_eq!(Error::from(conversion).code(), "E4005");
        assert_eq!(Error::from(rusqlite::Error::ExecuteReturnedResults).code(), "E4004");
    }

    #[test]
    fn catalog_codes_are_unique_sorted_and_well_formed() {
        let mut previous = "";
        for info in CATALOG {
            assert!(info.code.len() == 5 && info.code.starts_with('E'), "{}", info.code);
            assert!(info.code[1..].chars().all(|c| c.is_ascii_digit()), "{}", info.code);
            assert!(info.code > previous, "{} is out of order or duplicated", info.code);
            previous = info.code;
            for text in [info.message, info.cause, info.hint] {
                assert!(!text.is_empty() && !text.ends_with('.'), "{}: `{text}`", info.code);
                assert!(text.starts_with(|c: char| !c.is_uppercase()), "{}: lowercase `{text}`", info.code);
            }
        }
    }

    #[test]
    fn codes_group_by_family() {
        // Every kind names the families it may appear in: no kind passes unchecked.
        // `invalid` is the one kind of every family that takes input (a bad argument
        // to the pool, a migration, a query, a backup, the CLI).
        for info in CATALOG {
            let family = &info.code[1..2];
            let allowed: &[&str] = match info.kind {
                ErrorKind::Config => &["1"],
                // A rate limit that says "not now" (E4011) is busy like a held lock.
                ErrorKind::Busy => &["2", "4"],
                ErrorKind::Transient => &["2"],
                ErrorKind::Unavailable => &["2", "5"],
                ErrorKind::ReadOnly => &["2", "4"],
                ErrorKind::Schema => &["3"],
                ErrorKind::Constraint | ErrorKind::NotFound => &["4"],
                ErrorKind::Corruption | ErrorKind::Storage | ErrorKind::Io => &["5"],
                ErrorKind::Invalid => &["2", "3", "4", "5", "6"],
                ErrorKind::Internal => &["9"],
            };
            assert!(
                allowed.contains(&family),
                "{} has kind {} outside families {allowed:?}",
                info.code,
                info.kind
            );
        }
    }

    #[tokio::test]
    async fn a_background_task_that_panicked_or_was_cancelled_is_an_internal_error() {
        let panicked = tokio::task::spawn_blocking(|| -> Result<()> { panic!("boom in the backup") }).await;
        let err = Error::task_failed("backup", panicked.unwrap_err());
        assert_eq!(err.code(), "E9002");
        assert_eq!(err.kind(), ErrorKind::Internal);
        assert!(!err.is_retryable());
        assert!(err.to_string().starts_with("background task backup failed: "), "{err}");
        assert!(err.to_string().contains("boom in the backup"), "{err}");
        assert!(err.hint().contains("report it"), "{}", err.hint());

        let never = tokio::spawn(std::future::pending::<()>());
        never.abort();
        let err = Error::task_failed("health check", never.await.unwrap_err());
        assert_eq!((err.code(), err.kind()), ("E9002", ErrorKind::Internal));
        assert!(err.to_string().contains("cancelled"), "{err}");
    }

    #[test]
    fn rendering_shows_code_message_and_hint() {
        let err = Error::AcquireTimeout { pool: "reader", waited_ms: 250 };
        assert_eq!(
            render(&err),
            "E2005 no reader connection free within 250 ms\nhint: shorten the work done inside \
             read/write closures, or raise pool.readers / acquire_timeout_ms"
        );
        assert!(err.is_retryable());
    }

    #[test]
    fn constraint_messages_without_a_table_keep_their_text_and_name_nothing() {
        use rusqlite::ffi::{SQLITE_CONSTRAINT_TRIGGER, SQLITE_CONSTRAINT_UNIQUE};
        let trigger = Error::from_sqlite_code(SQLITE_CONSTRAINT_TRIGGER, "audit_log is append-only");
        assert_eq!(trigger.to_string(), "other constraint failed: audit_log is append-only");
        assert_eq!((trigger.table(), trigger.columns(), trigger.constraint_name()), (None, vec![], None));
        assert_eq!(trigger.hint(), ConstraintKind::Other.hint());

        let expression =
            Error::from_sqlite_code(SQLITE_CONSTRAINT_UNIQUE, "UNIQUE constraint failed: index 'by_lower'");
        assert_eq!((expression.table(), expression.columns()), (None, vec![]));
        assert_eq!(expression.constraint_name(), Some("by_lower"));

        let not_a_constraint = Error::invalid("limit", "must be positive");
        assert_eq!((not_a_constraint.table(), not_a_constraint.columns()), (None, vec![]));
    }
}
