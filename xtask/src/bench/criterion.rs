//! Reading criterion's results: its directories, median estimates and throughputs.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use super::report::format_time;

/// The directory criterion writes into: `$CRITERION_HOME`, else `<target>/criterion`.
pub fn criterion_dir(target_dir: &Path) -> PathBuf {
    match std::env::var_os("CRITERION_HOME") {
        Some(home) => PathBuf::from(home),
        None => target_dir.join("criterion"),
    }
}

/// Cargo's target directory: `$CARGO_TARGET_DIR` (relative to `root`), else `root/target`.
pub fn target_dir(root: &Path) -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) => root.join(dir),
        None => root.join("target"),
    }
}

/// The directory name criterion gives an id: the characters that file systems refuse
/// become `_`, and the name is cut to 64 bytes (criterion's `make_filename_safe`).
pub fn criterion_dir_name(id: &str) -> String {
    const MAX_LEN: usize = 64;
    let mut name = id.replace(['?', '"', '/', '\\', '*', '<', '>', ':', '|', '^'], "_");
    let mut end = name.len().min(MAX_LEN);
    while !name.is_char_boundary(end) {
        end -= 1;
    }
    name.truncate(end);
    if cfg!(windows) {
        name = name.trim_end().to_lowercase();
    }
    name
}

/// One measured function, as far as the report is concerned.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Estimate {
    /// No `estimates.json`: the bench was not run (or filtered out).
    NotRun,
    /// The file exists but holds no usable median.
    Unreadable(String),
    /// The median time in nanoseconds; `stale` when written before this run started.
    Measured { nanos: f64, stale: bool },
}

impl Estimate {
    pub(super) fn nanos(&self) -> Option<f64> {
        match self {
            Estimate::Measured { nanos, .. } => Some(*nanos),
            _ => None,
        }
    }

    pub(super) fn is_stale(&self) -> bool {
        matches!(self, Estimate::Measured { stale: true, .. })
    }

    pub(super) fn cell(&self) -> String {
        match self {
            Estimate::NotRun => "not run".into(),
            Estimate::Unreadable(_) => "unreadable".into(),
            Estimate::Measured { nanos, .. } => format_time(*nanos),
        }
    }
}

pub(super) fn read_estimate(
    criterion_dir: &Path,
    group: &str,
    function: &str,
    fresh_since: Option<SystemTime>,
) -> Estimate {
    let path = criterion_dir
        .join(criterion_dir_name(group))
        .join(criterion_dir_name(function))
        .join("new")
        .join("estimates.json");
    let text = match fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Estimate::NotRun,
        Err(e) => return Estimate::Unreadable(format!("{}: {e}", path.display())),
    };
    // The median, not the mean: on a shared 2-core VM a few samples stall for
    // reasons outside the bench (another guest, a host flush), and the mean carries
    // them into the ratio while the median does not.
    let median = serde_json::from_str::<serde_json::Value>(&text)
        .ok()
        .and_then(|json| json.pointer("/median/point_estimate").and_then(serde_json::Value::as_f64));
    let Some(nanos) = median.filter(|n| n.is_finite() && *n > 0.0) else {
        return Estimate::Unreadable(format!("{}: no positive median.point_estimate", path.display()));
    };
    // File times can be coarser than the clock; a second of slack keeps this run's
    // results from looking older than the moment the run started.
    let stale = fresh_since.is_some_and(|since| {
        let written = fs::metadata(&path).and_then(|m| m.modified()).ok();
        written.is_none_or(|written| written + Duration::from_secs(1) < since)
    });
    Estimate::Measured { nanos, stale }
}

/// The bytes or elements one iteration works on: `throughput.<kind>` (`Bytes`,
/// `Elements`) of criterion's `benchmark.json`.
pub(super) fn read_throughput(criterion_dir: &Path, group: &str, function: &str, kind: &str) -> Option<u64> {
    let path = criterion_dir
        .join(criterion_dir_name(group))
        .join(criterion_dir_name(function))
        .join("new")
        .join("benchmark.json");
    let json = serde_json::from_str::<serde_json::Value>(&fs::read_to_string(path).ok()?).ok()?;
    json.pointer(&format!("/throughput/{kind}")).and_then(serde_json::Value::as_u64).filter(|&n| n > 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn directory_names_follow_criterion() {
        assert_eq!(criterion_dir_name("point_read_1m"), "point_read_1m");
        assert_eq!(criterion_dir_name("a/b:c*d"), "a_b_c_d");
        assert_eq!(criterion_dir_name(&"x".repeat(80)).len(), 64);
    }
}
