//! Sessions: the conversations or runs that tasks, agents and checkpoints belong to
//! (table `sessions`, migration V1), and their lifecycle.
//!
//! The lifecycle, enforced here (the CHECK only admits the five states):
//!
//! | from                          | to           | note                    |
//! |-------------------------------|--------------|-------------------------|
//! | `created`                     | `active`     |                         |
//! | `active`                      | `paused`     |                         |
//! | `paused`                      | `active`     |                         |
//! | `created`, `active`, `paused` | `terminated` | sets `terminated_at`    |
//! | `terminated`                  | `archived`   |                         |
//!
//! Any other change (including a state to itself) is E4006 and changes nothing.
//! Deleting a session keeps its tasks, agents and checkpoints: their `session_id`
//! becomes NULL (`ON DELETE SET NULL`).

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
    /// Where a session is in its lifecycle (column `sessions.status`).
    pub enum SessionStatus ("status") {
        /// Created, not started yet.
        Created => "created",
        /// In use.
        Active => "active",
        /// Stopped for now; can become active again.
        Paused => "paused",
        /// Ended for good; `terminated_at` is set.
        Terminated => "terminated",
        /// Terminated and put away.
        Archived => "archived",
    }
}

impl SessionStatus {
    /// Whether the lifecycle allows going from `self` to `to` (the table of the
    /// module documentation).
    pub fn can_become(self, to: SessionStatus) -> bool {
        use SessionStatus::*;
        matches!(
            (self, to),
            (Created, Active)
                | (Active, Paused)
                | (Paused, Active)
                | (Created | Active | Paused, Terminated)
                | (Terminated, Archived)
        )
    }
}

/// One row of `sessions`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Session {
    /// The session's id.
    pub id: i64,
    /// The application that owns the session (never empty).
    pub app_name: String,
    /// The user the session belongs to (never empty).
    pub user_id: String,
    /// Where the session is in its lifecycle.
    pub status: SessionStatus,
    /// The session's state, a JSON value (`{}` by default).
    pub state: Value,
    /// Free-form metadata, a JSON value (`{}` by default).
    pub metadata: Value,
    /// When the session was created (ms since the Unix epoch).
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// When the session last changed.
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
    /// When the session was terminated, if it was.
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub terminated_at: Option<OffsetDateTime>,
}

strata_pool::one_row!(Session);

/// A session to create, with named fields so that the application and the user
/// cannot be swapped. `state` and `metadata` default to `{}`.
#[derive(Debug, Clone, PartialEq)]
pub struct NewSession {
    /// The application the session belongs to (never empty).
    pub app_name: String,
    /// The user it is for (never empty).
    pub user_id: String,
    /// The session's initial state.
    pub state: Value,
    /// Free-form metadata.
    pub metadata: Value,
}

impl Default for NewSession {
    fn default() -> Self {
        NewSession {
            app_name: String::new(),
            user_id: String::new(),
            state: Value::Object(Default::default()),
            metadata: Value::Object(Default::default()),
        }
    }
}

/// Whose sessions [`Sessions::list_by_user`] lists, with named fields so that the
/// application and the user cannot be swapped.
///
/// ```no_run
/// # use strata_repo::{PageRequest, SessionOwner, Sessions};
/// # async fn run(sessions: Sessions) -> strata_core::Result<()> {
/// let owner = SessionOwner { app_name: "links", user_id: "ann" };
/// let page = sessions.list_by_user(owner, PageRequest::first(10)).await?;
/// # Ok(())
/// # }
/// ```
///
/// Two bare strings, which could be given in either order, do not compile:
///
/// ```compile_fail
/// # use strata_repo::{PageRequest, Sessions};
/// # async fn run(sessions: Sessions) -> strata_core::Result<()> {
/// let page = sessions.list_by_user("ann", "links", PageRequest::first(10)).await?;
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionOwner<'a> {
    /// The application the sessions belong to.
    pub app_name: &'a str,
    /// The user they are for.
    pub user_id: &'a str,
}

/// The sessions repository.
#[derive(Debug, Clone)]
pub struct Sessions {
    pool: Pool,
}

impl Sessions {
    /// The repository over `pool`.
    pub fn new(pool: Pool) -> Self {
        Sessions { pool }
    }

    const INSERT_SESSION: &str = "INSERT INTO sessions (app_name, user_id, state, metadata, created_at, updated_at) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?5) \
         RETURNING id, app_name, user_id, status, state, metadata, created_at, updated_at, terminated_at";

    /// Creates a session in state `created` and returns it. An empty `app_name` or
    /// `user_id` is refused by a CHECK (E4001).
    ///
    /// `sessions.create(NewSession { app_name: "links".into(), user_id: "ann".into(), ..NewSession::default() })`
    pub async fn create(&self, new: NewSession) -> Result<Session> {
        strata_pool::operation("sessions.create", "sessions", async move {
            let NewSession { app_name, user_id, state, metadata } = new;
            let (state, metadata) = (json_text(&state), json_text(&metadata));
            self.pool
                .write(move |conn| {
                    let mut stmt = conn.prepare_cached(Self::INSERT_SESSION)?;
                    Ok(stmt.query_row(params![app_name, user_id, state, metadata, now_ms()], session)?)
                })
                .await
        })
        .await
    }

    /// The session `id`; E4002 when there is none.
    pub async fn get(&self, id: i64) -> Result<Session> {
        strata_pool::operation("sessions.get", "sessions", async move {
            self.pool.read_inline(move |conn| get_in(conn, id)?.ok_or_else(|| not_found(id))).await
        })
        .await
    }

    const SESSIONS_BY_USER: &str = "SELECT id, app_name, user_id, status, state, metadata, created_at, updated_at, terminated_at \
         FROM sessions WHERE app_name = ?1 AND user_id = ?2 AND id > ?3 ORDER BY id LIMIT +?4";

    /// The sessions of one app and user, oldest first, keyset by id:
    /// `sessions.list_by_user(SessionOwner { app_name: "links", user_id: "ann" }, page)`.
    pub async fn list_by_user(&self, owner: SessionOwner<'_>, page: PageRequest) -> Result<Page<Session>> {
        strata_pool::operation("sessions.list_by_user", "sessions", async move {
            let (app_name, user_id) = (owner.app_name.to_owned(), owner.user_id.to_owned());
            self.pool
                .read(move |conn| {
                    read_page(conn, Self::SESSIONS_BY_USER, &[&app_name, &user_id], page, session, |s| s.id)
                })
                .await
        })
        .await
    }

    const SESSIONS_BY_STATUS: &str = "SELECT id, app_name, user_id, status, state, metadata, created_at, updated_at, terminated_at \
         FROM sessions WHERE status = ?1 AND id > ?2 ORDER BY id LIMIT +?3";

    /// The sessions in one lifecycle state, oldest first, keyset by id.
    pub async fn list_by_status(&self, status: SessionStatus, page: PageRequest) -> Result<Page<Session>> {
        strata_pool::operation("sessions.list_by_status", "sessions", async move {
            self.pool
                .read(move |conn| {
                    read_page(conn, Self::SESSIONS_BY_STATUS, &[&status], page, session, |s| s.id)
                })
                .await
        })
        .await
    }

    const UPDATE_SESSION_STATE: &str = "UPDATE sessions SET state = ?2, updated_at = ?3 WHERE id = ?1 \
         RETURNING id, app_name, user_id, status, state, metadata, created_at, updated_at, terminated_at";

    /// Replaces the session's state and returns the session; E4002 when there is none.
    pub async fn update_state(&self, id: i64, state: Value) -> Result<Session> {
        strata_pool::operation("sessions.update_state", "sessions", async move {
            let state = json_text(&state);
            self.pool
                .write(move |conn| {
                    let mut stmt = conn.prepare_cached(Self::UPDATE_SESSION_STATE)?;
                    stmt.query_row(params![id, state, now_ms()], session)
                        .optional()?
                        .ok_or_else(|| not_found(id))
                })
                .await
        })
        .await
    }

    const UPDATE_SESSION_METADATA: &str = "UPDATE sessions SET metadata = ?2, updated_at = ?3 WHERE id = ?1 \
         RETURNING id, app_name, user_id, status, state, metadata, created_at, updated_at, terminated_at";

    /// Replaces the session's metadata and returns the session; E4002 when there is none.
    pub async fn update_metadata(&self, id: i64, metadata: Value) -> Result<Session> {
        strata_pool::operation("sessions.update_metadata", "sessions", async move {
            let metadata = json_text(&metadata);
            self.pool
                .write(move |conn| {
                    let mut stmt = conn.prepare_cached(Self::UPDATE_SESSION_METADATA)?;
                    stmt.query_row(params![id, metadata, now_ms()], session)
                        .optional()?
                        .ok_or_else(|| not_found(id))
                })
                .await
        })
        .await
    }

    const TRANSITION_SESSION: &str = "UPDATE sessions SET status = ?3, updated_at = ?4, \
         terminated_at = CASE WHEN ?3 = 'terminated' THEN ?4 ELSE terminated_at END \
         WHERE id = ?1 AND status = ?2 \
         RETURNING id, app_name, user_id, status, state, metadata, created_at, updated_at, terminated_at";

    /// Moves the session to `to` if the lifecycle allows it (see the module
    /// documentation) and returns it; `terminated` also sets `terminated_at`. A change
    /// the lifecycle does not allow is E4006 and changes nothing; E4002 when there is
    /// no such session.
    pub async fn transition(&self, id: i64, to: SessionStatus) -> Result<Session> {
        strata_pool::operation("sessions.transition", "sessions", async move {
            self.pool
                .write(move |conn| {
                    let current = get_in(conn, id)?.ok_or_else(|| not_found(id))?;
                    if !current.status.can_become(to) {
                        return Err(Error::InvalidTransition {
                            what: format!("session {id}"),
                            from: current.status.to_string(),
                            to: to.to_string(),
                        });
                    }
                    // The writer is the only connection that writes, and this closure read
                    // the status in the same transaction: the guard `status = ?2` holds.
                    let mut stmt = conn.prepare_cached(Self::TRANSITION_SESSION)?;
                    Ok(stmt.query_row(params![id, current.status, to, now_ms()], session)?)
                })
                .await
        })
        .await
    }

    /// `created` -> `active`, or `paused` -> `active` (E4006 from anything else).
    pub async fn activate(&self, id: i64) -> Result<Session> {
        self.transition(id, SessionStatus::Active).await
    }

    /// `active` -> `paused` (E4006 from anything else).
    pub async fn pause(&self, id: i64) -> Result<Session> {
        self.transition(id, SessionStatus::Paused).await
    }

    /// `created`, `active` or `paused` -> `terminated`, setting `terminated_at`.
    pub async fn terminate(&self, id: i64) -> Result<Session> {
        self.transition(id, SessionStatus::Terminated).await
    }

    /// `terminated` -> `archived` (E4006 from anything else).
    pub async fn archive(&self, id: i64) -> Result<Session> {
        self.transition(id, SessionStatus::Archived).await
    }

    const DELETE_SESSION: &str = "DELETE FROM sessions WHERE id = ?1";

    /// Deletes the session; its tasks, agents and checkpoints stay, with `session_id`
    /// set to NULL. E4002 when there is no such session.
    pub async fn delete(&self, id: i64) -> Result<()> {
        strata_pool::operation("sessions.delete", "sessions", async move {
            self.pool
                .write(move |conn| match conn.prepare_cached(Self::DELETE_SESSION)?.execute([id])? {
                    0 => Err(not_found(id)),
                    _ => Ok(()),
                })
                .await
        })
        .await
    }
}

const GET_SESSION: &str = "SELECT id, app_name, user_id, status, state, metadata, created_at, updated_at, terminated_at \
     FROM sessions WHERE id = ?1";

/// Every statement this module issues, for the explain test.
pub(crate) const STATEMENTS: &[(&str, &str)] = &[
    ("sessions.get", GET_SESSION),
    ("sessions.create", Sessions::INSERT_SESSION),
    ("sessions.list_by_user", Sessions::SESSIONS_BY_USER),
    ("sessions.list_by_status", Sessions::SESSIONS_BY_STATUS),
    ("sessions.update_state", Sessions::UPDATE_SESSION_STATE),
    ("sessions.update_metadata", Sessions::UPDATE_SESSION_METADATA),
    ("sessions.transition", Sessions::TRANSITION_SESSION),
    ("sessions.delete", Sessions::DELETE_SESSION),
];

fn get_in(conn: &Connection, id: i64) -> Result<Option<Session>> {
    Ok(conn.prepare_cached(GET_SESSION)?.query_row([id], session).optional()?)
}

fn not_found(id: i64) -> Error {
    Error::NotFound { what: format!("session {id}") }
}

fn session(row: &Row<'_>) -> rusqlite::Result<Session> {
    Ok(Session {
        id: row.get(0)?,
        app_name: row.get(1)?,
        user_id: row.get(2)?,
        status: row.get(3)?,
        state: json_column(row, 4)?,
        metadata: json_column(row, 5)?,
        created_at: to_datetime(row.get(6)?),
        updated_at: to_datetime(row.get(7)?),
        terminated_at: row.get::<_, Option<i64>>(8)?.map(to_datetime),
    })
}
