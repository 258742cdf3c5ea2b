//! The error contract: one `Error` enum, stable `E####` codes, a kind and a hint each.
//!
//! Every code has one entry in [`CATALOG`]: its variant, kind, the message as a
//! template, the cause and the fix. `docs/errors.md` is generated from that table by
//! `cargo xtask codegen`, so the table is the single place a code is described.
//! This file holds the enum and what every error answers (code, kind, hint, where a
//! constraint failed); `error/kind.rs` the classifications, `error/catalog.rs` the
//! catalog (which generates [`Error::info`]), `error/sqlite.rs` the mapping of
//! SQLite's result codes.

use std::fmt;
use std::path::PathBuf;

mod catalog;
mod kind;
mod sqlite;

pub use catalog::{CATALOG, ErrorInfo, codes};
pub use kind::{ConstraintKind, ErrorKind};

/// `Result` with strata's [`Error`] as the default error type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

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
    /// E3020: `strata codegen --tables` names something that is neither a table nor a view.
    #[error("cannot generate code for `{name}`: no such table or view")]
    CodegenUnknownTable {
        /// The name asked for.
        name: String,
    },
    /// E3021: committed generated code differs from what the schema generates now.
    #[error("generated code in {path} is stale (first difference at line {line})")]
    CodegenStale {
        /// The generated file.
        path: PathBuf,
        /// The first line that differs (1-based).
        line: usize,
    },
    /// E3022: a JSON type mapping (or the crate path) of codegen is unusable.
    #[error("invalid codegen mapping `{entry}`: {reason}")]
    CodegenJsonType {
        /// The `table.column` or type as given.
        entry: String,
        /// Why it cannot be used.
        reason: String,
    },
    /// E5020: the replicator's binary (`litestream`) could not be run.
    #[error("cannot run {}: {message}", program.display())]
    ReplicatorUnavailable {
        /// The program strata tried to run.
        program: PathBuf,
        /// What the operating system said.
        message: String,
    },
    /// E5021: `litestream restore` ran and failed: nothing was replaced.
    #[error("litestream restore from {url} failed: {message}")]
    ReplicaRestoreFailed {
        /// The replica URL.
        url: String,
        /// Litestream's exit status and its last words on stderr.
        message: String,
    },
    /// E5022: the database restored from a replica failed strata's verification:
    /// nothing was replaced.
    #[error("the restore of replica {url} failed verification: {reason}")]
    ReplicaInvalid {
        /// The replica URL.
        url: String,
        /// What did not verify.
        reason: String,
    },
    /// E6080: a document name that cannot be stored: empty, too long, or holding a
    /// path separator, `..`, NUL or a control character.
    #[error("invalid document name {name}: {reason}")]
    DocumentName {
        /// The name as given, quoted and escaped (it may hold control characters).
        name: String,
        /// What is wrong with it.
        reason: String,
    },
    /// E6081: a document larger than `documents.max_bytes`, refused while streaming.
    #[error("document {name} is larger than the limit of {limit} bytes")]
    DocumentTooLarge {
        /// The document's name.
        name: String,
        /// `documents.max_bytes`.
        limit: u64,
    },
    /// E6082: a document whose detected MIME type is not in `documents.allowed_types`.
    #[error("document {name} has type {mime}, which documents.allowed_types does not allow")]
    DocumentTypeRefused {
        /// The document's name.
        name: String,
        /// The type detected from its content (or its extension).
        mime: String,
    },
    /// E5030: a stored document's file is missing or does not hold what its row says
    /// (size or SHA-256).
    #[error("document {id} is damaged: {reason}")]
    DocumentDamaged {
        /// The document's id.
        id: i64,
        /// What differs (missing file, size, hash).
        reason: String,
    },
    /// E5031: a write to the document store failed for lack of space; the partial
    /// file was removed.
    #[error("no space left for {what} in {path}: {message}")]
    StoreFull {
        /// What was being written (`document report.pdf`).
        what: String,
        /// The store directory.
        path: PathBuf,
        /// The operating system's message, or the free space against what was needed.
        message: String,
    },
    /// E2040: the pool lost its database file or connection and is reopening it in
    /// the background; calls fail fast until a probe succeeds.
    #[error("database {} is unavailable ({state}): {cause}", path.display())]
    PoolUnavailable {
        /// The database file.
        path: PathBuf,
        /// The pool's state: `degraded` (reopening) or `unavailable` (the retry
        /// policy is spent; it still probes at the policy's largest delay).
        state: &'static str,
        /// Why: the file was removed or replaced, or the error that invalidated the
        /// connection.
        cause: String,
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
    /// E3030: the versions of a migration directory (read at runtime or embedded
    /// with `embed_migrations!`) skip a number.
    #[error("migration set {set} has a gap: V{before} is followed by V{after}")]
    MigrationGap {
        /// The directory (or the embedded directory's path).
        set: String,
        /// The version before the gap.
        before: i64,
        /// The version after the gap.
        after: i64,
    },
    /// E5050: the audit spill file reached `audit.spill_max_bytes`; the entry that
    /// did not fit was not kept.
    #[error("audit spill file {} is full ({size} of {limit} bytes): the entry was not kept", path.display())]
    AuditSpillFull {
        /// The spill file.
        path: PathBuf,
        /// Its size now.
        size: u64,
        /// The configured bound.
        limit: u64,
    },
    /// E5051: a line of the audit spill file is not a whole entry (a crash while it
    /// was written); replay reports it, keeps it aside and replays the others.
    #[error("audit spill file {} line {line} is damaged: {reason}", path.display())]
    AuditSpillDamaged {
        /// The spill file.
        path: PathBuf,
        /// The line's number, from 1.
        line: u64,
        /// What is wrong with it.
        reason: String,
    },
    /// E1010: a config file being watched changed a setting that a running database
    /// cannot take; the change is ignored until a restart.
    #[error("config field `{field}` changed but is not reloadable; the running value is kept")]
    ConfigNotReloadable {
        /// The setting, as a dotted path.
        field: String,
    },
    /// E1011: the config file cannot be watched for changes.
    #[error("cannot watch config file {path}: {message}")]
    ConfigWatch {
        /// The config file.
        path: PathBuf,
        /// What the file watcher said.
        message: String,
    },
    /// E5052: the metrics spill file reached `metrics.spill_max_bytes`; the samples
    /// that did not fit were not kept.
    #[error("metrics spill file {} is full ({size} of {limit} bytes): the samples were not kept", path.display())]
    MetricsSpillFull {
        /// The spill file.
        path: PathBuf,
        /// Its size now.
        size: u64,
        /// The configured bound.
        limit: u64,
    },
    /// E5053: a line of the metrics spill file is not a whole sample (a crash while
    /// it was written); replay reports it, keeps it aside and replays the others.
    #[error("metrics spill file {} line {line} is damaged: {reason}", path.display())]
    MetricsSpillDamaged {
        /// The spill file.
        path: PathBuf,
        /// The line's number, from 1.
        line: u64,
        /// What is wrong with it.
        reason: String,
    },
    /// E1012: `log.level` is not a `tracing` filter directive list.
    #[error("invalid log.level directive `{directive}`: {reason}")]
    LogLevelInvalid {
        /// The directive at fault (the whole setting when it is empty).
        directive: String,
        /// What is wrong with it.
        reason: String,
    },
    /// E1013: the filter a `strata::log::LogLevel` sets belongs to a subscriber that
    /// was dropped, so a new `log.level` has nowhere to go.
    #[error("cannot apply log.level: {reason}")]
    LogFilterGone {
        /// What `tracing_subscriber::reload` said.
        reason: String,
    },
}

impl Error {
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
