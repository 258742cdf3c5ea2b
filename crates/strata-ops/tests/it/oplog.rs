//! Operation logging: every public ops operation runs in a `strata.op` span and ends
//! with exactly one event on target `strata::op` naming it, with rows and outcome.

use serde_json::Value;
use strata_core::BackupConfig;
use strata_ops::advisor::{AdviseOptions, advise};
use strata_ops::recover::{RecoverOptions, recover};
use strata_ops::restore::{RestoreOptions, restore};
use strata_ops::stats::QueryStats;
use strata_ops::{CheckLevel, HealthOptions, backup, check, check_path, documents, replication};

use crate::{items_db, pool};

/// Everything the subscriber wrote.
#[derive(Clone, Default)]
struct Captured(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Captured {
    /// The end event of `op` since the last call (there must be exactly one), and
    /// forgets everything written so far.
    fn end_of(&self, op: &str) -> Value {
        let bytes = std::mem::take(&mut *self.0.lock().unwrap());
        let text = String::from_utf8(bytes).unwrap();
        let ends: Vec<Value> = text
            .lines()
            .map(|line| serde_json::from_str::<Value>(line).unwrap())
            .filter(|e| e["target"] == "strata::op" && e["fields"]["op"] == op)
            .collect();
        assert_eq!(ends.len(), 1, "one end event of {op} in:\n{text}");
        let event = ends[0].clone();
        assert!(event["fields"]["duration_ms"].is_number(), "{event}");
        assert_eq!(event["span"]["name"], "strata.op", "{event}");
        event
    }

    /// [`Captured::end_of`], which must be a success standing for `rows` rows.
    fn ok(&self, op: &str, rows: u64) {
        let event = self.end_of(op);
        assert_eq!(event["level"], "DEBUG", "{event}");
        assert_eq!(event["fields"]["outcome"], "ok", "{event}");
        assert_eq!(event["fields"]["rows"], rows, "{event}");
    }
}

thread_local! {
    /// Where the global test subscriber writes on this thread, if anywhere.
    static CAPTURE: std::cell::RefCell<Option<Captured>> = const { std::cell::RefCell::new(None) };
}

/// The global test subscriber's writer: this thread's [`CAPTURE`].
struct ThreadCapture;

impl std::io::Write for ThreadCapture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        CAPTURE.with(|c| match c.borrow_mut().as_mut() {
            Some(out) => out.write(buf),
            None => Ok(buf.len()),
        })
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Captures the JSON events written on this thread from now on. The subscriber is
/// global and installed once: a scoped one (`set_default`) can miss the events of
/// callsites that the other tests of this binary register at the same moment.
fn capture() -> Captured {
    static INSTALL: std::sync::Once = std::sync::Once::new();
    INSTALL.call_once(|| {
        let subscriber = tracing_subscriber::fmt()
            .json()
            .with_current_span(true)
            .with_writer(|| ThreadCapture)
            .with_max_level(tracing::Level::DEBUG)
            .finish();
        tracing::subscriber::set_global_default(subscriber)
            .expect("the only global subscriber of this binary");
    });
    let captured = Captured::default();
    CAPTURE.with(|c| *c.borrow_mut() = Some(captured.clone()));
    captured
}

#[tokio::test]
async fn every_public_operation_ends_with_one_event_with_its_name_rows_and_outcome() {
    // The test runs on one thread (tokio::test's runtime), where every end event is
    // emitted.
    let captured = capture();

    let dir = tempfile::tempdir().unwrap();
    let (db, backups) = (dir.path().join("app.db"), dir.path().join("backups"));
    items_db(&db);
    let pool = pool(&db).await;

    let report = check(&pool, &HealthOptions::new(CheckLevel::Quick)).await.unwrap();
    captured.ok("health.check", report.findings.len() as u64);
    let created = backup::create(&pool, &backups, None).await.unwrap();
    captured.ok("backup.create", created.manifest.page_count);
    assert_eq!(backup::list(&backups).await.unwrap().len(), 1);
    captured.ok("backup.list", 1);
    let verified = backup::verify(&created.path, None).await.unwrap();
    captured.ok("backup.verify", verified.page_count);
    backup::prune(&backups, &BackupConfig::default()).await.unwrap();
    captured.ok("backup.prune", 0);
    let queries = vec!["SELECT * FROM items WHERE pad = 'x'".to_string()];
    advise(&pool, queries, AdviseOptions::default()).await.unwrap();
    captured.ok("advise", 1);
    assert!(documents::verify(&pool, &dir.path().join("files"), false).await.unwrap().is_none());
    captured.ok("documents.verify", 0);
    QueryStats::new(10).export(&dir.path().join("stats.json")).unwrap();
    captured.ok("stats.export", 0);
    let out = dir.path().join("litestream.yml");
    replication::write_litestream_config(&db, dir.path().join("replica").to_str().unwrap(), &out, false)
        .unwrap();
    captured.ok("replication.write_config", 1);
    pool.close().await.unwrap();

    let checked = check_path(&db, &HealthOptions::new(CheckLevel::Quick)).await.unwrap();
    captured.ok("health.check_path", checked.findings.len() as u64);
    let restored = restore(&db, &created.path, RestoreOptions { force: true, ..RestoreOptions::default() })
        .await
        .unwrap();
    captured.ok("restore", restored.verification.page_count);
    let recovered = recover(&db, RecoverOptions::new(&backups)).await.unwrap();
    assert!(!recovered.recovered);
    captured.ok("recover", 0);

    // A failure is a warn event with its code.
    let err = backup::verify(&dir.path().join("missing.db"), None).await.unwrap_err();
    let event = captured.end_of("backup.verify");
    assert_eq!(event["level"], "WARN", "{event}");
    assert_eq!(event["fields"]["outcome"], "error", "{event}");
    assert_eq!(event["fields"]["code"], err.code(), "{event}");
}
