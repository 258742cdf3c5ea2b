//! The application developer's path through the facade (issue 17): migrations run and
//! rolled back from `Database`, and constraint errors that say where they happened.

use strata::{Config, Database, DownTarget, MigrationSet, MigrationState, Migrations};

const NOTES_UP: &str = "CREATE TABLE notes(id INTEGER PRIMARY KEY, body TEXT NOT NULL);";
const NOTES_DOWN: &str = "DROP TABLE notes;";
const TAGS_UP: &str = "CREATE TABLE tags(id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE);";
const TAGS_DOWN: &str = "DROP TABLE tags;";

fn app_migrations() -> MigrationSet {
    MigrationSet::from_sources([
        ("V1__notes", NOTES_UP, Some(NOTES_DOWN)),
        ("V2__tags", TAGS_UP, Some(TAGS_DOWN)),
    ])
    .unwrap()
}

fn config(dir: &tempfile::TempDir) -> Config {
    Config::for_path(dir.path().join("app.db"))
}

async fn table_exists(db: &Database, name: &'static str) -> bool {
    db.pool()
        .read(move |c| {
            Ok(c.query_row(
                "SELECT count(*) FROM sqlite_schema WHERE type = 'table' AND name = ?1",
                [name],
                |r| r.get::<_, i64>(0),
            )? == 1)
        })
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_rolls_back_reports_status_and_migrates_again_with_its_own_set() {
    let dir = tempfile::tempdir().unwrap();
    let db = Database::open_with(&config(&dir), Migrations::Set(app_migrations())).await.unwrap();
    let status = db.migration_status().await.unwrap();
    assert_eq!(status.current, Some(2));
    assert!(status.pending().is_empty(), "open applied everything: {status:?}");

    let down = db.rollback(DownTarget::To(1)).await.unwrap();
    assert_eq!(down.reverted.len(), 1, "{down:?}");
    assert_eq!(down.to, Some(1));
    assert!(!table_exists(&db, "tags").await, "V2's down file ran");
    assert!(table_exists(&db, "notes").await, "V1 stays");

    let status = db.migration_status().await.unwrap();
    assert_eq!(status.current, Some(1));
    assert_eq!(status.pending(), vec![2]);
    let v2 = status.entries.iter().find(|e| e.version == 2).unwrap();
    assert_eq!(v2.state, MigrationState::Pending);

    let up = db.migrate().await.unwrap();
    assert_eq!(up.applied.len(), 1, "{up:?}");
    assert_eq!(up.to, Some(2));
    assert!(table_exists(&db, "tags").await);
    assert!(db.migrate().await.unwrap().applied.is_empty(), "nothing pending the second time");

    let down = db.rollback(DownTarget::Steps(2)).await.unwrap();
    assert_eq!(down.reverted.len(), 2);
    assert!(!table_exists(&db, "notes").await);
    db.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn migrating_a_database_opened_without_a_set_is_a_typed_error() {
    let dir = tempfile::tempdir().unwrap();
    let db = Database::open_with(&config(&dir), Migrations::None).await.unwrap();
    for err in [
        db.migrate().await.map(drop).unwrap_err(),
        db.rollback(DownTarget::To(0)).await.map(drop).unwrap_err(),
        db.migration_status().await.map(drop).unwrap_err(),
    ] {
        assert_eq!(err.code(), "E6040", "{err}");
        assert!(err.to_string().starts_with("no migration set: "), "{err}");
        assert!(err.hint().contains("Migrations::Set"), "{}", err.hint());
    }
    db.close().await.unwrap();
}
