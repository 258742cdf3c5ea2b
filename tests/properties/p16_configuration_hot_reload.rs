//! Property 16: Configuration hot reload.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use proptest::prelude::*;
use strata::repo::CacheKey;
use strata::{Config, ConfigEvent, ConfigWatch, Database};
use tracing_subscriber::prelude::*;

/// Within 30 s, the next change of the watched file as it was applied or rejected.
async fn next_event(watch: &mut ConfigWatch) -> ConfigEvent {
    tokio::time::timeout(Duration::from_secs(30), watch.next())
        .await
        .expect("the change of the file was seen within 30 s")
        .expect("the watch runs")
}

/// The config file of the tests: the database, nothing slow, a monitor that reports
/// once an hour, and no disk thresholds (the test machine's disk is not the subject).
fn config_text(db: &Path, extra: &str) -> String {
    format!(
        "path = {db:?}\nslow_query_ms = 60000\n[monitor]\nenabled = true\ninterval_secs = 3600\n\
         free_disk_warn_mb = 0\nfree_disk_critical_mb = 0\n{extra}"
    )
}

/// A database opened from its config file (`config_text` with `extra`) in a new
/// directory, and the watch of that file.
struct Watched {
    /// The directory, removed when this is dropped.
    _dir: tempfile::TempDir,
    db_path: PathBuf,
    file: PathBuf,
    db: Database,
    watch: ConfigWatch,
}

async fn watched(extra: &str) -> Watched {
    let dir = tempfile::tempdir().unwrap();
    let db_path = dir.path().join("app.db");
    let file = dir.path().join("strata.toml");
    std::fs::write(&file, config_text(&db_path, extra)).unwrap();
    let db = Database::open(&Config::load(Some(&file)).unwrap()).await.unwrap();
    let watch = db.watch_config(&file).unwrap();
    Watched { _dir: dir, db_path, file, db, watch }
}

/// A read on the pool: a few statements the slow-query threshold judges.
async fn some_reads(db: &Database) {
    db.pool()
        .read(|c| Ok(c.query_row("SELECT count(*) FROM sqlite_schema", [], |r| r.get::<_, i64>(0))?))
        .await
        .unwrap();
}

/// Proves that a running database takes a changed config file without a restart:
/// the new slow-query threshold makes a statement that was not slow reported as slow,
/// the new retry policy is the pool's, the monitor reports at its new interval, the
/// cache refuses an entry over its new limit and the rate limits use a new quota, a
/// pool size that changed is reported (E1010) and ignored, the application sees the
/// new config through `config()` and `config_changes()`, and the reload is audited.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn p16_configuration_hot_reload_applies_reloadable_settings_to_the_running_database() {
    let Watched { _dir, db_path, file, db, mut watch } = watched("").await;
    let mut changes = db.config_changes();
    let monitor = db.monitor().expect("the monitor runs");

    let slow_before = db.pool().metrics().slow_statements;
    some_reads(&db).await;
    assert_eq!(db.pool().metrics().slow_statements, slow_before, "nothing is slow at 60 s");
    let two_kib = vec![7u8; 2048];
    db.cache().set_bytes(CacheKey { namespace: "pages", key: "a" }, &two_kib, None).await.unwrap();
    assert_eq!(db.rate_limits().check_configured("api:x", 1).await.unwrap_err().code(), "E4012");

    std::fs::write(
        &file,
        config_text(
            &db_path,
            "[retry]\nmax_attempts = 2\n[pool]\nreaders = 8\n[cache]\nmax_entry_bytes = 1024\n\
             [ratelimit.quotas]\n\"api:\" = { limit = 1, period_ms = 60000 }\n",
        )
        .replace("slow_query_ms = 60000", "slow_query_ms = 0")
        .replace("interval_secs = 3600", "interval_secs = 1"),
    )
    .unwrap();
    let ConfigEvent::Reloaded { applied, ignored } = next_event(&mut watch).await else {
        panic!("the valid file was rejected")
    };
    assert_eq!(
        applied,
        ["slow_query_ms", "retry", "monitor.interval_secs", "cache.max_entry_bytes", "ratelimit"]
    );
    assert_eq!(ignored.len(), 1, "{ignored:?}");
    assert_eq!(ignored[0].code(), "E1010");
    assert!(ignored[0].to_string().contains("`pool.readers`"), "{}", ignored[0]);

    // The application is told, and sees the running config.
    tokio::time::timeout(Duration::from_secs(30), changes.changed()).await.unwrap().unwrap();
    assert_eq!(changes.borrow().slow_query_ms, 0);
    assert_eq!(db.config().retry.max_attempts, 2);
    assert_eq!(db.config().pool.readers, 4, "not reloadable: the running value is kept");
    assert_eq!(db.pool().metrics().readers.max, 4, "the pool was not resized");

    // The running components behave by the new values.
    let slow_before = db.pool().metrics().slow_statements;
    some_reads(&db).await;
    assert!(db.pool().metrics().slow_statements > slow_before, "a statement is now reported as slow");
    assert_eq!(db.pool().retry_policy().max_attempts, 2);
    let err =
        db.cache().set_bytes(CacheKey { namespace: "pages", key: "b" }, &two_kib, None).await.unwrap_err();
    assert_eq!(err.code(), "E4010", "the new entry limit refuses what the old one took: {err}");
    assert!(
        db.rate_limits().check_configured("api:x", 1).await.unwrap().is_allowed(),
        "the new quota is used"
    );
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while monitor.state().checks < 3 {
        assert!(
            std::time::Instant::now() < deadline,
            "the monitor kept its hour: {} reports",
            monitor.state().checks
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    // The reload left an audit entry.
    let entries = db.audit().tail(0, 100).await.unwrap();
    let reloads: Vec<_> = entries.iter().filter(|e| e.action == "config.reload").collect();
    assert_eq!(reloads.len(), 1, "{entries:?}");
    assert_eq!(
        reloads[0].data["applied"],
        serde_json::json!([
            "slow_query_ms",
            "retry",
            "monitor.interval_secs",
            "cache.max_entry_bytes",
            "ratelimit"
        ])
    );
    assert_eq!(reloads[0].data["ignored"], serde_json::json!(["pool.readers"]));
    drop(watch);
    db.close().await.unwrap();
}

/// Proves that a config file that does not load (a bad value, an unknown key, a value
/// out of range) keeps the running config whole and reports its E1xxx error, and that
/// the watch goes on: the next valid change is applied.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn p16_configuration_hot_reload_keeps_the_running_config_when_the_file_is_invalid() {
    let Watched { _dir, db_path, file, db, mut watch } = watched("").await;
    let running = db.config();

    for (text, code) in [
        (config_text(&db_path, "").replace("slow_query_ms = 60000", "slow_query_ms = \"fast\""), "E1002"),
        (config_text(&db_path, "colour = \"blue\"\n"), "E1002"),
        (
            config_text(&db_path, "")
                .replace("slow_query_ms = 60000", "slow_query_ms = 5\n[pool]\nreaders = 0"),
            "E1003",
        ),
    ] {
        std::fs::write(&file, &text).unwrap();
        match next_event(&mut watch).await {
            ConfigEvent::Rejected(err) => assert_eq!(err.code(), code, "{err}"),
            other => panic!("{text}: applied {other:?}"),
        }
        assert_eq!(db.config(), running, "the running config is kept whole");
        assert_eq!(db.pool().slow_query_threshold(), Duration::from_secs(60));
    }

    std::fs::write(&file, config_text(&db_path, "").replace("slow_query_ms = 60000", "slow_query_ms = 250"))
        .unwrap();
    match next_event(&mut watch).await {
        ConfigEvent::Reloaded { applied, ignored } => {
            assert_eq!(applied, ["slow_query_ms"]);
            assert!(ignored.is_empty(), "{ignored:?}");
        }
        other => panic!("the valid file was not applied: {other:?}"),
    }
    assert_eq!(db.pool().slow_query_threshold(), Duration::from_millis(250));
    db.close().await.unwrap();
}

/// What one step writes as `log.level`: valid directives (the first six), then two
/// that are not (`loud` is no level; `(` is no regex, which only EnvFilter's parser
/// knows).
const LOG_STEPS: [&str; 8] = [
    "error",
    "warn",
    "info",
    "debug",
    "trace",
    "warn,p16_log_probe=trace",
    "loud",
    "p16_log_probe[{x=(}]=info",
];

/// How many of error, warn, info, debug, trace the directives `level` let through
/// for target `p16_log_probe`.
fn levels_enabled(level: &str) -> usize {
    match level {
        "error" => 1,
        "warn" => 2,
        "info" => 3,
        "debug" => 4,
        _ => 5,
    }
}

/// The lines a scoped subscriber wrote.
#[derive(Clone, Default)]
struct LogLines(Arc<Mutex<Vec<u8>>>);

impl Write for LogLines {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// One event at each level on this thread, tagged `step`; how many were written.
fn probe(lines: &LogLines, step: usize) -> usize {
    tracing::error!(target: "p16_log_probe", "probe {step} error");
    tracing::warn!(target: "p16_log_probe", "probe {step} warn");
    tracing::info!(target: "p16_log_probe", "probe {step} info");
    tracing::debug!(target: "p16_log_probe", "probe {step} debug");
    tracing::trace!(target: "p16_log_probe", "probe {step} trace");
    let text = String::from_utf8_lossy(&lines.0.lock().unwrap()).into_owned();
    ["error", "warn", "info", "debug", "trace"]
        .iter()
        .filter(|level| text.contains(&format!("probe {step} {level}\n")))
        .count()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 6, ..ProptestConfig::default() })]

    /// Proves that the log level is a reloadable setting that a subscriber's filter
    /// follows: for any sequence of `log.level` values written to the watched file, a
    /// valid one is applied (the filter writes exactly the levels it enables, checked
    /// with one event per level) and an invalid one is rejected with E1012, keeping the
    /// last valid level in the filter and in the running config.
    #[test]
    fn p16_configuration_hot_reload_log_level_follows_the_file_and_keeps_the_last_valid_one(
        steps in proptest::collection::vec(0..LOG_STEPS.len(), 1..4),
    ) {
        // The suite's global subscriber must exist: with a scoped subscriber alone,
        // tracing re-evaluates the callsites a reload changed against the default of
        // the thread that reloads (the watch's task), not against this thread's.
        crate::p09_detailed_technical_logging::with_json_subscriber(|_| ());
        let lines = LogLines::default();
        let writer = lines.clone();
        let (filter, level) = strata::log::filter("off").unwrap();
        let output = tracing_subscriber::fmt::layer().with_ansi(false).with_writer(move || writer.clone());
        // Scoped to this thread, which runs the body below; the probes' callsites are
        // this test's own, so no other test's subscriber decides their interest.
        let _scope = tracing::subscriber::set_default(tracing_subscriber::registry().with(filter).with(output));
        let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
        runtime.block_on(async {
            let extra = |level: &str| format!("[log]\nlevel = {level:?}\n");
            let Watched { _dir, db_path, file, db, mut watch } = watched(&extra("warn")).await;
            let text = |level: &str| config_text(&db_path, &extra(level));
            db.follow_log_level(level.clone()).unwrap();
            let mut running = "warn";
            assert_eq!(probe(&lines, 0), levels_enabled(running));
            for (i, &step) in steps.iter().enumerate() {
                let wanted = LOG_STEPS[step];
                if wanted == running {
                    continue; // an unchanged setting is no reload
                }
                std::fs::write(&file, text(wanted)).unwrap();
                match next_event(&mut watch).await {
                    ConfigEvent::Reloaded { applied, .. } if step < 6 => {
                        assert_eq!(applied, ["log.level"]);
                        running = wanted;
                    }
                    ConfigEvent::Rejected(err) if step >= 6 => assert_eq!(err.code(), "E1012", "{err}"),
                    other => panic!("{wanted}: {other:?}"),
                }
                assert_eq!(level.current(), running);
                assert_eq!(db.config().log.level.as_deref(), Some(running));
                assert_eq!(probe(&lines, i + 1), levels_enabled(running), "after {wanted}, running {running}");
            }
            drop(watch);
            db.close().await.unwrap();
        });
    }
}
