//! Namespaced, versioned agent memory with soft delete (table `memory_entries`,
//! migration V5).
//!
//! Every [`Memory::put`] writes a new row with the next version of its
//! `(namespace, key)`; reads see the latest live (not soft-deleted) version; the
//! history keeps every version. [`Memory::delete`] sets `deleted_at` on the live
//! versions instead of removing rows, and a later put revives the key with a new
//! version. Each put and delete appends an audit row (action `memory.put` or
//! `memory.delete`, with the memory operation, namespace and entry id) in the same
//! transaction.
//!
//! An entry is named by a [`MemoryKey`], a struct with named fields so that a call
//! cannot swap the namespace and the key. Every operation runs in its `strata.op` span
//! (`memory.<op>`, table `memory_entries`, and `audit` for the changes).

use rusqlite::{Connection, OptionalExtension, Row, params};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use strata_core::{Error, Result};
use strata_pool::{Pool, operation};
use time::OffsetDateTime;

use crate::audit::{NewAuditEntry, append_in};
use crate::clock::{now_ms, to_datetime};
use crate::row::{json_column, json_text, plus_one, text_enum};
use crate::{Page, PageRequest};

text_enum! {
    /// What kind of memory an entry holds (column `memory_entries.memory_type`).
    pub enum MemoryType ("memory_type") {
        /// Facts and knowledge.
        Semantic => "semantic",
        /// Events and experiences.
        Episodic => "episodic",
        /// How to do things.
        Procedural => "procedural",
    }
}

/// Which entry: `MemoryKey { namespace: "agent-7", key: "goal" }`. Both are never
/// empty in a stored entry (a put of an empty one is E4001).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct MemoryKey<'a> {
    /// The namespace.
    pub namespace: &'a str,
    /// The key within the namespace.
    pub key: &'a str,
}

/// One version of a memory entry (a row of `memory_entries`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MemoryEntry {
    /// The row id of this version (the `memory_entry_id` of its audit rows).
    pub id: i64,
    /// The namespace (never empty).
    pub namespace: String,
    /// The key within the namespace (never empty).
    pub key: String,
    /// The value, a JSON value.
    pub value: Value,
    /// The kind of memory.
    pub memory_type: MemoryType,
    /// The version, 1 for the first put of a key, then one more per put.
    pub version: i64,
    /// When this version was soft-deleted, if it was (UTC; RFC 3339 in JSON).
    #[serde(with = "time::serde::rfc3339::option")]
    pub deleted_at: Option<OffsetDateTime>,
    /// Who first put the key (carried from version to version).
    pub created_by: String,
    /// When the key was first put (UTC; RFC 3339 in JSON).
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// Who wrote this version.
    pub updated_by: String,
    /// When this version was written (UTC; RFC 3339 in JSON).
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}

strata_pool::one_row!(MemoryEntry);

/// The memory repository.
#[derive(Debug, Clone)]
pub struct Memory {
    pool: Pool,
}

impl Memory {
    /// The repository over `pool`.
    pub fn new(pool: Pool) -> Self {
        Memory { pool }
    }

    const NEWEST_VERSION: &str = "SELECT version, created_by, created_at FROM memory_entries \
         WHERE namespace = ?1 AND key = ?2 ORDER BY version DESC LIMIT 1";

    const INSERT_VERSION: &str = "INSERT INTO memory_entries \
         (namespace, key, value, memory_type, version, created_by, created_at, updated_by, updated_at) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9) \
         RETURNING id, namespace, key, value, memory_type, version, deleted_at, created_by, created_at, updated_by, updated_at";

    /// Writes `value` as the next version of `at` (version 1 for a new key, previous
    /// highest + 1 otherwise, also after a delete) on behalf of `actor`, appends a
    /// `memory.put` audit row, and returns the new version. An empty namespace, key or
    /// actor is E4001 (check) and writes nothing.
    ///
    /// `memory.put(MemoryKey { namespace: "agent-7", key: "goal" }, json!("ship"), MemoryType::Semantic, "ann")`
    pub async fn put(
        &self,
        at: MemoryKey<'_>,
        value: Value,
        memory_type: MemoryType,
        actor: &str,
    ) -> Result<MemoryEntry> {
        let (namespace, key, actor) = (at.namespace.to_owned(), at.key.to_owned(), actor.to_owned());
        let value = json_text(&value);
        let write = self.pool.write(move |conn| {
            let now = now_ms();
            let previous: Option<(i64, String, i64)> = conn
                .prepare_cached(Self::NEWEST_VERSION)?
                .query_row(params![namespace, key], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
                .optional()?;
            let (version, created_by, created_at) = match previous {
                Some((version, by, at)) => (version + 1, by, at),
                None => (1, actor.clone(), now),
            };
            let entry = conn.prepare_cached(Self::INSERT_VERSION)?.query_row(
                params![namespace, key, value, memory_type, version, created_by, created_at, actor, now],
                memory_entry,
            )?;
            let audit = NewAuditEntry::by(actor.as_str())
                .action("memory.put")
                .data(json!({ "key": key, "version": version, "memory_type": memory_type.as_str() }))
                .memory("put", namespace.as_str(), Some(entry.id));
            append_in(conn, &audit)?;
            Ok(entry)
        });
        operation("memory.put", "memory_entries,audit", write).await
    }

    const LATEST_LIVE: &str = "SELECT id, namespace, key, value, memory_type, version, deleted_at, created_by, created_at, updated_by, updated_at \
         FROM memory_entries WHERE namespace = ?1 AND key = ?2 AND deleted_at IS NULL \
         ORDER BY version DESC LIMIT 1";

    /// The latest live version of `at`; E4002 when the key was never put or is
    /// deleted.
    pub async fn get(&self, at: MemoryKey<'_>) -> Result<MemoryEntry> {
        let (namespace, key) = (at.namespace.to_owned(), at.key.to_owned());
        let read = self.pool.read_inline(move |conn| {
            latest_live(conn, &namespace, &key)?
                .ok_or_else(|| Error::NotFound { what: format!("memory `{namespace}/{key}`") })
        });
        operation("memory.get", "memory_entries", read).await
    }

    const GET_VERSION: &str = "SELECT id, namespace, key, value, memory_type, version, deleted_at, created_by, created_at, updated_by, updated_at \
         FROM memory_entries WHERE namespace = ?1 AND key = ?2 AND version = ?3";

    /// Version `version` of `at`, deleted or not; E4002 when there is no such version.
    pub async fn get_version(&self, at: MemoryKey<'_>, version: i64) -> Result<MemoryEntry> {
        let (namespace, key) = (at.namespace.to_owned(), at.key.to_owned());
        let read = self.pool.read_inline(move |conn| {
            conn.prepare_cached(Self::GET_VERSION)?
                .query_row(params![namespace, key, version], memory_entry)
                .optional()?
                .ok_or_else(|| Error::NotFound {
                    what: format!("memory `{namespace}/{key}` version {version}"),
                })
        });
        operation("memory.get_version", "memory_entries", read).await
    }

    const HISTORY: &str = "SELECT id, namespace, key, value, memory_type, version, deleted_at, created_by, created_at, updated_by, updated_at \
         FROM memory_entries WHERE namespace = ?1 AND key = ?2 AND version < ?3 \
         ORDER BY version DESC LIMIT +?4";

    /// Every version of `at`, deleted ones included, newest first, keyset by version
    /// (the cursor is the last version of the page).
    pub async fn history(&self, at: MemoryKey<'_>, page: PageRequest) -> Result<Page<MemoryEntry>> {
        let (namespace, key) = (at.namespace.to_owned(), at.key.to_owned());
        operation("memory.history", "memory_entries", async move {
            let limit = page.sql_limit()?;
            self.pool
                .read(move |conn| {
                    let before = page.after.unwrap_or(i64::MAX);
                    let mut stmt = conn.prepare_cached(Self::HISTORY)?;
                    let rows = stmt
                        .query_map(params![namespace, key, before, plus_one(limit)], memory_entry)?
                        .collect::<rusqlite::Result<Vec<_>>>()?;
                    Ok(Page::from_rows(rows, page.limit, |e| e.version))
                })
                .await
        })
        .await
    }

    const SOFT_DELETE: &str =
        "UPDATE memory_entries SET deleted_at = ?3 WHERE namespace = ?1 AND key = ?2 AND deleted_at IS NULL";

    /// Soft-deletes `at` on behalf of `actor`: sets `deleted_at` on its live versions
    /// (the history stays readable) and appends a `memory.delete` audit row. Returns
    /// how many versions were marked; E4002 when the key has no live version.
    pub async fn delete(&self, at: MemoryKey<'_>, actor: &str) -> Result<usize> {
        let (namespace, key, actor) = (at.namespace.to_owned(), at.key.to_owned(), actor.to_owned());
        let write = self.pool.write(move |conn| {
            let latest = latest_live(conn, &namespace, &key)?
                .ok_or_else(|| Error::NotFound { what: format!("memory `{namespace}/{key}`") })?;
            let marked =
                conn.prepare_cached(Self::SOFT_DELETE)?.execute(params![namespace, key, now_ms()])?;
            let audit = NewAuditEntry::by(actor.as_str())
                .action("memory.delete")
                .data(json!({ "key": key, "version": latest.version, "versions_marked": marked }))
                .memory("delete", namespace.as_str(), Some(latest.id));
            append_in(conn, &audit)?;
            Ok(marked)
        });
        operation("memory.delete", "memory_entries,audit", write).await
    }

    const LIVE_KEYS: &str = "SELECT m.id, m.namespace, m.key, m.value, m.memory_type, m.version, m.deleted_at, \
         m.created_by, m.created_at, m.updated_by, m.updated_at \
         FROM memory_entries AS m \
         WHERE m.namespace = ?1 AND m.key > ?2 AND m.deleted_at IS NULL \
         AND m.version = (SELECT max(v.version) FROM memory_entries AS v \
                          WHERE v.namespace = m.namespace AND v.key = m.key AND v.deleted_at IS NULL) \
         ORDER BY m.key LIMIT +?3";

    /// The live keys of `namespace` in key order, each as its latest live version,
    /// keyset by key.
    pub async fn list(
        &self,
        namespace: &str,
        page: PageRequest<String>,
    ) -> Result<Page<MemoryEntry, String>> {
        let namespace = namespace.to_owned();
        operation("memory.list", "memory_entries", async move {
            let limit = page.sql_limit()?;
            let page_limit = page.limit;
            self.pool
                .read(move |conn| {
                    let mut stmt = conn.prepare_cached(Self::LIVE_KEYS)?;
                    let rows = stmt
                        .query_map(params![namespace, page.sql_after(), plus_one(limit)], memory_entry)?
                        .collect::<rusqlite::Result<Vec<_>>>()?;
                    Ok(Page::from_rows(rows, page_limit, |e| e.key.clone()))
                })
                .await
        })
        .await
    }
}

/// Every statement this module issues, for the explain test.
pub(crate) const STATEMENTS: &[(&str, &str)] = &[
    ("memory.newest_version", Memory::NEWEST_VERSION),
    ("memory.put", Memory::INSERT_VERSION),
    ("memory.get", Memory::LATEST_LIVE),
    ("memory.get_version", Memory::GET_VERSION),
    ("memory.history", Memory::HISTORY),
    ("memory.delete", Memory::SOFT_DELETE),
    ("memory.list", Memory::LIVE_KEYS),
];

fn latest_live(conn: &Connection, namespace: &str, key: &str) -> Result<Option<MemoryEntry>> {
    Ok(conn
        .prepare_cached(Memory::LATEST_LIVE)?
        .query_row(params![namespace, key], memory_entry)
        .optional()?)
}

fn memory_entry(row: &Row<'_>) -> rusqlite::Result<MemoryEntry> {
    Ok(MemoryEntry {
        id: row.get(0)?,
        namespace: row.get(1)?,
        key: row.get(2)?,
        value: json_column(row, 3)?,
        memory_type: row.get(4)?,
        version: row.get(5)?,
        deleted_at: row.get::<_, Option<i64>>(6)?.map(to_datetime),
        created_by: row.get(7)?,
        created_at: to_datetime(row.get(8)?),
        updated_by: row.get(9)?,
        updated_at: to_datetime(row.get(10)?),
    })
}
