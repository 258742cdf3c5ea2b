//! The page for people: server-rendered HTML with inline SVG charts and a small inline
//! script that fetches the page again every few seconds and swaps in its `#dashboard`
//! element (no full reload, nothing fetched from elsewhere).

use std::fmt::Write;
use std::time::Duration;

use strata::ops::Status;

use crate::collect::{Sample, View};

/// The whole page.
pub fn render(view: &View, refresh: Duration) -> String {
    let mut html = String::with_capacity(32 * 1024);
    let title = format!("strata · {}", escape(&view.file));
    let _ = write!(
        html,
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{title}</title><style>{STYLE}</style></head><body>\n"
    );
    dashboard(&mut html, view, refresh);
    let _ = write!(html, "<script>{}</script>\n</body></html>\n", script(refresh));
    html
}

/// The name of a status as the page and `/metrics` write it.
pub fn status_name(status: Status) -> &'static str {
    match status {
        Status::Ok => "ok",
        Status::Warning => "warning",
        Status::Critical => "critical",
    }
}

/// The `#dashboard` element: everything that refreshes.
fn dashboard(html: &mut String, view: &View, refresh: Duration) {
    let status = view.status.map_or("unknown", status_name);
    let _ = write!(
        html,
        "<main id=\"dashboard\" data-refresh-ms=\"{}\"><header><h1>strata · {}</h1>\
         <span id=\"status\" class=\"status status-{status}\">{status}</span>",
        refresh.as_millis(),
        escape(&view.file)
    );
    if let Some(report) = &view.health {
        let _ = write!(
            html,
            "<span class=\"muted\">checked {} ({} check, {} ms)</span>",
            escape(&report.checked_at),
            match report.level {
                strata::ops::CheckLevel::Quick => "quick",
                strata::ops::CheckLevel::Full => "full",
            },
            report.duration_ms
        );
    }
    html.push_str("</header>\n");
    if let Some(err) = &view.health_error {
        let _ = write!(html, "<p class=\"error\">health check failed: {}</p>", escape(err));
    }

    html.push_str("<section id=\"findings\"><h2>Findings</h2>");
    match &view.health {
        Some(report) if !report.findings.is_empty() => {
            html.push_str("<ul>");
            for f in &report.findings {
                let severity = format!("{:?}", f.severity).to_lowercase();
                let _ = write!(
                    html,
                    "<li class=\"sev-{severity}\"><b>{severity}</b> {}: {}</li>",
                    escape(&f.check),
                    escape(&f.message)
                );
            }
            html.push_str("</ul>");
        }
        Some(_) => html.push_str("<p>nothing found</p>"),
        None => html.push_str("<p>no report yet</p>"),
    }
    html.push_str("</section>\n");

    html.push_str("<section id=\"charts\"><h2>Recent history</h2><div class=\"charts\">");
    let h = &view.history;
    chart(html, "chart-wal", "WAL size (bytes)", h, &[("wal", |s: &Sample| Some(s.wal_bytes as f64))]);
    chart(
        html,
        "chart-latency",
        "Acquire latency (µs): p50 p95 p99",
        h,
        &[
            ("p50", |s: &Sample| s.latency_p50_us.map(|v| v as f64)),
            ("p95", |s: &Sample| s.latency_p95_us.map(|v| v as f64)),
            ("p99", |s: &Sample| s.latency_p99_us.map(|v| v as f64)),
        ],
    );
    chart(
        html,
        "chart-commit",
        "Commit latency (µs, writer COMMIT since statistics started): p50 p95 p99",
        h,
        &[
            ("p50", |s: &Sample| s.commit_p50_us),
            ("p95", |s: &Sample| s.commit_p95_us),
            ("p99", |s: &Sample| s.commit_p99_us),
        ],
    );
    chart(
        html,
        "chart-queue",
        "Queue depth (pending + running)",
        h,
        &[("depth", |s: &Sample| Some(s.queue_depth as f64))],
    );
    let commits = match view.read_only {
        true => "Writes and commits per second (of this server's pool: none when read-only)",
        false => "Writes and commits per second",
    };
    chart(
        html,
        "chart-writes",
        commits,
        h,
        &[
            ("writes/s", |s: &Sample| Some(s.writes_per_sec)),
            ("commits/s", |s: &Sample| Some(s.commits_per_sec)),
        ],
    );
    html.push_str("</div></section>\n");

    let _ = write!(
        html,
        "<section><h2>Slowest statements <span class=\"muted\">({})</span></h2>\
         <table id=\"statements\"><tr><th>statement</th><th>calls</th><th>p50</th><th>p95</th><th>p99</th><th>rows</th></tr>",
        view.statements_from
    );
    if view.statements.is_empty() {
        html.push_str("<tr><td colspan=\"6\" class=\"muted\">no statement statistics yet</td></tr>");
    }
    // SQLite's statement clock counts whole milliseconds: below it reads `<1 ms`, never 0.
    let ms = |v: f64| strata::ops::stats::display_ms(v, strata::ops::stats::STATEMENT_CLOCK_RESOLUTION_MS);
    for s in &view.statements {
        let _ = write!(
            html,
            "<tr><td class=\"sql\">{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            escape(&s.sql),
            s.count,
            escape(&ms(s.p50_ms)),
            escape(&ms(s.p95_ms)),
            escape(&ms(s.p99_ms)),
            s.rows
        );
    }
    html.push_str("</table></section>\n");

    html.push_str(
        "<section><h2>Queues</h2><table id=\"queues\"><tr><th>queue</th><th>pending</th><th>ready now</th>\
         <th>running</th><th>completed</th><th>failed</th><th>cancelled</th><th>dead</th></tr>",
    );
    if view.queues.is_empty() {
        html.push_str("<tr><td colspan=\"8\" class=\"muted\">no tasks</td></tr>");
    }
    for q in &view.queues {
        let _ = write!(
            html,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            escape(&q.queue),
            q.pending,
            q.ready_now,
            q.running,
            q.completed,
            q.failed,
            q.cancelled,
            q.dead
        );
    }
    let dead: u64 = view.queues.iter().map(|q| q.dead).sum();
    let _ = write!(
        html,
        "</table><p>dead tasks: {dead}; oldest ready task: {}</p></section>",
        view.oldest_ready_age_secs.map_or("none".to_string(), |s| format!("{s} s old"))
    );

    html.push_str(
        "<section><h2>Backups</h2><table id=\"backups\"><tr><th>file</th><th>state</th><th>size</th><th>taken</th><th>verified</th></tr>",
    );
    if view.backups.is_empty() {
        html.push_str("<tr><td colspan=\"5\" class=\"muted\">no backups</td></tr>");
    }
    for b in &view.backups {
        let state = serde_json::to_value(b.state)
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default();
        let _ = write!(
            html,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            escape(&b.file),
            escape(&state),
            bytes(b.size_bytes),
            escape(b.created_at.as_deref().unwrap_or("-")),
            match b.verified {
                Some(true) => "yes",
                Some(false) => "FAILED",
                None => "-",
            }
        );
    }
    html.push_str("</table></section>\n");
    html.push_str("<div class=\"grid\">");
    if let Some(report) = &view.health {
        html.push_str("<section id=\"integrity\"><h2>Integrity and foreign keys</h2><ul>");
        match report.integrity.is_empty() {
            true => html.push_str("<li>integrity: ok</li>"),
            false => {
                for line in &report.integrity {
                    let _ = write!(html, "<li class=\"sev-critical\">integrity: {}</li>", escape(line));
                }
            }
        }
        let _ =
            writeln!(html, "<li>foreign key violations: {}</li></ul></section>", report.foreign_keys.count);

        let differ = report.pragmas.iter().filter(|p| !p.ok()).count();
        let _ = write!(
            html,
            "<section id=\"pragmas\"><h2>PRAGMA audit</h2><details{}><summary>{} settings, {differ} differ</summary>\
             <table><tr><th>scope</th><th>pragma</th><th>expected</th><th>actual</th><th></th></tr>",
            if differ > 0 { " open" } else { "" },
            report.pragmas.len()
        );
        for p in &report.pragmas {
            let _ = write!(
                html,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                escape(&p.scope),
                escape(&p.name),
                escape(&p.expected),
                escape(&p.actual),
                if p.ok() { "ok" } else { "differs" }
            );
        }
        html.push_str("</table></details></section>\n");
    }

    html.push_str("<section id=\"storage\"><h2>Storage</h2><table>");
    if let Some(s) = &view.storage {
        let _ = write!(
            html,
            "<tr><td>database</td><td>{}</td></tr><tr><td>WAL</td><td>{}</td></tr>\
             <tr><td>freelist</td><td>{} ({} pages)</td></tr><tr><td>free disk</td><td>{}</td></tr>",
            bytes(s.db_bytes),
            bytes(s.wal_bytes),
            bytes(s.freelist_count * s.page_size),
            s.freelist_count,
            s.free_disk_bytes.map_or("unknown".to_string(), bytes)
        );
    }
    html.push_str("</table></section>\n");

    let p = &view.pool;
    let per_commit = match p.commits {
        0 => "-".to_string(),
        n => format!("{:.1}", p.writes as f64 / n as f64),
    };
    let _ = write!(
        html,
        "<section id=\"pool\"><h2>Pool{}</h2><table>\
         <tr><td>readers in use</td><td>{} of {} open (max {})</td></tr>\
         <tr><td>waiting for a reader</td><td>{}</td></tr><tr><td>writes per commit</td><td>{per_commit}</td></tr>\
         <tr><td>busy retries</td><td>{}</td></tr><tr><td>acquire timeouts</td><td>{}</td></tr></table></section>",
        if view.read_only {
            " <span class=\"muted\">(this server's read-only connections)</span>"
        } else {
            ""
        },
        p.readers.in_use,
        p.readers.open,
        p.readers.max,
        p.readers.waiting,
        p.busy_retries,
        p.acquire_timeouts
    );

    html.push_str("</div></main>\n");
}

/// A chart's line: its name and how to read its value off a sample.
type Series = (&'static str, fn(&Sample) -> Option<f64>);

/// A line chart of `series` over `samples` as inline SVG.
fn chart(html: &mut String, id: &str, title: &str, samples: &[Sample], series: &[Series]) {
    const W: f64 = 560.0;
    const H: f64 = 160.0;
    const PAD: f64 = 30.0;
    let max = samples.iter().flat_map(|s| series.iter().filter_map(|(_, f)| f(s))).fold(0.0_f64, f64::max);
    let top = if max > 0.0 { max * 1.1 } else { 1.0 };
    let _ = write!(
        html,
        "<figure><figcaption>{}</figcaption><svg id=\"{id}\" class=\"chart\" viewBox=\"0 0 {W} {H}\" \
         width=\"{W}\" height=\"{H}\" role=\"img\" aria-label=\"{}\" xmlns=\"http://www.w3.org/2000/svg\">\
         <rect x=\"{PAD}\" y=\"4\" width=\"{}\" height=\"{}\" class=\"frame\"/>\
         <text x=\"2\" y=\"14\" class=\"axis\">{}</text><text x=\"2\" y=\"{}\" class=\"axis\">0</text>",
        escape(title),
        escape(title),
        W - PAD - 4.0,
        H - PAD,
        short_number(max),
        H - PAD + 4.0
    );
    let n = samples.len();
    for (i, (name, f)) in series.iter().enumerate() {
        let points: Vec<String> = samples
            .iter()
            .enumerate()
            .filter_map(|(j, s)| {
                let v = f(s)?;
                let x = PAD + if n > 1 { j as f64 * (W - PAD - 4.0) / (n - 1) as f64 } else { 0.0 };
                let y = 4.0 + (H - PAD) * (1.0 - v / top);
                Some(format!("{x:.1},{y:.1}"))
            })
            .collect();
        let _ = write!(
            html,
            "<polyline class=\"line s{i}\" fill=\"none\" points=\"{}\"><title>{}</title></polyline>\
             <text x=\"{}\" y=\"{}\" class=\"legend s{i}\">{}</text>",
            points.join(" "),
            escape(name),
            PAD + 4.0 + i as f64 * 70.0,
            H - 6.0,
            escape(name)
        );
    }
    let _ = write!(
        html,
        "<text x=\"{}\" y=\"{}\" class=\"axis\">{n} samples</text></svg></figure>",
        W - 90.0,
        H - 6.0
    );
}

/// The script that refreshes `#dashboard` in place.
fn script(refresh: Duration) -> String {
    format!(
        "(function(){{var ms={};setInterval(function(){{\
         fetch(location.href,{{cache:'no-store',credentials:'same-origin'}})\
         .then(function(r){{return r.ok?r.text():null}})\
         .then(function(t){{if(!t)return;var d=new DOMParser().parseFromString(t,'text/html');\
         var n=d.getElementById('dashboard');var o=document.getElementById('dashboard');\
         if(n&&o){{o.replaceWith(n)}}}}).catch(function(){{}})}},ms)}})();",
        refresh.as_millis()
    )
}

const STYLE: &str = "body{font:14px/1.4 system-ui,sans-serif;margin:0;background:#f6f7f9;color:#1d2330}\
main{max-width:1200px;margin:0 auto;padding:16px}header{display:flex;gap:12px;align-items:center}\
h1{font-size:20px;margin:8px 0}h2{font-size:15px;margin:18px 0 6px}\
section{background:#fff;border:1px solid #dde1e7;border-radius:6px;padding:4px 12px 10px;margin:10px 0}\
table{border-collapse:collapse;width:100%}td,th{text-align:left;padding:3px 8px;border-bottom:1px solid #eef0f3}\
.sql{font-family:ui-monospace,monospace;font-size:12px;word-break:break-all}\
#statements td:not(.sql){white-space:nowrap}\
.status{padding:2px 10px;border-radius:10px;font-weight:600;color:#fff}.status-ok{background:#2e7d32}\
.status-warning{background:#b26a00}.status-critical{background:#c62828}.status-unknown{background:#666}\
.muted{color:#6b7280;font-weight:400}.error,.sev-critical{color:#c62828}.sev-warning{color:#b26a00}\
.grid{display:grid;grid-template-columns:repeat(auto-fit,minmax(360px,1fr));gap:0 10px}\
.charts{display:grid;grid-template-columns:repeat(auto-fit,minmax(560px,1fr));gap:8px}\
figure{margin:0}figcaption{font-size:12px;color:#4b5563}.frame{fill:#fafbfc;stroke:#dde1e7}\
.axis{font-size:10px;fill:#6b7280}.legend{font-size:11px}.line{stroke-width:2}\
.s0{stroke:#1565c0;fill:#1565c0}.s1{stroke:#ef6c00;fill:#ef6c00}.s2{stroke:#c62828;fill:#c62828}\
polyline.line{fill:none}";

/// Text safe inside HTML elements and attributes.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

fn bytes(n: u64) -> String {
    strata::ops::health::display_bytes(n)
}

fn short_number(v: f64) -> String {
    match v {
        v if v >= 1e9 => format!("{:.1}G", v / 1e9),
        v if v >= 1e6 => format!("{:.1}M", v / 1e6),
        v if v >= 1e3 => format!("{:.1}k", v / 1e3),
        v => format!("{v:.0}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escape_neutralises_markup() {
        assert_eq!(escape("<script>\"x\" & 'y'"), "&lt;script&gt;&quot;x&quot; &amp; &#39;y&#39;");
    }
}
