//! The command line: global options and subcommands, as DESIGN.md's contract lists.

use std::path::PathBuf;

use clap::{ArgAction, Parser, Subcommand};
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
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create the database if missing and open it with strata's PRAGMAs.
    Init,
}

impl Cli {
    /// The config: defaults, then `--config`, then `STRATA_*`, then `--db`.
    pub fn config(&self) -> strata::Result<Config> {
        let mut config = Config::load(self.config.as_deref())?;
        if let Some(db) = &self.db {
            config.path = db.clone();
        }
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
