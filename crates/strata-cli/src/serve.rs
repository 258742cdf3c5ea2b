//! `strata serve`: the dashboard, `/health`, `/metrics` and the JSON API of
//! strata-serve over the database, opened read-only, until SIGINT or SIGTERM.
//! Loopback only unless `--allow-remote` and a bearer token are given. With
//! `--config`, the file is watched: reloadable settings (the log level among them)
//! apply without a restart.

use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::Args;
use strata::{Config, ConfigWatch, Database, Error};
use strata_serve::ServeOptions;

use crate::output::Outcome;

/// The environment variable that holds the bearer token when `--token-file` is not given.
const TOKEN_ENV: &str = "STRATA_SERVE_TOKEN";

/// `strata serve [--listen ADDR] [--allow-remote] [--token-file FILE] [--refresh SECS]`
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on; port 0 takes a free port (the address is printed).
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:7878")]
    pub listen: SocketAddr,
    /// Allow an address beyond loopback; needs a bearer token.
    #[arg(long)]
    pub allow_remote: bool,
    /// A file holding the bearer token every request must then carry as
    /// `Authorization: Bearer <token>` [default: $STRATA_SERVE_TOKEN].
    #[arg(long, value_name = "FILE")]
    pub token_file: Option<PathBuf>,
    /// Seconds between the page's refreshes and the charts' samples (1 to 3600).
    #[arg(long, value_name = "SECS", default_value_t = 5)]
    pub refresh: u64,
}

/// Runs `strata serve` until SIGINT or SIGTERM; `follow` watches the config file.
pub async fn run(
    args: &ServeArgs,
    config: &Config,
    follow: impl Fn(&Database) -> strata::Result<Option<ConfigWatch>>,
) -> strata::Result<Outcome> {
    if !(1..=3600).contains(&args.refresh) {
        return Err(Error::InvalidInput {
            field: "--refresh".into(),
            reason: "must be 1 to 3600 seconds".into(),
        });
    }
    let token = token(args)?;
    strata_serve::check_exposure(args.listen, args.allow_remote, token.as_deref())?;
    let db = Database::open_read_only(config).await?;
    let watch = match follow(&db) {
        Ok(watch) => watch,
        Err(err) => {
            let _ = db.close().await;
            return Err(err);
        }
    };
    let listener = match strata_serve::bind(args.listen).await {
        Ok(listener) => listener,
        Err(err) => {
            let _ = db.close().await;
            return Err(err);
        }
    };
    let addr = listener.local_addr().map_or_else(|_| args.listen.to_string(), |a| a.to_string());
    let file = config.path.file_name().map(|f| f.to_string_lossy().into_owned()).unwrap_or_default();
    // The address first, alone on its line, so that scripts (and the tests) can read
    // the port that `:0` picked.
    println!("serving {file} on http://{addr}/ (Ctrl-C stops)");
    let _ = std::io::stdout().flush();
    let options =
        ServeOptions { refresh: Duration::from_secs(args.refresh), token, ..ServeOptions::default() };
    let served = strata_serve::serve(listener, db, options, strata_serve::shutdown_signal()).await;
    drop(watch);
    served?;
    println!("stopped");
    Ok(Outcome::Success)
}

/// The token of `--token-file`, else of `STRATA_SERVE_TOKEN`, else none.
fn token(args: &ServeArgs) -> strata::Result<Option<String>> {
    if let Some(path) = &args.token_file {
        let origin = format!("--token-file {}", path.display());
        let raw = std::fs::read_to_string(path)
            .map_err(|err| Error::ServeToken { origin: origin.clone(), reason: err.to_string() })?;
        return strata_serve::parse_token(&origin, &raw).map(Some);
    }
    match std::env::var(TOKEN_ENV) {
        Ok(raw) => strata_serve::parse_token(TOKEN_ENV, &raw).map(Some),
        Err(_) => Ok(None),
    }
}
