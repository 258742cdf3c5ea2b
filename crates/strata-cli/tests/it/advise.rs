//! `strata advise`: recommendations with the plan before and after, as a snapshot.

use crate::{strata, text};

#[test]
fn advise_proposes_an_index_for_a_scan_and_nothing_for_an_indexed_lookup() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let conn = rusqlite::Connection::open(d.join("shop.db")).unwrap();
    conn.execute_batch(
        "BEGIN;
         CREATE TABLE orders(id INTEGER PRIMARY KEY, customer_id INTEGER NOT NULL, status TEXT NOT NULL,
                             created_at INTEGER NOT NULL);
         WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n WHERE x < 20000)
         INSERT INTO orders SELECT x, (x * 7919) % 2000 + 1,
             CASE x % 4 WHEN 0 THEN 'new' WHEN 1 THEN 'paid' WHEN 2 THEN 'shipped' ELSE 'done' END,
             1700000000 + x * 60 FROM n;
         COMMIT;",
    )
    .unwrap();
    drop(conn);
    let out = strata(
        d,
        &[
            "--db",
            "shop.db",
            "advise",
            "--query",
            "SELECT * FROM orders WHERE customer_id = ?1 ORDER BY created_at",
            "--query",
            "SELECT * FROM orders WHERE id = ?1",
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr, d));
    insta::assert_snapshot!("advise", text(&out.stdout, d));

    let none = strata(d, &["--db", "shop.db", "--json", "advise"]);
    assert_eq!(none.status.code(), Some(3), "no queries and no exported statistics");
    let doc: serde_json::Value = serde_json::from_slice(&none.stdout).unwrap();
    assert_eq!(doc["code"], "E6001");
}
