-- V7: the TTL cache and GCRA rate limits.
-- Creates:
--   * `cache`: one value per (namespace, key), JSON text (`format = 'json'`, CHECKed
--     with json_valid) or bytes (`format = 'bytes'`, a BLOB); `size` is the value's
--     length in bytes; `expires_at` NULL means no expiry. `read_at` and `hits` are
--     set by every hit, so a namespace over its size budget evicts the least recently
--     read entries first. Rows can be large, so the table keeps its rowid (the sweep
--     deletes by rowid) and the PRIMARY KEY is an index;
--   * `rate_limits`: one row of GCRA state per key: the theoretical arrival time
--     `tat_us` in MICROseconds (the emission interval of a quota such as 3 per 10 ms
--     is not a whole number of milliseconds), the quota it was last checked with
--     (`quota` units per `period_ms`, `burst`), the answer of the last check
--     (`retry_after_us`, 0 when it was allowed) and `updated_at`. WITHOUT ROWID:
--     rows are small and always found by key.
-- Times are INTEGER milliseconds since the Unix epoch (UTC), set by the repositories,
-- except `tat_us` and `retry_after_us` (microseconds, see above).

CREATE TABLE cache (
    namespace  TEXT    NOT NULL CHECK (namespace <> ''),
    key        TEXT    NOT NULL CHECK (key <> ''),
    format     TEXT    NOT NULL CHECK (format = 'json' OR format = 'bytes'),
    value      ANY     NOT NULL CHECK (
        (format = 'json' AND typeof(value) = 'text' AND json_valid(value))
        OR (format = 'bytes' AND typeof(value) = 'blob')
    ),
    size       INTEGER NOT NULL CHECK (size >= 0),
    expires_at INTEGER,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    read_at    INTEGER NOT NULL,
    hits       INTEGER NOT NULL DEFAULT 0 CHECK (hits >= 0),
    PRIMARY KEY (namespace, key)
) STRICT;

-- The sweep: DELETE ... WHERE expires_at <= ? ORDER BY expires_at LIMIT n.
CREATE INDEX cache_expires_at_idx ON cache (expires_at);

-- A namespace's total size (covering) and its least recently read entries, for
-- eviction: WHERE namespace = ? ORDER BY read_at.
CREATE INDEX cache_namespace_read_at_idx ON cache (namespace, read_at, size);

CREATE TABLE rate_limits (
    key            TEXT    NOT NULL PRIMARY KEY CHECK (key <> ''),
    tat_us         INTEGER NOT NULL,
    quota          INTEGER NOT NULL CHECK (quota > 0),
    period_ms      INTEGER NOT NULL CHECK (period_ms > 0),
    burst          INTEGER NOT NULL CHECK (burst > 0),
    retry_after_us INTEGER NOT NULL CHECK (retry_after_us >= 0),
    updated_at     INTEGER NOT NULL
) STRICT, WITHOUT ROWID;
