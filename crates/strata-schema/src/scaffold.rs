//! `new NAME`: writes the next pair of migration files with a header comment.

use std::path::{Path, PathBuf};

use serde::Serialize;
use strata_core::{Error, Result};

use crate::set::{DOWN_SUFFIX, MigrationSet, UP_SUFFIX};
use crate::{Version, errors};

/// The files [`new_migration`] wrote.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NewMigration {
    /// The version given to the pair: one above the newest in the directory.
    pub version: Version,
    /// The up file.
    pub up: PathBuf,
    /// The down file.
    pub down: PathBuf,
}

/// Writes `V{next}__{name}.sql` and `V{next}__{name}.down.sql` into `dir` (created if
/// missing). `name` may hold letters, digits and `_`; spaces and `-` become `_`.
pub fn new_migration(dir: &Path, name: &str) -> Result<NewMigration> {
    let name: String = name.trim().chars().map(|c| if c == ' ' || c == '-' { '_' } else { c }).collect();
    if name.is_empty() || !name.chars().all(|c| c.is_alphanumeric() || c == '_') {
        return Err(Error::invalid("name", "use letters, digits and `_` only"));
    }
    std::fs::create_dir_all(dir).map_err(|e| errors::file_io("create directory", dir, &e))?;
    let version = MigrationSet::from_dir(dir)?.latest().map_or(1, |v| v + 1);
    let stem = format!("V{version}__{name}");
    let up = dir.join(format!("{stem}{UP_SUFFIX}"));
    let down = dir.join(format!("{stem}{DOWN_SUFFIX}"));
    write_new(
        &up,
        &format!(
            "-- {stem}: up\n-- Runs inside the migration transaction; foreign keys are off until it commits.\n\n"
        ),
    )?;
    write_new(
        &down,
        &format!(
            "-- {stem}: down\n-- Undoes {stem}{UP_SUFFIX} exactly: up, down, up must give the same schema.\n\n"
        ),
    )?;
    Ok(NewMigration { version, up, down })
}

fn write_new(path: &Path, content: &str) -> Result<()> {
    use std::io::Write;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
        .map_err(|e| errors::file_io("create", path, &e))?;
    file.write_all(content.as_bytes()).map_err(|e| errors::file_io("write", path, &e))
}
