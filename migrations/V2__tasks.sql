-- V2: tasks -- the durable priority task queue.
-- Creates the `tasks` table and the indexes the queue's statements need:
--   * claim: a PARTIAL index over pending tasks only, so the cost of a claim does not grow
--     as completed/failed/dead rows pile up;
--   * lease expiry: a PARTIAL index over running tasks only (a few per worker);
--   * dedup: a PARTIAL UNIQUE index, one live (pending/running/failed) task per dedup_key;
--   * children of a task, tasks of a session (also the FK child indexes);
--   * the tasks of a queue (listing and totals), and a PARTIAL index over the failed,
--     cancelled and dead tasks per queue (stats, purge-dead).
-- The hot path (enqueue, claim, complete) maintains only three of them: claim and queue
-- on enqueue, claim and lease on a claim, lease on a complete. Every other index is
-- partial on a state the hot path does not reach, or on a column it does not change.
-- Retries go back to 'pending' with `run_after` = now + backoff (claimable through the
-- claim index once due); 'dead' is the dead-letter state after `max_attempts`.
-- A running task always holds a lease (owner, expiry, token): CHECK tasks_running_holds_lease.
-- Times are INTEGER milliseconds since the Unix epoch (UTC), set by the repositories.
-- Every index ends implicitly in `id` (the rowid), which orders ties and serves keyset
-- pagination without storing `id` twice.
-- Sets of statuses are written as OR chains, not `status IN (...)`: SQLite evaluates a
-- constant IN list of more than two values through a temporary b-tree that it builds
-- again for every row written: several microseconds on every insert and update.
-- A query that wants a partial index repeats the index's condition word for word.

CREATE TABLE tasks (
    id               INTEGER PRIMARY KEY,
    queue            TEXT    NOT NULL DEFAULT 'default' CHECK (queue <> ''),
    kind             TEXT    NOT NULL CHECK (kind <> ''),
    payload          TEXT    NOT NULL DEFAULT '{}' CHECK (json_valid(payload)),
    priority         INTEGER NOT NULL DEFAULT 5 CHECK (priority BETWEEN 0 AND 10),
    status           TEXT    NOT NULL DEFAULT 'pending'
                             CHECK (status = 'pending' OR status = 'running' OR status = 'completed'
                                    OR status = 'failed' OR status = 'cancelled' OR status = 'dead'),
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

-- Expired leases: WHERE status = 'running' AND lease_expires_at <= ? ORDER BY lease_expires_at,
-- for all queues (a sweeper) and for one queue (a claim takes them back; `+queue` filters
-- the few running rows). Holds running rows only, so it stays tiny.
CREATE INDEX tasks_lease_expiry_idx ON tasks (lease_expires_at) WHERE status = 'running';

-- Dedup: at most one unfinished task per dedup_key; the enqueue lookup
-- WHERE dedup_key = ? AND (status = 'pending' OR status = 'running' OR status = 'failed') uses it too.
CREATE UNIQUE INDEX tasks_dedup_idx ON tasks (dedup_key)
    WHERE dedup_key IS NOT NULL AND (status = 'pending' OR status = 'running' OR status = 'failed');

-- Children of a task (cancel cascades to unfinished children); FK child index of parent_task_id.
CREATE INDEX tasks_parent_idx ON tasks (parent_task_id) WHERE parent_task_id IS NOT NULL;

-- Tasks of a session; FK child index of session_id (ON DELETE SET NULL looks rows up by it).
CREATE INDEX tasks_session_idx ON tasks (session_id) WHERE session_id IS NOT NULL;

-- The tasks of a queue: listing keyset by id, and the totals of queue stats. A task never
-- changes queue, so only an enqueue writes to it.
CREATE INDEX tasks_queue_idx ON tasks (queue);

-- Failed, cancelled and dead tasks per queue: their counts in queue stats, purge-dead.
CREATE INDEX tasks_unsuccessful_idx ON tasks (queue, status)
    WHERE status = 'failed' OR status = 'cancelled' OR status = 'dead';
