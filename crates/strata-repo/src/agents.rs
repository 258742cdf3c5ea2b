//! Agents: the workers a task spawned (table `agents`, migration V3), their lifecycle
//! state and resource usage. An agent belongs to a task (deleted with it) and
//! optionally to a session (kept, with `session_id` NULL, when the session goes).
//!
//! States: `spawned`, `running`, `waiting` are live and may change into any state;
//! `completed`, `failed`, `terminated` are terminal: entering one sets `terminated_at`,
//! and leaving one is E4006.

use rusqlite::{Connection, OptionalExtension, Row, params};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use strata_core::{Error, Result};
use strata_pool::Pool;
use time::OffsetDateTime;

use crate::clock::{now_ms, to_datetime};
use crate::page::read_page;
use crate::row::{json_column, json_text, text_enum};
use crate::{Page, PageRequest};

text_enum! {
    /// An agent's lifecycle state (column `agents.state`).
    pub enum AgentState ("state") {
        /// Spawned, not running yet.
        Spawned => "spawned",
        /// Working.
        Running => "running",
        /// Waiting for something (input, a child, a resource).
        Waiting => "waiting",
        /// Finished its work (terminal).
        Completed => "completed",
        /// Gave up with an error (terminal).
        Failed => "failed",
        /// Stopped from outside (terminal).
        Terminated => "terminated",
    }
}

impl AgentState {
    /// Whether the state is final: `completed`, `failed` or `terminated`.
    pub fn is_terminal(self) -> bool {
        matches!(self, AgentState::Completed | AgentState::Failed | AgentState::Terminated)
    }
}

/// One row of `agents`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Agent {
    /// The agent's id.
    pub id: i64,
    /// The task that spawned it.
    pub task_id: i64,
    /// The session it works in, if any.
    pub session_id: Option<i64>,
    /// Its name (never empty).
    pub name: String,
    /// Its lifecycle state.
    pub state: AgentState,
    /// Resource usage reported by the agent, a JSON value (`{}` by default).
    pub resource_usage: Value,
    /// When it was spawned (ms since the Unix epoch).
    #[serde(with = "time::serde::rfc3339")]
    pub spawned_at: OffsetDateTime,
    /// When it entered a terminal state, if it did.
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub terminated_at: Option<OffsetDateTime>,
}

strata_pool::one_row!(Agent);

/// The agents repository.
#[derive(Debug, Clone)]
pub struct Agents {
    pool: Pool,
}

impl Agents {
    /// The repository over `pool`.
    pub fn new(pool: Pool) -> Self {
        Agents { pool }
    }

    const INSERT_AGENT: &str = "INSERT INTO agents (task_id, session_id, name, spawned_at) VALUES (?1, ?2, ?3, ?4) \
         RETURNING id, task_id, session_id, name, state, resource_usage, spawned_at, terminated_at";

    /// Spawns an agent of task `task_id` (optionally in session `session_id`) in state
    /// `spawned`. An unknown task or session is E4001 (foreign key); an empty name is
    /// E4001 (check).
    pub async fn spawn(&self, task_id: i64, session_id: Option<i64>, name: &str) -> Result<Agent> {
        strata_pool::operation("agents.spawn", "agents", async move {
            let name = name.to_owned();
            self.pool
                .write(move |conn| {
                    let mut stmt = conn.prepare_cached(Self::INSERT_AGENT)?;
                    Ok(stmt.query_row(params![task_id, session_id, name, now_ms()], agent)?)
                })
                .await
        })
        .await
    }

    /// The agent `id`; E4002 when there is none.
    pub async fn get(&self, id: i64) -> Result<Agent> {
        strata_pool::operation("agents.get", "agents", async move {
            self.pool.read_inline(move |conn| get_in(conn, id)?.ok_or_else(|| not_found(id))).await
        })
        .await
    }

    const SET_AGENT_STATE: &str = "UPDATE agents SET state = ?2, \
         terminated_at = CASE WHEN ?2 IN ('completed', 'failed', 'terminated') THEN ?3 ELSE NULL END \
         WHERE id = ?1 AND state NOT IN ('completed', 'failed', 'terminated') \
         RETURNING id, task_id, session_id, name, state, resource_usage, spawned_at, terminated_at";

    /// Sets the agent's state and returns the agent; a terminal state sets
    /// `terminated_at`. E4006 when the agent is already in a terminal state (nothing
    /// changes), E4002 when there is no such agent.
    pub async fn set_state(&self, id: i64, state: AgentState) -> Result<Agent> {
        strata_pool::operation("agents.set_state", "agents", async move {
            self.pool
                .write(move |conn| {
                    let mut stmt = conn.prepare_cached(Self::SET_AGENT_STATE)?;
                    if let Some(updated) = stmt.query_row(params![id, state, now_ms()], agent).optional()? {
                        return Ok(updated);
                    }
                    // Not updated: either no such agent, or it is in a terminal state.
                    let current = get_in(conn, id)?.ok_or_else(|| not_found(id))?;
                    Err(Error::InvalidTransition {
                        what: format!("agent {id}"),
                        from: current.state.to_string(),
                        to: state.to_string(),
                    })
                })
                .await
        })
        .await
    }

    const SET_AGENT_USAGE: &str = "UPDATE agents SET resource_usage = ?2 WHERE id = ?1 \
         RETURNING id, task_id, session_id, name, state, resource_usage, spawned_at, terminated_at";

    /// Replaces the agent's resource usage and returns the agent; E4002 when there is
    /// no such agent.
    pub async fn update_resource_usage(&self, id: i64, usage: Value) -> Result<Agent> {
        strata_pool::operation("agents.update_resource_usage", "agents", async move {
            let usage = json_text(&usage);
            self.pool
                .write(move |conn| {
                    let mut stmt = conn.prepare_cached(Self::SET_AGENT_USAGE)?;
                    stmt.query_row(params![id, usage], agent).optional()?.ok_or_else(|| not_found(id))
                })
                .await
        })
        .await
    }

    const AGENTS_OF_TASK: &str = "SELECT id, task_id, session_id, name, state, resource_usage, spawned_at, terminated_at \
         FROM agents WHERE task_id = ?1 AND id > ?2 ORDER BY id LIMIT +?3";

    /// The agents of a task, oldest first, keyset by id.
    pub async fn list_by_task(&self, task_id: i64, page: PageRequest) -> Result<Page<Agent>> {
        self.list(Self::AGENTS_OF_TASK, task_id, page).await
    }

    const AGENTS_OF_SESSION: &str = "SELECT id, task_id, session_id, name, state, resource_usage, spawned_at, terminated_at \
         FROM agents WHERE session_id = ?1 AND id > ?2 ORDER BY id LIMIT +?3";

    /// The agents of a session, oldest first, keyset by id.
    pub async fn list_by_session(&self, session_id: i64, page: PageRequest) -> Result<Page<Agent>> {
        self.list(Self::AGENTS_OF_SESSION, session_id, page).await
    }

    /// Runs one of the keyset listings above (`sql` is one of this module's consts).
    async fn list(&self, sql: &'static str, owner: i64, page: PageRequest) -> Result<Page<Agent>> {
        strata_pool::operation("agents.list", "agents", async move {
            self.pool.read(move |conn| read_page(conn, sql, &[&owner], page, agent, |a| a.id)).await
        })
        .await
    }
}

const GET_AGENT: &str = "SELECT id, task_id, session_id, name, state, resource_usage, spawned_at, terminated_at \
     FROM agents WHERE id = ?1";

/// Every statement this module issues, for the explain test.
pub(crate) const STATEMENTS: &[(&str, &str)] = &[
    ("agents.get", GET_AGENT),
    ("agents.spawn", Agents::INSERT_AGENT),
    ("agents.set_state", Agents::SET_AGENT_STATE),
    ("agents.update_resource_usage", Agents::SET_AGENT_USAGE),
    ("agents.list_by_task", Agents::AGENTS_OF_TASK),
    ("agents.list_by_session", Agents::AGENTS_OF_SESSION),
];

fn get_in(conn: &Connection, id: i64) -> Result<Option<Agent>> {
    Ok(conn.prepare_cached(GET_AGENT)?.query_row([id], agent).optional()?)
}

fn not_found(id: i64) -> Error {
    Error::NotFound { what: format!("agent {id}") }
}

fn agent(row: &Row<'_>) -> rusqlite::Result<Agent> {
    Ok(Agent {
        id: row.get(0)?,
        task_id: row.get(1)?,
        session_id: row.get(2)?,
        name: row.get(3)?,
        state: row.get(4)?,
        resource_usage: json_column(row, 5)?,
        spawned_at: to_datetime(row.get(6)?),
        terminated_at: row.get::<_, Option<i64>>(7)?.map(to_datetime),
    })
}
