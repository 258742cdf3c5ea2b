//! Property 3: Schema validation on start-up.
//!
//! `Database::open` compares the live schema with what its migrations produce and
//! the applied history with the migration files before it lends a connection: a
//! schema changed behind the migrations' back (a column, an index, a trigger, a view,
//! a dropped table) or an applied migration edited afterwards refuses the open with a
//! typed error and leaves the file as it was.

use std::path::Path;

use proptest::prelude::*;
use strata::schema::Migration;
use strata::{Config, Database, DriftPolicy, MigrationSet, Migrations};

/// The application's schema: a table with an index, and a second table.
fn app_set(notes_up: &str) -> MigrationSet {
    let notes = Migration::new("V1__notes", notes_up, Some("DROP TABLE notes;")).unwrap();
    let tags = Migration::new(
        "V2__tags",
        "CREATE TABLE tags(id INTEGER PRIMARY KEY, note INTEGER NOT NULL REFERENCES notes(id), tag TEXT NOT NULL);\n\
         CREATE INDEX tags_note ON tags(note);",
        Some("DROP TABLE tags;"),
    )
    .unwrap();
    MigrationSet::new([notes, tags]).unwrap()
}

const NOTES_UP: &str = "CREATE TABLE notes(id INTEGER PRIMARY KEY, body TEXT NOT NULL);\n\
                        CREATE INDEX notes_body ON notes(body);";

/// A change made to the live schema with a plain SQLite connection, behind strata.
#[derive(Debug, Clone)]
enum Drift {
    AddColumn(String),
    DropIndex,
    AddIndex(String),
    AddTrigger(String),
    AddView(String),
    DropTable,
}

fn drift() -> impl Strategy<Value = Drift> {
    let name = "[a-z][a-z0-9_]{0,10}";
    prop_oneof![
        name.prop_map(Drift::AddColumn),
        Just(Drift::DropIndex),
        name.prop_map(Drift::AddIndex),
        name.prop_map(Drift::AddTrigger),
        name.prop_map(Drift::AddView),
        Just(Drift::DropTable),
    ]
}

impl Drift {
    fn sql(&self) -> String {
        match self {
            Drift::AddColumn(c) => format!("ALTER TABLE notes ADD COLUMN x_{c} TEXT;"),
            Drift::DropIndex => "DROP INDEX notes_body;".into(),
            Drift::AddIndex(i) => format!("CREATE INDEX x_{i} ON tags(tag);"),
            Drift::AddTrigger(t) => {
                format!("CREATE TRIGGER x_{t} AFTER INSERT ON notes BEGIN SELECT 1; END;")
            }
            Drift::AddView(v) => format!("CREATE VIEW x_{v} AS SELECT id FROM notes;"),
            Drift::DropTable => "DROP TABLE tags;".into(),
        }
    }
}

/// `sqlite_schema` as `(type, name, sql)` rows, read with a plain connection.
fn schema_rows(path: &Path) -> Vec<(String, String, Option<String>)> {
    let conn = rusqlite::Connection::open(path).unwrap();
    let mut stmt = conn.prepare("SELECT type, name, sql FROM sqlite_schema ORDER BY type, name").unwrap();
    stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?))).unwrap().collect::<Result<_, _>>().unwrap()
}

fn config(path: &Path, drift: DriftPolicy) -> Config {
    let mut config = Config::for_path(path);
    config.schema.drift = drift;
    config
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 12, ..ProptestConfig::default() })]

    /// Proves that a start-up validates the schema: after any change to the live
    /// schema that the migrations did not make, `Database::open` with `schema.drift =
    /// "error"` fails with E3014 naming the changed object, writes nothing to the
    /// schema, and `"warn"` opens but reports the same drift; the untouched database
    /// opens clean. An open that skipped the drift check (or ignored the object
    /// changed) fails it.
    #[test]
    fn p03_schema_validation_on_startup_refuses_a_schema_changed_behind_the_migrations(drift in drift()) {
        let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("app.db");
        runtime.block_on(async {
            let db = Database::open_with(&config(&path, DriftPolicy::Error), Migrations::from(app_set(NOTES_UP))).await.unwrap();
            let clean = db.open_report().drift.clone().expect("a drift report at open");
            prop_assert!(clean.is_clean(), "{:?}", clean);
            db.close().await.unwrap();

            let conn = rusqlite::Connection::open(&path).unwrap();
            conn.execute_batch(&drift.sql()).unwrap();
            drop(conn);
            let before = schema_rows(&path);

            let err = Database::open_with(&config(&path, DriftPolicy::Error), Migrations::from(app_set(NOTES_UP))).await.unwrap_err();
            prop_assert_eq!(err.code(), "E3014", "{:?}: {}", drift, err);
            let named = match &drift {
                Drift::AddColumn(c) => format!("x_{c}"),
                Drift::DropIndex => "notes_body".into(),
                Drift::AddIndex(n) | Drift::AddTrigger(n) | Drift::AddView(n) => format!("x_{n}"),
                Drift::DropTable => "tags".into(),
            };
            prop_assert!(err.to_string().contains(&named), "{:?}: the error names {}: {}", drift, named, err);
            prop_assert_eq!(schema_rows(&path), before, "a refused open changes no schema");

            let db = Database::open_with(&config(&path, DriftPolicy::Warn), Migrations::from(app_set(NOTES_UP))).await.unwrap();
            let report = db.open_report().drift.clone().expect("a drift report at open");
            prop_assert!(!report.is_clean(), "{:?}: warn reports the drift", drift);
            db.close().await.unwrap();
            Ok(())
        })?;
    }
}

/// Proves that a start-up validates the migration history: a migration edited after
/// it was applied (E3003), one removed from the set (E3004) or one added below the
/// applied version (E3005) refuses the open before any migration runs, and the
/// history table is unchanged. An open that applied or accepted a changed history
/// fails it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn p03_schema_validation_on_startup_refuses_an_edited_or_inconsistent_history() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("app.db");
    let config = config(&path, DriftPolicy::Error);
    let db = Database::open_with(&config, Migrations::from(app_set(NOTES_UP))).await.unwrap();
    db.close().await.unwrap();
    let history = || {
        let conn = rusqlite::Connection::open(&path).unwrap();
        let sql = "SELECT version, name, checksum FROM refinery_schema_history ORDER BY version";
        let mut stmt = conn.prepare(sql).unwrap();
        let rows: Vec<(i64, String, String)> = stmt
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        (rows, schema_rows(&path))
    };
    let rows = history();
    assert_eq!(rows.0.len(), 2);

    let edited = NOTES_UP.replace("body TEXT NOT NULL", "body TEXT NOT NULL, extra TEXT");
    let err = Database::open_with(&config, Migrations::from(app_set(&edited))).await.unwrap_err();
    assert_eq!(err.code(), "E3003", "{err}");
    assert!(err.to_string().contains("V1"), "{err}");

    let first_only = app_set(NOTES_UP).up_to(1);
    let err = Database::open_with(&config, Migrations::from(first_only)).await.unwrap_err();
    assert_eq!(err.code(), "E3004", "{err}");

    // A fresh database at V2 of a set whose V1 is missing, then V1 appears.
    let gap = dir.path().join("gap.db");
    let only_v2 = MigrationSet::new([app_set(NOTES_UP).migrations()[1].clone()]).unwrap();
    // V2 references notes: create it out of band, as an application's legacy table.
    let conn = rusqlite::Connection::open(&gap).unwrap();
    conn.execute_batch("CREATE TABLE notes(id INTEGER PRIMARY KEY, body TEXT NOT NULL);").unwrap();
    drop(conn);
    let mut gap_config = Config::for_path(&gap);
    gap_config.schema.drift = DriftPolicy::Off;
    Database::open_with(&gap_config, Migrations::from(only_v2)).await.unwrap().close().await.unwrap();
    let err = Database::open_with(&gap_config, Migrations::from(app_set(NOTES_UP))).await.unwrap_err();
    assert_eq!(err.code(), "E3005", "{err}");

    assert_eq!(history(), rows, "refused opens changed nothing");
    let db = Database::open_with(&config, Migrations::from(app_set(NOTES_UP))).await.unwrap();
    assert!(db.open_report().drift.as_ref().unwrap().is_clean());
    db.close().await.unwrap();
}
