//! `strata init`: create the database if missing, open it with the PRAGMAs, apply
//! the reference migrations, say what was done, and close it cleanly.

use serde::Serialize;
use strata::{CloseReport, Config, Database, Settings, UpReport};

use crate::output::{Outcome, Output};

#[derive(Serialize)]
struct InitReport {
    path: String,
    created: bool,
    migrated: Option<UpReport>,
    writer: Settings,
    reader: Settings,
    close: CloseReport,
}

/// Runs `strata init`.
pub async fn run(config: &Config, out: &Output) -> strata::Result<Outcome> {
    let db = Database::open(config).await?;
    let (writer, reader) = db.pool().settings().await?;
    let created = db.open_report().created;
    let migrated = db.open_report().migrated.clone();
    let close = db.close().await?;
    let report =
        InitReport { path: config.path.display().to_string(), created, migrated, writer, reader, close };
    out.print(&report, render);
    Ok(Outcome::Success)
}

fn render(r: &InitReport) -> String {
    let w = &r.writer;
    let verb = if r.created { "created" } else { "opened existing" };
    let mut text = format!("{verb} {} (sqlite {})\n", r.path, w.sqlite_version);
    text += &format!(
        "pragmas: journal_mode={} synchronous={} foreign_keys={} busy_timeout={}ms temp_store={}\n",
        w.journal_mode,
        w.synchronous,
        if w.foreign_keys { "on" } else { "off" },
        w.busy_timeout_ms,
        w.temp_store
    );
    text += &format!(
        "         cache_size={} mmap_size={} journal_size_limit={} wal_autocheckpoint={}\n",
        w.cache_size, w.mmap_size, w.journal_size_limit, w.wal_autocheckpoint
    );
    text += &format!("readers: query_only={}\n", if r.reader.query_only { "on" } else { "off" });
    text += &match &r.migrated {
        None => "migrations: none configured\n".to_string(),
        Some(m) if m.applied.is_empty() => format!("migrations: up to date at {}\n", version(m.to)),
        Some(m) => format!(
            "migrations: applied {} ({}), now at {}\n",
            m.applied.len(),
            m.applied.iter().map(|a| a.file.trim_end_matches(".sql")).collect::<Vec<_>>().join(", "),
            version(m.to)
        ),
    };
    text += &format!("size: {} pages of {} bytes\n", w.page_count, w.page_size);
    let c = &r.close;
    let upkeep = if c.commits == 0 {
        "nothing written, no upkeep".to_string()
    } else {
        let optimized = if c.optimized { "optimized" } else { "optimize given up (database busy)" };
        let checkpointed =
            if c.checkpointed { "checkpointed" } else { "checkpoint given up (database busy)" };
        format!("{optimized}, {checkpointed}")
    };
    let wal = if c.wal_removed { "no -wal/-shm left" } else { "-wal/-shm still present" };
    text += &format!("closed: {upkeep}, {wal}\n");
    text
}

fn version(v: Option<i64>) -> String {
    v.map_or_else(|| "no version".to_string(), |v| format!("V{v}"))
}
