//! `cargo xtask coverage`: the workspace's tests run under cargo-llvm-cov (installed
//! on first use, with rustup's llvm-tools), its summary printed, and a failure when
//! fewer than [`MIN_LINES_PERCENT`] of the lines ran. CI runs it after the tests.

use std::ffi::OsString;
use std::path::Path;
use std::process::{Command, Stdio};

use crate::Result;

/// The share of the workspace's lines its tests must run, in percent: the gate.
pub const MIN_LINES_PERCENT: u32 = 90;

/// `cargo llvm-cov` and its arguments, before any the contributor adds. It builds in
/// its own target dir (`$CARGO_TARGET_DIR/llvm-cov-target`), so the normal build's
/// artefacts are kept.
pub fn llvm_cov_args(extra: &[String]) -> Vec<String> {
    let gate = MIN_LINES_PERCENT.to_string();
    ["llvm-cov", "--workspace", "--summary-only", "--fail-under-lines", gate.as_str()]
        .into_iter()
        .map(str::to_string)
        .chain(extra.iter().cloned())
        .collect()
}

/// Installs what is missing, then runs [`llvm_cov_args`] in `root`; `Err` when a test
/// fails or line coverage is under the gate.
pub fn run(root: &Path, extra: &[String]) -> Result {
    ensure_installed()?;
    let args = llvm_cov_args(extra);
    println!("running: cargo {}", args.join(" "));
    let status = Command::new(cargo())
        .current_dir(root)
        .args(&args)
        .status()
        .map_err(|e| format!("cannot run cargo llvm-cov: {e}"))?;
    if !status.success() {
        return Err(format!(
            "coverage failed ({status}): a test failed, or fewer than {MIN_LINES_PERCENT}% of lines ran \
             (the summary above lists each file)"
        ));
    }
    Ok(())
}

/// `rustup component add llvm-tools-preview` (a no-op when present) and, when
/// `cargo llvm-cov` is not there, `cargo install cargo-llvm-cov --locked`.
fn ensure_installed() -> Result {
    run_tool("rustup", &["component", "add", "llvm-tools-preview"])?;
    let present = Command::new(cargo())
        .args(["llvm-cov", "--version"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|status| status.success());
    if !present {
        println!("cargo-llvm-cov is missing: installing it");
        run_tool(&cargo().to_string_lossy(), &["install", "cargo-llvm-cov", "--locked"])?;
    }
    Ok(())
}

fn run_tool(program: &str, args: &[&str]) -> Result {
    let status = Command::new(program)
        .args(args)
        .status()
        .map_err(|e| format!("cannot run {program} {}: {e}", args.join(" ")))?;
    if !status.success() {
        return Err(format!("{program} {} failed ({status})", args.join(" ")));
    }
    Ok(())
}

fn cargo() -> OsString {
    std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_gate_is_ninety_percent_of_the_workspace_lines() {
        let args = llvm_cov_args(&["--html".to_string()]);
        assert_eq!(args, ["llvm-cov", "--workspace", "--summary-only", "--fail-under-lines", "90", "--html"]);
    }

    #[test]
    fn ci_runs_the_coverage_gate_after_the_tests() {
        let ci = std::fs::read_to_string(crate::project_root().join(".ci/run")).expect(".ci/run is readable");
        let tests = ci.find("\ncargo test --workspace\n").expect(".ci/run runs cargo test --workspace");
        let coverage = ci.find("\ncargo xtask coverage\n").expect(".ci/run runs cargo xtask coverage");
        assert!(tests < coverage, "the coverage gate runs after the tests");
    }
}
