//! Property: for random pairs of small schemas, `generate(a, b)` applied to a database
//! with schema a (and a row in every table) yields schema b and keeps the rows.

use proptest::prelude::*;
use rusqlite::Connection;
use strata_schema::{diff, generate, introspect, render};

#[derive(Debug, Clone)]
struct ColumnSpec {
    name: &'static str,
    ty: &'static str,
    not_null: bool,
    has_default: bool,
    unique: bool,
    check: bool,
    nocase: bool,
}

#[derive(Debug, Clone)]
struct TableSpec {
    without_rowid: bool,
    columns: Vec<ColumnSpec>,
    parent: Option<usize>,
    index: Option<(usize, bool, bool)>,
}

#[derive(Debug, Clone)]
struct SchemaSpec {
    tables: Vec<Option<TableSpec>>,
    view: bool,
    trigger: bool,
}

fn column() -> impl Strategy<Value = ColumnSpec> {
    (
        0..4usize,
        0..4usize,
        any::<bool>(),
        any::<bool>(),
        prop::bool::weighted(0.15),
        any::<bool>(),
        any::<bool>(),
    )
        .prop_map(|(n, t, not_null, has_default, unique, check, nocase)| ColumnSpec {
            name: ["a", "b", "c", "d"][n],
            ty: ["INTEGER", "TEXT", "REAL", ""][t],
            not_null,
            has_default: has_default || not_null,
            unique,
            check,
            nocase,
        })
}

fn table() -> impl Strategy<Value = TableSpec> {
    (
        prop::bool::weighted(0.2),
        prop::collection::vec(column(), 0..4),
        prop::option::of(0..3usize),
        prop::option::of((0..4usize, any::<bool>(), any::<bool>())),
    )
        .prop_map(|(without_rowid, columns, parent, index)| {
            let mut seen = Vec::new();
            let columns = columns
                .into_iter()
                .filter(|c| {
                    !seen.contains(&c.name) && {
                        seen.push(c.name);
                        true
                    }
                })
                .collect();
            TableSpec { without_rowid, columns, parent, index }
        })
}

fn schema() -> impl Strategy<Value = SchemaSpec> {
    (prop::collection::vec(prop::option::of(table()), 3), any::<bool>(), any::<bool>())
        .prop_map(|(tables, view, trigger)| SchemaSpec { tables, view, trigger })
}

fn default_of(ty: &str) -> &'static str {
    match ty {
        "TEXT" => "'x'",
        "REAL" => "1.5",
        _ => "0",
    }
}

impl SchemaSpec {
    fn sql(&self) -> String {
        let mut out = String::new();
        for (i, table) in self.tables.iter().enumerate() {
            let Some(table) = table else { continue };
            let mut defs = vec!["id INTEGER PRIMARY KEY".to_string()];
            for c in &table.columns {
                let mut def = format!("{} {}", c.name, c.ty);
                if c.not_null {
                    def.push_str(" NOT NULL");
                }
                if c.has_default {
                    def.push_str(&format!(" DEFAULT {}", default_of(c.ty)));
                }
                if c.unique {
                    def.push_str(" UNIQUE");
                }
                if c.nocase {
                    def.push_str(" COLLATE NOCASE");
                }
                if c.check {
                    def.push_str(&format!(" CHECK ({0} IS NULL OR length({0}) >= 0)", c.name));
                }
                defs.push(def);
            }
            if let Some(p) = table.parent.filter(|p| *p < i && self.tables[*p].is_some()) {
                defs.push(format!("parent_id INTEGER REFERENCES t{p} (id) ON DELETE CASCADE"));
            }
            let options = if table.without_rowid { " WITHOUT ROWID" } else { "" };
            out.push_str(&format!("CREATE TABLE t{i} ({}){options};\n", defs.join(", ")));
            if let Some((col, unique, partial)) = table.index {
                let name = table.columns.get(col).map_or("id", |c| c.name);
                let unique = if unique { "UNIQUE " } else { "" };
                let partial = if partial { format!(" WHERE {name} IS NOT NULL") } else { String::new() };
                out.push_str(&format!("CREATE {unique}INDEX t{i}_idx ON t{i} ({name}){partial};\n"));
            }
        }
        if self.tables[0].is_some() {
            if self.view {
                out.push_str("CREATE VIEW v0 AS SELECT id FROM t0;\n");
            }
            if self.trigger {
                out.push_str(
                    "CREATE TRIGGER tr0 AFTER INSERT ON t0 BEGIN UPDATE t0 SET id = id WHERE 0; END;\n",
                );
            }
        }
        out
    }
}

fn database(sql: &str) -> Connection {
    let conn = Connection::open_in_memory().unwrap();
    conn.execute_batch(sql).unwrap();
    conn
}

fn row_count(conn: &Connection, table: &str) -> i64 {
    conn.query_row(&format!("SELECT count(*) FROM {table}"), [], |r| r.get(0)).unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    #[test]
    fn generate_turns_a_into_b(a in schema(), b in schema()) {
        let conn = database(&a.sql());
        for (i, t) in a.tables.iter().enumerate() {
            if t.is_some() {
                conn.execute_batch(&format!("INSERT INTO t{i} (id) VALUES (1)")).unwrap();
            }
        }
        let (schema_a, schema_b) = (introspect(&conn).unwrap(), introspect(&database(&b.sql())).unwrap());
        let script = generate(&schema_a, &schema_b).unwrap();
        conn.execute_batch("PRAGMA foreign_keys = OFF; BEGIN;").unwrap();
        let applied = conn.execute_batch(&script);
        prop_assert!(applied.is_ok(), "{applied:?}\n--- a ---\n{}--- b ---\n{}--- script ---\n{script}", a.sql(), b.sql());
        conn.execute_batch("COMMIT").unwrap();
        let result = introspect(&conn).unwrap();
        let changes = diff(&result, &schema_b);
        prop_assert!(changes.is_empty(), "{}--- a ---\n{}--- b ---\n{}--- script ---\n{script}", render(&changes), a.sql(), b.sql());
        for i in 0..3 {
            if a.tables[i].is_some() && b.tables[i].is_some() {
                prop_assert_eq!(row_count(&conn, &format!("t{i}")), 1, "rows of t{} kept\n{}", i, script);
            }
        }
        prop_assert!(generate(&result, &schema_b).unwrap().is_empty());
    }
}
