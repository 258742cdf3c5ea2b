//! The `strata` binary (top layer; depends on the `strata` facade only): parses the
//! command line, calls the library, renders the result for a person or, with
//! `--json`, for a machine. It is the only crate that knows about the terminal.
//!
//! Exit codes: 0 success; 1 the command ran and found problems; 2 usage error (clap);
//! 3 failure, with the error's code and hint printed.

mod advise;
mod audit;
mod backup;
mod cache;
mod check;
mod cli;
mod codegen;
mod config;
mod demo;
mod docs;
mod errors;
mod flags;
mod init;
mod metrics;
mod migrate;
mod output;
mod panic;
mod queue;
mod ratelimit;
mod replay;
mod replicate;
mod schema;
mod searches;
mod serve;
mod stats;

use std::process::ExitCode;

use clap::Parser;

use crate::cli::{Cli, Command};
use crate::output::Output;

fn main() -> ExitCode {
    panic::install();
    let cli = Cli::parse();
    let logging = output::init_tracing(cli.verbose, cli.quiet, cli.log_format);
    let out = Output::new(cli.json);
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(e) => {
            let err = strata::Error::file_io("start the async runtime for", "strata", &e);
            return out.failure(&err);
        }
    };
    // A panic that unwinds to here, from this thread or resumed from a blocking one,
    // is reported as E9001 like any other error instead of exiting 101.
    let run = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        runtime.block_on(async {
            panic::panic_if_asked_by_a_test().await?;
            // Explaining a code and completions need no config: they work whatever the
            // config file says and wherever the database is.
            match &cli.command {
                Command::Errors { code } => return errors::run(code.as_deref(), &out),
                Command::Completions { shell } => return Ok(completions(*shell)),
                _ => {}
            }
            let config = logging.start(cli.config()?)?;
            let watch = |db: &strata::Database| logging.follow(db, cli.config.as_deref());
            match &cli.command {
                Command::Demo { tasks, workers } => demo::run(*tasks, *workers, &config, &out).await,
                Command::Init => init::run(&config, &out).await,
                Command::Migrate(command) => migrate::run(command, &config, &out).await,
                Command::Schema(command) => schema::run(command, &config, &out, watch).await,
                Command::Check { full } => check::run(*full, &config, &out).await,
                Command::Backup(command) => backup::run(command, &config, &out).await,
                Command::Restore { file, from_replica, force } => match (file, from_replica) {
                    (_, Some(replica)) => backup::restore_from_replica(replica, *force, &config, &out).await,
                    (Some(file), None) => backup::restore(file, *force, &config, &out).await,
                    // clap's `source` group requires one of the two.
                    (None, None) => {
                        Err(strata::Error::invalid("restore", "name a backup FILE or --from-replica URL"))
                    }
                },
                Command::Recover { from } => backup::recover(from.as_deref(), &config, &out).await,
                Command::Stats { app } => stats::run(&config, *app, &out).await,
                Command::Advise { queries } => advise::run(queries, &config, &out).await,
                Command::Queue(args) => queue::run(args, &config, &out).await,
                Command::Audit(command) => audit::run(command, cli.json, &config, &out).await,
                Command::Flags(args) => flags::run(args, &config, &out).await,
                Command::Cache(args) => cache::run(args, &config, &out).await,
                Command::Ratelimit(args) => ratelimit::run(args, &config, &out).await,
                Command::Searches(command) => searches::run(command, &config, &out).await,
                Command::Serve(args) => serve::run(args, &config, watch).await,
                Command::Codegen(args) => codegen::run(args, cli.db.is_some(), &config, &out).await,
                Command::Replicate(args) => replicate::run(args, &config, &out).await,
                Command::Docs(command) => docs::run(command, &config, &out, cli.json).await,
                Command::Config(cli::ConfigCommand::Check) => {
                    config::check(&config, cli.config.as_deref(), &out)
                }
                Command::Errors { code } => errors::run(code.as_deref(), &out),
                Command::Completions { shell } => Ok(completions(*shell)),
                Command::Metrics(command) => metrics::run(command, &config, &out).await,
            }
        })
    }));
    let result = match run {
        Ok(result) => result,
        Err(payload) => {
            // Blocking tasks may still hold on to state the panic left behind: do not wait.
            runtime.shutdown_background();
            Err(panic::to_error(&*payload))
        }
    };
    panic::warn_if_unreported();
    match result {
        Ok(outcome) => outcome.exit_code(),
        Err(err) => out.failure(&err),
    }
}

/// Writes the completion script of `shell` for the whole command line to stdout.
fn completions(shell: clap_complete::Shell) -> output::Outcome {
    let mut command = <Cli as clap::CommandFactory>::command();
    clap_complete::generate(shell, &mut command, "strata", &mut std::io::stdout());
    output::Outcome::Success
}
