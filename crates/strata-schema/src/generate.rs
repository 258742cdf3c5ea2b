//! `generate(a, b)`: SQL that turns schema `a` into schema `b`.
//!
//! `ALTER TABLE ... ADD COLUMN` / `DROP COLUMN` where SQLite allows them; otherwise the
//! documented 12-step rebuild (create the new table, copy the rows, drop the old one,
//! rename, recreate its indexes, triggers and views, `foreign_key_check`). The script
//! must run with foreign keys off in one transaction, which is what the migration
//! runner does; on its own, wrap it in `PRAGMA foreign_keys = OFF; BEGIN; ... COMMIT;`.

use std::collections::BTreeSet;

use strata_core::Result;

use crate::errors;
use crate::introspect::{ColumnKind, ParsedColumn, Schema, Table, parse_create_table};
use crate::sql::{self, quote_ident};

/// The prefix of the temporary table a rebuild copies into.
const REBUILD_PREFIX: &str = "_strata_new_";

/// SQL statements, each ending in `;` and a newline, that turn `a` into `b`; empty when
/// they are equal. Both schemas must come from [`introspect`](crate::introspect()) (the
/// `CREATE` text of `b` is needed, which a schema read back from JSON lacks).
pub fn generate(a: &Schema, b: &Schema) -> Result<String> {
    let mut out = Script::default();
    let mut rebuilt = BTreeSet::new();
    let mut altered: Vec<(&Table, &Table)> = Vec::new();
    for new in &b.tables {
        match a.table(&new.name) {
            Some(old) if old != new => {
                if alter_statements(old, new, a).is_some() {
                    altered.push((old, new));
                } else {
                    rebuilt.insert(new.name.as_str());
                }
            }
            _ => {}
        }
    }
    let dropped: BTreeSet<&str> =
        a.tables.iter().filter(|t| b.table(&t.name).is_none()).map(|t| t.name.as_str()).collect();
    let structural = !rebuilt.is_empty() || !dropped.is_empty();

    // Triggers and views may name any table; a rebuild or drop would break them, so
    // then they are all recreated, otherwise only those that changed.
    for trigger in &a.triggers {
        if structural || b.triggers.iter().find(|t| t.name == trigger.name) != Some(trigger) {
            out.push(format!("DROP TRIGGER IF EXISTS {}", quote_ident(&trigger.name)));
        }
    }
    for view in &a.views {
        if structural || b.views.iter().find(|v| v.name == view.name) != Some(view) {
            out.push(format!("DROP VIEW IF EXISTS {}", quote_ident(&view.name)));
        }
    }
    for index in &a.indexes {
        let table_goes = dropped.contains(index.table.as_str()) || rebuilt.contains(index.table.as_str());
        if !table_goes && b.indexes.iter().find(|i| i.name == index.name) != Some(index) {
            out.push(format!("DROP INDEX IF EXISTS {}", quote_ident(&index.name)));
        }
    }
    for name in &dropped {
        out.push(format!("DROP TABLE {}", quote_ident(name)));
    }
    for new in b.tables.iter().filter(|t| a.table(&t.name).is_none()) {
        out.push(source(&new.sql.0, "table", &new.name)?.trim_end_matches(';').to_string());
    }
    for (old, new) in &altered {
        for statement in alter_statements(old, new, a).unwrap_or_default() {
            out.push(statement);
        }
    }
    for name in &rebuilt {
        // Both exist: `rebuilt` holds only tables of a and b that differ.
        if let (Some(old), Some(new)) = (a.table(name), b.table(name)) {
            rebuild(old, new, &mut out)?;
        }
    }
    for index in &b.indexes {
        let table_new = rebuilt.contains(index.table.as_str()) || a.table(&index.table).is_none();
        if table_new || a.indexes.iter().find(|i| i.name == index.name) != Some(index) {
            out.push(source(&index.sql.0, "index", &index.name)?.to_string());
        }
    }
    for view in &b.views {
        if structural || a.views.iter().find(|v| v.name == view.name) != Some(view) {
            out.push(source(&view.source.0, "view", &view.name)?.to_string());
        }
    }
    for trigger in &b.triggers {
        if structural || a.triggers.iter().find(|t| t.name == trigger.name) != Some(trigger) {
            out.push(source(&trigger.source.0, "trigger", &trigger.name)?.to_string());
        }
    }
    if !rebuilt.is_empty() {
        out.push("PRAGMA foreign_key_check".to_string());
    }
    Ok(out.text)
}

#[derive(Default)]
struct Script {
    text: String,
}

impl Script {
    fn push(&mut self, statement: String) {
        self.text.push_str(statement.trim().trim_end_matches(';'));
        self.text.push_str(";\n");
    }
}

fn source<'s>(sql: &'s str, kind: &str, name: &str) -> Result<&'s str> {
    if sql.trim().is_empty() {
        return Err(errors::generate_unsupported(
            &format!("{kind} {name}"),
            "the schema holds no CREATE statement (was it read from JSON?)",
        ));
    }
    Ok(sql.trim())
}

/// `ALTER TABLE` statements turning `old` into `new`, or `None` when SQLite's ALTER
/// cannot do it and the table must be rebuilt.
fn alter_statements(old: &Table, new: &Table, a: &Schema) -> Option<Vec<String>> {
    let same_shape = old.primary_key == new.primary_key
        && old.without_rowid == new.without_rowid
        && old.strict == new.strict
        && old.autoincrement == new.autoincrement
        && old.unique == new.unique;
    if !same_shape || new.sql.0.to_ascii_uppercase().contains("VIRTUAL TABLE") {
        return None;
    }
    let kept: Vec<&str> =
        old.columns.iter().filter(|c| new.column(&c.name).is_some()).map(|c| c.name.as_str()).collect();
    // Kept columns unchanged and first, in the same order; added ones after them.
    let kept_new: Vec<&str> = new.columns.iter().take(kept.len()).map(|c| c.name.as_str()).collect();
    if kept != kept_new || kept.iter().any(|name| old.column(name) != new.column(name)) {
        return None;
    }
    let parsed = parse_create_table(&new.sql.0);
    let mut statements = Vec::new();
    for column in old.columns.iter().filter(|c| new.column(&c.name).is_none()) {
        if !droppable(old, &column.name, a) {
            return None;
        }
        statements.push(format!(
            "ALTER TABLE {} DROP COLUMN {}",
            quote_ident(&old.name),
            quote_ident(&column.name)
        ));
    }
    let added = &new.columns[kept.len()..];
    for column in added {
        let def = parsed.columns.iter().find(|p| p.name.eq_ignore_ascii_case(&column.name))?;
        if !addable(column, def) {
            return None;
        }
        statements.push(format!("ALTER TABLE {} ADD COLUMN {}", quote_ident(&old.name), def.definition));
    }
    // What the added columns bring must account for every other difference.
    let added_names: Vec<&str> = added.iter().map(|c| c.name.as_str()).collect();
    let expected_fks: Vec<_> = old
        .foreign_keys
        .iter()
        .filter(|fk| fk.columns.iter().all(|c| new.column(c).is_some()))
        .chain(
            new.foreign_keys.iter().filter(|fk| fk.columns.iter().all(|c| added_names.contains(&c.as_str()))),
        )
        .cloned()
        .collect();
    let mut expected_fks = expected_fks;
    expected_fks.sort();
    let mut expected_checks: Vec<_> = old
        .checks
        .iter()
        .filter(|c| c.column.as_deref().is_none_or(|name| new.column(name).is_some()))
        .chain(new.checks.iter().filter(|c| c.column.as_deref().is_some_and(|n| added_names.contains(&n))))
        .cloned()
        .collect();
    expected_checks.sort_by(|x, y| (&x.column, &x.expr).cmp(&(&y.column, &y.expr)));
    if expected_fks != new.foreign_keys || expected_checks != new.checks {
        return None;
    }
    Some(statements)
}

/// Whether `ALTER TABLE ADD COLUMN` accepts this column definition.
fn addable(column: &crate::introspect::Column, def: &ParsedColumn) -> bool {
    let default_ok = match &column.default {
        None => !column.not_null,
        Some(d) => is_literal(d) && !(column.not_null && d.eq_ignore_ascii_case("NULL")),
    };
    column.primary_key == 0
        && !def.unique
        && !def.primary_key
        && matches!(column.kind, ColumnKind::Normal | ColumnKind::GeneratedVirtual)
        && (default_ok || column.kind == ColumnKind::GeneratedVirtual)
}

/// Whether a default is a constant ADD COLUMN accepts: a number, string, blob, NULL,
/// TRUE or FALSE, optionally signed (not an expression, not `CURRENT_*`).
fn is_literal(default: &str) -> bool {
    let tokens = sql::tokenize(default);
    let value = match tokens.as_slice() {
        [sign, value] if sign.is_punct('-') || sign.is_punct('+') => value,
        [value] => value,
        _ => return false,
    };
    matches!(value.kind, sql::TokenKind::Number | sql::TokenKind::Str)
        || value.is("NULL")
        || value.is("TRUE")
        || value.is("FALSE")
}

/// Whether `ALTER TABLE DROP COLUMN` can remove `column`: it is not part of a key,
/// an index, a foreign key or a constraint, and nothing else names it.
fn droppable(table: &Table, column: &str, schema: &Schema) -> bool {
    let mentions = |text: &str| sql::tokenize(text).iter().any(|t| t.ident().eq_ignore_ascii_case(column));
    let parsed = parse_create_table(&table.sql.0);
    let def = parsed.columns.iter().find(|p| p.name.eq_ignore_ascii_case(column));
    !table.primary_key.iter().any(|c| c == column)
        && !def.is_some_and(|d| d.unique || d.primary_key || d.references)
        && !table.unique.iter().flatten().any(|c| c == column)
        && !table.foreign_keys.iter().any(|fk| fk.columns.iter().any(|c| c == column))
        && !table.checks.iter().any(|c| mentions(&c.expr))
        && !table.columns.iter().any(|c| c.generated.as_deref().is_some_and(mentions))
        && !schema.indexes.iter().filter(|i| i.table == table.name).any(|i| mentions(&i.sql.0))
        && !schema.triggers.iter().any(|t| mentions(&t.sql))
        && !schema.views.iter().any(|v| mentions(&v.sql))
}

/// Steps 4 to 7 of SQLite's 12-step table change: new table, copy, drop, rename.
fn rebuild(old: &Table, new: &Table, out: &mut Script) -> Result<()> {
    let create = source(&new.sql.0, "table", &new.name)?;
    let parsed = parse_create_table(create);
    let Some((start, end)) = parsed.name_span else {
        return Err(errors::generate_unsupported(
            &format!("table {}", new.name),
            "its CREATE TABLE has no column list",
        ));
    };
    if create.to_ascii_uppercase().contains("VIRTUAL TABLE") {
        return Err(errors::generate_unsupported(
            &format!("table {}", new.name),
            "virtual tables cannot be rebuilt",
        ));
    }
    let temp = format!("{REBUILD_PREFIX}{}", new.name);
    out.push(
        format!("{}{}{}", &create[..start], quote_ident(&temp), &create[end..])
            .trim_end_matches(';')
            .to_string(),
    );
    let copyable = |kind: ColumnKind| matches!(kind, ColumnKind::Normal | ColumnKind::Hidden);
    let mut targets = Vec::new();
    let mut values = Vec::new();
    for column in new.columns.iter().filter(|c| copyable(c.kind)) {
        let Some(previous) = old.column(&column.name).filter(|o| copyable(o.kind)) else { continue };
        targets.push(quote_ident(&column.name));
        // A column that becomes NOT NULL takes its new default where it held NULL.
        values.push(match &column.default {
            Some(default) if column.not_null && !previous.not_null => {
                format!("coalesce({}, {default})", quote_ident(&column.name))
            }
            _ => quote_ident(&column.name),
        });
    }
    if !targets.is_empty() {
        out.push(format!(
            "INSERT INTO {} ({}) SELECT {} FROM {}",
            quote_ident(&temp),
            targets.join(", "),
            values.join(", "),
            quote_ident(&old.name)
        ));
    }
    out.push(format!("DROP TABLE {}", quote_ident(&old.name)));
    out.push(format!("ALTER TABLE {} RENAME TO {}", quote_ident(&temp), quote_ident(&new.name)));
    Ok(())
}
