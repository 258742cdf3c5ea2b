//! `strata stats`: file sizes, rows per table, the query statistics the monitor
//! exported beside the database (else those of this command), and pool metrics.
//! The database is opened read-only: the command changes nothing in it.

use serde::Serialize;
use strata::ops::stats::{Origin, QueryStats, StatsReport, display_ms, export_path};
use strata::{Config, Database, MetricsSnapshot};

use crate::check::bytes;
use crate::output::{Outcome, Output, table};

#[derive(Serialize)]
struct Stats {
    path: String,
    db_bytes: u64,
    wal_bytes: u64,
    page_size: i64,
    page_count: i64,
    tables: Vec<TableRows>,
    /// `exported` (written by a running application's monitor) or `this command`.
    queries_from: String,
    /// Whether `queries` holds the application's statements only (`--app`).
    app_only: bool,
    queries: StatsReport,
    pool: MetricsSnapshot,
}

#[derive(Serialize)]
struct TableRows {
    table: String,
    rows: i64,
}

const TABLE_NAMES: &str = "SELECT name FROM sqlite_schema WHERE type = 'table' \
     AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' ORDER BY name";

/// Runs `strata stats`; with `app_only`, the query statistics leave strata's own
/// statements out.
pub async fn run(config: &Config, app_only: bool, out: &Output) -> strata::Result<Outcome> {
    let db = Database::open_read_only(config).await?;
    let own = QueryStats::install(db.pool(), config.monitor.query_stats_capacity)?;
    let counted = db
        .pool()
        .read(|conn| {
            let mut stmt = conn.prepare(TABLE_NAMES)?;
            let names: Vec<String> = stmt.query_map([], |r| r.get(0))?.collect::<Result<_, _>>()?;
            let mut tables = Vec::new();
            let mut counts = Vec::new();
            for table in names {
                let quoted = format!("\"{}\"", table.replace('"', "\"\""));
                let count = format!("SELECT count(*) FROM {quoted}");
                let rows = conn.query_row(&count, [], |r| r.get(0))?;
                counts.push(count);
                tables.push(TableRows { table, rows });
            }
            let page_size = conn.query_row("PRAGMA page_size", [], |r| r.get(0))?;
            let page_count = conn.query_row("PRAGMA page_count", [], |r| r.get(0))?;
            Ok((tables, counts, page_size, page_count))
        })
        .await;
    let pool = db.pool().metrics();
    let wal = std::fs::metadata(format!("{}-wal", config.path.display())).map(|m| m.len()).unwrap_or(0);
    db.close().await?;
    let (tables, counts, page_size, page_count) = counted?;
    // This command's statements are strata's own, like every statement of its run.
    own.mark_own(counts.iter().map(String::as_str));
    let (queries_from, queries) = match StatsReport::read(&export_path(&config.path))? {
        Some(exported) => ("exported".to_string(), exported),
        None => ("this command".to_string(), own.report()),
    };
    let queries = if app_only { queries.only(Origin::Application) } else { queries };
    let stats = Stats {
        path: config.path.display().to_string(),
        db_bytes: std::fs::metadata(&config.path).map(|m| m.len()).unwrap_or(0),
        wal_bytes: wal,
        page_size,
        page_count,
        tables,
        queries_from,
        app_only,
        queries,
        pool,
    };
    out.print(&stats, render);
    Ok(Outcome::Success)
}

fn render(s: &Stats) -> String {
    let mut text = format!(
        "{}: {} ({} pages of {} bytes), wal {}\n\n",
        s.path,
        bytes(s.db_bytes),
        s.page_count,
        s.page_size,
        bytes(s.wal_bytes)
    );
    text += &table(&["table", "rows"], s.tables.iter().map(|t| vec![t.table.clone(), t.rows.to_string()]));
    let only = if s.app_only { "the application's only, " } else { "" };
    text += &format!("\nqueries ({}{}, since {}):\n", only, s.queries_from, s.queries.since);
    let ms = |v: f64| display_ms(v, s.queries.clock_resolution_ms);
    text += &table(
        &["count", "total", "p50", "p95", "p99", "rows", "scan steps", "sorts", "by", "statement"],
        s.queries.statements.iter().take(20).map(|q| {
            vec![
                q.count.to_string(),
                ms(q.total_ms),
                ms(q.p50_ms),
                ms(q.p95_ms),
                ms(q.p99_ms),
                q.rows.to_string(),
                q.full_scan_steps.to_string(),
                q.sorts.to_string(),
                match q.origin {
                    Origin::Application => "app".to_string(),
                    Origin::Strata => "strata".to_string(),
                },
                q.sql.chars().take(80).collect(),
            ]
        }),
    );
    if !s.queries.work.is_empty() {
        // Timed by the pool with the monotonic clock, so microseconds are real.
        let us = |v: f64| display_ms(v / 1e3, 0.001);
        text += "\npool work (monotonic clock):\n";
        text += &table(
            &["work", "count", "total", "p50", "p95", "p99", "max"],
            s.queries.work.iter().map(|w| {
                vec![
                    w.work.clone(),
                    w.count.to_string(),
                    us(w.total_us),
                    us(w.p50_us),
                    us(w.p95_us),
                    us(w.p99_us),
                    us(w.max_us),
                ]
            }),
        );
    }
    if s.queries.dropped > 0 {
        text +=
            &format!("({} runs of statements beyond the capacity were not recorded)\n", s.queries.dropped);
    }
    let p = &s.pool;
    text += &format!(
        "\npool (this command): readers {}/{} open, {} reads, {} writes in {} commits, \
         {} acquire timeouts, {} busy retries, {} slow statements\n",
        p.readers.open,
        p.readers.max,
        p.reader_acquires,
        p.writes,
        p.commits,
        p.acquire_timeouts,
        p.busy_retries,
        p.slow_statements
    );
    text
}
