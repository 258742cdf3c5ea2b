//! Checkpoints: a task's progress saved per iteration (table `checkpoints`, migration
//! V3), so a restarted task resumes from its latest one. The primary key
//! `(task_id, iteration)` serves every read: the latest checkpoint is one backwards
//! seek on it. A checkpoint belongs to its task (deleted with it) and survives its
//! session (`session_id` becomes NULL).

use rusqlite::{OptionalExtension, Row, params};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use strata_core::{Error, Result};
use strata_pool::Pool;
use time::OffsetDateTime;

use crate::clock::{now_ms, to_datetime};
use crate::page::read_page;
use crate::row::{json_column, json_text};
use crate::{Page, PageRequest};

/// One row of `checkpoints`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Checkpoint {
    /// The task.
    pub task_id: i64,
    /// The iteration the checkpoint was taken at (0 or more).
    pub iteration: i64,
    /// The session the task ran in, if any.
    pub session_id: Option<i64>,
    /// The saved state, a JSON value.
    pub state: Value,
    /// When it was saved (ms since the Unix epoch).
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

strata_pool::one_row!(Checkpoint);

/// The checkpoints repository.
#[derive(Debug, Clone)]
pub struct Checkpoints {
    pool: Pool,
}

impl Checkpoints {
    /// The repository over `pool`.
    pub fn new(pool: Pool) -> Self {
        Checkpoints { pool }
    }

    const INSERT_CHECKPOINT: &str = "INSERT INTO checkpoints (task_id, iteration, session_id, state, created_at) \
         VALUES (?1, ?2, ?3, ?4, ?5) RETURNING task_id, iteration, session_id, state, created_at";

    /// Saves the checkpoint of `task_id` at `iteration`. A checkpoint is written once:
    /// saving the same iteration again is E4001 (primary key); an unknown task or
    /// session is E4001 (foreign key); a negative iteration is E4001 (check).
    pub async fn save(
        &self,
        task_id: i64,
        iteration: i64,
        state: Value,
        session_id: Option<i64>,
    ) -> Result<Checkpoint> {
        strata_pool::operation("checkpoints.save", "checkpoints", async move {
            let state = json_text(&state);
            self.pool
                .write(move |conn| {
                    let mut stmt = conn.prepare_cached(Self::INSERT_CHECKPOINT)?;
                    Ok(stmt.query_row(params![task_id, iteration, session_id, state, now_ms()], checkpoint)?)
                })
                .await
        })
        .await
    }

    const LATEST_CHECKPOINT: &str = "SELECT task_id, iteration, session_id, state, created_at FROM checkpoints \
         WHERE task_id = ?1 ORDER BY iteration DESC LIMIT 1";

    /// The checkpoint of `task_id` with the highest iteration; `None` when the task has
    /// none yet.
    pub async fn latest(&self, task_id: i64) -> Result<Option<Checkpoint>> {
        strata_pool::operation("checkpoints.latest", "checkpoints", async move {
            self.pool
                .read_inline(move |conn| {
                    Ok(conn
                        .prepare_cached(Self::LATEST_CHECKPOINT)?
                        .query_row([task_id], checkpoint)
                        .optional()?)
                })
                .await
        })
        .await
    }

    const GET_CHECKPOINT: &str = "SELECT task_id, iteration, session_id, state, created_at FROM checkpoints \
         WHERE task_id = ?1 AND iteration = ?2";

    /// The checkpoint of `task_id` at `iteration`; E4002 when there is none.
    pub async fn get(&self, task_id: i64, iteration: i64) -> Result<Checkpoint> {
        strata_pool::operation("checkpoints.get", "checkpoints", async move {
            self.pool
                .read_inline(move |conn| {
                    conn.prepare_cached(Self::GET_CHECKPOINT)?
                        .query_row(params![task_id, iteration], checkpoint)
                        .optional()?
                        .ok_or_else(|| Error::NotFound {
                            what: format!("checkpoint of task {task_id} at iteration {iteration}"),
                        })
                })
                .await
        })
        .await
    }

    const CHECKPOINTS_OF_TASK: &str = "SELECT task_id, iteration, session_id, state, created_at FROM checkpoints \
         WHERE task_id = ?1 AND iteration > ?2 ORDER BY iteration LIMIT +?3";

    /// The checkpoints of `task_id` in iteration order, keyset by iteration (the
    /// cursor is the last iteration of the page).
    pub async fn list(&self, task_id: i64, page: PageRequest) -> Result<Page<Checkpoint>> {
        strata_pool::operation("checkpoints.list", "checkpoints", async move {
            self.pool
                .read(move |conn| {
                    read_page(conn, Self::CHECKPOINTS_OF_TASK, &[&task_id], page, checkpoint, |c| c.iteration)
                })
                .await
        })
        .await
    }
}

/// Every statement this module issues, for the explain test.
pub(crate) const STATEMENTS: &[(&str, &str)] = &[
    ("checkpoints.save", Checkpoints::INSERT_CHECKPOINT),
    ("checkpoints.latest", Checkpoints::LATEST_CHECKPOINT),
    ("checkpoints.get", Checkpoints::GET_CHECKPOINT),
    ("checkpoints.list", Checkpoints::CHECKPOINTS_OF_TASK),
];

fn checkpoint(row: &Row<'_>) -> rusqlite::Result<Checkpoint> {
    Ok(Checkpoint {
        task_id: row.get(0)?,
        iteration: row.get(1)?,
        session_id: row.get(2)?,
        state: json_column(row, 3)?,
        created_at: to_datetime(row.get(4)?),
    })
}
