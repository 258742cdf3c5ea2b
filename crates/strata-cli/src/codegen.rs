//! `strata codegen`: typed Rust rows and table access generated from a database file
//! or from a migrations directory applied to a scratch database.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use clap::Args;
use serde::Serialize;
use strata::{Config, Error};
use strata_codegen::Options;

use crate::output::{Outcome, Output};

/// `strata codegen [--migrations DIR] [--tables T,...] [--out FILE] [--check]`.
#[derive(Debug, Clone, Args)]
pub struct CodegenArgs {
    /// Generate from a scratch in-memory database with this directory's migrations
    /// applied, instead of the database file (--db).
    #[arg(long, value_name = "DIR")]
    pub migrations: Option<PathBuf>,
    /// Only these tables and views (comma-separated) [default: every one].
    #[arg(long, value_name = "T,...", value_delimiter = ',')]
    pub tables: Vec<String>,
    /// Write the module to FILE instead of standard output.
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// Write nothing; exit 3 with E3021 when FILE differs from what would be generated.
    #[arg(long, requires = "out")]
    pub check: bool,
    /// Read the JSON column TABLE.COLUMN into TYPE (a Rust path) instead of
    /// serde_json::Value; repeatable, added to the config's `codegen.json_types`.
    #[arg(long = "json-type", value_name = "TABLE.COLUMN=TYPE")]
    pub json_types: Vec<String>,
    /// The path the generated code reaches strata through.
    #[arg(long, value_name = "PATH", default_value = "strata")]
    pub crate_path: String,
}

#[derive(Serialize)]
struct CodegenReport {
    out: Option<String>,
    tables: Vec<String>,
    status: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    code: Option<String>,
}

/// Runs `strata codegen`; `db_given` is whether `--db` was on the command line.
pub async fn run(
    args: &CodegenArgs,
    db_given: bool,
    config: &Config,
    out: &Output,
) -> strata::Result<Outcome> {
    if args.migrations.is_some() && db_given {
        return Err(Error::InvalidInput {
            field: "--migrations".to_string(),
            reason: "give either --db or --migrations, not both".to_string(),
        });
    }
    let options = options(args, db_given, config)?;
    let generated = match &args.migrations {
        Some(dir) => {
            let conn = strata_codegen::scratch_from_migrations(dir)?;
            strata_codegen::generate(&conn, &options)?
        }
        None => {
            let conn = strata::pool::open_read_only(&config.path)?;
            strata_codegen::generate(&conn, &options)?
        }
    };
    let (code, tables) = (generated.code, generated.relations);
    match &args.out {
        None => {
            let report = CodegenReport { out: None, tables, status: "printed", code: Some(code) };
            out.print(&report, |r| r.code.clone().unwrap_or_default());
        }
        Some(path) => {
            let committed = std::fs::read_to_string(path);
            let status = match (&committed, args.check) {
                (Ok(text), _) if text.replace("\r\n", "\n") == code => "up to date",
                (Ok(text), true) => return Err(check_error(path, text, &code)),
                (Err(_), true) => {
                    return Err(Error::CodegenStale { path: path.clone(), line: 1 });
                }
                (_, false) => {
                    std::fs::write(path, &code).map_err(|e| Error::file_io("write", path, &e))?;
                    "written"
                }
            };
            let report = CodegenReport { out: Some(path.display().to_string()), tables, status, code: None };
            out.print(&report, |r| {
                format!("{} {} ({})\n", r.out.as_deref().unwrap_or_default(), r.status, r.tables.join(", "))
            });
        }
    }
    Ok(Outcome::Success)
}

fn check_error(path: &Path, committed: &str, code: &str) -> Error {
    match strata_codegen::check(path, committed, code) {
        Err(err) => err,
        Ok(()) => Error::CodegenStale { path: path.to_path_buf(), line: 1 },
    }
}

/// The generator's options: the command line's, with the config's JSON type mapping
/// under the flags. The header names the command as given (without --out / --check),
/// so that `--check` compares with what the same command writes.
fn options(args: &CodegenArgs, db_given: bool, config: &Config) -> strata::Result<Options> {
    let mut json_types: BTreeMap<String, String> = config.codegen.json_types.clone();
    for entry in &args.json_types {
        let Some((column, ty)) = entry.split_once('=') else {
            return Err(Error::CodegenJsonType {
                entry: entry.clone(),
                reason: "expected TABLE.COLUMN=TYPE".to_string(),
            });
        };
        json_types.insert(column.trim().to_string(), ty.trim().to_string());
    }
    let mut command = "strata codegen".to_string();
    match &args.migrations {
        Some(dir) => {
            let _ = write!(command, " --migrations {}", dir.display());
        }
        None if db_given => {
            let _ = write!(command, " --db {}", config.path.display());
        }
        None => {}
    }
    if !args.tables.is_empty() {
        let _ = write!(command, " --tables {}", args.tables.join(","));
    }
    for entry in &args.json_types {
        let _ = write!(command, " --json-type {entry}");
    }
    if args.crate_path != "strata" {
        let _ = write!(command, " --crate-path {}", args.crate_path);
    }
    Ok(Options {
        tables: (!args.tables.is_empty()).then(|| args.tables.clone()),
        json_types,
        crate_path: args.crate_path.clone(),
        command,
    })
}
