//! `strata::embed_migrations!` (issue 17 section 1): an application's directory embedded
//! with one macro call through the facade alone (this test crate depends on `strata`,
//! not on strata-schema), down files optional, applied beside the reference schema in
//! a namespace and rolled back through `Database`; bad directories are typed errors.

use strata::{Config, Database, DownTarget, MigrationSet, Migrations};

fn config(dir: &tempfile::TempDir) -> Config {
    Config::for_path(dir.path().join("app.db"))
}

/// The names of the tables among `names` that exist.
async fn tables(db: &Database, names: &'static [&'static str]) -> Vec<String> {
    const TABLES: &str = "SELECT name FROM sqlite_schema WHERE type = 'table' ORDER BY name";
    let all: Vec<String> = db
        .pool()
        .read(|c| {
            let mut stmt = c.prepare(TABLES)?;
            let rows = stmt.query_map([], |r| r.get(0))?.collect::<Result<Vec<String>, _>>()?;
            Ok(rows)
        })
        .await
        .unwrap();
    all.into_iter().filter(|t| names.contains(&t.as_str())).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_embedded_directory_with_downs_is_applied_and_rolled_back_through_database() {
    let own = strata::embed_migrations!("tests/fixtures/embed/with_downs").unwrap();
    assert_eq!(own.latest(), Some(2));
    assert!(own.migrations().iter().all(|m| m.down().is_some()), "both downs embedded");
    let own = own.with_namespace("app").unwrap();
    let dir = tempfile::tempdir().unwrap();
    let db =
        Database::open_with(&config(&dir), [Migrations::Reference, Migrations::from(own)]).await.unwrap();
    assert_eq!(tables(&db, &["notes", "tags", "tasks"]).await, ["notes", "tags", "tasks"]);
    const APP_HISTORY: &str = "SELECT count(*) FROM app_schema_history";
    let recorded: i64 = db.pool().read(|c| Ok(c.query_row(APP_HISTORY, [], |r| r.get(0))?)).await.unwrap();
    assert_eq!(recorded, 2, "the application's V1 and V2 in its own history");

    // The downs: the application's set rolls back to nothing, strata's stays.
    let report = db.rollback(DownTarget::To(0)).await.unwrap();
    assert_eq!(report.reverted.len(), 2, "{report:?}");
    assert_eq!(tables(&db, &["notes", "tags", "tasks"]).await, ["tasks"]);
    db.migrate().await.unwrap();
    assert_eq!(tables(&db, &["notes", "tags", "tasks"]).await, ["notes", "tags", "tasks"]);
    db.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_embedded_directory_without_downs_applies_and_refuses_a_rollback() {
    let own = strata::embed_migrations!("tests/fixtures/embed/ups_only").unwrap();
    assert!(own.migrations().iter().all(|m| m.down().is_none()), "no down files");
    let dir = tempfile::tempdir().unwrap();
    let db = Database::open_with(&config(&dir), Migrations::from(own.with_namespace("app").unwrap()))
        .await
        .unwrap();
    assert_eq!(tables(&db, &["notes", "tags"]).await, ["notes", "tags"]);
    let err = db.rollback(DownTarget::Steps(1)).await.unwrap_err();
    assert_eq!(err.code(), "E3006", "{err}");
    assert_eq!(tables(&db, &["notes", "tags"]).await, ["notes", "tags"], "nothing rolled back");
    db.close().await.unwrap();
}

/// What the macro expands to, `MigrationSet::from_embedded`, checks the files as a
/// directory read at runtime is checked: a gap is E3030, a version used twice E3008,
/// each with its hint. (The macro itself refuses both at compile time, with the same
/// codes; strata-macros' unit tests cover that check.)
#[test]
fn a_gap_or_a_duplicate_version_is_a_typed_error() {
    let gap_dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/embed/gap");
    let err = MigrationSet::from_dir(gap_dir).unwrap_err();
    assert_eq!(err.code(), "E3030", "{err}");
    assert!(err.to_string().contains("V1 is followed by V3"), "{err}");
    assert!(err.hint().contains("renumber"), "{}", err.hint());

    let embedded = [("V1__a.sql", "CREATE TABLE a(x);"), ("V3__c.sql", "CREATE TABLE c(x);")];
    let err = MigrationSet::from_embedded("migrations", &embedded).unwrap_err();
    assert_eq!(err.code(), "E3030", "{err}");
    assert!(err.to_string().contains("migration set migrations has a gap"), "{err}");

    let duplicate = [("V1__a.sql", "CREATE TABLE a(x);"), ("sub/V1__b.sql", "CREATE TABLE b(x);")];
    let err = MigrationSet::from_embedded("migrations", &duplicate).unwrap_err();
    assert_eq!(err.code(), "E3008", "{err}");
    assert!(err.to_string().contains("version 1 is also used by"), "{err}");
    assert!(!err.hint().is_empty());
}
