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
    let db = Database::open_with(&config(&dir), Migrations::from(app_migrations())).await.unwrap();
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

const SHOP: &str = "
CREATE TABLE customers(id INTEGER PRIMARY KEY, email TEXT NOT NULL UNIQUE);
CREATE TABLE orders(
    id INTEGER PRIMARY KEY,
    customer_id INTEGER NOT NULL REFERENCES customers(id),
    shop TEXT NOT NULL,
    number INTEGER NOT NULL,
    total INTEGER NOT NULL CONSTRAINT total_not_negative CHECK (total >= 0),
    UNIQUE (shop, number)
);";

/// The error a write of `sql` returns on a database with the shop schema.
async fn refused(db: &Database, sql: &'static str) -> strata::Error {
    db.pool().write(move |c| Ok(c.execute_batch(sql)?)).await.unwrap_err()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn constraint_errors_name_their_table_and_columns_with_a_hint_for_their_kind() {
    use strata::ConstraintKind;
    let dir = tempfile::tempdir().unwrap();
    let set = MigrationSet::from_sources([("V1__shop", SHOP, None)]).unwrap();
    let db = Database::open_with(&config(&dir), Migrations::from(set)).await.unwrap();
    db.pool()
        .write(|c| {
            Ok(c.execute_batch(
                "INSERT INTO customers(id, email) VALUES (1, 'a@example.com');
                 INSERT INTO orders(customer_id, shop, number, total) VALUES (1, 'north', 1, 10);",
            )?)
        })
        .await
        .unwrap();

    let unique = refused(&db, "INSERT INTO customers(email) VALUES ('a@example.com')").await;
    assert_eq!(unique.constraint(), Some(ConstraintKind::Unique));
    assert_eq!(unique.table(), Some("customers"));
    assert_eq!(unique.columns(), vec!["email"]);
    assert_eq!(unique.to_string(), "unique constraint failed: customers.email", "said once");
    assert!(unique.hint().contains("ON CONFLICT"), "{}", unique.hint());
    assert!(!unique.hint().contains("foreign key"), "{}", unique.hint());

    let both =
        refused(&db, "INSERT INTO orders(customer_id, shop, number, total) VALUES (1, 'north', 1, 5)").await;
    assert_eq!(both.table(), Some("orders"));
    assert_eq!(both.columns(), vec!["shop", "number"], "a composite key names every column");

    let pk = refused(&db, "INSERT INTO customers(id, email) VALUES (1, 'b@example.com')").await;
    assert_eq!(pk.constraint(), Some(ConstraintKind::PrimaryKey));
    assert_eq!((pk.table(), pk.columns()), (Some("customers"), vec!["id"]));

    let not_null =
        refused(&db, "INSERT INTO orders(customer_id, shop, number, total) VALUES (1, NULL, 2, 1)").await;
    assert_eq!(not_null.constraint(), Some(ConstraintKind::NotNull));
    assert_eq!((not_null.table(), not_null.columns()), (Some("orders"), vec!["shop"]));
    assert_eq!(not_null.to_string(), "not null constraint failed: orders.shop");
    assert!(not_null.hint().contains("value for the column"), "{}", not_null.hint());

    let check =
        refused(&db, "INSERT INTO orders(customer_id, shop, number, total) VALUES (1, 'north', 2, -1)").await;
    assert_eq!(check.constraint(), Some(ConstraintKind::Check));
    assert_eq!(check.constraint_name(), Some("total_not_negative"), "SQLite names the CHECK, not its table");
    assert_eq!((check.table(), check.columns()), (None, Vec::<&str>::new()));
    assert!(check.hint().contains("CHECK"), "{}", check.hint());

    let fk =
        refused(&db, "INSERT INTO orders(customer_id, shop, number, total) VALUES (99, 'north', 2, 1)").await;
    assert_eq!(fk.constraint(), Some(ConstraintKind::ForeignKey));
    assert_eq!((fk.table(), fk.columns()), (None, Vec::<&str>::new()), "SQLite's message names no table");
    assert_eq!(fk.to_string(), "foreign key constraint failed");
    assert!(fk.hint().contains("parent row"), "{}", fk.hint());
    db.close().await.unwrap();
}
