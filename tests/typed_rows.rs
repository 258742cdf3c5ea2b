//! Typed reads through the facade (issue 17 point 4): rows into serde structs on the
//! reader pool, NULL into Option, JSON text into serde_json::Value, a streaming read
//! with a bounded buffer, the query statistics, and the rusqlite re-exports.

use std::time::Duration;

use serde::Deserialize;
use strata::{Config, Database, MigrationSet, Migrations, OptionalExtension, params};

const PAGES_UP: &str = "CREATE TABLE pages(
    id INTEGER PRIMARY KEY,
    url TEXT NOT NULL UNIQUE,
    title TEXT,
    meta TEXT NOT NULL DEFAULT '{}'
);";

#[derive(Debug, Deserialize, PartialEq)]
struct Page {
    id: i64,
    url: String,
    title: Option<String>,
    #[serde(with = "strata::json")]
    meta: serde_json::Value,
}

fn config(dir: &tempfile::TempDir) -> Config {
    Config::for_path(dir.path().join("pages.db"))
}

async fn open(config: &Config) -> Database {
    let set = MigrationSet::from_sources([("V1__pages", PAGES_UP, Some("DROP TABLE pages;"))]).unwrap();
    Database::open_with(config, Migrations::from(set)).await.unwrap()
}

async fn insert_pages(db: &Database, n: i64) {
    db.pool()
        .write(move |c| {
            for i in 1..=n {
                c.execute(
                    "INSERT INTO pages(id, url, title, meta) VALUES (?1, ?2, ?3, ?4)",
                    params![
                        i,
                        format!("https://example.com/{i}"),
                        (i % 2 == 1).then(|| format!("page {i}")),
                        format!(r#"{{"depth":{i}}}"#)
                    ],
                )?;
            }
            Ok(())
        })
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rows_read_into_structs_with_null_as_none_and_json_as_a_value() {
    let dir = tempfile::tempdir().unwrap();
    let db = open(&config(&dir)).await;
    insert_pages(&db, 2).await;

    let pages: Vec<Page> =
        db.query_as("SELECT id, url, title, meta FROM pages ORDER BY id", ()).await.unwrap();
    assert_eq!(
        pages,
        vec![
            Page {
                id: 1,
                url: "https://example.com/1".into(),
                title: Some("page 1".into()),
                meta: serde_json::json!({"depth": 1}),
            },
            Page {
                id: 2,
                url: "https://example.com/2".into(),
                title: None,
                meta: serde_json::json!({"depth": 2})
            },
        ]
    );

    let second: Page = db
        .query_one("SELECT * FROM pages WHERE url = ?1", ("https://example.com/2".to_string(),))
        .await
        .unwrap();
    assert_eq!((second.id, second.title), (2, None));
    let none: Option<Page> = db.query_optional("SELECT * FROM pages WHERE id = ?1", [99]).await.unwrap();
    assert_eq!(none, None);
    let missing = db.query_one::<Page, _>("SELECT * FROM pages WHERE id = ?1", [99]).await.unwrap_err();
    assert_eq!(missing.code(), "E4002", "{missing}");
    db.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_column_that_does_not_fit_its_field_is_e4020_naming_the_type_and_column() {
    #[derive(Debug, Deserialize)]
    struct Wrong {
        #[allow(dead_code, reason = "only the failure to fill it is tested")]
        id: i64,
    }
    let dir = tempfile::tempdir().unwrap();
    let db = open(&config(&dir)).await;
    insert_pages(&db, 1).await;

    let err = db.query_as::<Wrong, _>("SELECT url AS id FROM pages", ()).await.unwrap_err();
    assert_eq!(err.code(), "E4020", "{err}");
    assert_eq!(err.kind(), strata::ErrorKind::Invalid);
    assert!(err.to_string().starts_with("cannot read a row into Wrong: column `id`: "), "{err}");
    assert!(err.hint().contains("Option"), "{}", err.hint());

    let null = db.query_as::<(i64, String), _>("SELECT id, url FROM pages", ()).await;
    assert!(null.is_ok(), "a tuple reads by position: {null:?}");
    let err = db
        .query_one::<Page, _>("SELECT id, url, NULL AS title, 'not json' AS meta FROM pages", ())
        .await
        .unwrap_err();
    assert_eq!(err.code(), "E4020", "{err}");
    assert!(err.to_string().contains("invalid json"), "{err}");
    db.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_yields_every_row_in_order_and_dropping_it_frees_the_reader() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = config(&dir);
    config.pool.readers = 1;
    let db = open(&config).await;
    insert_pages(&db, 1_000).await;

    let mut stream = db.query_stream::<Page, _>("SELECT * FROM pages ORDER BY id", ()).await;
    let mut expected = 1;
    while let Some(page) = stream.next().await {
        assert_eq!(page.unwrap().id, expected);
        expected += 1;
    }
    assert_eq!(expected, 1_001, "every row once");

    // Far more rows than the buffer: the reader waits on the consumer, and dropping
    // the stream must end the statement and give the only reader back.
    let mut stream = db.query_stream::<Page, _>("SELECT * FROM pages ORDER BY id", ()).await;
    assert_eq!(stream.next().await.unwrap().unwrap().id, 1);
    drop(stream);
    let n: i64 = tokio::time::timeout(
        Duration::from_secs(30),
        db.pool().read(|c| Ok(c.query_row("SELECT count(*) FROM pages", [], |r| r.get(0))?)),
    )
    .await
    .expect("the reader came back")
    .unwrap();
    assert_eq!(n, 1_000);

    let mut bad = db.query_stream::<Page, _>("SELECT * FROM no_such_table", ()).await;
    let err = bad.next().await.unwrap().unwrap_err();
    assert_eq!(err.code(), "E4004", "{err}");
    assert!(bad.next().await.is_none(), "the stream ends after its error");
    db.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn typed_reads_are_counted_by_the_query_statistics() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = config(&dir);
    config.monitor.query_stats = true;
    let db = open(&config).await;
    insert_pages(&db, 3).await;
    const SQL: &str = "SELECT id, url, title, meta FROM pages WHERE id > ?1";
    let _: Vec<Page> = db.query_as(SQL, [0]).await.unwrap();
    let _: Option<Page> = db.query_optional(SQL, [1]).await.unwrap();
    let mut stream = db.query_stream::<Page, _>(SQL, [2]).await;
    while stream.next().await.is_some() {}
    let report = db.query_stats().expect("query_stats is on").report();
    let select = report.statements.iter().find(|s| s.sql.starts_with("SELECT id, url")).expect("the select");
    assert_eq!(select.count, 3, "{report:?}");
    db.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rusqlite_params_and_optional_are_re_exported_for_pool_closures() {
    let dir = tempfile::tempdir().unwrap();
    let db = open(&config(&dir)).await;
    insert_pages(&db, 1).await;
    let title: Option<Option<String>> = db
        .pool()
        .read(|c: &strata::rusqlite::Connection| {
            Ok(c.query_row("SELECT title FROM pages WHERE id = ?1", params![1], |r| r.get(0)).optional()?)
        })
        .await
        .unwrap();
    assert_eq!(title, Some(Some("page 1".into())));
    db.close().await.unwrap();
}
