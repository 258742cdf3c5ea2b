//! The schema read into what code generation needs: relations (tables and views) with
//! their columns' Rust names and types, keys and finders.

use std::collections::BTreeSet;

use rusqlite::Connection;
use strata_core::{Error, Result};
use strata_schema::sql::{TokenKind, tokenize};
use strata_schema::{ColumnKind, Table, introspect};

use crate::Options;
use crate::names::{pascal, snake, unique};

/// The Rust type a column's value maps to (before `Option` for a nullable column).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Base {
    /// `i64`: INTEGER affinity (STRICT `INT` / `INTEGER`).
    I64,
    /// `f64`: REAL affinity, and NUMERIC that is neither a boolean nor a date.
    F64,
    /// `bool`: a NUMERIC column declared `BOOLEAN` (stored as 0 / 1).
    Bool,
    /// `String`: TEXT affinity, and NUMERIC declared as a date or time.
    Text,
    /// `Vec<u8>`: a column declared `BLOB`.
    Blob,
    /// `strata::typed::Any`: STRICT `ANY`, or no declared type (any storage class).
    Any,
    /// JSON text read into a Rust type: `serde_json::Value` or the mapped type.
    Json(String),
}

/// One column of a relation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Column {
    /// The SQL name.
    pub name: String,
    /// The Rust field name (snake_case, raw for a keyword, unique in the struct).
    pub field: String,
    /// The declared type as written.
    pub decl_type: String,
    /// The Rust type before `Option`.
    pub base: Base,
    /// Whether the value may be NULL (the field is an `Option`).
    pub nullable: bool,
    /// A generated column: read, never written.
    pub generated: bool,
}

/// A `find_by_<cols>` of a table, from an index or a UNIQUE constraint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finder {
    /// The positions of its columns in the relation's column list.
    pub columns: Vec<usize>,
    /// Whether at most one row matches (a UNIQUE index that is not partial).
    pub unique: bool,
    /// Where it comes from (`index tasks_dedup_idx`, `unique (a, b)`).
    pub source: String,
}

/// Whether a relation is a table (with its keys) or a view.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RelationKind {
    /// A table.
    Table {
        /// The primary-key columns (positions), in key order; empty without one.
        key: Vec<usize>,
        /// The single-column `INTEGER PRIMARY KEY` that aliases the rowid.
        rowid_alias: bool,
        /// `WITHOUT ROWID`.
        without_rowid: bool,
        /// `STRICT`.
        strict: bool,
        /// One finder per distinct column list of an index or UNIQUE constraint.
        finders: Vec<Finder>,
    },
    /// A view: read-only.
    View,
}

/// A table or view to generate code for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Relation {
    /// The SQL name.
    pub name: String,
    /// The row struct's name (`NotesRow`).
    pub row_type: String,
    /// The access type's name (`NotesTable`, `ActiveNotesView`).
    pub access_type: String,
    /// The columns in declaration order, hidden columns left out.
    pub columns: Vec<Column>,
    /// Table or view.
    pub kind: RelationKind,
}

/// Virtual tables and their shadow tables: their layout belongs to the module.
const SKIPPED_TABLES: &str =
    "SELECT name FROM pragma_table_list WHERE schema = 'main' AND type IN ('virtual', 'shadow')";
/// A view's columns with the types SQLite gives them.
const VIEW_COLUMNS: &str = "SELECT name, type FROM pragma_table_xinfo(?1) ORDER BY cid";

/// The relations of `conn` that `options` asks for, tables then views, each by name.
pub fn model(conn: &Connection, options: &Options) -> Result<Vec<Relation>> {
    let schema = introspect(conn)?;
    let skipped: BTreeSet<String> = {
        let mut stmt = conn.prepare(SKIPPED_TABLES)?;
        stmt.query_map([], |r| r.get(0))?.collect::<rusqlite::Result<_>>()?
    };
    let wanted = |name: &str| options.tables.as_ref().is_none_or(|t| t.iter().any(|w| w == name));
    if let Some(tables) = &options.tables {
        for name in tables {
            let known = schema.tables.iter().any(|t| &t.name == name && !skipped.contains(name))
                || schema.views.iter().any(|v| &v.name == name);
            if !known {
                return Err(Error::CodegenUnknownTable { name: name.clone() });
            }
        }
    }
    let mut relations = Vec::new();
    for table in &schema.tables {
        if wanted(&table.name) && !skipped.contains(&table.name) {
            relations.push(table_relation(table, &schema.indexes, options)?);
        }
    }
    for view in &schema.views {
        if wanted(&view.name) {
            relations.push(view_relation(conn, &view.name)?);
        }
    }
    for key in options.json_types.keys() {
        let found = key.split_once('.').is_some_and(|(t, c)| {
            relations.iter().any(|r| r.name == t && r.columns.iter().any(|col| col.name == c))
        });
        if !found {
            return Err(Error::CodegenJsonType {
                entry: key.clone(),
                reason: "no such column among the generated tables".to_string(),
            });
        }
    }
    let names = unique(relations.iter().map(|r| r.row_type.clone()).collect());
    let access = unique(relations.iter().map(|r| r.access_type.clone()).collect());
    for ((relation, row), access) in relations.iter_mut().zip(names).zip(access) {
        relation.row_type = row;
        relation.access_type = access;
    }
    Ok(relations)
}

fn table_relation(table: &Table, indexes: &[strata_schema::Index], options: &Options) -> Result<Relation> {
    let stored: Vec<&strata_schema::Column> =
        table.columns.iter().filter(|c| c.kind != ColumnKind::Hidden).collect();
    let fields = unique(stored.iter().map(|c| snake(&c.name)).collect());
    let rowid_alias = !table.without_rowid
        && table.primary_key.len() == 1
        && stored
            .iter()
            .any(|c| c.name == table.primary_key[0] && c.decl_type.eq_ignore_ascii_case("INTEGER"));
    let mut columns = Vec::new();
    for (col, field) in stored.iter().zip(fields) {
        let json_key = format!("{}.{}", table.name, col.name);
        let mut base = affinity(&col.decl_type, table.strict);
        if let Some(mapped) = options.json_types.get(&json_key) {
            base = Base::Json(mapped.clone());
        } else if base == Base::Text && json_checked(table, &col.name) {
            base = Base::Json("serde_json::Value".to_string());
        }
        let in_key = col.primary_key > 0;
        let nullable = !col.not_null && !(in_key && (rowid_alias || table.without_rowid));
        columns.push(Column {
            name: col.name.clone(),
            field,
            decl_type: col.decl_type.clone(),
            base,
            nullable,
            generated: matches!(col.kind, ColumnKind::GeneratedStored | ColumnKind::GeneratedVirtual),
        });
    }
    let position = |name: &str| columns.iter().position(|c| c.name == name);
    let key: Vec<usize> = table.primary_key.iter().filter_map(|k| position(k)).collect();
    let mut finders: Vec<Finder> = Vec::new();
    let mut add = |cols: Vec<usize>, unique: bool, source: String| {
        if cols.is_empty() || cols == key {
            return;
        }
        match finders.iter_mut().find(|f| f.columns == cols) {
            Some(existing) if unique && !existing.unique => {
                existing.unique = true;
                existing.source = source;
            }
            Some(_) => {}
            None => finders.push(Finder { columns: cols, unique, source }),
        }
    };
    for constraint in &table.unique {
        let cols: Option<Vec<usize>> = constraint.iter().map(|c| position(c)).collect();
        if let Some(cols) = cols {
            add(cols, true, format!("unique ({})", constraint.join(", ")));
        }
    }
    for index in indexes.iter().filter(|i| i.table == table.name) {
        let cols: Option<Vec<usize>> =
            index.columns.iter().map(|k| k.column.as_deref().and_then(position)).collect();
        if let Some(cols) = cols {
            add(cols, index.unique && index.partial.is_none(), format!("index {}", index.name));
        }
    }
    Ok(Relation {
        name: table.name.clone(),
        row_type: pascal(&table.name, "Row"),
        access_type: pascal(&table.name, "Table"),
        columns,
        kind: RelationKind::Table {
            key,
            rowid_alias,
            without_rowid: table.without_rowid,
            strict: table.strict,
            finders,
        },
    })
}

fn view_relation(conn: &Connection, name: &str) -> Result<Relation> {
    let mut stmt = conn.prepare(VIEW_COLUMNS)?;
    let cols: Vec<(String, String)> =
        stmt.query_map([name], |r| Ok((r.get(0)?, r.get(1)?)))?.collect::<rusqlite::Result<_>>()?;
    let fields = unique(cols.iter().map(|(c, _)| snake(c)).collect());
    let columns = cols
        .into_iter()
        .zip(fields)
        .map(|((name, decl_type), field)| Column {
            base: affinity(&decl_type, false),
            name,
            field,
            decl_type,
            // SQLite does not carry NOT NULL through a view.
            nullable: true,
            generated: false,
        })
        .collect();
    Ok(Relation {
        name: name.to_string(),
        row_type: pascal(name, "Row"),
        access_type: pascal(name, "View"),
        columns,
        kind: RelationKind::View,
    })
}

/// The Rust type of a declared type: exact for STRICT, by SQLite's affinity rules
/// (datatype3.html, section 3.1) otherwise.
pub(crate) fn affinity(decl_type: &str, strict: bool) -> Base {
    let upper = decl_type.to_ascii_uppercase();
    if strict {
        return match upper.as_str() {
            "INT" | "INTEGER" => Base::I64,
            "REAL" => Base::F64,
            "TEXT" => Base::Text,
            "BLOB" => Base::Blob,
            _ => Base::Any,
        };
    }
    if upper.contains("INT") {
        Base::I64
    } else if upper.contains("CHAR") || upper.contains("CLOB") || upper.contains("TEXT") {
        Base::Text
    } else if upper.contains("BLOB") {
        Base::Blob
    } else if upper.is_empty() {
        Base::Any
    } else if upper.contains("REAL") || upper.contains("FLOA") || upper.contains("DOUB") {
        Base::F64
    } else if upper.contains("BOOL") {
        Base::Bool
    } else if upper.contains("DATE") || upper.contains("TIME") {
        Base::Text
    } else {
        Base::F64
    }
}

/// Whether a CHECK of `table` calls `json_valid(column)`.
fn json_checked(table: &Table, column: &str) -> bool {
    table.checks.iter().any(|check| {
        let tokens = tokenize(&check.expr);
        tokens.windows(4).any(|w| {
            w[0].is("json_valid")
                && w[1].is_punct('(')
                && matches!(w[2].kind, TokenKind::Word | TokenKind::Quoted)
                && w[2].ident().eq_ignore_ascii_case(column)
                && w[3].is_punct(')')
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn affinity_follows_sqlite_rules_and_strict_is_exact() {
        assert_eq!(affinity("BIGINT", false), Base::I64);
        assert_eq!(affinity("VARCHAR(20)", false), Base::Text);
        assert_eq!(affinity("DOUBLE PRECISION", false), Base::F64);
        assert_eq!(affinity("BOOLEAN", false), Base::Bool);
        assert_eq!(affinity("DATETIME", false), Base::Text);
        assert_eq!(affinity("DECIMAL(10,2)", false), Base::F64);
        assert_eq!(affinity("", false), Base::Any);
        assert_eq!(affinity("ANY", true), Base::Any);
        assert_eq!(affinity("INT", true), Base::I64);
        assert_eq!(affinity("blob", true), Base::Blob);
    }
}
