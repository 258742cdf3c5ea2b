//! The command line: global options and subcommands, as DESIGN.md's contract lists.

use std::path::PathBuf;

use clap::{ArgAction, ArgGroup, Args, Parser, Subcommand};
use strata::Config;

/// strata: operate an SQLite database the way a server database is operated.
#[derive(Debug, Parser)]
#[command(name = "strata", version, about, long_about = None)]
pub struct Cli {
    /// Database file [default: $STRATA_DB, the config's `path`, or ./strata.db].
    #[arg(long, global = true, value_name = "PATH")]
    pub db: Option<PathBuf>,
    /// TOML config file; `STRATA_*` environment variables override it.
    #[arg(long, global = true, value_name = "FILE", env = "STRATA_CONFIG")]
    pub config: Option<PathBuf>,
    /// Print one JSON document instead of human text (errors too).
    #[arg(long, global = true)]
    pub json: bool,
    /// More log output on stderr (-v info, -vv debug, -vvv trace).
    #[arg(short, long, global = true, action = ArgAction::Count, conflicts_with = "quiet")]
    pub verbose: u8,
    /// Only errors on stderr.
    #[arg(short, long, global = true)]
    pub quiet: bool,
    /// How log lines on stderr look: `text` for a person, `json` for a log shipper
    /// (one object per line with the level, target, fields and the operation's span).
    #[arg(
        long,
        global = true,
        value_enum,
        value_name = "FORMAT",
        env = "STRATA_LOG_FORMAT",
        default_value_t
    )]
    pub log_format: LogFormat,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The format of the log lines on stderr.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Text,
    /// One JSON object per line.
    Json,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// A tour of every layer on the database: migrate, flags, sessions, a queue
    /// workload with failures drained by workers, a verified backup, a full check,
    /// query statistics and index advice; ends with a report. Safe to run again.
    Demo {
        /// Tasks to enqueue.
        #[arg(long, default_value_t = 2_000)]
        tasks: usize,
        /// Concurrent workers.
        #[arg(long, default_value_t = 4)]
        workers: usize,
    },
    /// Create the database if missing, open it with strata's PRAGMAs and apply the
    /// reference migrations.
    Init,
    /// Apply, roll back, inspect and lint migrations.
    #[command(subcommand)]
    Migrate(MigrateCommand),
    /// Show, check, diff and generate schemas.
    #[command(subcommand)]
    Schema(SchemaCommand),
    /// Health report: quick_check (integrity_check with --full), foreign keys,
    /// PRAGMAs, WAL, freelist, disk space; exit 1 when it finds problems.
    Check {
        /// Run integrity_check, which also compares every index with its table.
        #[arg(long)]
        full: bool,
    },
    /// Take, list, verify and prune verified online backups.
    #[command(subcommand)]
    Backup(BackupCommand),
    /// Replace the database with a backup, or with a Litestream replica's newest
    /// state (`--from-replica`), after verifying it.
    #[command(group(ArgGroup::new("source").required(true).args(["file", "from_replica"])))]
    Restore {
        /// The backup file.
        file: Option<PathBuf>,
        /// A Litestream replica (file:///dir, s3://bucket/path, or a directory):
        /// `litestream restore` writes it beside the database, strata verifies it
        /// (integrity_check) and then puts it in place. Runs `litestream` from PATH,
        /// or $STRATA_LITESTREAM.
        #[arg(long, value_name = "URL")]
        from_replica: Option<String>,
        /// Replace an existing database (it is kept as <db>.replaced-<time>).
        #[arg(long)]
        force: bool,
    },
    /// Run a full check; if the database is damaged, move it aside, restore the newest
    /// verified backup and salvage newer rows; exit 1 when it recovered.
    Recover {
        /// The backup directory [default: the config's backup.dir, or backups/ beside
        /// the database].
        #[arg(long, value_name = "DIR")]
        from: Option<PathBuf>,
    },
    /// Sizes, rows per table, query statistics and pool metrics.
    Stats {
        /// Only the application's statements: leave out strata's own (migration
        /// history, introspection, PRAGMAs, transaction control, the repositories'
        /// and the queue's statements).
        #[arg(long)]
        app: bool,
    },
    /// The task queue: counts per queue and state, listing, and the operator's retry,
    /// cancel and purge of dead tasks (audited). Needs an existing database.
    Queue(crate::queue::QueueArgs),
    /// The audit log: list with filters and paging, or tail (and follow) it. Needs an
    /// existing database.
    #[command(subcommand)]
    Audit(crate::audit::AuditCommand),
    /// Feature flags: list, get, and set (audited). Needs an existing database; `set`
    /// does not create one.
    Flags(crate::flags::FlagsArgs),
    /// The TTL cache: per-namespace stats and one entry (read-only), delete, purge
    /// the expired entries, clear a namespace or (with --yes) everything; the changes
    /// are audited. Needs an existing database.
    Cache(crate::cache::CacheArgs),
    /// Rate limits: a key's status (read-only), check (consumes units of a quota from
    /// flags or the config; exit 1 when denied) and reset (audited). Needs an existing
    /// database.
    Ratelimit(crate::ratelimit::RateLimitArgs),
    /// Searches, read-only: list them (by status, paged) or show one with its counts
    /// and a page of its results in rank order. Needs an existing database.
    #[command(subcommand)]
    Searches(crate::searches::SearchesCommand),
    /// Index recommendations with the plan before and after.
    Advise {
        /// A query to advise on (repeatable) [default: the slowest SELECTs of the
        /// exported query statistics].
        #[arg(long = "query", value_name = "SQL")]
        queries: Vec<String>,
    },
    /// The dashboard, /health, /metrics and /api/stats|queue over the database,
    /// read-only, until SIGINT or SIGTERM (loopback unless --allow-remote + token).
    Serve(crate::serve::ServeArgs),
    /// Rust code for the schema: per table a serde row struct, TryFrom<&Row> by
    /// column name, the column list, and a table type whose insert / get / update /
    /// delete / keyset list / find_by_<index columns> run through strata's pool; a view
    /// gets a read-only type. Reads --db, or --migrations applied to a scratch database.
    Codegen(crate::codegen::CodegenArgs),
    /// Write a Litestream config that replicates the database to REPLICA (a
    /// directory, file:///dir or s3://bucket/path), for `litestream replicate
    /// -config FILE`; set `[replication] mode = "litestream"` in strata's config too.
    Replicate(crate::replicate::ReplicateArgs),
    /// The document store beside the database: put (streamed, MIME detected), get
    /// (hash verified), ls, rm (soft), verify (exit 1 on a missing or changed file) and
    /// gc. Needs an existing database.
    #[command(subcommand)]
    Docs(crate::docs::DocsCommand),
    /// Load and validate the config (defaults, --config, STRATA_*, --db) without
    /// opening the database; exit 3 with the offending field when it is invalid.
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Explain error codes: every code with its kind and message, or one code's
    /// message, cause and hint. Needs no config and no database.
    Errors {
        /// The code to explain, such as E2004 [default: list every code].
        code: Option<String>,
    },
    /// Print the completion script of SHELL (bash, zsh, fish, elvish, powershell) on
    /// stdout. Needs no config and no database.
    Completions {
        /// The shell.
        shell: clap_complete::Shell,
    },
    /// Metrics samples kept in the spill file while the database was unavailable:
    /// show them (--dry-run) or replay them now (they also replay on their own once
    /// the database takes writes).
    #[command(subcommand)]
    Metrics(crate::metrics::MetricsCommand),
}

/// `strata config ...`
#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Load and validate the config; print where it came from and the database path.
    Check,
}

/// Where migrations come from.
#[derive(Debug, Clone, Args)]
pub struct MigrationDir {
    /// A directory of V{n}__{name}.sql files with their .down.sql [default: the
    /// reference migrations built into strata].
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
    /// The history namespace of the --dir set: its history is kept in
    /// NAME_schema_history, apart from strata's reference set (refinery_schema_history),
    /// so an application's V1 never meets strata's V1 [default: the default history].
    #[arg(long, value_name = "NAME", requires = "dir")]
    pub namespace: Option<String>,
}

/// `strata migrate ...`
#[derive(Debug, Subcommand)]
pub enum MigrateCommand {
    /// Every migration with its state: applied, pending, divergent, missing.
    Status(MigrationDir),
    /// What `up` would run, in order, with checksums.
    Plan {
        #[command(flatten)]
        dir: MigrationDir,
        /// Stop at this version.
        #[arg(long, value_name = "V")]
        to: Option<i64>,
    },
    /// Apply pending migrations in one transaction.
    Up {
        #[command(flatten)]
        dir: MigrationDir,
        /// Stop at this version.
        #[arg(long, value_name = "V")]
        to: Option<i64>,
        /// Run the batch inside a transaction, report, and roll it back.
        #[arg(long)]
        dry_run: bool,
        /// Do not take the `<db>.pre-V{n}.bak` snapshot first.
        #[arg(long)]
        no_snapshot: bool,
    },
    /// Roll back with the down files, newest first, in one transaction.
    #[command(group(ArgGroup::new("how_far").required(true).multiple(false)))]
    Down {
        #[command(flatten)]
        dir: MigrationDir,
        /// Roll back to this version (0: everything).
        #[arg(long, value_name = "V", group = "how_far")]
        to: Option<i64>,
        /// Roll back this many migrations; more than are applied is refused.
        #[arg(long, value_name = "N", group = "how_far")]
        steps: Option<usize>,
        /// Roll back every applied migration (the same as --to 0).
        #[arg(long, group = "how_far")]
        all: bool,
        /// Run the rollback inside a transaction, report, and roll it back.
        #[arg(long)]
        dry_run: bool,
        /// Do not take the `<db>.pre-down-V{n}.bak` snapshot first.
        #[arg(long)]
        no_snapshot: bool,
    },
    /// Write the next V{n}__{name}.sql and .down.sql with a header comment.
    New {
        /// The migration's name (letters, digits, underscores).
        name: String,
        /// The directory to write into.
        #[arg(long, value_name = "DIR", default_value = "migrations")]
        dir: PathBuf,
    },
    /// Find unsafe statements; exit 1 when there are findings.
    Lint {
        #[command(flatten)]
        dir: MigrationDir,
        /// Also check that up, down, up gives the same schema for every migration.
        #[arg(long)]
        reversible: bool,
    },
    /// Accept applied files that changed only in comments, whitespace or line endings.
    Repair(MigrationDir),
}

/// `strata schema ...`
#[derive(Debug, Subcommand)]
pub enum SchemaCommand {
    /// Tables, columns, indexes, foreign keys, triggers and views of the database.
    Show,
    /// Compare the database with what its migrations produce; exit 1 on drift.
    Check(MigrationDir),
    /// The differences between two database files; exit 1 when they differ.
    Diff {
        /// The database to compare from.
        a: PathBuf,
        /// The database to compare to.
        b: PathBuf,
        /// Show A and B side by side, coloured on a terminal (unless NO_COLOR is set).
        #[arg(long)]
        side_by_side: bool,
    },
    /// SQL that turns the schema of database A into that of database B.
    Generate {
        /// The database to start from.
        a: PathBuf,
        /// The database whose schema to reach.
        b: PathBuf,
    },
    /// Print schema changes made by any process as they happen (with --json, one JSON
    /// object per line), until interrupted: the diff, the drift check, ANALYZE of the
    /// changed tables and PRAGMA optimize, and index advice. Needs an existing database.
    Watch {
        #[command(flatten)]
        dir: MigrationDir,
        /// How often PRAGMA schema_version is read, in milliseconds.
        #[arg(long, value_name = "MS", default_value_t = 1000)]
        interval_ms: u64,
        /// Do not run ANALYZE and PRAGMA optimize after a change.
        #[arg(long)]
        no_optimize: bool,
    },
}

impl Cli {
    /// The config: defaults, then `--config`, then `STRATA_*`, then `--db`. A command
    /// runs for seconds, not as a service: the background monitor and the query
    /// statistics of a service's config stay off (they would overwrite the statistics
    /// the service exported), whatever the file says.
    pub fn config(&self) -> strata::Result<Config> {
        let mut config = Config::load(self.config.as_deref())?;
        if let Some(db) = &self.db {
            config.path = db.clone();
        }
        config.monitor.enabled = false;
        config.monitor.query_stats = false;
        Ok(config)
    }
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::Cli;

    #[test]
    fn the_command_line_definition_is_consistent() {
        Cli::command().debug_assert();
    }
}

/// `strata backup ...`
#[derive(Debug, Subcommand)]
pub enum BackupCommand {
    /// Take a verified online backup (the database stays usable meanwhile).
    Create {
        /// The directory to write into [default: the config's backup.dir, or backups/
        /// beside the database].
        #[arg(long, value_name = "DIR")]
        out: Option<PathBuf>,
    },
    /// The backups of the backup directory, newest first.
    List {
        /// The directory [default: as for create].
        #[arg(long, value_name = "DIR")]
        dir: Option<PathBuf>,
    },
    /// Re-check one backup: sha256 and page count against its manifest, integrity_check.
    Verify {
        /// The backup file.
        file: PathBuf,
    },
    /// Apply the retention of the config (keep_last, keep_daily, keep_weekly).
    Prune {
        /// The directory [default: as for create].
        #[arg(long, value_name = "DIR")]
        dir: Option<PathBuf>,
    },
}
