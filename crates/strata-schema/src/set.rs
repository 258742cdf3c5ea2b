//! Migration sets: paired up/down files from a directory or embedded in the binary.
//!
//! File naming follows refinery: `V{n}__{name}.sql` is the up of version `n`;
//! `V{n}__{name}.down.sql` beside it is its down (refinery's scan does not match that
//! name, strata pairs it). Checksums are refinery's, so `refinery_schema_history`
//! written by strata reads back in refinery and the other way round.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Serialize;
use strata_core::{Error, Migrations, Result, SetSources};

use crate::{Version, errors, sql};

/// The suffix of an up file.
pub const UP_SUFFIX: &str = ".sql";
/// The suffix of a down file.
pub const DOWN_SUFFIX: &str = ".down.sql";

/// One migration: a version, a name, its up SQL and (ideally) its down SQL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Migration {
    stem: String,
    version: Version,
    name: String,
    up: String,
    down: Option<String>,
    checksum: u64,
    normalized_checksum: u64,
}

impl Migration {
    /// Builds a migration from its file stem (`V3__add_owner`), up SQL and down SQL.
    pub fn new(stem: &str, up: &str, down: Option<&str>) -> Result<Migration> {
        let stem = stem.strip_suffix(DOWN_SUFFIX).or_else(|| stem.strip_suffix(UP_SUFFIX)).unwrap_or(stem);
        let parsed = refinery::Migration::unapplied(stem, up)
            .map_err(|e| errors::migration_set_invalid(stem, &format!("{e}; expected V{{n}}__{{name}}")))?;
        if parsed.prefix().to_string() != "V" {
            return Err(errors::migration_set_invalid(stem, "unversioned (U) migrations are not supported"));
        }
        if !stem.ends_with(&format!("__{}", parsed.name())) {
            return Err(errors::migration_set_invalid(
                stem,
                "the name may hold only letters, digits and `_`",
            ));
        }
        let version = Version::from(parsed.version());
        let name = parsed.name().to_string();
        let normalized_checksum = checksum_of(stem, &sql::normalize(up))?;
        Ok(Migration {
            stem: stem.to_string(),
            version,
            name,
            up: up.to_string(),
            down: down.map(str::to_string),
            checksum: parsed.checksum(),
            normalized_checksum,
        })
    }

    /// The version, `n` of `V{n}__name`.
    pub fn version(&self) -> Version {
        self.version
    }

    /// The name, `name` of `V{n}__name`.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The up file's name: `V{n}__{name}.sql`.
    pub fn up_file(&self) -> String {
        format!("{}{UP_SUFFIX}", self.stem)
    }

    /// The down file's name: `V{n}__{name}.down.sql`.
    pub fn down_file(&self) -> String {
        format!("{}{DOWN_SUFFIX}", self.stem)
    }

    /// The file stem, `V{n}__{name}`; the name refinery hashes.
    pub fn stem(&self) -> &str {
        &self.stem
    }

    /// The up SQL.
    pub fn up(&self) -> &str {
        &self.up
    }

    /// The down SQL, if the migration has a down file.
    pub fn down(&self) -> Option<&str> {
        self.down.as_deref()
    }

    /// refinery's checksum of the up file (SipHash-1-3 of name, version and SQL).
    pub fn checksum(&self) -> u64 {
        self.checksum
    }

    /// The checksum of the up file with comments and whitespace normalised away.
    pub fn normalized_checksum(&self) -> u64 {
        self.normalized_checksum
    }

    /// A serialisable summary (no SQL).
    pub fn info(&self) -> MigrationInfo {
        MigrationInfo {
            version: self.version,
            name: self.name.clone(),
            file: self.up_file(),
            checksum: self.checksum,
            has_down: self.down.is_some(),
        }
    }
}

/// What reports say about one migration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MigrationInfo {
    /// The version.
    pub version: Version,
    /// The name.
    pub name: String,
    /// The up file's name.
    pub file: String,
    /// refinery's checksum of the up file.
    pub checksum: u64,
    /// Whether a down file exists.
    pub has_down: bool,
}

/// refinery's checksum of `sql` under the migration name `stem`.
pub(crate) fn checksum_of(stem: &str, sql: &str) -> Result<u64> {
    refinery::Migration::unapplied(stem, sql)
        .map(|m| m.checksum())
        .map_err(|e| errors::migration_set_invalid(stem, &e.to_string()))
}

/// An ordered set of migrations with unique versions, and the namespace its history
/// is kept in ([`MigrationSet::with_namespace`]; none by default).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MigrationSet {
    migrations: Vec<Migration>,
    namespace: Option<String>,
}

/// The longest namespace [`MigrationSet::with_namespace`] accepts.
pub const MAX_NAMESPACE_LEN: usize = 32;

impl MigrationSet {
    /// Builds a set from migrations in any order; versions must be unique.
    pub fn new(migrations: impl IntoIterator<Item = Migration>) -> Result<MigrationSet> {
        let mut by_version: BTreeMap<Version, Migration> = BTreeMap::new();
        for migration in migrations {
            if let Some(other) = by_version.get(&migration.version) {
                return Err(errors::migration_set_invalid(
                    &migration.up_file(),
                    &format!("version {} is also used by {}", migration.version, other.up_file()),
                ));
            }
            by_version.insert(migration.version, migration);
        }
        Ok(MigrationSet { migrations: by_version.into_values().collect(), namespace: None })
    }

    /// Builds a set from `(stem, up_sql, down_sql)` triples, typically made with
    /// [`embedded_migration!`](crate::embedded_migration) / `include_str!`.
    pub fn from_sources<'a>(
        sources: impl IntoIterator<Item = (&'a str, &'a str, Option<&'a str>)>,
    ) -> Result<MigrationSet> {
        let migrations: Result<Vec<Migration>> =
            sources.into_iter().map(|(stem, up, down)| Migration::new(stem, up, down)).collect();
        MigrationSet::new(migrations?)
    }

    /// Builds a set from the ups of a refinery runner (`embed_migrations!` output:
    /// `migrations::runner()`) and down files given as `(file name or stem, sql)`.
    ///
    /// A down that matches no up is an error, so a typo cannot silently drop a down.
    pub fn from_refinery(runner: &refinery::Runner, downs: &[(&str, &str)]) -> Result<MigrationSet> {
        let mut down_by_stem: BTreeMap<String, &str> = BTreeMap::new();
        for (file, sql) in downs {
            let stem = file.strip_suffix(DOWN_SUFFIX).unwrap_or(file);
            down_by_stem.insert(stem.to_string(), sql);
        }
        let mut migrations = Vec::new();
        for up in runner.get_migrations() {
            let stem = format!("{}{}__{}", up.prefix(), up.version(), up.name());
            let sql =
                up.sql().ok_or_else(|| errors::migration_set_invalid(&stem, "the runner holds no sql"))?;
            let down = down_by_stem.remove(&stem);
            migrations.push(Migration::new(&stem, sql, down)?);
        }
        if let Some(orphan) = down_by_stem.keys().next() {
            return Err(errors::migration_set_invalid(
                &format!("{orphan}{DOWN_SUFFIX}"),
                "down file without a matching up file",
            ));
        }
        MigrationSet::new(migrations)
    }

    /// Reads `V{n}__{name}.sql` and `V{n}__{name}.down.sql` files from a directory.
    ///
    /// Ups are found the way refinery finds them (recursively); a down must sit beside
    /// its up. A down file without an up, or any other `.sql` file whose name does not
    /// follow the convention, is an error rather than a file silently skipped (E3008),
    /// and so are two files of one version (E3008) and versions that skip a number
    /// (E3030). `strata::embed_migrations!` checks an embedded
    /// directory the same way.
    pub fn from_dir(dir: impl AsRef<Path>) -> Result<MigrationSet> {
        let dir = dir.as_ref();
        let mut paths = Vec::new();
        collect_sql_files(dir, &mut paths)?;
        let mut files = Vec::new();
        for path in paths {
            let sql = std::fs::read_to_string(&path).map_err(|e| errors::file_io("read", &path, &e))?;
            files.push((path, sql));
        }
        MigrationSet::from_files(&dir.display().to_string(), files)
    }

    /// Builds a set from the `.sql` files of a directory embedded in the binary, as
    /// `(path relative to the directory, contents)`: what
    /// `strata::embed_migrations!` expands to. `dir` names the
    /// directory in errors. The files are checked exactly as [`MigrationSet::from_dir`]
    /// checks a directory on disk.
    pub fn from_embedded(dir: &str, files: &[(&str, &str)]) -> Result<MigrationSet> {
        let files = files.iter().map(|(path, sql)| (Path::new(dir).join(path), sql.to_string())).collect();
        MigrationSet::from_files(dir, files)
    }

    /// Pairs the ups and downs of a directory's `.sql` files (any order) and checks
    /// names, duplicate versions and gaps; `dir` names the directory in errors.
    fn from_files(dir: &str, mut files: Vec<(PathBuf, String)>) -> Result<MigrationSet> {
        files.sort();
        let mut ups = Vec::new();
        let mut downs = BTreeMap::new();
        for (path, sql) in files {
            let Some(file_name) = path.file_name().and_then(|n| n.to_str()) else {
                return Err(errors::migration_set_invalid(
                    &path.display().to_string(),
                    "file name is not utf-8",
                ));
            };
            if let Some(stem) = file_name.strip_suffix(DOWN_SUFFIX) {
                downs.insert(path.with_file_name(stem), (path.clone(), sql));
            } else if let Some(stem) = file_name.strip_suffix(UP_SUFFIX) {
                ups.push((path.with_file_name(stem), stem.to_string(), sql));
            }
        }
        let mut migrations = Vec::new();
        for (key, stem, up) in ups {
            let down = downs.remove(&key).map(|(_, sql)| sql);
            migrations.push(Migration::new(&stem, &up, down.as_deref())?);
        }
        if let Some((path, _)) = downs.values().next() {
            return Err(errors::migration_set_invalid(
                &path.display().to_string(),
                "down file without a matching up file beside it",
            ));
        }
        let set = MigrationSet::new(migrations)?;
        if let Some(pair) = set.migrations.windows(2).find(|pair| pair[1].version != pair[0].version + 1) {
            return Err(Error::MigrationGap {
                set: dir.to_string(),
                before: pair[0].version,
                after: pair[1].version,
            });
        }
        Ok(set)
    }

    /// The same set, its history kept in a namespace of its own:
    /// `{namespace}_schema_history` and `{namespace}_schema_checksums` instead of
    /// `refinery_schema_history` and `strata_schema_checksums` (the default namespace,
    /// which strata's reference set uses). Give an application's own set a namespace
    /// to apply it beside the reference set: their versions never collide. The name
    /// is 1 to 32 characters of `a-z`, `0-9` and `_`, starting with a letter, and not
    /// `refinery` or `strata` (E3008 otherwise).
    pub fn with_namespace(mut self, namespace: &str) -> Result<MigrationSet> {
        let valid = namespace.len() <= MAX_NAMESPACE_LEN
            && namespace.starts_with(|c: char| c.is_ascii_lowercase())
            && namespace.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
        if !valid {
            return Err(errors::migration_set_invalid(
                &format!("namespace `{namespace}`"),
                "use 1 to 32 characters of a-z, 0-9 and _, starting with a letter",
            ));
        }
        if namespace == "refinery" || namespace == "strata" {
            return Err(errors::migration_set_invalid(
                &format!("namespace `{namespace}`"),
                "it is reserved for the default history tables",
            ));
        }
        self.namespace = Some(namespace.to_string());
        Ok(self)
    }

    /// The namespace of the set's history; `None` for the default one.
    pub fn namespace(&self) -> Option<&str> {
        self.namespace.as_deref()
    }

    /// The migrations, ordered by version.
    pub fn migrations(&self) -> &[Migration] {
        &self.migrations
    }

    /// The migration of `version`, if the set has it.
    pub fn get(&self, version: Version) -> Option<&Migration> {
        self.migrations.binary_search_by_key(&version, |m| m.version).ok().map(|i| &self.migrations[i])
    }

    /// The highest version, if the set is not empty.
    pub fn latest(&self) -> Option<Version> {
        self.migrations.last().map(|m| m.version)
    }

    /// Whether the set holds no migration.
    pub fn is_empty(&self) -> bool {
        self.migrations.is_empty()
    }

    /// The migrations up to and including `version`.
    pub fn up_to(&self, version: Version) -> MigrationSet {
        MigrationSet {
            migrations: self.migrations.iter().filter(|m| m.version <= version).cloned().collect(),
            namespace: self.namespace.clone(),
        }
    }
}

/// `Migrations::Set`: the set as the config layer carries it, so that
/// `Database::open_with(config, [Migrations::Reference, own.into()])` takes it.
impl From<MigrationSet> for Migrations {
    fn from(set: MigrationSet) -> Migrations {
        let migrations = set.migrations.into_iter().map(|m| (m.stem, m.up, m.down)).collect();
        Migrations::Set(SetSources { namespace: set.namespace, migrations })
    }
}

/// The set a `Migrations::Set` carries, checked again as it is rebuilt.
impl TryFrom<SetSources> for MigrationSet {
    type Error = Error;

    fn try_from(sources: SetSources) -> Result<MigrationSet> {
        let set = MigrationSet::from_sources(
            sources.migrations.iter().map(|(stem, up, down)| (stem.as_str(), up.as_str(), down.as_deref())),
        )?;
        match &sources.namespace {
            Some(namespace) => set.with_namespace(namespace),
            None => Ok(set),
        }
    }
}

fn collect_sql_files(dir: &Path, out: &mut Vec<PathBuf>) -> Result<()> {
    let entries = std::fs::read_dir(dir).map_err(|e| errors::file_io("read directory", dir, &e))?;
    for entry in entries {
        let entry = entry.map_err(|e| errors::file_io("read directory", dir, &e))?;
        let path = entry.path();
        let file_type = entry.file_type().map_err(|e| errors::file_io("stat", &path, &e))?;
        if file_type.is_dir() {
            collect_sql_files(&path, out)?;
        } else if path.extension().is_some_and(|e| e == "sql") {
            out.push(path);
        }
    }
    Ok(())
}

/// A `(stem, up, Some(down))` triple for [`MigrationSet::from_sources`], read at
/// compile time from `$dir` (relative to the calling crate's manifest directory).
///
/// ```
/// use strata_schema::MigrationSet;
/// let set = MigrationSet::from_sources([
///     strata_schema::embedded_migration!("tests/fixtures/basic", "V1__users"),
///     strata_schema::embedded_migration!("tests/fixtures/basic", "V2__posts"),
/// ])?;
/// assert_eq!(set.latest(), Some(2));
/// # Ok::<(), strata_core::Error>(())
/// ```
#[macro_export]
macro_rules! embedded_migration {
    ($dir:literal, $stem:literal) => {
        (
            $stem,
            include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/", $dir, "/", $stem, ".sql")),
            Some(include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/", $dir, "/", $stem, ".down.sql"))),
        )
    };
}
