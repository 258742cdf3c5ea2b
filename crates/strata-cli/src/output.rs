//! Rendering: human text or one JSON document on stdout, errors with code and hint,
//! the exit codes, and the log level (`-v`/`-q`, `RUST_LOG`, the config's `log.level`)
//! and format (`--log-format`).

use std::path::Path;
use std::process::ExitCode;

use serde::Serialize;
use strata::log::LogLevel;
use strata::{Config, ConfigWatch, Database, Error};
use tracing_subscriber::prelude::*;

use crate::cli::LogFormat;

/// How a command that ran ended; failures are `Err(strata::Error)` instead.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Exit 0.
    Success,
    /// Exit 1: the command ran and found problems.
    Problems,
}

impl Outcome {
    /// The process exit code of this outcome.
    pub fn exit_code(self) -> ExitCode {
        match self {
            Outcome::Success => ExitCode::SUCCESS,
            Outcome::Problems => ExitCode::from(1),
        }
    }
}

/// Exit code of a failed command.
pub const EXIT_FAILURE: u8 = 3;

/// Where and how results are printed.
pub struct Output {
    json: bool,
}

#[derive(Serialize)]
struct ErrorDoc<'a> {
    code: &'a str,
    kind: &'a str,
    message: String,
    hint: &'a str,
}

impl Output {
    /// `json`: print machine output.
    pub fn new(json: bool) -> Self {
        Output { json }
    }

    /// Whether machine output (`--json`) was asked for.
    pub fn is_json(&self) -> bool {
        self.json
    }

    /// Prints a result: `human` renders it for a person, `value` is the JSON form.
    pub fn print<T: Serialize>(&self, value: &T, human: impl FnOnce(&T) -> String) {
        if self.json {
            match serde_json::to_string_pretty(value) {
                Ok(text) => println!("{text}"),
                Err(e) => eprintln!("cannot render JSON: {e}"),
            }
        } else {
            print!("{}", human(value));
        }
    }

    /// Prints an error (to stdout as JSON with `--json`, else to stderr as code,
    /// message and hint) and returns exit code 3.
    pub fn failure(&self, err: &Error) -> ExitCode {
        if self.json {
            let doc = ErrorDoc {
                code: err.code(),
                kind: err.kind().as_str(),
                message: err.to_string(),
                hint: err.hint(),
            };
            match serde_json::to_string_pretty(&doc) {
                Ok(text) => println!("{text}"),
                Err(_) => eprintln!("{}", strata::core::render(err)),
            }
        } else {
            eprintln!("{}", strata::core::render(err));
        }
        ExitCode::from(EXIT_FAILURE)
    }
}

/// The log filter of the process ([`init_tracing`]) and who chose its level at start.
pub struct Logging {
    /// The filter's handle; `None` only if a subscriber was already set (never: main
    /// sets the one).
    level: Option<LogLevel>,
    /// `-v`/`-q` or `RUST_LOG` chose the level: the config's `log.level` does not
    /// override it at start.
    chosen: bool,
}

/// Logs go to stderr: warnings by default, more with `-v`, errors only with `-q`;
/// `RUST_LOG` wins over the flags when set; with neither, the config's `log.level`
/// ([`Logging::start`]). `format` picks text lines or JSON objects (the JSON form
/// carries the current span and its parents, so an operation's `op`, `tables`, `rows`,
/// `outcome` and `code` are fields a log shipper reads). In text at the default level
/// a failed operation's warning (`strata::op`) is left out: the command's failure
/// report says the same to a person; `-v` or JSON shows it. The filter is
/// `strata::log`'s, so a long-running command can follow a changed `log.level`.
pub fn init_tracing(verbose: u8, quiet: bool, format: LogFormat) -> Logging {
    let flags = match (quiet, verbose) {
        (true, _) => Some("error"),
        (false, 0) => None,
        (false, 1) => Some("info"),
        (false, 2) => Some("debug"),
        _ => Some("trace"),
    };
    let default = match format {
        LogFormat::Text => "warn,strata::op=error",
        LogFormat::Json => "warn",
    };
    // An unreadable RUST_LOG is ignored, as EnvFilter::try_from_default_env did.
    let (filter, level, chosen) = match std::env::var("RUST_LOG").ok().map(|v| strata::log::filter(&v)) {
        Some(Ok((filter, level))) => (filter, level, true),
        _ => match strata::log::filter(flags.unwrap_or(default)) {
            Ok((filter, level)) => (filter, level, flags.is_some()),
            // The built-in levels above are all valid directives.
            Err(_) => return Logging { level: None, chosen: true },
        },
    };
    let subscriber = tracing_subscriber::registry().with(filter);
    // try_init fails only when a subscriber is already set, which main never does.
    let installed = match format {
        LogFormat::Text => {
            subscriber.with(tracing_subscriber::fmt::layer().with_writer(std::io::stderr)).try_init()
        }
        LogFormat::Json => subscriber
            .with(
                tracing_subscriber::fmt::layer()
                    .json()
                    .with_current_span(true)
                    .with_span_list(true)
                    .with_writer(std::io::stderr),
            )
            .try_init(),
    };
    Logging { level: installed.ok().map(|()| level), chosen }
}

impl Logging {
    /// The config of the run: with `-v`/`-q` or `RUST_LOG` its `log.level` is dropped
    /// (the flags override it for this run, as `--db` overrides `path`); otherwise the
    /// filter takes it now (E1012 when `EnvFilter` cannot read it).
    pub fn start(&self, mut config: Config) -> strata::Result<Config> {
        match (&self.level, self.chosen) {
            (_, true) => config.log.level = None,
            (Some(level), false) => {
                if let Some(directives) = &config.log.level {
                    level.set(Some(directives))?;
                }
            }
            (None, false) => {}
        }
        Ok(config)
    }

    /// For a long-running command: watches the `--config` file (when one was given)
    /// and makes the log filter follow its `log.level` from now on; the watch ends when
    /// the returned value is dropped. E1001-E1003/E1011 as `Database::watch_config`.
    pub fn follow(&self, db: &Database, file: Option<&Path>) -> strata::Result<Option<ConfigWatch>> {
        let Some(file) = file else { return Ok(None) };
        if let Some(level) = &self.level {
            db.follow_log_level(level.clone())?;
        }
        db.watch_config(file).map(Some)
    }
}

/// A plain text table: a header row and aligned columns, independent of the
/// terminal's width so that output is the same in a pipe and in a snapshot.
pub fn table(header: &[&str], rows: impl IntoIterator<Item = Vec<String>>) -> String {
    let mut table = comfy_table::Table::new();
    table
        .load_style(comfy_table::presets::NOTHING)
        .force_no_tty()
        .set_content_arrangement(comfy_table::ContentArrangement::Disabled)
        .set_header(header.iter().map(|h| h.to_uppercase()));
    for row in rows {
        table.add_row(row);
    }
    let text: Vec<String> = table.to_string().lines().map(|l| l.trim_end().to_string()).collect();
    text.join("\n") + "\n"
}
