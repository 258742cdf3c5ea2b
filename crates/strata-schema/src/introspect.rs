//! Introspection: a database's schema read into the `Schema` model, and its fingerprint.
//!
//! The model is structural (columns, keys, constraints), so two schemas compare equal
//! when they behave the same even if their `CREATE` text is formatted differently.
//! Expressions (CHECK, defaults, generated columns, partial-index `WHERE`, trigger and
//! view bodies) are kept as written with comments and whitespace normalised. Every list
//! is in a deterministic order. strata's and refinery's bookkeeping tables are left out.

use std::fmt::{self, Write as _};

use rusqlite::Connection;
use serde::{Deserialize, Serialize};
use strata_core::Result;

use crate::history::{CHECKSUM_TABLE, HISTORY_TABLE};
use crate::sql::{self, Token};

/// A whole schema: tables, indexes, triggers and views, each ordered by name.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Schema {
    /// The tables.
    pub tables: Vec<Table>,
    /// The indexes created with `CREATE INDEX` (UNIQUE constraints are on their table).
    pub indexes: Vec<Index>,
    /// The triggers.
    pub triggers: Vec<Trigger>,
    /// The views.
    pub views: Vec<View>,
}

/// One table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Table {
    /// The name.
    pub name: String,
    /// The columns, in declaration order.
    pub columns: Vec<Column>,
    /// The primary-key columns in key order; empty for a rowid-only table.
    pub primary_key: Vec<String>,
    /// Whether the rowid primary key is `AUTOINCREMENT`.
    pub autoincrement: bool,
    /// `WITHOUT ROWID`.
    pub without_rowid: bool,
    /// `STRICT`.
    pub strict: bool,
    /// The UNIQUE constraints (column lists), sorted.
    pub unique: Vec<Vec<String>>,
    /// The foreign keys, sorted by their columns.
    pub foreign_keys: Vec<ForeignKey>,
    /// The CHECK constraints as written, sorted by column then expression.
    pub checks: Vec<Check>,
    /// The `CREATE TABLE` statement as stored; not part of comparisons.
    #[serde(skip)]
    pub sql: SourceSql,
}

impl Table {
    /// The column named `name`.
    pub fn column(&self, name: &str) -> Option<&Column> {
        self.columns.iter().find(|c| c.name == name)
    }
}

/// One column.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Column {
    /// The name.
    pub name: String,
    /// The declared type as written (may be empty).
    #[serde(rename = "type")]
    pub decl_type: String,
    /// `NOT NULL`.
    pub not_null: bool,
    /// The default expression, normalised.
    pub default: Option<String>,
    /// Position in the primary key (1-based); 0 when not part of it.
    pub primary_key: u32,
    /// Normal, hidden or generated.
    pub kind: ColumnKind,
    /// The generation expression of a generated column, normalised.
    pub generated: Option<String>,
    /// The `COLLATE` of the column, when declared.
    pub collation: Option<String>,
    /// The column's definition as written in the table; not part of comparisons.
    #[serde(skip)]
    pub definition: SourceSql,
}

/// What kind of column it is (`PRAGMA table_xinfo`'s `hidden`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ColumnKind {
    /// A stored, ordinary column.
    Normal,
    /// A hidden column of a virtual table.
    Hidden,
    /// `GENERATED ALWAYS AS (...) VIRTUAL`.
    GeneratedVirtual,
    /// `GENERATED ALWAYS AS (...) STORED`.
    GeneratedStored,
}

/// A foreign key of a table.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct ForeignKey {
    /// The child columns.
    pub columns: Vec<String>,
    /// The parent table.
    pub parent: String,
    /// The parent columns; empty when the parent's primary key is meant.
    pub parent_columns: Vec<String>,
    /// `ON DELETE` action (`NO ACTION`, `CASCADE`, ...).
    pub on_delete: String,
    /// `ON UPDATE` action.
    pub on_update: String,
}

/// A CHECK constraint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Check {
    /// The column it is declared on; `None` for a table constraint.
    pub column: Option<String>,
    /// The expression inside `CHECK (...)`, normalised.
    pub expr: String,
}

/// An index made with `CREATE INDEX`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Index {
    /// The name.
    pub name: String,
    /// The table it indexes.
    pub table: String,
    /// `UNIQUE`.
    pub unique: bool,
    /// The key columns, in order.
    pub columns: Vec<IndexColumn>,
    /// The `WHERE` of a partial index, normalised.
    pub partial: Option<String>,
    /// The `CREATE INDEX` statement as stored; not part of comparisons.
    #[serde(skip)]
    pub sql: SourceSql,
}

/// One key of an index: a column or an expression.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IndexColumn {
    /// The column, or `None` for an expression key.
    pub column: Option<String>,
    /// The expression (as written, normalised) of an expression key.
    pub expr: Option<String>,
    /// `DESC`.
    pub desc: bool,
    /// The collation used.
    pub collation: String,
}

/// A trigger.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Trigger {
    /// The name.
    pub name: String,
    /// The table (or view) it is on.
    pub table: String,
    /// The `CREATE TRIGGER` statement, normalised.
    pub sql: String,
    /// The statement as stored; not part of comparisons.
    #[serde(skip)]
    pub source: SourceSql,
}

/// A view.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct View {
    /// The name.
    pub name: String,
    /// The `CREATE VIEW` statement, normalised.
    pub sql: String,
    /// The statement as stored; not part of comparisons.
    #[serde(skip)]
    pub source: SourceSql,
}

/// Source text kept for SQL generation. It never takes part in `==`: two objects that
/// differ only in how their SQL was formatted are the same object.
#[derive(Debug, Clone, Default)]
pub struct SourceSql(pub String);

impl PartialEq for SourceSql {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}
impl Eq for SourceSql {}

impl Schema {
    /// The table named `name`.
    pub fn table(&self, name: &str) -> Option<&Table> {
        self.tables.iter().find(|t| t.name == name)
    }

    /// A normalised fingerprint: 16 hex digits of a hash of the model (not of SQL text).
    pub fn fingerprint(&self) -> String {
        // Serialising a tree of strings, bools and integers cannot fail.
        let canonical = serde_json::to_string(self).unwrap_or_default();
        format!("{:016x}", fnv1a(canonical.as_bytes()))
    }

    /// The schema as a person reads it (`strata schema show`).
    pub fn render(&self) -> String {
        self.to_string()
    }
}

/// FNV-1a, 64 bit: stable across Rust releases, unlike `DefaultHasher`.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes
        .iter()
        .fold(0xcbf2_9ce4_8422_2325, |hash, &b| (hash ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3))
}

impl fmt::Display for Schema {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for table in &self.tables {
            write!(f, "{table}")?;
        }
        for index in &self.indexes {
            writeln!(f, "{index}")?;
        }
        for trigger in &self.triggers {
            writeln!(f, "trigger {} on {}: {}", trigger.name, trigger.table, trigger.sql)?;
        }
        for view in &self.views {
            writeln!(f, "view {}: {}", view.name, view.sql)?;
        }
        Ok(())
    }
}

impl fmt::Display for Table {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut options = Vec::new();
        if self.without_rowid {
            options.push("without rowid");
        }
        if self.strict {
            options.push("strict");
        }
        if self.autoincrement {
            options.push("autoincrement");
        }
        write!(f, "table {}", self.name)?;
        if !options.is_empty() {
            write!(f, " ({})", options.join(", "))?;
        }
        writeln!(f)?;
        for column in &self.columns {
            writeln!(f, "  {column}")?;
        }
        if !self.primary_key.is_empty() {
            writeln!(f, "  primary key ({})", self.primary_key.join(", "))?;
        }
        for unique in &self.unique {
            writeln!(f, "  unique ({})", unique.join(", "))?;
        }
        for fk in &self.foreign_keys {
            writeln!(f, "  {fk}")?;
        }
        for check in &self.checks {
            match &check.column {
                Some(column) => writeln!(f, "  check on {column} ({})", check.expr)?,
                None => writeln!(f, "  check ({})", check.expr)?,
            }
        }
        Ok(())
    }
}

impl fmt::Display for Column {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.name)?;
        if !self.decl_type.is_empty() {
            write!(f, " {}", self.decl_type)?;
        }
        if self.not_null {
            f.write_str(" not null")?;
        }
        if let Some(default) = &self.default {
            write!(f, " default {default}")?;
        }
        if let Some(collation) = &self.collation {
            write!(f, " collate {collation}")?;
        }
        if let Some(expr) = &self.generated {
            let how = if self.kind == ColumnKind::GeneratedStored { "stored" } else { "virtual" };
            write!(f, " generated ({expr}) {how}")?;
        }
        if self.kind == ColumnKind::Hidden {
            f.write_str(" hidden")?;
        }
        Ok(())
    }
}

impl fmt::Display for ForeignKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "foreign key ({}) references {}", self.columns.join(", "), self.parent)?;
        if !self.parent_columns.is_empty() {
            write!(f, " ({})", self.parent_columns.join(", "))?;
        }
        if self.on_delete != "NO ACTION" {
            write!(f, " on delete {}", self.on_delete.to_lowercase())?;
        }
        if self.on_update != "NO ACTION" {
            write!(f, " on update {}", self.on_update.to_lowercase())?;
        }
        Ok(())
    }
}

impl fmt::Display for Index {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let keys: Vec<String> = self
            .columns
            .iter()
            .map(|c| {
                let mut key = c.column.clone().or_else(|| c.expr.clone()).unwrap_or_default();
                if c.collation != "BINARY" {
                    let _ = write!(key, " collate {}", c.collation);
                }
                if c.desc {
                    key.push_str(" desc");
                }
                key
            })
            .collect();
        let unique = if self.unique { "unique " } else { "" };
        write!(f, "{unique}index {} on {} ({})", self.name, self.table, keys.join(", "))?;
        if let Some(partial) = &self.partial {
            write!(f, " where {partial}")?;
        }
        Ok(())
    }
}

/// Every object but SQLite's own and the migration history tables: the default
/// namespace's two (`?1`, `?2`) and every namespace's `{ns}_schema_history` and
/// `{ns}_schema_checksums` tables.
const SELECT_OBJECTS: &str = "SELECT type, name, tbl_name, sql FROM sqlite_master
    WHERE name NOT LIKE 'sqlite\\_%' ESCAPE '\\' AND name NOT IN (?1, ?2)
    AND NOT (type = 'table' AND (name GLOB '[a-z]*_schema_history' OR name GLOB '[a-z]*_schema_checksums'))
    ORDER BY name";
const TABLE_OPTIONS: &str = "SELECT wr, strict FROM pragma_table_list WHERE schema = 'main' AND name = ?1";
const TABLE_COLUMNS: &str =
    "SELECT name, type, \"notnull\", dflt_value, pk, hidden FROM pragma_table_xinfo(?1) ORDER BY cid";
const TABLE_FOREIGN_KEYS: &str = "SELECT id, \"table\", \"from\", \"to\", on_update, on_delete
    FROM pragma_foreign_key_list(?1) ORDER BY id, seq";
const TABLE_INDEXES: &str = "SELECT name, \"unique\", origin FROM pragma_index_list(?1) ORDER BY name";
const INDEX_KEYS: &str =
    "SELECT name, \"desc\", coll FROM pragma_index_xinfo(?1) WHERE key = 1 ORDER BY seqno";

/// Reads the main schema of `conn` into a [`Schema`].
pub fn introspect(conn: &Connection) -> Result<Schema> {
    let mut stmt = conn.prepare(SELECT_OBJECTS)?;
    let objects: Vec<(String, String, String, Option<String>)> = stmt
        .query_map([HISTORY_TABLE, CHECKSUM_TABLE], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))?
        .collect::<rusqlite::Result<_>>()?;
    let mut schema = Schema::default();
    for (kind, name, table, sql) in objects {
        let sql = sql.unwrap_or_default();
        match kind.as_str() {
            "table" => schema.tables.push(read_table(conn, &name, &sql)?),
            "index" => schema.indexes.push(read_index(conn, &name, &table, &sql)?),
            "trigger" => {
                schema.triggers.push(Trigger {
                    name,
                    table,
                    sql: sql::normalize(&sql),
                    source: SourceSql(sql),
                });
            }
            "view" => schema.views.push(View { name, sql: sql::normalize(&sql), source: SourceSql(sql) }),
            _ => {}
        }
    }
    // Indexes that stand for UNIQUE constraints belong to their table.
    for table in &mut schema.tables {
        let mut stmt = conn.prepare(TABLE_INDEXES)?;
        let rows: Vec<(String, String)> = stmt
            .query_map([&table.name], |r| Ok((r.get(0)?, r.get(2)?)))?
            .collect::<rusqlite::Result<_>>()?;
        for (index, origin) in rows {
            if origin == "u" {
                let keys = index_keys(conn, &index)?;
                table.unique.push(keys.into_iter().map(|(c, ..)| c.unwrap_or_default()).collect());
            }
        }
        table.unique.sort();
    }
    Ok(schema)
}

fn read_table(conn: &Connection, name: &str, sql: &str) -> Result<Table> {
    let parsed = parse_create_table(sql);
    let (without_rowid, strict): (bool, bool) = conn
        .query_row(TABLE_OPTIONS, [name], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap_or((parsed.without_rowid, parsed.strict));
    let mut stmt = conn.prepare(TABLE_COLUMNS)?;
    let rows: Vec<(String, String, bool, Option<String>, u32, i64)> = stmt
        .query_map([name], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?)))?
        .collect::<rusqlite::Result<_>>()?;
    let mut columns = Vec::new();
    for (col_name, decl_type, not_null, default, pk, hidden) in rows {
        let def = parsed.columns.iter().find(|c| c.name.eq_ignore_ascii_case(&col_name));
        let kind = match hidden {
            1 => ColumnKind::Hidden,
            2 => ColumnKind::GeneratedVirtual,
            3 => ColumnKind::GeneratedStored,
            _ => ColumnKind::Normal,
        };
        columns.push(Column {
            name: col_name,
            decl_type: decl_type.trim().to_string(),
            not_null,
            default: default.map(|d| sql::normalize(&d)),
            primary_key: pk,
            kind,
            generated: def.and_then(|d| d.generated.clone()),
            collation: def.and_then(|d| d.collation.clone()),
            definition: SourceSql(def.map(|d| d.definition.clone()).unwrap_or_default()),
        });
    }
    let mut pk: Vec<&Column> = columns.iter().filter(|c| c.primary_key > 0).collect();
    pk.sort_by_key(|c| c.primary_key);
    let primary_key = pk.into_iter().map(|c| c.name.clone()).collect();

    let mut stmt = conn.prepare(TABLE_FOREIGN_KEYS)?;
    let rows: Vec<(i64, String, String, Option<String>, String, String)> = stmt
        .query_map([name], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?)))?
        .collect::<rusqlite::Result<_>>()?;
    let mut foreign_keys: Vec<ForeignKey> = Vec::new();
    let mut last_id = None;
    for (id, parent, from, to, on_update, on_delete) in rows {
        if last_id != Some(id) {
            foreign_keys.push(ForeignKey {
                columns: Vec::new(),
                parent,
                parent_columns: Vec::new(),
                on_delete,
                on_update,
            });
            last_id = Some(id);
        }
        if let Some(fk) = foreign_keys.last_mut() {
            fk.columns.push(from);
            if let Some(to) = to {
                fk.parent_columns.push(to);
            }
        }
    }
    foreign_keys.sort();
    let mut checks = parsed.checks;
    checks.sort_by(|a, b| (&a.column, &a.expr).cmp(&(&b.column, &b.expr)));
    Ok(Table {
        name: name.to_string(),
        columns,
        primary_key,
        autoincrement: parsed.autoincrement,
        without_rowid,
        strict,
        unique: Vec::new(),
        foreign_keys,
        checks,
        sql: SourceSql(sql.to_string()),
    })
}

fn index_keys(conn: &Connection, index: &str) -> Result<Vec<(Option<String>, bool, String)>> {
    let mut stmt = conn.prepare(INDEX_KEYS)?;
    let keys = stmt
        .query_map([index], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
        .collect::<rusqlite::Result<_>>()?;
    Ok(keys)
}

fn read_index(conn: &Connection, name: &str, table: &str, sql: &str) -> Result<Index> {
    let tokens = sql::tokenize(sql);
    let unique = tokens.get(1).is_some_and(|t| t.is("UNIQUE"));
    // The key list is the first parenthesised group; WHERE follows it.
    let open = tokens.iter().position(|t| t.is_punct('(')).unwrap_or(tokens.len());
    let (parts, close) = split_group(&tokens, open);
    let partial = tokens
        .get(close + 1)
        .filter(|t| t.is("WHERE"))
        .map(|_| sql::normalize_tokens(&tokens[close + 2..]).trim_end_matches(';').trim().to_string());
    let keys = index_keys(conn, name)?;
    let columns = keys
        .into_iter()
        .enumerate()
        .map(|(i, (column, desc, collation))| {
            let expr = if column.is_none() { parts.get(i).map(|p| key_expression(p)) } else { None };
            IndexColumn { column, expr, desc, collation }
        })
        .collect();
    Ok(Index {
        name: name.to_string(),
        table: table.to_string(),
        unique,
        columns,
        partial,
        sql: SourceSql(sql.into()),
    })
}

/// An index key's expression without its trailing `COLLATE x` / `ASC` / `DESC`.
fn key_expression(tokens: &[Token<'_>]) -> String {
    let mut end = tokens.len();
    if end > 0 && (tokens[end - 1].is("ASC") || tokens[end - 1].is("DESC")) {
        end -= 1;
    }
    if end >= 2 && tokens[end - 2].is("COLLATE") {
        end -= 2;
    }
    sql::normalize_tokens(&tokens[..end])
}

/// The parts of the parenthesised group opening at `open`, split at top-level commas,
/// and the position of its closing parenthesis.
pub(crate) fn split_group<'t, 'a>(tokens: &'t [Token<'a>], open: usize) -> (Vec<&'t [Token<'a>]>, usize) {
    let mut parts = Vec::new();
    let mut depth = 0usize;
    let mut start = open + 1;
    for (i, token) in tokens.iter().enumerate().skip(open) {
        if token.is_punct('(') {
            depth += 1;
        } else if token.is_punct(')') {
            depth = depth.saturating_sub(1);
            if depth == 0 {
                parts.push(&tokens[start..i]);
                return (parts, i);
            }
        } else if token.is_punct(',') && depth == 1 {
            parts.push(&tokens[start..i]);
            start = i + 1;
        }
    }
    (parts, tokens.len())
}

/// What the `CREATE TABLE` text tells that the pragmas do not.
#[derive(Debug, Default)]
pub(crate) struct ParsedTable {
    pub columns: Vec<ParsedColumn>,
    pub checks: Vec<Check>,
    pub autoincrement: bool,
    pub without_rowid: bool,
    pub strict: bool,
    /// Byte range of the table name in the statement.
    pub name_span: Option<(usize, usize)>,
}

/// One column definition as written.
#[derive(Debug, Default)]
pub(crate) struct ParsedColumn {
    pub name: String,
    pub definition: String,
    pub generated: Option<String>,
    pub collation: Option<String>,
    pub unique: bool,
    pub primary_key: bool,
    pub references: bool,
}

pub(crate) fn parse_create_table(sql: &str) -> ParsedTable {
    let tokens = sql::tokenize(sql);
    let mut parsed = ParsedTable::default();
    let Some(open) = tokens.iter().position(|t| t.is_punct('(')) else { return parsed };
    if open > 0 {
        let name = &tokens[open - 1];
        parsed.name_span = Some((name.start, name.start + name.text.len()));
    }
    let (parts, close) = split_group(&tokens, open);
    let tail = tokens.get(close + 1..).unwrap_or_default();
    parsed.without_rowid = tail.windows(2).any(|w| w[0].is("WITHOUT") && w[1].is("ROWID"));
    parsed.strict = tail.iter().any(|t| t.is("STRICT"));
    for part in parts {
        let Some(first) = part.first() else { continue };
        let named = first.is("CONSTRAINT");
        let body = if named { part.get(2..).unwrap_or_default() } else { part };
        if named || is_constraint_keyword(body) {
            if body.first().is_some_and(|t| t.is("CHECK")) {
                parsed.checks.push(Check { column: None, expr: group_text(body, 1) });
            }
            continue;
        }
        parsed.columns.push(parse_column(sql, part, &mut parsed.checks, &mut parsed.autoincrement));
    }
    parsed
}

/// A table constraint starts with its keyword followed by `(` or `KEY`.
fn is_constraint_keyword(body: &[Token<'_>]) -> bool {
    match body {
        [first, second, ..] => {
            (first.is("PRIMARY") && second.is("KEY"))
                || (first.is("FOREIGN") && second.is("KEY"))
                || ((first.is("UNIQUE") || first.is("CHECK")) && second.is_punct('('))
        }
        _ => false,
    }
}

fn parse_column(
    sql: &str,
    part: &[Token<'_>],
    checks: &mut Vec<Check>,
    autoincrement: &mut bool,
) -> ParsedColumn {
    let name = part[0].ident();
    let start = part[0].start;
    let end = part.last().map_or(start, |t| t.start + t.text.len());
    let mut column =
        ParsedColumn { name: name.clone(), definition: sql[start..end].to_string(), ..Default::default() };
    let mut depth = 0usize;
    let mut i = 1;
    while i < part.len() {
        let token = &part[i];
        if token.is_punct('(') {
            depth += 1;
        } else if token.is_punct(')') {
            depth = depth.saturating_sub(1);
        } else if depth == 0 {
            if token.is("CHECK") {
                checks.push(Check { column: Some(name.clone()), expr: group_text(part, i + 1) });
            } else if token.is("COLLATE") {
                column.collation = part.get(i + 1).map(Token::ident);
            } else if token.is("AS") && part.get(i + 1).is_some_and(|t| t.is_punct('(')) {
                column.generated = Some(group_text(part, i + 1));
            } else if token.is("AUTOINCREMENT") {
                *autoincrement = true;
            } else if token.is("UNIQUE") {
                column.unique = true;
            } else if token.is("PRIMARY") {
                column.primary_key = true;
            } else if token.is("REFERENCES") {
                column.references = true;
            }
        }
        i += 1;
    }
    column
}

/// The normalised text inside the parenthesised group that opens at `open`.
fn group_text(tokens: &[Token<'_>], open: usize) -> String {
    if !tokens.get(open).is_some_and(|t| t.is_punct('(')) {
        return String::new();
    }
    let (_, close) = split_group(tokens, open);
    sql::normalize_tokens(&tokens[open + 1..close.min(tokens.len())])
}
