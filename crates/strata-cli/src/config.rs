//! `strata config check`: loads the config the other commands would use (defaults,
//! `--config`, `STRATA_*`, `--db`) and validates it, without opening the database, so
//! it works while the database is unreachable.

use serde::Serialize;
use strata::Config;

use crate::output::{Outcome, Output};

/// The result of a check that passed.
#[derive(Serialize)]
struct Checked<'a> {
    ok: bool,
    file: Option<&'a std::path::Path>,
    config: &'a Config,
}

/// Runs `strata config check` on the already loaded (and so validated) `config` read
/// from `file`; an invalid config failed before, with its code and field.
pub fn check(config: &Config, file: Option<&std::path::Path>, out: &Output) -> strata::Result<Outcome> {
    config.validate()?;
    out.print(&Checked { ok: true, file, config }, |c| {
        let source =
            c.file.map_or_else(|| "defaults and STRATA_* variables".to_string(), |f| f.display().to_string());
        format!("config ok ({source})\ndatabase: {}\n", c.config.path.display())
    });
    Ok(Outcome::Success)
}
