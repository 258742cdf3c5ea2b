-- V8: searches, their results and the scraping jobs that fetch them.
-- Creates:
--   * `searches`: one submitted search: the query, its sources (a JSON array), its
--     lifecycle status (CHECKed; the transitions are enforced by strata-repo), params
--     (JSON), the number of results stored, the error of a failed search, and the
--     session it belongs to (ON DELETE SET NULL);
--   * `search_results`: the results of a search, unique per (search_id, url) so a
--     result fetched twice is stored once; rank, content hash, data and analysis
--     (JSON, analysis NULL until analysed). Deleting a search deletes its results;
--   * `scraping_jobs`: one fetch of one url for a search, with the queue task that
--     runs it (ON DELETE SET NULL: purging dead tasks keeps the job's history), its
--     attempts, HTTP status, bytes and error.
-- Times are INTEGER milliseconds since the Unix epoch (UTC), set by the repositories.
-- Every index ends implicitly in `id` (the rowid), so keyset listings need no sort.

CREATE TABLE searches (
    id           INTEGER PRIMARY KEY,
    query        TEXT    NOT NULL CHECK (query <> ''),
    sources      TEXT    NOT NULL DEFAULT '[]' CHECK (json_valid(sources) AND json_type(sources) = 'array'),
    status       TEXT    NOT NULL DEFAULT 'queued'
                         CHECK (status IN ('queued', 'running', 'completed', 'failed', 'cancelled')),
    params       TEXT    NOT NULL DEFAULT '{}' CHECK (json_valid(params)),
    result_count INTEGER NOT NULL DEFAULT 0 CHECK (result_count >= 0),
    error        TEXT,
    session_id   INTEGER REFERENCES sessions (id) ON DELETE SET NULL,
    created_at   INTEGER NOT NULL,
    started_at   INTEGER,
    finished_at  INTEGER
) STRICT;

-- Searches in one status, keyset by id: WHERE status = ? AND id > ? ORDER BY id.
CREATE INDEX searches_status_idx ON searches (status);

-- Deleting a session sets its searches' session_id to NULL without a scan.
CREATE INDEX searches_session_idx ON searches (session_id);

CREATE TABLE search_results (
    id           INTEGER PRIMARY KEY,
    search_id    INTEGER NOT NULL REFERENCES searches (id) ON DELETE CASCADE,
    url          TEXT    NOT NULL CHECK (url <> ''),
    title        TEXT,
    snippet      TEXT,
    rank         INTEGER NOT NULL DEFAULT 0,
    content_hash TEXT,
    data         TEXT    NOT NULL DEFAULT '{}' CHECK (json_valid(data)),
    analysis     TEXT    CHECK (analysis IS NULL OR json_valid(analysis)),
    fetched_at   INTEGER NOT NULL,
    UNIQUE (search_id, url)
) STRICT;

-- A search's results in rank order, keyset by (rank, id):
-- WHERE search_id = ? AND (rank, id) > (?, ?) ORDER BY rank, id.
CREATE INDEX search_results_rank_idx ON search_results (search_id, rank);

CREATE TABLE scraping_jobs (
    id          INTEGER PRIMARY KEY,
    search_id   INTEGER NOT NULL REFERENCES searches (id) ON DELETE CASCADE,
    source      TEXT    NOT NULL CHECK (source <> ''),
    url         TEXT    NOT NULL CHECK (url <> ''),
    status      TEXT    NOT NULL DEFAULT 'queued'
                        CHECK (status IN ('queued', 'running', 'completed', 'failed', 'cancelled')),
    task_id     INTEGER REFERENCES tasks (id) ON DELETE SET NULL,
    attempts    INTEGER NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    http_status INTEGER,
    bytes       INTEGER CHECK (bytes IS NULL OR bytes >= 0),
    error       TEXT,
    created_at  INTEGER NOT NULL,
    started_at  INTEGER,
    finished_at INTEGER
) STRICT;

-- A search's jobs, keyset by id; deleting a search cascades without a scan.
CREATE INDEX scraping_jobs_search_idx ON scraping_jobs (search_id);

-- Purging a task sets its job's task_id to NULL without a scan; a worker finds the
-- job of the task it claimed.
CREATE INDEX scraping_jobs_task_idx ON scraping_jobs (task_id);
