//! `strata serve`: the refusals that come before anything listens (exit 3 with the
//! code), and a real server process that answers over HTTP and stops cleanly on
//! SIGTERM.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, ChildStdout, Command, ExitStatus};
use std::time::{Duration, Instant};

use crate::check::no_disk_limits;
use crate::{lines_of, lines_until, spawn, strata};

/// Runs `strata --json ARGS` in `dir`, expects exit 3 and returns the error's code.
fn error_code(dir: &Path, args: &[&str]) -> String {
    let mut all = vec!["--json"];
    all.extend_from_slice(args);
    let out = strata(dir, &all);
    assert_eq!(out.status.code(), Some(3), "{}", String::from_utf8_lossy(&out.stdout));
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(doc["hint"].as_str().is_some_and(|h| !h.is_empty()), "{doc}");
    doc["code"].as_str().unwrap().to_string()
}

#[test]
fn serve_refuses_an_address_beyond_loopback_without_allow_remote_and_a_token() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    assert_eq!(strata(d, &["--db", "app.db", "init"]).status.code(), Some(0));
    assert_eq!(error_code(d, &["--db", "app.db", "serve", "--listen", "0.0.0.0:0"]), "E6030");
    assert_eq!(
        error_code(d, &["--db", "app.db", "serve", "--listen", "0.0.0.0:0", "--allow-remote"]),
        "E6030"
    );
    std::fs::write(d.join("token"), "short\n").unwrap();
    let args =
        ["--db", "app.db", "serve", "--listen", "0.0.0.0:0", "--allow-remote", "--token-file", "token"];
    assert_eq!(error_code(d, &args), "E6031");
    assert_eq!(error_code(d, &["--db", "missing.db", "serve", "--listen", "127.0.0.1:0"]), "E2004");
    assert!(!d.join("missing.db").exists(), "serve never creates a database");
}

/// `GET path` over HTTP/1.1 with `Connection: close`: the status code and the body.
fn get(addr: &str, path: &str, header: Option<&str>) -> (u16, String) {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let extra = header.map(|h| format!("{h}\r\n")).unwrap_or_default();
    write!(stream, "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n{extra}\r\n").unwrap();
    let mut text = String::new();
    stream.read_to_string(&mut text).unwrap();
    let status = text.split(' ').nth(1).unwrap().parse().unwrap();
    let body = text.split_once("\r\n\r\n").map(|(_, b)| b.to_string()).unwrap_or_default();
    (status, body)
}

#[test]
fn serve_answers_over_http_and_stops_cleanly_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    assert_eq!(strata(d, &["--db", "app.db", "init"]).status.code(), Some(0));
    std::fs::write(d.join("token"), "0123456789abcdef0123\n").unwrap();
    // The status asserted below must not depend on the machine's free disk space.
    let config = no_disk_limits(d);
    let mut child = spawn(
        d,
        &[
            "--db",
            "app.db",
            "--config",
            &config,
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--refresh",
            "1",
            "--token-file",
            "token",
        ],
    );
    let (mut stdout, addr) = serving(&mut child);

    assert_eq!(get(&addr, "/health", None).0, 401, "the token file is enforced");
    let auth = Some("Authorization: Bearer 0123456789abcdef0123");
    let (status, body) = get(&addr, "/health", auth);
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("\"status\":\"ok\""), "{body}");
    let (status, page) = get(&addr, "/", auth);
    assert_eq!(status, 200);
    assert!(page.contains("strata · app.db") && !page.contains(&d.display().to_string()), "{page}");

    let status = terminate(&mut child);
    let mut rest = String::new();
    stdout.read_to_string(&mut rest).unwrap();
    let mut stderr = String::new();
    child.stderr.take().unwrap().read_to_string(&mut stderr).unwrap();
    assert_eq!(status.code(), Some(0), "stdout: {rest}\nstderr: {stderr}");
    assert!(rest.contains("stopped"), "{rest}");
    assert!(TcpStream::connect(&addr).is_err(), "nothing listens any more");
    assert!(!d.join("app.db-wal").exists() && !d.join("app.db-shm").exists(), "no sidecar files left behind");
}

/// Issue 21: `strata serve --config F` watches F; raising its `log.level` from warn
/// to info makes info lines appear on stderr without a restart (the server writes
/// none before), and the reload of a read-only database writes nothing beside it.
#[test]
fn serve_follows_a_raised_log_level_in_its_config_file() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    assert_eq!(strata(d, &["--db", "app.db", "init"]).status.code(), Some(0));
    let config = d.join("strata.toml");
    std::fs::write(&config, "[log]\nlevel = \"warn\"\n").unwrap();
    let mut child =
        spawn(d, &["--db", "app.db", "--config", "strata.toml", "serve", "--listen", "127.0.0.1:0"]);
    let (_stdout, addr) = serving(&mut child);
    let seen = lines_of(child.stderr.take().unwrap());
    // A request at warn: what it logs at info or debug is filtered out.
    assert_eq!(get(&addr, "/health", None).0, 200);

    std::fs::write(&config, "[log]\nlevel = \"info\"\n").unwrap();
    let before = lines_until(&seen, "info line after raising log.level", |line| {
        line.contains("INFO") && line.contains("log level set")
    });
    assert!(before.iter().all(|l| !l.contains("INFO") && !l.contains("DEBUG")), "{before:#?}");

    let status = terminate(&mut child);
    // The reader ends at the end of stderr, which the exit closed.
    let after: Vec<String> = std::iter::from_fn(|| seen.recv_timeout(Duration::from_secs(30)).ok()).collect();
    assert_eq!(status.code(), Some(0), "{after:#?}");
    assert!(after.iter().any(|l| l.contains("INFO") && l.contains("config reloaded")), "{after:#?}");
    assert!(
        !d.join("app.db.audit-spill.jsonl").exists(),
        "a read-only serve spilled the reload's audit entry"
    );
}

/// Reads the first line `strata serve` prints and answers its stdout (for the rest)
/// and the address it listens on (the port `:0` picked).
fn serving(child: &mut Child) -> (BufReader<ChildStdout>, String) {
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    stdout.read_line(&mut line).unwrap();
    assert!(line.starts_with("serving app.db on http://127.0.0.1:"), "{line}");
    let addr = line.split("http://").nth(1).unwrap().split('/').next().unwrap().to_string();
    (stdout, addr)
}

/// Sends SIGTERM to `child` and waits up to 30 s for it to exit.
fn terminate(child: &mut Child) -> ExitStatus {
    let kill = Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap();
    assert!(kill.success());
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        assert!(Instant::now() < deadline, "strata serve did not stop within 30 s of SIGTERM");
        std::thread::sleep(Duration::from_millis(50));
    }
}
