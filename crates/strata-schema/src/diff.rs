//! `diff(a, b)`: the changes that turn schema `a` into schema `b`, and their rendering.

use std::fmt;

use serde::Serialize;

use crate::introspect::{Column, ColumnKind, Index, Schema, Table, Trigger, View};

/// Whether something was added, removed or altered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ChangeKind {
    /// In `b` only.
    Add,
    /// In `a` only.
    Drop,
    /// In both, different.
    Alter,
}

/// What kind of schema object changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ObjectKind {
    /// A table.
    Table,
    /// A column of a table.
    Column,
    /// A table-level property: primary key, UNIQUE, foreign key, CHECK, options.
    Constraint,
    /// An index.
    Index,
    /// A trigger.
    Trigger,
    /// A view.
    View,
}

/// One difference between two schemas.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Change {
    /// Add, drop or alter.
    pub kind: ChangeKind,
    /// The kind of object.
    pub object: ObjectKind,
    /// The object's name; `table.column` for a column, the table for a constraint.
    pub name: String,
    /// What it is or what changed, for people (`TEXT not null`, `type TEXT -> INTEGER`).
    pub detail: String,
}

impl fmt::Display for Change {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sign = match self.kind {
            ChangeKind::Add => '+',
            ChangeKind::Drop => '-',
            ChangeKind::Alter => '~',
        };
        let object = match self.object {
            ObjectKind::Table => "table",
            ObjectKind::Column => "column",
            ObjectKind::Constraint => "constraint",
            ObjectKind::Index => "index",
            ObjectKind::Trigger => "trigger",
            ObjectKind::View => "view",
        };
        write!(f, "{sign} {object} {}", self.name)?;
        if !self.detail.is_empty() {
            write!(f, ": {}", self.detail)?;
        }
        Ok(())
    }
}

/// The changes that turn `a` into `b`: tables, then indexes, triggers and views, each
/// ordered by name. Empty when the schemas are equal.
pub fn diff(a: &Schema, b: &Schema) -> Vec<Change> {
    let mut changes = Vec::new();
    for (name, old, new) in pair(&a.tables, &b.tables, |t| &t.name) {
        match (old, new) {
            (Some(_), None) => changes.push(change(ChangeKind::Drop, ObjectKind::Table, name, String::new())),
            (None, Some(t)) => {
                let cols: Vec<String> = t.columns.iter().map(|c| c.name.clone()).collect();
                changes.push(change(
                    ChangeKind::Add,
                    ObjectKind::Table,
                    name,
                    format!("({})", cols.join(", ")),
                ));
            }
            (Some(old), Some(new)) => diff_table(old, new, &mut changes),
            (None, None) => {}
        }
    }
    simple(&a.indexes, &b.indexes, |i: &Index| &i.name, ObjectKind::Index, |i| i.to_string(), &mut changes);
    simple(
        &a.triggers,
        &b.triggers,
        |t: &Trigger| &t.name,
        ObjectKind::Trigger,
        |t| t.sql.clone(),
        &mut changes,
    );
    simple(&a.views, &b.views, |v: &View| &v.name, ObjectKind::View, |v| v.sql.clone(), &mut changes);
    changes
}

/// The changes as lines (`+ column users.email: TEXT`), or `no differences`.
pub fn render(changes: &[Change]) -> String {
    if changes.is_empty() {
        return "no differences\n".to_string();
    }
    changes.iter().map(|c| format!("{c}\n")).collect()
}

fn change(kind: ChangeKind, object: ObjectKind, name: &str, detail: String) -> Change {
    Change { kind, object, name: name.to_string(), detail }
}

fn diff_table(old: &Table, new: &Table, changes: &mut Vec<Change>) {
    for (name, a, b) in pair(&old.columns, &new.columns, |c| &c.name) {
        let full = format!("{}.{name}", old.name);
        match (a, b) {
            (Some(_), None) => {
                changes.push(change(ChangeKind::Drop, ObjectKind::Column, &full, String::new()))
            }
            (None, Some(c)) => {
                changes.push(change(ChangeKind::Add, ObjectKind::Column, &full, column_text(c)))
            }
            (Some(a), Some(b)) if a != b => {
                changes.push(change(ChangeKind::Alter, ObjectKind::Column, &full, column_delta(a, b)));
            }
            _ => {}
        }
    }
    let old_order: Vec<&str> =
        old.columns.iter().filter(|c| new.column(&c.name).is_some()).map(|c| c.name.as_str()).collect();
    let new_order: Vec<&str> =
        new.columns.iter().filter(|c| old.column(&c.name).is_some()).map(|c| c.name.as_str()).collect();
    let mut table_change = |what: &str, a: String, b: String| {
        if a != b {
            changes.push(change(
                ChangeKind::Alter,
                ObjectKind::Constraint,
                &old.name,
                format!("{what} {a} -> {b}"),
            ));
        }
    };
    table_change("column order", old_order.join(", "), new_order.join(", "));
    table_change(
        "primary key",
        format!("({})", old.primary_key.join(", ")),
        format!("({})", new.primary_key.join(", ")),
    );
    table_change("without rowid", old.without_rowid.to_string(), new.without_rowid.to_string());
    table_change("strict", old.strict.to_string(), new.strict.to_string());
    table_change("autoincrement", old.autoincrement.to_string(), new.autoincrement.to_string());
    let list = |items: Vec<String>| if items.is_empty() { "none".to_string() } else { items.join("; ") };
    let uniques = |t: &Table| list(t.unique.iter().map(|u| format!("unique ({})", u.join(", "))).collect());
    table_change("unique", uniques(old), uniques(new));
    let fks = |t: &Table| list(t.foreign_keys.iter().map(ToString::to_string).collect());
    table_change("foreign keys", fks(old), fks(new));
    let checks = |t: &Table| {
        list(
            t.checks
                .iter()
                .map(|c| {
                    format!(
                        "{}({})",
                        c.column.as_deref().map(|n| format!("{n} ")).unwrap_or_default(),
                        c.expr
                    )
                })
                .collect(),
        )
    };
    table_change("checks", checks(old), checks(new));
}

fn column_text(c: &Column) -> String {
    let text = c.to_string();
    text.strip_prefix(&c.name).unwrap_or(&text).trim().to_string()
}

fn column_delta(a: &Column, b: &Column) -> String {
    let mut parts = Vec::new();
    let mut field = |what: &str, x: String, y: String| {
        if x != y {
            parts.push(format!("{what} {x} -> {y}"));
        }
    };
    let opt = |o: &Option<String>| o.clone().unwrap_or_else(|| "none".into());
    field("type", a.decl_type.clone(), b.decl_type.clone());
    field("not null", a.not_null.to_string(), b.not_null.to_string());
    field("default", opt(&a.default), opt(&b.default));
    field("primary key position", a.primary_key.to_string(), b.primary_key.to_string());
    field("kind", kind_name(a.kind).into(), kind_name(b.kind).into());
    field("generated", opt(&a.generated), opt(&b.generated));
    field("collation", opt(&a.collation), opt(&b.collation));
    parts.join(", ")
}

fn kind_name(kind: ColumnKind) -> &'static str {
    match kind {
        ColumnKind::Normal => "normal",
        ColumnKind::Hidden => "hidden",
        ColumnKind::GeneratedVirtual => "generated virtual",
        ColumnKind::GeneratedStored => "generated stored",
    }
}

fn simple<T: PartialEq>(
    a: &[T],
    b: &[T],
    key: impl Fn(&T) -> &String,
    object: ObjectKind,
    describe: impl Fn(&T) -> String,
    changes: &mut Vec<Change>,
) {
    for (name, old, new) in pair(a, b, key) {
        match (old, new) {
            (Some(_), None) => changes.push(change(ChangeKind::Drop, object, name, String::new())),
            (None, Some(n)) => changes.push(change(ChangeKind::Add, object, name, describe(n))),
            (Some(o), Some(n)) if o != n => {
                changes.push(change(ChangeKind::Alter, object, name, describe(n)))
            }
            _ => {}
        }
    }
}

/// Matches items of `a` and `b` by name, in name order.
fn pair<'x, T>(
    a: &'x [T],
    b: &'x [T],
    key: impl Fn(&T) -> &String,
) -> Vec<(&'x str, Option<&'x T>, Option<&'x T>)> {
    let mut names: Vec<&'x str> = a.iter().chain(b).map(|x| key(x).as_str()).collect();
    names.sort_unstable();
    names.dedup();
    names
        .into_iter()
        .map(|name| (name, a.iter().find(|x| key(x) == name), b.iter().find(|x| key(x) == name)))
        .collect()
}
