//! `cargo xtask tidy`: the checks of the tree that the compiler cannot make.
//!
//! - the layer rule (docs/ARCHITECTURE.md), read from the `[dependencies]` and
//!   `[build-dependencies]` of every manifest (dev-dependencies may point anywhere);
//! - every `.rs` file of ours starts with a `//!` line saying what it owns;
//! - no test is switched off with the ignore attribute (a test that cannot run is
//!   deleted or fixed, not hidden);
//! - migrations are named `V{n}__{name}.sql` / `V{n}__{name}.down.sql` and every up
//!   has its down.
//!
//! The same [`check`] runs as `cargo xtask tidy` and as a test, so `cargo test` fails on
//! an untidy tree. A test here also keeps the README's configuration example equal to
//! `Config::default()`.

use std::collections::BTreeMap;
use std::fmt;
use std::fs;
use std::path::{Path, PathBuf};

use crate::Result;

/// Every package of ours and the strata crates it may depend on (normal and build
/// dependencies). A new crate gets a row here and in the table of docs/ARCHITECTURE.md.
pub const LAYERS: &[(&str, &[&str])] = &[
    ("strata-core", &[]),
    ("strata-macros", &[]),
    ("strata-schema", &["strata-core"]),
    ("strata-pool", &["strata-core"]),
    ("strata-repo", &["strata-core", "strata-schema", "strata-pool"]),
    ("strata-ops", &["strata-core", "strata-schema", "strata-pool"]),
    (
        "strata",
        &["strata-core", "strata-macros", "strata-schema", "strata-pool", "strata-repo", "strata-ops"],
    ),
    ("strata-serve", &["strata"]),
    ("strata-codegen", &["strata-core", "strata-schema"]),
    (
        "strata-cli",
        &[
            "strata",
            "strata-serve",
            "strata-codegen",
            "strata-core",
            "strata-schema",
            "strata-pool",
            "strata-repo",
            "strata-ops",
        ],
    ),
    ("xtask", &["strata-core", "strata-schema", "strata-codegen"]),
];

/// Top-level directories whose `.rs` files must start with a `//!` line.
pub const MODULE_DOC_ROOTS: &[&str] = &["crates", "src", "xtask", "tests", "benches"];

/// Directories never walked, wherever they appear.
const SKIPPED_DIRS: &[&str] = &["target"];

/// The attribute that switches a test off, spelled in two halves so that this file
/// does not contain it and tidy does not flag itself.
const IGNORE_ATTRIBUTE: &str = concat!("#[", "ignore");

/// One finding of tidy: where it is and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Problem {
    /// The file, relative to the project root.
    pub path: PathBuf,
    /// The 1-based line, when the problem is on one line.
    pub line: Option<usize>,
    /// What is wrong and how to put it right.
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(line) => write!(f, "{}:{line}: {}", self.path.display(), self.message),
            None => write!(f, "{}: {}", self.path.display(), self.message),
        }
    }
}

/// `cargo xtask tidy`: prints `tidy: ok`, or fails listing every problem.
pub fn run(root: &Path) -> Result {
    let problems = check(root)?;
    if problems.is_empty() {
        println!("tidy: ok");
        return Ok(());
    }
    Err(format_problems(&problems))
}

/// Runs every check on the tree at `root`; the problems come sorted by file and line.
pub fn check(root: &Path) -> Result<Vec<Problem>> {
    let mut problems = Vec::new();
    check_layers(root, &mut problems)?;
    check_rust_files(root, &mut problems)?;
    check_migrations(root, &mut problems)?;
    problems.sort();
    Ok(problems)
}

/// The problems as one message, a line each.
pub fn format_problems(problems: &[Problem]) -> String {
    let mut message = format!("tidy found {} problem(s):", problems.len());
    for problem in problems {
        message.push_str("\n  ");
        message.push_str(&problem.to_string());
    }
    message
}

// ---------------------------------------------------------------------------------
// (a) the layer rule

/// A strata crate named in a dependency table of a manifest.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Edge {
    /// The crate depended on (after `package = "..."` renames).
    target: String,
    /// The table it was found in, such as `dependencies`.
    table: String,
    /// 1-based line of the entry.
    line: usize,
}

fn check_layers(root: &Path, problems: &mut Vec<Problem>) -> Result {
    for manifest in manifests(root)? {
        let text = read(&manifest)?;
        let relative = relative(root, &manifest);
        let parsed = parse_manifest(&text);
        let Some(package) = parsed.package else {
            continue; // a virtual manifest has no dependencies of its own
        };
        let Some(&(_, allowed)) = LAYERS.iter().find(|(name, _)| *name == package) else {
            problems.push(Problem {
                path: relative,
                line: None,
                message: format!(
                    "package `{package}` is not in the layer table; add it to LAYERS in \
                     xtask/src/tidy.rs and to the layer table in docs/ARCHITECTURE.md"
                ),
            });
            continue;
        };
        for edge in parsed.edges {
            if !allowed.contains(&edge.target.as_str()) {
                let allowed =
                    if allowed.is_empty() { "none of ours".to_string() } else { allowed.join(", ") };
                problems.push(Problem {
                    path: relative.clone(),
                    line: Some(edge.line),
                    message: format!(
                        "`{package}` must not depend on `{}` ([{}]); it may depend on: {allowed} \
                         (no upward or sideways edges, see docs/ARCHITECTURE.md)",
                        edge.target, edge.table
                    ),
                });
            }
        }
    }
    Ok(())
}

/// The manifests of our packages: the root (the facade), `crates/*` and `xtask`.
fn manifests(root: &Path) -> Result<Vec<PathBuf>> {
    let mut found = vec![root.join("Cargo.toml")];
    let crates = root.join("crates");
    if crates.is_dir() {
        for dir in sorted_entries(&crates)? {
            let manifest = dir.join("Cargo.toml");
            if manifest.is_file() {
                found.push(manifest);
            }
        }
    }
    found.push(root.join("xtask").join("Cargo.toml"));
    Ok(found.into_iter().filter(|path| path.is_file()).collect())
}

/// What tidy needs from a manifest.
#[derive(Debug, Default)]
struct Manifest {
    /// `[package] name`, absent for a virtual manifest.
    package: Option<String>,
    /// Dependencies on strata crates from normal and build dependency tables.
    edges: Vec<Edge>,
}

/// A line-based reading of the TOML that manifests use: section headers, `key = value`
/// entries (dotted keys and inline tables included), `[dependencies.NAME]` sub-tables
/// and `[target.'cfg(..)'.dependencies]`. Multi-line arrays are skipped over.
fn parse_manifest(text: &str) -> Manifest {
    let mut manifest = Manifest::default();
    let mut section: Vec<String> = Vec::new();
    // Set while inside a `[dependencies.NAME]` table: the index of its edge, if any.
    let mut subtable_edge: Option<usize> = None;
    let mut array_depth = 0usize;

    for (index, raw) in text.lines().enumerate() {
        let line_number = index + 1;
        let line = strip_comment(raw).trim();
        if line.is_empty() {
            continue;
        }
        if array_depth > 0 {
            array_depth = (array_depth + count_outside_strings(line, '['))
                .saturating_sub(count_outside_strings(line, ']'));
            continue;
        }
        if line.starts_with('[') {
            subtable_edge = None;
            if line.starts_with("[[") {
                section = vec!["[[array]]".to_string()];
                continue;
            }
            let inner = line.trim_start_matches('[').trim_end_matches(']');
            section = split_dotted(inner);
            if let Some(table) = dependency_table(&section[..section.len().saturating_sub(1)])
                && let Some(name) = section.last()
                && is_strata_crate(name)
            {
                manifest.edges.push(Edge { target: name.clone(), table, line: line_number });
                subtable_edge = Some(manifest.edges.len() - 1);
            }
            continue;
        }
        let Some((key, value)) = split_key_value(line) else {
            continue;
        };
        array_depth = count_outside_strings(value, '[').saturating_sub(count_outside_strings(value, ']'));
        let key = split_dotted(key);

        if section == ["package"] && key == ["name"] {
            manifest.package = Some(unquote(value));
        } else if let Some(table) = dependency_table(&section) {
            let Some(name) = key.first() else { continue };
            let renamed = if key.len() == 2 && key[1] == "package" {
                Some(unquote(value))
            } else {
                inline_package(value)
            };
            let target = renamed.unwrap_or_else(|| name.clone());
            if is_strata_crate(&target) {
                manifest.edges.push(Edge { target, table, line: line_number });
            }
        } else if key == ["package"]
            && dependency_table(&section[..section.len().saturating_sub(1)]).is_some()
        {
            // `package = "..."` inside a `[dependencies.NAME]` table renames the edge.
            let target = unquote(value);
            match subtable_edge {
                Some(edge) => manifest.edges[edge].target = target,
                None if is_strata_crate(&target) => {
                    let table = dependency_table(&section[..section.len() - 1]).unwrap_or_default();
                    manifest.edges.push(Edge { target, table, line: line_number });
                }
                None => {}
            }
        }
    }
    // A `[dependencies.NAME]` table renamed to a crate that is not ours is no edge.
    manifest.edges.retain(|edge| is_strata_crate(&edge.target));
    manifest
}

/// `Some(table name)` when `section` is a dependency table that counts for the layer
/// rule: `dependencies`, `build-dependencies`, or either under `target.<cfg>`.
fn dependency_table(section: &[String]) -> Option<String> {
    let counts = |name: &String| name == "dependencies" || name == "build-dependencies";
    match section {
        [table] if counts(table) => Some(table.clone()),
        [target, cfg, table] if target == "target" && counts(table) => Some(format!("target.{cfg}.{table}")),
        _ => None,
    }
}

fn is_strata_crate(name: &str) -> bool {
    name == "strata" || name.starts_with("strata-") || name == "xtask"
}

/// The `package = "..."` of an inline table, such as `{ package = "strata-ops" }`.
fn inline_package(value: &str) -> Option<String> {
    let body = value.trim().strip_prefix('{')?.strip_suffix('}')?;
    body.split(',').find_map(|pair| {
        let (key, value) = split_key_value(pair.trim())?;
        (key.trim() == "package").then(|| unquote(value))
    })
}

/// Splits `key = value` at the first `=` outside quotes.
fn split_key_value(line: &str) -> Option<(&str, &str)> {
    let mut quote = None;
    for (i, c) in line.char_indices() {
        match (quote, c) {
            (None, '"' | '\'') => quote = Some(c),
            (Some(q), _) if c == q => quote = None,
            (None, '=') => return Some((line[..i].trim(), line[i + 1..].trim())),
            _ => {}
        }
    }
    None
}

/// Splits a dotted TOML key (`target.'cfg(unix)'.dependencies`) into unquoted parts.
fn split_dotted(key: &str) -> Vec<String> {
    let mut parts = Vec::new();
    let mut current = String::new();
    let mut quote = None;
    for c in key.chars() {
        match (quote, c) {
            (None, '"' | '\'') => quote = Some(c),
            (Some(q), _) if c == q => quote = None,
            (None, '.') => parts.push(std::mem::take(&mut current).trim().to_string()),
            _ => current.push(c),
        }
    }
    parts.push(current.trim().to_string());
    parts
}

fn unquote(value: &str) -> String {
    value.trim().trim_matches(|c| c == '"' || c == '\'').to_string()
}

/// The line without a `#` comment (a `#` inside a string is kept).
fn strip_comment(line: &str) -> &str {
    let mut quote = None;
    for (i, c) in line.char_indices() {
        match (quote, c) {
            (None, '"' | '\'') => quote = Some(c),
            (Some(q), _) if c == q => quote = None,
            (None, '#') => return &line[..i],
            _ => {}
        }
    }
    line
}

fn count_outside_strings(text: &str, wanted: char) -> usize {
    let mut quote = None;
    let mut count = 0;
    for c in text.chars() {
        match (quote, c) {
            (None, '"' | '\'') => quote = Some(c),
            (Some(q), _) if c == q => quote = None,
            (None, _) if c == wanted => count += 1,
            _ => {}
        }
    }
    count
}

// ---------------------------------------------------------------------------------
// (b) module docs and (c) ignored tests

fn check_rust_files(root: &Path, problems: &mut Vec<Problem>) -> Result {
    let mut files = Vec::new();
    collect_rust_files(root, &mut files)?;
    for file in files {
        let text = read(&file)?;
        let relative = relative(root, &file);
        let needs_doc = relative
            .components()
            .next()
            .is_some_and(|first| MODULE_DOC_ROOTS.iter().any(|root| first.as_os_str() == *root));
        if needs_doc && !starts_with_module_doc(&text) {
            problems.push(Problem {
                path: relative.clone(),
                line: Some(1),
                message: "the first line must be a `//!` comment saying what this file owns".into(),
            });
        }
        for (index, line) in text.lines().enumerate() {
            if switches_a_test_off(line) {
                problems.push(Problem {
                    path: relative.clone(),
                    line: Some(index + 1),
                    message: "a test is switched off with the ignore attribute; fix it or delete it".into(),
                });
            }
        }
    }
    Ok(())
}

/// Every `.rs` file under `dir`, skipping `target/` and hidden directories.
fn collect_rust_files(dir: &Path, files: &mut Vec<PathBuf>) -> Result {
    for path in sorted_entries(dir)? {
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or_default();
        if path.is_dir() {
            if !name.starts_with('.') && !SKIPPED_DIRS.contains(&name) {
                collect_rust_files(&path, files)?;
            }
        } else if path.extension().is_some_and(|ext| ext == "rs") {
            files.push(path);
        }
    }
    Ok(())
}

fn starts_with_module_doc(text: &str) -> bool {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    text.lines().find(|line| !line.trim().is_empty()).is_some_and(|line| line.trim_start().starts_with("//!"))
}

/// The ignore attribute in any of its forms: bare, with a reason, or in `cfg_attr`.
fn switches_a_test_off(line: &str) -> bool {
    let mut rest = line;
    while let Some(at) = rest.find(IGNORE_ATTRIBUTE) {
        let after = &rest[at + IGNORE_ATTRIBUTE.len()..];
        if !after.starts_with(|c: char| c.is_alphanumeric() || c == '_') {
            return true;
        }
        rest = after;
    }
    let cfg_attr = concat!("#[", "cfg_attr(");
    line.find(cfg_attr).is_some_and(|at| {
        line[at + cfg_attr.len()..]
            .split(|c: char| !(c.is_alphanumeric() || c == '_'))
            .any(|word| word == "ignore")
    })
}

// ---------------------------------------------------------------------------------
// (d) migrations

/// Whether a migration file applies a change or reverts it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Direction {
    Up,
    Down,
}

/// A migration file name taken apart: `V{version}__{name}.sql` or `.down.sql`.
#[derive(Debug, Clone, PartialEq, Eq)]
struct MigrationName {
    version: u64,
    name: String,
    direction: Direction,
}

fn check_migrations(root: &Path, problems: &mut Vec<Problem>) -> Result {
    let dir = root.join("migrations");
    if !dir.is_dir() {
        return Ok(());
    }
    let mut by_version: BTreeMap<u64, Vec<(MigrationName, PathBuf)>> = BTreeMap::new();
    for path in sorted_entries(&dir)? {
        let file_name = path.file_name().and_then(|n| n.to_str()).unwrap_or_default().to_string();
        if file_name.starts_with('.') {
            continue;
        }
        let relative = relative(root, &path);
        match parse_migration_name(&file_name) {
            Some(parsed) if path.is_file() => {
                by_version.entry(parsed.version).or_default().push((parsed, relative))
            }
            _ => problems.push(Problem {
                path: relative,
                line: None,
                message: "migrations/ holds only `V{n}__{name}.sql` files and their \
                          `V{n}__{name}.down.sql` (name: letters, digits, `_`)"
                    .into(),
            }),
        }
    }
    for (version, files) in by_version {
        let ups: Vec<_> = files.iter().filter(|(m, _)| m.direction == Direction::Up).collect();
        let downs: Vec<_> = files.iter().filter(|(m, _)| m.direction == Direction::Down).collect();
        if ups.len() > 1 || downs.len() > 1 {
            let names: Vec<String> = files.iter().map(|(_, p)| p.display().to_string()).collect();
            problems.push(Problem {
                path: files[0].1.clone(),
                line: None,
                message: format!("version V{version} is used more than once: {}", names.join(", ")),
            });
            continue;
        }
        match (ups.first(), downs.first()) {
            (Some((up, path)), None) => problems.push(Problem {
                path: path.clone(),
                line: None,
                message: format!("no down migration; add migrations/V{version}__{}.down.sql", up.name),
            }),
            (None, Some((down, path))) => problems.push(Problem {
                path: path.clone(),
                line: None,
                message: format!("a down migration without its up migrations/V{version}__{}.sql", down.name),
            }),
            (Some((up, _)), Some((down, path))) if up.name != down.name => problems.push(Problem {
                path: path.clone(),
                line: None,
                message: format!(
                    "the down migration must be named after its up: V{version}__{}.down.sql",
                    up.name
                ),
            }),
            _ => {}
        }
    }
    Ok(())
}

fn parse_migration_name(file_name: &str) -> Option<MigrationName> {
    let (stem, direction) = match file_name.strip_suffix(".down.sql") {
        Some(stem) => (stem, Direction::Down),
        None => (file_name.strip_suffix(".sql")?, Direction::Up),
    };
    let (version, name) = stem.strip_prefix('V')?.split_once("__")?;
    let valid_version = !version.is_empty() && version.bytes().all(|b| b.is_ascii_digit());
    let valid_name = !name.is_empty() && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
    if !valid_version || !valid_name {
        return None;
    }
    Some(MigrationName { version: version.parse().ok()?, name: name.to_string(), direction })
}

// ---------------------------------------------------------------------------------
// file helpers

fn read(path: &Path) -> Result<String> {
    fs::read_to_string(path).map_err(|e| format!("cannot read {}: {e}", path.display()))
}

fn sorted_entries(dir: &Path) -> Result<Vec<PathBuf>> {
    let entries = fs::read_dir(dir).map_err(|e| format!("cannot list {}: {e}", dir.display()))?;
    let mut paths = Vec::new();
    for entry in entries {
        paths.push(entry.map_err(|e| format!("cannot list {}: {e}", dir.display()))?.path());
    }
    paths.sort();
    Ok(paths)
}

fn relative(root: &Path, path: &Path) -> PathBuf {
    path.strip_prefix(root).unwrap_or(path).to_path_buf()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A small project tree in a temporary directory.
    struct Tree {
        dir: tempfile::TempDir,
    }

    impl Tree {
        /// The skeleton of a tidy project: facade, core, pool, xtask, one migration.
        fn tidy() -> Tree {
            let tree = Tree { dir: tempfile::tempdir().expect("temp dir") };
            tree.write(
                "Cargo.toml",
                "[workspace]\nmembers = [\n  \"crates/strata-core\",\n  \"crates/strata-pool\",\n]\n\n\
                 [workspace.dependencies]\nstrata-ops = { path = \"crates/strata-ops\" }\n\n\
                 [package]\nname = \"strata\"\n\n[dependencies]\nstrata-core.workspace = true\n\
                 strata-pool = { workspace = true }\n",
            );
            tree.write("src/lib.rs", "//! the facade\n");
            tree.write(
                "crates/strata-core/Cargo.toml",
                "[package]\nname = \"strata-core\"\n[dependencies]\n",
            );
            tree.write(
                "crates/strata-core/src/lib.rs",
                "\n//! errors\n\n#[test]\nfn ignored_sounding_name() {}\n",
            );
            tree.write(
                "crates/strata-pool/Cargo.toml",
                "[package]\nname = \"strata-pool\" # the pool\n\n[dependencies]\nstrata-core.workspace = true\n\
                 rusqlite = { version = \"0.40\", features = [\n  \"bundled\",\n] }\n\n\
                 [dev-dependencies]\nstrata = { path = \"../..\" }\n",
            );
            tree.write("crates/strata-pool/src/lib.rs", "//! the pool\n");
            tree.write(
                "xtask/Cargo.toml",
                "[package]\nname = \"xtask\"\n[dependencies]\nstrata-core = { path = \"../crates/strata-core\" }\n",
            );
            tree.write("xtask/src/main.rs", "//! tooling\nfn main() {}\n");
            tree.write("migrations/V1__initial.sql", "create table t (id integer primary key);\n");
            tree.write("migrations/V1__initial.down.sql", "drop table t;\n");
            tree.write("migrations/.gitkeep", "");
            tree.write("target/debug/build/generated.rs", "fn not_ours() {}\n");
            tree
        }

        fn write(&self, path: &str, text: &str) {
            let path = self.dir.path().join(path);
            fs::create_dir_all(path.parent().expect("a file has a parent")).expect("create dirs");
            fs::write(path, text).expect("write file");
        }

        fn remove(&self, path: &str) {
            fs::remove_file(self.dir.path().join(path)).expect("remove file");
        }

        fn problems(&self) -> Vec<String> {
            check(self.dir.path()).expect("tidy runs").iter().map(Problem::to_string).collect()
        }
    }

    fn assert_reported(problems: &[String], path: &str, needle: &str) {
        assert!(
            problems.iter().any(|p| p.starts_with(path) && p.contains(needle)),
            "expected a problem in {path} containing `{needle}`, got:\n{}",
            problems.join("\n")
        );
    }

    #[test]
    fn the_project_tree_is_tidy() {
        let problems = check(&crate::project_root()).expect("tidy runs on the project");
        assert!(
            problems.is_empty(),
            "{}\n\nfix these, then run `cargo xtask tidy`",
            format_problems(&problems)
        );
    }

    #[test]
    fn the_readme_config_example_spells_out_the_defaults() {
        let readme = fs::read_to_string(crate::project_root().join("README.md")).expect("read README.md");
        let example = readme
            .split_once("```toml\n")
            .and_then(|(_, rest)| rest.split_once("```"))
            .map(|(toml, _)| toml)
            .expect("README.md has a ```toml example");
        let parsed = strata_core::Config::from_toml_str(example).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(parsed, strata_core::Config::default(), "update the example in README.md");
    }

    #[test]
    fn a_tidy_tree_has_no_problems() {
        assert_eq!(Tree::tidy().problems(), Vec::<String>::new());
    }

    #[test]
    fn a_sideways_edge_is_reported_with_its_line() {
        let tree = Tree::tidy();
        tree.write(
            "crates/strata-pool/Cargo.toml",
            "[package]\nname = \"strata-pool\"\n[dependencies]\nstrata-core.workspace = true\nstrata-schema.workspace = true\n",
        );
        let problems = tree.problems();
        assert_reported(&problems, "crates/strata-pool/Cargo.toml:5:", "must not depend on `strata-schema`");
        assert_eq!(problems.len(), 1, "{problems:?}");
    }

    #[test]
    fn an_upward_edge_is_reported_in_every_dependency_table_form() {
        let tree = Tree::tidy();
        tree.write(
            "crates/strata-core/Cargo.toml",
            "[package]\nname = \"strata-core\"\n\
             [build-dependencies]\nstrata-pool = { path = \"../strata-pool\" }\n\
             [target.'cfg(unix)'.dependencies]\nstrata = { path = \"../..\" }\n\
             [dependencies.strata-repo]\npath = \"../strata-repo\"\n\
             [dependencies]\nops = { package = \"strata-ops\", path = \"../strata-ops\" }\n\
             [dev-dependencies]\nstrata-cli = { path = \"../strata-cli\" }\n",
        );
        let problems = tree.problems();
        assert_reported(
            &problems,
            "crates/strata-core/Cargo.toml:4:",
            "`strata-pool` ([build-dependencies])",
        );
        assert_reported(
            &problems,
            "crates/strata-core/Cargo.toml:6:",
            "`strata` ([target.cfg(unix).dependencies])",
        );
        assert_reported(&problems, "crates/strata-core/Cargo.toml:7:", "`strata-repo` ([dependencies])");
        assert_reported(&problems, "crates/strata-core/Cargo.toml:10:", "`strata-ops` ([dependencies])");
        assert_eq!(problems.len(), 4, "dev-dependencies are not edges: {problems:?}");
    }

    #[test]
    fn the_facade_may_not_depend_on_the_cli_and_xtask_may_not_depend_on_the_pool() {
        let tree = Tree::tidy();
        tree.write(
            "xtask/Cargo.toml",
            "[package]\nname = \"xtask\"\n[dependencies]\nstrata-pool = { path = \"../crates/strata-pool\" }\n",
        );
        let root = fs::read_to_string(tree.dir.path().join("Cargo.toml")).expect("read root manifest");
        tree.write("Cargo.toml", &format!("{root}strata-cli.workspace = true\n"));
        let problems = tree.problems();
        assert_reported(&problems, "xtask/Cargo.toml:4:", "`xtask` must not depend on `strata-pool`");
        assert_reported(&problems, "Cargo.toml:16:", "`strata` must not depend on `strata-cli`");
    }

    #[test]
    fn a_package_missing_from_the_layer_table_is_reported() {
        let tree = Tree::tidy();
        tree.write("crates/strata-extra/Cargo.toml", "[package]\nname = \"strata-extra\"\n");
        assert_reported(&tree.problems(), "crates/strata-extra/Cargo.toml", "not in the layer table");
    }

    #[test]
    fn a_rust_file_without_a_module_doc_is_reported() {
        let tree = Tree::tidy();
        tree.write("crates/strata-pool/src/writer.rs", "// a plain comment\n//! too late\n");
        tree.write("tests/it/main.rs", "fn main() {}\n");
        tree.write("xtask/src/empty.rs", "");
        let problems = tree.problems();
        assert_reported(&problems, "crates/strata-pool/src/writer.rs:1:", "`//!`");
        assert_reported(&problems, "tests/it/main.rs:1:", "`//!`");
        assert_reported(&problems, "xtask/src/empty.rs:1:", "`//!`");
        assert_eq!(problems.len(), 3, "{problems:?}");
    }

    #[test]
    fn a_test_switched_off_by_the_ignore_attribute_is_reported() {
        let tree = Tree::tidy();
        let attribute = concat!("#[", "ignore");
        let cfg_attr = concat!("#[", "cfg_attr(");
        tree.write(
            "crates/strata-core/src/lib.rs",
            &format!(
                "//! errors\n#[test]\n{attribute}]\nfn a() {{}}\n#[test]\n    {attribute} = \"slow\"]\nfn b() {{}}\n\
                 {cfg_attr}miri, ignore)]\nfn c() {{}}\n{attribute}_me]\nfn d() {{}}\n"
            ),
        );
        tree.write("scripts/helper.rs", &format!("{attribute}]\n"));
        let problems = tree.problems();
        assert_reported(&problems, "crates/strata-core/src/lib.rs:3:", "ignore attribute");
        assert_reported(&problems, "crates/strata-core/src/lib.rs:6:", "ignore attribute");
        assert_reported(&problems, "crates/strata-core/src/lib.rs:8:", "ignore attribute");
        assert_reported(&problems, "scripts/helper.rs:1:", "ignore attribute");
        assert_eq!(problems.len(), 4, "an attribute merely starting with the word is fine: {problems:?}");
    }

    #[test]
    fn migrations_must_be_named_and_paired() {
        let tree = Tree::tidy();
        tree.write("migrations/V2__queue.sql", "");
        tree.write("migrations/V3__audit.down.sql", "");
        tree.write("migrations/V4__flags.sql", "");
        tree.write("migrations/V4__flag.down.sql", "");
        tree.write("migrations/V5__a.sql", "");
        tree.write("migrations/V5__b.sql", "");
        tree.write("migrations/v6__lowercase.sql", "");
        tree.write("migrations/V7__has-dash.sql", "");
        tree.write("migrations/README.md", "");
        let problems = tree.problems();
        assert_reported(&problems, "migrations/V2__queue.sql", "V2__queue.down.sql");
        assert_reported(&problems, "migrations/V3__audit.down.sql", "without its up");
        assert_reported(&problems, "migrations/V4__flag.down.sql", "named after its up");
        assert_reported(&problems, "migrations/V5__a.sql", "V5 is used more than once");
        assert_reported(&problems, "migrations/v6__lowercase.sql", "only `V{n}__{name}.sql`");
        assert_reported(&problems, "migrations/V7__has-dash.sql", "only `V{n}__{name}.sql`");
        assert_reported(&problems, "migrations/README.md", "only `V{n}__{name}.sql`");
        assert_eq!(problems.len(), 7, "{problems:?}");

        tree.remove("migrations/V1__initial.down.sql");
        assert_reported(&tree.problems(), "migrations/V1__initial.sql", "no down migration");
    }

    #[test]
    fn migration_names_parse_into_version_name_and_direction() {
        let up = parse_migration_name("V12__add_owner.sql").expect("valid up");
        assert_eq!((up.version, up.name.as_str(), up.direction), (12, "add_owner", Direction::Up));
        let down = parse_migration_name("V12__add_owner.down.sql").expect("valid down");
        assert_eq!((down.version, down.direction), (12, Direction::Down));
        for bad in ["V__x.sql", "V1_x.sql", "V1__.sql", "V1__x.txt", "U1__x.sql", "V1x__y.sql"] {
            assert_eq!(parse_migration_name(bad), None, "{bad}");
        }
    }
}
