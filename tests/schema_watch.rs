//! `Database::watch_schema`: a change made by another connection is noticed, diffed,
//! drift-checked, analysed, and the advisor's recommendations come with it.

use std::sync::Arc;
use std::time::Duration;

use strata::{Config, Database, MigrationSet, Migrations, WatchOptions};

const DEADLINE: Duration = Duration::from_secs(30);

#[tokio::test]
async fn a_schema_change_by_another_connection_is_an_event_with_diff_drift_analyze_and_advice() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("app.db");
    let mut config = Config::for_path(&path);
    config.monitor.query_stats = true;
    let set = MigrationSet::from_sources([(
        "V1__notes",
        "CREATE TABLE notes(id INTEGER PRIMARY KEY, body TEXT NOT NULL);",
        None,
    )])
    .unwrap();
    let db = Database::open_with(&config, Migrations::from(set.clone())).await.unwrap();
    db.pool()
        .write(|c| {
            for i in 0..500 {
                c.execute("INSERT INTO notes(body) VALUES (?1)", [format!("note {i}")])?;
            }
            Ok(())
        })
        .await
        .unwrap();
    // A statement the application ran: a lookup by body, which has no index.
    let found: Vec<(i64,)> =
        db.query_as("SELECT id FROM notes WHERE body = ?1", ("note 7".to_string(),)).await.unwrap();
    assert_eq!(found.len(), 1);

    let options = WatchOptions {
        interval: Duration::from_millis(50),
        migrations: Some(Arc::new(set)),
        ..WatchOptions::default()
    };
    let mut watch = db.watch_schema_with(options).await.unwrap();
    let started = watch.schema_version();

    let other = rusqlite::Connection::open(&path).unwrap();
    other
        .execute_batch(
            "ALTER TABLE notes ADD COLUMN pinned INTEGER; CREATE INDEX notes_pinned ON notes(pinned);",
        )
        .unwrap();

    let event =
        tokio::time::timeout(DEADLINE, watch.next()).await.expect("an event within 30 s").unwrap().unwrap();
    assert_eq!(event.previous_version, started);
    assert!(event.schema_version > started);
    let changes: Vec<String> = event.changes.iter().map(ToString::to_string).collect();
    assert_eq!(
        changes,
        ["+ column notes.pinned: INTEGER", "+ index notes_pinned: index notes_pinned on notes (pinned)"]
    );
    assert_eq!(event.analyzed, ["notes"]);
    assert!(event.optimized);
    let drift = event.drift.expect("the database has applied migrations");
    assert_eq!(drift.changes.len(), 2, "{drift:?}");
    assert!(
        event.recommendations.iter().any(|r| r.contains("notes") && r.contains("body")),
        "{:?}",
        event.recommendations
    );
    let stat_rows: i64 =
        other.query_row("SELECT count(*) FROM sqlite_stat1 WHERE tbl = 'notes'", [], |r| r.get(0)).unwrap();
    assert!(stat_rows > 0, "ANALYZE ran on notes");

    // The watcher's own ANALYZE (which created sqlite_stat1) is no event: the next
    // one is the next change.
    other.execute_batch("DROP INDEX notes_pinned;").unwrap();
    let next =
        tokio::time::timeout(DEADLINE, watch.next()).await.expect("an event within 30 s").unwrap().unwrap();
    let changes: Vec<String> = next.changes.iter().map(ToString::to_string).collect();
    assert_eq!(changes, ["- index notes_pinned"]);

    drop(watch);
    db.close().await.unwrap();
}
