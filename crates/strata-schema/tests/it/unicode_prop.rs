//! Property: schemas whose table, column, index, trigger and view names are arbitrary
//! Unicode (spaces, quotes, brackets, reserved words, emoji, bare non-ASCII) are
//! introspected, diffed, generated, linted and drift-checked without a panic, and the
//! generated SQL turns one into the other exactly.

use proptest::prelude::*;
use rusqlite::Connection;
use strata_schema::{
    MigrationSet, diff, drift_check, generate, introspect, lint, lint_down, lint_up, render,
};

/// Pieces that have broken SQL tooling before: quotes of every kind, brackets,
/// reserved words, comment and statement punctuation, line breaks and Unicode
/// spaces, multi-byte characters at either end of a name.
const PIECES: &[&str] = &[
    "select", "order", "from", "table", "key", "café", "é", "naïve", "日本", "🍰", " ", "\"", "'", "`", "[",
    "]", "a b", "--", "/*", ";", "(", ")", ",", ".", "x", "\n", "\t", "\u{a0}", "\u{2028}",
];

/// One name: one to four pieces, each a known troublemaker or any printable text.
fn raw_name() -> impl Strategy<Value = String> {
    let piece = prop_oneof![prop::sample::select(PIECES).prop_map(str::to_string), "\\PC{1,3}"];
    prop::collection::vec(piece, 1..4).prop_map(|pieces| pieces.concat())
}

/// How a name is written in the CREATE statement.
#[derive(Debug, Clone, Copy)]
enum Quoting {
    Double,
    Backtick,
    Bracket,
    /// Bare, only when the name is a plain run of letters (SQLite takes any byte >= 0x80).
    Bare,
}

fn quoting() -> impl Strategy<Value = Quoting> {
    prop_oneof![Just(Quoting::Double), Just(Quoting::Backtick), Just(Quoting::Bracket), Just(Quoting::Bare)]
}

fn write_name(name: &str, quoting: Quoting) -> String {
    let bare_ok = name.chars().next().is_some_and(|c| c.is_alphabetic() && !c.is_ascii())
        && name.chars().all(|c| !c.is_ascii() && c.is_alphanumeric());
    match quoting {
        Quoting::Bare if bare_ok => name.to_string(),
        Quoting::Backtick => format!("`{}`", name.replace('`', "``")),
        Quoting::Bracket if !name.contains(']') => format!("[{name}]"),
        _ => format!("\"{}\"", name.replace('"', "\"\"")),
    }
}

#[derive(Debug, Clone)]
struct TableSpec {
    name: String,
    columns: Vec<String>,
    index: Option<(String, usize)>,
}

#[derive(Debug, Clone)]
struct SchemaSpec {
    tables: Vec<TableSpec>,
    trigger: Option<String>,
    view: Option<String>,
    quoting: Quoting,
}

/// What the target schema changes in the source one.
#[derive(Debug, Clone)]
struct Change {
    new_column: Option<String>,
    drop_column: bool,
    drop_index: bool,
    new_table: Option<(String, String)>,
    drop_trigger: bool,
}

/// Makes every name of the schema unique the way SQLite compares them (ASCII case
/// folded), and keeps clear of the `sqlite_` prefix SQLite reserves.
struct Names(Vec<String>);

impl Names {
    fn take(&mut self, raw: String) -> String {
        let mut name = if raw.to_ascii_lowercase().starts_with("sqlite_") { format!("x{raw}") } else { raw };
        while self.0.contains(&name.to_ascii_lowercase()) {
            name.push('2');
        }
        self.0.push(name.to_ascii_lowercase());
        name
    }
}

fn schema_and_change() -> impl Strategy<Value = (SchemaSpec, Change)> {
    let table =
        (raw_name(), prop::collection::vec(raw_name(), 1..4), prop::option::of((raw_name(), 0..3usize)));
    let schema = (
        prop::collection::vec(table, 1..3),
        prop::option::of(raw_name()),
        prop::option::of(raw_name()),
        quoting(),
    );
    let change = (
        prop::option::of(raw_name()),
        any::<bool>(),
        any::<bool>(),
        prop::option::of((raw_name(), raw_name())),
        any::<bool>(),
    );
    (schema, change).prop_map(
        |(
            (tables, trigger, view, quoting),
            (new_column, drop_column, drop_index, new_table, drop_trigger),
        )| {
            let mut names = Names(Vec::new());
            let tables: Vec<TableSpec> = tables
                .into_iter()
                .map(|(name, columns, index)| {
                    let name = names.take(name);
                    let mut column_names = Names(vec!["id".into()]);
                    let columns = columns.into_iter().map(|c| column_names.take(c)).collect();
                    TableSpec { name, columns, index }
                })
                .collect();
            let tables = tables
                .into_iter()
                .map(|mut t| {
                    t.index = t.index.map(|(n, at)| (names.take(n), at));
                    t
                })
                .collect();
            let trigger = trigger.map(|n| names.take(n));
            let view = view.map(|n| names.take(n));
            let new_table = new_table.map(|(t, c)| {
                (names.take(t), if c.eq_ignore_ascii_case("id") { format!("{c}2") } else { c })
            });
            (
                SchemaSpec { tables, trigger, view, quoting },
                Change { new_column, drop_column, drop_index, new_table, drop_trigger },
            )
        },
    )
}

impl SchemaSpec {
    fn q(&self, name: &str) -> String {
        write_name(name, self.quoting)
    }

    fn sql(&self) -> String {
        let mut out = String::new();
        for t in &self.tables {
            let mut defs = vec!["id INTEGER PRIMARY KEY".to_string()];
            defs.extend(t.columns.iter().map(|c| format!("{} TEXT", self.q(c))));
            out += &format!("CREATE TABLE {} ({});\n", self.q(&t.name), defs.join(", "));
            if let Some((index, at)) = &t.index {
                let column = t.columns.get(*at).map_or("id".to_string(), |c| self.q(c));
                out += &format!("CREATE INDEX {} ON {} ({column});\n", self.q(index), self.q(&t.name));
            }
        }
        let first = &self.tables[0];
        if let Some(trigger) = &self.trigger {
            out += &format!(
                "CREATE TRIGGER {} AFTER INSERT ON {} BEGIN UPDATE {} SET id = id WHERE 0; END;\n",
                self.q(trigger),
                self.q(&first.name),
                self.q(&first.name)
            );
        }
        if let Some(view) = &self.view {
            out += &format!("CREATE VIEW {} AS SELECT id FROM {};\n", self.q(view), self.q(&first.name));
        }
        out
    }

    fn down(&self) -> String {
        let mut out = String::new();
        if let Some(view) = &self.view {
            out += &format!("DROP VIEW {};\n", self.q(view));
        }
        for t in self.tables.iter().rev() {
            out += &format!("DROP TABLE {};\n", self.q(&t.name));
        }
        out
    }

    fn changed(&self, change: &Change) -> SchemaSpec {
        let mut b = self.clone();
        let first = &mut b.tables[0];
        if change.drop_index {
            first.index = None;
        }
        if change.drop_column && first.columns.len() > 1 {
            let gone = first.columns.pop();
            if first.index.as_ref().is_some_and(|(_, at)| *at >= first.columns.len()) && gone.is_some() {
                first.index = None;
            }
        }
        if let Some(column) = &change.new_column {
            let mut names = Names(first.columns.iter().map(|c| c.to_ascii_lowercase()).collect());
            names.0.push("id".into());
            first.columns.push(names.take(column.clone()));
        }
        if let Some((table, column)) = &change.new_table {
            b.tables.push(TableSpec { name: table.clone(), columns: vec![column.clone()], index: None });
        }
        if change.drop_trigger {
            b.trigger = None;
        }
        b
    }
}

/// A database file; no fsync, which only costs time here (the files are thrown away).
fn open(path: &std::path::Path) -> Connection {
    let conn = Connection::open(path).unwrap();
    conn.execute_batch("PRAGMA synchronous = OFF").unwrap();
    conn
}

fn database(path: &std::path::Path, sql: &str) -> Connection {
    let conn = open(path);
    conn.execute_batch(sql).unwrap_or_else(|e| panic!("{e}\n{sql}"));
    conn
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn unicode_names_round_trip_through_introspect_diff_generate_and_lint((a, change) in schema_and_change()) {
        let dir = tempfile::tempdir().unwrap();
        let b = a.changed(&change);
        let (a_sql, b_sql) = (a.sql(), b.sql());
        let conn = database(&dir.path().join("a.db"), &a_sql);
        for t in &a.tables {
            conn.execute(&format!("INSERT INTO {} (id) VALUES (1)", a.q(&t.name)), []).unwrap();
        }
        let schema_a = introspect(&conn).unwrap();
        prop_assert_eq!(schema_a.tables.len(), a.tables.len());
        for t in &a.tables {
            let table = schema_a.table(&t.name);
            prop_assert!(table.is_some(), "table {:?} introspected\n{}", t.name, a_sql);
            for c in &t.columns {
                prop_assert!(table.unwrap().column(c).is_some(), "column {:?} of {:?}\n{}", c, t.name, a_sql);
            }
        }
        prop_assert!(diff(&schema_a, &schema_a).is_empty());
        prop_assert!(generate(&schema_a, &schema_a).unwrap().is_empty());
        let _ = schema_a.render();

        let schema_b = introspect(&database(&dir.path().join("b.db"), &b_sql)).unwrap();
        let changes = diff(&schema_a, &schema_b);
        let rendered = render(&changes);
        let script = generate(&schema_a, &schema_b).unwrap();
        let _ = lint_up("V2__generated.sql", &script);
        let _ = lint_down("V2__generated.down.sql", &script);

        conn.execute_batch("PRAGMA foreign_keys = OFF; BEGIN;").unwrap();
        let applied = conn.execute_batch(&script);
        prop_assert!(applied.is_ok(), "{applied:?}\n--- a ---\n{a_sql}--- b ---\n{b_sql}--- diff ---\n{rendered}--- script ---\n{script}");
        conn.execute_batch("COMMIT").unwrap();
        let result = introspect(&conn).unwrap();
        let left = diff(&result, &schema_b);
        prop_assert!(left.is_empty(), "{}--- a ---\n{a_sql}--- b ---\n{b_sql}--- script ---\n{script}", render(&left));
        prop_assert!(generate(&result, &schema_b).unwrap().is_empty());
        for t in &a.tables {
            let rows: i64 = conn.query_row(&format!("SELECT count(*) FROM {}", a.q(&t.name)), [], |r| r.get(0)).unwrap();
            prop_assert_eq!(rows, 1, "rows of {:?} kept", t.name);
        }

        // The same names through a migration set: lint and the drift check.
        let set = MigrationSet::from_sources([("V1__unicode", a_sql.as_str(), Some(a.down().as_str()))]).unwrap();
        let _ = lint(&set);
        let migrated = open(&dir.path().join("m.db"));
        strata_schema::up(&migrated, &set, &strata_schema::UpOptions { snapshot: false, ..Default::default() }).unwrap();
        prop_assert!(drift_check(&migrated, &set).unwrap().is_clean());
        migrated.execute_batch(&script).unwrap();
        let drift = drift_check(&migrated, &set).unwrap();
        prop_assert_eq!(drift.is_clean(), changes.is_empty(), "drift after the change\n{}", rendered);
    }
}
