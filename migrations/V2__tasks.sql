-- V2: tasks -- the durable priority task queue.
-- Creates the `tasks` table and the indexes the queue's statements need:
--   * claim: a PARTIAL index over pending tasks only, so the cost of a claim does not grow
--     as completed/failed/dead rows pile up;
--   * lease expiry: PARTIAL indexes over running tasks only (all queues, and per queue);
--   * dedup: a PARTIAL UNIQUE index, one live (pending/running/failed) task per dedup_key;
--   * children of a task, tasks of a session (also the FK child indexes), listing per
--     queue and status, and dead tasks (purge-dead / listing across queues).
-- Retries go back to 'pending' with `run_after` = now + backoff (claimable through the
-- claim index once due); 'dead' is the dead-letter state after `max_attempts`.
-- A running task always holds a lease (owner, expiry, token): CHECK tasks_running_holds_lease.
-- Times are INTEGER milliseconds since the Unix epoch (UTC), set by the repositories.
-- Every index ends implicitly in `id` (the rowid), which orders ties and serves keyset
-- pagination without storing `id` twice.

CREATE TABLE tasks (
    id               INTEGER PRIMARY KEY,
    queue            TEXT    NOT NULL DEFAULT 'default' CHECK (queue <> ''),
    kind             TEXT    NOT NULL CHECK (kind <> ''),
    payload          TEXT    NOT NULL DEFAULT '{}' CHECK (json_valid(payload)),
    priority         INTEGER NOT NULL DEFAULT 5 CHECK (priority BETWEEN 0 AND 10),
    status           TEXT    NOT NULL DEFAULT 'pending'
                             CHECK (status IN ('pending', 'running', 'completed', 'failed', 'cancelled', 'dead')),
    attempts         INTEGER NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    max_attempts     INTEGER NOT NULL DEFAULT 3 CHECK (max_attempts >= 1),
    run_after        INTEGER NOT NULL DEFAULT 0,
    lease_owner      TEXT,
    lease_expires_at INTEGER,
    lease_token      TEXT,
    last_error       TEXT,
    result           TEXT CHECK (result IS NULL OR json_valid(result)),
    dedup_key        TEXT,
    parent_task_id   INTEGER REFERENCES tasks (id) ON DELETE SET NULL,
    session_id       INTEGER REFERENCES sessions (id) ON DELETE SET NULL,
    submitted_at     INTEGER NOT NULL,
    started_at       INTEGER,
    completed_at     INTEGER,
    CONSTRAINT tasks_running_holds_lease
        CHECK (status <> 'running'
               OR (lease_owner IS NOT NULL AND lease_expires_at IS NOT NULL AND lease_token IS NOT NULL))
) STRICT;

-- Claim: WHERE queue = ? AND status = 'pending' AND run_after <= ?
--        ORDER BY priority DESC, run_after, id LIMIT ?  (highest priority, then oldest).
-- Holds pending rows only: finished rows never enter it.
CREATE INDEX tasks_claim_idx ON tasks (queue, priority DESC, run_after) WHERE status = 'pending';

-- Expired leases of all queues (a sweeper):
--   WHERE status = 'running' AND lease_expires_at <= ? ORDER BY lease_expires_at.
CREATE INDEX tasks_lease_expiry_idx ON tasks (lease_expires_at) WHERE status = 'running';

-- Expired leases of one queue (a claim that takes them back):
--   WHERE queue = ? AND status = 'running' AND lease_expires_at <= ? ORDER BY lease_expires_at.
-- Both lease indexes hold running rows only (a few per worker), so they stay tiny.
CREATE INDEX tasks_queue_lease_expiry_idx ON tasks (queue, lease_expires_at) WHERE status = 'running';

-- Dedup: at most one unfinished task per dedup_key; the enqueue lookup
-- WHERE dedup_key = ? AND status IN ('pending', 'running', 'failed') uses it too.
CREATE UNIQUE INDEX tasks_dedup_idx ON tasks (dedup_key)
    WHERE dedup_key IS NOT NULL AND status IN ('pending', 'running', 'failed');

-- Children of a task (cancel cascades to unfinished children); FK child index of parent_task_id.
CREATE INDEX tasks_parent_idx ON tasks (parent_task_id) WHERE parent_task_id IS NOT NULL;

-- Tasks of a session; FK child index of session_id (ON DELETE SET NULL looks rows up by it).
CREATE INDEX tasks_session_idx ON tasks (session_id) WHERE session_id IS NOT NULL;

-- Listing per queue and status, keyset by id; also dead tasks of one queue and queue stats.
CREATE INDEX tasks_queue_status_idx ON tasks (queue, status);

-- Dead tasks across all queues (purge-dead, dead-letter listing keyset by id).
CREATE INDEX tasks_dead_idx ON tasks (status) WHERE status = 'dead';
