//! The index advisor on a 100,000-row fixture: ten queries; it finds the index for
//! each query that needs one and proposes nothing for those already indexed.

use std::path::Path;

use strata_ops::advisor::{AdviseOptions, advise_path};

use crate::raw;

/// customers (10,000 rows), orders (100,000, indexed on sku), events (20,000,
/// indexed on kind, at), built in one transaction.
pub fn shop(path: &Path) {
    let conn = raw(path);
    conn.execute_batch(
        "BEGIN;
         CREATE TABLE customers(id INTEGER PRIMARY KEY, email TEXT NOT NULL, country TEXT NOT NULL,
                                created_at INTEGER NOT NULL);
         CREATE TABLE orders(id INTEGER PRIMARY KEY, customer_id INTEGER NOT NULL, status TEXT NOT NULL,
                             sku TEXT NOT NULL, total INTEGER NOT NULL, created_at INTEGER NOT NULL);
         CREATE INDEX orders_sku ON orders(sku);
         CREATE TABLE events(id INTEGER PRIMARY KEY, kind TEXT NOT NULL, at INTEGER NOT NULL,
                             user_id INTEGER NOT NULL);
         CREATE INDEX events_kind_at ON events(kind, at);
         WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n WHERE x < 10000)
         INSERT INTO customers SELECT x, 'user' || x || '@example.com',
             CASE x % 20 WHEN 0 THEN 'NZ' WHEN 1 THEN 'DE' WHEN 2 THEN 'FR' ELSE 'US' || (x % 20) END,
             1700000000 + x * 100 FROM n;
         WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n WHERE x < 100000)
         INSERT INTO orders SELECT x, (x * 7919) % 10000 + 1,
             CASE x % 5 WHEN 0 THEN 'new' WHEN 1 THEN 'paid' WHEN 2 THEN 'shipped' WHEN 3 THEN 'done'
                 ELSE 'refunded' END,
             'sku-' || (x % 500), x % 1000, 1700000000 + x * 60 FROM n;
         WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n WHERE x < 20000)
         INSERT INTO events SELECT x, 'kind-' || (x % 30), 1700000000 + x, x % 10000 FROM n;
         COMMIT;",
    )
    .unwrap();
}

/// The ten queries and the index each needs (`table(columns)`), or none.
pub const QUERIES: &[(&str, Option<&str>)] = &[
    ("SELECT * FROM orders WHERE customer_id = ?1", Some("orders(customer_id)")),
    (
        "SELECT id, total FROM orders WHERE status = 'shipped' AND created_at > ?1",
        Some("orders(status, created_at)"),
    ),
    ("SELECT * FROM orders ORDER BY created_at DESC LIMIT 20", Some("orders(created_at)")),
    ("SELECT id FROM customers WHERE email = ?1", Some("customers(email)")),
    (
        "SELECT o.id, o.total FROM orders AS o WHERE o.customer_id = ?1 ORDER BY o.created_at DESC",
        Some("orders(customer_id, created_at)"),
    ),
    ("SELECT country, count(*) FROM customers GROUP BY country", Some("customers(country)")),
    ("SELECT * FROM orders WHERE id = ?1", None),
    ("SELECT count(*) FROM orders WHERE sku = ?1", None),
    ("SELECT * FROM events WHERE kind = ?1 ORDER BY at", None),
    ("SELECT c.email FROM customers c WHERE c.id = ?1", None),
];

#[tokio::test]
async fn the_advisor_finds_the_index_each_query_needs_and_nothing_for_indexed_ones() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("shop.db");
    shop(&db);
    let queries: Vec<String> = QUERIES.iter().map(|(q, _)| q.to_string()).collect();
    let report = advise_path(&db, queries, AdviseOptions::default()).await.unwrap();
    assert!(report.statistics.contains("sample"), "{}", report.statistics);
    for ((sql, expected), advice) in QUERIES.iter().zip(&report.queries) {
        let got: Vec<String> =
            advice.recommendations.iter().map(|r| format!("{}({})", r.table, r.columns.join(", "))).collect();
        let expected: Vec<String> = expected.iter().map(|e| e.to_string()).collect();
        assert_eq!(
            got, expected,
            "{sql}\nbefore:\n{}\nafter:\n{:?}\nnote: {:?}",
            advice.plan_before, advice.plan_after, advice.note
        );
        if !expected.is_empty() {
            let after = advice.plan_after.as_deref().unwrap();
            assert!(after.contains(&advice.recommendations[0].name), "{after}");
            assert!(advice.recommendations[0].create_sql.starts_with("CREATE INDEX idx_"));
        } else {
            assert!(advice.problems.is_empty(), "{sql}: {:?}", advice.problems);
        }
    }
    assert_eq!(report.indexes.len(), 6);
    // Nothing was written to the database.
    let conn = strata_pool::open_read_only(&db).unwrap();
    let indexes: i64 =
        conn.query_row("SELECT count(*) FROM sqlite_schema WHERE type = 'index'", [], |r| r.get(0)).unwrap();
    assert_eq!(indexes, 2);
}

#[tokio::test]
async fn the_advisor_uses_the_databases_own_statistics_when_it_has_them() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("shop.db");
    shop(&db);
    raw(&db).execute_batch("ANALYZE").unwrap();
    let report = advise_path(&db, vec![QUERIES[0].0.to_string()], AdviseOptions::default()).await.unwrap();
    assert!(report.statistics.starts_with("sqlite_stat1 of the database"), "{}", report.statistics);
    assert_eq!(report.queries[0].recommendations.len(), 1);
    let err =
        advise_path(&db, vec!["DELETE FROM orders".to_string()], AdviseOptions::default()).await.unwrap();
    assert!(err.queries[0].note.is_some());
}

#[tokio::test]
async fn non_ascii_and_quoted_names_get_an_index_that_applies() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("menu.db");
    raw(&db)
        .execute_batch(
            "CREATE TABLE \"menü 🍰\"(id INTEGER PRIMARY KEY, café TEXT NOT NULL, \"prix \"\"net\"\"\" REAL);
             WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n WHERE x < 2000)
             INSERT INTO \"menü 🍰\" SELECT x, 'crème ' || (x % 100), x FROM n;",
        )
        .unwrap();
    let query = "SELECT id FROM \"menü 🍰\" WHERE café = ?1 ORDER BY \"prix \"\"net\"\"\"".to_string();
    let report = advise_path(&db, vec![query], AdviseOptions::default()).await.unwrap();
    let advice = &report.queries[0];
    assert_eq!(advice.recommendations.len(), 1, "{advice:?}");
    let r = &advice.recommendations[0];
    assert_eq!(
        (r.table.as_str(), r.columns.clone()),
        ("menü 🍰", vec!["café".to_string(), "prix \"net\"".to_string()])
    );
    raw(&db).execute_batch(&r.create_sql).unwrap_or_else(|e| panic!("{e}: {}", r.create_sql));
}
