//! The document store through the facade: `db.documents()` with the `[documents]`
//! config, and its watcher noticing an outside deletion and change as health findings.

use std::time::{Duration, Instant};

use strata::repo::NewDocument;
use strata::{Config, Database};

/// Waits (up to 30 s) until `done` holds.
async fn wait_for(mut done: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        if done() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    done()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_watcher_reports_a_file_removed_or_changed_outside_strata_but_not_strata_s_own_work() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = Config::for_path(dir.path().join("app.db"));
    config.documents.watch = true;
    config.documents.gc_grace_secs = 0;
    config.monitor.free_disk_warn_mb = 0;
    config.monitor.free_disk_critical_mb = 0;
    let db = Database::open(&config).await.unwrap();
    let watcher = db.documents_watcher().expect("documents.watch starts the watcher");
    let docs = db.documents();

    // strata's own work: puts (new and deduplicated), a delete, purge and gc.
    let kept = docs.put(NewDocument::named("kept.txt"), b"kept").await.unwrap();
    let changed = docs.put(NewDocument::named("changed.txt"), b"will change").await.unwrap();
    docs.put(NewDocument::named("again.txt"), b"kept").await.unwrap();
    let gone = docs.put(NewDocument::named("purged.txt"), b"purged by strata").await.unwrap();
    docs.delete(gone.id).await.unwrap();
    docs.purge(Duration::ZERO).await.unwrap();
    docs.gc().await.unwrap();

    // Someone else's work.
    std::fs::remove_file(docs.path_of(&kept.sha256).unwrap()).unwrap();
    std::fs::write(docs.path_of(&changed.sha256).unwrap(), b"changed outside").unwrap();

    let seen = wait_for(|| watcher.findings().len() >= 2).await;
    let findings = watcher.findings();
    assert!(seen, "the watcher did not report both files within 30 s: {findings:?}");
    assert_eq!(findings.len(), 2, "strata's own puts, purge and gc are not findings: {findings:?}");
    assert!(findings.iter().any(|f| f.message.contains(&kept.sha256) && f.message.contains("removed")));
    assert!(findings.iter().any(|f| f.message.contains(&changed.sha256) && f.message.contains("changed")));

    let report = db.health(strata::ops::CheckLevel::Quick).await.unwrap();
    assert_eq!(report.status, strata::ops::Status::Critical, "{:?}", report.findings);
    assert!(report.findings.iter().any(|f| f.check == "documents_watch"));
    db.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_store_lives_in_the_configured_directory_and_has_no_watcher_by_default() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = Config::for_path(dir.path().join("app.db"));
    config.documents.dir = Some(dir.path().join("elsewhere"));
    let db = Database::open(&config).await.unwrap();
    assert!(db.documents_watcher().is_none());
    let doc = db.documents().put(NewDocument::named("a.json"), b"{\"a\": 1}").await.unwrap();
    assert_eq!(doc.mime, "application/json");
    assert!(db.documents().path_of(&doc.sha256).unwrap().starts_with(dir.path().join("elsewhere")));
    let report = db.verify_documents(true).await.unwrap().unwrap();
    assert_eq!((report.documents, report.files), (1, 1));
    db.close().await.unwrap();
}
