-- V3: agents, checkpoints and per-task state -- what a running task leaves behind.
-- Creates:
--   * `agents`: the agents a task spawned (lifecycle state CHECKed, resource usage JSON);
--   * `checkpoints`: a task's progress per iteration (PRIMARY KEY (task_id, iteration), so
--     "latest checkpoint of a task" is one seek backwards on the primary key);
--   * `state`: a task's key -> JSON value store (PRIMARY KEY (task_id, key)).
-- All three belong to their task (ON DELETE CASCADE: purging a task removes them) and
-- survive their session (ON DELETE SET NULL). Every FK child column is indexed (the
-- primary keys cover task_id of checkpoints and state), so parent deletes never scan.
-- Times are INTEGER milliseconds since the Unix epoch (UTC), set by the repositories.

CREATE TABLE agents (
    id             INTEGER PRIMARY KEY,
    task_id        INTEGER NOT NULL REFERENCES tasks (id) ON DELETE CASCADE,
    session_id     INTEGER REFERENCES sessions (id) ON DELETE SET NULL,
    name           TEXT    NOT NULL CHECK (name <> ''),
    state          TEXT    NOT NULL DEFAULT 'spawned'
                           CHECK (state IN ('spawned', 'running', 'waiting', 'completed', 'failed', 'terminated')),
    resource_usage TEXT    NOT NULL DEFAULT '{}' CHECK (json_valid(resource_usage)),
    spawned_at     INTEGER NOT NULL,
    terminated_at  INTEGER
) STRICT;

-- Agents of a task, keyset by id; FK child index of task_id.
CREATE INDEX agents_task_idx ON agents (task_id);

-- Agents of a session, keyset by id; FK child index of session_id.
CREATE INDEX agents_session_idx ON agents (session_id) WHERE session_id IS NOT NULL;

CREATE TABLE checkpoints (
    task_id    INTEGER NOT NULL REFERENCES tasks (id) ON DELETE CASCADE,
    iteration  INTEGER NOT NULL CHECK (iteration >= 0),
    session_id INTEGER REFERENCES sessions (id) ON DELETE SET NULL,
    state      TEXT    NOT NULL CHECK (json_valid(state)),
    created_at INTEGER NOT NULL,
    PRIMARY KEY (task_id, iteration)
) STRICT;

-- Checkpoints of a session; FK child index of session_id.
CREATE INDEX checkpoints_session_idx ON checkpoints (session_id) WHERE session_id IS NOT NULL;

CREATE TABLE state (
    task_id    INTEGER NOT NULL REFERENCES tasks (id) ON DELETE CASCADE,
    key        TEXT    NOT NULL CHECK (key <> ''),
    value      TEXT    NOT NULL CHECK (json_valid(value)),
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (task_id, key)
) STRICT;
