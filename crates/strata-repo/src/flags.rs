//! Feature flags: one JSON value per flag name (table `flags`, migration V6). Every
//! change is audited: [`Flags::set`] and [`Flags::delete`] append their audit row
//! (actions `flag.set` and `flag.delete`, data with the old and new value) in the
//! same write closure as the change, so both commit or neither does. Every operation
//! runs in its `strata.op` span (`flags.<op>`, table `flags`).

use rusqlite::{Connection, OptionalExtension, Row, params};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use strata_core::{Error, Result};
use strata_pool::{Pool, operation};
use time::OffsetDateTime;

use crate::audit::{NewAuditEntry, append_in};
use crate::clock::{now_ms, to_datetime};
use crate::row::{json_column, json_text, plus_one};
use crate::{Page, PageRequest};

/// One row of `flags`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Flag {
    /// The flag's name (never empty).
    pub name: String,
    /// Its value, a JSON value.
    pub value: Value,
    /// What it is for (`""` when never described).
    pub description: String,
    /// Who set it last.
    pub updated_by: String,
    /// When it was set last (UTC; RFC 3339 in JSON).
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}

strata_pool::one_row!(Flag);

/// Who changes (sets or deletes) a flag, and optionally its new description: named,
/// so that the two strings cannot be swapped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlagChange {
    actor: String,
    description: Option<String>,
}

impl FlagChange {
    /// A change made by `actor` (recorded in the flag and its audit row).
    pub fn by(actor: impl Into<String>) -> Self {
        FlagChange { actor: actor.into(), description: None }
    }

    /// Also sets what the flag is for.
    pub fn description(mut self, description: impl Into<String>) -> Self {
        self.description = Some(description.into());
        self
    }
}

/// The feature flags repository.
#[derive(Debug, Clone)]
pub struct Flags {
    pool: Pool,
}

impl Flags {
    /// The repository over `pool`.
    pub fn new(pool: Pool) -> Self {
        Flags { pool }
    }

    const LIST_FLAGS: &str = "SELECT name, value, description, updated_by, updated_at FROM flags \
         WHERE name > ?1 ORDER BY name LIMIT +?2";

    /// The flags in name order, keyset by name.
    pub async fn list(&self, page: PageRequest<String>) -> Result<Page<Flag, String>> {
        operation("flags.list", "flags", async move {
            let limit = page.sql_limit()?;
            let page_limit = page.limit;
            self.pool
                .read(move |conn| {
                    let mut stmt = conn.prepare_cached(Self::LIST_FLAGS)?;
                    let rows = stmt
                        .query_map(params![page.sql_after(), plus_one(limit)], flag)?
                        .collect::<rusqlite::Result<Vec<_>>>()?;
                    Ok(Page::from_rows(rows, page_limit, |f| f.name.clone()))
                })
                .await
        })
        .await
    }

    /// The flag `name`, or `None` when there is none.
    pub async fn get(&self, name: &str) -> Result<Option<Flag>> {
        operation("flags.get", "flags", self.fetch(name)).await
    }

    async fn fetch(&self, name: &str) -> Result<Option<Flag>> {
        let name = name.to_owned();
        self.pool.read_inline(move |conn| get_in(conn, &name)).await
    }

    /// The value of flag `name` as a `T` (any serde type: `bool`, `u32`, `String`, a
    /// struct), or `None` when there is no such flag. A value of another shape is
    /// E4021.
    pub async fn get_as<T: DeserializeOwned>(&self, name: &str) -> Result<Option<T>> {
        operation("flags.get_as", "flags", async move {
            let Some(flag) = self.fetch(name).await? else { return Ok(None) };
            serde_json::from_value(flag.value).map(Some).map_err(|err| Error::FlagType {
                name: name.to_owned(),
                target: format!("`{}`", short_type_name::<T>()),
                message: err.to_string(),
            })
        })
        .await
    }

    /// Whether flag `name` is on: its value when it is `true` or `false`, `default`
    /// when there is no such flag. Any other value is E4021 rather than a guess.
    pub async fn is_enabled(&self, name: &str, default: bool) -> Result<bool> {
        operation("flags.is_enabled", "flags", async move {
            match self.fetch(name).await? {
                None => Ok(default),
                Some(Flag { value: Value::Bool(on), .. }) => Ok(on),
                Some(flag) => Err(Error::FlagType {
                    name: name.to_owned(),
                    target: "a bool".into(),
                    message: format!("its value is {}", flag.value),
                }),
            }
        })
        .await
    }

    const UPSERT_FLAG: &str = "INSERT INTO flags (name, value, description, updated_by, updated_at) \
         VALUES (?1, ?2, coalesce(?3, ''), ?4, ?5) \
         ON CONFLICT (name) DO UPDATE SET value = excluded.value, \
         description = coalesce(?3, flags.description), updated_by = excluded.updated_by, \
         updated_at = excluded.updated_at \
         RETURNING name, value, description, updated_by, updated_at";

    /// Sets flag `name` to `value` on behalf of `change`'s actor (creating it if
    /// needed; without a description the current one is kept) and appends a
    /// `flag.set` audit row with the old value (`null` for a new flag) and the new
    /// one, in the same transaction. An empty name or actor is E4001 (check) and
    /// writes nothing.
    ///
    /// `flags.set("dark_mode", json!(true), FlagChange::by("ann").description("the dark theme"))`
    pub async fn set(&self, name: &str, value: Value, change: FlagChange) -> Result<Flag> {
        let name = name.to_owned();
        let FlagChange { actor, description } = change;
        let write = self.pool.write(move |conn| {
            let old = get_in(conn, &name)?.map(|f| f.value);
            let flag = conn
                .prepare_cached(Self::UPSERT_FLAG)?
                .query_row(params![name, json_text(&value), description, actor, now_ms()], flag)?;
            let audit = NewAuditEntry::by(actor.as_str())
                .action("flag.set")
                .data(json!({ "name": name, "old": old, "new": value }));
            append_in(conn, &audit)?;
            Ok(flag)
        });
        operation("flags.set", "flags,audit", write).await
    }

    const DELETE_FLAG: &str = "DELETE FROM flags WHERE name = ?1";

    /// Deletes flag `name` on behalf of `change`'s actor (a description in `change` is
    /// not used) and appends a `flag.delete` audit row with the old value, in the same
    /// transaction; E4002 when there is no such flag.
    ///
    /// `flags.delete("dark_mode", FlagChange::by("ann"))`
    pub async fn delete(&self, name: &str, change: FlagChange) -> Result<()> {
        let name = name.to_owned();
        let actor = change.actor;
        let write = self.pool.write(move |conn| {
            let old = get_in(conn, &name)?.ok_or_else(|| not_found(&name))?;
            conn.prepare_cached(Self::DELETE_FLAG)?.execute([&name])?;
            let audit = NewAuditEntry::by(actor.as_str())
                .action("flag.delete")
                .data(json!({ "name": name, "old": old.value, "new": null }));
            append_in(conn, &audit)?;
            Ok(())
        });
        operation("flags.delete", "flags,audit", write).await
    }
}

const GET_FLAG: &str = "SELECT name, value, description, updated_by, updated_at FROM flags WHERE name = ?1";

/// Every statement this module issues, for the explain test.
pub(crate) const STATEMENTS: &[(&str, &str)] = &[
    ("flags.list", Flags::LIST_FLAGS),
    ("flags.get", GET_FLAG),
    ("flags.set", Flags::UPSERT_FLAG),
    ("flags.delete", Flags::DELETE_FLAG),
];

fn get_in(conn: &Connection, name: &str) -> Result<Option<Flag>> {
    Ok(conn.prepare_cached(GET_FLAG)?.query_row([name], flag).optional()?)
}

/// `T`'s name without module paths before its generics: `String`, `Vec<app::Tier>`.
fn short_type_name<T>() -> String {
    let full = std::any::type_name::<T>();
    let (head, rest) = full.split_at(full.find('<').unwrap_or(full.len()));
    format!("{}{rest}", head.rsplit("::").next().unwrap_or(head))
}

fn not_found(name: &str) -> Error {
    Error::NotFound { what: format!("flag `{name}`") }
}

fn flag(row: &Row<'_>) -> rusqlite::Result<Flag> {
    Ok(Flag {
        name: row.get(0)?,
        value: json_column(row, 1)?,
        description: row.get(2)?,
        updated_by: row.get(3)?,
        updated_at: to_datetime(row.get(4)?),
    })
}
