//! The page in a real browser: headless Chromium loads it from the running server; the
//! rendered DOM must show the status, the statement table and the charts, and a
//! screenshot is saved as target/serve-dashboard.png for people to look at. Without
//! `chromium` on PATH the test says why and returns, except under CI (`CI` set), where
//! a missing browser fails it.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use strata::repo::{NewTask, Queue, QueueConfig};
use strata_serve::ServeOptions;

use crate::http::get;
use crate::{Server, app_db};

/// The browser's binary, or why the test cannot run.
fn chromium() -> Option<PathBuf> {
    let found = std::env::var_os("PATH")
        .into_iter()
        .flat_map(|paths| std::env::split_paths(&paths).collect::<Vec<_>>())
        .map(|dir| dir.join("chromium"))
        .find(|p| p.is_file());
    if found.is_none() {
        assert!(
            std::env::var_os("CI").is_none(),
            "chromium is not on PATH, and CI must run the browser test"
        );
        eprintln!(
            "SKIPPED the_dashboard_renders_in_headless_chromium: `chromium` is not on PATH (apt-get install chromium)"
        );
    }
    found
}

/// Runs headless Chromium with `args` and a fresh profile in `profile`, waiting at
/// most 120 s.
fn run_chromium(binary: &Path, profile: &Path, args: &[String]) -> Output {
    let mut command = Command::new(binary);
    command
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-dev-shm-usage",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let child = command.spawn().unwrap();
    let started = Instant::now();
    let pid = child.id();
    let waiter = std::thread::spawn(move || child.wait_with_output().unwrap());
    while !waiter.is_finished() {
        assert!(started.elapsed() < Duration::from_secs(120), "chromium {pid} did not finish within 120 s");
        std::thread::sleep(Duration::from_millis(100));
    }
    waiter.join().unwrap()
}

/// target/ of the workspace (CARGO_TARGET_DIR when set).
fn target_dir() -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) => PathBuf::from(dir),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dashboard_renders_in_headless_chromium() {
    let Some(binary) = chromium() else { return };
    let dir = tempfile::tempdir().unwrap();
    let options = ServeOptions { refresh: Duration::from_millis(300), ..ServeOptions::default() };
    let db = app_db(dir.path()).await;
    let queue = Queue::new(db.pool().clone(), QueueConfig::default()).unwrap();
    let server = Server::start(db, options).await;
    // Samples first, taken while tasks arrive, so that the charts have lines to draw.
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut n = 0;
    loop {
        n += 1;
        queue.enqueue(NewTask::new("report.build", serde_json::json!({ "n": n }))).await.unwrap();
        let stats: serde_json::Value =
            serde_json::from_str(&get(server.addr, "/api/stats", &[]).await.body).unwrap();
        if stats["history"].as_array().unwrap().len() >= 12 {
            break;
        }
        assert!(Instant::now() < deadline, "twelve samples within 30 s");
        tokio::time::sleep(Duration::from_millis(20 * (n % 7 + 1))).await;
    }
    let url = format!("http://{}/", server.addr);
    let profile = tempfile::tempdir().unwrap();
    let dom = {
        let (binary, profile, url) = (binary.clone(), profile.path().to_path_buf(), url.clone());
        tokio::task::spawn_blocking(move || run_chromium(&binary, &profile, &["--dump-dom".into(), url]))
            .await
            .unwrap()
    };
    let html = String::from_utf8_lossy(&dom.stdout).into_owned();
    assert!(dom.status.success(), "chromium failed: {}", String::from_utf8_lossy(&dom.stderr));
    assert!(
        html.contains("id=\"status\" class=\"status status-ok\">ok</span>"),
        "status in the DOM:\n{html}"
    );
    assert!(html.contains("<table id=\"statements\">"), "statement table:\n{html}");
    // Which statements are the slowest ten depends on timing (under coverage the
    // dashboard's own reads can outrank the test's inserts): any statement row counts.
    assert!(html.contains("<td class=\"sql\">"), "a statement row:\n{html}");
    for chart in ["chart-wal", "chart-latency", "chart-commit", "chart-queue", "chart-writes"] {
        assert!(html.contains(&format!("<svg id=\"{chart}\"")), "{chart} in the DOM:\n{html}");
    }
    assert!(html.contains("<polyline"), "the charts have lines:\n{html}");

    let shot = target_dir().join("serve-dashboard.png");
    let _ = std::fs::remove_file(&shot);
    std::fs::create_dir_all(shot.parent().unwrap()).unwrap();
    let screenshot = {
        let (binary, profile, shot) = (binary.clone(), profile.path().to_path_buf(), shot.clone());
        tokio::task::spawn_blocking(move || {
            run_chromium(
                &binary,
                &profile,
                &[format!("--screenshot={}", shot.display()), "--window-size=1280,1600".into(), url],
            )
        })
        .await
        .unwrap()
    };
    assert!(screenshot.status.success(), "chromium failed: {}", String::from_utf8_lossy(&screenshot.stderr));
    let png = std::fs::read(&shot).unwrap();
    assert!(
        png.starts_with(b"\x89PNG\r\n\x1a\n") && png.len() > 10_000,
        "a screenshot at {}",
        shot.display()
    );
    eprintln!("screenshot: {}", shot.display());
    server.stop().await.unwrap();
}
