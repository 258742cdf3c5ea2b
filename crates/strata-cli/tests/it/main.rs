//! The `strata` binary as a script sees it, one module per command family; every
//! test runs the real binary in its own temp directory.

mod advise;
mod audit;
mod backup;
mod cache;
mod check;
mod codegen;
mod demo;
mod docs;
mod flags;
mod holder;
mod init;
mod logging;
mod metrics;
mod migrate;
mod offline;
mod queue;
mod readonly;
mod replication;
mod schema;
mod searches;
mod serve;
mod stats;

use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// `strata ARGS` in `dir`, without the environment that would change what it does:
/// the database, the config, the log level and format, the serve token.
pub fn command(dir: &Path, args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_strata"));
    command
        .args(args)
        .current_dir(dir)
        .env_remove("STRATA_DB")
        .env_remove("STRATA_CONFIG")
        .env_remove("RUST_LOG")
        .env_remove("STRATA_LOG_FORMAT")
        .env_remove("STRATA_SERVE_TOKEN");
    command
}

/// Runs `strata` in `dir` with a clean environment.
pub fn strata(dir: &Path, args: &[&str]) -> Output {
    command(dir, args).output().expect("strata runs")
}

/// Starts `strata ARGS` in `dir` with a clean environment, stdout and stderr piped.
pub fn spawn(dir: &Path, args: &[&str]) -> Child {
    command(dir, args).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().expect("strata starts")
}

/// The lines of `stream`, read on a thread of their own; the channel ends with the
/// stream (when the process exits).
pub fn lines_of(stream: impl Read + Send + 'static) -> mpsc::Receiver<String> {
    let (send, lines) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stream).lines().map_while(Result::ok) {
            if send.send(line).is_err() {
                return;
            }
        }
    });
    lines
}

/// Waits up to 30 s for a line that `wanted` accepts and returns the lines that came
/// before it; panics with them, saying `what` was missing, when none comes.
pub fn lines_until(lines: &mpsc::Receiver<String>, what: &str, wanted: impl Fn(&str) -> bool) -> Vec<String> {
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut before = Vec::new();
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match lines.recv_timeout(left) {
            Ok(line) if wanted(&line) => return before,
            Ok(line) => before.push(line),
            Err(_) => panic!("no {what} within 30 s; lines so far: {before:#?}"),
        }
    }
}

/// Runs `strata ARGS` in `dir`, checks the exit code and parses stdout as JSON.
pub fn json_doc(dir: &Path, args: &[&str], code: i32) -> serde_json::Value {
    let out = strata(dir, args);
    assert_eq!(
        out.status.code(),
        Some(code),
        "{args:?}: {}{}",
        text(&out.stdout, dir),
        text(&out.stderr, dir)
    );
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{args:?}: {e}: {}", text(&out.stdout, dir)))
}

/// Output as text with the temp dir, the SQLite version and timestamps replaced,
/// so that snapshots are stable.
pub fn text(bytes: &[u8], dir: &Path) -> String {
    let version = strata::pool::rusqlite::version();
    let text = String::from_utf8_lossy(bytes)
        .replace(&dir.display().to_string(), "[DIR]")
        .replace(version, "[VERSION]");
    mask_timestamps(&text)
}

/// Replaces RFC 3339 timestamps (`2026-11-23T09:26:13.812Z`) with `[TIME]`.
fn mask_timestamps(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let bytes = text.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        let looks_like_date = bytes.len() - i >= 20
            && bytes[i..i + 4].iter().all(u8::is_ascii_digit)
            && bytes[i + 4] == b'-'
            && bytes[i + 10] == b'T';
        if looks_like_date && let Some(end) = text[i..].find('Z') {
            out.push_str("[TIME]");
            i += end + 1;
            continue;
        }
        let ch = text[i..].chars().next().unwrap_or_default();
        out.push(ch);
        i += ch.len_utf8().max(1);
    }
    out
}

/// Writes a migration pair into `dir`.
pub fn write_migration(dir: &Path, stem: &str, up: &str, down: Option<&str>) {
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(dir.join(format!("{stem}.sql")), up).unwrap();
    if let Some(down) = down {
        std::fs::write(dir.join(format!("{stem}.down.sql")), down).unwrap();
    }
}
