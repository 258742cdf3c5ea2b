//! Task state: a task's own key -> JSON value store (table `state`, migration V3),
//! for what a task remembers between attempts. Rows belong to their task (deleted
//! with it); the primary key `(task_id, key)` serves every statement.

use rusqlite::{OptionalExtension, Row, params};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use strata_core::{Error, Result};
use strata_pool::Pool;
use time::OffsetDateTime;

use crate::clock::{now_ms, to_datetime};
use crate::row::{json_column, json_text, plus_one};
use crate::{Page, PageRequest};

/// One row of `state`: a key of a task and its value.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StateEntry {
    /// The task.
    pub task_id: i64,
    /// The key (never empty).
    pub key: String,
    /// The value, a JSON value.
    pub value: Value,
    /// When the value was last set (ms since the Unix epoch).
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}

strata_pool::one_row!(StateEntry);

/// The task state repository.
#[derive(Debug, Clone)]
pub struct TaskState {
    pool: Pool,
}

impl TaskState {
    /// The repository over `pool`.
    pub fn new(pool: Pool) -> Self {
        TaskState { pool }
    }

    const UPSERT_STATE: &str = "INSERT INTO state (task_id, key, value, updated_at) VALUES (?1, ?2, ?3, ?4) \
         ON CONFLICT (task_id, key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at \
         RETURNING task_id, key, value, updated_at";

    /// Sets `key` of `task_id` to `value` (inserting or replacing) and returns the
    /// entry. An unknown task is E4001 (foreign key); an empty key is E4001 (check).
    pub async fn set(&self, task_id: i64, key: &str, value: Value) -> Result<StateEntry> {
        strata_pool::operation("state.set", "state", async move {
            let key = key.to_owned();
            let value = json_text(&value);
            self.pool
                .write(move |conn| {
                    let mut stmt = conn.prepare_cached(Self::UPSERT_STATE)?;
                    Ok(stmt.query_row(params![task_id, key, value, now_ms()], entry)?)
                })
                .await
        })
        .await
    }

    const GET_STATE: &str =
        "SELECT task_id, key, value, updated_at FROM state WHERE task_id = ?1 AND key = ?2";

    /// The entry `key` of `task_id`; E4002 when there is none.
    pub async fn get(&self, task_id: i64, key: &str) -> Result<StateEntry> {
        strata_pool::operation("state.get", "state", async move {
            let key = key.to_owned();
            self.pool
                .read_inline(move |conn| {
                    conn.prepare_cached(Self::GET_STATE)?
                        .query_row(params![task_id, key], entry)
                        .optional()?
                        .ok_or_else(|| Error::NotFound {
                            what: format!("state key `{key}` of task {task_id}"),
                        })
                })
                .await
        })
        .await
    }

    const DELETE_STATE: &str = "DELETE FROM state WHERE task_id = ?1 AND key = ?2";

    /// Deletes `key` of `task_id`; `false` when there was no such key.
    pub async fn delete(&self, task_id: i64, key: &str) -> Result<bool> {
        strata_pool::operation("state.delete", "state", async move {
            let key = key.to_owned();
            self.pool
                .write(move |conn| {
                    Ok(conn.prepare_cached(Self::DELETE_STATE)?.execute(params![task_id, key])? > 0)
                })
                .await
        })
        .await
    }

    const STATE_KEYS: &str = "SELECT key FROM state WHERE task_id = ?1 AND key > ?2 ORDER BY key LIMIT +?3";

    /// The keys of `task_id` in key order, keyset by key.
    pub async fn keys(&self, task_id: i64, page: PageRequest<String>) -> Result<Page<String, String>> {
        strata_pool::operation("state.keys", "state", async move {
            let limit = page.sql_limit()?;
            let page_limit = page.limit;
            self.pool
                .read(move |conn| {
                    let mut stmt = conn.prepare_cached(Self::STATE_KEYS)?;
                    let rows = stmt
                        .query_map(params![task_id, page.sql_after(), plus_one(limit)], |r| r.get(0))?
                        .collect::<rusqlite::Result<Vec<String>>>()?;
                    Ok(Page::from_rows(rows, page_limit, Clone::clone))
                })
                .await
        })
        .await
    }
}

/// Every statement this module issues, for the explain test.
pub(crate) const STATEMENTS: &[(&str, &str)] = &[
    ("state.set", TaskState::UPSERT_STATE),
    ("state.get", TaskState::GET_STATE),
    ("state.delete", TaskState::DELETE_STATE),
    ("state.keys", TaskState::STATE_KEYS),
];

fn entry(row: &Row<'_>) -> rusqlite::Result<StateEntry> {
    Ok(StateEntry {
        task_id: row.get(0)?,
        key: row.get(1)?,
        value: json_column(row, 2)?,
        updated_at: to_datetime(row.get(3)?),
    })
}
