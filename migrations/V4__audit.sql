-- V4: audit -- the append-only audit log (who did what, to which task or memory entry).
-- Creates the `audit` table, the indexes of its filtered keyset listings (by task, actor,
-- action and time; plain listing uses the primary key), and two triggers that abort any
-- UPDATE or DELETE of an audit row: the log can only grow.
-- task_id and memory_entry_id are deliberately NOT foreign keys: an audit row must outlive
-- the task or entry it describes, and SET NULL/CASCADE would need the forbidden UPDATE/DELETE.
-- Times are INTEGER milliseconds since the Unix epoch (UTC), set by the repositories.
-- Every index ends implicitly in `id` (the rowid): keyset `ORDER BY id` needs no sort.

CREATE TABLE audit (
    id               INTEGER PRIMARY KEY,
    ts               INTEGER NOT NULL,
    actor            TEXT    NOT NULL CHECK (actor <> ''),
    task_id          INTEGER,
    action           TEXT    NOT NULL CHECK (action <> ''),
    data             TEXT    NOT NULL DEFAULT '{}' CHECK (json_valid(data)),
    result           TEXT,
    memory_operation TEXT CHECK (memory_operation IS NULL OR memory_operation <> ''),
    memory_namespace TEXT,
    memory_entry_id  INTEGER,
    CONSTRAINT audit_memory_fields_need_operation
        CHECK (memory_operation IS NOT NULL OR (memory_namespace IS NULL AND memory_entry_id IS NULL))
) STRICT;

-- Audit rows of a task: WHERE task_id = ? AND id < ? ORDER BY id DESC.
CREATE INDEX audit_task_idx ON audit (task_id) WHERE task_id IS NOT NULL;

-- Audit rows of an actor: WHERE actor = ? AND id < ? ORDER BY id DESC.
CREATE INDEX audit_actor_idx ON audit (actor);

-- Audit rows of an action: WHERE action = ? AND id < ? ORDER BY id DESC.
CREATE INDEX audit_action_idx ON audit (action);

-- Audit rows in a time range: WHERE ts >= ? AND ts < ? ORDER BY ts, id (keyset on (ts, id)).
CREATE INDEX audit_ts_idx ON audit (ts);

CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit
BEGIN
    SELECT RAISE(ABORT, 'audit is append-only: rows cannot be updated');
END;

CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit
BEGIN
    SELECT RAISE(ABORT, 'audit is append-only: rows cannot be deleted');
END;
