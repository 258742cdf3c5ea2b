//! Query plans: EXPLAIN QUERY PLAN on a real database file, read into typed nodes.

use rusqlite::Connection;
use strata_core::ErrorKind;
use strata_schema::{NodeKind, PlanNode, QueryPlan, SubqueryKind, TempBTreePurpose, explain};
use tempfile::TempDir;

const SHOP: &str = "
    CREATE TABLE users (id INTEGER PRIMARY KEY, email TEXT, name TEXT, age INTEGER, team INTEGER);
    CREATE INDEX users_email ON users (email);
    CREATE INDEX users_team_age ON users (team, age);
    CREATE TABLE posts (id INTEGER PRIMARY KEY, user_id INTEGER, title TEXT, at INTEGER);
    CREATE TABLE tags (post_id INTEGER, label TEXT);
    CREATE TABLE settings (key TEXT PRIMARY KEY, value TEXT) WITHOUT ROWID;
";

/// A database file in a temporary directory with the tables above.
fn shop() -> (TempDir, Connection) {
    let dir = tempfile::tempdir().unwrap();
    let conn = Connection::open(dir.path().join("plans.db")).unwrap();
    conn.execute_batch(SHOP).unwrap();
    (dir, conn)
}

fn plan(conn: &Connection, sql: &str) -> QueryPlan {
    explain(conn, sql).unwrap_or_else(|e| panic!("{sql}: {e}"))
}

/// The kinds of every node, depth first.
fn kinds(plan: &QueryPlan) -> Vec<&NodeKind> {
    plan.iter().map(|node| &node.kind).collect()
}

fn only(plan: &QueryPlan) -> &PlanNode {
    assert_eq!(plan.nodes.len(), 1, "{}", plan.render());
    &plan.nodes[0]
}

#[test]
fn a_table_without_a_usable_index_is_a_full_scan() {
    let (_dir, conn) = shop();
    let p = plan(&conn, "SELECT * FROM users WHERE name = 'ada'");
    assert_eq!(only(&p).kind, NodeKind::Scan { table: "users".into(), index: None, covering: false });
    assert_eq!(p.full_scans().len(), 1);
    assert_eq!(p.full_scans()[0].table(), Some("users"));
    assert_eq!(p.render(), "QUERY PLAN\n`--SCAN users\n");
}

#[test]
fn a_lookup_on_an_indexed_column_searches_that_index() {
    let (_dir, conn) = shop();
    let p = plan(&conn, "SELECT * FROM users WHERE email = ?");
    assert_eq!(
        only(&p).kind,
        NodeKind::Search {
            table: "users".into(),
            index: Some("users_email".into()),
            covering: false,
            rowid: false,
            primary_key: false,
            constraint: Some("email=?".into()),
        }
    );
    assert!(p.full_scans().is_empty());
    assert!(p.uses_index("users_email") && p.uses_index("USERS_EMAIL"));
    assert!(!p.uses_index("users_team_age"));

    let p = plan(&conn, "SELECT name FROM users WHERE team = 1 AND age > 30");
    let NodeKind::Search { index, constraint, .. } = &only(&p).kind else { panic!("{}", p.render()) };
    assert_eq!((index.as_deref(), constraint.as_deref()), (Some("users_team_age"), Some("team=? AND age>?")));
}

#[test]
fn an_index_holding_every_needed_column_is_covering() {
    let (_dir, conn) = shop();
    let p = plan(&conn, "SELECT id FROM users WHERE email = ?1");
    let NodeKind::Search { index, covering, .. } = &only(&p).kind else { panic!("{}", p.render()) };
    assert_eq!((index.as_deref(), *covering), (Some("users_email"), true));

    // count(*) walks the smallest index instead of the table: a scan, but of an index.
    let p = plan(&conn, "SELECT count(*) FROM users");
    let NodeKind::Scan { index: Some(_), covering: true, .. } = &only(&p).kind else {
        panic!("{}", p.render())
    };
    assert!(p.full_scans().is_empty());
}

#[test]
fn a_rowid_or_primary_key_lookup_is_a_search_by_key() {
    let (_dir, conn) = shop();
    let p = plan(&conn, "SELECT * FROM users WHERE id = :id");
    let NodeKind::Search { rowid: true, index: None, constraint, .. } = &only(&p).kind else {
        panic!("{}", p.render())
    };
    assert_eq!(constraint.as_deref(), Some("rowid=?"));
    assert_eq!(only(&p).detail, "SEARCH users USING INTEGER PRIMARY KEY (rowid=?)");

    let p = plan(&conn, "SELECT value FROM settings WHERE key = @key");
    let NodeKind::Search { primary_key: true, constraint, .. } = &only(&p).kind else {
        panic!("{}", p.render())
    };
    assert_eq!(constraint.as_deref(), Some("key=?"));
    assert!(p.full_scans().is_empty());

    let p = plan(&conn, "UPDATE users SET name = $name WHERE id = ?2");
    assert!(matches!(only(&p).kind, NodeKind::Search { rowid: true, .. }), "{}", p.render());
}

#[test]
fn sorts_groups_and_duplicate_checks_without_an_index_use_a_temp_btree() {
    let (_dir, conn) = shop();
    let purposes = |sql: &str| -> Vec<TempBTreePurpose> {
        plan(&conn, sql)
            .temp_btrees()
            .into_iter()
            .map(|node| match &node.kind {
                NodeKind::TempBTree { purpose } => purpose.clone(),
                other => panic!("{other:?}"),
            })
            .collect()
    };
    assert_eq!(purposes("SELECT * FROM users ORDER BY name"), [TempBTreePurpose::OrderBy]);
    assert_eq!(purposes("SELECT name, count(*) FROM users GROUP BY name"), [TempBTreePurpose::GroupBy]);
    assert_eq!(purposes("SELECT DISTINCT name FROM users"), [TempBTreePurpose::Distinct]);
    assert_eq!(
        purposes("SELECT * FROM users ORDER BY team, name"),
        [TempBTreePurpose::RightPartOfOrderBy { terms: Some(1) }]
    );
    assert_eq!(
        purposes("SELECT count(DISTINCT name) FROM users"),
        [TempBTreePurpose::AggregateDistinct { function: "count".into() }]
    );
    assert_eq!(purposes("SELECT * FROM users ORDER BY email"), [], "the index delivers the order");
}

#[test]
fn a_join_on_unindexed_columns_builds_an_automatic_index() {
    let (_dir, conn) = shop();
    let p = plan(&conn, "SELECT * FROM posts JOIN tags ON tags.label = posts.title");
    let automatic = p.automatic_indexes();
    assert_eq!(automatic.len(), 1, "{}", p.render());
    assert!(matches!(&automatic[0].kind, NodeKind::AutomaticIndex { partial: false, .. }), "{}", p.render());
    assert_eq!(automatic[0].table(), Some("tags"));
    assert!(!automatic[0].is_full_scan());

    let p =
        plan(&conn, "SELECT * FROM users WHERE EXISTS (SELECT 1 FROM posts WHERE posts.user_id = users.id)");
    let automatic = p.automatic_indexes();
    assert_eq!(automatic.len(), 1, "{}", p.render());
    let NodeKind::AutomaticIndex { table, constraint, .. } = &automatic[0].kind else { unreachable!() };
    assert_eq!((table.as_str(), constraint.as_deref()), ("posts", Some("user_id=?")));
}

#[test]
fn compound_queries_nest_their_members() {
    let (_dir, conn) = shop();
    let p = plan(&conn, "SELECT id FROM users UNION ALL SELECT id FROM posts");
    assert_eq!(only(&p).kind, NodeKind::Compound);
    let members: Vec<&NodeKind> = only(&p).children.iter().map(|n| &n.kind).collect();
    assert_eq!(
        members,
        [
            &NodeKind::CompoundMember { label: "LEFT-MOST SUBQUERY".into() },
            &NodeKind::CompoundMember { label: "UNION ALL".into() }
        ]
    );
    assert_eq!(only(&p).children[1].children[0].table(), Some("posts"));

    let p = plan(&conn, "SELECT id FROM users UNION SELECT id FROM posts");
    assert_eq!(only(&p).kind, NodeKind::Merge { operator: "UNION".into() });
    assert_eq!(
        p.render(),
        "QUERY PLAN\n`--MERGE (UNION)\n   |--LEFT\n   |  `--SCAN users\n   `--RIGHT\n      `--SCAN posts\n"
    );
    assert_eq!(p.full_scans().iter().filter_map(|n| n.table()).collect::<Vec<_>>(), ["users", "posts"]);
}

#[test]
fn subqueries_are_told_apart_and_their_scans_are_found() {
    let (_dir, conn) = shop();
    let p = plan(&conn, "SELECT *, (SELECT count(*) FROM posts WHERE posts.user_id = users.id) FROM users");
    assert!(
        kinds(&p).contains(&&NodeKind::Subquery { kind: SubqueryKind::Scalar, id: 1, correlated: true }),
        "{}",
        p.render()
    );
    assert_eq!(p.full_scans().len(), 2, "users, and posts once per user: {}", p.render());

    let p = plan(&conn, "SELECT * FROM users WHERE id IN (SELECT user_id FROM posts)");
    assert!(
        kinds(&p).contains(&&NodeKind::Subquery { kind: SubqueryKind::List, id: 1, correlated: false }),
        "{}",
        p.render()
    );

    // A subquery in FROM runs as a co-routine; reading its rows is not a table scan.
    let p = plan(&conn, "SELECT * FROM (SELECT name, count(*) AS n FROM users GROUP BY name) WHERE n > 1");
    assert!(matches!(&p.nodes[0].kind, NodeKind::CoRoutine { name } if name == "(subquery-1)"));
    assert!(kinds(&p).contains(&&NodeKind::SubqueryScan { name: "(subquery-1)".into() }), "{}", p.render());
    assert_eq!(p.full_scans().iter().filter_map(|n| n.table()).collect::<Vec<_>>(), ["users"]);

    // Likewise a materialized CTE, scanned under its own name.
    let p = plan(&conn, "WITH old AS MATERIALIZED (SELECT * FROM users WHERE age > 60) SELECT * FROM old");
    assert!(kinds(&p).contains(&&NodeKind::Materialize { name: "old".into() }), "{}", p.render());
    assert!(kinds(&p).contains(&&NodeKind::SubqueryScan { name: "old".into() }), "{}", p.render());
    assert_eq!(p.full_scans().iter().filter_map(|n| n.table()).collect::<Vec<_>>(), ["users"]);

    let p = plan(
        &conn,
        "WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n WHERE x < 5) SELECT x FROM n",
    );
    assert!(kinds(&p).contains(&&NodeKind::RecursiveStep), "{}", p.render());
    assert!(p.full_scans().is_empty(), "{}", p.render());
}

#[test]
fn an_or_of_indexed_terms_is_a_multi_index_or() {
    let (_dir, conn) = shop();
    let p = plan(&conn, "SELECT * FROM users WHERE email = 'a@x.org' OR id = 3");
    assert_eq!(only(&p).kind, NodeKind::MultiIndexOr);
    assert_eq!(
        only(&p).children.iter().map(|n| &n.kind).collect::<Vec<_>>(),
        [&NodeKind::OrTerm { term: 1 }, &NodeKind::OrTerm { term: 2 }]
    );
    assert!(p.uses_index("users_email"));
    assert!(p.full_scans().is_empty());
}

#[test]
fn constant_rows_and_virtual_tables_are_not_full_scans() {
    let (_dir, conn) = shop();
    let p = plan(&conn, "SELECT 1");
    assert_eq!(only(&p).kind, NodeKind::ConstantRows { rows: 1 });
    let p = plan(&conn, "VALUES (1), (2)");
    assert_eq!(only(&p).kind, NodeKind::ConstantRows { rows: 2 });
    let p = plan(&conn, "SELECT * FROM json_each('[1, 2]')");
    assert!(matches!(&only(&p).kind, NodeKind::VirtualTable { table, .. } if table == "json_each"));
    assert!(p.full_scans().is_empty());
}

#[test]
fn a_statement_without_a_plan_gives_an_empty_plan_and_runs_nothing() {
    let (_dir, conn) = shop();
    let p = plan(&conn, "CREATE TABLE later (a)");
    assert!(p.nodes.is_empty());
    assert_eq!(p.render(), "QUERY PLAN\n");
    let exists: bool =
        conn.query_row("SELECT count(*) FROM sqlite_master WHERE name = 'later'", [], |r| r.get(0)).unwrap();
    assert!(!exists);
}

#[test]
fn sql_that_sqlite_refuses_is_the_typed_sql_error() {
    let (_dir, conn) = shop();
    let err = explain(&conn, "SELEC * FROM users").unwrap_err();
    assert_eq!(err.code(), "E4004");
    assert_eq!(err.kind(), ErrorKind::Invalid);
    assert_eq!(err.sqlite_code(), Some(rusqlite::ffi::SQLITE_ERROR));
    assert_eq!(err.to_string(), "sql error: near \"SELEC\": syntax error at offset 0");

    let err = explain(&conn, "SELECT * FROM nope").unwrap_err();
    assert_eq!(err.code(), "E4004");
    assert!(err.to_string().contains("no such table: nope"), "{err}");
    let err = explain(&conn, "SELECT missing FROM users").unwrap_err();
    assert_eq!(err.code(), "E4004");
    assert!(err.to_string().contains("no such column: missing"), "{err}");
}

#[test]
fn a_plan_serialises_with_its_tree_and_typed_kinds() {
    let (_dir, conn) = shop();
    let p = plan(&conn, "SELECT * FROM users WHERE email = ? ORDER BY name");
    let json = serde_json::to_value(&p).unwrap();
    assert_eq!(json["sql"], "SELECT * FROM users WHERE email = ? ORDER BY name");
    assert_eq!(json["nodes"][0]["kind"]["op"], "search");
    assert_eq!(json["nodes"][0]["kind"]["index"], "users_email");
    assert_eq!(json["nodes"][1]["kind"], serde_json::json!({ "op": "temp_b_tree", "purpose": "order_by" }));
    assert_eq!(json["nodes"][1]["children"], serde_json::json!([]));
}
