-- V5: memory -- namespaced, versioned agent memory with soft delete.
-- Creates `memory_entries`: every put of (namespace, key) writes a new row with the next
-- version (UNIQUE (namespace, key, version)); a delete sets deleted_at instead of removing
-- rows, so the history stays readable. Indexes:
--   * memory_entries_version_idx (UNIQUE): the latest version of a key, its history
--     (WHERE namespace = ? AND key = ? ORDER BY version DESC);
--   * memory_entries_live_idx: the same over rows not soft-deleted, for live reads and
--     listing a namespace's live keys without walking deleted rows.
-- Times are INTEGER milliseconds since the Unix epoch (UTC), set by the repositories.

CREATE TABLE memory_entries (
    id          INTEGER PRIMARY KEY,
    namespace   TEXT    NOT NULL CHECK (namespace <> ''),
    key         TEXT    NOT NULL CHECK (key <> ''),
    value       TEXT    NOT NULL CHECK (json_valid(value)),
    memory_type TEXT    NOT NULL DEFAULT 'semantic'
                        CHECK (memory_type IN ('semantic', 'episodic', 'procedural')),
    version     INTEGER NOT NULL DEFAULT 1 CHECK (version >= 1),
    deleted_at  INTEGER,
    created_by  TEXT    NOT NULL,
    created_at  INTEGER NOT NULL,
    updated_by  TEXT    NOT NULL,
    updated_at  INTEGER NOT NULL
) STRICT;

CREATE UNIQUE INDEX memory_entries_version_idx ON memory_entries (namespace, key, version DESC);

CREATE INDEX memory_entries_live_idx ON memory_entries (namespace, key, version DESC)
    WHERE deleted_at IS NULL;
