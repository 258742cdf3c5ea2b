//! `cargo xtask`: the project's own tooling, run as `cargo xtask <task>`.
//!
//! Layer: tooling. xtask may depend on strata-core and strata-schema, on std and on a
//! few small tooling crates (serde_json); no strata crate depends on it. This file owns
//! the command line and the project root; each task lives in its own module:
//! `tidy` (tree checks), `codegen` (docs/errors.md, src/reference.rs), `bench/` (criterion
//! report) and `coverage` (the cargo-llvm-cov gate).

mod bench;
mod codegen;
mod coverage;
mod tidy;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

const USAGE: &str = "\
usage: cargo xtask <task>

tasks:
  tidy                     check the layer rule, `//!` headers, ignored tests and migration names
  codegen [--check]        write docs/errors.md from strata_core::CATALOG and src/reference.rs from
                           migrations/ (--check: fail when stale)
  bench [--report-only] [ARGS]...
                           run `cargo bench -p strata --bench pool --bench ops --bench queue
                           --bench scrape --bench documents ARGS...`,
                           then write target/bench-report.md (--report-only: skip the run)
  coverage [ARGS]...       run the workspace's tests under `cargo llvm-cov` (installed if missing),
                           print the summary, fail below 90% of lines; ARGS go to cargo llvm-cov";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some((task, rest)) = args.split_first() else {
        eprintln!("{USAGE}");
        return ExitCode::from(2);
    };
    let root = project_root();
    let outcome = match task.as_str() {
        "tidy" => tidy::run(&root),
        "codegen" => match rest {
            [] => codegen::run(&root, codegen::Mode::Write),
            [flag] if flag == "--check" => codegen::run(&root, codegen::Mode::Check),
            _ => usage_error(&format!("unexpected arguments for codegen: {}", rest.join(" "))),
        },
        "bench" => bench::run(&root, rest),
        "coverage" => coverage::run(&root, rest),
        "help" | "-h" | "--help" => {
            println!("{USAGE}");
            Ok(())
        }
        other => usage_error(&format!("unknown task `{other}`")),
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::FAILURE
        }
    }
}

/// What a task returns: `Err` carries the complete message shown to the contributor.
pub type Result<T = (), E = String> = std::result::Result<T, E>;

/// The workspace root: the parent of xtask's own manifest directory.
pub fn project_root() -> PathBuf {
    let manifest_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    // Cannot fail: cargo sets CARGO_MANIFEST_DIR to the absolute path of `xtask/`,
    // which always has the workspace root as its parent.
    manifest_dir.parent().expect("xtask/ lives inside the workspace root").to_path_buf()
}

fn usage_error(message: &str) -> Result {
    Err(format!("{message}\n\n{USAGE}"))
}
