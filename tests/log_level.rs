//! `strata::log` with `Database::watch_config` (issue 21): a real subscriber whose
//! filter follows `log.level` in a real config file. Its own test binary: the
//! subscriber is the process's global default, which no other test shares.

use std::io::Write;
use std::path::Path;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use strata::log::LogLevel;
use strata::{Config, ConfigEvent, ConfigWatch, Database};
use tracing_subscriber::prelude::*;

/// Every line the global subscriber wrote.
#[derive(Clone, Default)]
struct Lines(Arc<Mutex<Vec<u8>>>);

impl Write for Lines {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Lines {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

/// The global subscriber (installed once): strata's reloadable filter at `warn`, then
/// text lines into a buffer.
fn subscriber() -> &'static (Lines, LogLevel) {
    static GLOBAL: OnceLock<(Lines, LogLevel)> = OnceLock::new();
    GLOBAL.get_or_init(|| {
        let (filter, level) = strata::log::filter("warn").unwrap();
        let lines = Lines::default();
        let writer = lines.clone();
        let output = tracing_subscriber::fmt::layer().with_ansi(false).with_writer(move || writer.clone());
        tracing::subscriber::set_global_default(tracing_subscriber::registry().with(filter).with(output))
            .unwrap();
        (lines, level)
    })
}

/// Within 30 s, the next change of the watched file as it was applied or rejected.
async fn next_event(watch: &mut ConfigWatch) -> ConfigEvent {
    tokio::time::timeout(Duration::from_secs(30), watch.next())
        .await
        .expect("the change of the file was seen within 30 s")
        .expect("the watch runs")
}

fn config_text(db: &Path, level: &str) -> String {
    format!("path = {db:?}\n[log]\nlevel = {level:?}\n")
}

/// Raising `log.level` in the watched file from warn to debug makes a debug event
/// that was filtered out before appear; a directive EnvFilter cannot read (one that
/// strata-core's syntax check lets through, and one it catches) is rejected with E1012
/// and the debug level stays.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_changed_log_level_in_the_watched_file_changes_what_the_subscriber_writes() {
    let (lines, level) = subscriber();
    let dir = tempfile::tempdir().unwrap();
    let db_path = dir.path().join("app.db");
    let file = dir.path().join("strata.toml");
    std::fs::write(&file, config_text(&db_path, "warn")).unwrap();
    let db = Database::open(&Config::load(Some(&file)).unwrap()).await.unwrap();
    db.follow_log_level(level.clone()).unwrap();
    let mut watch = db.watch_config(&file).unwrap();

    tracing::debug!(target: "app::probe", "probe before the change");
    assert!(!lines.text().contains("probe before the change"), "{}", lines.text());

    std::fs::write(&file, config_text(&db_path, "debug")).unwrap();
    let ConfigEvent::Reloaded { applied, ignored } = next_event(&mut watch).await else {
        panic!("the valid file was rejected")
    };
    assert_eq!(applied, ["log.level"]);
    assert!(ignored.is_empty(), "{ignored:?}");
    assert_eq!(level.current(), "debug");
    assert_eq!(db.config().log.level.as_deref(), Some("debug"));
    tracing::debug!(target: "app::probe", "probe after the change");
    let text = lines.text();
    assert!(text.contains("DEBUG app::probe: probe after the change"), "{text}");
    assert!(text.contains("log level set"), "the change itself is logged: {text}");

    // `(` is no regex: only EnvFilter's parser knows; `loud` strata-core's check catches.
    for bad in ["info,app[{x=(}]=info", "info,app=loud"] {
        std::fs::write(&file, config_text(&db_path, bad)).unwrap();
        let ConfigEvent::Rejected(err) = next_event(&mut watch).await else { panic!("{bad} was applied") };
        assert_eq!(err.code(), "E1012", "{bad}: {err}");
        assert_eq!(level.current(), "debug", "{bad}");
        assert_eq!(db.config().log.level.as_deref(), Some("debug"), "{bad}");
    }
    tracing::debug!(target: "app::probe", "probe after the bad files");
    assert!(lines.text().contains("probe after the bad files"));

    // Taking `log.level` out of the file goes back to the filter's default.
    std::fs::write(&file, format!("path = {db_path:?}\n")).unwrap();
    let ConfigEvent::Reloaded { applied, .. } = next_event(&mut watch).await else {
        panic!("the valid file was rejected")
    };
    assert_eq!(applied, ["log.level"]);
    assert_eq!(level.current(), "warn");
    tracing::debug!(target: "app::probe", "probe back at warn");
    assert!(!lines.text().contains("probe back at warn"));
    drop(watch);
    db.close().await.unwrap();
}
