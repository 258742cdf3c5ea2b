//! The query builder (feature `query-builder`): sea-query statements run through the
//! pool with their values bound, and are counted by the query statistics.
#![cfg(feature = "query-builder")]

use strata::query::sea_query::{Expr, ExprTrait, Query};
use strata::{Config, Database, MigrationSet, Migrations};

#[derive(Debug, PartialEq, serde::Deserialize)]
struct Note {
    id: i64,
    body: String,
}

#[tokio::test]
async fn a_built_query_runs_on_the_pool_with_bound_values_and_is_counted() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = Config::for_path(dir.path().join("app.db"));
    config.monitor.query_stats = true;
    let set = MigrationSet::from_sources([(
        "V1__notes",
        "CREATE TABLE notes(id INTEGER PRIMARY KEY, body TEXT NOT NULL);",
        None,
    )])
    .unwrap();
    let db = Database::open_with(&config, Migrations::from(set)).await.unwrap();

    let hostile = "x'); DROP TABLE notes; --";
    let insert =
        Query::insert().into_table("notes").columns(["body"]).values_panic([hostile.into()]).to_owned();
    assert_eq!(db.execute_query(&insert).await.unwrap(), 1);
    let select = Query::select()
        .columns(["id", "body"])
        .from("notes")
        .and_where(Expr::col("body").eq(hostile))
        .to_owned();
    let notes: Vec<Note> = db.select_as(&select).await.unwrap();
    assert_eq!(notes, [Note { id: 1, body: hostile.to_string() }]);
    let update =
        Query::update().table("notes").value("body", "y").and_where(Expr::col("id").eq(1)).to_owned();
    assert_eq!(db.execute_query(&update).await.unwrap(), 1);

    let report = db.query_stats().expect("query statistics are on").report();
    for (verb, table) in
        [("INSERT", "\"notes\""), ("SELECT", "FROM \"notes\" WHERE \"body\" ="), ("UPDATE", "\"notes\"")]
    {
        let stat = report
            .statements
            .iter()
            .find(|s| s.sql.starts_with(verb) && s.sql.contains(table))
            .unwrap_or_else(|| panic!("no {verb} in {:#?}", report.statements));
        assert_eq!(stat.count, 1, "{stat:?}");
        assert!(!stat.sql.contains("DROP"), "the value was bound, not formatted in: {}", stat.sql);
    }
    db.close().await.unwrap();
}
