-- V1: sessions -- the conversations/runs that tasks, agents and checkpoints belong to.
-- Creates the `sessions` table (lifecycle status CHECKed, JSON state and metadata) and the
-- indexes the sessions repository lists by: per app + user, and per status.
-- Ids are INTEGER (the rowid), like every other id of the reference schema; a session's
-- status transitions are enforced by strata-repo, the CHECK only admits the known states.
-- Times are INTEGER milliseconds since the Unix epoch (UTC), set by the repositories.
-- Every index ends implicitly in `id` (the rowid), so keyset listings `ORDER BY id`
-- need no sort and no explicit (duplicated) `id` column.

CREATE TABLE sessions (
    id            INTEGER PRIMARY KEY,
    app_name      TEXT    NOT NULL CHECK (app_name <> ''),
    user_id       TEXT    NOT NULL CHECK (user_id <> ''),
    status        TEXT    NOT NULL DEFAULT 'created'
                          CHECK (status IN ('created', 'active', 'paused', 'terminated', 'archived')),
    state         TEXT    NOT NULL DEFAULT '{}' CHECK (json_valid(state)),
    metadata      TEXT    NOT NULL DEFAULT '{}' CHECK (json_valid(metadata)),
    created_at    INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL,
    terminated_at INTEGER
) STRICT;

-- Sessions of one app and user, keyset by id: WHERE app_name = ? AND user_id = ? AND id > ? ORDER BY id.
CREATE INDEX sessions_app_user_idx ON sessions (app_name, user_id);

-- Sessions in one lifecycle state, keyset by id (e.g. archiving terminated sessions).
CREATE INDEX sessions_status_idx ON sessions (status);
