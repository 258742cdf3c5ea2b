//! Rendering: human text or one JSON document on stdout, errors with code and hint,
//! the exit codes, and the log level from `-v`/`-q`.

use std::process::ExitCode;

use serde::Serialize;
use strata::Error;

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

/// Logs go to stderr: warnings by default, more with `-v`, errors only with `-q`;
/// `RUST_LOG` wins when set. The repositories' operation events (target `strata::op`)
/// show from `-v` on: without it, a failed operation is the error the command prints.
pub fn init_tracing(verbose: u8, quiet: bool) {
    let level = match (quiet, verbose) {
        (true, _) => "error,strata::op=off",
        (false, 0) => "warn,strata::op=off",
        (false, 1) => "info",
        (false, 2) => "debug",
        _ => "trace",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(level));
    let _ = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).try_init();
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
