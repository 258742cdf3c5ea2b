//! Property 5: Migration rollback on failure.
//!
//! A migration batch is all or nothing: when a statement fails half way through a
//! migration (after other statements of it, and after whole migrations of the same
//! batch, already ran), the open fails with E3002 naming the version and the
//! statement, and the database is exactly as before: same schema, same history, same
//! rows. The same holds for a rollback whose down file fails half way.

use std::path::Path;

use proptest::prelude::*;
use strata::schema::Migration;
use strata::{Config, Database, DownTarget, MigrationSet, Migrations};

/// V1: the table that holds the application's rows.
fn base() -> Migration {
    Migration::new(
        "V1__items",
        "CREATE TABLE items(id INTEGER PRIMARY KEY, v TEXT NOT NULL);",
        Some("DROP TABLE items;"),
    )
    .unwrap()
}

/// `good` migrations that succeed (V2..), then one of `statements` statements whose
/// statement number `fails_at` (0-based) violates `items.v NOT NULL`.
fn failing_set(good: u32, statements: usize, fails_at: usize) -> (MigrationSet, u32, String) {
    let mut migrations = vec![base()];
    for i in 0..good {
        let v = i + 2;
        let up =
            format!("CREATE TABLE g{v}(id INTEGER PRIMARY KEY);\nINSERT INTO items(v) VALUES ('from V{v}');");
        migrations
            .push(Migration::new(&format!("V{v}__g{v}"), &up, Some(&format!("DROP TABLE g{v};"))).unwrap());
    }
    let bad = good + 2;
    let failing = format!("INSERT INTO items(v) VALUES (NULL) /* V{bad} */;");
    let body: Vec<String> = (0..statements)
        .map(|s| match s == fails_at {
            true => failing.clone(),
            false => {
                format!("CREATE TABLE b{bad}_{s}(x);\nINSERT INTO items(v) VALUES ('V{bad} statement {s}');")
            }
        })
        .collect();
    migrations.push(Migration::new(&format!("V{bad}__bad"), &body.join("\n"), None).unwrap());
    (MigrationSet::new(migrations).unwrap(), bad, "INSERT INTO items(v) VALUES (NULL)".into())
}

/// Everything a migration could have changed: the schema (name, sql), the history
/// (version, checksum) and the rows.
#[derive(Debug, PartialEq, Eq)]
struct State {
    schema: Vec<(String, Option<String>)>,
    history: Vec<(i64, String)>,
    items: Vec<String>,
}

fn state(path: &Path) -> State {
    let conn = rusqlite::Connection::open(path).unwrap();
    let rows = |sql: &str| -> Vec<(String, Option<String>)> {
        let mut stmt = conn.prepare(sql).unwrap();
        stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?))).unwrap().collect::<Result<_, _>>().unwrap()
    };
    let schema = rows("SELECT name, sql FROM sqlite_schema ORDER BY name");
    let mut stmt =
        conn.prepare("SELECT version, checksum FROM refinery_schema_history ORDER BY version").unwrap();
    let history =
        stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?))).unwrap().collect::<Result<_, _>>().unwrap();
    let mut stmt = conn.prepare("SELECT v FROM items ORDER BY id").unwrap();
    let items = stmt.query_map([], |r| r.get(0)).unwrap().collect::<Result<_, _>>().unwrap();
    State { schema, history, items }
}

fn integrity_ok(path: &Path) -> bool {
    let conn = rusqlite::Connection::open(path).unwrap();
    conn.query_row("PRAGMA integrity_check", [], |r| r.get::<_, String>(0)).unwrap() == "ok"
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 16, ..ProptestConfig::default() })]

    /// Proves that a migration failing half way rolls the whole batch back: a
    /// database at V1 with `rows` items, opened with a set whose pending batch is
    /// `good` migrations and then one whose statement `fails_at` of `statements`
    /// fails, refuses the open with E3002 naming that version and statement, and the
    /// schema, the history and the rows are those from before the open; the file
    /// passes `integrity_check` and opens again at V1. Keeping any statement or
    /// migration of the failed batch fails it.
    #[test]
    fn p05_migration_rollback_on_failure_leaves_the_database_as_before_the_batch(
        rows in 0usize..20,
        good in 0u32..3,
        (statements, fails_at) in (1usize..5).prop_flat_map(|n| (Just(n), 0..n)),
    ) {
        let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("app.db");
        let config = Config::for_path(&path);
        runtime.block_on(async {
            let v1 = MigrationSet::new([base()]).unwrap();
            let db = Database::open_with(&config, Migrations::from(v1.clone())).await.unwrap();
            db.pool().write(move |c| {
                for i in 0..rows {
                    c.execute("INSERT INTO items(v) VALUES (?1)", [format!("row {i}")])?;
                }
                Ok(())
            }).await.unwrap();
            db.close().await.unwrap();
            let before = state(&path);

            let (set, bad, statement) = failing_set(good, statements, fails_at);
            let err = Database::open_with(&config, Migrations::from(set)).await.unwrap_err();
            prop_assert_eq!(err.code(), "E3002", "{}", err);
            let text = err.to_string();
            prop_assert!(text.starts_with(&format!("migration V{bad} failed")), "{}", text);
            prop_assert!(text.contains(&statement), "the error names the statement: {}", text);
            prop_assert_eq!(state(&path), before, "the failed batch left nothing behind");
            prop_assert!(integrity_ok(&path));

            let db = Database::open_with(&config, Migrations::from(v1)).await.unwrap();
            prop_assert!(db.open_report().drift.as_ref().unwrap().is_clean());
            db.close().await.unwrap();
            Ok(())
        })?;
    }
}

/// Proves that a rollback failing half way is undone as a whole: `rollback(To(0))`
/// over three migrations whose middle down file fails at its second statement (after
/// the newest migration's down already ran) fails with E3002 and leaves all three
/// applied, with their tables and rows. A rollback that kept the newest migration
/// reverted fails it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn p05_migration_rollback_on_failure_undoes_a_down_that_fails_half_way() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("app.db");
    let config = Config::for_path(&path);
    // V2's down file drops its table, then fails on `items.v NOT NULL`.
    let set = || {
        let two = Migration::new(
            "V2__two",
            "CREATE TABLE two(x);\nINSERT INTO items(v) VALUES ('two');",
            Some("DROP TABLE two;\nINSERT INTO items(v) VALUES (NULL);"),
        )
        .unwrap();
        let three = Migration::new("V3__three", "CREATE TABLE three(x);", Some("DROP TABLE three;")).unwrap();
        MigrationSet::new([base(), two, three]).unwrap()
    };
    let db = Database::open_with(&config, Migrations::from(set())).await.unwrap();
    db.close().await.unwrap();
    let before = state(&path);
    let db = Database::open_with(&config, Migrations::from(set())).await.unwrap();
    let err = db.rollback(DownTarget::To(0)).await.unwrap_err();
    assert_eq!(err.code(), "E3002", "{err}");
    assert!(err.to_string().contains("V2"), "{err}");
    let status = db.migration_status().await.unwrap();
    assert_eq!(status.current, Some(3), "{status:?}");
    db.close().await.unwrap();
    assert_eq!(state(&path), before, "the newest migration's down was undone too");
    assert!(integrity_ok(&path));
}
