//! `strata replicate REPLICA [--out FILE] [--force]`: writes the Litestream config
//! that replicates the database to REPLICA (strata-ops' `replication`), and says how
//! to run it. It neither opens nor changes the database.

use std::path::PathBuf;

use clap::Args;
use serde::Serialize;
use strata::Config;
use strata::ops::replication;

use crate::output::{Outcome, Output};

/// The arguments of `strata replicate`.
#[derive(Debug, Args)]
pub struct ReplicateArgs {
    /// Where the replica goes: a directory, file:///dir, or s3://bucket/path (add
    /// ?endpoint=HOST for S3-compatible storage).
    #[arg(value_name = "REPLICA")]
    pub replica: String,
    /// The config file to write [default: litestream.yml beside the database].
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// Replace the file if it exists.
    #[arg(long)]
    pub force: bool,
}

/// What `strata replicate` wrote.
#[derive(Debug, Serialize)]
struct Written {
    /// The config file.
    config: PathBuf,
    /// The database it replicates.
    database: PathBuf,
    /// The replica URL.
    replica: String,
    /// The command that starts replication.
    command: String,
    /// What strata's own config needs.
    strata_config: &'static str,
}

/// Runs `strata replicate`.
pub async fn run(args: &ReplicateArgs, config: &Config, out: &Output) -> strata::Result<Outcome> {
    let file = match &args.out {
        Some(file) => file.clone(),
        None => config.path.parent().unwrap_or(std::path::Path::new("")).join("litestream.yml"),
    };
    let written = replication::write_litestream_config(&config.path, &args.replica, &file, args.force)?;
    let report = Written {
        command: format!("litestream replicate -config {}", file.display()),
        config: file,
        database: written.database,
        replica: written.replica,
        strata_config: "[replication]\nmode = \"litestream\"",
    };
    out.print(&report, |w| {
        format!(
            "wrote {}: replicates {} to {}\nrun beside the application:\n  {}\nand add to strata's config (strata leaves checkpoints to Litestream):\n  {}\n",
            w.config.display(),
            w.database.display(),
            w.replica,
            w.command,
            w.strata_config.replace('\n', "\n  ")
        )
    });
    Ok(Outcome::Success)
}
