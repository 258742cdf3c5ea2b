//! Every endpoint over real HTTP: status codes, content types, `/health` on a damaged
//! file, `/metrics` through a Prometheus text parser, the bearer token, and the
//! graceful shutdown that closes the pool.

use std::net::SocketAddr;
use std::time::Duration;

use strata::Database;
use strata_serve::ServeOptions;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::{Server, app_db, config, db_path};

/// An HTTP response as read off the socket.
pub struct Response {
    /// The status code.
    pub status: u16,
    /// The header lines, in order.
    pub headers: Vec<(String, String)>,
    /// The body, de-chunked.
    pub body: String,
}

impl Response {
    /// The first header called `name`, any case.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
}

/// `GET path` with HTTP/1.1 and `Connection: close`, plus `extra` header lines.
pub async fn get(addr: SocketAddr, path: &str, extra: &[&str]) -> Response {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let mut request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    for line in extra {
        request.push_str(line);
        request.push_str("\r\n");
    }
    request.push_str("\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut raw = Vec::new();
    tokio::time::timeout(Duration::from_secs(30), stream.read_to_end(&mut raw)).await.unwrap().unwrap();
    let text = String::from_utf8(raw).unwrap();
    let (head, body) = text.split_once("\r\n\r\n").unwrap();
    let mut lines = head.lines();
    let status = lines.next().unwrap().split(' ').nth(1).unwrap().parse().unwrap();
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_string(), v.trim().to_string()))
        .collect();
    let chunked =
        headers.iter().any(|(n, v)| n.eq_ignore_ascii_case("transfer-encoding") && v.contains("chunked"));
    let body = if chunked { dechunk(body) } else { body.to_string() };
    Response { status, headers, body }
}

fn dechunk(mut rest: &str) -> String {
    let mut out = String::new();
    loop {
        let (size, after) = rest.split_once("\r\n").unwrap();
        let size = usize::from_str_radix(size.trim(), 16).unwrap();
        if size == 0 {
            return out;
        }
        out.push_str(&after[..size]);
        rest = &after[size + 2..];
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_endpoint_answers_with_its_status_and_content_type() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(app_db(dir.path()).await, ServeOptions::default()).await;
    let cases = [
        ("/", 200, "text/html; charset=utf-8"),
        ("/health", 200, "application/json"),
        ("/metrics", 200, "application/openmetrics-text; version=1.0.0; charset=utf-8"),
        ("/api/stats", 200, "application/json"),
        ("/api/queue", 200, "application/json"),
        ("/nope", 404, ""),
    ];
    for (path, status, content_type) in cases {
        let response = get(server.addr, path, &[]).await;
        assert_eq!(response.status, status, "{path}: {}", response.body);
        if !content_type.is_empty() {
            assert_eq!(response.header("content-type"), Some(content_type), "{path}");
        }
    }
    let queue: serde_json::Value =
        serde_json::from_str(&get(server.addr, "/api/queue", &[]).await.body).unwrap();
    let pending: Vec<(String, u64)> = queue["queues"]
        .as_array()
        .unwrap()
        .iter()
        .map(|q| (q["queue"].as_str().unwrap().to_string(), q["pending"].as_u64().unwrap()))
        .collect();
    assert_eq!(pending, [("mail".to_string(), 20), ("reports".to_string(), 10)]);
    let stats: serde_json::Value =
        serde_json::from_str(&get(server.addr, "/api/stats", &[]).await.body).unwrap();
    assert_eq!(stats["file"], "app.db");
    assert_eq!(stats["statements_from"], "live");
    assert!(!stats["statements"].as_array().unwrap().is_empty(), "{stats}");
    // Statement times come from SQLite's millisecond clock: fast ones read `<1 ms`, never 0.
    let page = get(server.addr, "/", &[]).await.body;
    let table = &page[page.find("<table id=\"statements\">").unwrap()..];
    let table = &table[..table.find("</table>").unwrap()];
    assert!(table.contains("<td>&lt;1 ms</td>"), "{table}");
    assert!(!table.contains("<td>0.0</td>") && !table.contains("<td>0 ms</td>"), "{table}");
    server.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_endpoint_shows_the_directory_of_the_database() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(app_db(dir.path()).await, ServeOptions::default()).await;
    let secret = dir.path().display().to_string();
    for path in ["/", "/health", "/metrics", "/api/stats", "/api/queue"] {
        let body = get(server.addr, path, &[]).await.body;
        assert!(!body.contains(&secret), "{path} shows {secret}:\n{body}");
    }
    let health: serde_json::Value =
        serde_json::from_str(&get(server.addr, "/health", &[]).await.body).unwrap();
    assert_eq!(health["path"], "app.db");
    server.stop().await.unwrap();
}

/// Overwrites the b-tree page header of the first table's root page after page 1 with
/// an invalid page type, which `quick_check` reports.
fn damage_a_table_page(db: &std::path::Path) {
    let conn = rusqlite::Connection::open(db).unwrap();
    let (page_size, root): (i64, i64) = (
        conn.query_row("PRAGMA page_size", [], |r| r.get(0)).unwrap(),
        conn.query_row("SELECT rootpage FROM sqlite_schema WHERE name = 'tasks'", [], |r| r.get(0)).unwrap(),
    );
    drop(conn);
    let mut bytes = std::fs::read(db).unwrap();
    let at = ((root - 1) * page_size) as usize;
    bytes[at] = 0x77;
    std::fs::write(db, bytes).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_is_503_on_a_damaged_database() {
    let dir = tempfile::tempdir().unwrap();
    app_db(dir.path()).await.close().await.unwrap();
    damage_a_table_page(&db_path(dir.path()));
    let db = Database::open_read_only(&config(dir.path())).await.unwrap();
    let server = Server::start(db, ServeOptions::default()).await;
    let response = get(server.addr, "/health", &[]).await;
    assert_eq!(response.status, 503, "{}", response.body);
    assert_eq!(response.header("content-type"), Some("application/json"));
    let report: serde_json::Value = serde_json::from_str(&response.body).unwrap();
    assert_eq!(report["status"], "critical", "{report}");
    let page = get(server.addr, "/", &[]).await;
    assert_eq!(page.status, 200);
    assert!(page.body.contains("status-critical"), "{}", page.body);
    server.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_is_200_on_a_sound_database_opened_read_only() {
    let dir = tempfile::tempdir().unwrap();
    app_db(dir.path()).await.close().await.unwrap();
    let db = Database::open_read_only(&config(dir.path())).await.unwrap();
    let server = Server::start(db, ServeOptions::default()).await;
    let response = get(server.addr, "/health", &[]).await;
    assert_eq!(response.status, 200, "{}", response.body);
    server.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_parse_as_prometheus_text_with_strata_names() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(app_db(dir.path()).await, ServeOptions::default()).await;
    let response = get(server.addr, "/metrics", &[]).await;
    assert_eq!(response.status, 200);
    let lines = response.body.lines().map(|l| Ok(l.to_string()));
    let scrape = prometheus_parse::Scrape::parse(lines).unwrap();
    assert!(!scrape.samples.is_empty());
    for sample in &scrape.samples {
        assert!(sample.metric.starts_with("strata_"), "{}", sample.metric);
    }
    let value = |name: &str, labels: &[(&str, &str)]| -> f64 {
        let sample = scrape
            .samples
            .iter()
            .find(|s| s.metric == name && labels.iter().all(|(k, v)| s.labels.get(k) == Some(*v)))
            .unwrap_or_else(|| panic!("{name} {labels:?} in\n{}", response.body));
        match &sample.value {
            prometheus_parse::Value::Counter(v)
            | prometheus_parse::Value::Gauge(v)
            | prometheus_parse::Value::Untyped(v) => *v,
            prometheus_parse::Value::Histogram(buckets) => buckets.last().map_or(0.0, |b| b.count),
            other => panic!("{name}: {other:?}"),
        }
    };
    assert_eq!(value("strata_queue_tasks", &[("queue", "mail"), ("state", "pending")]), 20.0);
    assert_eq!(value("strata_queue_tasks", &[("queue", "reports"), ("state", "pending")]), 10.0);
    assert_eq!(value("strata_health_status", &[("status", "ok")]), 1.0);
    assert!(value("strata_pool_writes_total", &[]) >= 30.0);
    assert!(value("strata_database_size_bytes", &[]) > 0.0);
    assert!(value("strata_pool_acquire_wait_seconds", &[]) > 0.0, "acquisitions counted");
    assert!(value("strata_pool_acquire_wait_seconds_sum", &[]) > 0.0, "the histogram has a sum");
    assert!(value("strata_statement_p95_seconds", &[]) >= 0.0);
    // The writer's COMMIT times, from the query statistics' monotonic clock.
    assert!(value("strata_commits_timed_total", &[]) >= 1.0);
    let p50 = value("strata_commit_latency_seconds", &[("quantile", "0.5")]);
    let p99 = value("strata_commit_latency_seconds", &[("quantile", "0.99")]);
    assert!(p50 > 0.0 && p50 <= p99, "commit p50 {p50} s, p99 {p99} s");
    server.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_is_required_on_every_endpoint_when_configured() {
    let dir = tempfile::tempdir().unwrap();
    let token = "s3cret-token-0123456789";
    let options = ServeOptions { token: Some(token.into()), ..ServeOptions::default() };
    let server = Server::start(app_db(dir.path()).await, options).await;
    let good = format!("Authorization: Bearer {token}");
    for path in ["/", "/health", "/metrics", "/api/stats", "/api/queue"] {
        assert_eq!(get(server.addr, path, &[]).await.status, 401, "{path} without a token");
        let wrong = get(server.addr, path, &["Authorization: Bearer s3cret-token-0123456780"]).await;
        assert_eq!(wrong.status, 401, "{path} with a wrong token");
        assert_eq!(wrong.header("www-authenticate"), Some("Bearer"));
        assert_eq!(get(server.addr, path, &["Authorization: Basic eDp5"]).await.status, 401, "{path}");
        assert_eq!(get(server.addr, path, &[&good]).await.status, 200, "{path} with the token");
    }
    server.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn graceful_shutdown_closes_the_pool_and_stops_the_monitor() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = config(dir.path());
    config.monitor.enabled = true;
    let db = Database::open(&config).await.unwrap();
    let handle = db.clone();
    let server = Server::start(db, ServeOptions::default()).await;
    let addr = server.addr;
    assert_eq!(get(addr, "/health", &[]).await.status, 200);
    server.stop().await.unwrap();
    assert!(handle.pool().is_closed(), "serve closed the pool");
    assert!(TcpStream::connect(addr).await.is_err(), "nothing listens any more");
    assert!(!dir.path().join("app.db-wal").exists(), "the pool's close checkpointed and removed the WAL");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_page_refreshes_itself_and_charts_fill_with_samples() {
    let dir = tempfile::tempdir().unwrap();
    let options = ServeOptions { refresh: Duration::from_millis(200), ..ServeOptions::default() };
    let server = Server::start(app_db(dir.path()).await, options).await;
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let stats: serde_json::Value =
            serde_json::from_str(&get(server.addr, "/api/stats", &[]).await.body).unwrap();
        let history = stats["history"].as_array().unwrap();
        if history.len() >= 3 {
            let last = history.last().unwrap();
            assert_eq!(last["queue_depth"], 30);
            // The writer's COMMITs of the set-up were timed by the live statistics.
            let (p50, p99) =
                (last["commit_p50_us"].as_f64().unwrap(), last["commit_p99_us"].as_f64().unwrap());
            assert!(p50 > 0.0 && p50 <= p99, "commit p50 {p50} us, p99 {p99} us");
            assert!(last["writes_per_sec"].as_f64().is_some(), "{last}");
            break;
        }
        assert!(std::time::Instant::now() < deadline, "three samples within 30 s: {stats}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let page = get(server.addr, "/", &[]).await.body;
    assert!(page.contains("data-refresh-ms=\"200\""), "{page}");
    assert!(page.contains("var ms=200;setInterval"), "{page}");
    assert!(page.contains("<svg id=\"chart-commit\""), "a commit latency chart");
    assert!(!page.contains("src=\"http") && !page.contains("href=\"http"), "nothing fetched from elsewhere");
    server.stop().await.unwrap();
}
