//! `Config`: every setting strata reads, its defaults, and how it is layered.
//!
//! Order, last wins: built-in defaults, a TOML file, `STRATA_*` environment
//! variables (`STRATA_DB` for the path, `STRATA_POOL__READERS` style for the rest).
//! Unknown keys in the file are an error; every error names the field (E1xxx).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::quota::Quota;
use crate::retry::RetryPolicy;

/// The database path used when neither `--db`, `STRATA_DB` nor the config names one.
pub const DEFAULT_DB_PATH: &str = "strata.db";

/// Everything strata can be configured with; `Config::default()` is ready to use.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// The database file. Environment: `STRATA_DB`.
    pub path: PathBuf,
    /// Connection pool sizes and timeouts.
    pub pool: PoolConfig,
    /// PRAGMAs applied to every connection.
    pub sqlite: SqliteConfig,
    /// Statements slower than `slow_query_ms` are reported through `tracing`.
    pub slow_query_ms: u64,
    /// How Busy and transient failures are retried.
    pub retry: RetryPolicy,
    /// What `Database::open` does about migrations and drift.
    pub schema: SchemaConfig,
    /// The health thresholds and the background monitor.
    pub monitor: MonitorConfig,
    /// Where backups go, how often they are taken and how many are kept.
    pub backup: BackupConfig,
    /// The TTL cache's limits and its background sweeper.
    pub cache: CacheConfig,
    /// Rate limit quotas by key prefix.
    pub ratelimit: RateLimitConfig,
    /// The task queue's timings and limits (`Database::queue`).
    pub queue: QueueConfig,
    /// Who ships the WAL off the machine, and the settings that leaves to it.
    pub replication: ReplicationConfig,
    /// `strata codegen`: the Rust types JSON columns are read into.
    pub codegen: CodegenConfig,
    /// Which tables' writes leave an audit row in the same transaction (off by default).
    pub audit: AuditConfig,
    /// The document store beside the database (`Database::documents`).
    pub documents: DocumentsConfig,
    /// The metrics spill file's bound (`Metrics::record` while the database is unavailable).
    pub metrics: MetricsConfig,
    /// The log level, as `tracing` filter directives (reloadable).
    pub log: LogConfig,
}

/// Logging (the `[log]` section): which `tracing` events an application or the
/// `strata` binary writes. The setting is reloadable: a subscriber built with
/// `strata::log` follows a change of the watched config file.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogConfig {
    /// `tracing_subscriber::EnvFilter` directives: a level (`info`) or comma-separated
    /// directives such as `warn,strata::op=debug`. `None` (the default) leaves the
    /// level to the application (the binary: its `-v`/`-q` default).
    pub level: Option<String>,
}

/// The level names a directive may end in (case does not matter; `0` to `5` too).
const LOG_LEVELS: [&str; 6] = ["off", "error", "warn", "info", "debug", "trace"];

impl LogConfig {
    /// Checks the syntax of `level` (E1012): see [`check_log_directives`].
    pub fn validate(&self) -> Result<()> {
        match &self.level {
            Some(level) => check_log_directives(level),
            None => Ok(()),
        }
    }
}

/// Checks a `tracing` filter directive list the way `tracing_subscriber::EnvFilter`
/// reads it (comma-separated `target[span{field=value}]=level`), without depending on
/// it: every level is one of `off`, `error`, `warn`, `info`, `debug`, `trace` (or
/// `0` to `5`), a target is letters, digits, `_`, `-` and `::`, and a span filter's
/// brackets close. One rule is stricter than `EnvFilter`: a bare word must be a level
/// (`EnvFilter` reads `wran` as "every event of target `wran`", which silences
/// everything else); a target says its level (`strata=trace`). Field values are not
/// checked here: `strata::log::check` (the facade's `log` feature) runs `EnvFilter`'s
/// own parser. Fails with E1012 naming the directive.
pub fn check_log_directives(directives: &str) -> Result<()> {
    let invalid = |directive: &str, reason: String| {
        Err(Error::LogLevelInvalid { directive: directive.to_string(), reason })
    };
    if directives.trim().is_empty() {
        return invalid(directives, "is empty; leave log.level out for the default".into());
    }
    let is_level = |s: &str| {
        LOG_LEVELS.iter().any(|l| l.eq_ignore_ascii_case(s)) || matches!(s, "0" | "1" | "2" | "3" | "4" | "5")
    };
    for directive in directives.split(',').map(str::trim).filter(|d| !d.is_empty()) {
        // `=level` comes after the span filter, whose field values may hold `=` too.
        let tail = directive.rfind(']').map_or(0, |i| i + 1);
        let (head, level) = match directive[tail..].find('=') {
            Some(i) => (&directive[..tail + i], Some(directive[tail + i + 1..].trim())),
            None => (directive, None),
        };
        let (target, span) = match head.find('[') {
            Some(i) => (&head[..i], Some(&head[i..])),
            None => (head, None),
        };
        if let Some(level) = level.filter(|l| !is_level(l)) {
            return invalid(
                directive,
                format!("`{level}` is not a level (off, error, warn, info, debug, trace)"),
            );
        }
        if let Some(span) = span {
            let braces = span.matches('{').count();
            if !span.ends_with(']')
                || span.matches('[').count() != 1
                || braces > 1
                || braces != span.matches('}').count()
            {
                return invalid(directive, "a span filter is `[name]` or `[name{field=value}]`".into());
            }
        }
        if !target.chars().all(|c| c.is_alphanumeric() || matches!(c, '_' | '-' | ':')) {
            return invalid(directive, format!("`{target}` is not a target (letters, digits, _, - and ::)"));
        }
        if target.is_empty() && span.is_none() {
            return invalid(directive, "names a level but no target before `=`".into());
        }
        if level.is_none() && span.is_none() && !is_level(target) {
            return invalid(
                directive,
                format!("`{target}` is not a level; a target needs its level, such as `{target}=debug`"),
            );
        }
    }
    Ok(())
}

/// The document store (strata-repo's `Documents`): where its files live, what it
/// accepts, and how long deleted documents and stray files are kept.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DocumentsConfig {
    /// The store's directory; `None` is `<db>.files/` beside the database
    /// ([`DocumentsConfig::dir_for`]).
    pub dir: Option<PathBuf>,
    /// The largest document, in bytes (default 1 GiB); a larger one is refused while
    /// it streams (E6081).
    pub max_bytes: u64,
    /// MIME types that may be stored (`image/png`, or `image/*` for a family); empty
    /// (the default) allows every type. Anything else is E6082.
    pub allowed_types: Vec<String>,
    /// Seconds a file nobody references must have existed before `gc` removes it
    /// (default 3,600): a put renames its file into place before its row commits, and
    /// `gc` must not take the file of a put in flight.
    pub gc_grace_secs: u64,
    /// Days a soft-deleted document is kept before `purge` removes its row and, when
    /// no other row shares it, its file (default 30).
    pub retention_days: u64,
    /// Watch the store's directory from `Database::open` (when the database has the
    /// `documents` table) and report files changed or removed outside strata as
    /// health findings and `tracing` warnings (default off: one inotify watch per
    /// shard directory).
    pub watch: bool,
}

impl Default for DocumentsConfig {
    fn default() -> Self {
        DocumentsConfig {
            dir: None,
            max_bytes: 1024 * 1024 * 1024,
            allowed_types: Vec::new(),
            gc_grace_secs: 3_600,
            retention_days: 30,
            watch: false,
        }
    }
}

impl DocumentsConfig {
    /// The store's directory for the database at `db`: `dir`, or `<db>.files` (the
    /// database's file name with `.files` appended, in the same directory).
    pub fn dir_for(&self, db: &Path) -> PathBuf {
        match &self.dir {
            Some(dir) => dir.clone(),
            None => {
                let mut name = db.file_name().map(|n| n.to_os_string()).unwrap_or_default();
                name.push(".files");
                db.with_file_name(name)
            }
        }
    }

    /// Whether `mime` may be stored: the allow-list is empty, or names it or its
    /// family (`image/*`).
    pub fn allows(&self, mime: &str) -> bool {
        self.allowed_types.is_empty()
            || self.allowed_types.iter().any(|allowed| match allowed.strip_suffix("/*") {
                Some(family) => mime.split('/').next() == Some(family),
                None => allowed.eq_ignore_ascii_case(mime),
            })
    }

    /// Checks every range (E1003 naming the field under `documents.`).
    pub fn validate(&self) -> Result<()> {
        let invalid = |field: &str, reason: &str| {
            Err(Error::ConfigInvalid { field: format!("documents.{field}"), reason: reason.into() })
        };
        if self.dir.as_ref().is_some_and(|d| d.as_os_str().is_empty()) {
            return invalid("dir", "must not be empty; leave it out for <db>.files/ beside the database");
        }
        if self.max_bytes == 0 {
            return invalid("max_bytes", "must be at least 1 byte");
        }
        if let Some(bad) = self.allowed_types.iter().find(|t| !t.contains('/')) {
            return invalid("allowed_types", &format!("`{bad}` is not a MIME type (type/subtype or type/*)"));
        }
        Ok(())
    }
}

/// Write capture into the `audit` table (the `[audit]` section): every insert, update
/// and delete of a listed table leaves an `audit` row in the same transaction, written
/// by TEMP triggers that `Database::open` installs on the writer connection. Empty
/// (the default) installs nothing, so no write pays for it.
///
/// The section also bounds the audit spill file (`<db>.audit-spill.jsonl`), where
/// `Audit::append` keeps entries while the database is unavailable.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuditConfig {
    /// The tables whose writes are captured, such as `["tasks", "sessions"]`. Each
    /// must exist when the database opens; `audit` itself cannot be listed.
    pub tables: Vec<String>,
    /// The largest size of the audit spill file, in bytes (default 64 MiB): an
    /// entry that would make it larger is refused with E5050 instead of spilled.
    pub spill_max_bytes: u64,
}

/// The metrics repository (the `[metrics]` section): the bound of its spill file
/// (`<db>.metrics-spill.jsonl`), where `Metrics::record` keeps samples while the
/// database is unavailable.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MetricsConfig {
    /// The largest size of the metrics spill file, in bytes (default 64 MiB): samples
    /// that would make it larger are refused with E5052 instead of spilled.
    pub spill_max_bytes: u64,
}

/// The default of `metrics.spill_max_bytes`: 64 MiB, some hundred thousand samples.
pub const DEFAULT_METRICS_SPILL_MAX_BYTES: u64 = 64 * 1024 * 1024;

impl Default for MetricsConfig {
    fn default() -> Self {
        MetricsConfig { spill_max_bytes: DEFAULT_METRICS_SPILL_MAX_BYTES }
    }
}

/// The default of `audit.spill_max_bytes`: 64 MiB, some hundred thousand entries.
pub const DEFAULT_AUDIT_SPILL_MAX_BYTES: u64 = 64 * 1024 * 1024;

impl Default for AuditConfig {
    fn default() -> Self {
        AuditConfig { tables: Vec::new(), spill_max_bytes: DEFAULT_AUDIT_SPILL_MAX_BYTES }
    }
}

impl AuditConfig {
    /// Checks the spill bound (at least 1 byte, E1003 naming `audit.spill_max_bytes`)
    /// and the table names: plain identifiers (letters, digits, `_`, not starting
    /// with a digit), listed once, not `audit` (E1003 naming `audit.tables`).
    pub fn validate(&self) -> Result<()> {
        if self.spill_max_bytes == 0 {
            return Err(Error::ConfigInvalid {
                field: "audit.spill_max_bytes".into(),
                reason: "must be at least 1 byte".into(),
            });
        }
        let invalid = |reason: String| Err(Error::ConfigInvalid { field: "audit.tables".into(), reason });
        for (i, table) in self.tables.iter().enumerate() {
            let plain = table.chars().next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
                && table.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
            if !plain {
                return invalid(format!("`{table}` is not a plain table name (letters, digits, _)"));
            }
            if table.eq_ignore_ascii_case("audit") {
                return invalid("the audit table itself cannot be audited".into());
            }
            if self.tables[..i].iter().any(|t| t.eq_ignore_ascii_case(table)) {
                return invalid(format!("`{table}` is listed twice"));
            }
        }
        Ok(())
    }
}

/// `strata codegen` settings.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CodegenConfig {
    /// `"table.column" = "crate::Type"`: the Rust type a JSON column's text is read
    /// into instead of `serde_json::Value` (the type needs serde's derives).
    pub json_types: BTreeMap<String, String>,
}

/// Replication of the database by a process beside it (the `[replication]` section).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ReplicationConfig {
    /// Which replicator runs beside the database, if any.
    pub mode: ReplicationMode,
}

/// Which replicator owns the WAL. With [`ReplicationMode::Litestream`] strata's
/// connections run with [`Config::connection_settings`]: no checkpoints of strata's own
/// (Litestream must see every WAL frame before it is checkpointed away, so it runs
/// them itself), and at least the busy timeout Litestream's documentation asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReplicationMode {
    /// No replicator: strata checkpoints the WAL itself (`sqlite.wal_autocheckpoint`).
    #[default]
    None,
    /// Litestream (0.5) replicates the database: it owns checkpoints.
    Litestream,
}

impl ReplicationMode {
    /// The name used in the config file and in reports: `none` or `litestream`.
    pub fn as_str(self) -> &'static str {
        match self {
            ReplicationMode::None => "none",
            ReplicationMode::Litestream => "litestream",
        }
    }
}

/// The busy timeout Litestream's documentation recommends (`PRAGMA busy_timeout =
/// 5000`): Litestream takes the write lock briefly for its checkpoints, and a writer
/// must wait that out instead of failing.
pub const LITESTREAM_BUSY_TIMEOUT_MS: u32 = 5_000;

/// The TTL cache (strata-repo's `Cache`): size limits, and the sweeper that
/// `Database::open` starts to delete expired entries.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CacheConfig {
    /// The largest value one entry may hold, in bytes. A larger value is E4010 and
    /// writes nothing.
    pub max_entry_bytes: u64,
    /// The size budget of every namespace, in bytes; `None` is no budget. A set that
    /// takes a namespace over it evicts the namespace's least recently read entries.
    pub max_namespace_bytes: Option<u64>,
    /// Budgets of single namespaces, overriding `max_namespace_bytes`.
    pub namespace_bytes: BTreeMap<String, u64>,
    /// Start the background sweeper in `Database::open` (when the `cache` table exists).
    pub sweeper: bool,
    /// Milliseconds between two sweeps.
    pub sweep_interval_ms: u64,
    /// Expired rows deleted per write (one batch holds the writer for one statement).
    pub sweep_batch: usize,
}

impl Default for CacheConfig {
    fn default() -> Self {
        CacheConfig {
            max_entry_bytes: 1024 * 1024,
            max_namespace_bytes: None,
            namespace_bytes: BTreeMap::new(),
            sweeper: true,
            sweep_interval_ms: 60_000,
            sweep_batch: 500,
        }
    }
}

impl CacheConfig {
    /// The size budget of `namespace`, if it has one.
    pub fn namespace_budget(&self, namespace: &str) -> Option<u64> {
        self.namespace_bytes.get(namespace).copied().or(self.max_namespace_bytes)
    }

    /// Checks every range (E1003 naming the field under `cache.`).
    pub fn validate(&self) -> Result<()> {
        let invalid = |field: &str, reason: &str| {
            Err(Error::ConfigInvalid { field: format!("cache.{field}"), reason: reason.into() })
        };
        if self.max_entry_bytes == 0 {
            return invalid("max_entry_bytes", "must be at least 1 byte");
        }
        if self.max_namespace_bytes == Some(0) {
            return invalid("max_namespace_bytes", "must be at least 1 byte; leave it out for no budget");
        }
        if let Some((name, _)) = self.namespace_bytes.iter().find(|(_, bytes)| **bytes == 0) {
            return invalid(&format!("namespace_bytes.{name}"), "must be at least 1 byte");
        }
        if self.sweep_interval_ms == 0 {
            return invalid("sweep_interval_ms", "must be at least 1");
        }
        if self.sweep_batch == 0 {
            return invalid("sweep_batch", "must be at least 1");
        }
        Ok(())
    }
}

/// Rate limits (strata-repo's `RateLimits`): the quota of each key prefix, for checks
/// that do not pass one. The longest prefix a key starts with wins.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RateLimitConfig {
    /// Quotas by key prefix, such as `"scraper:github" = { limit = 10, period_ms = 1000 }`.
    pub quotas: BTreeMap<String, Quota>,
}

impl RateLimitConfig {
    /// The quota of `key`: the one of the longest prefix it starts with.
    pub fn quota_for(&self, key: &str) -> Option<Quota> {
        self.quotas
            .iter()
            .filter(|(prefix, _)| key.starts_with(prefix.as_str()))
            .max_by_key(|(prefix, _)| prefix.len())
            .map(|(_, quota)| *quota)
    }

    /// Checks every quota (E1003 naming `ratelimit.quotas.<prefix>`).
    pub fn validate(&self) -> Result<()> {
        for (prefix, quota) in &self.quotas {
            if let Err(Error::InvalidQuota { reason, .. }) = quota.emission_interval_us(prefix) {
                return Err(Error::ConfigInvalid { field: format!("ratelimit.quotas.{prefix}"), reason });
            }
        }
        Ok(())
    }
}

/// Health thresholds (used by `strata check` too) and the background monitor that
/// `Database::open` starts when `enabled`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MonitorConfig {
    /// Start the background monitor in `Database::open`.
    pub enabled: bool,
    /// Seconds between two health reports (quick_check).
    pub interval_secs: u64,
    /// Seconds between two full checks (integrity_check) of the monitor; 0 = never.
    pub full_check_secs: u64,
    /// A `-wal` file larger than this many MiB is a warning.
    pub wal_warn_mb: u64,
    /// Less free space than this many MiB on the volume is a warning.
    pub free_disk_warn_mb: u64,
    /// Less free space than this many MiB on the volume is critical.
    pub free_disk_critical_mb: u64,
    /// Less free space than this percentage of the volume is a warning; 0 = off. The
    /// byte and percent thresholds apply to the volume of the database (and its WAL)
    /// and, when elsewhere, the volume of the document store.
    pub free_disk_warn_percent: u8,
    /// Less free space than this percentage of the volume is critical; 0 = off.
    pub free_disk_critical_percent: u8,
    /// A database file larger than this many MiB is a warning; 0 = no limit.
    pub db_size_warn_mb: u64,
    /// Free pages above this percentage of the file are a warning (VACUUM would help).
    pub freelist_warn_percent: u8,
    /// Foreign key violations listed in a report (all are counted).
    pub foreign_key_limit: usize,
    /// Collect per-statement query statistics from the pool's timing hook.
    pub query_stats: bool,
    /// Distinct statements the query statistics keep; later ones are counted as dropped.
    pub query_stats_capacity: usize,
}

impl Default for MonitorConfig {
    fn default() -> Self {
        MonitorConfig {
            enabled: false,
            interval_secs: 60,
            full_check_secs: 86_400,
            wal_warn_mb: 256,
            free_disk_warn_mb: 1_024,
            free_disk_critical_mb: 100,
            free_disk_warn_percent: 0,
            free_disk_critical_percent: 0,
            db_size_warn_mb: 0,
            freelist_warn_percent: 25,
            foreign_key_limit: 20,
            query_stats: false,
            query_stats_capacity: 1_000,
        }
    }
}

/// Backups: directory, schedule and retention.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BackupConfig {
    /// Where backups are written and looked for; `None` is `backups/` beside the
    /// database.
    pub dir: Option<PathBuf>,
    /// Minutes between scheduled backups of the background monitor, counted from the
    /// newest backup in the backup directory (so a restart does not postpone one);
    /// 0 = none.
    pub interval_minutes: u64,
    /// The newest backups always kept by `prune`.
    pub keep_last: usize,
    /// Also keep the newest backup of each of this many most recent days.
    pub keep_daily: usize,
    /// Also keep the newest backup of each of this many most recent ISO weeks.
    pub keep_weekly: usize,
}

impl Default for BackupConfig {
    fn default() -> Self {
        BackupConfig { dir: None, interval_minutes: 0, keep_last: 3, keep_daily: 7, keep_weekly: 4 }
    }
}

impl BackupConfig {
    /// The backup directory for the database at `db`: `dir`, or `backups/` beside it.
    pub fn dir_for(&self, db: &Path) -> PathBuf {
        match &self.dir {
            Some(dir) => dir.clone(),
            None => {
                db.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new(".")).join("backups")
            }
        }
    }
}

/// What `Database::open` does about the schema.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SchemaConfig {
    /// The migration sets `Database::open` applies, in order, each in its own history
    /// namespace: `["reference"]` by default. In the file, one value or a list:
    /// `"reference"`, `"none"`, or `{ dir = "migrations", namespace = "app" }` (the
    /// application's own directory, read at open).
    #[serde(deserialize_with = "one_or_many")]
    pub migrations: Vec<Migrations>,
    /// What a schema that drifted from its migrations does at open.
    pub drift: DriftPolicy,
    /// What tables that no migration set creates do at open (with `drift` not `off`):
    /// reported (a warning and `OpenReport::drift`) by default, or fatal (E3014).
    pub unknown_tables: UnknownTables,
    /// Take a `<db>.pre-V{n}.bak` snapshot before migrating an existing database.
    pub snapshot: bool,
    /// Snapshots (`pre-V*` and `pre-down-V*`) kept per database: after a migration
    /// that took one succeeded, older ones beyond this many are removed; 0 keeps all.
    pub snapshot_keep: usize,
}

/// The history namespace of a `{ dir = ... }` set that names none.
pub const DEFAULT_APP_NAMESPACE: &str = "app";

/// One migration set to apply: an element of `schema.migrations`, or of the list
/// given to `Database::open_with` (`[Migrations::Reference, own.into()]`). Each set
/// keeps its history in its own namespace, so an application's `V1` never meets
/// strata's `V1`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Migrations {
    /// The reference schema in strata's `migrations/`, built into the library
    /// (`"reference"` in the file). Its history is the default namespace.
    Reference,
    /// An application's own directory of `V{n}__{name}.sql` files (down files
    /// optional), read when the database opens (`{ dir = "migrations", namespace =
    /// "app" }` in the file; the namespace defaults to `app`).
    Dir {
        /// The directory, relative to the working directory.
        dir: PathBuf,
        /// The history namespace: `{namespace}_schema_history`.
        namespace: String,
    },
    /// An application's own set built in code (`strata::embed_migrations!`,
    /// `MigrationSet::from_dir`, ...): `Migrations::from(set)` makes one. Not
    /// expressible in the file.
    Set(SetSources),
    /// No migrations and no drift check (`"none"` in the file).
    None,
}

/// A migration set as plain data, so that this crate (below strata-schema) can carry
/// one: strata-schema's `MigrationSet` converts into `Migrations::Set` and back, and
/// only a set that passed its checks is ever turned into one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SetSources {
    /// The history namespace; `None` for the default one (strata's).
    pub namespace: Option<String>,
    /// `(stem, up SQL, down SQL)` of every migration, in version order.
    pub migrations: Vec<(String, String, Option<String>)>,
}

/// One `Migrations` is a list of one, so that `Database::open_with` takes either.
impl IntoIterator for Migrations {
    type Item = Migrations;
    type IntoIter = std::iter::Once<Migrations>;

    fn into_iter(self) -> Self::IntoIter {
        std::iter::once(self)
    }
}

impl Serialize for Migrations {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> std::result::Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        match self {
            Migrations::Reference => serializer.serialize_str("reference"),
            Migrations::None => serializer.serialize_str("none"),
            Migrations::Dir { dir, namespace } => {
                let mut map = serializer.serialize_map(Some(2))?;
                map.serialize_entry("dir", dir)?;
                map.serialize_entry("namespace", namespace)?;
                map.end()
            }
            // Shown (`strata config`), never read back: a file cannot name code.
            Migrations::Set(set) => {
                let mut map = serializer.serialize_map(Some(2))?;
                map.serialize_entry("embedded", &set.migrations.len())?;
                map.serialize_entry("namespace", &set.namespace)?;
                map.end()
            }
        }
    }
}

/// Reads `"reference"`, `"none"` and `{ dir = "...", namespace = "..." }`.
struct MigrationsVisitor;

impl<'de> serde::de::Visitor<'de> for MigrationsVisitor {
    type Value = Migrations;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("\"reference\", \"none\" or { dir = \"...\", namespace = \"...\" }")
    }

    fn visit_str<E: serde::de::Error>(self, value: &str) -> std::result::Result<Migrations, E> {
        match value {
            "reference" => Ok(Migrations::Reference),
            "none" => Ok(Migrations::None),
            other => Err(E::unknown_variant(other, &["reference", "none", "{ dir = ... }"])),
        }
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(
        self,
        mut map: A,
    ) -> std::result::Result<Migrations, A::Error> {
        let (mut dir, mut namespace) = (None::<PathBuf>, None::<String>);
        while let Some(key) = map.next_key::<String>()? {
            match key.as_str() {
                "dir" => dir = Some(map.next_value()?),
                "namespace" => namespace = Some(map.next_value()?),
                other => return Err(serde::de::Error::unknown_field(other, &["dir", "namespace"])),
            }
        }
        let dir = dir.ok_or_else(|| serde::de::Error::missing_field("dir"))?;
        Ok(Migrations::Dir { dir, namespace: namespace.unwrap_or_else(|| DEFAULT_APP_NAMESPACE.to_string()) })
    }
}

impl<'de> Deserialize<'de> for Migrations {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> std::result::Result<Self, D::Error> {
        deserializer.deserialize_any(MigrationsVisitor)
    }
}

/// `schema.migrations`: one set (`"reference"`) or a list of them.
fn one_or_many<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> std::result::Result<Vec<Migrations>, D::Error> {
    struct List;
    impl<'de> serde::de::Visitor<'de> for List {
        type Value = Vec<Migrations>;

        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("a migration set or a list of them")
        }

        fn visit_str<E: serde::de::Error>(self, value: &str) -> std::result::Result<Self::Value, E> {
            MigrationsVisitor.visit_str(value).map(|m| vec![m])
        }

        fn visit_map<A: serde::de::MapAccess<'de>>(
            self,
            map: A,
        ) -> std::result::Result<Self::Value, A::Error> {
            MigrationsVisitor.visit_map(map).map(|m| vec![m])
        }

        fn visit_seq<A: serde::de::SeqAccess<'de>>(
            self,
            mut seq: A,
        ) -> std::result::Result<Self::Value, A::Error> {
            let mut out = Vec::new();
            while let Some(one) = seq.next_element::<Migrations>()? {
                out.push(one);
            }
            Ok(out)
        }
    }
    deserializer.deserialize_any(List)
}

/// What tables that no migration set knows do at open.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UnknownTables {
    /// They are reported (a warning, and listed in the drift report); opening goes on.
    #[default]
    Report,
    /// They count as drift: with `drift = "error"` opening fails with E3014.
    Error,
}

/// What a drift between the live schema and the migrations does at open.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DriftPolicy {
    /// Opening fails with E3014 and the diff.
    Error,
    /// Opening goes on; the diff is logged as a warning.
    Warn,
    /// No drift check.
    Off,
}

impl Default for SchemaConfig {
    fn default() -> Self {
        SchemaConfig {
            migrations: vec![Migrations::Reference],
            drift: DriftPolicy::Error,
            unknown_tables: UnknownTables::Report,
            snapshot: true,
            snapshot_keep: 3,
        }
    }
}

/// Sizes and timeouts of the reader pool and the writer queue.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PoolConfig {
    /// Reader connections (`query_only`), 1 to 64.
    pub readers: usize,
    /// How long `read` waits for a reader and `write` for room in the queue.
    pub acquire_timeout_ms: u64,
    /// Write closures that may wait for the writer thread; more is back-pressure.
    pub write_queue: usize,
    /// Most closures committed together in one group-commit transaction.
    pub write_batch_max: usize,
    /// How long the writer may wait for more closures before committing a batch, when
    /// the previous batch held several (writers are concurrent); a lone writer never
    /// waits. The writer waits no longer than a quarter of what its commits have been
    /// taking, so on a fast disk the wait is shorter. 0 takes only what is already queued.
    pub write_batch_wait_us: u64,
    /// Longest time an explicit transaction (`Pool::transaction`) may hold the
    /// writer, from its BEGIN; past it the writer rolls it back (E2050) and takes
    /// other writes again. 1 to 600000 (10 minutes).
    pub transaction_max_ms: u64,
    /// While the pool is degraded or unavailable (the file removed or replaced, a
    /// connection lost), calls wait for it to be healthy again, up to
    /// `acquire_timeout_ms`, instead of failing fast with E2040 (default off: fail
    /// fast). Either way a call still unanswered at the timeout fails with E2040.
    pub wait_when_unavailable: bool,
}

/// The tunable PRAGMAs. `journal_mode=WAL`, `foreign_keys=ON` and `temp_store=MEMORY`
/// are fixed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SqliteConfig {
    /// `PRAGMA busy_timeout`, milliseconds.
    pub busy_timeout_ms: u32,
    /// `PRAGMA cache_size`: pages if positive, KiB if negative.
    pub cache_size: i64,
    /// `PRAGMA mmap_size`, bytes; 0 turns memory mapping off.
    pub mmap_size: i64,
    /// `PRAGMA journal_size_limit`, bytes; -1 for no limit.
    pub journal_size_limit: i64,
    /// `PRAGMA wal_autocheckpoint`, pages; 0 leaves checkpoints to someone else
    /// (an external replicator such as Litestream). strata-pool checkpoints on a
    /// background thread once half of it is waiting, so commits rarely pay for one.
    pub wal_autocheckpoint: u32,
    /// `PRAGMA synchronous`: how durable a commit is, traded against its speed. See
    /// [`Synchronous`] for what each level survives.
    pub synchronous: Synchronous,
}

/// `PRAGMA synchronous` in WAL mode: what an acknowledged commit survives.
///
/// | level    | process crash | power loss or OS crash | cost per commit                  |
/// |----------|---------------|------------------------|----------------------------------|
/// | `normal` | survives      | the last commits may be lost (the database stays consistent) | no fsync; the WAL is synced at checkpoints |
/// | `full`   | survives      | survives               | one fsync of the WAL per commit  |
///
/// strata group-commits concurrent writes, so under `full` one fsync covers a whole
/// batch of write closures; a lone writer pays one fsync per write.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Synchronous {
    /// `synchronous=NORMAL`: commits survive a crash of the process, not necessarily a
    /// power loss or an OS crash. The default: fast, and never corrupts the database.
    #[default]
    Normal,
    /// `synchronous=FULL`: every commit is on stable storage before it is
    /// acknowledged; for services that must not lose an acknowledged write.
    Full,
}

impl Synchronous {
    /// The PRAGMA's value: `NORMAL` or `FULL`.
    pub fn pragma_value(self) -> &'static str {
        match self {
            Synchronous::Normal => "NORMAL",
            Synchronous::Full => "FULL",
        }
    }
}

impl Default for Config {
    fn default() -> Self {
        Config {
            path: PathBuf::from(DEFAULT_DB_PATH),
            pool: PoolConfig::default(),
            sqlite: SqliteConfig::default(),
            slow_query_ms: 100,
            retry: RetryPolicy::default(),
            schema: SchemaConfig::default(),
            monitor: MonitorConfig::default(),
            backup: BackupConfig::default(),
            cache: CacheConfig::default(),
            ratelimit: RateLimitConfig::default(),
            queue: QueueConfig::default(),
            codegen: CodegenConfig::default(),
            replication: ReplicationConfig::default(),
            audit: AuditConfig::default(),
            documents: DocumentsConfig::default(),
            metrics: MetricsConfig::default(),
            log: LogConfig::default(),
        }
    }
}

impl Default for PoolConfig {
    fn default() -> Self {
        PoolConfig {
            readers: 4,
            acquire_timeout_ms: 5_000,
            write_queue: 1_024,
            write_batch_max: 256,
            write_batch_wait_us: 200,
            transaction_max_ms: 5_000,
            wait_when_unavailable: false,
        }
    }
}

impl Default for SqliteConfig {
    fn default() -> Self {
        SqliteConfig {
            busy_timeout_ms: 5_000,
            cache_size: -16_384,
            mmap_size: 256 * 1024 * 1024,
            journal_size_limit: 64 * 1024 * 1024,
            wal_autocheckpoint: 1_000,
            synchronous: Synchronous::Normal,
        }
    }
}

/// The top-level keys an environment variable may address.
const ENV_SECTIONS: &[&str] = &[
    "path",
    "pool",
    "sqlite",
    "slow_query_ms",
    "retry",
    "schema",
    "monitor",
    "backup",
    "cache",
    "ratelimit",
    "queue",
    "replication",
    "codegen",
    "audit",
    "documents",
    "metrics",
    "log",
];

impl Config {
    /// Defaults with the database at `path`.
    pub fn for_path(path: impl Into<PathBuf>) -> Self {
        Config { path: path.into(), ..Config::default() }
    }

    /// The PRAGMAs strata's connections actually run with: `sqlite`, adjusted for the
    /// replicator. With `replication.mode = "litestream"`, `wal_autocheckpoint` is 0
    /// (neither SQLite's autocheckpoint nor strata's checkpointer thread run: Litestream
    /// owns checkpoints) and `busy_timeout_ms` is at least
    /// [`LITESTREAM_BUSY_TIMEOUT_MS`]. `journal_size_limit` stays as configured: it
    /// bounds the WAL whenever a checkpoint (Litestream's) resets it.
    pub fn connection_settings(&self) -> SqliteConfig {
        let mut sqlite = self.sqlite.clone();
        if self.replication.mode == ReplicationMode::Litestream {
            sqlite.wal_autocheckpoint = 0;
            sqlite.busy_timeout_ms = sqlite.busy_timeout_ms.max(LITESTREAM_BUSY_TIMEOUT_MS);
        }
        sqlite
    }

    /// Defaults, then `file` (when given), then `STRATA_*` variables; validated.
    pub fn load(file: Option<&Path>) -> Result<Self> {
        let mut figment = Figment::from(Serialized::defaults(Config::default()));
        if let Some(file) = file {
            let text = std::fs::read_to_string(file)
                .map_err(|e| Error::ConfigRead { path: file.to_path_buf(), message: e.to_string() })?;
            figment = figment.merge(Toml::string(&text));
        }
        let env = Env::prefixed("STRATA_")
            .map(|key| {
                if key == "db" {
                    "path".into()
                } else {
                    key.as_str().to_ascii_lowercase().replace("__", ".").into()
                }
            })
            .filter(|key| {
                ENV_SECTIONS.iter().any(|s| key == *s || key.as_str().starts_with(&format!("{s}.")))
            });
        extract(figment.merge(env))
    }

    /// Parses a TOML document over the defaults (no environment); validated.
    pub fn from_toml_str(text: &str) -> Result<Self> {
        extract(Figment::from(Serialized::defaults(Config::default())).merge(Toml::string(text)))
    }

    /// Checks every range; the error names the first offending field.
    pub fn validate(&self) -> Result<()> {
        let invalid = |field: &str, reason: &str| {
            Err(Error::ConfigInvalid { field: field.into(), reason: reason.into() })
        };
        if self.path.as_os_str().is_empty() {
            return invalid("path", "must not be empty");
        }
        if !(1..=64).contains(&self.pool.readers) {
            return invalid("pool.readers", "must be between 1 and 64");
        }
        if self.pool.acquire_timeout_ms == 0 {
            return invalid("pool.acquire_timeout_ms", "must be at least 1");
        }
        if self.pool.write_queue == 0 {
            return invalid("pool.write_queue", "must be at least 1");
        }
        if self.pool.write_batch_max == 0 {
            return invalid("pool.write_batch_max", "must be at least 1");
        }
        if self.pool.write_batch_wait_us > 100_000 {
            return invalid("pool.write_batch_wait_us", "must be at most 100000 (100 ms)");
        }
        if !(1..=600_000).contains(&self.pool.transaction_max_ms) {
            return invalid("pool.transaction_max_ms", "must be between 1 and 600000 (10 minutes)");
        }
        if self.sqlite.mmap_size < 0 {
            return invalid("sqlite.mmap_size", "must be 0 or more bytes");
        }
        if self.sqlite.journal_size_limit < -1 {
            return invalid("sqlite.journal_size_limit", "must be -1 (no limit) or more");
        }
        if self.monitor.interval_secs == 0 {
            return invalid("monitor.interval_secs", "must be at least 1");
        }
        if self.monitor.freelist_warn_percent > 100 {
            return invalid("monitor.freelist_warn_percent", "must be between 0 and 100");
        }
        if self.monitor.free_disk_critical_mb > self.monitor.free_disk_warn_mb {
            return invalid("monitor.free_disk_critical_mb", "must not exceed monitor.free_disk_warn_mb");
        }
        if self.monitor.free_disk_warn_percent > 100 {
            return invalid("monitor.free_disk_warn_percent", "must be between 0 and 100");
        }
        if self.monitor.free_disk_critical_percent > self.monitor.free_disk_warn_percent
            && self.monitor.free_disk_warn_percent > 0
        {
            return invalid(
                "monitor.free_disk_critical_percent",
                "must not exceed monitor.free_disk_warn_percent",
            );
        }
        if self.monitor.free_disk_critical_percent > 100 {
            return invalid("monitor.free_disk_critical_percent", "must be between 0 and 100");
        }
        if self.monitor.query_stats_capacity == 0 {
            return invalid("monitor.query_stats_capacity", "must be at least 1");
        }
        if self.backup.keep_last == 0 {
            return invalid("backup.keep_last", "must be at least 1: prune never removes every backup");
        }
        if self.backup.dir.as_ref().is_some_and(|d| d.as_os_str().is_empty()) {
            return invalid("backup.dir", "must not be empty; leave it out for backups/ beside the database");
        }
        self.cache.validate()?;
        self.ratelimit.validate()?;
        self.audit.validate()?;
        self.documents.validate()?;
        if self.metrics.spill_max_bytes == 0 {
            return invalid("metrics.spill_max_bytes", "must be at least 1 byte");
        }
        self.log.validate()?;
        if let Err(Error::InvalidInput { field, reason }) = self.queue.validate() {
            return invalid(&format!("queue.{field}"), &reason);
        }
        self.retry.validate()
    }
}

/// One setting as a running database's config reload sees it: its dotted name in
/// the config file and whether a running database takes a new value.
#[derive(Clone, Copy)]
pub struct Setting {
    /// The dotted name (`retry`, `monitor.interval_secs`): a whole section when every
    /// field of it behaves alike.
    pub name: &'static str,
    /// Whether a running database applies a changed value (`Database::watch_config`);
    /// a change to any other setting is reported (E1010) and ignored until a restart.
    pub reloadable: bool,
    differs: fn(&Config, &Config) -> bool,
    take: fn(&mut Config, &Config),
}

impl std::fmt::Debug for Setting {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Setting").field("name", &self.name).field("reloadable", &self.reloadable).finish()
    }
}

macro_rules! settings {
    ($($name:literal $reloadable:literal $($field:ident).+;)*) => {
        /// Every setting, reloadable or not: the ONE place that says which settings a
        /// running database reloads. Each field of [`Config`] is covered by exactly
        /// one row (a test checks it).
        pub const SETTINGS: &[Setting] = &[$(Setting {
            name: $name,
            reloadable: $reloadable,
            differs: |a, b| a.$($field).+ != b.$($field).+,
            take: |to, from| to.$($field).+ = from.$($field).+.clone(),
        }),*];
    };
}

settings! {
    "path" false path;
    "pool.readers" false pool.readers;
    "pool.acquire_timeout_ms" false pool.acquire_timeout_ms;
    "pool.write_queue" false pool.write_queue;
    "pool.write_batch_max" false pool.write_batch_max;
    "pool.write_batch_wait_us" false pool.write_batch_wait_us;
    "pool.transaction_max_ms" false pool.transaction_max_ms;
    "pool.wait_when_unavailable" true pool.wait_when_unavailable;
    "sqlite" false sqlite;
    "slow_query_ms" true slow_query_ms;
    "retry" true retry;
    "schema" false schema;
    "monitor.enabled" false monitor.enabled;
    "monitor.interval_secs" true monitor.interval_secs;
    "monitor.full_check_secs" true monitor.full_check_secs;
    "monitor.wal_warn_mb" true monitor.wal_warn_mb;
    "monitor.free_disk_warn_mb" true monitor.free_disk_warn_mb;
    "monitor.free_disk_critical_mb" true monitor.free_disk_critical_mb;
    "monitor.free_disk_warn_percent" true monitor.free_disk_warn_percent;
    "monitor.free_disk_critical_percent" true monitor.free_disk_critical_percent;
    "monitor.db_size_warn_mb" true monitor.db_size_warn_mb;
    "monitor.freelist_warn_percent" true monitor.freelist_warn_percent;
    "monitor.foreign_key_limit" true monitor.foreign_key_limit;
    "monitor.query_stats" false monitor.query_stats;
    "monitor.query_stats_capacity" false monitor.query_stats_capacity;
    "backup.dir" false backup.dir;
    "backup.interval_minutes" true backup.interval_minutes;
    "backup.keep_last" true backup.keep_last;
    "backup.keep_daily" true backup.keep_daily;
    "backup.keep_weekly" true backup.keep_weekly;
    "cache.max_entry_bytes" true cache.max_entry_bytes;
    "cache.max_namespace_bytes" true cache.max_namespace_bytes;
    "cache.namespace_bytes" true cache.namespace_bytes;
    "cache.sweeper" false cache.sweeper;
    "cache.sweep_interval_ms" true cache.sweep_interval_ms;
    "cache.sweep_batch" true cache.sweep_batch;
    "ratelimit" true ratelimit;
    "queue" false queue;
    "replication" false replication;
    "codegen" false codegen;
    "audit" false audit;
    "documents" false documents;
    "metrics" false metrics;
    "log.level" true log.level;
}

/// What a reloaded config file changes in a running one ([`Config::reload`]).
#[derive(Debug, Clone, PartialEq)]
pub struct Reload {
    /// The running config with every changed reloadable setting taken from the file.
    pub config: Config,
    /// The reloadable settings that changed (and were taken), by name.
    pub applied: Vec<&'static str>,
    /// The settings that changed but cannot be reloaded (kept as running), by name.
    pub ignored: Vec<&'static str>,
}

impl Config {
    /// Compares a config file as loaded before (`before`) and now (`after`) and
    /// applies what changed to `self`, the running config: each changed reloadable
    /// setting (see [`SETTINGS`]) is taken from `after`, each changed setting that is
    /// not reloadable is listed in [`Reload::ignored`] and kept. Comparing file with
    /// file, not file with the running config, means a setting the application set in
    /// code and the file does not name is never reported. The result is validated
    /// (E1003 for a combination out of range, such as a warning threshold below the
    /// critical one).
    pub fn reload(&self, before: &Config, after: &Config) -> Result<Reload> {
        let mut config = self.clone();
        let (mut applied, mut ignored) = (Vec::new(), Vec::new());
        for setting in SETTINGS.iter().filter(|s| (s.differs)(before, after)) {
            if setting.reloadable {
                (setting.take)(&mut config, after);
                applied.push(setting.name);
            } else {
                ignored.push(setting.name);
            }
        }
        config.validate()?;
        Ok(Reload { config, applied, ignored })
    }
}

/// How strata-repo's queue behaves (the `[queue]` section); every time is in
/// milliseconds. Deserializes from a partial table (missing fields take their
/// defaults).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct QueueConfig {
    /// How long `Queue::next` waits, at most, before it looks again when nothing
    /// woke it (default 1,000 ms).
    pub poll_interval_ms: u64,
    /// The lease `Queue::default_lease` suggests to workers (default 30,000 ms).
    pub lease_ms: u64,
    /// The first retry's backoff (default 1,000 ms); it doubles with every attempt.
    pub retry_base_ms: u64,
    /// The longest backoff (default 3,600,000 ms, one hour).
    pub retry_max_ms: u64,
    /// Claims a task gets when its `NewTask` does not say (default 3).
    pub max_attempts: u32,
    /// Tasks per write transaction in `Queue::enqueue_chunked` (per statement group
    /// in `Queue::enqueue_batch`) and rows per transaction in `Queue::purge_dead`
    /// (default 500).
    pub batch_size: usize,
}

impl Default for QueueConfig {
    fn default() -> Self {
        QueueConfig {
            poll_interval_ms: 1_000,
            lease_ms: 30_000,
            retry_base_ms: 1_000,
            retry_max_ms: 3_600_000,
            max_attempts: 3,
            batch_size: 500,
        }
    }
}

impl QueueConfig {
    /// The backoff of a failed task's retry as a [`RetryPolicy`](crate::RetryPolicy):
    /// `retry_base_ms` doubling per attempt up to `retry_max_ms`, with equal jitter.
    /// Only its delays are used; the attempts are each task's own `max_attempts`.
    pub fn retry_policy(&self) -> crate::RetryPolicy {
        crate::RetryPolicy {
            initial_delay_ms: self.retry_base_ms,
            max_delay_ms: self.retry_max_ms,
            jitter: true,
            ..crate::RetryPolicy::default()
        }
    }

    /// Checks every field, naming the one at fault (E6001).
    pub fn validate(&self) -> Result<()> {
        let positive: [(&str, u64); 3] = [
            ("poll_interval_ms", self.poll_interval_ms),
            ("lease_ms", self.lease_ms),
            ("retry_max_ms", self.retry_max_ms),
        ];
        for (field, value) in positive {
            if value == 0 {
                return Err(Error::invalid(field, "must be greater than 0"));
            }
        }
        if self.retry_base_ms > self.retry_max_ms {
            return Err(Error::invalid("retry_base_ms", "must not be greater than retry_max_ms"));
        }
        if self.max_attempts == 0 {
            return Err(Error::invalid("max_attempts", "must be at least 1"));
        }
        if self.batch_size == 0 || self.batch_size > 10_000 {
            return Err(Error::invalid("batch_size", "must be between 1 and 10000"));
        }
        Ok(())
    }
}

fn extract(figment: Figment) -> Result<Config> {
    // The form before `schema.migrations` named directories: say what to write instead.
    for old in ["schema.dir", "schema.namespace"] {
        if figment.find_value(old).is_ok() {
            return Err(Error::ConfigParse {
                field: old.into(),
                message: "replaced by schema.migrations: write migrations = [\"reference\", \
                          { dir = \"migrations\", namespace = \"app\" }]"
                    .into(),
            });
        }
    }
    let config: Config = figment.extract().map_err(from_figment)?;
    config.validate()?;
    Ok(config)
}

/// Turns figment's error into E1002 with the dotted field path.
fn from_figment(err: figment::Error) -> Error {
    let mut path = err.path.clone();
    if let figment::error::Kind::UnknownField(name, _) = &err.kind
        && path.last() != Some(name)
    {
        path.push(name.clone());
    }
    let source = err.metadata.as_ref().map(|m| format!(" (from {})", m.name)).unwrap_or_default();
    let message = match &err.kind {
        figment::error::Kind::UnknownField(..) => "unknown key".to_string(),
        kind => kind.to_string(),
    };
    Error::ConfigParse { field: path.join("."), message: format!("{message}{source}") }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_match_the_design() {
        let config = Config::default();
        config.validate().unwrap();
        assert_eq!(config.path, PathBuf::from("strata.db"));
        assert_eq!(config.sqlite.busy_timeout_ms, 5_000);
        assert_eq!(config.sqlite.wal_autocheckpoint, 1_000);
    }

    #[test]
    fn toml_overrides_defaults_and_zero_autocheckpoint_is_allowed() {
        let config = Config::from_toml_str(
            "path = \"/tmp/x.db\"\n[pool]\nreaders = 2\n[sqlite]\nwal_autocheckpoint = 0\n[retry]\nmax_attempts = 3\n",
        )
        .unwrap();
        assert_eq!(config.pool.readers, 2);
        assert_eq!(config.sqlite.wal_autocheckpoint, 0);
        assert_eq!(config.retry.max_attempts, 3);
        assert_eq!(config.pool.acquire_timeout_ms, PoolConfig::default().acquire_timeout_ms);
    }

    #[test]
    fn schema_policies_parse_by_name_and_refuse_unknown_ones() {
        let config = Config::from_toml_str("[schema]\nmigrations = \"none\"\ndrift = \"warn\"\n").unwrap();
        assert_eq!(config.schema.migrations, vec![Migrations::None]);
        assert_eq!(config.schema.drift, DriftPolicy::Warn);
        let err = Config::from_toml_str("[schema]\ndrift = \"sometimes\"\n").unwrap_err();
        assert_eq!(err.code(), "E1002");
        assert!(err.to_string().contains("`schema.drift`"), "{err}");
    }

    /// Issue 17 section 8: the form before `schema.migrations` named directories is
    /// refused with E1002 saying what to write instead.
    #[test]
    fn the_old_schema_dir_and_namespace_keys_are_e1002_naming_the_new_form() {
        for old in ["[schema]\ndir = \"migrations\"\n", "[schema]\nnamespace = \"app\"\n"] {
            let err = Config::from_toml_str(old).unwrap_err();
            assert_eq!(err.code(), "E1002", "{err}");
            assert!(err.to_string().contains("replaced by schema.migrations"), "{err}");
        }
    }

    /// Issue 17 section 8: `schema.migrations` is one value or a list of the one
    /// `Migrations` enum, a directory among them; what it reads writes back the same.
    #[test]
    fn schema_migrations_reads_one_set_or_a_list_with_directories() {
        let one = Config::from_toml_str("[schema]\nmigrations = { dir = \"m\" }\n").unwrap();
        let dir = Migrations::Dir { dir: "m".into(), namespace: DEFAULT_APP_NAMESPACE.into() };
        assert_eq!(one.schema.migrations, std::slice::from_ref(&dir));
        let list = "[schema]\nmigrations = [\"reference\", { dir = \"m\", namespace = \"app\" }]\n";
        let list = Config::from_toml_str(list).unwrap();
        assert_eq!(list.schema.migrations, [Migrations::Reference, dir]);
        let back = Figment::from(Serialized::defaults(list.clone())).extract::<Config>().unwrap();
        assert_eq!(back, list);
        let err = Config::from_toml_str("[schema]\nmigrations = \"mine\"\n").unwrap_err();
        assert_eq!(err.code(), "E1002", "{err}");
        assert!(err.to_string().contains("schema.migrations"), "{err}");
        let err =
            Config::from_toml_str("[schema]\nmigrations = { dir = \"m\", name = \"x\" }\n").unwrap_err();
        assert!(err.to_string().contains("name"), "{err}");
    }

    #[test]
    fn synchronous_defaults_to_normal_parses_full_and_refuses_other_levels() {
        assert_eq!(Config::default().sqlite.synchronous, Synchronous::Normal);
        let config = Config::from_toml_str("[sqlite]\nsynchronous = \"full\"\n").unwrap();
        assert_eq!(config.sqlite.synchronous, Synchronous::Full);
        assert_eq!(config.sqlite.synchronous.pragma_value(), "FULL");
        for bad in ["\"off\"", "\"extra\"", "\"FULL\"", "2"] {
            let err = Config::from_toml_str(&format!("[sqlite]\nsynchronous = {bad}\n")).unwrap_err();
            assert_eq!(err.code(), "E1002", "{bad}");
            assert!(err.to_string().contains("`sqlite.synchronous`"), "{bad}: {err}");
        }
    }

    #[test]
    fn a_bad_value_names_its_field() {
        let err = Config::from_toml_str("[pool]\nreaders = \"many\"\n").unwrap_err();
        assert_eq!(err.code(), "E1002");
        assert!(err.to_string().contains("`pool.readers`"), "{err}");
    }

    #[test]
    fn an_unknown_key_is_an_error_naming_it() {
        let err = Config::from_toml_str("[sqlite]\nbusy_timout_ms = 10\n").unwrap_err();
        assert_eq!(err.code(), "E1002");
        assert!(err.to_string().contains("`sqlite.busy_timout_ms`"), "{err}");
        let err = Config::from_toml_str("colour = \"blue\"\n").unwrap_err();
        assert!(err.to_string().contains("`colour`"), "{err}");
    }

    #[test]
    fn out_of_range_values_fail_validation_with_the_field() {
        let err = Config::from_toml_str("[pool]\nreaders = 0\n").unwrap_err();
        assert_eq!(err.code(), "E1003");
        assert!(err.to_string().contains("`pool.readers`"), "{err}");
        let err = Config::from_toml_str("[sqlite]\nmmap_size = -5\n").unwrap_err();
        assert!(err.to_string().contains("`sqlite.mmap_size`"), "{err}");
    }

    #[test]
    fn the_audit_section_lists_plain_table_names_and_is_empty_by_default() {
        assert!(Config::default().audit.tables.is_empty(), "write capture is off by default");
        let config = Config::from_toml_str("[audit]\ntables = [\"tasks\", \"sessions\"]\n").unwrap();
        assert_eq!(config.audit.tables, ["tasks", "sessions"]);
        for (toml, reason) in [
            ("[audit]\ntables = [\"tasks; drop\"]\n", "not a plain table name"),
            ("[audit]\ntables = [\"Audit\"]\n", "cannot be audited"),
            ("[audit]\ntables = [\"tasks\", \"TASKS\"]\n", "listed twice"),
            ("[audit]\ntables = [\"\"]\n", "not a plain table name"),
        ] {
            let err = Config::from_toml_str(toml).unwrap_err();
            assert_eq!(err.code(), "E1003", "{toml}");
            assert!(err.to_string().contains("`audit.tables`") && err.to_string().contains(reason), "{err}");
        }
    }

    #[test]
    fn cache_and_rate_limit_sections_parse_and_name_bad_fields() {
        let config = Config::from_toml_str(
            "[cache]\nmax_namespace_bytes = 4096\nsweep_interval_ms = 10\n[cache.namespace_bytes]\npages = 100\n\
             [ratelimit.quotas]\n\"scraper:\" = { limit = 100, period_ms = 1000 }\n\
             \"scraper:github\" = { limit = 10, period_ms = 60000, burst = 2 }\n",
        )
        .unwrap();
        assert_eq!(config.cache.namespace_budget("pages"), Some(100));
        assert_eq!(config.cache.namespace_budget("other"), Some(4096));
        assert_eq!(config.cache.sweep_interval_ms, 10);
        assert!(config.cache.sweeper);
        let github = Quota { limit: 10, period_ms: 60_000, burst: 2 };
        assert_eq!(config.ratelimit.quota_for("scraper:github:api"), Some(github));
        assert_eq!(config.ratelimit.quota_for("scraper:gitlab"), Some(Quota::per_second(100)));
        assert_eq!(config.ratelimit.quota_for("mailer"), None);

        for (toml, field) in [
            ("[cache]\nmax_entry_bytes = 0\n", "`cache.max_entry_bytes`"),
            ("[cache]\nsweep_batch = 0\n", "`cache.sweep_batch`"),
            ("[cache.namespace_bytes]\npages = 0\n", "`cache.namespace_bytes.pages`"),
            ("[ratelimit.quotas]\napi = { limit = 0, period_ms = 1000 }\n", "`ratelimit.quotas.api`"),
        ] {
            let err = Config::from_toml_str(toml).unwrap_err();
            assert_eq!(err.code(), "E1003", "{toml}");
            assert!(err.to_string().contains(field), "{toml}: {err}");
        }
        let err = Config::from_toml_str("[ratelimit.quotas]\napi = { limit = 1, period = 1 }\n").unwrap_err();
        assert_eq!(err.code(), "E1002", "{err}");
    }

    #[test]
    fn litestream_replication_leaves_checkpoints_to_litestream_and_waits_for_its_locks() {
        let plain = Config::from_toml_str("[sqlite]\nbusy_timeout_ms = 100\n").unwrap();
        assert_eq!(plain.replication.mode, ReplicationMode::None);
        assert_eq!(plain.connection_settings(), plain.sqlite);

        let config = Config::from_toml_str(
            "[sqlite]\nbusy_timeout_ms = 100\nwal_autocheckpoint = 500\n[replication]\nmode = \"litestream\"\n",
        )
        .unwrap();
        assert_eq!(config.replication.mode, ReplicationMode::Litestream);
        let settings = config.connection_settings();
        assert_eq!(settings.wal_autocheckpoint, 0);
        assert_eq!(settings.busy_timeout_ms, LITESTREAM_BUSY_TIMEOUT_MS);
        assert_eq!(settings.journal_size_limit, config.sqlite.journal_size_limit);
        let patient = Config::from_toml_str(
            "[sqlite]\nbusy_timeout_ms = 30000\n[replication]\nmode = \"litestream\"\n",
        )
        .unwrap();
        assert_eq!(patient.connection_settings().busy_timeout_ms, 30_000);

        let err = Config::from_toml_str("[replication]\nmode = \"litefs\"\n").unwrap_err();
        assert_eq!(err.code(), "E1002");
        assert!(err.to_string().contains("`replication.mode`"), "{err}");
    }

    #[test]
    fn every_setting_is_in_the_reload_table_once() {
        // Changing one field at a time must touch exactly one row, and all the changes
        // together, copied row by row, must give the changed config: no field is left
        // out of the table and none is in it twice.
        let changes: [(&str, &str); 44] = [
            ("", "path = \"x.db\""),
            ("pool", "readers = 7"),
            ("pool", "acquire_timeout_ms = 7"),
            ("pool", "write_queue = 7"),
            ("pool", "write_batch_max = 7"),
            ("pool", "write_batch_wait_us = 7"),
            ("pool", "transaction_max_ms = 7"),
            ("pool", "wait_when_unavailable = true"),
            ("sqlite", "busy_timeout_ms = 7"),
            ("", "slow_query_ms = 7"),
            ("retry", "max_attempts = 7"),
            ("schema", "snapshot = false"),
            ("monitor", "enabled = true"),
            ("monitor", "interval_secs = 7"),
            ("monitor", "full_check_secs = 7"),
            ("monitor", "wal_warn_mb = 7"),
            ("monitor", "free_disk_warn_mb = 700"),
            ("monitor", "free_disk_critical_mb = 7"),
            ("monitor", "free_disk_warn_percent = 7"),
            ("monitor", "free_disk_critical_percent = 5"),
            ("monitor", "db_size_warn_mb = 7"),
            ("monitor", "freelist_warn_percent = 7"),
            ("monitor", "foreign_key_limit = 7"),
            ("monitor", "query_stats = true"),
            ("monitor", "query_stats_capacity = 7"),
            ("backup", "dir = \"b\""),
            ("backup", "interval_minutes = 7"),
            ("backup", "keep_last = 7"),
            ("backup", "keep_daily = 9"),
            ("backup", "keep_weekly = 7"),
            ("cache", "max_entry_bytes = 7"),
            ("cache", "max_namespace_bytes = 7"),
            ("cache.namespace_bytes", "pages = 7"),
            ("cache", "sweeper = false"),
            ("cache", "sweep_interval_ms = 7"),
            ("cache", "sweep_batch = 7"),
            ("ratelimit.quotas", "api = { limit = 1, period_ms = 1000 }"),
            ("queue", "lease_ms = 7"),
            ("replication", "mode = \"litestream\""),
            ("codegen.json_types", "\"t.c\" = \"T\""),
            ("audit", "tables = [\"t\"]"),
            ("documents", "watch = true"),
            ("metrics", "spill_max_bytes = 7"),
            ("log", "level = \"debug\""),
        ];
        let base = Config::default();
        let toml = |changes: &[(&str, &str)]| {
            let mut sections: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
            for (section, line) in changes {
                sections.entry(section).or_default().push(line);
            }
            let mut text = sections.remove("").unwrap_or_default().join("\n");
            for (section, lines) in sections {
                text.push_str(&format!("\n[{section}]\n{}", lines.join("\n")));
            }
            Config::from_toml_str(&text).unwrap()
        };
        for change in &changes {
            let after = toml(std::slice::from_ref(change));
            let rows = SETTINGS.iter().filter(|s| (s.differs)(&base, &after)).count();
            assert_eq!(rows, 1, "{change:?}");
        }
        let all = toml(&changes);
        let mut copied = Config::default();
        for setting in SETTINGS {
            (setting.take)(&mut copied, &all);
        }
        assert_eq!(copied, all);
        assert_eq!(SETTINGS.iter().filter(|s| (s.differs)(&base, &all)).count(), changes.len());
    }

    #[test]
    fn a_reload_takes_reloadable_changes_and_reports_the_others() {
        let running = Config::for_path("/data/app.db");
        let before = Config::from_toml_str("slow_query_ms = 100\n[pool]\nreaders = 4\n").unwrap();
        let after = Config::from_toml_str(
            "slow_query_ms = 5\n[pool]\nreaders = 8\n[retry]\nmax_attempts = 2\n[monitor]\ninterval_secs = 3\n",
        )
        .unwrap();
        let reload = running.reload(&before, &after).unwrap();
        assert_eq!(reload.applied, ["slow_query_ms", "retry", "monitor.interval_secs"]);
        assert_eq!(reload.ignored, ["pool.readers"]);
        assert_eq!(reload.config.slow_query_ms, 5);
        assert_eq!(reload.config.retry.max_attempts, 2);
        assert_eq!(reload.config.monitor.interval_secs, 3);
        assert_eq!(reload.config.pool.readers, 4, "not reloadable: kept");
        assert_eq!(reload.config.path, PathBuf::from("/data/app.db"), "the file names no path: kept");

        let unchanged = running.reload(&before, &before).unwrap();
        assert!(unchanged.applied.is_empty() && unchanged.ignored.is_empty());
        assert_eq!(unchanged.config, running);

        // A combination out of range is refused whole.
        let warn_below_critical = Config {
            monitor: MonitorConfig { free_disk_warn_mb: 10, ..MonitorConfig::default() },
            ..before.clone()
        };
        let err = running.reload(&before, &warn_below_critical).unwrap_err();
        assert_eq!(err.code(), "E1003", "{err}");
    }

    /// Issue 21: the log level is a setting, and a running database reloads it.
    #[test]
    fn the_log_level_is_a_reloadable_setting() {
        assert_eq!(Config::default().log.level, None, "unset: the application's default");
        let row = SETTINGS.iter().find(|s| s.name == "log.level").expect("log.level has a row");
        assert!(row.reloadable);
        let before = Config::from_toml_str("[log]\nlevel = \"warn\"\n").unwrap();
        let after = Config::from_toml_str("[log]\nlevel = \"warn,strata::op=debug\"\n").unwrap();
        let reload = Config::default().reload(&before, &after).unwrap();
        assert_eq!(reload.applied, ["log.level"]);
        assert!(reload.ignored.is_empty());
        assert_eq!(reload.config.log.level.as_deref(), Some("warn,strata::op=debug"));
    }

    /// Issue 21: a bad `log.level` is E1012 naming the directive, at load.
    #[test]
    fn log_level_directives_are_checked_at_load() {
        for good in [
            "info",
            "WARN",
            "off",
            "3",
            "warn,strata::op=debug",
            "strata=trace",
            "[op]=debug",
            "a[op{x=1}]=info",
            " info , strata-cli=error,",
        ] {
            check_log_directives(good).unwrap_or_else(|e| panic!("{good}: {e}"));
        }
        for (bad, reason) in [
            ("wran", "not a level; a target needs its level"),
            ("strata=loud", "`loud` is not a level"),
            ("=debug", "no target"),
            ("strata op=info", "not a target"),
            ("[op=debug", "span filter"),
            ("", "is empty"),
        ] {
            let err = check_log_directives(bad).unwrap_err();
            assert_eq!(err.code(), "E1012", "{bad}");
            assert!(err.to_string().contains(reason), "{bad}: {err}");
        }
        let err = Config::from_toml_str("[log]\nlevel = \"info,strata=loud\"\n").unwrap_err();
        assert_eq!(err.code(), "E1012");
        assert!(err.to_string().contains("`strata=loud`"), "{err}");
        assert!(err.hint().contains("target=level"), "{}", err.hint());
    }

    #[test]
    fn a_missing_file_is_e1001() {
        let err = Config::load(Some(Path::new("/nonexistent/strata.toml"))).unwrap_err();
        assert_eq!(err.code(), "E1001");
    }

    #[test]
    #[allow(clippy::result_large_err, reason = "figment::Jail's closure type is fixed by figment")]
    fn environment_overrides_the_file() {
        figment::Jail::expect_with(|jail| {
            jail.create_file("strata.toml", "[pool]\nreaders = 2\n")?;
            jail.set_env("STRATA_DB", "/data/app.db");
            jail.set_env("STRATA_POOL__READERS", "7");
            jail.set_env("STRATA_CONFIG", "ignored: not a setting");
            let config = Config::load(Some(Path::new("strata.toml"))).expect("loads");
            assert_eq!(config.path, PathBuf::from("/data/app.db"));
            assert_eq!(config.pool.readers, 7);
            jail.set_env("STRATA_SQLITE__SYNCHRONOUS", "full");
            let config = Config::load(None).expect("loads");
            assert_eq!(config.sqlite.synchronous, Synchronous::Full);
            jail.set_env("STRATA_POOL__READRS", "7");
            let err = Config::load(None).expect_err("typo in an env key is an error");
            assert!(err.to_string().contains("`pool.readrs`"), "{err}");
            Ok(())
        });
    }
}
