//! Write capture (`[audit] tables`): TEMP triggers on the writer connection that give
//! every insert, update and delete of a listed table an `audit` row in the same
//! transaction. Nothing is installed when no table is listed, so a write that is not
//! captured (the queue's hot path by default) pays nothing.

use rusqlite::{Connection, OptionalExtension, params};
use strata_core::{Error, Result};
use strata_pool::Pool;

/// The actor of the audit rows that write capture appends.
pub const CAPTURE_ACTOR: &str = "strata.capture";

/// Installs write capture for `tables` on the writer of `pool`. From then on, every
/// insert, update and delete of one of them appends an `audit` row inside the same
/// transaction, so the row commits or rolls back with the write: actor
/// [`CAPTURE_ACTOR`], action `TABLE.insert` / `TABLE.update` / `TABLE.delete`, data
/// `{"table": TABLE, "key": [...]}` (the rowid, or the primary key of a WITHOUT ROWID
/// table; the new row's, or the old one's for a delete), `task_id` for `tasks`, and a
/// random `uid` like every other entry's.
///
/// The triggers are TEMP: they live on the writer connection until the pool closes
/// and are no part of the schema (no migration, no drift). `Database::open` calls
/// this with the config's `audit.tables`. A missing table, or `audit` itself, is
/// E6001 and installs nothing; installing a table twice is harmless.
pub async fn capture_writes(pool: &Pool, tables: &[String]) -> Result<()> {
    if tables.is_empty() {
        return Ok(());
    }
    let tables = tables.to_vec();
    pool.write(move |conn| {
        for table in &tables {
            install(conn, table)?;
        }
        Ok(())
    })
    .await
}

/// Whether ?1 is a table of the main database: 1 when it is WITHOUT ROWID, else 0.
const TABLE_WITHOUT_ROWID: &str =
    "SELECT wr FROM pragma_table_list WHERE schema = 'main' AND type = 'table' AND name = ?1";

/// The primary key columns of main table ?1, in key order.
const KEY_COLUMNS: &str = "SELECT name FROM pragma_table_info(?1, 'main') WHERE pk > 0 ORDER BY pk";

/// One capture trigger. The placeholders are filled from the table's name and key
/// columns as the schema spells them, quoted (identifiers in `"`, text in `'`), so no
/// name can change the statement: `{trigger}`, `{event}` (INSERT, UPDATE, DELETE),
/// `{table}`, `{task_id}`, `{action}`, `{name}` and `{key}`.
const CREATE_CAPTURE_TRIGGER: &str = "CREATE TEMP TRIGGER IF NOT EXISTS {trigger} AFTER {event} ON main.{table} \
     BEGIN INSERT INTO audit (ts, actor, task_id, action, data, uid) VALUES \
     (CAST(unixepoch('subsec') * 1000 AS INTEGER), 'strata.capture', {task_id}, {action}, \
     json_object('table', {name}, 'key', json_array({key})), lower(hex(randomblob(16)))); END";

/// The three triggers of `table` on `conn` (the writer, inside a write).
fn install(conn: &Connection, table: &str) -> Result<()> {
    if table.eq_ignore_ascii_case("audit") {
        return Err(Error::invalid("audit.tables", "the audit table itself cannot be audited"));
    }
    let without_rowid: Option<bool> =
        conn.prepare_cached(TABLE_WITHOUT_ROWID)?.query_row(params![table], |r| r.get(0)).optional()?;
    let Some(without_rowid) = without_rowid else {
        return Err(Error::invalid("audit.tables", format!("there is no table `{table}` to audit")));
    };
    let key_columns: Vec<String> = match without_rowid {
        true => conn
            .prepare_cached(KEY_COLUMNS)?
            .query_map(params![table], |r| r.get(0))?
            .collect::<rusqlite::Result<_>>()?,
        false => vec!["rowid".to_string()],
    };
    for (event, row) in [("INSERT", "NEW"), ("UPDATE", "NEW"), ("DELETE", "OLD")] {
        let lower = event.to_ascii_lowercase();
        let key: Vec<String> = key_columns
            .iter()
            .map(|column| match column.as_str() {
                "rowid" if !without_rowid => format!("{row}.rowid"),
                _ => format!("{row}.{}", identifier(column)),
            })
            .collect();
        let task_id = if table == "tasks" { format!("{row}.rowid") } else { "NULL".to_string() };
        let sql = CREATE_CAPTURE_TRIGGER
            .replace("{trigger}", &identifier(&format!("strata_audit_{table}_{lower}")))
            .replace("{event}", event)
            .replace("{table}", &identifier(table))
            .replace("{task_id}", &task_id)
            .replace("{action}", &text(&format!("{table}.{lower}")))
            .replace("{name}", &text(table))
            .replace("{key}", &key.join(", "));
        conn.execute_batch(&sql)?;
    }
    Ok(())
}

/// `name` as an SQL identifier: in double quotes, inner ones doubled.
fn identifier(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// `value` as an SQL text literal: in single quotes, inner ones doubled.
fn text(value: &str) -> String {
    format!("'{}'", value.replace('\'', "''"))
}
