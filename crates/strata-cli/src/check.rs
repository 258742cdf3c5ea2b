//! `strata check [--full]`: the health report of a database file, read-only, with
//! exit 1 when it finds problems (audit entries or metrics samples waiting in a spill file included); and the byte formatting the ops commands share.

use std::path::PathBuf;
use strata::ops::health::{self, CheckLevel, Finding, HealthOptions, HealthReport, Severity, Status};

use strata::repo::audit::{inspect_spill, spill_path};
use strata::repo::metrics;
use strata::repo::spill::DamagedLine;
use strata::{Config, Synchronous};

use crate::output::{Outcome, Output};

/// Runs `strata check`.
pub async fn run(full: bool, config: &Config, out: &Output) -> strata::Result<Outcome> {
    let level = if full { CheckLevel::Full } else { CheckLevel::Quick };
    let options = HealthOptions::from_config(level, config);
    let report = health::check_path(&config.path, &options).await?;
    let report = with_spills(report, config);
    out.print(&report, render);
    Ok(if report.has_problems() { Outcome::Problems } else { Outcome::Success })
}

/// Adds a warning (check `audit_spill` / `metrics_spill`) when entries wait in a
/// spill file beside the database, with their count, and one when it has damaged lines.
fn with_spills(mut report: HealthReport, config: &Config) -> HealthReport {
    let audit = inspect_spill(&spill_path(&config.path)).map(|s| (s.path, s.entries.len(), s.damaged));
    let metrics = metrics::inspect_spill(&metrics::spill_path(&config.path))
        .map(|s| (s.path, s.entries.len(), s.damaged));
    let mut findings = spill_findings("audit_spill", ("audit entry", "audit entries"), "audit", audit);
    findings.extend(spill_findings(
        "metrics_spill",
        ("metrics sample", "metrics samples"),
        "metrics",
        metrics,
    ));
    health::add_findings(&mut report, findings);
    report
}

/// The findings of one spill file, read as (path, entries waiting, damaged lines).
fn spill_findings(
    check: &str,
    noun: (&str, &str),
    command: &str,
    spill: strata::Result<(PathBuf, usize, Vec<DamagedLine>)>,
) -> Vec<Finding> {
    let finding = |message: String| Finding { severity: Severity::Warning, check: check.into(), message };
    let (path, waiting, damaged) = match spill {
        Ok(spill) => spill,
        Err(error) => {
            return vec![finding(format!("cannot read the {command} spill file: {}", error.code()))];
        }
    };
    let name = path.file_name().map_or_else(String::new, |n| n.to_string_lossy().into_owned());
    let mut findings = Vec::new();
    if waiting > 0 {
        findings.push(finding(format!(
            "{waiting} {} wait in {name} for replay (they replay once the database takes writes; \
             `strata {command} replay` replays them now)",
            if waiting == 1 { noun.0 } else { noun.1 }
        )));
    }
    if !damaged.is_empty() {
        let lines: Vec<String> = damaged.iter().map(|d| d.line.to_string()).collect();
        findings.push(finding(format!("{name} has {} damaged line(s): {}", lines.len(), lines.join(", "))));
    }
    findings
}

fn render(r: &HealthReport) -> String {
    let status = match r.status {
        Status::Ok => "ok",
        Status::Warning => "warning",
        Status::Critical => "critical",
    };
    let check = match r.level {
        CheckLevel::Quick => "quick_check",
        CheckLevel::Full => "integrity_check",
    };
    let mut text = format!("database: {}\nstatus: {status}\n", r.path.display());
    text += &match r.integrity.len() {
        0 if r.is_corrupt() => format!("{check}: could not run to the end\n"),
        0 => format!("{check}: ok\n"),
        n => format!("{check}: {n} problem(s)\n{}", indent(&r.integrity)),
    };
    text += &match r.foreign_keys.count {
        0 => "foreign keys: ok\n".to_string(),
        n => {
            let rows: Vec<String> = r
                .foreign_keys
                .shown
                .iter()
                .map(|f| match f.rowid {
                    Some(rowid) => format!("{} rowid {rowid} -> {}", f.table, f.parent),
                    None => format!("{} (without rowid) -> {}", f.table, f.parent),
                })
                .collect();
            format!("foreign keys: {n} violation(s)\n{}", indent(&rows))
        }
    };
    for p in &r.pragmas {
        let verdict = if p.ok() { "ok".to_string() } else { format!("expected {}", p.expected) };
        text += &format!("pragma: {} {}={} ({verdict})\n", p.scope, p.name, p.actual);
    }
    text += match r.synchronous {
        Synchronous::Normal => {
            "durability: synchronous=NORMAL (commits survive a process crash, not a power loss)\n"
        }
        Synchronous::Full => "durability: synchronous=FULL (commits survive a power loss or OS crash)\n",
    };
    text += &match r.replication.litestream_seen.as_slice() {
        [] => format!("replication: {}\n", r.replication.mode.as_str()),
        seen => format!("replication: {} (seen: {})\n", r.replication.mode.as_str(), seen.join(", ")),
    };
    let s = &r.storage;
    text += &format!(
        "storage: {} pages of {} bytes ({}), {} free page(s), wal {}\n",
        s.page_count,
        s.page_size,
        bytes(s.db_bytes),
        s.freelist_count,
        bytes(s.wal_bytes)
    );
    text += &match s.free_disk_bytes {
        Some(free) => format!("free disk: {}\n", bytes(free)),
        None => "free disk: unknown\n".to_string(),
    };
    if let Some(v) = &r.schema {
        let migration = v.migration.map_or_else(|| "none".to_string(), |m| format!("V{m}"));
        text += &format!(
            "schema: {} table(s), migration {migration}, schema_version {}, user_version {}\n",
            v.tables, v.schema_cookie, v.user_version
        );
    }
    if let Some(d) = &r.documents {
        text += &format!(
            "documents: {} live, {} file(s) ({}), {} missing, {} changed, {} orphan(s)\n",
            d.documents,
            d.files,
            bytes(d.bytes),
            d.missing.len(),
            d.changed.len(),
            d.orphans.len()
        );
    }
    if r.findings.is_empty() {
        text += "findings: none\n";
    } else {
        text += "findings:\n";
        for f in &r.findings {
            let severity = match f.severity {
                Severity::Info => "info",
                Severity::Warning => "warning",
                Severity::Critical => "critical",
            };
            text += &format!("  {severity} [{}] {}\n", f.check, f.message);
        }
        if r.is_corrupt() {
            text += "hint: stop writing; run `strata recover` to restore the newest verified backup\n";
        }
    }
    text
}

fn indent(lines: &[String]) -> String {
    lines.iter().map(|l| format!("  {l}\n")).collect()
}

/// `1.5 MiB`, `512 B`.
pub fn bytes(n: u64) -> String {
    health::display_bytes(n)
}
