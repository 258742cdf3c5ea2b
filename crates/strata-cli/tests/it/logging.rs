//! `--log-format json`: the log lines on stderr are JSON objects, and the operations'
//! span events carry `op`, `tables`, `rows`, `duration_ms`, `outcome` and `code`.

use std::path::Path;

use serde_json::Value;

use crate::strata;

/// Every log line of `stderr` parsed as JSON. The only other lines allowed are the
/// failure report a failed command ends with (`E#### message`, `hint: ...`).
fn json_lines(stderr: &[u8]) -> Vec<Value> {
    let text = String::from_utf8_lossy(stderr);
    let mut lines = Vec::new();
    for line in text.lines().filter(|line| !line.trim().is_empty()) {
        if line.starts_with('{') {
            let parsed = serde_json::from_str(line);
            lines.push(parsed.unwrap_or_else(|e| panic!("not a JSON line ({e}): {line}\n{text}")));
        } else {
            let report = line.starts_with("hint: ")
                || (line.starts_with('E') && line[1..].starts_with(char::is_numeric));
            assert!(report, "a log line that is not JSON: {line}\n{text}");
        }
    }
    lines
}

/// The `strata::op` events of `lines` for the operation `op`.
fn op_events<'a>(lines: &'a [Value], op: &str) -> Vec<&'a Value> {
    lines.iter().filter(|l| l["target"] == "strata::op" && l["fields"]["op"] == op).collect()
}

fn run(dir: &Path, args: &[&str]) -> (Option<i32>, Vec<Value>) {
    let out = strata(dir, args);
    (out.status.code(), json_lines(&out.stderr))
}

#[test]
fn log_format_json_writes_each_operation_as_a_json_line_with_its_span_fields() {
    let dir = tempfile::tempdir().unwrap();
    let (code, lines) = run(dir.path(), &["--db", "app.db", "--log-format", "json", "-vv", "init"]);
    assert_eq!(code, Some(0), "{lines:?}");
    let open = op_events(&lines, "database.open");
    assert_eq!(open.len(), 1, "one end event for the open: {lines:#?}");
    let event = open[0];
    assert_eq!(event["level"], "DEBUG");
    assert_eq!(event["fields"]["outcome"], "ok");
    assert_eq!(event["fields"]["tables"], "*");
    assert!(event["fields"]["duration_ms"].is_number(), "{event}");
    assert!(event["fields"]["rows"].is_number(), "{event}");
    // The span itself is named, with the operation's fields.
    assert_eq!(event["span"]["name"], "strata.op", "{event}");
    assert_eq!(event["span"]["op"], "database.open", "{event}");
}

#[test]
fn a_failed_operation_is_a_warn_json_line_with_its_code_at_the_default_level() {
    let dir = tempfile::tempdir().unwrap();
    let (code, lines) = run(dir.path(), &["--log-format", "json", "backup", "verify", "missing.db"]);
    assert_eq!(code, Some(3), "{lines:?}");
    let failed = op_events(&lines, "backup.verify");
    assert_eq!(failed.len(), 1, "{lines:#?}");
    assert_eq!(failed[0]["level"], "WARN");
    assert_eq!(failed[0]["fields"]["outcome"], "error");
    assert_eq!(failed[0]["fields"]["code"], "E2004");
    // Debug events (successes) and the info-level spans stay out at the default level;
    // the event itself carries the operation's fields.
    assert!(lines.iter().all(|l| l["level"] != "DEBUG"), "{lines:#?}");
    assert_eq!(failed[0]["fields"]["tables"], "*");
}

#[test]
fn strata_log_format_in_the_environment_picks_json_and_text_stays_the_default() {
    let dir = tempfile::tempdir().unwrap();
    let json = std::process::Command::new(env!("CARGO_BIN_EXE_strata"))
        .args(["backup", "verify", "missing.db"])
        .current_dir(dir.path())
        .env_remove("RUST_LOG")
        .env("STRATA_LOG_FORMAT", "json")
        .output()
        .unwrap();
    let lines = json_lines(&json.stderr);
    assert_eq!(op_events(&lines, "backup.verify").len(), 1, "{lines:#?}");

    // Text at the default level leaves the operation's warning out (the failure report
    // says the same); -v shows it.
    let text = strata(dir.path(), &["backup", "verify", "missing.db"]);
    let stderr = String::from_utf8_lossy(&text.stderr);
    assert!(!stderr.contains("operation failed") && stderr.starts_with("E2004"), "{stderr}");
    let verbose = strata(dir.path(), &["-v", "backup", "verify", "missing.db"]);
    let stderr = String::from_utf8_lossy(&verbose.stderr);
    assert!(stderr.contains("operation failed") && stderr.contains("\"backup.verify\""), "{stderr}");
    assert!(!stderr.trim_start().starts_with('{'), "{stderr}");
}

/// Issue 21: with no `-v`/`-q` and no `RUST_LOG`, the config's `log.level` sets the
/// level at start; the flags override it; a bad directive is E1012.
#[test]
fn the_config_log_level_sets_the_level_unless_a_flag_does() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("strata.toml"), "[log]\nlevel = \"warn,strata::op=debug\"\n").unwrap();
    let args = ["--config", "strata.toml", "--db", "app.db", "--log-format", "json", "init"];
    let (code, lines) = run(d, &args);
    assert_eq!(code, Some(0), "{lines:?}");
    assert_eq!(op_events(&lines, "database.open").len(), 1, "debug from log.level: {lines:#?}");

    let (code, lines) = run(d, &[&args[..], &["-q"]].concat());
    assert_eq!(code, Some(0), "{lines:?}");
    assert!(lines.is_empty(), "-q wins over log.level: {lines:#?}");

    std::fs::write(d.join("strata.toml"), "[log]\nlevel = \"warn,strata::op=loud\"\n").unwrap();
    let doc = crate::json_doc(d, &["--config", "strata.toml", "--json", "check"], 3);
    assert_eq!(doc["code"], "E1012", "{doc}");
    assert!(doc["message"].as_str().unwrap().contains("`strata::op=loud`"), "{doc}");
}
